use std::sync::Arc;

use proptest::prelude::*;

use super::*;

/// The one-pass reader's features, as series.
fn one_pass(body: &str) -> Option<Vec<Series>> {
    let mut batch = Batch::default();
    fast::v2_features(body.as_bytes(), &mut Names::default(), &mut batch)?;
    Some(batch.to_series(&ModelMonitoring::default()))
}

/// The codec's features, as series.
fn codec(body: &str) -> Result<Vec<Series>, Unparsable> {
    let mut batch = Batch::default();
    codec_features(
        Protocol::V2,
        body.as_bytes(),
        None,
        &mut Names::default(),
        &mut batch,
    )?;
    Ok(batch.to_series(&ModelMonitoring::default()))
}

fn numbers(series: &[Series], name: &str) -> Vec<f64> {
    match series.iter().find(|s| &*s.name == name).map(|s| &s.values) {
        Some(Values::Numbers(v)) => v.clone(),
        other => panic!("no number series {name}: {other:?} in {series:?}"),
    }
}

fn classes(series: &[Series], name: &str) -> Vec<String> {
    match series.iter().find(|s| &*s.name == name).map(|s| &s.values) {
        Some(Values::Classes(v)) => v.clone(),
        other => panic!("no class series {name}: {other:?} in {series:?}"),
    }
}

#[test]
fn inference_paths() {
    assert_eq!(
        Protocol::of_inference_path("/v2/models/iris/infer"),
        Some(Protocol::V2)
    );
    assert_eq!(
        Protocol::of_inference_path("/v2/models/iris/versions/1/infer"),
        Some(Protocol::V2)
    );
    assert_eq!(
        Protocol::of_inference_path("/v1/models/iris:predict"),
        Some(Protocol::V1)
    );
    assert_eq!(Protocol::of_inference_path("/v2/models/iris/ready"), None);
    assert_eq!(Protocol::of_inference_path("/metrics"), None);
}

#[test]
fn v2_request_features_per_row_element() {
    let body = br#"{"inputs": [
        {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]},
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 40]},
        {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
    ], "outputs": [{"name": "label"}]}"#;
    let series = features(Protocol::V2, body, None).expect("valid");
    assert_eq!(series.len(), 5, "{series:?}");
    assert_eq!(
        numbers(&series, "input[0]"),
        vec![6.8f32 as f64, 6.0f32 as f64]
    );
    assert_eq!(
        numbers(&series, "input[3]"),
        vec![1.4f32 as f64, 1.6f32 as f64]
    );
    assert_eq!(numbers(&series, "age"), vec![30.0, 40.0]);
}

#[test]
fn v2_binary_request() {
    let tensor = Tensor::new("x", vec![2, 1], TensorData::F32(vec![1.5, 2.5])).expect("tensor");
    let encoded = v2::encode_request(None, &[tensor], true);
    let series = features(Protocol::V2, &encoded.body, encoded.header_len).expect("valid");
    assert_eq!(numbers(&series, "x[0]"), vec![1.5, 2.5]);
}

