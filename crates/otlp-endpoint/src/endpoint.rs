//! The request: an OTLP/HTTP request (method, path, headers, body) in, the status, headers and
//! body of the answer out, with the sanitized lines written through the handler's sink on the way.
//!
//! The checks, in order, each answering at once:
//! 1. `Authorization: Bearer <token>` ([`BearerToken::admits`]) → else **401**, empty body. First,
//!    so a caller without the token learns nothing else (not even which paths exist), and before
//!    the body is read.
//! 2. the path: `/v1/logs`, `/v1/metrics` → else **404**.
//! 3. the method: `POST` → else **405** with `Allow: POST`.
//! 4. `Content-Type`: `application/x-protobuf` or `application/json` (parameters such as
//!    `; charset=utf-8` ignored, case-insensitive) → else **415**; `Content-Encoding`: none,
//!    `identity` or `gzip` → else **415**. Whether a body is gzip is told by its content
//!    (`sanitizer_otlp` reads the gzip magic), so a header and a body that disagree take one path.
//! 5. the body's size → over `MAX_REQUEST_BYTES` **413** (and what a gzip body decompresses to:
//!    413 too).
//! 6. the body: decoded and sanitized by `sanitizer_otlp` → a malformed body **400**
//!    ([`sanitizer_otlp::BodyError::http_status`]). An empty body is the empty request in
//!    protobuf (every field at its default: **200**, nothing written). A plain body sent as
//!    `application/json` that is not JSON by its content (empty, blank, or protobuf: it does not
//!    open with `{`) is **400**: an empty JSON body is not a JSON document. (Inside gzip the
//!    content decides, as `sanitizer_otlp` reads it.)
//! 7. the write (the handler's plan and sink) → **200** with the OTLP response; a throttled
//!    write **429**, another retryable failure (5xx, timeout, connection, the invocation
//!    deadline) **503**, both with `Retry-After`; a write that cannot succeed by retrying (access
//!    denied, no such group) **500**. A write that stored some batches before failing still
//!    answers 429/503: the client sends the request again, and the lines written twice carry
//!    the same `sourceEventId` (a keyed digest of the record), so queries find them.
//!
//! The 200 answer is `ExportLogsServiceResponse` / `ExportMetricsServiceResponse` in the
//! request's encoding; when records were not stored (dropped by the allowlist, refused by
//! `PutLogEvents`, impossible to batch) it carries `partial_success` with their count and a fixed
//! text naming reasons and counts. Error answers have an empty body.
//!
//! Trusts the handler and its sink. Guarantees: no answer, header or [`Summary`] holds a byte of
//! the request (the body, the token, a header value): only fixed texts, reason names, counts and
//! the path's kind.

use crate::auth::BearerToken;
use lambda_http::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use lambda_http::http::{HeaderMap, Method};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use sanitizer_aws::handler::{Handler, HandlerError, HandlerSettings, Report};
use sanitizer_aws::metrics::{METRICS, metric_values, refused_values, request_line};
use sanitizer_aws::sink::{DEFAULT_WRITE_CONCURRENCY, FailureKind, Sink};
use sanitizer_core::{Allowlist, PseudonymKey, Sanitizer, Spend, StreamNamer};
use sanitizer_otlp::{BodyError, Encoding as BodyEncoding, LogsReceiver, MetricsReceiver, encoding_of};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The gzip magic (RFC 1952): a body that opens with it is read as gzip by `sanitizer_otlp`.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The logs path of OTLP/HTTP.
pub const LOGS_PATH: &str = "/v1/logs";
/// The metrics path of OTLP/HTTP.
pub const METRICS_PATH: &str = "/v1/metrics";

/// `Retry-After` (seconds) when the sanitized group throttles. Short: the SDK has already
/// retried with backoff, and the client's exporter gives up on a retry that would outlast its
/// export timeout (10 s by default).
pub const RETRY_AFTER_THROTTLED_SECS: u32 = 2;
/// `Retry-After` (seconds) for another retryable write failure.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 5;

/// The destination streams when `SANITIZED_LOG_STREAM` is not set: one per signal (an OTLP
/// request names no source stream; parallel writes to one stream are allowed).
pub const DEFAULT_LOGS_STREAM: &str = "otlp-logs";
pub const DEFAULT_METRICS_STREAM: &str = "otlp-metrics";

/// The two OTLP signals the endpoint takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Logs,
    Metrics,
}

impl Signal {
    fn of(path: &str) -> Option<Signal> {
        match path {
            LOGS_PATH => Some(Signal::Logs),
            METRICS_PATH => Some(Signal::Metrics),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
        }
    }
}

