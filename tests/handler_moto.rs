//! Every fixture payload through the handler into moto_server: `GetLogEvents` on the sanitized
//! group returns exactly the lines `claude-otel-sanitizer sanitize` prints for the same file, in
//! order (the fixtures are re-timed to now first: CloudWatch rejects events older than 14 days).
//! And the same pseudonym key in every accepted form (a file with or without a final newline,
//! `PSEUDONYM_KEY`, a Secrets Manager string) gives the same pseudonyms and the same streams.

mod common;

use common::*;
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::sink::{CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, RetrySettings};
use sanitizer_core::StreamNamer;
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, Sanitizer};
use std::path::PathBuf;

/// Every `*.json` envelope under fixtures/synthetic and fixtures/recorded (new recordings are
/// picked up without editing this test). A missing folder fails the test.
fn fixture_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    for dir in ["synthetic", "recorded"] {
        let entries = std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("fixtures/{dir}: {e}"));
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
    let retimed = retimed_fixture("cli-to-group");

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

/// `fixtures/synthetic/all-events.object.json` (every event, identities included), re-timed to
/// now and written to a scratch file. A missing fixture fails the test.
fn retimed_fixture(name: &str) -> PathBuf {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/synthetic/all-events.object.json");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut payload = payload_of(&bytes);
    retime_to_now(&mut payload);
    let retimed = std::env::temp_dir().join(format!("{name}-{}.json", std::process::id()));
    std::fs::write(&retimed, envelope_of(&payload)).unwrap();
    retimed
}

/// The stream names of `group` and every message stored in them (stream by stream).
async fn stored(client: &aws_sdk_cloudwatchlogs::Client, group: &str) -> (Vec<String>, Vec<String>) {
    let streams = stream_names(client, group).await;
    let mut messages = Vec::new();
    for stream in &streams {
        messages.extend(read_stream(client, group, stream).await.into_iter().map(|(_, m)| m));
    }
    (streams, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_in_every_form_gives_the_same_pseudonyms_and_stream_names() {
    use sanitizer_aws::key_source::KeySource;
    use sanitizer_core::PseudonymKey;

    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let sdk = sdk_config(&moto.url()).await;
    let secret = "key-forms-0123456789abcdef-0123456789abcdef";
    let arn = create_secret(&sdk, "claude-otel/pseudonym-key", secret).await;
    let scratch = std::env::temp_dir().join(format!("key-forms-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (bare, newline) = (scratch.join("key"), scratch.join("key-newline"));
    std::fs::write(&bare, secret).unwrap();
    std::fs::write(&newline, format!("{secret}\n")).unwrap();
    let file = retimed_fixture("key-forms");
    let source = payload_of(&std::fs::read(&file).unwrap());
    let (source_group, source_stream) = (source["logGroup"].as_str().unwrap(), source["logStream"].as_str().unwrap());

    // The CLI, once per form, into its own group: the stream name and the stored lines.
    let forms: [(&str, Vec<&str>, Option<&str>); 4] = [
        ("file", vec!["--pseudonym-key-file", bare.to_str().unwrap()], None),
        ("file ending in a newline", vec!["--pseudonym-key-file", newline.to_str().unwrap()], None),
        ("PSEUDONYM_KEY", vec![], Some(secret)),
        ("Secrets Manager", vec!["--pseudonym-key-secret-arn", &arn], None),
    ];
    let mut results = Vec::new();
    for (i, (form, key_args, env_key)) in forms.iter().enumerate() {
        let group = format!("/sanitized/key-form-{i}");
        create_group(&client, &group).await;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"));
        cmd.args(["sanitize", "--log-group", &group])
            .args(key_args)
            .arg(&file)
            .env_remove("PSEUDONYM_KEY")
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        if let Some(key) = env_key {
            cmd.env("PSEUDONYM_KEY", key);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{form}: {}", String::from_utf8_lossy(&out.stderr));
        let (streams, messages) = stored(&client, &group).await;
        assert_eq!(streams.len(), 1, "{form}: one source stream, one destination stream");
        assert!(messages.iter().any(|m| m.contains("\"user.pseudonym\"")), "{form}: pseudonyms written");
        results.push((form, streams, messages));
    }
    let (_, first_streams, first_messages) = &results[0];
    for (form, streams, messages) in &results[1..] {
        assert_eq!(streams, first_streams, "{form}: a different stream name than a key file");
        assert_eq!(messages, first_messages, "{form}: different pseudonyms than a key file");
    }

    // The library loader the Lambda uses gives the same name, keyed (not the unkeyed one).
    let from_secret = KeySource::Secret(arn.clone()).load(async || sdk.clone()).await.unwrap();
    let keyed = StreamNamer::new(from_secret.as_ref()).name(source_group, source_stream);
    assert_eq!(first_streams, std::slice::from_ref(&keyed));
    let direct = PseudonymKey::new(secret.as_bytes()).unwrap();
    assert_eq!(StreamNamer::new(Some(&direct)).name(source_group, source_stream), keyed);
    assert_ne!(keyed, StreamNamer::new(None).name(source_group, source_stream));
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_file(&file);
}
