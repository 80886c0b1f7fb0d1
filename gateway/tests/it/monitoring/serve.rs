//! `infergate serve` scraped by a real Prometheus, through the issue's scripted run: traffic
//! (the drift reference), a rollout to a new revision, a scale from zero, then a shifted input
//! distribution. Afterwards every query of every panel of both dashboards (and every template
//! variable) returns data from that Prometheus, the drift gauge of the shifted feature is over
//! the drift threshold while the others stay under the warning line, Prometheus's own rule
//! evaluation has the drift alert pending for that feature only, and promtool finds nothing
//! wrong in the gateway's exposition.
//!
//! Windows are shortened as in the autoscaling tests, so the revision reaches zero about 7 s
//! after its last request.

use std::process::Stdio;

use infergate_monitor::test_support::{Dashboard, Prometheus, tool, value};
use serde_json::Value;

use super::{
    ARGMAX_OUTPUTS, CLASS_NAMES, REFERENCE_SIZE, WINDOW, iris_rows, iris_v1, recorded, send_v2,
    shifted,
};
use crate::support::{
    Gateway, copy_model, processes_with_arg, repo, revision, traffic, wait_until, write_config,
};

const R1: &str = "iris-predictor-00001";
const R2: &str = "iris-predictor-00002";
const SAMPLES: &str = r#"infergate_monitor_samples_total{model="iris",namespace="default"}"#;

/// The flags that shorten the cluster-wide autoscaler settings.
const FAST: &[&str] = &[
    "--scale-to-zero-grace-period",
    "1s",
    "--autoscaler-tick",
    "200ms",
];

/// iris with monitoring settings, scaling to zero after a 6 s stable window.
fn iris(model: &str) -> String {
    crate::support::Isvc::new("iris", model)
        .annotation("autoscaling.knative.dev/window", "6s")
        .annotation("monitoring.infergate.dev/class-names", CLASS_NAMES)
        .annotation("monitoring.infergate.dev/argmax-outputs", ARGMAX_OUTPUTS)
        .annotation("monitoring.infergate.dev/reference-size", REFERENCE_SIZE)
        .annotation("monitoring.infergate.dev/window", WINDOW)
        .predictor("minReplicas: 0")
        .yaml()
}

