//! `infergate monitor` in front of a real predictor and of a server sending bad bodies.

use std::process::Command;

use http::StatusCode;

use crate::support::{Http, eventually, iris_rows, iris_v1, iris_v2, monitor, predictor, sample};
use infergate_monitor::test_support::tool;

/// A monitoring config for iris with small reference and window, in a temp folder.
fn iris_config(dir: &std::path::Path, reference_size: usize, window: usize) -> std::path::PathBuf {
    let path = dir.join("monitor.yaml");
    let yaml = format!(
        "namespace: test\nmodels:\n  iris:\n    class-names: [setosa, versicolor, virginica]\n    argmax-outputs: [probabilities]\n    reference-size: {reference_size}\n    window: {window}\n"
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_unchanged_and_records_distributions() {
    let upstream = predictor().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = monitor(&upstream.url(""), Some(&iris_config(dir.path(), 50, 50))).await;
    let http = Http::new();
    let rows = iris_rows();
    for chunk in rows.chunks(10) {
        let direct = http
            .post(&upstream.url("/v2/models/iris/infer"), iris_v2(chunk))
            .await;
        let proxied = http
            .post(&proxy.url("/v2/models/iris/infer"), iris_v2(chunk))
            .await;
        assert_eq!(proxied.status, StatusCode::OK, "{}", proxied.text());
        assert_eq!(proxied.body, direct.body, "the proxy changes nothing");
        let v1 = http
            .post(&proxy.url("/v1/models/iris:predict"), iris_v1(chunk))
            .await;
        assert_eq!(v1.status, StatusCode::OK, "{}", v1.text());
    }
    // Not an inference path: forwarded, not recorded.
    let ready = http.get(&proxy.url("/v2/models/iris/ready")).await;
    assert_eq!(ready.status, StatusCode::OK);

    let metrics = proxy.metrics_url();
    let text = eventually("all 30 exchanges recorded", || {
        let (http, metrics) = (http.clone(), metrics.clone());
        async move {
            let text = http.get(&metrics).await.text();
            let recorded = sample(
                &text,
                r#"infergate_monitor_samples_total{model="iris",namespace="test"}"#,
            );
            match recorded {
                Some(30.0) => Ok(text),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    // Each of the 150 rows twice (V2 and V1, which name the input alike: `input`).
    let count =
        r#"infergate_feature_value_count{feature="input[2]",model="iris",namespace="test"}"#;
    assert_eq!(sample(&text, count), Some(300.0), "{text}");
    // The classifier's label output, named; and the argmax of its probabilities agrees.
    let classes: f64 = ["setosa", "versicolor", "virginica"]
        .iter()
        .filter_map(|c| {
            sample(&text, &format!(
                r#"infergate_prediction_class_total{{class="{c}",model="iris",namespace="test",output="label"}}"#
            ))
        })
        .sum();
    assert_eq!(classes, 300.0, "{text}");
    let setosa_argmax = r#"infergate_prediction_class_total{class="setosa",model="iris",namespace="test",output="probabilities:argmax"}"#;
    assert_eq!(sample(&text, setosa_argmax), Some(100.0), "{text}");
    let requests = r#"infergate_requests_total{code="200",model="iris",namespace="test",protocol="v2",revision=""}"#;
    assert_eq!(
        sample(&text, requests),
        Some(16.0),
        "15 infer + 1 ready: {text}"
    );
    assert!(text.contains(r#"infergate_feature_drift{feature="input[0]",method="psi",model="iris",namespace="test"}"#), "{text}");
    assert!(
        !text.contains("infergate_monitor_unparsable_total{"),
        "{text}"
    );

    // promtool's linter on the whole exposition: histograms, drift gauges, RED.
    let file = dir.path().join("exposition.txt");
    std::fs::write(&file, &text).expect("write");
    let out = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server answering every request with 200 and the body its path names.
async fn bad_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler = |req: http::Request<hyper::body::Incoming>| async move {
        let body: &'static [u8] = match req.uri().path() {
            "/v2/models/garbage/infer" => b"<html>not json</html>",
            "/v2/models/wrong/infer" => br#"{"model_name": "wrong", "outputs": [{"name": "y", "shape": [3], "datatype": "FP32", "data": [1]}]}"#,
            "/v1/models/mixed:predict" => br#"{"predictions": [1, "a", null]}"#,
            _ => b"{}",
        };
        http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(body)))
    };
    let server = tokio::spawn(infergate_predictor::http::serve(
        listener,
        handler,
        std::future::pending(),
        std::time::Duration::from_secs(1),
    ));
    (format!("http://{addr}"), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_counted_and_never_break_the_response() {
    let (upstream, _server) = bad_upstream().await;
    let proxy = monitor(&upstream, None).await;
    let http = Http::new();
    let request = iris_v2(&[[1.0, 2.0, 3.0, 4.0]]);
    let cases = [
        (
            "/v2/models/garbage/infer",
            "<html>not json</html>",
            "malformed_json",
        ),
        (
            "/v2/models/wrong/infer",
            r#"{"model_name": "wrong", "outputs": [{"name": "y", "shape": [3], "datatype": "FP32", "data": [1]}]}"#,
            "data_length",
        ),
        (
            "/v1/models/mixed:predict",
            r#"{"predictions": [1, "a", null]}"#,
            "invalid_response",
        ),
    ];
    for (path, want, _) in cases {
        let reply = http.post(&proxy.url(path), request.clone()).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.text(),
            want,
            "the client gets the upstream's body as it was"
        );
    }
    // An unparsable request body too (the V1 request is a V2 body here).
    http.post(&proxy.url("/v1/models/mixed:predict"), "[1, 2")
        .await;
    let metrics = proxy.metrics_url();
    let text = eventually("the bad bodies counted", || {
        let (http, metrics) = (http.clone(), metrics.clone());
        async move {
            let text = http.get(&metrics).await.text();
            let counted = text.matches("infergate_monitor_unparsable_total{").count();
            if counted >= 4 { Ok(text) } else { Err(text) }
        }
    })
    .await;
    for (path, _, reason) in cases {
        let model = crate::support::model_of(path);
        let series = format!(
            r#"infergate_monitor_unparsable_total{{model="{model}",namespace="",part="response",reason="{reason}"}}"#
        );
        assert!(
            sample(&text, &series).is_some_and(|n| n >= 1.0),
            "{series}: {text}"
        );
    }
    let request_side = r#"infergate_monitor_unparsable_total{model="mixed",namespace="",part="request",reason="malformed_json"}"#;
    assert_eq!(sample(&text, request_side), Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_a_502_json_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let proxy = monitor(&format!("http://{closed}"), None).await;
    let http = Http::new();
    let reply = http
        .post(&proxy.url("/v2/models/iris/infer"), iris_v2(&[[1.0; 4]]))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON error");
    let error = json["error"].as_str().expect("error string");
    assert!(
        error.contains(&format!("upstream http://{closed}")),
        "{error}"
    );
    let text = http.get(&proxy.metrics_url()).await.text();
    let series = r#"infergate_requests_total{code="502",model="iris",namespace="",protocol="v2",revision=""}"#;
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
}
