//! The fast reader of a decompressed subscription payload: one pass over the bytes, each
//! `message` unescaped in place and packed at the front of the buffer, which then becomes the
//! payload's one message string.
//!
//! Trusts nothing, and decides nothing alone. It accepts only what the exact reader (serde_json,
//! [`super::read_exact`]) accepts, with the same result, and refuses (`None`) everything else:
//! malformed JSON, and also forms the exact reader takes but CloudWatch never sends (the payload
//! or an event as a JSON array, an escaped field name, nesting deeper than [`MAX_DEPTH`]). On a
//! refusal the caller runs the exact reader on a fresh copy, which gives the result or the error
//! with its position. The differential tests in `decode.rs` hold it to that on generated,
//! mutated and recorded payloads.
//!
//! Why it exists: the messages are JSON inside JSON, so about one byte in ten is an escape, and
//! serde_json spends some 190 instructions per escape (measured: `docs/performance.md`); this
//! reader handles the runs between escapes eight bytes at a time. simd-json and sonic-rs were
//! measured too: simd-json builds a tape of every value, which reached 18 × a hostile payload;
//! sonic-rs saved less than half of what this reader saves.
//!
//! Bounded: linear in the payload, no recursion (nesting is a counter and a 64-bit stack), no
//! allocation but one record per event and the short strings (ids, group and stream names).

use super::{LogEvent, Unreadable};

