//! `infergate-bench coldstart`: from zero replicas to the first answer, and a ramp from zero.
//!
//! ```text
//! infergate serve (release, window 6s, grace 0s, tick 200ms), one InferenceService per model
//! at minReplicas 0, plus MODEL-zero (minReplicas 0) and MODEL-warm (minReplicas R) for the ramp
//!
//! per model, in parallel, `cycles` times:
//!   wait: admin API says atZero and no predictor process of the model is left
//!   time: one request, sent on an open connection -> whole answer (checked vs the reference)
//!   (the timed requests of different models never overlap: one lock)
//! ramp, `runs` times: c clients for `duration` s on MODEL-warm, then on MODEL-zero from zero
//! split: the gateway's log timestamps of each replica's start steps (phases.rs)
//! ```

mod cycle;
mod phases;
mod table;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Mutex;

use crate::gateway::{NAMESPACE, ready};
use crate::load::{self, LoadConfig, LoadReport};
use crate::machine::{self, Machine};
use crate::predictor::{self, BenchArgs, Case, Reference, Setup};
use crate::server::{self, ServerProcess};

use self::cycle::Target;

pub use self::cycle::Cycle;
pub use self::phases::Phases;
pub use self::table::{ColdstartResult, ColdstartRunInfo, ModelCycles, Quantiles, RampResult};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "coldstart";
/// How long the services may take to become Ready when the gateway starts.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// Slack on top of the window and grace period for a revision to reach zero and its process
/// to exit (the predictor drains first).
const ZERO_SLACK: Duration = Duration::from_secs(60);

/// Options of `infergate-bench coldstart`.
#[derive(clap::Args, Clone, Debug)]
pub struct ColdstartArgs {
    /// Models to cold-start; each needs examples/models/NAME.onnx and examples/reference/NAME.json.
    #[arg(long, value_delimiter = ',', default_value = "iris,mlp")]
    pub models: Vec<String>,
    /// Cold starts per model.
    #[arg(long, default_value_t = 20)]
    pub cycles: usize,
    /// The stable window (`autoscaling.knative.dev/window`; Knative's least is 6s).
    #[arg(long, default_value = "6s")]
    pub window: String,
    /// `--scale-to-zero-grace-period` of the gateway.
    #[arg(long, default_value = "0s")]
    pub grace: String,
    /// `--autoscaler-tick` of the gateway.
    #[arg(long, default_value = "200ms")]
    pub tick: String,
    /// The model of the ramp.
    #[arg(long, default_value = "iris")]
    pub ramp_model: String,
    /// Closed-loop clients of the ramp.
    #[arg(long, default_value_t = 64)]
    pub ramp_concurrency: usize,
    /// `maxReplicas` of both ramp revisions, and `minReplicas` of the pre-warmed one.
    #[arg(long, default_value_t = 1)]
    pub ramp_replicas: usize,
    /// Skip the ramp.
    #[arg(long)]
    pub skip_ramp: bool,
    /// `--predictor-workers` of the gateway; default: the predictor's default.
    #[arg(long)]
    pub infergate_workers: Option<usize>,
    /// `--runs` is the number of ramp runs per revision and `--duration` each ramp's seconds;
    /// `--warmup` is not used (a ramp is measured from its first request).
    #[command(flatten)]
    pub bench: BenchArgs,
}

// === impl ColdstartArgs ===

impl ColdstartArgs {
    /// The cold-start benchmark as part of `all`: its own defaults, the shared options.
    pub fn for_all(bench: &BenchArgs) -> Self {
        ColdstartArgs {
            models: vec!["iris".to_owned(), "mlp".to_owned()],
            cycles: 20,
            window: "6s".to_owned(),
            grace: "0s".to_owned(),
            tick: "200ms".to_owned(),
            ramp_model: "iris".to_owned(),
            ramp_concurrency: 64,
            ramp_replicas: 1,
            skip_ramp: false,
            infergate_workers: None,
            bench: bench.clone(),
        }
    }

    fn ramp_service(&self) -> String {
        format!("{}-zero", self.ramp_model)
    }

    fn warm_service(&self) -> String {
        format!("{}-warm", self.ramp_model)
    }

