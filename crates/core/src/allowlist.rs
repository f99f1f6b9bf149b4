//! The allowlist: `allowlist.toml` turned into a validated, compiled [`Allowlist`].
//!
//! Trusts nothing in the file: unknown fields, duplicate keys, empty lists, bad bounds, keys the
//! reference marks sensitive, and colliding output names are all refused with the line they are
//! on and an [`AllowlistErrorKind`] saying what is wrong. Guarantees: a compiled allowlist
//! names at least one event, every kept value has a kind, and no identity attribute can be kept
//! except as a keyed pseudonym.

use crate::counts::AttributeDrop;
use crate::kind::{Kind, Written, is_token_byte};
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use toml::Spanned;

/// `allowlist.toml` at the crate root, embedded at build time.
pub const EMBEDDED_ALLOWLIST: &str = include_str!("../../../allowlist.toml");

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
    "category",
    "tool_parameters",
    "tool_input",
    "full_command",
    "bash_command",
    "server_name",
    "hook_definitions",
    "hook_matcher",
    "hook_name",
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

/// Why an allowlist was refused: what is wrong ([`AllowlistErrorKind`], whose `Display` is the
/// message) and, where known, the 1-based line it points at. It names allowlist keys and fields,
/// never payload content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AllowlistError {
    pub line: Option<usize>,
    pub kind: AllowlistErrorKind,
}

impl fmt::Display for AllowlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// What is wrong with a refused allowlist. Strings held are the file's own keys and names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistErrorKind {
    /// Not TOML, or not the allowlist's shape (a misspelled or missing field or table, a wrong
    /// type, a key given twice): toml's own message, which names the file's fields.
    #[error("{0}")]
    Toml(String),
    #[error("`events` is empty: an allowlist that keeps nothing is refused")]
    NoEvents,
    #[error(
        "event name \"{0}\" must be 1 to 64 characters of [a-z0-9_] (e.g. api_request, without the claude_code. prefix)"
    )]
    BadEventName(String),
    #[error("event \"{0}\" is listed twice")]
    EventListedTwice(String),
    #[error("`events` names more than 64 events")]
    TooManyEvents,
    #[error("an entry's `events` is empty: list the events it is kept on, or leave `events` out for all")]
    NoEventsForKey,
    #[error("event \"{0}\" is not in the top-level `events`: a key can only be kept on a kept event")]
    EventNotKept(String),
    #[error("`events` belongs in [attributes] and [tool_parameters]: resource attributes are kept on every event")]
    EventsOnResource,
    #[error(
        "[{table}] key \"{key}\" must be 1 to 128 characters of [A-Za-z0-9._:-] (quote dotted keys: \"session.id\" = ...)"
    )]
    BadKey { table: &'static str, key: String },
    #[error("\"event.name\" is always written from the validated event name; do not list it")]
    EventNameListed,
    #[error("\"{0}\" holds content or identity and may not be kept raw (identities: use [pseudonyms])")]
    NeverKeptRaw(String),
    #[error("[tool_parameters] \"{0}\" needs `output`, the attribute to write it under")]
    NoOutput(String),
    #[error("`output` belongs only in [tool_parameters]")]
    OutputOutsideToolParameters,
    #[error("output attribute \"{0}\" is written by two entries")]
    OutputWrittenTwice(String),
    #[error("\"{0}\" is used twice: an attribute has one role only")]
    KeyUsedTwice(String),
    #[error("pseudonym \"{0}\" needs at least one `from` attribute")]
    NoPseudonymSource(String),
    #[error("`hex_chars` must be between 8 and 64")]
    HexCharsOutOfRange,
    #[error("unknown kind \"{0}\" (expected integer, number, boolean, uuid, token, enum or pattern)")]
    UnknownKind(String),
    #[error("kind \"{kind}\" does not take `{field}`")]
    FieldNotTaken { kind: &'static str, field: &'static str },
    #[error("kind \"{kind}\" needs `{field}`")]
    FieldMissing { kind: &'static str, field: &'static str },
    #[error("kind \"integer\" needs whole-number `min` and `max`")]
    IntegerBoundsNotWhole,
    #[error("`min` is greater than `max`")]
    MinAboveMax,
    #[error("`min` and `max` must be finite with min <= max")]
    NumberBoundsInvalid,
    #[error("`max_len` must be between 1 and {MAX_STRING_LEN}")]
    MaxLenOutOfRange,
    #[error("kind \"enum\" needs at least one value")]
    NoEnumValues,
    #[error("enum values must be 1 to {MAX_STRING_LEN} characters")]
    EnumValueLength,
    #[error("`regex` is not a valid regular expression")]
    InvalidRegex,
    #[error(
        "metric name \"{0}\" must be 1 to 128 characters of [a-z0-9_.] (the full name, e.g. claude_code.commit.count)"
    )]
    BadMetricName(String),
    #[error("[metrics.values] names more than 64 metrics")]
    TooManyMetrics,
    #[error("a metric's value must be of kind integer or number")]
    MetricValueKind,
    #[error("metric \"{0}\" is not in [metrics.values]: a key can only be kept on a kept metric")]
    MetricNotKept(String),
    #[error("metric \"{0}\" is listed twice")]
    MetricListedTwice(String),
    #[error("an entry's `metrics` is empty: list the metrics it is kept on, or leave `metrics` out for all")]
    NoMetricsForKey,
    #[error("`metrics` belongs only in [metrics.attributes]; `events` and `output` do not belong there")]
    MisplacedMetricsField,
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
    /// OTLP metrics (the OTLP endpoint's `/v1/metrics`): absent, none is kept.
    metrics: Option<MetricsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    /// Metrics kept, by full name, each with the kind of its data points' value.
    values: Spanned<BTreeMap<Spanned<String>, Spanned<ValueSpec>>>,
    /// Data-point attributes kept, with kinds, optionally only on some metrics (`metrics`).
    #[serde(default)]
    attributes: BTreeMap<Spanned<String>, Spanned<ValueSpec>>,
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
    /// Only in `[attributes]` and `[tool_parameters]`: the events the value is kept on (by
    /// default, every kept event). On any other event the key is dropped as not allowlisted.
    events: Option<Spanned<Vec<Spanned<String>>>>,
    /// Only in `[metrics.attributes]`: the metrics the value is kept on (by default, every kept
    /// metric).
    metrics: Option<Spanned<Vec<Spanned<String>>>>,
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
    /// `"key":` as the sanitizer writes it (made once, here, not per event).
    pub(crate) key_json: Box<[u8]>,
    pub(crate) rule: Rule,
    /// The events it is written on: bit `i` is `events[i]` of the allowlist.
    pub(crate) on: EventSet,
}

