//! CPU time of the monitoring worker per recorded exchange, measured on the worker thread itself.
//!
//! Each exchange is one row of a model's reference (`examples/reference/NAME.json`): the request
//! as a V2 JSON body, the response as the predictor encodes the model's answer. They go through
//! the public path, `Monitor::sample` → `Recorder::tee` → the body read to its end, so the worker
//! decodes both bodies, fills the histograms and class counters and scores drift exactly as in
//! the gateway. Settings are the monitoring bench's (`infergate-bench monitoring`): every
//! exchange, reference and window of 1000 values, the argmax of the score output counted.
//!
//! ```text
//! cargo run --release -p infergate-monitor --example worker_cost -- [EXCHANGES] [RUNS] [MODEL]
//! ```
//!
//! The worker's CPU time comes from `/proc/self/task/TID/schedstat` (nanoseconds on a CPU), read
//! after a warm-up that fills every reference (so the steady state is measured) and after each
//! run; each run is one flush of `EXCHANGES` exchanges (default 2,000; 25 runs). The median is
//! the figure to quote; the minimum is the least disturbed run, the better guide on a machine
//! whose other cores are busy (a neighbour on the same core slows every instruction). Linux only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt, Full};
use infergate_monitor::{ModelMonitoring, Monitor, MonitorConfig};
use infergate_predictor::model::TensorSpec;
use infergate_predictor::protocol::{Tensor, TensorData, v2};
use prometheus::Registry;
use serde_json::Value;

/// The worker thread's name (`Monitor::new`) as `/proc` shows it: cut to 15 bytes.
const WORKER: &str = "infergate-monit";
/// Exchanges before measuring: past the reference of 1000 values of every series.
const WARM_UP: usize = 3000;
const FLUSH: Duration = Duration::from_secs(120);

/// One model's exchanges and settings.
struct Case {
    model: &'static str,
    argmax: &'static str,
}

const CASES: [Case; 2] = [
    Case {
        model: "iris",
        argmax: "probabilities",
    },
    Case {
        model: "mlp",
        argmax: "logits",
    },
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let exchanges: usize = args.next().map_or(Ok(2_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(25), |a| a.parse())?;
    let only = args.next();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for case in CASES
        .iter()
        .filter(|c| only.as_deref().is_none_or(|m| m == c.model))
    {
        let bodies = exchanges_of(&repo, case.model)?;
        let per_exchange = runtime.block_on(measure(case, &bodies, exchanges, runs))?;
        let mut sorted = per_exchange.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "{:<5} worker CPU per exchange: median {:.2} µs, min {:.2} µs ({runs} runs of {exchanges} exchanges, {} distinct)",
            case.model,
            sorted[sorted.len() / 2],
            sorted[0],
            bodies.len()
        );
    }
    Ok(())
}

/// µs of worker CPU per exchange, one figure per run.
async fn measure(
    case: &Case,
    bodies: &[(Bytes, Bytes)],
    exchanges: usize,
    runs: usize,
) -> anyhow::Result<Vec<f64>> {
    let before = worker_threads()?;
    let config = MonitorConfig {
        queue_capacity: exchanges.max(WARM_UP),
        ..MonitorConfig::default()
    };
    let monitor = Monitor::new(config, &Registry::new())?;
    // The thread names itself once it runs: wait for it (bounded).
    let started = std::time::Instant::now();
    let tid = loop {
        let new: Vec<u64> = worker_threads()?
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        match new[..] {
            [tid] => break tid,
            [] if started.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => bail!("expected one new monitoring worker thread, found {new:?}"),
        }
    };
    let settings = ModelMonitoring {
        argmax_outputs: vec![case.argmax.to_owned()],
        ..ModelMonitoring::default()
    };
    monitor.configure([("default".to_owned(), case.model.to_owned(), settings)]);
    let path = format!("/v2/models/{}/infer", case.model);
    let mut next = bodies.iter().cycle();
    let mut send = async |count: usize| -> anyhow::Result<()> {
        for (request, response) in next.by_ref().take(count) {
            let recorder = monitor
                .sample("default", case.model, &path)
                .context("every exchange is sampled")?;
            let teed = recorder.tee(
                &HeaderMap::new(),
                request.clone(),
                Response::new(Full::new(response.clone())),
            );
            teed.into_body().collect().await?;
        }
        anyhow::ensure!(monitor.flush(FLUSH), "the worker did not flush in time");
        Ok(())
    };
    send(WARM_UP).await?;
    let mut per_exchange = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = cpu_ns(tid)?;
        send(exchanges).await?;
        let spent = cpu_ns(tid)? - start;
        per_exchange.push(spent as f64 / 1e3 / exchanges as f64);
    }
    Ok(per_exchange)
}

