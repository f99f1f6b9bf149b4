//! The endpoint in-process with its real parts: `Endpoint::respond` with a real CloudWatch sink
//! writing to moto_server (or through the stand-in in front of it, tests/stand_in, for
//! throttling and 503), the embedded allowlist and the fixture key.
//!
//! - Every bad input (missing or wrong token, wrong content type or encoding, truncated and
//!   garbage protobuf, a gzip bomb, an oversize body, an empty JSON body, another path or method)
//!   gets its documented status, an empty answer body, and writes nothing: the group is read
//!   back from moto and holds no stream. No canary in any answer, header or summary line.
//! - An empty protobuf body is the empty request: 200, nothing written.
//! - A recorded scenario's bodies (fixtures/record/raw, moved to now) as JSON and as protobuf:
//!   200, and the group holds exactly the lines `sanitize --otlp` prints for the same bodies;
//!   `partialSuccess` counts what the allowlist dropped.
//! - Recorded metrics bodies (fixtures/record/raw-metrics, moved to now), delta and cumulative, as
//!   JSON and protobuf: 200, the group holds what `sanitize --otlp` prints, `partialSuccess`
//!   counts the dropped data points (every cumulative one).
//! - A throttled write answers 429 and a failing one 503, each with `Retry-After`, also when a
//!   batch was stored before the failure.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[path = "../../../tests/stand_in/mod.rs"]
mod stand_in;

use common::*;
use lambda_http::http::{HeaderMap, HeaderValue, Method};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message as _;
use sanitizer_aws::handler::{Handler, HandlerSettings};
use sanitizer_aws::sink::{CloudWatchSink, RetrySettings, StdoutSink};
use sanitizer_core::{Allowlist, PseudonymKey, Sanitizer, StreamNamer};
use sanitizer_otlp::{DEFAULT_MAX_REQUEST_BYTES, LogsReceiver, MetricsReceiver, Receiver};
use sanitizer_otlp_endpoint::{
    BearerToken, DEFAULT_LOGS_STREAM, DEFAULT_METRICS_STREAM, Endpoint, EndpointSettings, Reply,
};
use serde_json::{Value, json};
use stand_in::{Answer, Script, StandIn};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "endpoint-test-token-0123456789";
const CANARY: &str = "CANARY9e4b";

fn key() -> PseudonymKey {
    PseudonymKey::new(FIXTURE_KEY.as_bytes()).unwrap()
}

/// Fast bounds, so the failure cases finish in seconds.
fn quick() -> RetrySettings {
    RetrySettings {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(4),
        connect_timeout: Duration::from_secs(1),
    }
}

async fn endpoint_at(url: &str, group: &str) -> Endpoint<CloudWatchSink> {
    let sink = CloudWatchSink::new(&sdk_config(url).await, group, &quick());
    Endpoint::new(
        Some(key()),
        sink,
        BearerToken::new(TOKEN).unwrap(),
        EndpointSettings::new(DEFAULT_MAX_REQUEST_BYTES, None),
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

const BEARER: &str = "Bearer endpoint-test-token-0123456789";

fn json_headers() -> HeaderMap {
    headers(&[("authorization", BEARER), ("content-type", "application/json")])
}

fn protobuf_headers() -> HeaderMap {
    headers(&[("authorization", BEARER), ("content-type", "application/x-protobuf")])
}

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// An OTLP/JSON logs request: one kept `api_request` and one event the allowlist drops, each
/// with the canary wherever the allowlist does not look, timed now.
fn canary_request() -> Vec<u8> {
    let now = (now_ns() - 60_000_000_000).to_string();
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            attr("service.name", json!({"stringValue": "claude-code"})),
            attr("host.name", json!({"stringValue": CANARY})),
        ]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": [
            {"timeUnixNano": now, "body": {"stringValue": "claude_code.api_request"}, "attributes": [
                attr("event.name", json!({"stringValue": "api_request"})),
                attr("model", json!({"stringValue": "claude-sonnet-4-5"})),
                attr("input_tokens", json!({"intValue": "12"})),
                attr("user.email", json!({"stringValue": format!("{CANARY}@example.com")})),
                attr("prompt", json!({"stringValue": format!("secret {CANARY}")})),
            ]},
            {"timeUnixNano": now, "body": {"stringValue": "claude_code.not_an_event_we_keep"}, "attributes": [
                attr("event.name", json!({"stringValue": "not_an_event_we_keep"})),
                attr("secret", json!({"stringValue": CANARY})),
            ]},
        ]}],
    }]})
    .to_string()
    .into_bytes()
}

