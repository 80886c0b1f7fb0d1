use std::sync::Arc;

use prometheus::Registry;

use super::*;
use crate::config::MAX_CLASSES;
use crate::extract::{Class, Series, Values};
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

/// A body's series as a batch.
fn batch(series: Vec<Series>) -> Batch {
    let mut batch = Batch::default();
    for Series { name, values } in series {
        match values {
            Values::Numbers(v) => batch.push_numbers(name, v),
            Values::Classes(v) => batch.push_classes(name, v.into_iter().map(Class::Label)),
        }
    }
    batch
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
        &batch(vec![numbers("f", (0..10).map(|_| 5.0))]),
    );
    state.record(
        &families,
        Role::Output,
        &batch(vec![classes(
            "label",
            &["a", "b", "c", "a", "b", "a", "b", "a", "b", "a"],
        )]),
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
        &batch(vec![numbers("f", (0..25).map(f64::from))]),
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
        &batch(vec![numbers("f", (0..5).map(f64::from))]),
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
    state.record(
        &families,
        Role::Output,
        &batch(vec![classes("label", &refs)]),
    );
    let series: Vec<Series> = (0..MAX_SERIES + 3)
        .map(|i| numbers(&format!("f[{i}]"), [1.0]))
        .collect();
    state.record(&families, Role::Feature, &batch(series));
    state.flush();
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
        &batch(vec![numbers("score", [0.2, 0.7, 3.0])]),
    );
    state.flush();
    let text = render(&registry);
    assert!(text.contains(r#"infergate_prediction_value_bucket{model="m",namespace="ns",output="score",le="0.5"} 1"#), "{text}");
    assert!(text.contains(r#"infergate_prediction_value_bucket{model="m",namespace="ns",output="score",le="+Inf"} 3"#), "{text}");
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Series are matched by their place in the last body first: a body whose series come in
/// another order, with a new one, or with fewer, still records each value into its own series.
#[test]
fn series_are_found_whatever_their_order() {
    let config = ModelMonitoring {
        reference_size: 10,
        window: 10,
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    let orders: [&[&str]; 6] = [
        &["a", "b"],
        &["a", "b"],
        &["b", "a"],
        &["c", "b", "a"],
        &["a"],
        &["b", "c", "a", "d"],
    ];
    let mut want = std::collections::BTreeMap::<&str, f64>::new();
    for round in 0..60 {
        let order = orders[round % orders.len()];
        let series = order.iter().map(|&name| {
            *want.entry(name).or_default() += 1.0;
            let v = f64::from(u32::from(name.as_bytes()[0] - b'a') + 1);
            numbers(name, [v])
        });
        state.record(&families, Role::Feature, &batch(series.collect()));
    }
    state.flush();
    let text = render(&registry);
    for (name, count) in want {
        let v = f64::from(u32::from(name.as_bytes()[0] - b'a') + 1);
        let series = |suffix: &str| {
            format!(
                r#"infergate_feature_value_{suffix}{{feature="{name}",model="m",namespace="ns"}}"#
            )
        };
        assert_eq!(
            value(&text, &series("count")),
            Some(count),
            "{name}: {text}"
        );
        assert_eq!(
            value(&text, &series("sum")),
            Some(count * v),
            "{name}: {text}"
        );
    }
    assert_eq!(state.features.len(), 4);
}

/// Integer classes are counted under their label: two indices with the same name share a
/// counter, and classes past the cap count as "other", whether found by index or by label.
#[test]
fn integer_classes_are_counted_by_label() {
    let config = ModelMonitoring {
        class_names: vec!["x".into(), "x".into(), "y".into()],
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    let mut body = Batch::default();
    let indices = [0, 1, 2, 7, -1, 5000]
        .into_iter()
        .chain(0..MAX_CLASSES as i64 + 10);
    body.push_classes("label".into(), indices.map(Class::Index));
    body.push_classes(
        "label".into(),
        [Class::Label("y".into()), Class::Label("z".into())],
    );
    state.record(&families, Role::Output, &body);
    state.record(&families, Role::Output, &body);
    state.flush();
    let text = render(&registry);
    let count = |class: &str| {
        let series = format!(
            r#"infergate_prediction_class_total{{class="{class}",model="m",namespace="ns",output="label"}}"#
        );
        value(&text, &series)
    };
    // Per body, x: 0 and 1 twice each; y: 2 twice and "y". The first 100 labels in order of
    // arrival are x, y, 7, -1, 5000, then 3..=6 and 8..=98; 99..=109 and "z" are "other".
    assert_eq!(count("x"), Some(8.0), "{text}");
    assert_eq!(count("y"), Some(6.0), "{text}");
    assert_eq!(count("7"), Some(4.0), "{text}");
    assert_eq!(count("5000"), Some(2.0), "{text}");
    assert_eq!(count("98"), Some(2.0), "{text}");
    assert_eq!(count("99"), None, "{text}");
    assert_eq!(count("other"), Some(24.0), "{text}");
}

/// Values published in batches sum exactly as one histogram observing each value in turn
/// would: the sum carries on from the published one, in observation order.
#[test]
fn batched_sums_are_the_sums_of_each_value_in_turn() {
    let config = ModelMonitoring {
        reference_size: 10,
        window: 10,
        ..ModelMonitoring::default()
    };
    let (families, registry, mut state) = setup(config);
    let values: Vec<f64> = (0..500)
        .map(|i| f64::from(i * 7919 % 1000) / 7.0 + 0.1)
        .collect();
    let reference = crate::bins::Reference::from_values(&values[..10]).expect("finite");
    let want = values
        .iter()
        .fold(0.0, |sum, &v| sum + reference.bins.snap(v));
    for (i, body) in values.chunks(7).enumerate() {
        let series = numbers("f", body.iter().copied());
        state.record(&families, Role::Feature, &batch(vec![series]));
        if i % 3 == 0 {
            state.flush();
        }
    }
    state.flush();
    let text = render(&registry);
    let sum = r#"infergate_feature_value_sum{feature="f",model="m",namespace="ns"}"#;
    assert_eq!(value(&text, sum), Some(want), "{text}");
    let count = r#"infergate_feature_value_count{feature="f",model="m",namespace="ns"}"#;
    assert_eq!(value(&text, count), Some(500.0), "{text}");
}
