//! The gateway-hop comparison's results and the markdown that reports them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::predictor::table::{mib, micros, rate, render_setup, verdict};
use crate::predictor::{Medians, ServerResult, Setup};

/// The target at the highest concurrency: the gateway's req/s over direct's.
pub(super) const TARGET_RPS_FRACTION: f64 = 0.85;

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
}

/// One row of the comparison, at one concurrency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct HopRow {
    pub(super) c: usize,
    pub(super) direct: Medians,
    pub(super) gateway: Medians,
    pub(super) nginx: Option<Medians>,
}

// === impl HopRow ===

impl HopRow {
    /// p50 the gateway adds over direct, in µs (difference of the medians).
    pub(super) fn gateway_added_p50(&self) -> f64 {
        self.gateway.p50_us - self.direct.p50_us
    }

    /// p50 nginx adds over direct, in µs.
    pub(super) fn nginx_added_p50(&self) -> Option<f64> {
        self.nginx.map(|n| n.p50_us - self.direct.p50_us)
    }

    /// Gateway req/s over direct req/s.
    pub(super) fn gateway_rps_fraction(&self) -> f64 {
        self.gateway.requests_per_s / self.direct.requests_per_s
    }

    pub(super) fn nginx_rps_fraction(&self) -> Option<f64> {
        self.nginx
            .map(|n| n.requests_per_s / self.direct.requests_per_s)
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
         nginx ({}, V2 JSON, batch 1, CPU)\n",
        result.model
    );
    render_setup(
        w,
        &info.setup,
        "; within a run the three paths and the concurrencies are interleaved (direct, gateway, \
         nginx at each c) so drift spreads over all of them",
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
        let c = row.c;
        let d = row.direct;
        let _ = writeln!(
            w,
            "| {c} | client → predictor (direct) | {} | {} | {} | – | 1.00× |",
            rate(d.requests_per_s),
            micros(d.p50_us),
            micros(d.p99_us)
        );
        let g = row.gateway;
        let _ = writeln!(
            w,
            "| {c} | client → infergate serve → predictor | {} | {} | {} | {} | {} |",
            rate(g.requests_per_s),
            micros(g.p50_us),
            micros(g.p99_us),
            signed_micros(row.gateway_added_p50()),
            fraction(row.gateway_rps_fraction())
        );
        match (row.nginx, row.nginx_added_p50(), row.nginx_rps_fraction()) {
            (Some(n), Some(added), Some(f)) => {
                let _ = writeln!(
                    w,
                    "| {c} | client → nginx → predictor | {} | {} | {} | {} | {} |",
                    rate(n.requests_per_s),
                    micros(n.p50_us),
                    micros(n.p99_us),
                    signed_micros(added),
                    fraction(f)
                );
            }
            _ => {
                let _ = writeln!(
                    w,
                    "| {c} | client → nginx → predictor | not run | – | – | – | – |"
                );
            }
        }
    }
    render_memory(w, result);
    render_targets(w, &rows);
    md
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

fn render_targets(w: &mut String, rows: &[HopRow]) {
    let _ = writeln!(
        w,
        "\nTargets: at every c, the gateway's added p50 ≤ nginx's added p50; at the highest c, \
         gateway req/s ≥ {TARGET_RPS_FRACTION:.2}× direct.\n"
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
