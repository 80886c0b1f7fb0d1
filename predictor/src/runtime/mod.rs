//! Model runtimes, each behind a cargo feature, and the choice between them.

use std::path::{Path, PathBuf};

use crate::model::{LoadedModel, RuntimeError};
use crate::storage::ModelFormat;

#[cfg(feature = "candle")]
pub mod candle;
#[cfg(feature = "onnx")]
pub mod onnx;

/// Runtime settings that apply to every format.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Threads one inference may use inside an operator (per worker). Default 1.
    pub intra_op_threads: usize,
    /// Longest token sequence for text models; longer texts are truncated. Default 256.
    pub max_sequence_length: usize,
    /// Where `libonnxruntime.so` is, when not in the default places.
    pub onnxruntime_lib: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            intra_op_threads: 1,
            max_sequence_length: 256,
            onnxruntime_lib: None,
        }
    }
}

/// Loads the model at `path` (a file or directory already located) with the runtime of `format`.
pub fn load(
    model_name: &str,
    path: &Path,
    format: ModelFormat,
    options: &RuntimeOptions,
) -> Result<LoadedModel, RuntimeError> {
    match format {
        #[cfg(feature = "onnx")]
        ModelFormat::Onnx => {
            onnx::init(options.onnxruntime_lib.as_deref())?;
            let onnx_options = onnx::OnnxOptions {
                intra_op_threads: options.intra_op_threads,
            };
            onnx::load(model_name, path, &onnx_options)
        }
        #[cfg(feature = "candle")]
        ModelFormat::HuggingFace => {
            let candle_options = candle::CandleOptions {
                threads: options.intra_op_threads,
                max_sequence_length: options.max_sequence_length,
            };
            candle::load(model_name, path, &candle_options)
        }
        #[allow(
            unreachable_patterns,
            reason = "reachable only when a runtime feature is off"
        )]
        other => Err(RuntimeError::Load(format!(
            "this build of infergate has no runtime for `{other}` models; rebuild with the `{}` feature",
            match other {
                ModelFormat::Onnx => "onnx",
                ModelFormat::HuggingFace => "candle",
            }
        ))),
    }
}
