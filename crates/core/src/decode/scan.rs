//! The fast reader of a subscription payload, streamed: base64, gzip and JSON in one pass through
//! a window of a few hundred KiB, each event handed over as soon as its closing brace is read.
//! Neither the compressed nor the decompressed payload is ever whole in memory, so the memory the
//! reader touches is the window, not the payload (a 67 MB payload was 26,800 page faults, a
//! third of the process's CPU: `docs/performance.md`).
//!
//! Trusts nothing, and decides nothing alone. It accepts only what the exact reader (base64,
//! gzip, then serde_json: [`super::decode_exact`]) accepts, with the same result, and refuses
//! (`None`) everything else: bad base64, a bad or truncated gzip stream, output over the cap,
//! malformed JSON, and also forms the exact reader takes but CloudWatch never sends (the payload
//! or an event as a JSON array, nesting deeper than [`MAX_DEPTH`]). On a
//! refusal the caller drops whatever it made of the events it was given and runs the exact reader,
//! which gives the result or the error with its position. The differential tests in `decode.rs`
//! hold it to that on generated, mutated and recorded payloads, through windows and base64
//! chunks as small as one byte and one group.
//!
//! How it streams: the payload object is read as a few states (its members, the events array,
//! each event). Each state is read whole from the window; one that reaches the window's end
//! before the input's is read again from its start once the window has been refilled (what was
//! read is moved to the front, and the window doubles when one state fills it). A state is
//! acted on only once it has been read without reaching the end, so an event is handed over
//! exactly once, and a state near the end is read as if the whole payload were one buffer.
//!
//! Why it exists: the messages are JSON inside JSON, so about one byte in ten is an escape, and
//! serde_json spends some 190 instructions per escape (measured: `docs/performance.md`); this
//! reader copies the runs between escapes eight bytes at a time. simd-json and sonic-rs were
//! measured too: simd-json builds a tape of every value, which reached 18 × a hostile payload;
//! sonic-rs saved less than half of what this reader saves.
//!
//! Bounded: linear in the payload, no recursion (nesting is a counter and a 64-bit stack); the
//! window and the three text buffers grow only to the largest single event or member.

use super::marks::{self, is_marked as marked};
use super::{Compressed, DecodeError, EventRef, Header, Unreadable};
use crate::json::{Grammar, set_once};
use crate::value::special;
use base64_simd::AsOut as _;
#[allow(clippy::disallowed_types, reason = "the crate's one capped inflater, `Inflate` below")]
use flate2::{Decompress, FlushDecompress, Status};

/// The reader's buffer sizes: the window of decompressed text (it doubles when one event or
/// member fills it), and the base64 text decoded at a time (a multiple of 4).
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    pub(super) window: usize,
    pub(super) chunk: usize,
}

/// Past this size a text buffer grows by a quarter, not by doubling.
const GROW_BY_QUARTERS: usize = 1 << 20;

/// The sizes the crate reads with: a window that stays in the core's cache, and chunks that
/// inflate to about its size.
pub(super) const SIZES: Sizes = Sizes { window: 256 << 10, chunk: 64 << 10 };

/// Reads the payload `input` holds, handing each event to `each` in order, and returns the
/// payload's own fields. `None`: the exact reader must decide (and what `each` saw is void).
pub(super) fn read(input: Compressed<'_>, cap: usize, sizes: Sizes, each: impl FnMut(EventRef<'_>)) -> Option<Header> {
    read_from(Inflate::new(input, cap, sizes.chunk).ok()?, sizes, each)
}

