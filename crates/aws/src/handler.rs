//! Handler: one subscription payload in, sanitized events written, a [`Report`] out.
//!
//! The one code path of the Lambda function and the CLI: decode → sanitize → plan → sink.
//! Generic over [`Sink`]: the Lambda runs it with [`crate::sink::CloudWatchSink`], the CLI with
//! the same sink (`sanitize --log-group`) or [`crate::sink::StdoutSink`] (`sanitize`), so what
//! the CLI prints is what the Lambda writes by construction, not by a copy.
//!
//! Handling has two halves. [`Handler::prepare`] (and [`Handler::prepare_ndjson`] for raw
//! stored messages) is pure: it decodes, sanitizes and picks the destination stream, and fails
//! before anything is written. [`Handler::handle_payload`] plans and writes. [`Handler::handle`]
//! runs both for one envelope (the Lambda); the CLI prepares every input first, so bad input
//! writes nothing, then writes each in the order given.
//!
//! Trusts: the sink to report what it did. Guarantees: every received event ends up in exactly
//! one count (written, dropped by reason, rejected by reason, or unwritten in a failed write);
//! [`HandlerError`] and [`Report`] carry kinds, positions and numbers only.
//!
//! # Which failures make Lambda retry
//! Every [`HandlerError`] is returned to Lambda as a failed invocation: Lambda retries the
//! payload twice, then hands it to the on-failure destination. That covers a write that still
//! fails after the SDK's retries, the invocation deadline, and an undecodable payload (retrying
//! it cannot help, but returning success would make it vanish; as a failure it reaches the
//! failure destination and the `PayloadErrors` metric). Events dropped by the allowlist and
//! events `PutLogEvents` rejects individually (too old, too new, expired) are counted, logged
//! and metered, and the invocation succeeds: retrying would not change them.

use crate::batch::{BatchOutcome, BatchResponse};
use crate::plan::{Plan, plan};
use crate::sink::{FailureKind, Sink, SinkError, WriteReport, WriteSlots, write_plan_within};
use futures_util::StreamExt as _;
use sanitizer_core::Header;
pub use sanitizer_core::kinesis::InputError;
use sanitizer_core::kinesis::{self, Event, KinesisError};
use sanitizer_core::{Counts, DecodeError, SanitizedPayload, Sanitizer, Spend};
use std::time::{Duration, Instant};

use sanitizer_core::StreamNamer;

/// How the handler runs; the Lambda fills it from [`crate::config::Config`].
#[derive(Clone, Debug)]
pub struct HandlerSettings {
    pub max_decompressed: usize,
    /// A fixed destination stream instead of one derived per source stream.
    pub log_stream: Option<String>,
    /// `PutLogEvents` calls in flight at once for a whole invocation (a Kinesis batch's records
    /// share it), and Kinesis records prepared ahead of their writes.
    pub concurrency: usize,
}

/// Why an invocation failed (and Lambda should retry it). Payload-free.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error("undecodable payload: {0}")]
    Payload(#[from] DecodeError),
    #[error("write failed: {0}")]
    Write(SinkError),
    #[error("the write did not finish before the invocation deadline")]
    Deadline,
    /// A Kinesis event whose records cannot be told apart, or (in a merged [`Report`]) the
    /// first record that could not be decoded.
    #[error("Kinesis input: {0}")]
    Kinesis(#[from] KinesisError),
}

impl HandlerError {
    /// A fixed name for Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Payload(_) => "PayloadError",
            HandlerError::Write(_) => "WriteError",
            HandlerError::Deadline => "DeadlineExceeded",
            HandlerError::Kinesis(_) => "KinesisInputError",
        }
    }
}

/// Everything one invocation did, in counts.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// From the sanitizer: received, sanitized (`written`), dropped by reason.
    pub counts: Counts,
    /// From the sanitizer: the sums of cost and tokens over the sanitized events (before
    /// planning and writing, so `sanitized`, not necessarily stored).
    pub spend: Spend,
    /// Sanitized events no `PutLogEvents` batch can hold (over 1 MB).
    pub too_large: u64,
    /// Sanitized events with an empty message.
    pub empty: u64,
    /// What the sink did.
    pub write: WriteReport,
    pub duration: Duration,
    pub error: Option<HandlerError>,
}

impl Report {
    /// Events stored in the destination.
    pub fn written(&self) -> u64 {
        self.write.accepted
    }