    /// The gateway's settings as the report quotes them.
    fn settings(&self) -> String {
        let workers = self
            .infergate_workers
            .map_or("its default".to_owned(), |w| w.to_string());
        format!(
            "release `infergate serve --scale-to-zero-grace-period {} --autoscaler-tick {}`, \
             annotation `autoscaling.knative.dev/window: {}`, `minReplicas: 0`, predictor workers \
             {workers}, pod transport: the gateway's default",
            self.grace, self.tick, self.window
        )
    }

    /// How long a revision may take to reach zero: window + grace + slack.
    fn zero_timeout(&self) -> Duration {
        let parse = |s: &str| parse_go_duration(s).unwrap_or(Duration::from_secs(60));
        parse(&self.window) + parse(&self.grace) + ZERO_SLACK
    }
}

/// Runs the benchmark, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
pub async fn run(
    args: &ColdstartArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let logs = predictor::target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let result = measure(args, &repo, &bin, &logs).await?;
    let info = ColdstartRunInfo {
        setup: Setup {
            command,
            date: machine::today_utc(),
            machine,
            runs: args.bench.runs,
            warmup_s: 0.0,
            duration_s: args.bench.duration,
            loadgen_threads,
        },
        settings: args.settings(),
    };
    let markdown = table::render(&info, &result);
    args.bench.publish(
        &repo,
        SECTION,
        &markdown,
        &logs.join("coldstart-results.json"),
        &result,
    )
}

/// Starts the gateway on a temporary config folder, measures, stops it; the gateway's log goes
/// to `logs/coldstart-gateway.log`.
pub async fn measure(
    args: &ColdstartArgs,
    repo: &Path,
    bin: &Path,
    logs: &Path,
) -> anyhow::Result<ColdstartResult> {
    anyhow::ensure!(args.cycles >= 1, "`--cycles` must be at least 1");
    anyhow::ensure!(
        !args.models.is_empty(),
        "`--models` needs at least one model"
    );
    anyhow::ensure!(
        args.skip_ramp
            || (args.bench.runs >= 1 && args.ramp_concurrency >= 1 && args.ramp_replicas >= 1),
        "`--runs`, `--ramp-concurrency` and `--ramp-replicas` must be at least 1"
    );
    let scratch =
        std::env::temp_dir().join(format!("infergate-bench-coldstart-{}", std::process::id()));
    let config_dir = scratch.join("config");
    let models = write_config(args, repo, &config_dir)?;
    let log = logs.join("coldstart-gateway.log");
    let mut command = server::serve_command(bin, &config_dir);
    command
        .args(["--scale-to-zero-grace-period", &args.grace])
        .args(["--autoscaler-tick", &args.tick])
        .env("RUST_LOG", phases::GATEWAY_RUST_LOG);
    if let Some(workers) = args.infergate_workers {
        command.args(["--predictor-workers", &workers.to_string()]);
    }
    let gateway = ServerProcess::start_gateway(command, &log).await?;
    let outcome = Bench {
        args,
        models: &models,
        gateway: &gateway,
    }
    .run()
    .await
    .with_context(|| format!("gateway log: {}", log.display()));
    let stopped = gateway.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut result = outcome?;
    stopped?;

    // Split each cold start with the gateway's log, now complete.
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let events = phases::events(&text);
    for model in &mut result.models {
        for c in &mut model.cycles {
            c.phases = phases::split(&events, &c.revision, c.sent, c.received);
        }
    }
    Ok(result)
}

/// One model's inputs.
#[derive(Clone, Debug)]
struct Model {
    name: String,
    path: PathBuf,
    reference: Reference,
    case: Case,
}

