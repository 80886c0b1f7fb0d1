//! A cursor over JSON text for the one-pass readers ([`super::fast`]).
//!
//! Objects and arrays are walked here; the values the monitor does not read are handed to
//! serde_json, which validates them while skipping; `data` arrays of numbers are scanned and
//! validated here, in the same pass that parses the recorded elements, so no byte of `data` is
//! read twice (serde_json skipping a raw `data` value cost as much as the scan after it).
//!
//! Anything these readers do not expect gives `None`: the caller then goes through the codec,
//! which reads every valid body and names the problem of an invalid one. So the cursor may
//! refuse valid JSON (a key with an escape), but never takes invalid JSON: numbers follow the
//! JSON grammar exactly, and so do commas, brackets and whitespace. One exception: numbers a
//! reader says it does not need (the columns of a wide row past what the monitor records) are
//! counted with their alphabet checked, not their grammar ([`Cursor::numbers_skipping`]); the
//! upstream's 2xx answer already vouched for the body. That took the MLP's 784-number requests
//! from ~21 to ~15 µs of worker time each (`examples/worker_cost.rs`).

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The deepest array nesting the codec accepts in `data`.
const MAX_DEPTH: usize = 32;

/// A position in a JSON text.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

/// One number of a `data` array, as written.
#[derive(Clone, Copy, Debug)]
pub(super) struct Number<'a> {
    pub(super) text: &'a str,
    /// Bytes before the fraction or exponent, sign included.
    pub(super) integer_len: usize,
    /// Whether it has neither a fraction nor an exponent.
    pub(super) integral: bool,
    pub(super) exponent: bool,
}

/// A JSON string, checked and dropped (no allocation, escapes or not).
pub(super) struct AnyString;

// === impl Cursor ===

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while matches!(
            self.bytes().get(self.pos),
            Some(b' ' | b'\n' | b'\r' | b'\t')
        ) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Only whitespace left.
    pub(super) fn end(mut self) -> Option<()> {
        self.skip_whitespace();
        (self.pos == self.text.len()).then_some(())
    }

    /// A string without escapes (keys, names, datatypes); `None` for one with escapes.
    pub(super) fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let len = self.bytes()[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes()[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// Walks an object, calling `member` with each key, the cursor at its value (which `member`
    /// must consume).
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.items(b'{', b'}', |c| {
            let key = c.plain_string()?;
            c.eat(b':')?;
            member(c, key)
        })
    }

    /// Walks an array, calling `item` at each element (which it must consume).
    pub(super) fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b'[', b']', item)
    }

    /// `open`, items separated by commas, `close`.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b if b == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One value, read (and validated) by serde_json.
    pub(super) fn value<T: Deserialize<'a>>(&mut self) -> Option<T> {
        self.skip_whitespace();
        let mut values =
            serde_json::Deserializer::from_str(&self.text[self.pos..]).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }

    /// An integer written as one (no fraction, no exponent), as serde_json reads an `i64`.
    pub(super) fn integer(&mut self) -> Option<i64> {
        self.skip_whitespace();
        let number = number_at(self.text, self.pos)?;
        self.pos += number.text.len();
        number.integral.then(|| number.text.parse().ok()).flatten()
    }

    /// Skips one value, validated.
    pub(super) fn skip(&mut self) -> Option<()> {
        self.value::<IgnoredAny>().map(drop)
    }

    /// Scans an array of numbers, nested to any depth up to the codec's, calling `element` with
    /// each number in order; returns how many. `None` for anything else in it (strings,
    /// literals, objects), for invalid JSON, or when `element` says so.
    pub(super) fn numbers(
        &mut self,
        mut element: impl FnMut(Number<'a>) -> Option<()>,
    ) -> Option<usize> {
        self.numbers_skipping(|number, _| element(number).map(|()| 0))
    }

    /// [`Self::numbers`], where `element` (given each number read and its index) also says how
    /// many of the numbers right after it it does not need: those are counted but only checked
    /// loosely (see [`skip_run`]); `element` is not called for them, and the indices it is given
    /// stay those of the whole array.
    pub(super) fn numbers_skipping(
        &mut self,
        mut element: impl FnMut(Number<'a>, usize) -> Option<usize>,
    ) -> Option<usize> {
        self.eat(b'[')?;
        let bytes = self.bytes();
        let mut pos = self.pos;
        let mut depth = 1usize;
        let mut count = 0usize;
        // After `[`: a value or `]`; after `,`: a value; after a value: `,` or `]`.
        let mut after_value = false;
        let mut after_comma = false;
        loop {
            while matches!(bytes.get(pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                pos += 1;
            }
            let byte = *bytes.get(pos)?;
            if after_value {
                match byte {
                    b',' => (after_value, after_comma) = (false, true),
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            self.pos = pos + 1;
                            return Some(count);
                        }
                    }
                    _ => return None,
                }
                pos += 1;
                continue;
            }
            match byte {
                b'[' => {
                    if depth >= MAX_DEPTH {
                        return None;
                    }
                    depth += 1;
                    after_comma = false;
                    pos += 1;
                }
                b']' if !after_comma => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = pos + 1;
                        return Some(count);
                    }
                    after_value = true;
                    pos += 1;
                }
                _ => {
                    let number = match plain_number(self.text, pos) {
                        Some(number) => number,
                        None => number_at(self.text, pos)?,
                    };
                    pos += number.text.len();
                    let unneeded = element(number, count)?;
                    count += 1;
                    after_value = true;
                    if unneeded > 0 {
                        let (end, skipped) = skip_run(bytes, pos, unneeded);
                        if skipped > 0 {
                            (pos, count) = (end, count + skipped);
                            (after_value, after_comma) = (false, true);
                        }
                    }
                }
            }
        }
    }
}

