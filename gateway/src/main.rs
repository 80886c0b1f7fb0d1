//! `infergate`: one binary for every role.

mod cli;
mod verbs;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, GetWhat};

/// mimalloc rather than the system allocator: +10-15 % requests/s through the gateway at c=64
/// (BENCHMARKS.md, gateway hop). The predictor pods run this binary too.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Predictor(args) = &cli.command {
        limit_rayon_threads(args.intra_op_threads);
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var_os(infergate_gateway::pods::POD_LOGS_ENV).is_some() {
        // A pod of `infergate serve`: the gateway timestamps and labels each line.
        logs.without_time()
            .with_target(false)
            .with_ansi(false)
            .init();
    } else {
        // Colours only on a terminal: log files and pipes get plain text.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = runtime_threads(&cli.command) {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Predictor(args) => predictor(args).await,
            Command::Apply(args) => verbs::apply(args).await,
            Command::Get(args) => match args.what {
                GetWhat::Inferenceservice(args) => verbs::get_isvc(args).await,
                GetWhat::Revisions(args) => verbs::get_revisions(args).await,
            },
            Command::Delete(args) => verbs::delete(args).await,
            Command::Rollback(args) => verbs::rollback(args).await,
            Command::Monitor(args) => monitor(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime's worker threads for `command`; `None` for tokio's default (one per core).
///
/// A proxy or model server that shares the machine with its peers does better with fewer
/// runtime threads than cores: every extra thread adds cross-core wake-ups (BENCHMARKS.md,
/// runtime threads).
fn runtime_threads(command: &Command) -> Option<usize> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    match command {
        Command::Serve(args) => Some(args.threads.unwrap_or(cores / 2).max(1)),
        // The HTTP side of a model server is light next to inference on the --workers threads.
        Command::Predictor(args) => Some(args.http_threads.unwrap_or(cores / 4).max(1)),
        Command::Monitor(args) => Some(args.threads.unwrap_or(cores / 2).max(1)),
        _ => None,
    }
}

/// candle's matmul splits its work by `RAYON_NUM_THREADS` on every call, whatever pool it runs
/// in; left unset on a small machine it oversubscribes the cores (1.8x slower per text). Match it
/// to the predictor's intra-op threads unless the user set it.
fn limit_rayon_threads(threads: usize) {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, before the async runtime or any other thread
        // exists, so nothing can read the environment concurrently.
        #[expect(
            unsafe_code,
            reason = "set_var is unsafe in edition 2024; the process is still single-threaded here"
        )]
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string());
        }
    }
}

/// The cluster-wide autoscaler settings from `serve`'s flags.
fn autoscaler_defaults(args: &cli::ServeArgs) -> infergate_gateway::controller::AutoscalerDefaults {
    let defaults = infergate_gateway::controller::AutoscalerDefaults::default();
    infergate_gateway::controller::AutoscalerDefaults {
        tick_interval: args.autoscaler_tick,
        sample_interval: defaults.sample_interval.min(args.autoscaler_tick),
        scale_to_zero_grace_period: args.scale_to_zero_grace_period,
        max_replicas: args.max_replicas.unwrap_or(defaults.max_replicas),
        activator: infergate_autoscaler::ActivatorConfig {
            queue_depth: args.activator_queue_depth,
            max_wait: args.activator_max_wait,
            ..defaults.activator
        },
    }
}

async fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    let autoscaling = autoscaler_defaults(&args);
    let config = infergate_gateway::serve::ServeConfig {
        config_dir: args.config,
        state_file: None,
        http: std::net::SocketAddr::new(args.host, args.http_port),
        metrics: Some(std::net::SocketAddr::new(args.host, args.metrics_port)),
        domain: args.domain,
        binary: None,
        predictor_workers: args.predictor_workers,
        pod_transport: args.pod_transport,
        max_body_bytes: args.max_body_bytes,
        drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
        autoscaling,
    };
    infergate_gateway::serve::serve(
        config,
        infergate_predictor::http::shutdown_signal(),
        |addr, metrics| {
            // Machine-readable lines on stdout: the gateway first, then where to scrape it.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "infergate ready on http://{addr}");
            if let Some(metrics) = metrics {
                let _ = writeln!(out, "infergate metrics on http://{metrics}/metrics");
            }
            let _ = out.flush();
        },
    )
    .await
}

async fn monitor(args: cli::MonitorArgs) -> anyhow::Result<()> {
    let config = infergate_monitor::standalone::StandaloneConfig {
        upstream: args.upstream,
        http: std::net::SocketAddr::new(args.host, args.http_port),
        metrics: Some(std::net::SocketAddr::new(args.host, args.metrics_port)),
        config_file: args.config,
        max_body_bytes: args.max_body_bytes,
        drain_timeout: std::time::Duration::from_secs(args.drain_timeout),
    };
    infergate_monitor::standalone::run(
        config,
        infergate_predictor::http::shutdown_signal(),
        |addr, metrics| {
            // Machine-readable lines on stdout, as `serve` prints them.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "infergate monitor ready on http://{addr}");
            if let Some(metrics) = metrics {
                let _ = writeln!(out, "infergate metrics on http://{metrics}/metrics");
            }
            let _ = out.flush();
        },
    )
    .await
}

async fn predictor(args: cli::PredictorArgs) -> anyhow::Result<()> {
    let server = infergate_predictor::Server::bind(args.into_config()).await?;
    server
        .run(infergate_predictor::http::shutdown_signal(), |addr| {
            // The one line on stdout: the gateway and benches wait for it instead of polling.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "infergate-predictor ready on {addr}");
            let _ = out.flush();
        })
        .await?;
    Ok(())
}
