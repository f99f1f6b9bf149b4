//! sanitizer-aws: the AWS edge around `sanitizer-core`. A payload (a subscription envelope or a
//! Kinesis batch of them) goes through the core's reader and sanitizer, then:
//!
//! ```text
//!  handler  runs one invocation: reads the event, sanitizes each payload, plans, writes, reports
//!  plan     the one sort (stable, by timestamp) + split by PutLogEvents limits    (pure)
//!  sink     the only code that writes anywhere (CloudWatch Logs, or stdout for the CLI)
//!  batch    a Kinesis batch's outcome and its partial batch response             (pure)
//!  metrics  the invocation's and the batch's EMF log lines                         (pure)
//!  config   the Lambda's environment → a validated Config                           (pure)
//!  key_source  the one place a pseudonym key is read (a file, PSEUDONYM_KEY, Secrets Manager)
//! ```
//!
//! Dependencies point one way: `handler` uses `plan`, `sink` and `batch`; `metrics` reads the
//! handler's report; nothing here is used by the core.
//!
//! # What this crate trusts
//! The core's sanitized events (built from empty by the allowlist) and the configuration it is
//! given. It calls AWS in two places only: the CloudWatch sink (`PutLogEvents`,
//! `CreateLogStream`) and the key source (`GetSecretValue`).
//!
//! # What this crate never logs
//! No error, `Debug` output, log line or metric produced here contains a value taken from a
//! payload: errors name a kind, a position and an AWS error code; reports hold counts.

pub mod batch;
pub mod config;
pub mod handler;
pub mod key_source;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod sink;
