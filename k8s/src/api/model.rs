//! `spec.predictor.model`, the older framework shorthand (`spec.predictor.sklearn`, ...), compute
//! resources and custom containers.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::open_enum::open_enum;

/// `spec.predictor.model`: KServe's current way to name a model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Which format the model is stored in: `onnx` and `huggingface` are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_format: Option<ModelFormatSpec>,
    /// Where the model is: a local path, `file://`, `http(s)://` or `s3://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_uri: Option<String>,
    /// A KServe ServingRuntime name; infergate picks its runtime from the format and keeps this
    /// only to report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// `modelFormat`: the format's name (case-insensitive, as in KServe) and optional version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFormatSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The older predictor shorthand, e.g. `spec.predictor.sklearn: {storageUri: ...}`.
///
/// The framework is the key it sits under ([`Framework`]); infergate serves the `onnx` one and
/// reports the others with advice (see [`crate::UnsupportedModel`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

open_enum! {
    /// The frameworks of KServe's predictor shorthand, by the key they sit under.
    pub enum Framework {
        Sklearn => "sklearn",
        Xgboost => "xgboost",
        Lightgbm => "lightgbm",
        Tensorflow => "tensorflow",
        Pytorch => "pytorch",
        Triton => "triton",
        Onnx => "onnx",
        Pmml => "pmml",
        Paddle => "paddle",
        Huggingface => "huggingface",
    }
}

open_enum! {
    /// `protocolVersion`: which inference protocol the model server speaks.
    pub enum ProtocolVersion {
        /// KServe V1 (`/v1/models/{name}:predict`).
        V1 => "v1",
        /// Open Inference Protocol over REST (`/v2/models/{name}/infer`).
        V2 => "v2",
        GrpcV1 => "grpc-v1",
        GrpcV2 => "grpc-v2",
    }
}

/// Compute resources, as in a Kubernetes container: `limits` and `requests` by resource name.
///
/// `limits["nvidia.com/gpu"]` assigns whole GPUs (DESIGN §11).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

/// A Kubernetes quantity (`"100m"`, `1Gi`, `1`), kept as written.
///
/// YAML writes small ones as numbers (`nvidia.com/gpu: 1`), so numbers are accepted and turned
/// into their decimal text; it serializes as a string, as the API server does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

/// One entry of `containers`: a custom model-server image, which infergate cannot run.
///
/// Parsed (rather than ignored) so that the loader and [`crate::UnsupportedModel`] can name the
/// image; every other container field is kept verbatim in `rest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

// === impl ResourceRequirements ===

impl ResourceRequirements {
    /// The GPU resource name (`nvidia.com/gpu`).
    pub const GPU: &'static str = "nvidia.com/gpu";

    /// How many whole GPUs the limits ask for: `None` when no GPU limit is set, `Err` with the
    /// written quantity when it is not a whole number.
    pub fn gpus(&self) -> Option<Result<u32, &Quantity>> {
        let quantity = self.limits.get(Self::GPU)?;
        Some(quantity.0.trim().parse::<u32>().map_err(|_| quantity))
    }
}

// === impl Quantity ===

impl Quantity {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Quantity {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;

        impl serde::de::Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 1, \"100m\" or 1Gi")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_owned()))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }

        deserializer.deserialize_any(QuantityVisitor)
    }
}
