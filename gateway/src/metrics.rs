//! The gateway's Prometheus metrics: every name is defined here, once.
//!
//! Labels are bounded: `namespace`, `model` and `revision` come from the InferenceServices being
//! served (an unknown model is counted under `model=""`), `protocol` is `v1`, `v2` or `other`, and
//! `code` is the HTTP status.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::controller::Views;

/// Requests answered by the gateway.
pub const REQUESTS_TOTAL: &str = "infergate_requests_total";
/// Time from request headers to response headers, in seconds.
pub const REQUEST_DURATION_SECONDS: &str = "infergate_request_duration_seconds";
/// Requests being answered now.
pub const REQUESTS_IN_FLIGHT: &str = "infergate_requests_in_flight";
/// Replicas per revision by state (`ready`, `desired`).
pub const REVISION_REPLICAS: &str = "infergate_revision_replicas";
/// Percent of a service's traffic each revision receives.
pub const REVISION_TRAFFIC_PERCENT: &str = "infergate_revision_traffic_percent";

/// Latency buckets from 100 µs to 60 s.
const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// The gateway's metric families.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGaugeVec,
    replicas: IntGaugeVec,
    traffic: IntGaugeVec,
}

/// Where a request went, for its labels.
#[derive(Clone, Copy, Debug)]
pub struct RequestLabels<'a> {
    pub namespace: &'a str,
    pub model: &'a str,
    pub revision: &'a str,
    pub protocol: &'static str,
}

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS_TOTAL, "Requests answered by the gateway."),
            &["namespace", "model", "revision", "protocol", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION_SECONDS,
                "Time from request to response headers.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["namespace", "model", "revision", "protocol"],
        )
        .expect("valid metric");
        let in_flight = IntGaugeVec::new(
            Opts::new(REQUESTS_IN_FLIGHT, "Requests being answered now."),
            &["namespace", "model"],
        )
        .expect("valid metric");
        let replicas = IntGaugeVec::new(
            Opts::new(REVISION_REPLICAS, "Replicas per revision by state."),
            &["namespace", "model", "revision", "state"],
        )
        .expect("valid metric");
        let traffic = IntGaugeVec::new(
            Opts::new(
                REVISION_TRAFFIC_PERCENT,
                "Percent of the traffic each revision receives.",
            ),
            &["namespace", "model", "revision"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(replicas.clone()),
            Box::new(traffic.clone()),
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
            replicas,
            traffic,
        }
    }

    /// Counts a request as started; the guard counts it as finished when dropped.
    pub fn start(&self, namespace: &str, model: &str) -> InFlightGuard {
        let gauge = self.in_flight.with_label_values(&[namespace, model]);
        gauge.inc();
        InFlightGuard(gauge)
    }

    /// Records one answered request.
    pub fn observe(&self, labels: RequestLabels<'_>, code: u16, elapsed: Duration) {
        let RequestLabels {
            namespace,
            model,
            revision,
            protocol,
        } = labels;
        self.requests
            .with_label_values(&[namespace, model, revision, protocol, &code.to_string()])
            .inc();
        self.duration
            .with_label_values(&[namespace, model, revision, protocol])
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition, with replica and traffic gauges read from `views`.
    pub fn render(&self, views: &Views) -> String {
        self.replicas.reset();
        self.traffic.reset();
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
                    .with_label_values(&labels("desired"))
                    .set(revision.desired_replicas as i64);
                self.traffic
                    .with_label_values(&[
                        namespace.as_str(),
                        model.as_str(),
                        revision.name.as_str(),
                    ])
                    .set(i64::from(revision.traffic));
            }
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard(prometheus::IntGauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `v1`, `v2` or `other`, from the path.
pub fn protocol_of(path: &str) -> &'static str {
    if path.starts_with("/v2/") || path == "/v2" {
        "v2"
    } else if path.starts_with("/v1/") {
        "v1"
    } else {
        "other"
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

    #[test]
    fn protocols() {
        assert_eq!(protocol_of("/v2/models/iris/infer"), "v2");
        assert_eq!(protocol_of("/v1/models/iris:predict"), "v1");
        assert_eq!(protocol_of("/metrics"), "other");
    }
}
