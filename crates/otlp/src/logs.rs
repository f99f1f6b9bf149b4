//! Logs: one OTLP/HTTP logs request body in, sanitized lines and counts out.
//!
//! Each record becomes its stored message ([`crate::message`]), gets its id ([`RecordIds`]),
//! and goes through the sanitizer's batch of stored messages ([`Sanitizer::batch`]), the same
//! allowlist and code as a subscription payload's events, so the same record gives the same line either way, apart from `sourceEventId`.
//!
//! Trusts the [`Sanitizer`] it is handed; nothing in the body. Guarantees: every record of the
//! request is written or counted as dropped with a reason (`received == written + dropped`);
//! lines come out in request order (the handler's plan sorts them by time before writing); an
//! error names a kind, never content.

use crate::body::{BodyError, decode_logs};
use crate::message;
use crate::record_id::RecordIds;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use sanitizer_core::{EventDrop, Origin, PseudonymKey, SanitizedPayload, Sanitizer};

/// The cap on a request body, and on what a gzip body decompresses to: 4 MiB. A decoded
/// request is larger than its encoding (see the crate's "Memory"): at this cap the worst case
/// (a protobuf body of empty attributes) stays near 170 MB, where the subscription path's
/// 32 MiB cap would allow 1.5 GB. The client's own exports are 10 to 20 KB, and a Lambda
/// function URL takes at most 6 MB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;

/// Reads logs request bodies under a size cap and gives each record its keyed id.
#[derive(Clone, Debug)]
pub struct LogsReceiver {
    ids: RecordIds,
    max_decompressed: usize,
}

impl LogsReceiver {
    /// `key`: the pseudonym key the sanitizer was built with (the ids are keyed by it);
    /// `max_decompressed`: the cap on a body and on what it decompresses to
    /// ([`DEFAULT_MAX_REQUEST_BYTES`] unless told otherwise).
    pub fn new(key: Option<&PseudonymKey>, max_decompressed: usize) -> Self {
        LogsReceiver { ids: RecordIds::new(key), max_decompressed }
    }

    /// Decodes a request body (protobuf or JSON, gzip or not: told by its content) and
    /// sanitizes every record. `received_ms`: the time the request arrived, written for a record
    /// with no time of its own. The payload counts one payload, with the spend its lines carry.
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
        let mut batch = sanitizer.batch();
        for_each_record(request, &mut Vec::new(), |stored| {
            let id = self.ids.id(stored);
            // Written from Rust strings and ASCII only: always UTF-8.
            match std::str::from_utf8(stored) {
                Ok(text) => batch.push(Origin { id: Some(&id), timestamp_ms: Some(received_ms) }, text),
                Err(_) => batch.drop_event(received_ms, EventDrop::Unparseable),
            }
        });
        let mut out = batch.finish();
        out.counts.payloads = 1;
        out
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