/// Writes one InferenceService per model (and the two of the ramp) into `config_dir`.
fn write_config(
    args: &ColdstartArgs,
    repo: &Path,
    config_dir: &Path,
) -> anyhow::Result<Vec<Model>> {
    std::fs::create_dir_all(config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    let mut names = args.models.clone();
    if !args.skip_ramp && !names.contains(&args.ramp_model) {
        names.push(args.ramp_model.clone());
    }
    let mut models = Vec::new();
    for name in &names {
        let path = repo.join("examples/models").join(format!("{name}.onnx"));
        anyhow::ensure!(path.is_file(), "model file {} not found", path.display());
        let reference_path = repo.join("examples/reference").join(format!("{name}.json"));
        let reference = Reference::read(&reference_path)?;
        let case = reference.batch_one(&reference_path)?.clone();
        models.push(Model {
            name: name.clone(),
            path,
            reference,
            case,
        });
    }
    let mut services: Vec<(String, &Model, usize, Option<usize>)> = models
        .iter()
        .filter(|m| args.models.contains(&m.name))
        .map(|m| (m.name.clone(), m, 0, None))
        .collect();
    if !args.skip_ramp {
        let ramp = models
            .iter()
            .find(|m| m.name == args.ramp_model)
            .expect("the ramp model was added above");
        let r = args.ramp_replicas;
        services.push((args.ramp_service(), ramp, 0, Some(r)));
        services.push((args.warm_service(), ramp, r, Some(r)));
    }
    for (service, model, min, max) in services {
        let yaml = inference_service_yaml(&service, &model.path, &args.window, min, max);
        let file = config_dir.join(format!("{service}.yaml"));
        std::fs::write(&file, yaml).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(models)
}

/// A running benchmark: the gateway and what it serves.
struct Bench<'a> {
    args: &'a ColdstartArgs,
    models: &'a [Model],
    gateway: &'a ServerProcess,
}

// === impl Bench ===

impl Bench<'_> {
    async fn run(&self) -> anyhow::Result<ColdstartResult> {
        let services = self.services();
        for (service, model) in &services {
            ready::wait_until_ready(self.gateway.addr(), NAMESPACE, service, READY_TIMEOUT).await?;
            self.check(service, model).await?;
        }
        eprintln!(
            "== coldstart: {} served by {}, every reference case matches",
            services
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.gateway.addr()
        );
        let mut result = ColdstartResult {
            models: self.cycles().await?,
            ramp: None,
        };
        if !self.args.skip_ramp {
            result.ramp = Some(self.ramp().await?);
        }
        Ok(result)
    }

    /// Every service and the model it serves.
    fn services(&self) -> Vec<(String, &Model)> {
        let mut services: Vec<(String, &Model)> = self
            .models
            .iter()
            .filter(|m| self.args.models.contains(&m.name))
            .map(|m| (m.name.clone(), m))
            .collect();
        if !self.args.skip_ramp
            && let Some(m) = self.models.iter().find(|m| m.name == self.args.ramp_model)
        {
            services.push((self.args.ramp_service(), m));
            services.push((self.args.warm_service(), m));
        }
        services
    }

    fn target(&self, service: &str) -> Target {
        Target {
            addr: self.gateway.addr(),
            gateway_pid: self.gateway.pid(),
            service: service.to_owned(),
        }
    }

    /// Every reference case through the gateway.
    async fn check(&self, service: &str, model: &Model) -> anyhow::Result<()> {
        let path = format!("/v2/models/{service}/infer");
        for case in &model.reference.cases {
            let config =
                LoadConfig::json_post(self.gateway.addr(), path.as_str(), case.v2_request());
            let answer = load::probe(&config)
                .await
                .with_context(|| format!("{service}: reference case `{}`", case.name))?;
            case.check_response(&answer.body)
                .with_context(|| format!("{service}: reference case `{}`", case.name))?;
        }
        Ok(())
    }

    /// The cold starts of every model, the models in parallel, the timed requests one at a time.
    async fn cycles(&self) -> anyhow::Result<Vec<ModelCycles>> {
        let lock = Arc::new(Mutex::new(()));
        let timeout = self.args.zero_timeout();
        let mut tasks = Vec::new();
        for model in self
            .models
            .iter()
            .filter(|m| self.args.models.contains(&m.name))
        {
            let target = self.target(&model.name);
            let (case, lock, cycles) = (model.case.clone(), Arc::clone(&lock), self.args.cycles);
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::with_capacity(cycles);
                for i in 1..=cycles {
                    let cycle = one_cycle(&target, &case, &lock, timeout).await?;
                    eprintln!(
                        "   {} cold start {i}/{cycles}: {:.1} ms",
                        target.service, cycle.total_ms
                    );
                    done.push(cycle);
                }
                anyhow::Ok(ModelCycles {
                    model: target.service,
                    cycles: done,
                })
            }));
        }
        let mut models = Vec::with_capacity(tasks.len());
        for task in tasks {
            models.push(task.await.context("a cold-start task died")??);
        }
        Ok(models)
    }

    /// Runs of the ramp: the pre-warmed revision, then the same load from zero, alternating.
    async fn ramp(&self) -> anyhow::Result<RampResult> {
        let args = self.args;
        let model = self
            .models
            .iter()
            .find(|m| m.name == args.ramp_model)
            .context("the ramp model")?;
        let zero = self.target(&args.ramp_service());
        let warm = self.target(&args.warm_service());
        let mut result = RampResult {
            model: args.ramp_model.clone(),
            concurrency: args.ramp_concurrency,
            replicas: args.ramp_replicas,
            from_zero: Vec::new(),
            warm: Vec::new(),
        };
        for run in 1..=args.bench.runs {
            warm.wait_ready_replicas(args.ramp_replicas, READY_TIMEOUT)
                .await?;
            let config = self.ramp_config(&warm.service, &model.case);
            load::probe(&config).await?;
            let report = load::run_unprobed(&config).await?;
            print_ramp("pre-warmed", run, args.bench.runs, &report);
            result.warm.push(report);

            zero.wait_at_zero(args.zero_timeout()).await?;
            let report = load::run_unprobed(&self.ramp_config(&zero.service, &model.case)).await?;
            print_ramp("from zero", run, args.bench.runs, &report);
            result.from_zero.push(report);
        }
        Ok(result)
    }

    fn ramp_config(&self, service: &str, case: &Case) -> LoadConfig {
        LoadConfig {
            concurrency: self.args.ramp_concurrency,
            warmup: Duration::ZERO,
            duration: Duration::from_secs_f64(self.args.bench.duration),
            ..LoadConfig::json_post(
                self.gateway.addr(),
                format!("/v2/models/{service}/infer"),
                case.v2_request(),
            )
        }
    }
}

