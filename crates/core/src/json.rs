//! The JSON grammar the two fast readers share: the payload reader (`decode::scan`, over a window
//! of the decompressed payload) and the marked message reader (`parse::marked`, over one
//! message). Each supplies how it looks at its bytes and how it passes over a string; this
//! module has whitespace, literals, numbers and values passed over whole.
//!
//! Trusts nothing, and decides nothing alone: `None` means "not read here", and both readers
//! then leave the input to serde_json, which gives the result or the error. Bounded: no
//! recursion (nesting is a counter and a 64-bit stack, at most [`MAX_DEPTH`]).

/// Nesting followed inside values; deeper is refused (serde_json's own limit, 128, is larger, and
/// values it passes over have none, so refusing never disagrees with it).
pub(crate) const MAX_DEPTH: u32 = 60;

/// Fills a field that may be given once: `None` (refused) when it was given already.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

/// A position in some bytes, read forward.
pub(crate) trait Grammar {
    /// The next byte, if the bytes hold it (a reader may note that it ran out).
    fn peek(&mut self) -> Option<u8>;

    /// The next `n` bytes, if the bytes hold them (a reader may note that it ran out).
    fn ahead(&mut self, n: usize) -> Option<&[u8]>;

    /// Moves past `n` bytes already looked at.
    fn advance(&mut self, n: usize);

    /// The string that starts here (at its quote), checked and passed over.
    fn pass_string(&mut self) -> Option<()>;

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.advance(1);
        }
    }

    /// Skips whitespace and consumes `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.ws();
        let next = self.peek() == Some(byte);
        self.advance(usize::from(next));
        next
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.ahead(word.len())? == word).then_some(())?;
        self.advance(word.len());
        Some(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let mut any = false;
        while let Some(b'0'..=b'9') = self.peek() {
            self.advance(1);
            any = true;
        }
        any.then_some(())
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.advance(1);
        }
        match self.peek()? {
            b'0' => self.advance(1),
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.advance(1);
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.advance(1);
            if let Some(b'+' | b'-') = self.peek() {
                self.advance(1);
            }
            self.digits()?;
        }
        Some(())
    }

    /// A member name (any string) and its colon.
    fn member_name(&mut self) -> Option<()> {
        self.ws();
        (self.peek()? == b'"').then_some(())?;
        self.pass_string()?;
        self.expect(b':')
    }

    /// Any JSON value, checked and passed over, without recursion: `objects` has bit `i` set
    /// when level `i` is an object.
    fn skip(&mut self) -> Option<()> {
        let (mut depth, mut objects) = (0u32, 0u64);
        loop {
            self.ws();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.advance(1);
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
                            self.member_name()?;
                        }
                        continue;
                    }
                }
                b'"' => self.pass_string()?,
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
                        self.member_name()?;
                    }
                    break;
                }
                self.expect(if object { b'}' } else { b']' })?;
                depth -= 1;
            }
        }
    }
}
