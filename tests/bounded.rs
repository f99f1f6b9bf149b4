//! Bounded work for any event shape, measured in a child process.
//!
//! Each hostile shape (a long key over many children, in the object form, through OTLP
//! `kvlistValue`, inside the `tool_parameters` string, in resource attributes, and under an
//! allowlisted prefix) is written to a payload file of about 1 MiB of messages, and the release
//! path (the CLI binary: decode, sanitize, plan, print) runs it in its own process. Its peak RSS,
//! read from the kernel by the parent (`getrusage(RUSAGE_CHILDREN)` through Python's `resource`
//! module), must stay within 3 × the decompressed input + 48 MiB, for `sanitize` and `explain`.
//! Before the bounded parser, the object shape at 79 KiB peaked at 169 MiB (`explain` 673 MiB)
//! and at 1.36 MB aborted on allocation failure.
//!
//! Near the cap (a payload 1 MiB under `DEFAULT_MAX_DECOMPRESSED_BYTES`: one event of two million
//! keys, the same keys under an allowlisted prefix, and ordinary events), each run must stay
//! within 2 × the decompressed input + 24 MiB ([`CLI_ALLOWANCE`]). The Lambda binary is held to
//! the same in `crates/sanitizer-lambda/tests/memory_runtime.rs`.
//!
//! An OTLP/HTTP request body (`sanitize --otlp`) is decoded whole, so it is held to a multiple
//! of its size under a cap of its own (4 MiB): 48 × the body + 24 MiB.
//!
//! Speed is not asserted here (see benches/ and docs/performance.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::{Compression, write::GzEncoder};
use sanitizer_core::DEFAULT_MAX_DECOMPRESSED_BYTES;
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const CANARY: &str = "CANARY-bounded";

/// Decompressed message bytes per hostile payload.
const TARGET_BYTES: usize = 1 << 20;

/// The bound: 3 × the decompressed input + 48 MiB.
fn bound(input: usize) -> u64 {
    3 * input as u64 + 48 * 1024 * 1024
}

/// `{"0":1,"1":1,...}` as JSON object members, about `bytes` long.
fn children(bytes: usize) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut len = 0;
    while len < bytes {
        let key = out.len().to_string();
        len += key.len() + 5;
        out.push((key, json!(1)));
    }
    out
}

fn object(members: Vec<(String, serde_json::Value)>) -> serde_json::Value {
    serde_json::Value::Object(members.into_iter().collect())
}

fn kvlist(members: Vec<(String, serde_json::Value)>) -> serde_json::Value {
    let values: Vec<serde_json::Value> =
        members.into_iter().map(|(k, v)| json!({"key": k, "value": {"intValue": v.to_string()}})).collect();
    json!({"kvlistValue": {"values": values}})
}

/// A key as long as a quarter of the message, holding the canary.
fn long_key() -> String {
    format!("{CANARY}-{}", "k".repeat(TARGET_BYTES / 4))
}

/// One hostile message per shape.
fn hostile(shape: &str) -> String {
    let half = TARGET_BYTES / 2;
    let message = match shape {
        "object" => json!({
            "body": "claude_code.api_request",
            "attributes": {long_key(): object(children(half)), "input_tokens": 1},
        }),
        "kvlist" => json!({
            "body": {"stringValue": "claude_code.api_request"},
            "attributes": [{"key": long_key(), "value": kvlist(children(half))}, {"key": "input_tokens", "value": {"intValue": "1"}}],
        }),
        "tool_parameters" => {
            let inner = json!({long_key(): object(children(half)), "subagent_type": "Explore"}).to_string();
            json!({"body": "claude_code.tool_result", "attributes": {"tool_parameters": inner, "tool_name": "Agent"}})
        }
        "resource" => json!({
            "body": "claude_code.api_request",
            "resource": {"attributes": {long_key(): object(children(half)), "service.name": "claude-code"}},
        }),
        // Under a prefix of allowlisted keys (`session.id`, `user.email`): opened, each child
        // matched by its full dotted key and counted; plus a kvlist under the same prefix.
        "allowlisted_prefix" => json!({
            "body": "claude_code.api_request",
            "attributes": {"session": object(children(half / 2)), "user": kvlist(children(half / 2)), "input_tokens": 1},
        }),
        other => panic!("unknown shape {other}"),
    };
    message.to_string()
}

