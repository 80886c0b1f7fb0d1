//! `spec.predictor`: the model, its scaling bounds, rollout, batching and request logging.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{Container, Framework, FrameworkSpec, ModelSpec};
use super::open_enum::open_enum;

/// `spec.predictor`.
///
/// Exactly one of `model`, a framework shorthand (`sklearn`, `onnx`, ...) or `containers` should
/// be set; [`crate::InferenceService::predictor_model`] says which one infergate can serve.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSpec>,

    /// Fewest replicas; `0` enables scale to zero. KServe's default is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Most replicas; `0` (or unset) means no upper bound, as in KServe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i32>,
    /// The autoscaling target per replica, in units of `scaleMetric` (requests in flight for
    /// `concurrency`, requests per second for `rps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_target: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_metric: Option<ScaleMetric>,
    /// Hard cap on requests in flight per replica; `0` means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_concurrency: Option<i64>,
    /// Request timeout in seconds (default 60 s, DESIGN §12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Percent of traffic for the latest revision; the previous rolled-out one gets the rest.
    /// `0` rolls back; unset sends 100% to the latest ready revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_traffic_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batcher: Option<Batcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<Logger>,

    /// A custom model-server image: parsed so it can be reported, never run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Container>>,

    // The older framework shorthand, one field per framework (see `frameworks()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sklearn: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xgboost: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lightgbm: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensorflow: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pytorch: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triton: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmml: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paddle: Option<FrameworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huggingface: Option<FrameworkSpec>,
}

open_enum! {
    /// `scaleMetric`: what the autoscaler measures.
    pub enum ScaleMetric {
        Cpu => "cpu",
        Memory => "memory",
        /// Requests in flight per replica (Knative's default).
        Concurrency => "concurrency",
        /// Requests per second per replica.
        Rps => "rps",
    }
}

/// `spec.predictor.batcher`: server-side dynamic batching.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batcher {
    /// Most requests in one batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<i64>,
    /// Longest wait for a batch to fill, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<i64>,
    /// Timeout of one batched call, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// `spec.predictor.logger`: send a copy of requests and/or responses to a URL (CloudEvents).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LoggerMode>,
}

open_enum! {
    /// `logger.mode`: what the logger sends (KServe's default is `all`).
    pub enum LoggerMode {
        All => "all",
        Request => "request",
        Response => "response",
    }
}

// === impl PredictorSpec ===

impl PredictorSpec {
    /// The framework shorthands that are set, in a fixed order.
    pub fn frameworks(&self) -> Vec<(Framework, &FrameworkSpec)> {
        [
            (Framework::Sklearn, &self.sklearn),
            (Framework::Xgboost, &self.xgboost),
            (Framework::Lightgbm, &self.lightgbm),
            (Framework::Tensorflow, &self.tensorflow),
            (Framework::Pytorch, &self.pytorch),
            (Framework::Triton, &self.triton),
            (Framework::Onnx, &self.onnx),
            (Framework::Pmml, &self.pmml),
            (Framework::Paddle, &self.paddle),
            (Framework::Huggingface, &self.huggingface),
        ]
        .into_iter()
        .filter_map(|(framework, spec)| spec.as_ref().map(|spec| (framework, spec)))
        .collect()
    }

    /// `timeout` as a duration; `None` when unset or not positive (validation reports those).
    pub fn timeout(&self) -> Option<Duration> {
        positive_duration(self.timeout, Duration::from_secs)
    }
}

// === impl Batcher ===

impl Batcher {
    /// `maxLatency` as a duration; `None` when unset or not positive.
    pub fn max_latency(&self) -> Option<Duration> {
        positive_duration(self.max_latency, Duration::from_millis)
    }

    /// `timeout` as a duration; `None` when unset or not positive.
    pub fn timeout(&self) -> Option<Duration> {
        positive_duration(self.timeout, Duration::from_secs)
    }
}

fn positive_duration(value: Option<i64>, unit: fn(u64) -> Duration) -> Option<Duration> {
    value
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .map(unit)
}
