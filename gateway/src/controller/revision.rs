//! Revisions: immutable snapshots of a predictor spec, and the replicas that serve them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use infergate_autoscaler::{AutoscalerConfig, Pokes};
use infergate_k8s::{InferenceService, ModelFormat, WasmModule};
use infergate_transformer::{Engine, Limits, Transformer};
use serde::{Deserialize, Serialize};

use super::scale::{AutoscalerDefaults, Scaler};
use crate::pods::PodTemplate;
use crate::proxy::Endpoint;

/// Where a revision is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RevisionState {
    /// Replicas are starting; no traffic yet.
    Loading,
    /// Every desired replica answered its warm-up; it may take traffic.
    Ready,
    /// The model cannot be served; the message says why. Never takes traffic.
    Failed {
        reason: &'static str,
        message: String,
    },
    /// Retired: out of the traffic, replicas stopped.
    Stopped,
}

/// One replica of a revision.
#[derive(Clone, Debug)]
pub(super) enum Replica {
    /// Spawned, not ready yet (or restarting after a crash).
    Starting,
    /// Serving at this endpoint.
    Ready(Arc<Endpoint>),
}

/// A revision as persisted across restarts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RevisionRecord {
    pub(super) name: String,
    pub(super) number: u32,
    /// The predictor and transformer spec it was created from, as JSON.
    pub(super) spec: String,
    /// Seconds since the Unix epoch.
    pub(super) created: u64,
}

/// A revision and its live state.
#[derive(Debug)]
pub(super) struct Revision {
    pub(super) record: RevisionRecord,
    /// Its replicas' name for the orchestrator and in pod events: `{namespace}/{revision}`, as
    /// revision names repeat across namespaces (`iris-predictor-00001` in each).
    pub(super) pod: String,
    /// How to start a replica, or `None` when the revision cannot run.
    pub(super) template: Option<PodTemplate>,
    pub(super) state: RevisionState,
    pub(super) replicas: BTreeMap<u32, Replica>,
    /// The next replica number to hand out (numbers are never reused within a revision).
    pub(super) next_replica: u32,
    /// Whether it ever reached Ready (it keeps its place in the traffic while a replica restarts).
    pub(super) ever_ready: bool,
    /// `containerConcurrency` (0 = unlimited).
    pub(super) container_concurrency: usize,
    /// Its autoscaler, or `None` when the revision cannot run.
    pub(super) scaler: Option<Scaler>,
    /// Its WebAssembly transformer (`spec.transformer.wasm`), compiled.
    pub(super) transformer: Option<Transformer>,
}

/// The shape `spec_of` writes.
#[derive(Deserialize)]
struct RecordedSpec {
    predictor: infergate_k8s::PredictorSpec,
    transformer: Option<infergate_k8s::TransformerSpec>,
}

// === impl Revision ===

impl Revision {
    /// A revision of `isvc` from its record, in the `Loading` state (or `Failed` when its spec
    /// names a model infergate cannot run or its autoscaling settings are invalid). Everything
    /// it runs comes from the record's own spec, so an older revision restored from history
    /// keeps its model and replica bounds. Returns the activator's pokes when it can run.
    pub(super) fn new(
        record: RevisionRecord,
        isvc: &InferenceService,
        config_dir: &Path,
        workers: Option<usize>,
        autoscaling: &AutoscalerDefaults,
        engine: Option<&Engine>,
    ) -> (Self, Option<Pokes>) {
        let mut own = isvc.clone();
        if let Ok(spec) = serde_json::from_str::<RecordedSpec>(&record.spec) {
            own.spec.predictor = spec.predictor;
            own.spec.transformer = spec.transformer;
        }
        let predictor = &own.spec.predictor;
        let container_concurrency = predictor.container_concurrency.unwrap_or(0).max(0) as usize;
        let pod = format!("{}/{}", crate::store::key_of(isvc).0, record.name);
        let mut pokes = None;
        let transformer = own
            .spec
            .transformer
            .as_ref()
            .and_then(|t| t.wasm.as_ref())
            .map(|wasm| load_transformer(isvc.name(), wasm, config_dir, engine));
        let (transformer, transformer_error) = match transformer {
            None => (None, None),
            Some(Ok(transformer)) => (Some(transformer), None),
            Some(Err(message)) => (None, Some(message)),
        };
        let (template, scaler, state) = match pod_template(&pod, &own, config_dir, workers) {
            Err(message) => (
                None,
                None,
                RevisionState::Failed {
                    reason: "UnsupportedModel",
                    message,
                },
            ),
            Ok(template) => match AutoscalerConfig::from_isvc(&own) {
                Err(e) => (
                    None,
                    None,
                    RevisionState::Failed {
                        reason: "InvalidAutoscaling",
                        message: e.to_string(),
                    },
                ),
                Ok(_) if transformer_error.is_some() => (
                    None,
                    None,
                    RevisionState::Failed {
                        reason: "TransformerLoadFailed",
                        message: transformer_error.unwrap_or_default(),
                    },
                ),
                Ok(config) => {
                    let (scaler, p) = Scaler::new(autoscaling.apply(config), autoscaling.activator);
                    pokes = Some(p);
                    (Some(template), Some(scaler), RevisionState::Loading)
                }
            },
        };
        let revision = Revision {
            record,
            pod,
            template,
            state,
            replicas: BTreeMap::new(),
            next_replica: 0,
            ever_ready: false,
            container_concurrency,
            scaler,
            transformer,
        };
        (revision, pokes)
    }

