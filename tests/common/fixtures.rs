//! Fixture discovery, the golden files beside them, and the fixed test pseudonym key.

use sanitizer_core::{
    Allowlist, DEFAULT_MAX_DECOMPRESSED_BYTES, DecodeError, PseudonymKey, SanitizedPayload, Sanitizer, decode_envelope,
};
use std::path::{Path, PathBuf};

/// The pseudonym key of the golden files (tests only; never a real key).
pub const FIXTURE_KEY: &str = "fixture-pseudonym-key-0123456789";

/// Separates the written lines from the counts in a golden file.
pub const COUNTS_SEPARATOR: &str = "--- counts (stderr) ---";

/// The workspace root (where `allowlist.toml` and `fixtures/` are), from the root package's
/// tests and from a member crate's alike.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().find(|dir| dir.join("allowlist.toml").is_file()).expect("workspace root").to_path_buf()
}

/// Every subscription payload under `fixtures/synthetic/` and `fixtures/recorded/`: a new file
/// dropped into either folder is picked up (and fails until its golden file is written).
pub fn payload_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["fixtures/synthetic", "fixtures/recorded"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).expect("fixture folder exists"))
        .map(|entry| entry.expect("readable folder").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.file_name().is_some_and(|n| n != "inventory.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the fixture payloads, found {}", files.len());
    files
}

pub fn recorded_files() -> Vec<PathBuf> {
    payload_files().into_iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("recorded"))).collect()
}

pub fn sanitizer() -> Sanitizer {
    Sanitizer::new(Allowlist::embedded(), Some(PseudonymKey::new(FIXTURE_KEY.as_bytes()).expect("valid key")))
}

/// The function's path (`sanitize_envelope`: each event sanitized as it is read), checked
/// against sanitizing the whole decoded payload: the same result, or the same error. `context`
/// names the input in a failure.
pub fn sanitize_both_ways(
    sanitizer: &Sanitizer,
    envelope: &[u8],
    cap: usize,
    context: impl Fn() -> String,
) -> Result<SanitizedPayload, DecodeError> {
    let streamed = sanitizer.sanitize_envelope(envelope, cap).map(|(_, sanitized)| sanitized);
    let whole = decode_envelope(envelope, cap).map(|payload| sanitizer.sanitize_payload(&payload));
    assert_eq!(streamed, whole, "the streamed and the whole-payload paths differ: {}", context());
    streamed
}

/// A fixture through [`sanitize_both_ways`].
pub fn sanitize_file(sanitizer: &Sanitizer, path: &Path) -> SanitizedPayload {
    let bytes = std::fs::read(path).expect("fixture readable");
    sanitize_both_ways(sanitizer, &bytes, DEFAULT_MAX_DECOMPRESSED_BYTES, || path.display().to_string())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden file's content: the written lines, then the counts.
pub fn golden_text(output: &SanitizedPayload) -> String {
    let mut text = String::new();
    for event in &output.events {
        text.push_str(&event.message);
        text.push('\n');
    }
    text.push_str(COUNTS_SEPARATOR);
    text.push('\n');
    text.push_str(&output.counts.to_string());
    text
}

/// The golden file beside a payload: `fixtures/x/NAME.json` → `fixtures/x/NAME.snap`.
pub fn golden_path(payload: &Path) -> PathBuf {
    payload.with_extension("snap")
}

/// The body of an insta snapshot file (its `---` header removed).
pub fn golden_body(payload: &Path) -> String {
    let text = std::fs::read_to_string(golden_path(payload)).expect("golden file exists");
    let rest = text.strip_prefix("---\n").expect("insta header");
    let body = &rest[rest.find("\n---\n").expect("insta header end") + 5..];
    body.trim_end_matches('\n').to_owned()
}

/// Canary strings planted in the recordings (`fixtures/recorded/canaries.txt`).
pub fn recorded_canaries() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("fixtures/recorded/canaries.txt")).expect("canaries.txt");
    let canaries: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    assert!(canaries.len() >= 10, "canaries.txt lists the planted values");
    canaries
}
