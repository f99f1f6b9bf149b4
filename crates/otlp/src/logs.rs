//! Logs: one OTLP/HTTP logs request body in, sanitized lines and counts out.
//!
//! Each record becomes its stored message ([`crate::message`]), gets its id ([`RecordIds`]),
//! and goes through the sanitizer's public per-message entry point
//! ([`Sanitizer::sanitize_message`]), the same allowlist and code as a subscription payload's
//! events, so the same record gives the same line either way, apart from `sourceEventId`.
//!
//! Trusts the [`Sanitizer`] it is handed; nothing in the body. Guarantees: every record of the
//! request is written or counted as dropped with a reason (`received == written + dropped`);
//! lines come out in request order (the handler's plan sorts them by time before writing); an
//! error names a kind, never content.

use crate::body::{BodyError, decode_logs};
use crate::message;
use crate::record_id::RecordIds;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use sanitizer_core::{Counts, EventDrop, Origin, PseudonymKey, SanitizedEvent, SanitizedPayload, Sanitizer};

/// Reads logs request bodies under a size cap and gives each record its keyed id.
#[derive(Clone, Debug)]
pub struct LogsReceiver {
    ids: RecordIds,
    max_decompressed: usize,
}

impl LogsReceiver {
    /// `key`: the pseudonym key the sanitizer was built with (the ids are keyed by it);
    /// `max_decompressed`: the cap on a body and on what it decompresses to (the sanitizer's
    /// decompression cap: `MAX_DECOMPRESSED_BYTES`, `--max-decompressed-bytes`).
    pub fn new(key: Option<&PseudonymKey>, max_decompressed: usize) -> Self {
        LogsReceiver { ids: RecordIds::new(key), max_decompressed }
    }

    /// Decodes a request body (protobuf or JSON, gzip or not: told by its content) and
    /// sanitizes every record. `received_ms`: the time the request arrived, written for a record
    /// with no time of its own. The payload counts one payload; its spend stays zero (the
    /// per-message entry point does not report it).
    pub fn sanitize(
        &self,
        sanitizer: &Sanitizer,
        body: &[u8],
        received_ms: i64,
    ) -> Result<SanitizedPayload, BodyError> {
        let request = decode_logs(body, self.max_decompressed)?;
        Ok(self.sanitize_request(sanitizer, &request, received_ms))
    }

    /// [`LogsReceiver::sanitize`] for a request already decoded.
    pub fn sanitize_request(
        &self,
        sanitizer: &Sanitizer,
        request: &ExportLogsServiceRequest,
        received_ms: i64,
    ) -> SanitizedPayload {
        let mut out = SanitizedPayload::default();
        out.counts.payloads = 1;
        let mut buffer = Vec::new();
        for_each_record(request, &mut buffer, |stored| {
            out.counts.received += 1;
            match self.sanitize_stored(sanitizer, stored, received_ms, &mut out.counts) {
                Ok(event) => out.events.push(event),
                Err(reason) => out.counts.drop_event(reason),
            }
        });
        out.counts.written = out.events.len() as u64;
        out
    }

    /// One stored message: its id, then the sanitizer. The event's timestamp is the record's own
    /// time, else `received_ms`.
    fn sanitize_stored(
        &self,
        sanitizer: &Sanitizer,
        stored: &[u8],
        received_ms: i64,
        counts: &mut Counts,
    ) -> Result<SanitizedEvent, EventDrop> {
        let id = self.ids.id(stored);
        // Written from Rust strings and ASCII only: always UTF-8.
        let text = std::str::from_utf8(stored).map_err(|_| EventDrop::Unparseable)?;
        let origin = Origin { id: Some(&id), timestamp_ms: Some(received_ms) };
        let (message, time_ms) = sanitizer.sanitize_message(origin, text, counts)?;
        Ok(SanitizedEvent { timestamp: time_ms.unwrap_or(received_ms), message })
    }
}

/// Every record's stored message, in request order: what the sanitizer reads for it. (The
/// receiver does this one record at a time; this is for tests and tools that compare.)
pub fn stored_messages(request: &ExportLogsServiceRequest) -> Vec<String> {
    let mut messages = Vec::new();
    for_each_record(request, &mut Vec::new(), |stored| messages.push(String::from_utf8_lossy(stored).into_owned()));
    messages
}

/// Calls `each` with the stored message of every record, in request order, written in
/// `buffer` (one buffer for the whole request).
fn for_each_record(request: &ExportLogsServiceRequest, buffer: &mut Vec<u8>, mut each: impl FnMut(&[u8])) {
    for resource_logs in &request.resource_logs {
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                message::write(buffer, resource_logs.resource.as_ref(), scope_logs.scope.as_ref(), record);
                each(buffer);
            }
        }
    }
}
