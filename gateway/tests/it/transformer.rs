//! WebAssembly transformers in `infergate serve`, end to end: the real gateway runs the example
//! modules (built by scripts/build-transformers.sh) in front of real predictor processes.

use http::StatusCode;
use infergate_transformer::fixtures;
use serde_json::{Value, json};

use crate::support::{Gateway, Isvc, copy_model, read_json, repo, revision, write_config};

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
    let transformer =
        format!("spec:\n  transformer:\n    wasm:\n      uri: {wasm}\n      config: {config}\n");
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
    assert!(
        message.contains("iris-named"),
        "names the transformer: {message}"
    );

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
    assert_eq!(
        transformed, direct,
        "trimmed, lower-cased, cut at 9 characters"
    );
    assert_ne!(transformed, untouched, "the cap made a difference");
}

/// Writes a fixture module (`infergate_transformer::fixtures`) into the config folder.
fn fixture(dir: &std::path::Path, name: &str, items: &str) -> String {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, fixtures::module(items)).unwrap();
    path.display().to_string()
}

/// VmRSS of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kib * 1024
}

/// Misbehaving modules never harm the gateway: one that loops forever answers 504 within its
/// deadline plus 50 ms; one that allocates without end answers 500 and the gateway's memory stays
/// bounded; one that traps or returns something other than JSON answers 500 with its message; one
/// missing its exports fails its revision with the reason. Meanwhile a model without a
/// transformer keeps serving, and the looping one answers its next request the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_transformers_fail_alone_and_cleanly() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "transformer-failures.onnx");
    let none = json!(null);
    for (name, items) in [
        ("spin", fixtures::SPIN),
        ("hog", fixtures::HOG),
        ("panic", fixtures::PANIC),
        ("notjson", fixtures::NOT_JSON),
    ] {
        let wasm = fixture(dir.path(), name, items);
        let yaml = with_transformer(&Isvc::new(name, &model), &wasm, &none);
        write_config(dir.path(), &format!("{name}.yaml"), &yaml);
    }
    let no_exports = dir.path().join("noexports.wasm");
    std::fs::write(
        &no_exports,
        fixtures::wat("(module (memory (export \"memory\") 1))"),
    )
    .unwrap();
    let yaml = with_transformer(
        &Isvc::new("noexports", &model),
        &no_exports.display().to_string(),
        &none,
    );
    write_config(dir.path(), "noexports.yaml", &yaml);
    write_config(dir.path(), "iris.yaml", &Isvc::new("iris", &model).yaml());
    let gw = Gateway::start(dir).await;
    for name in ["spin", "hog", "panic", "notjson", "iris"] {
        gw.wait_ready("default", name).await;
    }
    let v2 = read_json("examples/requests/iris-v2.json").to_string();
    let infer = |name: &str| {
        let (http, url, body) = (
            gw.http.clone(),
            gw.url(&format!("/v2/models/{name}/infer")),
            v2.clone(),
        );
        async move { http.post(&url, body).await }
    };

    // The deadline is 100 ms by default.
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let reply = infer("spin").await;
        let took = started.elapsed();
        reply.assert_status(
            StatusCode::GATEWAY_TIMEOUT,
            "a transformer that never returns",
        );
        assert!(
            took < std::time::Duration::from_millis(150),
            "504 within the deadline plus 50 ms: took {took:?}"
        );
        assert!(reply.error().contains("deadline"), "{}", reply.error());
        infer("iris")
            .await
            .assert_status(StatusCode::OK, "another model meanwhile");
    }

    let before = rss(gw.pid());
    for _ in 0..20 {
        let reply = infer("hog").await;
        reply.assert_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a transformer that allocates without end",
        );
        assert!(
            reply.error().contains("hog"),
            "names the transformer: {}",
            reply.error()
        );
    }
    let grown = rss(gw.pid()).saturating_sub(before);
    assert!(
        grown < 128 << 20,
        "20 calls that each filled a 64 MiB cap left the gateway {} MiB larger",
        grown >> 20
    );

    let reply = infer("panic").await;
    reply.assert_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "a transformer that traps",
    );
    assert!(
        reply.error().contains("boom"),
        "the transformer's own message: {}",
        reply.error()
    );
    let reply = infer("notjson").await;
    reply.assert_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "a transformer that returns no JSON",
    );
    assert!(
        reply.error().contains("notjson"),
        "names the transformer: {}",
        reply.error()
    );
    infer("iris")
        .await
        .assert_status(StatusCode::OK, "the plain model still serves");

    let view = gw
        .wait_view("default", "noexports", "its revision Failed", |v| {
            revision(v, "noexports-predictor-00001").is_some_and(|r| r["state"] == "Failed")
        })
        .await;
    let message = revision(&view, "noexports-predictor-00001").unwrap()["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains("alloc"), "says what is missing: {message}");
    let transformer_ready = view["isvc"]["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "TransformerReady")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        transformer_ready["status"], "False",
        "{transformer_ready:#}"
    );
    assert_eq!(
        transformer_ready["reason"], "TransformerLoadFailed",
        "{transformer_ready:#}"
    );
}

/// 64 concurrent calls into one module are isolated: each request gets the class of its own
/// row, never another request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_into_one_module_are_isolated() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "transformer-isolation.onnx");
    let yaml = with_transformer(
        &Isvc::new("iris-named", &model),
        &example_module("iris"),
        &json!({ "classes": CLASSES }),
    );
    write_config(dir.path(), "iris-named.yaml", &yaml);
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris-named").await;

    let reference = read_json("examples/reference/iris.json");
    let case = &reference["cases"][0];
    let rows: Vec<Vec<Value>> = case["inputs"]["input"]["data"]
        .as_array()
        .unwrap()
        .chunks(4)
        .map(<[Value]>::to_vec)
        .collect();
    let labels = case["outputs"]["label"]["data"].as_array().unwrap().clone();
    let url = gw.url("/v1/models/iris-named:predict");
    let calls = (0..64).map(|i| {
        // Spread over the dataset, so neighbours ask for different classes.
        let row = (i * 7) % rows.len();
        let named: serde_json::Map<String, Value> = FEATURES
            .iter()
            .zip(&rows[row])
            .map(|(f, v)| ((*f).to_owned(), v.clone()))
            .collect();
        let body = json!({ "instances": [named] }).to_string();
        let want = CLASSES[usize::try_from(labels[row].as_i64().unwrap()).unwrap()];
        let (http, url) = (gw.http.clone(), url.clone());
        tokio::spawn(async move {
            let reply = http.post(&url, body).await;
            reply.assert_status(StatusCode::OK, "a concurrent call");
            (reply.json()["predictions"][0].clone(), want)
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (got, want) = call.await.unwrap();
        assert_eq!(got, want, "each request gets its own row's class");
    }
}