/// A PSI gauge of the iris service, as an instant query.
fn psi(feature: &str) -> String {
    format!(
        r#"infergate_feature_drift{{namespace="default", model="iris", feature="{feature}", method="psi"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_every_dashboard_panel_through_a_scripted_run() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "monitoring-e2e-1.onnx");
    let m2 = copy_model(dir.path(), "iris.onnx", "monitoring-e2e-2.onnx");
    write_config(dir.path(), "iris.yaml", &iris(&m1));
    let gw = Gateway::start_with(dir, &[], FAST).await;
    let metrics = gw.metrics_url().await;
    let target = metrics
        .strip_prefix("http://")
        .and_then(|m| m.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("a metrics URL: {metrics}"))
        .to_owned();
    let (targets, rules) = (
        [target],
        [repo().join("dashboards/alerts/infergate.rules.yaml")],
    );
    let (prometheus, _) = tokio::join!(
        Prometheus::start(&targets, &rules),
        gw.wait_ready("default", "iris")
    );
    let infer = gw.url("/v2/models/iris/infer");
    let rows = iris_rows();

    // 1. Traffic: the 150 rows, the drift reference.
    send_v2(&gw.http, &gw.base, &rows).await;

    // 2. A rollout: a new model file makes a new revision, which takes all the traffic.
    gw.write("iris.yaml", &iris(&m2));
    gw.wait_view(
        "default",
        "iris",
        "the new revision takes all traffic",
        |v| {
            revision(v, R2).is_some_and(|r| r["state"] == "Ready")
                && traffic(v) == [(R2.to_owned(), 100)]
        },
    )
    .await;
    for chunk in rows.chunks(75) {
        let reply = gw
            .http
            .post(&gw.url("/v1/models/iris:predict"), iris_v1(chunk))
            .await;
        reply.assert_ok();
        assert_eq!(reply.headers["x-infergate-revision"], R2);
    }
    // The window is now the reference rows again, sent as V1 (JSON numbers, where V2 sent FP32):
    // no drift.
    let text = recorded(&gw.http, &metrics, SAMPLES, 12).await;
    for feature in ["input[0]", "input[1]", "input[2]", "input[3]"] {
        let series = format!(
            r#"infergate_feature_drift{{feature="{feature}",method="psi",model="iris",namespace="default"}} "#
        );
        let score = text
            .lines()
            .find_map(|l| l.strip_prefix(&series)?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series}in {text}"));
        assert!(score < 0.01, "{feature} after V1 traffic: PSI {score}");
    }

    // 3. A scale from zero: idle, the revision goes to zero; the next request wakes it.
    gw.wait_view("default", "iris", "the new revision at zero", |v| {
        revision(v, R2).is_some_and(|r| r["atZero"] == true && r["readyReplicas"] == 0)
    })
    .await;
    wait_until("the revision's process exits", || {
        processes_with_arg(&m2).is_empty()
    })
    .await;
    let reply = gw.http.post(&infer, super::iris_v2(&rows[..1])).await;
    reply.assert_ok();
    assert_eq!(reply.headers["x-infergate-revision"], R2);

    // 4. A shifted input distribution: the window (the last 150 rows) is all shifted.
    send_v2(&gw.http, &gw.base, &shifted(&rows)).await;

    // Drift, as Prometheus scraped it once the window was full of shifted rows.
    let over = |r: &[Value]| match value(r) > 0.2 {
        true => Ok(()),
        false => Err(format!("PSI {}", value(r))),
    };
    prometheus
        .query_until_with("input[0] drifts", &psi("input[0]"), over)
        .await;
    // The unshifted features stayed under the warning line at every scrape of the run.
    for feature in ["input[1]", "input[2]", "input[3]"] {
        let highest = format!("max_over_time({}[5m])", psi(feature));
        let score = value(&prometheus.query_until("the other drifts", &highest).await);
        assert!(score < 0.1, "unshifted {feature}: PSI up to {score}");
    }
    // The drift alert's own expression, evaluated by Prometheus's rule engine: pending (its
    // `for` is 10 minutes) for input[0], and never for another feature during the run.
    let pending = prometheus
        .query_until(
            "the drift alert pending",
            r#"max_over_time(ALERTS{alertname="InfergateFeatureDrift", alertstate="pending"}[5m])"#,
        )
        .await;
    let features: Vec<&Value> = pending.iter().map(|s| &s["metric"]["feature"]).collect();
    assert_eq!(features, ["input[0]"], "ever pending: {pending:?}");

    // What the script did, as Prometheus has it.
    let cold = format!(r#"infergate_cold_start_seconds_count{{model="iris", revision="{R2}"}}"#);
    let cold = value(&prometheus.query_until("the cold start", &cold).await);
    assert_eq!(cold, 1.0, "one scale from zero");
    let revisions = prometheus
        .query_until_with(
            "requests of both revisions",
            r#"sum by (revision) (infergate_requests_total{model="iris", code="200"})"#,
            |r| match r.len() {
                2 => Ok(()),
                n => Err(format!("{n} revisions: {r:?}")),
            },
        )
        .await;
    let mut names: Vec<&str> = revisions
        .iter()
        .filter_map(|s| s["metric"]["revision"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, [R1, R2], "{revisions:?}");

    // Every query of every panel of both dashboards, and every variable, returns data.
    let mut ran = 0;
    for dashboard in Dashboard::load_all() {
        let queries = dashboard
            .queries()
            .into_iter()
            .chain(dashboard.variable_queries());
        for query in queries {
            let expr = dashboard.instant(&query.expr);
            let what = format!("{}: {}", dashboard.name(), query.panel);
            prometheus.query_until(&what, &expr).await;
            ran += 1;
        }
    }
    assert_eq!(ran, 16 + 18 + 2 + 4, "every query of both dashboards");

    // promtool's linter on the gateway's whole exposition.
    let exposition = gw.http.get(&metrics).await.body;
    let mut promtool = tokio::process::Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = promtool.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &exposition)
        .await
        .unwrap();
    drop(stdin);
    let out = promtool.wait_with_output().await.unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
