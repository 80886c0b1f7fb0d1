//! `infergate-bench predictor`: infergate's predictor against KServe's ModelServer.
//!
//! For each model, one after the other on the same machine: infergate's predictor (the release
//! binary) then KServe (benches/peers/kserve_onnx.py) serve `examples/models/MODEL.onnx`. Each
//! is first checked against every case of `examples/reference/MODEL.json`, then loaded with the
//! reference's batch-1 case as a V2 JSON body at each concurrency, `runs` times (the runs of
//! different concurrencies interleaved so slow drift spreads over all of them). Its peak RSS is
//! read after its last run. Last, the same input runs through ONNX Runtime in-process: the floor.

mod floor;
mod reference;
pub(crate) mod table;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::process::Command;

use crate::load::{self, LoadConfig, LoadReport};
use crate::machine::{self, Machine};
use crate::markers;
use crate::server::ServerProcess;

pub use self::reference::{Case, Reference};
pub use self::table::{FloorResult, Medians, ModelResult, RunInfo, ServerResult, Setup};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "predictor";

/// Options of `infergate-bench predictor` (and `all`).
#[derive(clap::Args, Clone, Debug)]
pub struct PredictorArgs {
    /// Models to compare; each needs examples/models/NAME.onnx and examples/reference/NAME.json.
    #[arg(long, value_delimiter = ',', default_value = "iris,mlp")]
    pub models: Vec<String>,
    /// Concurrencies (closed-loop clients) to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub concurrency: Vec<usize>,
    #[command(flatten)]
    pub bench: BenchArgs,
    /// `--workers` for infergate's predictor; default: the predictor's own default.
    #[arg(long)]
    pub infergate_workers: Option<usize>,
    /// uvicorn worker processes for KServe; default: the number of CPUs.
    #[arg(long)]
    pub kserve_workers: Option<usize>,
    /// Python with kserve and onnxruntime; default: benches/peers/setup.sh's venv.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Measure infergate (and the floor) only.
    #[arg(long)]
    pub skip_kserve: bool,
    /// Skip the in-process ONNX Runtime floor.
    #[arg(long)]
    pub skip_floor: bool,
}

/// What the predictor comparison measured, for `all` to hand on: the gateway section compares
/// the gateway with KServe without starting KServe again.
#[derive(Clone, Debug)]
pub struct PredictorRun {
    /// The predictor section's date (UTC).
    pub date: String,
    pub results: Vec<ModelResult>,
}

/// The options every comparison (`predictor`, `gateway`, `all`) shares: how long to measure,
/// which infergate to run, where the report goes.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Runs per concurrency (and path); the report gives medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of load before each run's measurement starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// infergate binary to run; default: `cargo build --release -p infergate-gateway` first and
    /// run target/release/infergate.
    #[arg(long)]
    pub infergate_bin: Option<PathBuf>,
    /// Print the table but leave BENCHMARKS.md alone.
    #[arg(long)]
    pub no_write: bool,
    /// The markdown file whose section (`predictor`, `gateway`) is rewritten (relative to
    /// `--repo`).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
    /// The infergate repository (models, references, BENCHMARKS.md, target/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    pub repo: PathBuf,
}

// === impl BenchArgs ===

impl BenchArgs {
    /// `--repo`, made absolute.
    pub(crate) fn repo(&self) -> anyhow::Result<PathBuf> {
        self.repo
            .canonicalize()
            .with_context(|| format!("repo {}", self.repo.display()))
    }

    /// `--infergate-bin`, or the release binary built in `repo`.
    pub(crate) async fn infergate(&self, repo: &Path) -> anyhow::Result<PathBuf> {
        match &self.infergate_bin {
            Some(bin) => Ok(bin.clone()),
            None => build_infergate(repo).await,
        }
    }

    /// The setup lines of the report: these options, and where and when they ran.
    pub(crate) fn setup(&self, command: String, machine: Machine, loadgen_threads: usize) -> Setup {
        Setup {
            command,
            date: machine::today_utc(),
            machine,
            runs: self.runs,
            warmup_s: self.warmup,
            duration_s: self.duration,
            loadgen_threads,
        }
    }