#[test]
fn v1_request_forms() {
    let rows = features(Protocol::V1, br#"{"instances": [[1, 2], [3, 4.5]]}"#, None).expect("rows");
    assert_eq!(numbers(&rows, "input[1]"), vec![2.0, 4.5]);
    let scalars = features(Protocol::V1, br#"{"instances": [1, 2, 3]}"#, None).expect("scalars");
    assert_eq!(numbers(&scalars, "input"), vec![1.0, 2.0, 3.0]);
    let named = features(
        Protocol::V1,
        br#"{"instances": [{"a": [1, 2], "b": 5}, {"a": [3, 4], "b": 6}]}"#,
        None,
    )
    .expect("named");
    assert_eq!(numbers(&named, "a[1]"), vec![2.0, 4.0]);
    assert_eq!(numbers(&named, "b"), vec![5.0, 6.0]);
    let columns = features(
        Protocol::V1,
        br#"{"inputs": {"a": [[1, 2], [3, 4]]}}"#,
        None,
    )
    .expect("columns");
    assert_eq!(numbers(&columns, "a[0]"), vec![1.0, 3.0]);
}

#[test]
fn unparsable_bodies_say_why() {
    let cases: &[(Protocol, &[u8], &str)] = &[
        (Protocol::V2, b"not json", "malformed_json"),
        (Protocol::V2, b"", "empty_body"),
        (
            Protocol::V2,
            br#"{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1]}]}"#,
            "data_length",
        ),
        (
            Protocol::V2,
            br#"{"inputs": [{"name": "x", "shape": [1], "datatype": "NOPE", "data": [1]}]}"#,
            "unknown_datatype",
        ),
        (
            Protocol::V1,
            br#"{"instances": [[1, 2], [3]]}"#,
            "malformed_data",
        ),
        (Protocol::V1, br#"{"rows": []}"#, "invalid_request"),
    ];
    for (protocol, body, want) in cases {
        let got = features(*protocol, body, None).expect_err("unparsable");
        assert_eq!(got, Unparsable(want), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn v2_response_outputs() {
    let config = ModelMonitoring {
        class_names: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
        argmax_outputs: vec!["probabilities".into()],
        ..ModelMonitoring::default()
    };
    let body = br#"{"model_name": "iris", "outputs": [
        {"name": "label", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "probabilities", "shape": [2, 3], "datatype": "FP32", "data": [0.1, 0.8, 0.1, 0.0, 0.2, 0.8]}
    ]}"#;
    let series = outputs(Protocol::V2, body, None, &config).expect("valid");
    assert_eq!(classes(&series, "label"), vec!["versicolor", "virginica"]);
    assert_eq!(
        classes(&series, "probabilities:argmax"),
        vec!["versicolor", "virginica"]
    );
    assert_eq!(
        numbers(&series, "probabilities[1]"),
        vec![0.8f32 as f64, 0.2f32 as f64]
    );
}

#[test]
fn v1_response_forms() {
    let config = ModelMonitoring::default();
    let ints = outputs(
        Protocol::V1,
        br#"{"predictions": [1, 0, 2]}"#,
        None,
        &config,
    )
    .expect("ints");
    assert_eq!(classes(&ints, "predictions"), vec!["1", "0", "2"]);
    let scores = outputs(
        Protocol::V1,
        br#"{"predictions": [[0.5, 1], [0.25, 2]]}"#,
        None,
        &config,
    )
    .expect("scores");
    assert_eq!(numbers(&scores, "predictions[0]"), vec![0.5, 0.25]);
    let labels = outputs(
        Protocol::V1,
        br#"{"predictions": ["cat", "dog"]}"#,
        None,
        &config,
    )
    .expect("labels");
    assert_eq!(classes(&labels, "predictions"), vec!["cat", "dog"]);
    let named = outputs(
        Protocol::V1,
        br#"{"predictions": [{"label": 1, "probabilities": [0.2, 0.8]}, {"label": 0, "probabilities": [0.9, 0.1]}]}"#,
        None,
        &config,
    )
    .expect("named");
    assert_eq!(classes(&named, "label"), vec!["1", "0"]);
    assert_eq!(numbers(&named, "probabilities[1]"), vec![0.8, 0.1]);
    for (body, want) in [
        (&br#"{"predictions": [[1, 2], [3]]}"#[..], "ragged"),
        (br#"{"predictions": [1, "a"]}"#, "mixed_types"),
        (br#"{"predictions": 3}"#, "invalid_response"),
        (br#"<html>"#, "malformed_json"),
    ] {
        let got = outputs(Protocol::V1, body, None, &config).expect_err("unparsable");
        assert_eq!(got, Unparsable(want), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn wide_rows_are_capped() {
    let data: Vec<f32> = (0..200).map(|i| i as f32).collect();
    let tensor = Tensor::new("emb", vec![1, 200], TensorData::F32(data)).expect("tensor");
    let encoded = v2::encode_request(None, &[tensor], false);
    let series = features(Protocol::V2, &encoded.body, None).expect("valid");
    assert_eq!(series.len(), MAX_SERIES);
}

/// The one-pass reader gives exactly what the codec gives, and takes only bodies it accepts.
#[test]
fn one_pass_v2_request_matches_the_codec() {
    let wide: Vec<String> = (0..3 * 100)
        .map(|i| format!("{}.{}e-1", i * 7 % 13, i % 10))
        .collect();
    let wide = wide.join(",");
    let nested: Vec<String> = (0..3)
        .map(|r| {
            let row: Vec<String> = (0..70).map(|j| format!("{}", r * 70 + j)).collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let nested = nested.join(",\n");
    let bodies = [
        format!(r#"{{"inputs":[{{"name":"x","shape":[3,100],"datatype":"FP32","data":[{wide}]}}]}}"#),
        format!(r#"{{"inputs":[{{"name":"x","shape":[3,100],"datatype":"FP64","data":[{wide}]}}]}}"#),
        format!(r#"{{"id":"1","inputs":[{{"datatype":"FP32","data":[{nested}],"shape":[3,70],"name":"n"}}],"outputs":[{{"name":"y"}}]}}"#),
        r#"{"inputs":[{"name":"v","shape":[3],"datatype":"FP32","data":[0.1,-2.5e3,3]},{"name":"m","shape":[1,2,2],"datatype":"FP64","data":[[1,2],[3,4]]}]}"#.to_owned(),
        r#"{"inputs":[{"name":"e","shape":[0,4],"datatype":"FP32","data":[]}]}"#.to_owned(),
        format!(r#"{{"inputs":[{{"name":"r","shape":[300],"datatype":"FP32","data":[{wide}]}}]}}"#),
    ];
    for body in &bodies {
        let fast = one_pass(body).unwrap_or_else(|| panic!("one pass takes {body}"));
        assert_eq!(Ok(fast), codec(body), "{body}");
    }
    // Bodies the codec rejects (an element out of FP32 range among the last of its row, which
    // the one pass reads exactly, see `skipped_columns_are_checked_loosely`; a count that does
    // not match the shape) or that the one pass leaves to it (an INT64 input).
    let many: Vec<String> = (0..70).map(|j| j.to_string()).collect();
    let overflow = format!("{},1e39", many.join(","));
    let others = [
        format!(
            r#"{{"inputs":[{{"name":"x","shape":[1,71],"datatype":"FP32","data":[{overflow}]}}]}}"#
        ),
        r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#.to_owned(),
        r#"{"inputs":[{"name":"a","shape":[1],"datatype":"INT64","data":[3]}]}"#.to_owned(),
    ];
    for body in &others {
        assert_eq!(one_pass(body), None, "{body}");
    }
    assert!(features(Protocol::V2, others[0].as_bytes(), None).is_err());
    assert!(features(Protocol::V2, others[1].as_bytes(), None).is_err());
    assert_eq!(
        numbers(
            &features(Protocol::V2, others[2].as_bytes(), None).expect("int"),
            "a"
        ),
        vec![3.0]
    );
}

#[test]
fn series_names_are_interned() {
    let body = br#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#;
    let mut names = Names::default();
    let mut read = || {
        let mut batch = Batch::default();
        features_into(Protocol::V2, body, None, &mut names, &mut batch).expect("valid");
        batch.to_series(&ModelMonitoring::default())
    };
    let (first, second) = (read(), read());
    assert_eq!(&*first[1].name, "x[1]");
    assert!(Arc::ptr_eq(&first[1].name, &second[1].name));
}

/// The one-pass response reader gives exactly the codec's outputs, and leaves to it what it
/// does not handle.
#[test]
fn one_pass_v2_response_matches_the_codec() {
    let bodies = [
        r#"{"model_name":"iris","outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,-0]},{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0.1,0.8,0.1,1e-3,0.2,0.79]}]}"#,
        // Data before its datatype and shape, keys the codec ignores, optional fields.
        r#" {"id":"7","outputs":[{"data":[[1.5],[2.25]],"extra":{"a":[1]},"datatype":"FP64","shape":[2,1],"name":"y"}],"model_version":null,"model_name":"m\u00e9","parameters":{"p":1},"other":[true]} "#,
        r#"{"model_name":"m","outputs":[]}"#,
        r#"{"model_name":"m","outputs":[{"name":"big","shape":[1],"datatype":"INT64","data":[-9223372036854775808]}]}"#,
    ];
    for body in bodies {
        let fast =
            fast::v2_outputs(body.as_bytes()).unwrap_or_else(|| panic!("one pass takes {body}"));
        assert_eq!(Ok(fast), codec_outputs(body.as_bytes(), None), "{body}");
    }
    let others = [
        // The codec takes these (integral floats as INT64, BOOL, parameters, escaped keys).
        r#"{"model_name":"m","outputs":[{"name":"l","shape":[1],"datatype":"INT64","data":[2.0]}]}"#,
        r#"{"model_name":"m","outputs":[{"name":"b","shape":[1],"datatype":"BOOL","data":[true]}]}"#,
        r#"{"model_name":"m","outputs":[{"name":"l","shape":[1],"datatype":"INT64","data":[2],"parameters":{}}]}"#,
        r#"{"model_name":"m","\u006futputs":[{"name":"l","shape":[1],"datatype":"INT64","data":[2]}]}"#,
        // It rejects these.
        r#"{"model_name":"m","outputs":[{"name":"l","shape":[2],"datatype":"INT64","data":[2]}]}"#,
        r#"{"model_name":"m","outputs":[{"name":"s","shape":[1],"datatype":"FP32","data":[1e39]}]}"#,
        r#"{"model_name":"m","outputs":[{"name":"s","shape":[1],"datatype":"INT64","data":[9223372036854775808]}]}"#,
        r#"{"outputs":[{"name":"s","shape":[1],"datatype":"FP32","data":[1]}]}"#,
        r#"{"model_name":"m","outputs":[],"outputs":[]}"#,
        r#"{"model_name":"m","outputs":[{"name":"s","shape":[1],"datatype":"FP32","data":[01]}]}"#,
    ];
    for body in others {
        assert_eq!(fast::v2_outputs(body.as_bytes()), None, "{body}");
        let config = ModelMonitoring::default();
        let via_codec = codec_outputs(body.as_bytes(), None).map(|_| ());
        assert_eq!(
            outputs(Protocol::V2, body.as_bytes(), None, &config).map(|_| ()),
            via_codec,
            "{body}"
        );
    }
}

/// Number texts, valid JSON or not, in range of the datatypes or not.
const TOKENS: &[&str] = &[
    "0",
    "-0",
    "7",
    "12",
    "0.5",
    "-1.25",
    "1e3",
    "1E-2",
    "-2.5e+1",
    "3.4028236e38",
    "1e39",
    "340282356779733661637539395458142568448",
    "9223372036854775808",
    "2.0",
    "01",
    "1.",
    ".5",
    "+1",
    "--1",
    "1e",
    "1e+",
    "1.5.2",
    "-",
    "NaN",
    "true",
    "null",
    r#""a""#,
    "[]",
    "{}",
];
/// What may separate two elements.
const SEPARATORS: &[&str] = &[",", ", ", " ,\n", ",", ",", "", ",,", "]["];

fn body_parts() -> impl Strategy<Value = (Vec<(usize, usize)>, usize, bool, usize, bool)> {
    (
        prop::collection::vec((0..TOKENS.len() * 3, 0..SEPARATORS.len()), 0..8),
        0usize..3,
        any::<bool>(),
        0usize..3,
        any::<bool>(),
    )
}

/// A tensor whose `data` is made of mostly valid numbers; `shape` agrees with the count or not.
fn tensor(
    elements: &[(usize, usize)],
    datatype: &str,
    rows: usize,
    nested: bool,
    data_first: bool,
) -> String {
    let mut data = String::new();
    for (i, &(token, separator)) in elements.iter().enumerate() {
        if i > 0 {
            data.push_str(SEPARATORS[separator]);
        }
        // Two thirds of the picks are plain valid numbers.
        data.push_str(
            TOKENS
                .get(token)
                .copied()
                .unwrap_or(["1.5", "-3", "0.25"][token % 3]),
        );
    }
    let data = match nested {
        true => format!("[[{data}]]"),
        false => format!("[{data}]"),
    };
    let count = elements.len();
    let shape = match rows {
        0 => format!("[{count}]"),
        1 => format!("[1,{count}]"),
        _ => format!("[2,{}]", count / 2),
    };
    let head = format!(r#""name":"t","datatype":"{datatype}","shape":{shape}"#);
    match data_first {
        true => format!(r#"{{"data":{data},{head}}}"#),
        false => format!(r#"{{{head},"data":{data}}}"#),
    }
}

proptest! {
    /// Whatever the one-pass readers take, the codec takes and reads the same.
    #[test]
    fn one_pass_never_disagrees_with_the_codec(
        (elements, datatype, nested, rows, data_first) in body_parts()
    ) {
        let datatype = ["FP32", "FP64", "INT64"][datatype];
        let tensor = tensor(&elements, datatype, rows, nested, data_first);
        let request = format!(r#"{{"id":"1","inputs":[{tensor}]}}"#);
        if let Some(fast) = one_pass(&request) {
            prop_assert_eq!(Ok(fast), codec(&request), "{}", request);
        }
        let response = format!(r#"{{"model_name":"m","outputs":[{tensor}]}}"#);
        if let Some(fast) = fast::v2_outputs(response.as_bytes()) {
            prop_assert_eq!(Ok(fast), codec_outputs(response.as_bytes(), None), "{}", response);
        }
    }
}

/// A `[rows, width]` FP32 tensor of plain decimals, as a flat or a nested `data` array, with
/// `separator` between elements.
fn wide_request(rows: usize, width: usize, nested: bool, separator: &str, seed: u64) -> String {
    let value = |i: u64| {
        let x = (i.wrapping_mul(2_654_435_761).wrapping_add(seed)) % 20_011;
        match x % 3 {
            0 => format!("{}", x % 256),
            1 => format!("-{}.{}", x % 7, x),
            _ => format!("0.{x:05}"),
        }
    };
    let row = |r: usize| {
        let row: Vec<String> = (0..width).map(|j| value((r * width + j) as u64)).collect();
        row.join(separator)
    };
    let data = match nested {
        true => {
            let rows: Vec<String> = (0..rows).map(|r| format!("[{}]", row(r))).collect();
            rows.join(separator)
        }
        false => {
            let rows: Vec<String> = (0..rows).map(row).collect();
            rows.join(separator)
        }
    };
    format!(
        r#"{{"inputs":[{{"name":"x","shape":[{rows},{width}],"datatype":"FP32","data":[{data}]}}]}}"#
    )
}

/// Rows wider than `MAX_SERIES` (an MLP's 784 pixels): the unrecorded rest of each row is
/// skipped eight bytes at a time, and what is recorded is exactly what the codec reads.
#[test]
fn wide_rows_skip_what_they_do_not_record() {
    for (rows, width, nested, separator) in [
        (1, 784, false, ", "),
        (1, 784, true, ","),
        (3, 100, false, ",\n  "),
        (3, 100, true, " , "),
        (2, 65, false, ","),
        (4, 200, true, ",\t"),
    ] {
        let body = wide_request(rows, width, nested, separator, 7);
        let fast = one_pass(&body).unwrap_or_else(|| panic!("one pass takes {body}"));
        assert_eq!(fast.len(), MAX_SERIES, "{body}");
        assert_eq!(Ok(fast), codec(&body), "{body}");
    }
    // A count that does not match the shape is still refused, whichever row is short.
    let short = wide_request(2, 100, false, ", ", 3).replace("[2,100]", "[2,101]");
    assert_eq!(one_pass(&short), None);
    let long = wide_request(2, 100, true, ", ", 3).replace("[2,100]", "[2,99]");
    assert_eq!(one_pass(&long), None);
}

/// What the skip checks: the alphabet only. A letter, a quote or a brace among the skipped
/// numbers sends the block to the slow path, which refuses it as the codec does; the grammar and
/// range of the skipped numbers are not checked (the upstream answered 2xx, so it took them),
/// and the columns recorded are the same.
#[test]
fn skipped_columns_are_checked_loosely() {
    let row = |at_100: &str| {
        let mut row: Vec<String> = (0..200).map(|j| format!("{j}.5")).collect();
        row[100] = at_100.to_owned();
        format!(
            r#"{{"inputs":[{{"name":"x","shape":[1,200],"datatype":"FP32","data":[{}]}}]}}"#,
            row.join(", ")
        )
    };
    let recorded = one_pass(&row("100.5")).expect("valid");
    for refused in ["true", "null", "\"1\"", "{}"] {
        assert_eq!(one_pass(&row(refused)), None, "{refused}");
        assert!(codec(&row(refused)).is_err(), "{refused}");
    }
    let nines = "9".repeat(39);
    for loose in ["1.2.3", "--1", "01", "1e39", nines.as_str()] {
        assert_eq!(one_pass(&row(loose)).as_ref(), Some(&recorded), "{loose}");
        assert!(codec(&row(loose)).is_err(), "{loose}");
    }
}

proptest! {
    /// Wide rows of any width, nesting and spacing read as the codec reads them.
    #[test]
    fn wide_rows_read_as_the_codec_reads(
        rows in 1usize..4,
        width in 60usize..160,
        nested in any::<bool>(),
        separator in prop::sample::select(vec![",", ", ", " ,", ",\n", "\t,\t"]),
        seed in any::<u64>(),
    ) {
        let body = wide_request(rows, width, nested, separator, seed);
        let fast = one_pass(&body);
        prop_assert!(fast.is_some(), "{}", body);
        prop_assert_eq!(Ok(fast.expect("taken")), codec(&body), "{}", body);
    }
}
