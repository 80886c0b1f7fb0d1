//! The gateway-hop comparison's results and the markdown that reports them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::predictor::table::{mib, micros, rate, ratio, render_setup, verdict};
use crate::predictor::{Medians, PredictorRun, ServerResult, Setup};

/// Issue #3's target at the highest concurrency: the gateway's req/s over direct's.
pub(super) const TARGET_RPS_FRACTION: f64 = 0.85;
/// Issue #7's target at the highest concurrency: the gateway's req/s over nginx → static's.
pub(super) const TARGET_STATIC_FRACTION: f64 = 1.0;
/// Issue #7's target at the highest concurrency: the gateway's req/s over KServe's.
pub(super) const TARGET_KSERVE_RPS_RATIO: f64 = 10.0;
/// Issue #7's target at the highest concurrency: KServe's p99 over the gateway's.
pub(super) const TARGET_KSERVE_P99_RATIO: f64 = 10.0;

/// One path from the client to the predictor, measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PathResult {
    /// Load reports by concurrency, and the peak RSS (see `memory_note`) after the last run.
    pub load: ServerResult,
    /// Resident memory before any request, in KiB.
    pub idle_rss_kib: u64,
    /// What the two memory numbers cover, e.g. "the gateway process alone".
    pub memory_note: String,
}

/// The three paths of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GatewayResult {
    pub model: String,
    /// (a) client -> `infergate predictor`.
    pub direct: PathResult,
    /// (b) client -> `infergate serve` -> its own predictor pod.
    pub gateway: PathResult,
    /// (c) client -> nginx -> the predictor of (a); `None` when skipped.
    pub nginx: Option<PathResult>,
    /// (d) client -> nginx -> a fixed answer from the same nginx, no inference; `None` when
    /// nginx was skipped. Its peak RSS is nginx's: one process serves (c) and (d).
    pub nginx_static: Option<ServerResult>,
}

/// KServe's numbers for issue #7's target: only the predictor comparison runs KServe, so the
/// gateway section can compare with it only when `all` ran both.
#[derive(Clone, Debug)]
pub enum KserveBaseline {
    /// KServe's runs on the gateway's model, from the predictor section of the same `all` run.
    Measured {
        /// The predictor section's date (UTC).
        date: String,
        kserve: ServerResult,
    },
    /// Why there is nothing to compare with.
    Missing(String),
}

/// What goes around the tables: how the numbers were made.
#[derive(Clone, Debug)]
pub struct GatewayRunInfo {
    pub setup: Setup,
    /// `--workers` of the direct predictor and `--predictor-workers` of the gateway.
    pub workers: usize,
    /// `--pod-transport` of the gateway: `unix` or `tcp`.
    pub pod_transport: String,
    /// nginx's version and settings, or why it was not run.
    pub nginx_settings: String,
    /// KServe on the same model, for issue #7's target.
    pub kserve: KserveBaseline,
}

/// One row of the comparison, at one concurrency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct HopRow {
    pub(super) c: usize,
    pub(super) direct: Medians,
    pub(super) gateway: Medians,
    pub(super) nginx: Option<Medians>,
    pub(super) nginx_static: Option<Medians>,
}

// === impl HopRow ===

impl HopRow {
    /// p50 a path adds over direct, in µs (difference of the medians).
    pub(super) fn added_p50(&self, path: Medians) -> f64 {
        path.p50_us - self.direct.p50_us
    }

    /// A path's req/s over direct's.
    pub(super) fn rps_fraction(&self, path: Medians) -> f64 {
        path.requests_per_s / self.direct.requests_per_s
    }

    pub(super) fn gateway_added_p50(&self) -> f64 {
        self.added_p50(self.gateway)
    }

    pub(super) fn nginx_added_p50(&self) -> Option<f64> {
        self.nginx.map(|n| self.added_p50(n))
    }

    pub(super) fn gateway_rps_fraction(&self) -> f64 {
        self.rps_fraction(self.gateway)
    }

    /// Gateway req/s over nginx → static's (issue #7: at least 1).
    pub(super) fn gateway_over_static(&self) -> Option<f64> {
        self.nginx_static
            .map(|s| self.gateway.requests_per_s / s.requests_per_s)
    }
}

// === impl KserveBaseline ===

impl KserveBaseline {
    /// The gateway bench run on its own: KServe was not run.
    pub fn standalone() -> Self {
        KserveBaseline::Missing(
            "KServe is measured only by the predictor comparison, and this command ran the \
             gateway comparison alone (`all` runs both and computes these)"
                .to_owned(),
        )
    }

    /// KServe's runs on `model` from the predictor comparison that `all` just ran.
    pub fn from_predictor(run: &PredictorRun, model: &str) -> Self {
        match run.results.iter().find(|r| r.model == model) {
            Some(r) => match &r.kserve {
                Some(kserve) => KserveBaseline::Measured {
                    date: run.date.clone(),
                    kserve: kserve.clone(),
                },
                None => KserveBaseline::Missing(
                    "the predictor comparison of this run skipped KServe (`--skip-kserve`)"
                        .to_owned(),
                ),
            },
            None => KserveBaseline::Missing(format!(
                "the predictor comparison of this run did not measure {model} (`--models`)"
            )),
        }
    }
}

