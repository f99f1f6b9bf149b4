//! The CloudWatch Logs sink: `CreateLogStream` on first use, then `PutLogEvents` per batch.
//!
//! Retries are the SDK's standard retry (exponential backoff with jitter; throttling, 5xx,
//! timeouts and connection errors are retried), bounded by [`RetrySettings`] so one call cannot
//! outlive its operation timeout. A stream is created once per warm instance
//! (`ResourceAlreadyExistsException` is success) and re-created when a write finds it gone.

use super::{ErrorCode, FailureKind, PutOutcome, Rejected, Sink, SinkError};
use crate::plan::Batch;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::{InputLogEvent, RejectedLogEventsInfo};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bounds on the SDK's standard retry and on every call's duration.
///
/// Defaults: 4 attempts, backoff from 200 ms up to 4 s, 10 s per attempt, 25 s per operation
/// (all attempts and backoff included), 3 s to connect. One batch therefore finishes or fails
/// within 25 s (50 s if its stream must be re-created first); the handler also stops at the
/// Lambda deadline. Set the function timeout to at least 60 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(25),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Writes to one log group. Built once per cold start; remembers the streams it has created.
pub struct CloudWatchSink {
    client: Client,
    group: String,
    known_streams: tokio::sync::Mutex<HashSet<String>>,
}

impl std::fmt::Debug for CloudWatchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchSink").finish_non_exhaustive()
    }
}

impl CloudWatchSink {
    /// A client from the standard AWS configuration (region, credentials, `AWS_ENDPOINT_URL*`)
    /// with our retry and timeout bounds.
    pub fn new(sdk: &aws_config::SdkConfig, group: impl Into<String>, settings: &RetrySettings) -> Self {
        let conf = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts)
                    .with_initial_backoff(settings.initial_backoff)
                    .with_max_backoff(settings.max_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .operation_timeout(settings.operation_timeout)
                    .build(),
            )
            .build();
        CloudWatchSink {
            client: Client::from_conf(conf),
            group: group.into(),
            known_streams: tokio::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Creates `stream` unless this instance already did. Returns the extra attempts used.
    /// Holding the lock while creating makes concurrent first batches wait for one creation.
    async fn ensure_stream(&self, stream: &str) -> Result<u64, SinkError> {
        let mut known = self.known_streams.lock().await;
        if known.contains(stream) {
            return Ok(0);
        }
        let attempts = AttemptCounter::default();
        let result = self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().is_resource_already_exists_exception() => {}
            Err(e) => return Err(failure("CreateLogStream", &e)),
        }
        known.insert(stream.to_owned());
        Ok(attempts.retries())
    }

    async fn forget_stream(&self, stream: &str) {
        self.known_streams.lock().await.remove(stream);
    }

    async fn put(
        &self,
        stream: &str,
        events: Vec<InputLogEvent>,
    ) -> (Result<Option<RejectedLogEventsInfo>, SdkError<PutError, HttpResponse>>, u64) {
        let attempts = AttemptCounter::default();
        let result = self
            .client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await
            .map(|out| out.rejected_log_events_info);
        (result, attempts.retries())
    }
}

type PutError = aws_sdk_cloudwatchlogs::operation::put_log_events::PutLogEventsError;
type HttpResponse = aws_sdk_cloudwatchlogs::config::http::HttpResponse;

impl Sink for CloudWatchSink {
    async fn put_batch(&self, stream: &str, batch: &Batch) -> Result<PutOutcome, SinkError> {
        let mut retries = self.ensure_stream(stream).await?;
        let events = batch
            .events()
            .iter()
            .map(|e| InputLogEvent::builder().timestamp(e.timestamp).message(&e.message).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| SinkError { operation: "PutLogEvents", kind: FailureKind::Construction })?;

        let (mut result, extra) = self.put(stream, events.clone()).await;
        retries += extra;
        if let Err(e) = &result
            && stream_gone(e)
        {
            // The stream (or group) is gone: re-create the stream once, then write again.
            self.forget_stream(stream).await;
            retries += 1 + self.ensure_stream(stream).await?;
            let (again, extra) = self.put(stream, events).await;
            retries += extra;
            result = again;
        }
        let info = result.map_err(|e| failure("PutLogEvents", &e))?;
        let rejected = rejected_counts(batch.len() as u64, info.as_ref());
        Ok(PutOutcome { accepted: batch.len() as u64 - rejected.total(), rejected, retries })
    }
}

