use std::collections::BTreeMap;
use std::path::Path;

use super::*;

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn from(pairs: &[(&str, &str)]) -> Result<ModelMonitoring, String> {
    ModelMonitoring::from_annotations(&annotations(pairs), Path::new("/nonexistent"))
        .map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let m = from(&[("other.io/x", "y")]).expect("no monitoring annotations");
    assert_eq!(m, ModelMonitoring::default());
    assert_eq!(m.sample_ratio, 1.0);
    assert_eq!((m.reference_size, m.window), (1000, 1000));
    assert_eq!((m.drift_warning, m.drift_threshold), (0.1, 0.2));
    assert_eq!(m.class_label(2), "2");
}

#[test]
fn every_annotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ref.json"),
        r#"{"features": {"input[0]": {"samples": [1, 2, 3]}}}"#,
    )
    .expect("write");
    let m = ModelMonitoring::from_annotations(
        &annotations(&[
            (SAMPLE_RATIO, "0.25"),
            (CLASS_NAMES, "setosa, versicolor,virginica"),
            (ARGMAX_OUTPUTS, "probabilities"),
            (OUTPUT_BUCKETS, "0.1,0.5, 0.9"),
            (REFERENCE, "ref.json"),
            (REFERENCE_SIZE, "50"),
            (WINDOW, "20"),
            (DRIFT_WARNING, "0.05"),
            (DRIFT_THRESHOLD, "0.3"),
        ]),
        dir.path(),
    )
    .expect("valid");
    assert_eq!(m.sample_ratio, 0.25);
    assert_eq!(m.class_label(1), "versicolor");
    assert_eq!(m.class_label(7), "7");
    assert_eq!(m.class_label(-1), "-1");
    assert_eq!(m.argmax_outputs, vec!["probabilities"]);
    assert_eq!(m.output_buckets, Some(vec![0.1, 0.5, 0.9]));
    assert!(
        m.reference
            .expect("loaded")
            .features
            .contains_key("input[0]")
    );
    assert_eq!((m.reference_size, m.window), (50, 20));
    assert_eq!((m.drift_warning, m.drift_threshold), (0.05, 0.3));
}

#[test]
fn errors_name_the_annotation() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(SAMPLE_RATIO, "2")],
            "`monitoring.infergate.dev/sample-ratio`: \"2\" must be between 0 and 1",
        ),
        (
            &[(SAMPLE_RATIO, "half")],
            "`monitoring.infergate.dev/sample-ratio`: \"half\" is not a number",
        ),
        (
            &[(WINDOW, "5")],
            "`monitoring.infergate.dev/window`: \"5\" must be between 10 and 1000000",
        ),
        (
            &[(DRIFT_WARNING, "0.3")],
            "`monitoring.infergate.dev/drift-warning`: \"0.3\" must not be above the drift threshold 0.2",
        ),
        (
            &[(OUTPUT_BUCKETS, "1,0.5")],
            "`monitoring.infergate.dev/output-buckets`",
        ),
        (
            &[("monitoring.infergate.dev/windw", "10")],
            "`monitoring.infergate.dev/windw` is not a monitoring setting; known: sample-ratio,",
        ),
        (
            &[(REFERENCE, "missing.json")],
            "`monitoring.infergate.dev/reference`: cannot read the reference file /nonexistent/missing.json",
        ),
    ];
    for (pairs, want) in cases {
        let got = from(pairs).expect_err("invalid");
        assert!(got.contains(want), "{pairs:?}: got {got:?}, want {want:?}");
    }
}

#[test]
fn monitor_file_resolves_defaults_and_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("monitor.yaml");
    std::fs::write(
        &path,
        "namespace: prod\ndefaults:\n  sample-ratio: 0.5\n  window: 100\nmodels:\n  iris:\n    class-names: [a, b]\n    window: 50\n",
    )
    .expect("write");
    let file = MonitorFile::load(&path).expect("valid YAML");
    assert_eq!(file.namespace, "prod");
    let (defaults, models) = file.resolve(&path, dir.path()).expect("valid");
    assert_eq!((defaults.sample_ratio, defaults.window), (0.5, 100));
    let iris = &models["iris"];
    assert_eq!((iris.sample_ratio, iris.window), (0.5, 50));
    assert_eq!(iris.class_names, vec!["a", "b"]);

    std::fs::write(&path, "models:\n  iris:\n    windo: 5\n").expect("write");
    let e = MonitorFile::load(&path)
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("windo"), "{e}");
    std::fs::write(&path, "models:\n  iris:\n    window: 5\n").expect("write");
    let e = MonitorFile::load(&path)
        .expect("valid YAML")
        .resolve(&path, dir.path())
        .expect_err("window too small")
        .to_string();
    assert!(
        e.contains("model iris: `models.iris.window`: \"5\" must be between"),
        "{e}"
    );
}
