//! Kinesis events through the handler and the CLI, with the real decode → sanitize → plan → sink
//! path: a batch of the recorded fixtures gives exactly what the same payloads give as direct
//! envelopes; an undecodable record, and a record whose write fails, are reported alone (by
//! sequence number) while the other records are written; a control message is skipped and
//! counted; a batch whose records cannot be told apart fails the invocation; the CLI prints for a
//! Kinesis event exactly what it prints for its payloads, and nothing for a bad one.

mod common;
mod kinesis_support;

use common::*;
use kinesis_support::*;
use sanitizer_aws::handler::{EventReport, Handler, HandlerSettings};
use sanitizer_aws::plan::Batch;
use sanitizer_aws::sink::{FailureKind, PutOutcome, Sink, SinkError, StdoutSink};
use sanitizer_core::StreamNamer;
use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer};
use std::process::Command;

const CANARY: &str = "CANARY5k1n";

fn settings() -> HandlerSettings {
    HandlerSettings { max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES, log_stream: None, concurrency: 1 }
}

fn key() -> PseudonymKey {
    PseudonymKey::new(FIXTURE_KEY.as_bytes()).unwrap()
}

fn stdout_handler() -> Handler<StdoutSink<Vec<u8>>> {
    Handler::new(
        Sanitizer::new(Allowlist::embedded(), Some(key())),
        StdoutSink::new(Vec::new()),
        StreamNamer::new(Some(&key())),
        settings(),
    )
}

fn lines(handler: Handler<StdoutSink<Vec<u8>>>) -> Vec<String> {
    String::from_utf8(handler.into_sink().into_inner()).unwrap().lines().map(str::to_owned).collect()
}

