//! The `InferenceService` object and its `spec`.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::predictor::PredictorSpec;
use super::status::InferenceServiceStatus;
use super::transformer::TransformerSpec;

/// `apiVersion` of the InferenceServices infergate reads and writes.
pub const API_VERSION: &str = "serving.kserve.io/v1beta1";
/// `kind` of an InferenceService.
pub const KIND: &str = "InferenceService";

/// A KServe `serving.kserve.io/v1beta1` InferenceService.
///
/// Load YAML through [`crate::parse_documents`], which also names every field infergate
/// ignores; plain serde works too but drops that information.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceService {
    /// Always [`API_VERSION`] for objects the loader returns.
    pub api_version: String,
    /// Always [`KIND`] for objects the loader returns.
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: InferenceServiceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InferenceServiceStatus>,
}

/// `spec`: the predictor and an optional transformer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceServiceSpec {
    pub predictor: PredictorSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformer: Option<TransformerSpec>,
}

// === impl InferenceService ===

impl InferenceService {
    /// An InferenceService with only a name and a predictor.
    pub fn new(name: impl Into<String>, predictor: PredictorSpec) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: ObjectMeta::named(name),
            spec: InferenceServiceSpec {
                predictor,
                transformer: None,
            },
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The namespace, `None` when the YAML leaves it to the loader's default.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.as_deref()
    }
}
