//! WebAssembly transformers in `infergate serve`, end to end: the real gateway runs the example
//! modules (built by scripts/build-transformers.sh) in front of real predictor processes.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Gateway, Isvc, copy_model, read_json, repo, write_config};

const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// The path of an example module; a clear failure (never a skip) when it was not built.
fn example_module(name: &str) -> String {
    let path = repo().join(format!("examples/transformers/build/{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-transformers.sh (scripts/setup.sh does)",
        path.display()
    );
    path.display().to_string()
}

/// `name` serving `model` behind the WebAssembly module at `wasm` with `config`.
fn with_transformer(isvc: &Isvc, wasm: &str, config: &Value) -> String {
    let yaml = isvc.yaml();
    let transformer = format!(
        "spec:\n  transformer:\n    wasm:\n      uri: {wasm}\n      config: {config}\n"
    );
    yaml.replacen("spec:\n", &transformer, 1)
}

/// Clients send V1 named features; the iris transformer builds the model's V2 tensor, and maps
/// the predicted class ids back to names. Every row of the iris dataset comes back as the class
/// name of onnxruntime's own label for it; V2 tensors pass through unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iris_transformer_turns_named_features_into_class_names() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "transformer-iris.onnx");
    let config = json!({ "classes": CLASSES });
    let yaml = with_transformer(
        &Isvc::new("iris-named", &model),
        &example_module("iris"),
        &config,
    );
    write_config(dir.path(), "iris-named.yaml", &yaml);
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris-named").await;

    let reference = read_json("examples/reference/iris.json");
    let case = &reference["cases"][0];
    let data = case["inputs"]["input"]["data"].as_array().unwrap();
    let instances: Vec<Value> = data
        .chunks(4)
        .map(|row| {
            let named: serde_json::Map<String, Value> = FEATURES
                .iter()
                .zip(row)
                .map(|(f, v)| ((*f).to_owned(), v.clone()))
                .collect();
            Value::Object(named)
        })
        .collect();
    let expected: Vec<&str> = case["outputs"]["label"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| CLASSES[usize::try_from(l.as_i64().unwrap()).unwrap()])
        .collect();
    let reply = gw
        .http
        .post(
            &gw.url("/v1/models/iris-named:predict"),
            json!({ "instances": instances }).to_string(),
        )
        .await;
    reply.assert_status(StatusCode::OK, "named features through the transformer");
    let predictions: Vec<String> = reply.json()["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("predictions: {}", String::from_utf8_lossy(&reply.body)))
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(predictions, expected, "class names of onnxruntime's labels");

    // A V2 tensor request passes the preprocess unchanged and reaches the model as is.
    let v2 = read_json("examples/requests/iris-v2.json").to_string();
    let reply = gw
        .http
        .post(&gw.url("/v2/models/iris-named/infer"), v2)
        .await;
    reply.assert_status(StatusCode::OK, "a V2 tensor request");

    // A request the transformer refuses is the client's fault: 400 with its message.
    let bad = json!({ "instances": [{ "sepal_length": 1.0 }] }).to_string();
    let reply = gw
        .http
        .post(&gw.url("/v1/models/iris-named:predict"), bad)
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST, "a missing feature");
    let message = reply.error();
    assert!(message.contains("iris-named"), "names the transformer: {message}");

    let metrics = gw.http.get(&gw.metrics_url().await).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(
            "infergate_transformer_duration_seconds_count{model=\"iris-named\",namespace=\"default\",stage=\"preprocess\"}"
        ),
        "transformer time is measured:\n{text}"
    );
}

/// The MiniLM transformer normalises text before the model sees it: with `max_chars: 9` a long,
/// padded, upper-case text embeds exactly like its normalised 9-character prefix sent to a
/// revision without a transformer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_transformer_normalises_text_before_the_model() {
    let dir = Gateway::config_dir();
    let minilm = repo().join("examples/models/minilm").display().to_string();
    let plain = Isvc::new("plain", &minilm).format("huggingface");
    write_config(dir.path(), "plain.yaml", &plain.yaml());
    let normalising = with_transformer(
        &Isvc::new("normal", &minilm).format("huggingface"),
        &example_module("minilm"),
        &json!({ "max_chars": 9 }),
    );
    write_config(dir.path(), "normal.yaml", &normalising);
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "plain").await;
    gw.wait_ready("default", "normal").await;

    let embed = |model: &str, text: &str| {
        let url = gw.url(&format!("/v1/models/{model}:predict"));
        let body = json!({ "instances": [text] }).to_string();
        let http = gw.http.clone();
        async move {
            let reply = http.post(&url, body).await;
            reply.assert_status(StatusCode::OK, "an embedding");
            reply.json()["predictions"][0].clone()
        }
    };
    let transformed = embed("normal", "   A MAN IS EATING FOOD.   ").await;
    let direct = embed("plain", "a man is").await;
    let untouched = embed("plain", "a man is eating food.").await;
    assert_eq!(transformed, direct, "trimmed, lower-cased, cut at 9 characters");
    assert_ne!(transformed, untouched, "the cap made a difference");
}