/// A subscription payload file holding `messages`; returns its path and decompressed size. A
/// name ending in `-exact` makes a payload only the exact reader reads; one containing
/// `-message-first` puts each event's message before its id and timestamp.
fn payload_file(name: &str, messages: &[String]) -> (PathBuf, usize) {
    // Each event's fields in the order CloudWatch writes them (`json!` would sort them).
    let events: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (message, id, timestamp) = (serde_json::to_string(m).unwrap(), i + 1, 1_700_000_000_000_i64 + i as i64);
            if name.contains("-message-first") {
                format!(r#"{{"message":{message},"id":"{id}","timestamp":{timestamp}}}"#)
            } else {
                format!(r#"{{"id":"{id}","timestamp":{timestamp},"message":{message}}}"#)
            }
        })
        .collect();
    let payload = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{}]}}"#,
        events.join(",")
    );
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(payload.as_bytes()).unwrap();
    let mut envelope = json!({"awslogs": {"data": STANDARD.encode(gz.finish().unwrap())}}).to_string();
    if name.ends_with("-exact") {
        // Slashes escaped in the envelope, as some JSON writers do: the fast reader refuses an
        // escape there, so the exact reader (serde_json over the whole payload) reads it.
        assert!(envelope.contains('/'));
        envelope = envelope.replace('/', "\\/");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bounded");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, envelope).unwrap();
    (path, payload.len())
}

