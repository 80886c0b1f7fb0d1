//! The binary tensor data extension: raw little-endian tensor bytes after the JSON header.
//!
//! Fixed-size datatypes are packed little-endian (BOOL is one byte, 0 or 1). Each BYTES element
//! is a 4-byte little-endian length followed by that many bytes.

use half::f16;

use crate::protocol::error::{ProtocolError, TensorAt, ValueProblem};
use crate::protocol::{DataType, TensorData};

macro_rules! packed {
    ($bytes:expr, $t:ty) => {{
        let (chunks, rest) = $bytes.as_chunks::<{ size_of::<$t>() }>();
        debug_assert!(rest.is_empty(), "the caller checked the size is a multiple");
        chunks.iter().map(|c| <$t>::from_le_bytes(*c)).collect()
    }};
}

/// Decodes one tensor's binary bytes as `datatype`.
pub(crate) fn decode(
    at: &TensorAt,
    datatype: DataType,
    bytes: &[u8],
) -> Result<TensorData, ProtocolError> {
    if let Some(element_size) = datatype.element_size()
        && !bytes.len().is_multiple_of(element_size)
    {
        return Err(ProtocolError::BinarySizeNotMultiple {
            at: at.clone(),
            size: bytes.len(),
            datatype,
            element_size,
        });
    }
    Ok(match datatype {
        DataType::Bool => TensorData::Bool(decode_bool(at, bytes)?),
        DataType::U8 => TensorData::U8(bytes.to_vec()),
        DataType::U16 => TensorData::U16(packed!(bytes, u16)),
        DataType::U32 => TensorData::U32(packed!(bytes, u32)),
        DataType::U64 => TensorData::U64(packed!(bytes, u64)),
        DataType::I8 => TensorData::I8(bytes.iter().map(|&b| b as i8).collect()),
        DataType::I16 => TensorData::I16(packed!(bytes, i16)),
        DataType::I32 => TensorData::I32(packed!(bytes, i32)),
        DataType::I64 => TensorData::I64(packed!(bytes, i64)),
        DataType::F16 => TensorData::F16(packed!(bytes, f16)),
        DataType::F32 => TensorData::F32(packed!(bytes, f32)),
        DataType::F64 => TensorData::F64(packed!(bytes, f64)),
        DataType::Bytes => TensorData::Bytes(decode_bytes(at, bytes)?),
    })
}

fn decode_bool(at: &TensorAt, bytes: &[u8]) -> Result<Vec<bool>, ProtocolError> {
    bytes
        .iter()
        .enumerate()
        .map(|(index, &b)| match b {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtocolError::InvalidValue {
                at: at.clone(),
                index,
                problem: ValueProblem::BoolByte(b),
            }),
        })
        .collect()
}

fn decode_bytes(at: &TensorAt, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let truncated = |needed| ProtocolError::BinaryBytesTruncated {
            at: at.clone(),
            index: out.len(),
            offset,
            needed,
            available: bytes.len() - offset,
        };
        let Some(len) = bytes.get(offset..offset + 4) else {
            return Err(truncated(4));
        };
        let len = u32::from_le_bytes(len.try_into().expect("the slice is 4 bytes")) as usize;
        let Some(element) = bytes.get(offset + 4..offset + 4 + len) else {
            return Err(truncated(4 + len));
        };
        out.push(element.to_vec());
        offset += 4 + len;
    }
    Ok(out)
}

/// How many bytes [`encode`] appends for `data`.
pub(crate) fn encoded_len(data: &TensorData) -> usize {
    match data {
        TensorData::Bytes(v) => v.iter().map(|e| 4 + e.len()).sum(),
        other => other.len() * other.datatype().element_size().unwrap_or(0),
    }
}

macro_rules! put_le {
    ($out:expr, $v:expr) => {{
        $out.reserve(size_of_val(&$v[..]));
        for x in $v {
            $out.extend_from_slice(&x.to_le_bytes());
        }
    }};
}

/// Appends `data` in the extension's layout.
pub(crate) fn encode(data: &TensorData, out: &mut Vec<u8>) {
    match data {
        TensorData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::I8(v) => out.extend(v.iter().map(|&b| b as u8)),
        TensorData::U16(v) => put_le!(out, v),
        TensorData::U32(v) => put_le!(out, v),
        TensorData::U64(v) => put_le!(out, v),
        TensorData::I16(v) => put_le!(out, v),
        TensorData::I32(v) => put_le!(out, v),
        TensorData::I64(v) => put_le!(out, v),
        TensorData::F16(v) => put_le!(out, v),
        TensorData::F32(v) => put_le!(out, v),
        TensorData::F64(v) => put_le!(out, v),
        TensorData::Bytes(v) => {
            for e in v {
                let len =
                    u32::try_from(e.len()).expect("a BYTES element over 4 GiB cannot be encoded");
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(e);
            }
        }
    }
}
