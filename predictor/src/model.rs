//! What every model runtime provides: metadata read from the model, and sessions that run it.

use serde::Serialize;

use crate::protocol::{DataType, Tensor};

/// One input or output of a model, as read from the model file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    /// Dimensions; `-1` marks a dynamic dimension (usually the batch).
    pub shape: Vec<i64>,
}

/// A loaded model's description, served by the V2 metadata endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelMetadata {
    pub name: String,
    /// The runtime that serves it, e.g. `onnxruntime_onnx` (Triton's spelling) or `candle_huggingface`.
    pub platform: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// A model instance owned by one worker thread.
///
/// Runtimes take `&mut self` (ONNX Runtime's `Session::run` does), so each worker owns its
/// own session and no lock sits on the request path.
pub trait Session: Send + 'static {
    /// Runs the model on `inputs`, which are already checked against the model's metadata and
    /// converted to its datatypes, in the order of [`ModelMetadata::inputs`]. Returns every
    /// output, in the order of [`ModelMetadata::outputs`].
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, RuntimeError>;
}

/// Makes one [`Session`] per worker. Called once per worker thread, on that thread.
pub type SessionFactory = Box<dyn Fn() -> Result<Box<dyn Session>, RuntimeError> + Send + Sync>;

/// A loaded model: its metadata, and the factory for per-worker sessions.
pub struct LoadedModel {
    pub metadata: ModelMetadata,
    pub sessions: SessionFactory,
}

/// A failure inside a model runtime: loading, or running.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model could not be loaded; the message says why and what to do.
    #[error("model load failed: {0}")]
    Load(String),
    /// The input was well-formed for the protocol but the model rejected it.
    #[error("{0}")]
    InvalidInput(String),
    /// The runtime failed while running a valid input.
    #[error("inference failed: {0}")]
    Inference(String),
}
