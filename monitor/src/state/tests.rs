use std::sync::Arc;

use prometheus::Registry;

use super::*;
use crate::reference::ReferenceFile;
use crate::standalone::render;

fn numbers(name: &str, values: impl IntoIterator<Item = f64>) -> Series {
    Series {
        name: name.into(),
        values: Values::Numbers(values.into_iter().collect()),
    }
}

fn classes(name: &str, values: &[&str]) -> Series {
    Series {
        name: name.into(),
        values: Values::Classes(values.iter().map(|s| (*s).to_owned()).collect()),
    }
}

fn setup(config: ModelMonitoring) -> (Families, Registry, ModelState) {
    let registry = Registry::new();
    let families = Families::register(&registry).expect("register");
    let state = ModelState::new(&families, "ns", "m", Arc::new(config));
    (families, registry, state)
}

#[test]
fn reference_file_series_are_ready_at_once() {
    let file = ReferenceFile::parse(
        br#"{"features": {"f": {"edges": [0, 10], "counts": [10, 80, 10]}},
             "outputs": {"label": {"classes": {"a": 1, "b": 1}}}}"#,
        std::path::Path::new("ref.json"),
    )
    .expect("valid");
    let config = ModelMonitoring {
        reference: Some(Arc::new(file)),
        window: 10,
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    state.record(
        &families,
        Role::Feature,
        vec![numbers("f", (0..10).map(|_| 5.0))],
    );
    state.record(
        &families,
        Role::Output,
        vec![classes(
            "label",
            &["a", "b", "c", "a", "b", "a", "b", "a", "b", "a"],
        )],
    );
    state.score(&families);
    let text = render(&registry);
    // Histogram buckets are the file's edges.
    assert!(
        text.contains(
            r#"infergate_feature_value_bucket{feature="f",model="m",namespace="ns",le="10"} 10"#
        ),
        "{text}"
    );
    // All in the middle bin (80%): PSI = 0.2 ln(1/0.8) + 2 · (ε' − 0.1) ln(ε'/0.1) > 0.
    assert!(
        text.contains(
            r#"infergate_feature_drift{feature="f",method="psi",model="m",namespace="ns"}"#
        ),
        "{text}"
    );
    // "c" is not a reference class: it lands in the "other" bin and is still counted as itself.
    assert!(text.contains(r#"infergate_prediction_class_total{class="c",model="m",namespace="ns",output="label"} 1"#), "{text}");
    assert!(
        text.contains(
            r#"infergate_prediction_drift{method="js",model="m",namespace="ns",output="label"}"#
        ),
        "{text}"
    );
}

#[test]
fn no_drift_score_before_the_window_is_full() {
    let config = ModelMonitoring {
        reference_size: 10,
        window: 20,
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    state.record(
        &families,
        Role::Feature,
        vec![numbers("f", (0..25).map(f64::from))],
    );
    state.score(&families);
    let text = render(&registry);
    assert!(!text.contains("infergate_feature_drift{"), "{text}");
    assert!(
        text.contains(r#"infergate_feature_value_count{feature="f",model="m",namespace="ns"} 25"#),
        "{text}"
    );
    state.record(
        &families,
        Role::Feature,
        vec![numbers("f", (0..5).map(f64::from))],
    );
    // Recording marks the series; scoring sets the gauges.
    assert!(!render(&registry).contains("infergate_feature_drift{"));
    state.score(&families);
    assert!(render(&registry).contains("infergate_feature_drift{"));
}

#[test]
fn classes_and_series_are_capped() {
    let (families, registry, mut state) = setup(ModelMonitoring::default());
    let many: Vec<String> = (0..MAX_CLASSES + 5).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    state.record(&families, Role::Output, vec![classes("label", &refs)]);
    let series: Vec<Series> = (0..MAX_SERIES + 3)
        .map(|i| numbers(&format!("f[{i}]"), [1.0]))
        .collect();
    state.record(&families, Role::Feature, series);
    let text = render(&registry);
    assert!(text.contains(r#"infergate_prediction_class_total{class="other",model="m",namespace="ns",output="label"} 5"#), "{text}");
    let class_lines = text
        .lines()
        .filter(|l| l.starts_with("infergate_prediction_class_total{"))
        .count();
    assert_eq!(class_lines, MAX_CLASSES + 1);
    assert_eq!(state.features.len(), MAX_SERIES);
}

#[test]
fn explicit_output_buckets() {
    let config = ModelMonitoring {
        output_buckets: Some(vec![0.5, 1.0]),
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    state.record(
        &families,
        Role::Output,
        vec![numbers("score", [0.2, 0.7, 3.0])],
    );
    let text = render(&registry);
    assert!(text.contains(r#"infergate_prediction_value_bucket{model="m",namespace="ns",output="score",le="0.5"} 1"#), "{text}");
    assert!(text.contains(r#"infergate_prediction_value_bucket{model="m",namespace="ns",output="score",le="+Inf"} 3"#), "{text}");
}
