//! Hugging Face BERT-family text-embedding models on candle (CPU), with sentence-transformers
//! semantics.
//!
//! A model is a directory holding `config.json`, `model.safetensors` and `tokenizer.json` (the
//! layout of sentence-transformers models such as all-MiniLM-L6-v2). It serves one input,
//! `text` (BYTES, shape `[-1]`), and one output, `embedding` (FP32, shape `[-1, hidden_size]`):
//!
//! ```text
//! UTF-8 texts -> tokenize (truncate at max_sequence_length; no fixed padding)
//!             -> pad to the longest text in the batch, with an attention mask
//!             -> BERT encoder -> mean over real tokens -> L2 normalisation
//! ```
//!
//! This is exactly what sentence-transformers computes, so a text gets the same vector alone or
//! in a batch of texts of other lengths.
//!
//! The weights and the tokenizer are loaded once and shared by every worker's session. Each
//! session runs its forward passes inside its own rayon pool of [`CandleOptions::threads`]
//! threads, which holds every rayon job candle and gemm spawn: on a small machine more threads
//! than cores only fight each other (see [`CandleOptions::threads`]).

mod pooling;
mod session;

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use self::session::{CandleSession, Shared};
use crate::model::{LoadedModel, ModelMetadata, RuntimeError, Session, TensorSpec};
use crate::protocol::DataType;

/// The platform name reported in the model's metadata.
pub const PLATFORM: &str = "candle_huggingface";
/// The model's only input: UTF-8 texts.
pub const INPUT_NAME: &str = "text";
/// The model's only output: one L2-normalised embedding per text.
pub const OUTPUT_NAME: &str = "embedding";

const CONFIG_FILE: &str = "config.json";
const WEIGHTS_FILE: &str = "model.safetensors";
const TOKENIZER_FILE: &str = "tokenizer.json";

/// Fewest tokens a sequence can hold: the `[CLS]` and `[SEP]` special tokens.
const MIN_SEQUENCE_LENGTH: usize = 2;

/// How the candle runtime runs a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandleOptions {
    /// Threads each session's forward pass may use (its own rayon pool; at least 1).
    ///
    /// 1 is best on a 2-core machine, together with `RAYON_NUM_THREADS=1` in the process's
    /// environment: candle's matmul splits its work into as many parts as `RAYON_NUM_THREADS`
    /// (else the number of physical cores) says, whatever this is, and a split that does not
    /// match the pool only costs time. `load` logs a warning when they differ.
    pub threads: usize,
    /// Longest token sequence, special tokens included; longer texts are truncated. The
    /// default, 256, is all-MiniLM-L6-v2's sentence-transformers `max_seq_length`. At most the
    /// model's `max_position_embeddings`.
    pub max_sequence_length: usize,
}

// === impl CandleOptions ===

impl Default for CandleOptions {
    fn default() -> Self {
        CandleOptions {
            threads: 1,
            max_sequence_length: 256,
        }
    }
}

/// Loads the BERT model in `dir` and returns its metadata and a factory of sessions that share
/// its weights.
///
/// Fails with [`RuntimeError::Load`] when a file is missing or unreadable, the config is not a
/// BERT config, the weights do not match it, or `options` is out of range.
pub fn load(
    model_name: &str,
    dir: &Path,
    options: &CandleOptions,
) -> Result<LoadedModel, RuntimeError> {
    if options.threads == 0 {
        return Err(RuntimeError::Load(
            "candle option `threads` is 0; it must be at least 1".to_owned(),
        ));
    }
    let config_path = existing_file(dir, CONFIG_FILE)?;
    let weights_path = existing_file(dir, WEIGHTS_FILE)?;
    let tokenizer_path = existing_file(dir, TOKENIZER_FILE)?;

    let config = read_config(&config_path)?;
    let max_len = options.max_sequence_length;
    if !(MIN_SEQUENCE_LENGTH..=config.max_position_embeddings).contains(&max_len) {
        return Err(RuntimeError::Load(format!(
            "candle option `max_sequence_length` is {max_len}; it must be between \
             {MIN_SEQUENCE_LENGTH} and the model's max_position_embeddings ({}) in {}",
            config.max_position_embeddings,
            config_path.display()
        )));
    }
    let tokenizer = read_tokenizer(&tokenizer_path, max_len)?;
    let model = read_weights(&weights_path, &config)?;

    let metadata = ModelMetadata {
        name: model_name.to_owned(),
        platform: PLATFORM.to_owned(),
        inputs: vec![TensorSpec {
            name: INPUT_NAME.to_owned(),
            datatype: DataType::Bytes,
            shape: vec![-1],
        }],
        outputs: vec![TensorSpec {
            name: OUTPUT_NAME.to_owned(),
            datatype: DataType::F32,
            shape: vec![-1, dimension(config.hidden_size, &config_path)?],
        }],
    };

    let shared = Arc::new(Shared {
        model,
        tokenizer,
        hidden_size: config.hidden_size,
        pad_id: u32::try_from(config.pad_token_id).map_err(|_| {
            RuntimeError::Load(format!(
                "pad_token_id {} in {} is not a token id",
                config.pad_token_id,
                config_path.display()
            ))
        })?,
    });
    let threads = options.threads;
    warn_if_matmul_splits_differently(model_name, threads);
    let name = model_name.to_owned();
    Ok(LoadedModel {
        metadata,
        sessions: Box::new(move || {
            let session = CandleSession::new(Arc::clone(&shared), &name, threads)?;
            Ok(Box::new(session) as Box<dyn Session>)
        }),
    })
}

