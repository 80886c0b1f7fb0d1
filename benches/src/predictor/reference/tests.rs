//! The reference cases against the repository's own files and hand-made responses.

use super::*;

fn repo_reference(model: &str) -> (PathBuf, Reference) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/reference/{model}.json"));
    let reference = Reference::read(&path).unwrap();
    (path, reference)
}

fn iris_case() -> Case {
    serde_json::from_value(json!({
        "name": "row",
        "inputs": {"input": {"datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}},
        "outputs": {
            "label": {"datatype": "INT64", "shape": [1], "data": [0]},
            "probabilities": {"datatype": "FP32", "shape": [1, 3], "data": [0.9, 0.07, 0.03]}
        }
    }))
    .unwrap()
}

fn response(label_type: &str, probabilities: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"model_name": "iris", "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 3], "data": probabilities},
        {"name": "label", "datatype": label_type, "shape": [1], "data": [0]},
    ]}))
    .unwrap()
}

#[test]
fn the_repository_references_have_a_batch_one_case() {
    for model in ["iris", "mlp"] {
        let (path, reference) = repo_reference(model);
        assert_eq!(reference.model, model);
        let case = reference.batch_one(&path).unwrap();
        let body: Value = serde_json::from_slice(&case.v2_request()).unwrap();
        assert_eq!(body["inputs"][0]["shape"][0], 1, "{model}");
    }
}

#[test]
fn the_request_body_carries_the_exact_fp32_inputs() {
    let case = iris_case();
    let body: Value = serde_json::from_slice(&case.v2_request()).unwrap();
    assert_eq!(body["id"], "row");
    let input = &body["inputs"][0];
    assert_eq!(
        (input["name"].as_str(), input["datatype"].as_str()),
        (Some("input"), Some("FP32"))
    );
    let data: Vec<f32> = input["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(data, [5.1f32, 3.5, 1.4, 0.2]);
}

#[test]
fn a_matching_response_passes_even_when_nested_or_reordered() {
    let case = iris_case();
    case.check_response(&response("INT64", json!([0.9, 0.07, 0.03])))
        .unwrap();
    case.check_response(&response("INT64", json!([[0.900_000_1, 0.07, 0.03]])))
        .unwrap();
}

#[test]
fn differences_are_reported_with_the_output_and_index() {
    let case = iris_case();
    let err = case
        .check_response(&response("INT64", json!([0.9, 0.08, 0.03])))
        .unwrap_err();
    assert_eq!(
        err.problem,
        "output `probabilities`[1] is 0.08, expected 0.07"
    );
    let err = case
        .check_response(&response("INT32", json!([0.9, 0.07, 0.03])))
        .unwrap_err();
    assert!(err.problem.contains("datatype"), "{err}");
    let err = case
        .check_response(&response("INT64", json!([0.9, 0.07])))
        .unwrap_err();
    assert!(err.problem.contains("2 numbers, expected 3"), "{err}");
    let err = case.check_response(br#"{"error":"boom"}"#).unwrap_err();
    assert!(err.problem.contains("no `outputs`"), "{err}");
}
