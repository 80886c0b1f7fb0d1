use half::f16;

use super::*;

fn conv(data: TensorData, to: DataType) -> Result<TensorData, ConversionDetail> {
    convert_data(data, to)
}

fn lossy_at(result: Result<TensorData, ConversionDetail>) -> usize {
    match result {
        Err(ConversionDetail::Lossy { index, .. }) => index,
        other => panic!("expected a lossy conversion, got {other:?}"),
    }
}

/// One row per (from, to, values): whether it converts, and to what.
#[test]
fn conversion_table() {
    use DataType as D;
    use TensorData as T;
    let ok = [
        (
            T::I64(vec![0, -5, 16_777_216]),
            D::F32,
            T::F32(vec![0.0, -5.0, 16_777_216.0]),
        ),
        (
            T::I64(vec![1 << 53]),
            D::F64,
            T::F64(vec![9_007_199_254_740_992.0]),
        ),
        (T::U8(vec![0, 255]), D::I16, T::I16(vec![0, 255])),
        (T::I8(vec![-128, 127]), D::I64, T::I64(vec![-128, 127])),
        (
            T::U32(vec![u32::MAX]),
            D::U64,
            T::U64(vec![u64::from(u32::MAX)]),
        ),
        (T::U64(vec![u64::MAX]), D::U64, T::U64(vec![u64::MAX])),
        (T::F32(vec![1.5, -0.25]), D::F64, T::F64(vec![1.5, -0.25])),
        (
            T::F64(vec![0.5, 1e30_f32 as f64]),
            D::F32,
            T::F32(vec![0.5, 1e30]),
        ),
        (T::F32(vec![3.0, -7.0]), D::I32, T::I32(vec![3, -7])),
        (T::F64(vec![255.0]), D::U8, T::U8(vec![255])),
        (T::F16(vec![f16::from_f32(0.5)]), D::F32, T::F32(vec![0.5])),
        (
            T::F32(vec![0.5, 65504.0]),
            D::F16,
            T::F16(vec![f16::from_f32(0.5), f16::MAX]),
        ),
        (
            T::I32(vec![2048]),
            D::F16,
            T::F16(vec![f16::from_f32(2048.0)]),
        ),
        (
            T::F32(vec![f32::INFINITY]),
            D::F64,
            T::F64(vec![f64::INFINITY]),
        ),
    ];
    for (from, to, want) in ok {
        assert_eq!(
            conv(from.clone(), to).as_ref(),
            Ok(&want),
            "{from:?} -> {to}"
        );
    }

    let lossy = [
        (T::I64(vec![1, 16_777_217]), D::F32, 1),
        (T::I64(vec![(1 << 53) + 1]), D::F64, 0),
        (T::U64(vec![u64::MAX]), D::F64, 0),
        (T::U16(vec![1, 256]), D::U8, 1),
        (T::I8(vec![0, -1]), D::U64, 1),
        (T::I64(vec![i64::MIN]), D::I32, 0),
        (T::F32(vec![1.0, 1.5]), D::I32, 1),
        (T::F32(vec![f32::NAN]), D::I64, 0),
        (T::F32(vec![f32::INFINITY]), D::I64, 0),
        (T::F64(vec![256.0]), D::U8, 0),
        (T::F64(vec![9_223_372_036_854_775_808.0]), D::I64, 0),
        (T::F64(vec![0.1]), D::F32, 0),
        (T::F32(vec![0.1]), D::F16, 0),
        (T::F32(vec![70000.0]), D::F16, 0),
        (T::I32(vec![2049]), D::F16, 0),
    ];
    for (from, to, index) in lossy {
        assert_eq!(lossy_at(conv(from.clone(), to)), index, "{from:?} -> {to}");
    }

    for (from, to) in [
        (T::Bool(vec![true]), D::U8),
        (T::U8(vec![1]), D::Bool),
        (T::Bytes(vec![b"1".to_vec()]), D::I32),
        (T::F32(vec![1.0]), D::Bytes),
        (T::Bool(vec![]), D::Bytes),
    ] {
        assert_eq!(
            conv(from.clone(), to),
            Err(ConversionDetail::Incompatible),
            "{from:?} -> {to}"
        );
    }
}

#[test]
fn every_numeric_pair_converts_small_integers() {
    let numeric = DataType::ALL
        .into_iter()
        .filter(|d| !matches!(d, DataType::Bool | DataType::Bytes));
    for from in numeric.clone() {
        let source = convert_data(TensorData::U8(vec![0, 1, 42, 127]), from)
            .expect("small ints fit everywhere");
        for to in numeric.clone() {
            let converted = convert_data(source.clone(), to).expect("small ints fit everywhere");
            assert_eq!(converted.datatype(), to);
            assert_eq!(
                convert_data(converted, DataType::U8),
                Ok(TensorData::U8(vec![0, 1, 42, 127])),
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn conversion_error_names_tensor_types_and_value() {
    let t = Tensor::new("ids", vec![2], TensorData::I64(vec![1, 16_777_217])).expect("shape fits");
    let err = convert_tensor(t, DataType::F32)
        .expect_err("not exact in FP32")
        .to_string();
    assert!(err.contains("input `ids`"), "{err}");
    assert!(err.contains("INT64") && err.contains("FP32"), "{err}");
    assert!(err.contains("element 1 (16777217)"), "{err}");
}
