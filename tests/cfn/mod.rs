//! CloudFormation templates read for the deployment tests (`tests/deploy_template.rs`,
//! `tests/deploy_org.rs`): YAML with CloudFormation's short-form tags (`!Sub`, `!Ref`, `!GetAtt`,
//! ...) parsed with `saphyr`, which keeps unknown local tags as `Yaml::Tagged`, and turned into the
//! long form (`{"Fn::Sub": ...}`) as JSON, so every check reads one shape whichever form a
//! template uses. A [`Stack`] evaluates a template for chosen parameters (conditions, `Ref`,
//! `Fn::Sub`, `Fn::If`, ...), and [`granted`] reads what an IAM identity of it grants. Also what
//! the dashboards and queries may read: every field the sanitizer writes for the fixtures.
#![allow(dead_code)]

use sanitizer_core::{Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, PseudonymKey, Sanitizer, decode_envelope};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
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

/// The account and Region a [`Stack`] is evaluated in (`AWS::AccountId`, `AWS::Region`).
pub const ACCOUNT: &str = "999999999999";
pub const REGION: &str = "eu-west-1";

// ------------------------------------------------------------------ evaluation

/// A template with its parameter values (defaults unless given) and evaluated conditions.
pub struct Stack {
    pub t: Value,
    pub params: BTreeMap<String, Value>,
    pub conditions: BTreeMap<String, bool>,
    /// Values of `Fn::GetAtt` known to the test (`"Resource.Attribute"`); others stay placeholders.
    pub attributes: BTreeMap<String, Value>,
}

impl Stack {
    pub fn new(text: &str, given: &[(&str, Value)]) -> Stack {
        Stack::from_template(parse_template(text), given)
    }

    /// As [`Stack::new`], for a template already parsed (and perhaps edited by a test).
    pub fn from_template(t: Value, given: &[(&str, Value)]) -> Stack {
        let mut params = BTreeMap::new();
        for (name, p) in t["Parameters"].as_object().expect("Parameters") {
            let default = p.get("Default").cloned().map(|d| match (p["Type"].as_str(), d) {
                (Some("CommaDelimitedList"), Value::String(s)) => {
                    Value::Array(s.split(',').filter(|x| !x.is_empty()).map(|x| json!(x)).collect())
                }
                (_, d) => d,
            });
            if let Some(d) = default {
                params.insert(name.clone(), d);
            }
        }
        for (name, value) in given {
            assert!(t["Parameters"].get(*name).is_some(), "no parameter {name}");
            params.insert((*name).to_string(), value.clone());
        }
        let mut stack = Stack { t, params, conditions: BTreeMap::new(), attributes: BTreeMap::new() };
        let conditions = stack.t["Conditions"].as_object().cloned().unwrap_or_default();
        for (name, c) in &conditions {
            let value = stack.condition(c);
            stack.conditions.insert(name.clone(), value);
        }
        stack
    }

    pub fn condition(&self, c: &Value) -> bool {
        let (k, arg) = c.as_object().and_then(|o| o.iter().next()).expect("condition is a function");
        match k.as_str() {
            "Fn::Equals" => self.eval(&arg[0]) == self.eval(&arg[1]),
            "Fn::Not" => !self.condition(&arg[0]),
            "Fn::Or" => arg.as_array().expect("Or list").iter().any(|c| self.condition(c)),
            "Fn::And" => arg.as_array().expect("And list").iter().all(|c| self.condition(c)),
            // Evaluated from its definition: conditions may name others in any order.
            "Condition" => self.condition(&self.t["Conditions"][arg.as_str().expect("condition name")]),
            other => panic!("unsupported condition {other}"),
        }
    }

    pub fn reference(&self, name: &str) -> Value {
        match name {
            "AWS::Partition" => json!("aws"),
            "AWS::Region" => json!(REGION),
            "AWS::AccountId" => json!(ACCOUNT),
            "AWS::URLSuffix" => json!("amazonaws.com"),
            "AWS::NoValue" => Value::Null,
            _ => self.params.get(name).cloned().unwrap_or_else(|| {
                assert!(resources(&self.t).contains_key(name), "Ref to unknown {name}");
                json!(format!("{{{name}}}"))
            }),
        }
    }

