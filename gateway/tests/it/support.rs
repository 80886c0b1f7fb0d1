//! Helpers: spawn `infergate` processes, wait for them without sleeping, talk HTTP to them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a model may take to load and warm up in a test.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one request may take in a test.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A path under `examples/`.
pub(crate) fn example(rel: &str) -> String {
    repo().join("examples").join(rel).display().to_string()
}

/// A running `infergate predictor` child, killed when dropped.
pub(crate) struct Predictor {
    pub(crate) child: Child,
    pub(crate) base: String,
    stderr: Arc<Mutex<String>>,
}

impl Predictor {
    /// Starts `infergate predictor --model-name NAME --storage-uri URI --http-port 0 EXTRA...`
    /// and waits for its ready line.
    pub(crate) async fn start(name: &str, storage_uri: &str, extra: &[&str]) -> Predictor {
        let mut args = vec![
            "predictor",
            "--model-name",
            name,
            "--storage-uri",
            storage_uri,
        ];
        args.extend(["--http-port", "0"]);
        if !extra.contains(&"--workers") {
            args.extend(["--workers", "2"]);
        }
        args.extend(extra);
        let (child, line, stderr) = spawn(&args).await;
        let mut child = child;
        let line = match line {
            Some(line) => line,
            None => {
                let status = child.wait().await.ok();
                panic!(
                    "predictor did not become ready (exit {status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                )
            }
        };
        let base = line
            .strip_prefix("infergate-predictor ready on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .trim()
            .to_owned();
        Predictor {
            child,
            base,
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Spawns `infergate ARGS`, returning the first stdout line (None if stdout closed first or the
/// timeout passed) and a buffer that keeps collecting stderr.
pub(crate) async fn spawn(args: &[&str]) -> (Child, Option<String>, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_infergate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn infergate");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&stderr);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err_pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = tokio::time::timeout(READY_TIMEOUT, lines.next_line())
        .await
        .ok()
        .and_then(|l| l.ok().flatten());
    (child, line, stderr)
}

/// A response, fully read.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` string of a `{"error": ...}` body, asserting the body has that shape.
    pub(crate) fn error(&self) -> String {
        let json = self.json();
        let obj = json
            .as_object()
            .unwrap_or_else(|| panic!("error body is not an object: {json}"));
        assert_eq!(obj.len(), 1, "error body has exactly one key: {json}");
        obj["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error string: {json}"))
            .to_owned()
    }
}

/// A keep-alive HTTP client for tests.
#[derive(Clone)]
pub(crate) struct Http(Client<HttpConnector, Full<Bytes>>);

impl Http {
    pub(crate) fn new() -> Http {
        Http(Client::builder(TokioExecutor::new()).build_http())
    }

    pub(crate) async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }

    pub(crate) async fn post(&self, url: &str, body: impl Into<Bytes>) -> Reply {
        self.send(
            Method::POST,
            url,
            &[("content-type", "application/json")],
            body.into(),
        )
        .await
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).expect("valid request");
        let fut = async {
            let resp = self.0.request(req).await.expect("request sent");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("body read").to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .expect("request timed out")
    }
}

/// Reads a JSON file under the repository.
pub(crate) fn read_json(rel: &str) -> serde_json::Value {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Asserts two float slices agree within a relative tolerance (absolute near zero).
pub(crate) fn assert_close(actual: &[f64], expected: &[f64], rel: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tol = rel * e.abs().max(1e-3);
        assert!(
            (a - e).abs() <= tol,
            "{what}[{i}]: got {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// The numbers of a JSON array (flattening nested arrays).
pub(crate) fn floats(v: &serde_json::Value) -> Vec<f64> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<f64>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(
                other
                    .as_f64()
                    .unwrap_or_else(|| panic!("not a number: {other}")),
            ),
        }
    }
    walk(v, &mut out);
    out
}
