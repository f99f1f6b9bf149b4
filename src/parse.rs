//! Tolerant parsing of one stored OTel log record (the `message` of a CloudWatch event), matched
//! against the allowlist's keys while it is read.
//!
//! Trusts nothing. Accepts `attributes` as a JSON object or an OTLP KeyValue array, values plain
//! or as AnyValue wrappers, dotted keys flat or nested (`{"session":{"id":..}}` is `session.id`),
//! and ignores unknown top-level fields.
//!
//! Guarantees, whatever the record's shape:
//! - Work and memory are linear in the record. A nested object is opened only when its dotted
//!   path is a proper prefix of an allowlisted key ([`KeyIndex::is_prefix`]), so the depth of
//!   descent is bounded by the allowlist, not the input; the path is built in one buffer and
//!   never longer than the longest allowlisted key (a longer key cannot match and is not built);
//!   no key is copied per child.
//! - Values are borrowed as raw JSON slices; only allowlisted ones are ever decoded (by the
//!   sanitizer).
//! - A key found inside a value (under an opened object, or in a JSON string parsed as an object)
//!   that names nothing is only counted ([`Found::hidden`]), never kept. A top-level key that
//!   names nothing is kept as [`Entry::Other`] for the audit; its value is not read.
//!
//! A [`RawEvent`] holds payload content: its `Debug` prints counts only, and it has no `Serialize`.

use crate::value::{ANY_VALUE_FIELDS, Key};
use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The allowlisted input keys of one scope, by slot, and their dotted prefixes. A lookup is by
/// length first, then by [`fingerprint`], and only a key with the same fingerprint is compared
/// whole (measured: about a tenth of the sanitizing time went to SipHash lookups before, then
/// 4 % of the process to comparing keys of one length).
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    keys: Vec<Vec<(u64, Box<str>, usize)>>,
    prefixes: Vec<Vec<(u64, Box<str>)>>,
    max_len: usize,
}

/// Eight bytes that differ between most keys of one length: the first eight XOR the last eight
/// rotated (the bytes themselves when shorter). Equal fingerprints still need a full comparison.
fn fingerprint(key: &str) -> u64 {
    let bytes = key.as_bytes();
    match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(first), Some(last)) => u64::from_le_bytes(*first) ^ u64::from_le_bytes(*last).rotate_left(29),
        _ => bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b)),
    }
}

impl KeyIndex {
    pub(crate) fn new<'k>(keys: impl IntoIterator<Item = (&'k str, usize)>) -> Self {
        fn add<T>(table: &mut Vec<Vec<T>>, len: usize, item: T) {
            if table.len() <= len {
                table.resize_with(len + 1, Vec::new);
            }
            table[len].push(item);
        }
        let mut index = KeyIndex::default();
        for (key, slot) in keys {
            index.max_len = index.max_len.max(key.len());
            add(&mut index.keys, key.len(), (fingerprint(key), key.into(), slot));
            for (dot, _) in key.match_indices('.') {
                let prefix = &key[..dot];
                if !index.is_prefix(prefix) {
                    add(&mut index.prefixes, dot, (fingerprint(prefix), prefix.into()));
                }
            }
        }
        index
    }

    /// The slot of an allowlisted key.
    pub(crate) fn slot(&self, key: &str) -> Option<usize> {
        let keys = self.keys.get(key.len())?;
        let print = fingerprint(key);
        keys.iter().find(|(p, k, _)| *p == print && **k == *key).map(|&(_, _, slot)| slot)
    }

    /// Whether `key.` begins some allowlisted key (so an object under `key` is worth opening).
    pub(crate) fn is_prefix(&self, key: &str) -> bool {
        let Some(prefixes) = self.prefixes.get(key.len()) else { return false };
        let print = fingerprint(key);
        prefixes.iter().any(|(p, k)| *p == print && **k == *key)
    }
}

/// One input key of a scope, as the allowlist sees it.
pub(crate) enum Entry<'a> {
    /// An allowlisted key (at any depth), by slot, with its raw value.
    Slot(usize, &'a RawValue),
    /// A top-level key that names nothing in the allowlist, nor the prefix of anything it names.
    Other(Cow<'a, str>),
}

/// What one scope of a record (attributes, resource attributes, a parsed string) holds.
pub(crate) struct Found<'b, 'a> {
    /// In input order.
    pub(crate) entries: BumpVec<'b, Entry<'a>>,
    /// Keys found inside values that name nothing: counted, never named.
    pub(crate) hidden: u64,
}

impl<'b> Found<'b, '_> {
    pub(crate) fn new_in(bump: &'b Bump) -> Self {
        Found { entries: BumpVec::new_in(bump), hidden: 0 }
    }
}

