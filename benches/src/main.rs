//! `infergate-bench`: the load generator and the comparisons that write BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p infergate-benches -- load --url http://127.0.0.1:8080/v2/models/iris/infer \
//!     --body examples/requests/iris-v2.json -c 8
//! cargo run --release -p infergate-benches -- predictor     # infergate vs KServe, rewrites BENCHMARKS.md
//! cargo run --release -p infergate-benches -- gateway       # the gateway hop vs direct vs nginx
//! cargo run --release -p infergate-benches -- transport     # loopback TCP vs Unix socket
//! cargo run --release -p infergate-benches -- batching      # MLP, dynamic batching on vs off
//! cargo run --release -p infergate-benches -- coldstart     # scale from zero: first answer, ramp
//! cargo run --release -p infergate-benches -- monitoring    # in-gateway monitoring on vs off
//! cargo run --release -p infergate-benches -- transformer   # iris with vs without its transformer
//! cargo run --release -p infergate-benches -- all           # every comparison that exists
//! ```

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::{HeaderName, HeaderValue, Uri};

use infergate_benches::batching::{self, BatchingArgs};
use infergate_benches::coldstart::{self, ColdstartArgs};
use infergate_benches::gateway::{self, GatewayArgs, KserveBaseline, NginxArgs};
use infergate_benches::load::{self, LoadConfig};
use infergate_benches::monitoring::{self, MonitoringArgs};
use infergate_benches::predictor::{self, PredictorArgs};
use infergate_benches::transformer::{self, TransformerArgs};
use infergate_benches::transport::{self, TransportArgs, TransportServerArgs};

#[derive(Parser, Debug)]
#[command(
    name = "infergate-bench",
    version,
    about = "infergate's load generator and benchmarks"
)]
struct Cli {
    /// Threads of the load generator's async runtime (the server under test shares the machine).
    #[arg(long, global = true, default_value_t = 1)]
    loadgen_threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Closed-loop load against one HTTP/1.1 endpoint on this machine.
    Load(LoadArgs),
    /// infergate's predictor vs KServe's ModelServer (and the in-process floor).
    Predictor(PredictorArgs),
    /// The gateway hop: iris through `infergate serve` vs the predictor directly vs nginx (in
    /// front of the predictor, and of a static answer).
    Gateway(GatewayArgs),
    /// Loopback TCP vs a Unix domain socket between a hyper client and a hyper server process.
    Transport(TransportArgs),
    /// The MLP predictor with dynamic batching on vs off, at c = 64.
    Batching(BatchingArgs),
    /// Cold starts from zero replicas through `infergate serve` (iris, MLP), and a ramp from zero.
    Coldstart(ColdstartArgs),
    /// In-gateway monitoring on (sample ratio 1) vs off through `infergate serve`, iris and MLP
    /// at c = 64.
    Monitoring(MonitoringArgs),
    /// Iris through `infergate serve` with its WebAssembly transformer (V1 named features in,
    /// class names out) vs without (V2), at c = 1 and 64: the latency the transformer adds.
    Transformer(TransformerArgs),
    /// The server side of `transport` (started by it, in its own process).
    #[command(hide = true)]
    TransportServer(TransportServerArgs),
    /// Every comparison that exists: `predictor`, `gateway`, `transport`, `batching`,
    /// `coldstart`, `monitoring`, then `transformer` (which take `--runs`, `--warmup`, `--duration`, `--infergate-*`, `--no-write`,
    /// `--output` and `--repo` from here).
    All(AllArgs),
}

#[derive(clap::Args, Debug)]
struct AllArgs {
    #[command(flatten)]
    predictor: PredictorArgs,
    /// Concurrencies of the gateway comparison.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    gateway_concurrency: Vec<usize>,
    #[command(flatten)]
    nginx: NginxArgs,
}