    /// Sanitized events not stored although nothing failed: rejected by `PutLogEvents`, or
    /// impossible to batch.
    pub fn rejected(&self) -> u64 {
        self.write.rejected.total() + self.too_large + self.empty
    }

    pub fn attributes_dropped(&self) -> u64 {
        self.counts.attribute_drops().map(|(_, n)| n).sum()
    }

    pub fn into_result(mut self) -> Result<Report, HandlerError> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }

    /// Adds another payload's report into this one (a Kinesis batch: one report per record).
    /// The first error is kept.
    fn merge(&mut self, other: Report) {
        self.counts.merge(&other.counts);
        self.spend.merge(&other.spend);
        self.too_large += other.too_large;
        self.empty += other.empty;
        let w = other.write;
        self.write.batches += w.batches;
        self.write.failed_batches += w.failed_batches;
        self.write.accepted += w.accepted;
        self.write.rejected.merge(&w.rejected);
        self.write.unwritten += w.unwritten;
        self.write.retries += w.retries;
        if self.write.error.is_none() {
            self.write.error = w.error;
        }
        if self.error.is_none() {
            self.error = other.error;
        }
    }
}

/// What one invocation's event was and what came of it: for a direct subscription envelope, its
/// [`Report`]; for a Kinesis event, the records' reports merged and the [`BatchOutcome`].
#[derive(Debug)]
pub struct EventReport {
    /// For a Kinesis batch, the sum over its records; `error` is the first failed record's (so
    /// the invocation line's `PayloadErrors` / `WriteErrors` show that records failed), or the
    /// batch's own when it could not be read at all.
    pub report: Report,
    /// Some for a Kinesis event whose records could be read.
    pub kinesis: Option<BatchOutcome>,
}

impl EventReport {
    pub fn counts(&self) -> &Counts {
        &self.report.counts
    }

    /// Events stored in the destination.
    pub fn written(&self) -> u64 {
        self.report.written()
    }

    /// Kinesis records reported as failed (0 for a direct envelope).
    pub fn failed_records(&self) -> u64 {
        self.kinesis.as_ref().map_or(0, BatchOutcome::failed_count)
    }

    /// The Lambda's answer. A direct envelope: `Ok(None)`, or its error (Lambda retries the
    /// payload). A Kinesis batch: `Ok(Some(response))` naming the failed records (Lambda retries
    /// only those), or an error when the batch could not be read (Lambda retries and bisects it).
    pub fn response(&self) -> Result<Option<BatchResponse>, &HandlerError> {
        match (&self.kinesis, &self.report.error) {
            (Some(outcome), _) => Ok(Some(outcome.response())),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(None),
        }
    }
}

