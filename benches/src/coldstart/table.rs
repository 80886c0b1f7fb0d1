//! The cold-start benchmark's results, their summaries, and the markdown that reports them.

use std::fmt::Write as _;

use serde::Serialize;

use super::cycle::Cycle;
use crate::load::LoadReport;
use crate::predictor::table::{micros, rate, ratio, verdict};
use crate::predictor::{Medians, ServerResult, Setup};

/// The target: iris's cold-start p50, in ms.
pub(super) const TARGET_P50_MS: f64 = 250.0;
/// The model the target is about.
pub(super) const TARGET_MODEL: &str = "iris";

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ColdstartResult {
    /// Cold starts, per model.
    pub models: Vec<ModelCycles>,
    /// The ramp from zero against the pre-warmed revision; `None` when skipped.
    pub ramp: Option<RampResult>,
}

/// Every cold start of one model.
#[derive(Clone, Debug, Serialize)]
pub struct ModelCycles {
    pub model: String,
    pub cycles: Vec<Cycle>,
}

/// `c` closed-loop clients from zero replicas vs the same load on pre-warmed replicas.
#[derive(Clone, Debug, Serialize)]
pub struct RampResult {
    pub model: String,
    pub concurrency: usize,
    /// `minReplicas` of the pre-warmed revision and `maxReplicas` of both.
    pub replicas: usize,
    /// Runs from zero.
    pub from_zero: Vec<LoadReport>,
    /// Runs on the pre-warmed revision.
    pub warm: Vec<LoadReport>,
}

/// How the numbers were made: what goes around the tables.
#[derive(Clone, Debug)]
pub struct ColdstartRunInfo {
    /// Command, date, machine; `runs` and `duration_s` are the ramp's.
    pub setup: Setup,
    /// The gateway's settings, e.g. the window, grace period and tick.
    pub settings: String,
}

/// Nearest-rank quantiles of a set of durations, in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantiles {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

// === impl Quantiles ===

impl Quantiles {
    /// `None` for an empty set.
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let n = values.len();
            // Nearest rank: the smallest value with at least q of the values at or below it.
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[index]
        };
        Some(Quantiles {
            n: values.len(),
            p50: rank(0.5),
            p90: rank(0.9),
            max: values[values.len() - 1],
        })
    }
}

// === impl ModelCycles ===

impl ModelCycles {
    /// Quantiles of the whole cold start.
    pub fn total(&self) -> Option<Quantiles> {
        Quantiles::of(self.cycles.iter().map(|c| c.total_ms).collect())
    }

    /// Quantiles of one part of the split, over the cycles where it is known.
    fn part(&self, part: fn(&Cycle) -> Option<f64>) -> Option<Quantiles> {
        Quantiles::of(self.cycles.iter().filter_map(part).collect())
    }

    /// Whether every cycle started at zero with no process of the service alive.
    pub fn all_from_zero(&self) -> bool {
        self.cycles
            .iter()
            .all(|c| c.at_zero_before && c.processes_before == 0)
    }
}

// === impl RampResult ===

impl RampResult {
    fn medians(runs: &[LoadReport]) -> Option<Medians> {
        let mut result = ServerResult::default();
        result.runs.insert(0, runs.to_vec());
        result.medians(0)
    }

    pub fn from_zero_medians(&self) -> Option<Medians> {
        Self::medians(&self.from_zero)
    }

    pub fn warm_medians(&self) -> Option<Medians> {
        Self::medians(&self.warm)
    }
}

/// The parts of the split, as (label, getter); the first is the process's share.
type Part = (&'static str, fn(&Cycle) -> Option<f64>);

const PARTS: [Part; 7] = [
    ("spawn → ready line (the process)", |c| {
        c.phases.spawn_to_ready_line_ms
    }),
    ("the rest (total − the process)", |c| {
        c.phases.spawn_to_ready_line_ms.map(|p| c.total_ms - p)
    }),
    ("· request → spawn (activator, decision, spawn)", |c| {
        c.phases.request_to_spawn_ms
    }),
    (
        "· spawn → listening (exec, linking, runtime, bind)",
        |c| c.phases.spawn_to_listening_ms,
    ),
    (
        "· listening → loaded (ONNX Runtime, sessions, warm-up)",
        |c| c.phases.model_load_ms,
    ),
    ("· loaded → ready line read", |c| {
        c.phases.loaded_to_ready_line_ms
    }),
    (
        "· ready line → answer (routes, activator, proxy, inference)",
        |c| c.phases.ready_line_to_response_ms,
    ),
];

/// The markdown section: heading, how the numbers were made, cold starts, split, ramp, target.
pub(super) fn render(info: &ColdstartRunInfo, result: &ColdstartResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### Cold start: first request at zero replicas → whole answer (V2 JSON, batch 1, CPU)\n"
    );
    let setup = &info.setup;
    let _ = writeln!(w, "- Command: `{}`", setup.command);
    let _ = writeln!(w, "- Date: {} (UTC)", setup.date);
    let _ = writeln!(w, "- Machine: {}", setup.machine);
    let _ = writeln!(w, "- Gateway: {}", info.settings);
    let _ = writeln!(
        w,
        "- Method: per cycle, wait until the admin API shows the revision at zero (`atZero`, no \
         ready or desired replica) and no predictor process of it is left (children of the \
         gateway), then send one request on a connection opened beforehand and time it from \
         handing it to the connection until its whole body is read; the answer is checked against \
         `examples/reference/MODEL.json`. Models cycle in parallel but their timed requests never \
         overlap. Quantiles are nearest-rank over the cycles. The split comes from the gateway's \
         log timestamps (µs) and the client's wall clock\n"
    );
    render_cycles(w, result);
    render_split(w, result);
    if let Some(ramp) = &result.ramp {
        render_ramp(w, setup, ramp);
    }
    render_target(w, result);
    md
}

