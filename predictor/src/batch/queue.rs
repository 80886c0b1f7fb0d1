//! The model's request queue: bounded, FIFO, and read by free workers, who each take the next
//! batch it allows.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crossbeam_utils::Backoff;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, oneshot};

use super::{BatchConfig, BatchKey, QueuePolicy};
use crate::model::RuntimeError;
use crate::protocol::Tensor;
use crate::worker::PoolError;

/// Where a worker sends a request's result.
pub(crate) type Reply = oneshot::Sender<Result<Vec<Tensor>, RuntimeError>>;

/// One request waiting in the queue.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) inputs: Vec<Tensor>,
    /// `None`: the request runs alone.
    key: Option<BatchKey>,
    /// Its first dimension (0 when it runs alone).
    pub(crate) rows: usize,
    pub(crate) enqueued: Instant,
    pub(crate) reply: Reply,
    /// Its place in the queue, given back when a worker takes it.
    _place: OwnedSemaphorePermit,
}

/// Requests that run as one model call, oldest first.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) requests: Vec<Pending>,
}

/// The queue of one model, shared by the request tasks (which [`BatchQueue::submit`]) and the
/// worker threads (which take [`BatchQueue::next_batch`]).
#[derive(Debug)]
pub(crate) struct BatchQueue {
    state: Mutex<State>,
    /// Signalled when a request arrives, when a worker leaves requests behind, and on close.
    changed: Condvar,
    /// One permit per place in the queue.
    places: Arc<Semaphore>,
    max_queue: usize,
    policy: QueuePolicy,
    config: BatchConfig,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Pending>,
    closed: bool,
    /// Workers asleep on `changed`: a request signals (a futex call) only when there is one.
    waiting: usize,
}

/// What a free worker does with the queue as it is now.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Run these requests (indices into the queue, ascending) as one batch.
    Run(Vec<usize>),
    /// Nothing to run yet: sleep until this instant or until the queue changes.
    WaitUntil(Instant),
}

// === impl BatchQueue ===

impl BatchQueue {
    /// A queue of at most `max_queue` requests, batched as `config` says.
    pub(crate) fn new(config: BatchConfig, policy: QueuePolicy, max_queue: usize) -> Self {
        let max_queue = max_queue.clamp(1, Semaphore::MAX_PERMITS);
        BatchQueue {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            places: Arc::new(Semaphore::new(max_queue)),
            max_queue,
            policy,
            config,
        }
    }

    /// Queues `inputs`; the receiver gets the result. A full queue rejects at once or waits for
    /// a place, as the policy says.
    pub(crate) async fn submit(
        &self,
        inputs: Vec<Tensor>,
    ) -> Result<oneshot::Receiver<Result<Vec<Tensor>, RuntimeError>>, PoolError> {
        let place = match self.policy {
            QueuePolicy::Reject => {
                Arc::clone(&self.places)
                    .try_acquire_owned()
                    .map_err(|e| match e {
                        TryAcquireError::NoPermits => PoolError::Overloaded(self.max_queue),
                        TryAcquireError::Closed => PoolError::Closed,
                    })?
            }
            QueuePolicy::Delay => Arc::clone(&self.places)
                .acquire_owned()
                .await
                .map_err(|_| PoolError::Closed)?,
        };
        let (key, rows) = match BatchKey::of(&inputs, self.config.max_batch_size()) {
            Some((key, rows)) => (Some(key), rows),
            None => (None, 0),
        };
        let (reply, result) = oneshot::channel();
        let pending = Pending {
            inputs,
            key,
            rows,
            enqueued: Instant::now(),
            reply,
            _place: place,
        };
        let wake = {
            let mut state = self.lock();
            if state.closed {
                return Err(PoolError::Closed);
            }
            state.queue.push_back(pending);
            state.waiting > 0
        };
        if wake {
            self.changed.notify_one();
        }
        Ok(result)
    }