impl Output {
    fn new(key: String, rule: Rule, on: EventSet) -> Self {
        Output { key_json: key_json(&key), key, rule, on }
    }
}

/// `"key":` as the sanitizer writes it.
fn key_json(key: &str) -> Box<[u8]> {
    let mut json = serde_json::to_vec(key).unwrap_or_default();
    json.push(b':');
    json.into()
}

/// The `[metrics]` half of a compiled allowlist: what the OTLP endpoint keeps of a data point.
#[derive(Debug, Default)]
pub(crate) struct MetricRules {
    /// Metric names kept, in name order; `values[i]` is the kind of `names[i]`'s values.
    pub(crate) names: Vec<String>,
    pub(crate) values: Vec<Kind>,
    /// Data-point outputs in output (key) order, pseudonyms included.
    pub(crate) outputs: Vec<MetricOutput>,
}

impl MetricRules {
    pub(crate) fn metric(&self, name: &str) -> Option<usize> {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }
}

/// One data-point attribute written: from which input key(s), and on which metrics (bit `i`
/// is `names[i]`).
#[derive(Debug)]
pub(crate) struct MetricOutput {
    pub(crate) key: String,
    pub(crate) key_json: Box<[u8]>,
    pub(crate) rule: MetricRule,
    pub(crate) on: EventSet,
}

#[derive(Debug)]
pub(crate) enum MetricRule {
    Copy { input: Box<str>, kind: Kind },
    Pseudonym { sources: Vec<Box<str>>, hex_chars: usize },
}

/// A set of the allowlist's events, by their index in `events` (at most [`MAX_EVENTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventSet(u64);

impl EventSet {
    pub(crate) const ALL: EventSet = EventSet(u64::MAX);

    pub(crate) fn contains(self, event: usize) -> bool {
        event < 64 && self.0 & (1 << event) != 0
    }
}

/// The most events one allowlist may keep (one bit each in an [`EventSet`]).
const MAX_EVENTS: usize = 64;

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

/// What the sanitizer writes under one output attribute, for a reader of sanitized output (the
/// digest): a read-only view of the compiled allowlist, so that the reader trusts exactly what
/// the allowlist keeps and keeps no list of its own.
#[derive(Clone)]
pub struct OutputKind {
    form: Form,
    /// The events it is written on; `None`: every kept event.
    events: Option<Vec<String>>,
}

#[derive(Clone)]
enum Form {
    /// `event.name`: one of the events kept.
    EventName(Vec<String>),
    /// A value copied or extracted if it has this kind, in its normalised form.
    Kind(Kind),
    /// A keyed pseudonym (or the same form passed through): `hex_chars` lower-case hex digits.
    Pseudonym { hex_chars: usize },
}

impl fmt::Debug for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.form {
            Form::EventName(_) => "event name",
            Form::Kind(_) => "kind",
            Form::Pseudonym { .. } => "pseudonym",
        };
        f.debug_struct("OutputKind").field("form", &name).finish_non_exhaustive()
    }
}

