//! A single-pass, non-recursive reader for a tensor's JSON `data`.
//!
//! `data` arrives as a `&RawValue` that serde_json has already checked to be valid JSON (without
//! recursing: serde_json skips raw values iteratively). This scanner then walks its tokens and
//! appends each scalar, parsed straight into the element type, to a `Vec<T>`. Nested arrays are
//! flattened in row-major order; their nesting depth is bounded by [`MAX_DEPTH`] with a loop and
//! an explicit stack, so no input can overflow the call stack.
//!
//! Numbers are parsed by core's `str::parse`, which rounds correctly straight to `f32`/`f64`;
//! serde_json's default float parser is only "best effort": it misreads about 30% of the shortest
//! texts of random f64 values (`float_roundtrip` fixes that at a cost to every float it parses).

use super::element::Element;
use super::error::ValueProblem;

/// The deepest array nesting accepted in `data`; far above any real tensor rank.
pub(crate) const MAX_DEPTH: usize = 32;

/// Where scanned elements go.
pub(crate) struct Sink<T> {
    pub(crate) values: Vec<T>,
    /// Elements past this many are counted but neither parsed nor stored.
    cap: usize,
    /// Element count past which scanning stops with [`ScanError::TooMany`].
    max: usize,
    /// Every element seen, stored or not.
    pub(crate) count: usize,
}

/// Why `data` could not be scanned; the caller adds the tensor's name.
#[derive(Debug)]
pub(crate) enum ScanError {
    Value { index: usize, problem: ValueProblem },
    TooDeep { depth: usize },
    Malformed { offset: usize },
    TooMany { max: usize },
    Ragged(String),
}

/// Infers a tensor's shape from the nesting of its `data` and rejects ragged nesting (V1).
#[derive(Debug, Default)]
pub(crate) struct ShapeTracker {
    /// The length of every array seen at each depth (all must agree).
    dims: Vec<Option<usize>>,
    /// The depth at which scalars sit (all must agree).
    leaf: Option<usize>,
}

// === impl Sink ===

impl<T> Sink<T> {
    /// Stores up to `expected` elements and counts any more (V2: the shape is known).
    pub(crate) fn expecting(expected: usize) -> Self {
        Sink {
            values: Vec::with_capacity(expected),
            cap: expected,
            max: usize::MAX,
            count: 0,
        }
    }

    /// Stores everything, failing past `max` elements (V1: the shape comes from the data).
    pub(crate) fn bounded(max: usize) -> Self {
        Sink {
            values: Vec::new(),
            cap: usize::MAX,
            max,
            count: 0,
        }
    }

    fn push(&mut self, parse: impl FnOnce() -> Result<T, ValueProblem>) -> Result<(), ScanError> {
        let index = self.count;
        self.count += 1;
        if self.count > self.max {
            return Err(ScanError::TooMany { max: self.max });
        }
        if self.values.len() < self.cap {
            let value = parse().map_err(|problem| ScanError::Value { index, problem })?;
            self.values.push(value);
        }
        Ok(())
    }
}

// === impl ShapeTracker ===

impl ShapeTracker {
    fn open(&mut self, depth: usize) -> Result<(), ScanError> {
        match self.leaf {
            Some(leaf) if depth >= leaf => Err(ScanError::Ragged(format!(
                "an array at depth {depth} where values sit at depth {leaf}"
            ))),
            _ => Ok(()),
        }
    }

    fn close(&mut self, depth: usize, len: usize) -> Result<(), ScanError> {
        if self.dims.len() <= depth {
            self.dims.resize(depth + 1, None);
        }
        match self.dims[depth] {
            None => {
                self.dims[depth] = Some(len);
                Ok(())
            }
            Some(seen) if seen == len => Ok(()),
            Some(seen) => Err(ScanError::Ragged(format!(
                "arrays at depth {depth} have lengths {seen} and {len}"
            ))),
        }
    }

    fn scalar(&mut self, depth: usize) -> Result<(), ScanError> {
        if matches!(self.dims.get(depth), Some(Some(_))) {
            return Err(ScanError::Ragged(format!(
                "a value at depth {depth} where arrays sit"
            )));
        }
        match self.leaf {
            None => {
                self.leaf = Some(depth);
                Ok(())
            }
            Some(leaf) if leaf == depth => Ok(()),
            Some(leaf) => Err(ScanError::Ragged(format!(
                "values at depths {leaf} and {depth}"
            ))),
        }
    }