/// [`read`] for a subscription envelope read from `reader` a piece at a time, so that not even
/// its base64 text is ever whole in memory (measured: reading a 15.7 MB file whole was 3,800 page
/// faults, 7 ms, for the CLI). Takes only the envelope's own form,
/// `{"awslogs":{"data":"<base64>"}}` with any whitespace between its tokens; `None` for anything
/// else, or a read error: the caller then reads the input whole and decodes it as usual.
pub(super) fn read_envelope(
    reader: &mut dyn std::io::Read,
    cap: usize,
    sizes: Sizes,
    each: impl FnMut(EventRef<'_>),
) -> Option<Header> {
    read_from(
        Inflate { input: Input::Envelope(Envelope::open(reader, sizes.chunk)?), ..Inflate::empty(cap) },
        sizes,
        each,
    )
}

fn read_from(mut source: Inflate<'_>, sizes: Sizes, mut each: impl FnMut(EventRef<'_>)) -> Option<Header> {
    let mut s = Scanner { buf: Vec::with_capacity(sizes.window.max(1)), r: 0, starved: false, spare: Vec::new() };
    source.fill(&mut s.buf).ok()?;
    let mut text = Text::default();
    let mut fields: [Option<String>; 3] = Default::default();
    let mut events = None;
    let mut state = State::Open;
    loop {
        let mark = s.r;
        s.starved = false;
        let step = s.step(state, &mut text);
        if s.starved && !source.done {
            s.r = mark;
            s.refill(&mut source)?;
            continue;
        }
        state = match step? {
            Step::Next(next) => next,
            Step::Field(i, value) => {
                set_once(&mut fields[i], value)?;
                State::AfterMember
            }
            Step::Events(next) => {
                set_once(&mut events, ())?;
                next
            }
            Step::Event { id, timestamp, message } => {
                let id = simdutf8::basic::from_utf8(&text.id[..id]).ok()?;
                let message = match message {
                    Some(len) => simdutf8::basic::from_utf8(&text.message[..len]).map_err(|_| Unreadable),
                    None => Err(Unreadable),
                };
                let marks = Some(&text.marks.words[..message.map_or(0, |m| marks::words_for(m.len()))]);
                each(EventRef { id, timestamp, message, marks });
                State::AfterEvent
            }
            Step::Done => break,
        };
    }
    events?;
    let [message_type, log_group, log_stream] = fields;
    Some(Header { message_type: message_type?, log_group: log_group?, log_stream: log_stream? })
}

/// Where the reader is in the payload object; each state is read whole (see the module docs).
#[derive(Clone, Copy, Debug)]
enum State {
    /// Before the payload's `{`.
    Open,
    /// Before a member's name.
    Member,
    /// After a member's value: `,` or `}`.
    AfterMember,
    /// Before an event of `logEvents`.
    Event,
    /// After an event: `,` or `]`.
    AfterEvent,
    /// After the payload's `}`: only whitespace may follow.
    End,
}

/// What reading one state gave.
enum Step {
    Next(State),
    /// One of the payload's string fields, by index.
    Field(usize, String),
    /// `logEvents` opened (the next state says whether it was empty).
    Events(State),
    /// An event: its id and message are at the front of [`Text`]'s buffers (the message `None`
    /// when it is no Unicode string).
    Event {
        id: usize,
        timestamp: i64,
        message: Option<usize>,
    },
    Done,
}

/// The buffers strings are unescaped into: an event's id and message, and a spare one for the
/// other strings (the payload's fields, and those in values that are skipped).
#[derive(Default)]
struct Text {
    id: Vec<u8>,
    message: Vec<u8>,
    marks: Marks,
}

/// The message's marks ([`marks`] has their layout). Each marked byte comes from an escape,
/// which the unescaping loop handles anyway, so marking it costs a store.
#[derive(Default)]
struct Marks {
    /// At least one word per 64 bytes of the message buffer.
    words: Vec<u64>,
    /// How many bytes the last message's marks may cover: its words are cleared before the next.
    used: usize,
}

impl Marks {
    fn set(&mut self, at: usize) {
        marks::set(&mut self.words, at);
    }
}

/// A read position `r` in a window of decompressed text; `starved` says a read reached the
/// window's end (so the state must be read again with more text, unless the input has ended).
struct Scanner {
    buf: Vec<u8>,
    r: usize,
    starved: bool,
    /// What strings other than an event's id and message are unescaped into.
    spare: Vec<u8>,
}

impl Scanner {
    /// Drops what was read, doubles the window if what is left fills it, and inflates more.
    /// Never past what the cap still allows (and one byte, to see a stream go over it).
    fn refill(&mut self, source: &mut Inflate<'_>) -> Option<()> {
        self.buf.drain(..self.r);
        self.r = 0;
        let len = self.buf.len();
        if len == self.buf.capacity() {
            self.buf.reserve_exact(len.min(source.left.saturating_add(1)).max(1));
        }
        source.fill(&mut self.buf).ok()
    }

