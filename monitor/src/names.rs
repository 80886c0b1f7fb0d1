//! Every Prometheus metric name of the project, defined once.
//!
//! Conventions (<https://prometheus.io/docs/practices/naming/>): the `infergate_` prefix, base
//! units (`_seconds`; ratios are 0..1, sizes are counts), `_total` on counters and only on them.
//! Labels are a closed set ([`label`]): `namespace`, `model` and `revision` come from the
//! InferenceServices being served, `protocol` is `v1`, `v2` or `other`, `code` is the HTTP
//! status, and the monitoring labels (`feature`, `output`, `class`) are capped per model (see the
//! crate documentation).
//!
//! Who records what: the gateway the request, replica, activator and autoscaler families; the
//! predictor the batch and model-load families; [`crate::Monitor`] the distribution, drift and
//! monitoring-health families.

// --- RED: requests (gateway and `infergate monitor`) ---

/// Counter `{namespace, model, revision, protocol, code}`: requests answered.
pub const REQUESTS_TOTAL: &str = "infergate_requests_total";
/// Histogram `{namespace, model, revision, protocol}`: time from request headers to response
/// headers, in seconds ([`DURATION_BUCKETS`]).
pub const REQUEST_DURATION_SECONDS: &str = "infergate_request_duration_seconds";
/// Gauge `{namespace, model}`: requests being answered now.
pub const REQUESTS_IN_FLIGHT: &str = "infergate_requests_in_flight";

// --- Revisions, replicas and the autoscaler (gateway) ---

/// Gauge `{namespace, model, revision, state}`: replicas per revision by state: `ready`
/// (answering), `actual` (running or starting) and `desired` (the autoscaler's decision).
pub const REVISION_REPLICAS: &str = "infergate_revision_replicas";
/// Gauge `{namespace, model, revision}`: percent of a service's traffic each revision receives.
pub const REVISION_TRAFFIC_PERCENT: &str = "infergate_revision_traffic_percent";
/// Gauge `{namespace, model, revision}`: 1 while the revision's autoscaler is in panic mode, else 0.
pub const REVISION_PANIC_MODE: &str = "infergate_revision_panic_mode";
/// Gauge `{namespace, model, revision}`: average concurrent requests over the stable window.
pub const REVISION_STABLE_CONCURRENCY: &str = "infergate_revision_stable_concurrency";
/// Gauge `{namespace, model, revision}`: average concurrent requests over the panic window.
pub const REVISION_PANIC_CONCURRENCY: &str = "infergate_revision_panic_concurrency";
/// Gauge `{namespace, model, revision}`: average requests per second over the stable window
/// (revisions that scale on `rps`).
pub const REVISION_STABLE_RPS: &str = "infergate_revision_stable_requests_per_second";
/// Gauge `{namespace, model, revision}`: average requests per second over the panic window
/// (revisions that scale on `rps`).
pub const REVISION_PANIC_RPS: &str = "infergate_revision_panic_requests_per_second";
/// Gauge `{namespace, model, revision}`: 1 while Knative's target-burst-capacity rule would keep
/// the activator in the request path (informational: the in-process activator's slot count
/// admits every request either way).
pub const REVISION_ACTIVATOR_IN_PATH: &str = "infergate_revision_activator_in_path";
/// Histogram `{namespace, model, revision}`: seconds from the first request to a revision at
/// zero replicas to its response headers (scale from zero), [`DURATION_BUCKETS`].
pub const COLD_START_SECONDS: &str = "infergate_cold_start_seconds";

// --- The activator queue (gateway) ---

/// Gauge `{namespace, model, revision}`: requests waiting in the activator for a replica.
pub const ACTIVATOR_QUEUE_DEPTH: &str = "infergate_activator_queue_depth";
/// Histogram `{namespace, model, revision}`: seconds a request waited in the activator,
/// [`DURATION_BUCKETS`].
pub const ACTIVATOR_QUEUE_WAIT_SECONDS: &str = "infergate_activator_queue_wait_seconds";

// --- Predictor, batching and transformers ---

