//! Every field infergate ignores is named by its full path; honoured fields are not.

use infergate_k8s::{Quantity, WarningKind, parse_documents};

use crate::support::{parse_sample, parse_single, paths};

#[test]
fn unsupported_predictor_fields_are_named_and_gpu_limits_are_honoured() {
    let (isvc, warnings) = parse_single("minreplicas0-huggingface-fluid.yaml");
    assert_eq!(
        paths(&warnings),
        [
            "spec.predictor.annotations",
            "spec.predictor.serviceAccountName",
            "spec.predictor.nodeSelector",
            "spec.predictor.model.args",
        ]
    );
    assert!(warnings.iter().all(|w| w.kind == WarningKind::UnknownField));
    assert_eq!(isvc.spec.predictor.min_replicas, Some(0));
    let resources = isvc
        .spec
        .predictor
        .model
        .as_ref()
        .and_then(|m| m.resources.as_ref());
    let resources = resources.expect("model.resources is parsed");
    assert_eq!(
        resources.limits.get("nvidia.com/gpu"),
        Some(&Quantity::from("1"))
    );
    assert_eq!(
        resources.limits.get("memory"),
        Some(&Quantity::from("48Gi"))
    );
    assert_eq!(resources.gpus(), Some(Ok(1)));
}

#[test]
fn numeric_gpu_limit_in_the_shorthand_is_honoured() {
    let (isvc, warnings) = parse_single("autoscale-gpu.yaml");
    assert_eq!(
        paths(&warnings),
        ["spec.predictor.tensorflow.runtimeVersion"]
    );
    let tf = isvc
        .spec
        .predictor
        .tensorflow
        .expect("tensorflow shorthand");
    assert_eq!(tf.resources.as_ref().and_then(|r| r.gpus()), Some(Ok(1)));
    assert_eq!(
        isvc.metadata.annotations["autoscaling.knative.dev/target"],
        "1"
    );
}

#[test]
fn container_fields_and_transformer_containers_are_reported() {
    let (_, warnings) = parse_single("transformer-triton.yaml");
    assert_eq!(
        paths(&warnings),
        [
            "spec.predictor.triton.runtimeVersion",
            "spec.predictor.triton.env",
            "spec.predictor.triton.args",
            "spec.transformer.containers",
        ]
    );
    assert!(matches!(warnings[3].kind, WarningKind::Unsupported { .. }));
}

#[test]
fn custom_predictor_containers_are_one_unsupported_warning() {
    let (isvc, warnings) = parse_single("custom-container-simple.yaml");
    assert_eq!(paths(&warnings), ["spec.predictor.containers"]);
    assert_eq!(
        warnings[0].to_string(),
        "custom-container-simple.yaml: document 1: spec.predictor.containers: custom containers \
         are not supported: infergate runs ONNX and Hugging Face text-embedding models; ignored"
    );
    // Parsed, not dropped: the container is there to report, with its other fields kept.
    let containers = isvc
        .spec
        .predictor
        .containers
        .expect("containers are parsed");
    assert_eq!(
        containers[0].image.as_deref(),
        Some("codait/max-object-detector")
    );
    assert!(containers[0].rest.contains_key("ports"));
}

#[test]
fn warnings_name_their_document_in_a_stream() {
    let docs = parse_sample("rollout-strategy-multi-doc.yaml");
    let found: Vec<(usize, &str)> = docs
        .iter()
        .flat_map(|d| d.warnings.iter().map(|w| (w.document, w.path.as_str())))
        .collect();
    assert_eq!(
        found,
        // Unknown fields first (in file order), then what parsed but is unsupported.
        [
            (1, "spec.predictor.deploymentStrategy"),
            (1, "spec.transformer.custom"),
            (1, "spec.transformer.deploymentStrategy"),
            (1, "metadata.annotations.serving.kserve.io/deploymentMode"),
            (2, "metadata.annotations.serving.kserve.io/deploymentMode"),
            (3, "spec.predictor.deploymentStrategy"),
            (3, "spec.predictor.containers"),
            (3, "metadata.annotations.serving.kserve.io/deploymentMode"),
        ]
    );
}

