//! Writing V2 bodies: the JSON header straight into a `Vec<u8>` (no `Value` tree), then any
//! binary tensor data after it.

use bytes::Bytes;

use super::OutputSelection;
use super::binary;
use crate::protocol::element::{write_json_str, write_json_usize};
use crate::protocol::{Tensor, json};

/// An encoded V2 body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedBody {
    pub body: Bytes,
    /// `Some(json_len)` when binary tensor data follows the JSON: the value of the
    /// `Inference-Header-Content-Length` header to send with it.
    pub header_len: Option<usize>,
}

/// An encoded V2 response.
pub type EncodedResponse = EncodedBody;

/// Encodes a V2 response. `outputs` are every model output, in [`ModelMetadata::outputs`]
/// order, as the runtime produced them; `selection` picks which go out, and how.
///
/// [`ModelMetadata::outputs`]: crate::model::ModelMetadata::outputs
pub fn encode_response(
    model_name: &str,
    model_version: Option<&str>,
    request_id: Option<&str>,
    outputs: Vec<Tensor>,
    selection: &OutputSelection,
) -> EncodedResponse {
    let mut slots: Vec<Option<Tensor>> = outputs.into_iter().map(Some).collect();
    let chosen: Vec<(Tensor, bool)> = selection
        .outputs()
        .iter()
        .filter_map(|s| {
            // The runtime returns outputs in metadata order; look the name up if it did not.
            let at_index = slots.get(s.index).and_then(Option::as_ref).is_some_and(|t| t.name() == s.name);
            let slot = if at_index {
                slots.get_mut(s.index)
            } else {
                slots.iter_mut().find(|t| t.as_ref().is_some_and(|t| t.name() == s.name))
            };
            let tensor = slot.and_then(Option::take);
            if tensor.is_none() {
                tracing::warn!(output = %s.name, model = %model_name, "Runtime did not produce a selected output; leaving it out.");
            }
            tensor.map(|t| (t, s.binary))
        })
        .collect();

    let mut out = Vec::with_capacity(capacity(&chosen) + 128);
    out.extend_from_slice(b"{\"model_name\":");
    write_json_str(&mut out, model_name);
    if let Some(version) = model_version {
        out.extend_from_slice(b",\"model_version\":");
        write_json_str(&mut out, version);
    }
    if let Some(id) = request_id {
        out.extend_from_slice(b",\"id\":");
        write_json_str(&mut out, id);
    }
    out.extend_from_slice(b",\"outputs\":");
    finish(out, &chosen)
}

/// Encodes a V2 inference request for `inputs`, all as JSON or all as binary data (clients,
/// load generators and tests use it).
pub fn encode_request(id: Option<&str>, inputs: &[Tensor], binary: bool) -> EncodedBody {
    let chosen: Vec<(&Tensor, bool)> = inputs.iter().map(|t| (t, binary)).collect();
    let mut out = Vec::with_capacity(capacity(&chosen) + 64);
    out.push(b'{');
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\":");
        write_json_str(&mut out, id);
        out.push(b',');
    }
    out.extend_from_slice(b"\"inputs\":");
    finish(out, &chosen)
}

fn capacity<T: std::borrow::Borrow<Tensor>>(tensors: &[(T, bool)]) -> usize {
    tensors
        .iter()
        .map(|(t, binary)| {
            let data = t.borrow().data();
            64 + t.borrow().name().len()
                + if *binary {
                    binary::encoded_len(data)
                } else {
                    json::estimated_len(data)
                }
        })
        .sum()
}

/// Writes the tensor list and closes the object, then appends the binary data.
fn finish<T: std::borrow::Borrow<Tensor>>(mut out: Vec<u8>, tensors: &[(T, bool)]) -> EncodedBody {
    out.push(b'[');
    for (i, (tensor, binary)) in tensors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_tensor(&mut out, tensor.borrow(), *binary);
    }
    out.extend_from_slice(b"]}");
    let json_len = out.len();
    let mut any_binary = false;
    for (tensor, binary) in tensors {
        if *binary {
            binary::encode(tensor.borrow().data(), &mut out);
            any_binary = true;
        }
    }
    EncodedBody {
        body: out.into(),
        header_len: any_binary.then_some(json_len),
    }
}

/// `{"name":..,"datatype":..,"shape":[..],"data":[..]}`, or with
/// `"parameters":{"binary_data_size":N}` in place of `data`.
fn write_tensor(out: &mut Vec<u8>, tensor: &Tensor, binary: bool) {
    out.extend_from_slice(b"{\"name\":");
    write_json_str(out, tensor.name());
    out.extend_from_slice(b",\"datatype\":\"");
    out.extend_from_slice(tensor.datatype().as_str().as_bytes());
    out.extend_from_slice(b"\",\"shape\":[");
    for (i, &d) in tensor.shape().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_usize(out, d);
    }
    out.push(b']');
    if binary {
        out.extend_from_slice(b",\"parameters\":{\"binary_data_size\":");
        write_json_usize(out, binary::encoded_len(tensor.data()));
        out.push(b'}');
    } else {
        out.extend_from_slice(b",\"data\":");
        json::write_flat(out, tensor.data());
    }
    out.push(b'}');
}
