//! The floor: the model run by ONNX Runtime in-process, in a loop on one thread, no HTTP.
//!
//! It uses infergate's own runtime (`infergate_predictor::runtime::onnx`), so the gap between
//! this and the predictor's c=1 latency is what the server adds: HTTP, JSON and queueing.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use infergate_predictor::protocol::{DataType, Tensor, TensorData};
use infergate_predictor::runtime::onnx::{self, OnnxOptions};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::reference::Case;
use super::table::FloorResult;

/// Runs `case`'s inputs through the model for `warmup`, then times every call for `duration`.
/// The first outputs are checked against the case before any timing.
pub(super) fn measure(
    model_name: &str,
    model_path: &Path,
    case: &Case,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<FloorResult> {
    let loaded = onnx::load(model_name, model_path, &OnnxOptions::default())?;
    let mut session = (loaded.sessions)()?;
    let inputs = loaded
        .metadata
        .inputs
        .iter()
        .map(|spec| {
            let t = case.inputs.get(&spec.name).ok_or_else(|| {
                anyhow::anyhow!(
                    "reference case `{}` has no input `{}`",
                    case.name,
                    spec.name
                )
            })?;
            let data = match spec.datatype {
                DataType::F32 => TensorData::F32(t.data.iter().map(|&v| v as f32).collect()),
                DataType::F64 => TensorData::F64(t.data.clone()),
                DataType::I64 => TensorData::I64(t.data.iter().map(|&v| v as i64).collect()),
                DataType::I32 => TensorData::I32(t.data.iter().map(|&v| v as i32).collect()),
                other => anyhow::bail!("input `{}`: the floor does not send {other:?}", spec.name),
            };
            Ok(Tensor::new(spec.name.clone(), t.shape.clone(), data)?)
        })
        .collect::<anyhow::Result<Vec<Tensor>>>()?;

    let first = session.run(inputs.clone())?;
    case.check_response(&as_v2_response(&first)?).map_err(|e| {
        anyhow::anyhow!("in-process ONNX Runtime disagrees with the reference: {e}")
    })?;

    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .expect("constant histogram bounds are valid");
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut calls = 0u64;
    loop {
        let batch = inputs.clone();
        let t0 = Instant::now();
        if t0 >= stop_at {
            break;
        }
        session.run(batch)?;
        if t0 >= measure_from {
            let nanos = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            latencies.saturating_record(nanos.max(1));
            calls += 1;
        }
    }
    let elapsed = stop_at
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    Ok(FloorResult {
        calls_per_s: calls as f64 / elapsed,
        p50_us: latencies.value_at_quantile(0.50) as f64 / 1_000.0,
        p99_us: latencies.value_at_quantile(0.99) as f64 / 1_000.0,
    })
}

/// The outputs as a V2 response body, so they are checked exactly as the servers' are.
fn as_v2_response(outputs: &[Tensor]) -> anyhow::Result<Vec<u8>> {
    let outputs = outputs
        .iter()
        .map(|t| {
            let data: Vec<Value> = match t.data() {
                TensorData::F32(v) => v.iter().map(|&x| json!(f64::from(x))).collect(),
                TensorData::F64(v) => v.iter().map(|&x| json!(x)).collect(),
                TensorData::I64(v) => v.iter().map(|&x| json!(x)).collect(),
                TensorData::I32(v) => v.iter().map(|&x| json!(x)).collect(),
                other => anyhow::bail!("output `{}`: unexpected {:?}", t.name(), other.datatype()),
            };
            Ok(json!({
                "name": t.name(),
                "datatype": t.datatype().as_str(),
                "shape": t.shape(),
                "data": data,
            }))
        })
        .collect::<anyhow::Result<Vec<Value>>>()?;
    Ok(serde_json::to_vec(&json!({ "outputs": outputs }))?)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::predictor::reference::Reference;

    fn repo_file(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
    }

    fn batch_one(model: &str) -> Case {
        let path = repo_file(&format!("examples/reference/{model}.json"));
        Reference::read(&path)
            .unwrap()
            .batch_one(&path)
            .unwrap()
            .clone()
    }

    // Needs libonnxruntime (scripts/setup.sh installs it); without it this fails, saying so.
    #[test]
    fn the_floor_runs_the_reference_input_and_times_it() {
        for model in ["iris", "mlp"] {
            let path = repo_file(&format!("examples/models/{model}.onnx"));
            let floor = measure(
                model,
                &path,
                &batch_one(model),
                Duration::from_millis(10),
                Duration::from_millis(100),
            )
            .unwrap();
            assert!(floor.calls_per_s > 0.0, "{model}: {floor:?}");
            assert!(
                0.0 < floor.p50_us && floor.p50_us <= floor.p99_us,
                "{model}: {floor:?}"
            );
        }
    }

    #[test]
    fn the_floor_refuses_a_model_that_disagrees_with_the_reference() {
        let mut case = batch_one("iris");
        let probabilities = case.outputs.get_mut("probabilities").unwrap();
        probabilities.data[0] += 0.5;
        let path = repo_file("examples/models/iris.onnx");
        let err = measure(
            "iris",
            &path,
            &case,
            Duration::ZERO,
            Duration::from_millis(10),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("disagrees with the reference"), "{err}");
        assert!(err.contains("`probabilities`[0]"), "{err}");
    }
}