/// Counts the events `rejectedLogEventsInfo` refuses, as the API reference defines its indexes:
/// events `[0, tooOldLogEventEndIndex)` are too old, `[0, expiredLogEventEndIndex)` expired,
/// `[tooNewLogEventStartIndex, n)` too new. An event both expired and too old counts as too old.
/// Indexes outside `0..=n` are clamped, so the total never exceeds `n`.
pub(crate) fn rejected_counts(n: u64, info: Option<&RejectedLogEventsInfo>) -> Rejected {
    let Some(info) = info else { return Rejected::default() };
    let clamp = |i: Option<i32>| i.map_or(0, |i| u64::try_from(i).unwrap_or(0).min(n));
    let too_old = clamp(info.too_old_log_event_end_index());
    let old_prefix = too_old.max(clamp(info.expired_log_event_end_index()));
    let too_new = match info.too_new_log_event_start_index() {
        Some(start) => n - clamp(Some(start)).max(old_prefix),
        None => 0,
    };
    Rejected { too_old, too_new, expired: old_prefix - too_old }
}

/// Whether a failed `PutLogEvents` means the stream (or group) is gone, so re-creating the
/// stream and writing once more may succeed.
fn stream_gone(e: &SdkError<PutError, HttpResponse>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().is_resource_not_found_exception())
}

/// Maps an SDK error (after the SDK's own retries) to a payload-free [`SinkError`].
fn failure<E: ProvideErrorMetadata>(operation: &'static str, e: &SdkError<E, HttpResponse>) -> SinkError {
    let kind = match e {
        SdkError::ConstructionFailure(_) => FailureKind::Construction,
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => FailureKind::Timeout,
        SdkError::DispatchFailure(d) if d.is_io() => FailureKind::Dispatch("io"),
        SdkError::DispatchFailure(d) if d.is_user() => FailureKind::Dispatch("user"),
        SdkError::DispatchFailure(_) => FailureKind::Dispatch("other"),
        SdkError::ServiceError(s) => {
            FailureKind::Service { code: ErrorCode::new(s.err().code()), status: s.raw().status().as_u16() }
        }
        _ => FailureKind::Response,
    };
    SinkError { operation, kind }
}

/// Counts the attempts of one operation (the SDK retries inside `send()`).
#[derive(Clone, Debug, Default)]
struct AttemptCounter(Arc<AtomicU64>);

impl AttemptCounter {
    fn retries(&self) -> u64 {
        self.0.load(Ordering::Relaxed).saturating_sub(1)
    }
}

impl Intercept for AttemptCounter {
    fn name(&self) -> &'static str {
        "AttemptCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_cloudwatchlogs::types::error::{ResourceNotFoundException, ServiceUnavailableException};
    use aws_smithy_runtime_api::http::StatusCode;

    /// A service error as the SDK returns it: the modelled error and the raw HTTP response.
    fn service(err: PutError, status: u16) -> SdkError<PutError, HttpResponse> {
        let body = r#"{"__type":"x","message":"CANARY message from the service"}"#;
        SdkError::service_error(err, HttpResponse::new(StatusCode::try_from(status).unwrap(), body.into()))
    }

    fn generic(code: &str) -> PutError {
        PutError::generic(ErrorMetadata::builder().code(code).message("CANARY message").build())
    }

    fn kind(e: &SdkError<PutError, HttpResponse>) -> FailureKind {
        let f = failure("PutLogEvents", e);
        assert_eq!(f.operation, "PutLogEvents");
        assert!(!format!("{f} {f:?}").contains("CANARY"), "{f:?}");
        f.kind
    }

    fn svc(code: &str, status: u16) -> FailureKind {
        FailureKind::Service { code: ErrorCode::new(Some(code)), status }
    }

    #[test]
    fn throttling_keeps_its_code_and_status() {
        assert_eq!(kind(&service(generic("ThrottlingException"), 400)), svc("ThrottlingException", 400));
    }

