//! Rows, added latencies, verdicts and the rendered markdown.

use super::*;
use crate::predictor::ModelResult;
use crate::predictor::table::tests::{report, setup};

/// Runs at each (c, req/s, p50, p99), three identical runs each, except that the first run is
/// an outlier the median must ignore.
fn runs(rows: &[(usize, f64, f64, f64)], peak_kib: u64) -> ServerResult {
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
    load
}

/// A path measured at each (c, req/s, p50, p99), with its memory.
fn path(rows: &[(usize, f64, f64, f64)], idle_kib: u64, peak_kib: u64, note: &str) -> PathResult {
    PathResult {
        load: runs(rows, peak_kib),
        idle_rss_kib: idle_kib,
        memory_note: note.to_owned(),
    }
}

/// KServe on iris, as the predictor comparison of an `all` run measured it.
fn kserve() -> ServerResult {
    runs(
        &[
            (1, 900.0, 1_000.0, 2_000.0),
            (64, 3_000.0, 20_000.0, 50_000.0),
        ],
        200 * 1024,
    )
}

fn info_with(kserve: KserveBaseline) -> GatewayRunInfo {
    GatewayRunInfo {
        setup: setup("gateway"),
        workers: 2,
        pod_transport: "unix".to_owned(),
        nginx_settings: "nginx/1.22.1, worker_processes auto".to_owned(),
        kserve,
    }
}