/// A request body's declared encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// How the endpoint runs.
#[derive(Clone, Debug)]
pub struct EndpointSettings {
    /// The cap on a request body and on what it decompresses to.
    pub max_request: usize,
    pub logs_stream: String,
    pub metrics_stream: String,
}

impl EndpointSettings {
    /// The defaults for a cap: one stream per signal, or `fixed` for both.
    pub fn new(max_request: usize, fixed: Option<&str>) -> Self {
        EndpointSettings {
            max_request,
            logs_stream: fixed.unwrap_or(DEFAULT_LOGS_STREAM).to_owned(),
            metrics_stream: fixed.unwrap_or(DEFAULT_METRICS_STREAM).to_owned(),
        }
    }
}

/// The receiver: the handler (sanitizer and sink), the body readers and the token. Built once
/// per cold start, used per request.
pub struct Endpoint<S> {
    handler: Handler<S>,
    logs: LogsReceiver,
    metrics: MetricsReceiver,
    token: BearerToken,
    settings: EndpointSettings,
}

impl<S> std::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// An answer: status, headers, body, and the request's summary for the log.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub summary: Summary,
}

impl Reply {
    fn empty(status: u16, summary: Summary) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), summary }
    }

    /// The value of header `name` (lower case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// One request in counts and kinds: the endpoint's log line. Never a byte of the request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `logs`, `metrics`, or `other` (a path the endpoint does not serve).
    pub signal: &'static str,
    pub status: u16,
    /// Why the request was refused or failed: a fixed kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub body_bytes: usize,
    pub received: u64,
    pub written: u64,
    /// Records (data points) the allowlist dropped, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Attributes the allowlist dropped from kept records.
    pub attributes_dropped: u64,
    /// Sanitized lines `PutLogEvents` refused or no batch could hold.
    pub rejected: u64,
    /// Sanitized lines in writes that failed.
    pub unwritten: u64,
    /// What `partial_success` reported as rejected.
    pub partial_rejected: u64,
    pub duration_ms: u64,
    /// The sanitizer function's invocation metrics for this request
    /// ([`sanitizer_aws::metrics::METRICS`]), in [`Summary::emf_line`] only.
    #[serde(skip)]
    pub metrics: [u64; METRICS.len()],
    /// The spend of the request's sanitized events, in [`Summary::emf_line`] only.
    #[serde(skip)]
    pub spend: Spend,
}

impl Summary {
    /// The summary as one JSON line.
    pub fn line(&self) -> String {
        serde_json::to_string(&SummaryLine { message: "otlp request", summary: self }).unwrap_or_default()
    }

    /// The summary as one line that is also a CloudWatch Embedded Metric Format document in
    /// `namespace`: the sanitizer function's metric names and units
    /// ([`sanitizer_aws::metrics::request_line`]), so the alarms on drops, rejections, an empty
    /// output and the daily budget, and the dashboard, count requests to the endpoint as they
    /// count invocations of the sanitizer. `timestamp_ms`: now, in milliseconds since the epoch.
    pub fn emf_line(&self, namespace: &str, timestamp_ms: i64) -> String {
        let mut line = request_line(self.metrics, &self.spend, namespace, timestamp_ms);
        if let Ok(serde_json::Value::Object(summary)) =
            serde_json::to_value(SummaryLine { message: "otlp request", summary: self })
        {
            line.extend(summary);
        }
        serde_json::Value::Object(line).to_string()
    }
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    message: &'static str,
    #[serde(flatten)]
    summary: &'a Summary,
}

impl<S: Sink> Endpoint<S> {
    /// The embedded allowlist's sanitizer under `key`, writing through `sink`.
    pub fn new(key: Option<PseudonymKey>, sink: S, token: BearerToken, settings: EndpointSettings) -> Self {
        let logs = LogsReceiver::new(key.as_ref(), settings.max_request);
        let metrics = MetricsReceiver::new(key.as_ref(), settings.max_request);
        let handler = Handler::new(
            Sanitizer::new(Allowlist::embedded(), key.clone()),
            sink,
            StreamNamer::new(key.as_ref()),
            HandlerSettings {
                max_decompressed: settings.max_request,
                log_stream: None,
                concurrency: DEFAULT_WRITE_CONCURRENCY,
            },
        );
        Endpoint { handler, logs, metrics, token, settings }
    }

    pub fn sink(&self) -> &S {
        self.handler.sink()
    }

