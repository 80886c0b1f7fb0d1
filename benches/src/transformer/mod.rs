//! `infergate-bench transformer`: what the iris WebAssembly transformer adds end to end.
//!
//! ```text
//! client --V2 tensor------> infergate serve --> iris-plain  (no transformer)
//! client --V1 named rows--> infergate serve --> iris-named  (preprocess: names -> V2 tensor,
//!                                                            postprocess: class ids -> names)
//! ```
//!
//! One gateway (the release binary) serves the iris model twice, one predictor pod each (min =
//! max = 1 replica), the second behind `examples/transformers/build/iris.wasm` as in
//! `examples/iris-named.yaml`. Both paths are first checked against the reference's batch-1
//! case (the named path must answer the reference's class by name); then each concurrency is
//! measured `runs` times, plain and named alternating (which goes first swaps every run). The
//! added latency is named minus plain, at p50 and p99, of the medians.

mod table;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;

use crate::gateway::ready;
use crate::load::{self, LoadConfig};
use crate::machine::Machine;
use crate::predictor::{self, BenchArgs, Case, Reference};
use crate::server::{self, ServerProcess};

pub use self::table::{Path as Route, TransformerResult};

/// The BENCHMARKS.md section this command owns.
const SECTION: &str = "transformer";
/// The namespace of the services.
const NAMESPACE: &str = "default";
/// How long the pods may take to load the model.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// The iris classes, in label order (the transformer's config).
const CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];
/// The iris features, in the order of the model's input tensor.
const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

/// Options of `infergate-bench transformer`.
#[derive(clap::Args, Clone, Debug)]
pub struct TransformerArgs {
    /// Closed-loop clients, one connection each; each value is a separate measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,
    /// `--predictor-workers` of the gateway; default: the number of CPUs.
    #[arg(long)]
    pub infergate_workers: Option<usize>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

// === impl TransformerArgs ===

impl TransformerArgs {
    /// The transformer comparison as part of `all`: the shared options, c = 1 and 64.
    pub fn for_all(bench: &BenchArgs, infergate_workers: Option<usize>) -> Self {
        TransformerArgs {
            concurrency: vec![1, 64],
            infergate_workers,
            bench: bench.clone(),
        }
    }
}

/// Runs the comparison, prints the markdown and (unless `--no-write`) rewrites BENCHMARKS.md.
pub async fn run(
    args: &TransformerArgs,
    loadgen_threads: usize,
    command: String,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.bench.runs >= 1, "`--runs` must be at least 1");
    anyhow::ensure!(
        !args.concurrency.is_empty() && args.concurrency.iter().all(|&c| c >= 1),
        "`--concurrency` needs values of at least 1"
    );
    let repo = args.bench.repo()?;
    let machine = Machine::current();
    let workers = args.infergate_workers.unwrap_or(machine.nproc).max(1);
    let logs = predictor::target_dir(&repo).join("bench-logs");
    let bin = args.bench.infergate(&repo).await?;
    let model = repo.join("examples/models/iris.onnx");
    let wasm = repo.join("examples/transformers/build/iris.wasm");
    anyhow::ensure!(model.is_file(), "model file {} not found", model.display());
    anyhow::ensure!(
        wasm.is_file(),
        "transformer {} not found; run scripts/build-transformers.sh",
        wasm.display()
    );
    let reference = Reference::read(&repo.join("examples/reference/iris.json"))?;
    let case = reference.batch_one(Path::new("iris"))?.clone();

    let scratch = std::env::temp_dir().join(format!(
        "infergate-bench-transformer-{}",
        std::process::id()
    ));
    let config_dir = scratch.join("config");
    write_services(&config_dir, &model, &wasm)?;
    let mut serve = server::serve_command(&bin, &config_dir);
    serve.args(["--predictor-workers", &workers.to_string()]);
    let log = logs.join("transformer-gateway.log");
    let gateway = ServerProcess::start_gateway(serve, &log).await?;
    let outcome = measure(args, &gateway, &case).await;
    let stopped = gateway.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let mut result = outcome?;
    stopped?;
    result.settings = format!(
        "one `infergate serve` (release), `--predictor-workers {workers}`, iris served twice \
         (one pod each, min = max = 1 replica): `iris-plain` (no transformer; the reference's \
         batch-1 case as a V2 tensor) and `iris-named` (`spec.transformer.wasm` = \
         `examples/transformers/build/iris.wasm`, as in `examples/iris-named.yaml`; the same \
         row as V1 named features, answered with the class name); default transformer limits \
         (100 ms deadline, 64 MiB)"
    );
    let setup = args.bench.setup(command, machine, loadgen_threads);
    let markdown = table::render(&setup, &result);
    args.bench.publish(
        &repo,
        SECTION,
        &markdown,
        &logs.join("transformer-results.json"),
        &result,
    )
}