/// Skips numbers of a flat run (no bracket) from `pos`, just after a number: at most `max`, 64
/// bytes at a time (plain loops the compiler turns into vector compares). Returns the position
/// just after the last comma taken (where the slow path expects a number) and how many numbers
/// that passed (one between every two commas taken); `(pos, 0)` when none.
///
/// Only the alphabet is checked here (what numbers, commas and whitespace are made of), not the
/// number grammar, the range, nor the comma between every two numbers: the monitor reads the
/// request of an exchange the upstream answered with a 2xx, so it took the body, and the numbers
/// skipped are ones the monitor does not record (past [`crate::config::MAX_SERIES`] in a row).
/// The slow path, with the exact grammar, takes the block holding a byte outside that alphabet
/// (a bracket, a quote, a letter) and the last few numbers of the run.
fn skip_run(bytes: &[u8], pos: usize, max: usize) -> (usize, usize) {
    const BLOCK: usize = 64;
    let (mut taken, mut commas_taken) = (pos, 0usize);
    let mut at = pos;
    while let Some(block) = bytes.get(at..at + BLOCK) {
        let in_alphabet = block.iter().fold(true, |all, &b| all & in_number_run(b));
        let commas = block.iter().filter(|&&b| b == b',').count();
        // The first comma ends the number before `pos`, which is not one of the skipped.
        if !in_alphabet || commas_taken + commas > max.saturating_add(1) {
            break;
        }
        if let Some(last) = block.iter().rposition(|&b| b == b',') {
            commas_taken += commas;
            taken = at + last + 1;
        }
        at += BLOCK;
    }
    (taken, commas_taken.saturating_sub(1))
}

/// Whether `b` may appear in a run of JSON numbers: digits, `.`, `-`, `+`, `e`, `E`, `,` and
/// whitespace. Written as comparisons, not a table, so that it vectorizes.
#[inline(always)]
fn in_number_run(b: u8) -> bool {
    b.is_ascii_digit()
        | (b == b'.')
        | (b == b'-')
        | (b == b'+')
        | (b | 0x20 == b'e')
        | (b == b',')
        | (b == b' ')
        | (b == b'\n')
        | (b == b'\r')
        | (b == b'\t')
}

