//! The digest read from the sanitized group, against moto_server: the corpus (event lines and
//! the endpoint's metric lines), moved to end now, is written to a group with PutLogEvents. `digest --log-group` (FilterLogEvents) has the
//! same figures as the digest of the same messages read from a file, and the scheduled digest
//! ([`deliver`], what `digest-lambda` runs) posts exactly the CLI's `slack` output to a local
//! webhook receiver, retrying a 503 and giving up at once on a 400.

mod common;
mod digest_support;

use common::logs_client;
use sanitizer_digest::deliver::{DeliverError, Settings, deliver};
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
    let out = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--until", &until, "--log-group", "/no/such/group"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_digest_posts_the_slack_digest_and_retries_transient_failures() {
    let Stored { moto, file, until } = stored_corpus("deliver").await;
    let logs = logs_client(&moto.url()).await;
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
    let delivered = deliver(&logs, GROUP, &receiver.url(), end_ns, &settings).await.expect("delivered");
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
    let err = deliver(&logs, GROUP, &receiver.url(), end_ns, &settings).await.expect_err("gave up");
    assert!(matches!(err, DeliverError::GaveUp { status: 500, attempts: 4 }), "{err}");
    assert_eq!(receiver.bodies().len(), 4);

    // A 400 is not transient: one attempt, then a failure naming the status, not the URL.
    let receiver = Receiver::start(vec![400]).await;
    let err = deliver(&logs, GROUP, &receiver.url(), end_ns, &settings).await.expect_err("refused");
    assert!(matches!(err, DeliverError::Refused { status: 400 }), "{err}");
    assert_eq!(receiver.bodies().len(), 1);
    assert!(!err.to_string().contains("127.0.0.1") && !err.to_string().contains("XXXX"));

    // Nobody listening: retried, then unreachable. A plain-http URL elsewhere is refused unsent.
    let closed = format!("http://127.0.0.1:{}/hook", common::free_port());
    let err = deliver(&logs, GROUP, &closed, end_ns, &settings).await.expect_err("unreachable");
    assert!(matches!(err, DeliverError::Unreachable { attempts: 4, .. }), "{err}");
    let err = deliver(&logs, GROUP, "http://hooks.example.com/x", end_ns, &settings).await.expect_err("plain http");
    assert!(matches!(err, DeliverError::BadUrl));
    // A group that does not exist fails before anything is posted.
    let receiver = Receiver::start(vec![]).await;
    let err = deliver(&logs, "/no/such/group", &receiver.url(), end_ns, &settings).await.expect_err("no group");
    assert!(err.to_string().contains("ResourceNotFoundException"), "{err}");
    assert!(receiver.bodies().is_empty());
    std::fs::remove_file(&file).unwrap();
}
