//! `infergate-bench transport`: loopback TCP vs a Unix domain socket for the gateway → pod hop.
//!
//! ```text
//! this process (hyper client, c connections) --TCP 127.0.0.1, TCP_NODELAY--> transport-server A
//! this process (hyper client, c connections) --Unix domain socket----------> transport-server B
//! ```
//!
//! Both servers are this binary, started as separate processes (like gateway and pod), answering
//! an iris-sized V2 JSON POST with an iris-sized V2 JSON response. Both clients use the same
//! `hyper::client::conn::http1` handshake over the raw stream, one keep-alive connection per
//! concurrent client, so the transport is the only difference. Runs interleave transports and
//! concurrencies; the report gives medians.

mod server;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::machine::Machine;
use crate::predictor::{self, BenchArgs};

pub use self::server::{TransportServerArgs, serve};
pub use self::table::{RunResult, Transport, TransportResult, conclusion};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "transport";
/// How long a server process may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The request body: the iris V2 example request, batch 2 (about 200 bytes).
pub const REQUEST_BODY: &str = r#"{"id":"bench","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[6.8,2.8,4.8,1.4,6.0,3.4,4.5,1.6]}],"outputs":[{"name":"label"},{"name":"probabilities"}],"parameters":{"content_type":"np"}}"#;
/// The response body: an iris V2 response, batch 2 (about 250 bytes).
pub const RESPONSE_BODY: &str = r#"{"model_name":"iris","model_version":"1","id":"bench","outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,1]},{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0.0012,0.9671,0.0317,0.0089,0.8123,0.1788]}]}"#;

/// Options of `infergate-bench transport`.
#[derive(clap::Args, Clone, Debug)]
pub struct TransportArgs {
    /// Concurrencies (closed-loop clients, one connection each) to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,
    /// Runs per concurrency and transport; the report gives medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds of load before each run's measurement starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Async runtime threads of each server process.
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,
    /// Print the table but leave BENCHMARKS.md alone.
    #[arg(long)]
    pub no_write: bool,
    /// The markdown file whose `transport` section is rewritten (relative to `--repo`).
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: PathBuf,
    /// The infergate repository (BENCHMARKS.md, target/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    pub repo: PathBuf,
}

// === impl TransportArgs ===

impl TransportArgs {
    /// The transport comparison as part of `all`: the shared options, the default concurrencies.
    pub fn for_all(bench: &BenchArgs) -> Self {
        TransportArgs {
            concurrency: vec![1, 64],
            runs: bench.runs,
            warmup: bench.warmup,
            duration: bench.duration,
            server_threads: 1,
            no_write: bench.no_write,
            output: bench.output.clone(),
            repo: bench.repo.clone(),
        }
    }

    /// These options as the other comparisons' [`BenchArgs`], for their setup and publishing.
    fn bench(&self) -> BenchArgs {
        BenchArgs {
            runs: self.runs,
            warmup: self.warmup,
            duration: self.duration,
            infergate_bin: None,
            no_write: self.no_write,
            output: self.output.clone(),
            repo: self.repo.clone(),
        }
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
pub async fn run(
    args: &TransportArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "`--concurrency` needs at least one value, each at least 1"
    );
    let bench = args.bench();
    let repo = bench.repo()?;
    let machine = Machine::current();
    let socket = std::env::temp_dir().join(format!(
        "infergate-bench-transport-{}.sock",
        std::process::id()
    ));
    let outcome = measure(args, &socket).await;
    let _ = std::fs::remove_file(&socket);
    let result = outcome?;
    let setup = bench.setup(command, machine, loadgen_threads);
    let markdown = table::render(&setup, args.server_threads, &result);
    let raw = predictor::target_dir(&repo).join("bench-logs/transport-results.json");
    bench.publish(&repo, SECTION, &markdown, &raw, &result)
}

/// Starts both servers, checks each once, and runs the interleaved closed loops.
async fn measure(args: &TransportArgs, socket: &Path) -> anyhow::Result<TransportResult> {
    let tcp_flag = ["--tcp".to_owned(), "127.0.0.1:0".to_owned()];
    let unix_flag = ["--unix".to_owned(), socket.display().to_string()];
    let (mut tcp_server, tcp_addr) = start_server(&tcp_flag, args.server_threads).await?;
    let (mut unix_server, _) = start_server(&unix_flag, args.server_threads).await?;
    let tcp_addr: SocketAddr = tcp_addr
        .parse()
        .with_context(|| format!("TCP server address {tcp_addr:?}"))?;
    let targets = [
        (Transport::Tcp, Target::Tcp(tcp_addr)),
        (Transport::Unix, Target::Unix(socket.to_owned())),
    ];
    let outcome = async {
        for (transport, target) in &targets {
            probe(target)
                .await
                .with_context(|| format!("probing the {transport} server"))?;
        }
        let mut result = TransportResult::default();
        let warmup = Duration::from_secs_f64(args.warmup);
        let duration = Duration::from_secs_f64(args.duration);
        for run in 1..=args.runs {
            for &c in &args.concurrency {
                for (transport, target) in &targets {
                    let measured = closed_loop(target, c, warmup, duration)
                        .await
                        .with_context(|| format!("{transport} at c = {c}, run {run}"))?;
                    eprintln!(
                        "   run {run}/{}, c = {c:>3}, {transport:<4}: {:>9.0} req/s, p50 {:.1} µs, p99 {:.1} µs",
                        args.runs, measured.requests_per_s, measured.p50_us, measured.p99_us
                    );
                    result.push(*transport, c, measured);
                }
            }
        }
        anyhow::Ok(result)
    }
    .await;
    let _ = tcp_server.kill().await;
    let _ = unix_server.kill().await;
    outcome
}

/// Starts `infergate-bench transport-server FLAG VALUE` and reads the address it prints.
async fn start_server(flag: &[String; 2], threads: usize) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe().context("finding this benchmark's own binary")?;
    let mut child = Command::new(&exe)
        .args([
            "--loadgen-threads",
            &threads.to_string(),
            "transport-server",
        ])
        .args(flag)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} transport-server", exe.display()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .with_context(|| format!("transport-server {flag:?} did not start in {START_TIMEOUT:?}"))?
        .context("reading the server's address")?;
    let address = line
        .trim()
        .strip_prefix("listening ")
        .with_context(|| format!("transport-server {flag:?} printed {line:?}"))?
        .to_owned();
    Ok((child, address))
}