    fn step(&mut self, state: State, text: &mut Text) -> Option<Step> {
        const FIELDS: &[&[u8]] = &[b"messageType", b"logGroup", b"logStream", b"logEvents"];
        Some(match state {
            State::Open => {
                self.expect(b'{')?;
                Step::Next(if self.eat(b'}') { State::End } else { State::Member })
            }
            State::Member => match self.name_in(FIELDS)? {
                Some(3) => {
                    self.expect(b'[')?;
                    Step::Events(if self.eat(b']') { State::AfterMember } else { State::Event })
                }
                Some(i) => Step::Field(i, self.string()?),
                None => {
                    self.skip()?;
                    Step::Next(State::AfterMember)
                }
            },
            State::AfterMember => Step::Next(if self.eat(b',') {
                State::Member
            } else {
                self.expect(b'}')?;
                State::End
            }),
            State::Event => self.event(text)?,
            State::AfterEvent => Step::Next(if self.eat(b',') {
                State::Event
            } else {
                self.expect(b']')?;
                State::AfterMember
            }),
            State::End => {
                self.ws();
                (self.r == self.buf.len()).then_some(())?;
                Step::Done
            }
        })
    }

    /// An event object: its id, timestamp and message, each exactly once, in any order.
    fn event(&mut self, text: &mut Text) -> Option<Step> {
        const FIELDS: &[&[u8]] = &[b"id", b"timestamp", b"message"];
        let (mut id, mut timestamp, mut message) = (None, None, None);
        self.expect(b'{')?;
        if !self.eat(b'}') {
            loop {
                match self.name_in(FIELDS)? {
                    Some(0) => {
                        let len = self.unicode_string(&mut text.id)?;
                        set_once(&mut id, len)?;
                    }
                    Some(1) => set_once(&mut timestamp, self.integer()?)?,
                    Some(_) => {
                        let (len, whole) = self.unescape::<true>(&mut text.message, &mut text.marks)?;
                        set_once(&mut message, whole.then_some(len))?;
                    }
                    None => self.skip()?,
                }
                if !self.eat(b',') {
                    self.expect(b'}')?;
                    break;
                }
            }
        }
        Some(Step::Event { id: id?, timestamp: timestamp?, message: message? })
    }

    /// A member name (unescaped, as any string, into the spare buffer: it must be Unicode) and
    /// its colon: the name's index in `fields`.
    fn name_in(&mut self, fields: &[&[u8]]) -> Option<Option<usize>> {
        let len = self.spare_string()?;
        let field = fields.iter().position(|f| *f == &self.spare[..len]);
        self.expect(b':')?;
        Some(field)
    }

    /// A string that must be Unicode (the exact reader refuses one that is not), at the front
    /// of `dest`: its length.
    fn unicode_string(&mut self, dest: &mut Vec<u8>) -> Option<usize> {
        let (len, whole) = self.unescape::<false>(dest, &mut Marks::default())?;
        (whole && simdutf8::basic::from_utf8(&dest[..len]).is_ok()).then_some(len)
    }

    /// A string that must be Unicode, at the front of the spare buffer: its length.
    fn spare_string(&mut self) -> Option<usize> {
        let mut spare = std::mem::take(&mut self.spare);
        let len = self.unicode_string(&mut spare);
        self.spare = spare;
        len
    }

