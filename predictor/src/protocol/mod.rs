//! The wire protocols, with no model-runtime dependency: KServe V1 and the Open Inference
//! Protocol (V2) REST, including the binary tensor data extension.
//!
//! Decoding parses and checks in one pass: a request either becomes tensors that match the
//! model's metadata (names, shapes, datatypes, limits) or a [`ProtocolError`] that says what to
//! fix. Tensor `data` is never materialised as `serde_json::Value`: it is kept as raw JSON text
//! and scanned straight into a typed buffer (`scan`), and responses are written straight into
//! a byte buffer.

mod check;
mod convert;
mod datatype;
mod element;
mod error;
mod json;
mod limits;
mod scan;
mod tensor;
#[cfg(test)]
mod testing;
pub mod v1;
pub mod v2;

pub use self::{
    datatype::{DataType, UnknownDataType},
    error::{ConversionDetail, NameList, ProtocolError, Role, TensorAt, ValueProblem},
    limits::Limits,
    tensor::{ShapeMismatch, Tensor, TensorData},
    v2::{EncodedBody, EncodedResponse, OutputSelection, SelectedOutput, ValidInferRequest},
};
