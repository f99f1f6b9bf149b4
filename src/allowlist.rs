//! The allowlist: `allowlist.toml` turned into a validated, compiled [`Allowlist`].
//!
//! Trusts nothing in the file: unknown fields, duplicate keys, empty lists, bad bounds, keys the
//! reference marks sensitive, and colliding output names are all refused with the line they are
//! on. Guarantees: a compiled allowlist names at least one event, every kept value has a kind,
//! and no identity attribute can be kept except as a keyed pseudonym.

use crate::kind::{Kind, is_token_byte};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use toml::Spanned;

/// `allowlist.toml` at the crate root, embedded at build time.
pub const EMBEDDED_ALLOWLIST: &str = include_str!("../allowlist.toml");

/// The attribute every kept event carries, derived from the validated event name.
pub(crate) const EVENT_NAME_KEY: &str = "event.name";

/// The attribute holding the JSON string whose sub-keys `[tool_parameters]` extracts.
pub(crate) const TOOL_PARAMETERS_KEY: &str = "tool_parameters";

/// Keys that hold content or identity (the "sensitive" column of the reference). The allowlist
/// may not keep them raw; identities may be kept only through `[pseudonyms]`.
const NEVER_KEPT_RAW: &[&str] = &[
    "prompt",
    "prompt_text",
    "response",
    "body",
    "body_ref",
    "error",
    "tool_parameters",
    "tool_input",
    "server_name",
    "hook_definitions",
    "hook_matcher",
    "workspace.host_paths",
    "user.id",
    "user.email",
    "user.account_uuid",
    "user.account_id",
    "user.groups",
    "identity.source",
    "enduser.id",
];

const MAX_STRING_LEN: usize = 256;
const DEFAULT_HEX_CHARS: usize = 16;

/// Why an allowlist was refused: a message naming allowlist keys (never payload content) and,
/// where known, the 1-based line it points at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AllowlistError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for AllowlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

