//! The batching comparison's results: medians over runs, the batches the predictor reports,
//! and the markdown.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::load::LoadReport;
use crate::predictor::Setup;
use crate::predictor::table::{micros, rate, render_setup, verdict};

/// The target: batching on serves at least this many times the requests per second.
const TARGET_RPS_RATIO: f64 = 3.0;

/// The two predictors compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Mode {
    Off,
    On,
}

/// What the predictor's `/metrics` say about its model calls, over its whole life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BatchStats {
    /// Model calls (`infergate_batch_size_count`).
    pub calls: f64,
    /// Requests they served (`infergate_batch_size_sum`).
    pub requests: f64,
    /// Seconds spent in model calls (`infergate_inference_duration_seconds_sum`).
    pub inference_s: f64,
}

/// Every run of both predictors, and their batches.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BatchingResult {
    pub concurrency: usize,
    pub max_batch_size: usize,
    pub max_batch_delay_ms: u64,
    /// How the predictors ran, for the report.
    pub settings: String,
    pub runs: BTreeMap<Mode, Vec<LoadReport>>,
    pub batches: BTreeMap<Mode, BatchStats>,
}

/// Medians over one mode's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Medians {
    pub requests_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

// === impl Mode ===

impl Mode {
    /// How logs and errors name the predictor.
    pub fn label(self) -> String {
        format!("infergate (batching {self})")
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::On => "on",
        })
    }
}

// === impl BatchStats ===

impl BatchStats {
    /// Reads the predictor's batch size and model call families from its exposition.
    pub fn parse(exposition: &str) -> anyhow::Result<Self> {
        let value = |name: &str| -> anyhow::Result<f64> {
            exposition
                .lines()
                .find(|line| {
                    line.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                })
                .and_then(|line| line.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("the predictor's /metrics have no `{name}`"))
        };
        Ok(BatchStats {
            calls: value("infergate_batch_size_count")?,
            requests: value("infergate_batch_size_sum")?,
            inference_s: value("infergate_inference_duration_seconds_sum")?,
        })
    }

    /// Requests per model call.
    pub fn mean_batch(&self) -> f64 {
        self.requests / self.calls
    }

    /// Microseconds per model call: one batch's compute.
    pub fn mean_call_us(&self) -> f64 {
        self.inference_s * 1e6 / self.calls
    }
}

// === impl BatchingResult ===

impl BatchingResult {
    /// Medians of each metric on its own over the runs of `mode`.
    pub fn medians(&self, mode: Mode) -> Option<Medians> {
        let runs = self.runs.get(&mode).filter(|r| !r.is_empty())?;
        let median_of = |f: fn(&LoadReport) -> f64| median(runs.iter().map(f).collect());
        Some(Medians {
            requests_per_s: median_of(|r| r.requests_per_s),
            p50_us: median_of(|r| r.latency.p50_us),
            p99_us: median_of(|r| r.latency.p99_us),
        })
    }
}

/// The median; the mean of the middle two for an even count.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The markdown section: heading, how to reproduce, the table, the targets.
pub(super) fn render(setup: &Setup, result: &BatchingResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### Dynamic batching: MLP at c={}, batching on vs off (V2 JSON, batch-1 requests, CPU)\n",
        result.concurrency
    );
    render_setup(w, setup, " (on and off runs alternated)");
    let _ = writeln!(w, "- Predictors: {}", result.settings);
    let _ = writeln!(
        w,
        "- Batches: from each predictor's own `/metrics` over its whole life (probes and warm-up \
         included): requests per model call, and the mean time of one model call\n"
    );
    let _ = writeln!(
        w,
        "| batching | req/s | p50 | p99 | requests per model call | one model call |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for mode in [Mode::Off, Mode::On] {
        let Some(m) = result.medians(mode) else {
            continue;
        };
        let (batch, call) = result.batches.get(&mode).map_or_else(
            || ("–".to_owned(), "–".to_owned()),
            |b| (format!("{:.1}", b.mean_batch()), micros(b.mean_call_us())),
        );
        let _ = writeln!(
            w,
            "| {mode} | {} | {} | {} | {batch} | {call} |",
            rate(m.requests_per_s),
            micros(m.p50_us),
            micros(m.p99_us)
        );
    }
    render_targets(w, result);
    md
}

