//! [`AutoscalerConfig`]: Knative's KPA settings, typed, with Knative's defaults.
//!
//! Built once per revision by [`AutoscalerConfig::from_isvc`] (see `isvc.rs`); the decider only
//! ever sees this struct, never annotation strings. Every field is public so that tests can
//! shorten windows; [`AutoscalerConfig::validate`] checks what the decider relies on.

use std::time::Duration;

use thiserror::Error;

/// What the autoscaler measures (`autoscaling.knative.dev/metric`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    /// Requests in flight, summed over replicas (Knative's default).
    #[default]
    Concurrency,
    /// Requests per second, summed over replicas.
    Rps,
}

/// How much spare capacity the activator keeps in the path for
/// (`autoscaling.knative.dev/target-burst-capacity`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BurstCapacity {
    /// `-1`: the activator always stays in the request path.
    Unlimited,
    /// `0` or more requests: the activator is in the path only while
    /// `ready * target - panic demand < this` (`0`: only while the revision has no replica).
    Requests(f64),
}

/// Per-revision KPA configuration. Field docs name the Knative key (annotation or
/// `config-autoscaler` key) and its default.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoscalerConfig {
    /// `autoscaling.knative.dev/metric` (KServe: `scaleMetric`). Default `concurrency`.
    pub metric: Metric,
    /// `autoscaling.knative.dev/target` (KServe: `scaleTarget`): the per-replica target, in
    /// units of [`Self::metric`]. Default: `containerConcurrency` when set, else 100
    /// (`container-concurrency-target-default`) for concurrency and 200
    /// (`requests-per-second-target-default`) for rps.
    pub target: f64,
    /// `autoscaling.knative.dev/target-utilization-percentage`: the share of [`Self::target`]
    /// the decider aims at. Default 70.
    pub target_utilization_percentage: f64,
    /// `containerConcurrency`: hard limit of requests in flight per replica; `0` = unlimited.
    /// For the concurrency metric it also caps [`Self::target`]. Default 0.
    pub container_concurrency: u32,
    /// `autoscaling.knative.dev/target-burst-capacity`. Default 211.
    pub target_burst_capacity: BurstCapacity,
    /// `autoscaling.knative.dev/window` (`stable-window`): the averaging window. Default 60 s.
    /// Whole seconds (the metric buckets are one second wide).
    pub stable_window: Duration,
    /// `autoscaling.knative.dev/panic-window-percentage`: the panic window as a share of the
    /// stable window. Default 10 (6 s).
    pub panic_window_percentage: f64,
    /// `autoscaling.knative.dev/panic-threshold-percentage`: panic-window demand, as a share of
    /// ready capacity, that starts panic mode. Default 200.
    pub panic_threshold_percentage: f64,
    /// `max-scale-up-rate` (cluster-wide in Knative): most growth per decision, as a multiple
    /// of the ready replicas. Default 1000.
    pub max_scale_up_rate: f64,
    /// `max-scale-down-rate` (cluster-wide in Knative): most shrinkage per decision, as a
    /// divisor of the ready replicas. Default 2.
    pub max_scale_down_rate: f64,
    /// `scale-to-zero-grace-period` (cluster-wide in Knative): how long a revision stays at one
    /// replica after it was marked inactive. Default 30 s.
    pub scale_to_zero_grace_period: Duration,
    /// `autoscaling.knative.dev/scale-to-zero-pod-retention-period`: least time the last
    /// replica is kept after the decision to scale to zero. Default 0 s.
    pub scale_to_zero_pod_retention_period: Duration,
    /// `autoscaling.knative.dev/initial-scale`: replicas a new revision must reach before the
    /// autoscaler may go lower. Default 1; 0 allowed (as with `allow-zero-initial-scale`).
    pub initial_scale: u32,
    /// `autoscaling.knative.dev/min-scale` (KServe: `minReplicas`, default 1). `0` enables scale
    /// to zero.
    pub min_scale: u32,
    /// `autoscaling.knative.dev/max-scale` (KServe: `maxReplicas`). `None` (`0`) = unbounded.
    pub max_scale: Option<u32>,
    /// How often the decider runs (Knative's fixed 2 s tick). Rate caps apply per decision.
    pub tick_interval: Duration,
}

