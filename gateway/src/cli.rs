//! The `infergate` command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use infergate_predictor::{BatchConfig, ModelFormat, QueuePolicy};

/// infergate: serve ONNX and Hugging Face models over KServe V1 and the Open Inference
/// Protocol (V2), one fast binary.
#[derive(Debug, Parser)]
#[command(name = "infergate", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more detail.\n\
Run `infergate <COMMAND> --help` for a command's options and examples."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve every InferenceService in a folder: the gateway, revisions and local predictor pods.
    Serve(ServeArgs),
    /// Serve one model over HTTP (KServe V1 and Open Inference Protocol V2): one model-server "pod".
    Predictor(PredictorArgs),
    /// Create or update InferenceServices from a YAML file (through a running `infergate serve`).
    Apply(ApplyArgs),
    /// Show InferenceServices or their revisions.
    Get(GetArgs),
    /// Delete an InferenceService.
    Delete(DeleteArgs),
    /// Send all traffic back to the previous rolled-out revision (sets canaryTrafficPercent: 0).
    Rollback(RollbackArgs),
    /// Run the monitoring proxy alone in front of any V1/V2 model server (KServe, Triton,
    /// MLServer): RED metrics, prediction and feature distributions, drift.
    Monitor(MonitorArgs),
}

/// `infergate serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # serve the examples (iris, MLP, MiniLM) on :8080
  infergate serve --config examples/

  curl -s localhost:8080/v2/models/iris/infer -d @examples/requests/iris-v2.json
  curl -s -H 'Host: iris.default.example.com' localhost:8080/v1/models/iris:predict \\
       -d '{\"instances\": [[6.8, 2.8, 4.8, 1.4]]}'

