//! The stdout sink: one sanitized message per line, in write order. The CLI's `sanitize` runs
//! the Lambda's handler with it instead of the CloudWatch sink, so stdout shows exactly what the
//! CloudWatch sink would store. Flushes after every batch; a failed write (a full disk, a closed
//! pipe) is a [`FailureKind::Io`] error, after which no further batch is started.

use super::{FailureKind, PutOutcome, Rejected, Sink, SinkError};
use crate::plan::Batch;
use std::io::Write;
use std::sync::Mutex;

/// Writes each message followed by `\n` to `W` (stdout in the CLI, a buffer in tests).
pub struct StdoutSink<W> {
    out: Mutex<W>,
}

impl<W: Write + Send> StdoutSink<W> {
    pub fn new(out: W) -> Self {
        StdoutSink { out: Mutex::new(out) }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<W> std::fmt::Debug for StdoutSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink").finish_non_exhaustive()
    }
}

impl<W: Write + Send> Sink for StdoutSink<W> {
    async fn put_batch(&self, _stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        let io = |e: std::io::Error| SinkError { operation: "write", kind: FailureKind::Io(e.kind()) };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for event in batch.events() {
            out.write_all(event.message.as_bytes()).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok(PutOutcome { accepted: batch.len() as u64, rejected: Rejected::default(), retries: 0 })
    }

    /// One at a time, so lines come out in write order.
    fn max_concurrency(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::write_plan;
    use sanitizer_core::SanitizedEvent;

    #[tokio::test]
    async fn prints_one_line_per_event_in_order() {
        let events =
            (0..25_000).rev().map(|i| SanitizedEvent { timestamp: i, message: format!("{{\"n\":{i}}}") }).collect();
        let plan = crate::plan::plan(events);
        assert_eq!(plan.batches.len(), 3);
        let sink = StdoutSink::new(Vec::new());
        let report = write_plan(&sink, "ignored", &plan, 8, None).await;
        assert_eq!(report.accepted, 25_000);
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let expected: String = (0..25_000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(text, expected);
    }
}
