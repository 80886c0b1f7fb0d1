//! The activator: one bounded FIFO queue per revision, owned by one task.
//!
//! The gateway sends a request through the activator while the revision lacks capacity
//! ([`crate::Decision::activator_in_path`]). [`Activator::enqueue`] resolves to a [`Permit`]
//! once a replica slot is free; dropping the permit frees the slot. The queue never lets more
//! than `ready_replicas x containerConcurrency` permits out at once (unlimited when
//! `containerConcurrency` is 0). The first request queued while the revision has no ready
//! replica fires a poke, so the autoscaler can scale from zero at once instead of at its next
//! tick.
//!
//! [`Activator::try_acquire`] is the fast path for warm traffic: while nobody waits and a slot is
//! free it takes one with a compare-and-swap, without a message to the owner task, so the same
//! slot count bounds requests that queued and requests that did not.
//!
//! Bounds: a full queue answers [`ActivatorError::QueueFull`] at once (503 + `Retry-After`);
//! a wait longer than [`ActivatorConfig::max_wait`] ends in [`ActivatorError::Timeout`] (503);
//! the request's own deadline ends in [`ActivatorError::DeadlineExceeded`] (504). A revision
//! that cannot start ([`Activator::unavailable`], e.g. its model failed to load while scaling
//! from zero) fails its waiters, and every later request, at once with
//! [`ActivatorError::Unavailable`] (503 with the reason) instead of holding them to `max_wait`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, timeout_at};

/// Queue bounds (DESIGN §12: 1000 requests, 60 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivatorConfig {
    /// Most requests waiting per revision. Default 1000.
    pub queue_depth: usize,
    /// Longest a request waits for capacity. Default 60 s.
    pub max_wait: Duration,
    /// What [`ActivatorError::QueueFull`] suggests as `Retry-After`. Default 1 s.
    pub retry_after: Duration,
}

/// Why a request did not get a permit. [`ActivatorError::kind`] is the metrics label.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ActivatorError {
    /// The queue holds `queue_depth` requests already (503 with `Retry-After`).
    #[error("activator queue is full ({depth} requests waiting); retry after {retry_after:?}")]
    QueueFull { depth: usize, retry_after: Duration },
    /// No capacity appeared within `max_wait` (503).
    #[error("no replica had capacity within the activator's max wait of {waited:?}")]
    Timeout { waited: Duration },
    /// The request's own deadline passed while it waited (504).
    #[error("the request's deadline passed while it waited for a replica")]
    DeadlineExceeded,
    /// The revision cannot start replicas (503); `reason` says why.
    #[error("the revision cannot serve: {reason}")]
    Unavailable { reason: Arc<str> },
    /// The activator's task has stopped.
    #[error("the activator has shut down")]
    Closed,
}

/// Requests waiting and requests let through, as reported to the autoscaler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivatorStats {
    pub queued: usize,
    pub in_flight: usize,
}

/// A cheap, cloneable handle to one revision's activator task.
#[derive(Clone, Debug)]
pub struct Activator {
    commands: mpsc::Sender<Command>,
    capacity: Arc<watch::Sender<Capacity>>,
    slots: Arc<Slots>,
    config: ActivatorConfig,
}

/// Receives the scale-from-zero pokes. Pokes coalesce: one pending poke stands for many.
#[derive(Debug)]
pub struct Pokes(mpsc::Receiver<()>);

/// One request's slot on a replica; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "dropping the permit frees the slot at once"]
pub struct Permit {
    slots: Arc<Slots>,
}

#[derive(Debug)]
enum Command {
    Enqueue(oneshot::Sender<Result<Permit, ActivatorError>>),
    Stats(oneshot::Sender<ActivatorStats>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Capacity {
    ready_replicas: u32,
    container_concurrency: u32,
    /// Set while the revision cannot start replicas: why.
    unavailable: Option<Arc<str>>,
}

/// The slots, shared lock-free by the worker, [`Activator::try_acquire`] and every [`Permit`]:
/// `Drop` never blocks nor needs a channel slot.
#[derive(Debug, Default)]
struct Slots {
    /// Permits out now.
    in_flight: AtomicUsize,
    /// Most permits out at once (`ready x containerConcurrency`).
    limit: AtomicUsize,
    /// Requests waiting in the queue; the fast path steps aside while any wait (FIFO).
    queued: AtomicUsize,
    /// Wakes the worker when a slot frees while requests wait.
    freed: Notify,
}

/// The task that owns the queue.
struct Worker {
    config: ActivatorConfig,
    queue: VecDeque<oneshot::Sender<Result<Permit, ActivatorError>>>,
    capacity: watch::Receiver<Capacity>,
    slots: Arc<Slots>,
    pokes: mpsc::Sender<()>,
}

// === impl ActivatorConfig ===

pub const fn default_queue_depth() -> usize {
    1000
}
pub const fn default_max_wait() -> Duration {
    Duration::from_secs(60)
}
pub const fn default_retry_after() -> Duration {
    Duration::from_secs(1)
}

impl Default for ActivatorConfig {
    fn default() -> Self {
        Self {
            queue_depth: default_queue_depth(),
            max_wait: default_max_wait(),
            retry_after: default_retry_after(),
        }
    }
}

// === impl ActivatorError ===

impl ActivatorError {
    /// A short, stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::QueueFull { .. } => "queue_full",
            Self::Timeout { .. } => "queue_timeout",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Unavailable { .. } => "revision_unavailable",
            Self::Closed => "activator_closed",
        }
    }

