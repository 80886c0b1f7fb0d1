//! Medians and the rendered markdown.

use super::*;
use crate::load::{ErrorCounts, LatencySummary};

/// One run's report at concurrency `c` (the gateway's tests use it too).
pub(crate) fn report(c: usize, rps: f64, p50: f64, p99: f64) -> LoadReport {
    LoadReport {
        concurrency: c,
        requests: 1,
        elapsed_s: 1.0,
        requests_per_s: rps,
        latency: LatencySummary {
            p50_us: p50,
            p90_us: p50,
            p99_us: p99,
            max_us: p99,
            mean_us: p50,
        },
        errors: ErrorCounts::default(),
    }
}

/// Three runs of (req/s, p50 µs, p99 µs).
type Runs = [(f64, f64, f64); 3];

fn server(rows: &[(usize, Runs)], rss: u64) -> ServerResult {
    ServerResult {
        runs: rows
            .iter()
            .map(|(c, runs)| {
                (
                    *c,
                    runs.iter()
                        .map(|&(r, p50, p99)| report(*c, r, p50, p99))
                        .collect(),
                )
            })
            .collect(),
        peak_rss_kib: rss,
    }
}

/// A 2-CPU machine, 3 runs of 2 s warm-up and 10 s measured, `infergate-bench SUBCOMMAND`.
pub(crate) fn setup(subcommand: &str) -> Setup {
    Setup {
        command: format!("cargo run --release -p infergate-benches -- {subcommand}"),
        date: "2026-11-23".to_owned(),
        machine: Machine {
            nproc: 2,
            cpu_model: "AMD EPYC".to_owned(),
            memory_mib: 24_000,
            kernel: "6.1".to_owned(),
        },
        runs: 3,
        warmup_s: 2.0,
        duration_s: 10.0,
        loadgen_threads: 1,
    }
}

fn info() -> RunInfo {
    RunInfo {
        setup: setup("predictor"),
        infergate_settings: "defaults".to_owned(),
        kserve_settings: "2 workers".to_owned(),
    }
}

#[test]
fn medians_take_each_metric_separately() {
    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(median(Vec::new()).is_nan());
    let s = server(
        &[(
            8,
            [
                (100.0, 50.0, 900.0),
                (300.0, 10.0, 100.0),
                (200.0, 30.0, 500.0),
            ],
        )],
        0,
    );
    assert_eq!(
        s.medians(8),
        Some(Medians {
            requests_per_s: 200.0,
            p50_us: 30.0,
            p99_us: 500.0
        })
    );
    assert_eq!(s.medians(1), None);
}

#[test]
fn the_table_has_a_row_per_model_and_concurrency_with_ratios() {
    let runs = |r: f64, p99: f64| [(r, 40.0, p99), (r, 40.0, p99), (r, 40.0, p99)];
    let results = vec![ModelResult {
        model: "iris".to_owned(),
        infergate: server(
            &[(1, runs(10_000.0, 90.0)), (64, runs(42_000.0, 2_500.0))],
            20 * 1024,
        ),
        kserve: Some(server(
            &[(1, runs(1_000.0, 1_800.0)), (64, runs(1_400.0, 60_000.0))],
            400 * 1024,
        )),
        floor: Some(FloorResult {
            calls_per_s: 250_000.0,
            p50_us: 3.6,
            p99_us: 8.2,
        }),
    }];
    let md = render(&info(), &results);
    assert!(
        md.contains("`cargo run --release -p infergate-benches -- predictor`"),
        "{md}"
    );
    assert!(md.contains("2 CPUs (nproc), AMD EPYC"), "{md}");
    assert!(
        md.contains(
            "- Method: closed loop, one HTTP/1.1 keep-alive connection per concurrent client, \
             2 s warm-up then 10 s measured; each cell is the median of 3 run(s) (runs of \
             different c interleaved); load generator on 1 thread(s) of the same machine\n"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| iris | 1 | 10,000 | 40 µs | 90 µs | 1,000 | 40 µs | 1.80 ms | 10.0× | 20.0× |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| iris | 64 | 42,000 | 40 µs | 2.50 ms | 1,400 | 40 µs | 60.00 ms | 30.0× | 24.0× |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| iris | 20 MiB | 400 MiB | 250,000 | 3.6 µs | 8.2 µs |"),
        "{md}"
    );
    assert!(
        md.contains("- iris at c=64: req/s 30.0× (met), p99 24.0× (met)"),
        "{md}"
    );
}

#[test]
fn a_missed_target_and_a_skipped_peer_are_said_plainly() {
    let runs = [
        (1_000.0, 40.0, 100.0),
        (1_000.0, 40.0, 100.0),
        (1_000.0, 40.0, 100.0),
    ];
    let slow = [
        (500.0, 40.0, 500.0),
        (500.0, 40.0, 500.0),
        (500.0, 40.0, 500.0),
    ];
    let results = vec![
        ModelResult {
            model: "mlp".to_owned(),
            infergate: server(&[(64, runs)], 1024),
            kserve: Some(server(&[(64, slow)], 1024)),
            floor: None,
        },
        ModelResult {
            model: "iris".to_owned(),
            infergate: server(&[(64, runs)], 1024),
            kserve: None,
            floor: None,
        },
    ];
    let md = render(&info(), &results);
    assert!(
        md.contains("- mlp at c=64: req/s 2.0× (NOT met), p99 5.0× (NOT met)"),
        "{md}"
    );
    assert!(
        md.contains("| iris | 64 | 1,000 | 40 µs | 100 µs | not run | – | – | – | – |"),
        "{md}"
    );
    assert!(md.contains("- iris: not measured against KServe"), "{md}");
    assert!(
        md.contains("| mlp | 1 MiB | 1 MiB | not run | – | – |"),
        "{md}"
    );
}

#[test]
fn rates_get_thousands_separators() {
    assert_eq!(rate(0.4), "0");
    assert_eq!(rate(999.0), "999");
    assert_eq!(rate(1_234_567.0), "1,234,567");
}