/// One stored record, with every value still raw JSON.
pub(crate) struct RawEvent<'b, 'a> {
    pub(crate) body: Option<&'a RawValue>,
    pub(crate) event_name: Option<&'a RawValue>,
    pub(crate) attributes: Found<'b, 'a>,
    pub(crate) resource: Found<'b, 'a>,
    pub(crate) time_unix_nano: Option<&'a RawValue>,
    pub(crate) observed_time_unix_nano: Option<&'a RawValue>,
}

impl<'b> RawEvent<'b, '_> {
    pub(crate) fn new_in(bump: &'b Bump) -> Self {
        RawEvent {
            body: None,
            event_name: None,
            attributes: Found::new_in(bump),
            resource: Found::new_in(bump),
            time_unix_nano: None,
            observed_time_unix_nano: None,
        }
    }
}

impl fmt::Debug for RawEvent<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEvent")
            .field("attributes", &self.attributes.entries.len())
            .field("resource_attributes", &self.resource.entries.len())
            .finish_non_exhaustive()
    }
}

/// The message is not JSON, not a JSON object, or repeats a top-level field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unparseable;

/// The key indexes a record is read against.
#[derive(Clone, Copy)]
pub(crate) struct Indexes<'i> {
    pub(crate) attributes: &'i KeyIndex,
    pub(crate) resource: &'i KeyIndex,
}

/// Parses one stored message into `event` (as [`RawEvent::new_in`] made it).
pub(crate) fn parse_event_into<'a>(
    message: &'a str,
    indexes: Indexes<'_>,
    event: &mut RawEvent<'_, 'a>,
) -> Result<(), Unparseable> {
    let mut de = serde_json::Deserializer::from_str(message);
    de.deserialize_map(EventVisitor { event, indexes }).map_err(|_| Unparseable)?;
    de.end().map_err(|_| Unparseable)
}

/// Parses a JSON object held in a value (e.g. the `tool_parameters` string) against `index`,
/// appending to `out`. Its keys are keys inside a value: those that name nothing are only
/// counted. On error `out` may hold part of the object: the caller discards it.
pub(crate) fn parse_object_into<'a>(
    json: &'a str,
    index: &KeyIndex,
    out: &mut Found<'_, 'a>,
) -> Result<(), Unparseable> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.deserialize_map(AttributesVisitor { reader: Reader { index, out, named: false } }).map_err(|_| Unparseable)?;
    de.end().map_err(|_| Unparseable)
}

fn set_once<'a, E: de::Error>(
    slot: &mut Option<&'a RawValue>,
    value: &'a RawValue,
    field: &'static str,
) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(field));
    }
    Ok(())
}

struct EventVisitor<'v, 'b, 'a, 'i> {
    event: &'v mut RawEvent<'b, 'a>,
    indexes: Indexes<'i>,
}

