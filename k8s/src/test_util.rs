//! Fixture builders for tests in this and other crates (feature `test-util`).
//!
//! ```
//! # use infergate_k8s::InferenceService;
//! let isvc = InferenceService::test("iris").onnx("file:///models/iris.onnx").canary(10);
//! assert_eq!(isvc.spec.predictor.canary_traffic_percent, Some(10));
//! ```

use crate::api::{
    Batcher, InferenceService, InferenceServiceStatus, ModelFormatSpec, ModelSpec, PredictorSpec,
    ScaleMetric, TransformerSpec, WasmModule,
};

// === impl InferenceService ===

impl InferenceService {
    /// A valid InferenceService named `name` serving `file:///models/<name>/model.onnx`.
    pub fn test(name: &str) -> Self {
        Self::new(name, PredictorSpec::default()).onnx(&format!("file:///models/{name}/model.onnx"))
    }

    /// Serve an ONNX model from `storage_uri` (replaces the model).
    pub fn onnx(self, storage_uri: &str) -> Self {
        self.model("onnx", storage_uri)
    }

    /// Serve a Hugging Face text-embedding model from `storage_uri` (replaces the model).
    pub fn huggingface(self, storage_uri: &str) -> Self {
        self.model("huggingface", storage_uri)
    }

    /// Set `spec.predictor.model` to `format` at `storage_uri`, dropping any shorthand.
    pub fn model(mut self, format: &str, storage_uri: &str) -> Self {
        let predictor = &mut self.spec.predictor;
        *predictor = PredictorSpec {
            model: Some(ModelSpec {
                model_format: Some(ModelFormatSpec {
                    name: format.to_owned(),
                    version: None,
                }),
                storage_uri: Some(storage_uri.to_owned()),
                ..ModelSpec::default()
            }),
            containers: None,
            sklearn: None,
            xgboost: None,
            lightgbm: None,
            tensorflow: None,
            pytorch: None,
            triton: None,
            onnx: None,
            pmml: None,
            paddle: None,
            huggingface: None,
            ..std::mem::take(predictor)
        };
        self
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.metadata.namespace = Some(namespace.to_owned());
        self
    }

    pub fn generation(mut self, generation: i64) -> Self {
        self.metadata.generation = Some(generation);
        self
    }

    pub fn annotate(mut self, name: &str, value: &str) -> Self {
        self.metadata
            .annotations
            .insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn canary(mut self, percent: i64) -> Self {
        self.spec.predictor.canary_traffic_percent = Some(percent);
        self
    }

    pub fn min_replicas(mut self, replicas: i32) -> Self {
        self.spec.predictor.min_replicas = Some(replicas);
        self
    }

    pub fn max_replicas(mut self, replicas: i32) -> Self {
        self.spec.predictor.max_replicas = Some(replicas);
        self
    }

    pub fn container_concurrency(mut self, concurrency: i64) -> Self {
        self.spec.predictor.container_concurrency = Some(concurrency);
        self
    }

    /// `timeout` in seconds.
    pub fn timeout_secs(mut self, seconds: i64) -> Self {
        self.spec.predictor.timeout = Some(seconds);
        self
    }

    pub fn scale(mut self, metric: ScaleMetric, target: i32) -> Self {
        self.spec.predictor.scale_metric = Some(metric);
        self.spec.predictor.scale_target = Some(target);
        self
    }

    /// A batcher of `max_batch_size` requests waiting at most `max_latency_ms`.
    pub fn batcher(mut self, max_batch_size: i64, max_latency_ms: i64) -> Self {
        self.spec.predictor.batcher = Some(Batcher {
            max_batch_size: Some(max_batch_size),
            max_latency: Some(max_latency_ms),
            timeout: None,
        });
        self
    }

    /// A WebAssembly transformer at `uri` with no config.
    pub fn wasm_transformer(mut self, uri: &str) -> Self {
        self.spec.transformer = Some(TransformerSpec {
            wasm: Some(WasmModule {
                uri: uri.to_owned(),
                config: None,
            }),
            containers: None,
        });
        self
    }

    pub fn with_status(mut self, status: InferenceServiceStatus) -> Self {
        self.status = Some(status);
        self
    }
}
