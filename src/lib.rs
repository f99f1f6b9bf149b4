//! claude-otel-sanitizer: keeps only what `allowlist.toml` names of Claude Code OpenTelemetry
//! log events delivered by a CloudWatch Logs subscription filter.
//!
//! Data flow (each stage is a module; all but `sink` are pure):
//!
//! ```text
//! envelope bytes ─▶ decode    base64 → size-capped gzip → payload JSON
//!                 ─▶ parse     one stored OTel record → borrowed raw event
//!                 ─▶ sanitize  the allowlist builds each output from empty
//!                 ─▶ plan      sort + split by PutLogEvents limits
//!                 ─▶ sink      the only code that writes anywhere
//! ```
//!
//! # What this crate never logs
//! No error message, `Debug` output, log line or summary produced by this crate contains a value
//! taken from a payload. Errors name a kind and a position; summaries name reasons and counts.

mod allowlist;
pub mod config;
mod counts;
mod decode;
pub mod digest;
mod explain;
pub mod handler;
mod kind;
pub mod metrics;
mod parse;
pub mod plan;
mod pseudonym;
mod sanitize;
pub mod sink;
mod spend;
mod value;

pub use allowlist::{Allowlist, AllowlistError, AllowlistErrorKind, EMBEDDED_ALLOWLIST};
pub use counts::{AttributeDrop, Counts, EventDrop};
pub use decode::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecodeError, Payload, decode_compressed, decode_envelope};
pub use explain::Explanation;
pub use pseudonym::{KeyError, PseudonymKey};
pub use sanitize::{Audit, Origin, SanitizedEvent, SanitizedPayload, Sanitizer, Scope, Verdict};
pub use spend::Spend;
