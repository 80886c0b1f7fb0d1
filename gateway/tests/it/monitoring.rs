//! `infergate monitor`: the standalone monitoring proxy, as a process, in front of an
//! `infergate predictor` and in front of KServe's Python ModelServer (the benchmark venv,
//! benches/peers/setup.sh): the same traffic records the same distributions.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use http::StatusCode;
use tokio::process::{Child, Command};

use crate::support::{Http, Predictor, READY_TIMEOUT, example, repo, spawn};

/// A running `infergate monitor`, killed when dropped.
struct Monitor {
    _child: Child,
    base: String,
    metrics: String,
}

impl Monitor {
    async fn start(upstream: &str, config: &std::path::Path) -> Monitor {
        let metrics_port = free_port().to_string();
        let config = config.display().to_string();
        let args = [
            "monitor",
            "--upstream",
            upstream,
            "--http-port",
            "0",
            "--metrics-port",
            &metrics_port,
            "--config",
            &config,
        ];
        let (child, line, stderr) = spawn(&args).await;
        let line = line
            .unwrap_or_else(|| panic!("monitor not ready; stderr:\n{}", stderr.lock().unwrap()));
        let base = line
            .strip_prefix("infergate monitor ready on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .trim()
            .to_owned();
        Monitor {
            _child: child,
            base,
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        }
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// KServe's ModelServer serving examples/models/iris.onnx from the benchmark venv, killed when
/// dropped. Fails (does not skip) when the venv is missing.
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
        let port = free_port();
        let child = Command::new(&python)
            .arg(repo().join("benches/peers/kserve_onnx.py"))
            .args([
                "--model_name",
                "iris",
                "--model_path",
                &example("models/iris.onnx"),
            ])
            .args(["--http_port", &port.to_string(), "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start KServe");
        let base = format!("http://127.0.0.1:{port}");
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
                "KServe not ready within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        KServe {
            _child: child,
            base,
        }
    }
}

fn iris_rows() -> Vec<[f32; 4]> {
    let json = crate::support::read_json("examples/reference/iris.json");
    let data = json["cases"][0]["inputs"]["input"]["data"]
        .as_array()
        .unwrap();
    data.chunks(4)
        .map(|c| std::array::from_fn(|i| c[i].as_f64().unwrap() as f32))
        .collect()
}

fn iris_v2(rows: &[[f32; 4]]) -> String {
    let data: Vec<String> = rows.iter().flatten().map(|v| v.to_string()).collect();
    format!(
        r#"{{"inputs": [{{"name": "input", "shape": [{}, 4], "datatype": "FP32", "data": [{}]}}]}}"#,
        rows.len(),
        data.join(",")
    )
}

fn config(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("monitor.yaml");
    std::fs::write(
        &path,
        "models:\n  iris:\n    class-names: [setosa, versicolor, virginica]\n    argmax-outputs: [probabilities]\n    reference-size: 150\n    window: 150\n",
    )
    .unwrap();
    path
}

/// The monitoring series of `text` (distributions and drift; not RED, whose timings differ).
fn distributions(text: &str, prefixes: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Sends the 150 iris rows, then the rows with input[0] shifted, in batches of 15, to `base`.
async fn traffic(http: &Http, base: &str) {
    let rows = iris_rows();
    let shifted: Vec<[f32; 4]> = rows
        .iter()
        .map(|r| [r[0] + 3.0, r[1], r[2], r[3]])
        .collect();
    for chunk in rows.chunks(15).chain(shifted.chunks(15)) {
        let reply = http
            .post(&format!("{base}/v2/models/iris/infer"), iris_v2(chunk))
            .await;
        reply.assert_ok();
    }
}

/// Waits until the monitor at `metrics` has recorded `n` exchanges; returns its exposition.
async fn recorded(http: &Http, metrics: &str, n: usize) -> String {
    let want = format!(r#"infergate_monitor_samples_total{{model="iris",namespace=""}} {n}"#);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&http.get(metrics).await.body).into_owned();
        if text.lines().any(|l| l == want) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not {n} recorded: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_front_of_a_predictor_records_and_scores_drift() {
    let predictor = Predictor::start_onnx("iris", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let monitor = Monitor::start(&predictor.base, &config(dir.path())).await;
    let http = Http::new();
    traffic(&http, &monitor.base).await;
    let text = recorded(&http, &monitor.metrics, 20).await;
    let psi = |feature: &str| {
        let series = format!(
            r#"infergate_feature_drift{{feature="{feature}",method="psi",model="iris",namespace=""}} "#
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series}in {text}"))
    };
    assert!(psi("input[0]") > 0.2, "{text}");
    for feature in ["input[1]", "input[2]", "input[3]"] {
        assert!(psi(feature) < 0.1, "{feature}: {text}");
    }
    assert!(text.contains(r#"infergate_requests_total{code="200",model="iris",namespace="",protocol="v2",revision=""} 20"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_in_front_of_kserve_records_the_same_distributions() {
    let (kserve, predictor) = tokio::join!(KServe::start(), Predictor::start_onnx("iris", &[]));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (on_kserve, on_infergate) = tokio::join!(
        Monitor::start(&kserve.base, &config),
        Monitor::start(&predictor.base, &config)
    );
    let http = Http::new();
    traffic(&http, &on_kserve.base).await;
    traffic(&http, &on_infergate.base).await;
    let kserve_text = recorded(&http, &on_kserve.metrics, 20).await;
    let infergate_text = recorded(&http, &on_infergate.metrics, 20).await;
    // Inputs are the same bytes; the label (INT64) and the argmax of the probabilities are
    // exact on both servers. (Probability histograms could differ in the last float bit.)
    let prefixes = [
        "infergate_feature_value",
        "infergate_feature_drift",
        "infergate_prediction_class_total",
        "infergate_monitor_samples_total",
    ];
    let kserve_lines = distributions(&kserve_text, &prefixes);
    assert!(kserve_lines.len() > 40, "{kserve_text}");
    assert_eq!(kserve_lines, distributions(&infergate_text, &prefixes));
    assert!(
        !kserve_text.contains("infergate_monitor_unparsable_total{"),
        "{kserve_text}"
    );
}
