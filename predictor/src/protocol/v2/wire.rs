//! The V2 JSON objects as they arrive, before any check. `data` stays raw JSON text so that it
//! can be scanned straight into the announced datatype (which may come after it).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::protocol::error::{ProtocolError, TensorAt};

#[derive(Deserialize)]
pub(super) struct RawRequest<'a> {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    pub(super) inputs: Vec<RawTensor<'a>>,
    #[serde(default)]
    pub(super) outputs: Option<Vec<RawOutput>>,
}

#[derive(Deserialize)]
pub(super) struct RawResponse<'a> {
    pub(super) model_name: String,
    #[serde(default)]
    pub(super) model_version: Option<String>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    pub(super) outputs: Vec<RawTensor<'a>>,
}

/// A request input or response output tensor.
#[derive(Deserialize)]
pub(super) struct RawTensor<'a> {
    #[serde(borrow)]
    pub(super) name: Cow<'a, str>,
    pub(super) shape: Vec<i64>,
    #[serde(borrow)]
    pub(super) datatype: Cow<'a, str>,
    #[serde(default)]
    pub(super) parameters: Option<Map<String, Value>>,
    #[serde(default, borrow)]
    pub(super) data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(super) struct RawOutput {
    pub(super) name: String,
    #[serde(default)]
    pub(super) parameters: Option<Map<String, Value>>,
}

/// Reads an optional boolean parameter.
pub(super) fn bool_param(
    parameters: Option<&Map<String, Value>>,
    name: &'static str,
    scope: impl FnOnce() -> String,
) -> Result<Option<bool>, ProtocolError> {
    match parameters.and_then(|p| p.get(name)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ProtocolError::InvalidParameter {
            scope: scope(),
            name,
            expected: "a boolean",
            got: other.to_string(),
        }),
    }
}

/// Reads a tensor's `binary_data_size` parameter, if any.
pub(super) fn binary_data_size(
    at: &TensorAt,
    parameters: Option<&Map<String, Value>>,
) -> Result<Option<usize>, ProtocolError> {
    match parameters.and_then(|p| p.get("binary_data_size")) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ProtocolError::InvalidParameter {
                scope: at.to_string(),
                name: "binary_data_size",
                expected: "a non-negative integer",
                got: v.to_string(),
            }),
    }
}