impl<'de> Visitor<'de> for EventVisitor<'_, '_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let event = self.event;
        let (mut seen_attributes, mut seen_resource) = (false, false);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "body" => set_once(&mut event.body, map.next_value()?, "body")?,
                "eventName" => set_once(&mut event.event_name, map.next_value()?, "eventName")?,
                "timeUnixNano" => set_once(&mut event.time_unix_nano, map.next_value()?, "timeUnixNano")?,
                "observedTimeUnixNano" => {
                    set_once(&mut event.observed_time_unix_nano, map.next_value()?, "observedTimeUnixNano")?
                }
                "attributes" => {
                    if std::mem::replace(&mut seen_attributes, true) {
                        return Err(de::Error::duplicate_field("attributes"));
                    }
                    let reader = Reader { index: self.indexes.attributes, out: &mut event.attributes, named: true };
                    map.next_value_seed(AttributesVisitor { reader })?;
                }
                "resource" => {
                    if std::mem::replace(&mut seen_resource, true) {
                        return Err(de::Error::duplicate_field("resource"));
                    }
                    let reader = Reader { index: self.indexes.resource, out: &mut event.resource, named: true };
                    map.next_value_seed(ResourceVisitor { reader })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads the keys of one scope into `out`. `named`: top-level keys are the record's own
/// (reported by name when they match nothing); otherwise every key is inside a value.
struct Reader<'v, 'b, 'a, 'i> {
    index: &'i KeyIndex,
    out: &'v mut Found<'b, 'a>,
    named: bool,
}

impl<'a> Reader<'_, '_, 'a, '_> {
    /// One top-level key and its raw value.
    fn top(&mut self, key: Cow<'a, str>, value: &'a RawValue) {
        if key.len() <= self.index.max_len {
            if let Some(children) = self.openable(&key, value) {
                let mut path = String::with_capacity(self.index.max_len);
                path.push_str(&key);
                self.open(&mut path, children);
                return;
            }
            if let Some(slot) = self.index.slot(&key) {
                self.out.entries.push(Entry::Slot(slot, value));
                return;
            }
        }
        if self.named {
            self.out.entries.push(Entry::Other(key));
        } else {
            self.out.hidden += 1;
        }
    }

    /// The children of `value` if it is an object (not an AnyValue scalar wrapper) under a
    /// prefix of an allowlisted key.
    fn openable(&self, path: &str, value: &'a RawValue) -> Option<Vec<(Key<'a>, &'a RawValue)>> {
        if value.get().starts_with('{') && self.index.is_prefix(path) { children(value.get()) } else { None }
    }

    /// Matches each child as `path.child`; those that name nothing are counted as hidden.
    fn open(&mut self, path: &mut String, children: Vec<(Key<'a>, &'a RawValue)>) {
        for (Key(child), value) in children {
            if !self.visit(path, &child, value) {
                self.out.hidden += 1;
            }
        }
    }

    /// Matches `path.key`: an allowlisted key becomes a slot entry, a prefix of one is opened.
    /// Returns false when it names nothing.
    fn visit(&mut self, path: &mut String, key: &str, value: &'a RawValue) -> bool {
        let start = path.len();
        if start + 1 + key.len() > self.index.max_len {
            return false;
        }
        path.push('.');
        path.push_str(key);
        let matched = if let Some(children) = self.openable(path, value) {
            self.open(path, children);
            true
        } else if let Some(slot) = self.index.slot(path) {
            self.out.entries.push(Entry::Slot(slot, value));
            true
        } else {
            false
        };
        path.truncate(start);
        matched
    }
}

/// `resource`: an object whose `attributes` is read like the event's; other fields ignored.
struct ResourceVisitor<'v, 'b, 'a, 'i> {
    reader: Reader<'v, 'b, 'a, 'i>,
}

impl<'de> DeserializeSeed<'de> for ResourceVisitor<'_, '_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResourceVisitor<'_, '_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut reader = Some(self.reader);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "attributes" {
                let Some(reader) = reader.take() else {
                    return Err(de::Error::duplicate_field("attributes"));
                };
                map.next_value_seed(AttributesVisitor { reader })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `attributes`: a JSON object, an OTLP KeyValue array, or null.
struct AttributesVisitor<'v, 'b, 'a, 'i> {
    reader: Reader<'v, 'b, 'a, 'i>,
}

impl<'de> DeserializeSeed<'de> for AttributesVisitor<'_, '_, 'de, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[derive(Deserialize)]
struct KeyValue<'a> {
    #[serde(borrow)]
    key: Key<'a>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

impl<'de> Visitor<'de> for AttributesVisitor<'_, '_, 'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute object or KeyValue array")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            self.reader.top(key, value);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(kv) = seq.next_element::<KeyValue<'de>>()? {
            // An absent or null value is still a key: it is reported (and dropped), not skipped.
            self.reader.top(kv.key.0, kv.value.unwrap_or_else(|| null()));
        }
        Ok(())
    }
}

/// JSON `null`, for KeyValue entries without a value.
fn null() -> &'static RawValue {
    serde_json::from_str("null").expect("null is JSON")
}

