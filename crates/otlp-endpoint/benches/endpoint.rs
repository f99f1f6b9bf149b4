//! The OTLP endpoint's cost per request, its cold start and its peak memory, on request bodies
//! recorded from the real client (`fixtures/record/raw*`, Claude Code 2.1.332).
//!
//! Each case runs [`Endpoint::respond`] whole (token check, content type, decode, the allowlist,
//! pseudonyms, record ids, batching), with a pseudonym key, writing through a sink that discards
//! the lines (`StdoutSink` over `std::io::sink()`), so what is measured is the function's CPU per
//! request, not CloudWatch's latency:
//!
//! - `logs/median`: the recorded logs body with the median number of records (6): one developer's
//!   5-second export while working (the client exports logs every 5 s);
//! - `logs/all`: every recorded logs body's records in one request (the busiest 5-second batch
//!   the recordings can make);
//! - `metrics/commit_pr`: the `commit_pr` scenario's delta metrics export (13 data points: lines,
//!   commits, pull requests, sessions, decisions, tokens, cost): the client exports metrics every
//!   60 s.
//!
//! Each in `http/protobuf` (what the stack's settings give) and `http/json`.
//!
//! `SANITIZER_BENCH_COLD=DIR` (run by `scripts/bench-endpoint.sh`, after `SANITIZER_BENCH_WRITE=DIR`
//! wrote the bodies): instead of criterion, start the endpoint from nothing (compile the embedded
//! allowlist, derive the keys), answer one logs and one metrics request, then the largest, and
//! print one JSON line: the microseconds to ready and to the first answers, and the process's
//! resident set before and at its peaks. Lambda's own start (the runtime, the SDK's
//! configuration, the Secrets Manager calls) comes on top.

use criterion::{BenchmarkId, Criterion, Throughput};
use prost::Message as _;
use sanitizer_aws::sink::StdoutSink;
use sanitizer_core::PseudonymKey;
use sanitizer_otlp_endpoint::{BearerToken, DEFAULT_MAX_REQUEST_BYTES, Endpoint, EndpointSettings};
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lambda_http::http::{HeaderMap, HeaderValue, Method};

const TOKEN: &str = "bench-token-0123456789abcdef";
const KEY: &[u8] = b"bench-pseudonym-key-0123456789abcdef";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Case {
    signal: &'static str,
    name: &'static str,
    /// The request as OTLP/JSON and as protobuf.
    json: Vec<u8>,
    protobuf: Vec<u8>,
    records: usize,
}

fn count_logs(v: &Value) -> usize {
    v["resourceLogs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopeLogs"].as_array().into_iter().flatten())
        .map(|s| s["logRecords"].as_array().map_or(0, Vec::len))
        .sum()
}

fn logs_case(name: &'static str, request: Value) -> Case {
    let json = request.to_string().into_bytes();
    let protobuf = sanitizer_otlp::decode_logs(&json, DEFAULT_MAX_REQUEST_BYTES).unwrap().encode_to_vec();
    Case { signal: "logs", name, records: count_logs(&request), json, protobuf }
}

/// The recorded logs bodies (`fixtures/record/raw/*/NNN.json`), in path order.
fn recorded_logs() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/record/raw"))
        .expect("fixtures/record/raw")
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()).collect()
}

fn cases() -> Vec<Case> {
    let mut bodies = recorded_logs();
    assert!(bodies.len() > 20, "expected the recorded logs bodies");
    let mut all = serde_json::json!({"resourceLogs": []});
    for body in &bodies {
        all["resourceLogs"].as_array_mut().unwrap().extend(body["resourceLogs"].as_array().unwrap().iter().cloned());
    }
    bodies.sort_by_key(count_logs);
    let median = bodies[bodies.len() / 2].clone();

    let metrics = std::fs::read(root().join("fixtures/record/raw-metrics/commit_pr/protobuf-delta/001.pb")).unwrap();
    let request = sanitizer_otlp::decode_metrics(&metrics, DEFAULT_MAX_REQUEST_BYTES).unwrap();
    let points = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => s.data_points.len(),
            _ => 0,
        })
        .sum();
    let metrics_json = std::fs::read(root().join("fixtures/record/raw-metrics/commit_pr/json-delta/001.json")).unwrap();
    vec![
        logs_case("median", median),
        logs_case("all", all),
        Case { signal: "metrics", name: "commit_pr", json: metrics_json, protobuf: metrics, records: points },
    ]
}