    /// Prints `markdown`, writes the raw `results` as JSON to `raw`, and (unless `--no-write`)
    /// rewrites `section` of `--output` with `markdown`.
    pub(crate) fn publish(
        &self,
        repo: &Path,
        section: &str,
        markdown: &str,
        raw: &Path,
        results: &impl serde::Serialize,
    ) -> anyhow::Result<()> {
        println!("{markdown}");
        if let Some(dir) = raw.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(raw, serde_json::to_vec_pretty(results)?)
            .with_context(|| format!("writing {}", raw.display()))?;
        eprintln!("raw results: {}", raw.display());
        if !self.no_write {
            let path = repo.join(&self.output);
            let document = std::fs::read_to_string(&path).unwrap_or_default();
            let updated = markers::replace_section(&document, section, markdown)?;
            std::fs::write(&path, updated)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("updated {}", path.display());
        }
        Ok(())
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md;
/// returns what it measured.
pub async fn run(
    args: &PredictorArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<PredictorRun> {
    anyhow::ensure!(args.bench.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(
        !args.concurrency.is_empty(),
        "`--concurrency` needs at least one value"
    );
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let logs = target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let python = match (&args.python, args.skip_kserve) {
        (_, true) => None,
        (Some(python), false) => Some(python.clone()),
        (None, false) => Some(setup_python(&repo).await?),
    };
    let kserve_workers = args.kserve_workers.unwrap_or(machine.nproc);

    let mut results = Vec::new();
    for model in &args.models {
        let bench = ModelBench::new(&repo, model, args)?;
        eprintln!(
            "== {model}: {} ({})",
            bench.model_path.display(),
            bench.case.name
        );
        let infergate = bench.infergate(&bin, args.infergate_workers, &logs).await?;
        let kserve = match &python {
            Some(python) => Some(bench.kserve(python, kserve_workers, &logs).await?),
            None => None,
        };
        let floor = if args.skip_floor {
            None
        } else {
            Some(bench.floor().await?)
        };
        results.push(ModelResult {
            model: model.clone(),
            infergate,
            kserve,
            floor,
        });
    }

    let info = RunInfo {
        setup: args.bench.setup(command, machine, loadgen_threads),
        infergate_settings: match args.infergate_workers {
            Some(w) => format!("`infergate predictor --workers {w}`, release build"),
            None => {
                "`infergate predictor` with its default workers and threads, release build".into()
            }
        },
        kserve_settings: if python.is_some() {
            format!(
                "kserve 0.21.0 ModelServer via benches/peers/kserve_onnx.py, {kserve_workers} \
                 uvicorn worker(s), onnxruntime 1.32.0 with 1 intra-op thread per worker, \
                 per-request logs off, no gRPC"
            )
        } else {
            "not run (`--skip-kserve`)".to_owned()
        },
    };
    let markdown = table::render(&info, &results);
    args.bench.publish(
        &repo,
        SECTION,
        &markdown,
        &logs.join("predictor-results.json"),
        &results,
    )?;
    Ok(PredictorRun {
        date: info.setup.date,
        results,
    })
}

/// One model's inputs: its file, its reference, and the request the load sends.
struct ModelBench<'a> {
    repo: PathBuf,
    model: &'a str,
    model_path: PathBuf,
    reference: Reference,
    case: Case,
    body: Bytes,
    args: &'a PredictorArgs,
}

// === impl ModelBench ===

impl<'a> ModelBench<'a> {
    fn new(repo: &Path, model: &'a str, args: &'a PredictorArgs) -> anyhow::Result<Self> {
        let model_path = repo.join("examples/models").join(format!("{model}.onnx"));
        anyhow::ensure!(
            model_path.is_file(),
            "model file {} not found",
            model_path.display()
        );
        let reference_path = repo
            .join("examples/reference")
            .join(format!("{model}.json"));
        let reference = Reference::read(&reference_path)?;
        let case = reference.batch_one(&reference_path)?.clone();
        let body = case.v2_request();
        Ok(ModelBench {
            repo: repo.to_owned(),
            model,
            model_path,
            reference,
            case,
            body,
            args,
        })
    }

    async fn infergate(
        &self,
        bin: &Path,
        workers: Option<usize>,
        logs: &Path,
    ) -> anyhow::Result<ServerResult> {
        let mut command = Command::new(bin);
        command
            .arg("predictor")
            .args(["--model-name", self.model])
            .arg("--storage-uri");
        command
            .arg(&self.model_path)
            .args(["--http-port", "0", "--host", "127.0.0.1"]);
        if let Some(workers) = workers {
            command.args(["--workers", &workers.to_string()]);
        }
        let log = logs.join(format!("infergate-{}.log", self.model));
        let server = ServerProcess::start_with_ready_line("infergate", command, &log).await?;
        self.measure(server).await
    }

    async fn kserve(
        &self,
        python: &Path,
        workers: usize,
        logs: &Path,
    ) -> anyhow::Result<ServerResult> {
        let addr = free_loopback_addr()?;
        let script = self.repo.join("benches/peers/kserve_onnx.py");
        let mut command = Command::new(python);
        command
            .arg(script)
            .args(["--model_name", self.model])
            .arg("--model_path");
        command
            .arg(&self.model_path)
            .args(["--http_port", &addr.port().to_string()]);
        command.args(["--workers", &workers.to_string(), "--intra_op_threads", "1"]);
        let log = logs.join(format!("kserve-{}.log", self.model));
        let ready = format!("/v2/models/{}/ready", self.model);
        let server =
            ServerProcess::start_with_ready_url("KServe", command, addr, &ready, &log).await?;
        self.measure(server).await
    }

    /// Checks, loads and stops one server; it is stopped even when a step fails.
    async fn measure(&self, server: ServerProcess) -> anyhow::Result<ServerResult> {
        let outcome = self.check_and_load(&server).await;
        let peak = server.peak_rss_kib();
        let label = server.label().to_owned();
        let log = server.log().to_owned();
        let status = server.stop().await?;
        let mut result = outcome.with_context(|| format!("{label} (log: {})", log.display()))?;
        result.peak_rss_kib = peak?;
        eprintln!("   {label}: peak RSS {} KiB, {status}", result.peak_rss_kib);
        Ok(result)
    }

    async fn check_and_load(&self, server: &ServerProcess) -> anyhow::Result<ServerResult> {
        let path = format!("/v2/models/{}/infer", self.model);
        for case in &self.reference.cases {
            let config = LoadConfig::json_post(server.addr(), path.as_str(), case.v2_request());
            let answer = load::probe(&config).await?;
            case.check_response(&answer.body)?;
        }
        eprintln!(
            "   {}: all {} reference cases match; measuring",
            server.label(),
            self.reference.cases.len()
        );
        let mut result = ServerResult::default();
        for run in 1..=self.args.bench.runs {
            for &c in &self.args.concurrency {
                let config = LoadConfig {
                    concurrency: c,
                    warmup: Duration::from_secs_f64(self.args.bench.warmup),
                    duration: Duration::from_secs_f64(self.args.bench.duration),
                    expect: Some("\"outputs\"".to_owned()),
                    ..LoadConfig::json_post(server.addr(), path.as_str(), self.body.clone())
                };
                let report = load::run(&config).await?;
                print_run(
                    server.label(),
                    self.model,
                    run,
                    self.args.bench.runs,
                    &report,
                );
                report.ensure_no_errors(&format!("{} at c={c}", server.label()))?;
                result.runs.entry(c).or_default().push(report);
            }
        }
        Ok(result)
    }

    async fn floor(&self) -> anyhow::Result<FloorResult> {
        let (model, path, case) = (
            self.model.to_owned(),
            self.model_path.clone(),
            self.case.clone(),
        );
        let warmup = Duration::from_secs_f64(self.args.bench.warmup);
        let duration = Duration::from_secs_f64(self.args.bench.duration);
        let floor = tokio::task::spawn_blocking(move || {
            floor::measure(&model, &path, &case, warmup, duration)
        })
        .await??;
        eprintln!(
            "   floor (in-process ONNX Runtime): {:.0} calls/s, p50 {:.1} µs, p99 {:.1} µs",
            floor.calls_per_s, floor.p50_us, floor.p99_us
        );
        Ok(floor)
    }
}

fn print_run(label: &str, model: &str, run: usize, runs: usize, r: &LoadReport) {
    eprintln!(
        "   {label} {model} c={} run {run}/{runs}: {}",
        r.concurrency,
        r.summary()
    );
}

/// The workspace's target directory, honouring `CARGO_TARGET_DIR` as cargo does.
pub(crate) fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from)
}

/// Builds the release `infergate` binary (a no-op when it is up to date) and returns its path.
pub(crate) async fn build_infergate(repo: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("building infergate: cargo build --release -p infergate-gateway");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "-p", "infergate-gateway"])
        .current_dir(repo)
        .status()
        .await
        .context("running cargo")?;
    anyhow::ensure!(
        status.success(),
        "`cargo build --release -p infergate-gateway` failed: {status}"
    );
    Ok(target_dir(repo).join("release/infergate"))
}

/// Runs benches/peers/setup.sh (idempotent) and returns the venv's python, its last stdout line.
async fn setup_python(repo: &Path) -> anyhow::Result<PathBuf> {
    let script = repo.join("benches/peers/setup.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        output.status
    );
    let stdout = String::from_utf8(output.stdout).context("setup.sh printed non-UTF-8")?;
    let python = stdout
        .lines()
        .last()
        .context("setup.sh printed no python path")?;
    Ok(PathBuf::from(python.trim()))
}

/// A loopback port that is free now, for servers that can't be told to pick one (KServe).
pub(crate) fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}
