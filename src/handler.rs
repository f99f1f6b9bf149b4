//! Handler: one subscription payload in, sanitized events written, a [`Report`] out.
//!
//! The same code path for the Lambda function and the CLI: decode → sanitize → plan → sink.
//! Generic over [`Sink`], so tests and the CLI's stdout mode run it without AWS.
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

use crate::plan::{Plan, plan};
use crate::sink::{FailureKind, Sink, SinkError, WriteReport, write_plan};
use crate::{Counts, DecodeError, SanitizedPayload, Sanitizer, decode_envelope};
use hmac::{KeyInit as _, Mac as _};
use sha2::Digest as _;
use std::time::{Duration, Instant};

/// Prefix of derived destination stream names.
pub const STREAM_PREFIX: &str = "sanitized-";

/// Hex digits of the digest kept in a derived stream name (128 bits).
pub const STREAM_DIGEST_HEX_LEN: usize = 32;

/// Names destination streams: `sanitized-<32 hex digits>`, a digest of the source log group
/// and stream, so the name is stable across invocations and instances but copies no source
/// identifier (a source stream may be named after a person). With a pseudonym key the digest is
/// an HMAC under a key derived from it, so names cannot be reversed by guessing source names;
/// without one it is a plain SHA-256.
#[derive(Clone)]
pub struct StreamNamer {
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for StreamNamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamNamer").field("keyed", &self.key.is_some()).finish()
    }
}

impl StreamNamer {
    /// `pseudonym_key`: the configured pseudonym key bytes, if any.
    pub fn new(pseudonym_key: Option<&[u8]>) -> Self {
        // Domain separation: the stream-name key is derived from, not equal to, the pseudonym key.
        let key = pseudonym_key.map(|k| hmac_sha256(k, b"claude-otel-sanitizer/stream-name/v1"));
        StreamNamer { key }
    }

    /// The destination stream for a decoded payload's events.
    pub fn for_payload(&self, payload: &crate::Payload) -> String {
        self.name(payload.log_group(), payload.log_stream())
    }

    /// The destination stream for events from `source_group` / `source_stream`.
    pub fn name(&self, source_group: &str, source_stream: &str) -> String {
        // Length-prefixed, so ("a/b", "c") and ("a", "b/c") differ.
        let mut input = Vec::with_capacity(8 + source_group.len() + source_stream.len());
        input.extend_from_slice(&(source_group.len() as u64).to_be_bytes());
        input.extend_from_slice(source_group.as_bytes());
        input.extend_from_slice(source_stream.as_bytes());
        let digest = match &self.key {
            Some(key) => hmac_sha256(key, &input),
            None => sha2::Sha256::digest(&input).to_vec(),
        };
        let mut name = String::from(STREAM_PREFIX);
        name.push_str(&hex::encode(digest)[..STREAM_DIGEST_HEX_LEN]);
        name
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// How the handler runs; the Lambda fills it from [`crate::config::Config`].
#[derive(Clone, Debug)]
pub struct HandlerSettings {
    pub max_decompressed: usize,
    /// A fixed destination stream instead of one derived per source stream.
    pub log_stream: Option<String>,
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
}

impl HandlerError {
    /// A fixed name for Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Payload(_) => "PayloadError",
            HandlerError::Write(_) => "WriteError",
            HandlerError::Deadline => "DeadlineExceeded",
        }
    }
}

/// Everything one invocation did, in counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// From the sanitizer: received, sanitized (`written`), dropped by reason.
    pub counts: Counts,
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

    /// Handles one envelope (`{"awslogs":{"data":"..."}}`). `deadline`: when to give up
    /// writing (the Lambda deadline less a margin); `None` waits for the sink's own timeouts.
    pub async fn handle(&self, envelope: &[u8], deadline: Option<Instant>) -> Report {
        let started = Instant::now();
        let payload = match decode_envelope(envelope, self.settings.max_decompressed) {
            Ok(p) => p,
            Err(e) => {
                let mut counts = Counts::default();
                counts.payloads = 1;
                return Report { counts, duration: started.elapsed(), error: Some(e.into()), ..Report::default() };
            }
        };
        let sanitized = self.sanitizer.sanitize_payload(&payload);
        let stream = match &self.settings.log_stream {
            Some(s) => s.clone(),
            None => self.streams.for_payload(&payload),
        };
        drop(payload);
        let mut report = self.write(&stream, sanitized, deadline).await;
        report.duration = started.elapsed();
        report
    }

    /// Plans and writes already-sanitized events to `stream` (the CLI's `--ndjson` path).
    pub async fn write(&self, stream: &str, sanitized: SanitizedPayload, deadline: Option<Instant>) -> Report {
        let started = Instant::now();
        let SanitizedPayload { events, counts, .. } = sanitized;
        let plan: Plan = plan(events);
        let (too_large, empty) = (plan.too_large, plan.empty);
        let write = write_plan(
            &self.sink,
            stream,
            &plan,
            self.settings.concurrency,
            deadline.map(tokio::time::Instant::from_std),
        )
        .await;
        let error = write.error.clone().map(|e| match e.kind {
            FailureKind::Deadline => HandlerError::Deadline,
            _ => HandlerError::Write(e),
        });
        Report { counts, too_large, empty, write, duration: started.elapsed(), error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_stable_distinct_and_copy_nothing() {
        let plain = StreamNamer::new(None);
        let a = plain.name("/team/raw", "alice.smith");
        assert_eq!(a, plain.name("/team/raw", "alice.smith"));
        assert!(a.starts_with(STREAM_PREFIX));
        assert_eq!(a.len(), STREAM_PREFIX.len() + STREAM_DIGEST_HEX_LEN);
        assert!(!a.contains("alice") && !a.contains("team"));
        assert_ne!(plain.name("a/b", "c"), plain.name("a", "b/c"));
        assert_ne!(a, plain.name("/team/raw", "bob"));
        let keyed = StreamNamer::new(Some(b"0123456789abcdef0123456789abcdef"));
        assert_ne!(keyed.name("/team/raw", "alice.smith"), a);
        assert!(crate::config::check_log_stream(&a).is_ok());
    }

    #[test]
    fn error_types_are_fixed_names() {
        assert_eq!(HandlerError::Deadline.error_type(), "DeadlineExceeded");
        let e = HandlerError::Payload(DecodeError::Base64 { offset: 3 });
        assert_eq!(e.error_type(), "PayloadError");
    }
}
