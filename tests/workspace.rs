//! The workspace's shape, as Cargo resolves it (`cargo metadata`): the crates are the rooms, and
//! each may touch only what its job needs. The core builds without tokio, the AWS SDK or HTTP;
//! the sanitizer function without the digest's HTTP client, HTML or charts; dependencies between
//! the workspace's crates point one way (core ← aws ← digest ← binaries; core ← otlp ← the
//! OTLP endpoint).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Package name → the names of its normal (non-dev, non-build) dependencies, for every package
/// Cargo resolved for the workspace.
/// Resolved for the host only (`--filter-platform`): the packages other platforms would build
/// with (Windows console crates) are never downloaded on a fresh machine, and `cargo metadata`
/// for every platform would need them (CI failed so: `failed to download anstyle-wincon`).
fn normal_dependencies() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, String>) {
    let host = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "host-tuple"])
        .output()
        .expect("rustc prints its host");
    assert!(host.status.success(), "rustc --print host-tuple: {}", String::from_utf8_lossy(&host.stderr));
    let host = String::from_utf8(host.stdout).unwrap();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", host.trim()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap();
        let normal = node["deps"].as_array().unwrap().iter().filter(|d| {
            d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null() && k["target"].is_null())
        });
        deps.entry(id.to_owned()).or_default().extend(normal.map(|d| d["pkg"].as_str().unwrap().to_owned()));
    }
    (deps, names)
}

/// Every package `root` builds with (its normal dependencies, transitively), by name.
fn closure(root: &str) -> BTreeSet<String> {
    let (deps, names) = normal_dependencies();
    let start = names.iter().find(|(_, n)| n.as_str() == root).map(|(id, _)| id.clone()).expect("package");
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(id) = todo.pop() {
        if seen.insert(id.clone()) {
            todo.extend(deps.get(&id).into_iter().flatten().cloned());
        }
    }
    seen.iter().map(|id| names[id].clone()).collect()
}

fn assert_none(root: &str, forbidden: &[&str]) {
    let built = closure(root);
    let found: Vec<&String> = built
        .iter()
        .filter(|n| forbidden.iter().any(|f| n.as_str() == *f || n.starts_with(&format!("{f}-"))))
        .collect();
    assert!(found.is_empty(), "{root} builds with {found:?}");
}

/// What neither pure crate (the core, the OTLP body reader) may build with.
const NOT_PURE: &[&str] = &[
    "tokio",
    "aws-config",
    "aws-sdk",
    "aws-smithy",
    "aws-lc-rs",
    "hyper",
    "http",
    "reqwest",
    "rustls",
    "maud",
    "plotters",
    "lambda_runtime",
];

#[test]
fn the_core_builds_without_tokio_the_aws_sdk_or_http() {
    assert_none("sanitizer-core", NOT_PURE);
    let built = closure("sanitizer-core");
    assert!(built.contains("serde_json") && built.contains("flate2"), "the closure is read: {built:?}");
}

#[test]
fn the_otlp_reader_builds_without_tokio_the_aws_sdk_http_or_grpc() {
    assert_none("sanitizer-otlp", &[NOT_PURE, &["tonic", "tower", "h2"]].concat());
    let built = closure("sanitizer-otlp");
    assert!(built.contains("opentelemetry-proto") && built.contains("prost"), "the closure is read: {built:?}");
}

#[test]
fn the_sanitizer_function_builds_without_the_digest() {
    assert_none("sanitizer-lambda", &["sanitizer-digest", "reqwest", "maud", "plotters", "backon"]);
    // It is the function: it does build the runtime and the AWS edge.
    let built = closure("sanitizer-lambda");
    assert!(built.contains("lambda_runtime") && built.contains("sanitizer-aws"));
}

#[test]
fn the_otlp_endpoint_builds_without_the_digest_or_grpc() {
    assert_none("sanitizer-otlp-endpoint", &["sanitizer-digest", "reqwest", "maud", "plotters", "tonic"]);
    let built = closure("sanitizer-otlp-endpoint");
    assert!(built.contains("lambda_http") && built.contains("sanitizer-otlp"), "the closure is read: {built:?}");
}

#[test]
fn workspace_dependencies_point_one_way() {
    let ours = [
        "sanitizer-core",
        "sanitizer-otlp",
        "sanitizer-aws",
        "sanitizer-digest",
        "sanitizer-lambda",
        "digest-lambda",
        "sanitizer-otlp-endpoint",
    ];
    let within = |root: &str| -> BTreeSet<String> {
        closure(root)
            .into_iter()
            .filter(|n| n != root && (ours.contains(&n.as_str()) || n == "claude-otel-sanitizer"))
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<String>>();
    assert_eq!(within("sanitizer-core"), set(&[]));
    assert_eq!(within("sanitizer-otlp"), set(&["sanitizer-core"]));
    assert_eq!(within("sanitizer-aws"), set(&["sanitizer-core"]));
    assert_eq!(within("sanitizer-digest"), set(&["sanitizer-aws", "sanitizer-core"]));
    assert_eq!(within("sanitizer-lambda"), set(&["sanitizer-aws", "sanitizer-core"]));
    assert_eq!(within("digest-lambda"), set(&["sanitizer-aws", "sanitizer-core", "sanitizer-digest"]));
    assert_eq!(within("sanitizer-otlp-endpoint"), set(&["sanitizer-aws", "sanitizer-core", "sanitizer-otlp"]));
}
