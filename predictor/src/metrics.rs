//! The predictor's own Prometheus metrics (`GET /metrics` on its HTTP port).
//!
//! The names are the project's (`monitor/src/names.rs` lists every one, and its tests check
//! that these constants agree; the predictor cannot depend on the monitor crate, which depends on
//! it). The request families carry `predictor` in their names so they never mix with the
//! gateway's `infergate_requests_total` when one Prometheus scrapes both; durations are in
//! seconds. Every family carries the served model's name as `model`; Prometheus adds the pod's
//! own target labels.

use std::time::Duration;

use http::StatusCode;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Counter `{model, protocol, code}`: inference requests answered (`/v2/.../infer`,
/// `/v1/...:predict`).
pub const REQUESTS_TOTAL: &str = "infergate_predictor_requests_total";
/// Histogram `{model, protocol}`: seconds from an inference request's headers to its response.
pub const REQUEST_DURATION_SECONDS: &str = "infergate_predictor_request_duration_seconds";
/// Gauge `{model}`: inference requests being answered now.
pub const REQUESTS_IN_FLIGHT: &str = "infergate_predictor_requests_in_flight";
/// Histogram `{model}`: seconds a request waited for a worker (and, with batching, for its
/// batch).
pub const BATCH_QUEUE_SECONDS: &str = "infergate_batch_queue_seconds";
/// Histogram `{model}`: seconds of one model call (one batch).
pub const INFERENCE_DURATION_SECONDS: &str = "infergate_inference_duration_seconds";
/// Histogram `{model}`: requests per model call (1 without batching).
pub const BATCH_SIZE: &str = "infergate_batch_size";

/// Duration buckets from 100 µs to 60 s (the project's `DURATION_BUCKETS`).
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];
/// Batch size buckets: powers of two to 1024 (the project's `BATCH_SIZE_BUCKETS`).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The predictor's metric families, registered in their own registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    model: String,
    pool: PoolMetrics,
}

/// The metrics the worker threads record, with their labels already bound (no lookup per use).
#[derive(Clone, Debug)]
pub struct PoolMetrics {
    pub(crate) queue: Histogram,
    pub(crate) inference: Histogram,
    pub(crate) batch_size: Histogram,
}

/// One inference request being answered; [`RequestTimer::finish`] counts it.
#[derive(Debug)]
pub struct RequestTimer<'a> {
    metrics: &'a Metrics,
    protocol: &'static str,
    started: std::time::Instant,
}

// === impl Metrics ===

impl Metrics {
    /// The families for a predictor serving `model`.
    pub fn new(model: &str) -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS_TOTAL, "Inference requests answered."),
            &["model", "protocol", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION_SECONDS,
                "Time from an inference request's headers to its response.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["model", "protocol"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::with_opts(
            Opts::new(REQUESTS_IN_FLIGHT, "Inference requests being answered now.")
                .const_label("model", model),
        )
        .expect("valid metric");
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            Histogram::with_opts(
                HistogramOpts::new(name, help)
                    .const_label("model", model)
                    .buckets(buckets.to_vec()),
            )
            .expect("valid metric")
        };
        let pool = PoolMetrics {
            queue: histogram(
                BATCH_QUEUE_SECONDS,
                "Time a request waited for a worker and its batch.",
                DURATION_BUCKETS,
            ),
            inference: histogram(
                INFERENCE_DURATION_SECONDS,
                "Time of one model call (one batch).",
                DURATION_BUCKETS,
            ),
            batch_size: histogram(
                BATCH_SIZE,
                "Requests per model call (1 without batching).",
                BATCH_BUCKETS,
            ),
        };
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(pool.queue.clone()),
            Box::new(pool.inference.clone()),
            Box::new(pool.batch_size.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            model: model.to_owned(),
            pool,
        }
    }

    /// The handles the worker pool records into.
    pub fn pool(&self) -> &PoolMetrics {
        &self.pool
    }

    /// Starts timing `path` when it is an inference request (counted in flight until the timer
    /// finishes or is dropped); `None` for every other path.
    pub fn start(&self, path: &str) -> Option<RequestTimer<'_>> {
        let protocol = inference_protocol(path)?;
        self.in_flight.inc();
        Some(RequestTimer {
            metrics: self,
            protocol,
            started: std::time::Instant::now(),
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

// === impl PoolMetrics ===

impl PoolMetrics {
    /// Handles registered nowhere, for a pool whose metrics nobody reads.
    pub fn unregistered() -> Self {
        Metrics::new("").pool
    }

    /// Records one model call for `requests` requests that took `elapsed`.
    pub(crate) fn observe_run(&self, requests: usize, elapsed: Duration) {
        self.inference.observe(elapsed.as_secs_f64());
        self.batch_size.observe(requests as f64);
    }
}

// === impl RequestTimer ===

impl RequestTimer<'_> {
    /// Counts the request as answered with `status`.
    pub fn finish(self, status: StatusCode) {
        let m = self.metrics;
        m.requests
            .with_label_values(&[m.model.as_str(), self.protocol, status.as_str()])
            .inc();
        m.duration
            .with_label_values(&[m.model.as_str(), self.protocol])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for RequestTimer<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}

/// `v2` for `/v2/.../infer`, `v1` for `/v1/...:predict`, `None` for any other path.
fn inference_protocol(path: &str) -> Option<&'static str> {
    if path.starts_with("/v2/") && path.trim_end_matches('/').ends_with("/infer") {
        Some("v2")
    } else if path.starts_with("/v1/") && path.ends_with(":predict") {
        Some("v1")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inference_paths_are_timed() {
        assert_eq!(inference_protocol("/v2/models/iris/infer"), Some("v2"));
        assert_eq!(
            inference_protocol("/v2/models/iris/versions/3/infer/"),
            Some("v2")
        );
        assert_eq!(inference_protocol("/v1/models/iris:predict"), Some("v1"));
        for path in [
            "/v2/health/ready",
            "/v2/models/iris",
            "/metrics",
            "/v1/models",
        ] {
            assert_eq!(inference_protocol(path), None, "{path}");
        }
    }

    #[test]
    fn the_exposition_names_every_family_with_the_model() {
        let metrics = Metrics::new("iris");
        let timer = metrics
            .start("/v2/models/iris/infer")
            .expect("an inference path");
        let in_flight = metrics.render();
        assert!(
            in_flight.contains(r#"infergate_predictor_requests_in_flight{model="iris"} 1"#),
            "{in_flight}"
        );
        timer.finish(StatusCode::SERVICE_UNAVAILABLE);
        metrics.pool().observe_run(8, Duration::from_millis(2));
        let text = metrics.render();
        for line in [
            r#"infergate_predictor_requests_total{code="503",model="iris",protocol="v2"} 1"#,
            r#"infergate_predictor_requests_in_flight{model="iris"} 0"#,
            r#"infergate_batch_size_bucket{model="iris",le="4"} 0"#,
            r#"infergate_batch_size_bucket{model="iris",le="8"} 1"#,
            r#"infergate_inference_duration_seconds_count{model="iris"} 1"#,
            r#"infergate_predictor_request_duration_seconds_count{model="iris",protocol="v2"} 1"#,
            "# TYPE infergate_batch_queue_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
