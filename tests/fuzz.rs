//! A bounded mutation fuzzer over decode → parse → sanitize (cargo-fuzz's default, sanitizer-
//! backed mode needs a nightly toolchain; this runs on stable in every `cargo test`).
//!
//! Seeds: every stored message of the fixtures (real Claude Code recordings in both stored
//! shapes, and the synthetic ones), with every canary of `fixtures/recorded/canaries.txt`
//! rewritten as `CANARY <n> /`: a space and a slash, which no kind of the allowlist accepts, so a
//! canary in an output line is a leak whatever the mutations did. Each iteration mutates a few
//! seeds (byte flips, deletions, duplications, splices between seeds, JSON fragments and deep
//! nesting from a dictionary) and runs them through one of: the NDJSON path (raw bytes, may be
//! invalid UTF-8), a full envelope (gzip + base64 + `Sanitizer::sanitize_envelope`, checked against
//! `decode_envelope` + `sanitize_payload`), or
//! a corrupted envelope at each layer, or (three iterations in ten) a structured input: a
//! recorded payload (decompressed JSON) cut to one to three events and mutated as JSON (members
//! deleted, duplicated, swapped or renamed, escapes rewritten, strings truncated, escapes and
//! surrogates inserted, types flipped, nesting grown, subtrees spliced from another recording),
//! mostly inside an event's message, then gzipped and base64-encoded into an envelope, so that it
//! passes the envelope and the gzip layers and reaches the payload reader and the sanitizer.
//!
//! Invariants: never a panic; the streamed path gives what the whole-payload path gives; every
//! event is written or counted (the events received counted by the test itself: input lines,
//! messages, or serde_json's count of a payload's events); every output line is a JSON
//! object without a canary's `CANARY ` (a splice may legitimately move the bare word into an
//! allowlisted token: found with the seed of this file's generator, iteration 374,038); an
//! error's text has no `CANARY` at all.
//!
//! `FUZZ_ITERATIONS` (default 20,000, a few seconds, for a plain `cargo test`; `scripts/test.sh`,
//! which CI runs, sets 600,000: 40 s to 2 min in a test build on one core) and `FUZZ_SEED`
//! (default fixed, so CI is repeatable) set the run; a failure prints both.
//! A long run: `FUZZ_ITERATIONS=2000000 FUZZ_SEED=$RANDOM cargo test --release --test fuzz`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{
    envelope_of, gzip, payload, payload_files, payload_of, recorded_canaries, recorded_files, sanitize_both_ways,
    sanitizer,
};
use proptest::prelude::{Rng as _, RngExt as _};
use proptest::test_runner::{RngAlgorithm, TestRng};
use sanitizer_core::{DEFAULT_MAX_DECOMPRESSED_BYTES, SanitizedPayload, Sanitizer};
use serde_json::Value;

/// Iterations of a plain `cargo test`; CI's count is in `scripts/test.sh`.
const DEFAULT_ITERATIONS: u64 = 20_000;
const DEFAULT_SEED: u64 = 0x5eed_c1a0_de0f_f00d;

/// Fragments a mutation may insert: JSON structure, AnyValue wrappers, allowlisted keys,
/// number spellings and escapes that have tripped parsers before.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-0",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "18446744073709551616",
    "9223372036854775808",
    "4.9e-324",
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "\\\"",
    "\u{feff}",
    "\u{1F600}",
    r#"{"stringValue":"#,
    r#"{"intValue":"#,
    r#"{"doubleValue":"#,
    r#"{"boolValue":"#,
    r#"{"kvlistValue":{"values":[{"key":"#,
    r#"{"arrayValue":{"values":["#,
    r#""attributes":"#,
    r#""resource":"#,
    r#""body":"claude_code.api_request""#,
    r#""body":"claude_code.tool_result""#,
    r#""eventName":"#,
    r#""event.name":"api_request""#,
    r#""event":{"name":"#,
    r#""tool_parameters":"{\"subagent_type\":"#,
    r#""tool_parameters":{"#,
    r#""user.email":"#,
    r#""user.id":"#,
    r#""user.pseudonym":"#,
    r#""session.id":"#,
    r#""model":"#,
    r#""input_tokens":"#,
    r#""cost_usd":"#,
    r#""service.name":"#,
    r#""timeUnixNano":"#,
    r#""key":"#,
    r#""value":"#,
];