    /// Records the length of the outermost dimension when the caller walks it itself (V1
    /// `instances` of a multi-input model: one scan per instance, at depth 1).
    pub(crate) fn set_outer(&mut self, len: usize) {
        if self.dims.is_empty() {
            self.dims.push(None);
        }
        self.dims[0] = Some(len);
    }

    /// The inferred shape. Unset dimensions cannot occur after a successful scan; they read 0.
    pub(crate) fn into_shape(self) -> Vec<usize> {
        let rank = self.leaf.unwrap_or(self.dims.len());
        (0..rank)
            .map(|d| self.dims.get(d).copied().flatten().unwrap_or(0))
            .collect()
    }
}

/// Scans `raw` (one JSON value) into `sink`. `base_depth` is the depth `raw` sits at for `shape`.
pub(crate) fn scan<T: Element>(
    raw: &str,
    sink: &mut Sink<T>,
    mut shape: Option<&mut ShapeTracker>,
    base_depth: usize,
) -> Result<(), ScanError> {
    let bytes = raw.as_bytes();
    let mut pos = 0;
    // Elements seen so far in each open array.
    let mut open: Vec<usize> = Vec::new();
    loop {
        pos = skip_whitespace(bytes, pos);
        let Some(&byte) = bytes.get(pos) else {
            return Err(ScanError::Malformed { offset: pos });
        };
        let depth = base_depth + open.len();
        match byte {
            b'[' => {
                if open.len() >= MAX_DEPTH {
                    return Err(ScanError::TooDeep {
                        depth: open.len() + 1,
                    });
                }
                if let Some(shape) = shape.as_deref_mut() {
                    shape.open(depth)?;
                }
                if let Some(n) = open.last_mut() {
                    *n += 1;
                }
                open.push(0);
                pos += 1;
                continue;
            }
            b']' => {
                let len = open.pop().ok_or(ScanError::Malformed { offset: pos })?;
                if let Some(shape) = shape.as_deref_mut() {
                    shape.close(base_depth + open.len(), len)?;
                }
                pos += 1;
            }
            b',' if !open.is_empty() => {
                pos += 1;
                continue;
            }
            _ => {
                let (end, parsed) = scalar_token::<T>(raw, pos)?;
                if let Some(shape) = shape.as_deref_mut() {
                    shape.scalar(depth)?;
                }
                if let Some(n) = open.last_mut() {
                    *n += 1;
                }
                sink.push(parsed)?;
                pos = end;
            }
        }
        if open.is_empty() {
            // One complete value: only whitespace may follow.
            let end = skip_whitespace(bytes, pos);
            return if end == bytes.len() {
                Ok(())
            } else {
                Err(ScanError::Malformed { offset: end })
            };
        }
    }
}

/// Finds the scalar token at `start`; returns where it ends and how to parse it.
fn scalar_token<T: Element>(
    raw: &str,
    start: usize,
) -> Result<(usize, impl FnOnce() -> Result<T, ValueProblem> + '_), ScanError> {
    let bytes = raw.as_bytes();
    let kind = match bytes[start] {
        b'"' => Token::Str,
        b'-' | b'0'..=b'9' => Token::Number,
        b't' => Token::Literal("true"),
        b'f' => Token::Literal("false"),
        b'n' => Token::Literal("null"),
        b'{' => Token::Object,
        _ => return Err(ScanError::Malformed { offset: start }),
    };
    let end = match kind {
        Token::Str => string_end(bytes, start).ok_or(ScanError::Malformed { offset: start })?,
        Token::Number => {
            start
                + bytes[start..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count()
        }
        Token::Literal(word) => {
            if !raw[start..].starts_with(word) {
                return Err(ScanError::Malformed { offset: start });
            }
            start + word.len()
        }
        // Reported as a wrong kind of value; where the object ends does not matter.
        Token::Object => bytes.len(),
    };
    let token = &raw[start..end];
    Ok((end, move || match kind {
        Token::Str => T::from_json_string(token),
        Token::Number => T::from_json_number(token),
        Token::Literal("true") => T::from_json_bool(true),
        Token::Literal("false") => T::from_json_bool(false),
        Token::Literal(_) => Err(ValueProblem::WrongKind {
            found: "null",
            expected: T::DATATYPE,
        }),
        Token::Object => Err(ValueProblem::WrongKind {
            found: "an object",
            expected: T::DATATYPE,
        }),
    }))
}

#[derive(Clone, Copy)]
enum Token {
    Str,
    Number,
    Literal(&'static str),
    Object,
}

/// The index just past the closing quote of the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        pos += 1;
    }
    pos
}
