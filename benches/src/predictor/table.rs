//! The predictor comparison's results: medians over runs, and the markdown that reports them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::load::LoadReport;
use crate::machine::Machine;

/// The target at the highest concurrency: infergate's req/s over KServe's.
const TARGET_RPS_RATIO: f64 = 20.0;
/// The target at the highest concurrency: KServe's p99 over infergate's.
const TARGET_P99_RATIO: f64 = 10.0;

/// Every run of one server serving one model.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerResult {
    /// Load reports by concurrency, one per run.
    pub runs: BTreeMap<usize, Vec<LoadReport>>,
    /// Peak resident memory (VmHWM over the process tree) after all its runs, in KiB.
    pub peak_rss_kib: u64,
}

/// ONNX Runtime called in-process in a loop: the cost of the model alone.
#[derive(Clone, Debug, Serialize)]
pub struct FloorResult {
    pub calls_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// One model's comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub infergate: ServerResult,
    /// `None` when KServe was skipped.
    pub kserve: Option<ServerResult>,
    pub floor: Option<FloorResult>,
}

/// Medians over the runs at one concurrency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Medians {
    pub requests_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// How any comparison's numbers were made: the lines every section starts with.
#[derive(Clone, Debug)]
pub struct Setup {
    pub command: String,
    pub date: String,
    pub machine: Machine,
    pub runs: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub loadgen_threads: usize,
}

/// What goes around the tables: how the numbers were made.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub setup: Setup,
    pub infergate_settings: String,
    pub kserve_settings: String,
}

// === impl ServerResult ===

impl ServerResult {
    /// Medians of each metric on its own over the runs at concurrency `c`.
    pub fn medians(&self, c: usize) -> Option<Medians> {
        let runs = self.runs.get(&c).filter(|r| !r.is_empty())?;
        let median_of = |f: fn(&LoadReport) -> f64| median(runs.iter().map(f).collect());
        Some(Medians {
            requests_per_s: median_of(|r| r.requests_per_s),
            p50_us: median_of(|r| r.latency.p50_us),
            p99_us: median_of(|r| r.latency.p99_us),
        })
    }
}

/// The median; the mean of the middle two for an even count.
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The markdown section: heading, how to reproduce, the comparison, memory, floor, target.
pub(super) fn render(info: &RunInfo, results: &[ModelResult]) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### infergate predictor vs KServe ModelServer (V2 JSON, batch 1, CPU)\n"
    );
    render_setup(w, &info.setup, " (runs of different c interleaved)");
    let _ = writeln!(w, "- infergate: {}", info.infergate_settings);
    let _ = writeln!(w, "- KServe: {}", info.kserve_settings);
    let _ = writeln!(
        w,
        "- Ratios: req/s ratio = infergate ÷ KServe; p99 ratio = KServe p99 ÷ infergate p99 \
         (higher is better for infergate in both)\n"
    );
    let _ = writeln!(
        w,
        "| model | c | infergate req/s | p50 | p99 | KServe req/s | p50 | p99 | req/s ratio | p99 ratio |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in results {
        for &c in result.infergate.runs.keys() {
            let Some(ours) = result.infergate.medians(c) else {
                continue;
            };
            let theirs = result.kserve.as_ref().and_then(|k| k.medians(c));
            let (k_rps, k_p50, k_p99, rps_ratio, p99_ratio) = match theirs {
                Some(k) => (
                    rate(k.requests_per_s),
                    micros(k.p50_us),
                    micros(k.p99_us),
                    ratio(ours.requests_per_s / k.requests_per_s),
                    ratio(k.p99_us / ours.p99_us),
                ),
                None => (
                    "not run".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ),
            };
            let _ = writeln!(
                w,
                "| {} | {c} | {} | {} | {} | {k_rps} | {k_p50} | {k_p99} | {rps_ratio} | {p99_ratio} |",
                result.model,
                rate(ours.requests_per_s),
                micros(ours.p50_us),
                micros(ours.p99_us),
            );
        }
    }
    render_memory_and_floor(w, results);
    render_target(w, results);
    md
}

fn render_memory_and_floor(w: &mut String, results: &[ModelResult]) {
    let _ = writeln!(
        w,
        "\nPeak RSS (VmHWM summed over the server's processes, read after its last run) and the \
         floor: ONNX Runtime called in-process in a loop on one thread, no HTTP, the same input \
         (`infergate_predictor::runtime::onnx`, intra-op threads 1).\n"
    );
    let _ = writeln!(
        w,
        "| model | infergate peak RSS | KServe peak RSS | floor calls/s | floor p50 | floor p99 |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for r in results {
        let kserve = r
            .kserve
            .as_ref()
            .map_or("not run".into(), |k| mib(k.peak_rss_kib));
        let (calls, p50, p99) = r
            .floor
            .as_ref()
            .map_or(("not run".into(), "–".into(), "–".into()), |f| {
                (rate(f.calls_per_s), micros(f.p50_us), micros(f.p99_us))
            });
        let _ = writeln!(
            w,
            "| {} | {} | {kserve} | {calls} | {p50} | {p99} |",
            r.model,
            mib(r.infergate.peak_rss_kib)
        );
    }
}

fn render_target(w: &mut String, results: &[ModelResult]) {
    let _ = writeln!(
        w,
        "\nTarget (at the highest c): infergate ≥ {TARGET_RPS_RATIO}× KServe's req/s and p99 ≤ \
         1/{TARGET_P99_RATIO} of KServe's.\n"
    );
    for r in results {
        let Some(&c) = r.infergate.runs.keys().last() else {
            continue;
        };
        let (Some(ours), Some(theirs)) = (
            r.infergate.medians(c),
            r.kserve.as_ref().and_then(|k| k.medians(c)),
        ) else {
            let _ = writeln!(w, "- {}: not measured against KServe", r.model);
            continue;
        };
        let rps = ours.requests_per_s / theirs.requests_per_s;
        let p99 = theirs.p99_us / ours.p99_us;
        let _ = writeln!(
            w,
            "- {} at c={c}: req/s {} ({}), p99 {} ({})",
            r.model,
            ratio(rps),
            verdict(rps >= TARGET_RPS_RATIO),
            ratio(p99),
            verdict(p99 >= TARGET_P99_RATIO)
        );
    }
}

/// The command, date, machine and method lines; `interleaving` follows "the median of N run(s)".
pub(crate) fn render_setup(w: &mut String, setup: &Setup, interleaving: &str) {
    let _ = writeln!(w, "- Command: `{}`", setup.command);
    let _ = writeln!(w, "- Date: {} (UTC)", setup.date);
    let _ = writeln!(w, "- Machine: {}", setup.machine);
    let _ = writeln!(
        w,
        "- Method: closed loop, one HTTP/1.1 keep-alive connection per concurrent client, \
         {} s warm-up then {} s measured; each cell is the median of {} run(s){interleaving}; \
         load generator on {} thread(s) of the same machine",
        setup.warmup_s, setup.duration_s, setup.runs, setup.loadgen_threads
    );
}

/// "met" or "NOT met".
pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Requests per second, rounded, with thousands separators.
pub(crate) fn rate(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A latency: µs below a millisecond (one decimal below 10 µs), ms above.
pub(crate) fn micros(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1} µs")
    } else if us < 1_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1_000.0)
    }
}

pub(crate) fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}×")
    } else {
        "–".to_owned()
    }
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
pub(crate) mod tests;
