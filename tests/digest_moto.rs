//! The digest read from the sanitized group and from the data lake, against moto_server: the
//! corpus (event lines and the endpoint's metric lines), moved to end now, is written to a group
//! with PutLogEvents. `digest --log-group` (FilterLogEvents) has the same figures as the digest of
//! the same messages read from a file, and refuses, naming `--s3`, windows it could not page
//! through in time; with the group subscribed to Firehose, `digest --s3` reads the objects moto
//! delivers to S3, and the objects of the template's layout (one message per line, by day), with
//! the same figures again. The scheduled digest ([`deliver`], what `digest-lambda` runs) posts
//! exactly the CLI's `slack` output to a local webhook receiver, from the group or the lake,
//! retrying a 503 and giving up at once on a 400.

mod common;
mod digest_support;

use common::logs_client;
use sanitizer_digest::deliver::{DeliverError, Settings, Source, deliver};
use sanitizer_digest::lake::Location;
use std::process::Command;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;

use digest_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_of_the_group_equals_the_digest_of_its_messages() {
    let Stored { moto, file, until } = stored_corpus("cli").await;
    let until = until.format(&Rfc3339).unwrap();
    let endpoint = moto.url();
    let from_group = tokio::task::spawn_blocking({
        let (until, endpoint) = (until.clone(), endpoint.clone());
        move || digest(&["--until", &until, "--log-group", GROUP], &endpoint)
    })
    .await
    .unwrap();
    let from_file = digest(&["--until", &until, file.to_str().unwrap()], &endpoint);
    assert!(from_group["totals"]["requests"]["value"].as_u64().unwrap() > 100);
    assert!(from_group["totals"]["requests"]["previous"].as_u64().unwrap() > 100);
    // The metric lines in the group too: the productivity section is figured from them.
    let productivity = &from_group["productivity"]["total"];
    assert!(productivity["lines_added"]["value"].as_u64().unwrap() > 0, "{productivity}");
    assert!(productivity["commits"]["value"].as_u64().unwrap() > 0, "{productivity}");
    // Every section (the usage sections included), whatever sections the digest has: only the input
    // counts may differ in how they were read.
    let sections: Vec<&String> = from_file.as_object().unwrap().keys().filter(|k| *k != "input").collect();
    assert!(sections.len() >= 20, "{sections:?}");
    for key in sections {
        assert_eq!(from_group[key], from_file[key], "{key}");
    }
    assert_eq!(from_group.as_object().unwrap().len(), from_file.as_object().unwrap().len());
    assert_eq!(from_group["input"]["used"], from_file["input"]["used"]);
    assert_eq!(from_group["input"]["duplicates"], from_file["input"]["duplicates"]);
    assert_eq!(from_group["input"]["refused"], 0);

    // A group that does not exist is an input error, and prints nothing.
    let out = digest_cli(&["--until", &until, "--log-group", "/no/such/group"], &endpoint);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_digest_posts_the_slack_digest_and_retries_transient_failures() {
    let Stored { moto, file, until } = stored_corpus("deliver").await;
    let logs = logs_client(&moto.url()).await;
    let group = |group| Source::Group { logs: &logs, group, budget_seconds: 600 };
    let end_ns = u64::try_from(until.unix_timestamp_nanos()).unwrap();
    let until_text = until.format(&Rfc3339).unwrap();
    let settings = Settings { days: 6, first_delay: Duration::from_millis(20), ..Settings::default() };

    // What the CLI prints for the same messages: the exact payload expected.
    let expected = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--format", "slack", "--days", DAYS, "--until", &until_text])
        .arg(&file)
        .output()
        .unwrap();
    assert!(expected.status.success());
    let expected = String::from_utf8(expected.stdout).unwrap();
    assert!(expected.contains("\"blocks\""));

    // A 503, then accepted: posted twice, the same exact body.
    let receiver = Receiver::start(vec![503]).await;
    let delivered = deliver(group(GROUP), &receiver.url(), end_ns, &settings).await.expect("delivered");
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "one retry after the 503");
    for (body, content_type) in &bodies {
        assert_eq!(body, &expected, "the webhook receives exactly the slack format");
        assert_eq!(content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(delivered.bytes, expected.len());
    assert!(delivered.counts.used > 1000);

    // Always 500: gives up after the configured attempts, and says so.
    let receiver = Receiver::start(vec![500; 10]).await;
    let err = deliver(group(GROUP), &receiver.url(), end_ns, &settings).await.expect_err("gave up");
    assert!(matches!(err, DeliverError::GaveUp { status: 500, attempts: 4 }), "{err}");
    assert_eq!(receiver.bodies().len(), 4);

    // A 400 is not transient: one attempt, then a failure naming the status, not the URL.
    let receiver = Receiver::start(vec![400]).await;
    let err = deliver(group(GROUP), &receiver.url(), end_ns, &settings).await.expect_err("refused");
    assert!(matches!(err, DeliverError::Refused { status: 400 }), "{err}");
    assert_eq!(receiver.bodies().len(), 1);
    assert!(!err.to_string().contains("127.0.0.1") && !err.to_string().contains("XXXX"));

    // Nobody listening: retried, then unreachable. A plain-http URL elsewhere is refused unsent.
    let closed = format!("http://127.0.0.1:{}/hook", common::free_port());
    let err = deliver(group(GROUP), &closed, end_ns, &settings).await.expect_err("unreachable");
    assert!(matches!(err, DeliverError::Unreachable { attempts: 4, .. }), "{err}");
    let err = deliver(group(GROUP), "http://hooks.example.com/x", end_ns, &settings).await.expect_err("plain http");
    assert!(matches!(err, DeliverError::BadUrl));
    // A group that does not exist fails before anything is posted.
    let receiver = Receiver::start(vec![]).await;
    let err = deliver(group("/no/such/group"), &receiver.url(), end_ns, &settings).await.expect_err("no group");
    assert!(err.to_string().contains("ResourceNotFoundException"), "{err}");
    assert!(receiver.bodies().is_empty());
    std::fs::remove_file(&file).unwrap();
}

/// Every section of two digests' JSON is the same; only how the input was read may differ.
fn assert_same_figures(a: &serde_json::Value, b: &serde_json::Value) {
    let sections: Vec<&String> = b.as_object().unwrap().keys().filter(|k| *k != "input").collect();
    assert!(sections.len() >= 20, "{sections:?}");
    for key in sections {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a.as_object().unwrap().len(), b.as_object().unwrap().len());
    assert_eq!(a["input"]["used"], b["input"]["used"]);
    assert_eq!(a["input"]["refused"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_of_the_lake_equals_the_digest_of_its_messages() {
    let Stored { moto, file, until } = stored_corpus_with_lake("lake").await;
    let until_text = until.format(&Rfc3339).unwrap();
    let endpoint = moto.url();
    let lake = format!("s3://{LAKE_BUCKET}/{LAKE_PREFIX}");
    let sdk = common::sdk_config(&endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let delivered = s3.list_objects_v2().bucket(LAKE_BUCKET).send().await.unwrap();
    assert!(delivered.contents().len() >= 9, "moto delivered each PutLogEvents batch to the lake");

    // What moto's Firehose wrote: gzip subscription documents, under sanitized/YYYY/MM/DD/HH/.
    let from_file = digest(&["--until", &until_text, file.to_str().unwrap()], &endpoint);
    let from_lake = tokio::task::spawn_blocking({
        let (until, endpoint, lake) = (until_text.clone(), endpoint.clone(), lake.clone());
        move || digest(&["--until", &until, "--s3", &lake], &endpoint)
    })
    .await
    .unwrap();
    assert!(from_lake["totals"]["requests"]["value"].as_u64().unwrap() > 100);
    assert!(from_lake["productivity"]["total"]["commits"]["value"].as_u64().unwrap() > 0);
    assert_same_figures(&from_lake, &from_file);
    assert_eq!(from_lake["input"]["duplicates"], from_file["input"]["duplicates"]);

    // The template's layout: Firehose's message extraction writes one message per line, gzip, by
    // the day it arrived. The same lines split by day, one object delivered twice (Firehose
    // delivers at least once), and an object of a day outside the windows whose lines would
    // change the figures: it is not read.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut by_day: std::collections::BTreeMap<String, String> = Default::default();
    for line in text.lines() {
        let t: i128 =
            serde_json::from_str::<serde_json::Value>(line).unwrap()["timeUnixNano"].as_str().unwrap().parse().unwrap();
        let day = time::OffsetDateTime::from_unix_timestamp_nanos(t).unwrap().date();
        by_day.entry(day.to_string()).or_default().push_str(&format!("{line}\n"));
    }
    assert!(by_day.len() >= 12, "{:?}", by_day.keys());
    let put = |key: String, body: Vec<u8>| {
        let s3 = s3.clone();
        async move { s3.put_object().bucket(LAKE_BUCKET).key(key).body(body.into()).send().await.expect("PutObject") }
    };
    for (i, (day, lines)) in by_day.iter().enumerate() {
        let key = format!("extracted/dt={day}/claude-otel-lake-1-{day}-{i}.gz");
        put(key.clone(), common::gzip(lines.as_bytes())).await;
        if i == 3 {
            put(format!("{key}.again"), common::gzip(lines.as_bytes())).await;
        }
    }
    let first_day = by_day.keys().next().unwrap().clone();
    let stray = "extracted/dt=2020-01-01/x.gz".to_owned();
    put(stray, common::gzip(by_day[&first_day].replace("\"sourceEventId\":\"", "\"sourceEventId\":\"9").as_bytes()))
        .await;
    let extracted = format!("s3://{LAKE_BUCKET}/extracted");
    let from_extracted = tokio::task::spawn_blocking({
        let (until, endpoint) = (until_text.clone(), endpoint.clone());
        move || digest(&["--until", &until, "--s3", &extracted], &endpoint)
    })
    .await
    .unwrap();
    assert_same_figures(&from_extracted, &from_file);
    let again = by_day.values().nth(3).unwrap().lines().count() as u64;
    assert_eq!(
        from_extracted["input"]["duplicates"].as_u64().unwrap(),
        from_file["input"]["duplicates"].as_u64().unwrap() + again,
        "the object delivered twice is counted as duplicates"
    );

    // The scheduled digest reads the lake too, and posts what the CLI prints.
    let end_ns = u64::try_from(until.unix_timestamp_nanos()).unwrap();
    let settings = Settings { days: 6, ..Settings::default() };
    let expected =
        digest_cli(&["--format", "slack", "--days", DAYS, "--until", &until_text, file.to_str().unwrap()], &endpoint);
    let receiver = Receiver::start(vec![]).await;
    let location: Location = lake.parse().unwrap();
    let s3_reader = sanitizer_digest::lake::client(&sdk);
    deliver(Source::Lake { s3: &s3_reader, location: &location }, &receiver.url(), end_ns, &settings)
        .await
        .expect("delivered from the lake");
    assert_eq!(receiver.bodies()[0].0, String::from_utf8(expected.stdout).unwrap());

    // A bucket that does not exist, and a location that is not one: errors, nothing printed.
    let out = digest_cli(&["--until", &until_text, "--s3", "s3://no-such-bucket/x"], &endpoint);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "error: ListObjectsV2 failed: NoSuchBucket");
    let out = digest_cli(&["--s3", "https://bucket/x"], &endpoint);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_is_refused_when_its_windows_cannot_be_paged_in_time() {
    let Stored { moto, file, until } = stored_corpus("refuse").await;
    let until = until.format(&Rfc3339).unwrap();
    let endpoint = moto.url();
    let stored = logs_client(&endpoint).await.describe_log_groups().log_group_name_prefix(GROUP).send().await.unwrap();
    let stored = stored.log_groups()[0].stored_bytes().unwrap();
    assert!(stored > 1_000_000, "{stored}");
    // The estimate: stored bytes taken as 15 % of what was ingested, a page per MB, 5 a second.
    let pages = (stored as u64 * 100 / 15).div_ceil(1_000_000);
    let seconds = pages.div_ceil(5);
    let out = tokio::task::spawn_blocking({
        let (until, endpoint, budget) = (until.clone(), endpoint.clone(), (seconds - 1).to_string());
        move || digest_cli(&["--until", &until, "--log-group", GROUP, "--max-read-seconds", &budget], &endpoint)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let message = String::from_utf8(out.stderr).unwrap();
    assert!(message.contains(&format!("about {pages} FilterLogEvents pages, {seconds} s")), "{message}");
    assert!(message.contains("--s3 s3://bucket/prefix"), "{message}");
    // Within the budget, it reads.
    let out =
        digest_cli(&["--until", &until, "--log-group", GROUP, "--max-read-seconds", &seconds.to_string()], &endpoint);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&file).unwrap();
}
