//! The monitoring metric families, registered once into the caller's registry.
//!
//! Value histograms are the exception: each series has its own buckets (its reference's bin
//! edges), which one `HistogramVec` cannot give, so each is a [`ValueHistogram`] with constant
//! labels, registered when its buckets are known and unregistered when its model is reset.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily};
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

/// A series' value histogram as the worker holds it: values are counted here and published by
/// [`ValueHistogram::flush`] (after each drained batch), so observing touches no shared state.
/// The sum adds the values in the order they were observed, as a `Histogram` observing each
/// value would: batching changes when the values show, never a digit of them.
#[derive(Debug)]
pub(crate) struct ValueHistogram {
    collector: HistogramCollector,
    /// Values per bucket since the last flush, the last one past every bound (+Inf).
    pending: Vec<u64>,
    count: u64,
    /// The sum of every value observed, published or not.
    sum: f64,
}

/// What the registry holds: the histogram's description, and its values as last published.
#[derive(Clone, Debug)]
struct HistogramCollector {
    /// Never observed: its description and (empty) family are the shape of what is collected.
    template: Histogram,
    bounds: Arc<[f64]>,
    published: Arc<Mutex<Published>>,
}

#[derive(Debug)]
struct Published {
    /// Per bound, not cumulative.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
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
    ) -> prometheus::Result<ValueHistogram> {
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
        let template = Histogram::with_opts(opts)?;
        // The bounds as the histogram keeps them (a last +Inf dropped: it is implicit).
        let bounds: Arc<[f64]> = template
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .flat_map(|metric| metric.get_histogram().get_bucket())
            .map(proto::Bucket::upper_bound)
            .collect();
        let collector = HistogramCollector {
            published: Arc::new(Mutex::new(Published {
                buckets: vec![0; bounds.len()],
                count: 0,
                sum: 0.0,
            })),
            template,
            bounds,
        };
        self.registry.register(Box::new(collector.clone()))?;
        Ok(ValueHistogram {
            pending: vec![0; collector.bounds.len() + 1],
            count: 0,
            sum: 0.0,
            collector,
        })
    }

    /// The drift gauge family of `role`.
    pub(crate) fn drift(&self, role: Role) -> &GaugeVec {
        match role {
            Role::Feature => &self.feature_drift,
            Role::Output => &self.prediction_drift,
        }
    }
}

// === impl ValueHistogram ===

impl ValueHistogram {
    /// The upper bounds of the buckets, ascending (+Inf implicit).
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.collector.bounds
    }

    /// Observes `v` (not NaN) into its bucket: the first whose bound is at least `v`.
    pub(crate) fn observe(&mut self, v: f64) {
        let bucket = self.collector.bounds.partition_point(|&b| b < v);
        self.observe_in(bucket, v);
    }

    /// Observes `v` into `bucket`, known to be the one [`ValueHistogram::observe`] would pick
    /// (`bounds().len()` for +Inf).
    pub(crate) fn observe_in(&mut self, bucket: usize, v: f64) {
        self.pending[bucket] += 1;
        self.count += 1;
        self.sum += v;
    }

    /// Publishes what was observed since the last flush.
    pub(crate) fn flush(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut published = (self.collector.published)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (total, pending) in published.buckets.iter_mut().zip(&self.pending) {
            *total += pending;
        }
        published.count += self.count;
        published.sum = self.sum;
        drop(published);
        self.pending.fill(0);
        self.count = 0;
    }

    /// Removes it from `registry`.
    pub(crate) fn unregister(self, registry: &Registry) {
        let _ = registry.unregister(Box::new(self.collector));
    }
}

// === impl HistogramCollector ===

impl Collector for HistogramCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.template.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.template.collect();
        let published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut histogram = proto::Histogram::default();
        histogram.set_sample_count(published.count);
        histogram.set_sample_sum(published.sum);
        let mut cumulative = 0;
        let buckets = self.bounds.iter().zip(&published.buckets);
        histogram.set_bucket(
            buckets
                .map(|(&bound, &n)| {
                    cumulative += n;
                    let mut bucket = proto::Bucket::default();
                    bucket.set_cumulative_count(cumulative);
                    bucket.set_upper_bound(bound);
                    bucket
                })
                .collect(),
        );
        drop(published);
        for family in &mut families {
            for metric in family.mut_metric() {
                metric.set_histogram(histogram.clone());
            }
        }
        families
    }
}
