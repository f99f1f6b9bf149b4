//! claude-otel-sanitizer: keeps only what `allowlist.toml` names of Claude Code OpenTelemetry
//! log events delivered by a CloudWatch Logs subscription filter.
//!
//! Data flow (each stage is a module; all but `sink` are pure):
//!
//! ```text
//! envelope bytes ─▶ decode    base64 → size-capped gzip → payload JSON, streamed: each event
//!                              handed on as it is read (the payload is never whole in memory),
//!                              its message unescaped with its quotes and backslashes marked
//!                 ─▶ parse     one stored OTel record → borrowed raw event (read from mark to
//!                              mark; serde_json for any shape the marked reader leaves)
//!                 ─▶ sanitize  the allowlist builds each output from empty (input order)
//!                 ─▶ plan      the one sort (stable, by timestamp) + split by PutLogEvents limits
//!                 ─▶ sink      the only code that writes anywhere (CloudWatch Logs, or stdout)
//! ```
//!
//! [`handler::Handler`] runs this path for one payload, generic over the sink; the Lambda
//! (`src/bin/lambda.rs`) and the CLI's `sanitize` (`src/main.rs`) both call it; the CLI reads an
//! envelope file a piece at a time into the same reader ([`handler::Handler::prepare_reader`]),
//! and anything else whole, as the function receives it. Keys:
//! [`key_source`] is the one place a pseudonym key is read (a file, `PSEUDONYM_KEY`, Secrets
//! Manager; the only AWS call besides the sink), and [`PseudonymKey`] derives every keyed digest
//! (pseudonyms and, through [`StreamNamer`], stream names). [`config`] reads the Lambda's
//! environment and touches nothing else.
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
mod json;
pub mod key_source;
mod kind;
pub mod kinesis;
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
pub use explain::{CLAUDE_CODE_EVENTS, EventType, Explanation, MAX_SUMMARY_KEYS, Summary, escape, schema_shaped};
pub use pseudonym::{KeyError, PseudonymKey, StreamNamer};
pub use sanitize::{Audit, Origin, SanitizedEvent, SanitizedPayload, Sanitizer, Scope, Verdict};
pub use spend::Spend;