/// The recorded fixtures' envelopes, in file order.
fn recorded_envelopes() -> Vec<Vec<u8>> {
    recorded_files().iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn kinesis_of(data: Vec<Vec<u8>>) -> Vec<u8> {
    let records: Vec<KinesisRecord> = data
        .into_iter()
        .enumerate()
        .map(|(i, data)| KinesisRecord { sequence_number: sequence_number(i as u64), data })
        .collect();
    kinesis_event(&records)
}

#[tokio::test]
async fn a_kinesis_batch_of_the_fixtures_writes_what_the_direct_envelopes_write() {
    let envelopes = recorded_envelopes();
    assert!(envelopes.len() >= 10);

    let direct = stdout_handler();
    let (mut received, mut control) = (0, 0);
    for envelope in &envelopes {
        let report = direct.handle(envelope, None).await;
        assert_eq!(report.error, None);
        received += report.counts.received;
        control += report.counts.control_messages;
    }
    let expected = lines(direct);
    assert!(!expected.is_empty());

    let batch = kinesis_of(envelopes.iter().map(|e| data_of(e)).collect());
    let handler = stdout_handler();
    let handled: EventReport = handler.handle_event(&batch, None).await;
    let outcome = handled.kinesis.clone().expect("detected as a Kinesis batch");
    assert_eq!(outcome.records, envelopes.len() as u64);
    assert_eq!(outcome.failed_count(), 0);
    assert_eq!(handled.response().unwrap().unwrap().batch_item_failures, vec![]);
    assert_eq!(handled.report.error, None);
    assert_eq!(handled.counts().received, received);
    assert_eq!(handled.counts().control_messages, control);
    assert_eq!(handled.counts().payloads, envelopes.len() as u64);
    assert_eq!(handled.written(), expected.len() as u64);
    assert_eq!(lines(handler), expected, "a Kinesis batch writes exactly what its payloads write directly");

    // A direct envelope through the same entry point is handled as before, with no batch response.
    let handler = stdout_handler();
    let handled = handler.handle_event(&envelopes[0], None).await;
    assert!(handled.kinesis.is_none());
    assert_eq!(handled.response(), Ok(None));
}

/// Canary-laden messages in a payload from `stream`, re-timed to now.
fn payload_from(stream: &str, n: usize) -> serde_json::Value {
    let now = now_ms();
    let events: Vec<(String, i64, String)> = (0..n)
        .map(|i| {
            let m = serde_json::json!({
                "body": "claude_code.api_request",
                "attributes": {"event.name": "api_request", "model": "claude-sonnet-4-5", "input_tokens": 10 + i,
                               "cost_usd": 0.5, "prompt": CANARY, "user.email": format!("{CANARY}@example.com")},
                "resource": {"attributes": {"service.name": "claude-code", "host.name": CANARY}},
            });
            (format!("3746{i:052}"), now - 10_000 + i as i64, m.to_string())
        })
        .collect();
    payload("/member/raw", stream, &events)
}

#[tokio::test]
async fn one_undecodable_record_is_reported_alone_and_a_control_message_is_counted() {
    let good_a = envelope_of(&payload_from("a", 3));
    let good_b = envelope_of(&payload_from("b", 2));
    let batch = kinesis_of(vec![
        data_of(&good_a),
        truncated_gzip(&good_a),
        gzip(&serde_json::to_vec(&control_message()).unwrap()),
        format!("not gzip {CANARY}").into_bytes(),
        data_of(&good_b),
    ]);
    let handler = stdout_handler();
    let handled = handler.handle_event(&batch, None).await;
    let response = handled.response().expect("a partial batch response, not a failed invocation").unwrap();
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [sequence_number(1), sequence_number(3)], "exactly the undecodable records");
    let outcome = handled.kinesis.clone().unwrap();
    assert_eq!((outcome.records, outcome.undecodable, outcome.control_messages), (5, 2, 1));
    assert_eq!(outcome.failures().collect::<Vec<_>>(), [(1, "gzip"), (3, "gzip")]);
    assert_eq!(handled.counts().received, 5, "the good records' events");
    assert_eq!(handled.counts().control_messages, 1);
    assert_eq!(handled.written(), 5);
    // The merged report carries the first failure (for the PayloadErrors metric), by kind only.
    let error = handled.report.error.as_ref().expect("the first record error");
    assert_eq!(error.error_type(), "KinesisInputError");
    assert!(error.to_string().contains("record 1"), "{error}");
    let out = lines(handler);
    assert_eq!(out.len(), 5);
    assert!(!out.join("\n").contains(CANARY));
    assert!(!format!("{handled:?}").contains(CANARY));
}

/// Fails every write to one destination stream; the others go to the stdout sink.
struct FailOneStream {
    inner: StdoutSink<Vec<u8>>,
    failing: String,
}

impl Sink for FailOneStream {
    async fn put_batch(&self, stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        if stream == self.failing {
            return Err(SinkError { operation: "PutLogEvents", kind: FailureKind::Timeout });
        }
        self.inner.put_batch(stream, batch).await
    }
    fn max_concurrency(&self) -> usize {
        1
    }
}

#[tokio::test]
async fn a_write_that_fails_for_one_record_fails_only_that_record() {
    let batch = kinesis_of(vec![
        data_of(&envelope_of(&payload_from("a", 2))),
        data_of(&envelope_of(&payload_from("b", 3))),
        data_of(&envelope_of(&payload_from("c", 4))),
    ]);
    let streams = StreamNamer::new(None);
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        FailOneStream { inner: StdoutSink::new(Vec::new()), failing: streams.name("/member/raw", "b") },
        streams,
        settings(),
    );
    let handled = handler.handle_event(&batch, None).await;
    let response = handled.response().unwrap().unwrap();
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [sequence_number(1)], "exactly the record whose write failed");
    assert_eq!(handled.kinesis.as_ref().unwrap().failures().collect::<Vec<_>>(), [(1, "WriteError")]);
    assert_eq!(handled.written(), 6, "the other records are written");
    assert_eq!(handled.report.write.unwritten, 3);
    assert_eq!(handled.counts().received, 9);
    let written = String::from_utf8(handler.into_sink().inner.into_inner()).unwrap();
    assert_eq!(written.lines().count(), 6);
}