    /// Blocks until there is a batch to run; `None` once the queue is closed and empty.
    pub(crate) fn next_batch(&self) -> Option<Batch> {
        let mut state = self.lock();
        loop {
            // Requests whose client went away are dropped unrun when they reach the head.
            while state.queue.front().is_some_and(|p| p.reply.is_closed()) {
                state.queue.pop_front();
            }
            if state.queue.is_empty() {
                if state.closed {
                    return None;
                }
                // Spin, then yield, a little before sleeping, as the unbatched pool's channel
                // does: under load the next request comes within microseconds, and waking a
                // sleeping worker costs the request's thread a futex call and the machine a
                // cross-CPU wake-up (BENCHMARKS.md, dynamic batching).
                drop(state);
                let backoff = Backoff::new();
                while !backoff.is_completed() && self.lock().queue.is_empty() {
                    backoff.snooze();
                }
                state = self.lock();
                if !state.queue.is_empty() || state.closed {
                    continue;
                }
                state.waiting += 1;
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }
            let now = Instant::now();
            match plan(&state.queue, &self.config, now) {
                Plan::WaitUntil(deadline) if !state.closed => {
                    state.waiting += 1;
                    state = self
                        .changed
                        .wait_timeout(state, deadline.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    state.waiting -= 1;
                }
                // Closing: whatever is queued runs now.
                Plan::WaitUntil(_) => return Some(take(&mut state.queue, None)),
                Plan::Run(indices) => {
                    let batch = take(&mut state.queue, Some(&indices));
                    let more = !state.queue.is_empty() && state.waiting > 0;
                    drop(state);
                    if more {
                        self.changed.notify_one();
                    }
                    return Some(batch);
                }
            }
        }
    }

    /// Refuses new requests; the workers run what is queued, then [`Self::next_batch`] ends.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.places.close();
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The batch a free worker may take now: see the module documentation for the rules.
fn plan(queue: &VecDeque<Pending>, config: &BatchConfig, now: Instant) -> Plan {
    let Some(head) = queue.front() else {
        return Plan::WaitUntil(now + config.max_delay());
    };
    let Some(key) = &head.key else {
        return Plan::Run(vec![0]);
    };
    let max = config.max_batch_size();
    let mut picked = vec![0];
    let mut rows = head.rows;
    let mut full = rows >= max;
    // How many of `picked` make the largest preferred batch so far.
    let mut preferred = config.preferred().contains(&rows).then_some(1);
    for (i, p) in queue.iter().enumerate().skip(1) {
        if full {
            break;
        }
        if p.key.as_ref() != Some(key) || p.reply.is_closed() {
            continue;
        }
        if rows + p.rows > max {
            // Batches keep arrival order: the next compatible request waits for the next batch.
            full = true;
            break;
        }
        rows += p.rows;
        picked.push(i);
        full = rows == max;
        if config.preferred().contains(&rows) {
            preferred = Some(picked.len());
        }
    }
    let deadline = head.enqueued + config.max_delay();
    match preferred {
        _ if full => Plan::Run(picked),
        Some(n) => {
            picked.truncate(n);
            Plan::Run(picked)
        }
        None if now >= deadline => Plan::Run(picked),
        None => Plan::WaitUntil(deadline),
    }
}

/// Removes the requests at `indices` (ascending), or every request, from the queue.
fn take(queue: &mut VecDeque<Pending>, indices: Option<&[usize]>) -> Batch {
    let requests = match indices {
        None => queue.drain(..).collect(),
        // The common case: the batch is the head of the queue.
        Some(indices) if indices.iter().enumerate().all(|(n, &i)| n == i) => {
            queue.drain(..indices.len()).collect()
        }
        Some(indices) => {
            let mut requests: Vec<Pending> = indices
                .iter()
                .rev()
                .filter_map(|&i| queue.remove(i))
                .collect();
            requests.reverse();
            requests
        }
    };
    Batch { requests }
}

#[cfg(test)]
pub(super) mod testing {
    //! Builds queue entries for the planning tests.
    use super::*;

    /// A pending request of `rows` rows of `[rows, width]` FP32, enqueued at `at`.
    pub(crate) fn pending(
        rows: usize,
        width: usize,
        at: Instant,
    ) -> (
        Pending,
        oneshot::Receiver<Result<Vec<Tensor>, RuntimeError>>,
    ) {
        let input = Tensor::new(
            "input",
            vec![rows, width],
            crate::protocol::TensorData::F32(vec![0.0; rows * width]),
        )
        .expect("consistent test tensor");
        let inputs = vec![input];
        let (key, rows) = match BatchKey::of(&inputs, usize::MAX) {
            Some((key, rows)) => (Some(key), rows),
            None => (None, 0),
        };
        let (reply, result) = oneshot::channel();
        let place = Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("a fresh semaphore has a permit");
        (
            Pending {
                inputs,
                key,
                rows,
                enqueued: at,
                reply,
                _place: place,
            },
            result,
        )
    }

    /// The plan for `queue`, as indices to run or `None` to wait.
    pub(crate) fn plan_of(
        queue: &VecDeque<Pending>,
        config: &BatchConfig,
        now: Instant,
    ) -> Option<Vec<usize>> {
        match plan(queue, config, now) {
            Plan::Run(indices) => Some(indices),
            Plan::WaitUntil(_) => None,
        }
    }
}
