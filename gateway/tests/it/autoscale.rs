//! Autoscaling end to end: the real gateway scales real predictor processes, to zero and back.
//!
//! Windows are shortened so the tests stay short: `autoscaling.knative.dev/window: 6s` (Knative's
//! least), `--scale-to-zero-grace-period 1s` and `--autoscaler-tick 200ms`. A revision with
//! `minReplicas: 0` then reaches zero about 7 s after its last request.

use http::StatusCode;
use serde_json::Value;

use crate::support::{
    Gateway, Http, Isvc, Load, Reply, assert_all_ok, copy_model, processes_with_arg, read_json,
    repo, revision, wait_until, write_config,
};

const R1: &str = "iris-predictor-00001";

/// The flags that shorten the cluster-wide settings.
const FAST: &[&str] = &[
    "--scale-to-zero-grace-period",
    "1s",
    "--autoscaler-tick",
    "200ms",
];

fn iris_v2() -> Vec<u8> {
    read_json("examples/requests/iris-v2.json")
        .to_string()
        .into_bytes()
}

/// An iris InferenceService that may scale to zero, with a 6 s stable window.
fn scale_to_zero_iris(model: &str) -> String {
    Isvc::new("iris", model)
        .annotation("autoscaling.knative.dev/window", "6s")
        .predictor("minReplicas: 0")
        .yaml()
}

/// Whether the first revision of `isvc` is at zero in an admin view.
fn at_zero(view: &Value, isvc: &str) -> bool {
    revision(view, &format!("{isvc}-predictor-00001"))
        .is_some_and(|r| r["atZero"] == true && r["readyReplicas"] == 0)
}

/// Waits until the first revision of `isvc` is at zero and its process (serving `model`) is gone.
async fn wait_at_zero(gw: &Gateway, isvc: &str, model: &str) {
    gw.wait_view("default", isvc, "the revision at zero replicas", |v| {
        at_zero(v, isvc)
    })
    .await;
    wait_until("the predictor process exits", || {
        processes_with_arg(model).is_empty()
    })
    .await;
}

/// `n` identical requests of `body` at once; their replies.
async fn burst(url: &str, body: Vec<u8>, n: usize) -> Vec<Reply> {
    let http = Http::new();
    let body = bytes::Bytes::from(body);
    let sends = (0..n).map(|_| {
        let (http, body, url) = (http.clone(), body.clone(), url.to_owned());
        tokio::spawn(async move {
            http.try_send(
                http::Method::POST,
                &url,
                &[("content-type", "application/json")],
                body,
            )
            .await
        })
    });
    let mut replies = Vec::with_capacity(n);
    for send in sends.collect::<Vec<_>>() {
        let reply = send.await.expect("the request task");
        replies.push(reply.unwrap_or_else(|e| panic!("a request failed at the transport: {e}")));
    }
    replies
}

/// A revision with `minReplicas: 0` goes to zero when idle, which stops its process; the first
/// request after that is served (200, never an error) and counted as a cold start; then 200
/// concurrent requests at zero all succeed; `get revisions` says when it is at zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_revision_scales_to_zero_and_wakes_on_demand() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "scale-to-zero.onnx");
    write_config(dir.path(), "iris.yaml", &scale_to_zero_iris(&model));
    let gw = Gateway::start_with(dir, &[], FAST).await;
    gw.wait_ready("default", "iris").await;
    let url = gw.url("/v2/models/iris/infer");
    gw.http
        .post(&url, iris_v2())
        .await
        .assert_status(StatusCode::OK, "a request while warm");

    wait_at_zero(&gw, "iris", &model).await;
    let out = gw.cli(&["get", "revisions", "iris"]).await;
    assert!(out.success, "{}", out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(R1))
        .unwrap_or_else(|| panic!("a row for {R1}:\n{}", out.stdout));
    assert!(
        row.contains("0/0") && row.contains("yes"),
        "at zero, with no replica: {row}\n{}",
        out.stdout
    );

    let reply = gw.http.post(&url, iris_v2()).await;
    reply.assert_status(StatusCode::OK, "the first request at zero");
    assert_eq!(
        reply.headers["x-infergate-revision"], R1,
        "served by the revision that was at zero"
    );
    let metrics = gw.http.get(&gw.metrics_url().await).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(&format!(
            "infergate_cold_start_seconds_count{{model=\"iris\",namespace=\"default\",revision=\"{R1}\"}} 1"
        )),
        "one cold start recorded:\n{text}"
    );

    wait_at_zero(&gw, "iris", &model).await;
    let replies = burst(&url, iris_v2(), 200).await;
    let failed: Vec<String> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
        .collect();
    assert!(
        failed.is_empty(),
        "200 concurrent requests at zero all succeed; failed: {failed:?}"
    );
}

/// A revision at zero whose model no longer loads: the requests that woke it, and every later
/// one, get 503 with the loader's reason as soon as the load fails, not after the activator's
/// max wait; the revision is Failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_that_cannot_wake_answers_503_with_the_reason_at_once() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "cannot-wake.onnx");
    write_config(dir.path(), "iris.yaml", &scale_to_zero_iris(&model));
    let mut flags = FAST.to_vec();
    flags.extend(["--activator-max-wait", "60s"]);
    let gw = Gateway::start_with(dir, &[], &flags).await;
    gw.wait_ready("default", "iris").await;
    wait_at_zero(&gw, "iris", &model).await;
    std::fs::write(&model, b"this is not an ONNX model").expect("corrupt the model file");

    let started = std::time::Instant::now();
    let replies = burst(&gw.url("/v2/models/iris/infer"), iris_v2(), 20).await;
    let waited = started.elapsed();
    for reply in &replies {
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let message = reply.error();
        assert!(
            message.contains("cannot serve") && message.contains("not a valid ONNX model"),
            "the loader's reason: {message}"
        );
    }
    assert!(
        waited < std::time::Duration::from_secs(30),
        "answered when the load failed, not after the 60 s max wait: {waited:?}"
    );
    gw.wait_view("default", "iris", "the revision Failed", |v| {
        revision(v, R1).is_some_and(|r| r["state"] == "Failed")
    })
    .await;
    let later = gw
        .http
        .post(&gw.url("/v2/models/iris/infer"), iris_v2())
        .await;
    later.assert_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "a request after the failure",
    );
}