/// One file per service in `dir`.
fn write_services(dir: &Path, model: &Path, wasm: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for route in Route::ALL {
        let name = route.service();
        let yaml = inference_service_yaml(name, model, (route == Route::Named).then_some(wasm));
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, yaml).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// The request of `route` for `case`: the V2 tensor, or its one row as V1 named features.
fn request(route: Route, case: &Case) -> anyhow::Result<(String, Bytes)> {
    match route {
        Route::Plain => Ok((
            format!("/v2/models/{}/infer", route.service()),
            case.v2_request(),
        )),
        Route::Named => {
            let tensor = case
                .inputs
                .values()
                .next()
                .context("the iris reference case has no input")?;
            anyhow::ensure!(
                tensor.data.len() == FEATURES.len(),
                "the iris reference's batch-1 input has {} values, not {}",
                tensor.data.len(),
                FEATURES.len()
            );
            let row: serde_json::Map<String, serde_json::Value> = FEATURES
                .iter()
                .zip(&tensor.data)
                .map(|(name, &value)| ((*name).to_owned(), serde_json::json!(value)))
                .collect();
            let body = serde_json::json!({ "instances": [row] });
            Ok((
                format!("/v1/models/{}:predict", route.service()),
                Bytes::from(serde_json::to_vec(&body)?),
            ))
        }
    }
}

/// The class name the reference case expects.
fn expected_class(case: &Case) -> anyhow::Result<&'static str> {
    let label = case
        .outputs
        .get("label")
        .and_then(|t| t.data.first())
        .context("the iris reference case has no `label` output")?;
    CLASSES
        .get(*label as usize)
        .copied()
        .with_context(|| format!("the iris reference's label {label} is not a class"))
}

/// Checks both paths, then runs the alternating loads.
async fn measure(
    args: &TransformerArgs,
    gateway: &ServerProcess,
    case: &Case,
) -> anyhow::Result<TransformerResult> {
    let addr = gateway.addr();
    let class = expected_class(case)?;
    for route in Route::ALL {
        ready::wait_until_ready(addr, NAMESPACE, route.service(), READY_TIMEOUT)
            .await
            .with_context(|| format!("gateway (log: {})", gateway.log().display()))?;
        let (path, body) = request(route, case)?;
        let answer = load::probe(&LoadConfig::json_post(addr, path, body)).await?;
        match route {
            Route::Plain => case
                .check_response(&answer.body)
                .context("iris-plain: the reference's batch-1 case")?,
            Route::Named => {
                let value: serde_json::Value = serde_json::from_slice(&answer.body)
                    .context("iris-named answered something other than JSON")?;
                anyhow::ensure!(
                    value == serde_json::json!({ "predictions": [class] }),
                    "iris-named answered {value}, expected the class {class:?}"
                );
            }
        }
    }
    eprintln!(
        "== transformer: both paths answer the reference's class; measuring at c={:?}",
        args.concurrency
    );
    let mut result = TransformerResult::default();
    for run in 1..=args.bench.runs {
        for &c in &args.concurrency {
            let order = match run % 2 {
                1 => [Route::Plain, Route::Named],
                _ => [Route::Named, Route::Plain],
            };
            for route in order {
                let (path, body) = request(route, case)?;
                let config = LoadConfig {
                    concurrency: c,
                    warmup: Duration::from_secs_f64(args.bench.warmup),
                    duration: Duration::from_secs_f64(args.bench.duration),
                    expect: Some(route.expect().to_owned()),
                    ..LoadConfig::json_post(addr, path, body)
                };
                let report = load::run(&config).await?;
                eprintln!(
                    "   {} c={c} run {run}/{}: {}",
                    route.service(),
                    args.bench.runs,
                    report.summary()
                );
                report.ensure_no_errors(route.service())?;
                result.record(route, c, report);
            }
        }
    }
    Ok(result)
}

/// One InferenceService: iris by absolute path, one replica, with the transformer when `wasm`.
fn inference_service_yaml(name: &str, model: &Path, wasm: Option<&Path>) -> String {
    // Paths are quoted as YAML double-quoted strings (JSON strings are valid YAML).
    let quoted = |path: &Path| {
        serde_json::to_string(&path.display().to_string()).expect("a string always serialises")
    };
    let transformer = match wasm {
        Some(wasm) => format!(
            "  transformer:\n    wasm:\n      uri: {}\n      config:\n        classes: [{}]\n",
            quoted(wasm),
            CLASSES.join(", ")
        ),
        None => String::new(),
    };
    format!(
        "# Written by infergate-bench transformer.\n\
         apiVersion: serving.kserve.io/v1beta1\n\
         kind: InferenceService\n\
         metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n\
         spec:\n{transformer}  predictor:\n    minReplicas: 1\n    maxReplicas: 1\n    model:\n      \
         modelFormat:\n        name: onnx\n      storageUri: {}\n",
        quoted(model)
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Where the repository's build of the iris transformer is.
    fn repo_wasm() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/transformers/build/iris.wasm")
    }

    #[test]
    fn the_inference_services_load_in_the_gateways_own_loader() {
        let model = Path::new("/a b/\"q\": x/iris.onnx");
        for wasm in [None, Some(repo_wasm())] {
            let yaml = inference_service_yaml("iris-x", model, wasm.as_deref());
            let parsed = infergate_k8s::parse_documents(&yaml, "iris.yaml")
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            assert_eq!(parsed.len(), 1, "{yaml}");
            assert!(parsed[0].warnings.is_empty(), "{:?}", parsed[0].warnings);
            let isvc = parsed[0].isvc.as_ref().expect("an InferenceService");
            assert_eq!(isvc.name(), "iris-x");
            assert_eq!(isvc.spec.transformer.is_some(), wasm.is_some(), "{yaml}");
        }
    }

    #[test]
    fn the_named_request_carries_the_reference_row() {
        let reference = Reference::read(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/reference/iris.json"),
        )
        .expect("the iris reference");
        let case = reference
            .batch_one(Path::new("iris"))
            .expect("a batch-1 case");
        let (path, body) = request(Route::Named, case).expect("a named request");
        assert_eq!(path, "/v1/models/iris-named:predict");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let row = &value["instances"][0];
        let tensor = case.inputs.values().next().expect("an input");
        for (name, expected) in FEATURES.iter().zip(&tensor.data) {
            assert_eq!(row[name].as_f64(), Some(*expected), "{value}");
        }
        assert!(CLASSES.contains(&expected_class(case).expect("a class")));
    }
}
