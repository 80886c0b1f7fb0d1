//! V1 codec tests: row and columnar requests, predictions, round trips, rejected inputs.

use proptest::prelude::*;

use super::*;
use crate::model::TensorSpec;
use crate::protocol::testing::{arb_data, arb_datatype, message, meta, one_input, spec, tensor};
use crate::protocol::{DataType, TensorData};

fn decode(body: &str, meta: &ModelMetadata) -> Result<ValidInferRequest, ProtocolError> {
    decode_request(body.as_bytes(), meta, &Limits::default())
}

/// Predictions sent back as instances.
fn as_instances(predictions: &bytes::Bytes) -> String {
    text(predictions).replacen(r#"{"predictions":"#, r#"{"instances":"#, 1)
}

fn text(bytes: &bytes::Bytes) -> &str {
    std::str::from_utf8(bytes).expect("JSON is UTF-8")
}

/// The spec a batched tensor satisfies, with a dynamic batch dimension.
fn batched_spec(t: &Tensor) -> TensorSpec {
    let mut shape: Vec<i64> = t
        .shape()
        .iter()
        .map(|&d| i64::try_from(d).expect("small dims"))
        .collect();
    shape[0] = -1;
    spec(t.name(), t.datatype(), &shape)
}

/// A tensor of `rows` rows of any datatype. Inner dimensions are at least 1, so that the JSON
/// nesting shows the rank.
fn arb_batch(name: &'static str, rows: usize) -> impl Strategy<Value = Tensor> {
    (arb_datatype(), proptest::collection::vec(1..=3usize, 0..=2)).prop_flat_map(
        move |(dt, inner)| {
            let mut shape = vec![rows];
            shape.extend(inner);
            arb_data(dt, shape.iter().product(), true).prop_map(move |data| {
                Tensor::new(name, shape.clone(), data).expect("length from the shape")
            })
        },
    )
}

proptest! {
    /// One output's predictions, sent back as instances, give the same tensor.
    #[test]
    fn single_output_round_trips(t in (1..=3usize).prop_flat_map(|rows| arb_batch("x", rows))) {
        let body = encode_response(vec![t.clone()]);
        let model = meta(vec![batched_spec(&t)], vec![]);
        let request = decode(&as_instances(&body), &model).expect("predictions decode as instances");
        prop_assert_eq!(request.inputs, vec![t]);
    }

    /// Several outputs' row objects, sent back as instances, give the same tensors.
    #[test]
    fn several_outputs_round_trip(
        ts in (1..=3usize).prop_flat_map(|rows| (arb_batch("a", rows), arb_batch("b", rows)))
    ) {
        let (a, b) = ts;
        let body = encode_response(vec![a.clone(), b.clone()]);
        let model = meta(vec![batched_spec(&a), batched_spec(&b)], vec![]);
        let request = decode(&as_instances(&body), &model).expect("row objects decode as instances");
        prop_assert_eq!(request.inputs, vec![a, b]);
    }
}

#[test]
fn instances_rows_for_a_single_input() {
    let model = one_input(DataType::F32);
    let request = decode(r#"{"instances": [[1, 2, 3.5], [4, 5, 6]]}"#, &model).expect("valid");
    assert_eq!(
        request.inputs,
        vec![tensor(
            "x",
            &[2, 3],
            TensorData::F32(vec![1.0, 2.0, 3.5, 4.0, 5.0, 6.0])
        )]
    );
    assert_eq!(request.outputs, OutputSelection::all(&model, false));

    let model = meta(vec![spec("s", DataType::Bytes, &[-1])], vec![]);
    let request = decode(r#"{"instances": ["a", "b"]}"#, &model).expect("valid");
    assert_eq!(
        request.inputs,
        vec![tensor(
            "s",
            &[2],
            TensorData::Bytes(vec![b"a".to_vec(), b"b".to_vec()])
        )]
    );
}

#[test]
fn instances_objects_for_several_inputs() {
    let model = meta(
        vec![
            spec("ids", DataType::I64, &[-1, 2]),
            spec("w", DataType::F32, &[-1]),
        ],
        vec![],
    );
    let body = r#"{"instances": [{"w": 0.5, "ids": [1, 2]}, {"ids": [3, 4], "w": 1}]}"#;
    let request = decode(body, &model).expect("valid");
    assert_eq!(
        request.inputs,
        vec![
            tensor("ids", &[2, 2], TensorData::I64(vec![1, 2, 3, 4])),
            tensor("w", &[2], TensorData::F32(vec![0.5, 1.0])),
        ]
    );
}

#[test]
fn inputs_columnar_and_plain() {
    let model = meta(
        vec![
            spec("ids", DataType::I64, &[-1, 2]),
            spec("w", DataType::F32, &[-1]),
        ],
        vec![],
    );
    let request = decode(r#"{"inputs": {"ids": [[1, 2]], "w": [7]}}"#, &model).expect("valid");
    assert_eq!(
        request.inputs,
        vec![
            tensor("ids", &[1, 2], TensorData::I64(vec![1, 2])),
            tensor("w", &[1], TensorData::F32(vec![7.0]))
        ]
    );
    let request = decode(r#"{"inputs": [[1, 2, 3]]}"#, &one_input(DataType::F64)).expect("valid");
    assert_eq!(
        request.inputs,
        vec![tensor("x", &[1, 3], TensorData::F64(vec![1.0, 2.0, 3.0]))]
    );
}

#[test]
fn predictions_layout() {
    let one = encode_response(vec![tensor(
        "y",
        &[2, 2],
        TensorData::F32(vec![0.25, 0.75, 1.0, 0.0]),
    )]);
    assert_eq!(text(&one), r#"{"predictions":[[0.25,0.75],[1.0,0.0]]}"#);
    let scalars = encode_response(vec![tensor("label", &[3], TensorData::I64(vec![2, 0, 1]))]);
    assert_eq!(text(&scalars), r#"{"predictions":[2,0,1]}"#);
    let rows = encode_response(vec![
        tensor(
            "probs",
            &[2, 2],
            TensorData::F32(vec![0.25, 0.75, 1.0, 0.0]),
        ),
        tensor(
            "label",
            &[2],
            TensorData::Bytes(vec![b"cat".to_vec(), vec![0xff]]),
        ),
    ]);
    assert_eq!(
        text(&rows),
        r#"{"predictions":[{"probs":[0.25,0.75],"label":"cat"},{"probs":[1.0,0.0],"label":"\ufffd"}]}"#.replace("\\ufffd", "\u{fffd}")
    );
    let unbatched = encode_response(vec![
        tensor("a", &[2], TensorData::U8(vec![1, 2])),
        tensor("b", &[1], TensorData::Bool(vec![true])),
    ]);
    assert_eq!(
        text(&unbatched),
        r#"{"predictions":{"a":[1,2],"b":[true]}}"#
    );
    assert_eq!(text(&encode_response(vec![])), r#"{"predictions":[]}"#);
}

#[test]
fn bad_v1_requests_are_rejected_with_clear_messages() {
    let single = one_input(DataType::F32);
    let several = meta(
        vec![
            spec("a", DataType::F32, &[-1]),
            spec("b", DataType::U8, &[-1]),
        ],
        vec![],
    );
    let cases: Vec<(&str, &ModelMetadata, Vec<&str>)> = vec![
        (
            r#"{"instances": [[1, 2, 3], [4, 5]]}"#,
            &single,
            vec!["input `x`", "ragged", "lengths 3 and 2"],
        ),
        (
            r#"{"instances": [[1, 2, 3], 4]}"#,
            &single,
            vec!["input `x`", "ragged"],
        ),
        (
            r#"{"instances": [[1, 2], [3, 4]]}"#,
            &single,
            vec!["input `x`", "has 2 at dimension 1 but the model expects 3"],
        ),
        (
            r#"{"instances": [1, 2, 3]}"#,
            &single,
            vec!["input `x`", "rank 1", "rank 2"],
        ),
        (
            r#"{"instances": [[1, "a", 3]]}"#,
            &single,
            vec!["input `x`", "element 1", "BYTES where FP32 expected"],
        ),
        (
            r#"{"instances": [[1, 2, NaN]]}"#,
            &single,
            vec!["malformed JSON", "line 1 column"],
        ),
        (
            r#"{"instances": {"x": 1}}"#,
            &single,
            vec!["`instances` must be a JSON array"],
        ),
        (
            r#"{"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}"#,
            &single,
            vec!["both `instances` and `inputs`"],
        ),
        (
            r#"{"signature_name": "serving_default"}"#,
            &single,
            vec!["expected `{\"instances\": [...]}`"],
        ),
        ("", &single, vec!["request body is empty"]),
        (
            r#"{"instances": [[1], [2]]}"#,
            &several,
            vec![
                "model `m` has inputs [`a`, `b`]",
                "object keyed by input name",
            ],
        ),
        (
            r#"{"instances": [{"a": 1, "b": 2}, {"a": 1}]}"#,
            &several,
            vec!["instance 1 has no input `b`"],
        ),
        (
            r#"{"instances": [{"a": 1, "b": 2, "c": 3}]}"#,
            &several,
            vec!["unknown input `c`", "[`a`, `b`]"],
        ),
        (
            r#"{"instances": [{"a": 1, "b": 256}]}"#,
            &several,
            vec!["input `b`", "256 is out of range for UINT8"],
        ),
        (
            r#"{"instances": [{"a": 1, "b": 2}, 3]}"#,
            &several,
            vec!["must all be objects"],
        ),
        (
            r#"{"inputs": {"a": [1]}}"#,
            &several,
            vec!["missing input `b`"],
        ),
        (
            r#"{"inputs": [1, 2]}"#,
            &several,
            vec!["`inputs` must be an object keyed by input name"],
        ),
    ];
    for (body, model, words) in cases {
        let err = message(decode(body, model));
        for word in words {
            assert!(err.contains(word), "{body}\n  -> {err}\n  lacks {word:?}");
        }
    }
}

#[test]
fn v1_limits_and_deep_nesting() {
    let model = meta(vec![spec("x", DataType::U8, &[-1])], vec![]);
    let limits = Limits {
        max_elements: 3,
        max_inputs: 64,
    };
    let err = message(decode_request(
        br#"{"instances": [1, 2, 3, 4]}"#,
        &model,
        &limits,
    ));
    assert!(
        err.contains("input `x`") && err.contains("exceed the limit of 3"),
        "{err}"
    );

    let deep = format!(
        r#"{{"instances": {}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = message(decode(&deep, &model));
    assert!(
        err.contains("input `x`") && err.contains("limit of 32"),
        "{err}"
    );
    let deep = format!(
        r#"{{"inputs": {{"x": {}1{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = message(decode(&deep, &model));
    assert!(
        err.contains("input `x`") && err.contains("limit of 32"),
        "{err}"
    );
}
