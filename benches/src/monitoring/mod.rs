//! `infergate-bench monitoring`: what in-gateway monitoring costs in requests per second.
//!
//! ```text
//! client --> infergate serve --> iris-plain      (monitoring.infergate.dev/sample-ratio "0")
//!                            --> iris-monitored  ("1": every exchange; features, outputs, drift)
//!                            --> mlp-plain, mlp-monitored (the same, for the MLP)
//! ```
//!
//! One gateway (the release binary) serves each model twice, one predictor pod each (min = max
//! = 1 replica), so the two paths differ only in the annotation: with monitoring off the request
//! streams through unread; with it on the gateway reads the body, tees the response and its
//! worker thread decodes both, fills the histograms and scores drift. Every path is first
//! checked against every case of the model's reference; then the batch-1 case is sent at c=64,
//! `runs` times, plain and monitored alternating (which goes first swaps every run). After the
//! runs the gateway's `/metrics` say how many exchanges the monitor recorded and dropped, so a
//! monitor that kept up only by dropping would show.

mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::gateway::ready;
use crate::load::{self, LoadConfig};
use crate::machine::Machine;
use crate::predictor::{self, BenchArgs, Reference};
use crate::server::{self, ServerProcess};

pub use self::table::{Mode, ModelResult, MonitoringResult};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "monitoring";
/// The namespace of the services.
const NAMESPACE: &str = "default";
/// How long the pods may take to load their models.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Options of `infergate-bench monitoring`.
#[derive(clap::Args, Clone, Debug)]
pub struct MonitoringArgs {
    /// Models (examples/models/NAME.onnx, checked against examples/reference/NAME.json).
    #[arg(long, value_delimiter = ',', default_value = "iris,mlp")]
    pub models: Vec<String>,
    /// Closed-loop clients, one connection each.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// `--predictor-workers` of the gateway; default: the number of CPUs.
    #[arg(long)]
    pub infergate_workers: Option<usize>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

// === impl MonitoringArgs ===

impl MonitoringArgs {
    /// The monitoring comparison as part of `all`: the shared options, the default models.
    pub fn for_all(bench: &BenchArgs, infergate_workers: Option<usize>) -> Self {
        MonitoringArgs {
            models: vec!["iris".to_owned(), "mlp".to_owned()],
            concurrency: 64,
            infergate_workers,
            bench: bench.clone(),
        }
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
pub async fn run(
    args: &MonitoringArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.bench.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "`--concurrency` must be at least 1");
    anyhow::ensure!(
        !args.models.is_empty(),
        "`--models` needs at least one model"
    );
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let workers = args.infergate_workers.unwrap_or(machine.nproc).max(1);
    let logs = predictor::target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let scratch =
        std::env::temp_dir().join(format!("infergate-bench-monitoring-{}", std::process::id()));
    let config_dir = scratch.join("config");
    let mut models = Vec::new();
    for name in &args.models {
        models.push(Model::new(&repo, name)?);
    }
    write_services(&config_dir, &models)?;

    let mut serve = server::serve_command(&bin, &config_dir);
    serve
        .args(["--predictor-workers", &workers.to_string()])
        // The log is parsed for the metrics address: no colour codes in it.
        .env("NO_COLOR", "1");
    let log = logs.join("monitoring-gateway.log");
    let gateway = ServerProcess::start_gateway(serve, &log).await?;
    let outcome = measure(args, &gateway, &models).await;
    let stopped = gateway.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut result = outcome?;
    stopped?;
    result.settings = format!(
        "one `infergate serve` (release), `--predictor-workers {workers}`, each model served \
         twice (one pod each, min = max = 1 replica): `monitoring.infergate.dev/sample-ratio: \
         \"0\"` (off) and `\"1\"` (on: every exchange, every feature and output, drift scored; \
         default window and reference of 1000 values{}); requests: the reference's batch-1 \
         case as V2 JSON",
        models
            .iter()
            .filter_map(|m| m
                .argmax
                .map(|o| format!(", `argmax-outputs: {o}` for {}", m.name)))
            .collect::<String>()
    );
    let setup = args.bench.setup(command, machine, loadgen_threads);
    let markdown = table::render(&setup, &result);
    args.bench.publish(
        &repo,
        SECTION,
        &markdown,
        &logs.join("monitoring-results.json"),
        &result,
    )
}

/// One model of the comparison.
struct Model {
    name: String,
    path: PathBuf,
    reference: Reference,
    /// A score output whose argmax is also counted as a class.
    argmax: Option<&'static str>,
}

// === impl Model ===

impl Model {
    fn new(repo: &Path, name: &str) -> anyhow::Result<Model> {
        let path = repo.join("examples/models").join(format!("{name}.onnx"));
        anyhow::ensure!(path.is_file(), "model file {} not found", path.display());
        let reference =
            Reference::read(&repo.join("examples/reference").join(format!("{name}.json")))?;
        let argmax = match name {
            "iris" => Some("probabilities"),
            "mlp" => Some("logits"),
            _ => None,
        };
        Ok(Model {
            name: name.to_owned(),
            path,
            reference,
            argmax,
        })
    }