fn info() -> GatewayRunInfo {
    info_with(KserveBaseline::standalone())
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
                "master and workers, summed; serves both nginx paths",
            )
        }),
        nginx_static: with_nginx.then(|| {
            runs(
                &[(1, 9_000.0, 90.0, 160.0), (64, 35_000.0, 1_700.0, 3_500.0)],
                6 * 1024,
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
    assert_eq!(rows[1].rps_fraction(rows[1].nginx.unwrap()), 0.75);
    let static_64 = rows[1].nginx_static.expect("static measured");
    assert_eq!(
        static_64.requests_per_s, 35_000.0,
        "the outlier run is not the median"
    );
    assert_eq!(rows[1].added_p50(static_64), 200.0);
    assert_eq!(rows[1].gateway_over_static(), Some(36_000.0 / 35_000.0));
    let without = result(36_000.0, 115.0, false).rows();
    assert_eq!(without[0].nginx_added_p50(), None);
    assert_eq!(without[1].gateway_over_static(), None);
}

#[test]
fn the_table_has_four_paths_per_concurrency_memory_and_met_targets() {
    let md = render(&info(), &result(36_000.0, 115.0, true));
    for line in [
        "- Command: `cargo run --release -p infergate-benches -- gateway`",
        "- Date: 2026-11-23 (UTC)",
        "2 CPUs (nproc), AMD EPYC",
        "- Method: closed loop, one HTTP/1.1 keep-alive connection per concurrent client, 2 s \
         warm-up then 10 s measured; each cell is the median of 3 run(s); within a run the four \
         paths and the concurrencies are interleaved (direct, gateway, nginx, nginx → static at \
         each c) so drift spreads over all of them; load generator on 1 thread(s) of the same \
         machine\n",
        "`infergate predictor --model-format onnx --workers 2`",
        "`infergate serve --predictor-workers 2 --pod-transport unix`",
        "| 1 | client → predictor (direct) | 10,000 | 80 µs | 150 µs | – | 1.00× |",
        "| 1 | client → infergate serve → predictor | 7,000 | 115 µs | 200 µs | +35 µs | 0.70× |",
        "| 1 | client → nginx → predictor | 6,000 | 130 µs | 260 µs | +50 µs | 0.60× |",
        "| 64 | client → infergate serve → predictor | 36,000 | 1.80 ms | 4.00 ms | +300 µs | 0.90× |",
        "| 64 | client → nginx → predictor | 30,000 | 2.10 ms | 5.00 ms | +600 µs | 0.75× |",
        "| 1 | client → nginx → static backend (no inference) | 9,000 | 90 µs | 160 µs | +10 µs | \
         0.90× |",
        "| 64 | client → nginx → static backend (no inference) | 35,000 | 1.70 ms | 3.50 ms | \
         +200 µs | 0.88× |",
        "- nginx → static backend: the same nginx process and config",
        "the exact body the direct predictor gave for the batch-1 case",
        "checked against the reference's batch-1 case only",
        "| infergate serve | the gateway process alone, not its predictor pod | 8 MiB | 9 MiB |",
        "| infergate predictor (direct) | the predictor process | 10 MiB | 12 MiB |",
        "| nginx | master and workers, summed; serves both nginx paths | 5 MiB | 6 MiB |",
        "Targets (issue #3): at every c",
        "- c=1: gateway added p50 +35 µs vs nginx +50 µs (met)",
        "- c=64: gateway added p50 +300 µs vs nginx +600 µs (met)",
        "- c=64: gateway req/s 0.90× of direct (met)",
        "Targets (issue #7), at the highest c: gateway req/s ≥ nginx → static backend's",
        "≥ 10× KServe's, and gateway p99 ≤ 1/10 of KServe's.",
        "- c=64: gateway req/s ÷ nginx → static backend's = 1.03× (met, target ≥ 1.00×): \
         gateway 36,000, static 35,000",
    ] {
        assert!(md.contains(line), "missing {line:?} in:\n{md}");
    }
    assert!(!md.contains("NOT met"), "{md}");
    // The gateway bench alone has no KServe numbers: it says so instead of reading old files.
    assert!(
        md.contains(
            "- c=64: gateway vs KServe (req/s ≥ 10×, p99 ≤ 1/10) not computed: KServe is \
             measured only by the predictor comparison, and this command ran the gateway \
             comparison alone (`all` runs both and computes these)"
        ),
        "{md}"
    );
    // Rows of one c stay together, in path order.
    let at_64: Vec<&str> = md.lines().filter(|l| l.starts_with("| 64 |")).collect();
    assert_eq!(at_64.len(), 4, "{md}");
    assert!(at_64[3].contains("static backend"), "{md}");
}

#[test]
fn kserve_from_the_same_all_run_gives_both_ratios_with_its_date() {
    let measured = KserveBaseline::Measured {
        date: "2026-11-22".to_owned(),
        kserve: kserve(),
    };
    // 36,000 / 3,000 = 12× (met); KServe p99 50 ms / gateway 4 ms = 12.5× (met).
    let md = render(&info_with(measured.clone()), &result(36_000.0, 115.0, true));
    for line in [
        "- c=64: gateway req/s ÷ KServe's = 12.0× (met, target ≥ 10×): gateway 36,000, KServe \
         3,000",
        "- c=64: KServe's p99 ÷ gateway's p99 = 12.5× (met, target ≥ 10×): gateway 4.00 ms, \
         KServe 50.00 ms",
        "- KServe's numbers: iris at c=64, the medians of its runs in the predictor section of \
         this same `all` run (2026-11-22), not measured again here",
    ] {
        assert!(md.contains(line), "missing {line:?} in:\n{md}");
    }
    assert!(!md.contains("NOT met"), "{md}");

    // 27,000 / 3,000 = 9× (NOT met), and below nginx → static (0.77×).
    let md = render(&info_with(measured), &result(27_000.0, 115.0, true));
    assert!(
        md.contains("- c=64: gateway req/s ÷ KServe's = 9.0× (NOT met, target ≥ 10×)"),
        "{md}"
    );
    assert!(
        md.contains("- c=64: gateway req/s ÷ nginx → static backend's = 0.77× (NOT met"),
        "{md}"
    );

    // A p99 over a tenth of KServe's: 50 ms / 6 ms = 8.3×.
    let mut slow_tail = result(36_000.0, 115.0, true);
    slow_tail.gateway = path(
        &[(1, 7_000.0, 115.0, 200.0), (64, 36_000.0, 1_800.0, 6_000.0)],
        8 * 1024,
        9 * 1024,
        "the gateway process alone, not its predictor pod",
    );
    let md = render(
        &info_with(KserveBaseline::Measured {
            date: "2026-11-22".to_owned(),
            kserve: kserve(),
        }),
        &slow_tail,
    );
    assert!(
        md.contains("- c=64: KServe's p99 ÷ gateway's p99 = 8.3× (NOT met, target ≥ 10×)"),
        "{md}"
    );
}

#[test]
fn kserve_not_measured_at_the_gateways_top_concurrency_is_not_compared() {
    let mut only_c1 = kserve();
    only_c1.runs.remove(&64);
    let md = render(
        &info_with(KserveBaseline::Measured {
            date: "2026-11-22".to_owned(),
            kserve: only_c1,
        }),
        &result(36_000.0, 115.0, true),
    );
    assert!(
        md.contains(
            "- c=64: gateway vs KServe (req/s ≥ 10×, p99 ≤ 1/10) not computed: the predictor \
             comparison of this run (2026-11-22) did not measure KServe at c=64"
        ),
        "{md}"
    );
    assert!(!md.contains("KServe's p99 ÷"), "{md}");
}

#[test]
fn the_baseline_is_kserve_on_the_gateways_model_from_the_predictor_run() {
    let model = |name: &str, kserve: Option<ServerResult>| ModelResult {
        model: name.to_owned(),
        infergate: ServerResult::default(),
        kserve,
        floor: None,
    };
    let run = |results| PredictorRun {
        date: "2026-11-22".to_owned(),
        results,
    };
    let mut mlp_kserve = kserve();
    mlp_kserve.peak_rss_kib = 1;
    let both = run(vec![
        model("mlp", Some(mlp_kserve)),
        model("iris", Some(kserve())),
    ]);
    match KserveBaseline::from_predictor(&both, "iris") {
        KserveBaseline::Measured { date, kserve } => {
            assert_eq!(date, "2026-11-22");
            assert_eq!(kserve.peak_rss_kib, 200 * 1024, "iris's KServe, not mlp's");
        }
        other => panic!("{other:?}"),
    }
    let skipped = run(vec![model("iris", None)]);
    assert!(matches!(
        KserveBaseline::from_predictor(&skipped, "iris"),
        KserveBaseline::Missing(why) if why.contains("--skip-kserve")
    ));
    let no_iris = run(vec![model("mlp", Some(kserve()))]);
    assert!(matches!(
        KserveBaseline::from_predictor(&no_iris, "iris"),
        KserveBaseline::Missing(why) if why.contains("did not measure iris")
    ));
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
    assert!(
        md.contains(
            "| 64 | client → nginx → static backend (no inference) | not run | – | – | – | – |"
        ),
        "{md}"
    );
    assert!(
        md.contains("- nginx → static backend: not run (`--skip-nginx`)"),
        "{md}"
    );
    assert!(
        md.contains("- c=64: nginx → static backend not measured (target not checked)"),
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
