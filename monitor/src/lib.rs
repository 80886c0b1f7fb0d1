//! infergate's monitoring: every metric name of the project ([`names`]), prediction and feature
//! distributions, drift against a reference, and the standalone monitoring proxy
//! ([`standalone`], `infergate monitor --upstream URL`).
//!
//! ```text
//! request ──> gateway / standalone proxy ──> upstream model server
//!               │  monitor.sample(ns, model, path) -> Option<Recorder>   (lock-free, ratio)
//!               │  recorder.tee(req headers, req body, response)         (frames pass through)
//!               ▼  end of response body: try_send (bounded; full -> dropped, counted)
//!             worker thread: decode (V2 JSON: one pass, recorded elements only; else the codec)
//!               │  (values accumulate in the worker, published after each drained batch)
//!               ├─ features:  infergate_feature_value{feature}      histograms
//!               ├─ outputs:   infergate_prediction_class_total{class}, infergate_prediction_value
//!               └─ drift:     reference (file or first N) vs sliding window of W values:
//!                             infergate_feature_drift / infergate_prediction_drift {method=psi|js}
//!                             (rescored at most every 100 ms, and when idle)
//! ```
//!
//! Parsing never delays a response: the worker reads the bodies after they were streamed to the
//! client, and bodies it cannot read are counted (`infergate_monitor_unparsable_total`), never an
//! error to the client.
//!
//! **Settings** per model come from the InferenceService's `monitoring.infergate.dev/*`
//! annotations or the standalone proxy's `--config` YAML; see [`config`] for the table and the
//! defaults (sample ratio 1, reference and window 1000 values, drift warning 0.1, drift 0.2),
//! and [`reference`] for the reference file. Series naming is in [`extract`], binning in [`bins`],
//! the drift math in [`drift`].
//!
//! **Bounds**: at most [`config::MAX_SERIES`] feature and output series per model (further
//! series are not recorded, logged once), [`config::MAX_CLASSES`] classes per output (the rest
//! count as `other`), and for the standalone proxy at most 64 unconfigured models.
//!
//! What this crate is not: it does not proxy for the gateway (the gateway calls [`Monitor`]
//! from its own handler) and it keeps no history: Prometheus does.

pub mod bins;
pub mod config;
pub mod drift;
pub mod extract;
mod metrics;
mod monitor;
pub mod names;
pub mod red;
pub mod reference;
pub mod standalone;
mod state;
mod tee;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use self::{
    config::{ConfigError, ModelMonitoring, MonitorFile, Settings},
    monitor::{Monitor, MonitorConfig, Recorder},
    tee::TeeBody,
};
