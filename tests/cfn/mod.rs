//! CloudFormation templates read for the deployment tests (`tests/deploy_template.rs`,
//! `tests/deploy_org.rs`): YAML with CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`,
//! ...) parsed with `saphyr`, which keeps unknown local tags as `Yaml::Tagged`, and turned into the
//! long form (`{"Fn::Sub": ...}`) as JSON, so every check reads one shape whichever form a
//! template uses.
#![allow(dead_code)]

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};

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
