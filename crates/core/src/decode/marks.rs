//! The marks of a message: bit `i % 64` of word `i / 64` is set when byte `i` of the message is
//! `"`, `\` or a control character. The payload reader ([`super::scan`]) sets them while it
//! unescapes each message (every such byte comes from an escape, which it handles anyway);
//! `parse`'s marked reader jumps from mark to mark instead of scanning the message's strings
//! again (measured: `docs/performance.md`). This module is the one place that layout is written.

/// Whether a byte is marked: `"`, `\` or a control character.
pub(crate) fn is_marked(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// Marks byte `at` (its word must exist).
pub(crate) fn set(words: &mut [u64], at: usize) {
    words[at / 64] |= 1 << (at % 64);
}

/// How many words mark a message of `len` bytes.
pub(crate) fn words_for(len: usize) -> usize {
    len.div_ceil(64)
}

/// The first marked position at or after `from`, if it is before `len`.
pub(crate) fn next(words: &[u64], from: usize, len: usize) -> Option<usize> {
    let mut i = from / 64;
    let mut word = words.get(i)? & (!0 << (from % 64));
    while word == 0 {
        i += 1;
        word = *words.get(i)?;
    }
    let at = i * 64 + word.trailing_zeros() as usize;
    (at < len).then_some(at)
}

/// The marks of `text` computed from scratch, as the payload reader computes them while it
/// unescapes (tested against each other in `decode.rs`).
#[cfg(test)]
pub(crate) fn of(text: &str) -> Vec<u64> {
    let mut words = vec![0; words_for(text.len())];
    for (i, _) in text.bytes().enumerate().filter(|&(_, b)| is_marked(b)) {
        set(&mut words, i);
    }
    words
}