/// What became of one Kinesis record.
enum RecordResult {
    Written { control: bool },
    Undecodable(kinesis::RecordError),
    Unwritten(&'static str),
}

/// The sanitizer, a sink and the settings: built once per cold start, used per invocation.
pub struct Handler<S> {
    sanitizer: Sanitizer,
    sink: S,
    streams: StreamNamer,
    settings: HandlerSettings,
}

impl<S> std::fmt::Debug for Handler<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<S: Sink> Handler<S> {
    pub fn new(sanitizer: Sanitizer, sink: S, streams: StreamNamer, settings: HandlerSettings) -> Self {
        Handler { sanitizer, sink, streams, settings }
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Handles one envelope (`{"awslogs":{"data":"..."}}`): [`Handler::prepare`], then
    /// [`Handler::handle_payload`]. `deadline`: when to give up writing (the Lambda deadline
    /// less a margin); `None` waits for the sink's own timeouts.
    pub async fn handle(&self, envelope: &[u8], deadline: Option<Instant>) -> Report {
        let started = Instant::now();
        let mut report = match self.prepare(envelope) {
            Ok(prepared) => self.handle_payload(prepared, deadline).await,
            Err(e) => {
                let mut counts = Counts::default();
                counts.payloads = 1;
                Report { counts, error: Some(e.into()), ..Report::default() }
            }
        };
        report.duration = started.elapsed();
        report
    }

    /// Decodes and sanitizes one envelope and picks its destination stream (the fixed
    /// `log_stream`, else one named after the source group and stream). Pure: nothing is
    /// written, so a caller can prepare every input before writing any.
    pub fn prepare(&self, envelope: &[u8]) -> Result<Prepared, DecodeError> {
        let (header, sanitized) = self.sanitizer.sanitize_envelope(envelope, self.settings.max_decompressed)?;
        Ok(Prepared { stream: self.stream_for(&header), sanitized })
    }

    /// [`Handler::prepare`] for an envelope read from `reader` a piece at a time (the CLI's
    /// files: the sanitizer's `sanitize_envelope_reader`). `None`: not taken; read the input whole
    /// and call [`Handler::prepare_event`], which gives the result or the error.
    pub fn prepare_reader(&self, reader: &mut dyn std::io::Read) -> Option<Prepared> {
        let (header, sanitized) = self.sanitizer.sanitize_envelope_reader(reader, self.settings.max_decompressed)?;
        Some(Prepared { stream: self.stream_for(&header), sanitized })
    }

    /// [`Handler::prepare`] for one record of a Kinesis event (its data is base64 of a payload's
    /// gzip, as an envelope's). Pure.
    fn prepare_record(&self, record: &kinesis::Record<'_>) -> Result<Prepared, kinesis::RecordError> {
        let (header, sanitized) = self.sanitizer.sanitize_record(record, self.settings.max_decompressed)?;
        Ok(Prepared { stream: self.stream_for(&header), sanitized })
    }

    fn stream_for(&self, header: &Header) -> String {
        match &self.settings.log_stream {
            Some(s) => s.clone(),
            None => self.streams.name(&header.log_group, &header.log_stream),
        }
    }

    /// Prepares any input the function accepts ([`kinesis::read_event`] decides which): a direct
    /// envelope gives one [`Prepared`], a Kinesis event one per record, in record order (control
    /// messages included: they sanitize to nothing and are counted). The first undecodable
    /// record fails the whole input: the CLI prints nothing for bad input. Pure.
    pub fn prepare_event(&self, event: &[u8]) -> Result<Vec<Prepared>, InputError> {
        match kinesis::read_event(event).map_err(KinesisError::from)? {
            Event::Subscription => Ok(vec![self.prepare(event)?]),
            Event::Kinesis(records) => {
                records.iter().map(|record| Ok(self.prepare_record(record).map_err(KinesisError::from)?)).collect()
            }
        }
    }

    /// Handles one invocation's event, whichever kind ([`kinesis::read_event`] decides). A direct
    /// envelope: [`Handler::handle`]. A Kinesis event: each record decoded (one at a time, so
    /// memory is bounded by one decoded record plus the sanitized events of the writes in
    /// flight), sanitized, planned and written like a direct payload, with up to `concurrency`
    /// records in hand and, over all of them, up to `concurrency` `PutLogEvents` calls in flight
    /// (one [`WriteSlots`] for the invocation); a record that cannot be decoded, or whose write
    /// fails (the deadline included), is recorded as failed and the others are handled; once the
    /// deadline has passed, the remaining records are failed without being decoded. Control
    /// messages are skipped and counted.
    pub async fn handle_event(&self, event: &[u8], deadline: Option<Instant>) -> EventReport {
        let started = Instant::now();
        let records = match kinesis::read_event(event) {
            Ok(Event::Subscription) => {
                return EventReport { report: self.handle(event, deadline).await, kinesis: None };
            }
            Ok(Event::Kinesis(records)) => records,
            Err(e) => {
                let error = Some(HandlerError::Kinesis(e.into()));
                let report = Report { error, duration: started.elapsed(), ..Report::default() };
                return EventReport { report, kinesis: None };
            }
        };
        // Each record is decoded and sanitized when its turn comes (synchronously: one decoded
        // payload at a time), then its write is awaited while the next records are prepared, up
        // to `concurrency` records at once. Their writes share one set of slots, so the
        // invocation has at most `concurrency` calls in flight, not `concurrency` per record.
        // Results are put back in record order.
        let slots = self.write_slots();
        let slots = &slots;
        let results: Vec<(usize, RecordResult, Report)> = futures_util::stream::iter(records.iter().enumerate())
            .map(|(i, record)| async move {
                let (result, report) = self.handle_record(record, deadline, slots).await;
                (i, result, report)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut results = results;
        results.sort_by_key(|(i, _, _)| *i);
        let (mut merged, mut outcome) = (Report::default(), BatchOutcome::default());
        for ((_, result, report), record) in results.into_iter().zip(&records) {
            match result {
                RecordResult::Written { control } => outcome.succeeded(control),
                RecordResult::Undecodable(e) => outcome.undecodable(record, &e),
                RecordResult::Unwritten(reason) => outcome.unwritten(record, reason),
            }
            merged.merge(report);
        }
        merged.duration = started.elapsed();
        EventReport { report: merged, kinesis: Some(outcome) }
    }

    /// One Kinesis record: decode, sanitize, plan, write; what became of it and its report.
    async fn handle_record(
        &self,
        record: &kinesis::Record<'_>,
        deadline: Option<Instant>,
        slots: &WriteSlots,
    ) -> (RecordResult, Report) {
        // Past the deadline nothing more can be written: the record fails without being decoded.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let reason = HandlerError::Deadline.error_type();
            return (
                RecordResult::Unwritten(reason),
                Report { error: Some(HandlerError::Deadline), ..Report::default() },
            );
        }
        let prepared = match self.prepare_record(record) {
            Ok(prepared) => prepared,
            Err(e) => {
                let mut counts = Counts::default();
                counts.payloads = 1;
                let report =
                    Report { counts, error: Some(HandlerError::Kinesis(e.clone().into())), ..Report::default() };
                return (RecordResult::Undecodable(e), report);
            }
        };
        let control = prepared.sanitized.counts.control_messages > 0;
        let report = self.write_prepared(prepared, deadline, slots).await;
        let result = match &report.error {
            None => RecordResult::Written { control },
            Some(e) => RecordResult::Unwritten(e.error_type()),
        };
        (result, report)
    }

    /// Sanitizes raw stored event messages, one per line (the CLI's `--ndjson`), for `stream`:
    /// raw messages name no source stream, so the caller names the destination. Events without
    /// a time of their own get `default_timestamp` (ms). Pure, like [`Handler::prepare`].
    pub fn prepare_ndjson(&self, input: &[u8], default_timestamp: i64, stream: String) -> Prepared {
        Prepared { stream, sanitized: self.sanitizer.sanitize_ndjson(input, default_timestamp) }
    }

    /// Prepares a payload that another reader sanitizes with this handler's own sanitizer, for
    /// `stream`: the OTLP receiver's request bodies (`sanitizer-otlp`), which name no source
    /// stream. Pure, like [`Handler::prepare`]; `sanitize`'s error is returned as it is.
    pub fn prepare_with<E>(
        &self,
        stream: String,
        sanitize: impl FnOnce(&Sanitizer) -> Result<SanitizedPayload, E>,
    ) -> Result<Prepared, E> {
        Ok(Prepared { stream, sanitized: sanitize(&self.sanitizer)? })
    }

    /// Plans a prepared payload's events into `PutLogEvents` batches (the one stage that sorts:
    /// see [`crate::plan`]) and writes them through the sink, up to `concurrency` calls at once.
    pub async fn handle_payload(&self, prepared: Prepared, deadline: Option<Instant>) -> Report {
        self.write_prepared(prepared, deadline, &self.write_slots()).await
    }

    /// The bound on calls in flight for one invocation: `concurrency`, and no more than the sink
    /// allows.
    fn write_slots(&self) -> WriteSlots {
        WriteSlots::new(self.settings.concurrency.min(self.sink.max_concurrency()))
    }

    /// [`Handler::handle_payload`] within `slots`, which other payloads' writes may share.
    async fn write_prepared(&self, prepared: Prepared, deadline: Option<Instant>, slots: &WriteSlots) -> Report {
        let started = Instant::now();
        let Prepared { stream, sanitized: SanitizedPayload { events, counts, spend } } = prepared;
        let plan: Plan = plan(events);
        let (too_large, empty) = (plan.too_large, plan.empty);
        let write =
            write_plan_within(&self.sink, &stream, &plan, slots, deadline.map(tokio::time::Instant::from_std)).await;
        let error = write.error.clone().map(|e| match e.kind {
            FailureKind::Deadline => HandlerError::Deadline,
            _ => HandlerError::Write(e),
        });
        Report { counts, spend, too_large, empty, write, duration: started.elapsed(), error }
    }
}

/// One payload decoded and sanitized, with its destination stream: what [`Handler::prepare`]
/// hands to [`Handler::handle_payload`].
pub struct Prepared {
    stream: String,
    sanitized: SanitizedPayload,
}

impl Prepared {
    /// The sanitizer's counts for this payload.
    pub fn counts(&self) -> &Counts {
        &self.sanitized.counts
    }

    /// The destination stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }
}

/// Shape only: the stream name and the events stay out of `Debug`.
impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("events", &self.sanitized.events.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::StdoutSink;
    use base64::Engine as _;
    use sanitizer_core::Allowlist;
    use std::io::Write as _;

    fn envelope(events: &[(i64, u32)]) -> Vec<u8> {
        let events: Vec<serde_json::Value> = events
            .iter()
            .enumerate()
            .map(|(i, (timestamp, tokens))| {
                let message = format!(
                    r#"{{"body":"claude_code.api_request","attributes":{{"event.name":"api_request","input_tokens":{tokens}}}}}"#
                );
                serde_json::json!({"id": format!("{i:056}"), "timestamp": timestamp, "message": message})
            })
            .collect();
        let payload = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/team/raw",
            "logStream": "alice", "subscriptionFilters": ["f"], "logEvents": events});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(payload.to_string().as_bytes()).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        serde_json::json!({"awslogs": {"data": data}}).to_string().into_bytes()
    }

