//! RED metrics (rate, errors, duration) of a proxy: the same families, names and labels as the
//! gateway's, for the standalone proxy.

use std::time::Duration;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::names::{self, label};

/// Requests total, request duration and in-flight requests.
#[derive(Clone, Debug)]
pub struct RedMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGaugeVec,
}

/// Where a request went, for its labels.
#[derive(Clone, Copy, Debug)]
pub struct RequestLabels<'a> {
    pub namespace: &'a str,
    pub model: &'a str,
    pub revision: &'a str,
    pub protocol: &'static str,
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard(IntGauge);

// === impl RedMetrics ===

impl RedMetrics {
    /// Creates the families and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<RedMetrics> {
        use label::*;
        let requests = IntCounterVec::new(
            Opts::new(names::REQUESTS_TOTAL, "Requests answered."),
            &[NAMESPACE, MODEL, REVISION, PROTOCOL, CODE],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                names::REQUEST_DURATION_SECONDS,
                "Time from request to response headers.",
            )
            .buckets(names::DURATION_BUCKETS.to_vec()),
            &[NAMESPACE, MODEL, REVISION, PROTOCOL],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(names::REQUESTS_IN_FLIGHT, "Requests being answered now."),
            &[NAMESPACE, MODEL],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(RedMetrics {
            requests,
            duration,
            in_flight,
        })
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
}

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

/// The model a KServe path names: `/v2/models/{m}[/...]` or `/v1/models/{m}[:verb]`.
pub fn model_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/v2/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let end = rest.find(['/', ':']).unwrap_or(rest.len());
    let model = &rest[..end];
    (!model.is_empty()).then_some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(model_of("/v2/models/iris/infer"), Some("iris"));
        assert_eq!(model_of("/v2/models/iris"), Some("iris"));
        assert_eq!(model_of("/v1/models/iris:predict"), Some("iris"));
        assert_eq!(model_of("/v2/models//infer"), None);
        assert_eq!(model_of("/v2/health/ready"), None);
        assert_eq!(protocol_of("/v2/health/ready"), "v2");
        assert_eq!(protocol_of("/metrics"), "other");
    }

    #[test]
    fn exposition() {
        let registry = Registry::new();
        let red = RedMetrics::register(&registry).expect("register");
        {
            let _guard = red.start("", "iris");
            let labels = RequestLabels {
                namespace: "",
                model: "iris",
                revision: "",
                protocol: "v2",
            };
            red.observe(labels, 200, Duration::from_micros(300));
        }
        let text = crate::standalone::render(&registry);
        assert!(text.contains("infergate_requests_total{code=\"200\",model=\"iris\",namespace=\"\",protocol=\"v2\",revision=\"\"} 1"), "{text}");
        assert!(
            text.contains("infergate_requests_in_flight{model=\"iris\",namespace=\"\"} 0"),
            "{text}"
        );
    }
}
