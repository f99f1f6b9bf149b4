//! Fault injection: a local HTTP stand-in (tests/stand_in) in front of moto_server answers some
//! calls itself (throttling, 503, persistent 500, a `rejectedLogEventsInfo` answer, a response
//! that never comes) and forwards the rest.

mod common;
mod stand_in;

use common::*;
use sanitizer_aws::plan::plan;
use sanitizer_aws::sink::{CloudWatchSink, FailureKind, Rejected, RetrySettings, write_plan};
use sanitizer_core::SanitizedEvent;
use stand_in::{Answer, Script, StandIn};
use std::sync::Arc;
use std::time::Duration;

/// Fast bounds, so that the persistent-failure and hang cases finish in seconds.
fn quick() -> RetrySettings {
    RetrySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        attempt_timeout: Duration::from_millis(800),
        operation_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
    }
}

fn events(n: usize) -> Vec<SanitizedEvent> {
    let start = now_ms() - 60_000;
    (0..n).map(|i| SanitizedEvent { timestamp: start + i as i64, message: format!("{{\"n\":{i}}}") }).collect()
}

async fn setup(group: &str, script: Script) -> (Moto, StandIn, CloudWatchSink, aws_sdk_cloudwatchlogs::Client) {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, group).await;
    let stand_in = StandIn::start(moto.port, script).await;
    let sink = CloudWatchSink::new(&sdk_config(&stand_in.url()).await, group, &quick());
    (moto, stand_in, sink, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_503_on_first_calls_then_everything_written_exactly_once() {
    let script: Script = Arc::new(|op, n| match (op, n) {
        ("CreateLogStream", 0) => Answer::Status(400, "ThrottlingException"),
        ("PutLogEvents", 0) => Answer::Status(400, "ThrottlingException"),
        ("PutLogEvents", 1) => Answer::Status(503, "ServiceUnavailableException"),
        _ => Answer::Forward,
    });
    let (_moto, stand_in, sink, client) = setup("/faults/transient", script).await;
    let input = events(30);
    let report = write_plan(&sink, "s", &plan(input.clone()), 4, None).await;
    assert_eq!((report.accepted, report.error), (30, None));
    assert_eq!(report.retries, 3, "one CreateLogStream retry, two PutLogEvents retries");
    assert_eq!((stand_in.calls("CreateLogStream"), stand_in.calls("PutLogEvents")), (2, 3));
    let stored = read_stream(&client, "/faults/transient", "s").await;
    let expected: Vec<(i64, String)> = input.into_iter().map(|e| (e.timestamp, e.message)).collect();
    assert_eq!(stored, expected, "every event exactly once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_is_an_error_after_bounded_retries() {
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Status(500, "InternalFailure"),
        _ => Answer::Forward,
    });
    let (_moto, stand_in, sink, _client) = setup("/faults/persistent", script).await;
    let report = write_plan(&sink, "s", &plan(events(10)), 4, None).await;
    let error = report.error.expect("the write must fail");
    assert_eq!(error.operation, "PutLogEvents");
    assert!(
        matches!(&error.kind, FailureKind::Service { status: 500, code } if code.as_str() == "InternalFailure"),
        "{error:?}"
    );
    assert_eq!((report.accepted, report.unwritten, report.failed_batches), (0, 10, 1));
    assert_eq!(stand_in.calls("PutLogEvents"), quick().max_attempts as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_log_events_info_is_counted_as_drops_by_reason() {
    // Of 10 events: [0,2) too old, [2,3) expired, [8,10) too new.
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Json(
            r#"{"nextSequenceToken":"1","rejectedLogEventsInfo":{"tooOldLogEventEndIndex":2,"expiredLogEventEndIndex":3,"tooNewLogEventStartIndex":8}}"#,
        ),
        _ => Answer::Forward,
    });
    let (_moto, _stand_in, sink, _client) = setup("/faults/rejected", script).await;
    let report = write_plan(&sink, "s", &plan(events(10)), 4, None).await;
    assert_eq!(report.error, None);
    assert_eq!(report.rejected, Rejected { too_old: 2, too_new: 2, expired: 1 });
    assert_eq!(report.accepted, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_response_is_a_timeout_not_a_hang() {
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Hang,
        _ => Answer::Forward,
    });
    let (_moto, _stand_in, sink, _client) = setup("/faults/hang", script).await;
    // The outer timeout only turns a hang into a failure message; the sink must give up first.
    let report = tokio::time::timeout(Duration::from_secs(60), write_plan(&sink, "s", &plan(events(3)), 4, None))
        .await
        .expect("the sink hung instead of timing out");
    let error = report.error.expect("the write must fail");
    assert_eq!(error.kind, FailureKind::Timeout, "{error:?}");
    assert_eq!(report.unwritten, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invocation_deadline_stops_a_slow_write() {
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Hang,
        _ => Answer::Forward,
    });
    let (_moto, _stand_in, _sink, _client) = setup("/faults/deadline", script.clone()).await;
    let slow = RetrySettings {
        attempt_timeout: Duration::from_secs(120),
        operation_timeout: Duration::from_secs(120),
        ..quick()
    };
    let sink = CloudWatchSink::new(&sdk_config(&_stand_in.url()).await, "/faults/deadline", &slow);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let report =
        tokio::time::timeout(Duration::from_secs(60), write_plan(&sink, "s", &plan(events(3)), 4, Some(deadline)))
            .await
            .expect("the deadline was not honoured");
    assert_eq!(report.error.map(|e| e.kind), Some(FailureKind::Deadline));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_returns_an_error_on_persistent_5xx_and_counts_the_unwritten() {
    use sanitizer_aws::handler::{Handler, HandlerError, HandlerSettings};
    use sanitizer_core::StreamNamer;
    use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, Sanitizer};
    let script: Script = Arc::new(|op, _| match op {
        "PutLogEvents" => Answer::Status(503, "ServiceUnavailableException"),
        _ => Answer::Forward,
    });
    let (_moto, _stand_in, sink, _client) = setup("/faults/handler", script).await;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/synthetic/all-events.object.json");
    let mut payload = payload_of(&std::fs::read(file).unwrap());
    retime_to_now(&mut payload);
    let handler = Handler::new(
        Sanitizer::new(Allowlist::embedded(), None),
        sink,
        StreamNamer::new(None),
        HandlerSettings { max_decompressed: DEFAULT_MAX_DECOMPRESSED_BYTES, log_stream: None, concurrency: 4 },
    );
    let report = handler.handle(&envelope_of(&payload), None).await;
    assert!(report.counts.written > 0);
    assert_eq!(report.write.unwritten, report.counts.written);
    let error = report.into_result().unwrap_err();
    assert!(matches!(error, HandlerError::Write(_)), "{error:?}");
    assert_eq!(error.error_type(), "WriteError");
}
