//! The CloudWatch sink against moto_server: stream creation, ordered content, and a plan large
//! enough to need several batches arriving complete.

mod common;

use common::*;
use sanitizer_aws::plan::plan;
use sanitizer_aws::sink::{CloudWatchSink, RetrySettings, write_plan};
use sanitizer_core::SanitizedEvent;

fn events(n: usize, start: i64, width: usize) -> Vec<SanitizedEvent> {
    (0..n)
        .map(|i| SanitizedEvent {
            // Several events share each millisecond: order within ties must survive too.
            timestamp: start + (i / 3) as i64,
            message: format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(width)),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_stream_and_stores_every_event_in_order() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, "/sanitized/order").await;
    let sink = CloudWatchSink::new(&sdk_config(&moto.url()).await, "/sanitized/order", &RetrySettings::default());

    let input = events(50, now_ms() - 10_000, 10);
    let report = write_plan(&sink, "sanitized-a", &plan(input.clone()), 4, None).await;
    assert_eq!((report.accepted, report.batches, report.failed_batches), (50, 1, 0));
    assert_eq!(stream_names(&client, "/sanitized/order").await, ["sanitized-a"]);

    // A second write to the known stream (no CreateLogStream) and to a stream deleted behind
    // the sink's back (re-created).
    let more = events(5, now_ms() - 5_000, 1);
    let report = write_plan(&sink, "sanitized-a", &plan(more.clone()), 4, None).await;
    assert_eq!(report.accepted, 5);
    client.delete_log_stream().log_group_name("/sanitized/order").log_stream_name("sanitized-a").send().await.unwrap();
    let report = write_plan(&sink, "sanitized-a", &plan(more.clone()), 4, None).await;
    assert_eq!((report.accepted, report.error), (5, None));
    assert!(report.retries >= 1, "the re-creation counts as a retry");

    let stored = read_stream(&client, "/sanitized/order", "sanitized-a").await;
    let expected: Vec<(i64, String)> = more.into_iter().map(|e| (e.timestamp, e.message)).collect();
    assert_eq!(stored, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_thousand_events_arrive_complete_in_several_batches() {
    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, "/sanitized/large").await;
    let sink = CloudWatchSink::new(&sdk_config(&moto.url()).await, "/sanitized/large", &RetrySettings::default());

    // 25,000 events of ~220 bytes: ~5.5 MB, so both the count and the byte limit split batches.
    let input = events(25_000, now_ms() - 3_600_000, 200);
    let total_bytes: usize = input.iter().map(|e| e.message.len()).sum();
    assert!(total_bytes > 5_000_000);
    let p = plan(input.clone());
    assert!(p.batches.len() >= 6, "{} batches", p.batches.len());
    let report = write_plan(&sink, "sanitized-big", &p, 4, None).await;
    assert_eq!((report.accepted, report.failed_batches, report.error), (25_000, 0, None));
    assert_eq!(report.batches, p.batches.len() as u64);

    let stored = read_stream(&client, "/sanitized/large", "sanitized-big").await;
    let mut expected: Vec<(i64, String)> = input.into_iter().map(|e| (e.timestamp, e.message)).collect();
    expected.sort();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(stored.len(), 25_000);
    // Complete, nothing twice: the same multiset. (Batches run concurrently, and moto orders
    // equal timestamps by arrival, so compare content sorted; timestamp order is checked below.)
    assert_eq!(stored_sorted, expected);
    assert!(stored.windows(2).all(|w| w[0].0 <= w[1].0), "GetLogEvents returns time order");
}
