//! The KPA decider: `(metrics, now, config, previous state) -> Decision`, pure.
//!
//! One call per tick ([`AutoscalerConfig::tick_interval`]). It merges Knative's
//! `autoscaler.Scale` (windowed demand, rate caps, panic mode, excess burst capacity) and the
//! KPA reconciler's scaler (initial scale, min/max bounds, the scale-to-zero hand-off), so the
//! caller only applies `desired_replicas`.

use std::time::Duration;

use crate::config::{AutoscalerConfig, BurstCapacity};

/// What the decider observes at one tick (see [`crate::MetricWindows::metrics`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Replicas ready to serve now.
    pub ready_replicas: u32,
    /// The metric averaged over the stable window (summed over replicas and the activator).
    pub stable: f64,
    /// The metric averaged over the panic window.
    pub panic: f64,
}

/// The decider's memory between ticks. Start each revision with [`DeciderState::default`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeciderState {
    /// Knative's `panicTime`: the last tick that was over the panic threshold, while panicking.
    panic_since: Option<Duration>,
    /// The most replicas asked for during this panic; panic never goes below it.
    max_panic_replicas: u32,
    /// Since when the revision has had a ready replica (Knative's PA `Active`).
    active_since: Option<Duration>,
    /// Since when the revision has wanted zero replicas after a full stable window of activity.
    inactive_since: Option<Duration>,
    /// Whether the revision has reached its initial scale once.
    initialized: bool,
    /// Whether the last decision scaled to zero and no demand has come since.
    scaled_to_zero: bool,
}

/// One tick's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Replicas to run: within `[min_scale, max_scale]` and the per-decision rate caps.
    pub desired_replicas: u32,
    /// Whether the decider is in panic mode (it never scales down then).
    pub panic: bool,
    /// The observed stable-window value the decision used.
    pub stable_value: f64,
    /// The observed panic-window value the decision used.
    pub panic_value: f64,
    /// Knative's EBC: `floor(ready x total_value - panic_value - target_burst_capacity)`;
    /// `0` when the burst capacity is 0, `-1` when unlimited. Negative: the activator must stay
    /// in the request path.
    pub excess_burst_capacity: f64,
    /// Whether requests should go through the activator: no ready replica, or negative EBC.
    pub activator_in_path: bool,
}

/// Decides the replicas for one tick at `now` (time since any fixed origin, monotonic).
pub fn decide(
    state: &mut DeciderState,
    metrics: &Metrics,
    now: Duration,
    config: &AutoscalerConfig,
) -> Decision {
    let ready = metrics.ready_replicas;
    // Knative counts an empty revision as one replica so the caps still allow growth from zero.
    let ready_f = f64::from(ready.max(1));
    let max_up = (config.max_scale_up_rate * ready_f).ceil();
    let max_down = (ready_f / config.max_scale_down_rate).floor();

    let target = config.target_value();
    let stable_wanted = (metrics.stable / target).ceil();
    let panic_wanted = (metrics.panic / target).ceil();
    let stable_replicas = to_replicas(stable_wanted.max(max_down).min(max_up));
    let panic_replicas = to_replicas(panic_wanted.max(max_down).min(max_up));

    let over_threshold = panic_wanted / ready_f >= config.panic_threshold();
    state.update_panic(now, over_threshold, config.stable_window);

    let mut desired = stable_replicas;
    if state.panic_since.is_some() {
        // Provision for the larger of the two windows, and never go below this panic's peak.
        state.max_panic_replicas = state.max_panic_replicas.max(desired.max(panic_replicas));
        desired = state.max_panic_replicas;
    }

    if ready >= config.initial_scale {
        state.initialized = true;
    }
    let floor = if state.initialized {
        config.min_scale
    } else {
        config.min_scale.max(config.initial_scale)
    };
    desired = config.clamp_scale(desired.max(floor));
    desired = state.scale_to_zero(desired, ready, now, config);

    let excess_burst_capacity = match config.target_burst_capacity {
        BurstCapacity::Unlimited => -1.0,
        BurstCapacity::Requests(0.0) => 0.0,
        BurstCapacity::Requests(tbc) => {
            (f64::from(ready) * config.total_value() - tbc - metrics.panic).floor()
        }
    };
    Decision {
        desired_replicas: desired,
        panic: state.panic_since.is_some(),
        stable_value: metrics.stable,
        panic_value: metrics.panic,
        excess_burst_capacity,
        activator_in_path: ready == 0 || excess_burst_capacity < 0.0,
    }
}

fn to_replicas(value: f64) -> u32 {
    // `as` saturates: NaN -> 0, above u32::MAX -> u32::MAX.
    value as u32
}

// === impl DeciderState ===

impl DeciderState {
    /// Whether the last decision was in panic mode.
    pub fn panicking(&self) -> bool {
        self.panic_since.is_some()
    }

    /// Enter panic when over the threshold; stay while over it; leave once a full stable window
    /// has passed since the last tick over it.
    fn update_panic(&mut self, now: Duration, over_threshold: bool, stable_window: Duration) {
        if over_threshold {
            self.panic_since = Some(now);
        } else if self
            .panic_since
            .is_some_and(|since| now.saturating_sub(since) > stable_window)
        {
            self.panic_since = None;
            self.max_panic_replicas = 0;
        }
    }

    /// Knative's `handleScaleToZero`: a wish for zero replicas is held at one until the revision
    /// has been active for a stable window (then it is marked inactive) and has been inactive
    /// for `max(grace period, retention period)`.
    fn scale_to_zero(
        &mut self,
        desired: u32,
        ready: u32,
        now: Duration,
        config: &AutoscalerConfig,
    ) -> u32 {
        if desired > 0 {
            self.scaled_to_zero = false;
            self.inactive_since = None;
        }
        if ready > 0 && self.active_since.is_none() && !self.scaled_to_zero {
            self.active_since = Some(now);
        }
        if desired > 0 {
            return desired;
        }
        if self.scaled_to_zero {
            // The last replica may still be shutting down: do not count it as a new activation.
            return 0;
        }
        let Some(active_since) = self.active_since else {
            // Never active, or already scaled to zero: nothing to hold.
            return 0;
        };
        if self.inactive_since.is_none() {
            if now.saturating_sub(active_since) < config.stable_window {
                return 1;
            }
            self.inactive_since = Some(now);
        }
        let inactive_since = self.inactive_since.unwrap_or(now);
        if now.saturating_sub(inactive_since) >= config.last_pod_timeout() {
            self.active_since = None;
            self.inactive_since = None;
            self.scaled_to_zero = true;
            0
        } else {
            1
        }
    }
}
