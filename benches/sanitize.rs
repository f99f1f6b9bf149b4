//! The full path against the decode floor, on payloads re-packed from the recorded fixtures.
//!
//! - `full`: `Sanitizer::sanitize_envelope` (with a pseudonym key), the function's own path from
//!   the envelope bytes to the output lines: each event sanitized as the streaming reader reads it.
//! - `floor`: what any consumer must do at least: parse the envelope, base64-decode, gunzip,
//!   parse the payload JSON, and one `serde::de::IgnoredAny` pass over each message. It is a fixed
//!   baseline: the `base64` crate and miniz_oxide (flate2's default backend, called directly, since
//!   the crate's own flate2 now inflates with zlib-rs), whatever backends the product chooses.
//!
//! Workloads (built once, deterministically, from `fixtures/recorded/*.object.json`):
//! - `1mb`: as many events of the recorded mix as fit in a 1,000,000-byte envelope (the
//!   1 MB async-invoke ceiling is on the request, so this is the largest payload a Lambda sees);
//! - `10k`: 10,000 events of the recorded mix.
//!
//! Ids, UUIDs, hex digests and digit strings are re-drawn per event so the payload compresses
//! like real traffic rather than like 10,000 copies of one record; then each event is made one
//! of 24 people's (`workload::as_person`): their identity attributes are the same in all their
//! events, as in real traffic (with `SANITIZER_BENCH_PEOPLE=every-event`, each event is a new
//! person's, as the workload was until then).
//!
//! `scripts/bench.sh` runs this and prints the ratio; with `SANITIZER_BENCH_ONCE=full|floor`
//! (and `SANITIZER_BENCH_WORKLOAD=1mb|10k`) the binary instead runs one path once, for
//! `valgrind --tool=callgrind` instruction counts (`scripts/bench.sh --callgrind`); with
//! `SANITIZER_BENCH_WRITE=DIR` it writes the workloads to `DIR/1mb.json` and `DIR/10k.json`;
//! with `SANITIZER_BENCH_ALLOWLIST=FILE` it sanitizes with that allowlist instead of the
//! embedded one.

mod workload;

use aws_lambda_events::event::cloudwatch_logs::LogData;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput};
#[allow(clippy::disallowed_types, reason = "the benchmark's reference decoding (floor, gunzip)")]
use flate2::read::MultiGzDecoder;
use flate2::{Compression, write::GzEncoder};
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer};
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::path::Path;
use workload::{Rng, as_person, vary};

/// The async invoke payload ceiling, applied to the envelope the function receives.
const ENVELOPE_BYTES: usize = 1_000_000;

struct Workload {
    name: &'static str,
    envelope: Vec<u8>,
    events: usize,
    decompressed: usize,
}

/// Every `message` of the recorded object-shape fixtures, in file order.
fn recorded_messages() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recorded");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/recorded")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".object.json")))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for file in files {
        let json = gunzip(&base64_of(&std::fs::read(&file).unwrap()));
        let data: LogData = serde_json::from_slice(&json).unwrap();
        for entry in data.log_events {
            messages.push(serde_json::from_str(&entry.message).unwrap());
        }
    }
    assert!(messages.len() > 100, "expected the recorded fixtures");
    messages
}

fn base64_of(envelope: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(envelope).unwrap();
    STANDARD.decode(v["awslogs"]["data"].as_str().unwrap()).unwrap()
}

#[allow(clippy::disallowed_types, reason = "reads back the benchmark's own workloads")]
fn gunzip(compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(compressed).read_to_end(&mut out).unwrap();
    out
}

/// `n` events cycling through the recorded mix, as an envelope.
fn build(messages: &[Value], n: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng::deterministic();
    // SANITIZER_BENCH_PEOPLE=every-event: each event a new person's (the workload before
    // `as_person`, for comparisons with figures measured on it).
    let every_event_a_person = std::env::var("SANITIZER_BENCH_PEOPLE").is_ok_and(|v| v == "every-event");
    let base_ms: i64 = 1_795_326_804_756;
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut m = messages[i % messages.len()].clone();
            vary(&mut m, &mut rng);
            if !every_event_a_person {
                as_person(&mut m, &mut rng);
            }
            json!({"id": rng.digits(56), "timestamp": base_ms + i as i64, "message": m.to_string()})
        })
        .collect();
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/claude-code/otel",
        "logStream": "otlp-logs",
        "subscriptionFilters": ["claude-otel-sanitizer"],
        "logEvents": events,
    })
    .to_string();
    // CloudWatch Logs compresses subscription data with gzip at the default level.
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(payload.as_bytes()).unwrap();
    let data = STANDARD.encode(gz.finish().unwrap());
    (format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#).into_bytes(), payload.len())
}

fn workloads() -> Vec<Workload> {
    let messages = recorded_messages();
    // The largest event count whose envelope fits: estimate, then step down.
    let mut n = 1000;
    for _ in 0..3 {
        let (envelope, _) = build(&messages, n);
        n = n * ENVELOPE_BYTES / envelope.len();
    }
    let (mut envelope, mut decompressed) = build(&messages, n);
    while envelope.len() > ENVELOPE_BYTES {
        n -= n / 100 + 1;
        (envelope, decompressed) = build(&messages, n);
    }
    let one_mb = Workload { name: "1mb", envelope, events: n, decompressed };
    let (envelope, decompressed) = build(&messages, 10_000);
    let ten_k = Workload { name: "10k", envelope, events: 10_000, decompressed };
    vec![one_mb, ten_k]
}