/// Where a client connects.
#[derive(Clone, Debug)]
enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

// === impl Target ===

impl Target {
    /// One HTTP/1.1 keep-alive connection; its I/O driver runs on a spawned task.
    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        match self {
            Target::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await.context("TCP connect")?;
                stream.set_nodelay(true).context("setting TCP_NODELAY")?;
                handshake(stream).await
            }
            Target::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .with_context(|| format!("connecting to {}", path.display()))?;
                handshake(stream).await
            }
        }
    }
}

async fn handshake<S>(stream: S) -> anyhow::Result<SendRequest<Full<Bytes>>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    // A broken connection also fails the next `send_request`, which reports it.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The POST every client sends.
fn request() -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from_static(REQUEST_BODY.as_bytes())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = http::Uri::from_static("/v2/models/iris/infer");
    let headers = request.headers_mut();
    headers.insert(http::header::HOST, http::HeaderValue::from_static("pod"));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(REQUEST_BODY.len()),
    );
    request
}

/// Sends one request and reads the whole answer; a non-2xx status is an error.
async fn send(sender: &mut SendRequest<Full<Bytes>>) -> anyhow::Result<Bytes> {
    sender.ready().await.context("connection closed")?;
    let response = sender.send_request(request()).await.context("send")?;
    let status = response.status();
    let body = response.into_body().collect().await.context("body")?;
    anyhow::ensure!(status.is_success(), "the server answered {status}");
    Ok(body.to_bytes())
}

/// One request on a fresh connection, whose answer must be the fixed response.
async fn probe(target: &Target) -> anyhow::Result<()> {
    let body = send(&mut target.connect().await?).await?;
    anyhow::ensure!(
        body == RESPONSE_BODY.as_bytes(),
        "unexpected response body {:?}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

/// `c` clients, one connection each, sending back to back; requests that start inside the
/// window after `warmup` are timed, the ones in flight at its end are waited for.
async fn closed_loop(
    target: &Target,
    c: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RunResult> {
    let measure_from = Instant::now() + warmup;
    let stop_at = measure_from + duration;
    let clients: Vec<_> = (0..c)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut sender = target.connect().await?;
                let mut latencies = table::new_histogram();
                let mut last_end = None;
                loop {
                    let start = Instant::now();
                    if start >= stop_at {
                        break;
                    }
                    send(&mut sender).await?;
                    let end = Instant::now();
                    if start >= measure_from {
                        let nanos =
                            u64::try_from(end.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
                        latencies.saturating_record(nanos.max(1));
                        last_end = Some(end);
                    }
                }
                anyhow::Ok((latencies, last_end))
            })
        })
        .collect();
    let mut merged: Histogram<u64> = table::new_histogram();
    let mut last = None;
    for client in clients {
        let (latencies, last_end) = client.await.context("client task")??;
        merged.add(&latencies).context("merging histograms")?;
        last = last.max(last_end);
    }
    let elapsed = last.map_or(duration, |end| end.saturating_duration_since(measure_from));
    Ok(RunResult::from_histogram(&merged, elapsed))
}

#[cfg(test)]
mod tests;