/// The JSON number at `start`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[inline(always)]
fn number_at(text: &str, start: usize) -> Option<Number<'_>> {
    let bytes = text.as_bytes();
    let mut pos = start + usize::from(*bytes.get(start)? == b'-');
    pos = match bytes.get(pos)? {
        b'0' => pos + 1,
        b'1'..=b'9' => digits(bytes, pos + 1),
        _ => return None,
    };
    let integer_len = pos - start;
    let mut integral = true;
    if bytes.get(pos) == Some(&b'.') {
        let end = digits(bytes, pos + 1);
        if end == pos + 1 {
            return None;
        }
        (pos, integral) = (end, false);
    }
    let mut exponent = false;
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(bytes.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let end = digits(bytes, pos);
        if end == pos {
            return None;
        }
        (pos, integral, exponent) = (end, false, true);
    }
    Some(Number {
        text: &text[start..pos],
        integer_len,
        integral,
        exponent,
    })
}

/// The number at `start` when it is a plain decimal (`-?[0-9]+(\.[0-9]+)?`, no leading zero)
/// shorter than 16 bytes, the common case, read from its 16 bytes with a few word operations
/// and no branch per byte; `None` to leave it to [`number_at`], which reads every number.
#[inline(always)]
fn plain_number(text: &str, start: usize) -> Option<Number<'_>> {
    let chunk: &[u8; 16] = text.as_bytes().get(start..start + 16)?.try_into().ok()?;
    let words = chunk.as_chunks::<8>().0;
    let (low, high) = (u64::from_le_bytes(words[0]), u64::from_le_bytes(words[1]));
    let digits = u16::from(digit_bits(low)) | u16::from(digit_bits(high)) << 8;
    let points = u16::from(byte_bits(low, b'.')) | u16::from(byte_bits(high, b'.')) << 8;
    let sign = usize::from(chunk[0] == b'-');
    let len = (!(digits | points | sign as u16)).trailing_zeros() as usize;
    // A number going on (`e`, `+`, `-`) or 16 bytes long: the general path.
    if len == 16 || matches!(chunk[len], b'e' | b'E' | b'+' | b'-') || len == sign {
        return None;
    }
    // Bits sign..len: digits but for at most one point, neither first nor last.
    let body = ((1u32 << len) - (1u32 << sign)) as u16;
    let point = body & !digits;
    // (No `count_ones`: without POPCNT in the baseline x86-64 target it is a dozen operations.)
    let integer_len = match point {
        0 => len,
        _ if point & (point - 1) == 0 => point.trailing_zeros() as usize,
        _ => return None,
    };
    let leading_zero = chunk[sign] == b'0' && integer_len > sign + 1;
    if integer_len == sign || integer_len == len - 1 || leading_zero {
        return None;
    }
    Some(Number {
        text: &text[start..start + len],
        integer_len,
        integral: integer_len == len,
        exponent: false,
    })
}

/// Bit `i` set where byte `i` of `word` (first byte lowest) is an ASCII digit.
fn digit_bits(word: u64) -> u8 {
    !byte_mask(not_digit_bytes(word))
}

/// Bit `i` set where byte `i` of `word` is `byte`.
fn byte_bits(word: u64, byte: u8) -> u8 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    // Bit 7 of each byte set where that byte of `x` is zero (no carry crosses bytes).
    let zero = !(((x & LOW7) + LOW7) | x | LOW7);
    byte_mask(zero)
}

/// Bit 7 of each byte of `word` (the others clear) gathered into one byte, first byte lowest.
fn byte_mask(word: u64) -> u8 {
    ((((word >> 7) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080)) >> 56) as u8
}

/// Where the run of ASCII digits at `pos` ends. Eight bytes at a time: a branch per byte
/// mispredicts at the end of every number, which cost more than the rest of the scan.
#[inline(always)]
fn digits(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(chunk) = bytes.get(pos..pos + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("a slice of 8 bytes"));
        let n = leading_digits(word);
        pos += n;
        if n < 8 {
            return pos;
        }
    }
    while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    pos
}

