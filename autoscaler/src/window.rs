//! Per-second metric buckets averaged over the stable and panic windows (Knative's
//! `TimedFloat64Buckets`).
//!
//! Every source records what it saw during a second (average in-flight requests, or requests
//! that arrived) once a second; values recorded into the same second add up, so replicas and
//! the activator can each report their share. A window's average is the sum of its buckets
//! over the number of seconds it covers; seconds nobody recorded count as zero. While the first
//! record is younger than the window, the average covers only the seconds since then (as
//! Knative does), so a fresh revision is not diluted by time before it existed.
//!
//! Deviation from Knative: Knative also shortens the window when data *stops* arriving
//! (its scrapers report every second, so silence means a scrape failure). infergate's sources
//! record explicit zeros, so silence here simply means zero.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::AutoscalerConfig;
use crate::decider::Metrics;

/// One window of per-second buckets.
#[derive(Clone, Debug)]
pub struct BucketWindow {
    /// Window length in seconds (at least 1).
    len: u64,
    /// `(second, value)`, oldest first, only seconds inside the window of the latest record.
    buckets: VecDeque<(u64, f64)>,
    /// The second of the first record; `None` before any.
    first: Option<u64>,
}

/// The stable and panic windows of one revision's metric.
#[derive(Clone, Debug)]
pub struct MetricWindows {
    stable: BucketWindow,
    panic: BucketWindow,
}

// === impl BucketWindow ===

impl BucketWindow {
    /// A window `len` long (rounded down to whole seconds, at least one).
    pub fn new(len: Duration) -> Self {
        Self {
            len: len.as_secs().max(1),
            buckets: VecDeque::new(),
            first: None,
        }
    }

    /// Adds `value` to the bucket of second `now` (time since any fixed origin).
    pub fn record(&mut self, now: Duration, value: f64) {
        let second = now.as_secs();
        self.first.get_or_insert(second);
        match self.buckets.iter_mut().rev().find(|(s, _)| *s == second) {
            Some((_, bucket)) => *bucket += value,
            None => {
                // Keep the deque ordered even if a late record arrives for an older second.
                let at = self.buckets.partition_point(|(s, _)| *s < second);
                self.buckets.insert(at, (second, value));
            }
        }
        self.evict(second);
    }

    /// The average per second over the window ending at `now` (inclusive of `now`'s second).
    pub fn average(&self, now: Duration) -> f64 {
        let Some(first) = self.first else {
            return 0.0;
        };
        let now = now.as_secs();
        if now < first {
            return 0.0;
        }
        // Seconds (now - len, now]; a younger series averages over its own age.
        let start = now.saturating_sub(self.len - 1);
        let seconds = now - start.max(first) + 1;
        let sum: f64 = self
            .buckets
            .iter()
            .filter(|(s, _)| (start..=now).contains(s))
            .map(|(_, v)| v)
            .sum();
        sum / seconds as f64
    }

    fn evict(&mut self, newest: u64) {
        let start = newest.saturating_sub(self.len - 1);
        while self.buckets.front().is_some_and(|(s, _)| *s < start) {
            self.buckets.pop_front();
        }
    }
}

// === impl MetricWindows ===

impl MetricWindows {
    /// Windows sized by `config` (stable window and panic window).
    pub fn new(config: &AutoscalerConfig) -> Self {
        Self {
            stable: BucketWindow::new(config.stable_window),
            panic: BucketWindow::new(config.panic_window()),
        }
    }

    /// Records one second's observation (see the module doc) into both windows.
    pub fn record(&mut self, now: Duration, value: f64) {
        self.stable.record(now, value);
        self.panic.record(now, value);
    }

    /// The decider's input at `now`: both averages and the ready replicas.
    pub fn metrics(&self, now: Duration, ready_replicas: u32) -> Metrics {
        Metrics {
            ready_replicas,
            stable: self.stable.average(now),
            panic: self.panic.average(now),
        }
    }
}
