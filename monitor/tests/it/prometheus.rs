//! A real Prometheus scraping the standalone monitor in front of a real predictor: every query of
//! the models dashboard (and the RED panels of the overview) returns data, and after a shifted
//! input distribution the drift gauge of the shifted feature crosses the threshold while the
//! others stay below it.

use std::process::{Child, Command, Stdio};

use http::StatusCode;

use crate::dashboards::{dashboards, queries};
use crate::support::{Http, eventually, iris_rows, iris_v2, monitor, predictor, tool};

/// A Prometheus on 127.0.0.1 with a temporary config and storage, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: infergate\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write config");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("addr").port()
        };
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The instant-query result vector of `expr`, or why there is none.
    async fn query(&self, http: &Http, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let url = format!("{}/api/v1/query?query={}", self.base, encode(expr));
        let reply = http.try_get(&url).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("{}: {}", reply.status, reply.text()));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&reply.body).map_err(|e| e.to_string())?;
        let result = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match result.is_empty() {
            true => Err(format!("empty result: {json}")),
            false => Ok(result),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A dashboard query with Grafana's variables replaced for an instant query.
fn instant(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "5m")
        .replace("$namespace", ".*")
        .replace("$model", ".*")
        .replace("$feature", ".*")
        .replace("$output", ".*")
}

/// The single value of a one-series result.
fn value(result: &[serde_json::Value]) -> f64 {
    result[0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a sample value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_distributions_and_drift() {
    let upstream = predictor().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("monitor.yaml");
    // Reference: the 150 iris rows; window: the next 150 rows.
    std::fs::write(
        &config,
        "namespace: default\nmodels:\n  iris:\n    class-names: [setosa, versicolor, virginica]\n    reference-size: 150\n    window: 150\n    drift-threshold: 0.2\n",
    )
    .expect("write config");
    let proxy = monitor(&upstream.url(""), Some(&config)).await;
    let prometheus = Prometheus::start(&proxy.metrics.expect("metrics").to_string());
    let http = Http::new();

    let rows = iris_rows();
    // The reference, then the same rows with sepal length (input[0]) shifted by +3 cm.
    let shifted: Vec<[f32; 4]> = rows
        .iter()
        .map(|r| [r[0] + 3.0, r[1], r[2], r[3]])
        .collect();
    for chunk in rows.chunks(15).chain(shifted.chunks(15)) {
        let reply = http
            .post(&proxy.url("/v2/models/iris/infer"), iris_v2(chunk))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }

    let drift = |feature: &'static str| {
        let expr = format!(
            r#"infergate_feature_drift{{namespace="default", model="iris", feature="{feature}", method="psi"}}"#
        );
        let (http, prometheus) = (http.clone(), &prometheus);
        async move { prometheus.query(&http, &expr).await.map(|r| value(&r)) }
    };
    let shifted_psi =
        eventually("Prometheus has the drift of input[0]", || drift("input[0]")).await;
    assert!(shifted_psi > 0.2, "shifted input[0]: PSI {shifted_psi}");
    for feature in ["input[1]", "input[2]", "input[3]"] {
        let psi = eventually("Prometheus has the drift of the other features", || {
            drift(feature)
        })
        .await;
        assert!(psi < 0.1, "unshifted {feature}: PSI {psi}");
    }
    // The alert rule's comparison, evaluated by Prometheus itself.
    let over = r#"max by (namespace, model, feature) (infergate_feature_drift{method="psi"}) > on (namespace, model) group_left max by (namespace, model) (infergate_drift_threshold{level="drift"})"#;
    let crossing = prometheus
        .query(&http, over)
        .await
        .expect("one feature over the threshold");
    assert_eq!(crossing.len(), 1, "{crossing:?}");
    assert_eq!(crossing[0]["metric"]["feature"], "input[0]");

    // Every query of the models dashboard returns data; of the overview, the RED panels (the
    // replica, activator and autoscaler panels need the gateway: gateway/tests/it/monitoring.rs).
    let gateway_only = [
        "Replicas by state",
        "Traffic split (percent per revision)",
        "Cold starts (scale from zero): p50 and p99 seconds",
        "Cold starts in the range",
        "Activator queue depth",
        "Activator wait p99",
        "Autoscaler: stable and panic concurrency",
        "Autoscaler panic mode",
    ];
    let mut ran = 0;
    for (path, dashboard) in dashboards() {
        for (title, expr) in queries(&dashboard) {
            if gateway_only.contains(&title.as_str()) {
                continue;
            }
            let expr = instant(&expr);
            let (http, prometheus) = (http.clone(), &prometheus);
            let what = format!("{}: {title}: {expr}", path.display());
            eventually(&what, || {
                let (http, expr) = (http.clone(), expr.clone());
                async move { prometheus.query(&http, &expr).await }
            })
            .await;
            ran += 1;
        }
    }
    assert_eq!(
        ran,
        18 + 6,
        "every models query and the 6 RED queries of the overview"
    );
}
