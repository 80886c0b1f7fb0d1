//! Which predictors infergate serves, and the advice for the ones it does not.

use infergate_k8s::{InferenceService, ModelFormat, UnsupportedModel};

use crate::support::{parse_sample, parse_single};

const NOT_SUPPORTED: &str = "not supported: infergate runs ONNX and Hugging Face text-embedding \
                             models";

fn advice(file: &str) -> String {
    let (isvc, _) = parse_single(file);
    match isvc.predictor_model() {
        Ok(model) => panic!("{file}: unexpectedly servable as {}", model.format),
        Err(unsupported) => unsupported.to_string(),
    }
}

#[test]
fn onnx_shorthand_is_served() {
    let (isvc, _) = parse_single("onnx.yaml");
    let model = isvc.predictor_model().expect("onnx is served");
    assert_eq!(model.format, ModelFormat::Onnx);
    assert_eq!(model.storage_uri, "gs://kfserving-examples/models/onnx");
    assert_eq!(model.field, "spec.predictor.onnx");
}

#[test]
fn huggingface_model_is_served_with_its_resources() {
    let (isvc, _) = parse_single("minreplicas0-huggingface-fluid.yaml");
    let model = isvc.predictor_model().expect("huggingface is served");
    assert_eq!(model.format, ModelFormat::HuggingFace);
    assert_eq!(model.field, "spec.predictor.model");
    assert_eq!(model.resources.gpus(), Some(Ok(1)));
}

#[test]
fn tree_models_are_told_to_convert_to_onnx() {
    for (file, field, format) in [
        ("sklearn-iris-v1.yaml", "spec.predictor.sklearn", "sklearn"),
        ("xgboost-v2.yaml", "spec.predictor.xgboost", "xgboost"),
        ("lightgbm.yaml", "spec.predictor.lightgbm", "lightgbm"),
        (
            "hpa-scalemetric-cpu.yaml",
            "spec.predictor.model",
            "sklearn",
        ),
    ] {
        assert_eq!(
            advice(file),
            format!(
                "{field}: `{format}` models are not served natively; convert it to ONNX \
                 (skl2onnx / onnxmltools) and set modelFormat.name: onnx"
            ),
            "{file}"
        );
    }
}

#[test]
fn deep_learning_frameworks_are_told_how_to_export() {
    assert!(advice("torchserve-canary.yaml").contains("export it with torch.onnx.export"));
    assert!(advice("batcher.yaml").starts_with("spec.predictor.pytorch: PyTorch"));
    let tf = advice("rollout-default.yaml");
    assert!(
        tf.starts_with("spec.predictor.tensorflow: TensorFlow"),
        "{tf}"
    );
    assert!(
        tf.contains("tf2onnx") && tf.ends_with("set modelFormat.name: onnx"),
        "{tf}"
    );
    assert!(advice("kpa-scalemetric-qps.yaml").starts_with("spec.predictor.model: TensorFlow"));
}

#[test]
fn other_formats_and_containers_are_not_supported() {
    assert_eq!(
        advice("pmml.yaml"),
        format!("spec.predictor.pmml: model format `pmml` is {NOT_SUPPORTED}")
    );
    assert_eq!(
        advice("transformer-triton.yaml"),
        format!("spec.predictor.triton: model format `triton` is {NOT_SUPPORTED}")
    );
    assert_eq!(
        advice("custom-container-simple.yaml"),
        format!(
            "spec.predictor.containers: custom container image `codait/max-object-detector` is \
             {NOT_SUPPORTED}"
        )
    );
    // A model next to containers: KServe runs the container, so that is what is reported.
    let docs = parse_sample("rollout-strategy-multi-doc.yaml");
    let multinode = docs[2].isvc.as_ref().expect("document 3");
    assert!(matches!(
        multinode.predictor_model(),
        Err(UnsupportedModel::CustomContainer { .. })
    ));
}

#[test]
fn every_sample_is_classified_without_panicking() {
    let mut servable = Vec::new();
    for entry in std::fs::read_dir(crate::support::samples_dir()).expect("samples") {
        let file = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if !file.ends_with(".yaml") {
            continue;
        }
        for doc in parse_sample(&file) {
            let isvc = doc.isvc.expect("every sample is an InferenceService");
            if let Ok(model) = isvc.predictor_model() {
                servable.push((file.clone(), model.format));
            }
        }
    }
    servable.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        servable,
        [
            (
                "minreplicas0-huggingface-fluid.yaml".to_owned(),
                ModelFormat::HuggingFace
            ),
            ("onnx.yaml".to_owned(), ModelFormat::Onnx),
        ]
    );
}

#[test]
fn builder_models_and_their_mistakes() {
    let iris = InferenceService::test("iris");
    let model = iris.predictor_model().expect("the fixture is servable");
    assert_eq!(model.format, ModelFormat::Onnx);
    assert_eq!(model.storage_uri, "file:///models/iris/model.onnx");

    let minilm = InferenceService::test("minilm").huggingface("/models/all-MiniLM-L6-v2");
    let model = minilm.predictor_model().expect("huggingface is servable");
    assert_eq!(model.format, ModelFormat::HuggingFace);

    // Format names are case-insensitive, as in KServe.
    let upper = InferenceService::test("x").model("ONNX", "/m.onnx");
    assert_eq!(
        upper.predictor_model().map(|m| m.format),
        Ok(ModelFormat::Onnx)
    );

    let paddle = InferenceService::test("x").model("paddle", "/m");
    assert_eq!(
        paddle.predictor_model().map_err(|e| e.to_string()),
        Err(format!(
            "spec.predictor.model: model format `paddle` is {NOT_SUPPORTED}"
        ))
    );

    let mut no_uri = InferenceService::test("x");
    if let Some(model) = no_uri.spec.predictor.model.as_mut() {
        model.storage_uri = None;
    }
    assert_eq!(
        no_uri.predictor_model(),
        Err(UnsupportedModel::MissingStorageUri {
            field: "spec.predictor.model".into()
        })
    );

    let blank_format = InferenceService::test("x").model(" ", "/m.onnx");
    assert!(matches!(
        blank_format.predictor_model(),
        Err(UnsupportedModel::MissingFormat { .. })
    ));

    let mut none = InferenceService::test("x");
    none.spec.predictor.model = None;
    assert_eq!(none.predictor_model(), Err(UnsupportedModel::NoModel));

    let mut two = InferenceService::test("x");
    two.spec.predictor.sklearn = Some(Default::default());
    let err = two.predictor_model().expect_err("two models");
    assert_eq!(
        err.to_string(),
        "spec.predictor names more than one model (spec.predictor.model, \
         spec.predictor.sklearn); keep exactly one"
    );
}
