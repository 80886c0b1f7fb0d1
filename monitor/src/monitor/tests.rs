use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use prometheus::Registry;

use super::*;
use crate::standalone::render;

const FLUSH: Duration = Duration::from_secs(10);

fn monitor(config: MonitorConfig) -> (Monitor, Registry) {
    let registry = Registry::new();
    (Monitor::new(config, &registry).expect("monitor"), registry)
}

fn settings(reference_size: usize, window: usize) -> ModelMonitoring {
    ModelMonitoring {
        reference_size,
        window,
        class_names: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
        ..ModelMonitoring::default()
    }
}

/// A V2 request of `rows` rows of two features, and its response of one INT64 label per row.
fn exchange(rows: &[[f32; 2]], label: i64) -> (Bytes, Bytes) {
    let data: Vec<String> = rows.iter().flatten().map(|v| v.to_string()).collect();
    let request = format!(
        r#"{{"inputs": [{{"name": "x", "shape": [{}, 2], "datatype": "FP32", "data": [{}]}}]}}"#,
        rows.len(),
        data.join(",")
    );
    let labels = vec![label.to_string(); rows.len()].join(",");
    let response = format!(
        r#"{{"model_name": "m", "outputs": [{{"name": "label", "shape": [{}], "datatype": "INT64", "data": [{labels}]}}]}}"#,
        rows.len()
    );
    (Bytes::from(request), Bytes::from(response))
}

