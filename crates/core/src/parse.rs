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
//! - Values are borrowed as raw JSON text ([`Raw`]); only allowlisted ones are ever decoded (by
//!   the sanitizer).
//! - Two readers, one result: a message the payload reader has just unescaped comes with the
//!   marks of its quotes, backslashes and control characters, and [`marked`]'s reader goes
//!   first; whatever it refuses, serde_json reads. The tests hold the two to the same entries.
//! - A key found inside a value (under an opened object, or in a JSON string parsed as an object)
//!   that names nothing is only counted ([`Found::hidden`]), never kept. A top-level key that
//!   names nothing is kept as [`Entry::Other`] for the audit; its value is not read.
//!
//! A [`RawEvent`] holds payload content: its `Debug` prints counts only, and it has no `Serialize`.

mod marked;

#[cfg(test)]
use crate::decode::marks::of as marks_of;

use crate::value::{ANY_VALUE_FIELDS, Key};
use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The allowlisted input keys of one scope, by slot, and their dotted prefixes. A lookup is by
/// length first, then by [`Ends`], and only a key longer than 16 bytes is compared further
/// (measured: about a tenth of the sanitizing time went to SipHash lookups before, then 4 % of
/// the process to comparing keys of one length, then 2 % to `memcmp` calls after a fingerprint).
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    keys: Vec<Vec<(Ends, Box<str>, usize)>>,
    prefixes: Vec<Vec<(Ends, Box<str>)>>,
    max_len: usize,
}

/// A key's first eight bytes and its last eight (the bytes themselves, and zero, when shorter):
/// between them every byte of a key of up to 16 bytes, so two such keys of one length are equal
/// exactly when their ends are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ends(u64, u64);

impl Ends {
    pub(crate) fn of(key: &str) -> Ends {
        let bytes = key.as_bytes();
        match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            (Some(first), Some(last)) => Ends(u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
            _ => Ends(bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b)), 0),
        }
    }
}

/// Whether `key` is `known`, given that they have one length and equal [`Ends`].
fn same_middle(known: &str, key: &str) -> bool {
    known.len() <= 16 || known.as_bytes()[8..] == key.as_bytes()[8..]
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
            add(&mut index.keys, key.len(), (Ends::of(key), key.into(), slot));
            for (dot, _) in key.match_indices('.') {
                let prefix = &key[..dot];
                if !index.is_prefix(prefix) {
                    add(&mut index.prefixes, dot, (Ends::of(prefix), prefix.into()));
                }
            }
        }
        index
    }

    /// The slot of an allowlisted key.
    pub(crate) fn slot(&self, key: &str) -> Option<usize> {
        let keys = self.keys.get(key.len())?;
        let ends = Ends::of(key);
        keys.iter().find(|(e, k, _)| *e == ends && same_middle(k, key)).map(|&(_, _, slot)| slot)
    }

    /// Whether `key.` begins some allowlisted key (so an object under `key` is worth opening).
    pub(crate) fn is_prefix(&self, key: &str) -> bool {
        let Some(prefixes) = self.prefixes.get(key.len()) else { return false };
        let ends = Ends::of(key);
        prefixes.iter().any(|(e, k)| *e == ends && same_middle(k, key))
    }
}

/// One JSON value of a record, as its text borrowed from the message: always exactly one
/// well-formed JSON value (serde_json read it, or [`marked`]'s reader, which accepts only what
/// serde_json accepts), without surrounding whitespace. Holds payload content: no `Debug`, no
/// `Serialize`.
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// JSON `null`, for KeyValue entries without a value.
    pub(crate) const NULL: Raw<'static> = Raw("null");

    pub(crate) fn get(self) -> &'a str {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| Raw(raw.get()))
    }
}