#[test]
fn other_kinds_are_skipped_and_empty_documents_dropped() {
    let yaml = "\
# a folder may hold other manifests
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: b
---
# nothing here
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
spec:
  predictor:
    model:
      modelFormat: {name: onnx}
      storageUri: file:///models/iris.onnx
---
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceService
metadata:
  name: old
spec: {}
";
    let docs = parse_documents(yaml, "mixed.yaml").expect("loads");
    assert_eq!(docs.len(), 3);
    assert!(docs[0].isvc.is_none());
    assert_eq!(
        docs[0].warnings[0].kind,
        WarningKind::SkippedDocument {
            api_version: "v1".into(),
            kind: "ConfigMap".into()
        }
    );
    assert_eq!(
        docs[0].warnings[0].to_string(),
        "mixed.yaml: document 1: skipped: `v1` `ConfigMap` is not a serving.kserve.io/v1beta1 \
         InferenceService"
    );
    let iris = docs[1]
        .isvc
        .as_ref()
        .expect("document 2 is an InferenceService");
    assert_eq!(iris.name(), "iris");
    assert!(docs[1].warnings.is_empty(), "{:?}", docs[1].warnings);
    assert!(
        docs[2].isvc.is_none(),
        "another apiVersion is skipped, not misread"
    );
    assert_eq!(docs[2].warnings[0].document, 3);
}

#[test]
fn typos_nested_fields_and_unread_annotations_are_named() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
  ownerReferences:
    - kind: Thing
  annotations:
    autoscaling.knative.dev/target: \"10\"
    autoscaling.knative.dev/class: hpa.autoscaling.knative.dev
    serving.kserve.io/enable-tag-routing: \"true\"
    example.com/owner: team-a
spec:
  predictor:
    minReplica: 2
    batcher:
      maxBatchSize: 8
      maxBatchBytes: 1024
    model:
      modelFormat: {name: onnx, flavour: x}
      storageUri: file:///models/iris.onnx
      env:
        - name: A
          valueFrom: {x: 1}
  transformer:
    wasm:
      uri: file:///t.wasm
      config: {scale: 0.5, labels: [a, b]}
  explainer:
    art: {}
";
    let docs = parse_documents(yaml, "iris.yaml").expect("loads");
    let isvc = docs[0].isvc.as_ref().expect("an InferenceService");
    assert_eq!(
        paths(&docs[0].warnings),
        [
            "metadata.ownerReferences",
            "spec.predictor.minReplica",
            "spec.predictor.batcher.maxBatchBytes",
            "spec.predictor.model.modelFormat.flavour",
            "spec.predictor.model.env",
            "spec.explainer",
            "metadata.annotations.autoscaling.knative.dev/class",
        ]
    );
    assert_eq!(docs[0].warnings[6].kind, WarningKind::UnknownAnnotation);
    assert!(isvc.tag_routing_enabled());
    assert_eq!(
        isvc.autoscaling_annotations(),
        [("autoscaling.knative.dev/target", "10")]
    );
    let wasm = isvc
        .spec
        .transformer
        .as_ref()
        .and_then(|t| t.wasm.as_ref())
        .expect("wasm");
    assert_eq!(
        wasm.config_string().as_deref(),
        Some(r#"{"labels":["a","b"],"scale":0.5}"#)
    );
}

#[test]
fn a_string_wasm_config_is_passed_as_written() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: t}
spec:
  predictor: {onnx: {storageUri: /m.onnx}}
  transformer:
    wasm: {uri: /t.wasm, config: \"threshold=0.5\"}
";
    let docs = parse_documents(yaml, "t.yaml").expect("loads");
    let isvc = docs[0].isvc.as_ref().expect("an InferenceService");
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    let wasm = isvc
        .spec
        .transformer
        .as_ref()
        .and_then(|t| t.wasm.as_ref())
        .expect("wasm");
    assert_eq!(wasm.config_string().as_deref(), Some("threshold=0.5"));
}
