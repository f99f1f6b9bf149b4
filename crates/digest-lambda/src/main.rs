//! `digest-lambda`: the scheduled weekly digest. Only wiring: logging, configuration, the AWS
//! configuration loaded once per cold start; each invocation (an EventBridge Scheduler event,
//! whose content is ignored) reads the webhook URL from Secrets Manager, then calls
//! [`deliver`], which reads the sanitized group, renders the `slack` format and posts it.
//!
//! Configuration: `DIGEST_LOG_GROUP` (the sanitized group), `DIGEST_WEBHOOK_SECRET_ARN` (a secret
//! whose SecretString is a Slack incoming-webhook URL), optional `DIGEST_DAYS` (7) and
//! `DIGEST_MIN_GROUP_SIZE` (3). A failure returns an error, so the function's `Errors` metric
//! (and its alarm) sees it; the scheduler retries it. Logged: counts and error kinds only,
//! never the URL or any figure.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sanitizer_aws::config::check_log_group;
use sanitizer_digest::deliver::{Settings, deliver, fetch_webhook_url};
use serde_json::value::RawValue;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

struct Config {
    log_group: String,
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
    let log_group = var("DIGEST_LOG_GROUP")?;
    check_log_group(&log_group).map_err(|e| format!("DIGEST_LOG_GROUP {e}"))?;
    let secret_arn = var("DIGEST_WEBHOOK_SECRET_ARN")?;
    let mut settings = Settings::default();
    if let Some(days) = get("DIGEST_DAYS") {
        settings.days = days.parse().ok().filter(|d| (1..=366).contains(d)).ok_or("DIGEST_DAYS must be 1..=366")?;
    }
    if let Some(k) = get("DIGEST_MIN_GROUP_SIZE") {
        settings.min_group_size = k.parse().ok().filter(|k| *k >= 1).ok_or("DIGEST_MIN_GROUP_SIZE must be >= 1")?;
    }
    Ok(Config { log_group, secret_arn, settings })
}

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
    tracing::info!(days = config.settings.days, "ready");
    let (config, sdk, logs) = (&config, &sdk, &logs);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Box<RawValue>>| async move {
        let url = fetch_webhook_url(sdk, &config.secret_arn).await.map_err(|e| diagnostic("Secret", &e))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let end_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let delivered = deliver(logs, &config.log_group, &url, end_ns, &config.settings)
            .await
            .map_err(|e| diagnostic("Deliver", &e))?;
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
        assert_eq!((c.settings.days, c.settings.min_group_size, c.log_group.as_str()), (14, 5, REQUIRED[0].1));
    }

    #[test]
    fn empty_required_variables_are_missing_and_bad_values_refused() {
        let e = config_of(&[("DIGEST_LOG_GROUP", ""), REQUIRED[1]]).err().unwrap();
        assert_eq!(e, "DIGEST_LOG_GROUP is not set");
        let e = config_of(&[REQUIRED[0], ("DIGEST_WEBHOOK_SECRET_ARN", "")]).err().unwrap();
        assert_eq!(e, "DIGEST_WEBHOOK_SECRET_ARN is not set");
        assert!(config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_DAYS", "0")]).is_err());
        assert!(config_of(&[REQUIRED[0], REQUIRED[1], ("DIGEST_MIN_GROUP_SIZE", "x")]).is_err());
    }
}
