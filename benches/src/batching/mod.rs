//! `infergate-bench batching`: the MLP predictor with dynamic batching on vs off.
//!
//! ```text
//! infergate predictor (mlp, batching off)  <- closed loop, c clients, batch-1 V2 JSON
//! infergate predictor (mlp, --max-batch-size N --max-batch-delay-ms D)  <- the same load
//! ```
//!
//! Both predictors (the release binary) run at once, each checked first against every case of
//! `examples/reference/mlp.json`; the runs alternate between them (off, on, off, on, ...) so
//! slow drift of a shared machine spreads over both. After the runs, the batched predictor's own
//! `/metrics` give the mean batch size and the mean time of one model call (one batch), which
//! bound the latency the batcher may add: p99 should stay within the delay plus that.

mod table;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::process::Command;

use crate::load::{self, LoadConfig};
use crate::machine::Machine;
use crate::predictor::{self, BenchArgs, Case, Reference};
use crate::server::ServerProcess;

pub use self::table::{BatchStats, BatchingResult, Mode};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "batching";
/// The model: big enough that batching pays (784-512-512-10 MatMuls), small enough for a CPU.
const MODEL: &str = "mlp";

/// Options of `infergate-bench batching`.
#[derive(clap::Args, Clone, Debug)]
pub struct BatchingArgs {
    /// Closed-loop clients, one connection each.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// `--max-batch-size` of the batched predictor.
    #[arg(long, default_value_t = 32)]
    pub max_batch_size: usize,
    /// `--max-batch-delay-ms` of the batched predictor.
    #[arg(long, default_value_t = 0)]
    pub max_batch_delay_ms: u64,
    /// `--workers` of both predictors; default: the predictor's own default.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Send the input as binary tensor data (V2 extension) instead of JSON numbers, so that
    /// decoding 784 JSON floats does not hide what batching saves in the model.
    #[arg(long)]
    pub binary: bool,
    #[command(flatten)]
    pub bench: BenchArgs,
}

// === impl BatchingArgs ===

impl BatchingArgs {
    /// The batching comparison as part of `all`: the shared options, the default settings.
    pub fn for_all(bench: &BenchArgs) -> Self {
        BatchingArgs {
            concurrency: 64,
            max_batch_size: 32,
            max_batch_delay_ms: 0,
            workers: None,
            binary: false,
            bench: bench.clone(),
        }
    }