    /// The `Retry-After` to answer with, where one applies.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::QueueFull { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

// === impl Activator ===

impl Activator {
    /// Spawns the revision's activator task with no ready replica. The task ends when the last
    /// handle is dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it calls `tokio::spawn`).
    pub fn spawn(config: ActivatorConfig) -> (Self, Pokes) {
        let (commands, commands_rx) = mpsc::channel(config.queue_depth.clamp(1, 1024));
        let (capacity, capacity_rx) = watch::channel(Capacity::default());
        let (pokes, pokes_rx) = mpsc::channel(1);
        let slots = Arc::new(Slots::default());
        let worker = Worker {
            config,
            queue: VecDeque::new(),
            capacity: capacity_rx,
            slots: Arc::clone(&slots),
            pokes,
        };
        tokio::spawn(worker.run(commands_rx));
        let handle = Self {
            commands,
            capacity: Arc::new(capacity),
            slots,
            config,
        };
        (handle, Pokes(pokes_rx))
    }

    /// A slot at once, without queueing, when one is free and nobody waits: an atomic
    /// compare-and-swap, never a message to the worker. `None`: use [`Activator::enqueue`].
    pub fn try_acquire(&self) -> Option<Permit> {
        if self.slots.queued.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.slots.take_one().then(|| Permit {
            slots: Arc::clone(&self.slots),
        })
    }

    /// Waits (FIFO) for a slot, until `deadline` (the request's own) or the activator's
    /// `max_wait`, whichever comes first.
    pub async fn enqueue(&self, deadline: Instant) -> Result<Permit, ActivatorError> {
        let bound = Instant::now() + self.config.max_wait;
        let wait = async {
            let (reply, permit) = oneshot::channel();
            self.commands
                .send(Command::Enqueue(reply))
                .await
                .map_err(|_| ActivatorError::Closed)?;
            permit.await.map_err(|_| ActivatorError::Closed)?
        };
        match timeout_at(deadline.min(bound), wait).await {
            Ok(result) => result,
            Err(_) if deadline <= bound => Err(ActivatorError::DeadlineExceeded),
            Err(_) => Err(ActivatorError::Timeout {
                waited: self.config.max_wait,
            }),
        }
    }

    /// Tells the activator how many replicas are ready and how many requests each may take
    /// (`0` = unlimited). Latest wins; never blocks.
    pub fn capacity_changed(&self, ready_replicas: u32, container_concurrency: u32) {
        self.set_capacity(Capacity {
            ready_replicas,
            container_concurrency,
            unavailable: None,
        });
    }

    /// Tells the activator the revision cannot start replicas (`reason`, e.g. the loader's
    /// error): waiting requests and every later one get [`ActivatorError::Unavailable`] at once,
    /// until [`Activator::capacity_changed`] reports capacity again. Never blocks.
    pub fn unavailable(&self, reason: &str) {
        if self.capacity.borrow().unavailable.as_deref() == Some(reason) {
            return;
        }
        self.set_capacity(Capacity {
            unavailable: Some(reason.into()),
            ..Capacity::default()
        });
    }

    fn set_capacity(&self, capacity: Capacity) {
        // The fast path reads the limit at once; the worker hears of it through the watch.
        self.slots.limit.store(capacity.limit(), Ordering::SeqCst);
        self.capacity.send_if_modified(|current| {
            let changed = *current != capacity;
            *current = capacity;
            changed
        });
    }