/// A duration in ms: one decimal below a second, seconds with two above.
fn ms(v: f64) -> String {
    if !v.is_finite() {
        "–".to_owned()
    } else if v < 1_000.0 {
        format!("{v:.1} ms")
    } else {
        format!("{:.2} s", v / 1e3)
    }
}

fn render_cycles(w: &mut String, result: &ColdstartResult) {
    let _ = writeln!(
        w,
        "| model | cycles | from zero | p50 | p90 | max | process share of p50 |"
    );
    let _ = writeln!(w, "|---|---:|---|---:|---:|---:|---:|");
    for m in &result.models {
        let Some(total) = m.total() else {
            let _ = writeln!(w, "| {} | 0 | – | – | – | – | – |", m.model);
            continue;
        };
        let share = m.part(PARTS[0].1).map_or("–".to_owned(), |p| ms(p.p50));
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {share} |",
            m.model,
            total.n,
            if m.all_from_zero() {
                "every cycle"
            } else {
                "NOT every cycle"
            },
            ms(total.p50),
            ms(total.p90),
            ms(total.max),
        );
    }
}

fn render_split(w: &mut String, result: &ColdstartResult) {
    if result.models.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\nWhere the time goes: p50 (p90) of each part over the cycles; parts from the gateway's log \
         lines `Started predictor process.`, `Listening; loading the model.`, `Model loaded and \
         warmed up.`, `Predictor is ready.`. Part p50s need not add up to the total's p50.\n"
    );
    let mut header = "| part |".to_owned();
    let mut rule = "|---|".to_owned();
    for m in &result.models {
        let _ = write!(header, " {} |", m.model);
        rule.push_str("---:|");
    }
    let _ = writeln!(w, "{header}\n{rule}");
    for (label, part) in PARTS {
        let mut row = format!("| {label} |");
        for m in &result.models {
            let cell = m.part(part).map_or("–".to_owned(), |q| {
                format!("{} ({})", ms(q.p50), ms(q.p90))
            });
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(w, "{row}");
    }
    let mut row = "| predictor's own load timing (`seconds=`) |".to_owned();
    for m in &result.models {
        let cell = m
            .part(|c| c.phases.predictor_load_ms)
            .map_or("–".to_owned(), |q| {
                format!("{} ({})", ms(q.p50), ms(q.p90))
            });
        let _ = write!(row, " {cell} |");
    }
    let _ = writeln!(w, "{row}");
}

fn render_ramp(w: &mut String, setup: &Setup, ramp: &RampResult) {
    let _ = writeln!(
        w,
        "\nRamp: {} closed-loop clients (one keep-alive connection each) for {} s, measured from \
         their first request (no warm-up), median of {} run(s): from zero replicas (`minReplicas: \
         0`, `maxReplicas: {r}`) vs the same load on a pre-warmed revision (`minReplicas: {r}`, \
         `maxReplicas: {r}`, one request sent first). Runs alternate.\n",
        ramp.concurrency,
        setup.duration_s,
        ramp.from_zero.len().max(ramp.warm.len()),
        r = ramp.replicas,
    );
    let _ = writeln!(
        w,
        "| {} at c={} | req/s | p50 | p99 | max | errors |",
        ramp.model, ramp.concurrency
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    let row = |w: &mut String, label: &str, runs: &[LoadReport], m: Option<Medians>| {
        let Some(m) = m else {
            let _ = writeln!(w, "| {label} | not run | – | – | – | – |");
            return;
        };
        let max = runs
            .iter()
            .map(|r| r.latency.max_us)
            .fold(f64::NAN, f64::max);
        let errors: u64 = runs.iter().map(|r| r.errors.total()).sum();
        let _ = writeln!(
            w,
            "| {label} | {} | {} | {} | {} | {errors} |",
            rate(m.requests_per_s),
            micros(m.p50_us),
            micros(m.p99_us),
            micros(max),
        );
    };
    let zero = ramp.from_zero_medians();
    let warm = ramp.warm_medians();
    row(w, "from zero", &ramp.from_zero, zero);
    row(w, "pre-warmed", &ramp.warm, warm);
    if let (Some(z), Some(h)) = (zero, warm) {
        let _ = writeln!(
            w,
            "\nFrom zero ÷ pre-warmed: req/s {}, p99 {} (max: the slowest request of any run).",
            fraction(z.requests_per_s / h.requests_per_s),
            ratio(z.p99_us / h.p99_us)
        );
    }
}

fn render_target(w: &mut String, result: &ColdstartResult) {
    let _ = writeln!(
        w,
        "\nTarget: cold start p50 ≤ {} for {TARGET_MODEL}.\n",
        ms(TARGET_P50_MS)
    );
    match result
        .models
        .iter()
        .find(|m| m.model == TARGET_MODEL)
        .and_then(|m| m.total())
    {
        Some(q) => {
            let _ = writeln!(
                w,
                "- {TARGET_MODEL}: p50 {} over {} cycles ({})",
                ms(q.p50),
                q.n,
                verdict(q.p50 <= TARGET_P50_MS)
            );
        }
        None => {
            let _ = writeln!(w, "- {TARGET_MODEL}: not measured (target not checked)");
        }
    }
}

/// A fraction with two decimals (`0.93×`).
fn fraction(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}×")
    } else {
        "–".to_owned()
    }
}