/// The ids of this process's monitoring worker threads.
fn worker_threads() -> anyhow::Result<Vec<u64>> {
    let mut tids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == WORKER
            && let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok())
        {
            tids.push(tid);
        }
    }
    Ok(tids)
}

/// Nanoseconds thread `tid` has spent on a CPU.
fn cpu_ns(tid: u64) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))?;
    let ns = stat.split_whitespace().next().context("empty schedstat")?;
    Ok(ns.parse()?)
}

/// One exchange per row of every case of the model's reference: the request as a V2 JSON
/// body, the response as the predictor writes the reference's outputs.
fn exchanges_of(repo: &Path, model: &str) -> anyhow::Result<Vec<(Bytes, Bytes)>> {
    let file = repo.join(format!("examples/reference/{model}.json"));
    let reference: Value = serde_json::from_slice(&std::fs::read(&file)?)
        .with_context(|| format!("{}", file.display()))?;
    let cases = reference["cases"].as_array().context("`cases`")?;
    let mut exchanges = Vec::new();
    for case in cases {
        let inputs = tensors(&case["inputs"])?;
        let outputs = tensors(&case["outputs"])?;
        let rows = inputs.first().map_or(0, |t| t.shape()[0]);
        for row in 0..rows {
            let inputs: Vec<Tensor> = inputs
                .iter()
                .map(|t| one_row(t, row))
                .collect::<Result<_, _>>()?;
            let outputs: Vec<Tensor> = outputs
                .iter()
                .map(|t| one_row(t, row))
                .collect::<Result<_, _>>()?;
            let request = v2::encode_request(None, &inputs, false).body;
            let specs: Vec<TensorSpec> = outputs
                .iter()
                .map(|t| TensorSpec {
                    name: t.name().to_owned(),
                    datatype: t.datatype(),
                    shape: Vec::new(),
                })
                .collect();
            let meta = infergate_predictor::model::ModelMetadata {
                name: model.to_owned(),
                platform: String::new(),
                inputs: Vec::new(),
                outputs: specs,
            };
            let selection = v2::OutputSelection::all(&meta, false);
            let response = v2::encode_response(model, None, None, outputs, &selection).body;
            exchanges.push((request, response));
        }
    }
    anyhow::ensure!(!exchanges.is_empty(), "{}: no rows", file.display());
    Ok(exchanges)
}

/// `{name: {datatype, shape, data}}` as tensors.
fn tensors(value: &Value) -> anyhow::Result<Vec<Tensor>> {
    let map = value.as_object().context("tensors are an object")?;
    map.iter()
        .map(|(name, t)| {
            let shape: Vec<usize> = serde_json::from_value(t["shape"].clone())?;
            let data: Vec<f64> = serde_json::from_value(t["data"].clone())?;
            let data = match t["datatype"].as_str() {
                Some("FP32") => TensorData::F32(data.iter().map(|&v| v as f32).collect()),
                Some("INT64") => TensorData::I64(data.iter().map(|&v| v as i64).collect()),
                other => bail!("{name}: datatype {other:?} not handled"),
            };
            Ok(Tensor::new(name.clone(), shape, data)?)
        })
        .collect()
}

/// Row `row` of a tensor whose first dimension is the batch, as a batch of one.
fn one_row(tensor: &Tensor, row: usize) -> anyhow::Result<Tensor> {
    let mut shape = tensor.shape().to_vec();
    let width: usize = shape.iter().skip(1).product();
    shape[0] = 1;
    let range = row * width..(row + 1) * width;
    let data = match tensor.data() {
        TensorData::F32(v) => TensorData::F32(v[range].to_vec()),
        TensorData::I64(v) => TensorData::I64(v[range].to_vec()),
        _ => bail!("{}: datatype not handled", tensor.name()),
    };
    Ok(Tensor::new(tensor.name(), shape, data)?)
}
