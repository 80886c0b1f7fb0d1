//! The KServe V1 (TensorFlow Serving style) codec.
//!
//! Requests are `{"instances": [...]}` (row format: one entry per batch row) or
//! `{"inputs": ...}` (columnar: the whole tensors). They carry no shapes or datatypes: shapes
//! come from the nesting of the JSON arrays, which must not be ragged, and datatypes from the
//! model's inputs. Responses are `{"predictions": [...]}`, one entry per batch row.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{NameList, ProtocolError, TensorAt};
use super::v2::{OutputSelection, ValidInferRequest};
use super::{Limits, Tensor, check, json};
use crate::model::ModelMetadata;

#[derive(Deserialize)]
struct RawV1<'a> {
    #[serde(default, borrow)]
    instances: Option<&'a RawValue>,
    #[serde(default, borrow)]
    inputs: Option<&'a RawValue>,
}

/// One instance of a multi-input model, or the columnar `inputs` object: input name -> value.
type ByName<'a> = BTreeMap<String, &'a RawValue>;

/// Decodes a V1 request body and checks it against `meta`. All outputs are selected, as JSON.
pub fn decode_request(
    body: &[u8],
    meta: &ModelMetadata,
    limits: &Limits,
) -> Result<ValidInferRequest, ProtocolError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ProtocolError::EmptyBody);
    }
    let raw: RawV1<'_> = serde_json::from_slice(body).map_err(ProtocolError::from_json)?;
    let inputs = match (raw.instances, raw.inputs) {
        (Some(instances), None) => from_instances(instances.get(), meta, limits)?,
        (None, Some(inputs)) => from_inputs(inputs.get(), meta, limits)?,
        (Some(_), Some(_)) => {
            return Err(ProtocolError::InvalidV1(
                "the body has both `instances` and `inputs`; send one of them".to_owned(),
            ));
        }
        (None, None) => {
            return Err(ProtocolError::InvalidV1(
                "expected `{\"instances\": [...]}` or `{\"inputs\": ...}`".to_owned(),
            ));
        }
    };
    Ok(ValidInferRequest {
        id: None,
        parameters: None,
        inputs,
        outputs: OutputSelection::all(meta, false),
    })
}

/// The first non-whitespace byte of a JSON value.
fn first_byte(raw: &str) -> Option<u8> {
    raw.bytes().find(|b| !b.is_ascii_whitespace())
}

