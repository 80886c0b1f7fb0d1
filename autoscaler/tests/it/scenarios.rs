//! Scenario tests of the decider on a simulated clock (vector's adaptive-concurrency style):
//! each `tests/data/scenarios/*.yaml` gives a load shape over time and the replica ranges the
//! decisions must fall in at given times. Every decision is also checked against the
//! invariants in `sim::check_invariants`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use infergate_autoscaler::{AutoscalerConfig, BurstCapacity, Metric};
use serde::Deserialize;

use crate::sim::{self, Tick};

/// How many scenario files there are; a file that goes missing must fail the test.
const SCENARIOS: usize = 9;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default)]
    config: Overrides,
    /// Seconds from a decision until the replicas it added are ready.
    #[serde(default)]
    ready_delay: u64,
    /// Seconds to simulate.
    duration: u64,
    load: Vec<Segment>,
    expect: Vec<Expect>,
}

/// `AutoscalerConfig` fields to change; durations in whole seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    metric: Option<String>,
    target: Option<f64>,
    target_utilization_percentage: Option<f64>,
    container_concurrency: Option<u32>,
    target_burst_capacity: Option<f64>,
    stable_window: Option<u64>,
    panic_window_percentage: Option<f64>,
    panic_threshold_percentage: Option<f64>,
    max_scale_up_rate: Option<f64>,
    max_scale_down_rate: Option<f64>,
    scale_to_zero_grace_period: Option<u64>,
    scale_to_zero_pod_retention_period: Option<u64>,
    initial_scale: Option<u32>,
    min_scale: Option<u32>,
    max_scale: Option<u32>,
}

/// Load over `[start, end)` seconds: `value`, or a linear ramp from `value` to `to`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Segment {
    start: u64,
    end: u64,
    value: f64,
    to: Option<f64>,
}

/// At every second in `[from, to]` (`to` defaults to `from`), the latest decision must match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    from: u64,
    to: Option<u64>,
    /// Inclusive `[low, high]` of desired replicas.
    replicas: Option<[u32; 2]>,
    panic: Option<bool>,
    activator_in_path: Option<bool>,
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        SCENARIOS,
        "scenario files in {}",
        dir.display()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            run_file(file)
                .err()
                .map(|e| format!("{}: {e}", file.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn run_file(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let scenario: Scenario = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let config = scenario.config.apply()?;
    let load = |second: u64| {
        scenario
            .load
            .iter()
            .find(|s| (s.start..s.end).contains(&second))
            .map_or(0.0, |s| s.at(second))
    };
    let ticks = sim::run(&config, scenario.duration, scenario.ready_delay, load);
    sim::check_invariants(&config, &ticks).map_err(|e| format!("{}: {e}", scenario.description))?;
    for expect in &scenario.expect {
        expect
            .check(&ticks)
            .map_err(|e| format!("{}: {e}\n{}", scenario.description, trace(&ticks)))?;
    }
    Ok(())
}

fn trace(ticks: &[Tick]) -> String {
    ticks
        .iter()
        .map(|t| {
            let d = t.decision;
            format!(
                "  t={:>4}s ready={:>3} desired={:>3} panic={} stable={:.1} panic_value={:.1}",
                t.at, t.ready, d.desired_replicas, d.panic, d.stable_value, d.panic_value
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// === impl Overrides ===

impl Overrides {
    fn apply(&self) -> Result<AutoscalerConfig, String> {
        let mut c = AutoscalerConfig::default();
        let secs = Duration::from_secs;
        if let Some(metric) = &self.metric {
            c.metric = match metric.as_str() {
                "concurrency" => Metric::Concurrency,
                "rps" => Metric::Rps,
                other => return Err(format!("unknown metric {other:?}")),
            };
        }
        set(&mut c.target, self.target);
        set(
            &mut c.target_utilization_percentage,
            self.target_utilization_percentage,
        );
        set(&mut c.container_concurrency, self.container_concurrency);
        if let Some(tbc) = self.target_burst_capacity {
            c.target_burst_capacity = if tbc < 0.0 {
                BurstCapacity::Unlimited
            } else {
                BurstCapacity::Requests(tbc)
            };
        }
        set(&mut c.stable_window, self.stable_window.map(secs));
        set(&mut c.panic_window_percentage, self.panic_window_percentage);
        set(
            &mut c.panic_threshold_percentage,
            self.panic_threshold_percentage,
        );
        set(&mut c.max_scale_up_rate, self.max_scale_up_rate);
        set(&mut c.max_scale_down_rate, self.max_scale_down_rate);
        set(
            &mut c.scale_to_zero_grace_period,
            self.scale_to_zero_grace_period.map(secs),
        );
        set(
            &mut c.scale_to_zero_pod_retention_period,
            self.scale_to_zero_pod_retention_period.map(secs),
        );
        set(&mut c.initial_scale, self.initial_scale);
        set(&mut c.min_scale, self.min_scale);
        if self.max_scale.is_some() {
            c.max_scale = self.max_scale;
        }
        c.validate().map_err(|e| e.to_string())
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

// === impl Segment ===

impl Segment {
    fn at(&self, second: u64) -> f64 {
        match self.to {
            None => self.value,
            Some(to) => {
                let progress = (second - self.start) as f64 / (self.end - self.start) as f64;
                self.value + (to - self.value) * progress
            }
        }
    }
}

// === impl Expect ===

impl Expect {
    fn check(&self, ticks: &[Tick]) -> Result<(), String> {
        let to = self.to.unwrap_or(self.from);
        let checks = [
            self.replicas.is_some(),
            self.panic.is_some(),
            self.activator_in_path.is_some(),
        ];
        if !checks.contains(&true) || to < self.from {
            return Err(format!("expectation {self:?} checks nothing"));
        }
        for second in self.from..=to {
            let tick = ticks
                .iter()
                .rev()
                .find(|t| t.at <= second)
                .ok_or_else(|| format!("no decision by t={second}s"))?;
            let d = tick.decision;
            if let Some([low, high]) = self.replicas
                && !(low..=high).contains(&d.desired_replicas)
            {
                return Err(format!(
                    "t={second}s: {} replicas, expected [{low}, {high}]",
                    d.desired_replicas
                ));
            }
            if self.panic.is_some_and(|panic| panic != d.panic) {
                return Err(format!(
                    "t={second}s: panic is {}, expected {:?}",
                    d.panic, self.panic
                ));
            }
            if self
                .activator_in_path
                .is_some_and(|want| want != d.activator_in_path)
            {
                return Err(format!(
                    "t={second}s: activator_in_path is {}, expected {:?}",
                    d.activator_in_path, self.activator_in_path
                ));
            }
        }
        Ok(())
    }
}