/// One input key of a scope, as the allowlist sees it.
pub(crate) enum Entry<'a> {
    /// An allowlisted key (at any depth), by slot, with its raw value.
    Slot(usize, Raw<'a>),
    /// A top-level key that names nothing in the allowlist, nor the prefix of anything it names.
    Other(Cow<'a, str>),
}

/// Most entries one scope of a record holds in full. Past it, a key that names nothing is only
/// counted ([`Found::unnamed`]), and so is an allowlisted key already held twice
/// ([`Found::repeated`]: it is a duplicate however often it comes): a record of a million keys
/// holds at most `MAX_ENTRIES` entries (256 KiB), not a million (measured: 32 bytes each, and
/// the vector's doubling, made the entries of an 18 MB event of a million keys 64 MiB, 3.5 × the
/// event). What is written and counted is the same either way; `explain` names fewer keys (and
/// still more than its summary tallies, `MAX_SUMMARY_KEYS`).
pub(crate) const MAX_ENTRIES: usize = 8192;

/// What one scope of a record (attributes, resource attributes, a parsed string) holds.
pub(crate) struct Found<'b, 'a> {
    /// In input order; at most [`MAX_ENTRIES`], and past it two per slot.
    pub(crate) entries: BumpVec<'b, Entry<'a>>,
    /// Keys found inside values that name nothing: counted, never named.
    pub(crate) hidden: u64,
    /// Top-level keys that name nothing, past [`MAX_ENTRIES`]: counted, not named.
    pub(crate) unnamed: u64,
    /// Allowlisted keys past [`MAX_ENTRIES`] whose slot `entries` already holds twice (so they
    /// are duplicates): counted, not held.
    pub(crate) repeated: u64,
    /// Past [`MAX_ENTRIES`]: how often `entries` holds each slot (up to 2), made when first
    /// needed.
    held: Option<BumpVec<'b, u8>>,
}

impl<'b, 'a> Found<'b, 'a> {
    pub(crate) fn new_in(bump: &'b Bump) -> Self {
        Found { entries: BumpVec::new_in(bump), hidden: 0, unnamed: 0, repeated: 0, held: None }
    }

    /// Back to what `new_in` made, keeping the entries' room.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        (self.hidden, self.unnamed, self.repeated, self.held) = (0, 0, 0, None);
    }

    /// A top-level key that names nothing: an entry, or past [`MAX_ENTRIES`] a count.
    fn other(&mut self, key: Cow<'a, str>) {
        if self.entries.len() < MAX_ENTRIES {
            self.entries.push(Entry::Other(key));
        } else {
            self.unnamed += 1;
        }
    }

    /// An allowlisted key: an entry, or past [`MAX_ENTRIES`] a count once its slot is held twice.
    fn slot(&mut self, slot: usize, value: Raw<'a>) {
        if self.entries.len() < MAX_ENTRIES {
            self.entries.push(Entry::Slot(slot, value));
            return;
        }
        let entries = &self.entries;
        let held = self.held.get_or_insert_with(|| {
            let mut held = BumpVec::new_in(entries.bump());
            for entry in entries {
                if let Entry::Slot(s, _) = *entry {
                    count_slot(&mut held, s);
                }
            }
            held
        });
        if held.get(slot).is_some_and(|&n| n >= 2) {
            self.repeated += 1;
        } else {
            count_slot(held, slot);
            self.entries.push(Entry::Slot(slot, value));
        }
    }
}

/// One more entry of `slot` in `held` (counted up to 2).
fn count_slot(held: &mut BumpVec<'_, u8>, slot: usize) {
    if held.len() <= slot {
        held.resize(slot + 1, 0);
    }
    held[slot] = held[slot].saturating_add(1).min(2);
}