/// Sends one exchange through `monitor` the way a proxy does; returns what the client got.
async fn send(monitor: &Monitor, request: Bytes, status: StatusCode, response: Bytes) -> Bytes {
    let Some(recorder) = monitor.sample("ns", "m", "/v2/models/m/infer") else {
        return response;
    };
    let mut upstream = Response::new(Full::new(response));
    *upstream.status_mut() = status;
    let teed = recorder.tee(&HeaderMap::new(), request, upstream);
    teed.into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes()
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn sampling_picks_exactly_the_ratio() {
    let (m, _) = monitor(MonitorConfig::default());
    for (ratio, want) in [(0.0, 0), (0.25, 25), (0.5, 50), (1.0 / 3.0, 33), (1.0, 100)] {
        m.configure([(
            "ns".to_owned(),
            "m".to_owned(),
            ModelMonitoring {
                sample_ratio: ratio,
                ..ModelMonitoring::default()
            },
        )]);
        let picked = (0..100)
            .filter(|_| m.sample("ns", "m", "/v2/models/m/infer").is_some())
            .count();
        assert_eq!(picked, want, "ratio {ratio}");
    }
    // Not an inference path, or not a configured model: never.
    assert!(m.sample("ns", "m", "/v2/models/m/ready").is_none());
    assert!(m.sample("ns", "other", "/v2/models/other/infer").is_none());
}

#[test]
fn unknown_models_up_to_the_cap() {
    let (m, registry) = monitor(MonitorConfig {
        unknown_models: Some(ModelMonitoring::default()),
        max_unknown_models: 2,
        ..MonitorConfig::default()
    });
    assert!(m.sample("", "a", "/v2/models/a/infer").is_some());
    assert!(m.sample("", "b", "/v1/models/b:predict").is_some());
    assert!(m.sample("", "a", "/v2/models/a/infer").is_some());
    assert!(m.sample("", "c", "/v2/models/c/infer").is_none());
    let text = render(&registry);
    let series =
        r#"infergate_monitor_samples_dropped_total{model="",namespace="",reason="model_cap"}"#;
    assert_eq!(value(&text, series), Some(1.0), "{text}");
}

#[tokio::test]
async fn distributions_and_drift_of_a_shifted_feature() {
    let (m, registry) = monitor(MonitorConfig::default());
    m.configure([("ns".to_owned(), "m".to_owned(), settings(100, 100))]);
    // Reference: x[0] and x[1] on the same grid; window: x[0] shifted, x[1] the same.
    for shift in [0.0f32, 0.0, 5.0] {
        for batch in 0..10 {
            let rows: Vec<[f32; 2]> = (0..10)
                .map(|i| {
                    let v = (batch * 10 + i) as f32 / 10.0;
                    [v + shift, v]
                })
                .collect();
            let (request, response) = exchange(&rows, batch % 3);
            let got = send(&m, request, StatusCode::OK, response.clone()).await;
            assert_eq!(got, response, "the body passes through unchanged");
        }
        assert!(m.flush(FLUSH));
        let text = render(&registry);
        let drift = |feature: &str, method: &str| {
            value(
                &text,
                &format!(
                    r#"infergate_feature_drift{{feature="{feature}",method="{method}",model="m",namespace="ns"}}"#
                ),
            )
        };
        if shift == 0.0 {
            // After the reference only, or reference + an identical window.
            if let Some(psi) = drift("x[0]", "psi") {
                assert!(psi.abs() < 1e-9, "{text}");
            }
        } else {
            let (psi0, js0) = (drift("x[0]", "psi"), drift("x[0]", "js"));
            let (psi1, js1) = (drift("x[1]", "psi"), drift("x[1]", "js"));
            assert!(psi0 > Some(0.2) && js0 > Some(0.2), "shifted: {text}");
            assert!(psi1 < Some(0.1) && js1 < Some(0.1), "unshifted: {text}");
            assert!(psi1.is_some() && js1.is_some(), "{text}");
        }
    }
    let text = render(&registry);
    // 300 values, 100 of them reference; histogram buckets are the reference's deciles.
    let count = r#"infergate_feature_value_count{feature="x[1]",model="m",namespace="ns"}"#;
    assert_eq!(value(&text, count), Some(300.0), "{text}");
    let bucket =
        r#"infergate_feature_value_bucket{feature="x[1]",model="m",namespace="ns",le="0.9"}"#;
    assert_eq!(value(&text, bucket), Some(30.0), "{text}");
    let class = r#"infergate_prediction_class_total{class="versicolor",model="m",namespace="ns",output="label"}"#;
    assert_eq!(value(&text, class), Some(90.0), "{text}");
    let threshold = r#"infergate_drift_threshold{level="drift",model="m",namespace="ns"}"#;
    assert_eq!(value(&text, threshold), Some(0.2), "{text}");
    let samples = r#"infergate_monitor_samples_total{model="m",namespace="ns"}"#;
    assert_eq!(value(&text, samples), Some(30.0), "{text}");

    // Reconfiguring the model to nothing removes its series.
    m.configure([]);
    assert!(m.flush(FLUSH));
    let text = render(&registry);
    assert!(!text.contains("infergate_feature_value"), "{text}");
    assert!(!text.contains("infergate_feature_drift{"), "{text}");
}

#[tokio::test]
async fn unparsable_bodies_are_counted_and_passed_through() {
    let (m, registry) = monitor(MonitorConfig::default());
    m.configure([("ns".to_owned(), "m".to_owned(), settings(10, 10))]);
    let garbage = Bytes::from_static(b"<html>oops</html>");
    let got = send(
        &m,
        Bytes::from_static(b"{\"inputs\": 3}"),
        StatusCode::OK,
        garbage.clone(),
    )
    .await;
    assert_eq!(got, garbage);
    // A non-2xx response is not parsed at all.
    send(&m, Bytes::new(), StatusCode::BAD_REQUEST, garbage.clone()).await;
    assert!(m.flush(FLUSH));
    let text = render(&registry);
    let response = r#"infergate_monitor_unparsable_total{model="m",namespace="ns",part="response",reason="malformed_json"}"#;
    assert_eq!(value(&text, response), Some(1.0), "{text}");
    let request = r#"infergate_monitor_unparsable_total{model="m",namespace="ns",part="request",reason="invalid_request"}"#;
    assert_eq!(value(&text, request), Some(1.0), "{text}");
}

#[tokio::test]
async fn oversized_incomplete_and_queue_full_are_dropped_and_counted() {
    let (m, registry) = monitor(MonitorConfig {
        max_response_bytes: 16,
        queue_capacity: 1,
        ..MonitorConfig::default()
    });
    m.configure([("ns".to_owned(), "m".to_owned(), settings(10, 10))]);
    let (request, response) = exchange(&[[1.0, 2.0]], 0);
    let got = send(&m, request.clone(), StatusCode::OK, response.clone()).await;
    assert_eq!(got, response, "an oversized body still reaches the client");

    // The client leaves before the body ends.
    let recorder = m.sample("ns", "m", "/v2/models/m/infer").expect("ratio 1");
    let teed = recorder.tee(&HeaderMap::new(), request.clone(), Response::new(Endless));
    assert!(teed.body().is_recording());
    drop(teed);

    // The worker stuck answering a flush nobody reads: the one-slot queue fills.
    let (stuck_tx, stuck_rx) = std::sync::mpsc::sync_channel(0);
    m.inner
        .control
        .send(Control::Flush(stuck_tx))
        .expect("worker alive");
    let small = Bytes::from_static(b"{}");
    for _ in 0..3 {
        send(&m, request.clone(), StatusCode::OK, small.clone()).await;
    }
    drop(stuck_rx);
    assert!(m.flush(FLUSH));
    let text = render(&registry);
    for (reason, want) in [
        ("body_too_large", 1.0),
        ("body_incomplete", 1.0),
        // 3 sent, at most 1 queued (the worker may or may not have taken one before blocking).
        ("queue_full", 1.0),
    ] {
        let series = format!(
            r#"infergate_monitor_samples_dropped_total{{model="m",namespace="ns",reason="{reason}"}}"#
        );
        let got = value(&text, &series).unwrap_or(0.0);
        assert!(got >= want, "{reason}: {got} in {text}");
    }
}

/// A response body that never ends.
struct Endless;

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}
