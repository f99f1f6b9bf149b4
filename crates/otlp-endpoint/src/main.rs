//! `sanitizer-otlp-endpoint`: the OTLP/HTTP receiver's AWS Lambda entry point, behind a function
//! URL. Only wiring: logging, configuration, the pseudonym key and the bearer token (each read
//! once), the CloudWatch sink and the sanitizer built once per cold start, then `lambda_http`'s
//! loop calling [`Endpoint::respond`] once per request and printing its one-line summary.
//!
//! Logging guarantee: `lambda_runtime` logs raw request bodies at TRACE; every crate but ours
//! (so `lambda_http`, `lambda_runtime` and the AWS SDK) is capped at INFO in code
//! (`sanitizer_aws::logging`), whatever `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` say. Our own lines
//! hold kinds and counts only.

use lambda_http::{Body, Error, Request, RequestExt as _, Response, service_fn};
use sanitizer_aws::logging::init_tracing;
use sanitizer_aws::sink::{CloudWatchSink, RetrySettings};
use sanitizer_otlp_endpoint::{Endpoint, EndpointConfig, EndpointSettings};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time kept back from the invocation deadline to answer 503 before Lambda cuts the request off.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// Our own crates: the only ones whose level the environment may raise past INFO.
const OWN_TARGETS: [&str; 4] = ["sanitizer_core", "sanitizer_aws", "sanitizer_otlp", "sanitizer_otlp_endpoint"];

/// Bounds for the sanitized group's writes within one request: the client's exporter waits 10 s
/// for an answer by default, so a write gives up sooner than the sanitizer function's (25 s) and
/// the client hears 429/503 and retries.
fn retry_settings() -> RetrySettings {
    RetrySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(3),
        operation_timeout: Duration::from_secs(7),
        connect_timeout: Duration::from_secs(2),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing(&OWN_TARGETS);
    let config = EndpointConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let key = config
        .base
        .key_source
        .clone()
        .load(async || sdk.clone())
        .await
        .inspect_err(|e| tracing::error!(error = %e, "pseudonym key unavailable"))?;
    let token = config
        .token
        .clone()
        .load(async || sdk.clone())
        .await
        .inspect_err(|e| tracing::error!(error = %e, "bearer token unavailable"))?;
    let keyed = key.is_some();
    let endpoint = Endpoint::new(
        key,
        CloudWatchSink::new(&sdk, config.base.log_group.clone(), &retry_settings()),
        token,
        EndpointSettings::new(config.max_request, config.base.log_stream.as_deref()),
    );
    tracing::info!(keyed, max_request = config.max_request, "ready");
    let endpoint = Arc::new(endpoint);
    let namespace: Arc<str> = config.base.metrics_namespace.clone().into();
    lambda_http::run(service_fn(move |request: Request| {
        let (endpoint, namespace) = (Arc::clone(&endpoint), Arc::clone(&namespace));
        async move { handle(&endpoint, &namespace, request).await }
    }))
    .await
}

/// One request: [`Endpoint::respond`], its summary printed as one JSON line (also an EMF document), its answer.
async fn handle(
    endpoint: &Endpoint<CloudWatchSink>,
    namespace: &str,
    request: Request,
) -> Result<Response<Body>, Error> {
    let deadline = deadline_of(request.lambda_context_ref().map(|c| c.deadline));
    let (parts, body) = request.into_parts();
    let reply = endpoint.respond(&parts.method, parts.uri.path(), &parts.headers, body.as_ref(), deadline).await;
    {
        let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
            .unwrap_or(i64::MAX);
        let line = reply.summary.emf_line(namespace, now_ms);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    let body = if reply.body.is_empty() {
        Body::Empty
    } else if reply.header("content-type") == Some("application/json") {
        Body::Text(String::from_utf8(reply.body).unwrap_or_default())
    } else {
        Body::Binary(reply.body)
    };
    Ok(response.body(body)?)
}

/// The invocation deadline (ms since the epoch) less the margin, as an `Instant`.
fn deadline_of(deadline_ms: Option<u64>) -> Option<Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let remaining = u128::from(deadline_ms?).saturating_sub(now_ms);
    let remaining = Duration::from_millis(u64::try_from(remaining).ok()?);
    (remaining > Duration::ZERO).then(|| Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN))
}
