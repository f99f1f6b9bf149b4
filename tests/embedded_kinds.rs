//! The embedded allowlist's kinds on the values real clients send, and on identity-shaped
//! values that must not pass through an allowed key.

use sanitizer_core::{Allowlist, Counts, Origin, Sanitizer};

/// The `model` written for an `api_request` carrying `model`, if any.
fn kept_model(model: &str) -> Option<String> {
    let sanitizer = Sanitizer::new(Allowlist::embedded(), None);
    let message = serde_json::json!({"body": "claude_code.api_request", "attributes": {"model": model}}).to_string();
    let (line, _) = sanitizer.sanitize_message(Origin::NONE, &message, &mut Counts::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    v["attributes"]["model"].as_str().map(str::to_owned)
}

#[test]
fn real_model_ids_are_kept() {
    for id in [
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1",
        "claude-opus-5-5",
        "claude-3-5-haiku-20241022",
        "claude-haiku-4-5-20251001",
        "claude-sonnet-4-5-20250929[1m]",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "apac.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "claude-opus-4-1@20250805",
        "claude-3-5-sonnet-v2@20241022",
    ] {
        assert_eq!(kept_model(id).as_deref(), Some(id), "{id}");
    }
}

#[test]
fn identities_paths_and_text_do_not_pass_as_a_model() {
    for value in [
        "alice@example.com",
        "claude-x@example.com",
        "claude-opus-4-1@2025080",
        "claude-opus@alice",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "/home/alice/project",
        "claude-opus-4-1 summarise the secret plan",
        "Claude-Opus-4-1",
        "gpt-4o",
        "",
    ] {
        assert_eq!(kept_model(value), None, "{value}");
    }
}
