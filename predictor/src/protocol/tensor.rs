//! Checked tensors: a name, a shape and a typed flat buffer whose length matches the shape.

use half::f16;

use super::DataType;

/// Row-major tensor elements, one variant per datatype.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<Vec<u8>>),
}

/// A tensor whose element count equals the product of its shape.
///
/// The only way to build one is [`Tensor::new`], so code that holds a `Tensor` never re-checks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: TensorData,
}

/// `shape` and `data` disagree on the number of elements.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tensor `{name}`: shape {shape:?} has {expected} elements but data has {actual}")]
pub struct ShapeMismatch {
    pub name: String,
    pub shape: Vec<usize>,
    pub expected: usize,
    pub actual: usize,
}

// === impl TensorData ===

/// Applies `$body` to the vector inside any variant.
#[macro_export]
#[doc(hidden)]
macro_rules! with_tensor_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::protocol::TensorData::Bool($v) => $body,
            $crate::protocol::TensorData::U8($v) => $body,
            $crate::protocol::TensorData::U16($v) => $body,
            $crate::protocol::TensorData::U32($v) => $body,
            $crate::protocol::TensorData::U64($v) => $body,
            $crate::protocol::TensorData::I8($v) => $body,
            $crate::protocol::TensorData::I16($v) => $body,
            $crate::protocol::TensorData::I32($v) => $body,
            $crate::protocol::TensorData::I64($v) => $body,
            $crate::protocol::TensorData::F16($v) => $body,
            $crate::protocol::TensorData::F32($v) => $body,
            $crate::protocol::TensorData::F64($v) => $body,
            $crate::protocol::TensorData::Bytes($v) => $body,
        }
    };
}

impl TensorData {
    /// The datatype of the elements.
    pub fn datatype(&self) -> DataType {
        match self {
            TensorData::Bool(_) => DataType::Bool,
            TensorData::U8(_) => DataType::U8,
            TensorData::U16(_) => DataType::U16,
            TensorData::U32(_) => DataType::U32,
            TensorData::U64(_) => DataType::U64,
            TensorData::I8(_) => DataType::I8,
            TensorData::I16(_) => DataType::I16,
            TensorData::I32(_) => DataType::I32,
            TensorData::I64(_) => DataType::I64,
            TensorData::F16(_) => DataType::F16,
            TensorData::F32(_) => DataType::F32,
            TensorData::F64(_) => DataType::F64,
            TensorData::Bytes(_) => DataType::Bytes,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        with_tensor_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// === impl Tensor ===

impl Tensor {
    /// Checks that `shape` describes exactly `data.len()` elements.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: TensorData,
    ) -> Result<Self, ShapeMismatch> {
        let name = name.into();
        let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match expected {
            Some(expected) if expected == data.len() => Ok(Tensor { name, shape, data }),
            expected => Err(ShapeMismatch {
                name,
                expected: expected.unwrap_or(usize::MAX),
                actual: data.len(),
                shape,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn datatype(&self) -> DataType {
        self.data.datatype()
    }

    /// Takes the tensor apart.
    pub fn into_parts(self) -> (String, Vec<usize>, TensorData) {
        (self.name, self.shape, self.data)
    }

    /// Renames the tensor, keeping its shape and data.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}