// === impl GatewayResult ===

impl GatewayResult {
    /// One row per concurrency measured on both direct and gateway, lowest c first.
    pub(super) fn rows(&self) -> Vec<HopRow> {
        self.direct
            .load
            .runs
            .keys()
            .filter_map(|&c| {
                Some(HopRow {
                    c,
                    direct: self.direct.load.medians(c)?,
                    gateway: self.gateway.load.medians(c)?,
                    nginx: self.nginx.as_ref().and_then(|n| n.load.medians(c)),
                    nginx_static: self.nginx_static.as_ref().and_then(|n| n.medians(c)),
                })
            })
            .collect()
    }
}

/// The markdown section: heading, how to reproduce, the comparison, memory, targets.
pub(super) fn render(info: &GatewayRunInfo, result: &GatewayResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### Gateway hop: client → `infergate serve` → predictor vs client → predictor, and vs \
         nginx in front of the predictor or of a static answer ({}, V2 JSON, batch 1, CPU)\n",
        result.model
    );
    render_setup(
        w,
        &info.setup,
        "; within a run the four paths and the concurrencies are interleaved (direct, gateway, \
         nginx, nginx → static at each c) so drift spreads over all of them",
    );
    let _ = writeln!(
        w,
        "- direct: `infergate predictor --model-format onnx --workers {}`, release build",
        info.workers
    );
    let _ = writeln!(
        w,
        "- gateway: `infergate serve --predictor-workers {} --pod-transport {}` with one \
         InferenceService pointing at the same model file; the gateway starts its own predictor \
         pod (the same binary, the same flags, listening on {}), so the predictor behind it is a \
         twin of the direct one",
        info.workers,
        info.pod_transport,
        match info.pod_transport.as_str() {
            "unix" => "a Unix socket",
            _ => "loopback TCP",
        }
    );
    let _ = writeln!(
        w,
        "- nginx: {}, in front of the direct predictor process itself",
        info.nginx_settings
    );
    if result.nginx_static.is_some() {
        let _ = writeln!(
            w,
            "- nginx → static backend: the same nginx process and config: a proxy with the same \
             settings, on another loopback port, in front of a server block of its own that \
             answers every request with `return 200` and, as `application/json`, the exact body \
             the direct predictor gave for the batch-1 case. One bare nginx hop, no inference; \
             its answer is checked against the reference's batch-1 case only (the one answer it \
             has)"
        );
    } else {
        let _ = writeln!(w, "- nginx → static backend: not run (`--skip-nginx`)");
    }
    let _ = writeln!(
        w,
        "- added p50 = the path's median p50 − direct's median p50 at the same c; req/s ÷ direct \
         likewise from medians\n"
    );
    let rows = result.rows();
    let _ = writeln!(
        w,
        "| c | path | req/s | p50 | p99 | added p50 | req/s ÷ direct |"
    );
    let _ = writeln!(w, "|---:|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        let d = row.direct;
        let _ = writeln!(
            w,
            "| {} | client → predictor (direct) | {} | {} | {} | – | 1.00× |",
            row.c,
            rate(d.requests_per_s),
            micros(d.p50_us),
            micros(d.p99_us)
        );
        for (label, path) in [
            ("client → infergate serve → predictor", Some(row.gateway)),
            ("client → nginx → predictor", row.nginx),
            (
                "client → nginx → static backend (no inference)",
                row.nginx_static,
            ),
        ] {
            render_path_row(w, row, label, path);
        }
    }
    render_memory(w, result);
    render_targets(w, &rows);
    render_issue7_targets(w, rows.last(), &info.kserve, &result.model);
    md
}

/// One path's row at `row.c`, compared with direct; "not run" when it was not measured.
fn render_path_row(w: &mut String, row: &HopRow, label: &str, path: Option<Medians>) {
    let c = row.c;
    match path {
        Some(p) => {
            let _ = writeln!(
                w,
                "| {c} | {label} | {} | {} | {} | {} | {} |",
                rate(p.requests_per_s),
                micros(p.p50_us),
                micros(p.p99_us),
                signed_micros(row.added_p50(p)),
                fraction(row.rps_fraction(p))
            );
        }
        None => {
            let _ = writeln!(w, "| {c} | {label} | not run | – | – | – | – |");
        }
    }
}

fn render_memory(w: &mut String, result: &GatewayResult) {
    let _ = writeln!(
        w,
        "\nResident memory: idle = VmRSS after the server was ready, before any request; peak = \
         VmHWM after its last run.\n"
    );
    let _ = writeln!(w, "| process | covers | idle RSS | peak RSS |");
    let _ = writeln!(w, "|---|---|---:|---:|");
    let mut row = |name: &str, p: &PathResult| {
        let _ = writeln!(
            w,
            "| {name} | {} | {} | {} |",
            p.memory_note,
            mib(p.idle_rss_kib),
            mib(p.load.peak_rss_kib)
        );
    };
    row("infergate serve", &result.gateway);
    row("infergate predictor (direct)", &result.direct);
    match &result.nginx {
        Some(n) => row("nginx", n),
        None => {
            let _ = writeln!(w, "| nginx | not run | – | – |");
        }
    }
}

