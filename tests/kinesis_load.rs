//! Load test (ignored by default; `scripts/load-test.sh` runs it): at least 1,000,000 events of
//! the recorded mix through the handler, as Kinesis events of subscription payloads, into a sink
//! that only counts. Prints events/s per core (events over the thread's own CPU time, from
//! `/proc/thread-self/schedstat`, so other processes on the machine do not skew it) and the
//! peak RSS (`VmHWM`) of the process that handles them: the workload is built and written to
//! files by the test, and a fresh process of the same test binary reads one event at a time and
//! handles it, as a Lambda holds one invocation's event. It asserts what must hold whatever the speed: every event
//! received, every sanitized event accepted by the sink, no record failed.
//!
//! The workload: 25 distinct payloads of 1,000 events each, cycling through the recorded
//! events of `fixtures/recorded/*.object.json` with identifiers re-drawn per event and each event
//! one of 24 people's (as `benches/sanitize.rs` does), gzip at the default level as CloudWatch Logs sends them; 8
//! payloads per Kinesis event (about 3.7 MB of event JSON, under Lambda's 6 MB). The 25 payloads
//! are handled 40 times over: 1,000,000 events.
//!
//! `LOAD_EVENTS` (default 1,000,000) changes the total, rounded up to whole events of 8,000.

mod common;
#[path = "../benches/workload/mod.rs"]
mod workload;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::{Compression, write::GzEncoder};
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::plan::Batch;
use sanitizer_aws::sink::{PutOutcome, Rejected, Sink, SinkError};
use sanitizer_core::StreamNamer;
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use workload::{Rng, as_person, vary};

const EVENTS_PER_PAYLOAD: usize = 1_000;
const DISTINCT_PAYLOADS: usize = 25;
const PAYLOADS_PER_EVENT: usize = 8;

/// Accepts every batch and counts; does no I/O.
#[derive(Default)]
struct CountingSink {
    batches: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
}

impl Sink for CountingSink {
    async fn put_batch(&self, _stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(batch.bytes() as u64, Ordering::Relaxed);
        Ok(PutOutcome { accepted: batch.len() as u64, rejected: Rejected::default(), retries: 0 })
    }
}

fn recorded_messages() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recorded");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/recorded")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".object.json")))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for file in files {
        let payload = common::payload_of(&std::fs::read(&file).expect("fixture"));
        for e in payload["logEvents"].as_array().expect("logEvents") {
            messages.push(serde_json::from_str(e["message"].as_str().expect("message")).expect("message JSON"));
        }
    }
    assert!(messages.len() > 100, "expected the recorded fixtures");
    messages
}

/// The payloads as gzip bytes (what a Kinesis record holds), and their decompressed size.
fn payloads(messages: &[Value]) -> (Vec<Vec<u8>>, usize) {
    let mut rng = Rng::deterministic();
    let base_ms: i64 = 1_795_326_804_756;
    let mut decompressed = 0;
    let mut out = Vec::new();
    for p in 0..DISTINCT_PAYLOADS {
        let events: Vec<Value> = (0..EVENTS_PER_PAYLOAD)
            .map(|i| {
                let n = p * EVENTS_PER_PAYLOAD + i;
                let mut m = messages[n % messages.len()].clone();
                vary(&mut m, &mut rng);
                as_person(&mut m, &mut rng);
                json!({"id": rng.digits(56), "timestamp": base_ms + n as i64, "message": m.to_string()})
            })
            .collect();
        let payload = json!({
            "messageType": "DATA_MESSAGE",
            "owner": "111122223333",
            "logGroup": "/claude-otel/claude-code/raw",
            "logStream": format!("claude-code-{}", p % 5),
            "subscriptionFilters": ["claude-otel-sanitizer"],
            "logEvents": events,
        })
        .to_string();
        decompressed += payload.len();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(payload.as_bytes()).expect("gzip");
        out.push(gz.finish().expect("gzip"));
    }
    (out, decompressed)
}

/// A Kinesis Data Streams event holding `records` as its records' data.
fn kinesis_event(records: &[&Vec<u8>], first_sequence: u64) -> Vec<u8> {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = format!("4959{:052}", first_sequence + i as u64);
            json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": seq,
                            "data": STANDARD.encode(data), "approximateArrivalTimestamp": 1_795_326_804.756},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::999999999999:role/sanitizer", "awsRegion": "eu-west-1",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:999999999999:stream/claude-otel-raw-events",
            })
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// CPU time this thread has used (ns), from the scheduler's own accounting.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("/proc/thread-self/schedstat");
    s.split_whitespace().next().and_then(|n| n.parse().ok()).expect("schedstat run time")
}

/// The workload's Kinesis event files, written by the parent, read by the child one at a time.
fn event_file(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("event-{i:02}.json"))
}

