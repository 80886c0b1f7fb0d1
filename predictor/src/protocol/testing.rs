//! Test helpers: hand-built model metadata and proptest strategies for tensors.

use half::f16;
use proptest::prelude::*;

use super::{DataType, Tensor, TensorData};
use crate::model::{ModelMetadata, TensorSpec};

pub(crate) fn spec(name: &str, datatype: DataType, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        datatype,
        shape: shape.to_vec(),
    }
}

pub(crate) fn meta(inputs: Vec<TensorSpec>, outputs: Vec<TensorSpec>) -> ModelMetadata {
    ModelMetadata {
        name: "m".to_owned(),
        platform: "test".to_owned(),
        inputs,
        outputs,
    }
}

/// A model with one input `x` of shape [-1, 3].
pub(crate) fn one_input(datatype: DataType) -> ModelMetadata {
    meta(
        vec![spec("x", datatype, &[-1, 3])],
        vec![spec("y", DataType::F32, &[-1, 2])],
    )
}

pub(crate) fn tensor(name: &str, shape: &[usize], data: TensorData) -> Tensor {
    Tensor::new(name, shape.to_vec(), data).expect("test tensors are consistent")
}

pub(crate) fn message(result: Result<impl std::fmt::Debug, super::ProtocolError>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Any datatype.
pub(crate) fn arb_datatype() -> impl Strategy<Value = DataType> {
    proptest::sample::select(DataType::ALL.to_vec())
}

fn finite_f32() -> impl Strategy<Value = f32> {
    any::<u32>()
        .prop_map(f32::from_bits)
        .prop_filter("finite", |v| v.is_finite())
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<u64>()
        .prop_map(f64::from_bits)
        .prop_filter("finite", |v| v.is_finite())
}

fn finite_f16() -> impl Strategy<Value = f16> {
    any::<u16>()
        .prop_map(f16::from_bits)
        .prop_filter("finite", |v| v.is_finite())
}

/// `len` finite values of `datatype`; BYTES elements are UTF-8 when `utf8` (JSON carries text).
pub(crate) fn arb_data(datatype: DataType, len: usize, utf8: bool) -> BoxedStrategy<TensorData> {
    use proptest::collection::vec;
    match datatype {
        DataType::Bool => vec(any::<bool>(), len).prop_map(TensorData::Bool).boxed(),
        DataType::U8 => vec(any::<u8>(), len).prop_map(TensorData::U8).boxed(),
        DataType::U16 => vec(any::<u16>(), len).prop_map(TensorData::U16).boxed(),
        DataType::U32 => vec(any::<u32>(), len).prop_map(TensorData::U32).boxed(),
        DataType::U64 => vec(any::<u64>(), len).prop_map(TensorData::U64).boxed(),
        DataType::I8 => vec(any::<i8>(), len).prop_map(TensorData::I8).boxed(),
        DataType::I16 => vec(any::<i16>(), len).prop_map(TensorData::I16).boxed(),
        DataType::I32 => vec(any::<i32>(), len).prop_map(TensorData::I32).boxed(),
        DataType::I64 => vec(any::<i64>(), len).prop_map(TensorData::I64).boxed(),
        DataType::F16 => vec(finite_f16(), len).prop_map(TensorData::F16).boxed(),
        DataType::F32 => vec(finite_f32(), len).prop_map(TensorData::F32).boxed(),
        DataType::F64 => vec(finite_f64(), len).prop_map(TensorData::F64).boxed(),
        DataType::Bytes if utf8 => vec(any::<String>().prop_map(String::into_bytes), len)
            .prop_map(TensorData::Bytes)
            .boxed(),
        DataType::Bytes => vec(proptest::collection::vec(any::<u8>(), 0..12), len)
            .prop_map(TensorData::Bytes)
            .boxed(),
    }
}

/// A tensor named `name` of the given datatype, with a shape drawn from `dims` (per dimension).
pub(crate) fn arb_tensor(
    name: String,
    datatype: DataType,
    rank: std::ops::RangeInclusive<usize>,
    dims: std::ops::RangeInclusive<usize>,
    utf8: bool,
) -> impl Strategy<Value = Tensor> {
    proptest::collection::vec(dims, rank).prop_flat_map(move |shape| {
        let len = shape.iter().product();
        let name = name.clone();
        arb_data(datatype, len, utf8).prop_map(move |data| {
            Tensor::new(name.clone(), shape.clone(), data).expect("length from the shape")
        })
    })
}

/// Up to three tensors `t0`, `t1`, ... of any datatypes and small shapes.
pub(crate) fn arb_tensors(utf8: bool) -> impl Strategy<Value = Vec<Tensor>> {
    proptest::collection::vec(arb_datatype(), 1..=3).prop_flat_map(move |types| {
        types
            .into_iter()
            .enumerate()
            .map(|(i, dt)| arb_tensor(format!("t{i}"), dt, 0..=3, 0..=4, utf8))
            .collect::<Vec<_>>()
    })
}

/// The spec a tensor satisfies; `dynamic` marks dimension `i` as -1 where bit `i` is set.
pub(crate) fn spec_of(t: &Tensor, dynamic: u8) -> TensorSpec {
    let shape = t
        .shape()
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if dynamic & (1 << i) != 0 {
                -1
            } else {
                i64::try_from(d).expect("small dims")
            }
        })
        .collect::<Vec<_>>();
    spec(t.name(), t.datatype(), &shape)
}