/// A configuration the decider cannot work with; each message names the key.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum ConfigError {
    /// An annotation or field whose value does not parse.
    #[error("`{key}`: cannot parse {value:?} as {expected}")]
    Parse {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A value outside the range Knative allows.
    #[error("`{key}` is {value} but must be {range}")]
    OutOfRange {
        key: &'static str,
        value: String,
        range: &'static str,
    },
    /// A metric the KPA does not scale on (`cpu` and `memory` are HPA-only in Knative).
    #[error("`{key}`: metric {value:?} is not supported by the KPA (use `concurrency` or `rps`)")]
    UnsupportedMetric { key: &'static str, value: String },
    /// `min-scale` above `max-scale`.
    #[error("`min-scale` ({min}) must not exceed `max-scale` ({max})")]
    MinAboveMax { min: u32, max: u32 },
}

// Knative's ranges (pkg/apis/autoscaling), used by both validation and annotation parsing.
pub(crate) const TARGET_MIN: f64 = 0.01;
pub(crate) const WINDOW_MIN: Duration = Duration::from_secs(6);
pub(crate) const WINDOW_MAX: Duration = Duration::from_secs(3600);

/// Default `autoscaling.knative.dev/target` for the concurrency metric.
pub const fn default_concurrency_target() -> f64 {
    100.0
}
/// Default `autoscaling.knative.dev/target` for the rps metric.
pub const fn default_rps_target() -> f64 {
    200.0
}
pub const fn default_target_utilization_percentage() -> f64 {
    70.0
}
pub const fn default_target_burst_capacity() -> BurstCapacity {
    BurstCapacity::Requests(211.0)
}
pub const fn default_stable_window() -> Duration {
    Duration::from_secs(60)
}
pub const fn default_panic_window_percentage() -> f64 {
    10.0
}
pub const fn default_panic_threshold_percentage() -> f64 {
    200.0
}
pub const fn default_max_scale_up_rate() -> f64 {
    1000.0
}
pub const fn default_max_scale_down_rate() -> f64 {
    2.0
}
pub const fn default_scale_to_zero_grace_period() -> Duration {
    Duration::from_secs(30)
}
pub const fn default_scale_to_zero_pod_retention_period() -> Duration {
    Duration::ZERO
}
pub const fn default_initial_scale() -> u32 {
    1
}
/// KServe's `minReplicas` default (Knative's own `min-scale` default is 0).
pub const fn default_min_scale() -> u32 {
    1
}
pub const fn default_tick_interval() -> Duration {
    Duration::from_secs(2)
}

// === impl AutoscalerConfig ===

impl Default for AutoscalerConfig {
    fn default() -> Self {
        Self {
            metric: Metric::Concurrency,
            target: default_concurrency_target(),
            target_utilization_percentage: default_target_utilization_percentage(),
            container_concurrency: 0,
            target_burst_capacity: default_target_burst_capacity(),
            stable_window: default_stable_window(),
            panic_window_percentage: default_panic_window_percentage(),
            panic_threshold_percentage: default_panic_threshold_percentage(),
            max_scale_up_rate: default_max_scale_up_rate(),
            max_scale_down_rate: default_max_scale_down_rate(),
            scale_to_zero_grace_period: default_scale_to_zero_grace_period(),
            scale_to_zero_pod_retention_period: default_scale_to_zero_pod_retention_period(),
            initial_scale: default_initial_scale(),
            min_scale: default_min_scale(),
            max_scale: None,
            tick_interval: default_tick_interval(),
        }
    }
}

impl AutoscalerConfig {
    /// The panic window: [`Self::stable_window`] x [`Self::panic_window_percentage`], in whole
    /// seconds, at least one second (one bucket).
    pub fn panic_window(&self) -> Duration {
        let secs = self.stable_window.as_secs_f64() * self.panic_window_percentage / 100.0;
        Duration::from_secs((secs.floor() as u64).max(1))
    }

    /// Knative's `TotalValue`: the per-replica target, capped by `containerConcurrency` for the
    /// concurrency metric.
    pub fn total_value(&self) -> f64 {
        match (self.metric, self.container_concurrency) {
            (Metric::Concurrency, cc) if cc > 0 => self.target.min(f64::from(cc)),
            _ => self.target,
        }
    }

    /// Knative's `TargetValue`: what one replica should carry, `total x utilisation`.
    pub fn target_value(&self) -> f64 {
        (self.total_value() * self.target_utilization_percentage / 100.0).max(TARGET_MIN)
    }

    /// The panic threshold as a ratio (200% -> 2.0).
    pub fn panic_threshold(&self) -> f64 {
        self.panic_threshold_percentage / 100.0
    }

    /// How long the last replica stays after the revision was marked inactive:
    /// `max(grace period, pod retention period)`, as Knative's KPA scaler does.
    pub fn last_pod_timeout(&self) -> Duration {
        self.scale_to_zero_grace_period
            .max(self.scale_to_zero_pod_retention_period)
    }

    /// Checks what the decider relies on; errors name the Knative key. Windows may be shorter
    /// than Knative allows (tests shorten them) but must be whole seconds.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let range = |key, ok: bool, value: String, range| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { key, value, range })
            }
        };
        let t = self.target;
        range(
            "autoscaling.knative.dev/target",
            t.is_finite() && t >= TARGET_MIN,
            t.to_string(),
            ">= 0.01",
        )?;
        let u = self.target_utilization_percentage;
        range(
            "autoscaling.knative.dev/target-utilization-percentage",
            (1.0..=100.0).contains(&u),
            u.to_string(),
            "in [1, 100]",
        )?;
        if let BurstCapacity::Requests(tbc) = self.target_burst_capacity {
            range(
                "autoscaling.knative.dev/target-burst-capacity",
                tbc.is_finite() && tbc >= 0.0,
                tbc.to_string(),
                "-1 or >= 0",
            )?;
        }
        let w = self.stable_window;
        range(
            "autoscaling.knative.dev/window",
            w >= Duration::from_secs(1) && w.subsec_nanos() == 0,
            format!("{w:?}"),
            "a whole number of seconds, at least 1s",
        )?;
        let p = self.panic_window_percentage;
        range(
            "autoscaling.knative.dev/panic-window-percentage",
            (1.0..=100.0).contains(&p),
            p.to_string(),
            "in [1, 100]",
        )?;
        let p = self.panic_threshold_percentage;
        range(
            "autoscaling.knative.dev/panic-threshold-percentage",
            (110.0..=1000.0).contains(&p),
            p.to_string(),
            "in [110, 1000]",
        )?;
        let r = self.max_scale_up_rate;
        range(
            "max-scale-up-rate",
            r.is_finite() && r > 1.0,
            r.to_string(),
            "> 1",
        )?;
        let r = self.max_scale_down_rate;
        range(
            "max-scale-down-rate",
            r.is_finite() && r > 1.0,
            r.to_string(),
            "> 1",
        )?;
        let tick = self.tick_interval;
        range(
            "tick-interval",
            !tick.is_zero(),
            format!("{tick:?}"),
            "> 0s",
        )?;
        if let Some(max) = self.max_scale {
            range(
                "autoscaling.knative.dev/max-scale",
                max > 0,
                max.to_string(),
                "> 0 (None = unbounded)",
            )?;
            if self.min_scale > max {
                return Err(ConfigError::MinAboveMax {
                    min: self.min_scale,
                    max,
                });
            }
        }
        Ok(self)
    }

    /// `value` clamped to `[min_scale, max_scale]`.
    pub fn clamp_scale(&self, value: u32) -> u32 {
        let value = value.max(self.min_scale);
        self.max_scale.map_or(value, |max| value.min(max))
    }
}