    fn stdout_handler() -> Handler<StdoutSink<Vec<u8>>> {
        let settings = HandlerSettings { max_decompressed: 1 << 20, log_stream: None, concurrency: 4 };
        Handler::new(
            Sanitizer::new(Allowlist::embedded(), None),
            StdoutSink::new(Vec::new()),
            StreamNamer::new(None),
            settings,
        )
    }

    #[tokio::test]
    async fn prepare_writes_nothing_and_handle_payload_writes_in_time_order() {
        let handler = stdout_handler();
        assert!(handler.prepare(br#"{"awslogs":{"data":"!"}}"#).is_err());
        // Input order 1..4; timestamps 3, 1, 3, 2: write order is 2, 4, 1, 3 (stable on ties).
        let prepared = handler.prepare(&envelope(&[(3, 1), (1, 2), (3, 3), (2, 4)])).unwrap();
        assert_eq!(prepared.stream(), StreamNamer::new(None).name("/team/raw", "alice"));
        assert_eq!(prepared.counts().received, 4);
        let report = handler.handle_payload(prepared, None).await;
        assert_eq!((report.written(), report.rejected(), report.error), (4, 0, None));
        assert_eq!(report.spend.input_tokens, 1 + 2 + 3 + 4, "the sanitizer's spend is carried into the report");
        assert_eq!(report.spend.api_requests, 4, "four api_request events written");
        let out = String::from_utf8(handler.into_sink().into_inner()).unwrap();
        let order: Vec<&str> = out
            .lines()
            .map(|l| l.split("\"input_tokens\":").nth(1).unwrap().split(['}', ',']).next().unwrap())
            .collect();
        assert_eq!(order, ["2", "4", "1", "3"]);
    }

    #[tokio::test]
    async fn prepare_with_sanitizes_with_the_handlers_sanitizer_for_the_stream_given() {
        let handler = stdout_handler();
        let message =
            r#"{"body":"claude_code.api_request","attributes":{"event.name":"api_request","input_tokens":7}}"#;
        let prepared = handler
            .prepare_with("otlp".to_owned(), |sanitizer| Ok::<_, ()>(sanitizer.sanitize_ndjson(message.as_bytes(), 5)))
            .unwrap();
        assert_eq!((prepared.stream(), prepared.counts().written), ("otlp", 1));
        let report = handler.handle_payload(prepared, None).await;
        assert_eq!((report.written(), report.error), (1, None));
        let out = String::from_utf8(handler.into_sink().into_inner()).unwrap();
        assert!(out.contains(r#""input_tokens":7"#), "{out}");
        let refused = stdout_handler().prepare_with("otlp".to_owned(), |_| Err::<SanitizedPayload, _>("bad body"));
        assert_eq!(refused.unwrap_err(), "bad body");
    }

    #[tokio::test]
    async fn an_undecodable_envelope_is_a_payload_error_and_writes_nothing() {
        let handler = stdout_handler();
        let report = handler.handle(b"CANARY", None).await;
        assert!(matches!(report.error, Some(HandlerError::Payload(_))));
        assert_eq!((report.counts.payloads, report.written()), (1, 0));
        assert!(handler.into_sink().into_inner().is_empty());
    }

    #[test]
    fn error_types_are_fixed_names() {
        assert_eq!(HandlerError::Deadline.error_type(), "DeadlineExceeded");
        let e = HandlerError::Payload(DecodeError::Base64 { offset: 3 });
        assert_eq!(e.error_type(), "PayloadError");
    }
}
