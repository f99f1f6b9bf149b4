//! `digest --log-group` against moto_server: the corpus, moved to end now, is written to a
//! sanitized group with PutLogEvents, and the digest read back through FilterLogEvents has the
//! same figures as the digest of the same messages read from a file.

mod common;

use common::{Moto, create_group, logs_client};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const GROUP: &str = "/claude-otel/claude-code/sanitized";
/// The corpus' own window end (2026-11-30T00:00:00Z), in ns.
const CORPUS_END_NS: i128 = 1_795_996_800_000_000_000;
/// moto (like CloudWatch) refuses events older than 14 days: 2 × 6 days fit.
const DAYS: &str = "6";

fn digest(args: &[&str], endpoint: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--format", "json", "--days", DAYS])
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(out.status.success(), "digest {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_of_the_group_equals_the_digest_of_its_messages() {
    // Move the corpus so that its window ends at the last whole minute.
    let now = OffsetDateTime::now_utc().unix_timestamp() / 60 * 60;
    let until = OffsetDateTime::from_unix_timestamp(now).unwrap();
    let shift = i128::from(now) * 1_000_000_000 - CORPUS_END_NS;
    let span_ns = 2 * 6 * 86_400 * 1_000_000_000_i128;
    let corpus =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/digest/two-weeks.ndjson"))
            .unwrap();
    let mut events: Vec<(i64, String)> = Vec::new();
    for line in corpus.lines() {
        let mut m: Value = serde_json::from_str(line).unwrap();
        let t: i128 = m["timeUnixNano"].as_str().unwrap().parse::<i128>().unwrap() + shift;
        if t < CORPUS_END_NS + shift - span_ns + 60_000_000_000 || t >= CORPUS_END_NS + shift {
            continue; // moto's 14-day limit, and nothing in the future
        }
        m["timeUnixNano"] = Value::String(t.to_string());
        events.push((i64::try_from(t / 1_000_000).unwrap(), m.to_string()));
    }
    assert!(events.len() > 1000);

    let moto = Moto::start();
    let client = logs_client(&moto.url()).await;
    create_group(&client, GROUP).await;
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

    let dir = std::env::temp_dir().join(format!("digest-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("group.ndjson");
    std::fs::write(&file, events.iter().map(|(_, m)| format!("{m}\n")).collect::<String>()).unwrap();

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
    for key in
        ["window", "totals", "tokens", "models", "skills", "subagents", "mcp_servers", "groups", "top_users", "days"]
    {
        assert_eq!(from_group[key], from_file[key], "{key}");
    }
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
    std::fs::remove_dir_all(&dir).unwrap();
}