/// Histogram `{namespace, model, revision}`: seconds to load a model and warm it up,
/// [`MODEL_LOAD_BUCKETS`].
pub const MODEL_LOAD_SECONDS: &str = "infergate_model_load_seconds";
/// Histogram `{model}` on the predictor's `/metrics`: requests per model call (1 without
/// batching), [`BATCH_SIZE_BUCKETS`]. Recorded by `infergate_predictor::metrics`, which cannot
/// use this crate (it depends on the predictor); a test below keeps the two equal.
pub const BATCH_SIZE: &str = "infergate_batch_size";
/// Histogram `{model}` on the predictor's `/metrics`: seconds a request waited in the model's
/// queue for a worker and its batch, [`DURATION_BUCKETS`].
pub const BATCH_QUEUE_SECONDS: &str = "infergate_batch_queue_seconds";
/// Histogram `{model}` on the predictor's `/metrics`: seconds of one model call (one batch),
/// [`DURATION_BUCKETS`].
pub const INFERENCE_DURATION_SECONDS: &str = "infergate_inference_duration_seconds";
/// Counter `{model, protocol, code}` on the predictor's `/metrics`: inference requests answered
/// by the predictor itself (named apart from [`REQUESTS_TOTAL`] so that scraping the gateway and
/// its pods never counts a request twice).
pub const PREDICTOR_REQUESTS_TOTAL: &str = "infergate_predictor_requests_total";
/// Histogram `{model, protocol}` on the predictor's `/metrics`: seconds from an inference
/// request's headers to its response, [`DURATION_BUCKETS`].
pub const PREDICTOR_REQUEST_DURATION_SECONDS: &str = "infergate_predictor_request_duration_seconds";
/// Gauge `{model}` on the predictor's `/metrics`: inference requests being answered now.
pub const PREDICTOR_REQUESTS_IN_FLIGHT: &str = "infergate_predictor_requests_in_flight";
/// Histogram `{namespace, model, stage}`: seconds in a transformer's `preprocess` or
/// `postprocess` (`stage`), [`DURATION_BUCKETS`].
pub const TRANSFORMER_DURATION_SECONDS: &str = "infergate_transformer_duration_seconds";

// --- Monitoring: distributions (crate::Monitor) ---

/// Histogram `{namespace, model, feature}`: values of a numeric input feature (`feature` is
/// the V2 input name and the element index in the row, e.g. `input[2]`). Buckets are the
/// reference's bin edges, so they differ per feature.
pub const FEATURE_VALUE: &str = "infergate_feature_value";
/// Histogram `{namespace, model, output}`: values of a numeric (score or regression) output.
/// Buckets come from the model's `output-buckets`, else from the reference's bin edges.
pub const PREDICTION_VALUE: &str = "infergate_prediction_value";
/// Counter `{namespace, model, output, class}`: predictions per class (integer, boolean or
/// string outputs, or the argmax of a configured score output).
pub const PREDICTION_CLASS_TOTAL: &str = "infergate_prediction_class_total";

// --- Monitoring: drift ---

/// Gauge `{namespace, model, feature, method}`: drift of an input feature between its reference
/// and the sliding window; `method` is [`METHOD_PSI`] or [`METHOD_JS`].
pub const FEATURE_DRIFT: &str = "infergate_feature_drift";
/// Gauge `{namespace, model, output, method}`: drift of an output, as [`FEATURE_DRIFT`].
pub const PREDICTION_DRIFT: &str = "infergate_prediction_drift";
/// Gauge `{namespace, model, level}`: the model's drift thresholds (`level` is `warning` or
/// `drift`), for dashboards' threshold lines and alert rules.
pub const DRIFT_THRESHOLD: &str = "infergate_drift_threshold";

// --- Monitoring: its own health ---

/// Counter `{namespace, model}`: request/response pairs handed to the monitoring worker.
pub const MONITOR_SAMPLES_TOTAL: &str = "infergate_monitor_samples_total";
/// Counter `{namespace, model, reason}`: sampled pairs not recorded: `queue_full` (the side
/// queue was full), `body_too_large` (the response passed the copy cap), `body_incomplete` (the
/// response body failed mid-stream or the client left before its end), `model_cap` (too many
/// unconfigured models in the standalone proxy; counted under `model=""`).
pub const MONITOR_SAMPLES_DROPPED_TOTAL: &str = "infergate_monitor_samples_dropped_total";
/// Counter `{namespace, model, part, reason}`: bodies the worker could not read (`part` is
/// `request` or `response`; `reason` is the codec's error kind, e.g. `malformed_json`).
pub const MONITOR_UNPARSABLE_TOTAL: &str = "infergate_monitor_unparsable_total";

