//! The reference outputs in `examples/reference/MODEL.json` (computed by Python onnxruntime):
//! the request bodies the benchmark sends, and the check that each server answers them right.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

/// Outputs may differ from the reference by this much, absolute plus relative (ONNX Runtime
/// with a different thread count or batch may sum in another order).
const ABS_TOLERANCE: f64 = 1e-5;
const REL_TOLERANCE: f64 = 1e-4;

/// One model's reference file.
#[derive(Clone, Debug, Deserialize)]
pub struct Reference {
    pub model: String,
    pub cases: Vec<Case>,
}

/// Inputs and the outputs they must give.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub inputs: BTreeMap<String, RefTensor>,
    pub outputs: BTreeMap<String, RefTensor>,
}

/// A tensor as the reference file writes it (numbers only: FP32 and INT64 here).
#[derive(Clone, Debug, Deserialize)]
pub struct RefTensor {
    pub datatype: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// The reference file is missing or unreadable, or has no case the benchmark can send.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("cannot read reference {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reference {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("reference {path} has no batch-1 case (every input's first dimension 1)")]
    NoBatchOne { path: PathBuf },
}

/// A server's answer differs from the reference.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("case `{case}`: {problem}")]
pub struct Mismatch {
    pub case: String,
    pub problem: String,
}

// === impl Reference ===

impl Reference {
    pub fn read(path: &Path) -> Result<Self, ReferenceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ReferenceError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The first case whose every input has batch size 1: the benchmark's request.
    pub fn batch_one(&self, path: &Path) -> Result<&Case, ReferenceError> {
        self.cases
            .iter()
            .find(|c| {
                !c.inputs.is_empty() && c.inputs.values().all(|t| t.shape.first() == Some(&1))
            })
            .ok_or_else(|| ReferenceError::NoBatchOne {
                path: path.to_owned(),
            })
    }
}

// === impl Case ===

impl Case {
    /// The case's inputs as a V2 (Open Inference Protocol) JSON request body.
    pub fn v2_request(&self) -> Bytes {
        let inputs: Vec<Value> = self
            .inputs
            .iter()
            .map(|(name, t)| {
                // INT64 data must be written as integers; FP32 values as f64 read back exactly.
                let data: Vec<Value> = if t.datatype.starts_with("FP") {
                    t.data.iter().map(|&v| json!(v)).collect()
                } else {
                    t.data.iter().map(|&v| json!(v as i64)).collect()
                };
                json!({"name": name, "shape": t.shape, "datatype": t.datatype, "data": data})
            })
            .collect();
        let body = json!({"id": self.name, "inputs": inputs});
        Bytes::from(serde_json::to_vec(&body).expect("a JSON value always serialises"))
    }

    /// Checks a V2 response body against the case's outputs: every output present, with the
    /// same datatype and shape, and values within tolerance.
    pub fn check_response(&self, body: &[u8]) -> Result<(), Mismatch> {
        let mismatch = |problem: String| Mismatch {
            case: self.name.clone(),
            problem,
        };
        let response: Value = serde_json::from_slice(body).map_err(|e| {
            mismatch(format!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            ))
        })?;
        let outputs = response["outputs"]
            .as_array()
            .ok_or_else(|| mismatch(format!("response has no `outputs` array: {response}")))?;
        for (name, expected) in &self.outputs {
            let actual = outputs
                .iter()
                .find(|o| o["name"] == name.as_str())
                .ok_or_else(|| mismatch(format!("output `{name}` is missing")))?;
            if actual["datatype"] != expected.datatype.as_str() {
                return Err(mismatch(format!(
                    "output `{name}` has datatype {}, expected {}",
                    actual["datatype"], expected.datatype
                )));
            }
            let shape: Option<Vec<usize>> = actual["shape"].as_array().map(|s| {
                s.iter()
                    .filter_map(|d| d.as_u64())
                    .map(|d| d as usize)
                    .collect()
            });
            if shape.as_ref() != Some(&expected.shape) {
                return Err(mismatch(format!(
                    "output `{name}` has shape {}, expected {:?}",
                    actual["shape"], expected.shape
                )));
            }
            let mut data = Vec::with_capacity(expected.data.len());
            flatten_numbers(&actual["data"], &mut data);
            if data.len() != expected.data.len() {
                return Err(mismatch(format!(
                    "output `{name}` has {} numbers, expected {}",
                    data.len(),
                    expected.data.len()
                )));
            }
            if let Some((i, (a, e))) = data
                .iter()
                .zip(&expected.data)
                .enumerate()
                .find(|(_, (a, e))| (*a - *e).abs() > ABS_TOLERANCE + REL_TOLERANCE * e.abs())
            {
                return Err(mismatch(format!(
                    "output `{name}`[{i}] is {a}, expected {e}"
                )));
            }
        }
        Ok(())
    }
}

/// Appends every number of a (possibly nested) JSON array; non-numbers become NaN so they
/// fail the comparison instead of vanishing.
fn flatten_numbers(value: &Value, out: &mut Vec<f64>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten_numbers(v, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
        _ => out.push(f64::NAN),
    }
}

#[cfg(test)]
mod tests;
