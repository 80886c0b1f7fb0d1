//! V2 codec tests: round trips (JSON, binary, JSON vs binary) and every rejected input.

use half::f16;
use proptest::prelude::*;

use super::*;
use crate::protocol::testing::{arb_tensors, message, meta, one_input, spec, spec_of, tensor};
use crate::protocol::{DataType, TensorData};

fn decode(body: &str, meta: &ModelMetadata) -> Result<ValidInferRequest, ProtocolError> {
    decode_request(body.as_bytes(), None, meta, &Limits::default())
}

fn decode_encoded(
    encoded: &EncodedBody,
    meta: &ModelMetadata,
) -> Result<ValidInferRequest, ProtocolError> {
    decode_request(&encoded.body, encoded.header_len, meta, &Limits::default())
}

/// A one-input request body for model [`one_input`] with the given fields of input `x`.
fn x_request(fields: &str) -> String {
    format!(r#"{{"inputs":[{{"name":"x",{fields}}}]}}"#)
}

fn model_for(tensors: &[Tensor], dynamic: u8) -> ModelMetadata {
    meta(
        tensors.iter().map(|t| spec_of(t, dynamic)).collect(),
        vec![spec("out", DataType::F32, &[-1])],
    )
}

proptest! {
    #[test]
    fn json_request_round_trips(tensors in arb_tensors(true), dynamic in any::<u8>()) {
        let model = model_for(&tensors, dynamic);
        let encoded = encode_request(Some("req-1"), &tensors, false);
        prop_assert_eq!(encoded.header_len, None);
        let decoded = decode_encoded(&encoded, &model).expect("a request we encoded decodes");
        prop_assert_eq!(decoded.inputs, tensors);
        prop_assert_eq!(decoded.id.as_deref(), Some("req-1"));
    }

    #[test]
    fn binary_request_round_trips(tensors in arb_tensors(false), dynamic in any::<u8>()) {
        let model = model_for(&tensors, dynamic);
        let encoded = encode_request(None, &tensors, true);
        let json_len = encoded.header_len.expect("binary data follows the JSON");
        prop_assert!(serde_json::from_slice::<Value>(&encoded.body[..json_len]).is_ok());
        let decoded = decode_encoded(&encoded, &model).expect("a request we encoded decodes");
        prop_assert_eq!(decoded.inputs, tensors);
    }

    #[test]
    fn json_and_binary_forms_decode_alike(tensors in arb_tensors(true)) {
        let model = model_for(&tensors, 0);
        let json = decode_encoded(&encode_request(None, &tensors, false), &model).expect("json decodes");
        let binary = decode_encoded(&encode_request(None, &tensors, true), &model).expect("binary decodes");
        prop_assert_eq!(json.inputs, binary.inputs);
    }

    #[test]
    fn response_round_trips(tensors in arb_tensors(false), binary_mask in any::<u8>()) {
        // Outputs that go as JSON must carry UTF-8 BYTES, which the strategy only gives to
        // some: make the non-UTF-8 ones binary.
        let model = meta(vec![], tensors.iter().map(|t| spec_of(t, 0)).collect());
        let selection = OutputSelection {
            outputs: tensors
                .iter()
                .enumerate()
                .map(|(index, t)| {
                    let utf8 = match t.data() {
                        TensorData::Bytes(v) => v.iter().all(|e| std::str::from_utf8(e).is_ok()),
                        _ => true,
                    };
                    SelectedOutput { name: t.name().to_owned(), index, binary: !utf8 || binary_mask & (1 << index) != 0 }
                })
                .collect(),
        };
        let encoded = encode_response(&model.name, Some("3"), Some("id-9"), tensors.clone(), &selection);
        prop_assert_eq!(encoded.header_len.is_some(), selection.any_binary());
        let decoded = decode_response(&encoded.body, encoded.header_len, &Limits::default()).expect("decodes");
        prop_assert_eq!(decoded.outputs, tensors);
        prop_assert_eq!(decoded.model_name, "m");
        prop_assert_eq!(decoded.model_version.as_deref(), Some("3"));
        prop_assert_eq!(decoded.id.as_deref(), Some("id-9"));
    }
}

#[test]
fn datatype_may_follow_data_and_data_may_be_nested() {
    let model = one_input(DataType::F32);
    let body = r#"{"inputs":[{"data":[[1,2.5,-3e2],[4,5,6]],"name":"x","shape":[2,3],"datatype":"FP32"}]}"#;
    let request = decode(body, &model).expect("valid request");
    assert_eq!(
        request.inputs,
        vec![tensor(
            "x",
            &[2, 3],
            TensorData::F32(vec![1.0, 2.5, -300.0, 4.0, 5.0, 6.0])
        )]
    );
    assert_eq!(request.outputs, OutputSelection::all(&model, false));
}

#[test]
fn floats_parse_correctly_rounded() {
    let model = meta(vec![spec("x", DataType::F64, &[2])], vec![]);
    // serde_json's default ("best effort") float parser reads the first one an ULP off; it
    // misreads about 30% of the shortest texts of random f64 values.
    let body = x_request(
        r#""shape":[2],"datatype":"FP64","data":[1.0715660391465826e-75,0.30000000000000004]"#,
    );
    let request = decode(&body, &model).expect("valid");
    assert_eq!(
        request.inputs[0].data(),
        &TensorData::F64(vec![1.0715660391465826e-75, 0.30000000000000004])
    );
}

#[test]
fn every_datatype_accepts_its_json_values() {
    let cases: [(DataType, &str, TensorData); 13] = [
        (
            DataType::Bool,
            "[true,false,true]",
            TensorData::Bool(vec![true, false, true]),
        ),
        (DataType::U8, "[0,255,1.0]", TensorData::U8(vec![0, 255, 1])),
        (
            DataType::U16,
            "[0,65535,-0]",
            TensorData::U16(vec![0, 65535, 0]),
        ),
        (
            DataType::U32,
            "[0,4294967295,1e3]",
            TensorData::U32(vec![0, u32::MAX, 1000]),
        ),
        (
            DataType::U64,
            "[0,18446744073709551615,7]",
            TensorData::U64(vec![0, u64::MAX, 7]),
        ),
        (
            DataType::I8,
            "[-128,127,0]",
            TensorData::I8(vec![-128, 127, 0]),
        ),
        (
            DataType::I16,
            "[-32768,32767,2]",
            TensorData::I16(vec![i16::MIN, i16::MAX, 2]),
        ),
        (
            DataType::I32,
            "[-2147483648,2147483647,3]",
            TensorData::I32(vec![i32::MIN, i32::MAX, 3]),
        ),
        (
            DataType::I64,
            "[-9223372036854775808,9223372036854775807,4]",
            TensorData::I64(vec![i64::MIN, i64::MAX, 4]),
        ),
        (
            DataType::F16,
            "[0.5,-65504,1]",
            TensorData::F16(vec![f16::from_f32(0.5), f16::MIN, f16::ONE]),
        ),
        (
            DataType::F32,
            "[0.1,-1,3.4028235e38]",
            TensorData::F32(vec![0.1, -1.0, f32::MAX]),
        ),
        (
            DataType::F64,
            "[0.1,-1,1e308]",
            TensorData::F64(vec![0.1, -1.0, 1e308]),
        ),
        (
            DataType::Bytes,
            r#"["a","\u00e9\n",""]"#,
            TensorData::Bytes(vec![b"a".to_vec(), "é\n".as_bytes().to_vec(), vec![]]),
        ),
    ];
    for (datatype, data, want) in cases {
        let model = meta(vec![spec("x", datatype, &[3])], vec![]);
        let body = x_request(&format!(
            r#""shape":[3],"datatype":"{datatype}","data":{data}"#
        ));
        let request = decode(&body, &model).unwrap_or_else(|e| panic!("{datatype}: {e}"));
        assert_eq!(request.inputs[0].data(), &want, "{datatype}");
    }
}

#[test]
fn request_datatype_converts_to_the_model_datatype() {
    let model = one_input(DataType::F32);
    let body = x_request(r#""shape":[1,3],"datatype":"INT64","data":[1,-2,16777216]"#);
    let request = decode(&body, &model).expect("exact in FP32");
    assert_eq!(
        request.inputs[0].data(),
        &TensorData::F32(vec![1.0, -2.0, 16_777_216.0])
    );

    let body = x_request(r#""shape":[1,3],"datatype":"INT64","data":[1,16777217,3]"#);
    let err = message(decode(&body, &model));
    assert!(
        err.contains("input `x`")
            && err.contains("INT64")
            && err.contains("FP32")
            && err.contains("16777217"),
        "{err}"
    );

    let body = x_request(r#""shape":[1,3],"datatype":"BOOL","data":[true,false,true]"#);
    let err = message(decode(&body, &model));
    assert!(
        err.contains("cannot convert BOOL to the model's FP32"),
        "{err}"
    );
}

/// Each rejected request, and words its message must contain.
#[test]
fn bad_requests_are_rejected_with_clear_messages() {
    let model = one_input(DataType::F32);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (x_request(r#""shape":[1,3],"datatype":"FP8","data":[1,2,3]"#), vec!["input `x`", "unknown datatype `FP8`"]),
        (r#"{"inputs":[{"name":"z","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#.into(), vec!["unknown input `z`", "[`x`]"]),
        (r#"{"inputs":[]}"#.into(), vec!["missing input `x`"]),
        (
            r#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]},{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#.into(),
            vec!["input `x` is given more than once"],
        ),
        (x_request(r#""shape":[3],"datatype":"FP32","data":[1,2,3]"#), vec!["input `x`", "rank 1", "rank 2"]),
        (x_request(r#""shape":[1,4],"datatype":"FP32","data":[1,2,3,4]"#), vec!["input `x`", "has 4 at dimension 1 but the model expects 3"]),
        (x_request(r#""shape":[-1,3],"datatype":"FP32","data":[1,2,3]"#), vec!["input `x`", "negative dimension -1"]),
        (x_request(r#""shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5]"#), vec!["input `x`", "shape [2, 3] has 6 elements but data has 5"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3,4]"#), vec!["input `x`", "has 3 elements but data has 4"]),
        (x_request(r#""shape":[1,3],"datatype":"UINT8","data":[1,300,3]"#), vec!["input `x`", "element 1", "300 is out of range for UINT8"]),
        (x_request(r#""shape":[1,3],"datatype":"INT32","data":[1,1.5,3]"#), vec!["input `x`", "element 1", "1.5 is not an integer"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,"a",3]"#), vec!["input `x`", "element 1", "BYTES where FP32 expected"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[true,2,3]"#), vec!["input `x`", "element 0", "BOOL where FP32 expected"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,null,3]"#), vec!["input `x`", "null where FP32 expected"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,{"a":1},3]"#), vec!["input `x`", "an object where FP32 expected"]),
        (x_request(r#""shape":[1,3],"datatype":"BYTES","data":["a",2,"c"]"#), vec!["input `x`", "a number where BYTES expected"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,1e39,3]"#), vec!["input `x`", "1e39 is out of range for FP32"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,NaN,3]"#), vec!["malformed JSON", "line 1 column"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,Infinity,3]"#), vec!["malformed JSON", "line 1 column"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32""#), vec!["input `x`", "neither `data` nor `parameters.binary_data_size`"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3],"parameters":{"binary_data_size":12}"#), vec!["input `x`", "both"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#).replace("]}", r#"],"outputs":[{"name":"q"}]}"#), vec!["unknown output `q`", "[`y`]"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#).replace("]}", r#"],"outputs":[{"name":"y"},{"name":"y"}]}"#), vec!["output `y`", "more than once"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#).replace("]}", r#"],"parameters":{"binary_data_output":"yes"}}"#), vec!["request", "binary_data_output", "a boolean"]),
        (x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#).replace("]}", r#"],"outputs":[{"name":"y","parameters":{"binary_data":1}}]}"#), vec!["output `y`", "binary_data", "a boolean"]),
        (r#"{"inputs":[{"name":"x","shape":[1,3],"data":[1,2,3]}]}"#.into(), vec!["invalid request body", "missing field `datatype`"]),
        (r#"{"inputs":{"name":"x"}}"#.into(), vec!["invalid request body"]),
        (r#"{"inputs":[{"name":"x","#.into(), vec!["malformed JSON", "EOF"]),
        ("".into(), vec!["request body is empty"]),
        ("  \n".into(), vec!["request body is empty"]),
    ];
    for (body, words) in cases {
        let err = message(decode(&body, &model));
        for word in words {
            assert!(err.contains(word), "{body}\n  -> {err}\n  lacks {word:?}");
        }
    }
}

#[test]
fn element_count_limits_and_overflow() {
    let model = meta(vec![spec("x", DataType::U8, &[-1, -1])], vec![]);
    let limits = Limits {
        max_elements: 4,
        max_inputs: 1,
    };
    let body = x_request(r#""shape":[2,3],"datatype":"UINT8","data":[1,2,3,4,5,6]"#);
    let err = message(decode_request(body.as_bytes(), None, &model, &limits));
    assert!(
        err.contains("input `x`") && err.contains("6 elements exceed the limit of 4"),
        "{err}"
    );

    let body = x_request(r#""shape":[4294967296,4294967296],"datatype":"UINT8","data":[1]"#);
    let err = message(decode(&body, &model));
    assert!(
        err.contains("input `x`") && err.contains("overflows"),
        "{err}"
    );

    let two = r#"{"inputs":[{"name":"x","shape":[1,1],"datatype":"UINT8","data":[1]},{"name":"y","shape":[1],"datatype":"UINT8","data":[1]}]}"#;
    let err = message(decode_request(two.as_bytes(), None, &model, &limits));
    assert!(err.contains("2 inputs, more than the limit of 1"), "{err}");
}

#[test]
fn deep_nesting_is_a_clean_error() {
    let model = one_input(DataType::F32);
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    // Inside `data`: serde_json skips the raw value iteratively; our scanner bounds the depth.
    let body = x_request(&format!(r#""shape":[1,3],"datatype":"FP32","data":{deep}"#));
    let err = message(decode(&body, &model));
    assert!(
        err.contains("input `x`") && err.contains("nests arrays") && err.contains("limit of 32"),
        "{err}"
    );
    // Inside `parameters`, and as the whole body: serde_json's recursion limit.
    let body = x_request(&format!(
        r#""shape":[1,3],"datatype":"FP32","data":[1,2,3],"parameters":{{"p":{deep}}}"#
    ));
    let err = message(decode(&body, &model));
    assert!(err.contains("recursion limit exceeded"), "{err}");
    // As the whole body, and in a field serde skips: clean errors, whatever they say.
    let err = message(decode(&deep, &model));
    assert!(err.contains("invalid request body"), "{err}");
    let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let err = message(decode(&objects, &model));
    assert!(err.contains("missing field `inputs`"), "{err}");
    let body = format!(r#"{{"inputs":[{deep}]}}"#);
    let err = message(decode(&body, &model));
    assert!(err.contains("invalid request body"), "{err}");
}

/// `{json}` + binary parts, with the header length.
fn binary_body(json: &str, parts: &[&[u8]]) -> (Vec<u8>, usize) {
    let mut body = json.as_bytes().to_vec();
    for p in parts {
        body.extend_from_slice(p);
    }
    (body, json.len())
}

#[test]
fn binary_inputs_decode_little_endian() {
    let model = meta(
        vec![
            spec("a", DataType::F32, &[2]),
            spec("b", DataType::Bytes, &[2]),
            spec("c", DataType::Bool, &[2]),
        ],
        vec![],
    );
    let json = r#"{"inputs":[
        {"name":"b","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}},
        {"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
        {"name":"c","shape":[2],"datatype":"BOOL","data":[true,false]}]}"#;
    let floats: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let strings = b"\x02\x00\x00\x00hi\x01\x00\x00\x00!";
    let (body, header_len) = binary_body(json, &[strings, &floats]);
    let request =
        decode_request(&body, Some(header_len), &model, &Limits::default()).expect("valid");
    assert_eq!(
        request.inputs,
        vec![
            tensor("a", &[2], TensorData::F32(vec![1.5, -2.0])),
            tensor(
                "b",
                &[2],
                TensorData::Bytes(vec![b"hi".to_vec(), b"!".to_vec()])
            ),
            tensor("c", &[2], TensorData::Bool(vec![true, false])),
        ]
    );
}

#[test]
fn bad_binary_requests_are_rejected() {
    let model = meta(
        vec![
            spec("a", DataType::F32, &[2]),
            spec("s", DataType::Bytes, &[-1]),
        ],
        vec![],
    );
    let a = |size: usize| {
        format!(
            r#"{{"name":"a","shape":[2],"datatype":"FP32","parameters":{{"binary_data_size":{size}}}}}"#
        )
    };
    let s = |size: usize, n: usize| {
        format!(
            r#"{{"name":"s","shape":[{n}],"datatype":"BYTES","parameters":{{"binary_data_size":{size}}}}}"#
        )
    };
    let req = |inputs: &[String]| format!(r#"{{"inputs":[{}]}}"#, inputs.join(","));
    let eight = [0u8; 8];
    let cases: Vec<(Vec<u8>, Option<usize>, Vec<&str>)> = vec![
        {
            let json = req(&[a(8), s(0, 0)]);
            (
                json.as_bytes().to_vec(),
                Some(json.len() + 1),
                vec![
                    "Inference-Header-Content-Length is",
                    "but the body has only",
                ],
            )
        },
        {
            let (b, n) = binary_body(&req(&[a(8), s(0, 0)]), &[&eight, b"xx"]);
            (
                b,
                Some(n),
                vec!["binary_data_size values sum to 8 bytes but 10 bytes follow"],
            )
        },
        {
            let json = req(&[a(8), s(0, 0)]);
            (
                json.as_bytes().to_vec(),
                None,
                vec!["sum to 8 bytes but 0 bytes follow"],
            )
        },
        {
            let (b, n) = binary_body(&req(&[a(7), s(0, 0)]), &[&eight[..7]]);
            (
                b,
                Some(n),
                vec![
                    "input `a`",
                    "binary_data_size 7 is not a multiple of the 4-byte FP32 element size",
                ],
            )
        },
        {
            let (b, n) = binary_body(&req(&[a(4), s(0, 0)]), &[&eight[..4]]);
            (
                b,
                Some(n),
                vec!["input `a`", "shape [2] has 2 elements but data has 1"],
            )
        },
        {
            let (b, n) = binary_body(&req(&[a(8), s(6, 1)]), &[&eight, b"\x05\x00\x00\x00ab"]);
            (
                b,
                Some(n),
                vec![
                    "input `s`",
                    "BYTES element 0 needs 9 bytes at offset 0 but only 6 remain",
                ],
            )
        },
        {
            let (b, n) = binary_body(&req(&[a(8), s(2, 1)]), &[&eight, b"\x05\x00"]);
            (b, Some(n), vec!["input `s`", "needs 4 bytes"])
        },
        {
            let json = req(&[a(8), s(0, 0)])
                .replace(r#""binary_data_size":8"#, r#""binary_data_size":-8"#);
            let (b, n) = binary_body(&json, &[&eight]);
            (
                b,
                Some(n),
                vec![
                    "input `a`",
                    "binary_data_size",
                    "a non-negative integer, got -8",
                ],
            )
        },
    ];
    for (body, header_len, words) in cases {
        let err = message(decode_request(
            &body,
            header_len,
            &model,
            &Limits::default(),
        ));
        for word in words {
            assert!(
                err.contains(word),
                "{}\n  -> {err}\n  lacks {word:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    let bools = meta(vec![spec("c", DataType::Bool, &[2])], vec![]);
    let (body, n) = binary_body(
        r#"{"inputs":[{"name":"c","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}]}"#,
        &[b"\x01\x02"],
    );
    let err = message(decode_request(&body, Some(n), &bools, &Limits::default()));
    assert!(
        err.contains("input `c`: element 1: BOOL byte 2 is neither 0 nor 1"),
        "{err}"
    );
}

fn two_output_model() -> ModelMetadata {
    meta(
        vec![spec("x", DataType::F32, &[-1, 3])],
        vec![
            spec("probs", DataType::F32, &[-1, 2]),
            spec("label", DataType::I64, &[-1]),
        ],
    )
}

fn two_outputs() -> Vec<Tensor> {
    vec![
        tensor("probs", &[1, 2], TensorData::F32(vec![0.25, 0.75])),
        tensor("label", &[1], TensorData::I64(vec![1])),
    ]
}

fn select(extra: &str) -> OutputSelection {
    let body = x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#)
        .replace("]}", &format!("]{extra}}}"));
    decode(&body, &two_output_model())
        .expect("valid request")
        .outputs
}

#[test]
fn json_response_layout() {
    let selection = select("");
    let encoded = encode_response("m", None, Some("42"), two_outputs(), &selection);
    assert_eq!(encoded.header_len, None);
    assert_eq!(
        std::str::from_utf8(&encoded.body).expect("JSON is UTF-8"),
        r#"{"model_name":"m","id":"42","outputs":[{"name":"probs","datatype":"FP32","shape":[1,2],"data":[0.25,0.75]},{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}"#
    );
}

#[test]
fn output_selection_and_binary_parameters() {
    // Only `label`, in JSON.
    let selection = select(r#","outputs":[{"name":"label"}]"#);
    let encoded = encode_response("m", Some("1"), None, two_outputs(), &selection);
    let body = std::str::from_utf8(&encoded.body).expect("UTF-8");
    assert_eq!(
        body,
        r#"{"model_name":"m","model_version":"1","outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}"#
    );

    // `probs` binary by its own parameter, `label` JSON.
    let selection = select(
        r#","outputs":[{"name":"probs","parameters":{"binary_data":true}},{"name":"label"}]"#,
    );
    let encoded = encode_response("m", None, None, two_outputs(), &selection);
    let json_len = encoded.header_len.expect("binary output");
    let json = std::str::from_utf8(&encoded.body[..json_len]).expect("UTF-8");
    assert_eq!(
        json,
        r#"{"model_name":"m","outputs":[{"name":"probs","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}"#
    );
    let probs: Vec<u8> = [0.25f32, 0.75]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    assert_eq!(&encoded.body[json_len..], probs.as_slice());

    // Everything binary by the request-level parameter, except `label` turned off explicitly;
    // binary data follows in response order.
    let selection = select(
        r#","parameters":{"binary_data_output":true},"outputs":[{"name":"label"},{"name":"probs"}]"#,
    );
    assert!(selection.outputs().iter().all(|o| o.binary));
    let encoded = encode_response("m", None, None, two_outputs(), &selection);
    let json_len = encoded.header_len.expect("binary outputs");
    let mut tail = 1i64.to_le_bytes().to_vec();
    tail.extend_from_slice(&probs);
    assert_eq!(&encoded.body[json_len..], tail.as_slice());
    let selection = select(
        r#","parameters":{"binary_data_output":true},"outputs":[{"name":"label","parameters":{"binary_data":false}}]"#,
    );
    assert!(!selection.any_binary());
}

#[test]
fn non_finite_outputs_are_written_as_null() {
    let outputs = vec![tensor("y", &[2], TensorData::F32(vec![f32::NAN, 1.0]))];
    let model = meta(vec![], vec![spec("y", DataType::F32, &[2])]);
    let encoded = encode_response(
        "m",
        None,
        None,
        outputs,
        &OutputSelection::all(&model, false),
    );
    let body = std::str::from_utf8(&encoded.body).expect("UTF-8");
    assert!(body.contains(r#""data":[null,1.0]"#), "{body}");
    assert!(serde_json::from_str::<Value>(body).is_ok());
}

#[test]
fn request_id_and_parameters_are_kept() {
    let body = x_request(r#""shape":[1,3],"datatype":"FP32","data":[1,2,3]"#).replace(
        r#"{"inputs""#,
        r#"{"id":"abc","parameters":{"priority":2},"inputs""#,
    );
    let request = decode(&body, &one_input(DataType::F32)).expect("valid");
    assert_eq!(request.id.as_deref(), Some("abc"));
    assert_eq!(
        request.parameters.and_then(|p| p.get("priority").cloned()),
        Some(Value::from(2))
    );
}

#[test]
fn metadata_json() {
    let model = two_output_model();
    let body = model_metadata(&model, &["1".to_owned()]);
    assert_eq!(
        std::str::from_utf8(&body).expect("UTF-8"),
        r#"{"name":"m","versions":["1"],"platform":"test","inputs":[{"name":"x","datatype":"FP32","shape":[-1,3]}],"outputs":[{"name":"probs","datatype":"FP32","shape":[-1,2]},{"name":"label","datatype":"INT64","shape":[-1]}]}"#
    );
    let body = model_metadata(&model, &[]);
    assert!(
        !std::str::from_utf8(&body)
            .expect("UTF-8")
            .contains("versions")
    );
}
