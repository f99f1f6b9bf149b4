//! Sink: the only code that writes sanitized events anywhere.
//!
//! One trait, [`Sink`], with two implementations: [`CloudWatchSink`] (`PutLogEvents` through the
//! AWS SDK; the Lambda and the CLI's `sanitize --log-group`) and [`StdoutSink`] (one message per
//! line; the CLI's `sanitize`). Both are driven by [`crate::handler::Handler`]. [`write_plan`]
//! sends the batches of a [`Plan`] through a sink with bounded concurrency, in order when the
//! sink allows one batch at a time; [`write_plan_within`] does the same within [`WriteSlots`]
//! shared by several plans, so one bound holds for a whole invocation (a Kinesis batch writes
//! several records' plans at once).
//!
//! Trusts: batches come from [`crate::plan`] (sorted, within every `PutLogEvents` limit) and
//! hold sanitized messages only. Guarantees: every event of every batch is accounted for as
//! accepted, rejected (with a reason) or part of a failed batch; [`SinkError`] names an
//! operation and a failure kind (an AWS error code, an HTTP status, "timeout"), never a message,
//! a stream name or any other value.

mod cloudwatch;
mod stdout;

pub use cloudwatch::{CloudWatchSink, RetrySettings};
pub use stdout::StdoutSink;

use crate::plan::{Batch, Plan};
use futures_util::StreamExt as _;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

/// Batches in flight at once when writing to CloudWatch Logs, for a whole invocation (every
/// record of a Kinesis batch included: see [`WriteSlots`]). Parallel `PutLogEvents` calls to
/// one stream are allowed; the quota is per account, so a small number keeps one invocation
/// from starving the OTLP ingestion that shares it.
pub const DEFAULT_WRITE_CONCURRENCY: usize = 4;

/// The bound on `put_batch` calls in flight, shared by every plan written within it: a Kinesis
/// invocation makes one and writes all its records' plans within it, so the invocation never
/// has more than [`WriteSlots::limit`] calls in flight, however many records overlap.
pub struct WriteSlots {
    permits: tokio::sync::Semaphore,
    limit: usize,
}

impl WriteSlots {
    /// At most `limit` calls in flight (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        WriteSlots { permits: tokio::sync::Semaphore::new(limit), limit }
    }

    /// The most calls in flight at once.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl std::fmt::Debug for WriteSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSlots").field("limit", &self.limit).finish_non_exhaustive()
    }
}

/// Where sanitized events go. Implementations do I/O; everything before them is pure.
pub trait Sink {
    /// Writes one batch to `stream`. `Ok` means the call completed: every event of the batch is
    /// either accepted or counted in [`PutOutcome::rejected`].
    fn put_batch(&self, stream: &str, batch: &Batch) -> impl Future<Output = Result<PutOutcome, SinkError>> + Send;

    /// Batches this sink may have in flight at once (1 keeps output in order).
    fn max_concurrency(&self) -> usize {
        usize::MAX
    }
}

/// Events refused individually by `PutLogEvents` (`rejectedLogEventsInfo`), by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Older than 14 days.
    pub too_old: u64,
    /// More than 2 hours in the future.
    pub too_new: u64,
    /// Older than the destination group's retention.
    pub expired: u64,
}

impl Rejected {
    pub fn total(&self) -> u64 {
        self.too_old + self.too_new + self.expired
    }

    pub fn merge(&mut self, other: &Rejected) {
        self.too_old += other.too_old;
        self.too_new += other.too_new;
        self.expired += other.expired;
    }
}

/// What one completed `put_batch` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutOutcome {
    pub accepted: u64,
    pub rejected: Rejected,
    /// Extra attempts the call needed (SDK retries, plus a stream re-creation).
    pub retries: u64,
}

/// A write that failed for good. Payload-free by construction: only fixed names, an AWS error
/// code (checked to be a short identifier) and an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {kind}")]
pub struct SinkError {
    pub operation: &'static str,
    pub kind: FailureKind,
}

