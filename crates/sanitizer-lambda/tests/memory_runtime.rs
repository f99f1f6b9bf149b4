//! Memory near the decompression cap, in the function's own process: the `sanitizer-lambda`
//! binary polls `cargo lambda watch` as in AWS, `cargo lambda invoke` sends a payload that
//! decompresses to just under the cap, and the function's peak resident set (`VmHWM` of its
//! `/proc/<pid>/status`, read by this test, the parent) may exceed its resident set when ready
//! (`VmRSS`: the binary, tokio, the SDK clients) by at most 2 × the decompressed payload
//! + 2 × the invocation's body (the runtime's copy of it, and ours) + [`SLACK`].
//!
//! Cases: a direct subscription envelope holding one event of two million keys, and one of
//! ordinary events; the first as a Kinesis record. A Kinesis batch of both (records are read one
//! at a time, but the sanitized events of one are held while the next is read, and the
//! allocator keeps some of the first's pages) is held only to the template's default
//! `FunctionMemoryMB`. Each runs in a fresh function process, so each peak is its own. The
//! function's default cap is the template's (`tests/deploy_template.rs` ties them), and
//! `FunctionMemoryMB`'s default is sized from these figures (docs/lambda.md, "The decompression
//! cap"). Before the bounded record reader, a 28.5 MB Kinesis record peaked at 206 MiB.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[path = "../../../tests/kinesis_support/mod.rs"]
mod kinesis_support;

use common::*;
use kinesis_support::*;
use sanitizer_core::DEFAULT_MAX_DECOMPRESSED_BYTES;
use std::path::Path;
use std::time::Duration;

const CANARY: &str = "CANARYm3m";

/// The template's default `FunctionMemoryMB`, in bytes (Lambda's MB are MiB).
fn template_memory() -> u64 {
    let template = include_str!("../../../template.yaml");
    let parameter = template.split("\n  FunctionMemoryMB:\n").nth(1).expect("the FunctionMemoryMB parameter");
    let default = parameter.lines().find_map(|l| l.trim().strip_prefix("Default: ")).expect("its default");
    default.parse::<u64>().expect("a number of MB") << 20
}

/// The allocator's slack and the small buffers of a read (the base64 and gzip windows, the
/// sanitized events of a payload that keeps little): 16 MiB. The peaks vary by machine: the
/// Kinesis record of a 32.5 MB payload peaked at 89.8 MiB on the build machine and at 97.7 MiB
/// on a fresh CI machine, 0.4 MiB over an 8 MiB slack.
const SLACK: u64 = 16 << 20;

/// Decompressed size of each test payload: just under the cap (1 MiB of room, so that the JSON
/// around the messages never pushes it over).
const TARGET: usize = DEFAULT_MAX_DECOMPRESSED_BYTES - (1 << 20);

/// One event of many attribute keys (none allowlisted but two), about `bytes` long as stored
/// in a payload (each key, 15 bytes, costs 19 there: its quotes are escaped).
fn many_keys(bytes: usize) -> String {
    let mut m = String::with_capacity(bytes);
    m.push_str(r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","input_tokens":7"#);
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
        let m = serde_json::json!({
            "body": "claude_code.api_request",
            "attributes": {"event.name": "api_request", "session.id": "5b1d8a0e-5d0c-4c8e-9d7e-1f2a3b4c5d6e",
                           "model": "claude-sonnet-4-5", "input_tokens": out.len(), "output_tokens": 20,
                           "cost_usd": 0.0123, "prompt": format!("{CANARY} some words a person wrote"),
                           "user.email": format!("{CANARY}@example.com")},
            "resource": {"attributes": {"service.name": "claude-code", "host.name": CANARY}},
        })
        .to_string();
        len += m.len() + m.len() / 6 + 90;
        out.push(m);
    }
    out
}

/// A payload of `messages`, its JSON text and that text's length (the decompressed size).
fn payload_text(messages: Vec<String>) -> Vec<u8> {
    let now = now_ms();
    let events: Vec<(String, i64, String)> =
        messages.into_iter().enumerate().map(|(i, m)| (format!("3746{i:052}"), now - 60_000, m)).collect();
    serde_json::to_vec(&payload("/member/claude-code/raw", "claude-code", &events)).unwrap()
}

