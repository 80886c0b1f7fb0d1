//! The gateway's Prometheus metrics (every name is defined once, in `infergate_monitor::names`).
//!
//! Labels are bounded: `namespace`, `model` and `revision` come from the InferenceServices being
//! served (an unknown model is counted under `model=""`), `protocol` is `v1`, `v2` or `other`, and
//! `code` is the HTTP status.

use std::time::Duration;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry};

use crate::controller::Views;
use infergate_monitor::red::RedMetrics;
pub use infergate_monitor::red::{InFlightGuard, RequestLabels, protocol_of};

use infergate_monitor::names::{
    ACTIVATOR_QUEUE_DEPTH, ACTIVATOR_QUEUE_WAIT_SECONDS, COLD_START_SECONDS, DURATION_BUCKETS,
    REVISION_ACTIVATOR_IN_PATH, REVISION_PANIC_CONCURRENCY, REVISION_PANIC_MODE,
    REVISION_PANIC_RPS, REVISION_REPLICAS, REVISION_STABLE_CONCURRENCY, REVISION_STABLE_RPS,
    REVISION_TRAFFIC_PERCENT, TRANSFORMER_DURATION_SECONDS,
};

/// The gateway's metric families.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests, their duration and those in flight: the families `infergate monitor` has too.
    red: RedMetrics,
    replicas: IntGaugeVec,
    traffic: IntGaugeVec,
    queue_depth: IntGaugeVec,
    queue_wait: HistogramVec,
    cold_start: HistogramVec,
    panic_mode: IntGaugeVec,
    in_path: IntGaugeVec,
    transformer: HistogramVec,
    /// Stable and panic window averages: `[concurrency, rps]` x `[stable, panic]`.
    observed: [[GaugeVec; 2]; 2],
}