/// The direct children of an object value: its members, or the entries of an OTLP
/// `{"kvlistValue":{"values":[..]}}`. `None` for a scalar AnyValue wrapper
/// (`{"stringValue":..}` and the like, a leaf) or malformed JSON.
fn children(json: &str) -> Option<Vec<(Key<'_>, &RawValue)>> {
    let members: Vec<(Key<'_>, &RawValue)> = serde_json::from_str::<Members<'_>>(json).ok()?.0;
    if let [(Key(key), value)] = members.as_slice() {
        if ANY_VALUE_FIELDS.contains(&key.as_ref()) {
            if key != "kvlistValue" {
                return None;
            }
            let list: KvList<'_> = serde_json::from_str(value.get()).ok()?;
            return Some(list.values.into_iter().map(|kv| (kv.key, kv.value.unwrap_or_else(|| null()))).collect());
        }
    }
    Some(members)
}

/// An object's members in order, keys borrowed where they have no escapes.
struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[derive(Deserialize)]
struct KvList<'a> {
    #[serde(borrow, default)]
    values: Vec<KeyValue<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_one_fingerprint_are_still_told_apart() {
        // Same length, same first and last eight bytes: one fingerprint, two keys.
        let (a, b) = ("prefix00.X.suffix00", "prefix00.Y.suffix00");
        assert_eq!(fingerprint(a), fingerprint(b));
        let index = KeyIndex::new([(a, 0), ("short", 1), ("exactly8", 2)]);
        assert_eq!(index.slot(a), Some(0));
        assert_eq!(index.slot(b), None);
        assert_eq!(index.slot("short"), Some(1));
        assert_eq!(index.slot("shore"), None);
        assert_eq!(index.slot("exactly8"), Some(2));
        assert_eq!(index.slot("exactly9"), None);
        assert!(index.is_prefix("prefix00") && index.is_prefix("prefix00.X") && !index.is_prefix("prefix00.Y"));
    }

    fn index() -> KeyIndex {
        KeyIndex::new([
            ("model", 0),
            ("n", 1),
            ("empty", 2),
            ("session.id", 3),
            ("a.b.c", 4),
            ("w", 5),
            ("user.email", 6),
        ])
    }

    /// The entries of `message`'s attributes as (key or slot name, raw value), and the hidden count.
    fn attrs(message: &str) -> (Vec<(String, String)>, u64) {
        let (bump, index, resource) = (Bump::new(), index(), KeyIndex::default());
        let mut event = RawEvent::new_in(&bump);
        parse_event_into(message, Indexes { attributes: &index, resource: &resource }, &mut event).unwrap();
        let entries = event
            .attributes
            .entries
            .iter()
            .map(|e| match e {
                Entry::Slot(slot, value) => (format!("#{slot}"), value.get().to_owned()),
                Entry::Other(key) => (key.to_string(), String::new()),
            })
            .collect();
        (entries, event.attributes.hidden)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn object_attributes_with_plain_values() {
        let (got, hidden) = attrs(r#"{"attributes":{"model":"m","input_tokens":"5"}}"#);
        assert_eq!(got, pairs(&[("#0", r#""m""#), ("input_tokens", "")]));
        assert_eq!(hidden, 0);
    }

    #[test]
    fn key_value_array_attributes() {
        let m = r#"{"attributes":[{"key":"model","value":{"stringValue":"m"}},{"key":"n","value":{"intValue":"5"}},{"key":"empty"}]}"#;
        let (got, _) = attrs(m);
        assert_eq!(got, pairs(&[("#0", r#"{"stringValue":"m"}"#), ("#1", r#"{"intValue":"5"}"#), ("#2", "null")]));
    }

    #[test]
    fn escaped_keys_match_and_other_keys_are_borrowed() {
        let (bump, index, resource) = (Bump::new(), index(), KeyIndex::default());
        let mut event = RawEvent::new_in(&bump);
        let m = r#"{"attributes":{"mo\u0064el":"n","prompt":"x","pr\u006fmpt":"y"}}"#;
        parse_event_into(m, Indexes { attributes: &index, resource: &resource }, &mut event).unwrap();
        let e = &event.attributes.entries;
        assert!(matches!(e[0], Entry::Slot(0, _)));
        assert!(matches!(e[1], Entry::Other(Cow::Borrowed("prompt"))));
        assert!(matches!(&e[2], Entry::Other(Cow::Owned(k)) if k == "prompt"));
    }

    #[test]
    fn nested_keys_are_matched_under_allowlisted_prefixes_only() {
        let m = r#"{"attributes":{"session":{"id":"s","x":1},"a":{"b":{"c":1,"d":2}},"w":{"stringValue":"x"},"prompt":{"inner":"CANARY"}}}"#;
        let (got, hidden) = attrs(m);
        assert_eq!(got, pairs(&[("#3", r#""s""#), ("#4", "1"), ("#5", r#"{"stringValue":"x"}"#), ("prompt", "")]));
        // session.x and a.b.d: inside values, counted only; prompt.inner is never read.
        assert_eq!(hidden, 2);
    }

    #[test]
    fn kvlist_values_are_opened_under_prefixes() {
        let m = r#"{"attributes":[{"key":"user","value":{"kvlistValue":{"values":[{"key":"email","value":{"stringValue":"e"}},{"key":"name","value":{"stringValue":"CANARY"}}]}}}]}"#;
        assert_eq!(attrs(m), (pairs(&[("#6", r#"{"stringValue":"e"}"#)]), 1));
    }

    #[test]
    fn keys_longer_than_any_allowlisted_key_are_not_built() {
        let long = "k".repeat(100_000);
        let children: String = (0..1000).map(|i| format!(r#""{i}":1,"#)).collect();
        let m = format!(r#"{{"attributes":{{"{long}":{{{children}"x":1}},"session":{{"{long}":1}}}}}}"#);
        let (got, hidden) = attrs(&m);
        assert_eq!(got.len(), 1, "the long top-level key is reported once, its children never read");
        assert_eq!(got[0].0.len(), 100_000);
        assert_eq!(hidden, 1, "session.<long>: cannot match");
    }

    #[test]
    fn a_prefix_that_is_also_a_key_is_a_leaf_when_not_an_object() {
        let index = KeyIndex::new([("tool_parameters", 0), ("tool_parameters.subagent_type", 1)]);
        assert_eq!(index.slot("tool_parameters"), Some(0));
        assert!(index.is_prefix("tool_parameters") && !index.is_prefix("tool_parameters.subagent_type"));
        assert!(!index.is_prefix("tool") && !index.is_prefix(""));
    }

    #[test]
    fn resource_body_event_name_and_times() {
        let (bump, attributes) = (Bump::new(), KeyIndex::default());
        let resource = KeyIndex::new([("service.name", 0)]);
        let mut e = RawEvent::new_in(&bump);
        let m = r#"{"resource":{"attributes":{"service.name":"claude-code","os":"x"},"droppedAttributesCount":0},"body":"claude_code.x","eventName":"x","timeUnixNano":"1","scope":{"name":"s"},"future":[1,2]}"#;
        parse_event_into(m, Indexes { attributes: &attributes, resource: &resource }, &mut e).unwrap();
        assert_eq!(e.resource.entries.len(), 2);
        assert_eq!(e.body.unwrap().get(), r#""claude_code.x""#);
        assert_eq!(e.event_name.unwrap().get(), r#""x""#);
        assert_eq!(e.time_unix_nano.unwrap().get(), r#""1""#);
    }

    #[test]
    fn objects_in_a_value_count_every_unnamed_key() {
        let (bump, index) = (Bump::new(), KeyIndex::new([("subagent_type", 0)]));
        let mut out = Found::new_in(&bump);
        parse_object_into(r#"{"subagent_type":"x","prompt":"CANARY","description":"CANARY"}"#, &index, &mut out)
            .unwrap();
        assert_eq!((out.entries.len(), out.hidden), (1, 2));
        assert!(parse_object_into("CANARY {", &index, &mut Found::new_in(&bump)).is_err());
    }

    #[test]
    fn unparseable_messages() {
        let (bump, index) = (Bump::new(), index());
        for m in [
            "",
            "CANARY",
            "[1]",
            r#""s""#,
            "{",
            r#"{"a":1} x"#,
            r#"{"attributes":"x"}"#,
            r#"{"body":1,"body":2}"#,
            r#"{"attributes":{},"attributes":{}}"#,
            r#"{"resource":{"attributes":{},"attributes":{}}}"#,
            r#"{"\ud800":1}"#,
        ] {
            let mut event = RawEvent::new_in(&bump);
            let indexes = Indexes { attributes: &index, resource: &index };
            assert_eq!(parse_event_into(m, indexes, &mut event).unwrap_err(), Unparseable, "{m}");
        }
    }

    #[test]
    fn null_attributes_and_resource_are_empty() {
        let (got, hidden) = attrs(r#"{"attributes":null,"resource":null}"#);
        assert!(got.is_empty() && hidden == 0);
    }

    #[test]
    fn debug_hides_content() {
        let (bump, index) = (Bump::new(), index());
        let mut e = RawEvent::new_in(&bump);
        let indexes = Indexes { attributes: &index, resource: &index };
        parse_event_into(r#"{"attributes":{"prompt":"CANARY"}}"#, indexes, &mut e).unwrap();
        assert!(!format!("{e:?}").contains("CANARY"));
    }
}
