//! sanitizer-otlp: OTLP/HTTP logs request bodies, as Claude Code's exporter sends them, to the
//! lines the sanitizer writes. Pure: no tokio, no AWS SDK, no HTTP server; the receiver's
//! binary and the CLI's `sanitize --otlp` are thin edges around [`LogsReceiver::sanitize`].
//!
//! ```text
//! body bytes ─▶ body      gzip (by its magic, capped) → JSON if it opens with `{`, else
//!                          protobuf → the request (opentelemetry-proto's messages)
//!            ─▶ message   each record, with its resource and scope → the stored message in
//!                          the kvlist shape (as fixtures/record/convert.py stores it)
//!            ─▶ record_id a keyed digest of that message → `sourceEventId` (39 digits)
//!            ─▶ logs      sanitizer-core's per-message sanitizer → lines + counts
//! ```
//!
//! # What this crate trusts
//! The [`sanitizer_core::Sanitizer`] and the pseudonym key it is handed. Every body byte is
//! untrusted: the body and what it decompresses to are capped before they are read.
//!
//! # Memory
//! The request is decoded whole before its records are sanitized, and decoded messages are
//! larger than their encoding: measured (`sanitize` on hostile bodies at the 32 MiB default cap,
//! peak RSS), a protobuf body of empty attributes (2 bytes each, 64 bytes as a decoded
//! `KeyValue`) peaks at 1.2 to 1.5 GB, about 40 times the body, and OTLP/JSON of empty
//! attributes at about 8 times. The client's own exports are 10 to 20 KB. An endpoint must so
//! size its cap for protobuf, not only for gzip bombs: at 4 MiB ([`DEFAULT_MAX_REQUEST_BYTES`])
//! the worst case is about 170 MB.
//!
//! # What this crate guarantees, and never logs
//! No error or `Debug` output contains a byte of a body: a [`BodyError`] names a kind (and, for
//! JSON, a position) and maps to a fixed HTTP status ([`BodyError::http_status`]: 413 over the
//! cap, 400 otherwise). Every record received is written or counted as dropped with a reason.

mod body;
mod logs;
mod message;
mod metrics;
mod receiver;
mod record_id;

pub use body::{BodyError, Encoding, Request, decode_any, decode_logs, decode_metrics, encoding_of};
pub use logs::{DEFAULT_MAX_REQUEST_BYTES, LogsReceiver, stored_messages};
pub use metrics::{MetricsReceiver, data_points};
pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
pub use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
pub use receiver::Receiver;
pub use record_id::{RECORD_ID_DIGITS, RECORD_ID_LABEL, RecordIds};