const REVISION: &[&str] = &["namespace", "model", "revision"];

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let red = RedMetrics::register(&registry).expect("each metric is registered once");
        let int_gauge = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = GaugeVec::new(Opts::new(name, help), REVISION).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels).expect("valid metric");
            registry
                .register(Box::new(metric.clone()))
                .expect("each metric is registered once");
            metric
        };
        let replicas = int_gauge(
            REVISION_REPLICAS,
            "Replicas per revision by state: ready, actual (running or starting), desired.",
            &["namespace", "model", "revision", "state"],
        );
        let traffic = int_gauge(
            REVISION_TRAFFIC_PERCENT,
            "Percent of the traffic each revision receives.",
            REVISION,
        );
        let queue_depth = int_gauge(
            ACTIVATOR_QUEUE_DEPTH,
            "Requests waiting in the revision's activator queue.",
            REVISION,
        );
        let queue_wait = histogram(
            ACTIVATOR_QUEUE_WAIT_SECONDS,
            "Time requests waited in the activator for a replica.",
            REVISION,
        );
        let cold_start = histogram(
            COLD_START_SECONDS,
            "First request to a revision at zero replicas, to its response headers.",
            REVISION,
        );
        let panic_mode = int_gauge(
            REVISION_PANIC_MODE,
            "1 while the revision's autoscaler is in panic mode.",
            REVISION,
        );
        let in_path = int_gauge(
            REVISION_ACTIVATOR_IN_PATH,
            "1 while Knative's target-burst-capacity rule would keep the activator in the path.",
            REVISION,
        );
        let transformer = histogram(
            TRANSFORMER_DURATION_SECONDS,
            "Time in a WebAssembly transformer's preprocess or postprocess (stage).",
            &["namespace", "model", "stage"],
        );
        let observed = [
            [
                gauge(
                    REVISION_STABLE_CONCURRENCY,
                    "Requests in flight, averaged over the stable window.",
                ),
                gauge(
                    REVISION_PANIC_CONCURRENCY,
                    "Requests in flight, averaged over the panic window.",
                ),
            ],
            [
                gauge(
                    REVISION_STABLE_RPS,
                    "Requests per second, averaged over the stable window.",
                ),
                gauge(
                    REVISION_PANIC_RPS,
                    "Requests per second, averaged over the panic window.",
                ),
            ],
        ];
        Metrics {
            registry,
            red,
            replicas,
            traffic,
            queue_depth,
            queue_wait,
            cold_start,
            panic_mode,
            in_path,
            transformer,
            observed,
        }
    }

    /// The registry the exposition renders; other parts (monitoring) register into it.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records how long a request waited in the activator (`[namespace, model, revision]`).
    pub fn observe_queue_wait(&self, labels: [&str; 3], waited: Duration) {
        self.queue_wait
            .with_label_values(&labels)
            .observe(waited.as_secs_f64());
    }

    /// Records one transformer call (`stage`: `preprocess` or `postprocess`).
    pub fn observe_transformer(&self, namespace: &str, model: &str, stage: &str, took: Duration) {
        self.transformer
            .with_label_values(&[namespace, model, stage])
            .observe(took.as_secs_f64());
    }

    /// Records a cold start (`[namespace, model, revision]`).
    pub fn observe_cold_start(&self, labels: [&str; 3], took: Duration) {
        self.cold_start
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts a request as started; the guard counts it as finished when dropped.
    pub fn start(&self, namespace: &str, model: &str) -> InFlightGuard {
        self.red.start(namespace, model)
    }

    /// Records one answered request.
    pub fn observe(&self, labels: RequestLabels<'_>, code: u16, elapsed: Duration) {
        self.red.observe(labels, code, elapsed);
    }

    /// The Prometheus text exposition, with replica and traffic gauges read from `views`.
    pub fn render(&self, views: &Views) -> String {
        for family in [
            &self.replicas,
            &self.traffic,
            &self.queue_depth,
            &self.panic_mode,
            &self.in_path,
        ] {
            family.reset();
        }
        for family in self.observed.iter().flatten() {
            family.reset();
        }
        for ((namespace, model), service) in &views.services {
            for revision in &service.revisions {
                let labels = |state| {
                    [
                        namespace.as_str(),
                        model.as_str(),
                        revision.name.as_str(),
                        state,
                    ]
                };
                self.replicas
                    .with_label_values(&labels("ready"))
                    .set(revision.ready_replicas as i64);
                self.replicas
                    .with_label_values(&labels("actual"))
                    .set(revision.desired_replicas as i64);
                let rev = [namespace.as_str(), model.as_str(), revision.name.as_str()];
                self.traffic
                    .with_label_values(&rev)
                    .set(i64::from(revision.traffic));
                let Some(scaling) = &revision.scaling else {
                    self.replicas
                        .with_label_values(&labels("desired"))
                        .set(revision.desired_replicas as i64);
                    continue;
                };
                let view = scaling.view();
                self.replicas
                    .with_label_values(&labels("desired"))
                    .set(i64::from(view.desired));
                self.queue_depth
                    .with_label_values(&rev)
                    .set(i64::try_from(view.queued).unwrap_or(i64::MAX));
                self.panic_mode
                    .with_label_values(&rev)
                    .set(i64::from(view.panic));
                self.in_path
                    .with_label_values(&rev)
                    .set(i64::from(view.activator_in_path));
                let [stable, panic] = match view.metric {
                    "rps" => &self.observed[1],
                    _ => &self.observed[0],
                };
                stable.with_label_values(&rev).set(view.stable);
                panic.with_label_values(&rev).set(view.panic_value);
            }
        }
        infergate_monitor::standalone::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_with_its_labels() {
        let metrics = Metrics::new();
        let labels = RequestLabels {
            namespace: "default",
            model: "iris",
            revision: "iris-predictor-00001",
            protocol: "v2",
        };
        {
            let _guard = metrics.start("default", "iris");
            metrics.observe(labels, 200, Duration::from_micros(300));
        }
        let text = metrics.render(&Views::default());
        assert!(text.contains(
            "infergate_requests_total{code=\"200\",model=\"iris\",namespace=\"default\",protocol=\"v2\",revision=\"iris-predictor-00001\"} 1"
        ), "{text}");
        assert!(text.contains("infergate_request_duration_seconds_bucket{model=\"iris\",namespace=\"default\",protocol=\"v2\",revision=\"iris-predictor-00001\",le=\"0.0005\"} 1"), "{text}");
        assert!(
            text.contains("infergate_requests_in_flight{model=\"iris\",namespace=\"default\"} 0"),
            "{text}"
        );
    }
}
