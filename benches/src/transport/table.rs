//! The transport comparison's results: medians over runs, the markdown, and its conclusion.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::predictor::Setup;
use crate::predictor::table::{micros, rate, render_setup};

/// Highest latency the histograms track, in nanoseconds (60 s); slower requests saturate.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// The two ways from gateway to pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Transport {
    Tcp,
    Unix,
}

/// One closed-loop run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RunResult {
    pub requests_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Every run, by transport and concurrency.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TransportResult {
    pub runs: BTreeMap<Transport, BTreeMap<usize, Vec<RunResult>>>,
}

// === impl Transport ===

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Unix => "UDS",
        })
    }
}

// === impl RunResult ===

impl RunResult {
    /// Throughput and percentiles of the latencies (ns) recorded over `elapsed`.
    pub(super) fn from_histogram(latencies: &Histogram<u64>, elapsed: Duration) -> Self {
        let us = |q: f64| latencies.value_at_quantile(q) as f64 / 1_000.0;
        RunResult {
            requests_per_s: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: us(0.50),
            p99_us: us(0.99),
        }
    }
}

// === impl TransportResult ===

impl TransportResult {
    pub(super) fn push(&mut self, transport: Transport, c: usize, run: RunResult) {
        let runs = self.runs.entry(transport).or_default();
        runs.entry(c).or_default().push(run);
    }

    /// Medians of each metric on its own over the runs of `transport` at concurrency `c`.
    pub fn medians(&self, transport: Transport, c: usize) -> Option<RunResult> {
        let runs = self
            .runs
            .get(&transport)?
            .get(&c)
            .filter(|r| !r.is_empty())?;
        let median_of = |f: fn(&RunResult) -> f64| median(runs.iter().map(f).collect());
        Some(RunResult {
            requests_per_s: median_of(|r| r.requests_per_s),
            p50_us: median_of(|r| r.p50_us),
            p99_us: median_of(|r| r.p99_us),
        })
    }

    /// In how many of the runs at `c` Unix sockets beat TCP by `better(uds, tcp)`, out of how
    /// many: the i-th runs of both transports ran back to back, so they are compared as a pair.
    fn unix_wins(&self, c: usize, better: fn(&RunResult, &RunResult) -> bool) -> (usize, usize) {
        let runs = |t| {
            self.runs
                .get(&t)
                .and_then(|r| r.get(&c))
                .map_or(&[][..], Vec::as_slice)
        };
        let pairs = runs(Transport::Unix).iter().zip(runs(Transport::Tcp));
        let wins = pairs.clone().filter(|(uds, tcp)| better(uds, tcp)).count();
        (wins, pairs.count())
    }

