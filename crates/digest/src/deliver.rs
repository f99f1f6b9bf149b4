//! The scheduled digest: read the sanitized data lake (or, for a small team, the sanitized
//! group), render the `slack` format, post it to an incoming webhook. The Lambda (`src/bin/digest_lambda.rs`) is a thin wrapper around
//! [`deliver`].
//!
//! Trusts the SDK client and the webhook URL it is given (read from Secrets Manager by the
//! caller). Guarantees: the URL must be `https://` (plain `http://` only to a loopback host, for
//! tests); transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried with
//! exponential backoff ([`backon`]), anything else fails at once; errors name a kind and a status,
//! never the URL (it is a secret) or a response body.

use super::group::{ReadError, check_size, read_group};
use super::lake::{self, LakeError, Location};
use super::message::Schema;
use super::report::Report;
use super::tally::{Digest, LineCounts, Window};
use super::{Format, render};
use backon::{ExponentialBuilder, Retryable as _};
use std::time::Duration;

/// Timeout of one webhook request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub days: u32,
    pub min_group_size: u64,
    /// Attempts at most, the first included.
    pub attempts: usize,
    /// Delay before the first retry (doubled each time, with jitter).
    pub first_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { days: 7, min_group_size: 3, attempts: 4, first_delay: Duration::from_millis(500) }
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("the webhook URL must be https:// (http:// only to a loopback host)")]
    BadUrl,
    #[error("the webhook answered HTTP {status}")]
    Refused { status: u16 },
    #[error("the webhook still answered HTTP {status} after {attempts} attempts")]
    GaveUp { status: u16, attempts: usize },
    #[error("the webhook could not be reached after {attempts} attempts ({kind})")]
    Unreachable { kind: &'static str, attempts: usize },
    #[error("webhook secret: {0}")]
    Secret(&'static str),
}

/// Reads the webhook URL: the SecretString of `secret_id` (an ARN or a name), trimmed. Refuses
/// an empty secret and the template's placeholder `REPLACE_ME`. Errors never hold the value.
pub async fn fetch_webhook_url(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<String, DeliverError> {
    use aws_sdk_secretsmanager::error::SdkError;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        DeliverError::Secret(match e {
            SdkError::ServiceError(_) => "GetSecretValue was refused (permissions, or no such secret?)",
            SdkError::TimeoutError(_) => "GetSecretValue timed out",
            SdkError::DispatchFailure(_) => "GetSecretValue could not be sent",
            _ => "GetSecretValue failed",
        })
    })?;
    let url = out.secret_string().map(str::trim).unwrap_or_default();
    if url.is_empty() || url == PLACEHOLDER {
        return Err(DeliverError::Secret("not filled in yet: put the Slack incoming-webhook URL in it"));
    }
    Ok(url.to_owned())
}

/// What the template's secret holds until someone puts the URL in it.
pub const PLACEHOLDER: &str = "REPLACE_ME";

/// What was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub counts: LineCounts,
    pub bytes: usize,
}

/// Accepts `https://…`, and `http://` only to `127.0.0.1`, `[::1]` or `localhost`.
pub fn check_url(url: &str) -> Result<reqwest::Url, DeliverError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| DeliverError::BadUrl)?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(DeliverError::BadUrl),
    }
}

/// Where the sanitized events are read from.
#[derive(Debug)]
pub enum Source<'a> {
    /// The data lake on S3, every object of the windows.
    Lake { s3: &'a aws_sdk_s3::Client, location: &'a Location },
    /// The sanitized group through `FilterLogEvents`, refused when the windows would take more
    /// than `budget_seconds` of the account's 5 requests per second.
    Group { logs: &'a aws_sdk_cloudwatchlogs::Client, group: &'a str, budget_seconds: u64 },
}

/// Reads the window ending at `end_ns` from `source` and posts its `slack` digest to `webhook`.
pub async fn deliver(
    source: Source<'_>,
    webhook: &str,
    end_ns: u64,
    settings: &Settings,
) -> Result<Delivered, DeliverError> {
    let url = check_url(webhook)?;
    let mut digest = Digest::new(Window { end_ns, days: settings.days }, Schema::embedded());
    match source {
        Source::Lake { s3, location } => {
            lake::read_lake(s3, location, &mut digest, lake::DEFAULT_CONCURRENCY).await?;
        }
        Source::Group { logs, group, budget_seconds } => {
            check_size(logs, group, &digest.window, budget_seconds).await?;
            read_group(logs, group, &mut digest).await?;
        }
    }
    let body = render(&Report::new(&digest, settings.min_group_size), Format::Slack);
    post(url, &body, settings).await?;
    Ok(Delivered { counts: digest.counts, bytes: body.len() })
}

enum Attempt {
    Status(u16),
    Transport(&'static str),
}

impl Attempt {
    fn transient(&self) -> bool {
        match self {
            Attempt::Status(s) => *s == 429 || (500..=599).contains(s),
            Attempt::Transport(_) => true,
        }
    }
}

/// Posts `body` as JSON, retrying transient failures.
pub async fn post(url: reqwest::Url, body: &str, settings: &Settings) -> Result<(), DeliverError> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| DeliverError::Unreachable { kind: "client", attempts: 0 })?;
    let once = || async {
        let response = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| Attempt::Transport(if e.is_timeout() { "timeout" } else { "connection" }))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) { Ok(()) } else { Err(Attempt::Status(status)) }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(settings.first_delay)
        .with_max_times(settings.attempts.saturating_sub(1))
        .with_jitter();
    let attempts = settings.attempts;
    once.retry(backoff).when(Attempt::transient).await.map_err(|e| match e {
        Attempt::Status(status) if Attempt::Status(status).transient() => DeliverError::GaveUp { status, attempts },
        Attempt::Status(status) => DeliverError::Refused { status },
        Attempt::Transport(kind) => DeliverError::Unreachable { kind, attempts },
    })
}