/// Issue #3's targets.
fn render_targets(w: &mut String, rows: &[HopRow]) {
    let _ = writeln!(
        w,
        "\nTargets (issue #3): at every c, the gateway's added p50 ≤ nginx's added p50; at the \
         highest c, gateway req/s ≥ {TARGET_RPS_FRACTION:.2}× direct.\n"
    );
    for row in rows {
        let gateway = row.gateway_added_p50();
        match row.nginx_added_p50() {
            Some(nginx) => {
                let _ = writeln!(
                    w,
                    "- c={}: gateway added p50 {} vs nginx {} ({})",
                    row.c,
                    signed_micros(gateway),
                    signed_micros(nginx),
                    verdict(gateway <= nginx)
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "- c={}: gateway added p50 {}; nginx not measured (target not checked)",
                    row.c,
                    signed_micros(gateway)
                );
            }
        }
    }
    if let Some(top) = rows.last() {
        let f = top.gateway_rps_fraction();
        let _ = writeln!(
            w,
            "- c={}: gateway req/s {} of direct ({})",
            top.c,
            fraction(f),
            verdict(f >= TARGET_RPS_FRACTION)
        );
    }
}

/// Issue #7's targets, at the highest c: the whole path as fast as one bare nginx hop, and far
/// ahead of KServe.
fn render_issue7_targets(
    w: &mut String,
    top: Option<&HopRow>,
    kserve: &KserveBaseline,
    model: &str,
) {
    let _ = writeln!(
        w,
        "\nTargets (issue #7), at the highest c: gateway req/s ≥ nginx → static backend's \
         (the whole path, inference included, as fast as one bare nginx hop), ≥ \
         {TARGET_KSERVE_RPS_RATIO}× KServe's, and gateway p99 ≤ 1/{TARGET_KSERVE_P99_RATIO} of \
         KServe's.\n"
    );
    let Some(top) = top else {
        return;
    };
    let (c, gateway) = (top.c, top.gateway);
    match (top.nginx_static, top.gateway_over_static()) {
        (Some(s), Some(f)) => {
            let _ = writeln!(
                w,
                "- c={c}: gateway req/s ÷ nginx → static backend's = {} ({}, target ≥ {}): \
                 gateway {}, static {}",
                fraction(f),
                verdict(f >= TARGET_STATIC_FRACTION),
                fraction(TARGET_STATIC_FRACTION),
                rate(gateway.requests_per_s),
                rate(s.requests_per_s)
            );
        }
        _ => {
            let _ = writeln!(
                w,
                "- c={c}: nginx → static backend not measured (target not checked)"
            );
        }
    }
    let not_computed = |w: &mut String, why: &str| {
        let _ = writeln!(
            w,
            "- c={c}: gateway vs KServe (req/s ≥ {TARGET_KSERVE_RPS_RATIO}×, p99 ≤ \
             1/{TARGET_KSERVE_P99_RATIO}) not computed: {why}"
        );
    };
    match kserve {
        KserveBaseline::Missing(why) => not_computed(w, why),
        KserveBaseline::Measured { date, kserve } => match kserve.medians(c) {
            None => not_computed(
                w,
                &format!(
                    "the predictor comparison of this run ({date}) did not measure KServe at c={c}"
                ),
            ),
            Some(k) => {
                let rps = gateway.requests_per_s / k.requests_per_s;
                let p99 = k.p99_us / gateway.p99_us;
                let _ = writeln!(
                    w,
                    "- c={c}: gateway req/s ÷ KServe's = {} ({}, target ≥ \
                     {TARGET_KSERVE_RPS_RATIO}×): gateway {}, KServe {}",
                    ratio(rps),
                    verdict(rps >= TARGET_KSERVE_RPS_RATIO),
                    rate(gateway.requests_per_s),
                    rate(k.requests_per_s)
                );
                let _ = writeln!(
                    w,
                    "- c={c}: KServe's p99 ÷ gateway's p99 = {} ({}, target ≥ \
                     {TARGET_KSERVE_P99_RATIO}×): gateway {}, KServe {}",
                    ratio(p99),
                    verdict(p99 >= TARGET_KSERVE_P99_RATIO),
                    micros(gateway.p99_us),
                    micros(k.p99_us)
                );
                let _ = writeln!(
                    w,
                    "- KServe's numbers: {model} at c={c}, the medians of its runs in the \
                     predictor section of this same `all` run ({date}), not measured again here"
                );
            }
        },
    }
}

/// A latency difference with its sign: `+35 µs`, `−4.2 µs`, `+1.20 ms`.
pub(super) fn signed_micros(us: f64) -> String {
    if !us.is_finite() {
        return "–".to_owned();
    }
    let sign = if us < 0.0 { "−" } else { "+" };
    format!("{sign}{}", micros(us.abs()))
}

/// A fraction with two decimals (`0.93×`): the 0.85 target needs more than one.
pub(super) fn fraction(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}×")
    } else {
        "–".to_owned()
    }
}

#[cfg(test)]
mod tests;