    /// A string field, which must be Unicode.
    fn string(&mut self) -> Option<String> {
        let len = self.spare_string()?;
        String::from_utf8(self.spare[..len].to_vec()).ok()
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

    /// Unescapes the string at `r` into the front of `dest`: its length, and whether it is
    /// whole (`false`: valid JSON, but a lone surrogate escape, left out). Raw bytes are copied
    /// as they are; the caller checks them as UTF-8. `MARK`: `marks` are cleared and then set
    /// for the unescaped text (raw bytes are never marked: a raw `"`, `\` or control character
    /// ends the string or refuses it).
    #[inline(never)]
    fn unescape<const MARK: bool>(&mut self, text: &mut Vec<u8>, marks: &mut Marks) -> Option<(usize, bool)> {
        self.expect(b'"')?;
        if MARK {
            let used = marks.used.div_ceil(64).min(marks.words.len());
            marks.words[..used].fill(0);
            marks.used = 0;
        }
        // The buffer grows as the string needs (doubling, then by a quarter past 1 MiB: it is
        // zeroed as it grows, so each byte of room is memory in use), never past what is left
        // of the window (unescaped text is no longer than its escapes) and a little slack for
        // the eight-byte stores: so it holds about the longest string it has been given.
        // (Measured: doubling made the buffer of a 26 MB message 32 MiB, the rest of the window.)
        let room = self.buf.len() - self.r + 16;
        // Locals, not fields: a store into `dest` cannot then force `r` and `w` back to memory.
        let (buf, mut dest, mut r, mut w) = (&self.buf[..], &mut text[..], self.r, 0);
        let mut whole = true;
        loop {
            // Eight bytes at a time up to the next quote, backslash or control character (or
            // the end of the buffer's room, which the byte path below makes). Bytes beyond
            // ASCII are copied like any other: the whole message is checked as UTF-8 once read.
            while let Some(chunk) = buf.get(r..).and_then(<[u8]>::first_chunk::<8>) {
                let Some(slot) = dest.get_mut(w..).and_then(<[u8]>::first_chunk_mut::<8>) else { break };
                let word = u64::from_le_bytes(*chunk);
                *slot = *chunk;
                let found = special(word);
                if found == 0 {
                    (r, w) = (r + 8, w + 8);
                    continue;
                }
                let run = found.trailing_zeros() as usize / 8;
                (r, w) = (r + run, w + run);
                // The commonest escape, `\"`, without leaving the loop when it is in this word.
                if run < 7 && word >> (run * 8) & 0xffff == u64::from(u16::from_le_bytes(*b"\\\"")) {
                    dest[w] = b'"';
                    if MARK {
                        marks.set(w);
                    }
                    (r, w) = (r + 2, w + 1);
                    continue;
                }
                break;
            }
            if dest.len() < w + 16 {
                let grow = if dest.len() < GROW_BY_QUARTERS { dest.len() } else { dest.len() / 4 };
                let len = (dest.len() + grow).clamp(w + 16, room.max(w + 16));
                text.resize(len, 0);
                dest = &mut text[..];
                if MARK {
                    marks.words.resize(len / 64 + 1, 0);
                }
            }
            let Some(&byte) = buf.get(r) else {
                self.starved = true;
                marks.used = w;
                return None;
            };
            r += 1;
            let out = match byte {
                b'"' => break,
                0..0x20 => return None,
                b'\\' => {
                    let Some(&escape) = buf.get(r) else {
                        self.starved = true;
                        marks.used = w;
                        return None;
                    };
                    r += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => escape,
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let at = w;
                            match unicode(buf, r, dest, w) {
                                Ok((read, written, unit)) => (r, w, whole) = (read, written, whole & unit),
                                Err(stop) => {
                                    self.starved |= stop == Stop::Starved;
                                    marks.used = w;
                                    return None;
                                }
                            }
                            if MARK && w == at + 1 && marked(dest[at]) {
                                marks.set(at);
                            }
                            continue;
                        }
                        _ => return None,
                    }
                }
                other => other,
            };
            dest[w] = out;
            if MARK && marked(out) {
                marks.set(w);
            }
            w += 1;
        }
        self.r = r;
        marks.used = w;
        Some((w, whole))
    }
}

impl Grammar for Scanner {
    /// The byte at `r`, if the window holds it.
    fn peek(&mut self) -> Option<u8> {
        let byte = self.buf.get(self.r).copied();
        self.starved |= byte.is_none();
        byte
    }

    fn ahead(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.buf.get(self.r..self.r + n);
        self.starved |= bytes.is_none();
        bytes
    }

    fn advance(&mut self, n: usize) {
        self.r += n;
    }

    /// A string in a value passed over, unescaped into the spare buffer: it must be Unicode.
    fn pass_string(&mut self) -> Option<()> {
        self.spare_string().map(drop)
    }
}

