//! The Kinesis path end to end against moto_server: subscription payloads are put into moto's
//! Kinesis stream as a CloudWatch Logs destination puts them (one gzip payload per record), read
//! back as the event source mapping reads them, handed to the handler as the Lambda Kinesis
//! event, and the sanitized messages are then found in moto's CloudWatch Logs: exactly what the
//! CLI prints for the same payloads. An undecodable record in the stream is reported alone by
//! its sequence number; the control message is skipped.

mod common;
mod kinesis_support;

use base64::Engine as _;
use common::*;
use kinesis_support::*;
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::sink::{CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, RetrySettings};
use sanitizer_core::StreamNamer;
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, Sanitizer};
use serde_json::json;

/// What `claude-otel-sanitizer sanitize FILE...` prints, without a key.
fn cli_stdout(files: &[std::path::PathBuf]) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .arg("sanitize")
        .args(files)
        .env_remove("PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_put_into_moto_kinesis_end_up_sanitized_in_moto_cloudwatch_logs() {
    let moto = Moto::start();
    let stream = "claude-otel-raw-events";
    kinesis_call(moto.port, "CreateStream", &json!({"StreamName": stream, "ShardCount": 1}));
    let scratch = std::env::temp_dir().join(format!("kinesis-moto-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    // Three recorded fixtures that keep events, re-timed to now (CloudWatch rejects events older than 14 days),
    // with a control message first and an undecodable record among them.
    let mut retimed = Vec::new();
    let mut data = vec![gzip(&serde_json::to_vec(&control_message()).unwrap())];
    let chosen = ["bash.object.json", "skill.kvlist.json", "mcp.object.json"];
    let files: Vec<_> = recorded_files()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| chosen.iter().any(|c| n == *c)))
        .collect();
    assert_eq!(files.len(), chosen.len(), "the chosen recorded fixtures exist");
    for (i, file) in files.iter().enumerate() {
        let mut payload = payload_of(&std::fs::read(file).unwrap());
        retime_to_now(&mut payload);
        let envelope = envelope_of(&payload);
        let path = scratch.join(format!("{i}.json"));
        std::fs::write(&path, &envelope).unwrap();
        retimed.push(path);
        data.push(data_of(&envelope));
        if i == 0 {
            data.push(truncated_gzip(&envelope));
        }
    }
    for d in &data {
        let encoded = base64::engine::general_purpose::STANDARD.encode(d);
        kinesis_call(
            moto.port,
            "PutRecord",
            &json!({"StreamName": stream, "Data": encoded, "PartitionKey": "claude-code"}),
        );
    }

    let records = read_stream_records(moto.port, stream);
    assert_eq!(records.len(), data.len(), "every record put is read back");
    assert!(records.iter().zip(&data).all(|(r, d)| &r.data == d), "records come back in order, unchanged");
    let undecodable = records[2].sequence_number.clone();
    let event = kinesis_event(&records);

    let sdk = sdk_config(&moto.url()).await;
    let logs = logs_client(&moto.url()).await;
    create_group(&logs, "/central/sanitized").await;
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        CloudWatchSink::new(&sdk, "/central/sanitized", &RetrySettings::default()),
        StreamNamer::new(None),
        HandlerSettings {
            max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES,
            log_stream: None,
            concurrency: DEFAULT_WRITE_CONCURRENCY,
        },
    );
    let handled = handler.handle_event(&event, None).await;
    let response = handled.response().expect("a partial batch response").expect("a Kinesis batch");
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [undecodable.as_str()], "exactly the undecodable record");
    let outcome = handled.kinesis.as_ref().unwrap();
    assert_eq!((outcome.records, outcome.control_messages, outcome.undecodable), (5, 1, 1));
    assert_eq!(handled.report.write.error, None, "every write succeeded");
    assert_eq!(handled.report.rejected(), 0);

    // In moto's CloudWatch Logs: what the CLI prints for the same three payloads. The recorded
    // fixtures share one source group and stream, so they share one destination stream (order
    // between payloads follows the timestamps, so compare as sets of lines).
    let source = payload_of(&std::fs::read(&retimed[0]).unwrap());
    let name = StreamNamer::new(None).name(source["logGroup"].as_str().unwrap(), source["logStream"].as_str().unwrap());
    assert_eq!(stream_names(&logs, "/central/sanitized").await, std::slice::from_ref(&name));
    let mut stored: Vec<String> =
        read_stream(&logs, "/central/sanitized", &name).await.into_iter().map(|(_, m)| m).collect();
    let mut expected = cli_stdout(&retimed);
    assert!(!expected.is_empty());
    assert_eq!(handled.written(), expected.len() as u64);
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected, "moto holds exactly the CLI's lines for the decodable records");
    let _ = std::fs::remove_dir_all(&scratch);
}