#[tokio::test]
async fn a_batch_whose_records_cannot_be_told_apart_fails_the_invocation() {
    for (name, event) in [
        ("no sequence number", format!(r#"{{"Records":[{{"kinesis":{{"data":"{CANARY}"}}}}]}}"#)),
        (
            "sequence number not digits",
            format!(r#"{{"Records":[{{"kinesis":{{"sequenceNumber":"{CANARY}","data":""}}}}]}}"#),
        ),
        ("not a record list", format!(r#"{{"Records":{{"{CANARY}":1}}}}"#)),
        ("both shapes, Records first", format!(r#"{{"Records":[],"awslogs":{{"data":"{CANARY}"}}}}"#)),
    ] {
        let handler = stdout_handler();
        let handled = handler.handle_event(event.as_bytes(), None).await;
        let error = handled.response().expect_err(name);
        assert_eq!(error.error_type(), "KinesisInputError", "{name}");
        assert!(!error.to_string().contains(CANARY), "{name}: {error}");
        assert!(lines(handler).is_empty(), "{name}: nothing written");
    }
}

fn cli(args: &[&std::path::Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .arg("sanitize")
        .args(args)
        .env("PSEUDONYM_KEY", FIXTURE_KEY)
        .output()
        .unwrap()
}

#[test]
fn the_cli_prints_for_a_kinesis_event_exactly_what_it_prints_for_its_payloads() {
    let scratch = std::env::temp_dir().join(format!("kinesis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let files = recorded_files();
    let direct = cli(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));

    let event = scratch.join("kinesis.json");
    std::fs::write(&event, kinesis_of(recorded_envelopes().iter().map(|e| data_of(e)).collect())).unwrap();
    let via_kinesis = cli(&[&event]);
    assert!(via_kinesis.status.success(), "{}", String::from_utf8_lossy(&via_kinesis.stderr));
    assert!(!direct.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&via_kinesis.stdout), String::from_utf8_lossy(&direct.stdout));
    assert_eq!(String::from_utf8_lossy(&via_kinesis.stderr), String::from_utf8_lossy(&direct.stderr), "same counts");

    // One undecodable record: nothing printed, exit 1, the record named by position only.
    let good = std::fs::read(&files[0]).unwrap();
    let bad = scratch.join("kinesis-bad.json");
    std::fs::write(&bad, kinesis_of(vec![data_of(&good), format!("{CANARY} not gzip").into_bytes()])).unwrap();
    let out = cli(&[&bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "bad input prints nothing");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("record 1") && stderr.contains("gzip"), "{stderr}");
    assert!(!stderr.contains(CANARY), "{stderr}");
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test]
async fn past_the_deadline_the_remaining_records_are_failed_not_dropped() {
    let batch =
        kinesis_of(vec![data_of(&envelope_of(&payload_from("a", 2))), data_of(&envelope_of(&payload_from("b", 3)))]);
    let handler = stdout_handler();
    let past = std::time::Instant::now();
    let handled = handler.handle_event(&batch, Some(past)).await;
    let response = handled.response().unwrap().unwrap();
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [sequence_number(0), sequence_number(1)], "every record is retried");
    assert_eq!(
        handled.kinesis.as_ref().unwrap().failures().collect::<Vec<_>>(),
        [(0, "DeadlineExceeded"), (1, "DeadlineExceeded")]
    );
    assert_eq!(handled.written(), 0);
    assert!(lines(handler).is_empty());
}

/// Accepts a batch only once `parties` batches are being written at the same time.
struct MeetingSink {
    barrier: tokio::sync::Barrier,
}

impl Sink for MeetingSink {
    async fn put_batch(&self, _stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        self.barrier.wait().await;
        Ok(PutOutcome { accepted: batch.len() as u64, ..PutOutcome::default() })
    }
}

/// Records' writes overlap (up to `concurrency`): two records whose writes can only complete
/// together are both written. Handled one after the other, the first would wait for ever (the
/// timeout only turns that hang into a failure).
#[tokio::test]
async fn records_are_written_concurrently() {
    let batch =
        kinesis_of(vec![data_of(&envelope_of(&payload_from("a", 2))), data_of(&envelope_of(&payload_from("b", 3)))]);
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        MeetingSink { barrier: tokio::sync::Barrier::new(2) },
        StreamNamer::new(None),
        HandlerSettings { concurrency: 2, ..settings() },
    );
    let handled = tokio::time::timeout(std::time::Duration::from_secs(60), handler.handle_event(&batch, None))
        .await
        .expect("the two records' writes were in flight together");
    assert_eq!(handled.failed_records(), 0);
    assert_eq!(handled.written(), 5);
}

/// Counts the `put_batch` calls in flight and keeps the most seen at once. Each call yields a few
/// times before it completes, so every call the handler lets start is in flight together.
#[derive(Default)]
struct CountingSink {
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
}

impl Sink for CountingSink {
    async fn put_batch(&self, _stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        self.calls.fetch_add(1, SeqCst);
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, SeqCst);
        Ok(PutOutcome { accepted: batch.len() as u64, ..PutOutcome::default() })
    }
}

/// A record whose `n` events are a day and an hour apart: `n` batches (one batch spans < 24 h).
fn payload_of_batches(stream: &str, n: usize) -> serde_json::Value {
    let mut payload = payload_from(stream, n);
    let now = now_ms();
    for (i, event) in payload["logEvents"].as_array_mut().unwrap().iter_mut().enumerate() {
        event["timestamp"] = (now - i as i64 * 25 * 3_600_000).into();
    }
    payload
}

/// One bound holds for the whole invocation: 4 records of 5 batches each, written with
/// `concurrency` 4, never have more than 4 `PutLogEvents` calls in flight (each record's writes
/// bounded on their own would allow 16).
#[tokio::test]
async fn a_kinesis_invocation_has_at_most_concurrency_writes_in_flight() {
    let records = ["a", "b", "c", "d"].iter().map(|s| data_of(&envelope_of(&payload_of_batches(s, 5)))).collect();
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        CountingSink::default(),
        StreamNamer::new(None),
        HandlerSettings { concurrency: 4, ..settings() },
    );
    let handled = handler.handle_event(&kinesis_of(records), None).await;
    assert_eq!(handled.failed_records(), 0);
    assert_eq!(handled.report.error, None);
    assert_eq!((handled.written(), handled.report.write.batches), (20, 20), "every event, one batch each");
    let sink = handler.into_sink();
    let most = sink.most.into_inner();
    assert_eq!(sink.calls.into_inner(), 20);
    assert!(most <= 4, "{most} PutLogEvents calls were in flight at once; the bound is 4");
    assert!(most > 1, "the records' writes still overlap ({most} at most)");
}

/// A gzip bomb in one record stops at the cap and fails that record alone (`too_large`); the
/// record after it is written.
#[tokio::test]
async fn a_gzip_bomb_in_one_record_fails_that_record_alone() {
    let zeros = vec![0u8; 1 << 20];
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..64 {
        std::io::Write::write_all(&mut bomb, &zeros).unwrap();
    }
    let batch = kinesis_of(vec![bomb.finish().unwrap(), data_of(&envelope_of(&payload_from("a", 2)))]);
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        StdoutSink::new(Vec::new()),
        StreamNamer::new(None),
        HandlerSettings { max_decompressed: 4 << 20, ..settings() },
    );
    let handled = handler.handle_event(&batch, None).await;
    let response = handled.response().unwrap().unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, sequence_number(0));
    assert_eq!(handled.kinesis.as_ref().unwrap().failures().collect::<Vec<_>>(), [(0, "too_large")]);
    assert_eq!(handled.written(), 2);
}