/// Why a `\u` escape could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// It runs past the window's end.
    Starved,
    /// It is not valid JSON.
    Invalid,
}

/// The rest of a `\u` escape at `r` (a surrogate pair takes two), written at `w`: where the
/// reading and the writing end, and `false` for a lone surrogate, written as nothing (what
/// follows it is read as usual). Positions go in and out by value, and it is not inlined, so
/// that the unescaping loop keeps its own in registers (measured: `docs/performance.md`).
#[inline(never)]
fn unicode(buf: &[u8], r: usize, dest: &mut [u8], w: usize) -> Result<(usize, usize, bool), Stop> {
    let (mut r, unit) = (r + 4, hex4(buf, r)?);
    let code = match unit {
        0xD800..=0xDBFF => {
            let Some(next) = buf.get(r..r + 2) else { return Err(Stop::Starved) };
            if next != b"\\u" {
                return Ok((r, w, false));
            }
            let low = hex4(buf, r + 2)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Ok((r, w, false)); // the second escape is read on its own
            }
            r += 6;
            0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
        }
        0xDC00..=0xDFFF => return Ok((r, w, false)),
        _ => u32::from(unit),
    };
    let mut utf8 = [0; 4];
    let encoded = char::from_u32(code).ok_or(Stop::Invalid)?.encode_utf8(&mut utf8).as_bytes();
    dest[w..w + encoded.len()].copy_from_slice(encoded);
    Ok((r, w + encoded.len(), true))
}

/// The four hex digits at `r`.
fn hex4(buf: &[u8], r: usize) -> Result<u16, Stop> {
    let digits = buf.get(r..r + 4).ok_or(Stop::Starved)?;
    let mut unit = 0u16;
    for &d in digits {
        let digit = char::from(d).to_digit(16).ok_or(Stop::Invalid)?;
        unit = unit << 4 | u16::try_from(digit).map_err(|_| Stop::Invalid)?;
    }
    Ok(unit)
}

