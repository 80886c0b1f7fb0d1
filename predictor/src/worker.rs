//! Dedicated inference threads, each owning one model [`Session`], fed from one bounded queue.
//!
//! ```text
//! batching off: request tasks --try_send--> [bounded channel] --> worker 1 (Session) --oneshot-->
//!                                                              \-> worker N (Session)
//! batching on:  request tasks --submit--> [batch::BatchQueue] <--next_batch-- worker 1..N
//! ```
//! Inference never runs on the async runtime. Without batching (the default), no lock sits
//! between a request and a worker: the channel is the only shared state, exactly as before the
//! batcher existed. With batching (or the `delay` queue policy) requests go through
//! [`crate::batch`], whose queue a free worker reads to form its next batch. Either way a full
//! queue is an explicit overload error (503), or with `delay` a wait for a place, never an
//! unbounded queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::batch::{self, Batch, BatchConfig, BatchQueue, Pending, QueuePolicy};
use crate::metrics::PoolMetrics;
use crate::model::{LoadedModel, ModelMetadata, RuntimeError, Session};
use crate::protocol::{DataType, Tensor, TensorData};

/// How many workers, how many requests may wait for one, and how they are batched.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker threads, each with its own session. Default: the number of cores.
    pub workers: usize,
    /// Requests that may wait for a free worker (or their batch). Default 1024.
    pub max_queue: usize,
    /// What a request does when `max_queue` are waiting. Default: reject (503).
    pub queue_policy: QueuePolicy,
    /// Dynamic batching. Default: off.
    pub batch: BatchConfig,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: thread::available_parallelism().map_or(1, usize::from),
            max_queue: 1024,
            queue_policy: QueuePolicy::Reject,
            batch: BatchConfig::default(),
        }
    }
}

/// A handle to the workers of one model. Cheap to clone; the workers stop when the last handle
/// is dropped and the queue drains.
#[derive(Clone)]
pub struct WorkerPool {
    dispatch: Dispatch,
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

/// How requests reach the workers.
#[derive(Clone)]
enum Dispatch {
    /// One request per model call, through a lock-free channel.
    Direct(Sender<Job>),
    /// Through the batcher's queue; closed when the last handle goes.
    Batched(Arc<CloseOnDrop>),
}

/// What a worker reads requests from.
enum Source {
    Direct(Receiver<Job>),
    Batched(Arc<BatchQueue>),
}

/// Closes the batch queue when the last [`WorkerPool`] handle is dropped.
struct CloseOnDrop(Arc<BatchQueue>);

struct Job {
    inputs: Vec<Tensor>,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Vec<Tensor>, RuntimeError>>,
}

// === impl WorkerPool ===

impl WorkerPool {
    /// Starts the workers. Each builds its session and runs one warm-up inference before this
    /// returns, so a pool that starts is ready to serve; the first error is returned instead.
    ///
    /// Batching is used only when `config.batch` is on and every input and output of the model
    /// has a dynamic first dimension; otherwise every request runs alone (with a warning).
    pub fn start(
        model: LoadedModel,
        config: &PoolConfig,
        metrics: &PoolMetrics,
    ) -> Result<Self, RuntimeError> {
        let LoadedModel { metadata, sessions } = model;
        let batching = config.batch.is_on() && batch::model_is_batchable(&metadata);
        if config.batch.is_on() && !batching {
            tracing::warn!(
                model = %metadata.name,
                "Batching is off: the model has an input or output whose first dimension is not dynamic (-1)."
            );
        }
        let (dispatch, source) = if batching || config.queue_policy == QueuePolicy::Delay {
            let batch = if batching {
                config.batch.clone()
            } else {
                BatchConfig::default()
            };
            let queue = Arc::new(BatchQueue::new(
                batch,
                config.queue_policy,
                config.max_queue,
            ));
            (
                Dispatch::Batched(Arc::new(CloseOnDrop(Arc::clone(&queue)))),
                Source::Batched(queue),
            )
        } else {
            let (jobs, queue) = crossbeam_channel::bounded::<Job>(config.max_queue.max(1));
            (Dispatch::Direct(jobs), Source::Direct(queue))
        };
        let metadata = Arc::new(metadata);
        let sessions = Arc::new(sessions);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for i in 0..config.workers.max(1) {
            let sessions = Arc::clone(&sessions);
            let metadata = Arc::clone(&metadata);
            let source = match &source {
                Source::Direct(queue) => Source::Direct(queue.clone()),
                Source::Batched(queue) => Source::Batched(Arc::clone(queue)),
            };
            let metrics = metrics.clone();
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
                    match source {
                        Source::Direct(queue) => run_direct(&mut *session, &queue, &metrics),
                        Source::Batched(queue) => {
                            while let Some(batch) = queue.next_batch() {
                                run_batch(&mut *session, batch, &metrics);
                            }
                        }
                    }
                })
                .map_err(|e| RuntimeError::Load(format!("cannot start a worker thread: {e}")))?;
        }
        drop(source);
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
        Ok(WorkerPool { dispatch, metadata })
    }

    /// The model's inputs and outputs.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Whether requests go through the dynamic batcher.
    pub fn is_batching(&self) -> bool {
        matches!(self.dispatch, Dispatch::Batched(_))
    }

    /// Runs `inputs` (checked against [`Self::metadata`]) on the next free worker, alone or
    /// batched with other requests.
    pub async fn infer(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PoolError> {
        let result = match &self.dispatch {
            Dispatch::Direct(jobs) => {
                let (reply, result) = oneshot::channel();
                let job = Job {
                    inputs,
                    enqueued: Instant::now(),
                    reply,
                };
                jobs.try_send(job).map_err(|e| match e {
                    TrySendError::Full(_) => PoolError::Overloaded(jobs.len()),
                    TrySendError::Disconnected(_) => PoolError::Closed,
                })?;
                result
            }
            Dispatch::Batched(queue) => queue.0.submit(inputs).await?,
        };
        Ok(result.await.map_err(|_| PoolError::Closed)??)
    }
}