/// Waits for zero, then times one request while holding `lock` (so that no other model's cold
/// start runs at the same time).
async fn one_cycle(
    target: &Target,
    case: &Case,
    lock: &Mutex<()>,
    timeout: Duration,
) -> anyhow::Result<Cycle> {
    target.wait_at_zero(timeout).await?;
    let _turn = lock.lock().await;
    // Nothing else sends to this service, so it is still at zero; read it again to be sure.
    let zero = target.zero_state().await?;
    target.timed_request(case, &zero).await
}

fn print_ramp(label: &str, run: usize, runs: usize, r: &LoadReport) {
    eprintln!("   ramp {label} run {run}/{runs}: {}", r.summary());
}

/// An InferenceService for `model_path` with the given stable window and replica bounds.
fn inference_service_yaml(
    name: &str,
    model_path: &Path,
    window: &str,
    min_replicas: usize,
    max_replicas: Option<usize>,
) -> String {
    // Quoted as YAML double-quoted strings (JSON strings are valid YAML).
    let quote = |s: &str| serde_json::to_string(s).expect("a string always serialises");
    let uri = quote(&model_path.display().to_string());
    let max = max_replicas.map_or(String::new(), |m| format!("    maxReplicas: {m}\n"));
    format!(
        "# Written by infergate-bench coldstart.\n\
         apiVersion: serving.kserve.io/v1beta1\n\
         kind: InferenceService\n\
         metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  annotations:\n    \
         autoscaling.knative.dev/window: {window}\n\
         spec:\n  predictor:\n    minReplicas: {min_replicas}\n{max}    model:\n      \
         modelFormat:\n        name: onnx\n      storageUri: {uri}\n",
        window = quote(window),
    )
}

/// A Go duration of one unit (`6s`, `200ms`, `1m`), as the gateway's flags take them; `None`
/// for anything else (the gateway itself then refuses it).
fn parse_go_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3_600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}