#[test]
#[ignore = "load test: run by scripts/load-test.sh"]
fn a_million_events_of_the_recorded_mix_through_the_handler() {
    if let Ok(dir) = std::env::var("LOAD_CHILD_DIR") {
        return handle_events(Path::new(&dir));
    }
    // Parent: build the workload, write it to files, and run the handling in a fresh process, so
    // that its peak RSS is the handling's own (one event held at a time, as in a Lambda), not the
    // generator's.
    let messages = recorded_messages();
    let (payloads, decompressed) = payloads(&messages);
    let compressed: usize = payloads.iter().map(Vec::len).sum();
    let dir = std::env::temp_dir().join(format!("kinesis-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut largest_event = 0;
    for i in 0..DISTINCT_PAYLOADS {
        let records: Vec<&Vec<u8>> = (0..PAYLOADS_PER_EVENT).map(|j| &payloads[(i + j) % DISTINCT_PAYLOADS]).collect();
        let event = kinesis_event(&records, (i * PAYLOADS_PER_EVENT) as u64);
        largest_event = largest_event.max(event.len());
        std::fs::write(event_file(&dir, i), &event).expect("write event");
    }
    assert!(largest_event < 6 * 1024 * 1024, "a Kinesis event over Lambda's 6 MB: {largest_event} bytes");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "a_million_events_of_the_recorded_mix_through_the_handler", "--nocapture"])
        .env("LOAD_CHILD_DIR", &dir)
        .output()
        .expect("run the handling process");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "handling process failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find_map(|l| l.split_once("LOAD ").map(|(_, j)| j)).expect("the LOAD line");
    let mut line: Value = serde_json::from_str(line).expect("LOAD JSON");
    let per_event = decompressed as f64 / (DISTINCT_PAYLOADS * EVENTS_PER_PAYLOAD) as f64;
    let events_per_cpu_second = line["events_per_cpu_second"].as_f64().expect("rate");
    line["workload"] = json!({
        "distinct_payloads": DISTINCT_PAYLOADS,
        "events_per_payload": EVENTS_PER_PAYLOAD,
        "payloads_per_kinesis_event": PAYLOADS_PER_EVENT,
        "decompressed_bytes_per_event": per_event.round(),
        "gzip_ratio": (decompressed as f64 / compressed as f64 * 100.0).round() / 100.0,
        "largest_kinesis_event_bytes": largest_event,
    });
    line["decompressed_mb_per_cpu_second"] = json!((events_per_cpu_second * per_event / 1e6).round());
    println!("LOAD {line}");
}

/// Child: every event file, over and over until the total is reached, through the handler.
fn handle_events(dir: &Path) {
    let total: usize = std::env::var("LOAD_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let per_event = EVENTS_PER_PAYLOAD * PAYLOADS_PER_EVENT;
    let rounds = total.div_ceil(per_event);
    let key = PseudonymKey::new(b"load-test pseudonym key, 32 bytes or more").expect("key");
    let streams = StreamNamer::new(Some(&key));
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), Some(key)),
        CountingSink::default(),
        streams,
        HandlerSettings { max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES, log_stream: None, concurrency: 4 },
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (mut received, mut written, mut failed_records, mut cpu_ns) = (0u64, 0u64, 0u64, 0u64);
    let wall = std::time::Instant::now();
    for round in 0..rounds {
        let event = std::fs::read(event_file(dir, round % DISTINCT_PAYLOADS)).expect("event file");
        let cpu = thread_cpu_ns();
        let report = runtime.block_on(handler.handle_event(&event, None));
        cpu_ns += thread_cpu_ns() - cpu;
        received += report.counts().received;
        written += report.written();
        failed_records += report.failed_records();
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu_s = cpu_ns as f64 / 1e9;
    let sink = handler.sink();
    let handled = (rounds * per_event) as u64;
    assert_eq!(received, handled, "every event received");
    assert_eq!(failed_records, 0, "no record failed");
    assert_eq!(written, sink.events.load(Ordering::Relaxed), "the sink accepted every sanitized event");
    assert!(written > 0 && written < received, "the allowlist keeps some events, not all");
    let line = json!({
        "events": handled,
        "kinesis_events": rounds,
        "records": rounds * PAYLOADS_PER_EVENT,
        "written": written,
        "put_log_events_batches": sink.batches.load(Ordering::Relaxed),
        "written_bytes_with_overhead": sink.bytes.load(Ordering::Relaxed),
        "cpu_seconds": (cpu_s * 1000.0).round() / 1000.0,
        "wall_seconds": (wall_s * 1000.0).round() / 1000.0,
        "events_per_cpu_second": (handled as f64 / cpu_s).round(),
        "peak_rss_kib": common::status_kib("VmHWM"),
    });
    println!("LOAD {line}");
}