/// Why a write failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    /// The service answered with an error after the SDK's retries.
    #[error("service error {code} (HTTP {status})")]
    Service { code: ErrorCode, status: u16 },
    /// No answer within the operation or attempt timeout.
    #[error("timeout")]
    Timeout,
    /// The request could not be sent (connection refused, reset, DNS, TLS).
    #[error("request could not be sent ({0})")]
    Dispatch(&'static str),
    /// An answer came that could not be read as a response.
    #[error("unreadable response")]
    Response,
    /// The request could not be built.
    #[error("request could not be built")]
    Construction,
    /// The invocation's deadline came first.
    #[error("invocation deadline reached")]
    Deadline,
    /// Writing to a local stream failed.
    #[error("local write error ({0:?})")]
    Io(std::io::ErrorKind),
}

/// An AWS error code such as `ThrottlingException`. Kept only when it looks like one (a short
/// ASCII identifier); anything else becomes `unrecognized`, so it cannot carry content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCode(String);

impl ErrorCode {
    pub fn new(code: Option<&str>) -> Self {
        match code {
            Some(c)
                if !c.is_empty()
                    && c.len() <= 64
                    && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') =>
            {
                ErrorCode(c.to_owned())
            }
            Some(_) => ErrorCode("unrecognized".to_owned()),
            None => ErrorCode("none".to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`write_plan`] did with a whole plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Batches sent successfully.
    pub batches: u64,
    /// Batches that failed or were not sent after an earlier failure.
    pub failed_batches: u64,
    pub accepted: u64,
    pub rejected: Rejected,
    /// Events in failed or unsent batches.
    pub unwritten: u64,
    pub retries: u64,
    /// The first failure, if any.
    pub error: Option<SinkError>,
}

/// Sends every batch of `plan` to `stream`, at most `concurrency` at once (and no more than the
/// sink allows): [`write_plan_within`] slots of its own.
pub async fn write_plan<S: Sink>(
    sink: &S,
    stream: &str,
    plan: &Plan,
    concurrency: usize,
    deadline: Option<tokio::time::Instant>,
) -> WriteReport {
    let slots = WriteSlots::new(concurrency.min(sink.max_concurrency()));
    write_plan_within(sink, stream, plan, &slots, deadline).await
}

/// Sends every batch of `plan` to `stream`, each call holding one of `slots` (shared with any
/// other plan written within them) and no more calls of this plan at once than the sink allows.
/// After the first failure no further batch is started: the invocation will be retried whole,
/// so writing more would only add duplicates. A batch still waiting for a slot or running at
/// `deadline` fails with [`FailureKind::Deadline`].
pub async fn write_plan_within<S: Sink>(
    sink: &S,
    stream: &str,
    plan: &Plan,
    slots: &WriteSlots,
    deadline: Option<tokio::time::Instant>,
) -> WriteReport {
    let limit = slots.limit().min(sink.max_concurrency()).max(1);
    let failed = AtomicBool::new(false);
    // Each batch's call is made as a future first (nothing runs until it is polled), then the
    // futures run `limit` at a time. A stream that held the mapping closure would not be provably
    // `Send` (rustc's higher-ranked lifetime check), and the OTLP endpoint's runtime
    // (`lambda_http`) needs a `Send` future.
    let puts: Vec<_> = plan
        .batches
        .iter()
        .enumerate()
        .map(|(i, batch)| {
            let failed = &failed;
            async move {
                // The slot is taken first and held for the call: whatever else is written
                // within `slots`, no more than its limit of calls are in flight.
                let put = async {
                    let Ok(_slot) = slots.permits.acquire().await else {
                        return None; // never closed
                    };
                    if failed.load(Ordering::SeqCst) {
                        return None;
                    }
                    Some(sink.put_batch(stream, batch).await)
                };
                let result = match deadline {
                    None => put.await,
                    Some(at) => tokio::time::timeout_at(at, put)
                        .await
                        .unwrap_or(Some(Err(SinkError { operation: "PutLogEvents", kind: FailureKind::Deadline }))),
                };
                if matches!(result, Some(Err(_))) {
                    failed.store(true, Ordering::SeqCst);
                }
                (i, result)
            }
        })
        .collect();
    let results: Vec<(usize, Option<Result<PutOutcome, SinkError>>)> =
        futures_util::stream::iter(puts).buffer_unordered(limit).collect().await;

    let mut report = WriteReport::default();
    let mut first_error: Option<(usize, SinkError)> = None;
    for (i, result) in results {
        match result {
            Some(Ok(outcome)) => {
                report.batches += 1;
                report.accepted += outcome.accepted;
                report.rejected.merge(&outcome.rejected);
                report.retries += outcome.retries;
            }
            Some(Err(e)) => {
                report.failed_batches += 1;
                report.unwritten += plan.batches[i].len() as u64;
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
            None => {
                report.failed_batches += 1;
                report.unwritten += plan.batches[i].len() as u64;
            }
        }
    }
    report.error = first_error.map(|(_, e)| e);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanitizer_core::SanitizedEvent;
    use std::sync::Mutex;

    /// Fails the batches whose first message is listed; records what it was given.
    struct Fake {
        fail_on: Vec<&'static str>,
        seen: Mutex<Vec<String>>,
    }

    impl Sink for Fake {
        async fn put_batch(&self, _stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
            let first = batch.events()[0].message.clone();
            self.seen.lock().unwrap().push(first.clone());
            if self.fail_on.contains(&first.as_str()) {
                return Err(SinkError { operation: "PutLogEvents", kind: FailureKind::Timeout });
            }
            Ok(PutOutcome { accepted: batch.len() as u64, rejected: Rejected::default(), retries: 1 })
        }
        fn max_concurrency(&self) -> usize {
            1
        }
    }

    fn plan_of_three_batches() -> Plan {
        // 24 h apart: one event per batch.
        let day = crate::plan::MAX_BATCH_SPAN_MS;
        crate::plan::plan(
            ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(i, m)| SanitizedEvent { timestamp: i as i64 * day, message: (*m).into() })
                .collect(),
        )
    }

    #[tokio::test]
    async fn all_batches_succeed() {
        let sink = Fake { fail_on: vec![], seen: Mutex::new(vec![]) };
        let r = write_plan(&sink, "s", &plan_of_three_batches(), 8, None).await;
        assert_eq!((r.batches, r.accepted, r.retries, r.failed_batches), (3, 3, 3, 0));
        assert_eq!(*sink.seen.lock().unwrap(), ["a", "b", "c"]);
        assert!(r.error.is_none());
    }

    #[tokio::test]
    async fn stops_starting_batches_after_a_failure_and_accounts_for_every_event() {
        let sink = Fake { fail_on: vec!["b"], seen: Mutex::new(vec![]) };
        let r = write_plan(&sink, "s", &plan_of_three_batches(), 8, None).await;
        assert_eq!(*sink.seen.lock().unwrap(), ["a", "b"]);
        assert_eq!((r.batches, r.accepted, r.failed_batches, r.unwritten), (1, 1, 2, 2));
        assert_eq!(r.error.unwrap().kind, FailureKind::Timeout);
    }

    #[test]
    fn error_code_keeps_identifiers_only() {
        assert_eq!(ErrorCode::new(Some("ThrottlingException")).as_str(), "ThrottlingException");
        assert_eq!(ErrorCode::new(Some("alice@example.com")).as_str(), "unrecognized");
        assert_eq!(ErrorCode::new(Some("")).as_str(), "unrecognized");
        assert_eq!(ErrorCode::new(None).as_str(), "none");
    }
}
