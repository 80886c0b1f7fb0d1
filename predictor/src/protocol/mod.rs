//! The wire protocols, with no model-runtime dependency: KServe V1 and the Open Inference
//! Protocol (V2) REST, including the binary tensor data extension.

mod datatype;
mod tensor;

pub use self::{
    datatype::{DataType, UnknownDataType},
    tensor::{ShapeMismatch, Tensor, TensorData},
};