/// Nesting the fast reader follows inside fields it ignores; deeper goes to the exact reader
/// (whose limit, 128, is larger, so the two never disagree about depth).
const MAX_DEPTH: u32 = 60;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte that is `"`, `\`, a control character or beyond ASCII (which the
/// byte path checks), exact up to the first such byte (above it, borrows may set more bits;
/// only the lowest one is used).
fn special(word: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | word.wrapping_sub(ONES * 0x20)
        | word)
        & HIGHS
}

/// What the fast reader returns: the payload's fields, and its messages in one string that the
/// events' ranges index.
pub(super) struct Scanned {
    pub(super) message_type: String,
    pub(super) log_group: String,
    pub(super) log_stream: String,
    pub(super) messages: String,
    pub(super) events: Vec<LogEvent>,
}

/// Reads `json`, reusing its bytes for the messages. `None`: the exact reader must decide.
pub(super) fn scan(json: Vec<u8>) -> Option<Scanned> {
    let mut s = Scanner { buf: json, r: 0, w: 0 };
    let (message_type, log_group, log_stream, events) = s.payload()?;
    s.ws();
    if s.r != s.buf.len() {
        return None;
    }
    let mut buf = s.buf;
    buf.truncate(s.w);
    // Every kept message was checked as UTF-8 on its own, so this holds; checked, not assumed.
    let messages = String::from_utf8(buf).ok()?;
    Some(Scanned { message_type, log_group, log_stream, messages, events })
}

/// A read position `r` and a write position `w <= r` in one buffer: bytes before `r` have been
/// read, so unescaped text can be written over them.
struct Scanner {
    buf: Vec<u8>,
    r: usize,
    w: usize,
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

impl Scanner {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.r).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.r += 1;
        }
    }

    /// Skips whitespace and consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        let next = self.peek() == Some(byte);
        self.r += usize::from(next);
        next
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// The payload object: its three string fields and its events, each field at most once.
    fn payload(&mut self) -> Option<(String, String, String, Vec<LogEvent>)> {
        const FIELDS: &[&[u8]] = &[b"messageType", b"logGroup", b"logStream", b"logEvents"];
        let (mut message_type, mut log_group, mut log_stream, mut events) = (None, None, None, None);
        self.members(
            |s, field| match field {
                Some(0) => set_once(&mut message_type, s.string()?),
                Some(1) => set_once(&mut log_group, s.string()?),
                Some(2) => set_once(&mut log_stream, s.string()?),
                Some(_) => set_once(&mut events, s.events()?),
                None => s.skip(),
            },
            FIELDS,
        )?;
        Some((message_type?, log_group?, log_stream?, events?))
    }

    fn events(&mut self) -> Option<Vec<LogEvent>> {
        self.expect(b'[')?;
        let mut events = Vec::new();
        if self.eat(b']') {
            return Some(events);
        }
        loop {
            events.push(self.event()?);
            if !self.eat(b',') {
                self.expect(b']')?;
                return Some(events);
            }
        }
    }

    fn event(&mut self) -> Option<LogEvent> {
        const FIELDS: &[&[u8]] = &[b"id", b"timestamp", b"message"];
        let (mut id, mut timestamp, mut message) = (None, None, None);
        self.members(
            |s, field| match field {
                Some(0) => set_once(&mut id, s.string()?),
                Some(1) => set_once(&mut timestamp, s.integer()?),
                Some(_) => set_once(&mut message, s.message()?),
                None => s.skip(),
            },
            FIELDS,
        )?;
        Some(LogEvent { id: id?, timestamp: timestamp?, message: message? })
    }

    /// An object's members: `member` reads each value, given the index of its name in `fields`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Option<usize>) -> Option<()>,
        fields: &[&[u8]],
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let name = self.name()?;
            let field = fields.iter().position(|f| **f == self.buf[name.clone()]);
            self.expect(b':')?;
            member(self, field)?;
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }

    /// A member name without escapes (an escaped one goes to the exact reader), as UTF-8.
    fn name(&mut self) -> Option<std::ops::Range<usize>> {
        self.expect(b'"')?;
        let start = self.r;
        let len = self.buf[start..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = start + len;
        (self.buf[end] == b'"').then_some(())?;
        std::str::from_utf8(&self.buf[start..end]).ok()?;
        self.r = end + 1;
        Some(start..end)
    }

    /// A string field, which must be Unicode (the exact reader refuses one that is not).
    fn string(&mut self) -> Option<String> {
        let start = self.w;
        let whole = self.unescape()?;
        let text = whole.then(|| std::str::from_utf8(&self.buf[start..self.w]).ok().map(str::to_owned)).flatten();
        self.w = start;
        text
    }

    /// A message: kept (packed at `w`) when it is Unicode, else unreadable and not kept.
    fn message(&mut self) -> Option<Result<std::ops::Range<usize>, Unreadable>> {
        let start = self.w;
        if self.unescape()? {
            Some(Ok(start..self.w))
        } else {
            self.w = start;
            Some(Err(Unreadable))
        }
    }

    /// An integer in `i64` (a fraction or an exponent makes it a float: refused, as serde does).
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let negative = self.eat(b'-');
        let first = self.peek().filter(u8::is_ascii_digit)?;
        self.r += 1;
        let mut value = -i64::from(first - b'0');
        if first != b'0' {
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
                self.r += 1;
            }
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
            return None;
        }
        // serde_json reads `-0` as a float (its sign kept), which an i64 field refuses.
        if negative { (value != 0).then_some(value) } else { value.checked_neg() }
    }

    /// Unescapes the string at `r` into `w`. `Some(false)`: valid JSON, but not a Unicode
    /// string (a lone surrogate escape, left out, or raw bytes that are not UTF-8).
    fn unescape(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let start = self.w;
        // Locals, not fields: a store into the buffer cannot then force `r` and `w` back to memory.
        let (buf, mut r, mut w) = (&mut self.buf[..], self.r, self.w);
        let (mut whole, mut ascii) = (true, true);
        let whole = loop {
            // Eight bytes at a time up to the next quote, backslash or control character.
            while let Some(chunk) = buf.get(r..r + 8) {
                let word = u64::from_le_bytes(chunk.try_into().ok()?);
                let found = special(word);
                if found == 0 {
                    buf[w..w + 8].copy_from_slice(&word.to_le_bytes());
                    (r, w) = (r + 8, w + 8);
                    continue;
                }
                let run = found.trailing_zeros() as usize / 8;
                if r - w >= 8 || r == w {
                    // The store lands on bytes already read, or rewrites them unchanged.
                    buf[w..w + 8].copy_from_slice(&word.to_le_bytes());
                } else {
                    buf.copy_within(r..r + run, w);
                }
                (r, w) = (r + run, w + run);
                // The commonest escape, `\"`, without leaving the loop when it is in this word.
                if run < 7 && word >> (run * 8) & 0xffff == u64::from(u16::from_le_bytes(*b"\\\"")) {
                    buf[w] = b'"';
                    (r, w) = (r + 2, w + 1);
                    continue;
                }
                break;
            }
            let byte = *buf.get(r)?;
            r += 1;
            let out = match byte {
                b'"' => break whole,
                0..0x20 => return None,
                b'\\' => {
                    let escape = *buf.get(r)?;
                    r += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => escape,
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            whole &= unicode(buf, &mut r, &mut w)?;
                            continue;
                        }
                        _ => return None,
                    }
                }
                other => other,
            };
            ascii &= out.is_ascii();
            buf[w] = out;
            w += 1;
        };
        (self.r, self.w) = (r, w);
        // Escapes give whole characters; only raw bytes beyond ASCII need checking.
        Some(whole && (ascii || std::str::from_utf8(&self.buf[start..w]).is_ok()))
    }

    /// Any JSON value, checked and discarded, without recursion: `objects` has bit `i` set when
    /// level `i` is an object.
    fn skip(&mut self) -> Option<()> {
        let (mut depth, mut objects) = (0u32, 0u64);
        loop {
            self.ws();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.r += 1;
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    let object = open == b'{';
                    objects = objects & !(1 << depth) | u64::from(object) << depth;
                    depth += 1;
                    if self.eat(if object { b'}' } else { b']' }) {
                        depth -= 1;
                    } else {
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // After a value: close the containers it ends, or go on to the next member.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let object = objects >> (depth - 1) & 1 == 1;
                if self.eat(b',') {
                    if object {
                        self.key()?;
                    }
                    break;
                }
                self.expect(if object { b'}' } else { b']' })?;
                depth -= 1;
            }
        }
    }

    /// A member name in an ignored object, and its colon.
    fn key(&mut self) -> Option<()> {
        self.ws();
        (self.peek()? == b'"').then_some(())?;
        self.string()?;
        self.expect(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.buf.get(self.r..self.r + word.len())? == word).then_some(())?;
        self.r += word.len();
        Some(())
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.r += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.r += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.r += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.r += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let n = self.buf[self.r..].iter().take_while(|b| b.is_ascii_digit()).count();
        self.r += n;
        (n > 0).then_some(())
    }
}

