//! `infergate-bench gateway`: what the gateway hop costs, next to what nginx costs.
//!
//! ```text
//! (a) client --------------------------------> infergate predictor P        (direct)
//! (b) client --> infergate serve -------------> its own predictor pod P'     (the gateway hop)
//! (c) client --> nginx (keepalive upstream) --> the same process P as (a)    (the reference hop)
//! (d) client --> nginx (keepalive upstream) --> nginx `return 200 '<body>'`  (one bare nginx hop)
//! ```
//!
//! P and P' are the same release binary with the same flags (`--workers` = `--predictor-workers`).
//! (c) and (d) are one nginx process; (d)'s body is P's answer to the batch-1 case, so (d) costs
//! what (c) costs minus the inference. All four run at once; each path is first checked against
//! every case of the model's reference file ((d) against the batch-1 case only: it has no other
//! answer), then loaded with the batch-1 case at each concurrency, `runs` times, interleaving
//! paths and concurrencies. Memory: the gateway process alone (not its pod), before load and at
//! peak.

mod nginx;
pub(crate) mod ready;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::process::Command;

use crate::load::{self, LoadConfig};
use crate::machine::Machine;
use crate::predictor::{self, BenchArgs, Case, Reference, ServerResult};
use crate::server::{self, Scope, ServerProcess};

pub use self::table::{GatewayResult, GatewayRunInfo, KserveBaseline, PathResult};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "gateway";
/// The namespace `infergate serve` puts services without one in.
pub(crate) const NAMESPACE: &str = "default";
/// How long the gateway's pod may take to load the model and become Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Options of `infergate-bench gateway`.
#[derive(clap::Args, Clone, Debug)]
pub struct GatewayArgs {
    /// The model: examples/models/NAME.onnx, checked against examples/reference/NAME.json.
    #[arg(long, default_value = "iris")]
    pub model: String,
    /// Concurrencies (closed-loop clients) to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,
    #[command(flatten)]
    pub bench: BenchArgs,
    /// `--workers` of the direct predictor, and `--predictor-workers` of the gateway (so its pod
    /// gets the same); default: the number of CPUs.
    #[arg(long)]
    pub infergate_workers: Option<usize>,
    /// How the gateway reaches its pod: `unix` (a Unix socket, the gateway's default) or `tcp`
    /// (loopback TCP).
    #[arg(long, default_value = "unix", value_parser = ["unix", "tcp"])]
    pub pod_transport: String,
    #[command(flatten)]
    pub nginx: NginxArgs,
}

/// The nginx options, shared by `gateway` and `all`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NginxArgs {
    /// nginx binary; default: `nginx` on PATH, else /usr/sbin/nginx (benches/peers/setup-nginx.sh
    /// installs it).
    #[arg(long)]
    pub nginx_bin: Option<PathBuf>,
    /// Measure direct and gateway only (neither nginx path).
    #[arg(long)]
    pub skip_nginx: bool,
}

// === impl GatewayArgs ===