/// One stored record, with every value still raw JSON.
pub(crate) struct RawEvent<'b, 'a> {
    pub(crate) body: Option<Raw<'a>>,
    pub(crate) event_name: Option<Raw<'a>>,
    pub(crate) attributes: Found<'b, 'a>,
    pub(crate) resource: Found<'b, 'a>,
    pub(crate) time_unix_nano: Option<Raw<'a>>,
    pub(crate) observed_time_unix_nano: Option<Raw<'a>>,
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

impl RawEvent<'_, '_> {
    /// Back to what `new_in` made, keeping the vectors' room.
    fn clear(&mut self) {
        (self.body, self.event_name, self.time_unix_nano, self.observed_time_unix_nano) = (None, None, None, None);
        self.attributes.clear();
        self.resource.clear();
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

/// Parses one stored message into `event` (as [`RawEvent::new_in`] made it). With `marks`
/// (what the payload reader found while it unescaped the message: [`marked`]), the marked reader
/// goes first; whatever it refuses, serde_json reads.
pub(crate) fn parse_event_into<'a>(
    message: &'a str,
    marks: Option<&[u64]>,
    indexes: Indexes<'_>,
    event: &mut RawEvent<'_, 'a>,
) -> Result<(), Unparseable> {
    if let Some(marks) = marks {
        if marked::read(message, marks, indexes, event).is_some() {
            return Ok(());
        }
        event.clear();
    }
    let mut de = serde_json::Deserializer::from_str(message);
    de.deserialize_map(EventVisitor { event, indexes }).map_err(|_| Unparseable)?;
    de.end().map_err(|_| Unparseable)
}

/// Whether the marked reader takes `message` on its own (given the marks it would have).
#[cfg(test)]
pub(crate) fn marked_reader_takes(message: &str, indexes: Indexes<'_>) -> bool {
    let bump = Bump::new();
    marked::read(message, &marks_of(message), indexes, &mut RawEvent::new_in(&bump)).is_some()
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

/// [`crate::json::set_once`], refused as serde refuses a repeated field.
fn set_once<'a, E: de::Error>(slot: &mut Option<Raw<'a>>, value: Raw<'a>, field: &'static str) -> Result<(), E> {
    crate::json::set_once(slot, value).ok_or_else(|| E::duplicate_field(field))
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
    fn top(&mut self, key: Cow<'a, str>, value: Raw<'a>) {
        if key.len() <= self.index.max_len {
            if let Some(children) = self.openable(&key, value) {
                let mut path = String::with_capacity(self.index.max_len);
                path.push_str(&key);
                self.open(&mut path, children);
                return;
            }
            if let Some(slot) = self.index.slot(&key) {
                self.out.slot(slot, value);
                return;
            }
        }
        if self.named {
            self.out.other(key);
        } else {
            self.out.hidden += 1;
        }
    }

    /// The children of `value` if it is an object (not an AnyValue scalar wrapper) under a
    /// prefix of an allowlisted key.
    fn openable(&self, path: &str, value: Raw<'a>) -> Option<Children<'a>> {
        if value.get().starts_with('{') && self.index.is_prefix(path) { children(value.get()) } else { None }
    }

    /// Matches each child as `path.child`; those that name nothing are counted as hidden.
    fn open(&mut self, path: &mut String, children: Children<'a>) {
        children.each(&mut |Key(child), value| {
            if !self.visit(path, &child, value) {
                self.out.hidden += 1;
            }
        });
    }

    /// Matches `path.key`: an allowlisted key becomes a slot entry, a prefix of one is opened.
    /// Returns false when it names nothing.
    fn visit(&mut self, path: &mut String, key: &str, value: Raw<'a>) -> bool {
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
            self.out.slot(slot, value);
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
    value: Option<Raw<'a>>,
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
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, Raw<'de>>()? {
            self.reader.top(key, value);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(kv) = seq.next_element::<KeyValue<'de>>()? {
            // An absent or null value is still a key: it is reported (and dropped), not skipped.
            self.reader.top(kv.key.0, kv.value.unwrap_or(Raw::NULL));
        }
        Ok(())
    }
}

/// The direct children of an object value: its members, or the entries of an OTLP
/// `{"kvlistValue":{"values":[..]}}`, read where they are ([`Children::each`]), never collected:
/// a value of a million children costs no memory per child (measured: collected, the children
/// of an 18 MB event under an allowlisted prefix took 40 MiB).
pub(crate) enum Children<'a> {
    /// An object's text: each member is a child.
    Members(&'a str),
    /// A `kvlistValue`'s `values` array text, if it has one: each entry is a child.
    Values(Option<&'a str>),
}

/// The children of an object value, checked whole first (by a pass that keeps none of them):
/// `None` for a scalar AnyValue wrapper (`{"stringValue":..}` and the like, a leaf) or malformed
/// JSON, as if they had been collected.
fn children(json: &str) -> Option<Children<'_>> {
    let probe: Probe<'_> = serde_json::from_str(json).ok()?;
    if let (1, Some((Key(key), value))) = (probe.count, &probe.first)
        && ANY_VALUE_FIELDS.contains(&key.as_ref())
    {
        if key != "kvlistValue" {
            return None;
        }
        // Checked as a list of KeyValue entries (as it was when collected), then its array found.
        serde_json::from_str::<KvList>(value.get()).ok()?;
        let list: KvListText<'_> = serde_json::from_str(value.get()).ok()?;
        return Some(Children::Values(list.values.map(RawValue::get)));
    }
    Some(Children::Members(json))
}

impl<'a> Children<'a> {
    /// Hands each child to `each`, in order. The text was checked by [`children`], so this
    /// second reading of it cannot fail (a failure would end it quietly).
    fn each(self, each: &mut dyn FnMut(Key<'a>, Raw<'a>)) {
        match self {
            Children::Members(json) => {
                let _ = serde_json::Deserializer::from_str(json).deserialize_map(EachMember { count: None, each });
            }
            Children::Values(Some(json)) => {
                let _ = serde_json::Deserializer::from_str(json).deserialize_seq(EachValue { count: None, each });
            }
            Children::Values(None) => {}
        }
    }
}

/// An object's members counted, the first one kept: what [`children`] decides on.
struct Probe<'a> {
    count: usize,
    first: Option<(Key<'a>, Raw<'a>)>,
}

impl<'de> Deserialize<'de> for Probe<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut probe = Probe { count: 0, first: None };
        let mut keep = |key, value| {
            if probe.first.is_none() {
                probe.first = Some((key, value));
            }
        };
        let mut count = 0;
        deserializer.deserialize_map(EachMember { count: Some(&mut count), each: &mut keep })?;
        probe.count = count;
        Ok(probe)
    }
}