/// The fuzzer's choices, from proptest's seeded XorShift generator: a run replays from one `u64`.
struct Rng(TestRng);

impl Rng {
    fn seeded(state: u64) -> Self {
        let mut seed = [0u8; 16];
        seed[..8].copy_from_slice(&state.to_le_bytes());
        seed[8..].copy_from_slice(&(!state).to_le_bytes());
        Rng(TestRng::from_seed(RngAlgorithm::XorShift, &seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n.max(1))
    }
    fn range(&mut self, len: usize) -> (usize, usize) {
        let a = self.below(len + 1);
        let b = (a + self.below(64)).min(len);
        (a, b)
    }
}

/// Every stored message of every fixture payload, with canaries rewritten (see the module doc).
fn seeds() -> Vec<Vec<u8>> {
    let canaries = recorded_canaries();
    let mut seeds = Vec::new();
    for file in payload_files() {
        let payload = payload_of(&std::fs::read(&file).unwrap());
        for event in payload["logEvents"].as_array().unwrap() {
            let mut message = event["message"].as_str().unwrap().to_owned();
            for (n, canary) in canaries.iter().enumerate() {
                message = message.replace(canary.as_str(), &format!("CANARY {n} /"));
            }
            // Synthetic fixtures spell their own canaries `CANARY-…`, `CANARY.…`, `CANARY0a1b…`:
            // give every one the space and slash too.
            message = message.replace("CANARY", "CANARY /").replace("CANARY / ", "CANARY ");
            seeds.push(message.into_bytes());
        }
    }
    assert!(seeds.len() > 200, "expected the fixture messages");
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            1 => {
                let (a, b) = rng.range(len);
                input.drain(a..b);
            }
            2 => {
                let (a, b) = rng.range(len);
                let copy = input[a..b].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let (a, b) = rng.range(other.len());
                let at = rng.below(len + 1);
                input.splice(at..at, other[a..b].iter().copied());
            }
            4 => {
                let depth = [2, 64, 129, 3000][rng.below(4)];
                let (open, close) = [("[", "]"), (r#"{"k":"#, "}")][rng.below(2)];
                let nest = format!("{}CANARY /{}", open.repeat(depth), close.repeat(depth));
                let at = rng.below(len + 1);
                input.splice(at..at, nest.bytes());
            }
            _ => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, word.bytes());
            }
        }
    }
}

// ---- structured inputs: recorded payloads mutated as JSON ---------------------------------

/// A JSON value as written: member order, repeated names and each string's escapes are kept as
/// they are, so that a mutation can change any of them (a `serde_json::Value` would lose them).
#[derive(Clone, Debug)]
enum Tree {
    /// `null`, `true`, `false` or a number, as written.
    Word(String),
    /// A string's text between its quotes, escapes as written.
    Text(String),
    List(Vec<Tree>),
    Members(Vec<(String, Tree)>),
}

impl Tree {
    /// Reads valid JSON (the recordings, and what [`Tree::write`] wrote).
    fn parse(text: &str) -> Option<Tree> {
        let mut at = 0;
        let tree = Tree::value(text.as_bytes(), &mut at)?;
        Tree::space(text.as_bytes(), &mut at);
        (at == text.len()).then_some(tree)
    }

    fn space(b: &[u8], at: &mut usize) {
        while *at < b.len() && b[*at].is_ascii_whitespace() {
            *at += 1;
        }
    }