// === impl CloseOnDrop ===

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A worker without batching: one job, one model call.
fn run_direct(session: &mut dyn Session, queue: &Receiver<Job>, metrics: &PoolMetrics) {
    for job in queue {
        // The client went away while the job waited: skip the work.
        if job.reply.is_closed() {
            continue;
        }
        metrics.queue.observe(job.enqueued.elapsed().as_secs_f64());
        let result = run_timed(session, job.inputs, 1, metrics);
        let _ = job.reply.send(result);
    }
}

/// Runs one batch: alone when it holds one request; otherwise concatenated, run once and split
/// back. A batch that fails (or whose outputs cannot be split) runs again one request at a
/// time, so each request gets the answer it would have got alone.
fn run_batch(session: &mut dyn Session, batch: Batch, metrics: &PoolMetrics) {
    let taken = Instant::now();
    for p in &batch.requests {
        metrics
            .queue
            .observe(taken.saturating_duration_since(p.enqueued).as_secs_f64());
    }
    let mut requests = batch.requests;
    if requests.len() == 1 {
        if let Some(p) = requests.pop() {
            run_alone(session, p, metrics);
        }
        return;
    }
    let rows: Vec<usize> = requests.iter().map(|p| p.rows).collect();
    let outcome = {
        let views: Vec<&[Tensor]> = requests.iter().map(|p| p.inputs.as_slice()).collect();
        match batch::concat_inputs(&views) {
            None => Err("the requests' inputs cannot be concatenated".to_owned()),
            Some(inputs) => run_timed(session, inputs, requests.len(), metrics)
                .map_err(|e| e.to_string())
                .and_then(|outputs| {
                    batch::split_outputs(outputs, &rows).map_err(|e| {
                        warn_once(&e);
                        e.to_string()
                    })
                }),
        }
    };
    match outcome {
        Ok(parts) => {
            for (p, outputs) in requests.into_iter().zip(parts) {
                let _ = p.reply.send(Ok(outputs));
            }
        }
        Err(reason) => {
            tracing::debug!(
                requests = requests.len(),
                %reason,
                "A batch failed; running its requests one at a time."
            );
            for p in requests {
                run_alone(session, p, metrics);
            }
        }
    }
}

fn run_alone(session: &mut dyn Session, p: Pending, metrics: &PoolMetrics) {
    if p.reply.is_closed() {
        return;
    }
    let result = run_timed(session, p.inputs, 1, metrics);
    let _ = p.reply.send(result);
}

/// One model call for `requests` requests, timed, with a panic in the runtime turned into an
/// error.
fn run_timed(
    session: &mut dyn Session,
    inputs: Vec<Tensor>,
    requests: usize,
    metrics: &PoolMetrics,
) -> Result<Vec<Tensor>, RuntimeError> {
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| session.run(inputs)))
        .unwrap_or_else(|_| Err(RuntimeError::Inference("the model runtime panicked".into())));
    metrics.observe_run(requests, started.elapsed());
    result
}

/// Logs the first batch whose outputs could not be split: the model is misconfigured for
/// batching, and every batch now runs twice.
fn warn_once(error: &dyn std::error::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(%error, "Batched outputs cannot be split; requests run one at a time.");
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