/// Runs the CLI in a child process; returns its exit code, stdout, stderr and peak RSS in bytes.
fn run_measured(args: &[&str], input: &Path) -> (i32, String, String, u64) {
    // ru_maxrss of the waited-for child, in KiB on Linux.
    const MEASURE: &str = "import resource, subprocess, sys\n\
        p = subprocess.run(sys.argv[1:], capture_output=True)\n\
        sys.stderr.buffer.write(p.stderr)\n\
        sys.stdout.buffer.write(p.stdout)\n\
        print('peak_rss_kib=%d exit=%d' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode), file=sys.stderr)\n";
    let out = Command::new("python3")
        .args(["-c", MEASURE, env!("CARGO_BIN_EXE_claude-otel-sanitizer")])
        .args(args)
        .arg(input)
        .env("PSEUDONYM_KEY", "bounded-test-key-0123456789")
        .output()
        .expect("python3 runs the measured child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stderr.lines().last().expect("the wrapper reports");
    let field = |name: &str| -> i64 {
        last.split_whitespace().find_map(|f| f.strip_prefix(name)).and_then(|v| v.parse().ok()).expect(last)
    };
    let (peak, exit) = (field("peak_rss_kib=") as u64 * 1024, field("exit=") as i32);
    (exit, String::from_utf8_lossy(&out.stdout).into_owned(), stderr, peak)
}

/// The function's path reads one event whole, then sanitizes it: a single huge event is held in
/// the reader's window (which doubles until the event fits) and one buffer for its unescaped
/// message, about twice the event, never a copy per string read. Here a 30 MiB string in a
/// non-allowlisted attribute, beside a kept one. (Measured: 69.5 MB; 100.1 MB when every text
/// buffer was sized to the window.)
#[test]
fn one_huge_event_is_held_in_about_twice_its_size() {
    let long = format!("{CANARY}-{}", "v".repeat(30 << 20));
    let message =
        json!({"body": "claude_code.api_request", "attributes": {"prompt": long, "input_tokens": 1}}).to_string();
    let (path, size) = payload_file("huge_event", &[message]);
    let (exit, stdout, stderr, peak) = run_measured(&["sanitize"], &path);
    assert_eq!(exit, 0, "{stderr}");
    assert!(stdout.contains(r#""input_tokens":1"#), "{stdout}");
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "the canary leaked");
    let bound = 2 * size as u64 + 24 * 1024 * 1024;
    assert!(peak <= bound, "peak RSS {peak} bytes over {bound} for {size} bytes");
    println!("huge event: {size} bytes in, peak RSS {} KiB", peak / 1024);
}

fn check_shape(shape: &str) {
    let (path, size) = payload_file(shape, &[hostile(shape)]);
    assert!(size >= TARGET_BYTES / 2, "{shape}: the payload is {size} bytes");
    for mode in ["sanitize", "explain"] {
        let (exit, stdout, stderr, peak) = run_measured(&[mode], &path);
        assert_eq!(exit, 0, "{shape} {mode}: {stderr}");
        assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "{shape} {mode}: the canary leaked");
        assert!(peak <= bound(size), "{shape} {mode}: peak RSS {peak} bytes over {} for {size} bytes", bound(size));
        println!("{shape} {mode}: {size} bytes in, peak RSS {} KiB", peak / 1024);
    }
}

#[test]
fn a_long_key_over_many_children_in_the_object_form() {
    check_shape("object");
}

#[test]
fn a_long_key_over_many_children_through_kvlist_value() {
    check_shape("kvlist");
}

#[test]
fn a_long_key_over_many_children_inside_the_tool_parameters_string() {
    check_shape("tool_parameters");
}

#[test]
fn a_long_key_over_many_children_in_resource_attributes() {
    check_shape("resource");
}

#[test]
fn many_children_under_an_allowlisted_prefix() {
    check_shape("allowlisted_prefix");
}

/// The kept parts of each hostile event still come through: the shape costs nothing but its
/// own keys.
#[test]
fn hostile_shapes_keep_their_allowlisted_values() {
    let shapes = ["object", "kvlist", "tool_parameters", "resource", "allowlisted_prefix"];
    let messages: Vec<String> = shapes.iter().map(|s| hostile(s)).collect();
    let (path, _) = payload_file("all-shapes", &messages);
    let (exit, stdout, stderr, _) = run_measured(&["sanitize"], &path);
    assert_eq!(exit, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), shapes.len(), "{stdout}");
    assert!(lines[0].contains(r#""input_tokens":1"#) && lines[1].contains(r#""input_tokens":1"#), "{stdout}");
    assert!(lines[2].contains(r#""tool.subagent_type":"Explore""#), "{}", lines[2]);
    assert!(lines[3].contains(r#""service.name":"claude-code""#), "{}", lines[3]);
    assert!(lines[4].contains(r#""input_tokens":1"#), "{}", lines[4]);
    let counts: serde_json::Value =
        serde_json::from_str(stderr.lines().find(|l| l.starts_with('{')).expect("counts line")).unwrap();
    // Each long key is one dropped key, whatever it holds; under the allowlisted prefix every
    // child is matched and counted.
    let not_allowlisted = counts["attributes_dropped"]["not_allowlisted"].as_u64().unwrap();
    assert!(not_allowlisted > 10_000, "{counts}");
}

/// What the CLI's own process takes besides the payload: 24 MiB (the test build of the binary is
/// about 12 MiB resident before it reads anything; `explain` reads its input file whole, here
/// up to 6 MB; the allocator's slack). A payload near the cap may cost twice its decompressed
/// size over it.
const CLI_ALLOWANCE: u64 = 24 << 20;

/// Decompressed size of the payloads near the cap: 1 MiB under it.
const NEAR_CAP: usize = DEFAULT_MAX_DECOMPRESSED_BYTES - (1 << 20);

/// One event of about two million attribute keys (none allowlisted but two), about `bytes` long
/// as stored in a payload (each key, 15 bytes, costs 19 there: its quotes are escaped).
fn many_keys(bytes: usize) -> String {
    let mut m = String::with_capacity(bytes);
    m.push_str(r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","input_tokens":1"#);
    let mut i = 0u64;
    while m.len() + m.len() * 4 / 15 < bytes {
        m.push_str(&format!(r#","k{i:07}":"v""#));
        i += 1;
    }
    m.push_str(&format!(r#","prompt":"{CANARY}"}}}}"#));
    m
}

/// Ordinary `api_request` events, about `bytes` of payload in all.
fn ordinary(bytes: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut len = 0;
    while len < bytes {
        let m = json!({
            "body": "claude_code.api_request",
            "attributes": {"event.name": "api_request", "session.id": "5b1d8a0e-5d0c-4c8e-9d7e-1f2a3b4c5d6e",
                           "model": "claude-sonnet-4-5", "input_tokens": out.len(), "output_tokens": 20,
                           "prompt": format!("{CANARY} some words a person wrote")},
        })
        .to_string();
        // In the payload: escaped (a backslash per quote), inside the event's own fields.
        len += m.len() + m.matches('"').count() + 64;
        out.push(m);
    }
    out
}

/// `sanitize` and `explain` on a payload just under the default cap: the peak RSS of each is
/// within 2 × the decompressed payload + [`CLI_ALLOWANCE`]. Returns the figures.
fn check_near_cap(name: &str, messages: &[String], written: usize) -> Vec<String> {
    let (path, size) = payload_file(name, messages);
    assert!(size <= DEFAULT_MAX_DECOMPRESSED_BYTES && size + (2 << 20) > DEFAULT_MAX_DECOMPRESSED_BYTES, "{size}");
    let bound = 2 * size as u64 + CLI_ALLOWANCE;
    let mut figures = Vec::new();
    for mode in ["sanitize", "explain"] {
        let (exit, stdout, stderr, peak) = run_measured(&[mode], &path);
        assert_eq!(exit, 0, "{name} {mode}: {stderr}");
        assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "{name} {mode}: the canary leaked");
        if mode == "sanitize" {
            assert_eq!(stdout.lines().count(), written, "{name}: every event written");
        }
        figures.push(format!("{name} {mode}: {size} bytes in, peak RSS {} KiB", peak / 1024));
        assert!(peak <= bound, "{name} {mode}: peak RSS {peak} bytes over {bound} for {size} bytes");
    }
    figures
}

/// One event of two million keys, just under the cap (before a record's entries were bounded,
/// an 18 MB one peaked at 105 MiB in `sanitize`, 130 MiB in `explain`).
#[test]
fn an_event_of_millions_of_keys_near_the_cap_takes_about_twice_its_size() {
    let figures = check_near_cap("near-cap-keys", &[many_keys(NEAR_CAP)], 1);
    println!("{}", figures.join("\n"));
}

/// The same through the exact reader, which holds the whole decompressed payload and the
/// unescaped message, each message borrowed from the payload and unescaped once. (Before,
/// serde_json's growing scratch and the copy of it each event kept made it 3.2 × the payload:
/// 115 MiB for 32.5 MB in `sanitize`.)
#[test]
fn an_event_of_millions_of_keys_near_the_cap_through_the_exact_reader() {
    let mut figures = check_near_cap("near-cap-keys-exact", &[many_keys(NEAR_CAP)], 1);
    // The message before the event's id and timestamp: kept, borrowed, until the event ends.
    figures.extend(check_near_cap("near-cap-keys-message-first-exact", &[many_keys(NEAR_CAP)], 1));
    println!("{}", figures.join("\n"));
}

/// Ordinary events filling a payload just under the cap.
#[test]
fn ordinary_events_near_the_cap_take_about_twice_their_size() {
    let messages = ordinary(NEAR_CAP);
    let figures = check_near_cap("near-cap-events", &messages, messages.len());
    println!("{}", figures.join("\n"));
}

/// The same many keys one level down, under an allowlisted prefix (`session.<key>`): each child
/// is matched where it is read, none collected (collected, they took 40 MiB of an 18 MB event).
#[test]
fn millions_of_children_under_an_allowlisted_prefix_near_the_cap() {
    let keys = many_keys(NEAR_CAP - (1 << 20));
    let nested = keys.replacen(r#""input_tokens":1,"#, r#""input_tokens":1,"session":{"#, 1).replacen(
        &format!(r#","prompt":"{CANARY}"}}}}"#),
        &format!(r#"}},"prompt":"{CANARY}"}}}}"#),
        1,
    );
    assert!(nested.contains(r#""session":{"k0000000""#) && nested.contains(r#""v"},"prompt""#));
    let figures = check_near_cap("near-cap-prefix", &[nested], 1);
    println!("{}", figures.join("\n"));
}

/// One `tool_parameters` string just under the cap (a long command with quotes inside it, so
/// escaped in the string and again in the payload): it is unescaped once, into one buffer of its
/// size. (Before, serde_json's growing scratch, the copy it handed over and a second copy in the
/// arena peaked at about 3.4 × the payload in `sanitize`.)
#[test]
fn a_tool_parameters_string_near_the_cap_takes_about_twice_its_size() {
    let message = |n: usize| {
        let command = format!("{CANARY} {}", r#"echo "x"; "#.repeat(n));
        let inner = json!({"subagent_type": "Explore", "bash_command": command}).to_string();
        json!({"body": "claude_code.tool_result",
               "attributes": {"event.name": "tool_result", "tool_name": "Agent", "tool_parameters": inner}})
        .to_string()
    };
    // As stored in a payload, the message's own quotes and backslashes are escaped again.
    let stored = |n: usize| serde_json::to_string(&message(n)).unwrap().len();
    let per_unit = stored(2000) - stored(1000);
    let n = 1000 + (NEAR_CAP - (256 << 10) - stored(1000)) * 1000 / per_unit;
    let figures = check_near_cap("near-cap-tool-parameters", &[message(n)], 1);
    println!("{}", figures.join("\n"));
}

/// An OTLP/HTTP logs request at the receiver's cap (`--otlp`, 4 MiB), in the shape that costs
/// most once decoded: one record of two million empty attributes (2 bytes each in protobuf, a
/// `KeyValue` of 64 bytes and its share of the vector's doubling once decoded). The request is
/// decoded whole, so the bound is a multiple of the body, not 2 ×: 48 × the body + 24 MiB
/// (about 225 MB at the cap; the subscription path's 32 MiB cap would have allowed 1.5 GB).
#[test]
fn an_otlp_body_of_empty_attributes_at_the_request_cap() {
    use prost::Message as _;
    use sanitizer_otlp::{DEFAULT_MAX_REQUEST_BYTES, ExportLogsServiceRequest};
    let empty = 2; // one empty KeyValue: its tag and a zero length
    let record = |n: usize| {
        serde_json::from_value::<ExportLogsServiceRequest>(json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"body": {"stringValue": "claude_code.api_request"}, "attributes": [{"key": "input_tokens", "value": {"intValue": "7"}}]}
        ]}]}]}))
        .map(|mut request| {
            let attributes = &mut request.resource_logs[0].scope_logs[0].log_records[0].attributes;
            attributes.extend(std::iter::repeat_n(Default::default(), n));
            request
        })
        .unwrap()
    };
    let overhead = record(0).encoded_len();
    let body = record((DEFAULT_MAX_REQUEST_BYTES - overhead - 16) / empty).encode_to_vec();
    assert!(body.len() <= DEFAULT_MAX_REQUEST_BYTES && body.len() > DEFAULT_MAX_REQUEST_BYTES - 64, "{}", body.len());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bounded");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("otlp-empty-attributes.pb");
    std::fs::write(&path, &body).unwrap();
    let (exit, stdout, stderr, peak) = run_measured(&["sanitize", "--otlp"], &path);
    assert_eq!(exit, 0, "{stderr}");
    assert!(stdout.contains(r#""input_tokens":7"#), "{stdout}");
    let bound = 48 * body.len() as u64 + (24 << 20);
    assert!(peak <= bound, "peak RSS {peak} bytes over {bound} for a {} byte body", body.len());
    println!("otlp body of empty attributes: {} bytes in, peak RSS {} KiB", body.len(), peak / 1024);
}
