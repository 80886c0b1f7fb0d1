//! The cold-start harness: its config, its report, and two real cycles against a real gateway.

use std::process::Command as StdCommand;
use std::time::SystemTime;

use super::*;
use crate::load::{ErrorCounts, LatencySummary};

fn args() -> ColdstartArgs {
    let bench = BenchArgs {
        runs: 1,
        warmup: 0.0,
        duration: 0.5,
        infergate_bin: None,
        no_write: true,
        output: PathBuf::from("BENCHMARKS.md"),
        repo: repo(),
    };
    ColdstartArgs {
        models: vec!["iris".to_owned()],
        cycles: 2,
        ramp_concurrency: 4,
        ..ColdstartArgs::for_all(&bench)
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// `$INFERGATE_BIN`, else the debug `infergate` built now (a no-op when it is up to date).
fn infergate_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("INFERGATE_BIN") {
        return PathBuf::from(bin);
    }
    let repo = repo();
    let status = StdCommand::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "-p", "infergate-gateway", "--bin", "infergate"])
        .current_dir(&repo)
        .status()
        .expect("running cargo build");
    assert!(
        status.success(),
        "cargo build -p infergate-gateway: {status}"
    );
    predictor::target_dir(&repo).join("debug/infergate")
}

#[test]
fn services_load_in_the_gateways_own_loader() {
    let yaml = inference_service_yaml("iris-warm", Path::new("/m/iris.onnx"), "6s", 1, Some(1));
    let parsed = infergate_k8s::parse_documents(&yaml, "iris-warm.yaml")
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(parsed.len(), 1, "{yaml}");
    assert!(parsed[0].warnings.is_empty(), "{:?}", parsed[0].warnings);
    let isvc = parsed[0].isvc.as_ref().expect("an InferenceService");
    assert_eq!(isvc.name(), "iris-warm");
    assert!(
        yaml.contains("autoscaling.knative.dev/window: \"6s\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("minReplicas: 1\n    maxReplicas: 1\n"),
        "{yaml}"
    );
    let zero = inference_service_yaml("iris", Path::new("/m/iris.onnx"), "6s", 0, None);
    assert!(zero.contains("minReplicas: 0\n    model:"), "{zero}");
    infergate_k8s::parse_documents(&zero, "iris.yaml").unwrap_or_else(|e| panic!("{e}\n{zero}"));
}

#[test]
fn go_durations_of_one_unit_parse() {
    assert_eq!(parse_go_duration("6s"), Some(Duration::from_secs(6)));
    assert_eq!(parse_go_duration("200ms"), Some(Duration::from_millis(200)));
    assert_eq!(parse_go_duration("1m"), Some(Duration::from_secs(60)));
    assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
    for bad in ["6", "s", "1m30s", "-1s", ""] {
        assert_eq!(parse_go_duration(bad), None, "{bad}");
    }
}

#[test]
fn quantiles_are_nearest_rank() {
    let q = Quantiles::of((1..=20).map(f64::from).collect()).unwrap();
    assert_eq!((q.n, q.p50, q.p90, q.max), (20, 10.0, 18.0, 20.0));
    let one = Quantiles::of(vec![7.0]).unwrap();
    assert_eq!((one.p50, one.p90, one.max), (7.0, 7.0, 7.0));
    assert_eq!(Quantiles::of(vec![f64::NAN]), None);
    assert_eq!(Quantiles::of(Vec::new()), None);
}

fn cycle(total_ms: f64, process_ms: f64, processes_before: usize) -> Cycle {
    Cycle {
        revision: "iris-predictor-00001".to_owned(),
        total_ms,
        at_zero_before: true,
        processes_before,
        phases: Phases {
            spawn_to_ready_line_ms: Some(process_ms),
            ..Phases::default()
        },
        sent: SystemTime::UNIX_EPOCH,
        received: SystemTime::UNIX_EPOCH,
    }
}

fn report(requests_per_s: f64, p99_us: f64) -> LoadReport {
    LoadReport {
        concurrency: 64,
        requests: 1_000,
        elapsed_s: 1.0,
        requests_per_s,
        latency: LatencySummary {
            p50_us: p99_us / 2.0,
            p90_us: p99_us / 1.5,
            p99_us,
            max_us: p99_us * 10.0,
            mean_us: p99_us / 2.0,
        },
        errors: ErrorCounts::default(),
    }
}

fn info() -> ColdstartRunInfo {
    ColdstartRunInfo {
        setup: Setup {
            command: "cargo run --release -p infergate-benches -- coldstart".to_owned(),
            date: "2026-11-23".to_owned(),
            machine: Machine::current(),
            runs: 1,
            warmup_s: 0.0,
            duration_s: 10.0,
            loadgen_threads: 1,
        },
        settings: ColdstartArgs::for_all(&args().bench).settings(),
    }
}

#[test]
fn the_report_gives_quantiles_the_split_the_ramp_ratio_and_the_target() {
    let result = ColdstartResult {
        models: vec![
            ModelCycles {
                model: "iris".to_owned(),
                cycles: (1..=20)
                    .map(|i| cycle(f64::from(i) * 10.0, 50.0, 0))
                    .collect(),
            },
            ModelCycles {
                model: "mlp".to_owned(),
                cycles: vec![cycle(300.0, 200.0, 1)],
            },
        ],
        ramp: Some(RampResult {
            model: "iris".to_owned(),
            concurrency: 64,
            replicas: 1,
            from_zero: vec![report(9_000.0, 4_000.0)],
            warm: vec![report(10_000.0, 2_000.0)],
        }),
    };
    let md = table::render(&info(), &result);
    assert!(md.contains("- Command: `cargo run --release -p infergate-benches -- coldstart`"));
    assert!(
        md.contains("| iris | 20 | every cycle | 100.0 ms | 180.0 ms | 200.0 ms | 50.0 ms |"),
        "{md}"
    );
    assert!(
        md.contains("| mlp | 1 | NOT every cycle | 300.0 ms |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| spawn → ready line (the process) | 50.0 ms (50.0 ms) | 200.0 ms (200.0 ms) |"
        ),
        "{md}"
    );
    assert!(md.contains("| from zero | 9,000 |"), "{md}");
    assert!(md.contains("req/s 0.90×, p99 2.0×"), "{md}");
    assert!(
        md.contains("- iris: p50 100.0 ms over 20 cycles (met)"),
        "{md}"
    );
}

/// Two real cycles from zero (and a short ramp) against a real gateway: the report has its
/// shape, every cycle started with the revision at zero and no process of it alive, and each
/// cold start spawned a new process whose start the gateway's log splits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_cycles_start_from_zero_and_split() {
    let bin = infergate_binary();
    let logs =
        std::env::temp_dir().join(format!("infergate-coldstart-test-{}", std::process::id()));
    let args = args();
    let result = tokio::time::timeout(
        Duration::from_secs(180),
        measure(&args, &repo(), &bin, &logs),
    )
    .await
    .expect("two cycles and a ramp within 180 s")
    .unwrap_or_else(|e| panic!("{e:#}"));

    assert_eq!(result.models.len(), 1);
    let iris = &result.models[0];
    assert_eq!(iris.model, "iris");
    assert_eq!(iris.cycles.len(), 2);
    let mut pids = Vec::new();
    for (i, c) in iris.cycles.iter().enumerate() {
        assert!(c.at_zero_before, "cycle {i} at zero: {c:?}");
        assert_eq!(
            c.processes_before, 0,
            "cycle {i} with no process left: {c:?}"
        );
        assert!(c.total_ms > 0.0 && c.total_ms < 60_000.0, "{c:?}");
        let p = &c.phases;
        let process = p
            .spawn_to_ready_line_ms
            .unwrap_or_else(|| panic!("cycle {i} split: {p:?}"));
        assert!(process > 0.0 && process < c.total_ms, "{c:?}");
        let spawn = p.request_to_spawn_ms.expect("request → spawn");
        assert!(spawn >= 0.0 && spawn < c.total_ms, "{c:?}");
        assert!(
            p.model_load_ms.is_some() && p.predictor_load_ms.is_some(),
            "{p:?}"
        );
        pids.push(p.pid.expect("the spawned pid"));
    }
    assert_ne!(pids[0], pids[1], "each cold start is a new process");
    assert!(iris.all_from_zero());
    assert!(iris.total().is_some());

    let ramp = result.ramp.as_ref().expect("the ramp ran");
    assert_eq!((ramp.from_zero.len(), ramp.warm.len()), (1, 1));
    for r in ramp.from_zero.iter().chain(&ramp.warm) {
        assert!(r.requests > 0, "{r:?}");
        assert_eq!(r.errors.total(), 0, "{r:?}");
    }
    let md = table::render(&info(), &result);
    assert!(md.contains("| iris | 2 | every cycle |"), "{md}");
    assert!(md.contains("From zero ÷ pre-warmed"), "{md}");
    let _ = std::fs::remove_dir_all(&logs);
}