/// Says when candle's matmul will split its work for another number of threads than the
/// session's pool has.
///
/// candle decides the split from `RAYON_NUM_THREADS` (else the number of physical cores) on
/// every matmul, and only the environment changes it; this crate cannot set it (that needs
/// `unsafe`), so whoever starts the process should. With `threads = 1` and no
/// `RAYON_NUM_THREADS` on a 2-core machine, gemm splits each matmul in two and runs both halves
/// on the one thread, which made a one-sentence MiniLM forward pass about 1.8x slower.
fn warn_if_matmul_splits_differently(model_name: &str, threads: usize) {
    let split = candle_core::utils::get_num_threads();
    if split != threads {
        tracing::warn!(
            model = model_name,
            threads,
            matmul_split = split,
            "candle's matmul splits its work for {split} threads but model `{model_name}` runs \
             on {threads}; start the process with RAYON_NUM_THREADS={threads} to match"
        );
    }
}

/// `dir/file`, or a load error naming both when it is not a file.
fn existing_file(dir: &Path, file: &str) -> Result<std::path::PathBuf, RuntimeError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(RuntimeError::Load(format!(
            "`{file}` is missing from the model directory {} (a candle huggingface model needs \
             {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_FILE})",
            dir.display()
        )))
    }
}

fn read_config(path: &Path) -> Result<Config, RuntimeError> {
    let bytes = std::fs::read(path)
        .map_err(|e| RuntimeError::Load(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::Load(format!("{} is not a BERT config: {e}", path.display())))
}

/// The tokenizer, truncating at `max_len` tokens and not padding: `tokenizer.json` files of
/// sentence-transformers models often pad every text to a fixed length, and those padding
/// tokens must not reach the mean. The session pads each batch itself, with a mask.
fn read_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer, RuntimeError> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
        RuntimeError::Load(format!("{} is not a tokenizer.json: {e}", path.display()))
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..TruncationParams::default()
        }))
        .map_err(|e| {
            RuntimeError::Load(format!(
                "cannot truncate {} at {max_len} tokens: {e}",
                path.display()
            ))
        })?;
    Ok(tokenizer)
}

fn read_weights(path: &Path, config: &Config) -> Result<BertModel, RuntimeError> {
    let device = Device::Cpu;
    // `safetensors::load` maps the file and copies each tensor out, so the map is gone by the
    // time it returns and no unsafe code is needed here.
    let tensors = candle_core::safetensors::load(path, &device).map_err(|e| {
        RuntimeError::Load(format!("cannot read safetensors {}: {e}", path.display()))
    })?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
    BertModel::load(vb, config).map_err(|e| {
        RuntimeError::Load(format!(
            "the weights in {} do not fit a BERT model with its config.json: {e}",
            path.display()
        ))
    })
}

fn dimension(size: usize, config_path: &Path) -> Result<i64, RuntimeError> {
    i64::try_from(size).map_err(|_| {
        RuntimeError::Load(format!(
            "hidden_size {size} in {} is too large",
            config_path.display()
        ))
    })
}
