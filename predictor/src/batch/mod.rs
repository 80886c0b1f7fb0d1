//! Dynamic batching, Triton-style, per model: requests whose tensors agree on everything but
//! the first (batch) dimension are concatenated along it, run as one model call, and split back.
//!
//! ```text
//! request tasks --submit--> [queue: Mutex<VecDeque>] <--next_batch-- worker 1 (Session)
//!   (bounded: reject or wait)       |                 <--next_batch-- worker N (Session)
//!                                   +-- a free worker takes the oldest request and every later
//!                                       one with the same key, up to max_batch_size rows
//! ```
//!
//! Batches are formed by the worker that will run them, when it is free: with the default
//! delay of 0 nothing waits on purpose, so a lightly loaded server answers every request alone
//! and at once, and under load the requests that piled up while the workers were busy go
//! together. A worker dispatches (in this order):
//! - at once, when the batch is full (`max_batch_size` rows, or the next compatible request
//!   would not fit);
//! - at once, the largest prefix whose rows are a preferred batch size, when there is one;
//! - everything it has, once the oldest request has waited `max_delay`;
//! - otherwise it sleeps until then, or until another request arrives.
//!
//! A request runs alone when it cannot be batched: its inputs disagree on their first
//! dimension, it has a scalar input, or it alone has more rows than `max_batch_size`. A batch
//! whose run fails, or whose outputs cannot be split back by rows, is run again one request at a
//! time, so every response is what the request would have got alone.
//!
//! Priority levels are not implemented: one predictor serves one model, the wire protocols give
//! no standard priority field, and a strict priority queue starves the low level under exactly
//! the load where batching matters.

mod concat;
mod key;
mod queue;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub(crate) use self::concat::{concat_inputs, split_outputs};
pub use self::key::{BatchKey, model_is_batchable};
pub(crate) use self::queue::{Batch, BatchQueue, Pending};

/// Largest `max_batch_size` accepted: far above any useful batch, low enough that a typo
/// (`--max-batch-size 100000`) is caught.
pub const MAX_BATCH_SIZE_LIMIT: usize = 65_536;

/// How the dynamic batcher forms batches. [`BatchConfig::default`] is off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    max_batch_size: usize,
    max_delay: Duration,
    preferred: Vec<usize>,
}

/// What a request does when the model's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Answer at once with 503 and `Retry-After` (the default).
    #[default]
    Reject,
    /// Wait for a place in the queue (bounded only by the client's own timeout).
    Delay,
}

/// A batching setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchConfigError {
    #[error("max_batch_size must be between 1 and {MAX_BATCH_SIZE_LIMIT}, got {0}")]
    MaxBatchSize(usize),
    #[error("preferred_batch_sizes must be at least 1, got {0}")]
    PreferredZero(usize),
    #[error(
        "preferred_batch_sizes: {size} is larger than max_batch_size {max}; \
         raise max_batch_size or drop the size"
    )]
    PreferredTooLarge { size: usize, max: usize },
}

// === impl BatchConfig ===

impl BatchConfig {
    /// Batching up to `max_batch_size` rows (1 turns it off), waiting at most `max_delay` for a
    /// batch to fill, preferring the batch sizes in `preferred` (any order, duplicates ignored).
    pub fn new(
        max_batch_size: usize,
        max_delay: Duration,
        preferred: Vec<usize>,
    ) -> Result<Self, BatchConfigError> {
        if !(1..=MAX_BATCH_SIZE_LIMIT).contains(&max_batch_size) {
            return Err(BatchConfigError::MaxBatchSize(max_batch_size));
        }
        let mut preferred = preferred;
        preferred.sort_unstable();
        preferred.dedup();
        if let Some(&size) = preferred.first().filter(|&&s| s == 0) {
            return Err(BatchConfigError::PreferredZero(size));
        }
        if let Some(&size) = preferred.last().filter(|&&s| s > max_batch_size) {
            return Err(BatchConfigError::PreferredTooLarge {
                size,
                max: max_batch_size,
            });
        }
        Ok(BatchConfig {
            max_batch_size,
            max_delay,
            preferred,
        })
    }

    /// Whether batching is on (`max_batch_size` > 1).
    pub fn is_on(&self) -> bool {
        self.max_batch_size > 1
    }

    /// Most rows (first-dimension entries) in one model call.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// Longest time the oldest waiting request is held for a batch to fill.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Preferred batch sizes, ascending.
    pub fn preferred(&self) -> &[usize] {
        &self.preferred
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch_size: 1,
            max_delay: Duration::ZERO,
            preferred: Vec::new(),
        }
    }
}

// === impl QueuePolicy ===

impl std::str::FromStr for QueuePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reject" => Ok(QueuePolicy::Reject),
            "delay" => Ok(QueuePolicy::Delay),
            other => Err(format!("queue policy {other:?} is not `reject` or `delay`")),
        }
    }
}

impl std::fmt::Display for QueuePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueuePolicy::Reject => "reject",
            QueuePolicy::Delay => "delay",
        })
    }
}
