//! `digest-lambda`: the scheduled weekly digest. Only wiring: logging, configuration, the AWS
//! configuration loaded once per cold start; each invocation (an EventBridge Scheduler event,
//! whose content is ignored) reads the webhook URL from Secrets Manager, then calls
//! [`deliver`], which reads the sanitized data lake (or group), renders the `slack` format and
//! posts it.
//!
//! Configuration: `DIGEST_S3` (`s3://bucket/prefix`, the data lake: read when set) or
//! `DIGEST_LOG_GROUP` (the sanitized group, read with `FilterLogEvents` when the lake is not set;
//! refused before the first page when the windows would take more than `DIGEST_MAX_READ_SECONDS`,
//! default 240, four fifths of the template's timeout), `DIGEST_WEBHOOK_SECRET_ARN` (a secret whose SecretString is a Slack
//! incoming-webhook URL), optional `DIGEST_DAYS` (7) and `DIGEST_MIN_GROUP_SIZE` (3). A failure returns an error, so the function's `Errors` metric
//! (and its alarm) sees it; the scheduler retries it. Logged: counts and error kinds only,
//! never the URL or any figure.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sanitizer_aws::config::check_log_group;
use sanitizer_digest::deliver::{Settings, Source, deliver, fetch_webhook_url};
use sanitizer_digest::lake::Location;
use serde_json::value::RawValue;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

struct Config {
    source: Configured,
    max_read_seconds: u64,
    secret_arn: String,
    settings: Settings,
}

fn config() -> Result<Config, String> {
    config_from(|name| std::env::var(name).ok())
}

/// The configuration from `lookup` (the environment). An empty variable is unset, as the
/// sanitizer's configuration reads it (a template parameter left blank sets it empty).
fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let var = |name: &str| get(name).ok_or_else(|| format!("{name} is not set"));
    let source = match get("DIGEST_S3") {
        Some(s3) => Configured::Lake(s3.parse().map_err(|e| format!("DIGEST_S3: {e}"))?),
        None => {
            let log_group = get("DIGEST_LOG_GROUP").ok_or("neither DIGEST_S3 nor DIGEST_LOG_GROUP is set")?;
            check_log_group(&log_group).map_err(|e| format!("DIGEST_LOG_GROUP {e}"))?;
            Configured::Group(log_group)
        }
    };
    let secret_arn = var("DIGEST_WEBHOOK_SECRET_ARN")?;
    let mut settings = Settings::default();
    if let Some(days) = get("DIGEST_DAYS") {
        settings.days = days.parse().ok().filter(|d| (1..=366).contains(d)).ok_or("DIGEST_DAYS must be 1..=366")?;
    }
    if let Some(k) = get("DIGEST_MIN_GROUP_SIZE") {
        settings.min_group_size = k.parse().ok().filter(|k| *k >= 1).ok_or("DIGEST_MIN_GROUP_SIZE must be >= 1")?;
    }
    let max_read_seconds = match get("DIGEST_MAX_READ_SECONDS") {
        Some(s) => {
            s.parse().ok().filter(|s| *s >= 1).ok_or("DIGEST_MAX_READ_SECONDS must be a number of seconds >= 1")?
        }
        None => DEFAULT_MAX_READ_SECONDS,
    };
    Ok(Config { source, max_read_seconds, secret_arn, settings })
}

/// What the digest reads.
#[derive(Debug)]
enum Configured {
    Lake(Location),
    Group(String),
}

