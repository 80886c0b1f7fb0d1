//! The Open Inference Protocol (V2) REST codec, with the binary tensor data extension.
//!
//! [`decode_request`] parses a request body and checks it against the model's metadata, so the
//! runtime only ever sees a [`ValidInferRequest`]; [`encode_response`] writes the outputs back,
//! as JSON or, per output, as raw bytes after the JSON header.

mod binary;
mod encode;
mod wire;

use serde::Serialize;
use serde_json::{Map, Value};

use self::wire::{RawOutput, RawRequest, RawResponse, RawTensor};
use super::convert::convert_tensor;
use super::error::{NameList, ProtocolError, TensorAt};
use super::{DataType, Limits, Tensor, check, json};
use crate::model::{ModelMetadata, TensorSpec};

pub use self::encode::{EncodedBody, EncodedResponse, encode_request, encode_response};

/// The HTTP header that gives the JSON header's length when binary tensor data follows it.
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// A request checked against the model: the runtime can take `inputs` as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidInferRequest {
    /// The request's `id`, to echo in the response.
    pub id: Option<String>,
    /// The request-level `parameters`, as sent.
    pub parameters: Option<Map<String, Value>>,
    /// Exactly the model's inputs, in [`ModelMetadata::inputs`] order, in the model's datatypes.
    pub inputs: Vec<Tensor>,
    /// Which outputs to return, and which of them as binary data.
    pub outputs: OutputSelection,
}

/// The outputs a response carries, in response order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSelection {
    outputs: Vec<SelectedOutput>,
}

/// One output to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedOutput {
    pub name: String,
    /// Its position in [`ModelMetadata::outputs`].
    pub index: usize,
    /// Whether it goes as binary data after the JSON header.
    pub binary: bool,
}

/// A decoded V2 response (what a client, or the gateway's monitoring, reads back).
#[derive(Clone, Debug, PartialEq)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: Option<String>,
    pub id: Option<String>,
    pub parameters: Option<Map<String, Value>>,
    pub outputs: Vec<Tensor>,
}

// === impl OutputSelection ===

impl OutputSelection {
    /// Every output of the model, in its order, all binary or all JSON.
    pub fn all(meta: &ModelMetadata, binary: bool) -> Self {
        let outputs = meta
            .outputs
            .iter()
            .enumerate()
            .map(|(index, spec)| SelectedOutput {
                name: spec.name.clone(),
                index,
                binary,
            })
            .collect();
        OutputSelection { outputs }
    }

    pub fn outputs(&self) -> &[SelectedOutput] {
        &self.outputs
    }

    /// Whether any output goes as binary data, so the response needs the header-length header.
    pub fn any_binary(&self) -> bool {
        self.outputs.iter().any(|o| o.binary)
    }

    fn from_request(
        requested: Option<Vec<RawOutput>>,
        meta: &ModelMetadata,
        default_binary: bool,
    ) -> Result<Self, ProtocolError> {
        let Some(requested) = requested else {
            return Ok(Self::all(meta, default_binary));
        };
        let mut outputs: Vec<SelectedOutput> = Vec::with_capacity(requested.len());
        for raw in requested {
            let index = meta
                .outputs
                .iter()
                .position(|o| o.name == raw.name)
                .ok_or_else(|| ProtocolError::UnknownOutput {
                    name: raw.name.clone(),
                    model: meta.name.clone(),
                    expected: NameList::of(meta.outputs.iter().map(|o| o.name.as_str())),
                })?;
            if outputs.iter().any(|o| o.index == index) {
                return Err(ProtocolError::DuplicateOutput { name: raw.name });
            }
            let binary = wire::bool_param(raw.parameters.as_ref(), "binary_data", || {
                TensorAt::output(&raw.name).to_string()
            })?
            .unwrap_or(default_binary);
            outputs.push(SelectedOutput {
                name: raw.name,
                index,
                binary,
            });
        }
        Ok(OutputSelection { outputs })
    }
}

/// Decodes a V2 inference request body and checks it against `meta`.
///
/// `header_len` is the value of the `Inference-Header-Content-Length` header, if present: the
/// length of the JSON part, with binary tensor data after it.
pub fn decode_request(
    body: &[u8],
    header_len: Option<usize>,
    meta: &ModelMetadata,
    limits: &Limits,
) -> Result<ValidInferRequest, ProtocolError> {
    let (json, binary) = split_body(body, header_len)?;
    let raw: RawRequest<'_> = serde_json::from_slice(json).map_err(ProtocolError::from_json)?;
    if raw.inputs.len() > limits.max_inputs {
        return Err(ProtocolError::TooManyInputs {
            count: raw.inputs.len(),
            max: limits.max_inputs,
        });
    }
    let binary_parts = split_binary(&raw.inputs, TensorAt::input, binary)?;

    let mut slots: Vec<Option<Tensor>> = vec![None; meta.inputs.len()];
    for (raw_input, part) in raw.inputs.iter().zip(binary_parts) {
        let index = meta
            .inputs
            .iter()
            .position(|s| s.name == raw_input.name)
            .ok_or_else(|| ProtocolError::UnknownInput {
                name: raw_input.name.clone().into_owned(),
                model: meta.name.clone(),
                expected: input_names(meta),
            })?;
        if slots[index].is_some() {
            return Err(ProtocolError::DuplicateInput {
                name: raw_input.name.clone().into_owned(),
            });
        }
        let spec = &meta.inputs[index];
        let at = TensorAt::input(&spec.name);
        let tensor = decode_tensor(&at, raw_input, part, Some(spec), limits)?;
        slots[index] = Some(convert_tensor(tensor, spec.datatype)?);
    }

    let mut inputs = Vec::with_capacity(slots.len());
    for (slot, spec) in slots.into_iter().zip(&meta.inputs) {
        inputs.push(slot.ok_or_else(|| ProtocolError::MissingInput {
            name: spec.name.clone(),
            model: meta.name.clone(),
            expected: input_names(meta),
        })?);
    }

    let binary_output = wire::bool_param(raw.parameters.as_ref(), "binary_data_output", || {
        "request".to_owned()
    })?
    .unwrap_or(false);
    let outputs = OutputSelection::from_request(raw.outputs, meta, binary_output)?;
    Ok(ValidInferRequest {
        id: raw.id,
        parameters: raw.parameters,
        inputs,
        outputs,
    })
}