    /// Requests waiting and requests let through right now.
    pub async fn stats(&self) -> Result<ActivatorStats, ActivatorError> {
        let (reply, stats) = oneshot::channel();
        self.commands
            .send(Command::Stats(reply))
            .await
            .map_err(|_| ActivatorError::Closed)?;
        stats.await.map_err(|_| ActivatorError::Closed)
    }
}

// === impl Pokes ===

impl Pokes {
    /// The next poke; `None` once the activator has shut down.
    pub async fn recv(&mut self) -> Option<()> {
        self.0.recv().await
    }

    /// A pending poke, without waiting.
    pub fn try_recv(&mut self) -> Option<()> {
        self.0.try_recv().ok()
    }
}

// === impl Permit ===

impl Drop for Permit {
    fn drop(&mut self) {
        self.slots.in_flight.fetch_sub(1, Ordering::SeqCst);
        // Wake the worker only when someone waits. A request queued after this check finds the
        // freed slot itself: the worker releases after every enqueue. `notify_one` stores a
        // wake-up when the worker is not waiting, so none is lost.
        if self.slots.queued.load(Ordering::SeqCst) > 0 {
            self.slots.freed.notify_one();
        }
    }
}

// === impl Slots ===

impl Slots {
    /// Takes a slot if one is free under the limit.
    fn take_one(&self) -> bool {
        let limit = self.limit.load(Ordering::SeqCst);
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }
}

// === impl Capacity ===

impl Capacity {
    fn limit(&self) -> usize {
        let per_replica = match self.container_concurrency {
            0 => usize::MAX,
            cc => cc as usize,
        };
        (self.ready_replicas as usize).saturating_mul(per_replica)
    }
}

// === impl Worker ===

impl Worker {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let slots = Arc::clone(&self.slots);
            tokio::select! {
                biased;
                // Freed slots first: they let the head of the queue through.
                () = slots.freed.notified() => {}
                // Then new replicas, for the same reason.
                changed = self.capacity.changed() => {
                    if changed.is_err() {
                        break; // Every handle is gone.
                    }
                }
                // New requests last, so capacity is current when they are admitted.
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Enqueue(reply)) => self.admit(reply),
                    Some(Command::Stats(reply)) => {
                        self.prune();
                        let in_flight = self.slots.in_flight.load(Ordering::SeqCst);
                        let stats = ActivatorStats { queued: self.queue.len(), in_flight };
                        let _ = reply.send(stats); // The caller gave up; nothing to do.
                    }
                },
            }
            self.release();
        }
    }

    fn admit(&mut self, reply: oneshot::Sender<Result<Permit, ActivatorError>>) {
        if let Some(reason) = &self.capacity.borrow().unavailable {
            let _ = reply.send(Err(ActivatorError::Unavailable {
                reason: Arc::clone(reason),
            }));
            return;
        }
        if self.queue.len() >= self.config.queue_depth {
            // Waiters that timed out still hold a slot until pruned; prune only when it matters.
            self.prune();
        }
        if self.queue.len() >= self.config.queue_depth {
            let _ = reply.send(Err(ActivatorError::QueueFull {
                depth: self.config.queue_depth,
                retry_after: self.config.retry_after,
            }));
            return;
        }
        if self.queue.is_empty() && self.capacity.borrow().ready_replicas == 0 {
            // A full channel means a poke is already pending.
            let _ = self.pokes.try_send(());
        }
        self.queue.push_back(reply);
        self.slots.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// Drops the waiters that gave up.
    fn prune(&mut self) {
        let before = self.queue.len();
        self.queue.retain(|waiter| !waiter.is_closed());
        self.slots
            .queued
            .fetch_sub(before - self.queue.len(), Ordering::SeqCst);
    }

    /// Lets waiters through, oldest first, while there is capacity; fails them all while the
    /// revision is unavailable.
    fn release(&mut self) {
        let unavailable = self.capacity.borrow().unavailable.clone();
        if let Some(reason) = unavailable {
            self.slots
                .queued
                .fetch_sub(self.queue.len(), Ordering::SeqCst);
            for waiter in self.queue.drain(..) {
                let _ = waiter.send(Err(ActivatorError::Unavailable {
                    reason: Arc::clone(&reason),
                }));
            }
            return;
        }
        while !self.queue.is_empty() {
            if self.queue.front().is_some_and(|w| w.is_closed()) {
                self.queue.pop_front();
                self.slots.queued.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            if !self.slots.take_one() {
                break;
            }
            let waiter = self.queue.pop_front().expect("checked non-empty");
            self.slots.queued.fetch_sub(1, Ordering::SeqCst);
            let permit = Permit {
                slots: Arc::clone(&self.slots),
            };
            // If the waiter gave up meanwhile, the returned permit drops and frees its slot.
            let _ = waiter.send(Ok(permit));
        }
    }
}
