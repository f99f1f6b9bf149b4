//! The data lake's Glue table (`LakeTable` in `template.yaml`, copied into `deploy/central.yaml`)
//! carries every field the sanitizer can write: each output key of the allowlist (`[attributes]`,
//! `[tool_parameters]` outputs, `[pseudonyms]`, `event.name`, `[metrics.attributes]`, and
//! `[resource_attributes]` under `resource.attributes`), with a dot read as an underscore (the
//! OpenX SerDe's `dots.in.keys`) and a Hive type of its kind: `bigint` for integers, `double` for
//! numbers, `boolean`, else `string`. Adding an output to `allowlist.toml` without adding it to
//! the table fails here, so that the lake never silently drops a field.

mod cfn;

use cfn::{parse_template, resources};
use sanitizer_core::{Allowlist, AttributeDrop, OutputKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const TEMPLATE: &str = include_str!("../template.yaml");
const CENTRAL: &str = include_str!("../deploy/central.yaml");

/// The Hive type of what the sanitizer writes under an output, read from the allowlist's own view.
fn hive_type(kind: &OutputKind) -> &'static str {
    if kind.check_json(&json!(true)).is_ok() {
        "boolean"
    } else if kind.max().is_some() {
        // An integer kind refuses 0.5 as the wrong kind; a number kind takes it (or finds it out of range).
        if kind.check_json(&json!(0.5)) == Err(AttributeDrop::WrongKind) { "bigint" } else { "double" }
    } else {
        "string"
    }
}

fn column_name(key: &str) -> String {
    key.replace('.', "_")
}

/// Every field the table must carry: `attributes` and `resource.attributes` struct fields, by
/// column name, with their Hive types.
fn expected(allowlist: &Allowlist) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut attributes = BTreeMap::new();
    let kinds = allowlist.attribute_kinds().chain(allowlist.metric_attribute_kinds());
    for (key, kind) in kinds {
        let t = hive_type(&kind).to_string();
        if let Some(previous) = attributes.insert(column_name(key), t.clone()) {
            assert_eq!(previous, t, "{key} has one type on events and metric lines");
        }
    }
    let resource = allowlist.resource_kinds().map(|(k, kind)| (column_name(k), hive_type(&kind).to_string())).collect();
    (attributes, resource)
}

