//! CloudFormation templates read for the deployment tests (`tests/deploy_template.rs`,
//! `tests/deploy_org.rs`): YAML with CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`,
//! ...) parsed with `saphyr`, which keeps unknown local tags as `Yaml::Tagged`, and turned into the
//! long form (`{"Fn::Sub": ...}`) as JSON, so every check reads one shape whichever form a
//! template uses. Also what the dashboards and queries may read: every field the sanitizer
//! writes for the fixtures.
#![allow(dead_code)]

use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer, decode_envelope};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Parses a CloudFormation YAML template into JSON in long form.
pub fn parse_template(text: &str) -> Value {
    let docs = Yaml::load_from_str(text).expect("the template is valid YAML");
    assert_eq!(docs.len(), 1, "a template is exactly one YAML document");
    yaml_to_json(&docs[0])
}

fn yaml_to_json(y: &Yaml<'_>) -> Value {
    match y {
        Yaml::Value(s) => scalar_to_json(s),
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match yaml_to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                assert!(out.insert(key.clone(), yaml_to_json(v)).is_none(), "duplicate key {key}");
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, node) => {
            assert_eq!(tag.handle, "!", "unexpected YAML tag handle {:?}", tag.handle);
            let inner = yaml_to_json(node);
            let (name, value) = match tag.suffix.as_str() {
                "Ref" => ("Ref".to_string(), inner),
                "Condition" => ("Condition".to_string(), inner),
                // `!GetAtt Resource.Attribute` is the scalar spelling of ["Resource", "Attribute"].
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                        ("Fn::GetAtt".to_string(), json!([res, attr]))
                    }
                    other => ("Fn::GetAtt".to_string(), other),
                },
                other => (format!("Fn::{other}"), inner),
            };
            json!({ name: value })
        }
        Yaml::Alias(_) | Yaml::BadValue => panic!("the template uses an alias or a bad value"),
    }
}

fn scalar_to_json(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => json!(i),
        Scalar::FloatingPoint(f) => json!(f.into_inner()),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

pub fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("template has Resources")
}

/// Field paths a query reads: `attributes.x.y` and `resource.attributes.x.y`.
pub fn referenced_fields(query: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"(?:\bresource\.)?\battributes(?:\.[A-Za-z0-9_]+)+").expect("regex");
    re.find_iter(query).map(|m| m.as_str().to_string()).collect()
}

/// Every leaf path of a JSON message: `{"attributes":{"user.pseudonym":..}}` gives
/// `attributes.user.pseudonym` (keys are joined with `.`, as Logs Insights flattens JSON).
pub fn leaf_paths(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaf_paths(&p, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn fixture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json")
            && path.file_name().is_some_and(|n| n != "inventory.json")
        {
            out.push(path);
        }
    }
}

/// Every leaf path of every event the sanitizer writes for the fixture payloads.
pub fn sanitizer_output_paths() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    assert!(dir.is_dir(), "{} is missing: the field test runs the sanitizer on the fixtures", dir.display());
    let mut files = Vec::new();
    fixture_files(&dir, &mut files);
    files.sort();
    let key = PseudonymKey::new(b"deployment-test key, 32 bytes or more....").expect("test key");
    let sanitizer = Sanitizer::new(Allowlist::embedded(), Some(key));
    let mut paths = BTreeSet::new();
    let (mut payloads, mut events) = (0, 0);
    for file in &files {
        let bytes = std::fs::read(file).expect("read fixture");
        // Fixtures of malformed payloads exist for the decode tests; they write nothing.
        let Ok(payload) = decode_envelope(&bytes, DEFAULT_MAX_DECOMPRESSED_BYTES) else {
            continue;
        };
        payloads += 1;
        for e in sanitizer.sanitize_payload(&payload).events {
            let msg: Value = serde_json::from_str(&e.message).expect("sanitized message is JSON");
            leaf_paths("", &msg, &mut paths);
            events += 1;
        }
    }
    assert!(payloads > 0 && events > 0, "no fixture payload under {} produced an event", dir.display());
    assert!(paths.iter().any(|p| p.starts_with("attributes.")), "the fixtures produced no attributes");
    paths
}
