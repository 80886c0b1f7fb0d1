//! `infergate`: one binary for every role.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Predictor(args) => predictor(args).await,
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

async fn predictor(args: cli::PredictorArgs) -> anyhow::Result<()> {
    let server = infergate_predictor::Server::bind(args.into_config()).await?;
    server
        .run(infergate_predictor::http::shutdown_signal(), |addr| {
            // The one line on stdout: the gateway and benches wait for it instead of polling.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "infergate-predictor ready on http://{addr}");
            let _ = out.flush();
        })
        .await?;
    Ok(())
}