fn protobuf_of(json: &[u8]) -> Vec<u8> {
    sanitizer_otlp::decode_logs(json, DEFAULT_MAX_REQUEST_BYTES).unwrap().encode_to_vec()
}

/// Asserts that neither the answer (status line aside) nor its summary holds a canary.
fn assert_no_canary(reply: &Reply, canaries: &[String], case: &str) {
    let text = format!(
        "{} {:?} {} {}",
        String::from_utf8_lossy(&reply.body),
        reply.headers,
        reply.summary.line(),
        reply.summary.emf_line("ns", 0)
    );
    for canary in canaries {
        assert!(!text.contains(canary.as_str()), "{case}: {canary} in {text}");
    }
}

/// The request's EMF line, parsed.
fn emf(reply: &Reply) -> Value {
    serde_json::from_str(&reply.summary.emf_line("ClaudeOtelSanitizer/test", 1_764_000_000_000)).unwrap()
}

/// A bad request: its name, method, path, headers, body and the status it must get.
type Case<'a> = (&'a str, Method, &'a str, HeaderMap, Vec<u8>, u16);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_status_writes_nothing_and_echoes_nothing() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let group = "/endpoint/bad";
    create_group(&client, group).await;
    let endpoint = endpoint_at(&moto.url(), group).await;

    let json = canary_request();
    let protobuf = protobuf_of(&json);
    let bomb = {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0; 64 << 20]).unwrap();
        gz.finish().unwrap()
    };
    assert!(bomb.len() < DEFAULT_MAX_REQUEST_BYTES / 8, "the bomb is small on the wire");
    let mut oversize = json.clone();
    oversize.resize(DEFAULT_MAX_REQUEST_BYTES + 1, b' ');
    let garbage = format!("\u{7f}\u{ff}{CANARY}-garbage").into_bytes();
    let metrics = std::fs::read(root().join("fixtures/record/raw-metrics/edits/protobuf-delta/001.pb")).unwrap();
    let metrics_cut = metrics[..metrics.len() / 2].to_vec();
    let bearer_wrong = format!("Bearer {TOKEN}x");
    let post = Method::POST;
    let cases: Vec<Case> = vec![
        (
            "missing token",
            post.clone(),
            "/v1/logs",
            headers(&[("content-type", "application/json")]),
            json.clone(),
            401,
        ),
        (
            "wrong token",
            post.clone(),
            "/v1/logs",
            headers(&[("authorization", &bearer_wrong), ("content-type", "application/json")]),
            json.clone(),
            401,
        ),
        (
            "another scheme",
            post.clone(),
            "/v1/logs",
            headers(&[("authorization", &format!("Basic {TOKEN}")), ("content-type", "application/json")]),
            json.clone(),
            401,
        ),
        (
            "wrong content type",
            post.clone(),
            "/v1/logs",
            headers(&[("authorization", BEARER), ("content-type", "text/plain")]),
            json.clone(),
            415,
        ),
        ("no content type", post.clone(), "/v1/logs", headers(&[("authorization", BEARER)]), json.clone(), 415),
        (
            "another content encoding",
            post.clone(),
            "/v1/logs",
            headers(&[("authorization", BEARER), ("content-type", "application/json"), ("content-encoding", "br")]),
            json.clone(),
            415,
        ),
        (
            "truncated protobuf",
            post.clone(),
            "/v1/logs",
            protobuf_headers(),
            protobuf[..protobuf.len() / 2].to_vec(),
            400,
        ),
        ("garbage", post.clone(), "/v1/logs", protobuf_headers(), garbage.clone(), 400),
        ("garbage as JSON", post.clone(), "/v1/logs", json_headers(), format!("{{{CANARY}").into_bytes(), 400),
        (
            "truncated gzip",
            post.clone(),
            "/v1/logs",
            protobuf_headers(),
            gzip(&protobuf)[..gzip(&protobuf).len() / 2].to_vec(),
            400,
        ),
        ("gzip bomb", post.clone(), "/v1/logs", protobuf_headers(), bomb.clone(), 413),
        ("oversize body", post.clone(), "/v1/logs", json_headers(), oversize, 413),
        ("empty JSON body", post.clone(), "/v1/logs", json_headers(), Vec::new(), 400),
        ("blank JSON body", post.clone(), "/v1/logs", json_headers(), b" \n".to_vec(), 400),
        ("protobuf sent as JSON", post.clone(), "/v1/logs", json_headers(), protobuf.clone(), 400),
        ("metrics without token", post.clone(), "/v1/metrics", HeaderMap::new(), metrics.clone(), 401),
        ("truncated metrics protobuf", post.clone(), "/v1/metrics", protobuf_headers(), metrics_cut, 400),
        ("metrics gzip bomb", post.clone(), "/v1/metrics", protobuf_headers(), bomb.clone(), 413),
        (
            "metrics wrong content type",
            post.clone(),
            "/v1/metrics",
            headers(&[("authorization", BEARER), ("content-type", "application/grpc")]),
            metrics.clone(),
            415,
        ),
        ("wrong path", post.clone(), "/v1/traces", json_headers(), json.clone(), 404),
        ("path with a prefix", post.clone(), "/x/v1/logs", json_headers(), json.clone(), 404),
        ("wrong method", Method::GET, "/v1/logs", json_headers(), json.clone(), 405),
        ("wrong method without token", Method::GET, "/v1/logs", HeaderMap::new(), Vec::new(), 401),
    ];
    let canaries = [CANARY.to_owned(), TOKEN.to_owned()];
    for (case, method, path, headers, body, status) in cases {
        let reply = endpoint.respond(&method, path, &headers, &body, None).await;
        assert_eq!(reply.status, status, "{case}");
        assert_eq!(reply.summary.status, status, "{case}: the summary names the status");
        assert!(reply.body.is_empty(), "{case}: an error answer has no body");
        assert!(reply.header("retry-after").is_none(), "{case}: not retryable");
        assert_no_canary(&reply, &canaries, case);
        if status == 405 {
            assert_eq!(reply.header("allow"), Some("POST"));
        }
        // The EMF line counts one invocation, nothing received, and a payload error for a
        // malformed body only (the sanitizer's PayloadErrors).
        let emf = emf(&reply);
        assert_eq!((emf["Invocations"].as_u64(), emf["EventsReceived"].as_u64()), (Some(1), Some(0)), "{case}");
        assert_eq!(emf["PayloadErrors"].as_u64(), Some(u64::from(status == 400)), "{case}: {emf}");
    }
    assert!(stream_names(&client, group).await.is_empty(), "nothing was written");

    // The empty protobuf body is the empty request: 200, the empty response, nothing written.
    let reply = endpoint.respond(&Method::POST, "/v1/logs", &protobuf_headers(), b"", None).await;
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("application/x-protobuf")));
    assert_eq!(ExportLogsServiceResponse::decode(&reply.body[..]).unwrap(), ExportLogsServiceResponse::default());
    assert_eq!((reply.summary.received, reply.summary.written), (0, 0));
    assert!(stream_names(&client, group).await.is_empty(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_writes_its_sanitized_lines_and_counts_what_was_dropped() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let group = "/endpoint/canary";
    create_group(&client, group).await;
    let endpoint = endpoint_at(&moto.url(), group).await;
    let json = canary_request();

    // JSON in, JSON out: one record kept, one dropped by the allowlist.
    let reply = endpoint.respond(&Method::POST, "/v1/logs", &json_headers(), &json, None).await;
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("application/json")), "{:?}", reply.summary);
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedLogRecords"].as_i64(), Some(1), "{answer}");
    let message = partial["errorMessage"].as_str().unwrap();
    assert_eq!(message, "1 log records not stored: dropped by the allowlist (event_not_allowed 1)");
    assert_eq!((reply.summary.received, reply.summary.written, reply.summary.partial_rejected), (2, 1, 1));
    assert_no_canary(&reply, &[CANARY.to_owned(), TOKEN.to_owned()], "json");
    // The request's line is an EMF document under the sanitizer's metric names, so the alarms
    // on drops and the daily budget count the endpoint's requests too.
    let emf = emf(&reply);
    let declared: Vec<&str> = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    // Of the two records, one api_request is written (the other event is not kept), no prompt.
    for (name, want) in [
        ("Invocations", 1),
        ("EventsReceived", 2),
        ("EventsWritten", 1),
        ("EventsDropped", 1),
        ("InputTokens", 12),
        ("ApiRequests", 1),
        ("UserPrompts", 0),
    ] {
        assert!(declared.contains(&name), "{name} not declared: {emf}");
        assert_eq!(emf[name].as_u64(), Some(want), "{name}: {emf}");
    }
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ClaudeOtelSanitizer/test");
    assert_eq!((emf["message"].as_str(), emf["status"].as_u64()), (Some("otlp request"), Some(200)));

    // The same request in protobuf, content type with a parameter, as gzip: protobuf out.
    let protobuf = gzip(&protobuf_of(&json));
    let headers = headers(&[
        ("authorization", BEARER),
        ("content-type", "application/x-protobuf; charset=binary"),
        ("content-encoding", "gzip"),
    ]);
    let reply = endpoint.respond(&Method::POST, "/v1/logs", &headers, &protobuf, None).await;
    assert_eq!(reply.status, 200);
    let answer = ExportLogsServiceResponse::decode(&reply.body[..]).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!((partial.rejected_log_records, partial.error_message.as_str()), (1, message));

    // Both requests wrote the same line (same record, same keyed sourceEventId).
    let stored = read_stream(&client, group, DEFAULT_LOGS_STREAM).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0].1, stored[1].1);
    assert!(stored[0].1.contains("\"input_tokens\":12") && !stored[0].1.contains(CANARY), "{}", stored[0].1);
}

