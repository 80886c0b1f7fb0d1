//! Dynamic batching against the real ONNX Runtime: every batched response equals the same
//! request run alone, requests that cannot share a model call run apart and still succeed, the
//! queue bound rejects cleanly over HTTP, and `/metrics` shows the batches.
//!
//! Models: `examples/models/{mlp,iris}.onnx`, and `tests/data/{rowsum,fixed}.onnx` (see
//! `tests/data/README.md`). ONNX Runtime is found as the predictor finds it
//! (`$INFERGATE_HOME/lib`, which `scripts/setup.sh` fills); these tests fail when it is missing.
#![cfg(feature = "onnx")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use infergate_predictor::http::ListenAddr;
use infergate_predictor::metrics::Metrics;
use infergate_predictor::protocol::{Tensor, TensorData};
use infergate_predictor::runtime::onnx::{OnnxOptions, load};
use infergate_predictor::{
    BatchConfig, LoadedModel, PoolConfig, PredictorConfig, QueuePolicy, Server, Session, WorkerPool,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::runtime::Runtime;

/// Largest relative difference allowed between a batched and a lone iris score (see
/// [`every_batched_answer_equals_the_answer_alone`]).
const IRIS_TOLERANCE: f64 = 1e-5;

/// Longest any one request of these tests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn model_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match name {
        "mlp" | "iris" => root.join(format!("../examples/models/{name}.onnx")),
        _ => root.join(format!("tests/data/{name}.onnx")),
    }
}

fn load_model(name: &str) -> LoadedModel {
    load(name, &model_path(name), &OnnxOptions::default())
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// A session of its own, to compute each request's answer alone.
fn reference_session(name: &str) -> Box<dyn Session> {
    (load_model(name).sessions)().expect("make a reference session")
}

fn batching(max: usize, delay: Duration, preferred: &[usize]) -> BatchConfig {
    BatchConfig::new(max, delay, preferred.to_vec()).expect("valid batch config")
}

/// A pool for `model` and the metrics it records into.
fn start_pool(model: &str, workers: usize, batch: BatchConfig) -> (WorkerPool, Metrics) {
    let metrics = Metrics::new(model);
    let config = PoolConfig {
        workers,
        max_queue: 1024,
        queue_policy: QueuePolicy::Reject,
        batch,
    };
    let pool = WorkerPool::start(load_model(model), &config, metrics.pool()).expect("start pool");
    (pool, metrics)
}

/// An FP32 `[rows, width]` input named `name`, filled from `seed` with values k/256 in [-2, 2)
/// (exact in FP32).
fn input(name: &str, rows: usize, width: usize, seed: u64) -> Tensor {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let data = (0..rows * width)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % 1024) as f32 / 256.0 - 2.0
        })
        .collect();
    Tensor::new(name, vec![rows, width], TensorData::F32(data)).expect("consistent tensor")
}

fn width_of(model: &str) -> usize {
    match model {
        "mlp" => 784,
        "iris" => 4,
        other => panic!("no width for {other}"),
    }
}

/// `(model calls, requests)` recorded in the batch size histogram.
fn batch_counts(metrics: &Metrics) -> (u64, u64) {
    let text = metrics.render();
    let value = |suffix: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("infergate_batch_size_{suffix}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no infergate_batch_size_{suffix} in\n{text}")) as u64
    };
    (value("count"), value("sum"))
}

/// Runs `inputs` through the pool, all at once, and returns each answer in order.
async fn infer_all(pool: &WorkerPool, inputs: Vec<Vec<Tensor>>) -> Vec<Vec<Tensor>> {
    let tasks: Vec<_> = inputs
        .into_iter()
        .map(|inputs| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.infer(inputs).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, task)
            .await
            .expect("answered in time")
            .expect("task finished")
            .expect("inference succeeded");
        answers.push(answer);
    }
    answers
}

