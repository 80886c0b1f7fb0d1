//! The monitoring comparison's results: medians over runs, what the monitor recorded, and the
//! markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::load::LoadReport;
use crate::predictor::table::{micros, rate, render_setup, verdict};
use crate::predictor::{Medians, ServerResult, Setup};

/// The target: monitoring on serves at least this share of the requests per second.
const TARGET_RPS_RATIO: f64 = 0.95;

/// Monitoring off or on for a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Mode {
    Off,
    On,
}

/// Every run of one model, both modes, and the monitored service's counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelResult {
    pub runs: BTreeMap<Mode, Vec<LoadReport>>,
    /// Requests the monitored service answered (the gateway's `infergate_requests_total`).
    pub answered: f64,
    /// Exchanges its monitor recorded (`infergate_monitor_samples_total`).
    pub recorded: f64,
    /// Sampled exchanges not recorded (`infergate_monitor_samples_dropped_total`).
    pub dropped: f64,
}

/// The whole comparison.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MonitoringResult {
    pub concurrency: usize,
    /// How the gateway and its services ran, for the report.
    pub settings: String,
    /// Model name -> its results.
    pub models: BTreeMap<String, ModelResult>,
}

// === impl Mode ===

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Off, Mode::On];

    /// The service name's suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Mode::Off => "plain",
            Mode::On => "monitored",
        }
    }

    /// `monitoring.infergate.dev/sample-ratio`.
    pub fn sample_ratio(self) -> &'static str {
        match self {
            Mode::Off => "0",
            Mode::On => "1",
        }
    }
}

// === impl ModelResult ===

impl ModelResult {
    /// Medians of each metric on its own over the runs of `mode`.
    pub fn medians(&self, mode: Mode) -> Option<Medians> {
        let mut runs = ServerResult::default();
        runs.runs.insert(0, self.runs.get(&mode)?.clone());
        runs.medians(0)
    }
}

/// The sum of every sample of `family` whose labels include `model="MODEL"`.
pub(super) fn sum(exposition: &str, family: &str, model: &str) -> f64 {
    let label = format!("model=\"{model}\"");
    exposition
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') && rest.contains(&label))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The markdown section: heading, how to reproduce, the table, the target.
pub(super) fn render(setup: &Setup, result: &MonitoringResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### In-gateway monitoring: requests/s with monitoring on vs off, c={} (V2 JSON, \
         batch-1, CPU)\n",
        result.concurrency
    );
    render_setup(
        w,
        setup,
        " (off and on alternated, which goes first swapping each run)",
    );
    let _ = writeln!(w, "- Gateway: {}", result.settings);
    let _ = writeln!(
        w,
        "- Recorded: the monitored service's exchanges the monitor recorded (and dropped), from \
         the gateway's `/metrics` after the runs (probes and warm-ups included)\n"
    );
    let _ = writeln!(
        w,
        "| model | monitoring | req/s | p50 | p99 | on ÷ off | recorded | dropped |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for (name, model) in &result.models {
        let (Some(off), Some(on)) = (model.medians(Mode::Off), model.medians(Mode::On)) else {
            continue;
        };
        let ratio = on.requests_per_s / off.requests_per_s;
        let _ = writeln!(
            w,
            "| {name} | off | {} | {} | {} | | | |",
            rate(off.requests_per_s),
            micros(off.p50_us),
            micros(off.p99_us)
        );
        let _ = writeln!(
            w,
            "| {name} | on (sample ratio 1) | {} | {} | {} | {ratio:.3}× | {} of {} | {} |",
            rate(on.requests_per_s),
            micros(on.p50_us),
            micros(on.p99_us),
            rate(model.recorded),
            rate(model.answered),
            rate(model.dropped)
        );
        verdicts.push(format!(
            "{name} {ratio:.3}× ({})",
            verdict(ratio >= TARGET_RPS_RATIO)
        ));
    }
    let _ = writeln!(
        w,
        "\nTarget (issue #6): monitoring on ≥ {TARGET_RPS_RATIO}× the req/s of off: {}.",
        match verdicts.is_empty() {
            true => "not measured".to_owned(),
            false => verdicts.join("; "),
        }
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{ErrorCounts, LatencySummary};

    fn report(requests_per_s: f64) -> LoadReport {
        LoadReport {
            concurrency: 64,
            requests: 1,
            elapsed_s: 1.0,
            requests_per_s,
            latency: LatencySummary {
                mean_us: 900.0,
                p50_us: 800.0,
                p90_us: 1_500.0,
                p99_us: 2_000.0,
                max_us: 3_000.0,
            },
            errors: ErrorCounts::default(),
        }
    }

    #[test]
    fn counters_are_summed_over_the_models_series() {
        let text = "infergate_requests_total{code=\"200\",model=\"iris-monitored\",namespace=\"default\"} 10\n\
            infergate_requests_total{code=\"503\",model=\"iris-monitored\",namespace=\"default\"} 2\n\
            infergate_requests_total{code=\"200\",model=\"iris-plain\",namespace=\"default\"} 7\n\
            infergate_requests_total_other{model=\"iris-monitored\"} 99\n";
        assert_eq!(
            sum(text, "infergate_requests_total", "iris-monitored"),
            12.0
        );
        assert_eq!(sum(text, "infergate_requests_total", "mlp-monitored"), 0.0);
    }

    #[test]
    fn the_table_gives_medians_the_ratio_and_the_target() {
        let mut model = ModelResult {
            answered: 30_000.0,
            recorded: 29_990.0,
            dropped: 10.0,
            ..ModelResult::default()
        };
        for (off, on) in [(1_000.0, 960.0), (1_100.0, 900.0), (900.0, 980.0)] {
            model.runs.entry(Mode::Off).or_default().push(report(off));
            model.runs.entry(Mode::On).or_default().push(report(on));
        }
        let result = MonitoringResult {
            concurrency: 64,
            settings: "test".to_owned(),
            models: BTreeMap::from([("iris".to_owned(), model)]),
        };
        let setup = Setup {
            command: "cargo run --release -p infergate-benches -- monitoring".to_owned(),
            date: "2026-11-23".to_owned(),
            machine: crate::machine::Machine::current(),
            runs: 3,
            warmup_s: 2.0,
            duration_s: 10.0,
            loadgen_threads: 1,
        };
        let md = render(&setup, &result);
        assert!(
            md.contains("| iris | off | 1,000 | 800 µs | 2.00 ms | | | |"),
            "{md}"
        );
        assert!(
            md.contains("| iris | on (sample ratio 1) | 960 | 800 µs | 2.00 ms | 0.960× | 29,990 of 30,000 | 10 |"),
            "{md}"
        );
        assert!(md.contains("iris 0.960× (met)"), "{md}");
    }
}
