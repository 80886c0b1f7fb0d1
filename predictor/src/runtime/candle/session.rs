//! One worker's session: decodes the `text` input, tokenizes, runs the shared BERT encoder in
//! the session's own rayon pool, and pools the token vectors into embeddings.

use std::sync::Arc;

use candle_core::{Device, Tensor as CandleTensor};
use candle_transformers::models::bert::BertModel;
use tokenizers::Tokenizer;

use super::{INPUT_NAME, OUTPUT_NAME, pooling};
use crate::model::{RuntimeError, Session};
use crate::protocol::{Tensor, TensorData};

/// What every session of one model shares: the weights and the tokenizer, read-only.
pub(super) struct Shared {
    pub(super) model: BertModel,
    pub(super) tokenizer: Tokenizer,
    pub(super) hidden_size: usize,
    pub(super) pad_id: u32,
}

/// A [`Session`] over [`Shared`] weights, with its own rayon pool for the forward pass.
pub(super) struct CandleSession {
    shared: Arc<Shared>,
    pool: rayon::ThreadPool,
}

/// A batch of tokenized texts, right-padded to the longest one.
struct Batch {
    size: usize,
    seq_len: usize,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u32>,
}

// === impl CandleSession ===

impl CandleSession {
    pub(super) fn new(
        shared: Arc<Shared>,
        model_name: &str,
        threads: usize,
    ) -> Result<Self, RuntimeError> {
        let prefix = format!("candle-{model_name}");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{prefix}-{i}"))
            .build()
            .map_err(|e| {
                RuntimeError::Load(format!(
                    "cannot start {threads} candle threads for model `{model_name}`: {e}"
                ))
            })?;
        Ok(CandleSession { shared, pool })
    }
}

impl Session for CandleSession {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, RuntimeError> {
        let texts = decode_texts(inputs)?;
        let n = texts.len();
        let hidden = self.shared.hidden_size;
        let data = if texts.is_empty() {
            Vec::new()
        } else {
            let shared = &self.shared;
            self.pool.install(|| shared.embed(&texts))?
        };
        let output = Tensor::new(OUTPUT_NAME, vec![n, hidden], TensorData::F32(data))
            .map_err(|e| RuntimeError::Inference(e.to_string()))?;
        Ok(vec![output])
    }
}

/// The texts of the single `text` input, of shape `[n]` or `[n, 1]`.
fn decode_texts(inputs: Vec<Tensor>) -> Result<Vec<String>, RuntimeError> {
    let count = inputs.len();
    let [input] = <[Tensor; 1]>::try_from(inputs).map_err(|_| {
        RuntimeError::InvalidInput(format!(
            "expected exactly one input, `{INPUT_NAME}`, but got {count}"
        ))
    })?;
    let (name, shape, data) = input.into_parts();
    if !matches!(shape.as_slice(), [_] | [_, 1]) {
        return Err(RuntimeError::InvalidInput(format!(
            "input `{name}` has shape {shape:?}; expected [n] or [n, 1] texts"
        )));
    }
    let TensorData::Bytes(elements) = data else {
        return Err(RuntimeError::InvalidInput(format!(
            "input `{name}` has datatype {}; expected BYTES (UTF-8 texts)",
            data.datatype()
        )));
    };
    elements
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            String::from_utf8(bytes).map_err(|e| {
                RuntimeError::InvalidInput(format!(
                    "input `{name}` element {i} is not valid UTF-8: {}",
                    e.utf8_error()
                ))
            })
        })
        .collect()
}

// === impl Shared ===

impl Shared {
    /// The L2-normalised mean-pooled embeddings of `texts` (not empty), row-major
    /// `[texts.len(), hidden_size]`.
    fn embed(&self, texts: &[String]) -> Result<Vec<f32>, RuntimeError> {
        let batch = self.tokenize(texts)?;
        let hidden = self
            .forward(&batch)
            .map_err(|e| RuntimeError::Inference(format!("candle BERT forward pass: {e}")))?;
        Ok(pooling::mean_pool_l2(
            &hidden,
            &batch.mask,
            batch.size,
            batch.seq_len,
            self.hidden_size,
        ))
    }

    fn tokenize(&self, texts: &[String]) -> Result<Batch, RuntimeError> {
        let encodings = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                self.tokenizer.encode(text.as_str(), true).map_err(|e| {
                    RuntimeError::InvalidInput(format!(
                        "input `{INPUT_NAME}` element {i} cannot be tokenized: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let size = encodings.len();
        let seq_len = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut batch = Batch {
            size,
            seq_len,
            ids: vec![self.pad_id; size * seq_len],
            type_ids: vec![0; size * seq_len],
            mask: vec![0; size * seq_len],
        };
        for (row, encoding) in encodings.iter().enumerate() {
            let start = row * seq_len;
            let end = start + encoding.len();
            batch.ids[start..end].copy_from_slice(encoding.get_ids());
            batch.type_ids[start..end].copy_from_slice(encoding.get_type_ids());
            batch.mask[start..end].copy_from_slice(encoding.get_attention_mask());
        }
        Ok(batch)
    }

    /// The encoder's last hidden state, row-major `[size, seq_len, hidden_size]`.
    fn forward(&self, batch: &Batch) -> candle_core::Result<Vec<f32>> {
        let dims = (batch.size, batch.seq_len);
        let device = &Device::Cpu;
        let ids = CandleTensor::from_slice(&batch.ids, dims, device)?;
        let type_ids = CandleTensor::from_slice(&batch.type_ids, dims, device)?;
        let mask = CandleTensor::from_slice(&batch.mask, dims, device)?;
        let hidden = BertModel::forward(&self.model, &ids, &type_ids, Some(&mask))?;
        hidden.flatten_all()?.to_vec1::<f32>()
    }
}