    /// Evaluates `v` for these parameters; `AWS::NoValue` removes list items and object members.
    pub fn eval(&self, v: &Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| self.eval(x)).filter(|x| !x.is_null()).collect()),
            Value::Object(o)
                if o.len() == 1 && o.keys().next().is_some_and(|k| k == "Ref" || k.starts_with("Fn::")) =>
            {
                let (k, arg) = o.iter().next().expect("one key");
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().expect("Ref name")),
                    "Fn::GetAtt" => {
                        let name = format!("{}.{}", arg[0].as_str().expect("res"), arg[1].as_str().expect("attr"));
                        self.attributes.get(&name).cloned().unwrap_or_else(|| json!(format!("{{{name}}}")))
                    }
                    "Fn::Select" => {
                        let index = self.eval(&arg[0]);
                        let index = index
                            .as_u64()
                            .or_else(|| index.as_str().and_then(|s| s.parse().ok()))
                            .expect("Select index") as usize;
                        let list = self.eval(&arg[1]);
                        list.get(index).cloned().unwrap_or_else(|| panic!("Select {index} of {list}"))
                    }
                    "Fn::If" => {
                        let name = arg[0].as_str().expect("If condition");
                        let chosen = if self.conditions[name] { &arg[1] } else { &arg[2] };
                        self.eval(chosen)
                    }
                    "Fn::Join" => {
                        let delimiter = arg[0].as_str().expect("Join takes a literal delimiter");
                        let items = self.eval(&arg[1]);
                        let parts: Vec<String> = items
                            .as_array()
                            .expect("Join list")
                            .iter()
                            .map(|x| x.as_str().expect("Join item is a string").to_string())
                            .collect();
                        json!(parts.join(delimiter))
                    }
                    "Fn::Split" => {
                        let delimiter = arg[0].as_str().expect("Split delimiter");
                        let s = self.eval(&arg[1]);
                        json!(s.as_str().expect("Split string").split(delimiter).collect::<Vec<_>>())
                    }
                    "Fn::FindInMap" => {
                        let keys: Vec<String> =
                            (0..3).map(|i| self.eval(&arg[i]).as_str().expect("FindInMap key").to_string()).collect();
                        self.t["Mappings"][&keys[0]][&keys[1]][&keys[2]].clone()
                    }
                    "Fn::Sub" => {
                        let (body, vars) = match arg {
                            Value::String(s) => (s.as_str(), Map::new()),
                            Value::Array(a) => {
                                (a[0].as_str().expect("Sub body"), a[1].as_object().expect("Sub vars").clone())
                            }
                            other => panic!("unexpected Fn::Sub argument {other}"),
                        };
                        json!(self.substitute(body, &vars))
                    }
                    other => panic!("unsupported function {other}"),
                }
            }
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), self.eval(v))).filter(|(_, v)| !v.is_null()).collect())
            }
            other => other.clone(),
        }
    }

    pub fn substitute(&self, body: &str, vars: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("unterminated ${ in Fn::Sub");
            let name = &after[..end];
            let value = match (name.strip_prefix('!'), vars.get(name)) {
                (Some(literal), _) => format!("${{{literal}}}"),
                (None, Some(v)) => scalar_text(&self.eval(v)),
                (None, None) if name.contains('.') && !name.starts_with("AWS::") => format!("{{{name}}}"),
                (None, None) => scalar_text(&self.reference(name)),
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The evaluated properties of a resource that exists for these parameters.
    pub fn properties(&self, name: &str) -> Value {
        let r = &resources(&self.t)[name];
        if let Some(c) = r.get("Condition") {
            assert!(self.conditions[c.as_str().expect("condition name")], "{name} is not created for these parameters");
        }
        self.eval(&r["Properties"])
    }

    pub fn exists(&self, name: &str) -> bool {
        let r = &resources(&self.t)[name];
        r.get("Condition").is_none_or(|c| self.conditions[c.as_str().expect("condition name")])
    }
}

/// A string or number as `Fn::Sub` writes it.
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("Fn::Sub of a non-scalar {other}"),
    }
}

pub fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

// ------------------------------------------------------------------ IAM

pub type Grants = BTreeSet<(String, String)>;

pub fn grants(pairs: &[(&str, &str)]) -> Grants {
    pairs.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect()
}

