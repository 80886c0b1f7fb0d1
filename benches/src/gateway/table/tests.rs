//! Rows, added latencies, verdicts and the rendered markdown.

use super::*;
use crate::predictor::table::tests::{report, setup};

/// A path measured at each (c, req/s, p50, p99), three identical runs each, except that the
/// first run is an outlier the median must ignore.
fn path(rows: &[(usize, f64, f64, f64)], idle_kib: u64, peak_kib: u64, note: &str) -> PathResult {
    let mut load = ServerResult {
        peak_rss_kib: peak_kib,
        ..ServerResult::default()
    };
    for &(c, rps, p50, p99) in rows {
        load.runs.insert(
            c,
            vec![
                report(c, rps / 10.0, p50 * 10.0, p99 * 10.0),
                report(c, rps, p50, p99),
                report(c, rps, p50, p99),
            ],
        );
    }
    PathResult {
        load,
        idle_rss_kib: idle_kib,
        memory_note: note.to_owned(),
    }
}

fn info() -> GatewayRunInfo {
    GatewayRunInfo {
        setup: setup("gateway"),
        workers: 2,
        pod_transport: "unix".to_owned(),
        nginx_settings: "nginx/1.22.1, worker_processes auto".to_owned(),
    }
}

fn result(gateway_rps_64: f64, gateway_p50_1: f64, with_nginx: bool) -> GatewayResult {
    GatewayResult {
        model: "iris".to_owned(),
        direct: path(
            &[(1, 10_000.0, 80.0, 150.0), (64, 40_000.0, 1_500.0, 3_000.0)],
            10 * 1024,
            12 * 1024,
            "the predictor process",
        ),
        gateway: path(
            &[
                (1, 7_000.0, gateway_p50_1, 200.0),
                (64, gateway_rps_64, 1_800.0, 4_000.0),
            ],
            8 * 1024,
            9 * 1024,
            "the gateway process alone, not its predictor pod",
        ),
        nginx: with_nginx.then(|| {
            path(
                &[(1, 6_000.0, 130.0, 260.0), (64, 30_000.0, 2_100.0, 5_000.0)],
                5 * 1024,
                6 * 1024,
                "master and workers, summed",
            )
        }),
    }
}

#[test]
fn rows_hold_medians_and_the_differences_to_direct() {
    let rows = result(36_000.0, 115.0, true).rows();
    assert_eq!(rows.iter().map(|r| r.c).collect::<Vec<_>>(), [1, 64]);
    let r1 = rows[0];
    assert_eq!(r1.direct.p50_us, 80.0, "the outlier run is not the median");
    assert_eq!(r1.gateway_added_p50(), 35.0);
    assert_eq!(r1.nginx_added_p50(), Some(50.0));
    assert_eq!(r1.gateway_rps_fraction(), 0.7);
    assert_eq!(rows[1].gateway_rps_fraction(), 0.9);
    assert_eq!(rows[1].nginx_rps_fraction(), Some(0.75));
    let without = result(36_000.0, 115.0, false).rows();
    assert_eq!(without[0].nginx_added_p50(), None);
}

#[test]
fn the_table_has_three_paths_per_concurrency_memory_and_met_targets() {
    let md = render(&info(), &result(36_000.0, 115.0, true));
    for line in [
        "- Command: `cargo run --release -p infergate-benches -- gateway`",
        "- Date: 2026-11-23 (UTC)",
        "2 CPUs (nproc), AMD EPYC",
        "- Method: closed loop, one HTTP/1.1 keep-alive connection per concurrent client, 2 s \
         warm-up then 10 s measured; each cell is the median of 3 run(s); within a run the three \
         paths and the concurrencies are interleaved (direct, gateway, nginx at each c) so drift \
         spreads over all of them; load generator on 1 thread(s) of the same machine\n",
        "`infergate predictor --model-format onnx --workers 2`",
        "`infergate serve --predictor-workers 2 --pod-transport unix`",
        "| 1 | client → predictor (direct) | 10,000 | 80 µs | 150 µs | – | 1.00× |",
        "| 1 | client → infergate serve → predictor | 7,000 | 115 µs | 200 µs | +35 µs | 0.70× |",
        "| 1 | client → nginx → predictor | 6,000 | 130 µs | 260 µs | +50 µs | 0.60× |",
        "| 64 | client → infergate serve → predictor | 36,000 | 1.80 ms | 4.00 ms | +300 µs | 0.90× |",
        "| 64 | client → nginx → predictor | 30,000 | 2.10 ms | 5.00 ms | +600 µs | 0.75× |",
        "| infergate serve | the gateway process alone, not its predictor pod | 8 MiB | 9 MiB |",
        "| infergate predictor (direct) | the predictor process | 10 MiB | 12 MiB |",
        "| nginx | master and workers, summed | 5 MiB | 6 MiB |",
        "- c=1: gateway added p50 +35 µs vs nginx +50 µs (met)",
        "- c=64: gateway added p50 +300 µs vs nginx +600 µs (met)",
        "- c=64: gateway req/s 0.90× of direct (met)",
    ] {
        assert!(md.contains(line), "missing {line:?} in:\n{md}");
    }
    assert!(!md.contains("NOT met"), "{md}");
}

#[test]
fn missed_targets_and_a_skipped_nginx_are_said_plainly() {
    // Slower than nginx at c=1 (+60 µs > +50 µs) and 0.80× of direct at c=64.
    let md = render(&info(), &result(32_000.0, 140.0, true));
    assert!(
        md.contains("- c=1: gateway added p50 +60 µs vs nginx +50 µs (NOT met)"),
        "{md}"
    );
    assert!(
        md.contains("- c=64: gateway req/s 0.80× of direct (NOT met)"),
        "{md}"
    );

    let md = render(&info(), &result(36_000.0, 115.0, false));
    assert!(
        md.contains("| 1 | client → nginx → predictor | not run | – | – | – | – |"),
        "{md}"
    );
    assert!(md.contains("| nginx | not run | – | – |"), "{md}");
    assert!(
        md.contains("- c=1: gateway added p50 +35 µs; nginx not measured (target not checked)"),
        "{md}"
    );
}

#[test]
fn the_target_fraction_needs_two_decimals_and_a_faster_hop_shows_its_sign() {
    assert_eq!(fraction(0.849), "0.85×");
    assert_eq!(fraction(f64::INFINITY), "–");
    assert_eq!(signed_micros(-4.2), "−4.2 µs");
    assert_eq!(signed_micros(35.0), "+35 µs");
    assert_eq!(signed_micros(1_200.0), "+1.20 ms");
    assert_eq!(signed_micros(f64::NAN), "–");
}