/// The compressed input, a chunk of base64 at a time for an envelope's or a record's data.
enum Input<'a> {
    Gzip(&'a [u8]),
    Base64 { text: &'a [u8], chunk: usize, decoded: Vec<u8>, at: usize },
    Envelope(Envelope<'a>),
}

/// An envelope's base64 text as it is read, a chunk at a time (see [`read_envelope`]).
struct Envelope<'a> {
    reader: &'a mut dyn std::io::Read,
    /// Read into at `end`; `text[start..end]` is read and not yet decoded: the data string's,
    /// up to its closing quote once `closed`. Zeroed once and reused: no clearing per read.
    text: Vec<u8>,
    start: usize,
    end: usize,
    /// `text[start..searched]` holds no `"` or `\\` (it is searched once).
    searched: usize,
    closed: bool,
    chunk: usize,
    decoded: Vec<u8>,
    at: usize,
}

impl<'a> Envelope<'a> {
    /// Most text looked at for the envelope's opening, and after its data string.
    const EDGE: usize = 4 << 10;

    /// Reads the opening up to the data string's quote.
    fn open(reader: &'a mut dyn std::io::Read, chunk: usize) -> Option<Self> {
        let chunk = (chunk / 4).max(1) * 4;
        let text = vec![0; 2 * chunk + 2 * Self::EDGE];
        let mut envelope =
            Envelope { reader, text, start: 0, end: 0, searched: 0, closed: false, chunk, decoded: Vec::new(), at: 0 };
        while envelope.end < Self::EDGE && envelope.more()? {}
        let rest = super::opening(&envelope.text[..envelope.end], super::DATA_STRING)?;
        envelope.start = envelope.end - rest.len();
        envelope.searched = envelope.start;
        Some(envelope)
    }

    /// Reads more text after `end`, moving what is unread to the front first when the buffer
    /// is full, and doubling it when that is not enough. `false`: the input has ended.
    fn more(&mut self) -> Option<bool> {
        if self.end == self.text.len() {
            self.text.copy_within(self.start..self.end, 0);
            (self.end, self.searched) = (self.end - self.start, self.searched - self.start);
            self.start = 0;
            if self.end == self.text.len() {
                self.text.resize(2 * self.text.len(), 0);
            }
        }
        let read = loop {
            match self.reader.read(&mut self.text[self.end..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                result => break result.ok()?,
            }
        };
        self.end += read;
        Some(read > 0)
    }

    /// Reads until more than a group of four is unread, or the data string has closed: then
    /// checks that only the envelope's closing follows. `None`: an escape in the data, or
    /// anything else.
    fn fill(&mut self) -> Option<()> {
        while !self.closed {
            match memchr::memchr2(b'"', b'\\', &self.text[self.searched..self.end]) {
                Some(at) => {
                    (self.text[self.searched + at] == b'"').then_some(())?;
                    let data = self.searched + at - self.start;
                    // The rest of the input, to its end: the envelope's closing, and nothing else.
                    while self.more()? {
                        (self.end - self.start - data <= Self::EDGE).then_some(())?;
                    }
                    super::is_closing(&self.text[self.start + data + 1..self.end]).then_some(())?;
                    self.end = self.start + data;
                    self.closed = true;
                }
                None => {
                    self.searched = self.end;
                    // A whole group and a byte after it: a piece that is not the last.
                    if self.end - self.start > 4 {
                        return Some(());
                    }
                    self.more()?.then_some(())?;
                }
            }
        }
        Some(())
    }

    /// The next piece of text, decoded: the whole groups of four read (up to a chunk), but one
    /// byte at least left unread until the string has closed, so that only the last piece may
    /// hold padding, as in one string. What is left of a group is all the buffer ever moves.
    fn pending(&mut self) -> Option<&[u8]> {
        if self.at == self.decoded.len() {
            self.fill()?;
            let unread = self.end - self.start;
            let groups = if self.closed { unread } else { (unread - 1) / 4 * 4 };
            let last = self.closed && groups <= self.chunk;
            let piece = &self.text[self.start..self.start + self.chunk.min(groups)];
            (last || memchr::memchr(b'=', piece).is_none()).then_some(())?;
            self.decoded.resize(base64_simd::STANDARD.decoded_length(piece).ok()?, 0);
            base64_simd::STANDARD.decode(piece, self.decoded.as_mut_slice().as_out()).ok()?;
            self.start += piece.len();
            self.searched = self.searched.max(self.start);
            self.at = 0;
        }
        Some(&self.decoded[self.at..])
    }
}

impl Input<'_> {
    /// The compressed bytes not yet inflated (empty at the end), decoding the next chunk of
    /// base64 once the last is used up. `None`: a chunk is not valid base64.
    fn pending(&mut self) -> Option<&[u8]> {
        match self {
            Input::Gzip(bytes) => Some(*bytes),
            Input::Base64 { text, chunk, decoded, at } => {
                if *at == decoded.len() && !text.is_empty() {
                    // The whole text was checked first, so only its last chunk holds padding.
                    let (piece, rest) = text.split_at((*chunk).min(text.len()));
                    *text = rest;
                    decoded.resize(base64_simd::STANDARD.decoded_length(piece).ok()?, 0);
                    base64_simd::STANDARD.decode(piece, decoded.as_mut_slice().as_out()).ok()?;
                    *at = 0;
                }
                Some(&decoded[*at..])
            }
            Input::Envelope(envelope) => envelope.pending(),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Input::Gzip(bytes) => *bytes = &bytes[n..],
            Input::Base64 { at, .. } => *at += n,
            Input::Envelope(envelope) => envelope.at += n,
        }
    }
}

/// The gzip stream (one member or several, concatenated), inflated on demand, never past the cap:
/// the crate's one capped inflater (the fast reader's window, and the exact reader's whole
/// payload through [`inflate`]). It refuses (never truncates) output past `cap` bytes; its
/// caller never gives it room for more than one byte past what the cap still allows.
/// `clippy.toml` bans flate2's decoders everywhere else.
#[allow(clippy::disallowed_types, reason = "the crate's one capped inflater")]
pub(super) struct Inflate<'a> {
    input: Input<'a>,
    member: Option<Decompress>,
    /// A member has started (an input with none is not a gzip stream).
    started: bool,
    cap: usize,
    /// Bytes still allowed under the cap.
    pub(super) left: usize,
    /// The last member has ended and no input follows.
    pub(super) done: bool,
}

