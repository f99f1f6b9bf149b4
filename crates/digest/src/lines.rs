//! Sanitized lines from a byte stream (a file, stdin, a lake object) into a [`Digest`].
//!
//! Trusts nothing in the stream. Guarantees: memory is one line of at most [`MAX_LINE_BYTES`]
//! whatever the input's shape (a longer line is skipped as it streams by, never buffered, and
//! counted `too_long`); blank lines are not messages and are not counted; `\r\n` ends a line as
//! `\n` does. Only an I/O error ends the input early, and it is the caller's to report.

use super::tally::{Digest, MAX_LINE_BYTES};
use std::io::{self, BufRead};

/// Feeds every line of `reader` to `digest`.
pub fn feed(mut reader: impl BufRead, digest: &mut Digest) -> io::Result<()> {
    let mut line = Vec::new();
    let mut too_long = false;
    let finish = |line: &mut Vec<u8>, too_long: &mut bool, digest: &mut Digest| {
        if *too_long {
            digest.refuse_too_long();
        } else {
            let text = line.strip_suffix(b"\r").unwrap_or(line);
            if !text.iter().all(u8::is_ascii_whitespace) {
                digest.add_line(text, None);
            }
        }
        line.clear();
        *too_long = false;
    };
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            if !line.is_empty() || too_long {
                finish(&mut line, &mut too_long, digest);
            }
            return Ok(());
        }
        let (used, complete) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, Some(i)),
            None => (buf.len(), None),
        };
        if !too_long {
            line.extend_from_slice(&buf[..complete.unwrap_or(used)]);
            if line.len() > MAX_LINE_BYTES {
                too_long = true;
                line = Vec::new();
            }
        }
        reader.consume(used);
        if complete.is_some() {
            finish(&mut line, &mut too_long, digest);
        }
    }
}