    /// The `infergate predictor` flags of `mode`, after the model and address.
    fn flags(&self, mode: Mode) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(workers) = self.workers {
            flags.extend(["--workers".to_owned(), workers.to_string()]);
        }
        if mode == Mode::On {
            flags.extend([
                "--max-batch-size".to_owned(),
                self.max_batch_size.to_string(),
                "--max-batch-delay-ms".to_owned(),
                self.max_batch_delay_ms.to_string(),
            ]);
        }
        flags
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
pub async fn run(
    args: &BatchingArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.bench.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(args.concurrency >= 1, "`--concurrency` must be at least 1");
    anyhow::ensure!(
        args.max_batch_size >= 2,
        "`--max-batch-size` must be at least 2 (1 is batching off)"
    );
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let logs = predictor::target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let model_path = repo.join("examples/models").join(format!("{MODEL}.onnx"));
    let reference_path = repo
        .join("examples/reference")
        .join(format!("{MODEL}.json"));
    let reference = Reference::read(&reference_path)?;
    let case = reference.batch_one(&reference_path)?;
    let body = if args.binary {
        binary_request(case)?
    } else {
        (case.v2_request(), None)
    };

    let mut servers = Vec::new();
    for mode in [Mode::Off, Mode::On] {
        let mut command = Command::new(&bin);
        command
            .arg("predictor")
            .args([
                "--model-name",
                MODEL,
                "--http-port",
                "0",
                "--host",
                "127.0.0.1",
            ])
            .arg("--storage-uri")
            .arg(&model_path)
            .args(args.flags(mode));
        let log = logs.join(format!("batching-{mode}.log"));
        let server = ServerProcess::start_with_ready_line(&mode.label(), command, &log).await?;
        servers.push((mode, server));
    }
    let outcome = measure(args, &servers, &reference, body).await;
    for (_, server) in servers {
        server.stop().await?;
    }
    let mut result = outcome?;
    result.settings = format!(
        "`infergate predictor` (release) serving examples/models/mlp.onnx, {}; batching on = \
         `{}`; requests: the reference's batch-1 case as {}",
        args.workers
            .map_or("default workers".to_owned(), |w| format!("`--workers {w}`")),
        args.flags(Mode::On).join(" "),
        if args.binary {
            "binary tensor data (the V2 extension)"
        } else {
            "V2 JSON"
        }
    );
    let setup = args.bench.setup(command, machine, loadgen_threads);
    let markdown = table::render(&setup, &result);
    let raw = logs.join("batching-results.json");
    args.bench.publish(&repo, SECTION, &markdown, &raw, &result)
}

/// Checks both servers against the reference, runs the alternating loads, reads the batches.
async fn measure(
    args: &BatchingArgs,
    servers: &[(Mode, ServerProcess)],
    reference: &Reference,
    (body, header_len): (Bytes, Option<usize>),
) -> anyhow::Result<BatchingResult> {
    let path = format!("/v2/models/{MODEL}/infer");
    for (mode, server) in servers {
        for case in &reference.cases {
            let config = LoadConfig::json_post(server.addr(), path.as_str(), case.v2_request());
            let answer = load::probe(&config).await?;
            case.check_response(&answer.body)
                .with_context(|| format!("{} against the reference", mode.label()))?;
        }
    }
    eprintln!(
        "== batching: both predictors match all {} reference cases; measuring at c={}",
        reference.cases.len(),
        args.concurrency
    );
    let mut result = BatchingResult {
        concurrency: args.concurrency,
        max_batch_size: args.max_batch_size,
        max_batch_delay_ms: args.max_batch_delay_ms,
        ..BatchingResult::default()
    };
    for run in 1..=args.bench.runs {
        for (mode, server) in servers {
            let mut config = LoadConfig {
                concurrency: args.concurrency,
                warmup: Duration::from_secs_f64(args.bench.warmup),
                duration: Duration::from_secs_f64(args.bench.duration),
                expect: Some("\"outputs\"".to_owned()),
                ..LoadConfig::json_post(server.addr(), path.as_str(), body.clone())
            };
            if let Some(len) = header_len {
                config.headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/octet-stream"),
                );
                config.headers.insert(
                    http::HeaderName::from_static("inference-header-content-length"),
                    http::HeaderValue::from(len),
                );
            }
            let report = load::run(&config).await?;
            eprintln!(
                "   {} run {run}/{}: {}",
                mode.label(),
                args.bench.runs,
                report.summary()
            );
            report.ensure_no_errors(&mode.label())?;
            result.runs.entry(*mode).or_default().push(report);
        }
    }
    for (mode, server) in servers {
        let text = get_metrics(server.addr())
            .await
            .with_context(|| format!("reading {}'s /metrics", mode.label()))?;
        result.batches.insert(*mode, BatchStats::parse(&text)?);
    }
    Ok(result)
}

/// The case's one FP32 input as a V2 binary-extension body, and its JSON header's length.
fn binary_request(case: &Case) -> anyhow::Result<(Bytes, Option<usize>)> {
    let (name, tensor) = match case.inputs.iter().collect::<Vec<_>>().as_slice() {
        [(name, tensor)] if tensor.datatype == "FP32" => (*name, *tensor),
        _ => anyhow::bail!("case `{}` must have exactly one FP32 input", case.name),
    };
    let data: Vec<u8> = tensor
        .data
        .iter()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect();
    let header = serde_json::json!({"inputs": [{
        "name": name, "shape": tensor.shape, "datatype": "FP32",
        "parameters": {"binary_data_size": data.len()},
    }]});
    let mut body = serde_json::to_vec(&header)?;
    let header_len = body.len();
    body.extend_from_slice(&data);
    Ok((Bytes::from(body), Some(header_len)))
}

/// `GET /metrics` of a predictor, on a connection of its own.
async fn get_metrics(addr: SocketAddr) -> anyhow::Result<String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .context("connect")?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    let driver = tokio::spawn(connection);
    let request = Request::get("/metrics")
        .header(http::header::HOST, "predictor")
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .context("no answer in 10 s")?
        .context("send")?;
    anyhow::ensure!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let body = response
        .into_body()
        .collect()
        .await
        .context("body")?
        .to_bytes();
    driver.abort();
    String::from_utf8(body.to_vec()).context("the exposition is not UTF-8")
}