fn endpoint() -> Endpoint<StdoutSink<std::io::Sink>> {
    Endpoint::new(
        Some(PseudonymKey::new(KEY).unwrap()),
        StdoutSink::new(std::io::sink()),
        BearerToken::new(TOKEN).unwrap(),
        EndpointSettings::new(DEFAULT_MAX_REQUEST_BYTES, None),
    )
}

fn headers(content_type: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap());
    h.insert("content-type", HeaderValue::from_static(content_type));
    h
}

fn path(signal: &str) -> String {
    format!("/v1/{signal}")
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kb() -> u64 {
    status_kb("VmHWM:")
}

/// A `/proc/self/status` figure in KiB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `SANITIZER_BENCH_WRITE=DIR`: the cold start's three protobuf bodies to `DIR` (`logs.pb`,
/// `metrics.pb`, `largest.pb`), so that its process reads only them.
fn write_bodies(dir: &Path) {
    let cases = cases();
    std::fs::create_dir_all(dir).unwrap();
    for (file, case) in [("logs.pb", &cases[0]), ("largest.pb", &cases[1]), ("metrics.pb", &cases[2])] {
        std::fs::write(dir.join(file), &case.protobuf).unwrap();
    }
}

/// `SANITIZER_BENCH_COLD=DIR`: one start from nothing, one logs and one metrics request, then the
/// largest request, reading only `DIR`'s bodies ([`write_bodies`]). Prints the microseconds to
/// ready and to the first answers, the resident set before the start (`baseline_rss_kb`: the
/// benchmark's own binary, unstripped, and the runtime) and the peaks (`VmHWM`) after the first
/// answers and after the largest request.
fn cold(dir: &Path) {
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap();
    let (logs, metrics, largest) = (read("logs.pb"), read("metrics.pb"), read("largest.pb"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pb = headers("application/x-protobuf");
    let baseline = status_kb("VmRSS:");
    let started = Instant::now();
    let endpoint = endpoint();
    let ready = started.elapsed();
    let mut statuses = Vec::new();
    for (path, body) in [("/v1/logs", &logs), ("/v1/metrics", &metrics)] {
        statuses.push(runtime.block_on(endpoint.respond(&Method::POST, path, &pb, body, None)).status);
    }
    let answered = started.elapsed();
    let peak_first = peak_rss_kb();
    statuses.push(runtime.block_on(endpoint.respond(&Method::POST, "/v1/logs", &pb, &largest, None)).status);
    assert_eq!(statuses, [200, 200, 200]);
    println!(
        "{}",
        serde_json::json!({
            "ready_us": ready.as_micros() as u64,
            "answered_us": answered.as_micros() as u64,
            "baseline_rss_kb": baseline,
            "peak_rss_kb": peak_first,
            "peak_rss_largest_kb": peak_rss_kb(),
            "largest_bytes": largest.len(),
        })
    );
}

fn main() {
    if let Some(dir) = std::env::var_os("SANITIZER_BENCH_WRITE") {
        return write_bodies(Path::new(&dir));
    }
    if let Some(dir) = std::env::var_os("SANITIZER_BENCH_COLD") {
        return cold(Path::new(&dir));
    }
    let cases = cases();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let endpoint = endpoint();
    let mut c = Criterion::default().configure_from_args();
    for case in &cases {
        let mut group = c.benchmark_group(format!("endpoint/{}/{}", case.signal, case.name));
        group.throughput(Throughput::Elements(case.records as u64));
        for (form, body, content_type) in
            [("protobuf", &case.protobuf, "application/x-protobuf"), ("json", &case.json, "application/json")]
        {
            let headers = headers(content_type);
            let path = path(case.signal);
            // Every case must be answered 200 with lines written, or the figure means nothing.
            let reply = runtime.block_on(endpoint.respond(&Method::POST, &path, &headers, body, None));
            assert_eq!(reply.status, 200, "{}/{}/{form}: {:?}", case.signal, case.name, reply.summary);
            assert!(reply.summary.written > 0, "{}/{}/{form}: nothing written", case.signal, case.name);
            group.bench_with_input(BenchmarkId::new(form, body.len()), body, |b, body| {
                b.iter(|| {
                    let reply = runtime.block_on(endpoint.respond(&Method::POST, &path, &headers, body, None));
                    black_box(reply.status)
                });
            });
        }
        group.finish();
    }
    c.final_summary();
}
