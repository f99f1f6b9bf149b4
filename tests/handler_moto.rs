//! Every fixture payload through the handler into moto_server: `GetLogEvents` on the sanitized
//! group returns exactly the lines `claude-otel-sanitizer sanitize` prints for the same file, in
//! order (the fixtures are re-timed to now first: CloudWatch rejects events older than 14 days).

mod common;

use claude_otel_sanitizer::handler::{Handler, HandlerSettings, StreamNamer};
use claude_otel_sanitizer::sink::{CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, RetrySettings};
use claude_otel_sanitizer::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, Sanitizer};
use common::*;
use std::path::PathBuf;

/// Every `*.json` envelope under fixtures/synthetic and fixtures/recorded (new recordings are
/// picked up without editing this test).
fn fixture_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    for dir in ["synthetic", "recorded"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let is_envelope = path.extension().is_some_and(|e| e == "json")
                && std::fs::read(&path).is_ok_and(|b| b.starts_with(b"{\"awslogs\""));
            if is_envelope {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no fixture payloads found");
    files
}

/// What `claude-otel-sanitizer sanitize FILE` prints (the CLI's stdout mode).
fn cli_stdout(file: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .arg("sanitize")
        .arg(file)
        .env_remove("PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_is_stored_exactly_as_the_cli_prints_it() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let sdk = sdk_config(&moto.url()).await;
    let scratch = std::env::temp_dir().join(format!("handler-moto-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut stored_total = 0;

    for (i, file) in fixture_files().into_iter().enumerate() {
        let name = file.display().to_string();
        let group = format!("/sanitized/fixture-{i}");
        create_group(&client, &group).await;
        let mut payload = payload_of(&std::fs::read(&file).unwrap());
        retime_to_now(&mut payload);
        let envelope = envelope_of(&payload);
        let retimed = scratch.join(format!("{i}.json"));
        std::fs::write(&retimed, &envelope).unwrap();

        let handler = Handler::new(
            Sanitizer::new(Allowlist::embedded(), None),
            CloudWatchSink::new(&sdk, group.clone(), &RetrySettings::default()),
            StreamNamer::new(None),
            HandlerSettings {
                max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES,
                log_stream: None,
                concurrency: DEFAULT_WRITE_CONCURRENCY,
            },
        );
        let report = handler.handle(&envelope, None).await;
        assert_eq!(report.error, None, "{name}");
        let expected = cli_stdout(&retimed);
        assert_eq!(report.written(), expected.len() as u64, "{name}");
        assert_eq!(report.rejected(), 0, "{name}");
        assert_eq!(
            report.counts.received,
            report.written() + report.counts.dropped_total(),
            "{name}: every received event is written or dropped with a reason"
        );

        let streams = stream_names(&client, &group).await;
        if expected.is_empty() {
            assert!(streams.is_empty(), "{name}: nothing to write, no stream created");
            continue;
        }
        let stream =
            StreamNamer::new(None).name(payload["logGroup"].as_str().unwrap(), payload["logStream"].as_str().unwrap());
        assert_eq!(streams, std::slice::from_ref(&stream), "{name}");
        let stored: Vec<String> = read_stream(&client, &group, &stream).await.into_iter().map(|(_, m)| m).collect();
        assert_eq!(stored, expected, "{name}: stored lines differ from the CLI's stdout");
        stored_total += stored.len();
    }
    assert!(stored_total > 0, "no fixture produced any stored event");
    let _ = std::fs::remove_dir_all(&scratch);
}

/// `claude-otel-sanitizer sanitize --log-group G [--log-stream S] FILE` with the standard AWS
/// configuration pointing at moto_server.
fn cli_to_group(endpoint: &str, group: &str, stream: Option<&str>, file: &std::path::Path) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"));
    cmd.args(["sanitize", "--log-group", group]);
    if let Some(s) = stream {
        cmd.args(["--log-stream", s]);
    }
    cmd.arg(file)
        .env_remove("PSEUDONYM_KEY")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_stores_what_it_prints_and_fails_when_the_write_fails() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, "/sanitized/cli").await;
    let file = fixture_files()
        .into_iter()
        .find(|f| f.ends_with("all-events.object.json"))
        .unwrap_or_else(|| fixture_files().into_iter().next().unwrap());
    let mut payload = payload_of(&std::fs::read(&file).unwrap());
    retime_to_now(&mut payload);
    let retimed = std::env::temp_dir().join(format!("cli-to-group-{}.json", std::process::id()));
    std::fs::write(&retimed, envelope_of(&payload)).unwrap();

    let expected = cli_stdout(&retimed);
    assert!(!expected.is_empty());
    let out = cli_to_group(&moto.url(), "/sanitized/cli", Some("cli-stream"), &retimed);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "with --log-group nothing goes to stdout");
    let stored: Vec<String> =
        read_stream(&client, "/sanitized/cli", "cli-stream").await.into_iter().map(|(_, m)| m).collect();
    assert_eq!(stored, expected);

    let out = cli_to_group(&moto.url(), "/sanitized/no-such-group", None, &retimed);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_file(&retimed);
}