/// The OTLP/JSON time fields (nanoseconds as strings, as the client writes them).
const TIME_FIELDS: [&str; 3] = ["timeUnixNano", "observedTimeUnixNano", "startTimeUnixNano"];

/// Every time field anywhere in `v` moved by `shift_ns` (or, with `None`, the latest one found).
fn shift_times(v: &mut Value, shift_ns: Option<i128>, latest: &mut i128) {
    match v {
        Value::Object(map) => {
            for (k, field) in map.iter_mut() {
                match (TIME_FIELDS.contains(&k.as_str()), field.as_str().and_then(|t| t.parse::<i128>().ok())) {
                    (true, Some(t)) if t > 0 => match shift_ns {
                        Some(shift) => *field = Value::String((t + shift).to_string()),
                        None => *latest = (*latest).max(t),
                    },
                    _ => shift_times(field, shift_ns, latest),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| shift_times(i, shift_ns, latest)),
        _ => {}
    }
}

/// The OTLP/JSON bodies in `dir`, in file order, moved so the latest time is a minute ago
/// (CloudWatch and moto refuse events older than 14 days).
fn bodies_moved_to_now(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut bodies: Vec<Value> =
        files.iter().map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()).collect();
    assert!(!bodies.is_empty(), "bodies in {}", dir.display());
    let mut latest = 0;
    bodies.iter_mut().for_each(|b| shift_times(b, None, &mut latest));
    assert!(latest > 0, "recorded bodies carry times");
    let shift = now_ns() as i128 - 60_000_000_000 - latest;
    bodies.iter_mut().for_each(|b| shift_times(b, Some(shift), &mut latest));
    bodies.iter().map(|b| b.to_string().into_bytes()).collect()
}

/// A recorded scenario's logs bodies, moved to now.
fn recorded_bodies(scenario: &str) -> Vec<Vec<u8>> {
    bodies_moved_to_now(&root().join("fixtures/record/raw").join(scenario))
}

/// What `sanitize --otlp` prints for `bodies`, in-process: the CLI's own path (the handler's
/// `prepare_with` with the receiver, every body prepared first, then written in order through
/// a stdout sink). In-process rather than the binary, so the lines are this source's.
async fn cli_lines(bodies: &[Vec<u8>]) -> Vec<String> {
    let key = key();
    let receiver = Receiver::new(Some(&key), DEFAULT_MAX_REQUEST_BYTES);
    let settings = HandlerSettings { max_decompressed: DEFAULT_MAX_REQUEST_BYTES, log_stream: None, concurrency: 1 };
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), Some(key.clone())),
        StdoutSink::new(Vec::new()),
        StreamNamer::new(Some(&key)),
        settings,
    );
    let received_ms = now_ms();
    let prepared: Vec<_> = bodies
        .iter()
        .map(|body| handler.prepare_with("otlp".to_owned(), |s| receiver.sanitize_any(s, body, received_ms)).unwrap())
        .collect();
    for p in prepared {
        assert_eq!(handler.handle_payload(p, None).await.error, None);
    }
    String::from_utf8(handler.into_sink().into_inner()).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_gives_the_lines_sanitize_otlp_prints() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let canaries = recorded_canaries();
    let receiver = LogsReceiver::new(Some(&key()), DEFAULT_MAX_REQUEST_BYTES);
    let sanitizer = sanitizer();
    let mut dropped_somewhere = false;
    for scenario in ["bash", "subagent"] {
        let bodies = recorded_bodies(scenario);
        for (form, encode) in [("json", false), ("protobuf", true)] {
            let group = format!("/endpoint/{scenario}/{form}");
            create_group(&client, &group).await;
            let endpoint = endpoint_at(&moto.url(), &group).await;
            let mut sent = Vec::new();
            for body in &bodies {
                let (body, headers) =
                    if encode { (protobuf_of(body), protobuf_headers()) } else { (body.clone(), json_headers()) };
                let reply = endpoint.respond(&Method::POST, "/v1/logs", &headers, &body, None).await;
                assert_eq!(reply.status, 200, "{scenario} {form}: {:?}", reply.summary);
                assert_no_canary(&reply, &canaries, scenario);
                // partialSuccess counts what the receiver's sanitizer drops for this body.
                let expected = receiver.sanitize(&sanitizer, &body, 0).unwrap().counts.dropped_total();
                let rejected = if encode {
                    let answer = ExportLogsServiceResponse::decode(&reply.body[..]).unwrap();
                    answer.partial_success.map_or(0, |p| p.rejected_log_records)
                } else {
                    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
                    answer["partialSuccess"]["rejectedLogRecords"].as_i64().unwrap_or(0)
                };
                assert_eq!(rejected, i64::try_from(expected).unwrap(), "{scenario} {form}");
                dropped_somewhere |= expected > 0;
                sent.push(body);
            }
            let mut stored: Vec<String> =
                read_stream(&client, &group, DEFAULT_LOGS_STREAM).await.into_iter().map(|(_, m)| m).collect();
            let mut expected = cli_lines(&sent).await;
            assert!(!expected.is_empty(), "{scenario}: the CLI prints lines");
            stored.sort();
            expected.sort();
            assert_eq!(stored, expected, "{scenario} {form}: the group holds what sanitize --otlp prints");
            for line in &stored {
                for canary in &canaries {
                    assert!(!line.contains(canary.as_str()), "{scenario}: {canary} stored");
                }
            }
        }
    }
    assert!(dropped_somewhere, "the recordings hold events the allowlist drops");
}