/// One property case: a model, the batcher's settings, and requests as (rows, microseconds
/// after the previous one).
#[derive(Clone, Debug)]
struct Case {
    model: &'static str,
    workers: usize,
    max_batch_size: usize,
    delay_ms: u64,
    preferred: Vec<usize>,
    requests: Vec<(usize, u64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["mlp", "iris"]),
        1usize..=2,
        prop::sample::select(vec![2usize, 4, 8, 16, 32]),
        prop::sample::select(vec![0u64, 1, 3]),
        prop::collection::vec((1usize..=6, 0u64..1_500), 1..=24),
        any::<bool>(),
    )
        .prop_map(|(model, workers, max, delay_ms, requests, prefer)| Case {
            model,
            workers,
            max_batch_size: max,
            delay_ms,
            preferred: if prefer { vec![max / 2, max] } else { vec![] },
            requests,
        })
}

/// For random mixes of request batch sizes (some over the maximum) and arrival times, every
/// answer is bit for bit the answer of the same request run alone.
///
/// The MLP's answers must be bit for bit equal: ONNX Runtime's MatMul (MLAS) computes each
/// output row from its own input row in the same order whatever the number of rows (200 random
/// cases never differed). The iris answers are compared within [`IRIS_TOLERANCE`]: its
/// `LinearClassifier` takes a different path for a lone row than for several, so a one-row
/// request's scores differ by a few float32 ulps (the largest seen: 3.9e-6 relative, on a
/// probability of 1e-15 after the softmax), exactly as they would if the client had sent that
/// row together with another. Labels (INT64) must be equal.
#[test]
fn every_batched_answer_equals_the_answer_alone() {
    let runtime = Runtime::new().expect("tokio runtime");
    let references = std::cell::RefCell::new([
        ("mlp", reference_session("mlp")),
        ("iris", reference_session("iris")),
    ]);
    let runs = std::cell::Cell::new(0u64);
    let requests = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |case| {
            let batch = batching(
                case.max_batch_size,
                Duration::from_millis(case.delay_ms),
                &case.preferred,
            );
            let (pool, metrics) = start_pool(case.model, case.workers, batch);
            let width = width_of(case.model);
            let inputs: Vec<Vec<Tensor>> = case
                .requests
                .iter()
                .enumerate()
                .map(|(i, &(rows, _))| vec![input("input", rows, width, i as u64)])
                .collect();
            let answers = runtime.block_on(async {
                let mut tasks = Vec::new();
                for (inputs, &(_, gap_us)) in inputs.iter().zip(&case.requests) {
                    // The arrival pattern under test, not a wait for a condition.
                    tokio::time::sleep(Duration::from_micros(gap_us)).await;
                    let pool = pool.clone();
                    let inputs = inputs.clone();
                    tasks.push(tokio::spawn(async move { pool.infer(inputs).await }));
                }
                let mut answers = Vec::new();
                for task in tasks {
                    let answer = tokio::time::timeout(REQUEST_TIMEOUT, task)
                        .await
                        .expect("answered in time")
                        .expect("task finished");
                    answers.push(answer);
                }
                answers
            });
            let mut references = references.borrow_mut();
            let reference = &mut references
                .iter_mut()
                .find(|(name, _)| *name == case.model)
                .expect("a reference session per model")
                .1;
            for (i, (inputs, answer)) in inputs.into_iter().zip(answers).enumerate() {
                let answer =
                    answer.map_err(|e| TestCaseError::fail(format!("request {i}: {e}")))?;
                let alone = reference.run(inputs).expect("reference run");
                if case.model == "mlp" {
                    prop_assert_eq!(answer, alone, "request {} of {:?}", i, case);
                } else {
                    let worst = relative_difference(&answer, &alone);
                    prop_assert!(
                        worst <= IRIS_TOLERANCE,
                        "request {i}: relative difference {worst:e} in {case:?}"
                    );
                }
            }
            let (calls, served) = batch_counts(&metrics);
            prop_assert_eq!(
                served,
                case.requests.len() as u64,
                "every request counted once"
            );
            runs.set(runs.get() + calls);
            requests.set(requests.get() + served);
            Ok(())
        })
        .expect("every batched answer equals the answer alone");
    let (runs, requests) = (runs.get(), requests.get());
    assert!(
        runs < requests,
        "the cases must exercise batching: {requests} requests in {runs} model calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_runs_as_one_model_call_and_splits_back() {
    // A delay far above the test's timeout: only a full batch (4 x 3 = 12 rows) can go.
    let (pool, metrics) = start_pool("mlp", 1, batching(12, Duration::from_secs(600), &[]));
    let inputs: Vec<Vec<Tensor>> = (0..4).map(|i| vec![input("input", 3, 784, i)]).collect();
    let answers = infer_all(&pool, inputs.clone()).await;
    assert_eq!(
        batch_counts(&metrics),
        (1, 4),
        "one model call for 4 requests"
    );
    let mut reference = reference_session("mlp");
    for (inputs, answer) in inputs.into_iter().zip(answers) {
        let alone = reference.run(inputs).expect("reference run");
        assert_eq!(answer[0].shape(), [3, 10]);
        assert_eq!(answer, alone);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_inner_dims_are_not_batched_together_and_still_succeed() {
    let (pool, metrics) = start_pool("rowsum", 1, batching(16, Duration::from_millis(300), &[]));
    let widths = [3, 3, 5, 3, 5];
    let inputs: Vec<Vec<Tensor>> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| vec![input("x", 1, w, i as u64)])
        .collect();
    let answers = infer_all(&pool, inputs.clone()).await;
    // Width 3 together, width 5 together: two model calls, never one.
    assert_eq!(batch_counts(&metrics), (2, 5));
    let mut reference = reference_session("rowsum");
    for (inputs, answer) in inputs.into_iter().zip(answers) {
        let width = inputs[0].shape()[1];
        let alone = reference.run(inputs).expect("reference run");
        assert_eq!(answer[1].shape(), [1, width]);
        assert_eq!(answer, alone);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_maximum_run_alone() {
    let (pool, metrics) = start_pool("mlp", 1, batching(4, Duration::from_millis(300), &[]));
    let inputs = vec![
        vec![input("input", 2, 784, 1)],
        vec![input("input", 9, 784, 2)],
        vec![input("input", 2, 784, 3)],
    ];
    let answers = infer_all(&pool, inputs.clone()).await;
    let (calls, served) = batch_counts(&metrics);
    assert_eq!(served, 3);
    assert!(calls >= 2, "the 9-row request ran alone: {calls} calls");
    let mut reference = reference_session("mlp");
    for (inputs, answer) in inputs.into_iter().zip(answers) {
        assert_eq!(answer, reference.run(inputs).expect("reference run"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_without_a_batch_dimension_is_served_unbatched() {
    let (pool, metrics) = start_pool("fixed", 1, batching(8, Duration::from_millis(300), &[]));
    assert!(
        !pool.is_batching(),
        "fixed.onnx has no dynamic first dimension"
    );
    let inputs: Vec<Vec<Tensor>> = (0..3).map(|i| vec![input("x", 2, 3, i)]).collect();
    let answers = infer_all(&pool, inputs.clone()).await;
    assert_eq!(batch_counts(&metrics), (3, 3));
    for (inputs, answer) in inputs.into_iter().zip(answers) {
        let TensorData::F32(x) = inputs[0].data() else {
            panic!("FP32 input")
        };
        let doubled: Vec<f32> = x.iter().map(|v| v + v).collect();
        assert_eq!(answer[0].data(), &TensorData::F32(doubled));
    }
}

/// A predictor over HTTP on a free port, serving the MLP with `pool`; it stops when dropped.
struct Predictor {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Predictor {
    async fn start(pool: PoolConfig) -> Predictor {
        let mut config = PredictorConfig::new("mlp", model_path("mlp").display().to_string());
        config.http_port = 0;
        config.pool = pool;
        config.shutdown_timeout = Duration::from_secs(5);
        let server = Server::bind(config).await.expect("bind");
        let ListenAddr::Tcp(addr) = server.local_addr().clone() else {
            panic!("TCP listener expected")
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let result = server
                .run(
                    async {
                        let _ = stopped.await;
                    },
                    |_| {
                        let _ = ready_tx.send(());
                    },
                )
                .await;
            result.expect("the predictor ran");
        });
        tokio::time::timeout(REQUEST_TIMEOUT, ready_rx)
            .await
            .expect("ready in time")
            .expect("the predictor became ready");
        Predictor {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Sends one request on a new connection; returns the status, headers and body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "predictor")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("valid request");
        let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
            .await
            .expect("answered in time")
            .expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes();
        (status, headers, body)
    }

    async fn infer(&self, seed: u64) -> (StatusCode, HeaderMap, Bytes) {
        let TensorData::F32(data) = input("input", 1, 784, seed).data().clone() else {
            unreachable!("input() makes FP32")
        };
        let body = serde_json::json!({
            "inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": data}]
        });
        let body = Bytes::from(serde_json::to_vec(&body).expect("JSON"));
        self.send(Method::POST, "/v2/models/mlp/infer", body).await
    }

    async fn metrics(&self) -> String {
        let (status, _, body) = self.send(Method::GET, "/metrics", Bytes::new()).await;
        assert_eq!(status, StatusCode::OK);
        String::from_utf8(body.to_vec()).expect("UTF-8 exposition")
    }

    /// Waits (bounded) until `/metrics` shows `n` inference requests in flight.
    async fn wait_in_flight(&self, n: usize) {
        let line = format!("infergate_predictor_requests_in_flight{{model=\"mlp\"}} {n}");
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        while !self.metrics().await.contains(&line) {
            assert!(tokio::time::Instant::now() < deadline, "never saw {line}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Predictor {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_rejects_with_503_json_and_retry_after_and_metrics_show_batches() {
    // One worker waiting up to 2 s to fill a batch of 64: the first two requests sit in the
    // queue of two, so the third finds it full.
    let predictor = Arc::new(
        Predictor::start(PoolConfig {
            workers: 1,
            max_queue: 2,
            queue_policy: QueuePolicy::Reject,
            batch: batching(64, Duration::from_secs(2), &[]),
        })
        .await,
    );
    let waiting: Vec<_> = (0..2)
        .map(|seed| {
            let p = Arc::clone(&predictor);
            tokio::spawn(async move { p.infer(seed).await })
        })
        .collect();
    predictor.wait_in_flight(2).await;
    let (status, headers, body) = predictor.infer(9).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["content-type"], "application/json");
    let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON error body");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|m| m.contains("queue is full")),
        "{error}"
    );
    for task in waiting {
        let (status, _, body) = task.await.expect("request task");
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    let text = predictor.metrics().await;
    for line in [
        // The two queued requests went as one batch of two.
        r#"infergate_batch_size_bucket{model="mlp",le="1"} 0"#,
        r#"infergate_batch_size_bucket{model="mlp",le="2"} 1"#,
        r#"infergate_batch_size_sum{model="mlp"} 2"#,
        r#"infergate_predictor_requests_total{code="200",model="mlp",protocol="v2"} 2"#,
        r#"infergate_predictor_requests_total{code="503",model="mlp",protocol="v2"} 1"#,
        r#"infergate_batch_queue_seconds_count{model="mlp"} 2"#,
        r#"infergate_inference_duration_seconds_count{model="mlp"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_policy_waits_for_a_place_instead_of_rejecting() {
    let predictor = Arc::new(
        Predictor::start(PoolConfig {
            workers: 1,
            max_queue: 1,
            queue_policy: QueuePolicy::Delay,
            batch: batching(64, Duration::from_millis(200), &[]),
        })
        .await,
    );
    let tasks: Vec<_> = (0..4)
        .map(|seed| {
            let p = Arc::clone(&predictor);
            tokio::spawn(async move { p.infer(seed).await })
        })
        .collect();
    for task in tasks {
        let (status, _, body) = task.await.expect("request task");
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    let text = predictor.metrics().await;
    assert!(
        text.contains(
            r#"infergate_predictor_requests_total{code="200",model="mlp",protocol="v2"} 4"#
        ),
        "{text}"
    );
}

/// The largest relative difference between the FP32 elements of two answers, whose names,
/// shapes and every other datatype must be equal.
fn relative_difference(a: &[Tensor], b: &[Tensor]) -> f64 {
    assert_eq!(a.len(), b.len(), "output count");
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.name(), x.shape()), (y.name(), y.shape()));
        match (x.data(), y.data()) {
            (TensorData::F32(x), TensorData::F32(y)) => {
                for (p, q) in x.iter().zip(y) {
                    let (p, q) = (f64::from(*p), f64::from(*q));
                    worst = worst.max((p - q).abs() / q.abs().max(f64::MIN_POSITIVE));
                }
            }
            (x, y) => assert_eq!(x, y, "non-float outputs are exact"),
        }
    }
    worst
}