Every *.yaml file in the folder is an InferenceService (KServe's serving.kserve.io/v1beta1 YAML).
Edit a file, or run `infergate apply -f FILE`, and a new revision rolls out: blue/green by
default, or a canary with spec.predictor.canaryTrafficPercent. Revision history lives in
<config>/.infergate/state.json, so a restart brings the same revisions back.")]
pub(crate) struct ServeArgs {
    /// The folder of InferenceService YAML files (watched for changes).
    #[arg(long, default_value = ".")]
    pub(crate) config: PathBuf,

    /// Port of the gateway (models under /v1 and /v2, the admin API under /admin/).
    #[arg(long, default_value_t = 8080)]
    pub(crate) http_port: u16,

    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,

    /// Port of the Prometheus metrics endpoint (/metrics); 0 picks a free port.
    #[arg(long, default_value_t = 9090)]
    pub(crate) metrics_port: u16,

    /// Host-based routing answers {name}.{namespace}.{domain}.
    #[arg(long, default_value = "example.com")]
    pub(crate) domain: String,

    /// Inference worker threads per predictor replica [default: the predictor's default].
    #[arg(long)]
    pub(crate) predictor_workers: Option<usize>,

    /// Threads of the gateway's own async runtime [default: half the cores, at least 1; the
    /// predictor pods on the same machine need the rest].
    #[arg(long)]
    pub(crate) threads: Option<usize>,

    /// How the gateway reaches its predictor pods: `unix` (a Unix socket per pod in a private
    /// folder; faster) or `tcp` (loopback TCP).
    #[arg(long, default_value_t = infergate_gateway::pods::PodTransport::default())]
    pub(crate) pod_transport: infergate_gateway::pods::PodTransport,

    /// Largest request body in bytes; larger gets 413.
    #[arg(long, default_value_t = infergate_predictor::config::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body_bytes: usize,

    /// Seconds in-flight requests get to finish on shutdown or when a replica is retired.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout: u64,

    /// Requests each revision's activator holds while the revision has no free replica
    /// (scaling from zero, or every replica at containerConcurrency); past it: 503 + Retry-After.
    #[arg(long, default_value_t = infergate_autoscaler::default_queue_depth(), help_heading = "Autoscaling")]
    pub(crate) activator_queue_depth: usize,

    /// Longest a request waits in the activator before a 503 (a Go duration: 500ms, 60s, 1m).
    #[arg(long, default_value = "60s", value_parser = duration("--activator-max-wait"), help_heading = "Autoscaling")]
    pub(crate) activator_max_wait: Duration,

    /// How long an idle revision with minReplicas 0 keeps its last replica after the autoscaler
    /// decided it is inactive (Knative's scale-to-zero-grace-period).
    #[arg(long, default_value = "30s", value_parser = duration("--scale-to-zero-grace-period"), help_heading = "Autoscaling")]
    pub(crate) scale_to_zero_grace_period: Duration,

    /// How often the autoscaler decides replicas (Knative: 2s). Per-revision windows come from
    /// the autoscaling.knative.dev/window annotation (default 60s, at least 6s).
    #[arg(long, default_value = "2s", value_parser = duration("--autoscaler-tick"), help_heading = "Autoscaling")]
    pub(crate) autoscaler_tick: Duration,

    /// Replicas per revision when its maxReplicas is unset [default: the number of CPU cores].
    #[arg(long, help_heading = "Autoscaling")]
    pub(crate) max_replicas: Option<u32>,
}

/// A clap parser of Go durations (`500ms`, `60s`, `1m30s`) for `flag`.
fn duration(flag: &'static str) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |value| infergate_autoscaler::parse_duration(flag, value).map_err(|e| e.to_string())
}

/// `infergate monitor`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # monitor a KServe ModelServer on :8081; clients call :8080, Prometheus scrapes :9090
  infergate monitor --upstream http://127.0.0.1:8081 --config monitor.yaml

Every request is forwarded; V1 :predict and V2 /infer exchanges are also recorded (sampled per
model). monitor.yaml (optional) names per-model settings: class names, a reference file, the
drift window and thresholds (see dashboards/README.md).")]
pub(crate) struct MonitorArgs {
    /// The model server to forward to, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub(crate) upstream: http::Uri,

    /// Port of the proxy.
    #[arg(long, default_value_t = 8080)]
    pub(crate) http_port: u16,

    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,

    /// Port of the Prometheus metrics endpoint (/metrics); 0 picks a free port.
    #[arg(long, default_value_t = 9090)]
    pub(crate) metrics_port: u16,

    /// Threads of the proxy's async runtime [default: half the cores, at least 1; the
    /// upstream server usually shares the machine].
    #[arg(long)]
    pub(crate) threads: Option<usize>,

    /// Monitoring settings per model (YAML) [default: every model with the default settings].
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,

    /// Largest request body in bytes; larger gets 413.
    #[arg(long, default_value_t = infergate_predictor::config::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body_bytes: usize,

    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain_timeout: u64,
}

/// Where the client verbs find the gateway.
#[derive(Debug, Args)]
pub(crate) struct ServerArg {
    /// The URL of a running `infergate serve`.
    #[arg(
        long,
        env = "INFERGATE_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub(crate) server: String,
}

/// `infergate apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The YAML file (one or more InferenceServices); `-` reads standard input.
    #[arg(short = 'f', long = "filename")]
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) server: ServerArg,
}

/// `infergate get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    #[command(subcommand)]
    pub(crate) what: GetWhat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GetWhat {
    /// InferenceServices: NAME URL READY PREV LATEST REVISIONS REPLICAS AGE.
    #[command(visible_alias = "isvc", visible_alias = "inferenceservices")]
    Inferenceservice(GetIsvcArgs),
    /// The revisions of one InferenceService, newest first.
    #[command(visible_alias = "revision", visible_alias = "rev")]
    Revisions(GetRevisionsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GetIsvcArgs {
    /// Only this one.
    pub(crate) name: Option<String>,
    /// The namespace (default: every namespace when listing, `default` for one name).
    #[arg(short, long)]
    pub(crate) namespace: Option<String>,
    /// Output format: a table, or the whole object with status.
    #[arg(short, long, value_parser = ["yaml", "json"])]
    pub(crate) output: Option<String>,
    #[command(flatten)]
    pub(crate) server: ServerArg,
}

/// One InferenceService of a running gateway: `NAME`, `-n/--namespace` and `--server`, the
/// arguments of every verb that acts on one service.
#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    pub(crate) name: String,
    #[arg(short, long, default_value = "default")]
    pub(crate) namespace: String,
    #[command(flatten)]
    pub(crate) server: ServerArg,
}

#[derive(Debug, Args)]
pub(crate) struct GetRevisionsArgs {
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
}

/// `infergate delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// `isvc` (inferenceservice).
    #[arg(value_parser = ["isvc", "inferenceservice", "inferenceservices"])]
    pub(crate) kind: String,
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
}