    /// Answers one request. `path` without the query; `deadline`: when to give up writing (the
    /// invocation deadline less a margin), `None` for the sink's own timeouts.
    pub async fn respond(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Reply {
        let started = Instant::now();
        let mut reply = self.answer(method, path, headers, body, deadline).await;
        reply.summary.status = reply.status;
        reply.summary.body_bytes = body.len();
        reply.summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        reply
    }

    async fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Reply {
        let signal = Signal::of(path);
        let mut summary = Summary {
            signal: signal.map_or("other", Signal::as_str),
            metrics: refused_values(false),
            ..Summary::default()
        };
        let refuse = |status: u16, error: &str, mut summary: Summary| {
            summary.error = Some(error.to_owned());
            Reply::empty(status, summary)
        };
        if !self.token.admits(headers) {
            return refuse(401, "unauthorized", summary);
        }
        let Some(signal) = signal else {
            return refuse(404, "no_such_path", summary);
        };
        if method != Method::POST {
            let mut reply = refuse(405, "method_not_allowed", summary);
            reply.headers.push(("allow", "POST".to_owned()));
            return reply;
        }
        let Some(encoding) = declared_encoding(headers) else {
            return refuse(415, "unsupported_content_type", summary);
        };
        if !accepted_content_encoding(headers) {
            return refuse(415, "unsupported_content_encoding", summary);
        }
        if body.len() > self.settings.max_request {
            return refuse(413, "too_large", summary);
        }
        if encoding == Encoding::Json && !body.starts_with(&GZIP_MAGIC) && encoding_of(body) != BodyEncoding::Json {
            summary.metrics = refused_values(true);
            return refuse(400, "not_json", summary);
        }

        let received_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
            .unwrap_or(i64::MAX);
        let prepared = match signal {
            Signal::Logs => self.handler.prepare_with(self.settings.logs_stream.clone(), |sanitizer| {
                self.logs.sanitize(sanitizer, body, received_ms)
            }),
            Signal::Metrics => self.handler.prepare_with(self.settings.metrics_stream.clone(), |sanitizer| {
                self.metrics.sanitize(sanitizer, body, received_ms)
            }),
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                summary.metrics = refused_values(e.http_status() == 400);
                return refuse(e.http_status(), body_error_kind(&e), summary);
            }
        };
        let report = self.handler.handle_payload(prepared, deadline).await;
        summary.received = report.counts.received;
        summary.written = report.written();
        summary.dropped = report.counts.event_drops().map(|(r, n)| (r.as_str(), n)).collect();
        summary.attributes_dropped = report.attributes_dropped();
        summary.rejected = report.rejected();
        summary.unwritten = report.write.unwritten;
        summary.metrics = metric_values(&report);
        summary.spend = report.spend;
        if let Some(error) = &report.error {
            let (status, retry_after) = failure_status(error);
            let mut reply = refuse(status, &error.to_string(), summary);
            if let Some(secs) = retry_after {
                reply.headers.push(("retry-after", secs.to_string()));
            }
            return reply;
        }
        let (rejected, message) = partial_success(signal, &report);
        summary.partial_rejected = rejected;
        let body = match signal {
            Signal::Logs => {
                let partial_success = (rejected > 0).then(|| ExportLogsPartialSuccess {
                    rejected_log_records: to_i64(rejected),
                    error_message: message,
                });
                encode(encoding, &ExportLogsServiceResponse { partial_success })
            }
            Signal::Metrics => {
                let partial_success = (rejected > 0).then(|| ExportMetricsPartialSuccess {
                    rejected_data_points: to_i64(rejected),
                    error_message: message,
                });
                encode(encoding, &ExportMetricsServiceResponse { partial_success })
            }
        };
        Reply { status: 200, headers: vec![("content-type", encoding.content_type().to_owned())], body, summary }
    }
}

/// The `Content-Type`'s media type, parameters ignored, if it is one the endpoint reads.
fn declared_encoding(headers: &HeaderMap) -> Option<Encoding> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return None };
    let media = value.as_bytes().split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
    if media.eq_ignore_ascii_case(b"application/x-protobuf") {
        Some(Encoding::Protobuf)
    } else if media.eq_ignore_ascii_case(b"application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// Whether the `Content-Encoding` is none, `identity` or `gzip`.
fn accepted_content_encoding(headers: &HeaderMap) -> bool {
    headers.get_all(CONTENT_ENCODING).iter().all(|v| {
        let v = v.as_bytes().trim_ascii();
        v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"identity")
    })
}

/// A body error's fixed kind, for the summary.
fn body_error_kind(e: &BodyError) -> &'static str {
    match e {
        BodyError::TooLarge { .. } => "too_large",
        BodyError::Gzip { .. } => "gzip",
        BodyError::Protobuf => "protobuf",
        BodyError::Json { .. } => "json",
    }
}

