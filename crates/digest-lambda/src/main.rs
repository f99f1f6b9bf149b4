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
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let log_group = var("DIGEST_LOG_GROUP")?;
    check_log_group(&log_group).map_err(|e| format!("DIGEST_LOG_GROUP {e}"))?;
    let secret_arn = var("DIGEST_WEBHOOK_SECRET_ARN")?;
    let mut settings = Settings::default();
    if let Ok(days) = std::env::var("DIGEST_DAYS") {
        settings.days = days.parse().ok().filter(|d| (1..=366).contains(d)).ok_or("DIGEST_DAYS must be 1..=366")?;
    }
    if let Ok(k) = std::env::var("DIGEST_MIN_GROUP_SIZE") {
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
