//! sanitizer-otlp-endpoint: the OTLP/HTTP receiver behind a Lambda function URL. Claude Code's
//! exporter posts logs and metrics here; records and data points go through the same allowlist
//! and sanitizer as the subscription path's events (`sanitizer-otlp`'s receivers, the handler of
//! `sanitizer-aws`) and only the sanitized lines are written, to the sanitized group. Nothing
//! raw is stored.
//!
//! ```text
//!  config    the environment → a validated EndpointConfig (the sanitizer function's, plus the
//!            token source and the request cap)                                     (pure)
//!  auth      the bearer token (OTLP_TOKEN or a Secrets Manager secret), checked by digest in
//!            constant time
//!  endpoint  one request → its answer: auth, path, method, content type, size, body, write
//! ```
//!
//! `main.rs` only wires: logging, configuration, the keys, the sink, then `lambda_http`'s
//! runtime loop calling [`Endpoint::respond`] once per request. The tests call `respond`
//! in-process with a real CloudWatch sink.
//!
//! # What this crate trusts
//! The handler and sink of `sanitizer-aws`, the receivers of `sanitizer-otlp`, and its
//! configuration. Nothing in a request: the token is checked before the body is read, and the
//! body is capped before it is decoded.
//!
//! # What this crate never logs or answers
//! No answer (status, headers, body), log line or error holds a byte of a request (the body, the
//! token, a header value) or the token: answers and [`Summary`] lines carry fixed texts, reason
//! names and counts.

mod auth;
mod config;
mod endpoint;

pub use auth::{
    BearerToken, MAX_TOKEN_LEN, MIN_TOKEN_LEN, TokenError, TokenLoadError, TokenSource, fetch_secret_token,
};
pub use config::{DEFAULT_MAX_REQUEST_BYTES, EndpointConfig, EndpointConfigError};
pub use endpoint::{
    DEFAULT_LOGS_STREAM, DEFAULT_METRICS_STREAM, Endpoint, EndpointSettings, LOGS_PATH, METRICS_PATH,
    RETRY_AFTER_THROTTLED_SECS, RETRY_AFTER_UNAVAILABLE_SECS, Reply, Signal, Summary,
};
