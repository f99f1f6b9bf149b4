//! Shared by the digest's moto tests (tests/digest_moto.rs) and the digest function's runtime
//! test (crates/digest-lambda/tests): the two-week corpus stored in a moto group, the CLI's
//! digest of it, and a local stand-in for the Slack webhook.
#![allow(dead_code)]

use super::common::{Moto, create_group, logs_client};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

pub const GROUP: &str = "/claude-otel/claude-code/sanitized";
/// The corpus' own window end (2026-11-30T00:00:00Z), in ns.
pub const CORPUS_END_NS: i128 = 1_795_996_800_000_000_000;
/// moto (like CloudWatch) refuses events older than 14 days: 2 × 6 days fit.
pub const DAYS: &str = "6";

/// The CLI's `digest` with `args`, its AWS calls to moto_server at `endpoint` (test credentials).
pub fn digest_cli(args: &[&str], endpoint: &str) -> std::process::Output {
    Command::new(super::common::cli_bin())
        .arg("digest")
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap()
}

/// The JSON digest of the last [`DAYS`] days with `args`, which must succeed.
pub fn digest(args: &[&str], endpoint: &str) -> Value {
    let out = digest_cli(&[&["--format", "json", "--days", DAYS], args].concat(), endpoint);
    assert!(out.status.success(), "digest {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A moto_server holding the corpus moved to end at the last whole minute, in [`GROUP`]; also
/// the same messages as a file, and the window end.
pub struct Stored {
    pub moto: Moto,
    pub file: PathBuf,
    pub until: OffsetDateTime,
}

pub async fn stored_corpus(tag: &str) -> Stored {
    store(tag, None).await
}

/// The lake's bucket in [`stored_corpus_with_lake`], and the prefix its delivery stream writes.
pub const LAKE_BUCKET: &str = "claude-otel-lake";
pub const LAKE_PREFIX: &str = "sanitized";

/// As [`stored_corpus`], with the group subscribed to a Firehose delivery stream into
/// [`LAKE_BUCKET`] before anything is written: moto delivers each `PutLogEvents` batch to it as
/// a gzip subscription document, in an object under `sanitized/YYYY/MM/DD/HH/` (Firehose's
/// default layout; moto does not implement the message extraction the template configures).
pub async fn stored_corpus_with_lake(tag: &str) -> Stored {
    store(tag, Some(LAKE_BUCKET)).await
}

async fn subscribe_to_lake(moto: &Moto, bucket: &str) {
    let sdk = super::common::sdk_config(&moto.url()).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(bucket).send().await.expect("CreateBucket");
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let role = "arn:aws:iam::123456789012:role/lake-delivery";
    let destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
        .role_arn(role)
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix(format!("{LAKE_PREFIX}/"))
        .build()
        .unwrap();
    let created = firehose
        .create_delivery_stream()
        .delivery_stream_name("lake")
        .extended_s3_destination_configuration(destination)
        .send()
        .await
        .expect("CreateDeliveryStream");
    let client = logs_client(&moto.url()).await;
    create_group(&client, GROUP).await;
    client
        .put_subscription_filter()
        .log_group_name(GROUP)
        .filter_name("lake")
        .filter_pattern("")
        .destination_arn(created.delivery_stream_arn().expect("an ARN"))
        .role_arn("arn:aws:iam::123456789012:role/logs-to-firehose")
        .send()
        .await
        .expect("PutSubscriptionFilter");
}

async fn store(tag: &str, lake: Option<&str>) -> Stored {
    // Move the corpus so that its window ends at the last whole minute.
    let now = OffsetDateTime::now_utc().unix_timestamp() / 60 * 60;
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    let shift = i128::from(now) * 1_000_000_000 - CORPUS_END_NS;
    let span_ns = 2 * 6 * 86_400 * 1_000_000_000_i128;
    // The event lines and the metric lines of the productivity section (the endpoint's), moved
    // by the same shift.
    let read = |name: &str| std::fs::read_to_string(super::common::root().join("fixtures/digest").join(name)).unwrap();
    let corpus = read("two-weeks.ndjson") + &read("metric-lines.ndjson");
    let mut events: Vec<(i64, String)> = Vec::new();
    for line in corpus.lines() {
        let mut m: Value = serde_json::from_str(line).unwrap();
        let t: i128 = m["timeUnixNano"].as_str().unwrap().parse::<i128>().unwrap() + shift;
        if t < CORPUS_END_NS + shift - span_ns + 60_000_000_000 || t >= CORPUS_END_NS + shift {
            continue; // moto's 14-day limit, and nothing in the future
        }
        m["timeUnixNano"] = Value::String(t.to_string());
        if let Some(start) = m["startTimeUnixNano"].as_str() {
            m["startTimeUnixNano"] = Value::String((start.parse::<i128>().unwrap() + shift).to_string());
        }
        events.push((i64::try_from(t / 1_000_000).unwrap(), m.to_string()));
    }
    assert!(events.len() > 1000);
    assert!(events.iter().any(|(_, m)| m.contains("\"metric\":\"claude_code.")), "metric lines in the window");
    // PutLogEvents takes a batch in time order.
    events.sort_by_key(|(t, _)| *t);

    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    match lake {
        Some(bucket) => subscribe_to_lake(&moto, bucket).await,
        None => create_group(&client, GROUP).await,
    }
    client.create_log_stream().log_group_name(GROUP).log_stream_name("s").send().await.expect("CreateLogStream");
    for batch in events.chunks(500) {
        let input: Vec<_> = batch
            .iter()
            .map(|(ts, m)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(*ts).message(m).build().unwrap()
            })
            .collect();
        let out = client
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name("s")
            .set_log_events(Some(input))
            .send()
            .await
            .expect("PutLogEvents");
        assert!(out.rejected_log_events_info().is_none(), "moto rejected events");
    }

    let dir = std::env::temp_dir().join(format!("digest-moto-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("group.ndjson");
    std::fs::write(&file, events.iter().map(|(_, m)| format!("{m}\n")).collect::<String>()).unwrap();
    Stored { moto, file, until }
}

/// Each request the receiver got: (body, content type).
pub type Received = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A local stand-in for the Slack webhook: records each body, answers with the scripted statuses
/// (then 200).
pub struct Receiver {
    port: u16,
    bodies: Received,
}

impl Receiver {
    pub async fn start(statuses: Vec<u16>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies: Received = Arc::default();
        let (seen, statuses) = (bodies.clone(), Arc::new(statuses));
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else { return };
                let (seen, statuses) = (seen.clone(), statuses.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (seen, statuses) = (seen.clone(), statuses.clone());
                        async move {
                            let content_type =
                                req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                            let body = req.into_body().collect().await?.to_bytes();
                            let n = {
                                let mut seen = seen.lock().unwrap();
                                seen.push((String::from_utf8_lossy(&body).into_owned(), content_type));
                                seen.len() - 1
                            };
                            let status = statuses.get(n).copied().unwrap_or(200);
                            Ok::<_, hyper::Error>(
                                Response::builder().status(status).body(Full::new(Bytes::from_static(b"ok"))).unwrap(),
                            )
                        }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(conn), service).await;
                });
            }
        });
        Receiver { port, bodies }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/services/T000/B000/XXXX", self.port)
    }

    pub fn bodies(&self) -> Vec<(String, Option<String>)> {
        self.bodies.lock().unwrap().clone()
    }
}
