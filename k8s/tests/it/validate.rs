//! Values that parse but that KServe rejects are reported, naming the field.

use infergate_k8s::{InferenceService, ScaleMetric, ValidationError};

use crate::support::{parse_sample, parse_single};

fn messages(isvc: &InferenceService) -> Vec<String> {
    match isvc.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn qps_scale_metric_is_reported() {
    let (isvc, warnings) = parse_single("kpa-scalemetric-qps.yaml");
    assert!(
        warnings.is_empty(),
        "qps is a value problem, not a field one: {warnings:?}"
    );
    let errors = isvc.validate().expect_err("scaleMetric: qps is invalid");
    assert_eq!(
        errors,
        [ValidationError::UnknownValue {
            field: "spec.predictor.scaleMetric".into(),
            value: "qps".into(),
            allowed: ScaleMetric::KNOWN,
        }]
    );
    assert_eq!(
        errors[0].to_string(),
        "spec.predictor.scaleMetric: `qps` is not one of cpu, memory, concurrency, rps"
    );
}

#[test]
fn every_other_sample_is_valid() {
    for entry in std::fs::read_dir(crate::support::samples_dir()).expect("samples") {
        let file = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if !file.ends_with(".yaml") || file == "kpa-scalemetric-qps.yaml" {
            continue;
        }
        for doc in parse_sample(&file) {
            let isvc = doc.isvc.expect("an InferenceService");
            assert_eq!(messages(&isvc), Vec::<String>::new(), "{file}");
        }
    }
}

#[test]
fn the_fixture_and_edge_values_are_valid() {
    let edges = InferenceService::test("iris")
        .min_replicas(0)
        .max_replicas(0) // 0 = no upper bound, as in KServe
        .canary(0)
        .container_concurrency(0)
        .timeout_secs(1)
        .scale(ScaleMetric::Rps, 1)
        .batcher(1, 1);
    assert_eq!(messages(&edges), Vec::<String>::new());
    let full = InferenceService::test("iris")
        .min_replicas(2)
        .max_replicas(2)
        .canary(100);
    assert_eq!(messages(&full), Vec::<String>::new());
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let isvc = InferenceService::test("iris")
        .min_replicas(3)
        .max_replicas(1)
        .canary(101)
        .container_concurrency(-1)
        .timeout_secs(0)
        .scale(ScaleMetric::from("qps"), 0)
        .batcher(0, -5)
        .wasm_transformer(" ");
    assert_eq!(
        messages(&isvc),
        [
            "spec.predictor.minReplicas (3) must be <= spec.predictor.maxReplicas (1) \
             (maxReplicas 0 means no upper bound)",
            "spec.predictor.scaleTarget must be > 0, got 0",
            "spec.predictor.containerConcurrency must be >= 0, got -1",
            "spec.predictor.canaryTrafficPercent must be between 0 and 100, got 101",
            "spec.predictor.timeout must be > 0, got 0",
            "spec.predictor.batcher.maxBatchSize must be > 0, got 0",
            "spec.predictor.batcher.maxLatency must be > 0, got -5",
            "spec.predictor.scaleMetric: `qps` is not one of cpu, memory, concurrency, rps",
            "spec.transformer.wasm.uri must not be empty",
        ]
    );
}

#[test]
fn negative_bounds_and_closed_sets_in_yaml_are_reported() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: x}
spec:
  predictor:
    minReplicas: -1
    maxReplicas: -2
    canaryTrafficPercent: -10
    logger: {mode: everything, url: http://logger}
    onnx: {storageUri: /m.onnx, protocolVersion: v3}
";
    let docs = infergate_k8s::parse_documents(yaml, "x.yaml").expect("loads");
    let isvc = docs[0].isvc.as_ref().expect("an InferenceService");
    assert_eq!(
        messages(isvc),
        [
            "spec.predictor.minReplicas must be >= 0, got -1",
            "spec.predictor.maxReplicas must be >= 0, got -2",
            "spec.predictor.canaryTrafficPercent must be between 0 and 100, got -10",
            "spec.predictor.logger.mode: `everything` is not one of all, request, response",
            "spec.predictor.onnx.protocolVersion: `v3` is not one of v1, v2, grpc-v1, grpc-v2",
        ]
    );
}
