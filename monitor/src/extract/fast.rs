//! One pass over a V2 JSON request that parses only the values the monitor records.
//!
//! The codec (`v2::decode_request`) converts every element of every tensor; the monitor keeps
//! only the first [`MAX_SERIES`] elements of each row. This reader deserializes the request
//! once, borrowing each tensor's `data` as raw JSON (serde_json checks it is valid JSON while
//! skipping it, without converting numbers), then walks `data` byte by byte: a recorded element
//! is parsed exactly as the codec parses it (core's `str::parse` straight to the datatype, then
//! widened to `f64`); any other number is skipped, parsed only when it might overflow the
//! datatype (an exponent, or a long integer part), so a body the codec rejects is rejected here.
//!
//! It handles the common case only: JSON data (no binary extension), `FP32` and `FP64` inputs,
//! no tensor `parameters`. Anything else, or anything unexpected, gives `None` and the caller
//! falls back to the codec, which also names the problem of an invalid body.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Names, Series, Values, row_width};
use crate::config::MAX_SERIES;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    inputs: Vec<Input<'a>>,
    #[serde(default, borrow)]
    #[expect(dead_code, reason = "accepted, not monitored")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    #[expect(dead_code, reason = "accepted, not monitored")]
    parameters: Option<&'a RawValue>,
    #[serde(default, borrow)]
    #[expect(dead_code, reason = "accepted, not monitored")]
    outputs: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    datatype: Cow<'a, str>,
    shape: Vec<i64>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    parameters: Option<&'a RawValue>,
}

#[derive(Clone, Copy)]
enum Float {
    F32,
    F64,
}

/// The features of a V2 JSON request, or `None` when the body is not of the form handled here.
pub(super) fn v2_features(body: &[u8], names: &mut Names) -> Option<Vec<Series>> {
    let request: Request<'_> = serde_json::from_slice(body).ok()?;
    let mut series = Vec::new();
    let mut seen: Vec<&str> = Vec::with_capacity(request.inputs.len());
    for input in &request.inputs {
        if input.parameters.is_some() || seen.contains(&&*input.name) {
            return None;
        }
        seen.push(&input.name);
        let float = match &*input.datatype {
            "FP32" => Float::F32,
            "FP64" => Float::F64,
            _ => return None,
        };
        let shape = input
            .shape
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()?;
        let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
        // Rank 0 or 1: one series of every element; else the first MAX_SERIES of each row.
        let (width, keep) = match shape.len() {
            0 | 1 => (usize::MAX, usize::MAX),
            _ => (row_width(&shape), MAX_SERIES),
        };
        let (values, count) = scan(input.data?.get(), float, width, keep)?;
        if count != expected {
            return None;
        }
        push_series(&input.name, &shape, values, names, &mut series);
    }
    Some(series)
}

/// Splits the recorded values (the first `MAX_SERIES` of each row, row-major) into series, as
/// [`super::split`] does for a whole tensor.
fn push_series(
    name: &str,
    shape: &[usize],
    values: Vec<f64>,
    names: &mut Names,
    out: &mut Vec<Series>,
) {
    if values.is_empty() {
        return;
    }
    if shape.len() <= 1 {
        out.push(Series {
            name: names.whole(name),
            values: Values::Numbers(values),
        });
        return;
    }
    let kept = row_width(shape).min(MAX_SERIES);
    let rows = values.len() / kept;
    for j in 0..kept {
        out.push(Series {
            name: names.element(name, j),
            values: Values::Numbers((0..rows).map(|r| values[r * kept + j]).collect()),
        });
    }
}

/// Walks `raw` (valid JSON: serde_json checked it), flattening nested arrays; returns the
/// elements whose index within a row of `width` is below `keep`, and the element count.
fn scan(raw: &str, float: Float, width: usize, keep: usize) -> Option<(Vec<f64>, usize)> {
    let bytes = raw.as_bytes();
    let mut values = Vec::new();
    let mut count = 0usize;
    let mut column = 0usize;
    let mut pos = 0;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'[' | b']' | b',' | b' ' | b'\n' | b'\r' | b'\t' => pos += 1,
            b'-' | b'0'..=b'9' => {
                let len = bytes[pos..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let token = &raw[pos..pos + len];
                pos += len;
                if column < keep {
                    values.push(parse(token, float)?);
                } else if might_overflow(token) {
                    parse(token, float)?;
                }
                count += 1;
                column += 1;
                if column == width {
                    column = 0;
                }
            }
            // Strings, literals, objects: the codec says what is wrong with them.
            _ => return None,
        }
    }
    Some((values, count))
}

/// The codec's parse: straight to the datatype, finite only.
fn parse(token: &str, float: Float) -> Option<f64> {
    let value = match float {
        Float::F32 => f64::from(token.parse::<f32>().ok()?),
        Float::F64 => token.parse::<f64>().ok()?,
    };
    value.is_finite().then_some(value)
}

/// Whether a (valid JSON) number could be out of range of `f32`: it has an exponent or more
/// than 38 digits before its point. Shorter plain decimals are finite in `f32` and `f64`.
fn might_overflow(token: &str) -> bool {
    let integer = token.split('.').next().unwrap_or(token);
    token.contains(['e', 'E']) || integer.len() > 38
}