#[allow(clippy::disallowed_types, reason = "the crate's one capped inflater")]
impl<'a> Inflate<'a> {
    /// `Base64` text is checked whole first (so that only its last chunk may hold padding).
    pub(super) fn new(input: Compressed<'a>, cap: usize, chunk: usize) -> Result<Self, DecodeError> {
        let input = match input {
            Compressed::Gzip(bytes) => Input::Gzip(bytes),
            Compressed::Base64(text) => {
                base64_simd::STANDARD.check(text).map_err(|_| super::base64_error(text))?;
                let chunk = (chunk / 4).max(1) * 4;
                Input::Base64 { text, chunk, decoded: Vec::new(), at: 0 }
            }
        };
        Ok(Inflate { input, ..Inflate::empty(cap) })
    }

    /// No input yet, and `cap` bytes allowed.
    fn empty(cap: usize) -> Self {
        Inflate { input: Input::Gzip(&[]), member: None, started: false, cap, left: cap, done: false }
    }

    /// Inflates into `out` until it is full or the stream has ended. An error: the stream is
    /// not one that decompresses in full under the cap.
    pub(super) fn fill(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        const CORRUPT: DecodeError = DecodeError::Gzip { kind: "corrupt data" };
        // Only a whole gzip stream is known to end where its input ends.
        let whole = matches!(self.input, Input::Gzip(_));
        while !self.done && out.len() < out.capacity() {
            // A chunk of an envelope's text that cannot be decoded (only the streamed envelope
            // decodes unchecked text, and it reads the input again whole on any error).
            let input = self.input.pending().ok_or(DecodeError::Base64 { offset: 0 })?;
            if input.is_empty() {
                // The input ends: the stream too, if a member was read and none is open.
                if !self.started {
                    return Err(DecodeError::Gzip { kind: "invalid header" });
                }
                if self.member.is_some() {
                    return Err(DecodeError::Gzip { kind: "truncated" });
                }
                self.done = true;
                break;
            }
            if self.member.is_none() {
                // Each member opens with the gzip magic (a chunk may end after its first byte).
                if input[0] != 0x1f || input.get(1).map_or(whole, |&b| b != 0x8b) {
                    return Err(DecodeError::Gzip { kind: "invalid header" });
                }
                self.started = true;
            }
            let member = self.member.get_or_insert_with(|| Decompress::new_gzip(15));
            let (read_before, written_before) = (member.total_in(), out.len());
            let status = member.decompress_vec(input, out, FlushDecompress::None).map_err(|_| CORRUPT)?;
            let read = usize::try_from(member.total_in() - read_before).map_err(|_| CORRUPT)?;
            let written = out.len() - written_before;
            self.left = self.left.checked_sub(written).ok_or(DecodeError::TooLarge { limit: self.cap })?;
            match status {
                Status::StreamEnd => self.member = None,
                // Input and room both left, and no progress: never loop on it.
                _ if read == 0 && written == 0 => return Err(CORRUPT),
                _ => {}
            }
            self.input.consume(read);
        }
        Ok(())
    }
}

/// The whole of a gzip stream (one member or several), refusing (not truncating) output past
/// `cap` bytes: the exact reader's input. Sized from the gzip trailer's length when that is
/// within the cap (a hint only: the inflater checks it), so a payload is one allocation.
pub(super) fn inflate(compressed: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let limit = cap.saturating_add(1);
    let trailer =
        compressed.last_chunk().map(|isize| usize::try_from(u32::from_le_bytes(*isize)).unwrap_or(usize::MAX));
    let hint = trailer.filter(|&n| n < limit).map_or(compressed.len().saturating_mul(4), |n| n + 1);
    let mut out = Vec::with_capacity(hint.min(limit));
    let mut inflate = Inflate::new(Compressed::Gzip(compressed), cap, 0)?;
    loop {
        inflate.fill(&mut out)?;
        if inflate.done {
            return Ok(out);
        }
        // Never room for more than one byte past the cap (to see a stream go over it).
        out.reserve_exact(out.capacity().max(1 << 16).min(inflate.left.saturating_add(1)));
    }
}
