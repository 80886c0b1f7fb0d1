//! Helpers: spawn `infergate` processes, wait for them without sleeping, talk HTTP to them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

    /// [`Predictor::start`] with the example model `examples/models/NAME.onnx`.
    pub(crate) async fn start_onnx(name: &str, extra: &[&str]) -> Predictor {
        Predictor::start(name, &example(&format!("models/{name}.onnx")), extra).await
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
    spawn_with_env(args, &[]).await
}

/// [`spawn`] with extra environment variables (e.g. `RUST_LOG`).
pub(crate) async fn spawn_with_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, Option<String>, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_infergate"))
        .args(args)
        .envs(env.iter().copied())
        // Logs are read by tests, not a terminal: no colour codes between the words.
        .env("NO_COLOR", "1")
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
    // Later stdout lines (e.g. where the metrics are) join the log, marked as such.
    let sink = Arc::clone(&stderr);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("stdout: {line}\n"));
        }
    });
    (child, line, stderr)
}

/// A response, fully read.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// Asserts the status is `want`, showing `what` and the body when it is not.
    #[track_caller]
    pub(crate) fn assert_status(&self, want: StatusCode, what: &str) -> &Self {
        assert_eq!(
            self.status,
            want,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts the status is 200 OK, showing the body when it is not.
    #[track_caller]
    pub(crate) fn assert_ok(&self) -> &Self {
        self.assert_status(StatusCode::OK, "expected 200 OK")
    }

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
        self.try_send(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// Like [`Http::send`], but a transport failure or timeout is an `Err` instead of a panic
    /// (for load generators that count failures).
    pub(crate) async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).expect("valid request");
        let fut = async {
            let resp = self
                .0
                .request(req)
                .await
                .map_err(|e| format!("request not sent: {e:?}"))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("body not read: {e}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| format!("request timed out after {REQUEST_TIMEOUT:?}"))?
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

// === `infergate serve` ===

/// How long a condition on a running gateway (a revision Ready, a process gone) may take.
pub(crate) const CONDITION_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);

/// An InferenceService as YAML text, for tests.
#[derive(Clone, Debug)]
pub(crate) struct Isvc {
    name: String,
    namespace: Option<String>,
    format: String,
    storage: String,
    predictor: Vec<String>,
    annotations: Vec<(String, String)>,
}

impl Isvc {
    /// `name` serving the ONNX model at `storage`.
    pub(crate) fn new(name: &str, storage: &str) -> Isvc {
        Isvc {
            name: name.to_owned(),
            namespace: None,
            format: "onnx".to_owned(),
            storage: storage.to_owned(),
            predictor: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// Adds `metadata.annotations[key] = value`.
    pub(crate) fn annotation(mut self, key: &str, value: &str) -> Isvc {
        self.annotations.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets `metadata.namespace`.
    pub(crate) fn namespace(mut self, namespace: &str) -> Isvc {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Sets `spec.predictor.model.modelFormat.name`.
    pub(crate) fn format(mut self, format: &str) -> Isvc {
        self.format = format.to_owned();
        self
    }

    /// Adds a line under `spec.predictor`, e.g. `minReplicas: 2`.
    pub(crate) fn predictor(mut self, line: &str) -> Isvc {
        self.predictor.push(line.to_owned());
        self
    }

    pub(crate) fn yaml(&self) -> String {
        let mut out = format!(
            "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: {}\n",
            self.name
        );
        if let Some(ns) = &self.namespace {
            out.push_str(&format!("  namespace: {ns}\n"));
        }
        if !self.annotations.is_empty() {
            out.push_str("  annotations:\n");
            for (key, value) in &self.annotations {
                out.push_str(&format!("    {key}: {value:?}\n"));
            }
        }
        out.push_str("spec:\n  predictor:\n");
        for line in &self.predictor {
            out.push_str(&format!("    {line}\n"));
        }
        out.push_str(&format!(
            "    model:\n      modelFormat:\n        name: {}\n      storageUri: {}\n",
            self.format, self.storage
        ));
        out
    }
}

/// A running `infergate serve` on a temporary config folder. Dropping it stops the gateway
/// (SIGTERM, bounded wait, then SIGKILL of it and of any predictor it left behind) and removes
/// the folder.
pub(crate) struct Gateway {
    child: Child,
    pub(crate) base: String,
    pub(crate) http: Http,
    /// `None` only after [`Gateway::stop`] took it.
    dir: Option<tempfile::TempDir>,
    stderr: Arc<Mutex<String>>,
}

/// The output of one `infergate` client verb.
#[derive(Debug)]
pub(crate) struct CliOutput {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Gateway {
    /// A new, empty config folder.
    pub(crate) fn config_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("infergate-serve-test-")
            .tempdir()
            .expect("create a temporary config folder")
    }

    /// Starts `infergate serve --config DIR --http-port 0 --metrics-port 0 --predictor-workers 1
    /// --drain-timeout 5` and waits for its ready line (models load after it: see
    /// [`Gateway::wait_ready`]).
    pub(crate) async fn start(dir: tempfile::TempDir) -> Gateway {
        Gateway::start_with_env(dir, &[]).await
    }

    /// [`Gateway::start`] with extra environment variables (e.g. `RUST_LOG`).
    pub(crate) async fn start_with_env(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_with(dir, env, &[]).await
    }

    /// [`Gateway::start`] with extra environment variables and extra `serve` flags.
    pub(crate) async fn start_with(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Gateway {
        let config = dir.path().display().to_string();
        let mut args = vec![
            "serve",
            "--config",
            &config,
            "--http-port",
            "0",
            "--metrics-port",
            "0",
            "--predictor-workers",
            "1",
            "--drain-timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        let (mut child, line, stderr) = spawn_with_env(&args, env).await;
        let Some(line) = line else {
            let status = child.wait().await.ok();
            panic!(
                "gateway did not become ready (exit {status:?}); stderr:\n{}",
                stderr.lock().unwrap()
            )
        };
        let base = line
            .strip_prefix("infergate ready on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .trim()
            .to_owned();
        Gateway {
            child,
            base,
            http: Http::new(),
            dir: Some(dir),
            stderr,
        }
    }

    /// The `/metrics` URL the gateway printed.
    pub(crate) async fn metrics_url(&self) -> String {
        let log = self.wait_stderr("stdout: infergate metrics on ").await;
        log.lines()
            .find_map(|l| l.strip_prefix("stdout: infergate metrics on "))
            .expect("the metrics line")
            .trim()
            .to_owned()
    }

    /// The config folder.
    pub(crate) fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("the gateway owns its folder")
            .path()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the gateway is running")
    }

    /// Writes `file` in the config folder, atomically (the watcher never sees half a file).
    pub(crate) fn write(&self, file: &str, contents: &str) {
        write_config(self.dir(), file, contents);
    }

    /// `GET /admin/v1/namespaces/NS/inferenceservices/NAME`: the object with its status and
    /// revisions, or `None` on 404.
    pub(crate) async fn view(&self, namespace: &str, name: &str) -> Option<serde_json::Value> {
        let url = self.url(&format!(
            "/admin/v1/namespaces/{namespace}/inferenceservices/{name}"
        ));
        let reply = self.http.get(&url).await;
        match reply.status {
            StatusCode::OK => Some(reply.json()),
            StatusCode::NOT_FOUND => None,
            other => panic!(
                "admin API answered {other}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }

    /// Polls the admin view of `namespace/name` until `done` holds (bounded by
    /// [`CONDITION_TIMEOUT`]) and returns that view; panics with the last view and the gateway's
    /// log otherwise.
    pub(crate) async fn wait_view(
        &self,
        namespace: &str,
        name: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + CONDITION_TIMEOUT;
        loop {
            let view = self.view(namespace, name).await;
            if let Some(view) = view.as_ref().filter(|v| done(v)) {
                return view.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{namespace}/{name}: {what}: not within {CONDITION_TIMEOUT:?}; last view:\n{}\ngateway stderr:\n{}",
                    view.map_or_else(|| "(none: 404)".to_owned(), |v| format!("{v:#}")),
                    self.stderr()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the `Ready` condition of `namespace/name` is "True".
    pub(crate) async fn wait_ready(&self, namespace: &str, name: &str) -> serde_json::Value {
        self.wait_view(namespace, name, "Ready condition True", |v| {
            condition(v, "Ready") == "True"
        })
        .await
    }

    /// Runs `infergate ARGS --server BASE` (a client verb) to completion, bounded.
    pub(crate) async fn cli(&self, args: &[&str]) -> CliOutput {
        let run = Command::new(env!("CARGO_BIN_EXE_infergate"))
            .args(args)
            .args(["--server", &self.base])
            .env_remove("INFERGATE_SERVER")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(REQUEST_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| panic!("infergate {args:?} did not finish in {REQUEST_TIMEOUT:?}"))
            .expect("run infergate");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// What the gateway wrote to stderr so far (its log, with its predictors' lines).
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until the gateway's stderr contains `needle`; returns the whole log.
    pub(crate) async fn wait_stderr(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + CONDITION_TIMEOUT;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gateway stderr did not mention {needle:?} within {CONDITION_TIMEOUT:?}:\n{text}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the gateway with SIGTERM, asserts it exits cleanly (bounded) and hands back its
    /// config folder, e.g. to start it again.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        signal(self.pid(), nix::sys::signal::Signal::SIGTERM);
        let status = tokio::time::timeout(CONDITION_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the gateway did not exit within {CONDITION_TIMEOUT:?} of SIGTERM:\n{}",
                    self.stderr()
                )
            })
            .expect("wait for the gateway");
        assert!(
            status.success(),
            "the gateway exits cleanly on SIGTERM: {status:?}\n{}",
            self.stderr()
        );
        self.dir.take().expect("the gateway owns its folder")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else {
            return; // Already reaped (stopped).
        };
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // Gracefully first: the gateway stops its predictor processes itself.
        signal(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        // Killed, it would leave its predictors running: kill them too.
        for child in children_of(pid) {
            signal(child, nix::sys::signal::Signal::SIGKILL);
        }
        signal(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub(crate) fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
    let _ = nix::sys::signal::kill(pid, signal);
}

/// Writes `dir/file` atomically: a hidden temporary file (which the gateway ignores), then a
/// rename.
pub(crate) fn write_config(dir: &Path, file: &str, contents: &str) {
    let tmp = dir.join(format!(".{file}.test.tmp"));
    std::fs::write(&tmp, contents).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    std::fs::rename(&tmp, dir.join(file)).unwrap_or_else(|e| panic!("rename to {file}: {e}"));
}

/// Copies `examples/models/{example}` to `dir/models/{name}` and returns its absolute path: a
/// storage path no other test uses, so that its predictor processes can be found by it.
pub(crate) fn copy_model(dir: &Path, example: &str, name: &str) -> String {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).expect("create the models folder");
    let to = models.join(name);
    std::fs::copy(repo().join("examples/models").join(example), &to)
        .unwrap_or_else(|e| panic!("copy {example} to {}: {e}", to.display()));
    to.display().to_string()
}

/// The row of revision `name` in an admin view (`revisions[]`).
pub(crate) fn revision<'v>(
    view: &'v serde_json::Value,
    name: &str,
) -> Option<&'v serde_json::Value> {
    view["revisions"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

/// `state` of revision `name` in an admin view ("" when there is no such revision).
pub(crate) fn revision_state<'v>(view: &'v serde_json::Value, name: &str) -> &'v str {
    revision(view, name).map_or("", |r| r["state"].as_str().unwrap_or(""))
}

/// `status.components.predictor.traffic` as `(revision, percent)`, sorted by revision.
pub(crate) fn traffic(view: &serde_json::Value) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = view["isvc"]["status"]["components"]["predictor"]["traffic"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["revisionName"].as_str().unwrap_or("").to_owned(),
                t["percent"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    out.sort();
    out
}

/// The status ("True", "False", ...) of condition `type_` in an admin view; "" when absent.
pub(crate) fn condition<'v>(view: &'v serde_json::Value, type_: &str) -> &'v str {
    view["isvc"]["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_)
        .map_or("", |c| c["status"].as_str().unwrap_or(""))
}

/// Processes one of whose arguments is exactly `arg` (e.g. a predictor's storage path).
pub(crate) fn processes_with_arg(arg: &str) -> Vec<u32> {
    proc_entries()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
        })
        .collect()
}

/// The processes whose parent is `parent`.
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    proc_entries()
        .into_iter()
        .filter(|pid| {
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses: split after the
            // last ')'.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

fn proc_entries() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Polls `done` until it holds, bounded by [`CONDITION_TIMEOUT`].
pub(crate) async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CONDITION_TIMEOUT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {CONDITION_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

// === load ===

/// One request of a [`Load`].
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// When its response ended (or the request failed).
    pub(crate) end: tokio::time::Instant,
    /// The response status, or the transport error.
    pub(crate) status: Result<StatusCode, String>,
    /// `x-infergate-revision` of the response.
    pub(crate) revision: Option<String>,
    /// The response body when it is not a 200 (the error message).
    pub(crate) error_body: Option<String>,
}

/// Clients sending the same request in a loop until stopped, recording every response.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    completed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// `concurrency` clients POSTing `body` to `url` back to back.
    pub(crate) fn start(url: &str, body: &[u8], concurrency: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicUsize::new(0));
        let http = Http::new();
        let body = Bytes::copy_from_slice(body);
        let tasks = (0..concurrency)
            .map(|_| {
                let (stop, completed, http, body, url) = (
                    Arc::clone(&stop),
                    Arc::clone(&completed),
                    http.clone(),
                    body.clone(),
                    url.to_owned(),
                );
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let reply = http
                            .try_send(
                                Method::POST,
                                &url,
                                &[("content-type", "application/json")],
                                body.clone(),
                            )
                            .await;
                        let end = tokio::time::Instant::now();
                        samples.push(match reply {
                            Ok(reply) => Sample {
                                end,
                                status: Ok(reply.status),
                                revision: reply
                                    .headers
                                    .get("x-infergate-revision")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                                error_body: (reply.status != StatusCode::OK)
                                    .then(|| String::from_utf8_lossy(&reply.body).into_owned()),
                            },
                            Err(e) => Sample {
                                end,
                                status: Err(e),
                                revision: None,
                                error_body: None,
                            },
                        });
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            completed,
            tasks,
        }
    }

    /// Requests completed so far.
    pub(crate) fn completed(&self) -> usize {
        self.completed.load(Ordering::Relaxed)
    }

    /// Waits until `n` more requests than now have completed (bounded).
    pub(crate) async fn wait_more(&self, n: usize) {
        let target = self.completed() + n;
        wait_until(&format!("{n} more requests complete"), || {
            self.completed() >= target
        })
        .await;
    }

    /// Stops the clients and returns every sample, in order of completion.
    pub(crate) async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("load client task"));
        }
        all.sort_by_key(|s| s.end);
        all
    }
}

/// Asserts every sample is a 200, listing the first failures otherwise.
pub(crate) fn assert_all_ok(samples: &[Sample], what: &str) {
    let failed: Vec<String> = samples
        .iter()
        .filter(|s| s.status.as_ref().ok() != Some(&StatusCode::OK))
        .map(|s| match &s.status {
            Ok(status) => format!("{status}: {}", s.error_body.as_deref().unwrap_or("")),
            Err(e) => e.clone(),
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed; first ones: {:#?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
}
