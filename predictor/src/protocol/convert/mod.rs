//! Lossless datatype conversion: a request tensor sent as INT64 for an FP32 input is accepted
//! when every value survives the trip exactly, and rejected at the first one that does not.

use half::f16;

use super::error::{ConversionDetail, ProtocolError, TensorAt};
use super::{DataType, Tensor, TensorData};

/// A numeric value, wide enough to hold any element of any numeric datatype exactly.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

/// A numeric element type: every datatype but BOOL and BYTES.
trait Scalar: Copy + std::fmt::Display {
    fn to_num(self) -> Num;
    /// `None` when `n` has no exact value of this type.
    fn from_num(n: Num) -> Option<Self>;
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn to_num(self) -> Num {
                Num::Int(i128::from(self))
            }

            fn from_num(n: Num) -> Option<Self> {
                match n {
                    Num::Int(i) => <$t>::try_from(i).ok(),
                    Num::Float(f) => {
                        // `as` saturates; the comparison rejects fractions, NaN and overflow.
                        let i = f as i128;
                        if i as f64 == f { <$t>::try_from(i).ok() } else { None }
                    }
                }
            }
        }
    )*};
}

int_scalar!(u8, u16, u32, u64, i8, i16, i32, i64);

/// Converts `n` to a float type through `narrow`, keeping it only if it comes back unchanged.
fn exact_float<F: Copy>(n: Num, narrow: impl Fn(f64) -> F, widen: impl Fn(F) -> f64) -> Option<F> {
    match n {
        Num::Int(i) => {
            // `i as f64` may round; comparing in i128 catches that and any rounding in `narrow`.
            let f = narrow(i as f64);
            let back = widen(f);
            (back.is_finite() && back as i128 == i && (back as i128) as f64 == back).then_some(f)
        }
        Num::Float(x) if x.is_nan() => Some(narrow(x)),
        Num::Float(x) => {
            let f = narrow(x);
            (widen(f) == x).then_some(f)
        }
    }
}

impl Scalar for f16 {
    fn to_num(self) -> Num {
        Num::Float(self.to_f64())
    }

    fn from_num(n: Num) -> Option<Self> {
        exact_float(n, f16::from_f64, f16::to_f64)
    }
}

impl Scalar for f32 {
    fn to_num(self) -> Num {
        Num::Float(f64::from(self))
    }

    fn from_num(n: Num) -> Option<Self> {
        exact_float(n, |x| x as f32, f64::from)
    }
}

impl Scalar for f64 {
    fn to_num(self) -> Num {
        Num::Float(self)
    }

    fn from_num(n: Num) -> Option<Self> {
        exact_float(n, |x| x, |x| x)
    }
}

/// Converts every element or reports the first that does not convert exactly.
fn convert_vec<S: Scalar, T: Scalar>(values: Vec<S>) -> Result<Vec<T>, ConversionDetail> {
    let mut out = Vec::with_capacity(values.len());
    for (index, v) in values.into_iter().enumerate() {
        match T::from_num(v.to_num()) {
            Some(t) => out.push(t),
            None => {
                return Err(ConversionDetail::Lossy {
                    index,
                    value: v.to_string(),
                });
            }
        }
    }
    Ok(out)
}

fn convert_numeric<T: Scalar>(data: TensorData) -> Result<Vec<T>, ConversionDetail> {
    match data {
        TensorData::U8(v) => convert_vec(v),
        TensorData::U16(v) => convert_vec(v),
        TensorData::U32(v) => convert_vec(v),
        TensorData::U64(v) => convert_vec(v),
        TensorData::I8(v) => convert_vec(v),
        TensorData::I16(v) => convert_vec(v),
        TensorData::I32(v) => convert_vec(v),
        TensorData::I64(v) => convert_vec(v),
        TensorData::F16(v) => convert_vec(v),
        TensorData::F32(v) => convert_vec(v),
        TensorData::F64(v) => convert_vec(v),
        TensorData::Bool(_) | TensorData::Bytes(_) => Err(ConversionDetail::Incompatible),
    }
}

/// Converts `data` to `to`, exactly, or says which element does not fit.
pub(crate) fn convert_data(data: TensorData, to: DataType) -> Result<TensorData, ConversionDetail> {
    if data.datatype() == to {
        return Ok(data);
    }
    Ok(match to {
        DataType::U8 => TensorData::U8(convert_numeric(data)?),
        DataType::U16 => TensorData::U16(convert_numeric(data)?),
        DataType::U32 => TensorData::U32(convert_numeric(data)?),
        DataType::U64 => TensorData::U64(convert_numeric(data)?),
        DataType::I8 => TensorData::I8(convert_numeric(data)?),
        DataType::I16 => TensorData::I16(convert_numeric(data)?),
        DataType::I32 => TensorData::I32(convert_numeric(data)?),
        DataType::I64 => TensorData::I64(convert_numeric(data)?),
        DataType::F16 => TensorData::F16(convert_numeric(data)?),
        DataType::F32 => TensorData::F32(convert_numeric(data)?),
        DataType::F64 => TensorData::F64(convert_numeric(data)?),
        DataType::Bool | DataType::Bytes => return Err(ConversionDetail::Incompatible),
    })
}

/// Converts a decoded input tensor to the model's datatype `to`.
pub(crate) fn convert_tensor(tensor: Tensor, to: DataType) -> Result<Tensor, ProtocolError> {
    let from = tensor.datatype();
    if from == to {
        return Ok(tensor);
    }
    let (name, shape, data) = tensor.into_parts();
    match convert_data(data, to) {
        Ok(data) => Ok(Tensor::new(name, shape, data)
            .expect("conversion keeps the element count, so the shape still matches")),
        Err(detail) => Err(ProtocolError::Conversion {
            at: TensorAt::input(&name),
            from,
            to,
            detail,
        }),
    }
}

#[cfg(test)]
mod tests;