#[derive(clap::Args, Debug)]
struct LoadArgs {
    /// Where to POST, e.g. http://127.0.0.1:8080/v2/models/iris/infer (an IP address, not a name).
    #[arg(long)]
    url: String,
    /// File whose bytes are the request body.
    #[arg(long)]
    body: PathBuf,
    /// Extra request header `name: value` (repeatable); content-type is application/json unless set.
    #[arg(short = 'H', long = "header", value_parser = load::parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Concurrent closed-loop clients, one connection each.
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Text the first response's body must contain, e.g. '"outputs"'.
    #[arg(long)]
    expect: Option<String>,
    /// Print the report as JSON (for scripts) instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.loadgen_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Load(args) => run_load(args).await,
            Command::Predictor(args) => {
                predictor::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|_| true)
            }
            Command::Gateway(args) => gateway::run(
                &args,
                KserveBaseline::standalone(),
                cli.loadgen_threads,
                reproduce_command(),
            )
            .await
            .map(|()| true),
            Command::Batching(args) => {
                batching::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|()| true)
            }
            Command::Coldstart(args) => {
                coldstart::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|()| true)
            }
            Command::Monitoring(args) => {
                monitoring::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|()| true)
            }
            Command::Transformer(args) => {
                transformer::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|()| true)
            }
            Command::Transport(args) => {
                transport::run(&args, cli.loadgen_threads, reproduce_command())
                    .await
                    .map(|()| true)
            }
            Command::TransportServer(args) => transport::serve(&args).await.map(|()| true),
            Command::All(args) => run_all(args, cli.loadgen_threads).await.map(|()| true),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every comparison, one after the other; each writes its own BENCHMARKS.md section.
async fn run_all(args: AllArgs, loadgen_threads: usize) -> anyhow::Result<()> {
    let command = reproduce_command();
    let gateway_args = GatewayArgs::for_all(&args.predictor, args.gateway_concurrency, args.nginx);
    let transport_args = TransportArgs::for_all(&args.predictor.bench);
    let batching_args = BatchingArgs {
        workers: args.predictor.infergate_workers,
        ..BatchingArgs::for_all(&args.predictor.bench)
    };
    let coldstart_args = ColdstartArgs::for_all(&args.predictor.bench);
    let monitoring_args =
        MonitoringArgs::for_all(&args.predictor.bench, args.predictor.infergate_workers);
    let transformer_args =
        TransformerArgs::for_all(&args.predictor.bench, args.predictor.infergate_workers);
    let predictor_run = predictor::run(&args.predictor, loadgen_threads, command.clone()).await?;
    // The gateway section compares with KServe's numbers from this very run.
    let kserve = KserveBaseline::from_predictor(&predictor_run, &gateway_args.model);
    gateway::run(&gateway_args, kserve, loadgen_threads, command.clone()).await?;
    transport::run(&transport_args, loadgen_threads, command.clone()).await?;
    batching::run(&batching_args, loadgen_threads, command.clone()).await?;
    coldstart::run(&coldstart_args, loadgen_threads, command.clone()).await?;
    monitoring::run(&monitoring_args, loadgen_threads, command.clone()).await?;
    transformer::run(&transformer_args, loadgen_threads, command).await
}

/// Runs `load`; `Ok(false)` when the run had errors (the report is printed either way).
async fn run_load(args: LoadArgs) -> anyhow::Result<bool> {
    let uri: Uri = args
        .url
        .parse()
        .with_context(|| format!("--url {:?}", args.url))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "--url must start with http://"
    );
    let host = uri.host().context("--url has no host")?;
    let ip: IpAddr = match host {
        "localhost" => Ipv4Addr::LOCALHOST.into(),
        other => other.trim_matches(['[', ']']).parse().with_context(|| {
            format!("--url host {other:?} must be an IP address (the benchmarks stay on loopback)")
        })?,
    };
    let addr = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let body =
        std::fs::read(&args.body).with_context(|| format!("--body {}", args.body.display()))?;
    let mut config = LoadConfig {
        concurrency: args.concurrency,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        expect: args.expect,
        ..LoadConfig::json_post(addr, path, Bytes::from(body))
    };
    for (name, value) in args.headers {
        config.headers.insert(name, value);
    }
    let report = load::run(&config).await?;
    // writeln! rather than println!, so a closed pipe (`| head`) is an error, not a panic.
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(stdout, "{report}")?;
    }
    Ok(report.errors.total() == 0)
}

/// How to run this invocation again from the repository root.
fn reproduce_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p infergate-benches -- {}",
        args.join(" ")
    )
}