/// An object's members, each handed to `each` as it is read (and counted).
struct EachMember<'f, 'a> {
    count: Option<&'f mut usize>,
    each: &'f mut dyn FnMut(Key<'a>, Raw<'a>),
}

impl<'de> Visitor<'de> for EachMember<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some((key, value)) = map.next_entry::<Key<'de>, Raw<'de>>()? {
            if let Some(count) = self.count.as_deref_mut() {
                *count += 1;
            }
            (self.each)(key, value);
        }
        Ok(())
    }
}

/// A list of KeyValue entries, each handed to `each` as it is read (an entry without a value
/// as null).
struct EachValue<'f, 'a> {
    count: Option<&'f mut usize>,
    each: &'f mut dyn FnMut(Key<'a>, Raw<'a>),
}

impl<'de> Visitor<'de> for EachValue<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of key-values")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(kv) = seq.next_element::<KeyValue<'de>>()? {
            if let Some(count) = self.count.as_deref_mut() {
                *count += 1;
            }
            (self.each)(kv.key, kv.value.unwrap_or(Raw::NULL));
        }
        Ok(())
    }
}

/// KeyValue entries, read and checked one at a time, none kept.
#[derive(Default)]
struct KeyValues;

impl<'de> Deserialize<'de> for KeyValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(EachValue { count: None, each: &mut |_, _| {} })?;
        Ok(KeyValues)
    }
}

/// A `kvlistValue`, checked as a list of KeyValue entries would be (its entries read, none
/// kept).
#[derive(Deserialize)]
struct KvList {
    #[serde(default)]
    #[allow(dead_code, reason = "read to check it")]
    values: KeyValues,
}

