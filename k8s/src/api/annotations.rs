//! The annotation names infergate reads, as constants, and a small accessor.
//!
//! Only the names live here: the typed parsing of the autoscaling annotations (durations,
//! percentages, their defaults) belongs to the autoscaler, so the decider never sees strings.

use super::InferenceService;

/// Knative's autoscaling annotation prefix.
pub const AUTOSCALING_PREFIX: &str = "autoscaling.knative.dev/";

/// Target per replica, in units of the metric (default 100 in-flight requests).
pub const TARGET: &str = "autoscaling.knative.dev/target";
/// `concurrency` (default) or `rps`.
pub const METRIC: &str = "autoscaling.knative.dev/metric";
/// Stable window, e.g. `60s`.
pub const WINDOW: &str = "autoscaling.knative.dev/window";
/// Panic window as a percentage of the stable window (default 10).
pub const PANIC_WINDOW_PERCENTAGE: &str = "autoscaling.knative.dev/panic-window-percentage";
/// Demand, as a percentage of ready capacity, that starts panic mode (default 200).
pub const PANIC_THRESHOLD_PERCENTAGE: &str = "autoscaling.knative.dev/panic-threshold-percentage";
/// How long the last replica is kept after traffic stops, e.g. `30s`.
pub const SCALE_TO_ZERO_POD_RETENTION_PERIOD: &str =
    "autoscaling.knative.dev/scale-to-zero-pod-retention-period";
/// Replicas to start a new revision with.
pub const INITIAL_SCALE: &str = "autoscaling.knative.dev/initial-scale";
/// Knative's spelling of `minReplicas`.
pub const MIN_SCALE: &str = "autoscaling.knative.dev/min-scale";
/// Knative's spelling of `maxReplicas`.
pub const MAX_SCALE: &str = "autoscaling.knative.dev/max-scale";
/// Share of the target to aim at (default 70).
pub const TARGET_UTILIZATION_PERCENTAGE: &str =
    "autoscaling.knative.dev/target-utilization-percentage";
/// Spare capacity the activator keeps in the path for bursts.
pub const TARGET_BURST_CAPACITY: &str = "autoscaling.knative.dev/target-burst-capacity";

/// Every autoscaling annotation infergate reads.
pub const AUTOSCALING: &[&str] = &[
    TARGET,
    METRIC,
    WINDOW,
    PANIC_WINDOW_PERCENTAGE,
    PANIC_THRESHOLD_PERCENTAGE,
    SCALE_TO_ZERO_POD_RETENTION_PERIOD,
    INITIAL_SCALE,
    MIN_SCALE,
    MAX_SCALE,
    TARGET_UTILIZATION_PERCENTAGE,
    TARGET_BURST_CAPACITY,
];

/// KServe's annotation prefix.
pub const KSERVE_PREFIX: &str = "serving.kserve.io/";

/// `"true"` turns on KServe's tag routing: `latest-<isvc>` and `prev-<isvc>` host prefixes.
pub const ENABLE_TAG_ROUTING: &str = "serving.kserve.io/enable-tag-routing";

/// Whether infergate reads the annotation `name`. Names outside the Knative autoscaling and
/// KServe prefixes are not infergate's business and count as read (they are kept and echoed).
pub fn is_honoured(name: &str) -> bool {
    if name.starts_with(AUTOSCALING_PREFIX) {
        AUTOSCALING.contains(&name)
    } else if name.starts_with(KSERVE_PREFIX) {
        name == ENABLE_TAG_ROUTING
    } else {
        true
    }
}

// === impl InferenceService ===

impl InferenceService {
    /// The value of `metadata.annotations[name]`, trimmed; `None` when absent or blank.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.metadata
            .annotations
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The autoscaling annotations that are set, as `(name, value)` pairs in [`AUTOSCALING`]
    /// order, for the autoscaler to parse.
    pub fn autoscaling_annotations(&self) -> Vec<(&'static str, &str)> {
        AUTOSCALING
            .iter()
            .filter_map(|&name| self.annotation(name).map(|value| (name, value)))
            .collect()
    }

    /// Whether `serving.kserve.io/enable-tag-routing` is `"true"` (case-insensitive).
    pub fn tag_routing_enabled(&self) -> bool {
        self.annotation(ENABLE_TAG_ROUTING)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"))
    }
}