impl OutputKind {
    /// Checks one written value: `Ok` only for a value of this output's kind in the form the
    /// sanitizer writes it; otherwise why not (`WrongKind`, `TooLong` or `OutOfRange`).
    pub fn check(&self, value: Written<'_>) -> Result<(), AttributeDrop> {
        match (&self.form, value) {
            (Form::Kind(kind), value) => kind.check_written(value),
            (Form::EventName(events), Written::Str(s)) if events.iter().any(|e| e == s) => Ok(()),
            (Form::Pseudonym { hex_chars }, Written::Str(s))
                if s.len() == *hex_chars && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(())
            }
            _ => Err(AttributeDrop::WrongKind),
        }
    }

    /// [`OutputKind::check`] of a JSON value (`null`, arrays and objects are never written).
    pub fn check_json(&self, value: &serde_json::Value) -> Result<(), AttributeDrop> {
        Written::from_json(value).map_or(Err(AttributeDrop::WrongKind), |w| self.check(w))
    }

    /// The length of a pseudonym output, in hex characters; `None` for any other output.
    pub fn pseudonym_hex_chars(&self) -> Option<usize> {
        match self.form {
            Form::Pseudonym { hex_chars } => Some(hex_chars),
            _ => None,
        }
    }

    /// Whether the sanitizer writes this output on events named `event` (an output restricted
    /// with `events = [...]` is written only on those).
    pub fn kept_on(&self, event: &str) -> bool {
        self.events.as_ref().is_none_or(|events| events.iter().any(|e| e == event))
    }

    /// The largest value a numeric output (`integer`, `number`) can hold.
    pub fn max(&self) -> Option<f64> {
        match &self.form {
            Form::Kind(kind) => kind.max(),
            _ => None,
        }
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
    pub(crate) metrics: MetricRules,
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
            kind: AllowlistErrorKind::Toml(e.message().trim().to_owned()),
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

    /// Every output attribute key with what is written under it, in output order
    /// (`event.name` first): the view a reader of sanitized output trusts.
    pub fn attribute_kinds(&self) -> impl Iterator<Item = (&str, OutputKind)> {
        let event = OutputKind { form: Form::EventName(self.events.clone()), events: None };
        std::iter::once((EVENT_NAME_KEY, event))
            .chain(self.outputs.iter().map(|o| (o.key.as_str(), output_kind(&o.rule, self.events_in(o.on)))))
    }

    /// Every output resource attribute key with what is written under it, in output order.
    pub fn resource_kinds(&self) -> impl Iterator<Item = (&str, OutputKind)> {
        self.resource_outputs.iter().map(|o| (o.key.as_str(), output_kind(&o.rule, None)))
    }

    /// Metric names kept (the OTLP endpoint's `[metrics.values]`), in name order.
    pub fn metric_names(&self) -> &[String] {
        &self.metrics.names
    }

    /// Every data-point attribute written on metric lines, with what is written under it
    /// ([`OutputKind::kept_on`] takes a metric name here), in output order.
    pub fn metric_attribute_kinds(&self) -> impl Iterator<Item = (&str, OutputKind)> {
        self.metrics.outputs.iter().map(|o| {
            let form = match &o.rule {
                MetricRule::Copy { kind, .. } => Form::Kind(kind.clone()),
                MetricRule::Pseudonym { hex_chars, .. } => Form::Pseudonym { hex_chars: *hex_chars },
            };
            (o.key.as_str(), OutputKind { form, events: self.metrics_in(o.on) })
        })
    }

    /// The kind of a kept metric's value (`integer` or `number`), for readers of metric lines.
    pub fn metric_value_kind(&self, metric: &str) -> Option<OutputKind> {
        let i = self.metrics.metric(metric)?;
        Some(OutputKind { form: Form::Kind(self.metrics.values[i].clone()), events: None })
    }

    fn metrics_in(&self, set: EventSet) -> Option<Vec<String>> {
        (set != EventSet::ALL).then(|| {
            self.metrics.names.iter().enumerate().filter(|(i, _)| set.contains(*i)).map(|(_, e)| e.clone()).collect()
        })
    }

    /// The names in `set`; `None` for every event.
    fn events_in(&self, set: EventSet) -> Option<Vec<String>> {
        (set != EventSet::ALL)
            .then(|| self.events.iter().enumerate().filter(|(i, _)| set.contains(*i)).map(|(_, e)| e.clone()).collect())
    }

    /// A human-readable description of what is kept (for `check-allowlist`).
    /// The first pseudonym output (`user.pseudonym` in the shipped allowlist) and its length in
    /// hex characters; `None` when the allowlist keeps no pseudonym.
    pub fn pseudonym_output(&self) -> Option<(&str, usize)> {
        self.outputs.iter().find_map(|o| match &o.rule {
            Rule::Pseudonym { hex_chars, .. } => Some((o.key.as_str(), *hex_chars)),
            _ => None,
        })
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("events kept ({}): {}\n", self.events.len(), self.events.join(", ")));
        s.push_str("attributes written:\n  event.name  (the validated event name)\n");
        for o in &self.outputs {
            let on = match self.events_in(o.on) {
                Some(events) => format!(" on {}", events.join(", ")),
                None => String::new(),
            };
            s.push_str(&format!("  {}  {}{on}\n", o.key, describe_rule(&o.rule, &self.attribute_slots)));
        }
        s.push_str("resource attributes written:\n");
        for o in &self.resource_outputs {
            s.push_str(&format!("  {}  {}\n", o.key, describe_rule(&o.rule, &self.resource_slots)));
        }
        let metrics = &self.metrics;
        s.push_str(&format!("metrics kept ({}, delta sums only):\n", metrics.names.len()));
        for (name, kind) in metrics.names.iter().zip(&metrics.values) {
            s.push_str(&format!("  {name}  value {}\n", describe_kind(kind)));
        }
        s.push_str("metric data-point attributes written (resource attributes as above):\n");
        for o in &metrics.outputs {
            let on = match self.metrics_in(o.on) {
                Some(names) => format!(" on {}", names.join(", ")),
                None => String::new(),
            };
            let rule = match &o.rule {
                MetricRule::Copy { kind, .. } => format!("copied if {}", describe_kind(kind)),
                MetricRule::Pseudonym { sources, hex_chars } => {
                    let names: Vec<&str> = sources.iter().map(|s| &**s).collect();
                    format!("keyed pseudonym ({hex_chars} hex chars) of the first of: {}", names.join(", "))
                }
            };
            s.push_str(&format!("  {}  {rule}{on}\n", o.key));
        }
        s
    }
}

fn output_kind(rule: &Rule, events: Option<Vec<String>>) -> OutputKind {
    let form = match rule {
        Rule::Copy { kind, .. } | Rule::Extract { kind, .. } => Form::Kind(kind.clone()),
        Rule::Pseudonym { hex_chars, .. } => Form::Pseudonym { hex_chars: *hex_chars },
    };
    OutputKind { form, events }
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
        Kind::Enum { values, .. } => format!("one of {}", values.join(", ")),
        Kind::Pattern { regex, max_len } => {
            format!("at most {max_len} chars matching {}", regex.as_str())
        }
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// One output attribute before its rule is built: its name and the entry that asks for it.
struct Plan<'f> {
    output: &'f Spanned<String>,
    entry: Entry<'f>,
}

enum Entry<'f> {
    Copy(&'f Spanned<ValueSpec>),
    Extract(&'f Spanned<String>, &'f Spanned<ValueSpec>),
    Pseudonym(&'f Spanned<PseudonymSpec>),
}

/// The attribute half of a compiled allowlist.
struct AttributeRules {
    slots: Slots,
    outputs: Vec<Output>,
    tool_parameter_subkeys: HashMap<Box<str>, usize>,
}

/// The resource half of a compiled allowlist.
struct ResourceRules {
    slots: Slots,
    outputs: Vec<Output>,
}

/// The kinds a value spec may name, and the fields each takes.
#[derive(Clone, Copy)]
enum KindName {
    Integer,
    Number,
    Boolean,
    Uuid,
    Token,
    Enum,
    Pattern,
}

impl KindName {
    const ALL: [KindName; 7] = [
        KindName::Integer,
        KindName::Number,
        KindName::Boolean,
        KindName::Uuid,
        KindName::Token,
        KindName::Enum,
        KindName::Pattern,
    ];

    fn as_str(self) -> &'static str {
        match self {
            KindName::Integer => "integer",
            KindName::Number => "number",
            KindName::Boolean => "boolean",
            KindName::Uuid => "uuid",
            KindName::Token => "token",
            KindName::Enum => "enum",
            KindName::Pattern => "pattern",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            KindName::Integer | KindName::Number => &["min", "max"],
            KindName::Boolean | KindName::Uuid => &[],
            KindName::Token => &["max_len"],
            KindName::Enum => &["values"],
            KindName::Pattern => &["regex", "max_len"],
        }
    }
}

/// Turns the file as read into an [`Allowlist`], refusing it at the first error with its line.
struct Compiler<'t> {
    text: &'t str,
}

