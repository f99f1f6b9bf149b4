//! The fast reader of one stored record, for a message the payload reader has just unescaped:
//! that reader marks every byte of the message that is `"`, `\` or a control character (each
//! one comes from an escape of the payload, so it is already found), and this reader jumps from
//! mark to mark instead of scanning strings byte by byte.
//!
//! Trusts nothing in the message, and decides nothing alone. It reads the shape the client
//! writes (the record an object, `attributes` an object or a KeyValue array, keys without
//! escapes) and refuses (`None`) everything else, valid or not: an escaped key, a repeated
//! field, a KeyValue entry that is not an object, nesting deeper than [`crate::json::MAX_DEPTH`], malformed
//! JSON. On a refusal the caller
//! clears what it filled and runs the serde_json reader, which gives the result or
//! `Unparseable`. What it accepts, serde_json accepts with the same entries in the same order
//! (the differential tests below hold it to that).
//!
//! It trusts the marks to be exact (tested in `decode.rs` against `decode::marks::of` for every
//! message, through every window size): a byte between two marks is never `"`, `\` or a control
//! character, so the text between is a run of ordinary characters.
//!
//! Bounded: one pass, no recursion (nesting is a counter and a 64-bit stack).

use super::{Indexes, Raw, RawEvent, Reader};
use crate::decode::marks;
use crate::json::{Grammar, set_once};
use std::borrow::Cow;

/// Reads `message` into `event` (as `RawEvent::new_in` made it). `None`: refused, and `event`
/// may hold part of the record.
pub(super) fn read<'a>(
    message: &'a str,
    marks: &[u64],
    indexes: Indexes<'_>,
    event: &mut RawEvent<'_, 'a>,
) -> Option<()> {
    let mut c = Cursor { text: message, bytes: message.as_bytes(), marks, p: 0 };
    let (mut attributes, mut resource) = (false, false);
    c.expect(b'{')?;
    if !c.eat(b'}') {
        loop {
            match c.key()? {
                "body" => set_once(&mut event.body, c.value()?)?,
                "eventName" => set_once(&mut event.event_name, c.value()?)?,
                "timeUnixNano" => set_once(&mut event.time_unix_nano, c.value()?)?,
                "observedTimeUnixNano" => set_once(&mut event.observed_time_unix_nano, c.value()?)?,
                "attributes" => {
                    (!std::mem::replace(&mut attributes, true)).then_some(())?;
                    c.attributes(Reader { index: indexes.attributes, out: &mut event.attributes, named: true })?;
                }
                "resource" => {
                    (!std::mem::replace(&mut resource, true)).then_some(())?;
                    c.resource(Reader { index: indexes.resource, out: &mut event.resource, named: true })?;
                }
                _ => c.skip()?,
            }
            if !c.eat(b',') {
                c.expect(b'}')?;
                break;
            }
        }
    }
    c.ws();
    (c.p == c.bytes.len()).then_some(())
}

struct Cursor<'a, 'm> {
    text: &'a str,
    bytes: &'a [u8],
    marks: &'m [u64],
    p: usize,
}

impl<'a> Cursor<'a, '_> {
    /// The first marked position at or after `from`.
    fn next_mark(&self, from: usize) -> Option<usize> {
        marks::next(self.marks, from, self.bytes.len())
    }

    /// The string at `p` (which must open one): the range of its text, and whether it holds
    /// escapes. Each escape is checked as JSON defines it (`\u` with any four hex digits, as
    /// serde_json checks a string it skips).
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        (self.peek()? == b'"').then_some(())?;
        let start = self.p + 1;
        let (mut from, mut escaped) = (start, false);
        loop {
            let at = self.next_mark(from)?;
            match self.bytes[at] {
                b'"' => {
                    self.p = at + 1;
                    return Some((start, at, escaped));
                }
                b'\\' => {
                    escaped = true;
                    from = match self.bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at + 2,
                        b'u' => {
                            let digits = self.bytes.get(at + 2..at + 6)?;
                            digits.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                            at + 6
                        }
                        _ => return None,
                    };
                }
                _ => return None, // a control character
            }
        }
    }

    /// A string without escapes, as its text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.ws();
        let (start, end, escaped) = self.string()?;
        (!escaped).then_some(())?;
        self.text.get(start..end)
    }

    /// A member name without escapes, and its colon.
    fn key(&mut self) -> Option<&'a str> {
        let key = self.plain_string()?;
        self.expect(b':')?;
        Some(key)
    }

    /// One value, checked, as its text.
    fn value(&mut self) -> Option<Raw<'a>> {
        self.ws();
        let start = self.p;
        self.skip()?;
        Some(Raw(self.text.get(start..self.p)?))
    }

    /// `attributes`: an object (each member goes to `reader`), an OTLP KeyValue array, or null.
    fn attributes(&mut self, mut reader: Reader<'_, '_, 'a, '_>) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'n' => return self.literal(b"null"),
            b'[' => return self.key_values(reader),
            _ => {}
        }
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.key()?;
            let value = self.value()?;
            reader.top(Cow::Borrowed(key), value);
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }

    /// `[{"key":..,"value":..},..]`: each entry goes to `reader` (an entry without a value as
    /// null). Other members of an entry are passed over; an entry that is not an object, or
    /// whose key is missing, repeated, escaped or not a string, is refused.
    fn key_values(&mut self, mut reader: Reader<'_, '_, 'a, '_>) -> Option<()> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.expect(b'{')?;
            let (mut key, mut value) = (None, None);
            if !self.eat(b'}') {
                loop {
                    match self.key()? {
                        "key" => set_once(&mut key, self.plain_string()?)?,
                        "value" => set_once(&mut value, self.value()?)?,
                        _ => self.skip()?,
                    }
                    if !self.eat(b',') {
                        self.expect(b'}')?;
                        break;
                    }
                }
            }
            reader.top(Cow::Borrowed(key?), value.unwrap_or(Raw::NULL));
            if !self.eat(b',') {
                return self.expect(b']');
            }
        }
    }

    /// `resource`: an object whose `attributes` (once) goes to `reader`, or null.
    fn resource(&mut self, reader: Reader<'_, '_, 'a, '_>) -> Option<()> {
        self.ws();
        if self.peek()? == b'n' {
            return self.literal(b"null");
        }
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        let mut reader = Some(reader);
        loop {
            if self.key()? == "attributes" {
                self.attributes(reader.take()?)?;
            } else {
                self.skip()?;
            }
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }
}

impl Grammar for Cursor<'_, '_> {
    fn peek(&mut self) -> Option<u8> {
        self.bytes.get(self.p).copied()
    }

    fn ahead(&mut self, n: usize) -> Option<&[u8]> {
        self.bytes.get(self.p..self.p + n)
    }

    fn advance(&mut self, n: usize) {
        self.p += n;
    }

    fn pass_string(&mut self) -> Option<()> {
        self.string().map(drop)
    }
}
