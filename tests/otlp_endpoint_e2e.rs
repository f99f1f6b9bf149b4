//! The OTLP endpoint with real parts: the real Claude Code client (the pinned 2.1.332, which
//! scripts/setup.sh installs into `.venv/claude-code-<version>/`) exports logs and metrics, in
//! `http/protobuf` and in `http/json`, to the `sanitizer-otlp-endpoint` binary polling
//! `cargo lambda watch --only-lambda-apis`, reached through the emulator's function URL
//! (`http://127.0.0.1:PORT/lambda-url/sanitizer-otlp-endpoint/v1/logs`), which writes into
//! moto_server's CloudWatch Logs.
//!
//! The client talks to a recording pass-through (`fixtures/record/e2e_client.py`) that forwards
//! each request unchanged to the function URL and keeps the body, the status and the answer.
//! What the group holds after a run is compared with `sanitize --otlp` run on the very bodies
//! the client sent (the CLI runs the receiver's own path, so any difference in what the function
//! decodes, keeps, names or drops fails the test, `sourceEventId` included); for the JSON runs,
//! the subscription path's lines for the same records too (convert.py makes the payload from
//! the same bodies), apart from `sourceEventId`. Golden files hold the stored lines with the
//! values that change from run to run (ids, times, durations, sizes and token counts, which
//! follow the scratch path's length) masked, and the metric sums, so a change in what the real
//! client sends or in what is kept shows up as their diff. No canary (the recorders' canaries
//! files, the bearer token) is in any stored line, answer, or the function's or emulator's
//! output, checked case-insensitively.
//!
//! Bad input over real HTTP through the same function URL: the documented status, nothing
//! written to the group, and the canary in the body never in an answer or the function's log.
//!
//! Metric lines are compared with `sanitize --otlp` on the metrics bodies the same way; lines of
//! code added and commits must be counted for `commit_pr`; the masked metric lines and their
//! sums per metric and attributes (a delta split over two exports sums the same) are golden.
//!
//! Needs the client binary (scripts/setup.sh installs it with npm); the test fails, never skips,
//! without it. `CLAUDE_CODE_BIN` names another client binary. About 16 s (four client runs).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FUNCTION: &str = "sanitizer-otlp-endpoint";
const TOKEN: &str = "e2e-bearer-CANARY-token-5e1b";
const GROUP: &str = "/e2e/claude-otel-sanitized";
/// How long one client run (the driver, the client, its exports) may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// The pinned client, as scripts/setup.sh installs it (or `CLAUDE_CODE_BIN`).
fn client_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("CLAUDE_CODE_BIN") {
        return PathBuf::from(bin);
    }
    let record_sh = std::fs::read_to_string(root().join("fixtures/record/record.sh")).unwrap();
    let version = record_sh.lines().find_map(|l| l.strip_prefix("PINNED_VERSION=")).expect("PINNED_VERSION");
    let prefix = root().join(".venv").join(format!("claude-code-{version}")).join("node_modules");
    // The wrapper's bin is the binary once the postinstall ran; the platform package holds it too.
    let mut candidates = vec![prefix.join(".bin/claude")];
    if let Ok(dir) = std::fs::read_dir(prefix.join("@anthropic-ai")) {
        let mut platform: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("claude-code-linux-")))
            .map(|p| p.join("claude"))
            .collect();
        platform.sort();
        candidates.extend(platform);
    }
    for bin in candidates {
        if Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return bin;
        }
    }
    panic!(
        "the Claude Code client {version} is not installed under {}: run scripts/setup.sh (needs node and npm)",
        prefix.display()
    );
}

