//! The real `digest-lambda` binary in the Lambda runtime emulator, against moto_server and a
//! local webhook receiver (the shared corpus and receiver: tests/digest_support).

#[path = "../../../tests/common/mod.rs"]
mod common;
#[path = "../../../tests/digest_support/mod.rs"]
mod digest_support;

use common::Proc;
use digest_support::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// The real `digest-lambda` binary in the Lambda runtime emulator (`cargo lambda watch
/// --only-lambda-apis`), invoked as the scheduler would: it reads the webhook URL from Secrets
/// Manager and the group from CloudWatch Logs (both moto_server) and posts to the local receiver
/// exactly what `digest --format slack` prints for the same window; with the template's
/// placeholder still in the secret, the invocation fails and nothing is posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_function_posts_the_weekly_digest_from_the_lambda_runtime() {
    let Stored { moto, file, .. } = stored_corpus_with_lake("lambda").await;
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
    let lake = format!("s3://{LAKE_BUCKET}/{LAKE_PREFIX}");
    let function_reading = |secret: &str, lake: Option<&str>| {
        let mut command = common::function_command(env!("CARGO_BIN_EXE_digest-lambda"), port, &moto.url(), 256);
        command.env("DIGEST_LOG_GROUP", GROUP).env("DIGEST_WEBHOOK_SECRET_ARN", secret).env("DIGEST_DAYS", DAYS);
        if let Some(lake) = lake {
            command.env("DIGEST_S3", lake);
        }
        let mut f = Proc::spawn(&mut command);
        f.wait_for("\"ready\"", Duration::from_secs(60));
        f
    };
    let function = |secret: &str| function_reading(secret, None);

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
    let expected = Command::new(common::cli_bin())
        .args(["digest", "--format", "slack", "--days", DAYS, "--until", &end])
        .arg(&file)
        .output()
        .unwrap();
    let expected = String::from_utf8(expected.stdout).unwrap();
    assert_eq!(bodies[0].0, expected, "the function posts the CLI's slack digest");

    // With DIGEST_S3 it reads the data lake (what moto's Firehose delivered from the group): the
    // same digest, for the window it ends now.
    let f = function_reading(hook.arn().unwrap(), Some(&lake));
    let (ok, out) = tokio::task::spawn_blocking(invoke.clone()).await.unwrap();
    assert!(ok, "invoke failed:\n{out}");
    assert!(f.text().contains("\"reads\":\"lake\""), "{}", f.text());
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "{}", f.text());
    let context = serde_json::from_str::<Value>(&bodies[1].0).unwrap()["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let lake_end = context.split("ending ").nth(1).unwrap().split(',').next().unwrap().to_owned();
    let expected_now = Command::new(common::cli_bin())
        .args(["digest", "--format", "slack", "--days", DAYS, "--until", &lake_end])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bodies[1].0, String::from_utf8(expected_now.stdout).unwrap(), "the lake gives the same digest");
    drop(f);

    let f = function(placeholder.arn().unwrap());
    let (ok, out) = tokio::task::spawn_blocking(invoke.clone()).await.unwrap();
    assert!(!ok, "an unfilled secret must fail the invocation");
    assert!(out.contains("not filled in"), "{out}");
    assert_eq!(receiver.bodies().len(), 2, "nothing more posted");
    drop(f);
    drop(watch);
    std::fs::remove_file(&file).unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
}