/// The status (and `Retry-After`) for a failed write.
fn failure_status(error: &HandlerError) -> (u16, Option<u32>) {
    let throttled = (429, Some(RETRY_AFTER_THROTTLED_SECS));
    let unavailable = (503, Some(RETRY_AFTER_UNAVAILABLE_SECS));
    match error {
        HandlerError::Deadline => unavailable,
        HandlerError::Write(e) => match &e.kind {
            FailureKind::Service { code, status } if *status == 429 || is_throttling(code.as_str()) => throttled,
            FailureKind::Service { status, .. } if *status >= 500 => unavailable,
            FailureKind::Timeout | FailureKind::Dispatch(_) | FailureKind::Response | FailureKind::Deadline => {
                unavailable
            }
            FailureKind::Service { .. } | FailureKind::Construction | FailureKind::Io(_) => (500, None),
        },
        HandlerError::Payload(_) | HandlerError::Kinesis(_) => (500, None),
    }
}

/// The AWS SDK's throttling error codes (its standard retry classifier's list).
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
    )
}

/// The records (data points) of a written request that were not stored, and the fixed text that
/// names why: reasons and counts only.
fn partial_success(signal: Signal, report: &Report) -> (u64, String) {
    let dropped = report.counts.dropped_total();
    let rejected = report.rejected();
    let total = dropped + rejected;
    if total == 0 {
        return (0, String::new());
    }
    let mut text = format!("{total} {} not stored:", signal.noun());
    let mut parts: Vec<String> = Vec::new();
    if dropped > 0 {
        let reasons: Vec<String> = report.counts.event_drops().map(|(r, n)| format!("{} {n}", r.as_str())).collect();
        parts.push(format!("dropped by the allowlist ({})", reasons.join(", ")));
    }
    let refused = &report.write.rejected;
    if refused.total() > 0 {
        let reasons: Vec<String> =
            [("too_old", refused.too_old), ("too_new", refused.too_new), ("expired", refused.expired)]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
        parts.push(format!("refused by CloudWatch Logs ({})", reasons.join(", ")));
    }
    if report.too_large > 0 {
        parts.push(format!("too large for CloudWatch Logs {}", report.too_large));
    }
    if report.empty > 0 {
        parts.push(format!("empty {}", report.empty));
    }
    let _ = write!(text, " {}", parts.join("; "));
    (total, text)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An OTLP response message in the request's encoding.
fn encode<M: prost::Message + Serialize>(encoding: Encoding, message: &M) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn content_types_by_media_type_only() {
        let cases = [
            ("application/x-protobuf", Some(Encoding::Protobuf)),
            ("Application/X-Protobuf; charset=binary", Some(Encoding::Protobuf)),
            ("application/json", Some(Encoding::Json)),
            ("application/json; charset=utf-8", Some(Encoding::Json)),
            (" application/json ;charset=utf-8", Some(Encoding::Json)),
            ("application/jsonx", None),
            ("text/plain", None),
            ("application/grpc", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(declared_encoding(&headers(&[("content-type", value)])), expected, "{value}");
        }
        assert_eq!(declared_encoding(&HeaderMap::new()), None);
        let two = headers(&[("content-type", "application/json"), ("content-type", "application/json")]);
        assert_eq!(declared_encoding(&two), None);
    }

    #[test]
    fn content_encodings() {
        assert!(accepted_content_encoding(&HeaderMap::new()));
        assert!(accepted_content_encoding(&headers(&[("content-encoding", "gzip")])));
        assert!(accepted_content_encoding(&headers(&[("content-encoding", "GZIP")])));
        assert!(accepted_content_encoding(&headers(&[("content-encoding", "identity")])));
        assert!(!accepted_content_encoding(&headers(&[("content-encoding", "br")])));
        assert!(!accepted_content_encoding(&headers(&[("content-encoding", "deflate")])));
    }

    #[test]
    fn write_failures_map_to_retryable_statuses() {
        use sanitizer_aws::sink::{ErrorCode, SinkError};
        let service = |code: &str, status: u16| {
            HandlerError::Write(SinkError {
                operation: "PutLogEvents",
                kind: FailureKind::Service { code: ErrorCode::new(Some(code)), status },
            })
        };
        let kind = |kind| HandlerError::Write(SinkError { operation: "PutLogEvents", kind });
        assert_eq!(failure_status(&service("ThrottlingException", 400)), (429, Some(2)));
        assert_eq!(failure_status(&service("x", 429)), (429, Some(2)));
        assert_eq!(failure_status(&service("ServiceUnavailableException", 503)), (503, Some(5)));
        assert_eq!(failure_status(&kind(FailureKind::Timeout)), (503, Some(5)));
        assert_eq!(failure_status(&kind(FailureKind::Dispatch("io"))), (503, Some(5)));
        assert_eq!(failure_status(&HandlerError::Deadline), (503, Some(5)));
        assert_eq!(failure_status(&service("AccessDeniedException", 400)), (500, None));
        assert_eq!(failure_status(&service("ResourceNotFoundException", 400)), (500, None));
    }
}
