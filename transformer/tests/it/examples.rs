//! The example transformers (examples/transformers/, built by scripts/build-transformers.sh).

use infergate_transformer::{Protocol, Transformed};
use serde_json::json;

use crate::support::{iris, json, minilm};

fn body(out: &Transformed) -> serde_json::Value {
    json(out.body.as_deref().expect("a new body"))
}

#[tokio::test]
async fn iris_turns_named_features_into_the_v2_request() {
    let iris = iris();
    assert!(iris.has_preprocess() && iris.has_postprocess());
    let request = json!({"instances": [
        {"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4},
        {"petal_width": 1.6, "petal_length": 4.5, "sepal_width": 3.4, "sepal_length": 6.0},
    ]});
    let out = iris
        .preprocess(request.to_string().as_bytes(), Protocol::V1)
        .await
        .expect("preprocess");
    assert_eq!(out.protocol, Protocol::V2, "the guest declared V2");
    // The same request as examples/requests/iris-v2.json.
    assert_eq!(
        body(&out),
        json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                           "data": [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]}]})
    );

    let rows = json!({"instances": [[5.1, 3.5, 1.4, 0.2]]});
    let out = iris
        .preprocess(rows.to_string().as_bytes(), Protocol::V1)
        .await
        .expect("preprocess rows");
    assert_eq!(body(&out)["inputs"][0]["data"], json!([5.1, 3.5, 1.4, 0.2]));
}

#[tokio::test]
async fn iris_passes_v2_tensors_through() {
    let iris = iris();
    let request = include_bytes!("../../../examples/requests/iris-v2.json");
    let out = iris
        .preprocess(request, Protocol::V2)
        .await
        .expect("preprocess");
    assert_eq!(
        out,
        Transformed {
            body: None,
            protocol: Protocol::V2
        }
    );
}

#[tokio::test]
async fn iris_refuses_a_bad_instance_with_400() {
    let iris = iris();
    let request =
        json!({"instances": [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8}]});
    let error = iris
        .preprocess(request.to_string().as_bytes(), Protocol::V1)
        .await
        .expect_err("missing feature");
    assert_eq!(error.status(), 400);
    let message = error.to_string();
    assert!(message.contains("missing field `petal_width`"), "{message}");

    let error = iris
        .preprocess(b"{not json", Protocol::V1)
        .await
        .expect_err("not JSON");
    assert_eq!(error.status(), 400, "{error}");
}

#[tokio::test]
async fn iris_maps_class_ids_to_names() {
    let iris = iris();
    // The predictor's V2 answer to examples/requests/iris-v2.json (examples/reference/iris.json).
    let response = json!({"model_name": "iris", "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [3], "data": [1, 0, 2]},
        {"name": "probabilities", "datatype": "FP32", "shape": [3, 3], "data": [0.0, 0.8, 0.2, 0.9, 0.1, 0.0, 0.0, 0.0, 1.0]},
    ]});
    let bytes = response.to_string();

    let out = iris
        .postprocess(bytes.as_bytes(), Protocol::V2, Protocol::V1)
        .await
        .expect("postprocess for a V1 client");
    assert_eq!(out.protocol, Protocol::V1);
    assert_eq!(
        body(&out),
        json!({"predictions": ["versicolor", "setosa", "virginica"]})
    );

    let out = iris
        .postprocess(bytes.as_bytes(), Protocol::V2, Protocol::V2)
        .await
        .expect("postprocess for a V2 client");
    assert_eq!(out.protocol, Protocol::V2);
    let mut named = response;
    named["outputs"][0]["datatype"] = json!("BYTES");
    named["outputs"][0]["data"] = json!(["versicolor", "setosa", "virginica"]);
    assert_eq!(body(&out), named);

    // A V1 response with one row object per instance (the predictor's V1 shape for two outputs).
    let v1 = json!({"predictions": [{"label": 2, "probabilities": [0.0, 0.0, 1.0]}]});
    let out = iris
        .postprocess(v1.to_string().as_bytes(), Protocol::V1, Protocol::V1)
        .await
        .expect("V1 response");
    assert_eq!(
        body(&out),
        json!({"predictions": [{"label": "virginica", "probabilities": [0.0, 0.0, 1.0]}]})
    );
}

#[tokio::test]
async fn iris_postprocess_refusing_the_predictors_answer_is_a_500() {
    let iris = iris();
    let response =
        json!({"outputs": [{"name": "label", "datatype": "INT64", "shape": [1], "data": [7]}]});
    let error = iris
        .postprocess(response.to_string().as_bytes(), Protocol::V2, Protocol::V1)
        .await
        .expect_err("id 7");
    assert_eq!(error.status(), 500);
    assert!(
        error.to_string().contains("class id 7 has no name"),
        "{error}"
    );
}

#[tokio::test]
async fn minilm_normalises_text() {
    let minilm = minilm().with_config(r#"{"max_chars": 12}"#);
    assert!(minilm.has_preprocess() && !minilm.has_postprocess());
    let request = json!({"instances": ["  A Man Is Eating Food.  ", "ÉTÉ\n"]});
    let out = minilm
        .preprocess(request.to_string().as_bytes(), Protocol::V1)
        .await
        .expect("V1");
    assert_eq!(out.protocol, Protocol::V1);
    assert_eq!(body(&out), json!({"instances": ["a man is eat", "été"]}));

    let request = json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [" Hello World "]}]});
    let out = minilm
        .preprocess(request.to_string().as_bytes(), Protocol::V2)
        .await
        .expect("V2");
    assert_eq!(out.protocol, Protocol::V2);
    assert_eq!(body(&out)["inputs"][0]["data"], json!(["hello world"]));

    let error = minilm
        .preprocess(br#"{"instances": [1]}"#, Protocol::V1)
        .await
        .expect_err("not text");
    assert_eq!(error.status(), 400, "{error}");
}

#[tokio::test]
async fn minilm_without_config_does_not_cap() {
    let minilm = minilm();
    let long = "Word ".repeat(1000);
    let request = json!({"instances": [long]});
    let out = minilm
        .preprocess(request.to_string().as_bytes(), Protocol::V1)
        .await
        .expect("V1");
    assert_eq!(
        body(&out)["instances"][0].as_str().map(str::len),
        Some(long.trim().len())
    );
}
