//! The transformer comparison's results: medians over runs, the added latency, and the markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::load::LoadReport;
use crate::predictor::table::{micros, rate, render_setup, verdict};
use crate::predictor::{ServerResult, Setup};

/// The target (#5): the transformer adds at most this much to the p50, in µs.
const TARGET_ADDED_P50_US: f64 = 20.0;

/// The service without or with the transformer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Path {
    Plain,
    Named,
}

/// Every run of both paths, by concurrency.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TransformerResult {
    /// How the gateway and its services ran, for the report.
    pub settings: String,
    pub runs: BTreeMap<Path, ServerResult>,
}

// === impl Path ===

impl Path {
    pub const ALL: [Path; 2] = [Path::Plain, Path::Named];

    /// The InferenceService's name.
    pub fn service(self) -> &'static str {
        match self {
            Path::Plain => "iris-plain",
            Path::Named => "iris-named",
        }
    }

    /// What every answer of the load must contain.
    pub fn expect(self) -> &'static str {
        match self {
            Path::Plain => "\"outputs\"",
            Path::Named => "\"predictions\"",
        }
    }
}

// === impl TransformerResult ===

impl TransformerResult {
    pub(super) fn record(&mut self, path: Path, c: usize, report: LoadReport) {
        self.runs
            .entry(path)
            .or_default()
            .runs
            .entry(c)
            .or_default()
            .push(report);
    }
}

/// The markdown section: heading, how to reproduce, the table, the target.
pub(super) fn render(setup: &Setup, result: &TransformerResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### The iris WebAssembly transformer end to end: with vs without (batch 1, CPU)\n"
    );
    render_setup(
        w,
        setup,
        " (plain and named alternated, which goes first swapping each run)",
    );
    let _ = writeln!(w, "- Gateway: {}", result.settings);
    let _ = writeln!(
        w,
        "- Added = named − plain, of the medians (the transformer's two calls, preprocess and \
         postprocess, plus the bigger V1 bodies)\n"
    );
    let _ = writeln!(
        w,
        "| c | plain req/s | p50 | p99 | named req/s | p50 | p99 | added p50 | added p99 |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (Some(plain), Some(named)) = (result.runs.get(&Path::Plain), result.runs.get(&Path::Named))
    else {
        let _ = writeln!(w, "\nNot measured.");
        return md;
    };
    let mut verdicts = Vec::new();
    for &c in plain.runs.keys() {
        let (Some(p), Some(n)) = (plain.medians(c), named.medians(c)) else {
            continue;
        };
        let added_p50 = n.p50_us - p.p50_us;
        let _ = writeln!(
            w,
            "| {c} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rate(p.requests_per_s),
            micros(p.p50_us),
            micros(p.p99_us),
            rate(n.requests_per_s),
            micros(n.p50_us),
            micros(n.p99_us),
            signed(added_p50),
            signed(n.p99_us - p.p99_us)
        );
        verdicts.push(format!(
            "c={c} {} ({})",
            signed(added_p50),
            verdict(added_p50 <= TARGET_ADDED_P50_US)
        ));
    }
    let _ = writeln!(
        w,
        "\nTarget (issue #5): ≤ {TARGET_ADDED_P50_US} µs added p50: {}.",
        match verdicts.is_empty() {
            true => "not measured".to_owned(),
            false => verdicts.join("; "),
        }
    );
    md
}

/// A latency difference with its sign.
fn signed(us: f64) -> String {
    match us < 0.0 {
        true => format!("−{}", micros(-us)),
        false => format!("+{}", micros(us)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_keep_their_sign() {
        assert_eq!(signed(12.34), "+12 µs");
        assert_eq!(signed(-5.0), "−5.0 µs");
        assert_eq!(signed(1500.0), "+1.50 ms");
    }
}