/// `infergate rollback`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
}

// === impl ServiceArgs ===

impl ServiceArgs {
    /// The service's path in the gateway's admin API.
    pub(crate) fn admin_path(&self) -> String {
        format!(
            "/admin/v1/namespaces/{}/inferenceservices/{}",
            self.namespace, self.name
        )
    }

    /// The URL of the running `infergate serve`.
    pub(crate) fn server(&self) -> &str {
        &self.server.server
    }
}

/// `infergate predictor`: KServe's model-server flags, in kebab-case.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  # serve the iris classifier on port 8080
  infergate predictor --model-name iris --storage-uri examples/models/iris.onnx

  # serve MiniLM sentence embeddings (scripts/setup.sh fetches the model)
  infergate predictor --model-name minilm --storage-uri examples/models/minilm --http-port 8081

  # batch the MLP: up to 32 rows per model call, holding a request at most 2 ms for company
  infergate predictor --model-name mlp --storage-uri examples/models/mlp.onnx \\
      --max-batch-size 32 --max-batch-delay-ms 2

  # then
  curl -s localhost:8080/v2/models/iris/infer -d @examples/requests/iris-v2.json
  curl -s localhost:8080/v1/models/iris:predict -d '{\"instances\": [[6.8, 2.8, 4.8, 1.4]]}'

When the model is loaded and has answered one warm-up inference, the predictor prints one line to
stdout: `infergate-predictor ready on http://HOST:PORT` (or `... ready on unix:PATH` with
--unix-socket). SIGTERM drains in-flight requests.")]
pub(crate) struct PredictorArgs {
    /// The name clients use in URLs: /v2/models/NAME/infer, /v1/models/NAME:predict.
    #[arg(long)]
    pub(crate) model_name: String,

    /// Where the model is: a path or file:// URI to an .onnx file, a directory holding one
    /// .onnx file, or a Hugging Face model directory (config.json, model.safetensors,
    /// tokenizer.json).
    #[arg(long)]
    pub(crate) storage_uri: String,

    /// The model format [default: inferred: .onnx files are onnx, directories with
    /// config.json + model.safetensors are huggingface].
    #[arg(long, value_parser = parse_format)]
    pub(crate) model_format: Option<ModelFormat>,

    /// The model version to serve at /v2/models/NAME/versions/VERSION (optional).
    #[arg(long)]
    pub(crate) model_version: Option<String>,

    /// Port for HTTP (0 picks a free port).
    #[arg(long, default_value_t = 8080)]
    pub(crate) http_port: u16,

    /// Address to listen on (0.0.0.0 for every interface, e.g. in a container).
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,

    /// Listen on this Unix domain socket instead of HOST:PORT (a stale socket file there is
    /// replaced; the file is removed on exit).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["http_port", "host"])]
    pub(crate) unix_socket: Option<PathBuf>,

    /// Inference worker threads, each with its own model session [default: number of cores].
    #[arg(long)]
    pub(crate) workers: Option<usize>,

    /// Threads one inference may use inside an operator; keep workers x this <= cores.
    #[arg(long, default_value_t = 1)]
    pub(crate) intra_op_threads: usize,

    /// Threads of the async runtime that serves HTTP (sockets, parsing, JSON); inference runs on
    /// the --workers threads [default: a quarter of the cores, at least 1: on 2 cores one HTTP
    /// thread served 1.4x the requests/s of two, BENCHMARKS.md, predictor runtime threads].
    #[arg(long)]
    pub(crate) http_threads: Option<usize>,

    /// Requests that may wait for a free worker (with batching, for their batch); what happens
    /// to the next one is --queue-policy's choice.
    #[arg(long, visible_alias = "max-queue-size", default_value_t = 1024)]
    pub(crate) max_queue: usize,

