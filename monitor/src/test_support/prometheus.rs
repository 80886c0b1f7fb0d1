//! [`Prometheus`]: a real Prometheus on 127.0.0.1 with a temporary config and storage, scraping
//! given targets every second, killed when dropped.
//!
//! It listens on port 0; its address is read from its own log line
//! (`msg="Listening on" address=127.0.0.1:PORT`), never guessed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long Prometheus may take to start, and a query to return data.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a query is retried until it returns data.
const POLL: Duration = Duration::from_millis(100);

/// A running Prometheus (see the module docs).
pub struct Prometheus {
    _child: Child,
    base: String,
    log: Arc<Mutex<String>>,
    client: Client<HttpConnector, Full<Bytes>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

// === impl Prometheus ===

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) every second and
    /// evaluating `rule_files` every second; returns once it listens.
    pub async fn start(targets: &[String], rule_files: &[PathBuf]) -> Prometheus {
        let dir = tempfile::tempdir().expect("a temporary folder for Prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(targets, rule_files)).expect("write prometheus.yml");
        let mut child = Command::new(super::tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address) = tokio::sync::oneshot::channel();
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            let mut address_tx = Some(address_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("msg=\"Listening on\"")
                    && let Some(at) = line.split("address=").nth(1)
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(at.split_whitespace().next().unwrap_or("").to_owned());
                }
                let mut log = sink.lock().expect("the log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = tokio::time::timeout(TIMEOUT, address).await;
        let Ok(Ok(address)) = address else {
            panic!(
                "prometheus did not say where it listens within {TIMEOUT:?}:\n{}",
                log.lock().expect("the log lock")
            );
        };
        Prometheus {
            _child: child,
            base: format!("http://{address}"),
            log,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("the log lock").clone()
    }

    /// The instant-query result vector of `expr`, or why there is none (an error, or an empty
    /// result).
    pub async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let json = self
            .api(&format!("/api/v1/query?query={}", encode(expr)))
            .await?;
        let result = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match result.is_empty() {
            true => Err(format!("empty result: {json}")),
            false => Ok(result),
        }
    }

    /// [`Prometheus::query`] retried until it returns data (bounded); panics naming `what`.
    pub async fn query_until(&self, what: &str, expr: &str) -> Vec<Value> {
        self.query_until_with(what, expr, |_| Ok(())).await
    }

    /// [`Prometheus::query`] retried until it returns data that `accept` accepts (bounded);
    /// panics naming `what`, with the last answer.
    pub async fn query_until_with(
        &self,
        what: &str,
        expr: &str,
        accept: impl Fn(&[Value]) -> Result<(), String>,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let last = match self.query(expr).await {
                Ok(result) => match accept(&result) {
                    Ok(()) => return result,
                    Err(why) => why,
                },
                Err(why) => why,
            };
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: no data within {TIMEOUT:?} for {expr}\nlast: {last}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The scrape targets' health, `(scrapeUrl, health)`.
    pub async fn targets(&self) -> Result<Vec<(String, String)>, String> {
        let json = self.api("/api/v1/targets").await?;
        Ok(json["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let field = |k: &str| t[k].as_str().unwrap_or("").to_owned();
                (field("scrapeUrl"), field("health"))
            })
            .collect())
    }

    async fn api(&self, path_and_query: &str) -> Result<Value, String> {
        let url = format!("{}{path_and_query}", self.base);
        let req = Request::get(&url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| format!("{url}: no answer in time"))?
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

/// The single sample value of a one-series instant result.
pub fn value(result: &[Value]) -> f64 {
    result[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a sample value in {result:?}"))
}

fn config_yaml(targets: &[String], rule_files: &[PathBuf]) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let targets: Vec<String> = targets.iter().map(|t| quote(t)).collect();
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: infergate\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    if !rule_files.is_empty() {
        yaml.push_str("rule_files:\n");
        for file in rule_files {
            yaml.push_str(&format!(
                "  - {}\n",
                quote(&Path::new(file).display().to_string())
            ));
        }
    }
    yaml
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