/// The rest of a `\u` escape at `r` (a surrogate pair takes two), written at `w`. `Some(false)`:
/// a lone surrogate, written as nothing; what follows it is read as usual.
fn unicode(buf: &mut [u8], r: &mut usize, w: &mut usize) -> Option<bool> {
    let unit = hex4(buf, r)?;
    let code = match unit {
        0xD800..=0xDBFF => {
            if buf.get(*r..*r + 2) != Some(b"\\u") {
                return Some(false);
            }
            let mut after = *r + 2;
            let low = hex4(buf, &mut after)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Some(false); // the second escape is read on its own
            }
            *r = after;
            0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
        }
        0xDC00..=0xDFFF => return Some(false),
        _ => u32::from(unit),
    };
    let mut utf8 = [0; 4];
    let encoded = char::from_u32(code)?.encode_utf8(&mut utf8).as_bytes();
    buf[*w..*w + encoded.len()].copy_from_slice(encoded);
    *w += encoded.len();
    Some(true)
}

fn hex4(buf: &[u8], r: &mut usize) -> Option<u16> {
    let digits = buf.get(*r..*r + 4)?;
    let mut unit = 0u16;
    for &d in digits {
        unit = unit << 4 | u16::try_from(char::from(d).to_digit(16)?).ok()?;
    }
    *r += 4;
    Some(unit)
}
