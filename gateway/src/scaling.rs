//! Per-revision autoscaling state that the request path, the controller and the metrics share.
//!
//! ```text
//! request path ── start() / queued() ──> Scaling (atomics) <── sample() / decided() ── controller tick
//!      │                                     │
//!      └── activator.enqueue (no capacity) ──┘ activator, capacity_changed(ready, cc) ── controller publish
//! ```
//!
//! The request path only touches atomics here, and the activator only while the revision lacks
//! capacity. The controller reads the counters once per sample interval and writes back what it
//! decided, so the metrics exposition and the request path see the latest decision without
//! republishing the route table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use infergate_autoscaler::{Activator, Decision, Metric};
use tokio::time::Instant;

/// One revision's live load and latest scaling decision.
#[derive(Debug)]
pub struct Scaling {
    /// The revision's queue while it lacks capacity.
    pub activator: Activator,
    /// Requests for the revision inside the gateway, queued ones included.
    in_flight: AtomicU64,
    /// Requests waiting in the activator.
    queued: AtomicU64,
    /// Requests started, ever.
    requests: AtomicU64,
    /// The summed duration of finished requests, in nanoseconds.
    busy_nanos: AtomicU64,
    /// The latest decision.
    desired: AtomicU32,
    panic: AtomicBool,
    activator_in_path: AtomicBool,
    stable_bits: AtomicU64,
    panic_bits: AtomicU64,
    /// Set when the revision reaches zero replicas: the next request is a cold start.
    cold: AtomicBool,
    metric: &'static str,
}

/// What the controller samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub in_flight: u64,
    pub requests: u64,
    pub busy_nanos: u64,
}

/// The latest decision, for metrics and `get revisions`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingView {
    pub desired: u32,
    pub panic: bool,
    pub activator_in_path: bool,
    pub stable: f64,
    pub panic_value: f64,
    pub queued: u64,
    pub in_flight: u64,
    /// `concurrency` or `rps`: what `stable` and `panic_value` measure.
    pub metric: &'static str,
}

/// Counts a request as in flight for the revision until dropped.
#[derive(Debug)]
#[must_use = "the request counts as in flight until this is dropped"]
pub struct LoadGuard {
    scaling: Arc<Scaling>,
    started: Instant,
}

/// Counts a request as queued in the activator until dropped.
#[derive(Debug)]
pub struct QueuedGuard<'a>(&'a Scaling);

// === impl Scaling ===

impl Scaling {
    pub fn new(activator: Activator, metric: Metric, initial_desired: u32) -> Self {
        Scaling {
            activator,
            metric: match metric {
                Metric::Concurrency => "concurrency",
                Metric::Rps => "rps",
            },
            in_flight: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            desired: AtomicU32::new(initial_desired),
            panic: AtomicBool::new(false),
            // Until the first decision, a revision with no replica needs the activator anyway.
            activator_in_path: AtomicBool::new(false),
            stable_bits: AtomicU64::new(0),
            panic_bits: AtomicU64::new(0),
            cold: AtomicBool::new(false),
        }
    }

    /// Counts one request for this revision until the guard drops.
    pub fn start(self: &Arc<Self>) -> LoadGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        LoadGuard {
            scaling: Arc::clone(self),
            started: Instant::now(),
        }
    }

    /// Counts one request as waiting in the activator until the guard drops.
    pub fn queued(&self) -> QueuedGuard<'_> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        QueuedGuard(self)
    }

    /// Whether the latest decision keeps the activator in the request path (Knative's
    /// target-burst-capacity rule).
    pub fn activator_in_path(&self) -> bool {
        self.activator_in_path.load(Ordering::Relaxed)
    }

    /// Marks the revision as at zero replicas: the next request is a cold start.
    pub fn set_cold(&self, cold: bool) {
        self.cold.store(cold, Ordering::Relaxed);
    }

    /// Whether this request is the first since the revision reached zero (true once).
    pub fn take_cold(&self) -> bool {
        self.cold.swap(false, Ordering::Relaxed)
    }

    pub fn sample(&self) -> Sample {
        Sample {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            busy_nanos: self.busy_nanos.load(Ordering::Relaxed),
        }
    }

    /// Publishes a decision.
    pub fn decided(&self, decision: &Decision) {
        self.desired
            .store(decision.desired_replicas, Ordering::Relaxed);
        self.panic.store(decision.panic, Ordering::Relaxed);
        self.activator_in_path
            .store(decision.activator_in_path, Ordering::Relaxed);
        self.stable_bits
            .store(decision.stable_value.to_bits(), Ordering::Relaxed);
        self.panic_bits
            .store(decision.panic_value.to_bits(), Ordering::Relaxed);
    }

    pub fn view(&self) -> ScalingView {
        ScalingView {
            desired: self.desired.load(Ordering::Relaxed),
            panic: self.panic.load(Ordering::Relaxed),
            activator_in_path: self.activator_in_path(),
            stable: f64::from_bits(self.stable_bits.load(Ordering::Relaxed)),
            panic_value: f64::from_bits(self.panic_bits.load(Ordering::Relaxed)),
            queued: self.queued.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            metric: self.metric,
        }
    }
}

// === impl LoadGuard ===

impl Drop for LoadGuard {
    fn drop(&mut self) {
        let busy = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.scaling.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        self.scaling.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for QueuedGuard<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The busy time between two samples as an average concurrency over `elapsed`.
pub fn busy_concurrency(before: &Sample, after: &Sample, elapsed: Duration) -> f64 {
    let busy = after.busy_nanos.saturating_sub(before.busy_nanos) as f64;
    match elapsed.as_nanos() {
        0 => 0.0,
        nanos => busy / nanos as f64,
    }
}
