//! End-to-end over every fixture payload: payload → sanitized lines + counts, compared with the
//! golden file beside it; no canary in any output; the mission's values present; both stored
//! shapes of a recording give the same output.
//!
//! Refresh golden files after an intended change: `INSTA_UPDATE=always cargo test --test fixtures`
//! (or `cargo insta review`), then read the diff.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn every_fixture_matches_its_golden_file() {
    let sanitizer = sanitizer();
    for payload in payload_files() {
        let output = sanitize_file(&sanitizer, &payload);
        let dir = payload.parent().unwrap().to_path_buf();
        let name = payload.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({
            snapshot_path => dir,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            input_file => payload.clone(),
        }, {
            insta::assert_snapshot!(name, golden_text(&output));
        });
    }
}

#[test]
fn every_received_event_is_written_or_counted_as_dropped() {
    let sanitizer = sanitizer();
    for payload in payload_files() {
        let c = sanitize_file(&sanitizer, &payload).counts;
        assert_eq!(c.received, c.written + c.dropped_total(), "{}", payload.display());
    }
}

#[test]
fn synthetic_outputs_and_counts_hold_no_canary() {
    let sanitizer = sanitizer();
    let mut written = 0;
    for payload in payload_files().iter().filter(|p| p.parent().unwrap().ends_with("synthetic")) {
        let output = sanitize_file(&sanitizer, payload);
        for event in &output.events {
            assert!(!event.message.contains("CANARY"), "{}: {}", payload.display(), event.message);
        }
        assert!(!output.counts.to_string().contains("CANARY"));
        written += output.events.len();
    }
    assert!(written > 20, "the synthetic fixtures keep events");
}

#[test]
fn recorded_outputs_hold_no_recorded_canary() {
    let sanitizer = sanitizer();
    let canaries = recorded_canaries();
    let mut written = 0;
    for payload in recorded_files() {
        let output = sanitize_file(&sanitizer, &payload);
        for event in &output.events {
            for canary in &canaries {
                assert!(!event.message.contains(canary.as_str()), "{}: canary {canary} leaked", payload.display());
            }
        }
        written += output.events.len();
    }
    assert!(written > 20, "the recordings keep events");
}

/// Every `attributes.*` / `resource.attributes.*` path written for the recordings.
fn written_paths() -> BTreeSet<String> {
    let sanitizer = sanitizer();
    let mut paths = BTreeSet::new();
    for payload in recorded_files() {
        for event in sanitize_file(&sanitizer, &payload).events {
            let v: Value = serde_json::from_str(&event.message).unwrap();
            for (k, _) in v["attributes"].as_object().unwrap() {
                paths.insert(format!("attributes.{k}"));
            }
            if let Some(r) = v["resource"]["attributes"].as_object() {
                paths.extend(r.keys().map(|k| format!("resource.attributes.{k}")));
            }
        }
    }
    paths
}

#[test]
fn recorded_outputs_carry_the_mission_values() {
    let paths = written_paths();
    let mission = [
        "attributes.cost_usd",
        "attributes.input_tokens",
        "attributes.output_tokens",
        "attributes.cache_read_tokens",
        "attributes.cache_creation_tokens",
        "attributes.model",
        "attributes.skill.name",
        "attributes.tool.skill_name",
        "attributes.tool.subagent_type",
        "attributes.agent_type",
        "attributes.tool.mcp_server_name",
        "attributes.tool.mcp_tool_name",
        "attributes.user.pseudonym",
        "attributes.session.id",
        "attributes.tool_name",
        "resource.attributes.service.name",
        "resource.attributes.service.version",
    ];
    let missing: Vec<&str> = mission.iter().copied().filter(|p| !paths.contains(*p)).collect();
    assert!(missing.is_empty(), "not written for any recording: {missing:?}");
}

#[test]
fn both_stored_shapes_of_a_recording_sanitize_identically() {
    let sanitizer = sanitizer();
    let mut pairs = 0;
    for object in recorded_files().iter().filter(|p| p.to_string_lossy().ends_with(".object.json")) {
        let kvlist =
            object.with_file_name(object.file_name().unwrap().to_string_lossy().replace(".object.", ".kvlist."));
        let a = sanitize_file(&sanitizer, object);
        let b = sanitize_file(&sanitizer, &kvlist);
        assert_eq!(a, b, "{} and {} differ", object.display(), kvlist.display());
        pairs += 1;
    }
    assert!(pairs >= 10, "found {pairs} object/kvlist pairs");
}

#[test]
fn recorded_values_of_kept_keys_have_the_right_kind() {
    // Fails when Claude Code changes the type or shape of a key the allowlist keeps: such a
    // value is dropped (wrong_kind / too_long / out_of_range) and the dashboards lose it.
    use sanitizer_core::AttributeDrop::*;
    let sanitizer = sanitizer();
    for payload in recorded_files() {
        let c = sanitize_file(&sanitizer, &payload).counts;
        for reason in [WrongKind, TooLong, OutOfRange, Duplicate, NoPseudonymKey] {
            assert_eq!(
                c.attributes_dropped(reason),
                0,
                "{}: {} values dropped as {}",
                payload.display(),
                c.attributes_dropped(reason),
                reason.as_str()
            );
        }
    }
}

#[test]
fn inventory_lists_what_the_allowlist_does_not_keep() {
    // The recorded keys the allowlist drops, as a golden file beside the inventory: a re-recording
    // that brings a new key, or an allowlist change that starts or stops keeping one, shows up
    // as a diff of `fixtures/recorded/inventory-not-kept.snap` for a person to review.
    let inventory: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("fixtures/recorded/inventory.json")).unwrap())
            .unwrap();
    let allowlist = sanitizer_core::Allowlist::embedded();
    let kept: BTreeSet<&str> = allowlist.attribute_outputs().collect();
    let mut dropped = BTreeSet::new();
    let events = inventory["events"].as_object().expect("inventory lists events");
    for (event, info) in events {
        for key in info["attributes"].as_object().unwrap().keys() {
            if !kept.contains(key.as_str()) {
                dropped.insert(format!("{event}.{key}"));
            }
        }
    }
    assert!(dropped.iter().any(|k| k.ends_with(".prompt")), "the recordings hold prompts, which are never kept");
    let listing = format!(
        "recorded keys not kept ({}):\n{}",
        dropped.len(),
        dropped.into_iter().map(|k| format!("  {k}\n")).collect::<String>()
    );
    insta::with_settings!({
        snapshot_path => root().join("fixtures/recorded"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("inventory-not-kept", listing);
    });
}
