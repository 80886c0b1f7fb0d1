//! `infergate predictor` as a real process: outputs against ONNX Runtime's own, every
//! endpoint, bad input, start-up failures and graceful shutdown.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Http, Predictor, assert_close, example, floats, read_json, spawn};

/// Tolerance for float outputs against onnxruntime's (the brief's 1e-5 relative).
const REL: f64 = 1e-5;

/// A V2 JSON request for one reference case.
fn v2_request(case: &Value) -> Value {
    let input = &case["inputs"]["input"];
    json!({
        "id": format!("case-{}", case["name"].as_str().unwrap()),
        "inputs": [{"name": "input", "shape": input["shape"], "datatype": "FP32", "data": input["data"]}]
    })
}

/// Checks a V2 response's outputs against a reference case (labels exact, floats within REL).
fn check_outputs(response: &Value, case: &Value, what: &str) {
    let outputs = response["outputs"].as_array().expect("outputs array");
    let expected = case["outputs"].as_object().unwrap();
    assert_eq!(outputs.len(), expected.len(), "{what}: output count");
    for out in outputs {
        let name = out["name"].as_str().unwrap();
        let want = &expected[name];
        assert_eq!(out["datatype"], want["datatype"], "{what}: {name} datatype");
        assert_eq!(out["shape"], want["shape"], "{what}: {name} shape");
        if want["datatype"] == "INT64" {
            assert_eq!(out["data"], want["data"], "{what}: {name} labels");
        } else {
            assert_close(
                &floats(&out["data"]),
                &floats(&want["data"]),
                REL,
                &format!("{what}: {name}"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onnx_outputs_match_onnxruntime_over_v2_json() {
    let http = Http::new();
    for model in ["iris", "mlp"] {
        let p = Predictor::start_onnx(model, &[]).await;
        let reference = read_json(&format!("examples/reference/{model}.json"));
        for case in reference["cases"].as_array().unwrap() {
            let url = p.url(&format!("/v2/models/{model}/infer"));
            let reply = http
                .post(&url, serde_json::to_vec(&v2_request(case)).unwrap())
                .await;
            reply.assert_ok();
            let body = reply.json();
            assert_eq!(body["model_name"], model);
            assert_eq!(
                body["id"],
                format!("case-{}", case["name"].as_str().unwrap()),
                "id echoed"
            );
            check_outputs(&body, case, &format!("{model}/{}", case["name"]));
        }
    }
}

/// Little-endian bytes of f32 values.
fn f32_bytes(values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_extension_both_ways_agrees_with_json() {
    let http = Http::new();
    let p = Predictor::start_onnx("iris", &[]).await;
    let reference = read_json("examples/reference/iris.json");
    let case = &reference["cases"][0];
    let data = f32_bytes(&floats(&case["inputs"]["input"]["data"]));
    let header = serde_json::to_vec(&json!({
        "inputs": [{"name": "input", "shape": case["inputs"]["input"]["shape"], "datatype": "FP32",
                    "parameters": {"binary_data_size": data.len()}}],
        "parameters": {"binary_data_output": true}
    }))
    .unwrap();
    let mut body = header.clone();
    body.extend_from_slice(&data);
    let len = header.len().to_string();
    let reply = http
        .send(
            Method::POST,
            &p.url("/v2/models/iris/infer"),
            &[
                ("content-type", "application/octet-stream"),
                ("inference-header-content-length", &len),
            ],
            Bytes::from(body),
        )
        .await;
    reply.assert_ok();
    let json_len: usize = reply.headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let head: Value = serde_json::from_slice(&reply.body[..json_len]).unwrap();
    let mut tail = &reply.body[json_len..];
    for out in head["outputs"].as_array().unwrap() {
        assert!(
            out.get("data").is_none(),
            "binary outputs carry no JSON data: {out}"
        );
        let size = out["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
        let (bytes, rest) = tail.split_at(size);
        tail = rest;
        let name = out["name"].as_str().unwrap();
        let want = &case["outputs"][name];
        assert_eq!(out["shape"], want["shape"]);
        match out["datatype"].as_str().unwrap() {
            "INT64" => {
                let got: Vec<i64> = bytes
                    .chunks(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                let want: Vec<i64> = want["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                assert_eq!(got, want, "labels");
            }
            "FP32" => {
                let got: Vec<f64> = bytes
                    .chunks(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect();
                assert_close(&got, &floats(&want["data"]), REL, name);
            }
            other => panic!("unexpected datatype {other}"),
        }
    }
    assert!(tail.is_empty(), "no bytes after the last output");

    // Binary input, JSON output: the same numbers as the all-JSON form.
    let header = serde_json::to_vec(&json!({
        "inputs": [{"name": "input", "shape": case["inputs"]["input"]["shape"], "datatype": "FP32",
                    "parameters": {"binary_data_size": data.len()}}],
        "outputs": [{"name": "probabilities"}]
    }))
    .unwrap();
    let mut body = header.clone();
    body.extend_from_slice(&data);
    let len = header.len().to_string();
    let reply = http
        .send(
            Method::POST,
            &p.url("/v2/models/iris/infer"),
            &[("inference-header-content-length", &len)],
            Bytes::from(body),
        )
        .await;
    reply.assert_ok();
    let outputs = reply.json()["outputs"].clone();
    assert_eq!(
        outputs.as_array().unwrap().len(),
        1,
        "only the requested output"
    );
    assert_eq!(outputs[0]["name"], "probabilities");
    assert_close(
        &floats(&outputs[0]["data"]),
        &floats(&case["outputs"]["probabilities"]["data"]),
        REL,
        "probabilities",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_predict_matches_v2() {
    let http = Http::new();
    let p = Predictor::start_onnx("iris", &[]).await;
    let reference = read_json("examples/reference/iris.json");
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dataset")
        .unwrap();
    let rows: Vec<Value> = floats(&case["inputs"]["input"]["data"])
        .chunks(4)
        .map(|r| json!(r))
        .collect();
    let reply = http
        .post(
            &p.url("/v1/models/iris:predict"),
            serde_json::to_vec(&json!({ "instances": rows })).unwrap(),
        )
        .await;
    reply.assert_ok();
    let predictions = reply.json()["predictions"].as_array().unwrap().clone();
    assert_eq!(predictions.len(), 150);
    let labels = case["outputs"]["label"]["data"].as_array().unwrap();
    let probs = floats(&case["outputs"]["probabilities"]["data"]);
    for (i, row) in predictions.iter().enumerate() {
        assert_eq!(row["label"], labels[i], "row {i} label");
        assert_close(
            &floats(&row["probabilities"]),
            &probs[i * 3..i * 3 + 3],
            REL,
            &format!("row {i}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metadata_and_routing() {
    let http = Http::new();
    let p = Predictor::start_onnx("iris", &["--model-version", "3"]).await;
    let live = http.get(&p.url("/v2/health/live")).await;
    assert_eq!(
        (live.status, live.json()),
        (StatusCode::OK, json!({"live": true}))
    );
    let ready = http.get(&p.url("/v2/health/ready")).await;
    assert_eq!(
        (ready.status, ready.json()),
        (StatusCode::OK, json!({"ready": true}))
    );
    let server = http.get(&p.url("/v2")).await.json();
    assert_eq!(server["name"], "infergate");
    assert!(
        server["extensions"]
            .as_array()
            .unwrap()
            .contains(&json!("binary_tensor_data"))
    );

    let meta = http.get(&p.url("/v2/models/iris")).await.json();
    assert_eq!(meta["name"], "iris");
    assert_eq!(meta["platform"], "onnxruntime_onnx");
    assert_eq!(meta["versions"], json!(["3"]));
    assert_eq!(
        meta["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
    );
    assert_eq!(
        meta["outputs"][0],
        json!({"name": "label", "datatype": "INT64", "shape": [-1]})
    );
    assert_eq!(
        meta["outputs"][1],
        json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]})
    );
    assert_eq!(
        http.get(&p.url("/v2/models/iris/versions/3")).await.json(),
        meta
    );
    let model_ready = http.get(&p.url("/v2/models/iris/versions/3/ready")).await;
    model_ready.assert_ok();
    assert_eq!(model_ready.json()["ready"], true);

    let body = read_json("examples/requests/iris-v2.json").to_string();
    let versioned = http
        .post(&p.url("/v2/models/iris/versions/3/infer"), body.clone())
        .await;
    versioned.assert_ok();
    assert_eq!(versioned.json()["model_version"], "3");

    let v1 = http.get(&p.url("/v1/models")).await.json();
    assert_eq!(v1, json!({"models": ["iris"]}));
    let v1_model = http.get(&p.url("/v1/models/iris")).await.json();
    assert_eq!(v1_model, json!({"name": "iris", "ready": true}));

    for (method, path, status, needle) in [
        (
            Method::POST,
            "/v2/models/rose/infer",
            StatusCode::NOT_FOUND,
            "rose",
        ),
        (
            Method::GET,
            "/v2/models/rose",
            StatusCode::NOT_FOUND,
            "rose",
        ),
        (
            Method::POST,
            "/v2/models/iris/versions/9/infer",
            StatusCode::NOT_FOUND,
            "version `9`",
        ),
        (
            Method::POST,
            "/v1/models/rose:predict",
            StatusCode::NOT_FOUND,
            "rose",
        ),
        (
            Method::GET,
            "/v3/nothing",
            StatusCode::NOT_FOUND,
            "/v3/nothing",
        ),
        (
            Method::GET,
            "/v2/models/iris/infer",
            StatusCode::METHOD_NOT_ALLOWED,
            "GET",
        ),
    ] {
        let reply = http
            .send(method, &p.url(path), &[], Bytes::from(body.clone()))
            .await;
        reply.assert_status(status, path);
        let message = reply.error();
        assert!(
            message.contains(needle),
            "{path}: {message:?} should mention {needle:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_4xx_and_the_server_keeps_serving() {
    let http = Http::new();
    let p = Predictor::start_onnx("iris", &["--max-body-bytes", "65536"]).await;
    let url = p.url("/v2/models/iris/infer");
    let v2 = |inputs: Value| json!({ "inputs": inputs }).to_string();
    let deep = format!(
        "{{\"inputs\": [{{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": {}1{}}}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        ("malformed JSON", "{\"inputs\": [".into(), StatusCode::BAD_REQUEST, "JSON"),
        ("empty body", String::new(), StatusCode::BAD_REQUEST, "empty"),
        ("unknown input", v2(json!([{"name": "petals", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}])), StatusCode::BAD_REQUEST, "petals"),
        ("wrong datatype", v2(json!([{"name": "input", "shape": [1, 4], "datatype": "FP128", "data": [1, 2, 3, 4]}])), StatusCode::BAD_REQUEST, "FP128"),
        ("shape/data mismatch", v2(json!([{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}])), StatusCode::BAD_REQUEST, "input"),
        ("wrong inner dim", v2(json!([{"name": "input", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}])), StatusCode::BAD_REQUEST, "input"),
        ("negative dim", v2(json!([{"name": "input", "shape": [-1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}])), StatusCode::BAD_REQUEST, "input"),
        ("absurd dims", v2(json!([{"name": "input", "shape": [4_000_000_000_000_000_000u64, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}])), StatusCode::BAD_REQUEST, "input"),
        ("BYTES where FP32 expected", v2(json!([{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}])), StatusCode::BAD_REQUEST, "BYTES"),
        ("strings in FP32 data", v2(json!([{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ["a", "b", "c", "d"]}])), StatusCode::BAD_REQUEST, "input"),
        ("lossy conversion", v2(json!([{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [16_777_217, 2, 3, 4]}])), StatusCode::BAD_REQUEST, "INT64"),
        ("NaN literal", "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [NaN, 1, 2, 3]}]}".into(), StatusCode::BAD_REQUEST, "JSON"),
        ("Infinity literal", "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [Infinity, 1, 2, 3]}]}".into(), StatusCode::BAD_REQUEST, "JSON"),
        ("nesting 10,000 deep", deep, StatusCode::BAD_REQUEST, ""),
        ("missing input", v2(json!([])), StatusCode::BAD_REQUEST, "input"),
        ("unknown output", json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "petal_colour"}]}).to_string(), StatusCode::BAD_REQUEST, "petal_colour"),
        ("body over the limit", format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000)), StatusCode::PAYLOAD_TOO_LARGE, "65536"),
    ];
    let good = read_json("examples/requests/iris-v2.json").to_string();
    for (what, body, status, needle) in cases {
        let reply = http.post(&url, body).await;
        reply.assert_status(status, what);
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body was refused unread: the connection must not be reused.
            assert_eq!(reply.headers["connection"], "close", "{what}");
        }
        let message = reply.error();
        assert!(
            message.contains(needle),
            "{what}: {message:?} should mention {needle:?}"
        );
        // The server keeps serving after each bad request.
        assert_eq!(
            http.post(&url, good.clone()).await.status,
            StatusCode::OK,
            "after {what}"
        );
    }

    // The binary header length points beyond the body.
    let reply = http
        .send(
            Method::POST,
            &url,
            &[("inference-header-content-length", "5000")],
            Bytes::from(good.clone()),
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST, "header length 5000 past the body");
    assert!(reply.error().contains("5000"), "{}", reply.error());
    let reply = http
        .send(
            Method::POST,
            &url,
            &[("inference-header-content-length", "lots")],
            Bytes::from(good.clone()),
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST, "header length not a number");

    // V1: bad rows are 4xx too.
    let v1 = p.url("/v1/models/iris:predict");
    for (what, body) in [
        (
            "ragged rows",
            json!({"instances": [[1, 2, 3, 4], [1, 2]]}).to_string(),
        ),
        (
            "neither instances nor inputs",
            json!({"rows": [[1, 2, 3, 4]]}).to_string(),
        ),
        (
            "strings",
            json!({"instances": [["a", "b", "c", "d"]]}).to_string(),
        ),
    ] {
        let reply = http.post(&v1, body).await;
        reply.assert_status(StatusCode::BAD_REQUEST, what);
        assert!(!reply.error().is_empty());
    }
    assert_eq!(http.post(&url, good).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_embeddings_over_http() {
    let http = Http::new();
    let p = Predictor::start("minilm", &example("models/minilm"), &[]).await;
    let reference = read_json("examples/reference/minilm-embeddings.json");
    let sentences = reference["sentences"].as_array().unwrap();
    let body = json!({"inputs": [{"name": "text", "shape": [sentences.len()], "datatype": "BYTES", "data": sentences}]});
    let reply = http
        .post(&p.url("/v2/models/minilm/infer"), body.to_string())
        .await;
    reply.assert_ok();
    let out = &reply.json()["outputs"][0];
    assert_eq!(out["name"], "embedding");
    assert_eq!(out["datatype"], "FP32");
    let dim = out["shape"][1].as_u64().unwrap() as usize;
    assert_eq!(out["shape"][0].as_u64().unwrap() as usize, sentences.len());
    let got = floats(&out["data"]);
    for (i, want) in reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let want = floats(want);
        let row = &got[i * dim..(i + 1) * dim];
        let dot: f64 = row.iter().zip(&want).map(|(a, b)| a * b).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot / (norm(row) * norm(&want));
        assert!(cosine >= 0.9999, "sentence {i}: cosine {cosine}");
    }
    // V1 with strings.
    let reply = http
        .post(
            &p.url("/v1/models/minilm:predict"),
            read_json("examples/requests/minilm-v1.json").to_string(),
        )
        .await;
    reply.assert_ok();
    let predictions = reply.json()["predictions"].as_array().unwrap().clone();
    assert_eq!(predictions.len(), 2);
    assert_eq!(floats(&predictions[0]).len(), dim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_failures_say_what_to_do() {
    // A corrupt model: the process exits non-zero and says why.
    let dir = std::env::temp_dir().join(format!("infergate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not a protobuf").unwrap();
    let iris = example("models/iris.onnx");
    let cases = [
        (
            vec!["--storage-uri", corrupt.to_str().unwrap()],
            "not a valid ONNX model",
        ),
        (
            vec!["--storage-uri", "/nonexistent/model.onnx"],
            "does not exist",
        ),
        (
            vec!["--storage-uri", "s3://bucket/model.onnx"],
            "not supported yet",
        ),
        (
            vec![
                "--storage-uri",
                iris.as_str(),
                "--onnxruntime-lib",
                "/nonexistent/libonnxruntime.so",
            ],
            "scripts/setup.sh",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["predictor", "--model-name", "broken", "--http-port", "0"];
        all.extend(args.iter().copied());
        let (mut child, line, stderr) = spawn(&all).await;
        assert_eq!(line, None, "no ready line for {args:?}");
        let status = tokio::time::timeout(crate::support::READY_TIMEOUT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(!status.success(), "{args:?} exits non-zero");
        // The stderr reader may lag the exit by a moment; wait on it, bounded.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !stderr.lock().unwrap().contains(needle) && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = stderr.lock().unwrap().clone();
        assert!(
            text.contains(needle),
            "{args:?}: stderr should mention {needle:?}:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut p = Predictor::start_onnx("mlp", &["--workers", "1"]).await;
    let reference = read_json("examples/reference/mlp.json");
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "batch-64")
        .unwrap();
    let body = serde_json::to_vec(&v2_request(case)).unwrap();
    let addr = p.base.trim_start_matches("http://").to_owned();
    let request = |body: &[u8]| {
        let mut req = format!(
            "POST /v2/models/mlp/infer HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req
    };
    // 32 requests on their own connections, queued behind one worker.
    let mut streams = Vec::new();
    for _ in 0..32 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&request(&body)).await.unwrap();
        streams.push(s);
    }
    // A sentinel connected after them: once it is answered, the server has accepted and read
    // every earlier connection (accept order is connection order), so all 32 are in flight.
    let mut sentinel = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sentinel.write_all(&request(&body)).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        crate::support::REQUEST_TIMEOUT,
        sentinel.read_to_end(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let pid = p.child.id().expect("running");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for (i, mut s) in streams.into_iter().enumerate() {
        let mut raw = Vec::new();
        tokio::time::timeout(crate::support::REQUEST_TIMEOUT, s.read_to_end(&mut raw))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "request {i} during shutdown: {text}"
        );
        let json_start = text.find("\r\n\r\n").unwrap() + 4;
        let reply: Value = serde_json::from_str(&text[json_start..]).unwrap();
        check_outputs(&reply, case, "in flight during shutdown");
    }
    let status = tokio::time::timeout(crate::support::READY_TIMEOUT, p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "clean exit after draining: {status:?}\n{}",
        p.stderr()
    );
}
