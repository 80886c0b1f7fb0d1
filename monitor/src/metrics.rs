//! The monitoring metric families, registered once into the caller's registry.
//!
//! Value histograms are the exception: each series has its own buckets (its reference's bin
//! edges), which one `HistogramVec` cannot give, so each is a `Histogram` with constant labels,
//! registered when its buckets are known and unregistered when its model is reset.

use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

use crate::names::{self, label};

/// The families the monitor records into.
#[derive(Clone, Debug)]
pub(crate) struct Families {
    pub(crate) registry: Registry,
    pub(crate) classes: IntCounterVec,
    pub(crate) feature_drift: GaugeVec,
    pub(crate) prediction_drift: GaugeVec,
    pub(crate) threshold: GaugeVec,
    pub(crate) samples: IntCounterVec,
    pub(crate) dropped: IntCounterVec,
    pub(crate) unparsable: IntCounterVec,
}

/// Whether a series is an input feature or an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Feature,
    Output,
}

// === impl Families ===

impl Families {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Families> {
        use label::*;
        let counter =
            |name, help, labels: &[&str]| IntCounterVec::new(Opts::new(name, help), labels);
        let gauge = |name, help, labels: &[&str]| GaugeVec::new(Opts::new(name, help), labels);
        let families = Families {
            registry: registry.clone(),
            classes: counter(
                names::PREDICTION_CLASS_TOTAL,
                "Predictions per class.",
                &[NAMESPACE, MODEL, OUTPUT, CLASS],
            )?,
            feature_drift: gauge(
                names::FEATURE_DRIFT,
                "Drift of an input feature: reference vs sliding window.",
                &[NAMESPACE, MODEL, FEATURE, METHOD],
            )?,
            prediction_drift: gauge(
                names::PREDICTION_DRIFT,
                "Drift of an output: reference vs sliding window.",
                &[NAMESPACE, MODEL, OUTPUT, METHOD],
            )?,
            threshold: gauge(
                names::DRIFT_THRESHOLD,
                "Drift warning and drift levels of a model.",
                &[NAMESPACE, MODEL, LEVEL],
            )?,
            samples: counter(
                names::MONITOR_SAMPLES_TOTAL,
                "Request/response pairs handed to the monitoring worker.",
                &[NAMESPACE, MODEL],
            )?,
            dropped: counter(
                names::MONITOR_SAMPLES_DROPPED_TOTAL,
                "Sampled request/response pairs not recorded, by reason.",
                &[NAMESPACE, MODEL, REASON],
            )?,
            unparsable: counter(
                names::MONITOR_UNPARSABLE_TOTAL,
                "Request or response bodies the monitor could not read, by reason.",
                &[NAMESPACE, MODEL, PART, REASON],
            )?,
        };
        for collector in [
            Box::new(families.classes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(families.feature_drift.clone()),
            Box::new(families.prediction_drift.clone()),
            Box::new(families.threshold.clone()),
            Box::new(families.samples.clone()),
            Box::new(families.dropped.clone()),
            Box::new(families.unparsable.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(families)
    }

    /// A value histogram for one series, registered.
    pub(crate) fn histogram(
        &self,
        role: Role,
        namespace: &str,
        model: &str,
        series: &str,
        buckets: &[f64],
    ) -> prometheus::Result<Histogram> {
        let (name, help, series_label) = match role {
            Role::Feature => (
                names::FEATURE_VALUE,
                "Values of a numeric input feature.",
                label::FEATURE,
            ),
            Role::Output => (
                names::PREDICTION_VALUE,
                "Values of a numeric output.",
                label::OUTPUT,
            ),
        };
        let opts = HistogramOpts::new(name, help)
            .const_label(label::NAMESPACE, namespace)
            .const_label(label::MODEL, model)
            .const_label(series_label, series)
            .buckets(buckets.to_vec());
        let histogram = Histogram::with_opts(opts)?;
        self.registry.register(Box::new(histogram.clone()))?;
        Ok(histogram)
    }

    /// The drift gauge family of `role`.
    pub(crate) fn drift(&self, role: Role) -> &GaugeVec {
        match role {
            Role::Feature => &self.feature_drift,
            Role::Output => &self.prediction_drift,
        }
    }
}
