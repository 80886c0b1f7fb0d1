//! A real Prometheus scraping the standalone monitor in front of a real predictor: every query of
//! the models dashboard (and the RED panels of the overview) returns data, and after a shifted
//! input distribution the drift gauge of the shifted feature crosses the threshold while the
//! others stay below it. (The same against `infergate serve`, with every panel of both
//! dashboards: gateway/tests/it/monitoring.rs.)

use http::StatusCode;
use infergate_monitor::test_support::{Dashboard, Prometheus, value};

use crate::support::{Http, iris_rows, iris_v2, monitor, predictor};

/// Panels of the overview only the gateway can fill (replicas, activator, autoscaler).
const GATEWAY_ONLY: &[&str] = &[
    "Replicas by state",
    "Traffic split (percent per revision)",
    "Cold starts (scale from zero): p50 and p99 seconds",
    "Cold starts in the range",
    "Activator queue depth",
    "Activator wait p99",
    "Autoscaler: stable and panic concurrency",
    "Autoscaler panic mode",
];

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
    let target = proxy.metrics.expect("metrics").to_string();
    let prometheus = Prometheus::start(&[target], &[]).await;
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

    let psi = |feature: &str| {
        format!(
            r#"infergate_feature_drift{{namespace="default", model="iris", feature="{feature}", method="psi"}}"#
        )
    };
    // Wait for the scrape after the last window value (the window is full only then).
    let shifted_psi = value(
        &prometheus
            .query_until_with("the drift of input[0]", &psi("input[0]"), |r| {
                match value(r) > 0.2 {
                    true => Ok(()),
                    false => Err(format!("PSI {}", value(r))),
                }
            })
            .await,
    );
    assert!(shifted_psi > 0.2, "shifted input[0]: PSI {shifted_psi}");
    for feature in ["input[1]", "input[2]", "input[3]"] {
        let psi = value(
            &prometheus
                .query_until("the other drifts", &psi(feature))
                .await,
        );
        assert!(psi < 0.1, "unshifted {feature}: PSI {psi}");
    }
    // The alert rule's comparison, evaluated by Prometheus itself.
    let over = r#"max by (namespace, model, feature) (infergate_feature_drift{method="psi"}) > on (namespace, model) group_left max by (namespace, model) (infergate_drift_threshold{level="drift"})"#;
    let crossing = prometheus
        .query(over)
        .await
        .expect("one feature over the threshold");
    assert_eq!(crossing.len(), 1, "{crossing:?}");
    assert_eq!(crossing[0]["metric"]["feature"], "input[0]");

    // Every query of the models dashboard returns data; of the overview, the RED panels.
    let mut ran = 0;
    for dashboard in Dashboard::load_all() {
        let queries = dashboard
            .queries()
            .into_iter()
            .chain(dashboard.variable_queries());
        for query in queries {
            if GATEWAY_ONLY.contains(&query.panel.as_str()) {
                continue;
            }
            let expr = dashboard.instant(&query.expr);
            let what = format!("{}: {}", dashboard.name(), query.panel);
            prometheus.query_until(&what, &expr).await;
            ran += 1;
        }
    }
    assert_eq!(
        ran,
        18 + 6 + 6,
        "every models query, the 6 RED queries of the overview, the 6 variables"
    );
}