    /// Replicas it should run while active: the autoscaler's decision.
    pub(super) fn desired_replicas(&self) -> u32 {
        self.scaler.as_ref().map_or(0, |s| s.desired)
    }

    pub(super) fn name(&self) -> &str {
        &self.record.name
    }

    pub(super) fn is_failed(&self) -> bool {
        matches!(self.state, RevisionState::Failed { .. })
    }

    /// Ready endpoints, in replica order.
    pub(super) fn endpoints(&self) -> Vec<Arc<Endpoint>> {
        self.replicas
            .values()
            .filter_map(|r| match r {
                Replica::Ready(e) => Some(Arc::clone(e)),
                Replica::Starting => None,
            })
            .collect()
    }

    pub(super) fn ready_replicas(&self) -> usize {
        self.replicas
            .values()
            .filter(|r| matches!(r, Replica::Ready(_)))
            .count()
    }
}

/// The revision spec of an InferenceService: everything that, when changed, makes a new
/// revision (the predictor minus its traffic percentage, and the transformer).
pub(super) fn spec_of(isvc: &InferenceService) -> String {
    let mut predictor = isvc.spec.predictor.clone();
    predictor.canary_traffic_percent = None;
    serde_json::json!({ "predictor": predictor, "transformer": isvc.spec.transformer }).to_string()
}

/// `<isvc>-predictor-00001`, as KServe names Knative revisions.
pub(super) fn revision_name(isvc: &str, number: u32) -> String {
    format!("{isvc}-predictor-{number:05}")
}