    fn text(b: &[u8], at: &mut usize) -> Option<String> {
        let start = *at + 1;
        let mut i = start;
        loop {
            match *b.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        *at = i + 1;
        String::from_utf8(b[start..i].to_vec()).ok()
    }

    fn value(b: &[u8], at: &mut usize) -> Option<Tree> {
        Tree::space(b, at);
        match *b.get(*at)? {
            b'"' => Tree::text(b, at).map(Tree::Text),
            b'[' => {
                *at += 1;
                let mut items = Vec::new();
                loop {
                    Tree::space(b, at);
                    if *b.get(*at)? == b']' {
                        *at += 1;
                        return Some(Tree::List(items));
                    }
                    if !items.is_empty() {
                        (b[*at] == b',').then_some(())?;
                        *at += 1;
                    }
                    items.push(Tree::value(b, at)?);
                }
            }
            b'{' => {
                *at += 1;
                let mut members = Vec::new();
                loop {
                    Tree::space(b, at);
                    if *b.get(*at)? == b'}' {
                        *at += 1;
                        return Some(Tree::Members(members));
                    }
                    if !members.is_empty() {
                        (b[*at] == b',').then_some(())?;
                        *at += 1;
                        Tree::space(b, at);
                    }
                    (*b.get(*at)? == b'"').then_some(())?;
                    let name = Tree::text(b, at)?;
                    Tree::space(b, at);
                    (*b.get(*at)? == b':').then_some(())?;
                    *at += 1;
                    members.push((name, Tree::value(b, at)?));
                }
            }
            _ => {
                let start = *at;
                while *at < b.len() && !matches!(b[*at], b',' | b']' | b'}' | b' ' | b'\n' | b'\t' | b'\r') {
                    *at += 1;
                }
                (*at > start).then(|| Tree::Word(String::from_utf8_lossy(&b[start..*at]).into_owned()))
            }
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Tree::Word(w) => out.push_str(w),
            Tree::Text(t) => {
                out.push('"');
                out.push_str(t);
                out.push('"');
            }
            Tree::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Tree::Members(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(name);
                    out.push_str("\":");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Paths (child indexes from the root) to every node, the root first.
    fn paths(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(prefix.clone());
        let children: Vec<&Tree> = match self {
            Tree::List(items) => items.iter().collect(),
            Tree::Members(members) => members.iter().map(|(_, v)| v).collect(),
            _ => return,
        };
        for (i, child) in children.into_iter().enumerate() {
            prefix.push(i);
            child.paths(prefix, out);
            prefix.pop();
        }
    }

    fn at(&mut self, path: &[usize]) -> &mut Tree {
        match (path.split_first(), self) {
            (None, t) => t,
            (Some((&i, rest)), Tree::List(items)) => items[i].at(rest),
            (Some((&i, rest)), Tree::Members(members)) => members[i].1.at(rest),
            _ => unreachable!("paths come from the tree"),
        }
    }
}

/// A string's raw text (escapes as written) as the text it denotes, when it is valid.
fn unescape(raw: &str) -> Option<String> {
    serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()
}

/// `text` as a string's raw text, escaped as serde_json escapes it.
fn escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Pieces inserted into strings: escapes of every form, surrogate pairs, lone and reversed
/// surrogates, characters of every UTF-8 length.
const STRING_PIECES: &[&str] = &[
    "\\u0041",
    "\\u00e9",
    "\\u20ac",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\udfff",
    "\\udc00\\ud800",
    "\\u0000",
    "\\u001f",
    "\\uFFFF",
    "\\uD83D\\uDE00",
    "\\\"",
    "\\\\",
    "\\/",
    "\\b\\f\\n\\r\\t",
    "é",
    "€",
    "😀",
    "\u{7f}",
    "CANARY /",
];

/// Keys a mutation may rename a member to: kept keys, AnyValue wrappers, envelope members.
const KEYS: &[&str] = &[
    "model",
    "cost_usd",
    "input_tokens",
    "tool_name",
    "session.id",
    "event.name",
    "body",
    "attributes",
    "resource",
    "tool_parameters",
    "subagent_type",
    "user.email",
    "user.id",
    "key",
    "value",
    "values",
    "stringValue",
    "intValue",
    "doubleValue",
    "boolValue",
    "kvlistValue",
    "arrayValue",
    "logEvents",
    "message",
    "id",
    "timestamp",
    "messageType",
    "timeUnixNano",
    "team.id",
    "prompt",
    "m\\u006fdel",
    "\\u0062ody",
];

/// Other spellings of numbers.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1.0",
    "1e0",
    "1E+2",
    "0.1e-5",
    "-1",
    "18446744073709551616",
    "1e400",
    "4.9e-324",
    "100000001",
    "12345678",
];

/// One JSON-level mutation of `tree` (`donor`: another seed's tree, for splices).
fn mutate_tree(rng: &mut Rng, tree: &mut Tree, donor: &Tree) {
    let mut paths = Vec::new();
    tree.paths(&mut Vec::new(), &mut paths);
    let path = paths[rng.below(paths.len())].clone();
    let node = tree.at(&path);
    match rng.below(12) {
        // Delete, duplicate or swap members or elements.
        0..=2 => {
            let op = rng.below(3);
            let len = match node {
                Tree::List(items) => items.len(),
                Tree::Members(members) => members.len(),
                _ => return,
            };
            if len == 0 {
                return;
            }
            let (i, j) = (rng.below(len), rng.below(len));
            match (node, op) {
                (Tree::List(items), 0) => drop(items.remove(i)),
                (Tree::List(items), 1) => items.insert(j, items[i].clone()),
                (Tree::List(items), _) => items.swap(i, j),
                (Tree::Members(members), 0) => drop(members.remove(i)),
                (Tree::Members(members), 1) => members.insert(j, members[i].clone()),
                (Tree::Members(members), _) => members.swap(i, j),
                _ => {}
            }
        }
        // Change a string's escapes: one character written as `\uXXXX` (a pair for one outside
        // the BMP), or the whole string written with every character escaped.
        3 => {
            if let Tree::Text(raw) = node
                && let Some(text) = unescape(raw)
            {
                let chars: Vec<char> = text.chars().collect();
                let every = rng.below(8) == 0;
                let pick = rng.below(chars.len());
                let mut out = String::new();
                for (i, c) in chars.iter().enumerate() {
                    if every || i == pick {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{:04x}", u));
                        }
                    } else {
                        out.push_str(&escape(&c.to_string()));
                    }
                }
                *raw = out;
            }
        }
        // Truncate a string (never inside an escape).
        4 => {
            if let Tree::Text(raw) = node {
                let mut cut = rng.below(raw.len() + 1);
                while !raw.is_char_boundary(cut) {
                    cut -= 1;
                }
                if let Some(backslash) = raw[..cut].rfind('\\')
                    && cut - backslash < 6
                {
                    cut = backslash;
                }
                raw.truncate(cut);
            }
        }
        // Insert an escape, a surrogate or a multi-byte character into a string.
        5 => {
            if let Tree::Text(raw) = node {
                let mut at = rng.below(raw.len() + 1);
                while !raw.is_char_boundary(at) {
                    at -= 1;
                }
                if let Some(backslash) = raw[..at].rfind('\\')
                    && at - backslash < 6
                {
                    at = backslash;
                }
                raw.insert_str(at, STRING_PIECES[rng.below(STRING_PIECES.len())]);
            }
        }
        // Flip the type: a value becomes another kind of value, is wrapped in an AnyValue or
        // unwrapped from one.
        6 | 7 => {
            let replacement = match (rng.below(8), &*node) {
                (0, Tree::Word(w)) => Tree::Text(w.clone()),
                (0, Tree::Text(t)) => Tree::Word(if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
                    t.clone()
                } else {
                    "1".into()
                }),
                (1, _) => Tree::Word(["null", "true", "false"][rng.below(3)].into()),
                (2, _) => Tree::Word(NUMBERS[rng.below(NUMBERS.len())].into()),
                (3, _) => Tree::List(vec![node.clone()]),
                (4, _) => Tree::Members(vec![(
                    ["stringValue", "intValue", "doubleValue", "boolValue"][rng.below(4)].into(),
                    node.clone(),
                )]),
                (5, Tree::Members(m)) if m.len() == 1 => m[0].1.clone(),
                (5, Tree::Members(m)) => Tree::List(m.iter().map(|(_, v)| v.clone()).collect()),
                (6, _) => Tree::Text(String::new()),
                _ => Tree::Members(Vec::new()),
            };
            *node = replacement;
        }
        // Grow nesting.
        8 => {
            let depth = [1, 2, 10, 64, 129, 600][rng.below(6)];
            let list = rng.below(2) == 0;
            let mut t = node.clone();
            for _ in 0..depth {
                t = if list { Tree::List(vec![t]) } else { Tree::Members(vec![("k".into(), t)]) };
            }
            *node = t;
        }
        // Rename a member to a key that matters (kept, a wrapper, an envelope member).
        9 => {
            if let Tree::Members(members) = node
                && !members.is_empty()
            {
                let i = rng.below(members.len());
                members[i].0 = KEYS[rng.below(KEYS.len())].into();
            }
        }
        // Splice a subtree of another recording.
        _ => {
            let mut donor_paths = Vec::new();
            donor.paths(&mut Vec::new(), &mut donor_paths);
            let mut donor = donor.clone();
            *node = donor.at(&donor_paths[rng.below(donor_paths.len())]).clone();
        }
    }
}

/// The recorded payloads (decompressed), their canaries rewritten as in [`seeds`], as trees.
fn payload_seeds() -> Vec<Tree> {
    let canaries = recorded_canaries();
    let seeds: Vec<Tree> = recorded_files()
        .into_iter()
        .map(|file| {
            let mut text = payload_of(&std::fs::read(&file).unwrap()).to_string();
            for (n, canary) in canaries.iter().enumerate() {
                text = text.replace(canary.as_str(), &format!("CANARY {n} /"));
            }
            Tree::parse(&text).expect("a recorded payload parses")
        })
        .collect();
    assert!(seeds.len() >= 30, "expected the recorded payloads");
    seeds
}

/// A recorded payload cut to a few of its events, mutated as JSON: most mutations inside one
/// event's message (read as JSON, mutated, written back into its string), some in the payload
/// around them (where a mutated string is the message's escaped text itself).
fn structured_payload(rng: &mut Rng, payloads: &[Tree]) -> String {
    let seed = &payloads[rng.below(payloads.len())];
    let donor_payload = &payloads[rng.below(payloads.len())];
    // The seed's members, its list of events cut to one to three (cloning only those).
    let keep = 1 + rng.below(3);
    let mut payload = match seed {
        Tree::Members(members) => Tree::Members(
            members
                .iter()
                .map(|(k, v)| match v {
                    Tree::List(events) if k == "logEvents" => {
                        let start = rng.below(events.len().saturating_sub(keep) + 1);
                        (k.clone(), Tree::List(events[start..(start + keep).min(events.len())].to_vec()))
                    }
                    _ => (k.clone(), v.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    if let Tree::Members(members) = &mut payload
        && let Some((_, Tree::List(events))) = members.iter_mut().find(|(k, _)| k == "logEvents")
    {
        // The donor: a message of another recording, as a tree.
        let donor = message_of(donor_payload, rng).unwrap_or_else(|| donor_payload.clone());
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(events.len());
            if rng.below(5) == 0 || events.is_empty() {
                // The payload level.
                let mut whole = Tree::List(std::mem::take(events));
                mutate_tree(rng, &mut whole, donor_payload);
                *events = match whole {
                    Tree::List(items) if !items.is_empty() => items,
                    other => vec![other],
                };
            } else if let Tree::Members(event) = &mut events[i]
                && let Some((_, Tree::Text(raw))) = event.iter_mut().find(|(k, _)| k == "message")
                && let Some(mut message) = unescape(raw).as_deref().and_then(Tree::parse)
            {
                mutate_tree(rng, &mut message, &donor);
                *raw = escape(&message.to_text());
            }
        }
    }
    if rng.below(10) == 0 {
        mutate_tree(rng, &mut payload, donor_payload);
    }
    payload.to_text()
}

/// One message of a payload tree, as a tree.
fn message_of(payload: &Tree, rng: &mut Rng) -> Option<Tree> {
    let Tree::Members(members) = payload else { return None };
    let (_, Tree::List(events)) = members.iter().find(|(k, _)| k == "logEvents")? else { return None };
    let Tree::Members(event) = &events[rng.below(events.len())] else { return None };
    let (_, Tree::Text(raw)) = event.iter().find(|(k, _)| k == "message")? else { return None };
    Tree::parse(&unescape(raw)?)
}

thread_local! {
    /// Events written over the run: the fuzzer must reach the writing code, not only errors.
    static WRITTEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Structured inputs tried, decoded (the envelope and payload accepted), and decoded with
    /// at least one event written: the structured inputs must reach past the payload reader.
    static STRUCTURED: std::cell::Cell<[u64; 3]> = const { std::cell::Cell::new([0; 3]) };
}

/// Checks one result. `received`: the number of events in the input, counted by the test
/// itself (`None` when the input is not one the test can count: a corrupted payload).
fn check(out: &SanitizedPayload, received: Option<u64>, context: &dyn Fn() -> String) {
    WRITTEN.with(|w| w.set(w.get() + out.counts.written));
    if let Some(received) = received {
        assert_eq!(out.counts.received, received, "events received: {}", context());
    }
    assert_eq!(out.events.len() as u64, out.counts.written, "{}", context());
    assert_eq!(out.counts.dropped_total(), out.counts.received - out.events.len() as u64, "{}", context());
    for event in &out.events {
        // Splices can move the bare word `CANARY` into an allowlisted token, legitimately; what no
        // kind accepts, and so what only a leak can write, is a canary's space.
        assert!(!event.message.contains("CANARY "), "canary leaked: {}", context());
        let v: Value = serde_json::from_str(&event.message).unwrap_or_else(|_| panic!("not JSON: {}", context()));
        assert!(v.is_object(), "{}", context());
    }
}

/// The events of a payload text, counted by serde_json (not by the sanitizer's readers); `None`
/// when serde_json refuses the text or it is not a data payload with a list of events.
fn events_in(payload: &str) -> Option<u64> {
    let v: Value = serde_json::from_str(payload).ok()?;
    (v["messageType"] == "DATA_MESSAGE").then_some(())?;
    Some(v["logEvents"].as_array()?.len() as u64)
}

fn one_iteration(rng: &mut Rng, seeds: &[Vec<u8>], payloads: &[Tree], s: &Sanitizer, context: &dyn Fn() -> String) {
    if rng.below(10) < 3 {
        // A recorded payload mutated as JSON, then gzipped and base64-encoded into an envelope.
        let payload = structured_payload(rng, payloads);
        let envelope = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, STANDARD.encode(gzip(payload.as_bytes())));
        let result = sanitize_both_ways(s, envelope.as_bytes(), DEFAULT_MAX_DECOMPRESSED_BYTES, context);
        let written = result.as_ref().map_or(0, |out| out.counts.written);
        STRUCTURED.with(|c| {
            let [tried, decoded, with_events] = c.get();
            c.set([tried + 1, decoded + u64::from(result.is_ok()), with_events + u64::from(written > 0)]);
        });
        match result {
            Ok(out) => check(&out, events_in(&payload), context),
            Err(e) => assert!(!e.to_string().contains("CANARY"), "canary in an error: {}", context()),
        }
        return;
    }
    let messages: Vec<Vec<u8>> = (0..1 + rng.below(4))
        .map(|_| {
            let mut m = seeds[rng.below(seeds.len())].clone();
            mutate(rng, seeds, &mut m);
            m
        })
        .collect();
    match rng.below(10) {
        // NDJSON: raw bytes, possibly invalid UTF-8 or containing line breaks.
        0..=5 => {
            let mut input = Vec::new();
            for m in &messages {
                input.extend_from_slice(m);
                input.push(b'\n');
            }
            let lines = input.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count() as u64;
            check(&s.sanitize_ndjson(&input, 0), Some(lines), context);
        }
        // A well-formed envelope of mutated messages.
        6..=8 => {
            let events: Vec<(String, i64, String)> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| (i.to_string(), i as i64, String::from_utf8_lossy(m).into_owned()))
                .collect();
            let envelope = envelope_of(&payload("g", "s", &events));
            let streamed = sanitize_both_ways(s, &envelope, DEFAULT_MAX_DECOMPRESSED_BYTES, context)
                .unwrap_or_else(|e| panic!("a well-formed envelope is refused ({e}): {}", context()));
            check(&streamed, Some(messages.len() as u64), context);
        }
        // A corrupted envelope: mutate the payload JSON, the gzip bytes, or the envelope text.
        _ => {
            let mut payload = format!(
                r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":[],"logEvents":[{{"id":"1","timestamp":1,"message":{}}}]}}"#,
                Value::String(String::from_utf8_lossy(&messages[0]).into_owned())
            )
            .into_bytes();
            let layer = rng.below(3);
            if layer == 0 {
                mutate(rng, seeds, &mut payload);
            }
            let mut compressed = gzip(&payload);
            if layer == 1 {
                let i = 10 + rng.below(compressed.len() - 10);
                compressed[i] ^= 1 << rng.below(8);
            }
            let mut envelope = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, STANDARD.encode(&compressed)).into_bytes();
            if layer == 2 {
                mutate(rng, seeds, &mut envelope);
            }
            match sanitize_both_ways(s, &envelope, 1 << 20, context) {
                Ok(streamed) => check(&streamed, events_in(&String::from_utf8_lossy(&payload)), context),
                Err(e) => assert!(!e.to_string().contains("CANARY"), "canary in an error: {}", context()),
            }
        }
    }
}

#[test]
fn mutated_fixtures_never_panic_and_never_leak() {
    let iterations = std::env::var("FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_ITERATIONS);
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SEED);
    let seeds = seeds();
    let payloads = payload_seeds();
    let s = sanitizer();
    let mut rng = Rng::seeded(seed);
    for iteration in 0..iterations {
        // Each iteration starts from its own state, so a failure replays from these two numbers.
        let state = rng.next();
        let context = || format!("FUZZ_SEED={seed} iteration {iteration} (state {state:#x})");
        let mut local = Rng::seeded(state);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            one_iteration(&mut local, &seeds, &payloads, &s, &context);
        }));
        if let Err(panic) = result {
            eprintln!("failed at {}", context());
            std::panic::resume_unwind(panic);
        }
    }
    let written = WRITTEN.with(std::cell::Cell::get);
    assert!(written >= iterations / 20, "only {written} events written in {iterations} iterations");
    // The structured inputs reach deep: most are decoded whole (the streamed reader read the
    // payload to its end) and many of those have events written.
    let [tried, decoded, with_events] = STRUCTURED.with(std::cell::Cell::get);
    eprintln!("structured inputs: {tried} tried, {decoded} decoded, {with_events} with events written");
    assert!(tried >= iterations / 5, "only {tried} structured inputs in {iterations} iterations");
    assert!(decoded * 2 >= tried, "only {decoded} of {tried} structured inputs decoded");
    assert!(with_events * 4 >= tried, "only {with_events} of {tried} structured inputs had events written");
}
