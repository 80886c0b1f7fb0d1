//! What each element type does in JSON: parse one scalar token, write one value.
//!
//! The `data` scanner ([`super::scan`]) hands over raw JSON tokens; the types here turn them into
//! the datatype's Rust type, checking range and integrality, with no `serde_json::Value` between.

use half::f16;
use serde_json::ser::{CompactFormatter, Formatter};

use super::error::ValueProblem;
use super::{DataType, TensorData};

/// One element type of [`TensorData`].
pub(crate) trait Element: Sized {
    const DATATYPE: DataType;

    /// Parses a JSON number token (already validated as JSON by serde_json).
    fn from_json_number(token: &str) -> Result<Self, ValueProblem> {
        let _ = token;
        Err(ValueProblem::WrongKind {
            found: "a number",
            expected: Self::DATATYPE,
        })
    }

    fn from_json_bool(value: bool) -> Result<Self, ValueProblem> {
        let _ = value;
        Err(ValueProblem::WrongKind {
            found: "BOOL",
            expected: Self::DATATYPE,
        })
    }

    /// Takes a JSON string token, quotes and escapes included.
    fn from_json_string(token: &str) -> Result<Self, ValueProblem> {
        let _ = token;
        Err(ValueProblem::WrongKind {
            found: "BYTES",
            expected: Self::DATATYPE,
        })
    }

    /// Appends the value as JSON. Non-finite floats become `null`, which JSON can carry.
    fn write_json(&self, out: &mut Vec<u8>);

    fn into_data(values: Vec<Self>) -> TensorData;
}

/// Whether a JSON number token is written as an integer (no fraction, no exponent).
fn is_integer_token(token: &str) -> bool {
    !token.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// serde_json's writers into a `Vec` cannot fail; this names that fact once.
fn written(result: std::io::Result<()>) {
    result.expect("writing JSON into a Vec<u8> cannot fail");
}

macro_rules! int_element {
    ($($t:ty => $variant:ident, $write:ident;)*) => {$(
        impl Element for $t {
            const DATATYPE: DataType = DataType::$variant;

            fn from_json_number(token: &str) -> Result<Self, ValueProblem> {
                let out_of_range =
                    || ValueProblem::OutOfRange { value: token.to_owned(), datatype: Self::DATATYPE };
                if is_integer_token(token) {
                    // i128 covers every integer datatype, and parses "-0" for unsigned ones.
                    let wide: i128 = token.parse().map_err(|_| out_of_range())?;
                    return <$t>::try_from(wide).map_err(|_| out_of_range());
                }
                let value: f64 = token.parse().map_err(|_| out_of_range())?;
                if value.is_finite() && value.fract() != 0.0 {
                    return Err(ValueProblem::NotIntegral {
                        value: token.to_owned(),
                        datatype: Self::DATATYPE,
                    });
                }
                // `as i128` saturates, so the round trip check also catches huge values.
                let wide = value as i128;
                if wide as f64 != value {
                    return Err(out_of_range());
                }
                <$t>::try_from(wide).map_err(|_| out_of_range())
            }

            fn write_json(&self, out: &mut Vec<u8>) {
                written(CompactFormatter.$write(out, *self));
            }

            fn into_data(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }
        }
    )*};
}

int_element! {
    u8 => U8, write_u8;
    u16 => U16, write_u16;
    u32 => U32, write_u32;
    u64 => U64, write_u64;
    i8 => I8, write_i8;
    i16 => I16, write_i16;
    i32 => I32, write_i32;
    i64 => I64, write_i64;
}

/// `f32` and `f64`: core's parsers round the decimal straight to the type (no double rounding
/// through f64 for f32); non-finite values are out of range on the way in and `null` on the way
/// out.
macro_rules! float_element {
    ($($t:ty => $variant:ident, $write:ident;)*) => {$(
        impl Element for $t {
            const DATATYPE: DataType = DataType::$variant;

            fn from_json_number(token: &str) -> Result<Self, ValueProblem> {
                match token.parse::<$t>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(ValueProblem::OutOfRange {
                        value: token.to_owned(),
                        datatype: Self::DATATYPE,
                    }),
                }
            }

            fn write_json(&self, out: &mut Vec<u8>) {
                if self.is_finite() {
                    written(CompactFormatter.$write(out, *self));
                } else {
                    out.extend_from_slice(b"null");
                }
            }

            fn into_data(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }
        }
    )*};
}

float_element! {
    f32 => F32, write_f32;
    f64 => F64, write_f64;
}

impl Element for f16 {
    const DATATYPE: DataType = DataType::F16;

    fn from_json_number(token: &str) -> Result<Self, ValueProblem> {
        match token.parse::<f64>().map(f16::from_f64) {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(ValueProblem::OutOfRange {
                value: token.to_owned(),
                datatype: Self::DATATYPE,
            }),
        }
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        // Every f16 is exactly an f32, and the shortest f32 text parses back to the same f16.
        self.to_f32().write_json(out);
    }

    fn into_data(values: Vec<Self>) -> TensorData {
        TensorData::F16(values)
    }
}

impl Element for bool {
    const DATATYPE: DataType = DataType::Bool;

    fn from_json_bool(value: bool) -> Result<Self, ValueProblem> {
        Ok(value)
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }

    fn into_data(values: Vec<Self>) -> TensorData {
        TensorData::Bool(values)
    }
}

impl Element for Vec<u8> {
    const DATATYPE: DataType = DataType::Bytes;

    fn from_json_string(token: &str) -> Result<Self, ValueProblem> {
        // The token was validated by serde_json already; this only unescapes it.
        serde_json::from_str::<String>(token)
            .map(String::into_bytes)
            .map_err(|_| ValueProblem::WrongKind {
                found: "a malformed string",
                expected: Self::DATATYPE,
            })
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_str(out, &String::from_utf8_lossy(self));
    }

    fn into_data(values: Vec<Self>) -> TensorData {
        TensorData::Bytes(values)
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing JSON into a Vec<u8> cannot fail");
}

/// Appends an unsigned integer.
pub(crate) fn write_json_usize(out: &mut Vec<u8>, n: usize) {
    written(CompactFormatter.write_u64(out, n as u64));
}