/// A checked `kvlistValue`: where its `values` array is.
#[derive(Deserialize)]
struct KvListText<'a> {
    #[serde(borrow, default)]
    values: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_the_same_ends_are_still_told_apart() {
        // Same length, same first and last eight bytes: two keys.
        let (a, b) = ("prefix00.X.suffix00", "prefix00.Y.suffix00");
        assert_eq!(Ends::of(a), Ends::of(b));
        let keys = [(a, 0), ("short", 1), ("exactly8", 2), ("nine.byte", 3), ("sixteen.bytes.16", 4)];
        let index = KeyIndex::new(keys);
        assert_eq!(index.slot(a), Some(0));
        assert_eq!(index.slot(b), None);
        // Every key of up to 16 bytes that differs from one in the index in any one byte.
        for (key, slot) in keys {
            assert_eq!(index.slot(key), Some(slot));
            for at in 0..key.len().min(16) {
                let mut other = key.as_bytes().to_vec();
                other[at] ^= 0x20;
                assert_eq!(index.slot(std::str::from_utf8(&other).unwrap()), None, "{key} with byte {at} changed");
            }
        }
        assert!(index.is_prefix("prefix00") && index.is_prefix("prefix00.X") && !index.is_prefix("prefix00.Y"));
        assert!(index.is_prefix("nine") && !index.is_prefix("nino") && index.is_prefix("sixteen.bytes"));
    }

    /// Everything a reader put in `e`, to compare two readers.
    fn shape(e: &RawEvent<'_, '_>) -> String {
        let found = |f: &Found<'_, '_>| {
            let entries: Vec<String> = f
                .entries
                .iter()
                .map(|e| match e {
                    Entry::Slot(slot, value) => format!("#{slot}={}", value.get()),
                    Entry::Other(key) => format!("{key:?}"),
                })
                .collect();
            format!("{entries:?} hidden {} unnamed {} repeated {}", f.hidden, f.unnamed, f.repeated)
        };
        fn raw(r: Option<Raw<'_>>) -> Option<&str> {
            r.map(Raw::get)
        }
        format!(
            "body {:?} name {:?} time {:?} observed {:?} attributes {} resource {}",
            raw(e.body),
            raw(e.event_name),
            raw(e.time_unix_nano),
            raw(e.observed_time_unix_nano),
            found(&e.attributes),
            found(&e.resource)
        )
    }

    /// Parses `message` both ways, which must agree: with its marks (the marked reader first)
    /// and with serde_json alone, whose result `event` gets. Returns whether the marked reader
    /// took it on its own.
    fn parse_both<'a>(
        message: &'a str,
        indexes: Indexes<'_>,
        event: &mut RawEvent<'_, 'a>,
    ) -> (Result<(), Unparseable>, bool) {
        let (bump, marks) = (Bump::new(), marks_of(message));
        let mut fast = RawEvent::new_in(&bump);
        let took = marked::read(message, &marks, indexes, &mut fast).is_some();
        let exact = parse_event_into(message, None, indexes, event);
        if took {
            assert!(exact.is_ok(), "the marked reader took what serde_json refuses: {message}");
            assert_eq!(shape(&fast), shape(event), "{message}");
        }
        let mut both = RawEvent::new_in(&bump);
        let result = parse_event_into(message, Some(&marks), indexes, &mut both);
        assert_eq!(result, exact, "{message}");
        if result.is_ok() {
            assert_eq!(shape(&both), shape(event), "{message}");
        }
        (exact, took)
    }

    fn parse<'a>(message: &'a str, indexes: Indexes<'_>, event: &mut RawEvent<'_, 'a>) -> Result<(), Unparseable> {
        parse_both(message, indexes, event).0
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
        parse(message, Indexes { attributes: &index, resource: &resource }, &mut event).unwrap();
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
    fn a_record_of_many_keys_holds_a_bounded_number_of_entries() {
        // Past MAX_ENTRIES: keys that name nothing are counted, an allowlisted key is held until
        // its slot is held twice (a duplicate either way), then counted; an allowlisted key seen
        // once before the bound is still held after it. Both readers, object and KeyValue forms.
        let n = MAX_ENTRIES + 5000;
        let mut members: Vec<(String, String)> = vec![("model".into(), r#""m""#.into())];
        for i in 0..n {
            members.push((format!("k{i}"), "1".into()));
            if i == 500 || (i >= MAX_ENTRIES + 500 && i % 1000 == 500) {
                members.push(("n".into(), i.to_string()));
            }
        }
        members.push(("model".into(), r#""m2""#.into()));
        members.push(("model".into(), r#""m3""#.into()));
        members.push(("session".into(), r#"{"id":"s"}"#.into()));
        let object: Vec<String> = members.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
        let key_values: Vec<String> = members.iter().map(|(k, v)| format!(r#"{{"key":"{k}","value":{v}}}"#)).collect();
        for message in [
            format!(r#"{{"attributes":{{{}}}}}"#, object.join(",")),
            format!(r#"{{"attributes":[{}]}}"#, key_values.join(",")),
        ] {
            let (bump, index, resource) = (Bump::new(), index(), KeyIndex::default());
            let mut event = RawEvent::new_in(&bump);
            parse(&message, Indexes { attributes: &index, resource: &resource }, &mut event).unwrap();
            let found = &event.attributes;
            let others = found.entries.iter().filter(|e| matches!(e, Entry::Other(_))).count();
            let slots: Vec<usize> =
                found.entries.iter().filter_map(|e| if let Entry::Slot(s, _) = e { Some(*s) } else { None }).collect();
            assert_eq!(others as u64 + found.unnamed, n as u64, "every key that names nothing, held or counted");
            assert!(found.entries.len() <= MAX_ENTRIES + 2 * 7, "{} entries", found.entries.len());
            // model: once before the bound, once after, then counted; n: once before, once after,
            // then counted (three times); session.id: held.
            assert_eq!(slots.iter().filter(|&&s| s == 0).count(), 2, "{slots:?}");
            assert_eq!(slots.iter().filter(|&&s| s == 1).count(), 2, "{slots:?}");
            assert_eq!(slots.iter().filter(|&&s| s == 3).count(), 1, "{slots:?}");
            assert_eq!(found.repeated, 1 + 3);
            let (_, taken) =
                parse_both(&message, Indexes { attributes: &index, resource: &resource }, &mut RawEvent::new_in(&bump));
            assert!(taken, "the marked reader reads it");
        }
    }

    #[test]
    fn children_are_read_in_place_as_they_were_when_collected() {
        // (message, entries, hidden): the forms an object under a prefix may take, and the
        // ones that make it a leaf (a scalar wrapper, a kvlistValue that is no list, a key no
        // string can hold).
        type Case = (&'static str, &'static [(&'static str, &'static str)], u64);
        let cases: [Case; 8] = [
            (
                r#"{"attributes":{"session":{"kvlistValue":{"values":[{"key":"id","value":{"stringValue":"s"}},{"key":"x"}]}}}}"#,
                &[("#3", r#"{"stringValue":"s"}"#)],
                1,
            ),
            (r#"{"attributes":{"session":{"kvlistValue":{"values":null}}}}"#, &[("session", "")], 0),
            (r#"{"attributes":{"session":{"kvlistValue":{"other":1}}}}"#, &[], 0),
            (r#"{"attributes":{"session":{"kvlistValue":{"values":[["id",1]]}}}}"#, &[("#3", "1")], 0),
            (r#"{"attributes":{"session":{"kvlistValue":[[{"key":"id","value":2}]]}}}"#, &[("#3", "2")], 0),
            (r#"{"attributes":{"session":{"id":1,"\udc00":2}}}"#, &[("session", "")], 0),
            (r#"{"attributes":{"session":{"stringValue":"x"}}}"#, &[("session", "")], 0),
            (r#"{"attributes":{"session":{"stringValue":"x","id":3}}}"#, &[("#3", "3")], 1),
        ];
        for (m, want, hidden) in cases {
            assert_eq!(attrs(m), (pairs(want), hidden), "{m}");
        }
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
        parse(m, Indexes { attributes: &index, resource: &resource }, &mut event).unwrap();
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
        parse(m, Indexes { attributes: &attributes, resource: &resource }, &mut e).unwrap();
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
            assert_eq!(parse(m, indexes, &mut event).unwrap_err(), Unparseable, "{m}");
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
        parse(r#"{"attributes":{"prompt":"CANARY"}}"#, indexes, &mut e).unwrap();
        assert!(!format!("{e:?}").contains("CANARY"));
    }

    /// A message generator: records of the client's shape (`client`), or anything near it.
    struct Gen {
        state: u64,
        client: bool,
    }

    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.state = self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.state >> 33) % n as u64) as usize
        }
        fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
            from[self.below(from.len())]
        }
        /// The usual choices, or now and then (when not `client`) one of `odd`.
        fn pick_or<'s>(&mut self, usual: &[&'s str], odd: &[&'s str]) -> &'s str {
            if !self.client && self.below(40) == 0 { self.pick(odd) } else { self.pick(usual) }
        }
        fn ws(&mut self, out: &mut String) {
            if self.below(4) == 0 {
                out.push_str(self.pick(&[" ", "\n", "\t ", "\r\n  "]));
            }
        }
        fn string(&mut self, out: &mut String) {
            out.push('"');
            for _ in 0..self.below(12) {
                let pieces = [
                    "a",
                    "model",
                    " ",
                    "{}:,[]",
                    "0",
                    r#"\""#,
                    r"\\",
                    r"\/",
                    r"\n",
                    r"\t",
                    "é",
                    "😀",
                    r"\u0041",
                    r"\u0022",
                    r"\u005c",
                    r"\u001f",
                    r"\ud83d\ude00",
                    r"\ud800",
                    r"\b\f\r",
                ];
                let piece = self.pick_or(&pieces, &["\u{1}", "\n", r"\x", r"\u12", r"\U0041", "\""]);
                out.push_str(piece);
            }
            out.push('"');
        }
        /// A member name and its colon; `inside`: in a value, where the client's keys may be escaped.
        fn key(&mut self, out: &mut String, inside: bool) {
            let mut keys = vec!["model", "n", "session.id", "session", "a", "a.b", "prompt", "user", "email", "w", "x"];
            let escaped = [r"mo\u0064el", r#"k\""#, "", r"\ud800", "\u{1}"];
            if inside {
                keys.extend(&escaped[..4]);
            }
            self.ws(out);
            out.push('"');
            let key = self.pick_or(&keys, &escaped);
            out.push_str(key);
            out.push('"');
            self.ws(out);
            out.push(':');
            self.ws(out);
        }
        fn value(&mut self, out: &mut String, depth: usize) {
            match self.below(if depth > 3 { 3 } else { 6 }) {
                0 => self.string(out),
                1 => {
                    let numbers = ["0", "-1", "12", "1.5e-3", "2E+7", "-0.0", "123456789012345678901234567890"];
                    let number = self.pick_or(&numbers, &["01", "-", "1.", "1e", ".5", "+1", "-01", "1e+"]);
                    out.push_str(number);
                }
                2 => {
                    let literal = self.pick_or(&["true", "false", "null"], &["nul", "tru", "nulll", "True", "n"]);
                    out.push_str(literal);
                }
                3 => {
                    out.push('{');
                    for i in 0..self.below(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.key(out, true);
                        self.value(out, depth + 1);
                    }
                    self.ws(out);
                    out.push('}');
                }
                4 => {
                    out.push('[');
                    for i in 0..self.below(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.ws(out);
                        self.value(out, depth + 1);
                    }
                    self.ws(out);
                    out.push(']');
                }
                _ => {
                    let wrapper = self.pick(&["stringValue", "intValue", "kvlistValue"]);
                    out.push_str(&format!(r#"{{"{wrapper}":"#));
                    self.value(out, depth + 1);
                    out.push('}');
                }
            }
        }
        /// `attributes` or `resource.attributes`.
        fn attributes(&mut self, out: &mut String) {
            let shapes = if self.client || self.below(10) != 0 { 9 } else { 12 };
            match self.below(shapes) {
                0 => out.push_str("null"),
                8 => {
                    out.push('[');
                    for i in 0..self.below(6) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.ws(out);
                        let key = self.pick_or(
                            &["model", "session.id", "session", "a", "prompt", "w"],
                            &[r"mo\u0064el", "", "\u{1}"],
                        );
                        let entry = match self.below(if self.client { 3 } else { 7 }) {
                            0 => format!(r#"{{"key":"{key}","value":"#),
                            1 => r#"{"value":"#.to_string(),
                            2 => format!(r#"{{"x":[1],"key":"{key}","value":"#),
                            3 => format!(r#"{{"key":"{key}","key":"{key}","value":"#),
                            4 => r#"{"key":1,"value":"#.to_string(),
                            5 => format!(r#"["{key}","#),
                            _ => r#"{"value":1,"value":"#.to_string(),
                        };
                        out.push_str(&entry);
                        self.value(out, 1);
                        out.push(if entry.starts_with('[') { ']' } else { '}' });
                        if entry == r#"{"value":"# {
                            out.insert_str(out.len() - 1, &format!(r#","key":"{key}""#));
                        }
                    }
                    out.push(']');
                }
                9 => out.push_str(r#"[{"key":"model"},{"key":"n","value":null}]"#),
                10 => self.string(out),
                11 => out.push_str("{,}"),
                _ => {
                    out.push('{');
                    for i in 0..self.below(8) {
                        if i > 0 {
                            out.push(',');
                        }
                        self.key(out, false);
                        self.value(out, 0);
                    }
                    self.ws(out);
                    out.push('}');
                }
            }
        }
        fn message(&mut self) -> String {
            let mut out = String::new();
            self.ws(&mut out);
            out.push('{');
            let mut seen = Vec::new();
            for i in 0..self.below(7) {
                let field = self.pick(&["attributes", "resource", "body", "eventName", "timeUnixNano", "scope", "x"]);
                if seen.contains(&field) && (self.client || self.below(10) != 0) {
                    continue;
                }
                seen.push(field);
                if i > 0 && !out.ends_with('{') {
                    out.push(',');
                }
                self.ws(&mut out);
                out.push_str(&format!(r#""{field}":"#));
                self.ws(&mut out);
                match field {
                    "attributes" => self.attributes(&mut out),
                    "resource" => {
                        out.push_str(r#"{"droppedAttributesCount":0,"attributes":"#);
                        self.attributes(&mut out);
                        out.push('}');
                    }
                    _ => self.value(&mut out, 0),
                }
            }
            self.ws(&mut out);
            out.push('}');
            self.ws(&mut out);
            out
        }
    }

    fn indexes_for_tests() -> (KeyIndex, KeyIndex) {
        (index(), KeyIndex::new([("user", 0), ("session.id", 1), ("x", 2)]))
    }

    #[test]
    fn the_marked_reader_takes_every_record_of_the_clients_shape() {
        let (attributes, resource) = indexes_for_tests();
        let indexes = Indexes { attributes: &attributes, resource: &resource };
        for seed in 0..20_000 {
            let message = Gen { state: seed, client: true }.message();
            let bump = Bump::new();
            let mut event = RawEvent::new_in(&bump);
            let (result, took) = parse_both(&message, indexes, &mut event);
            assert!(result.is_ok() && took, "{message}");
        }
    }

    #[test]
    fn records_near_the_clients_shape_are_read_alike() {
        let (attributes, resource) = indexes_for_tests();
        let indexes = Indexes { attributes: &attributes, resource: &resource };
        let (mut took, mut left) = (0, 0);
        for seed in 0..100_000 {
            let message = Gen { state: seed, client: false }.message();
            let bump = Bump::new();
            let mut event = RawEvent::new_in(&bump);
            if parse_both(&message, indexes, &mut event).1 { took += 1 } else { left += 1 }
        }
        // Both sides are well exercised: most records are taken, many are left to serde_json.
        assert!(took > 50_000 && left > 10_000, "taken {took}, left {left}");
    }

    proptest::proptest! {
        /// Invariant: whatever the message, what the marked reader takes, serde_json takes
        /// with the same entries, and the two ways of reading agree (`parse_both`); a message
        /// cut or edited anywhere included.
        #[test]
        fn the_marked_reader_takes_only_what_serde_json_takes(
            seed in 0u64..,
            client in proptest::bool::ANY,
            edits in proptest::collection::vec((0usize..4096, 0usize..12, 0u8..3), 0..3),
        ) {
            let mut message = Gen { state: seed, client }.message();
            for (at, piece, how) in edits {
                let mut at = at % (message.len() + 1);
                while !message.is_char_boundary(at) {
                    at -= 1;
                }
                let piece = ["\"", "\\", "{", "}", "[", "]", ",", ":", "\u{1}", "0", " ", "e"][piece];
                match how {
                    0 => message.insert_str(at, piece),
                    1 => message.truncate(at),
                    _ => {
                        let end = (at + 1..=message.len()).find(|&e| message.is_char_boundary(e)).unwrap_or(at);
                        message.replace_range(at..end, piece);
                    }
                }
            }
            let (attributes, resource) = indexes_for_tests();
            let bump = Bump::new();
            let mut event = RawEvent::new_in(&bump);
            let _agree = parse_both(&message, Indexes { attributes: &attributes, resource: &resource }, &mut event);
        }
    }
}