/// At zero with the activator's queue bound at 50, a burst of 200: the overflow gets 503 with
/// `Retry-After`, the rest are served, and nothing else fails.
///
/// The revision serves MiniLM with `containerConcurrency: 1` on one replica, so once it wakes it
/// drains the queue one embedding (tens of milliseconds) at a time: the burst overflows the
/// queue however fast the replica starts, where a fast model such as iris could drain it while
/// a slow client is still sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_activator_queue_answers_503_with_retry_after() {
    let dir = Gateway::config_dir();
    // A link of its own, so the test can tell this revision's process from others.
    let model = dir.path().join("queue-bound-minilm");
    std::os::unix::fs::symlink(repo().join("examples/models/minilm"), &model)
        .expect("link the MiniLM model");
    let model = model.display().to_string();
    let isvc = Isvc::new("minilm", &model)
        .format("huggingface")
        .annotation("autoscaling.knative.dev/window", "6s")
        .predictor("minReplicas: 0")
        .predictor("maxReplicas: 1")
        .predictor("containerConcurrency: 1")
        .yaml();
    write_config(dir.path(), "minilm.yaml", &isvc);
    let mut flags = FAST.to_vec();
    flags.extend(["--activator-queue-depth", "50"]);
    let gw = Gateway::start_with(dir, &[], &flags).await;
    gw.wait_ready("default", "minilm").await;
    wait_at_zero(&gw, "minilm", &model).await;

    let sentence = "The quick brown fox jumps over the lazy dog near the river bank. ";
    let body = serde_json::json!({
        "inputs": [{
            "name": "text",
            "shape": [4],
            "datatype": "BYTES",
            "data": vec![sentence.repeat(8); 4],
        }]
    });
    let replies = burst(
        &gw.url("/v2/models/minilm/infer"),
        body.to_string().into_bytes(),
        200,
    )
    .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let overflow: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let other: Vec<String> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK && r.status != StatusCode::SERVICE_UNAVAILABLE)
        .map(|r| format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
        .collect();
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    assert!(
        ok >= 50,
        "at least the queued requests are served: {ok} of 200"
    );
    assert!(
        !overflow.is_empty(),
        "a burst of 200 into a queue of 50 overflows"
    );
    for reply in overflow {
        assert!(
            reply.headers.contains_key("retry-after"),
            "503 carries Retry-After"
        );
        let message = reply.error();
        assert!(message.contains("queue is full"), "{message}");
    }
}

/// Under load past its per-replica target the revision scales up (within maxReplicas), and
/// back down to minReplicas once the load stops; no request fails meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_scales_a_revision_up_and_idle_scales_it_back_down() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "scale-up.onnx");
    let isvc = Isvc::new("iris", &model)
        .annotation("autoscaling.knative.dev/window", "6s")
        .predictor("minReplicas: 1")
        .predictor("maxReplicas: 3")
        .predictor("scaleTarget: 1")
        .yaml();
    write_config(dir.path(), "iris.yaml", &isvc);
    let gw = Gateway::start_with(dir, &[], FAST).await;
    gw.wait_ready("default", "iris").await;

    // 6 clients against a target of 1 per replica at 70%: the decider wants 9, capped at 3.
    let load = Load::start(&gw.url("/v2/models/iris/infer"), &iris_v2(), 6);
    gw.wait_view("default", "iris", "3 of 3 replicas ready", |v| {
        revision(v, R1).is_some_and(|r| r["readyReplicas"] == 3 && r["desiredReplicas"] == 3)
    })
    .await;
    assert_eq!(
        processes_with_arg(&model).len(),
        3,
        "three predictor processes"
    );
    let samples = load.stop().await;
    assert_all_ok(&samples, "scaling up under load");

    gw.wait_view("default", "iris", "back to 1 replica", |v| {
        revision(v, R1).is_some_and(|r| r["readyReplicas"] == 1 && r["desiredReplicas"] == 1)
    })
    .await;
    wait_until("two predictor processes stop", || {
        processes_with_arg(&model).len() == 1
    })
    .await;
}

/// With `containerConcurrency: 1` and one replica at most, a burst of 20 waits its turn in the
/// activator instead of being refused: every request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_container_concurrency_wait_in_the_activator() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "concurrency-one.onnx");
    let isvc = Isvc::new("iris", &model)
        .predictor("minReplicas: 1")
        .predictor("maxReplicas: 1")
        .predictor("containerConcurrency: 1")
        .yaml();
    write_config(dir.path(), "iris.yaml", &isvc);
    let gw = Gateway::start_with(dir, &[], FAST).await;
    gw.wait_ready("default", "iris").await;

    let replies = burst(&gw.url("/v2/models/iris/infer"), iris_v2(), 20).await;
    let failed: Vec<String> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
        .collect();
    assert!(failed.is_empty(), "all 20 served one at a time: {failed:?}");
}