/// What an identity's inline policies grant, as evaluated (action, resource) pairs; every
/// problem found on the way (managed policies, boundaries, Deny/Not*, wildcards). A statement's
/// `Condition` is part of what it grants: its pairs' resource reads `RESOURCE if {CONDITION}`, so
/// an exact check names the condition too (and a grant that loses it is a wider one).
pub fn granted(stack: &Stack, name: &str) -> Result<Grants, Vec<String>> {
    let p = stack.properties(name);
    let mut problems = Vec::new();
    for key in ["ManagedPolicyArns", "PermissionsBoundary", "Groups"] {
        if !p[key].is_null() {
            problems.push(format!("{name} must not set {key}"));
        }
    }
    let mut out = Grants::new();
    for policy in one_or_many(&p["Policies"]) {
        let pname = policy["PolicyName"].as_str().unwrap_or("?");
        for s in one_or_many(&policy["PolicyDocument"]["Statement"]) {
            for key in ["NotAction", "NotResource", "NotPrincipal"] {
                if !s[key].is_null() {
                    problems.push(format!("{name}/{pname}: {key} is not allowed"));
                }
            }
            if s["Effect"] != "Allow" {
                problems.push(format!("{name}/{pname}: only Allow statements are expected"));
            }
            for a in one_or_many(&s["Action"]) {
                let a = a.as_str().unwrap_or("?");
                if a.contains('*') || a.contains('?') {
                    problems.push(format!("{name}/{pname}: wildcard action {a}"));
                }
                for r in one_or_many(&s["Resource"]) {
                    let r = r.as_str().unwrap_or("?").to_string();
                    if r == "*" && a != "logs:CallWithBearerToken" {
                        problems.push(format!("{name}/{pname}: {a} on resource *"));
                    }
                    let r = if s["Condition"].is_null() { r } else { format!("{r} if {}", s["Condition"]) };
                    out.insert((a.to_string(), r));
                }
            }
        }
    }
    // Nothing else attaches to the identity from the side.
    let me = json!(format!("{{{name}}}"));
    for (other, r) in resources(&stack.t) {
        let ty = r["Type"].as_str().unwrap_or("");
        if ty.starts_with("AWS::IAM::") && other != name && stack.exists(other) {
            let op = stack.properties(other);
            let attaches = [&op["Roles"], &op["Users"]].iter().any(|v| one_or_many(v).contains(&&me))
                || op["RoleName"] == me
                || op["UserName"] == me;
            if attaches {
                problems.push(format!("{other} attaches policies to {name}"));
            }
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

pub fn check_exact(stack: &Stack, name: &str, expected: &Grants) -> Result<(), Vec<String>> {
    let got = granted(stack, name)?;
    let mut problems = Vec::new();
    for extra in got.difference(expected) {
        problems.push(format!("{name}: grant beyond the allowed set: {} on {}", extra.0, extra.1));
    }
    for absent in expected.difference(&got) {
        problems.push(format!("{name}: needed grant missing: {} on {}", absent.0, absent.1));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

pub fn assert_exact(stack: &Stack, name: &str, expected: &Grants) {
    if let Err(p) = check_exact(stack, name, expected) {
        panic!("IAM of {name}:\n  {}", p.join("\n  "));
    }
}

pub fn trust(stack: &Stack, role: &str) -> Value {
    let doc = &stack.properties(role)["AssumeRolePolicyDocument"]["Statement"];
    let statements = one_or_many(doc);
    assert_eq!(statements.len(), 1, "{role} is assumed by one principal");
    let s = statements[0].clone();
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Action"], "sts:AssumeRole");
    s
}

/// Every IAM identity a template creates, for the parameters given.
pub fn identities(stack: &Stack) -> BTreeSet<String> {
    resources(&stack.t)
        .iter()
        .filter(|(name, r)| r["Type"].as_str().is_some_and(|t| t.starts_with("AWS::IAM::")) && stack.exists(name))
        .map(|(name, _)| name.clone())
        .collect()
}

// ------------------------------------------------------------------ the data lake's bucket policy

/// A reader named in `LakeReaderArns`, and a principal of the account that is none of the lake's.
pub const READER: &str = "arn:aws:iam::999999999999:role/usage-analyst";
pub const STRANGER: &str = "arn:aws:iam::999999999999:role/Admin";

/// Whether the bucket policy denies a request: every statement is a Deny; one applies when its
/// action and resource match and its condition holds (`aws:SecureTransport`, `aws:PrincipalArn`).
pub fn lake_denies(policy: &Value, principal: &str, action: &str, key: &str, tls: bool) -> bool {
    fn glob(pattern: &str, s: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == s,
            Some((head, tail)) => {
                s.starts_with(head) && (0..=s.len() - head.len()).any(|i| glob(tail, &s[head.len() + i..]))
            }
        }
    }
    let object = if key.is_empty() { "{LakeBucket.Arn}".to_string() } else { format!("{{LakeBucket.Arn}}/{key}") };
    policy["Statement"].as_array().expect("statements").iter().any(|s| {
        let actions = one_or_many(&s["Action"]);
        let acts = actions.iter().any(|a| glob(a.as_str().unwrap(), action));
        let on = if s["NotResource"].is_null() {
            one_or_many(&s["Resource"]).iter().any(|r| glob(r.as_str().unwrap(), &object))
        } else {
            !one_or_many(&s["NotResource"]).iter().any(|r| glob(r.as_str().unwrap(), &object))
        };
        let holds = s["Condition"].as_object().is_none_or(|c| {
            c.iter().all(|(op, kv)| match (op.as_str(), kv.as_object().unwrap().iter().next().unwrap()) {
                ("Bool", (k, v)) if k == "aws:SecureTransport" => v == "false" && !tls,
                ("ArnNotEquals", (k, v)) if k == "aws:PrincipalArn" => {
                    !one_or_many(v).iter().any(|p| p.as_str() == Some(principal))
                }
                other => panic!("unexpected condition {other:?}"),
            })
        });
        acts && on && holds
    })
}

pub fn lake_policy_problems(stack: &Stack) -> Vec<String> {
    let policy = stack.properties("LakeBucketPolicy")["PolicyDocument"].clone();
    let mut problems = Vec::new();
    for s in policy["Statement"].as_array().unwrap() {
        if s["Effect"] != "Deny" || s["Principal"] != "*" {
            problems.push(format!("the bucket policy only denies, to everyone: {s}"));
        }
    }
    let digest = stack.exists("DigestRole");
    let readers = stack.conditions["LakeHasReaders"];
    let (delivery, digest_role) = ("{LakeDeliveryRole.Arn}", "{DigestRole.Arn}");
    // (principal, action, key, allowed)
    let mut cases = vec![
        (delivery, "s3:PutObject", "sanitized/dt=2026-11-23/x.gz", true),
        (delivery, "s3:PutObject", "errors/processing-failed/dt=2026-11-23/x.gz", true),
        (delivery, "s3:ListBucket", "", true),
        (delivery, "s3:GetObject", "sanitized/dt=2026-11-23/x.gz", false),
        (delivery, "s3:PutObject", "athena-results/x.csv", false),
        (delivery, "s3:PutObject", "raw/x.gz", false),
        (digest_role, "s3:PutObject", "sanitized/dt=2026-11-23/x.gz", false),
        (READER, "s3:PutObject", "sanitized/dt=2026-11-23/x.gz", false),
        (READER, "s3:PutObject", "other/x", false),
        (STRANGER, "s3:GetObject", "sanitized/dt=2026-11-23/x.gz", false),
        (STRANGER, "s3:GetObject", "athena-results/x.csv", false),
        (STRANGER, "s3:ListBucket", "", false),
        (STRANGER, "s3:PutObject", "sanitized/dt=2026-11-23/x.gz", false),
        (STRANGER, "s3:PutObject", "athena-results/x.csv", false),
    ];
    cases.push((digest_role, "s3:GetObject", "sanitized/dt=2026-11-23/x.gz", digest));
    cases.push((digest_role, "s3:ListBucket", "", digest));
    cases.push((READER, "s3:GetObject", "sanitized/dt=2026-11-23/x.gz", readers));
    cases.push((READER, "s3:PutObject", "athena-results/x.csv", readers));
    cases.push((READER, "s3:ListBucket", "", readers));
    for (principal, action, key, allowed) in cases {
        if lake_denies(&policy, principal, action, key, true) == allowed {
            problems
                .push(format!("{principal} {action} {key}: should be {}", if allowed { "allowed" } else { "denied" }));
        }
        // Without TLS, nothing.
        if !lake_denies(&policy, principal, action, key, false) {
            problems.push(format!("{principal} {action} {key} without TLS is not denied"));
        }
    }
    problems
}