fn gzip_best(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A line of a process's `/proc/<pid>/status` in bytes (`VmHWM`: its peak resident set).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the function is running");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field}"));
    kib * 1024
}

/// Starts a fresh function, sends `body`, and returns its answer, its output, its resident set
/// when ready and its peak.
fn invoke_measured(port: u16, moto: &str, scratch: &Path, name: &str, body: &[u8]) -> (bool, String, String, u64, u64) {
    let file = scratch.join(format!("{name}.json"));
    std::fs::write(&file, body).unwrap();
    let mut cmd = function_command(env!("CARGO_BIN_EXE_sanitizer-lambda"), port, moto, 128);
    cmd.env("SANITIZED_LOG_GROUP", "/central/sanitized");
    let mut function = Proc::spawn(&mut cmd);
    function.wait_for("\"ready\"", Duration::from_secs(60));
    let ready = status_bytes(function.child.id(), "VmRSS");
    let (ok, out) = invoke(port, &file);
    function.wait_for("\"EventsReceived\"", Duration::from_secs(30));
    let peak = status_bytes(function.child.id(), "VmHWM");
    let log = function.text();
    drop(function);
    (ok, out, log, ready, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_near_the_cap_peaks_within_twice_its_size_in_the_function() {
    let scratch = std::env::temp_dir().join(format!("memory-rt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let moto = Moto::start();
    let logs = logs_client(&moto.url()).await;
    create_group(&logs, "/central/sanitized").await;
    let (_watch, port) = start_emulator(&scratch);

    let keys = payload_text(vec![many_keys(TARGET)]);
    let events = payload_text(ordinary(TARGET));
    for (name, text) in [("keys", &keys), ("events", &events)] {
        assert!(
            text.len() <= DEFAULT_MAX_DECOMPRESSED_BYTES && text.len() > TARGET - (1 << 20),
            "{name}: {}",
            text.len()
        );
    }
    let (keys_gz, events_gz) = (gzip_best(&keys), gzip_best(&events));
    let envelope = |gz: &[u8]| {
        use base64::Engine as _;
        format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, base64::engine::general_purpose::STANDARD.encode(gz)).into_bytes()
    };
    let record = |i: u64, gz: &[u8]| KinesisRecord { sequence_number: sequence_number(i), data: gz.to_vec() };
    let cases: Vec<(&str, Vec<u8>, usize, bool)> = vec![
        ("envelope-keys", envelope(&keys_gz), keys.len(), false),
        ("envelope-events", envelope(&events_gz), events.len(), false),
        // Slashes escaped in the envelope (as some JSON writers do): the fast reader refuses an
        // escape there, and the exact reader reads the payload.
        (
            "envelope-keys-exact",
            String::from_utf8(envelope(&keys_gz)).unwrap().replace('/', "\\/").into_bytes(),
            keys.len(),
            false,
        ),
        ("kinesis-keys", kinesis_event(&[record(1, &keys_gz)]), keys.len(), true),
        (
            "kinesis-both",
            kinesis_event(&[record(1, &keys_gz), record(2, &events_gz)]),
            keys.len().max(events.len()),
            true,
        ),
    ];
    let mut report = Vec::new();
    for (name, body, size, kinesis) in cases {
        let (ok, out, log, ready, peak) = invoke_measured(port, &moto.url(), &scratch, name, &body);
        assert!(ok, "{name}: the invocation succeeds:\n{out}\nfunction:\n{log}");
        if kinesis {
            assert!(out.contains(r#""batchItemFailures":[]"#), "{name}: no record failed:\n{out}");
        }
        assert!(log.contains("\"outcome\":\"ok\""), "{name}: {log}");
        assert!(!log.contains(CANARY) && !out.contains(CANARY), "{name}: a payload value leaked");
        let bound = if name == "kinesis-both" {
            template_memory()
        } else {
            ready + 2 * size as u64 + 2 * body.len() as u64 + SLACK
        };
        report.push(format!(
            "{name}: {size} bytes decompressed, {} bytes in, RSS {} KiB ready, peak {} KiB ({:.2} x the payload over ready)",
            body.len(),
            ready >> 10,
            peak >> 10,
            (peak - ready) as f64 / size as f64
        ));
        assert!(peak <= bound, "{name}: peak RSS {peak} bytes over {bound}\n{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
    let _ = std::fs::remove_dir_all(&scratch);
}