/// The embedded allowlist, or with `SANITIZER_BENCH_ALLOWLIST=<file>` another (an earlier
/// commit's, to compare the code alone: `git show 797bcde:allowlist.toml`).
fn sanitizer() -> Sanitizer {
    let key = PseudonymKey::new(b"bench-pseudonym-key-0123456789abcdef").unwrap();
    let allowlist = match std::env::var("SANITIZER_BENCH_ALLOWLIST") {
        Ok(path) if !path.is_empty() => Allowlist::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap(),
        _ => Allowlist::embedded(),
    };
    Sanitizer::new(allowlist, Some(key))
}

/// (a) The full path: envelope bytes to output lines. Returns the lines written.
#[inline(never)]
fn full(sanitizer: &Sanitizer, envelope: &[u8]) -> usize {
    let (_, out) = sanitizer.sanitize_envelope(envelope, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
    black_box(&out.events);
    out.events.len()
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    awslogs: AwsLogs<'a>,
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

/// Gunzip as flate2's default backend (miniz_oxide) does it, called directly so that the floor
/// stays fixed whatever backend the crate's own flate2 uses: the gzip header (as `GzEncoder` and
/// CloudWatch write it: no optional fields), raw inflate in 32 KiB output steps into `out`, and
/// the CRC-32 and length of the trailer checked.
fn gunzip_miniz(gz: &[u8], out: &mut Vec<u8>) {
    use miniz_oxide::inflate::stream::{InflateState, inflate};
    use miniz_oxide::{DataFormat, MZFlush, MZStatus};
    assert!(gz.len() >= 18 && gz[..4] == [0x1f, 0x8b, 8, 0], "a gzip member without optional fields");
    let (body, trailer) = gz[10..].split_at(gz.len() - 18);
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut input = body;
    loop {
        let start = out.len();
        out.resize(start + 32 * 1024, 0);
        let step = inflate(&mut state, input, &mut out[start..], MZFlush::None);
        input = &input[step.bytes_consumed..];
        out.truncate(start + step.bytes_written);
        match step.status {
            Ok(MZStatus::StreamEnd) => break,
            Ok(_) => {}
            Err(e) => panic!("inflate: {e:?}"),
        }
    }
    assert_eq!(crc32fast::hash(out).to_le_bytes(), trailer[..4]);
    assert_eq!((out.len() as u32).to_le_bytes(), trailer[4..]);
}

/// (b) The decode floor: the same decoding, then only validate each message.
#[inline(never)]
fn floor(envelope: &[u8]) -> usize {
    let envelope: Envelope<'_> = serde_json::from_slice(envelope).unwrap();
    let compressed = STANDARD.decode(envelope.awslogs.data.as_bytes()).unwrap();
    // One allocation, as the exact reader (`decode`'s `inflate`) makes for a whole payload.
    let mut json = Vec::with_capacity(compressed.len() * 4);
    gunzip_miniz(&compressed, &mut json);
    let data: LogData = serde_json::from_slice(&json).unwrap();
    for entry in &data.log_events {
        serde_json::from_str::<serde::de::IgnoredAny>(&entry.message).unwrap();
    }
    data.log_events.len()
}

fn bench(c: &mut Criterion) {
    let sanitizer = sanitizer();
    for w in workloads() {
        let written = full(&sanitizer, &w.envelope);
        eprintln!(
            "workload {}: {} events, envelope {} bytes, decompressed {} bytes, {} lines written",
            w.name,
            w.events,
            w.envelope.len(),
            w.decompressed,
            written
        );
        assert_eq!(floor(&w.envelope), w.events);
        let mut group = c.benchmark_group(w.name);
        // Decompressed bytes per second; events/s and the ratio come from scripts/bench.sh.
        group.throughput(Throughput::Bytes(w.decompressed as u64));
        group.sample_size(20);
        group.bench_with_input(BenchmarkId::new("full", w.events), &w.envelope, |b, e| b.iter(|| full(&sanitizer, e)));
        group.bench_with_input(BenchmarkId::new("floor", w.events), &w.envelope, |b, e| b.iter(|| floor(e)));
        group.finish();
    }
}

fn main() {
    if let Ok(dir) = std::env::var("SANITIZER_BENCH_WRITE") {
        // The workloads as files, for the CLI measurements of scripts/footprint.sh.
        for w in workloads() {
            std::fs::write(Path::new(&dir).join(format!("{}.json", w.name)), &w.envelope).unwrap();
            eprintln!("{dir}/{}.json: {} events, {} bytes decompressed", w.name, w.events, w.decompressed);
        }
        // 30,000 events of the recorded mix, for the whole-process comparison with the Python
        // peer (scripts/peer-cpu.sh).
        let (envelope, decompressed) = build(&recorded_messages(), 30_000);
        std::fs::write(Path::new(&dir).join("30k.json"), &envelope).unwrap();
        eprintln!("{dir}/30k.json: 30000 events, {decompressed} bytes decompressed");
        return;
    }
    if let Ok(path) = std::env::var("SANITIZER_BENCH_ONCE") {
        // One run of one path, for instruction counting (callgrind toggles on `full`/`floor`).
        let name = std::env::var("SANITIZER_BENCH_WORKLOAD").unwrap_or_else(|_| "1mb".into());
        let w = workloads().into_iter().find(|w| w.name == name).expect("workload 1mb or 10k");
        let sanitizer = sanitizer();
        let n = if path == "full" { full(&sanitizer, &w.envelope) } else { floor(&w.envelope) };
        eprintln!("{path} {name}: {} events, {} bytes decompressed, {n} out", w.events, w.decompressed);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