/// The label names, so that every family spells them the same.
pub mod label {
    pub const NAMESPACE: &str = "namespace";
    pub const MODEL: &str = "model";
    pub const REVISION: &str = "revision";
    pub const PROTOCOL: &str = "protocol";
    pub const CODE: &str = "code";
    pub const STATE: &str = "state";
    pub const STAGE: &str = "stage";
    pub const FEATURE: &str = "feature";
    pub const OUTPUT: &str = "output";
    pub const CLASS: &str = "class";
    pub const METHOD: &str = "method";
    pub const LEVEL: &str = "level";
    pub const REASON: &str = "reason";
    pub const PART: &str = "part";
}

/// `method` label of the drift gauges: population stability index.
pub const METHOD_PSI: &str = "psi";
/// `method` label of the drift gauges: Jensen-Shannon distance (base 2, in [0, 1]).
pub const METHOD_JS: &str = "js";

/// Latency buckets from 100 µs to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];
/// Model load buckets from 10 ms to 10 minutes.
pub const MODEL_LOAD_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Batch size buckets: powers of two up to 1024.
pub const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Every metric name above, for tests and documentation checks.
pub const ALL: &[&str] = &[
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    REQUESTS_IN_FLIGHT,
    REVISION_REPLICAS,
    REVISION_TRAFFIC_PERCENT,
    REVISION_PANIC_MODE,
    REVISION_STABLE_CONCURRENCY,
    REVISION_PANIC_CONCURRENCY,
    REVISION_STABLE_RPS,
    REVISION_PANIC_RPS,
    REVISION_ACTIVATOR_IN_PATH,
    COLD_START_SECONDS,
    ACTIVATOR_QUEUE_DEPTH,
    ACTIVATOR_QUEUE_WAIT_SECONDS,
    MODEL_LOAD_SECONDS,
    BATCH_SIZE,
    BATCH_QUEUE_SECONDS,
    INFERENCE_DURATION_SECONDS,
    PREDICTOR_REQUESTS_TOTAL,
    PREDICTOR_REQUEST_DURATION_SECONDS,
    PREDICTOR_REQUESTS_IN_FLIGHT,
    TRANSFORMER_DURATION_SECONDS,
    FEATURE_VALUE,
    PREDICTION_VALUE,
    PREDICTION_CLASS_TOTAL,
    FEATURE_DRIFT,
    PREDICTION_DRIFT,
    DRIFT_THRESHOLD,
    MONITOR_SAMPLES_TOTAL,
    MONITOR_SAMPLES_DROPPED_TOTAL,
    MONITOR_UNPARSABLE_TOTAL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL {
            assert!(seen.insert(name), "{name} is listed twice");
            assert!(name.starts_with("infergate_"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            for unit in ["_milliseconds", "_ms", "_percent_total", "_bytes_total_"] {
                assert!(!name.contains(unit), "{name} uses a non-base unit");
            }
        }
        let counters = [
            REQUESTS_TOTAL,
            PREDICTOR_REQUESTS_TOTAL,
            PREDICTION_CLASS_TOTAL,
            MONITOR_SAMPLES_TOTAL,
            MONITOR_SAMPLES_DROPPED_TOTAL,
            MONITOR_UNPARSABLE_TOTAL,
        ];
        for name in ALL {
            assert_eq!(name.ends_with("_total"), counters.contains(name), "{name}");
        }
    }

    #[test]
    fn the_predictor_records_these_names() {
        use infergate_predictor::metrics as predictor;
        assert_eq!(predictor::BATCH_SIZE, BATCH_SIZE);
        assert_eq!(predictor::BATCH_QUEUE_SECONDS, BATCH_QUEUE_SECONDS);
        assert_eq!(
            predictor::INFERENCE_DURATION_SECONDS,
            INFERENCE_DURATION_SECONDS
        );
        assert_eq!(predictor::REQUESTS_TOTAL, PREDICTOR_REQUESTS_TOTAL);
        assert_eq!(
            predictor::REQUEST_DURATION_SECONDS,
            PREDICTOR_REQUEST_DURATION_SECONDS
        );
        assert_eq!(predictor::REQUESTS_IN_FLIGHT, PREDICTOR_REQUESTS_IN_FLIGHT);
    }

    #[test]
    fn buckets_ascend() {
        for buckets in [DURATION_BUCKETS, MODEL_LOAD_BUCKETS, BATCH_SIZE_BUCKETS] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
        }
        assert_eq!(DURATION_BUCKETS.first(), Some(&0.0001));
        assert_eq!(DURATION_BUCKETS.last(), Some(&60.0));
    }
}
