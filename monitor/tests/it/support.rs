//! Helpers: in-process predictor and monitor on port 0, a keep-alive client (the Prometheus
//! harness and tool lookup are shared with the gateway's tests: `infergate_monitor::test_support`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use infergate_monitor::standalone::{StandaloneConfig, run};
use infergate_predictor::http::ListenAddr;
use tokio::sync::oneshot;

/// How long a model may take to load, or a condition to come true.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    infergate_monitor::test_support::repo()
}

/// A server running in this process until dropped.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) metrics: Option<SocketAddr>,
    _stop: oneshot::Sender<()>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn metrics_url(&self) -> String {
        format!(
            "http://{}/metrics",
            self.metrics.expect("a metrics listener")
        )
    }
}

/// The iris example model served by an infergate predictor.
pub(crate) async fn predictor() -> Running {
    let path = repo().join("examples/models/iris.onnx");
    let mut config = infergate_predictor::PredictorConfig::new("iris", path.display().to_string());
    config.http_port = 0;
    config.pool.workers = 1;
    let server = infergate_predictor::Server::bind(config)
        .await
        .expect("bind predictor");
    let ListenAddr::Tcp(addr) = server.local_addr().clone() else {
        panic!("a TCP predictor");
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready_tx, ready) = oneshot::channel();
    tokio::spawn(async move {
        let result = server
            .run(
                async move {
                    let _ = stopped.await;
                },
                move |_| {
                    let _ = ready_tx.send(());
                },
            )
            .await;
        if let Err(e) = result {
            panic!("predictor failed: {e}");
        }
    });
    tokio::time::timeout(TIMEOUT, ready)
        .await
        .expect("predictor ready in time")
        .expect("predictor ready");
    Running {
        addr,
        metrics: None,
        _stop: stop,
    }
}

/// The standalone monitoring proxy in front of `upstream`, with `config` as its YAML (if any).
pub(crate) async fn monitor(upstream: &str, config: Option<&Path>) -> Running {
    let config = StandaloneConfig {
        upstream: upstream.parse().expect("upstream URI"),
        http: "127.0.0.1:0".parse().expect("addr"),
        metrics: Some("127.0.0.1:0".parse().expect("addr")),
        config_file: config.map(Path::to_owned),
        max_body_bytes: 1 << 20,
        drain_timeout: Duration::from_secs(1),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready_tx, ready) = oneshot::channel();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        run(config, shutdown, move |addr, metrics| {
            let _ = ready_tx.send((addr, metrics));
        })
        .await
        .expect("monitor runs");
    });
    let (addr, metrics) = tokio::time::timeout(TIMEOUT, ready)
        .await
        .expect("monitor ready in time")
        .expect("monitor ready");
    Running {
        addr,
        metrics,
        _stop: stop,
    }
}

/// A response, fully read.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive HTTP client.
#[derive(Clone)]
pub(crate) struct Http(Client<HttpConnector, Full<Bytes>>);

impl Http {
    pub(crate) fn new() -> Http {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    pub(crate) async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, Bytes::new()).await
    }

    pub(crate) async fn post(&self, url: &str, body: impl Into<Bytes>) -> Reply {
        self.send(Method::POST, url, body.into()).await
    }

    async fn send(&self, method: Method, url: &str, body: Bytes) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("request");
        let response = tokio::time::timeout(TIMEOUT, self.0.request(req))
            .await
            .expect("response in time")
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply { status, body }
    }
}

/// The value of the exposition line `series value`, if present.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `check` every 50 ms until it returns `Some`, failing after [`TIMEOUT`] with `what`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {TIMEOUT:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A V2 iris request of `rows` (4 features each).
pub(crate) fn iris_v2(rows: &[[f32; 4]]) -> String {
    let data: Vec<String> = rows.iter().flatten().map(|v| v.to_string()).collect();
    format!(
        r#"{{"inputs": [{{"name": "input", "shape": [{}, 4], "datatype": "FP32", "data": [{}]}}]}}"#,
        rows.len(),
        data.join(",")
    )
}

/// A V1 iris request of `rows`.
pub(crate) fn iris_v1(rows: &[[f32; 4]]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("[{}]", r.map(|v| v.to_string()).join(",")))
        .collect();
    format!(r#"{{"instances": [{}]}}"#, rows.join(","))
}

/// The 150 iris rows of examples/reference/iris.json.
pub(crate) fn iris_rows() -> Vec<[f32; 4]> {
    let text = std::fs::read(repo().join("examples/reference/iris.json")).expect("iris reference");
    let json: serde_json::Value = serde_json::from_slice(&text).expect("JSON");
    let data = json["cases"][0]["inputs"]["input"]["data"]
        .as_array()
        .expect("data");
    data.chunks(4)
        .map(|c| std::array::from_fn(|i| c[i].as_f64().expect("number") as f32))
        .collect()
}

/// The model a KServe path names.
pub(crate) fn model_of(path: &str) -> &str {
    infergate_monitor::red::model_of(path).expect("a model path")
}
