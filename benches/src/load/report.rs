//! The summary of one load run: throughput, latency quantiles and every error.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::worker::WorkerResult;

/// One load run, as printed and as written by `--json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Workers (connections), each with at most one request in flight.
    pub concurrency: usize,
    /// 2xx answers to requests started inside the measurement window.
    pub requests: u64,
    /// From the start of the window until the last of those requests finished, in seconds.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub requests_per_s: f64,
    /// Latencies of the 2xx answers.
    pub latency: LatencySummary,
    pub errors: ErrorCounts,
}

/// Latency quantiles in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// Failed requests inside the measurement window; none is ever dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Answers whose status was not 2xx, by status code.
    pub status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all.
    pub transport: u64,
    /// The first transport error's message.
    pub first_transport_error: Option<String>,
}

// === impl LoadReport ===

impl LoadReport {
    pub(super) fn from_workers(
        concurrency: usize,
        elapsed: Duration,
        workers: &[WorkerResult],
    ) -> Self {
        let mut latencies = super::worker::new_histogram();
        let mut errors = ErrorCounts::default();
        for worker in workers {
            latencies
                .add(&worker.latencies)
                .expect("every worker's histogram has the same bounds");
            for (status, n) in &worker.statuses {
                *errors.status.entry(status.as_u16()).or_default() += n;
            }
            errors.transport += worker.transport_errors;
            if errors.first_transport_error.is_none() {
                errors
                    .first_transport_error
                    .clone_from(&worker.first_transport_error);
            }
        }
        let requests = latencies.len();
        let elapsed_s = elapsed.as_secs_f64();
        let requests_per_s = if elapsed_s > 0.0 {
            requests as f64 / elapsed_s
        } else {
            0.0
        };
        LoadReport {
            concurrency,
            requests,
            elapsed_s,
            requests_per_s,
            latency: LatencySummary::from_histogram(&latencies),
            errors,
        }
    }
}

impl LoadReport {
    /// One progress line: `N req/s, p50 X µs, p99 Y µs, max Z µs, errors E`.
    pub fn summary(&self) -> String {
        let l = &self.latency;
        format!(
            "{:.0} req/s, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, errors {}",
            self.requests_per_s, l.p50_us, l.p99_us, l.max_us, self.errors
        )
    }

    /// An error naming `what` (the server and the load) when any request failed: benchmarks
    /// only report runs in which every request succeeded.
    pub fn ensure_no_errors(&self, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.errors.total() == 0,
            "{what} answered errors: {}",
            self.errors
        );
        Ok(())
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency;
        writeln!(
            f,
            "c={:<4} {:>10.0} req/s  {} requests in {:.2} s",
            self.concurrency, self.requests_per_s, self.requests, self.elapsed_s
        )?;
        writeln!(
            f,
            "        latency  p50 {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  max {:.1} µs  mean {:.1} µs",
            l.p50_us, l.p90_us, l.p99_us, l.max_us, l.mean_us
        )?;
        write!(f, "        errors   {}", self.errors)
    }
}

// === impl LatencySummary ===

impl LatencySummary {
    fn from_histogram(h: &Histogram<u64>) -> Self {
        let us = |nanos: u64| nanos as f64 / 1_000.0;
        if h.is_empty() {
            return LatencySummary {
                p50_us: 0.0,
                p90_us: 0.0,
                p99_us: 0.0,
                max_us: 0.0,
                mean_us: 0.0,
            };
        }
        LatencySummary {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1_000.0,
        }
    }
}

// === impl ErrorCounts ===

impl ErrorCounts {
    /// All failed requests, of both kinds.
    pub fn total(&self) -> u64 {
        self.status.values().sum::<u64>() + self.transport
    }
}

impl fmt::Display for ErrorCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let non_2xx: u64 = self.status.values().sum();
        write!(f, "non-2xx {non_2xx}")?;
        for (status, n) in &self.status {
            write!(f, " ({status}: {n})")?;
        }
        write!(f, ", transport {}", self.transport)?;
        if let Some(first) = &self.first_transport_error {
            write!(f, " (first: {first})")?;
        }
        Ok(())
    }
}