/// `instances`: a list of rows (single-input model) or of `{input: value}` objects.
fn from_instances(
    raw: &str,
    meta: &ModelMetadata,
    limits: &Limits,
) -> Result<Vec<Tensor>, ProtocolError> {
    if first_byte(raw) != Some(b'[') {
        return Err(ProtocolError::InvalidV1(
            "`instances` must be a JSON array".to_owned(),
        ));
    }
    let first_instance = first_byte(raw.trim_start().get(1..).unwrap_or_default());
    if first_instance != Some(b'{') {
        let [spec] = meta.inputs.as_slice() else {
            return Err(needs_names(
                meta,
                "each instance must be an object keyed by input name",
            ));
        };
        return Ok(vec![
            build(meta, 0, &[raw], 0, limits)?.with_name(spec.name.clone()),
        ]);
    }
    let instances: Vec<ByName<'_>> = serde_json::from_str(raw).map_err(|e| {
        ProtocolError::InvalidV1(format!(
            "`instances` must all be objects keyed by input name: {e}"
        ))
    })?;
    for instance in &instances {
        check_names(instance, meta)?;
    }
    (0..meta.inputs.len())
        .map(|index| {
            let name = &meta.inputs[index].name;
            let pieces = instances
                .iter()
                .enumerate()
                .map(|(i, instance)| {
                    instance.get(name).map(|v| v.get()).ok_or_else(|| {
                        ProtocolError::InvalidV1(format!("instance {i} has no input `{name}`"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            build(meta, index, &pieces, 1, limits)
        })
        .collect()
}

/// `inputs`: `{input: whole tensor}` (columnar), or the whole tensor of a single-input model.
fn from_inputs(
    raw: &str,
    meta: &ModelMetadata,
    limits: &Limits,
) -> Result<Vec<Tensor>, ProtocolError> {
    if first_byte(raw) != Some(b'{') {
        if meta.inputs.len() != 1 {
            return Err(needs_names(
                meta,
                "`inputs` must be an object keyed by input name",
            ));
        }
        return Ok(vec![build(meta, 0, &[raw], 0, limits)?]);
    }
    let columns: ByName<'_> = serde_json::from_str(raw).map_err(ProtocolError::from_json)?;
    check_names(&columns, meta)?;
    (0..meta.inputs.len())
        .map(|index| {
            let spec = &meta.inputs[index];
            let value = columns
                .get(&spec.name)
                .ok_or_else(|| ProtocolError::MissingInput {
                    name: spec.name.clone(),
                    model: meta.name.clone(),
                    expected: input_names(meta),
                })?;
            build(meta, index, &[value.get()], 0, limits)
        })
        .collect()
}

/// Scans input `index` from `pieces` (see [`json::parse_inferred`]) and checks its shape.
fn build(
    meta: &ModelMetadata,
    index: usize,
    pieces: &[&str],
    depth: usize,
    limits: &Limits,
) -> Result<Tensor, ProtocolError> {
    let spec = &meta.inputs[index];
    let at = TensorAt::input(&spec.name);
    let (shape, data) =
        json::parse_inferred(&at, spec.datatype, pieces, depth, limits.max_elements)?;
    check::against_spec(&at, &shape, spec)?;
    check::element_count(&at, &shape, limits)?;
    Tensor::new(spec.name.clone(), shape, data).map_err(|e| ProtocolError::DataLength {
        at,
        shape: e.shape,
        expected: e.expected,
        actual: e.actual,
    })
}

fn check_names(given: &ByName<'_>, meta: &ModelMetadata) -> Result<(), ProtocolError> {
    match given
        .keys()
        .find(|k| !meta.inputs.iter().any(|s| &s.name == *k))
    {
        Some(unknown) => Err(ProtocolError::UnknownInput {
            name: unknown.clone(),
            model: meta.name.clone(),
            expected: input_names(meta),
        }),
        None => Ok(()),
    }
}

fn input_names(meta: &ModelMetadata) -> NameList {
    NameList::of(meta.inputs.iter().map(|s| s.name.as_str()))
}

fn needs_names(meta: &ModelMetadata, what: &str) -> ProtocolError {
    ProtocolError::InvalidV1(format!(
        "model `{}` has inputs {}; {what}",
        meta.name,
        input_names(meta)
    ))
}

/// Encodes `{"predictions": [...]}`: one entry per batch row (the first dimension).
///
/// One output: each row is that output's row (a scalar when it has rank 1). Several outputs
/// sharing a batch dimension: each row is `{output: row, ...}`. Several outputs whose first
/// dimensions differ cannot be split into rows; `predictions` is then `{output: whole tensor}`.
pub fn encode_response(outputs: Vec<Tensor>) -> bytes::Bytes {
    let capacity: usize = outputs
        .iter()
        .map(|t| json::estimated_len(t.data()) + t.name().len() * 8)
        .sum();
    let mut out = Vec::with_capacity(capacity + 32);
    out.extend_from_slice(b"{\"predictions\":");
    match outputs.as_slice() {
        [] => out.extend_from_slice(b"[]"),
        [only] => write_rows(&mut out, only),
        several => match batch_size(several) {
            Some(n) => write_named_rows(&mut out, several, n),
            None => write_columns(&mut out, several),
        },
    }
    out.push(b'}');
    out.into()
}

/// The common first dimension of all `tensors`, if they have one.
fn batch_size(tensors: &[Tensor]) -> Option<usize> {
    let n = *tensors.first()?.shape().first()?;
    tensors
        .iter()
        .all(|t| t.shape().first() == Some(&n))
        .then_some(n)
}

fn write_rows(out: &mut Vec<u8>, tensor: &Tensor) {
    match tensor.shape() {
        [] => {
            out.push(b'[');
            json::write_nested(out, tensor.data(), 0, &[]);
            out.push(b']');
        }
        shape => json::write_nested(out, tensor.data(), 0, shape),
    }
}

fn write_named_rows(out: &mut Vec<u8>, tensors: &[Tensor], rows: usize) {
    out.push(b'[');
    for row in 0..rows {
        if row > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (i, t) in tensors.iter().enumerate() {
            let inner = &t.shape()[1..];
            write_member(out, i, t, row * inner.iter().product::<usize>(), inner);
        }
        out.push(b'}');
    }
    out.push(b']');
}

fn write_columns(out: &mut Vec<u8>, tensors: &[Tensor]) {
    out.push(b'{');
    for (i, t) in tensors.iter().enumerate() {
        write_member(out, i, t, 0, t.shape());
    }
    out.push(b'}');
}

/// `"name": nested values` of `t` from element `offset` with `shape`, comma-separated after the
/// first member (`i > 0`).
fn write_member(out: &mut Vec<u8>, i: usize, t: &Tensor, offset: usize, shape: &[usize]) {
    if i > 0 {
        out.push(b',');
    }
    super::element::write_json_str(out, t.name());
    out.push(b':');
    json::write_nested(out, t.data(), offset, shape);
}

#[cfg(test)]
mod tests;