    /// Concurrencies measured on both transports, ascending.
    fn concurrencies(&self) -> Vec<usize> {
        let of = |t| {
            self.runs
                .get(&t)
                .map(|r| r.keys().copied().collect::<Vec<_>>())
        };
        let unix = of(Transport::Unix).unwrap_or_default();
        of(Transport::Tcp)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| unix.contains(c))
            .collect()
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

/// An empty latency histogram, in nanoseconds, with 3 significant figures.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// The one-line verdict: UDS's req/s change at the highest concurrency and p50 change at the
/// lowest, e.g. "Unix sockets vs TCP: +12% req/s at c=64, −8 µs p50 at c=1".
pub fn conclusion(result: &TransportResult) -> String {
    let cs = result.concurrencies();
    let (Some(&low), Some(&high)) = (cs.first(), cs.last()) else {
        return "no concurrency was measured on both transports".to_owned();
    };
    let both = |c| {
        result
            .medians(Transport::Tcp, c)
            .zip(result.medians(Transport::Unix, c))
    };
    let (Some((tcp_high, uds_high)), Some((tcp_low, uds_low))) = (both(high), both(low)) else {
        return "no concurrency was measured on both transports".to_owned();
    };
    let rps_change = (uds_high.requests_per_s / tcp_high.requests_per_s - 1.0) * 100.0;
    let p50_change = uds_low.p50_us - tcp_low.p50_us;
    let (rps_wins, rps_of) =
        result.unix_wins(high, |uds, tcp| uds.requests_per_s > tcp.requests_per_s);
    let (p50_wins, p50_of) = result.unix_wins(low, |uds, tcp| uds.p50_us < tcp.p50_us);
    format!(
        "Unix sockets vs TCP: {} req/s at c={high} (more in {rps_wins} of {rps_of} runs), \
         {} p50 at c={low} (lower in {p50_wins} of {p50_of} runs)",
        signed(rps_change, "%"),
        signed(p50_change, " µs")
    )
}

/// `+12%`, `−8 µs`, `±0%`: rounded, with a real minus sign.
fn signed(v: f64, unit: &str) -> String {
    let rounded = v.round();
    if !rounded.is_finite() {
        return "–".to_owned();
    }
    let sign = if rounded > 0.0 {
        "+"
    } else if rounded < 0.0 {
        "−"
    } else {
        "±"
    };
    format!("{sign}{:.0}{unit}", rounded.abs())
}

/// The markdown section: heading, how to reproduce, the table, the conclusion.
pub(super) fn render(setup: &Setup, server_threads: usize, result: &TransportResult) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "### Gateway → pod transport: loopback TCP vs Unix domain socket (HTTP/1.1, hyper)\n"
    );
    render_setup(w, setup, " (transports and concurrencies interleaved)");
    let _ = writeln!(
        w,
        "- Setup: client = this process, hyper `client::conn::http1` over the raw stream; server = \
         the bench binary itself in a separate process (`transport-server`), hyper `server::conn::http1`, \
         {server_threads} runtime thread(s); TCP on 127.0.0.1 with TCP_NODELAY on both ends vs a Unix \
         domain socket; POST of {} B of JSON, answered with {} B of JSON (iris V2 sized)",
        super::REQUEST_BODY.len(),
        super::RESPONSE_BODY.len()
    );
    let _ = writeln!(
        w,
        "- UDS ÷ TCP: from the medians (req/s above 1 and p50 below 1 favour Unix sockets)\n"
    );
    let _ = writeln!(
        w,
        "| c | TCP req/s | p50 | p99 | UDS req/s | p50 | p99 | UDS ÷ TCP req/s | UDS ÷ TCP p50 |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in result.concurrencies() {
        let (Some(tcp), Some(uds)) = (
            result.medians(Transport::Tcp, c),
            result.medians(Transport::Unix, c),
        ) else {
            continue;
        };
        let _ = writeln!(
            w,
            "| {c} | {} | {} | {} | {} | {} | {} | {:.2}× | {:.2}× |",
            rate(tcp.requests_per_s),
            micros(tcp.p50_us),
            micros(tcp.p99_us),
            rate(uds.requests_per_s),
            micros(uds.p50_us),
            micros(uds.p99_us),
            uds.requests_per_s / tcp.requests_per_s,
            uds.p50_us / tcp.p50_us
        );
    }
    let _ = writeln!(w, "\n**Conclusion:** {}.", conclusion(result));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(requests_per_s: f64, p50_us: f64) -> RunResult {
        RunResult {
            requests_per_s,
            p50_us,
            p99_us: p50_us * 2.0,
        }
    }

    fn result() -> TransportResult {
        let mut result = TransportResult::default();
        for (tcp, uds) in [(100.0, 110.0), (90.0, 115.0), (120.0, 95.0)] {
            result.push(Transport::Tcp, 64, run(tcp * 100.0, 900.0));
            result.push(Transport::Unix, 64, run(uds * 100.0, 800.0));
        }
        for p50 in [50.0, 60.0, 55.0] {
            result.push(Transport::Tcp, 1, run(18_000.0, p50));
            result.push(Transport::Unix, 1, run(20_000.0, p50 - 7.6));
        }
        result
    }

    #[test]
    fn the_conclusion_compares_medians_at_the_highest_and_lowest_concurrency() {
        // Medians at c=64: TCP 10,000, UDS 11,000 req/s (+10%), UDS ahead in two of the three
        // runs, each compared with its twin; at c=1: p50 55 vs 47.4 µs, lower in every run.
        assert_eq!(
            conclusion(&result()),
            "Unix sockets vs TCP: +10% req/s at c=64 (more in 2 of 3 runs), \
             −8 µs p50 at c=1 (lower in 3 of 3 runs)"
        );
    }

    #[test]
    fn the_conclusion_signs_losses_and_ties() {
        let mut result = TransportResult::default();
        result.push(Transport::Tcp, 8, run(1_000.0, 100.0));
        result.push(Transport::Unix, 8, run(970.0, 100.2));
        assert_eq!(
            conclusion(&result),
            "Unix sockets vs TCP: −3% req/s at c=8 (more in 0 of 1 runs), \
             ±0 µs p50 at c=8 (lower in 0 of 1 runs)"
        );
        result.push(Transport::Tcp, 64, run(1_000.0, 100.0));
        assert_eq!(
            conclusion(&result),
            "Unix sockets vs TCP: −3% req/s at c=8 (more in 0 of 1 runs), \
             ±0 µs p50 at c=8 (lower in 0 of 1 runs)",
            "a concurrency measured on one transport only is left out"
        );
        assert_eq!(
            conclusion(&TransportResult::default()),
            "no concurrency was measured on both transports"
        );
    }

    #[test]
    fn the_table_has_a_row_per_concurrency_and_the_conclusion() {
        let setup = Setup {
            command: "cargo run --release -p infergate-benches -- transport".to_owned(),
            date: "2026-11-23".to_owned(),
            machine: crate::machine::Machine::current(),
            runs: 3,
            warmup_s: 1.0,
            duration_s: 3.0,
            loadgen_threads: 1,
        };
        let md = render(&setup, 1, &result());
        assert!(
            md.contains("| 1 | 18,000 | 55 µs | 110 µs | 20,000 | 47 µs | 95 µs | 1.11× | 0.86× |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| 64 | 10,000 | 900 µs | 1.80 ms | 11,000 | 800 µs | 1.60 ms | 1.10× | 0.89× |"
            ),
            "{md}"
        );
        assert!(md.contains("**Conclusion:** Unix sockets vs TCP: +10% req/s at c=64"));
    }

    #[test]
    fn run_results_come_from_the_histogram() {
        let mut h = new_histogram();
        for us in 1..=100_u64 {
            h.record(us * 1_000).expect("in range");
        }
        let r = RunResult::from_histogram(&h, Duration::from_secs(2));
        assert_eq!(r.requests_per_s, 50.0);
        assert!((r.p50_us - 50.0).abs() < 0.1, "{r:?}");
        assert!((r.p99_us - 99.0).abs() < 0.1, "{r:?}");
    }

    #[test]
    fn the_bodies_are_iris_sized_json() {
        for (body, size) in [
            (super::super::REQUEST_BODY, 200),
            (super::super::RESPONSE_BODY, 250),
        ] {
            serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
            assert!(body.len().abs_diff(size) <= 20, "{} bytes", body.len());
        }
    }
}