/// The endpoint binary of this workspace build (as `cli_bin`: built by `cargo test --workspace`).
fn endpoint_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").join(FUNCTION);
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh)",
        bin.display()
    );
    bin
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otlp-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The function, polling the emulator on `port` under its own name (so the function URL
/// `/lambda-url/sanitizer-otlp-endpoint/...` reaches it), writing to `group` on moto_server.
fn start_function(port: u16, moto: &Moto, group: &str, key_file: &Path) -> Proc {
    let mut cmd = function_command(endpoint_binary().to_str().unwrap(), port, &moto.url(), 512);
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{FUNCTION}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("SANITIZED_LOG_GROUP", group)
        .env("PSEUDONYM_KEY", std::fs::read_to_string(key_file).unwrap())
        .env("OTLP_TOKEN", TOKEN)
        // Every log level turned up: still nothing from a body.
        .env("RUST_LOG", "trace")
        .env("AWS_LAMBDA_LOG_LEVEL", "trace");
    Proc::spawn(&mut cmd)
}

/// Every planted value (both recorders' canaries files and the token), lowercased.
fn canaries() -> Vec<String> {
    let mut all = recorded_canaries();
    let metrics = std::fs::read_to_string(root().join("fixtures/record/raw-metrics/canaries.txt")).unwrap();
    all.extend(metrics.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
    all.push(TOKEN.to_owned());
    all.push("CANARY".to_owned());
    all.sort();
    all.dedup();
    all.into_iter().map(|c| c.to_lowercase()).collect()
}

fn assert_no_canary(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for canary in canaries() {
        assert!(!lower.contains(&canary), "{what} holds the canary {canary:?}:\n{text}");
    }
}

/// Every stored line of `group`, stream by stream (sorted by name), oldest first.
async fn stored_lines(client: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Vec<String> {
    let mut names = stream_names(client, group).await;
    names.sort();
    let mut lines = Vec::new();
    for name in names {
        lines.extend(read_stream(client, group, &name).await.into_iter().map(|(_, m)| m));
    }
    lines
}

/// One request of a client run, as the pass-through recorded it.
struct Exchange {
    signal: String,
    file: PathBuf,
    content_type: String,
    authorization: bool,
    status: u16,
    response: Vec<u8>,
}

/// Runs `scenario` with the real client exporting in `protocol` to the function URL; returns
/// the driver's summary and every request.
fn run_client(scratch: &Path, port: u16, scenario: &str, protocol: &str) -> (Value, Vec<Exchange>) {
    let out = scratch.join(format!("{scenario}-{}", protocol.replace('/', "-")));
    let mut driver = Proc::spawn(
        Command::new("python3")
            .arg(root().join("fixtures/record/e2e_client.py"))
            .arg("--claude")
            .arg(client_binary())
            .args(["--scenario", scenario, "--protocol", protocol, "--token", TOKEN])
            .arg("--endpoint")
            .arg(format!("http://127.0.0.1:{port}/lambda-url/{FUNCTION}"))
            .arg("--out")
            .arg(&out),
    );
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while driver.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the client run did not finish:\n{}", driver.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, text) = driver.finish(Duration::from_secs(5));
    assert!(ok, "the driver failed:\n{text}");
    let summary: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    let requests = std::fs::read_to_string(out.join("requests.jsonl")).unwrap_or_default();
    let exchanges = requests
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            Exchange {
                signal: r["signal"].as_str().unwrap().to_owned(),
                file: out.join(r["file"].as_str().unwrap()),
                content_type: r["content_type"].as_str().unwrap().to_owned(),
                authorization: r["authorization"].as_bool().unwrap(),
                status: r["status"].as_u64().unwrap() as u16,
                response: std::fs::read(out.join(r["response"].as_str().unwrap())).unwrap(),
            }
        })
        .collect();
    (summary, exchanges)
}

/// `sanitize --otlp` on request bodies, with the function's key: the lines the endpoint writes.
fn cli_lines(key_file: &Path, bodies: &[&Path]) -> Vec<String> {
    if bodies.is_empty() {
        return Vec::new();
    }
    let out = Command::new(cli_bin())
        .args(["sanitize", "--otlp", "--pseudonym-key-file"])
        .arg(key_file)
        .args(bodies)
        .env_remove("PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "sanitize --otlp failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// A line without its `sourceEventId` (the one field the two paths differ in).
fn without_id(line: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    v.as_object_mut().unwrap().remove("sourceEventId").expect("every line carries an id");
    v.to_string()
}

/// The subscription path's lines for the records of these OTLP/JSON bodies: convert.py turns
/// them into the subscription payload (as it does for fixtures/recorded/), `sanitize` reads it.
fn subscription_lines(scratch: &Path, scenario: &str, key_file: &Path, bodies: &[&Path]) -> Vec<String> {
    let dir = scratch.join(format!("subscription-{scenario}"));
    let raw = dir.join("raw").join(scenario);
    std::fs::create_dir_all(&raw).unwrap();
    for body in bodies {
        std::fs::copy(body, raw.join(body.file_name().unwrap())).unwrap();
    }
    let out = Command::new("python3")
        .arg(root().join("fixtures/record/convert.py"))
        .arg("--raw-dir")
        .arg(dir.join("raw"))
        .arg("--out-dir")
        .arg(dir.join("recorded"))
        .output()
        .unwrap();
    assert!(out.status.success(), "convert.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let payload = dir.join("recorded").join(format!("{scenario}.kvlist.json"));
    let out = Command::new(cli_bin())
        .args(["sanitize", "--pseudonym-key-file"])
        .arg(key_file)
        .arg(&payload)
        .env_remove("PSEUDONYM_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "sanitize failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// A stored line with what changes from run to run masked: ids, times, the session id, and
/// every number (durations, sizes and token counts follow the scratch path's length); strings
/// (event and tool names, decisions, the keyed pseudonym of the fixed account) stay.
fn masked(line: &str) -> String {
    fn mask_numbers(v: &mut Value) {
        match v {
            Value::Number(_) => *v = Value::String("<n>".into()),
            Value::Object(m) => m.values_mut().for_each(mask_numbers),
            Value::Array(a) => a.iter_mut().for_each(mask_numbers),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let obj = v.as_object_mut().unwrap();
    for key in ["timeUnixNano", "startTimeUnixNano", "observedTimeUnixNano", "sourceEventId"] {
        if obj.contains_key(key) {
            obj.insert(key.into(), Value::String(format!("<{key}>")));
        }
    }
    if let Some(attrs) = obj.get_mut("attributes").and_then(Value::as_object_mut) {
        if attrs.contains_key("session.id") {
            attrs.insert("session.id".into(), Value::String("<session>".into()));
        }
        for value in attrs.values_mut() {
            mask_numbers(value);
        }
    }
    if obj.contains_key("value") {
        obj.insert("value".into(), Value::String("<n>".into()));
    }
    serde_json::to_string(&v).unwrap()
}

/// The metric lines summed per metric and attributes (the session id left out): a delta split
/// over two exports sums to the same figure. Active time, tokens and cost are masked (below).
fn metric_sums(lines: &[String]) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(metric) = v["metric"].as_str() else { continue };
        let mut attrs = v["attributes"].as_object().cloned().unwrap_or_default();
        attrs.remove("session.id");
        let key = format!("{metric} {}", Value::Object(attrs));
        // Active time depends on the clock, and tokens and cost on what the client sent the
        // model (its output token count moves by a few between runs): their presence is golden,
        // not their value (both are checked above to be positive).
        let varies = ["claude_code.active_time.total", "claude_code.token.usage", "claude_code.cost.usage"];
        let value = if varies.contains(&metric) { 0.0 } else { v["value"].as_f64().unwrap() };
        *sums.entry(key).or_insert(0.0) += value;
    }
    sums
}

/// The same lines in any order; a failure names the lines only one side has.
fn assert_same_lines(context: &str, got: &[String], want: &[String]) {
    let (got, want) = (sorted(got.to_vec()), sorted(want.to_vec()));
    if got != want {
        let only_got: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
        let only_want: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        panic!(
            "{context}: {} lines stored, {} expected\nonly stored ({}): {:#?}\nonly expected ({}): {:#?}",
            got.len(),
            want.len(),
            only_got.len(),
            &only_got[..only_got.len().min(3)],
            only_want.len(),
            &only_want[..only_want.len().min(3)]
        );
    }
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// What one run stored, masked: the event lines, the metric lines, the metric sums.
type Golden = (String, String, BTreeMap<String, f64>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_exports_through_the_function_url_into_the_sanitized_group() {
    let started = Instant::now();
    let scratch = scratch_dir("client");
    let key_file = scratch.join("key");
    std::fs::write(&key_file, FIXTURE_KEY).unwrap();
    let moto = Moto::start();
    let logs = logs_client(&moto.url()).await;
    let (watch, port) = start_emulator(&scratch);
    client_binary(); // fail before starting anything else when the client is missing

    let mut goldens: BTreeMap<&str, Vec<Golden>> = BTreeMap::new();
    for scenario in ["commit_pr", "edits"] {
        for protocol in ["http/protobuf", "http/json"] {
            let context = format!("{scenario} {protocol}");
            let group = format!("{GROUP}/{scenario}-{}", protocol.replace('/', "-"));
            create_group(&logs, &group).await;
            let function = start_function(port, &moto, &group, &key_file);
            let run_started = Instant::now();
            let (summary, exchanges) = run_client(&scratch, port, scenario, protocol);
            let run_time = run_started.elapsed();
            eprintln!("{context}: client run {run_time:?}: {summary}");
            assert!(
                summary["exit_codes"].as_array().unwrap().iter().all(|c| c == 0),
                "{context}: the client failed: {summary}"
            );
            assert_eq!(summary["api_problems"], serde_json::json!([]), "{context}");

            // Both signals, in the protocol asked for, with the token, all accepted.
            let content_type = if protocol == "http/json" { "application/json" } else { "application/x-protobuf" };
            for signal in ["logs", "metrics"] {
                assert!(exchanges.iter().any(|e| e.signal == signal), "{context}: no {signal} export: {summary}");
            }
            for e in &exchanges {
                assert_eq!(e.content_type, content_type, "{context}: {}", e.file.display());
                assert!(e.authorization, "{context}: the client sent no Authorization header");
                assert_eq!(e.status, 200, "{context}: {}: {}", e.file.display(), String::from_utf8_lossy(&e.response));
                assert_no_canary(
                    &format!("{context}: the answer to {}", e.file.display()),
                    &String::from_utf8_lossy(&e.response),
                );
            }

            // The group holds what `sanitize --otlp` makes of the same bodies.
            let stored = stored_lines(&logs, &group).await;
            let bodies = |signal: &str| -> Vec<&Path> {
                exchanges.iter().filter(|e| e.signal == signal).map(|e| e.file.as_path()).collect()
            };
            let (metric_lines, event_lines): (Vec<String>, Vec<String>) =
                stored.iter().cloned().partition(|l| l.starts_with("{\"metric\":"));
            let expected_events = cli_lines(&key_file, &bodies("logs"));
            assert!(!expected_events.is_empty(), "{context}: the log bodies keep some events");
            assert_same_lines(&format!("{context}: stored events vs sanitize --otlp"), &event_lines, &expected_events);
            for line in &stored {
                assert_no_canary(&format!("{context}: a stored line"), line);
                for key in [
                    "user.email",
                    "user.account_uuid",
                    "user.account_id",
                    "organization.id",
                    "owner.email",
                    "enduser.id",
                    "project.codename",
                ] {
                    assert!(!line.contains(&format!("\"{key}\"")), "{context}: {key} stored: {line}");
                }
            }

            // The subscription path on the same records (JSON bodies: convert.py makes the
            // payload a subscription filter on a raw group would deliver): the same lines apart
            // from sourceEventId.
            if protocol == "http/json" {
                let subscription = subscription_lines(&scratch, scenario, &key_file, &bodies("logs"));
                assert_same_lines(
                    &format!("{context}: stored events vs the subscription path, sourceEventId aside"),
                    &event_lines.iter().map(|l| without_id(l)).collect::<Vec<_>>(),
                    &subscription.iter().map(|l| without_id(l)).collect::<Vec<_>>(),
                );
            }

            // Metric lines: what the client counted for the run.
            let sums = metric_sums(&metric_lines);
            let sum_of = |metric: &str, attr: Option<(&str, &str)>| -> f64 {
                metric_lines
                    .iter()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .filter(|v| v["metric"] == metric)
                    .filter(|v| attr.is_none_or(|(k, val)| v["attributes"][k] == val))
                    .map(|v| v["value"].as_f64().unwrap())
                    .sum()
            };
            assert_same_lines(
                &format!("{context}: stored metric lines vs sanitize --otlp"),
                &metric_lines,
                &cli_lines(&key_file, &bodies("metrics")),
            );
            assert!(
                sum_of("claude_code.token.usage", None) > 0.0 && sum_of("claude_code.cost.usage", None) > 0.0,
                "{context}: {metric_lines:#?}"
            );
            if scenario == "commit_pr" {
                assert!(
                    sum_of("claude_code.lines_of_code.count", Some(("type", "added"))) > 0.0,
                    "{context}: {metric_lines:#?}"
                );
                assert!(sum_of("claude_code.commit.count", None) > 0.0, "{context}: {metric_lines:#?}");
            }

            let function_log = function.text();
            drop(function);
            assert_no_canary(&format!("{context}: the function's output"), &function_log);
            let masked_events: Vec<String> = sorted(event_lines.iter().map(|l| masked(l)).collect());
            let masked_metrics: Vec<String> = sorted(metric_lines.iter().map(|l| masked(l)).collect::<Vec<_>>());
            let mut masked_metrics = masked_metrics;
            masked_metrics.dedup();
            goldens.entry(scenario).or_default().push((masked_events.join("\n"), masked_metrics.join("\n"), sums));
        }
    }
    assert_no_canary("the emulator's output", &watch.text());

    // Both protocols store the same thing; the golden files hold it.
    for (scenario, runs) in goldens {
        let (events, metrics, sums) = &runs[0];
        for (other_events, other_metrics, other_sums) in &runs[1..] {
            assert_eq!(other_events, events, "{scenario}: protobuf and JSON store different events");
            assert_eq!(other_metrics, metrics, "{scenario}: protobuf and JSON store different metric lines");
            assert_eq!(other_sums, sums, "{scenario}: protobuf and JSON count differently");
        }
        let sums_text: String = sums.iter().map(|(k, v)| format!("{v} {k}\n")).collect();
        insta::assert_snapshot!(format!("{scenario}_events"), events);
        insta::assert_snapshot!(format!("{scenario}_metrics"), format!("{metrics}\n--- sums ---\n{sums_text}"));
    }
    eprintln!("wall time: {:?}", started.elapsed());
}

/// A bad request: its name, method, path, headers, body and the status it must get.
type BadRequest<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

/// One HTTP/1.1 request to the emulator on `port` (Connection: close); the status and the body.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a header end");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    let mut body = answer[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).split(';').next().unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_through_the_function_url_get_their_status_and_write_nothing() {
    use prost::Message as _;
    let scratch = scratch_dir("bad");
    let key_file = scratch.join("key");
    std::fs::write(&key_file, FIXTURE_KEY).unwrap();
    let moto = Moto::start();
    let logs = logs_client(&moto.url()).await;
    create_group(&logs, GROUP).await;
    let (watch, port) = start_emulator(&scratch);
    let function = start_function(port, &moto, GROUP, &key_file);

    // A real request body full of canaries (the recorded `files` scenario), as protobuf.
    let raw = root().join("fixtures/record/raw/files");
    let mut json_files: Vec<PathBuf> = std::fs::read_dir(&raw)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    json_files.sort();
    let json_body = std::fs::read(&json_files[0]).unwrap();
    assert!(String::from_utf8_lossy(&json_body).contains("CANARY"), "the body carries canaries");
    let request = sanitizer_otlp::decode_logs(&json_body, sanitizer_core::DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
    let protobuf = request.encode_to_vec();
    let canary = b"CANARY-badinput-e2e-6f0d";
    let garbage: Vec<u8> =
        [&[0xff_u8, 0xff, 0xff, 0x0a][..], canary, &[0x12, 0x80, 0x80, 0x80, 0x80, 0x10][..], canary].concat();
    let bomb = gzip(&vec![0_u8; 64 << 20]);
    let mut oversize = protobuf.clone();
    while oversize.len() <= sanitizer_otlp::DEFAULT_MAX_REQUEST_BYTES {
        oversize.extend_from_slice(&protobuf);
    }
    let bearer = format!("Bearer {TOKEN}");
    let pb = ("Content-Type", "application/x-protobuf");
    let auth = ("Authorization", bearer.as_str());
    let logs_path = format!("/lambda-url/{FUNCTION}/v1/logs");
    let logs_path = logs_path.as_str();
    let metrics_path = format!("/lambda-url/{FUNCTION}/v1/metrics");
    let traces_path = format!("/lambda-url/{FUNCTION}/v1/traces");
    let json = ("Content-Type", "application/json");
    let cases: Vec<BadRequest> = vec![
        ("no token", "POST", logs_path, vec![pb], protobuf.clone(), 401),
        (
            "wrong token",
            "POST",
            logs_path,
            vec![pb, ("Authorization", "Bearer CANARY-wrong-token-1a2b")],
            protobuf.clone(),
            401,
        ),
        ("not a bearer token", "POST", logs_path, vec![pb, ("Authorization", TOKEN)], protobuf.clone(), 401),
        // (a text body: the emulator hands text/* and JSON bodies to the function as strings)
        ("wrong content type", "POST", logs_path, vec![("Content-Type", "text/plain"), auth], json_body.clone(), 415),
        ("truncated protobuf", "POST", logs_path, vec![pb, auth], protobuf[..protobuf.len() / 2].to_vec(), 400),
        ("garbage protobuf", "POST", logs_path, vec![pb, auth], garbage.clone(), 400),
        ("garbage metrics protobuf", "POST", metrics_path.as_str(), vec![pb, auth], garbage.clone(), 400),
        ("garbage JSON", "POST", logs_path, vec![json, auth], [b"{\"resourceLogs\":[", &canary[..]].concat(), 400),
        // The empty request in protobuf is valid (nothing to store); an empty JSON body is not.
        ("empty protobuf body", "POST", logs_path, vec![pb, auth], Vec::new(), 200),
        ("empty JSON body", "POST", logs_path, vec![json, auth], Vec::new(), 400),
        ("gzip bomb", "POST", logs_path, vec![pb, auth, ("Content-Encoding", "gzip")], bomb, 413),
        ("oversize body", "POST", logs_path, vec![pb, auth], oversize, 413),
        ("other path", "POST", traces_path.as_str(), vec![pb, auth], protobuf.clone(), 404),
        ("other method", "GET", logs_path, vec![auth], Vec::new(), 405),
    ];
    for (name, method, path, headers, body, status) in &cases {
        let (got, answer) = http(port, method, path, headers, body);
        let text = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(got, *status, "{name}: {text}");
        assert_no_canary(&format!("{name}: the answer"), &text);
    }
    // Nothing written by any of them.
    assert_eq!(stored_lines(&logs, GROUP).await, Vec::<String>::new(), "bad requests wrote something");

    // The same body with the token is accepted (so the cases above failed for their fault only).
    let (got, answer) = http(port, "POST", logs_path, &[pb, auth], &protobuf);
    assert_eq!(got, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(!stored_lines(&logs, GROUP).await.is_empty(), "the good request is stored");

    let log = function.text();
    drop(function);
    assert_no_canary("the function's output", &log);
    assert_no_canary("the emulator's output", &watch.text());
}
