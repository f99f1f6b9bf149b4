//! The recorded Claude Code events (`fixtures/recorded/`) read back as JSON trees, and the keys
//! `allowlist.toml` names, read from the file itself: for tests that build their input from what a
//! real client sends and must know, without asking the sanitizer, what it may keep.
//!
//! Trusts its input (the repository's fixtures and allowlist).

use super::{payload_of, recorded_files, root};
use serde_json::Value;
use std::collections::BTreeSet;

/// One stored message of a recording.
pub struct RecordedEvent {
    /// The event name (`event.name`, else the body without `claude_code.`).
    pub name: String,
    /// Stored as OTLP KeyValue arrays (`*.kvlist.json`), else as objects (`*.object.json`).
    pub kvlist: bool,
    /// The stored message, parsed.
    pub message: Value,
}

/// Every stored message of every recording, in both stored shapes.
pub fn recorded_events() -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    for file in recorded_files() {
        let kvlist = file.to_string_lossy().ends_with(".kvlist.json");
        let payload = payload_of(&std::fs::read(&file).expect("fixture readable"));
        for event in payload["logEvents"].as_array().expect("logEvents") {
            let message: Value = serde_json::from_str(event["message"].as_str().expect("a message")).expect("JSON");
            let name = attribute(&message["attributes"], "event.name")
                .map(unwrap_any_value)
                .and_then(|v| v.as_str().map(str::to_owned))
                .or_else(|| {
                    let body = unwrap_any_value(&message["body"]);
                    body.as_str().and_then(|b| b.strip_prefix("claude_code.")).map(str::to_owned)
                })
                .expect("a recorded event has a name");
            events.push(RecordedEvent { name, kvlist, message });
        }
    }
    assert!(events.len() > 400, "expected the recorded messages, found {}", events.len());
    events
}

/// The (key, stored value) pairs of an attribute list in either stored shape: an object's
/// members, or a KeyValue array's `key`/`value` (the value still an AnyValue).
pub fn attribute_pairs(attributes: &Value) -> Vec<(String, Value)> {
    match attributes {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), kv.get("value").cloned().unwrap_or(Value::Null))))
            .collect(),
        _ => Vec::new(),
    }
}

/// The stored value of `key` in an attribute list of either shape.
pub fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    match attributes {
        Value::Object(m) => m.get(key),
        Value::Array(a) => a.iter().find(|kv| kv["key"] == key).map(|kv| &kv["value"]),
        _ => None,
    }
}

/// An OTLP AnyValue as the plain JSON value it holds (anything else as it is).
pub fn unwrap_any_value(v: &Value) -> Value {
    let Some(m) = v.as_object().filter(|m| m.len() == 1) else { return v.clone() };
    let (k, inner) = m.iter().next().expect("one member");
    match k.as_str() {
        "stringValue" | "boolValue" | "doubleValue" => inner.clone(),
        "intValue" => match inner {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| inner.clone(), Value::from),
            _ => inner.clone(),
        },
        "arrayValue" => {
            Value::Array(inner["values"].as_array().map_or_else(Vec::new, |a| a.iter().map(unwrap_any_value).collect()))
        }
        "kvlistValue" => Value::Object(
            attribute_pairs(&inner["values"]).into_iter().map(|(k, v)| (k, unwrap_any_value(&v))).collect(),
        ),
        _ => v.clone(),
    }
}

/// The input keys `allowlist.toml` names, read from the file's text (not from the compiled
/// allowlist), so a test can tell kept from unkept keys independently of the sanitizer.
pub struct AllowlistKeys {
    pub events: BTreeSet<String>,
    /// `[attributes]`: attribute keys kept under their own name.
    pub attributes: BTreeSet<String>,
    /// `[resource_attributes]`.
    pub resource: BTreeSet<String>,
    /// `[tool_parameters]` sub-keys.
    pub tool_parameters: BTreeSet<String>,
    /// Every `from` key of every `[pseudonyms.*]`: never written raw.
    pub identities: BTreeSet<String>,
    /// `[attributes]` and `[tool_parameters]` entries kept only on some events (`events = [...]`):
    /// (table, key) → those events. An entry not listed is kept on every kept event.
    pub only_on: std::collections::BTreeMap<(String, String), BTreeSet<String>>,
}

impl AllowlistKeys {
    pub fn shipped() -> AllowlistKeys {
        let text = std::fs::read_to_string(root().join("allowlist.toml")).expect("allowlist.toml");
        let mut keys = AllowlistKeys {
            events: BTreeSet::new(),
            attributes: BTreeSet::new(),
            resource: BTreeSet::new(),
            tool_parameters: BTreeSet::new(),
            identities: BTreeSet::new(),
            only_on: Default::default(),
        };
        let quoted = |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_owned).collect() };
        let mut section = String::new();
        let mut in_events = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if in_events {
                keys.events.extend(quoted(line));
                in_events = !line.contains(']');
                continue;
            }
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_owned();
                continue;
            }
            let Some((key, rest)) = line.split_once('=') else { continue };
            let key = key.trim().trim_matches('"').to_owned();
            if let Some((_, list)) = rest.split_once("events = [")
                && matches!(section.as_str(), "attributes" | "tool_parameters")
            {
                let list = list.split(']').next().unwrap_or("");
                keys.only_on.insert((section.clone(), key.clone()), quoted(list).into_iter().collect());
            }
            match section.as_str() {
                "" if key == "events" => {
                    keys.events.extend(quoted(rest));
                    in_events = !rest.contains(']');
                }
                "attributes" => drop(keys.attributes.insert(key)),
                "resource_attributes" => drop(keys.resource.insert(key)),
                "tool_parameters" => drop(keys.tool_parameters.insert(key)),
                s if s.starts_with("pseudonyms") && key == "from" => keys.identities.extend(quoted(rest)),
                _ => {}
            }
        }
        assert!(
            keys.events.len() >= 6 && keys.attributes.len() >= 20 && keys.resource.len() >= 5,
            "allowlist.toml read: {} events, {} attributes, {} resource keys",
            keys.events.len(),
            keys.attributes.len(),
            keys.resource.len()
        );
        assert!(!keys.tool_parameters.is_empty() && !keys.identities.is_empty());
        keys
    }

    /// Whether the attribute `key` is kept on events named `event`.
    pub fn attribute_kept_on(&self, key: &str, event: &str) -> bool {
        self.attributes.contains(key) && self.on(("attributes", key), event)
    }

    /// Whether the `tool_parameters` sub-key `key` is kept on events named `event`.
    pub fn tool_parameter_kept_on(&self, key: &str, event: &str) -> bool {
        self.tool_parameters.contains(key) && self.on(("tool_parameters", key), event)
    }

    fn on(&self, (table, key): (&str, &str), event: &str) -> bool {
        self.events.contains(event)
            && self.only_on.get(&(table.to_owned(), key.to_owned())).is_none_or(|events| events.contains(event))
    }
}