impl GatewayArgs {
    /// The gateway comparison as part of `all`: the predictor comparison's shared options,
    /// the gateway's own concurrencies.
    pub fn for_all(
        predictor: &predictor::PredictorArgs,
        concurrency: Vec<usize>,
        nginx: NginxArgs,
    ) -> Self {
        GatewayArgs {
            model: "iris".to_owned(),
            concurrency,
            bench: predictor.bench.clone(),
            infergate_workers: predictor.infergate_workers,
            pod_transport: "unix".to_owned(),
            nginx,
        }
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
/// `kserve` is what issue #7's target compares the gateway with (see [`KserveBaseline`]).
pub async fn run(
    args: &GatewayArgs,
    kserve: KserveBaseline,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.bench.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "`--concurrency` needs at least one value, each at least 1"
    );
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let workers = args.infergate_workers.unwrap_or(machine.nproc).max(1);
    // Find nginx before building or starting anything: a missing nginx fails in a second.
    let nginx_bin = if args.nginx.skip_nginx {
        None
    } else {
        let path_var = std::env::var_os("PATH");
        Some(nginx::find(
            args.nginx.nginx_bin.as_deref(),
            path_var.as_deref(),
            nginx::FALLBACK_PATHS,
        )?)
    };
    let logs = predictor::target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let bench = HopBench::new(&repo, args, workers, &logs)?;
    eprintln!(
        "== gateway hop, {}: {} ({}), workers {workers}",
        args.model,
        bench.model_path.display(),
        bench.case.name
    );

    let mut servers = Servers::default();
    let outcome = bench.run(&mut servers, &bin, nginx_bin.as_deref()).await;
    let stopped = servers.stop_all().await;
    let _ = std::fs::remove_dir_all(&bench.scratch);
    let result = outcome?;
    stopped?;

    let nginx_settings = match &nginx_bin {
        Some(path) => format!(
            "{} (`{}`), worker_processes auto, upstream `keepalive {}` with \
             `proxy_http_version 1.1` and `proxy_set_header Connection \"\"`, keepalive_requests \
             unlimited in practice, access_log off, listening on 127.0.0.1 only",
            nginx::version(path).await,
            path.display(),
            bench.keepalive()
        ),
        None => "not run (`--skip-nginx`)".to_owned(),
    };
    let info = GatewayRunInfo {
        setup: args.bench.setup(command, machine, loadgen_threads),
        workers,
        pod_transport: args.pod_transport.clone(),
        nginx_settings,
        kserve,
    };
    let markdown = table::render(&info, &result);
    args.bench.publish(
        &repo,
        SECTION,
        &markdown,
        &logs.join("gateway-results.json"),
        &result,
    )
}

/// The servers of one run, stopped together whatever happened.
#[derive(Debug, Default)]
struct Servers {
    direct: Option<ServerProcess>,
    gateway: Option<ServerProcess>,
    nginx: Option<ServerProcess>,
}

// === impl Servers ===

impl Servers {
    /// Stops nginx, then the gateway (SIGTERM: it stops its own pod), then the predictor.
    async fn stop_all(self) -> anyhow::Result<()> {
        let mut first_error = None;
        for server in [self.nginx, self.gateway, self.direct]
            .into_iter()
            .flatten()
        {
            let label = server.label().to_owned();
            match server.stop().await {
                Ok(status) => eprintln!("   {label}: stopped, {status}"),
                Err(e) => {
                    eprintln!("   {label}: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// Which path a measurement takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hop {
    Direct,
    Gateway,
    Nginx,
    /// nginx in front of a static answer served by the same nginx.
    NginxStatic,
}

/// The model, its reference, the request body, and where things go.
struct HopBench<'a> {
    args: &'a GatewayArgs,
    workers: usize,
    model_path: PathBuf,
    reference: Reference,
    case: Case,
    logs: PathBuf,
    /// Temporary files of this run (the gateway's config folder, nginx's prefix).
    scratch: PathBuf,
}

// === impl HopBench ===

impl<'a> HopBench<'a> {
    fn new(
        repo: &Path,
        args: &'a GatewayArgs,
        workers: usize,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let model_path = repo
            .join("examples/models")
            .join(format!("{}.onnx", args.model));
        anyhow::ensure!(
            model_path.is_file(),
            "model file {} not found",
            model_path.display()
        );
        let reference_path = repo
            .join("examples/reference")
            .join(format!("{}.json", args.model));
        let reference = Reference::read(&reference_path)?;
        let case = reference.batch_one(&reference_path)?.clone();
        let scratch =
            std::env::temp_dir().join(format!("infergate-bench-gateway-{}", std::process::id()));
        Ok(HopBench {
            args,
            workers,
            model_path,
            reference,
            case,
            logs: logs.to_owned(),
            scratch,
        })
    }

    /// Idle upstream connections per nginx worker: one per client at the highest c, so no
    /// request ever waits for a new upstream connection.
    fn keepalive(&self) -> usize {
        self.args.concurrency.iter().copied().max().unwrap_or(1)
    }

    /// Starts the four paths (into `servers`, so the caller stops them), checks and measures.
    async fn run(
        &self,
        servers: &mut Servers,
        bin: &Path,
        nginx_bin: Option<&Path>,
    ) -> anyhow::Result<GatewayResult> {
        let mut result = GatewayResult {
            model: self.args.model.clone(),
            ..GatewayResult::default()
        };

        let direct = servers.direct.insert(self.start_direct(bin).await?);
        result.direct.idle_rss_kib = direct.memory(Scope::Process)?.rss_kib;
        result.direct.memory_note = "the predictor process".to_owned();
        let direct_addr = direct.addr();

        let gateway = servers.gateway.insert(self.start_gateway(bin).await?);
        let gateway_addr = gateway.addr();
        ready::wait_until_ready(gateway_addr, NAMESPACE, &self.args.model, READY_TIMEOUT)
            .await
            .with_context(|| format!("gateway (log: {})", gateway.log().display()))?;
        result.gateway.idle_rss_kib = gateway.memory(Scope::Process)?.rss_kib;
        result.gateway.memory_note = "the gateway process alone, not its predictor pod".to_owned();

        // The static answer is the direct predictor's own answer to the request the load sends.
        let batch_one_answer = self.check(Hop::Direct, direct_addr).await?;
        self.check(Hop::Gateway, gateway_addr).await?;
        let mut paths = vec![(Hop::Direct, direct_addr), (Hop::Gateway, gateway_addr)];
        if let Some(nginx_bin) = nginx_bin {
            let (proxy, static_addr) = self
                .start_nginx(nginx_bin, direct_addr, &batch_one_answer)
                .await?;
            let proxy = servers.nginx.insert(proxy);
            result.nginx = Some(PathResult {
                idle_rss_kib: proxy.memory(Scope::Tree)?.rss_kib,
                memory_note: "master and workers, summed; serves both nginx paths".to_owned(),
                ..PathResult::default()
            });
            result.nginx_static = Some(ServerResult::default());
            let nginx_addr = proxy.addr();
            self.check(Hop::Nginx, nginx_addr).await?;
            self.check_static(static_addr, &batch_one_answer).await?;
            paths.extend([(Hop::Nginx, nginx_addr), (Hop::NginxStatic, static_addr)]);
        }
        for run in 1..=self.args.bench.runs {
            for &c in &self.args.concurrency {
                for &(path, addr) in &paths {
                    let report = self.load(path, addr, c, run).await?;
                    let slot = match path {
                        Hop::Direct => &mut result.direct.load,
                        Hop::Gateway => &mut result.gateway.load,
                        Hop::Nginx => &mut result.nginx.as_mut().expect("nginx was started").load,
                        Hop::NginxStatic => {
                            result.nginx_static.as_mut().expect("nginx was started")
                        }
                    };
                    slot.runs.entry(c).or_default().push(report);
                }
            }
        }

        // Peaks after the last run: the gateway alone, the predictor, nginx's whole tree.
        result.direct.load.peak_rss_kib = servers
            .direct
            .as_ref()
            .map_or(Ok(0), |s| s.memory(Scope::Process).map(|m| m.peak_kib))?;
        result.gateway.load.peak_rss_kib = servers
            .gateway
            .as_ref()
            .map_or(Ok(0), |s| s.memory(Scope::Process).map(|m| m.peak_kib))?;
        if let (Some(n), Some(proxy)) = (result.nginx.as_mut(), servers.nginx.as_ref()) {
            n.load.peak_rss_kib = proxy.memory(Scope::Tree)?.peak_kib;
            // One process served both nginx paths.
            if let Some(s) = result.nginx_static.as_mut() {
                s.peak_rss_kib = n.load.peak_rss_kib;
            }
        }
        for (label, p) in [
            ("direct", Some(&result.direct)),
            ("gateway", Some(&result.gateway)),
            ("nginx", result.nginx.as_ref()),
        ] {
            if let Some(p) = p {
                eprintln!(
                    "   {label}: idle RSS {} KiB, peak RSS {} KiB ({})",
                    p.idle_rss_kib, p.load.peak_rss_kib, p.memory_note
                );
            }
        }
        Ok(result)
    }

    async fn start_direct(&self, bin: &Path) -> anyhow::Result<ServerProcess> {
        let mut command = Command::new(bin);
        command
            .arg("predictor")
            .args(["--model-name", &self.args.model])
            .arg("--storage-uri")
            .arg(&self.model_path)
            // The flags the gateway gives its pods, so both predictors run alike.
            .args([
                "--model-format",
                "onnx",
                "--http-port",
                "0",
                "--host",
                "127.0.0.1",
            ])
            .args(["--workers", &self.workers.to_string()]);
        let log = self
            .logs
            .join(format!("gateway-bench-direct-{}.log", self.args.model));
        Ok(ServerProcess::start_with_ready_line("predictor", command, &log).await?)
    }

    async fn start_gateway(&self, bin: &Path) -> anyhow::Result<ServerProcess> {
        let config_dir = self.scratch.join("config");
        std::fs::create_dir_all(&config_dir)
            .with_context(|| format!("creating {}", config_dir.display()))?;
        let yaml = inference_service_yaml(&self.args.model, &self.model_path);
        let file = config_dir.join(format!("{}.yaml", self.args.model));
        std::fs::write(&file, yaml).with_context(|| format!("writing {}", file.display()))?;
        let mut command = server::serve_command(bin, &config_dir);
        command
            .args(["--predictor-workers", &self.workers.to_string()])
            .args(["--pod-transport", &self.args.pod_transport]);
        let log = self
            .logs
            .join(format!("gateway-bench-gateway-{}.log", self.args.model));
        Ok(ServerProcess::start_gateway(command, &log).await?)
    }

    /// Starts nginx with both proxies: to `upstream`, and to a static server that answers
    /// `static_body`. Returns nginx and the static proxy's address.
    async fn start_nginx(
        &self,
        nginx_bin: &Path,
        upstream: SocketAddr,
        static_body: &[u8],
    ) -> anyhow::Result<(ServerProcess, SocketAddr)> {
        let body = std::str::from_utf8(static_body)
            .context("the predictor's batch-1 answer is not UTF-8")?
            .to_owned();
        let static_backend = nginx::StaticBackend {
            listen: predictor::free_loopback_addr()?,
            backend: predictor::free_loopback_addr()?,
            body,
        };
        let static_addr = static_backend.listen;
        let config = nginx::NginxConfig {
            prefix: self.scratch.join("nginx"),
            listen: predictor::free_loopback_addr()?,
            upstream,
            keepalive: self.keepalive(),
            static_backend: Some(static_backend),
        };
        let log = self.logs.join("gateway-bench-nginx.log");
        // Ready when nginx answers and reaches the predictor through its upstream pool.
        let proxy = config
            .start(nginx_bin, "/v2/health/ready", &log)
            .await
            .context("nginx")?;
        Ok((proxy, static_addr))
    }

    /// Every reference case, through this path, must give the reference outputs. Returns the
    /// answer's body to the batch-1 case, the one the load sends.
    async fn check(&self, path: Hop, addr: SocketAddr) -> anyhow::Result<Bytes> {
        let mut batch_one = None;
        for case in &self.reference.cases {
            let answer = self
                .check_case(addr, case)
                .await
                .with_context(|| format!("{}: reference case `{}`", path.label(), case.name))?;
            if case.name == self.case.name {
                batch_one.get_or_insert(answer);
            }
        }
        eprintln!(
            "   {}: all {} reference cases match",
            path.label(),
            self.reference.cases.len()
        );
        Ok(batch_one.expect("the batch-1 case is one of the reference's cases"))
    }

    /// The static path has one answer, the direct predictor's to the batch-1 case: it must pass
    /// that case's reference check, and come back byte for byte.
    async fn check_static(&self, addr: SocketAddr, expected: &[u8]) -> anyhow::Result<()> {
        let label = Hop::NginxStatic.label();
        let context = || format!("{label}: reference case `{}`", self.case.name);
        let answer = self
            .check_case(addr, &self.case)
            .await
            .with_context(context)?;
        anyhow::ensure!(
            answer == expected,
            "{}: the answer differs from the body nginx was given: {:?}",
            context(),
            String::from_utf8_lossy(&answer)
        );
        eprintln!(
            "   {label}: the batch-1 reference case `{}` matches (the only answer it has)",
            self.case.name
        );
        Ok(())
    }

    /// Sends one case's request to `addr` and checks the answer; returns its body.
    async fn check_case(&self, addr: SocketAddr, case: &Case) -> anyhow::Result<Bytes> {
        let infer = format!("/v2/models/{}/infer", self.args.model);
        let config = LoadConfig::json_post(addr, infer, case.v2_request());
        let answer = load::probe(&config).await?;
        case.check_response(&answer.body)?;
        Ok(answer.body)
    }

    async fn load(
        &self,
        path: Hop,
        addr: SocketAddr,
        c: usize,
        run: usize,
    ) -> anyhow::Result<crate::load::LoadReport> {
        let config = LoadConfig {
            concurrency: c,
            warmup: Duration::from_secs_f64(self.args.bench.warmup),
            duration: Duration::from_secs_f64(self.args.bench.duration),
            expect: Some("\"outputs\"".to_owned()),
            ..LoadConfig::json_post(
                addr,
                format!("/v2/models/{}/infer", self.args.model),
                self.case.v2_request(),
            )
        };
        let r = load::run(&config).await?;
        eprintln!(
            "   {} c={c} run {run}/{}: {}",
            path.label(),
            self.args.bench.runs,
            r.summary()
        );
        r.ensure_no_errors(&format!("{} at c={c}", path.label()))?;
        Ok(r)
    }
}

// === impl Hop ===

impl Hop {
    fn label(self) -> &'static str {
        match self {
            Hop::Direct => "direct",
            Hop::Gateway => "gateway",
            Hop::Nginx => "nginx",
            Hop::NginxStatic => "nginx → static",
        }
    }
}

/// The one InferenceService the gateway serves: the model file by absolute path.
fn inference_service_yaml(name: &str, model_path: &Path) -> String {
    // The path is quoted as a YAML double-quoted string (JSON strings are valid YAML).
    let uri = serde_json::to_string(&model_path.display().to_string())
        .expect("a string always serialises");
    format!(
        "# Written by infergate-bench gateway.\n\
         apiVersion: serving.kserve.io/v1beta1\n\
         kind: InferenceService\n\
         metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n\
         spec:\n  predictor:\n    model:\n      modelFormat:\n        name: onnx\n      \
         storageUri: {uri}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inference_service_loads_in_the_gateways_own_loader() {
        for path in ["/repo/examples/models/iris.onnx", "/a b/\"q\": x/iris.onnx"] {
            let yaml = inference_service_yaml("iris", Path::new(path));
            let parsed = infergate_k8s::parse_documents(&yaml, "iris.yaml")
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(parsed.len(), 1, "{yaml}");
            assert!(parsed[0].warnings.is_empty(), "{:?}", parsed[0].warnings);
            let isvc = parsed[0].isvc.as_ref().expect("an InferenceService");
            assert_eq!(isvc.name(), "iris");
            assert_eq!(isvc.namespace(), Some(NAMESPACE));
            let model = isvc
                .spec
                .predictor
                .model
                .as_ref()
                .expect("spec.predictor.model");
            assert_eq!(model.storage_uri.as_deref(), Some(path));
            let format = model.model_format.as_ref().expect("modelFormat");
            assert_eq!(format.name, "onnx");
        }
    }
}
