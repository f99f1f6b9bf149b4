//! The digest read from the sanitized group, against moto_server: the corpus, moved to end
//! now, is written to a group with PutLogEvents. `digest --log-group` (FilterLogEvents) has the
//! same figures as the digest of the same messages read from a file, and the scheduled digest
//! ([`deliver`], what `digest-lambda` runs) posts exactly the CLI's `slack` output to a local
//! webhook receiver, retrying a 503 and giving up at once on a 400.

mod common;

use bytes::Bytes;
use claude_otel_sanitizer::digest::deliver::{DeliverError, Settings, deliver};
use common::{Moto, Proc, create_group, logs_client};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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

/// A moto_server holding the corpus moved to end at the last whole minute, in [`GROUP`]; also
/// the same messages as a file, and the window end.
struct Stored {
    moto: Moto,
    file: PathBuf,
    until: OffsetDateTime,
}

async fn stored_corpus(tag: &str) -> Stored {
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

    let dir = std::env::temp_dir().join(format!("digest-moto-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("group.ndjson");
    std::fs::write(&file, events.iter().map(|(_, m)| format!("{m}\n")).collect::<String>()).unwrap();
    Stored { moto, file, until }
}

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
    std::fs::remove_file(&file).unwrap();
}

/// Each request the receiver got: (body, content type).
type Received = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A local stand-in for the Slack webhook: records each body, answers with the scripted statuses
/// (then 200).
struct Receiver {
    port: u16,
    bodies: Received,
}

impl Receiver {
    async fn start(statuses: Vec<u16>) -> Receiver {
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/services/T000/B000/XXXX", self.port)
    }

    fn bodies(&self) -> Vec<(String, Option<String>)> {
        self.bodies.lock().unwrap().clone()
    }
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

/// The real `digest-lambda` binary in the Lambda runtime emulator (`cargo lambda watch
/// --only-lambda-apis`), invoked as the scheduler would: it reads the webhook URL from Secrets
/// Manager and the group from CloudWatch Logs (both moto_server) and posts to the local receiver
/// exactly what `digest --format slack` prints for the same window; with the template's
/// placeholder still in the secret, the invocation fails and nothing is posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_function_posts_the_weekly_digest_from_the_lambda_runtime() {
    let Stored { moto, file, .. } = stored_corpus("lambda").await;
    let sdk = common::sdk_config(&moto.url()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let receiver = Receiver::start(vec![]).await;
    let hook = secrets.create_secret().name("digest-webhook").secret_string(receiver.url()).send().await.unwrap();
    let placeholder =
        secrets.create_secret().name("digest-placeholder").secret_string("REPLACE_ME").send().await.unwrap();

    let scratch = std::env::temp_dir().join(format!("digest-lambda-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (watch, port) = common::start_emulator(&scratch);
    let event = scratch.join("scheduled.json");
    std::fs::write(&event, br#"{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}"#).unwrap();
    let event_file = event.clone();
    let invoke = move || {
        Proc::spawn(
            Command::new("cargo")
                .args(["lambda", "invoke", "--data-file"])
                .arg(&event_file)
                .args(["-A", "127.0.0.1", "-P"])
                .arg(port.to_string()),
        )
        .finish(Duration::from_secs(120))
    };
    let function = |secret: &str| {
        let mut f = Proc::spawn(
            common::function_command(env!("CARGO_BIN_EXE_digest-lambda"), port, &moto.url(), 256)
                .env("DIGEST_LOG_GROUP", GROUP)
                .env("DIGEST_WEBHOOK_SECRET_ARN", secret)
                .env("DIGEST_DAYS", DAYS),
        );
        f.wait_for("\"ready\"", Duration::from_secs(60));
        f
    };

    let f = function(hook.arn().unwrap());
    let (ok, out) = tokio::task::spawn_blocking(invoke.clone()).await.unwrap();
    assert!(ok, "invoke failed:\n{out}");
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{}", f.text());
    assert!(f.text().contains("digest posted"));
    assert!(!f.text().contains(&receiver.url()), "the function logs the webhook URL");
    drop(f);
    // The window the function used, from its own payload; the CLI on the same messages and window.
    let payload: Value = serde_json::from_str(&bodies[0].0).unwrap();
    let context = payload["blocks"][1]["elements"][0]["text"].as_str().unwrap();
    let end = context.split("ending ").nth(1).unwrap().split(',').next().unwrap().to_owned();
    let expected = Command::new(env!("CARGO_BIN_EXE_claude-otel-sanitizer"))
        .args(["digest", "--format", "slack", "--days", DAYS, "--until", &end])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bodies[0].0, String::from_utf8(expected.stdout).unwrap(), "the function posts the CLI's slack digest");

    let f = function(placeholder.arn().unwrap());
    let (ok, out) = tokio::task::spawn_blocking(invoke.clone()).await.unwrap();
    assert!(!ok, "an unfilled secret must fail the invocation");
    assert!(out.contains("not filled in"), "{out}");
    assert_eq!(receiver.bodies().len(), 1, "nothing more posted");
    drop(f);
    drop(watch);
    std::fs::remove_file(&file).unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
}
