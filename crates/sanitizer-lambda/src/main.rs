//! `sanitizer-lambda`: the AWS Lambda entry point. Only wiring: logging, configuration, the
//! pseudonym key (loaded once through `key_source`), the AWS clients and the sanitizer built
//! once per cold start, then the runtime loop calling [`Handler::handle_event`] once per
//! invocation (a subscription envelope, or a Kinesis batch of them). The CLI's `sanitize` runs
//! the same `Handler`.
//!
//! Logging guarantee: `lambda_runtime` logs raw request bodies at TRACE; every crate but ours
//! (so `lambda_runtime`, `lambda_runtime_api_client` and the AWS SDK) is capped at INFO in code
//! (`sanitizer_aws::logging`), whatever `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` say. Our own lines
//! hold kinds and counts only.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sanitizer_aws::batch::BatchResponse;
use sanitizer_aws::config::Config;
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::logging::init_tracing;
use sanitizer_aws::metrics::{batch_line, invocation_line};
use sanitizer_aws::sink::{CloudWatchSink, DEFAULT_WRITE_CONCURRENCY, RetrySettings};
use sanitizer_core::{Allowlist, Sanitizer, StreamNamer};
use serde_json::value::RawValue;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time kept back from the Lambda deadline to log the summary and report the result.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Our own crates: the only ones whose level the environment may raise past INFO.
const OWN_TARGETS: [&str; 3] = ["sanitizer_core", "sanitizer_aws", "sanitizer_lambda"];

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing(&OWN_TARGETS);
    let config = Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let key = config
        .key_source
        .clone()
        .load(async || sdk.clone())
        .await
        .inspect_err(|e| tracing::error!(error = %e, "pseudonym key unavailable"))?;
    // One key for both keyed digests: pseudonyms (the sanitizer) and stream names.
    let (streams, keyed) = (StreamNamer::new(key.as_ref()), key.is_some());
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), key),
        CloudWatchSink::new(&sdk, config.log_group.clone(), &RetrySettings::default()),
        streams,
        HandlerSettings {
            max_decompressed: config.max_decompressed,
            log_stream: config.log_stream.clone(),
            concurrency: DEFAULT_WRITE_CONCURRENCY,
        },
    );
    tracing::info!(keyed, "ready");
    let (handler, namespace) = (&handler, config.metrics_namespace.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        invoke(handler, namespace, event).await
    }))
    .await
}

/// Handles one invocation: a direct subscription envelope or a Kinesis batch
/// ([`Handler::handle_event`] tells them apart). Answers `null` for a direct envelope and the
/// partial batch response (`{"batchItemFailures":[...]}`) for a Kinesis batch; fails the
/// invocation when a direct envelope failed or a Kinesis batch could not be read at all.
async fn invoke(
    handler: &Handler<CloudWatchSink>,
    namespace: &str,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Option<BatchResponse>, Diagnostic> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let remaining = u128::from(event.context.deadline).saturating_sub(now_ms);
    let deadline = (remaining > 0).then(|| {
        let remaining = Duration::from_millis(u64::try_from(remaining).unwrap_or(u64::MAX));
        Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN)
    });
    let handled = handler.handle_event(event.payload.get().as_bytes(), deadline).await;
    let timestamp_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let line = invocation_line(&handled.report, namespace, timestamp_ms);
    // The summary/EMF lines go straight to stdout: EMF must be a bare JSON line.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    if let Some(outcome) = &handled.kinesis {
        let _ = writeln!(out, "{}", batch_line(outcome, namespace, timestamp_ms)).and_then(|()| out.flush());
    }
    handled.response().map_err(|e| Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() })
}