/// How many of the 8 bytes of `word` (first byte lowest) are ASCII digits before the first
/// that is not. A byte `b` is a digit when its high nibble is 3 and so is that of `b + 6`
/// (`0x3A..=0x3F` carry into 4). No byte of UTF-8 text is above `0xF4`, so `+ 6` never carries
/// into the next byte.
fn leading_digits(word: u64) -> usize {
    (not_digit_bytes(word).trailing_zeros() / 8) as usize
}

/// Bit 7 of each byte of `word` set where that byte is not an ASCII digit, the others clear.
fn not_digit_bytes(word: u64) -> u64 {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    // Zero bytes where `word` has digits.
    let off = ((word & HIGH) ^ THREES) | ((word.wrapping_add(SIXES) & HIGH) ^ THREES);
    // Only bits 4..=7 of a byte can be set: fold them into bit 7.
    (off | (off << 1) | (off << 2) | (off << 3)) & 0x8080_8080_8080_8080
}

// === impl AnyString ===

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AnyString;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AnyString, E> {
                Ok(AnyString)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The number grammar is serde_json's: a text is one whole number here exactly when
        /// serde_json reads it as a number.
        #[test]
        fn numbers_are_what_serde_json_reads(text in "[-+.eE0-9]{1,12}") {
            let whole = number_at(&text, 0).is_some_and(|n| n.text.len() == text.len());
            let serde = serde_json::from_str::<IgnoredAny>(&text).is_ok();
            prop_assert_eq!(whole, serde, "{}", text);
        }

        /// The plain-decimal path reads what the general path reads, or leaves the number to it.
        #[test]
        fn plain_numbers_read_as_any_number(text in "[-0-9.]{0,18}[-+.eE0-9, \\]]{0,18}", start in 0usize..3) {
            let start = start.min(text.len());
            if let Some(plain) = plain_number(&text, start) {
                let general = number_at(&text, start).expect("a number");
                prop_assert_eq!(
                    (plain.text, plain.integer_len, plain.integral, plain.exponent),
                    (general.text, general.integer_len, general.integral, general.exponent),
                    "{}", text
                );
            }
        }

        /// Eight bytes at a time, digits are counted as one byte at a time would.
        #[test]
        fn digit_runs_end_where_they_end(text in "[0-9]{0,20}[ -~]{0,12}", from in 0usize..4) {
            let bytes = text.as_bytes();
            let from = from.min(bytes.len());
            let scalar = from + bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
            prop_assert_eq!(digits(bytes, from), scalar);
        }
    }

    #[test]
    fn plain_decimals_take_the_short_path() {
        let padded = |t: &str| format!("{t:<16}");
        for (text, len) in [("0.94140625,0.5", 10), ("-12.5]", 5), ("7,", 1), ("0]", 1)] {
            let number = plain_number(&padded(text), 0).map(|n| n.text.len());
            assert_eq!(number, Some(len), "{text}");
        }
        for text in [
            "01,",
            "1.,",
            ".5,",
            "1e5,",
            "1.5e",
            "-,",
            "1.2.3",
            "123456789012345678",
        ] {
            assert!(plain_number(&padded(text), 0).is_none(), "{text}");
        }
    }

    #[test]
    fn arrays_of_numbers_are_checked_as_json() {
        let count = |text: &str| Cursor::new(text).numbers(|_| Some(()));
        assert_eq!(count("[1, 2.5,\n[-3e2, 0]]"), Some(4));
        assert_eq!(count("[[], []]"), Some(0));
        for invalid in [
            "[1,]", "[,1]", "[1 2]", "[1,,2]", "[[1]2]", "[1", "[01]", "[1.]", "[true]", "[\"1\"]",
            "[{}]",
        ] {
            assert_eq!(count(invalid), None, "{invalid}");
        }
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(count(&deep), Some(1));
        let deeper = format!("[{deep}]");
        assert_eq!(count(&deeper), None);
    }
}
