//! The real Lambda runtime loop: `cargo lambda watch --only-lambda-apis` serves the Lambda
//! runtime and invoke APIs, the `sanitizer-lambda` binary cargo built for this test polls it as
//! in AWS, `cargo lambda invoke --data-file` sends payloads, and the sanitized group on
//! moto_server is read back. Also: the function's own output on every error path (with every
//! log level turned up through the environment) holds no canary value from the payloads; and
//! with the key in Secrets Manager the function names streams and pseudonyms as the CLI does.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::*;
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::sink::StdoutSink;
use sanitizer_core::StreamNamer;
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, Sanitizer};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const CANARY: &str = "CANARY7f3a";

/// The function binary, pointed at the emulator and at moto_server.
fn start_function(port: u16, endpoint: &str, group: &str, extra_env: &[(&str, &str)]) -> Proc {
    let mut cmd = function_command(env!("CARGO_BIN_EXE_sanitizer-lambda"), port, endpoint, 512);
    cmd.env("SANITIZED_LOG_GROUP", group);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut f = Proc::spawn(&mut cmd);
    f.wait_for("\"ready\"", Duration::from_secs(60));
    f
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sanitizer-lambda-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Realistic stored OTel records: kept events whose every non-allowlisted place holds the canary.
fn messages() -> Vec<String> {
    let api_request = |i: usize| {
        serde_json::json!({
            "body": "claude_code.api_request",
            "attributes": {
                "event.name": "api_request",
                "session.id": "5b1d8a0e-5d0c-4c8e-9d7e-1f2a3b4c5d6e",
                "model": "claude-sonnet-4-5",
                "cost_usd": 0.0123 + i as f64,
                "input_tokens": 100 + i,
                "output_tokens": 20,
                "cache_read_tokens": 0,
                "cache_creation_tokens": 0,
                "user.email": format!("{CANARY}@example.com"),
                "prompt": format!("secret {CANARY} prompt"),
            },
            "resource": {"attributes": {"service.name": "claude-code", "host.name": CANARY}},
        })
        .to_string()
    };
    let user_prompt = serde_json::json!({
        "body": "claude_code.user_prompt",
        "attributes": {"event.name": "user_prompt", "prompt": CANARY, "prompt_length": 42,
                       "user.email": format!("{CANARY}@example.com")},
    })
    .to_string();
    vec![api_request(0), user_prompt, api_request(1), format!("not json {CANARY}")]
}

fn data_payload(group: &str, stream: &str) -> serde_json::Value {
    let now = now_ms();
    let events: Vec<(String, i64, String)> =
        messages().into_iter().enumerate().map(|(i, m)| (format!("3746{i:052}"), now - 30_000 + i as i64, m)).collect();
    payload(group, stream, &events)
}

/// What the CLI's stdout mode prints for the same payload: the library path with `StdoutSink`.
async fn stdout_mode(envelope: &[u8]) -> Vec<String> {
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        StdoutSink::new(Vec::new()),
        StreamNamer::new(None),
        HandlerSettings { max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES, log_stream: None, concurrency: 1 },
    );
    let report = handler.handle(envelope, None).await;
    assert_eq!(report.error, None);
    String::from_utf8(handler.into_sink().into_inner()).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_loop_writes_the_sanitized_group_and_logs_no_payload_value() {
    let scratch = scratch_dir("rt");
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, "/rt/sanitized").await;
    let (watch, port) = start_emulator(&scratch);

    // 1. A data payload through the real runtime loop lands in the sanitized group.
    let envelope = envelope_of(&data_payload("/team/claude-otel-raw", "alice.smith"));
    let data_file = scratch.join("payload.json");
    std::fs::write(&data_file, &envelope).unwrap();
    let function = start_function(port, &moto.url(), "/rt/sanitized", &[]);
    let (ok, out) = invoke(port, &data_file);
    assert!(ok, "invoke failed:\n{out}\nfunction:\n{}", function.text());
    let expected = stdout_mode(&envelope).await;
    assert!(!expected.is_empty(), "the payload must keep some events");
    let stream = StreamNamer::new(None).name("/team/claude-otel-raw", "alice.smith");
    assert_eq!(stream_names(&client, "/rt/sanitized").await, std::slice::from_ref(&stream));
    let stored: Vec<String> =
        read_stream(&client, "/rt/sanitized", &stream).await.into_iter().map(|(_, m)| m).collect();
    assert_eq!(stored, expected, "stored = what stdout mode prints");
    let log = function.text();
    assert!(log.contains("\"outcome\":\"ok\"") && log.contains("\"EventsWritten\":"), "{log}");
    // The EMF line carries the spend written: 100 + 101 input tokens over the two api_requests.
    assert!(log.contains("\"InputTokens\":201") && log.contains("\"CostUSD\":1.0246"), "{log}");
    let requests = expected.iter().filter(|m| m.contains(r#""event.name":"api_request""#)).count();
    assert!(log.contains(&format!("\"ApiRequests\":{requests},")) && requests == 2, "{log}");
    assert!(!log.contains(CANARY), "function output leaks a payload value:\n{log}");
    drop(function);

    // 2. Every error path, with every log level the environment can ask for turned up.
    let function = start_function(
        port,
        &moto.url(),
        "/rt/missing-group",
        &[("RUST_LOG", "trace"), ("AWS_LAMBDA_LOG_LEVEL", "trace")],
    );
    let gzip_of = |bytes: &[u8]| {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not the envelope shape", format!("{{\"awslogs\":{{\"data\":[\"{CANARY}\"]}}}}").into_bytes(), "PayloadError"),
        ("not base64", format!("{{\"awslogs\":{{\"data\":\"{CANARY}!!\"}}}}").into_bytes(), "PayloadError"),
        (
            "not gzip",
            format!("{{\"awslogs\":{{\"data\":\"{}\"}}}}", b64(CANARY.as_bytes())).into_bytes(),
            "PayloadError",
        ),
        (
            "not a payload",
            format!(
                "{{\"awslogs\":{{\"data\":\"{}\"}}}}",
                b64(&gzip_of(format!("{{\"logEvents\":\"{CANARY}\"}}").as_bytes()))
            )
            .into_bytes(),
            "PayloadError",
        ),
        ("write fails (no such group)", envelope.clone(), "WriteError"),
    ];
    for (i, (name, body, error_type)) in cases.iter().enumerate() {
        let file = scratch.join(format!("error-{i}.json"));
        std::fs::write(&file, body).unwrap();
        let (ok, out) = invoke(port, &file);
        assert!(!ok, "{name}: the invocation must fail:\n{out}");
        assert!(out.contains(error_type), "{name}: expected {error_type}:\n{out}");
        assert!(!out.contains(CANARY), "{name}: the error leaks a payload value:\n{out}");
    }
    let log = function.text();
    assert_eq!(log.matches("\"outcome\":\"payload_error\"").count(), 4, "{log}");
    assert_eq!(log.matches("\"outcome\":\"write_error\"").count(), 1, "{log}");
    assert!(!log.contains(CANARY), "function output leaks a payload value:\n{log}");
    drop(function);

    // 3. The key from Secrets Manager (a string ending in a newline): the function's stream
    //    name and pseudonyms are those of the CLI given the same key as a file.
    let secret = "runtime-key-0123456789abcdef-0123456789abcdef";
    let sdk = sdk_config(&moto.url()).await;
    let arn = create_secret(
        &sdk,
        "rt/pseudonym-key",
        &format!(
            "{secret}
"
        ),
    )
    .await;
    create_group(&client, "/rt/keyed").await;
    let function = start_function(port, &moto.url(), "/rt/keyed", &[("PSEUDONYM_KEY_SECRET_ARN", &arn)]);
    let (ok, out) = invoke(port, &data_file);
    assert!(ok, "invoke failed:\n{out}\nfunction:\n{}", function.text());
    let key = sanitizer_core::PseudonymKey::new(secret.as_bytes()).unwrap();
    let keyed_stream = StreamNamer::new(Some(&key)).name("/team/claude-otel-raw", "alice.smith");
    assert_ne!(keyed_stream, stream);
    assert_eq!(stream_names(&client, "/rt/keyed").await, std::slice::from_ref(&keyed_stream));
    let stored: Vec<String> =
        read_stream(&client, "/rt/keyed", &keyed_stream).await.into_iter().map(|(_, m)| m).collect();
    let key_file = scratch.join("key");
    std::fs::write(&key_file, secret).unwrap();
    let cli = Command::new(cli_bin())
        .arg("sanitize")
        .arg("--pseudonym-key-file")
        .arg(&key_file)
        .arg(&data_file)
        .env_remove("PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(cli.status.success());
    let printed: Vec<String> = String::from_utf8(cli.stdout).unwrap().lines().map(str::to_owned).collect();
    assert!(printed.iter().all(|l| l.contains("\"user.pseudonym\"")), "{printed:?}");
    assert_eq!(stored, printed, "the function's pseudonyms = the CLI's for the same key");
    assert!(!function.text().contains(secret), "the key is never logged");
    let emulator_log = watch.text();
    drop(function);
    drop(watch);
    assert!(!emulator_log.is_empty());
    let _ = std::fs::remove_dir_all(&scratch);
}
