//! Tensor `data` in JSON, both ways: scanning it into typed buffers and writing it back out.

use half::f16;

use super::element::Element;
use super::error::{ProtocolError, TensorAt};
use super::scan::{self, MAX_DEPTH, ScanError, ShapeTracker, Sink};
use super::{DataType, TensorData};

/// Runs `$body` with `$E` bound to the Rust element type of datatype `$dt`.
macro_rules! with_element_type {
    ($dt:expr, $E:ident => $body:expr) => {
        match $dt {
            DataType::Bool => {
                type $E = bool;
                $body
            }
            DataType::U8 => {
                type $E = u8;
                $body
            }
            DataType::U16 => {
                type $E = u16;
                $body
            }
            DataType::U32 => {
                type $E = u32;
                $body
            }
            DataType::U64 => {
                type $E = u64;
                $body
            }
            DataType::I8 => {
                type $E = i8;
                $body
            }
            DataType::I16 => {
                type $E = i16;
                $body
            }
            DataType::I32 => {
                type $E = i32;
                $body
            }
            DataType::I64 => {
                type $E = i64;
                $body
            }
            DataType::F16 => {
                type $E = f16;
                $body
            }
            DataType::F32 => {
                type $E = f32;
                $body
            }
            DataType::F64 => {
                type $E = f64;
                $body
            }
            DataType::Bytes => {
                type $E = Vec<u8>;
                $body
            }
        }
    };
}

/// Scans flat or nested `data` of a tensor whose shape says it has `expected` elements.
///
/// Returns the elements (at most `expected`) and how many `data` really holds, so the caller
/// can report a length mismatch with both numbers.
pub(crate) fn parse_flat(
    at: &TensorAt,
    datatype: DataType,
    raw: &str,
    expected: usize,
) -> Result<(TensorData, usize), ProtocolError> {
    with_element_type!(datatype, E => {
        let mut sink = Sink::<E>::expecting(expected);
        scan::scan(raw, &mut sink, None, 0).map_err(|e| scan_error(at, e))?;
        Ok((E::into_data(sink.values), sink.count))
    })
}

/// Scans one tensor given as JSON `pieces` that sit at nesting `depth` (0: one piece that is the
/// whole tensor; 1: one piece per row, the outer dimension being the number of pieces), and
/// infers its shape from the nesting, which must not be ragged (V1, whose requests carry no
/// shape). Fails past `max_elements`.
pub(crate) fn parse_inferred(
    at: &TensorAt,
    datatype: DataType,
    pieces: &[&str],
    depth: usize,
    max_elements: usize,
) -> Result<(Vec<usize>, TensorData), ProtocolError> {
    with_element_type!(datatype, E => {
        let mut sink = Sink::<E>::bounded(max_elements);
        let mut shape = ShapeTracker::default();
        for piece in pieces {
            scan::scan(piece, &mut sink, Some(&mut shape), depth).map_err(|e| scan_error(at, e))?;
        }
        if depth == 1 {
            shape.set_outer(pieces.len());
        }
        Ok((shape.into_shape(), E::into_data(sink.values)))
    })
}

fn scan_error(at: &TensorAt, err: ScanError) -> ProtocolError {
    let at = at.clone();
    match err {
        ScanError::Value { index, problem } => ProtocolError::InvalidValue { at, index, problem },
        ScanError::TooDeep { depth } => ProtocolError::TooDeep {
            at,
            depth,
            max: MAX_DEPTH,
        },
        ScanError::Malformed { offset } => ProtocolError::MalformedData { at, offset },
        ScanError::TooMany { max } => ProtocolError::TooManyElements {
            at,
            count: max + 1,
            max,
        },
        ScanError::Ragged(detail) => ProtocolError::Ragged { at, detail },
    }
}

/// Appends `values` as one flat JSON array.
fn write_flat_slice<E: Element>(out: &mut Vec<u8>, values: &[E]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        v.write_json(out);
    }
    out.push(b']');
}

/// Appends `data` as one flat JSON array (row-major).
pub(crate) fn write_flat(out: &mut Vec<u8>, data: &TensorData) {
    crate::with_tensor_data!(data, v => write_flat_slice(out, v));
}

/// Appends `values` nested by `dims` (rank 0: a bare scalar).
fn write_nested_slice<E: Element>(out: &mut Vec<u8>, values: &[E], dims: &[usize]) {
    match dims {
        [] => match values.first() {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        },
        [_] => write_flat_slice(out, values),
        [n, inner @ ..] => {
            let stride = inner.iter().product::<usize>();
            out.push(b'[');
            for i in 0..*n {
                if i > 0 {
                    out.push(b',');
                }
                let start = (i * stride).min(values.len());
                let end = (start + stride).min(values.len());
                write_nested_slice(out, &values[start..end], inner);
            }
            out.push(b']');
        }
    }
}

/// Appends elements `start..start + product(dims)` of `data`, nested by `dims`.
pub(crate) fn write_nested(out: &mut Vec<u8>, data: &TensorData, start: usize, dims: &[usize]) {
    let len = dims.iter().product::<usize>();
    crate::with_tensor_data!(data, v => {
        let start = start.min(v.len());
        let end = (start + len).min(v.len());
        write_nested_slice(out, &v[start..end], dims)
    });
}

/// A rough output size for `data` as JSON, to size buffers once.
pub(crate) fn estimated_len(data: &TensorData) -> usize {
    let per_element = match data.datatype() {
        DataType::Bool => 6,
        DataType::U8 | DataType::I8 => 4,
        DataType::F16 => 10,
        DataType::F32 => 14,
        DataType::F64 => 24,
        DataType::Bytes => 16,
        _ => 12,
    };
    data.len() * per_element + 2
}