/// Decodes a V2 inference response body (JSON, or JSON plus binary data).
pub fn decode_response(
    body: &[u8],
    header_len: Option<usize>,
    limits: &Limits,
) -> Result<InferResponse, ProtocolError> {
    let (json, binary) = split_body(body, header_len)?;
    let raw: RawResponse<'_> = serde_json::from_slice(json).map_err(ProtocolError::from_json)?;
    let binary_parts = split_binary(&raw.outputs, TensorAt::output, binary)?;
    let outputs = raw
        .outputs
        .iter()
        .zip(binary_parts)
        .map(|(raw_output, part)| {
            decode_tensor(
                &TensorAt::output(&raw_output.name),
                raw_output,
                part,
                None,
                limits,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(InferResponse {
        model_name: raw.model_name,
        model_version: raw.model_version,
        id: raw.id,
        parameters: raw.parameters,
        outputs,
    })
}

/// The V2 model metadata response (`GET /v2/models/{name}`).
pub fn model_metadata(meta: &ModelMetadata, versions: &[String]) -> bytes::Bytes {
    #[derive(Serialize)]
    struct Metadata<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        versions: &'a [String],
        platform: &'a str,
        inputs: &'a [TensorSpec],
        outputs: &'a [TensorSpec],
    }
    let body = Metadata {
        name: &meta.name,
        versions,
        platform: &meta.platform,
        inputs: &meta.inputs,
        outputs: &meta.outputs,
    };
    serde_json::to_vec(&body)
        .expect("metadata has only string keys")
        .into()
}

fn input_names(meta: &ModelMetadata) -> NameList {
    NameList::of(meta.inputs.iter().map(|s| s.name.as_str()))
}

/// Splits the body into the JSON header and the binary data after it.
fn split_body(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], &[u8]), ProtocolError> {
    let (json, binary) = match header_len {
        None => (body, &body[body.len()..]),
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(ProtocolError::HeaderLengthBeyondBody {
                header_len: n,
                body_len: body.len(),
            });
        }
    };
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(ProtocolError::EmptyBody);
    }
    Ok((json, binary))
}

/// Gives each tensor its slice of the binary data, checking that the declared sizes add up to
/// exactly the bytes after the JSON header.
fn split_binary<'b>(
    tensors: &[RawTensor<'_>],
    at: fn(&str) -> TensorAt,
    binary: &'b [u8],
) -> Result<Vec<Option<&'b [u8]>>, ProtocolError> {
    let mut sizes = Vec::with_capacity(tensors.len());
    let mut declared: u64 = 0;
    for t in tensors {
        let at = at(&t.name);
        let size = wire::binary_data_size(&at, t.parameters.as_ref())?;
        match (&t.data, size) {
            (Some(_), Some(_)) => return Err(ProtocolError::DataAndBinary { at }),
            (None, None) => return Err(ProtocolError::MissingData { at }),
            _ => {}
        }
        declared = declared.saturating_add(size.unwrap_or(0) as u64);
        sizes.push(size);
    }
    if declared != binary.len() as u64 {
        return Err(ProtocolError::BinarySizeMismatch {
            declared,
            available: binary.len(),
        });
    }
    let mut offset = 0;
    Ok(sizes
        .into_iter()
        .map(|size| {
            size.map(|n| {
                let part = &binary[offset..offset + n];
                offset += n;
                part
            })
        })
        .collect())
}

/// Decodes one tensor: shape checks (against `spec` when given), then its JSON or binary data.
fn decode_tensor(
    at: &TensorAt,
    raw: &RawTensor<'_>,
    binary: Option<&[u8]>,
    spec: Option<&TensorSpec>,
    limits: &Limits,
) -> Result<Tensor, ProtocolError> {
    let datatype: DataType = raw
        .datatype
        .parse()
        .map_err(|_| ProtocolError::UnknownDataType {
            at: at.clone(),
            datatype: raw.datatype.clone().into_owned(),
        })?;
    let shape = check::dims(at, &raw.shape)?;
    if let Some(spec) = spec {
        check::against_spec(at, &shape, spec)?;
    }
    let expected = check::element_count(at, &shape, limits)?;
    let (data, actual) = match (raw.data, binary) {
        (Some(json), _) => json::parse_flat(at, datatype, json.get(), expected)?,
        (None, Some(bytes)) => {
            let data = binary::decode(at, datatype, bytes)?;
            let len = data.len();
            (data, len)
        }
        (None, None) => return Err(ProtocolError::MissingData { at: at.clone() }),
    };
    if actual != expected {
        return Err(ProtocolError::DataLength {
            at: at.clone(),
            shape,
            expected,
            actual,
        });
    }
    let name = spec.map_or(&*raw.name, |s| s.name.as_str());
    Tensor::new(name, shape, data).map_err(|e| ProtocolError::DataLength {
        at: at.clone(),
        shape: e.shape,
        expected: e.expected,
        actual: e.actual,
    })
}

#[cfg(test)]
mod tests;
