//! The Kinesis path through the real Lambda runtime loop: `cargo lambda watch` serves the runtime
//! API, the `sanitizer-lambda` binary polls it as in AWS, `cargo lambda invoke --data-file` sends
//! a Kinesis event whose records are a data payload, an undecodable record and a control
//! message. The answer names exactly the undecodable record (`batchItemFailures`), the data
//! payload's events are in moto's sanitized group, and the function's own output holds the
//! `kinesis_batch` line and no payload value.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[path = "../../../tests/kinesis_support/mod.rs"]
mod kinesis_support;

use common::*;
use kinesis_support::*;
use sanitizer_core::StreamNamer;
use std::time::Duration;

const CANARY: &str = "CANARY9rt7";

fn start_function(port: u16, endpoint: &str, group: &str) -> Proc {
    let mut cmd = function_command(env!("CARGO_BIN_EXE_sanitizer-lambda"), port, endpoint, 256);
    cmd.env("SANITIZED_LOG_GROUP", group).env("RUST_LOG", "trace");
    let mut f = Proc::spawn(&mut cmd);
    f.wait_for("\"ready\"", Duration::from_secs(60));
    f
}

fn messages() -> Vec<String> {
    let api_request = |i: usize| {
        serde_json::json!({
            "body": "claude_code.api_request",
            "attributes": {"event.name": "api_request", "model": "claude-sonnet-4-5", "cost_usd": 0.01,
                           "input_tokens": 100 + i, "output_tokens": 20, "prompt": CANARY,
                           "user.email": format!("{CANARY}@example.com")},
            "resource": {"attributes": {"service.name": "claude-code", "host.name": CANARY}},
        })
        .to_string()
    };
    vec![api_request(0), format!("not json {CANARY}"), api_request(1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_batch_through_the_runtime_loop_reports_exactly_the_undecodable_record() {
    let scratch = std::env::temp_dir().join(format!("kinesis-rt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let moto = Moto::start();
    let logs = logs_client(&moto.url()).await;
    create_group(&logs, "/central/sanitized").await;
    let (_watch, port) = start_emulator(&scratch);
    let mut function = start_function(port, &moto.url(), "/central/sanitized");

    let now = now_ms();
    let events: Vec<(String, i64, String)> =
        messages().into_iter().enumerate().map(|(i, m)| (format!("3746{i:052}"), now - 20_000 + i as i64, m)).collect();
    let good = envelope_of(&payload("/member/claude-code/raw", "claude-code", &events));
    let records = vec![
        KinesisRecord { sequence_number: sequence_number(10), data: data_of(&good) },
        KinesisRecord { sequence_number: sequence_number(11), data: format!("{CANARY} is not gzip").into_bytes() },
        KinesisRecord {
            sequence_number: sequence_number(12),
            data: gzip(&serde_json::to_vec(&control_message()).unwrap()),
        },
    ];
    let file = scratch.join("kinesis.json");
    std::fs::write(&file, kinesis_event(&records)).unwrap();

    let (ok, out) = invoke(port, &file);
    assert!(ok, "the invocation succeeds with a partial batch response:\n{out}\nfunction:\n{}", function.text());
    let start = out.find('{').unwrap_or_else(|| panic!("no JSON answer:\n{out}"));
    let answer: serde_json::Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<serde_json::Value>()
        .next()
        .expect("a JSON answer")
        .expect("valid JSON");
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": sequence_number(11)}]}),
        "exactly the undecodable record:\n{out}"
    );

    let stream = StreamNamer::new(None).name("/member/claude-code/raw", "claude-code");
    let stored: Vec<String> =
        read_stream(&logs, "/central/sanitized", &stream).await.into_iter().map(|(_, m)| m).collect();
    assert_eq!(stored.len(), 2, "the data record's two api_request events are stored: {stored:?}");
    assert!(stored.iter().all(|m| m.contains("\"event.name\":\"api_request\"")));

    // The function prints its lines before it answers; wait for them to reach our pipe.
    function.wait_for("\"message\":\"kinesis_batch\"", Duration::from_secs(30));
    let log = function.text();
    assert!(log.contains("\"KinesisRecords\":3") && log.contains("\"KinesisRecordsFailed\":1"), "{log}");
    assert!(log.contains("\"KinesisRecordsUndecodable\":1") && log.contains("\"ControlMessages\":1"), "{log}");
    assert!(!log.contains(CANARY), "function output leaks a payload value:\n{log}");
    assert!(!out.contains(CANARY), "the answer leaks a payload value:\n{out}");
    drop(function);
    let _ = std::fs::remove_dir_all(&scratch);
}