// ---- the file, as serde reads it ----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    events: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    attributes: BTreeMap<Spanned<String>, Spanned<ValueSpec>>,
    #[serde(default)]
    resource_attributes: BTreeMap<Spanned<String>, Spanned<ValueSpec>>,
    #[serde(default)]
    tool_parameters: BTreeMap<Spanned<String>, Spanned<ValueSpec>>,
    #[serde(default)]
    pseudonyms: BTreeMap<Spanned<String>, Spanned<PseudonymSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueSpec {
    kind: Spanned<String>,
    min: Option<Bound>,
    max: Option<Bound>,
    max_len: Option<usize>,
    values: Option<Vec<String>>,
    regex: Option<String>,
    /// Only in `[tool_parameters]`: the attribute the extracted value is written under.
    output: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum Bound {
    Int(i64),
    Float(f64),
}

impl Bound {
    fn as_f64(self) -> f64 {
        match self {
            Bound::Int(i) => i as f64,
            Bound::Float(x) => x,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PseudonymSpec {
    from: Vec<Spanned<String>>,
    hex_chars: Option<usize>,
}

// ---- the compiled form --------------------------------------------------------------------

/// How one output attribute is built.
#[derive(Debug)]
pub(crate) enum Rule {
    Copy { slot: usize, kind: Kind },
    Extract { slot: usize, passthrough: usize, kind: Kind },
    Pseudonym { sources: Vec<usize>, passthrough: usize, hex_chars: usize, passthrough_kind: Kind },
}

#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) key: String,
    pub(crate) rule: Rule,
}

/// One table of input keys: key → slot, and what each slot is for.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    index: HashMap<Box<str>, usize>,
    pub(crate) keys: Vec<Box<str>>,
}

impl Slots {
    fn add(&mut self, key: &str) -> usize {
        let slot = self.keys.len();
        self.index.insert(key.into(), slot);
        self.keys.push(key.into());
        slot
    }

    pub(crate) fn get(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A validated allowlist. Build it with [`Allowlist::from_toml`] or [`Allowlist::embedded`].
#[derive(Debug)]
pub struct Allowlist {
    pub(crate) events: Vec<String>,
    pub(crate) attribute_slots: Slots,
    pub(crate) outputs: Vec<Output>,
    /// `tool_parameters` sub-key → slot in `attribute_slots`.
    pub(crate) tool_parameter_subkeys: HashMap<Box<str>, usize>,
    pub(crate) resource_slots: Slots,
    pub(crate) resource_outputs: Vec<Output>,
}

impl Allowlist {
    /// The allowlist embedded at build time from `allowlist.toml`. Its validity is proven by a
    /// test, so this cannot fail in a tested build.
    pub fn embedded() -> Allowlist {
        match Allowlist::from_toml(EMBEDDED_ALLOWLIST) {
            Ok(allowlist) => allowlist,
            Err(e) => {
                panic!("the embedded allowlist.toml is invalid ({e}); cargo test catches this")
            }
        }
    }

    /// Parses and validates an allowlist.
    pub fn from_toml(text: &str) -> Result<Allowlist, AllowlistError> {
        let file: File = toml::from_str(text).map_err(|e| AllowlistError {
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_owned(),
        })?;
        Compiler { text }.compile(file)
    }

    /// Event names kept, in file order.
    pub fn events(&self) -> &[String] {
        &self.events
    }

    /// Output attribute keys, in output order (`event.name` first).
    pub fn attribute_outputs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(EVENT_NAME_KEY).chain(self.outputs.iter().map(|o| o.key.as_str()))
    }

    /// Output resource attribute keys, in output order.
    pub fn resource_outputs(&self) -> impl Iterator<Item = &str> {
        self.resource_outputs.iter().map(|o| o.key.as_str())
    }

    /// A human-readable description of what is kept (for `check-allowlist`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("events kept ({}): {}\n", self.events.len(), self.events.join(", ")));
        s.push_str("attributes written:\n  event.name  (the validated event name)\n");
        for o in &self.outputs {
            s.push_str(&format!("  {}  {}\n", o.key, describe_rule(&o.rule, &self.attribute_slots)));
        }
        s.push_str("resource attributes written:\n");
        for o in &self.resource_outputs {
            s.push_str(&format!("  {}  {}\n", o.key, describe_rule(&o.rule, &self.resource_slots)));
        }
        s
    }
}

fn describe_rule(rule: &Rule, slots: &Slots) -> String {
    match rule {
        Rule::Copy { kind, .. } => format!("copied if {}", describe_kind(kind)),
        Rule::Extract { slot, kind, .. } => {
            let sub = slots.keys[*slot].strip_prefix("tool_parameters.").unwrap_or(&slots.keys[*slot]);
            format!("extracted from tool_parameters.{sub} if {}", describe_kind(kind))
        }
        Rule::Pseudonym { sources, hex_chars, .. } => {
            let names: Vec<&str> = sources.iter().map(|s| &*slots.keys[*s]).collect();
            format!("keyed pseudonym ({hex_chars} hex chars) of the first of: {}", names.join(", "))
        }
    }
}

fn describe_kind(kind: &Kind) -> String {
    match kind {
        Kind::Integer { min, max } => format!("integer in {min}..={max}"),
        Kind::Number { min, max } => format!("number in {min}..={max}"),
        Kind::Boolean => "boolean".into(),
        Kind::Uuid => "UUID".into(),
        Kind::Token { max_len } => format!("token of at most {max_len} chars [A-Za-z0-9._:-]"),
        Kind::Enum { values } => format!("one of {}", values.join(", ")),
        Kind::Pattern { regex, max_len } => {
            format!("at most {max_len} chars matching {}", regex.as_str())
        }
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

enum Plan<'f> {
    Copy(&'f Spanned<ValueSpec>),
    Extract(&'f Spanned<String>, &'f Spanned<ValueSpec>),
    Pseudonym(&'f Spanned<PseudonymSpec>),
}

struct Compiler<'t> {
    text: &'t str,
}

impl Compiler<'_> {
    fn error<T>(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Result<T, AllowlistError> {
        Err(AllowlistError { line: Some(line_of(self.text, span.start)), message: message.into() })
    }

    fn compile(&self, file: File) -> Result<Allowlist, AllowlistError> {
        let events = self.events(&file.events)?;

        // Gather every output attribute, check names, then build in output-key order.
        let mut plans: Vec<(&Spanned<String>, Plan<'_>)> = Vec::new();
        for (key, spec) in &file.attributes {
            self.attribute_key(key, "attributes")?;
            self.no_output(spec)?;
            plans.push((key, Plan::Copy(spec)));
        }
        for (sub, spec) in &file.tool_parameters {
            self.key_syntax(sub, "tool_parameters")?;
            let Some(output) = &spec.get_ref().output else {
                return self.error(
                    spec.span(),
                    format!("[tool_parameters] \"{}\" needs `output`, the attribute to write it under", sub.get_ref()),
                );
            };
            self.attribute_key(output, "tool_parameters output")?;
            plans.push((output, Plan::Extract(sub, spec)));
        }
        for (output, spec) in &file.pseudonyms {
            self.attribute_key(output, "pseudonyms")?;
            plans.push((output, Plan::Pseudonym(spec)));
        }
        plans.sort_by(|a, b| a.0.get_ref().cmp(b.0.get_ref()));
        if let Some(pair) = plans.windows(2).find(|w| w[0].0.get_ref() == w[1].0.get_ref()) {
            let key = pair[1].0;
            return self.error(key.span(), format!("output attribute \"{}\" is written by two entries", key.get_ref()));
        }

        let mut slots = Slots::default();
        slots.add(EVENT_NAME_KEY);
        if !file.tool_parameters.is_empty() {
            slots.add(TOOL_PARAMETERS_KEY);
        }
        let mut tool_parameter_subkeys = HashMap::new();
        let mut outputs = Vec::with_capacity(plans.len());
        for (output, plan) in plans {
            let rule = match plan {
                Plan::Copy(spec) => {
                    let kind = self.kind(spec)?;
                    let slot = self.add_slot(&mut slots, output)?;
                    Rule::Copy { slot, kind }
                }
                Plan::Extract(sub, spec) => {
                    let kind = self.kind(spec)?;
                    let flattened = Spanned::new(sub.span(), format!("{TOOL_PARAMETERS_KEY}.{}", sub.get_ref()));
                    let slot = self.add_slot(&mut slots, &flattened)?;
                    tool_parameter_subkeys.insert(sub.get_ref().as_str().into(), slot);
                    let passthrough = self.add_slot(&mut slots, output)?;
                    Rule::Extract { slot, passthrough, kind }
                }
                Plan::Pseudonym(spec) => {
                    let spec_ref = spec.get_ref();
                    if spec_ref.from.is_empty() {
                        return self.error(
                            spec.span(),
                            format!("pseudonym \"{}\" needs at least one `from` attribute", output.get_ref()),
                        );
                    }
                    let hex_chars = spec_ref.hex_chars.unwrap_or(DEFAULT_HEX_CHARS);
                    if !(8..=64).contains(&hex_chars) {
                        return self.error(spec.span(), "`hex_chars` must be between 8 and 64");
                    }
                    let mut sources = Vec::with_capacity(spec_ref.from.len());
                    for source in &spec_ref.from {
                        self.key_syntax(source, "pseudonym source")?;
                        sources.push(self.add_slot(&mut slots, source)?);
                    }
                    let passthrough = self.add_slot(&mut slots, output)?;
                    let regex = Regex::new(&format!("^[0-9a-f]{{{hex_chars}}}$")).expect("a fixed, valid pattern");
                    let passthrough_kind = Kind::Pattern { regex, max_len: hex_chars };
                    Rule::Pseudonym { sources, passthrough, hex_chars, passthrough_kind }
                }
            };
            outputs.push(Output { key: output.get_ref().clone(), rule });
        }

        let mut resource_slots = Slots::default();
        let mut resource_outputs = Vec::new();
        for (key, spec) in &file.resource_attributes {
            self.attribute_key(key, "resource_attributes")?;
            self.no_output(spec)?;
            let kind = self.kind(spec)?;
            let slot = self.add_slot(&mut resource_slots, key)?;
            resource_outputs.push(Output { key: key.get_ref().clone(), rule: Rule::Copy { slot, kind } });
        }

        Ok(Allowlist {
            events,
            attribute_slots: slots,
            outputs,
            tool_parameter_subkeys,
            resource_slots,
            resource_outputs,
        })
    }

    /// Adds an input key; an input key has one role only.
    fn add_slot(&self, slots: &mut Slots, key: &Spanned<String>) -> Result<usize, AllowlistError> {
        if slots.get(key.get_ref()).is_some() {
            return self
                .error(key.span(), format!("\"{}\" is used twice: an attribute has one role only", key.get_ref()));
        }
        Ok(slots.add(key.get_ref()))
    }

    fn no_output(&self, spec: &Spanned<ValueSpec>) -> Result<(), AllowlistError> {
        match &spec.get_ref().output {
            Some(output) => self.error(output.span(), "`output` belongs only in [tool_parameters]"),
            None => Ok(()),
        }
    }

    fn events(&self, events: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, AllowlistError> {
        if events.get_ref().is_empty() {
            return self.error(events.span(), "`events` is empty: an allowlist that keeps nothing is refused");
        }
        let mut names: Vec<String> = Vec::new();
        for name in events.get_ref() {
            let n = name.get_ref();
            if n.is_empty()
                || n.len() > 64
                || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return self.error(name.span(), format!("event name \"{n}\" must be 1 to 64 characters of [a-z0-9_] (e.g. api_request, without the claude_code. prefix)"));
            }
            if names.contains(n) {
                return self.error(name.span(), format!("event \"{n}\" is listed twice"));
            }
            names.push(n.clone());
        }
        Ok(names)
    }

    fn key_syntax(&self, key: &Spanned<String>, table: &str) -> Result<(), AllowlistError> {
        let k = key.get_ref();
        let ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes().all(is_token_byte)
            && !k.starts_with('.')
            && !k.ends_with('.')
            && !k.contains("..");
        if ok {
            Ok(())
        } else {
            self.error(key.span(), format!("[{table}] key \"{k}\" must be 1 to 128 characters of [A-Za-z0-9._:-] (quote dotted keys: \"session.id\" = ...)"))
        }
    }

    fn attribute_key(&self, key: &Spanned<String>, table: &str) -> Result<(), AllowlistError> {
        self.key_syntax(key, table)?;
        let k = key.get_ref().as_str();
        if k == EVENT_NAME_KEY {
            return self
                .error(key.span(), "\"event.name\" is always written from the validated event name; do not list it");
        }
        if NEVER_KEPT_RAW.contains(&k) {
            return self.error(
                key.span(),
                format!("\"{k}\" holds content or identity and may not be kept raw (identities: use [pseudonyms])"),
            );
        }
        Ok(())
    }

    fn kind(&self, spec: &Spanned<ValueSpec>) -> Result<Kind, AllowlistError> {
        let span = spec.span();
        let s = spec.get_ref();
        let kind = s.kind.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "integer" | "number" => &["min", "max"],
            "boolean" | "uuid" => &[],
            "token" => &["max_len"],
            "enum" => &["values"],
            "pattern" => &["regex", "max_len"],
            other => {
                return self.error(
                    s.kind.span(),
                    format!(
                        "unknown kind \"{other}\" (expected integer, number, boolean, uuid, token, enum or pattern)"
                    ),
                );
            }
        };
        let present = [
            ("min", s.min.is_some()),
            ("max", s.max.is_some()),
            ("max_len", s.max_len.is_some()),
            ("values", s.values.is_some()),
            ("regex", s.regex.is_some()),
        ];
        for (field, is_present) in present {
            if is_present && !allowed.contains(&field) {
                return self.error(span, format!("kind \"{kind}\" does not take `{field}`"));
            }
            if !is_present && allowed.contains(&field) {
                return self.error(span, format!("kind \"{kind}\" needs `{field}`"));
            }
        }
        let max_len = |n: usize| {
            if (1..=MAX_STRING_LEN).contains(&n) {
                Ok(n)
            } else {
                self.error(span.clone(), format!("`max_len` must be between 1 and {MAX_STRING_LEN}"))
            }
        };
        Ok(match kind {
            "integer" => {
                let (Some(Bound::Int(min)), Some(Bound::Int(max))) = (s.min, s.max) else {
                    return self.error(span, "kind \"integer\" needs whole-number `min` and `max`");
                };
                if min > max {
                    return self.error(span, "`min` is greater than `max`");
                }
                Kind::Integer { min, max }
            }
            "number" => {
                let (min, max) = (s.min.map(Bound::as_f64).unwrap_or(0.0), s.max.map(Bound::as_f64).unwrap_or(0.0));
                if !(min.is_finite() && max.is_finite()) || min > max {
                    return self.error(span, "`min` and `max` must be finite with min <= max");
                }
                Kind::Number { min, max }
            }
            "boolean" => Kind::Boolean,
            "uuid" => Kind::Uuid,
            "token" => Kind::Token { max_len: max_len(s.max_len.unwrap_or(0))? },
            "enum" => {
                let values = s.values.clone().unwrap_or_default();
                if values.is_empty() {
                    return self.error(span, "kind \"enum\" needs at least one value");
                }
                if values.iter().any(|v| v.is_empty() || v.len() > MAX_STRING_LEN) {
                    return self.error(span, format!("enum values must be 1 to {MAX_STRING_LEN} characters"));
                }
                Kind::Enum { values }
            }
            "pattern" => {
                let source = s.regex.clone().unwrap_or_default();
                let regex = Regex::new(&format!("^(?:{source})$")).map_err(|_| AllowlistError {
                    line: Some(line_of(self.text, span.start)),
                    message: "`regex` is not a valid regular expression".into(),
                })?;
                Kind::Pattern { regex, max_len: max_len(s.max_len.unwrap_or(0))? }
            }
            _ => unreachable!("kind names are matched above"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"events = ["api_request"]
[attributes]
"model" = { kind = "token", max_len = 64 }
"#;

    fn error(text: &str) -> AllowlistError {
        Allowlist::from_toml(text).expect_err("should be refused")
    }

    #[test]
    fn the_shipped_allowlist_is_valid_and_covers_the_mission() {
        let a = Allowlist::from_toml(EMBEDDED_ALLOWLIST).unwrap();
        let outputs: Vec<&str> = a.attribute_outputs().collect();
        for key in [
            "event.name",
            "session.id",
            "user.pseudonym",
            "model",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "skill.name",
            "agent.name",
            "agent_type",
            "mcp_server.name",
            "tool_name",
            "tool.subagent_type",
            "tool.mcp_server_name",
            "tool.mcp_tool_name",
            "tool.skill_name",
        ] {
            assert!(outputs.contains(&key), "{key} missing from {outputs:?}");
        }
        assert!(["service.name", "service.version"].iter().all(|k| a.resource_outputs().any(|o| o == *k)));
        assert!(a.events().contains(&"api_request".to_owned()));
    }

    #[test]
    fn every_shipped_entry_has_a_comment_saying_why_it_is_safe() {
        let lines: Vec<&str> = EMBEDDED_ALLOWLIST.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let entry = line.trim_start().starts_with('"') && line.contains("kind =");
            if entry {
                let mut j = i;
                while j > 0 && lines[j - 1].trim_start().starts_with('"') {
                    j -= 1;
                }
                assert!(j > 0 && lines[j - 1].trim_start().starts_with('#'), "line {}: entry without a comment", i + 1);
            }
        }
    }

    #[test]
    fn a_minimal_allowlist_is_valid() {
        let a = Allowlist::from_toml(MINIMAL).unwrap();
        assert_eq!(a.attribute_outputs().collect::<Vec<_>>(), ["event.name", "model"]);
    }

    #[test]
    fn a_misspelled_field_is_refused_with_its_line() {
        let e = error("events = [\"api_request\"]\n[attributes]\n\"model\" = { kind = \"token\", max_lenght = 64 }\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("max_lenght"), "{e}");
    }

    #[test]
    fn a_misspelled_table_is_refused() {
        let e = error("events = [\"api_request\"]\n[atributes]\n\"model\" = { kind = \"token\", max_len = 64 }\n");
        assert!(e.message.contains("atributes"), "{e}");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn an_empty_allowlist_is_refused() {
        assert!(error("").message.contains("events"));
        let e = error("events = []\n");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let dup_toml = format!("{MINIMAL}\"model\" = {{ kind = \"uuid\" }}\n");
        assert_eq!(error(&dup_toml).line, Some(4));
        let dup_event = "events = [\"api_request\",\n  \"api_request\"]\n";
        let e = error(dup_event);
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn two_entries_writing_one_output_are_refused() {
        let text =
            format!("{MINIMAL}[tool_parameters]\n\"x\" = {{ output = \"model\", kind = \"token\", max_len = 5 }}\n");
        let e = error(&text);
        assert!(e.message.contains("\"model\""), "{e}");
    }

    #[test]
    fn an_attribute_has_one_role() {
        let text = format!("{MINIMAL}[pseudonyms.\"user.pseudonym\"]\nfrom = [\"model\"]\n");
        assert!(error(&text).message.contains("used twice"));
    }

    #[test]
    fn sensitive_keys_cannot_be_kept_raw() {
        for key in ["prompt", "user.email", "tool_parameters", "tool_input", "error", "workspace.host_paths"] {
            let text =
                format!("events = [\"api_request\"]\n[attributes]\n\"{key}\" = {{ kind = \"token\", max_len = 5 }}\n");
            let e = error(&text);
            assert_eq!(e.line, Some(3));
            assert!(e.message.contains("may not be kept raw"), "{key}: {e}");
        }
        let resource =
            "events = [\"api_request\"]\n[resource_attributes]\n\"enduser.id\" = { kind = \"token\", max_len = 5 }\n";
        assert!(error(resource).message.contains("may not be kept raw"));
    }

    #[test]
    fn event_name_is_implicit() {
        let text = "events = [\"api_request\"]\n[attributes]\n\"event.name\" = { kind = \"token\", max_len = 5 }\n";
        assert!(error(text).message.contains("event.name"));
    }

    #[test]
    fn unquoted_dotted_keys_are_refused() {
        let e = error("events = [\"api_request\"]\n[attributes]\nsession.id = { kind = \"uuid\" }\n");
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn kinds_are_checked() {
        let cases = [
            (r#"{ kind = "text" }"#, "unknown kind"),
            (r#"{ kind = "integer", min = 0 }"#, "needs `max`"),
            (r#"{ kind = "integer", min = 5, max = 1 }"#, "greater"),
            (r#"{ kind = "integer", min = 0.5, max = 1 }"#, "whole-number"),
            (r#"{ kind = "number", min = 0, max = nan }"#, "finite"),
            (r#"{ kind = "token" }"#, "needs `max_len`"),
            (r#"{ kind = "token", max_len = 0 }"#, "max_len"),
            (r#"{ kind = "token", max_len = 100000 }"#, "max_len"),
            (r#"{ kind = "uuid", max_len = 5 }"#, "does not take"),
            (r#"{ kind = "enum", values = [] }"#, "at least one"),
            (r#"{ kind = "pattern", regex = "(", max_len = 5 }"#, "regular expression"),
            (r#"{ kind = "token", max_len = 5, output = "x" }"#, "only in [tool_parameters]"),
        ];
        for (spec, expected) in cases {
            let text = format!("events = [\"api_request\"]\n[attributes]\n\"model\" = {spec}\n");
            let e = error(&text);
            assert!(e.message.contains(expected), "{spec}: {e}");
            assert_eq!(e.line, Some(3), "{spec}: {e}");
        }
    }

    #[test]
    fn event_names_are_identifiers() {
        assert!(error("events = [\"claude_code.api_request\"]\n").message.contains("[a-z0-9_]"));
    }

    #[test]
    fn pseudonym_settings_are_checked() {
        let base = "events = [\"api_request\"]\n[pseudonyms.\"user.pseudonym\"]\n";
        assert!(error(&format!("{base}from = []\n")).message.contains("at least one"));
        assert!(error(&format!("{base}from = [\"user.email\"]\nhex_chars = 4\n")).message.contains("hex_chars"));
        assert!(Allowlist::from_toml(&format!("{base}from = [\"user.email\"]\n")).is_ok());
    }

    #[test]
    fn describe_names_every_output() {
        let text = Allowlist::embedded().describe();
        for key in Allowlist::embedded().attribute_outputs() {
            assert!(text.contains(key), "{key}");
        }
        assert!(text.contains("keyed pseudonym"));
    }
}