/// The `infergate predictor` arguments for a revision (`pod`: its orchestrator name), or why it
/// cannot run.
fn pod_template(
    pod: &str,
    isvc: &InferenceService,
    config_dir: &Path,
    workers: Option<usize>,
) -> Result<PodTemplate, String> {
    /// The predictor's batching and queue flags: `spec.predictor.batcher.{maxBatchSize,
    /// maxLatency}` (KServe's fields; maxLatency in milliseconds) plus infergate's annotations
    /// for the rest. Wrong values make the revision fail with a message naming the field.
    fn batcher_args(isvc: &InferenceService) -> Result<Vec<String>, String> {
        use infergate_predictor::{BatchConfig, QueuePolicy};
        /// Comma-separated batch sizes dispatched without waiting out maxLatency, e.g. `4,8`.
        const PREFERRED_BATCH_SIZES: &str = "batcher.infergate.dev/preferred-batch-sizes";
        /// Requests that may wait in the predictor's queue (default 1024).
        const MAX_QUEUE_SIZE: &str = "batcher.infergate.dev/max-queue-size";
        /// `reject` (503 + Retry-After when the queue is full, the default) or `delay`.
        const QUEUE_POLICY: &str = "batcher.infergate.dev/queue-policy";
        /// KServe's batcher sends at most 32 instances per batch unless told otherwise.
        const KSERVE_MAX_BATCH_SIZE: i64 = 32;

        let mut args = Vec::new();
        let batcher = isvc.spec.predictor.batcher.as_ref();
        let max_batch_size = batcher.map_or(1, |b| {
            b.max_batch_size.unwrap_or(KSERVE_MAX_BATCH_SIZE).max(1)
        });
        let max_latency = batcher.and_then(|b| b.max_latency()).unwrap_or_default();
        let preferred = match isvc.annotation(PREFERRED_BATCH_SIZES) {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|size| size.trim().parse::<usize>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    format!(
                        "annotation {PREFERRED_BATCH_SIZES}: {list:?} is not a comma-separated \
                         list of batch sizes, e.g. \"4,8\""
                    )
                })?,
        };
        let batch = BatchConfig::new(
            usize::try_from(max_batch_size).unwrap_or(usize::MAX),
            max_latency,
            preferred,
        )
        .map_err(|e| {
            format!("spec.predictor.batcher.maxBatchSize / annotation {PREFERRED_BATCH_SIZES}: {e}")
        })?;
        if batch.is_on() {
            args.extend([
                "--max-batch-size".to_owned(),
                batch.max_batch_size().to_string(),
            ]);
            if !batch.max_delay().is_zero() {
                args.extend([
                    "--max-batch-delay-ms".to_owned(),
                    batch.max_delay().as_millis().to_string(),
                ]);
            }
            if !batch.preferred().is_empty() {
                let sizes: Vec<String> = batch.preferred().iter().map(usize::to_string).collect();
                args.extend(["--preferred-batch-sizes".to_owned(), sizes.join(",")]);
            }
        }
        if let Some(value) = isvc.annotation(MAX_QUEUE_SIZE) {
            let size = value.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                format!(
                    "annotation {MAX_QUEUE_SIZE}: {value:?} is not a positive number of requests"
                )
            })?;
            args.extend(["--max-queue-size".to_owned(), size.to_string()]);
        }
        if let Some(value) = isvc.annotation(QUEUE_POLICY) {
            let policy: QueuePolicy = value
                .parse()
                .map_err(|e| format!("annotation {QUEUE_POLICY}: {e}"))?;
            args.extend(["--queue-policy".to_owned(), policy.to_string()]);
        }
        Ok(args)
    }

    let model = isvc.predictor_model().map_err(|e| e.to_string())?;
    let format = match model.format {
        ModelFormat::Onnx => "onnx",
        ModelFormat::HuggingFace => "huggingface",
    };
    // Relative local paths are relative to the folder of the YAML, like a kustomization.
    let storage_uri = match model.storage_uri.split_once("://") {
        None => resolve(config_dir, &model.storage_uri),
        Some(("file", path)) => format!("file://{}", resolve(config_dir, path)),
        Some(_) => model.storage_uri.clone(),
    };
    let mut args = vec![
        "--model-name".to_owned(),
        isvc.name().to_owned(),
        "--storage-uri".to_owned(),
        storage_uri,
        "--model-format".to_owned(),
        format.to_owned(),
    ];
    if let Some(workers) = workers {
        args.extend(["--workers".to_owned(), workers.to_string()]);
    }
    args.extend(batcher_args(isvc)?);
    Ok(PodTemplate {
        revision: pod.to_owned(),
        args,
    })
}

/// Reads and compiles `spec.transformer.wasm` (a local path or `file://` URI, relative to the
/// config folder), or says why it cannot be used.
fn load_transformer(
    name: &str,
    wasm: &WasmModule,
    config_dir: &Path,
    engine: Option<&Engine>,
) -> Result<Transformer, String> {
    let engine = engine.ok_or("WebAssembly transformers are not enabled in this gateway")?;
    let path = match wasm.uri.split_once("://") {
        None => resolve(config_dir, &wasm.uri),
        Some(("file", path)) => resolve(config_dir, path),
        Some((scheme, _)) => {
            return Err(format!(
                "spec.transformer.wasm.uri: {scheme}:// is not supported yet; use a local path or file://"
            ));
        }
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        format!("spec.transformer.wasm.uri: cannot read {path}: {e} (the examples' modules are built by scripts/build-transformers.sh)")
    })?;
    let config = wasm.config_string().unwrap_or_default();
    let limits = Limits::default();
    // Compiling takes tens to hundreds of milliseconds: let the runtime move other tasks off
    // this thread meanwhile.
    let compile = || engine.compile(name, &bytes, &config, limits);
    let compiled = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(compile),
        _ => compile(),
    };
    compiled.map_err(|e| e.to_string())
}

fn resolve(base: &Path, path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        path.to_owned()
    } else {
        base.join(p).display().to_string()
    }
}

/// Seconds since the Unix epoch, now.
pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
