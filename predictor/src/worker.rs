//! Dedicated inference threads, each owning one model [`Session`], fed from one bounded queue.
//!
//! ```text
//! request tasks --try_send--> [bounded queue] --> worker 1 (Session) --oneshot--> request task
//!                                              \-> worker N (Session)
//! ```
//! Inference never runs on the async runtime, and no lock sits between a request and a worker:
//! the queue is the only shared state. A full queue is an explicit overload error (503), never
//! an unbounded wait.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;

use crate::model::{LoadedModel, ModelMetadata, RuntimeError};
use crate::protocol::{DataType, Tensor, TensorData};

/// How many workers, and how many requests may wait for one.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker threads, each with its own session. Default: the number of cores.
    pub workers: usize,
    /// Requests that may wait for a free worker before new ones get 503. Default 1024.
    pub max_queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: thread::available_parallelism().map_or(1, usize::from),
            max_queue: 1024,
        }
    }
}

/// A handle to the workers of one model. Cheap to clone; the workers stop when the last handle
/// is dropped and the queue drains.
#[derive(Clone)]
pub struct WorkerPool {
    jobs: Sender<Job>,
    metadata: Arc<ModelMetadata>,
}

/// Why a request got no result from the pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    #[error("the model's queue is full ({0} requests waiting); retry shortly")]
    Overloaded(usize),
    /// The workers are gone (the server is shutting down).
    #[error("the model is shutting down")]
    Closed,
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

struct Job {
    inputs: Vec<Tensor>,
    reply: oneshot::Sender<Result<Vec<Tensor>, RuntimeError>>,
}

// === impl WorkerPool ===

impl WorkerPool {
    /// Starts the workers. Each builds its session and runs one warm-up inference before this
    /// returns, so a pool that starts is ready to serve; the first error is returned instead.
    pub fn start(model: LoadedModel, config: &PoolConfig) -> Result<Self, RuntimeError> {
        let LoadedModel { metadata, sessions } = model;
        let metadata = Arc::new(metadata);
        let sessions = Arc::new(sessions);
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(config.max_queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for i in 0..config.workers.max(1) {
            let sessions = Arc::clone(&sessions);
            let metadata = Arc::clone(&metadata);
            let queue = queue.clone();
            let ready = ready_tx.clone();
            thread::Builder::new()
                .name(format!("infer-{i}"))
                .spawn(move || {
                    let warmed = sessions().and_then(|mut session| {
                        session.run(warmup_inputs(&metadata))?;
                        Ok(session)
                    });
                    let mut session = match warmed {
                        Ok(session) => {
                            let _ = ready.send(Ok(()));
                            session
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    drop(ready);
                    for job in queue {
                        // The client went away while the job waited: skip the work.
                        if job.reply.is_closed() {
                            continue;
                        }
                        let result = catch_unwind(AssertUnwindSafe(|| session.run(job.inputs)))
                            .unwrap_or_else(|_| {
                                Err(RuntimeError::Inference("the model runtime panicked".into()))
                            });
                        let _ = job.reply.send(result);
                    }
                })
                .map_err(|e| RuntimeError::Load(format!("cannot start a worker thread: {e}")))?;
        }
        drop(ready_tx);
        for _ in 0..config.workers.max(1) {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(RuntimeError::Load(
                        "a worker thread died while loading".into(),
                    ));
                }
            }
        }
        Ok(WorkerPool { jobs, metadata })
    }

    /// The model's inputs and outputs.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Runs `inputs` (checked against [`Self::metadata`]) on the next free worker.
    pub async fn infer(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PoolError> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .try_send(Job { inputs, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => PoolError::Overloaded(self.jobs.len()),
                TrySendError::Disconnected(_) => PoolError::Closed,
            })?;
        Ok(result.await.map_err(|_| PoolError::Closed)??)
    }
}

/// A smallest valid input for each of the model's inputs: dynamic dimensions set to 1, zeros
/// (or an empty-ish string) as data.
fn warmup_inputs(metadata: &ModelMetadata) -> Vec<Tensor> {
    metadata
        .inputs
        .iter()
        .filter_map(|spec| {
            let shape: Vec<usize> = spec.shape.iter().map(|&d| d.max(1) as usize).collect();
            let n: usize = shape.iter().product();
            let data = match spec.datatype {
                DataType::Bool => TensorData::Bool(vec![false; n]),
                DataType::U8 => TensorData::U8(vec![0; n]),
                DataType::U16 => TensorData::U16(vec![0; n]),
                DataType::U32 => TensorData::U32(vec![0; n]),
                DataType::U64 => TensorData::U64(vec![0; n]),
                DataType::I8 => TensorData::I8(vec![0; n]),
                DataType::I16 => TensorData::I16(vec![0; n]),
                DataType::I32 => TensorData::I32(vec![0; n]),
                DataType::I64 => TensorData::I64(vec![0; n]),
                DataType::F16 => TensorData::F16(vec![half::f16::ZERO; n]),
                DataType::F32 => TensorData::F32(vec![0.0; n]),
                DataType::F64 => TensorData::F64(vec![0.0; n]),
                DataType::Bytes => TensorData::Bytes(vec![b"warm-up".to_vec(); n]),
            };
            Tensor::new(spec.name.clone(), shape, data).ok()
        })
        .collect()
}