    /// The service name of `mode`.
    fn service(&self, mode: Mode) -> String {
        format!("{}-{}", self.name, mode.suffix())
    }
}

/// One file per service in `dir`.
fn write_services(dir: &Path, models: &[Model]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for model in models {
        for mode in Mode::ALL {
            let name = model.service(mode);
            let yaml = inference_service_yaml(&name, &model.path, mode, model.argmax);
            let file = dir.join(format!("{name}.yaml"));
            std::fs::write(&file, yaml).with_context(|| format!("writing {}", file.display()))?;
        }
    }
    Ok(())
}

/// Checks every path, runs the alternating loads, reads the monitor's counters.
async fn measure(
    args: &MonitoringArgs,
    gateway: &ServerProcess,
    models: &[Model],
) -> anyhow::Result<MonitoringResult> {
    let addr = gateway.addr();
    for model in models {
        for mode in Mode::ALL {
            let service = model.service(mode);
            ready::wait_until_ready(addr, NAMESPACE, &service, READY_TIMEOUT)
                .await
                .with_context(|| format!("gateway (log: {})", gateway.log().display()))?;
            let path = format!("/v2/models/{service}/infer");
            for case in &model.reference.cases {
                let config = LoadConfig::json_post(addr, path.as_str(), case.v2_request());
                let answer = load::probe(&config).await?;
                case.check_response(&answer.body)
                    .with_context(|| format!("{service}: reference case `{}`", case.name))?;
            }
        }
    }
    eprintln!(
        "== monitoring: every path matches its reference; measuring at c={}",
        args.concurrency
    );
    let mut result = MonitoringResult {
        concurrency: args.concurrency,
        ..MonitoringResult::default()
    };
    for run in 1..=args.bench.runs {
        for model in models {
            let case = model.reference.batch_one(Path::new(&model.name))?;
            let order = match run % 2 {
                1 => [Mode::Off, Mode::On],
                _ => [Mode::On, Mode::Off],
            };
            for mode in order {
                let service = model.service(mode);
                let config = LoadConfig {
                    concurrency: args.concurrency,
                    warmup: Duration::from_secs_f64(args.bench.warmup),
                    duration: Duration::from_secs_f64(args.bench.duration),
                    expect: Some("\"outputs\"".to_owned()),
                    ..LoadConfig::json_post(
                        addr,
                        format!("/v2/models/{service}/infer"),
                        case.v2_request(),
                    )
                };
                let report = load::run(&config).await?;
                eprintln!(
                    "   {service} run {run}/{}: {}",
                    args.bench.runs,
                    report.summary()
                );
                report.ensure_no_errors(&service)?;
                result
                    .models
                    .entry(model.name.clone())
                    .or_default()
                    .runs
                    .entry(mode)
                    .or_default()
                    .push(report);
            }
        }
    }
    let metrics = metrics_addr(gateway.log())?;
    let text = settled_metrics(metrics, models).await?;
    for model in models {
        let service = model.service(Mode::On);
        let entry = result.models.entry(model.name.clone()).or_default();
        entry.answered = table::sum(&text, "infergate_requests_total", &service);
        entry.recorded = table::sum(&text, "infergate_monitor_samples_total", &service);
        entry.dropped = table::sum(&text, "infergate_monitor_samples_dropped_total", &service);
    }
    Ok(result)
}

/// The gateway's `/metrics` once the monitor has recorded what it was sent: its worker drains
/// its queue in rounds, so right after a run the last samples may still be queued. Read until the
/// monitored services' recorded counts stop moving between two reads 100 ms apart (at most 5 s).
async fn settled_metrics(metrics: SocketAddr, models: &[Model]) -> anyhow::Result<String> {
    let recorded = |text: &str| -> f64 {
        models
            .iter()
            .map(|m| {
                table::sum(
                    text,
                    "infergate_monitor_samples_total",
                    &m.service(Mode::On),
                )
            })
            .sum()
    };
    let mut last: Option<(String, f64)> = None;
    for _ in 0..50 {
        let (status, body) = load::get(metrics, "/metrics").await?;
        anyhow::ensure!(status.is_success(), "the gateway's /metrics: {status}");
        let text = String::from_utf8_lossy(&body).into_owned();
        let now = recorded(&text);
        if last.as_ref().is_some_and(|(_, before)| *before == now) {
            return Ok(text);
        }
        last = Some((text, now));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(last.map(|(text, _)| text).unwrap_or_default())
}

/// The metrics address the gateway logged (`Metrics listening. address=ADDR`).
fn metrics_addr(log: &Path) -> anyhow::Result<SocketAddr> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    text.lines()
        .filter(|l| l.contains("Metrics listening."))
        .find_map(|l| {
            l.split("address=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("no `Metrics listening. address=` in {}", log.display()))
}

/// One InferenceService: the model by absolute path, monitoring on or off, one replica.
fn inference_service_yaml(
    name: &str,
    model_path: &Path,
    mode: Mode,
    argmax: Option<&str>,
) -> String {
    // Paths are quoted as YAML double-quoted strings (JSON strings are valid YAML).
    let uri = serde_json::to_string(&model_path.display().to_string())
        .expect("a string always serialises");
    let mut annotations = format!(
        "    monitoring.infergate.dev/sample-ratio: \"{}\"\n",
        mode.sample_ratio()
    );
    if let Some(output) = argmax {
        annotations.push_str(&format!(
            "    monitoring.infergate.dev/argmax-outputs: \"{output}\"\n"
        ));
    }
    format!(
        "# Written by infergate-bench monitoring.\n\
         apiVersion: serving.kserve.io/v1beta1\n\
         kind: InferenceService\n\
         metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  annotations:\n{annotations}\
         spec:\n  predictor:\n    minReplicas: 1\n    maxReplicas: 1\n    model:\n      \
         modelFormat:\n        name: onnx\n      storageUri: {uri}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inference_services_load_in_the_gateways_own_loader() {
        for mode in Mode::ALL {
            let yaml = inference_service_yaml(
                "iris-x",
                Path::new("/a b/\"q\": x/iris.onnx"),
                mode,
                Some("probabilities"),
            );
            let parsed = infergate_k8s::parse_documents(&yaml, "iris.yaml")
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(parsed.len(), 1, "{yaml}");
            assert!(parsed[0].warnings.is_empty(), "{:?}", parsed[0].warnings);
            let isvc = parsed[0].isvc.as_ref().expect("an InferenceService");
            assert_eq!(isvc.name(), "iris-x");
            let annotations = &isvc.metadata.annotations;
            assert_eq!(
                annotations["monitoring.infergate.dev/sample-ratio"],
                mode.sample_ratio()
            );
            assert_eq!(
                annotations["monitoring.infergate.dev/argmax-outputs"],
                "probabilities"
            );
        }
    }

    #[test]
    fn the_metrics_address_is_read_from_the_log() {
        let dir = std::env::temp_dir().join(format!("monitoring-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("gateway.log");
        std::fs::write(
            &log,
            "2026-11-23T06:45:45Z  INFO infergate_gateway::serve: Metrics listening. address=127.0.0.1:44193\n",
        )
        .unwrap();
        assert_eq!(
            metrics_addr(&log).unwrap(),
            "127.0.0.1:44193".parse::<SocketAddr>().unwrap()
        );
        std::fs::write(&log, "nothing\n").unwrap();
        assert!(metrics_addr(&log).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