fn render_targets(w: &mut String, result: &BatchingResult) {
    let (Some(off), Some(on)) = (result.medians(Mode::Off), result.medians(Mode::On)) else {
        let _ = writeln!(w, "\nTargets: not measured (a mode has no runs).");
        return;
    };
    let speedup = on.requests_per_s / off.requests_per_s;
    let delay_us = result.max_batch_delay_ms as f64 * 1_000.0;
    let _ = writeln!(
        w,
        "\nTargets (issue #7): batching on ≥ {TARGET_RPS_RATIO}× the req/s of off, with p99 ≤ \
         the max delay + one batch's compute.\n"
    );
    let _ = writeln!(
        w,
        "- req/s: {speedup:.2}× ({})",
        verdict(speedup >= TARGET_RPS_RATIO)
    );
    match result.batches.get(&Mode::On) {
        Some(b) => {
            let bound = delay_us + b.mean_call_us();
            let _ = writeln!(
                w,
                "- p99: {} vs {} ms delay + {} per batch = {} ({}); in a closed loop a request \
                 can also wait for the batch already running, so 2 batches' compute is the \
                 honest bound there: {} ({})",
                micros(on.p99_us),
                result.max_batch_delay_ms,
                micros(b.mean_call_us()),
                micros(bound),
                verdict(on.p99_us <= bound),
                micros(delay_us + 2.0 * b.mean_call_us()),
                verdict(on.p99_us <= delay_us + 2.0 * b.mean_call_us()),
            );
        }
        None => {
            let _ = writeln!(w, "- p99: {} (no batch statistics)", micros(on.p99_us));
        }
    }
    let _ = writeln!(
        w,
        "- Reading the p99: at c={} a closed loop keeps the server saturated, so a request's \
         latency is mostly time spent queued behind the other clients (Little's law: c ÷ req/s \
         = {} with batching on); the p99 bound is about the latency batching adds, which only a \
         load below saturation shows.",
        result.concurrency,
        micros(result.concurrency as f64 * 1e6 / on.requests_per_s)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{ErrorCounts, LatencySummary};

    fn report(requests_per_s: f64, p50_us: f64, p99_us: f64) -> LoadReport {
        LoadReport {
            concurrency: 64,
            requests: 1,
            elapsed_s: 1.0,
            requests_per_s,
            latency: LatencySummary {
                mean_us: p50_us,
                p50_us,
                p90_us: p99_us,
                p99_us,
                max_us: p99_us,
            },
            errors: ErrorCounts::default(),
        }
    }

    fn result() -> BatchingResult {
        let mut result = BatchingResult {
            concurrency: 64,
            max_batch_size: 32,
            max_batch_delay_ms: 2,
            settings: "test".to_owned(),
            ..BatchingResult::default()
        };
        for (off, on) in [(1_000.0, 3_500.0), (900.0, 3_300.0), (1_100.0, 2_000.0)] {
            result
                .runs
                .entry(Mode::Off)
                .or_default()
                .push(report(off, 60_000.0, 80_000.0));
            result
                .runs
                .entry(Mode::On)
                .or_default()
                .push(report(on, 15_000.0, 9_000.0));
        }
        result.batches.insert(
            Mode::On,
            BatchStats {
                calls: 100.0,
                requests: 3_000.0,
                inference_s: 0.5,
            },
        );
        result
    }

    #[test]
    fn batch_statistics_come_from_the_exposition() {
        let text = "# TYPE infergate_batch_size histogram\n\
            infergate_batch_size_bucket{model=\"mlp\",le=\"1\"} 3\n\
            infergate_batch_size_sum{model=\"mlp\"} 120\n\
            infergate_batch_size_count{model=\"mlp\"} 10\n\
            infergate_inference_duration_seconds_sum{model=\"mlp\"} 0.02\n";
        let stats = BatchStats::parse(text).expect("all three families");
        assert_eq!(stats.mean_batch(), 12.0);
        assert!((stats.mean_call_us() - 2_000.0).abs() < 1e-9);
        let err = BatchStats::parse("").expect_err("empty exposition");
        assert!(
            err.to_string().contains("infergate_batch_size_count"),
            "{err}"
        );
    }

    #[test]
    fn the_table_gives_medians_and_the_targets() {
        let setup = Setup {
            command: "cargo run --release -p infergate-benches -- batching".to_owned(),
            date: "2026-11-23".to_owned(),
            machine: crate::machine::Machine::current(),
            runs: 3,
            warmup_s: 2.0,
            duration_s: 10.0,
            loadgen_threads: 1,
        };
        let md = render(&setup, &result());
        assert!(
            md.contains("| off | 1,000 | 60.00 ms | 80.00 ms | – | – |"),
            "{md}"
        );
        assert!(
            md.contains("| on | 3,300 | 15.00 ms | 9.00 ms | 30.0 | 5.00 ms |"),
            "{md}"
        );
        assert!(md.contains("- req/s: 3.30× (met)"), "{md}");
        // 2 ms delay + 5 ms per batch = 7 ms < 9 ms; with two batches, 12 ms.
        assert!(md.contains("= 7.00 ms (NOT met)"), "{md}");
        assert!(md.contains("12.00 ms (met)"), "{md}");
        // 64 clients ÷ 3,300 req/s.
        assert!(md.contains("= 19.39 ms with batching on"), "{md}");
    }
}