    /// What a request does when --max-queue requests are already waiting: `reject` answers at
    /// once with 503 and Retry-After (clients back off and retry elsewhere); `delay` holds it
    /// until a place frees up (back-pressure, bounded only by the client's timeout).
    #[arg(
        long,
        default_value_t = QueuePolicy::Reject,
        value_name = "reject|delay",
        value_parser = parse_queue_policy
    )]
    pub(crate) queue_policy: QueuePolicy,

    /// Most rows (first-dimension entries) in one model call. Requests whose inputs agree on
    /// everything but the first dimension are concatenated along it, run once and split back, so
    /// each gets exactly its own answer; others run alone. 1 turns batching off. Needs a model
    /// whose inputs and outputs all have a dynamic first dimension (-1). KServe:
    /// batcher.maxBatchSize.
    #[arg(long, default_value_t = 1, help_heading = "Dynamic batching")]
    pub(crate) max_batch_size: usize,

    /// Longest the oldest queued request waits for its batch to fill, in milliseconds. With 0, a
    /// free worker takes whatever is queued at once: an idle server adds no latency and batches
    /// grow by themselves under load. Raise it (1-5 ms) to trade latency for bigger batches at
    /// moderate load. KServe: batcher.maxLatency.
    #[arg(
        long,
        visible_alias = "max-latency-ms",
        default_value_t = 0,
        value_name = "MS",
        help_heading = "Dynamic batching"
    )]
    pub(crate) max_batch_delay_ms: u64,

    /// Batch sizes to send as soon as the queue can form one, without waiting out the delay,
    /// e.g. `4,8` (the sizes a GPU kernel is tuned for); the largest one that fits wins.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "SIZES",
        help_heading = "Dynamic batching"
    )]
    pub(crate) preferred_batch_sizes: Vec<usize>,

    /// Largest request body in bytes; larger gets 413.
    #[arg(long, default_value_t = infergate_predictor::config::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body_bytes: usize,

    /// Largest element count of one tensor; larger gets 400.
    #[arg(long, default_value_t = infergate_predictor::protocol::Limits::DEFAULT_MAX_ELEMENTS)]
    pub(crate) max_tensor_elements: usize,

    /// Longest token sequence for text models; longer texts are truncated.
    #[arg(long, default_value_t = 256)]
    pub(crate) max_sequence_length: usize,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub(crate) shutdown_timeout: u64,

    /// Path of libonnxruntime.so [default: the one scripts/setup.sh installed in
    /// ~/.local/share/infergate/lib].
    #[arg(long, env = "ORT_DYLIB_PATH")]
    pub(crate) onnxruntime_lib: Option<PathBuf>,
}

fn parse_queue_policy(s: &str) -> Result<QueuePolicy, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<ModelFormat, String> {
    s.parse()
        .map_err(|e: infergate_predictor::storage::StorageError| e.to_string())
}

// === impl PredictorArgs ===

impl PredictorArgs {
    /// The predictor configuration these flags describe.
    pub(crate) fn into_config(self) -> infergate_predictor::PredictorConfig {
        let mut config =
            infergate_predictor::PredictorConfig::new(self.model_name, self.storage_uri);
        config.model_format = self.model_format;
        config.model_version = self.model_version;
        config.host = self.host;
        config.http_port = self.http_port;
        config.unix_socket = self.unix_socket;
        if let Some(workers) = self.workers {
            config.pool.workers = workers.max(1);
        }
        config.pool.max_queue = self.max_queue.max(1);
        config.pool.queue_policy = self.queue_policy;
        config.pool.batch = BatchConfig::new(
            self.max_batch_size,
            Duration::from_millis(self.max_batch_delay_ms),
            self.preferred_batch_sizes,
        )
        .unwrap_or_else(|e| {
            // A setting clap cannot check alone (it depends on two flags): report it as clap
            // reports its own errors, with the usage line and exit status 2.
            Cli::command()
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--max-batch-size, --preferred-batch-sizes: {e}"),
                )
                .exit()
        });
        config.runtime.intra_op_threads = self.intra_op_threads.max(1);
        config.runtime.max_sequence_length = self.max_sequence_length;
        config.runtime.onnxruntime_lib = self.onnxruntime_lib;
        config.limits.max_elements = self.max_tensor_elements;
        config.max_body_bytes = self.max_body_bytes;
        config.shutdown_timeout = Duration::from_secs(self.shutdown_timeout);
        config
    }
}
