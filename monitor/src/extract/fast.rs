//! One pass over a V2 JSON body that parses only the values the monitor records.
//!
//! The codec (`v2::decode_request`, `v2::decode_response`) converts every element of every
//! tensor after serde_json has skipped over it once; the monitor keeps only the first
//! [`MAX_SERIES`] elements of each request row. These readers walk the body once with a
//! [`Cursor`]: each `data` array is validated and split into number tokens in one scan; a
//! recorded element is parsed exactly as the codec parses it (core's `str::parse` straight to
//! the datatype, then widened); any other number is skipped, parsed only when it might be out of
//! the datatype's range (an exponent, or a long integer part), so a body the codec rejects is
//! rejected here.
//!
//! They handle the common case only: JSON data (no binary extension), `FP32` and `FP64` inputs,
//! `FP32`, `FP64` and `INT64` outputs, no tensor `parameters`, keys without escapes, the
//! codec's limits. Anything else, or anything unexpected, gives `None` and the caller falls back
//! to the codec, which also names the problem of an invalid body.

use std::borrow::Cow;

use infergate_predictor::protocol::Limits;
use serde_json::{Map, Value};

use super::json::{AnyString, Cursor, Number};
use super::{Batch, Names, Table, row_width};
use crate::config::MAX_SERIES;

/// An element type the readers parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    F32,
    F64,
    I64,
}

/// One tensor's header fields, as read so far.
#[derive(Default)]
struct Header<'a> {
    name: Option<&'a str>,
    element: Option<Element>,
    shape: Option<Vec<usize>>,
    /// Where `data` starts when it came before the datatype or shape (scanned again after).
    data_at: Option<Cursor<'a>>,
    data: bool,
}

/// An output: name, shape, values.
pub(super) type Output<'a> = (Cow<'a, str>, Vec<usize>, Table);

/// The features of a V2 JSON request into `batch`, or `None` when the body is not of the form
/// handled here (`batch` is then left partly filled: the caller clears it).
pub(super) fn v2_features(body: &[u8], names: &mut Names, batch: &mut Batch) -> Option<()> {
    let mut cursor = Cursor::new(std::str::from_utf8(body).ok()?);
    let (mut inputs, mut id, mut parameters, mut outputs) = (None, false, false, false);
    cursor.object(|c, key| match key {
        "inputs" if inputs.is_none() => {
            let mut seen: Vec<&str> = Vec::new();
            c.array(|c| {
                let name = v2_input(c, names, batch)?;
                (!seen.contains(&name)).then(|| seen.push(name))
            })?;
            inputs = Some(seen.len());
            Some(())
        }
        // Accepted, not monitored.
        "id" => once(&mut id).and_then(|()| c.skip()),
        "parameters" => once(&mut parameters).and_then(|()| c.skip()),
        "outputs" => once(&mut outputs).and_then(|()| c.skip()),
        _ => None,
    })?;
    cursor.end()?;
    (inputs? <= Limits::default().max_inputs).then_some(())
}

/// The outputs of a V2 JSON response, or `None` when the body is not of the form handled here.
pub(super) fn v2_outputs(body: &[u8]) -> Option<Vec<Output<'_>>> {
    let mut cursor = Cursor::new(std::str::from_utf8(body).ok()?);
    let mut outputs = None;
    let (mut model_name, mut model_version, mut id, mut parameters) = (false, false, false, false);
    cursor.object(|c, key| match key {
        "outputs" if outputs.is_none() => {
            let mut all = Vec::new();
            c.array(|c| {
                all.push(v2_output(c)?);
                Some(())
            })?;
            outputs = Some(all);
            Some(())
        }
        "model_name" => once(&mut model_name).and_then(|()| c.value::<AnyString>().map(drop)),
        "model_version" => {
            once(&mut model_version).and_then(|()| c.value::<Option<AnyString>>().map(drop))
        }
        "id" => once(&mut id).and_then(|()| c.value::<Option<AnyString>>().map(drop)),
        "parameters" => {
            once(&mut parameters).and_then(|()| c.value::<Option<Map<String, Value>>>().map(drop))
        }
        // The codec ignores other keys.
        "outputs" => None,
        _ => c.skip(),
    })?;
    cursor.end()?;
    model_name.then_some(())?;
    outputs
}

/// Marks a key seen; `None` the second time (serde refuses duplicate fields).
fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

/// One request input: its recorded series into `batch`; returns its name.
fn v2_input<'a>(c: &mut Cursor<'a>, names: &mut Names, batch: &mut Batch) -> Option<&'a str> {
    let mut header = Header::default();
    let mut values = std::mem::take(&mut batch.scratch);
    values.clear();
    let read = |c: &mut Cursor<'a>, header: &Header<'a>, values: &mut Vec<f64>| {
        let (element, shape) = (header.element?, header.shape.as_deref()?);
        // Rank 0 or 1: one series of every element; else the first MAX_SERIES of each row.
        let (width, keep) = match shape.len() {
            0 | 1 => (usize::MAX, usize::MAX),
            _ => (row_width(shape), MAX_SERIES),
        };
        let count = c.numbers_skipping(|number, index| {
            // (A zero-width row has no elements; the count check below refuses any.)
            let column = index.checked_rem(width).unwrap_or(index);
            if column < keep {
                values.push(parse(number, element)?);
                return Some(0);
            }
            if might_overflow(number) {
                parse(number, element)?;
            }
            // The rest of the row is not recorded: skipped, loosely checked (`skip_run`).
            Some(width.saturating_sub(column + 1))
        })?;
        (count == element_count(shape)?).then_some(())
    };
    c.object(|c, key| match key {
        "data" if !header.data => {
            header.data = true;
            if header.element.is_some() && header.shape.is_some() {
                read(c, &header, &mut values)
            } else {
                header.data_at = Some(*c);
                c.numbers(|_| Some(())).map(drop)
            }
        }
        _ => header.field(c, key, &[Element::F32, Element::F64]),
    })?;
    if let Some(mut at) = header.data_at.take() {
        read(&mut at, &header, &mut values)?;
    }
    let (name, shape) = (header.name?, header.shape.as_deref()?);
    header.data.then_some(())?;
    push_features(name, shape, &values, names, batch);
    batch.scratch = values;
    Some(name)
}

