//! `infergate monitor` as a process: in front of an `infergate predictor` it records and scores
//! drift; in front of KServe's Python ModelServer (the benchmark venv, benches/peers/setup.sh)
//! it records the same distributions as in-gateway monitoring (`infergate serve`) does for the
//! same traffic. Every address is the one the process printed (no port is guessed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{
    ARGMAX_OUTPUTS, CLASS_NAMES, REFERENCE_SIZE, WINDOW, iris_rows, lines_with, recorded, send_v2,
    shifted,
};
use crate::support::{
    Gateway, Http, Isvc, Predictor, READY_TIMEOUT, copy_model, example, repo, spawn, write_config,
};

/// The distribution and drift families, which two monitors given the same traffic must agree
/// on exactly (RED timings differ; probability histograms could differ in a float's last bit
/// between onnxruntime builds, so they are left out).
const SAME: &[&str] = &[
    "infergate_feature_value",
    "infergate_feature_drift",
    "infergate_prediction_class_total",
    "infergate_drift_threshold",
    "infergate_monitor_samples_total",
];

/// A running `infergate monitor`, killed when dropped.
struct Monitor {
    _child: Child,
    base: String,
    metrics: String,
}

impl Monitor {
    /// Starts `infergate monitor` on ports 0 and reads both addresses from its stdout.
    async fn start(upstream: &str, config: &Path) -> Monitor {
        let config = config.display().to_string();
        let args = [
            "monitor",
            "--upstream",
            upstream,
            "--http-port",
            "0",
            "--metrics-port",
            "0",
            "--config",
            &config,
        ];
        let (child, line, log) = spawn(&args).await;
        let line =
            line.unwrap_or_else(|| panic!("monitor not ready; stderr:\n{}", log.lock().unwrap()));
        let base = line
            .strip_prefix("infergate monitor ready on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .trim()
            .to_owned();
        // Its second stdout line joins the log (see `spawn`).
        let metrics = wait_for_line(&log, "stdout: infergate metrics on ").await;
        Monitor {
            _child: child,
            base,
            metrics,
        }
    }
}

/// Waits (bounded) until `log` has a line starting with `prefix`; returns the rest of it.
async fn wait_for_line(log: &Arc<Mutex<String>>, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let found = log
            .lock()
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(|rest| rest.trim().to_owned()));
        if let Some(rest) = found {
            return rest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line {prefix:?} within {READY_TIMEOUT:?}:\n{}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// KServe's ModelServer serving examples/models/iris.onnx from the benchmark venv, on the port
/// uvicorn reports, killed when dropped. Fails (does not skip) when the venv is missing.
struct KServe {
    _child: Child,
    base: String,
}

impl KServe {
    async fn start() -> KServe {
        let home = std::env::var_os("INFERGATE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let data = std::env::var_os("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share")
                    });
                data.join("infergate")
            });
        let python = home.join("bench-venv/bin/python");
        assert!(
            python.is_file(),
            "{} missing: run benches/peers/setup.sh (creates KServe's venv)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(repo().join("benches/peers/kserve_onnx.py"))
            .args([
                "--model_name",
                "iris",
                "--model_path",
                &example("models/iris.onnx"),
            ])
            .args(["--http_port", "0", "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start KServe");
        // uvicorn logs the port it bound: "Uvicorn running on http://127.0.0.1:PORT (...)".
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let running = wait_for_line_containing(&log, "Uvicorn running on ").await;
        let base = running
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let http = Http::new();
        let ready = format!("{base}/v2/models/iris/ready");
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let reply = http
                .try_send(http::Method::GET, &ready, &[], bytes::Bytes::new())
                .await;
            if reply.is_ok_and(|r| r.status == StatusCode::OK) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "KServe not ready within {READY_TIMEOUT:?}:\n{}",
                log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        KServe {
            _child: child,
            base,
        }
    }
}

/// Waits (bounded) until a line of `log` contains `needle`; returns what follows it.
async fn wait_for_line_containing(log: &Arc<Mutex<String>>, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let found = log
            .lock()
            .unwrap()
            .lines()
            .find_map(|l| l.split_once(needle).map(|(_, rest)| rest.to_owned()));
        if let Some(rest) = found {
            return rest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {needle:?} within {READY_TIMEOUT:?}:\n{}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The standalone monitor's YAML with the settings the gateway's annotations give.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("monitor.yaml");
    let yaml = format!(
        "namespace: default\nmodels:\n  iris:\n    class-names: [{}]\n    argmax-outputs: [{ARGMAX_OUTPUTS}]\n    reference-size: {REFERENCE_SIZE}\n    window: {WINDOW}\n",
        CLASS_NAMES.replace(',', ", ")
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// 150 iris rows, then the same with `input[0]` shifted: 20 requests.
async fn traffic(http: &Http, base: &str) {
    let rows = iris_rows();
    send_v2(http, base, &rows).await;
    send_v2(http, base, &shifted(&rows)).await;
}

const SAMPLES: &str = r#"infergate_monitor_samples_total{model="iris",namespace="default"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_front_of_a_predictor_records_and_scores_drift() {
    let predictor = Predictor::start_onnx("iris", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let monitor = Monitor::start(&predictor.base, &config(dir.path())).await;
    let http = Http::new();
    traffic(&http, &monitor.base).await;
    let text = recorded(&http, &monitor.metrics, SAMPLES, 20).await;
    let psi = |feature: &str| {
        let series = format!(
            r#"infergate_feature_drift{{feature="{feature}",method="psi",model="iris",namespace="default"}} "#
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series}in {text}"))
    };
    assert!(psi("input[0]") > 0.2, "{text}");
    for feature in ["input[1]", "input[2]", "input[3]"] {
        assert!(psi(feature) < 0.1, "{feature}: {text}");
    }
    assert!(
        text.contains(r#"infergate_requests_total{code="200",model="iris",namespace="default",protocol="v2",revision=""} 20"#),
        "{text}"
    );
}

/// The same 20 requests through `infergate monitor` in front of KServe and through
/// `infergate serve` (in-gateway monitoring, settings from annotations): the same feature
/// histograms, class counts, drift scores and thresholds, to the last digit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_front_of_kserve_records_what_the_gateway_records() {
    let dir = Gateway::config_dir();
    let model = copy_model(dir.path(), "iris.onnx", "monitoring-kserve.onnx");
    let isvc = Isvc::new("iris", &model)
        .annotation("monitoring.infergate.dev/class-names", CLASS_NAMES)
        .annotation("monitoring.infergate.dev/argmax-outputs", ARGMAX_OUTPUTS)
        .annotation("monitoring.infergate.dev/reference-size", REFERENCE_SIZE)
        .annotation("monitoring.infergate.dev/window", WINDOW);
    write_config(dir.path(), "iris.yaml", &isvc.yaml());
    let (kserve, gateway) = tokio::join!(KServe::start(), Gateway::start(dir));
    let scratch = tempfile::tempdir().unwrap();
    let on_kserve = Monitor::start(&kserve.base, &config(scratch.path())).await;
    gateway.wait_ready("default", "iris").await;

    let http = Http::new();
    traffic(&http, &on_kserve.base).await;
    traffic(&http, &gateway.base).await;
    let kserve_text = recorded(&http, &on_kserve.metrics, SAMPLES, 20).await;
    let gateway_text = recorded(&http, &gateway.metrics_url().await, SAMPLES, 20).await;

    let kserve_lines = lines_with(&kserve_text, SAME);
    assert!(kserve_lines.len() > 40, "{kserve_text}");
    assert_eq!(kserve_lines, lines_with(&gateway_text, SAME));
    // Both saw the drift: the shifted feature over the drift line.
    let drift = r#"infergate_feature_drift{feature="input[0]",method="psi",model="iris",namespace="default"}"#;
    let psi = kserve_lines
        .iter()
        .find_map(|l| l.strip_prefix(drift)?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {drift} in {kserve_text}"));
    assert!(psi > 0.2, "{psi}");
    for text in [&kserve_text, &gateway_text] {
        assert!(
            !text.contains("infergate_monitor_unparsable_total{"),
            "{text}"
        );
    }
}
