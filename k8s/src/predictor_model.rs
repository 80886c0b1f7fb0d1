//! Which model a predictor names, and whether infergate can serve it.

use std::fmt;

use crate::api::{
    Framework, FrameworkSpec, InferenceService, ModelSpec, ProtocolVersion, ResourceRequirements,
};

/// A model infergate can serve, read from `spec.predictor`.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictorModel {
    pub format: ModelFormat,
    /// `modelFormat.version`, if given.
    pub format_version: Option<String>,
    /// Where the model is: a local path, `file://`, `http(s)://` or `s3://`.
    pub storage_uri: String,
    /// `model.runtime` (a KServe ServingRuntime name), kept to report it.
    pub runtime: Option<String>,
    pub protocol_version: Option<ProtocolVersion>,
    pub resources: ResourceRequirements,
    /// The field it was read from: `spec.predictor.model` or `spec.predictor.<framework>`.
    pub field: String,
}

/// The model formats infergate serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelFormat {
    /// An ONNX model, run by ONNX Runtime.
    Onnx,
    /// A Hugging Face text-embedding model (BERT family: safetensors + tokenizer.json), run by
    /// candle.
    HuggingFace,
}

/// Why a predictor cannot be served; the message says what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsupportedModel {
    /// scikit-learn, LightGBM and XGBoost models convert to ONNX.
    #[error(
        "{field}: `{format}` models are not served natively; convert it to ONNX \
         (skl2onnx / onnxmltools) and set modelFormat.name: onnx"
    )]
    ConvertToOnnx { field: String, format: String },
    #[error(
        "{field}: PyTorch models are not served natively; export it with torch.onnx.export and \
         set modelFormat.name: onnx"
    )]
    PyTorch { field: String },
    #[error(
        "{field}: TensorFlow models are not served natively; convert it with tf2onnx \
         (python -m tf2onnx.convert) and set modelFormat.name: onnx"
    )]
    TensorFlow { field: String },
    /// PMML, Paddle, Triton and any format infergate does not know.
    #[error("{field}: model format `{format}` is {NOT_SUPPORTED}")]
    Format { field: String, format: String },
    #[error("{field}: custom container image {image} is {NOT_SUPPORTED}")]
    CustomContainer { field: String, image: ImageName },
    #[error(
        "spec.predictor names no model: set spec.predictor.model.modelFormat.name (onnx or \
         huggingface) and spec.predictor.model.storageUri"
    )]
    NoModel,
    #[error("spec.predictor names more than one model ({}); keep exactly one", fields.join(", "))]
    SeveralModels { fields: Vec<String> },
    #[error("{field}.modelFormat.name is missing: set it to onnx or huggingface")]
    MissingFormat { field: String },
    #[error(
        "{field}.storageUri is missing: set it to the model's location (a path, file://, \
         http(s):// or s3://)"
    )]
    MissingStorageUri { field: String },
}

const NOT_SUPPORTED: &str =
    "not supported: infergate runs ONNX and Hugging Face text-embedding models";

/// A container's image for messages: `(no image)` when the YAML omits it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageName(pub Option<String>);

// === impl InferenceService ===

impl InferenceService {
    /// The model `spec.predictor` names, if infergate can serve it. Never panics.
    ///
    /// Custom containers win over everything else (KServe runs the container then). Otherwise
    /// exactly one of `model` and the framework shorthands must be set.
    pub fn predictor_model(&self) -> Result<PredictorModel, UnsupportedModel> {
        let predictor = &self.spec.predictor;
        if let Some(containers) = &predictor.containers {
            let image = containers.first().and_then(|c| c.image.clone());
            return Err(UnsupportedModel::CustomContainer {
                field: "spec.predictor.containers".to_owned(),
                image: ImageName(image),
            });
        }
        let frameworks = predictor.frameworks();
        match (&predictor.model, frameworks.as_slice()) {
            (Some(model), []) => from_model(model),
            (None, [(framework, spec)]) => from_framework(framework, spec),
            (None, []) => Err(UnsupportedModel::NoModel),
            (model, frameworks) => {
                let model = model.as_ref().map(|_| "spec.predictor.model".to_owned());
                let shorthands = frameworks
                    .iter()
                    .map(|(f, _)| format!("spec.predictor.{f}"));
                Err(UnsupportedModel::SeveralModels {
                    fields: model.into_iter().chain(shorthands).collect(),
                })
            }
        }
    }
}

fn from_model(model: &ModelSpec) -> Result<PredictorModel, UnsupportedModel> {
    let field = "spec.predictor.model".to_owned();
    let Some(format) = &model.model_format else {
        return Err(UnsupportedModel::MissingFormat { field });
    };
    let format_name = format.name.trim().to_ascii_lowercase();
    if format_name.is_empty() {
        return Err(UnsupportedModel::MissingFormat { field });
    }
    let format_kind = classify(&format_name, &field)?;
    let Some(storage_uri) = model.storage_uri.clone() else {
        return Err(UnsupportedModel::MissingStorageUri { field });
    };
    Ok(PredictorModel {
        format: format_kind,
        format_version: format.version.clone(),
        storage_uri,
        runtime: model.runtime.clone(),
        protocol_version: model.protocol_version.clone(),
        resources: model.resources.clone().unwrap_or_default(),
        field,
    })
}

fn from_framework(
    framework: &Framework,
    spec: &FrameworkSpec,
) -> Result<PredictorModel, UnsupportedModel> {
    let field = format!("spec.predictor.{framework}");
    let format = classify(framework.as_str(), &field)?;
    let Some(storage_uri) = spec.storage_uri.clone() else {
        return Err(UnsupportedModel::MissingStorageUri { field });
    };
    Ok(PredictorModel {
        format,
        format_version: None,
        storage_uri,
        runtime: None,
        protocol_version: spec.protocol_version.clone(),
        resources: spec.resources.clone().unwrap_or_default(),
        field,
    })
}

/// A lower-case format name to what infergate does with it.
fn classify(format: &str, field: &str) -> Result<ModelFormat, UnsupportedModel> {
    let field = field.to_owned();
    match format {
        "onnx" => Ok(ModelFormat::Onnx),
        "huggingface" => Ok(ModelFormat::HuggingFace),
        "sklearn" | "lightgbm" | "xgboost" => Err(UnsupportedModel::ConvertToOnnx {
            field,
            format: format.to_owned(),
        }),
        "pytorch" => Err(UnsupportedModel::PyTorch { field }),
        "tensorflow" => Err(UnsupportedModel::TensorFlow { field }),
        other => Err(UnsupportedModel::Format {
            field,
            format: other.to_owned(),
        }),
    }
}

// === impl ModelFormat ===

impl ModelFormat {
    /// The `modelFormat.name` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onnx => "onnx",
            Self::HuggingFace => "huggingface",
        }
    }
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl ImageName ===

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(image) => write!(f, "`{image}`"),
            None => f.write_str("(no image)"),
        }
    }
}