/// A JSON body of two kept records 25 hours apart: two `PutLogEvents` batches.
fn two_batch_request() -> Vec<u8> {
    let now = now_ns() - 60_000_000_000;
    let record = |t: u128, tokens: u32| {
        json!({"timeUnixNano": t.to_string(), "body": {"stringValue": "claude_code.api_request"}, "attributes": [
            {"key": "event.name", "value": {"stringValue": "api_request"}},
            {"key": "input_tokens", "value": {"intValue": tokens.to_string()}},
        ]})
    };
    json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        record(now - 25 * 3_600_000_000_000, 1), record(now, 2),
    ]}]}]})
    .to_string()
    .into_bytes()
}

async fn through_stand_in(group: &str, script: Script) -> (Moto, StandIn, Endpoint<CloudWatchSink>, Reply) {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, group).await;
    let stand_in = StandIn::start(moto.port, script).await;
    let endpoint = endpoint_at(&stand_in.url(), group).await;
    let reply = endpoint.respond(&Method::POST, "/v1/logs", &json_headers(), &two_batch_request(), None).await;
    (moto, stand_in, endpoint, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_answers_429_with_retry_after_even_after_a_stored_batch() {
    // The first PutLogEvents is stored; every later one is throttled.
    let script: Script = Arc::new(|op, n| match (op, n) {
        ("PutLogEvents", 0) => Answer::Forward,
        ("PutLogEvents", _) => Answer::Status(400, "ThrottlingException"),
        _ => Answer::Forward,
    });
    let group = "/endpoint/throttled";
    let (moto, stand_in, _endpoint, reply) = through_stand_in(group, script).await;
    assert_eq!(reply.status, 429, "{:?}", reply.summary);
    assert_eq!(reply.header("retry-after"), Some("2"));
    assert!(reply.body.is_empty());
    assert!(stand_in.calls("PutLogEvents") >= 2);
    let stored = read_stream(&logs_client(&moto.url()).await, group, DEFAULT_LOGS_STREAM).await;
    assert_eq!(stored.len(), 1, "one batch was stored before the throttling: {stored:?}");
    assert_eq!((reply.summary.written, reply.summary.unwritten), (1, 1));
    let line = reply.summary.line();
    assert!(line.contains("ThrottlingException") && line.contains("\"status\":429"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_group_answers_503_with_retry_after() {
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Status(503, "ServiceUnavailableException"),
        _ => Answer::Forward,
    });
    let group = "/endpoint/unavailable";
    let (moto, _stand_in, _endpoint, reply) = through_stand_in(group, script).await;
    assert_eq!((reply.status, reply.header("retry-after")), (503, Some("5")), "{:?}", reply.summary);
    assert!(reply.body.is_empty());
    let stored = read_stream(&logs_client(&moto.url()).await, group, DEFAULT_LOGS_STREAM).await;
    assert!(stored.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_metrics_give_the_lines_sanitize_otlp_prints_and_count_cumulative_points() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    let canaries = recorded_canaries();
    let receiver = MetricsReceiver::new(Some(&key()), DEFAULT_MAX_REQUEST_BYTES);
    let sanitizer = sanitizer();
    for (scenario, variant) in [("edits", "json-delta"), ("edits", "json-cumulative"), ("subagent", "json-delta")] {
        let bodies = bodies_moved_to_now(&root().join("fixtures/record/raw-metrics").join(scenario).join(variant));
        for (form, encode) in [("json", false), ("protobuf", true)] {
            let group = format!("/endpoint/metrics/{scenario}/{variant}/{form}");
            create_group(&client, &group).await;
            let endpoint = endpoint_at(&moto.url(), &group).await;
            let (mut sent, mut dropped, mut written) = (Vec::new(), 0, 0);
            for body in &bodies {
                let (body, headers) = if encode {
                    let request = sanitizer_otlp::decode_metrics(body, DEFAULT_MAX_REQUEST_BYTES).unwrap();
                    (request.encode_to_vec(), protobuf_headers())
                } else {
                    (body.clone(), json_headers())
                };
                let reply = endpoint.respond(&Method::POST, "/v1/metrics", &headers, &body, None).await;
                let case = format!("{scenario} {variant} {form}");
                assert_eq!(reply.status, 200, "{case}: {:?}", reply.summary);
                assert_no_canary(&reply, &canaries, &case);
                let expected = receiver.sanitize(&sanitizer, &body, 0).unwrap().counts.dropped_total();
                let rejected = if encode {
                    let answer = ExportMetricsServiceResponse::decode(&reply.body[..]).unwrap();
                    answer.partial_success.map_or(0, |p| p.rejected_data_points)
                } else {
                    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
                    answer["partialSuccess"]["rejectedDataPoints"].as_i64().unwrap_or(0)
                };
                assert_eq!(rejected, i64::try_from(expected).unwrap(), "{case}");
                dropped += expected;
                written += reply.summary.written;
                sent.push(body);
            }
            if variant == "json-cumulative" {
                assert!(dropped > 0, "{scenario}: cumulative points are counted as dropped");
            } else {
                assert!(written > 0, "{scenario} {variant}: delta points are written");
            }
            let mut stored: Vec<String> = if written > 0 {
                read_stream(&client, &group, DEFAULT_METRICS_STREAM).await.into_iter().map(|(_, m)| m).collect()
            } else {
                Vec::new()
            };
            let mut expected = cli_lines(&sent).await;
            stored.sort();
            expected.sort();
            assert_eq!(stored, expected, "{scenario} {variant} {form}: the group holds what sanitize --otlp prints");
            for line in &stored {
                assert!(line.starts_with("{\"metric\":\"claude_code."), "{line}");
                for canary in &canaries {
                    assert!(!line.contains(canary.as_str()), "{scenario}: {canary} stored");
                }
            }
        }
    }
}