impl Compiler<'_> {
    /// The phases, in order: events; every output attribute with its name checked; those in
    /// output order, each written once; their rules and input slots; the resource attributes.
    fn compile(&self, file: File) -> Result<Allowlist, AllowlistError> {
        let events = self.events(&file.events)?;
        let plans = self.plans(&file)?;
        let plans = self.in_output_order(plans)?;
        let attributes = self.attribute_rules(plans, &events, !file.tool_parameters.is_empty())?;
        let resource = self.resource_rules(&file.resource_attributes)?;
        let metrics = match &file.metrics {
            Some(table) => self.metric_rules(table, &file.pseudonyms)?,
            None => MetricRules::default(),
        };
        Ok(Allowlist {
            events,
            attribute_slots: attributes.slots,
            outputs: attributes.outputs,
            tool_parameter_subkeys: attributes.tool_parameter_subkeys,
            resource_slots: resource.slots,
            resource_outputs: resource.outputs,
            metrics,
        })
    }

    fn error<T>(&self, span: std::ops::Range<usize>, kind: AllowlistErrorKind) -> Result<T, AllowlistError> {
        Err(AllowlistError { line: Some(line_of(self.text, span.start)), kind })
    }

    /// Phase 1: the event names, each a valid identifier listed once.
    fn events(&self, events: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, AllowlistError> {
        if events.get_ref().is_empty() {
            return self.error(events.span(), AllowlistErrorKind::NoEvents);
        }
        if events.get_ref().len() > MAX_EVENTS {
            return self.error(events.span(), AllowlistErrorKind::TooManyEvents);
        }
        let mut names: Vec<String> = Vec::new();
        for name in events.get_ref() {
            let n = name.get_ref();
            if n.is_empty()
                || n.len() > 64
                || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return self.error(name.span(), AllowlistErrorKind::BadEventName(n.clone()));
            }
            if names.contains(n) {
                return self.error(name.span(), AllowlistErrorKind::EventListedTwice(n.clone()));
            }
            names.push(n.clone());
        }
        Ok(names)
    }

    /// Phase 2: every output attribute of `[attributes]`, `[tool_parameters]` and `[pseudonyms]`,
    /// with its name checked, in file order.
    fn plans<'f>(&self, file: &'f File) -> Result<Vec<Plan<'f>>, AllowlistError> {
        let mut plans = Vec::new();
        for (key, spec) in &file.attributes {
            self.attribute_key(key, "attributes")?;
            self.no_output(spec)?;
            plans.push(Plan { output: key, entry: Entry::Copy(spec) });
        }
        for (sub, spec) in &file.tool_parameters {
            self.key_syntax(sub, "tool_parameters")?;
            if NEVER_KEPT_RAW.contains(&sub.get_ref().as_str()) {
                return self.error(sub.span(), AllowlistErrorKind::NeverKeptRaw(sub.get_ref().clone()));
            }
            if let Some(metrics) = &spec.get_ref().metrics {
                return self.error(metrics.span(), AllowlistErrorKind::MisplacedMetricsField);
            }
            let Some(output) = &spec.get_ref().output else {
                return self.error(spec.span(), AllowlistErrorKind::NoOutput(sub.get_ref().clone()));
            };
            self.attribute_key(output, "tool_parameters output")?;
            plans.push(Plan { output, entry: Entry::Extract(sub, spec) });
        }
        for (output, spec) in &file.pseudonyms {
            self.attribute_key(output, "pseudonyms")?;
            plans.push(Plan { output, entry: Entry::Pseudonym(spec) });
        }
        Ok(plans)
    }

    /// Phase 3: the plans sorted by output key (the output order), refusing a key written twice.
    fn in_output_order<'f>(&self, mut plans: Vec<Plan<'f>>) -> Result<Vec<Plan<'f>>, AllowlistError> {
        plans.sort_by(|a, b| a.output.get_ref().cmp(b.output.get_ref()));
        if let Some(pair) = plans.windows(2).find(|w| w[0].output.get_ref() == w[1].output.get_ref()) {
            let key = pair[1].output;
            return self.error(key.span(), AllowlistErrorKind::OutputWrittenTwice(key.get_ref().clone()));
        }
        Ok(plans)
    }

    /// Phase 4: each plan's rule, and the input slots it reads (`event.name` first, then
    /// `tool_parameters` when extracted from).
    fn attribute_rules(
        &self,
        plans: Vec<Plan<'_>>,
        events: &[String],
        extracts_tool_parameters: bool,
    ) -> Result<AttributeRules, AllowlistError> {
        let mut rules =
            AttributeRules { slots: Slots::default(), outputs: Vec::new(), tool_parameter_subkeys: HashMap::new() };
        rules.slots.add(EVENT_NAME_KEY);
        if extracts_tool_parameters {
            rules.slots.add(TOOL_PARAMETERS_KEY);
        }
        for Plan { output, entry } in plans {
            let (rule, on) = match entry {
                Entry::Copy(spec) => (self.copy_rule(&mut rules.slots, output, spec)?, self.on(spec, events)?),
                Entry::Extract(sub, spec) => {
                    (self.extract_rule(&mut rules, output, sub, spec)?, self.on(spec, events)?)
                }
                Entry::Pseudonym(spec) => (self.pseudonym_rule(&mut rules.slots, output, spec)?, EventSet::ALL),
            };
            rules.outputs.push(Output::new(output.get_ref().clone(), rule, on));
        }
        Ok(rules)
    }

    /// The events an entry is kept on: its `events` list, each a kept event named once, or all.
    fn on(&self, spec: &Spanned<ValueSpec>, events: &[String]) -> Result<EventSet, AllowlistError> {
        let Some(list) = &spec.get_ref().events else {
            return Ok(EventSet::ALL);
        };
        if list.get_ref().is_empty() {
            return self.error(list.span(), AllowlistErrorKind::NoEventsForKey);
        }
        let mut set = 0u64;
        for name in list.get_ref() {
            let Some(i) = events.iter().position(|e| e == name.get_ref()) else {
                return self.error(name.span(), AllowlistErrorKind::EventNotKept(name.get_ref().clone()));
            };
            if set & (1 << i) != 0 {
                return self.error(name.span(), AllowlistErrorKind::EventListedTwice(name.get_ref().clone()));
            }
            set |= 1 << i;
        }
        Ok(EventSet(set))
    }

    fn copy_rule(
        &self,
        slots: &mut Slots,
        key: &Spanned<String>,
        spec: &Spanned<ValueSpec>,
    ) -> Result<Rule, AllowlistError> {
        let kind = self.kind(spec)?;
        let slot = self.add_slot(slots, key)?;
        Ok(Rule::Copy { slot, kind })
    }

    fn extract_rule(
        &self,
        rules: &mut AttributeRules,
        output: &Spanned<String>,
        sub: &Spanned<String>,
        spec: &Spanned<ValueSpec>,
    ) -> Result<Rule, AllowlistError> {
        let kind = self.kind(spec)?;
        let flattened = Spanned::new(sub.span(), format!("{TOOL_PARAMETERS_KEY}.{}", sub.get_ref()));
        let slot = self.add_slot(&mut rules.slots, &flattened)?;
        rules.tool_parameter_subkeys.insert(sub.get_ref().as_str().into(), slot);
        let passthrough = self.add_slot(&mut rules.slots, output)?;
        Ok(Rule::Extract { slot, passthrough, kind })
    }

    fn pseudonym_rule(
        &self,
        slots: &mut Slots,
        output: &Spanned<String>,
        spec: &Spanned<PseudonymSpec>,
    ) -> Result<Rule, AllowlistError> {
        let spec_ref = spec.get_ref();
        if spec_ref.from.is_empty() {
            return self.error(spec.span(), AllowlistErrorKind::NoPseudonymSource(output.get_ref().clone()));
        }
        let hex_chars = spec_ref.hex_chars.unwrap_or(DEFAULT_HEX_CHARS);
        if !(8..=64).contains(&hex_chars) {
            return self.error(spec.span(), AllowlistErrorKind::HexCharsOutOfRange);
        }
        let mut sources = Vec::with_capacity(spec_ref.from.len());
        for source in &spec_ref.from {
            self.key_syntax(source, "pseudonym source")?;
            sources.push(self.add_slot(slots, source)?);
        }
        let passthrough = self.add_slot(slots, output)?;
        let regex = Regex::new(&format!("^[0-9a-f]{{{hex_chars}}}$")).expect("a fixed, valid pattern");
        let passthrough_kind = Kind::Pattern { regex, max_len: hex_chars };
        Ok(Rule::Pseudonym { sources, passthrough, hex_chars, passthrough_kind })
    }

    /// Phase 5: `[resource_attributes]`, each copied under its own name, in key order.
    fn resource_rules(
        &self,
        table: &BTreeMap<Spanned<String>, Spanned<ValueSpec>>,
    ) -> Result<ResourceRules, AllowlistError> {
        let mut rules = ResourceRules { slots: Slots::default(), outputs: Vec::new() };
        for (key, spec) in table {
            self.attribute_key(key, "resource_attributes")?;
            self.no_output(spec)?;
            if let Some(events) = &spec.get_ref().events {
                return self.error(events.span(), AllowlistErrorKind::EventsOnResource);
            }
            let rule = self.copy_rule(&mut rules.slots, key, spec)?;
            rules.outputs.push(Output::new(key.get_ref().clone(), rule, EventSet::ALL));
        }
        Ok(rules)
    }

    /// Adds an input key; an input key has one role only.
    fn add_slot(&self, slots: &mut Slots, key: &Spanned<String>) -> Result<usize, AllowlistError> {
        if slots.get(key.get_ref()).is_some() {
            return self.error(key.span(), AllowlistErrorKind::KeyUsedTwice(key.get_ref().clone()));
        }
        Ok(slots.add(key.get_ref()))
    }

    fn no_output(&self, spec: &Spanned<ValueSpec>) -> Result<(), AllowlistError> {
        if let Some(metrics) = &spec.get_ref().metrics {
            return self.error(metrics.span(), AllowlistErrorKind::MisplacedMetricsField);
        }
        match &spec.get_ref().output {
            Some(output) => self.error(output.span(), AllowlistErrorKind::OutputOutsideToolParameters),
            None => Ok(()),
        }
    }

    /// Phase 6: `[metrics]`: the metric names with their value kinds, then the data-point
    /// outputs (its attributes and `[pseudonyms]`, read from the data point's attributes) in
    /// output order, each input key with one role only.
    fn metric_rules(
        &self,
        table: &MetricsFile,
        pseudonyms: &BTreeMap<Spanned<String>, Spanned<PseudonymSpec>>,
    ) -> Result<MetricRules, AllowlistError> {
        let mut rules = MetricRules::default();
        if table.values.get_ref().len() > MAX_EVENTS {
            return self.error(table.values.span(), AllowlistErrorKind::TooManyMetrics);
        }
        for (name, spec) in table.values.get_ref() {
            let n = name.get_ref();
            let ok = !n.is_empty()
                && n.len() <= 128
                && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
            if !ok {
                return self.error(name.span(), AllowlistErrorKind::BadMetricName(n.clone()));
            }
            let s = spec.get_ref();
            if s.output.is_some() || s.events.is_some() || s.metrics.is_some() {
                return self.error(spec.span(), AllowlistErrorKind::MisplacedMetricsField);
            }
            let kind = self.kind(spec)?;
            if !matches!(kind, Kind::Integer { .. } | Kind::Number { .. }) {
                return self.error(spec.span(), AllowlistErrorKind::MetricValueKind);
            }
            rules.names.push(n.clone());
            rules.values.push(kind);
        }
        let mut outputs: Vec<(&Spanned<String>, MetricRule, EventSet)> = Vec::new();
        let mut inputs = Slots::default();
        for (key, spec) in &table.attributes {
            self.attribute_key(key, "metrics.attributes")?;
            let s = spec.get_ref();
            if s.output.is_some() || s.events.is_some() {
                return self.error(spec.span(), AllowlistErrorKind::MisplacedMetricsField);
            }
            let kind = self.kind(spec)?;
            self.add_slot(&mut inputs, key)?;
            let on = self.on_metrics(spec, &rules.names)?;
            outputs.push((key, MetricRule::Copy { input: key.get_ref().as_str().into(), kind }, on));
        }
        for (output, spec) in pseudonyms {
            let Rule::Pseudonym { hex_chars, .. } = self.pseudonym_rule(&mut Slots::default(), output, spec)? else {
                unreachable!("pseudonym_rule builds a pseudonym rule")
            };
            let mut sources = Vec::new();
            for source in &spec.get_ref().from {
                self.add_slot(&mut inputs, source)?;
                sources.push(source.get_ref().as_str().into());
            }
            outputs.push((output, MetricRule::Pseudonym { sources, hex_chars }, EventSet::ALL));
        }
        outputs.sort_by(|a, b| a.0.get_ref().cmp(b.0.get_ref()));
        if let Some(pair) = outputs.windows(2).find(|w| w[0].0.get_ref() == w[1].0.get_ref()) {
            let key = pair[1].0;
            return self.error(key.span(), AllowlistErrorKind::OutputWrittenTwice(key.get_ref().clone()));
        }
        rules.outputs = outputs
            .into_iter()
            .map(|(key, rule, on)| MetricOutput {
                key_json: key_json(key.get_ref()),
                key: key.get_ref().clone(),
                rule,
                on,
            })
            .collect();
        Ok(rules)
    }

    /// The metrics an entry is kept on: its `metrics` list, each a kept metric named once, or all.
    fn on_metrics(&self, spec: &Spanned<ValueSpec>, names: &[String]) -> Result<EventSet, AllowlistError> {
        let Some(list) = &spec.get_ref().metrics else {
            return Ok(EventSet::ALL);
        };
        if list.get_ref().is_empty() {
            return self.error(list.span(), AllowlistErrorKind::NoMetricsForKey);
        }
        let mut set = 0u64;
        for name in list.get_ref() {
            let Some(i) = names.iter().position(|e| e == name.get_ref()) else {
                return self.error(name.span(), AllowlistErrorKind::MetricNotKept(name.get_ref().clone()));
            };
            if set & (1 << i) != 0 {
                return self.error(name.span(), AllowlistErrorKind::MetricListedTwice(name.get_ref().clone()));
            }
            set |= 1 << i;
        }
        Ok(EventSet(set))
    }

    fn key_syntax(&self, key: &Spanned<String>, table: &'static str) -> Result<(), AllowlistError> {
        let k = key.get_ref();
        let ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes().all(is_token_byte)
            && !k.starts_with('.')
            && !k.ends_with('.')
            && !k.contains("..");
        if ok { Ok(()) } else { self.error(key.span(), AllowlistErrorKind::BadKey { table, key: k.clone() }) }
    }

    /// An output name: valid syntax, not `event.name`, not a key that holds content or identity.
    fn attribute_key(&self, key: &Spanned<String>, table: &'static str) -> Result<(), AllowlistError> {
        self.key_syntax(key, table)?;
        let k = key.get_ref().as_str();
        if k == EVENT_NAME_KEY {
            return self.error(key.span(), AllowlistErrorKind::EventNameListed);
        }
        if NEVER_KEPT_RAW.contains(&k) {
            return self.error(key.span(), AllowlistErrorKind::NeverKeptRaw(k.to_owned()));
        }
        Ok(())
    }

    /// A value's kind: its name, then exactly the fields that kind takes, then their values.
    fn kind(&self, spec: &Spanned<ValueSpec>) -> Result<Kind, AllowlistError> {
        let name = self.kind_name(spec.get_ref())?;
        self.kind_fields(spec, name)?;
        self.kind_values(spec, name)
    }

    fn kind_name(&self, s: &ValueSpec) -> Result<KindName, AllowlistError> {
        match KindName::ALL.into_iter().find(|n| n.as_str() == s.kind.get_ref()) {
            Some(name) => Ok(name),
            None => self.error(s.kind.span(), AllowlistErrorKind::UnknownKind(s.kind.get_ref().clone())),
        }
    }

    fn kind_fields(&self, spec: &Spanned<ValueSpec>, name: KindName) -> Result<(), AllowlistError> {
        let s = spec.get_ref();
        let takes = name.fields();
        let present = [
            ("min", s.min.is_some()),
            ("max", s.max.is_some()),
            ("max_len", s.max_len.is_some()),
            ("values", s.values.is_some()),
            ("regex", s.regex.is_some()),
        ];
        let kind = name.as_str();
        for (field, is_present) in present {
            if is_present && !takes.contains(&field) {
                return self.error(spec.span(), AllowlistErrorKind::FieldNotTaken { kind, field });
            }
            if !is_present && takes.contains(&field) {
                return self.error(spec.span(), AllowlistErrorKind::FieldMissing { kind, field });
            }
        }
        Ok(())
    }

    fn kind_values(&self, spec: &Spanned<ValueSpec>, name: KindName) -> Result<Kind, AllowlistError> {
        let span = spec.span();
        let s = spec.get_ref();
        let max_len = |n: usize| {
            if (1..=MAX_STRING_LEN).contains(&n) {
                Ok(n)
            } else {
                self.error(span.clone(), AllowlistErrorKind::MaxLenOutOfRange)
            }
        };
        Ok(match name {
            KindName::Integer => {
                let (Some(Bound::Int(min)), Some(Bound::Int(max))) = (s.min, s.max) else {
                    return self.error(span, AllowlistErrorKind::IntegerBoundsNotWhole);
                };
                if min > max {
                    return self.error(span, AllowlistErrorKind::MinAboveMax);
                }
                Kind::Integer { min, max }
            }
            KindName::Number => {
                let (min, max) = (s.min.map(Bound::as_f64).unwrap_or(0.0), s.max.map(Bound::as_f64).unwrap_or(0.0));
                if !(min.is_finite() && max.is_finite()) || min > max {
                    return self.error(span, AllowlistErrorKind::NumberBoundsInvalid);
                }
                Kind::Number { min, max }
            }
            KindName::Boolean => Kind::Boolean,
            KindName::Uuid => Kind::Uuid,
            KindName::Token => Kind::Token { max_len: max_len(s.max_len.unwrap_or(0))? },
            KindName::Enum => {
                let values = s.values.clone().unwrap_or_default();
                if values.is_empty() {
                    return self.error(span, AllowlistErrorKind::NoEnumValues);
                }
                if values.iter().any(|v| v.is_empty() || v.len() > MAX_STRING_LEN) {
                    return self.error(span, AllowlistErrorKind::EnumValueLength);
                }
                Kind::enumeration(values)
            }
            KindName::Pattern => {
                let source = s.regex.clone().unwrap_or_default();
                let Ok(regex) = Regex::new(&format!("^(?:{source})$")) else {
                    return self.error(span, AllowlistErrorKind::InvalidRegex);
                };
                Kind::Pattern { regex, max_len: max_len(s.max_len.unwrap_or(0))? }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::AllowlistErrorKind::*;
    use super::*;

    const MINIMAL: &str = r#"events = ["api_request"]
[attributes]
"model" = { kind = "token", max_len = 64 }
"#;

    fn error(text: &str) -> AllowlistError {
        Allowlist::from_toml(text).expect_err("should be refused")
    }

    /// toml's own message (the file's shape is toml's to check).
    fn toml_message(e: &AllowlistError) -> &str {
        match &e.kind {
            Toml(message) => message,
            other => panic!("expected a toml error, got {other:?}"),
        }
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
        assert!(toml_message(&e).contains("max_lenght"), "{e}");
    }

    #[test]
    fn a_misspelled_table_is_refused() {
        let e = error("events = [\"api_request\"]\n[atributes]\n\"model\" = { kind = \"token\", max_len = 64 }\n");
        assert!(toml_message(&e).contains("atributes"), "{e}");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn an_empty_allowlist_is_refused() {
        assert!(toml_message(&error("")).contains("events"));
        assert_eq!(error("events = []\n"), AllowlistError { line: Some(1), kind: NoEvents });
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let dup_toml = format!("{MINIMAL}\"model\" = {{ kind = \"uuid\" }}\n");
        let e = error(&dup_toml);
        assert_eq!(e.line, Some(4));
        toml_message(&e);
        let dup_event = "events = [\"api_request\",\n  \"api_request\"]\n";
        assert_eq!(error(dup_event), AllowlistError { line: Some(2), kind: EventListedTwice("api_request".into()) });
    }

    #[test]
    fn two_entries_writing_one_output_are_refused() {
        let text =
            format!("{MINIMAL}[tool_parameters]\n\"x\" = {{ output = \"model\", kind = \"token\", max_len = 5 }}\n");
        assert_eq!(error(&text).kind, OutputWrittenTwice("model".into()));
    }

    #[test]
    fn an_attribute_has_one_role() {
        let text = format!("{MINIMAL}[pseudonyms.\"user.pseudonym\"]\nfrom = [\"model\"]\n");
        assert_eq!(error(&text).kind, KeyUsedTwice("model".into()));
    }

    #[test]
    fn sensitive_keys_cannot_be_kept_raw() {
        for key in [
            "prompt",
            "user.email",
            "tool_parameters",
            "tool_input",
            "error",
            "workspace.host_paths",
            "category",
            "hook_name",
        ] {
            let text =
                format!("events = [\"api_request\"]\n[attributes]\n\"{key}\" = {{ kind = \"token\", max_len = 5 }}\n");
            assert_eq!(error(&text), AllowlistError { line: Some(3), kind: NeverKeptRaw(key.into()) });
        }
        let resource =
            "events = [\"api_request\"]\n[resource_attributes]\n\"enduser.id\" = { kind = \"token\", max_len = 5 }\n";
        assert_eq!(error(resource).kind, NeverKeptRaw("enduser.id".into()));
        for sub in ["full_command", "bash_command", "prompt"] {
            let text = format!(
                "events = [\"tool_result\"]\n[tool_parameters]\n\"{sub}\" = {{ output = \"tool.x\", kind = \"token\", max_len = 5 }}\n"
            );
            assert_eq!(error(&text), AllowlistError { line: Some(3), kind: NeverKeptRaw(sub.into()) });
        }
    }

    #[test]
    fn a_key_is_kept_on_the_events_it_names() {
        let head = "events = [\"api_request\", \"tool_result\"]\n[attributes]\n";
        let entry =
            |events: &str| format!("{head}\"n\" = {{ kind = \"integer\", min = 0, max = 9, events = {events} }}\n");
        let a = Allowlist::from_toml(&entry("[\"tool_result\"]")).unwrap();
        let (_, kind) = a.attribute_kinds().find(|(k, _)| *k == "n").unwrap();
        assert!(kind.kept_on("tool_result") && !kind.kept_on("api_request"));
        assert!(a.describe().contains("n  copied if integer in 0..=9 on tool_result\n"), "{}", a.describe());
        let all = Allowlist::from_toml(&format!("{head}\"n\" = {{ kind = \"uuid\" }}\n")).unwrap();
        assert!(all.attribute_kinds().all(|(_, kind)| kind.kept_on("api_request") && kind.kept_on("tool_result")));
        assert_eq!(error(&entry("[]")), AllowlistError { line: Some(3), kind: NoEventsForKey });
        assert_eq!(error(&entry("[\"user_prompt\"]")).kind, EventNotKept("user_prompt".into()));
        assert_eq!(error(&entry("[\"tool_result\", \"tool_result\"]")).kind, EventListedTwice("tool_result".into()));
        let resource = "events = [\"api_request\"]\n[resource_attributes]\n\"team.id\" = { kind = \"token\", max_len = 5, events = [\"api_request\"] }\n";
        assert_eq!(error(resource).kind, EventsOnResource);
        let many: Vec<String> = (0..65).map(|i| format!("\"e{i}\"")).collect();
        assert_eq!(error(&format!("events = [{}]\n", many.join(", "))).kind, TooManyEvents);
    }

    #[test]
    fn event_name_is_implicit() {
        let text = "events = [\"api_request\"]\n[attributes]\n\"event.name\" = { kind = \"token\", max_len = 5 }\n";
        assert_eq!(error(text).kind, EventNameListed);
    }

    #[test]
    fn unquoted_dotted_keys_are_refused() {
        let e = error("events = [\"api_request\"]\n[attributes]\nsession.id = { kind = \"uuid\" }\n");
        assert_eq!(e.line, Some(3), "{e}");
        toml_message(&e);
    }

    #[test]
    fn kinds_are_checked() {
        let cases = [
            (r#"{ kind = "text" }"#, UnknownKind("text".into())),
            (r#"{ kind = "integer", min = 0 }"#, FieldMissing { kind: "integer", field: "max" }),
            (r#"{ kind = "integer", min = 5, max = 1 }"#, MinAboveMax),
            (r#"{ kind = "integer", min = 0.5, max = 1 }"#, IntegerBoundsNotWhole),
            (r#"{ kind = "number", min = 0, max = nan }"#, NumberBoundsInvalid),
            (r#"{ kind = "number", min = 3, max = 1 }"#, NumberBoundsInvalid),
            (r#"{ kind = "token" }"#, FieldMissing { kind: "token", field: "max_len" }),
            (r#"{ kind = "token", max_len = 0 }"#, MaxLenOutOfRange),
            (r#"{ kind = "token", max_len = 100000 }"#, MaxLenOutOfRange),
            (r#"{ kind = "uuid", max_len = 5 }"#, FieldNotTaken { kind: "uuid", field: "max_len" }),
            (r#"{ kind = "enum", values = [] }"#, NoEnumValues),
            (r#"{ kind = "enum", values = [""] }"#, EnumValueLength),
            (r#"{ kind = "pattern", regex = "(", max_len = 5 }"#, InvalidRegex),
            (r#"{ kind = "token", max_len = 5, output = "x" }"#, OutputOutsideToolParameters),
            (r#"{ kind = "boolean", values = ["x"] }"#, FieldNotTaken { kind: "boolean", field: "values" }),
        ];
        for (spec, expected) in cases {
            let text = format!("events = [\"api_request\"]\n[attributes]\n\"model\" = {spec}\n");
            assert_eq!(error(&text), AllowlistError { line: Some(3), kind: expected }, "{spec}");
        }
    }

    #[test]
    fn table_entries_are_checked() {
        let base = "events = [\"api_request\"]\n";
        let cases = [
            ("[attributes]\n\"a..b\" = { kind = \"uuid\" }\n", BadKey { table: "attributes", key: "a..b".into() }),
            (
                "[tool_parameters]\n\"a b\" = { kind = \"uuid\", output = \"x\" }\n",
                BadKey { table: "tool_parameters", key: "a b".into() },
            ),
            ("[tool_parameters]\n\"x\" = { kind = \"uuid\" }\n", NoOutput("x".into())),
            ("[resource_attributes]\n\"m\" = { kind = \"uuid\", output = \"y\" }\n", OutputOutsideToolParameters),
        ];
        for (table, expected) in cases {
            assert_eq!(error(&format!("{base}{table}")), AllowlistError { line: Some(3), kind: expected }, "{table}");
        }
    }

    #[test]
    fn the_message_is_the_kind_after_the_line() {
        let e = error("events = []\n");
        assert_eq!(e.to_string(), "line 1: `events` is empty: an allowlist that keeps nothing is refused");
        let no_line = AllowlistError { line: None, kind: InvalidRegex };
        assert_eq!(no_line.to_string(), "`regex` is not a valid regular expression");
    }

    #[test]
    fn event_names_are_identifiers() {
        assert_eq!(
            error("events = [\"claude_code.api_request\"]\n").kind,
            BadEventName("claude_code.api_request".into())
        );
    }

    #[test]
    fn pseudonym_settings_are_checked() {
        let base = "events = [\"api_request\"]\n[pseudonyms.\"user.pseudonym\"]\n";
        assert_eq!(error(&format!("{base}from = []\n")).kind, NoPseudonymSource("user.pseudonym".into()));
        assert_eq!(error(&format!("{base}from = [\"user.email\"]\nhex_chars = 4\n")).kind, HexCharsOutOfRange);
        let bad_source = error(&format!("{base}from = [\"user email\"]\n")).kind;
        assert_eq!(bad_source, BadKey { table: "pseudonym source", key: "user email".into() });
        assert!(Allowlist::from_toml(&format!("{base}from = [\"user.email\"]\n")).is_ok());
    }

    /// The read-only view: one entry per output, each checking a written value against the
    /// output's kind in the form the sanitizer writes it.
    #[test]
    fn the_output_view_checks_written_values_by_their_kinds() {
        use AttributeDrop::{OutOfRange, WrongKind};
        let a = Allowlist::embedded();
        let keys: Vec<&str> = a.attribute_kinds().map(|(k, _)| k).collect();
        assert_eq!(keys, a.attribute_outputs().collect::<Vec<_>>());
        let resource: Vec<&str> = a.resource_kinds().map(|(k, _)| k).collect();
        assert_eq!(resource, a.resource_outputs().collect::<Vec<_>>());
        let kind = |key: &str| a.attribute_kinds().chain(a.resource_kinds()).find(|(k, _)| *k == key).unwrap().1;
        let check = |key: &str, json: &str| kind(key).check_json(&serde_json::from_str(json).unwrap());
        let cases = [
            ("input_tokens", "100000000", Ok(())),
            ("input_tokens", "100000001", Err(OutOfRange)),
            ("input_tokens", "18446744073709551613", Err(OutOfRange)),
            ("input_tokens", "8.0", Err(WrongKind)),
            ("input_tokens", "\"8\"", Err(WrongKind)),
            ("cost_usd", "10000", Ok(())),
            ("cost_usd", "0.5", Ok(())),
            ("cost_usd", "1e303", Err(OutOfRange)),
            ("cost_usd", "-0.1", Err(OutOfRange)),
            ("model", "\"claude-opus-4-1@20250805\"", Ok(())),
            ("model", "\"claude-opus-4-1@example.com\"", Err(WrongKind)),
            ("skill.name", "\"pdf@corp\"", Err(WrongKind)),
            ("team.id", "\"dev@example\"", Err(WrongKind)),
            ("department", "\"a@b\"", Err(WrongKind)),
            ("cost_center", "\"cc-4711\"", Ok(())),
            ("session.id", "\"a75ec402-2f7e-4bee-b938-05e6c5102623\"", Ok(())),
            ("session.id", "\"A75EC402-2F7E-4BEE-B938-05E6C5102623\"", Err(WrongKind)),
            ("user.pseudonym", "\"7620230c471563b0\"", Ok(())),
            ("user.pseudonym", "\"7620230c471563b\"", Err(WrongKind)),
            ("event.name", "\"api_request\"", Ok(())),
            ("event.name", "\"hook_run\"", Err(WrongKind)),
            ("service.name", "\"claude-code\"", Ok(())),
            ("service.name", "null", Err(WrongKind)),
            ("tool.subagent_type", "[\"Explore\"]", Err(WrongKind)),
        ];
        for (key, json, expected) in cases {
            assert_eq!(check(key, json), expected, "{key} = {json}");
        }
        assert_eq!(kind("user.pseudonym").pseudonym_hex_chars(), Some(16));
        assert_eq!(kind("cost_usd").max(), Some(10000.0));
        assert!(!format!("{:?}", kind("model")).contains("claude"));
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