/// The longest the group is paged by default: four fifths of the template's 300 s timeout (the
/// rest is for rendering and posting).
const DEFAULT_MAX_READ_SECONDS: u64 = 240;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Every crate but ours is capped at INFO (lambda_runtime logs raw requests at TRACE).
    let filter = Targets::new().with_default(LevelFilter::INFO).with_target("digest_lambda", LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().without_time().with_writer(std::io::stdout).with_filter(filter))
        .init();
    let config = config().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let s3 = sanitizer_digest::lake::client(&sdk);
    let reads = match config.source {
        Configured::Lake(_) => "lake",
        Configured::Group(_) => "group",
    };
    tracing::info!(days = config.settings.days, reads, "ready");
    let (config, sdk, logs, s3) = (&config, &sdk, &logs, &s3);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Box<RawValue>>| async move {
        let url = fetch_webhook_url(sdk, &config.secret_arn).await.map_err(|e| diagnostic("Secret", &e))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let end_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let source = match &config.source {
            Configured::Lake(location) => Source::Lake { s3, location },
            Configured::Group(group) => Source::Group { logs, group, budget_seconds: config.max_read_seconds },
        };
        let delivered = deliver(source, &url, end_ns, &config.settings).await.map_err(|e| diagnostic("Deliver", &e))?;
        let c = &delivered.counts;
        tracing::info!(lines = c.lines, used = c.used, refused = c.refused(), bytes = delivered.bytes, "digest posted");
        Ok::<(), Diagnostic>(())
    }))
    .await
}

fn diagnostic(kind: &str, e: &dyn std::fmt::Display) -> Diagnostic {
    tracing::error!(error = %e, kind, "digest failed");
    Diagnostic { error_type: kind.to_owned(), error_message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(vars: &[(&str, &str)]) -> Result<Config, String> {
        config_from(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    const REQUIRED: [(&str, &str); 2] =
        [("DIGEST_LOG_GROUP", "/claude-otel/sanitized"), ("DIGEST_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:x")];

    #[test]
    fn empty_optional_variables_are_unset() {
        let vars = [REQUIRED[0], REQUIRED[1], ("DIGEST_DAYS", ""), ("DIGEST_MIN_GROUP_SIZE", "")];
        let c = config_of(&vars).expect("empty means the default");
        assert_eq!((c.settings.days, c.settings.min_group_size), (7, 3));
        let vars = [REQUIRED[0], REQUIRED[1], ("DIGEST_DAYS", "14"), ("DIGEST_MIN_GROUP_SIZE", "5")];
        let c = config_of(&vars).unwrap();
        assert_eq!((c.settings.days, c.settings.min_group_size), (14, 5));
        assert!(matches!(c.source, Configured::Group(ref g) if g == REQUIRED[0].1));
        assert_eq!(c.max_read_seconds, 240);
        let c = config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_MAX_READ_SECONDS", "60")]).unwrap();
        assert_eq!(c.max_read_seconds, 60);
        assert!(config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_MAX_READ_SECONDS", "0")]).is_err());
    }

    #[test]
    fn the_lake_is_read_when_it_is_set() {
        let c = config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_S3", "s3://lake-bucket/sanitized")]).unwrap();
        assert!(matches!(c.source, Configured::Lake(ref l) if l.bucket == "lake-bucket" && l.prefix == "sanitized"));
        let c = config_of(&[REQUIRED[1], ("DIGEST_S3", "s3://lake-bucket/sanitized")]).unwrap();
        assert!(matches!(c.source, Configured::Lake(_)));
        let e = config_of(&[REQUIRED[1], ("DIGEST_S3", "lake-bucket/sanitized")]).err().unwrap();
        assert!(e.starts_with("DIGEST_S3: not an s3://bucket/prefix location"), "{e}");
    }

    #[test]
    fn empty_required_variables_are_missing_and_bad_values_refused() {
        let e = config_of(&[("DIGEST_LOG_GROUP", ""), REQUIRED[1]]).err().unwrap();
        assert_eq!(e, "neither DIGEST_S3 nor DIGEST_LOG_GROUP is set");
        let e = config_of(&[REQUIRED[0], ("DIGEST_WEBHOOK_SECRET_ARN", "")]).err().unwrap();
        assert_eq!(e, "DIGEST_WEBHOOK_SECRET_ARN is not set");
        assert!(config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_DAYS", "0")]).is_err());
        assert!(config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_MIN_GROUP_SIZE", "x")]).is_err());
    }
}