    #[test]
    fn a_5xx_keeps_the_modelled_code_and_status() {
        let unavailable = ServiceUnavailableException::builder()
            .message("CANARY")
            .meta(ErrorMetadata::builder().code("ServiceUnavailableException").build())
            .build();
        let e = service(PutError::ServiceUnavailableException(unavailable), 503);
        assert_eq!(kind(&e), svc("ServiceUnavailableException", 503));
        assert_eq!(kind(&service(generic("InternalFailure"), 500)), svc("InternalFailure", 500));
        assert!(!stream_gone(&e));
    }

    #[test]
    fn a_non_retryable_4xx_is_a_service_error_not_a_missing_stream() {
        let e = service(generic("InvalidParameterException"), 400);
        assert_eq!(kind(&e), svc("InvalidParameterException", 400));
        assert!(!stream_gone(&e));
        assert_eq!(kind(&service(generic("AccessDeniedException"), 403)), svc("AccessDeniedException", 403));
    }

    #[test]
    fn a_missing_stream_is_recognised_for_re_creation() {
        let gone = ResourceNotFoundException::builder()
            .meta(ErrorMetadata::builder().code("ResourceNotFoundException").build())
            .build();
        let e = service(PutError::ResourceNotFoundException(gone), 400);
        assert!(stream_gone(&e));
        assert_eq!(kind(&e), svc("ResourceNotFoundException", 400));
    }

    #[test]
    fn an_error_code_that_could_carry_content_is_not_kept() {
        assert_eq!(kind(&service(generic("CANARY alice@example.com"), 400)), svc("unrecognized", 400));
        assert_eq!(kind(&service(PutError::unhandled("CANARY"), 502)), svc("none", 502));
    }

    #[test]
    fn timeouts_dispatch_and_response_failures_have_fixed_kinds() {
        let e = |s: &str| -> aws_sdk_cloudwatchlogs::error::BoxError { s.into() };
        let cases: Vec<(SdkError<PutError, HttpResponse>, FailureKind)> = vec![
            (SdkError::timeout_error(e("CANARY")), FailureKind::Timeout),
            (SdkError::dispatch_failure(ConnectorError::timeout(e("CANARY"))), FailureKind::Timeout),
            (SdkError::dispatch_failure(ConnectorError::io(e("CANARY"))), FailureKind::Dispatch("io")),
            (SdkError::dispatch_failure(ConnectorError::user(e("CANARY"))), FailureKind::Dispatch("user")),
            (SdkError::dispatch_failure(ConnectorError::other(e("CANARY"), None)), FailureKind::Dispatch("other")),
            (SdkError::construction_failure(e("CANARY")), FailureKind::Construction),
            (
                SdkError::response_error(
                    e("CANARY"),
                    HttpResponse::new(StatusCode::try_from(200).unwrap(), "{".into()),
                ),
                FailureKind::Response,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(kind(&error), expected);
        }
    }

    fn info(new: Option<i32>, old: Option<i32>, expired: Option<i32>) -> RejectedLogEventsInfo {
        RejectedLogEventsInfo::builder()
            .set_too_new_log_event_start_index(new)
            .set_too_old_log_event_end_index(old)
            .set_expired_log_event_end_index(expired)
            .build()
    }

    macro_rules! rejects {
        ($($name:ident: $n:expr, $info:expr => ($old:expr, $new:expr, $exp:expr);)*) => {$(
            #[test]
            fn $name() {
                let r = rejected_counts($n, $info.as_ref());
                assert_eq!((r.too_old, r.too_new, r.expired), ($old, $new, $exp));
                assert!(r.total() <= $n);
            }
        )*};
    }

    rejects! {
        none: 10, None::<RejectedLogEventsInfo> => (0, 0, 0);
        empty_info: 10, Some(info(None, None, None)) => (0, 0, 0);
        two_too_old: 10, Some(info(None, Some(2), None)) => (2, 0, 0);
        three_too_new: 10, Some(info(Some(7), None, None)) => (0, 3, 0);
        expired_beyond_too_old: 10, Some(info(None, Some(2), Some(5))) => (2, 0, 3);
        all_three: 10, Some(info(Some(8), Some(1), Some(3))) => (1, 2, 2);
        out_of_range_indexes_clamp: 4, Some(info(Some(-3), Some(99), Some(-1))) => (4, 0, 0);
        too_new_from_zero: 4, Some(info(Some(0), None, None)) => (0, 4, 0);
    }
}