/// The fields of a Hive `struct<name:type,...>` (one level; nested structs as their text).
fn struct_fields(t: &str) -> BTreeMap<String, String> {
    let body =
        t.strip_prefix("struct<").and_then(|s| s.strip_suffix('>')).unwrap_or_else(|| panic!("not a struct: {t}"));
    let (mut out, mut depth, mut start) = (BTreeMap::new(), 0, 0);
    let body_with_end = format!("{body},");
    for (i, c) in body_with_end.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                let (name, ty) = body_with_end[start..i].split_once(':').expect("name:type");
                assert!(out.insert(name.to_string(), ty.to_string()).is_none(), "field {name} twice");
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

fn columns(t: &Value) -> BTreeMap<String, String> {
    let table = &resources(t)["LakeTable"]["Properties"]["TableInput"];
    table["StorageDescriptor"]["Columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["Name"].as_str().unwrap().to_string(), c["Type"].as_str().expect("a literal type").to_string()))
        .collect()
}

/// The problems with a template's table: a field missing, of another type, or not the allowlist's.
fn table_problems(t: &Value, allowlist: &Allowlist) -> Vec<String> {
    let mut problems = Vec::new();
    let cols = columns(t);
    let top = [
        ("body", "string"),
        ("metric", "string"),
        ("value", "double"),
        ("timeunixnano", "string"),
        ("starttimeunixnano", "string"),
        ("sourceeventid", "string"),
    ];
    for (name, ty) in top {
        if cols.get(name).map(String::as_str) != Some(ty) {
            problems.push(format!("column {name} must be {ty}, is {:?}", cols.get(name)));
        }
    }
    let (attributes, resource) = expected(allowlist);
    let have_attributes = cols.get("attributes").map(|s| struct_fields(s)).unwrap_or_default();
    let resource_struct = cols.get("resource").map(|s| struct_fields(s)).unwrap_or_default();
    let have_resource = resource_struct.get("attributes").map(|s| struct_fields(s)).unwrap_or_default();
    for (what, want, have) in
        [("attributes", &attributes, &have_attributes), ("resource.attributes", &resource, &have_resource)]
    {
        for (field, ty) in want {
            match have.get(field) {
                None => problems.push(format!("{what}.{field} ({ty}) is missing")),
                Some(t) if t != ty => problems.push(format!("{what}.{field} is {t}, the allowlist writes {ty}")),
                Some(_) => {}
            }
        }
        for field in have.keys().filter(|f| !want.contains_key(*f)) {
            problems.push(format!("{what}.{field} is not an output of the allowlist"));
        }
    }
    if cols.len() != top.len() + 2 {
        problems.push(format!("unexpected columns: {:?}", cols.keys().collect::<Vec<_>>()));
    }
    problems
}

#[test]
fn the_lake_table_carries_every_output_of_the_allowlist() {
    let allowlist = Allowlist::embedded();
    let (attributes, resource) = expected(&allowlist);
    // The allowlist's mission fields are among them, with their kinds.
    for (field, ty) in [
        ("event_name", "string"),
        ("user_pseudonym", "string"),
        ("cost_usd", "double"),
        ("input_tokens", "bigint"),
        ("success", "boolean"),
        ("tool_mcp_server_name", "string"),
        ("start_type", "string"),
    ] {
        assert_eq!(attributes.get(field).map(String::as_str), Some(ty), "{field}");
    }
    assert_eq!(resource.get("team_id").map(String::as_str), Some("string"));
    for (name, text) in [("template.yaml", TEMPLATE), ("deploy/central.yaml", CENTRAL)] {
        let problems = table_problems(&parse_template(text), &allowlist);
        assert!(problems.is_empty(), "{name}'s LakeTable:\n  {}", problems.join("\n  "));
    }
}

#[test]
fn the_table_check_fails_on_a_missing_or_mistyped_field() {
    let allowlist = Allowlist::embedded();
    let edit = |from: &str, to: &str| {
        let mut t = parse_template(TEMPLATE);
        for c in t["Resources"]["LakeTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
            .as_array_mut()
            .unwrap()
        {
            let ty = c["Type"].as_str().unwrap().replace(from, to);
            c["Type"] = json!(ty);
        }
        table_problems(&t, &allowlist)
    };
    let p = edit("tool_mcp_server_name:string,", "");
    assert!(p.iter().any(|m| m.contains("attributes.tool_mcp_server_name (string) is missing")), "{p:?}");
    let p = edit("cost_usd:double", "cost_usd:bigint");
    assert!(p.iter().any(|m| m.contains("cost_usd is bigint")), "{p:?}");
    let p = edit("team_id:string,", "");
    assert!(p.iter().any(|m| m.contains("resource.attributes.team_id (string) is missing")), "{p:?}");
    let p = edit("start_type:string", "start_type:string,prompt:string");
    assert!(p.iter().any(|m| m.contains("attributes.prompt is not an output")), "{p:?}");
}

/// The table reads the lake the way the SerDe is configured for, under the bucket's sanitized/
/// prefix, one partition per arrival day by projection.
#[test]
fn the_lake_table_reads_gzip_json_by_day_under_sanitized() {
    let t = parse_template(TEMPLATE);
    let table = &resources(&t)["LakeTable"]["Properties"]["TableInput"];
    let serde = &table["StorageDescriptor"]["SerdeInfo"];
    assert_eq!(serde["SerializationLibrary"], "org.openx.data.jsonserde.JsonSerDe");
    assert_eq!(serde["Parameters"]["dots.in.keys"], "true");
    assert_eq!(serde["Parameters"]["ignore.malformed.json"], "true");
    assert_eq!(table["PartitionKeys"], json!([{"Name": "dt", "Type": "string"}]));
    let p = &table["Parameters"];
    assert_eq!(p["projection.enabled"], "true");
    assert_eq!(p["projection.dt.type"], "date");
    assert_eq!(p["projection.dt.format"], "yyyy-MM-dd");
    assert!(p["projection.dt.range"].as_str().unwrap().ends_with(",NOW"));
    assert_eq!(p["storage.location.template"], json!({"Fn::Sub": "s3://${LakeBucket}/sanitized/dt=${!dt}/"}));
    assert_eq!(table["StorageDescriptor"]["Location"], json!({"Fn::Sub": "s3://${LakeBucket}/sanitized/"}));
    // Firehose writes there, by the same day.
    let s3 = &resources(&t)["LakeDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    assert_eq!(s3["Prefix"], "sanitized/dt=!{timestamp:yyyy-MM-dd}/");
    assert_eq!(s3["CompressionFormat"], "GZIP");
}