/// One response output, every element parsed.
fn v2_output<'a>(c: &mut Cursor<'a>) -> Option<Output<'a>> {
    let mut header = Header::default();
    let mut table = None;
    let read = |c: &mut Cursor<'_>, header: &Header<'_>| {
        let (element, shape) = (header.element?, header.shape.as_deref()?);
        let expected = element_count(shape)?;
        let (table, count) = match element {
            Element::I64 => {
                let mut values = Vec::with_capacity(expected);
                let count = c.numbers(|n| {
                    values.push(integer(n)?);
                    Some(())
                })?;
                (Table::Integers(values), count)
            }
            float => {
                let mut values = Vec::with_capacity(expected);
                let count = c.numbers(|n| {
                    values.push(parse(n, float)?);
                    Some(())
                })?;
                (Table::Numbers(values), count)
            }
        };
        (count == expected).then_some(table)
    };
    c.object(|c, key| match key {
        "data" if !header.data => {
            header.data = true;
            if header.element.is_some() && header.shape.is_some() {
                table = Some(read(c, &header)?);
            } else {
                header.data_at = Some(*c);
                c.numbers(|_| Some(()))?;
            }
            Some(())
        }
        "name" | "shape" | "datatype" | "parameters" | "data" => {
            header.field(c, key, &[Element::F32, Element::F64, Element::I64])
        }
        // The codec ignores other keys of an output.
        _ => c.skip(),
    })?;
    if let Some(mut at) = header.data_at.take() {
        table = Some(read(&mut at, &header)?);
    }
    Some((Cow::Borrowed(header.name?), header.shape?, table?))
}

// === impl Header ===

impl<'a> Header<'a> {
    /// Reads `name`, `datatype` or `shape` (once each, the datatype one of `elements`); `None`
    /// for any other key (`parameters` included).
    fn field(&mut self, c: &mut Cursor<'a>, key: &str, elements: &[Element]) -> Option<()> {
        match key {
            "name" if self.name.is_none() => self.name = Some(c.plain_string()?),
            "datatype" if self.element.is_none() => {
                let element = match c.plain_string()? {
                    "FP32" => Element::F32,
                    "FP64" => Element::F64,
                    "INT64" => Element::I64,
                    _ => return None,
                };
                self.element = Some(element).filter(|e| elements.contains(e));
                self.element?;
            }
            "shape" if self.shape.is_none() => {
                let mut shape = Vec::new();
                c.array(|c| {
                    shape.push(usize::try_from(c.integer()?).ok()?);
                    Some(())
                })?;
                self.shape = Some(shape);
            }
            _ => return None,
        }
        Some(())
    }
}

/// The element count of `shape`, within the codec's limit.
fn element_count(shape: &[usize]) -> Option<usize> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    (count <= Limits::default().max_elements).then_some(count)
}

/// Splits the recorded values (the first `MAX_SERIES` of each row, row-major) into series, as
/// [`super::split`] does for a whole tensor.
fn push_features(
    name: &str,
    shape: &[usize],
    values: &[f64],
    names: &mut Names,
    batch: &mut Batch,
) {
    if values.is_empty() {
        return;
    }
    let mut names = names.tensor(name);
    if shape.len() <= 1 {
        batch.push_numbers(names.whole(), values.iter().copied());
        return;
    }
    let kept = row_width(shape).min(MAX_SERIES);
    for j in 0..kept {
        let column = values.iter().skip(j).step_by(kept).copied();
        batch.push_numbers(names.element(j), column);
    }
}

/// The codec's parse of a float: straight to the datatype, finite only.
fn parse(number: Number<'_>, element: Element) -> Option<f64> {
    let value = match element {
        Element::F32 => f64::from(number.text.parse::<f32>().ok()?),
        Element::F64 => number.text.parse::<f64>().ok()?,
        Element::I64 => return None,
    };
    value.is_finite().then_some(value)
}

/// The codec's parse of an `INT64` written as an integer; `None` for `2.0` or `1e3`, which the
/// codec also takes (it checks they are integral): left to it.
fn integer(number: Number<'_>) -> Option<i64> {
    number.integral.then(|| number.text.parse().ok()).flatten()
}

/// Whether a number could be out of range of `f32`: it has an exponent or more than 38 digits
/// before its point. Shorter plain decimals are finite in `f32` and `f64`.
fn might_overflow(number: Number<'_>) -> bool {
    number.exponent || number.integer_len > 38
}
