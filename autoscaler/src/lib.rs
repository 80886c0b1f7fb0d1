//! Knative KPA autoscaling for infergate: the scaling decider and the activator queue.
//!
//! Per revision, the gateway records the observed metric (requests in flight, or requests per
//! second) once a second into [`MetricWindows`], calls [`decide`] every
//! [`AutoscalerConfig::tick_interval`] and applies [`Decision::desired_replicas`]. While
//! [`Decision::activator_in_path`] holds, requests wait in the revision's [`Activator`] until a
//! replica has room.
//!
//! ```text
//!  InferenceService ──AutoscalerConfig::from_isvc──> AutoscalerConfig (typed, validated)
//!                                                           │
//!  replicas + activator ──record(now, value)──> MetricWindows (1 s buckets)
//!                                                 │ metrics(now, ready)
//!                                                 v
//!                  DeciderState ──decide(state, metrics, now, config)──> Decision
//!                                                 ^            desired_replicas, panic, EBC
//!         poke (first request at zero) ───────────┘                     │
//!                                                                       v
//!  request ──> Activator::enqueue(deadline) ──Permit──> replica    capacity_changed(ready, cc)
//!               (bounded FIFO, one owner task)
//! ```
//!
//! What this crate is not: it has no HTTP types and starts no replicas. The gateway wires the
//! activator into its request path and owns the tick loop; the decider is a pure function of
//! its inputs, so tests drive it on a simulated clock.

mod activator;
mod config;
mod decider;
mod isvc;
mod window;

pub use self::{
    activator::{
        Activator, ActivatorConfig, ActivatorError, ActivatorStats, Permit, Pokes,
        default_max_wait, default_queue_depth, default_retry_after,
    },
    config::{
        AutoscalerConfig, BurstCapacity, ConfigError, Metric, default_concurrency_target,
        default_initial_scale, default_max_scale_down_rate, default_max_scale_up_rate,
        default_min_scale, default_panic_threshold_percentage, default_panic_window_percentage,
        default_rps_target, default_scale_to_zero_grace_period,
        default_scale_to_zero_pod_retention_period, default_stable_window,
        default_target_burst_capacity, default_target_utilization_percentage,
        default_tick_interval,
    },
    decider::{DeciderState, Decision, Metrics, decide},
    isvc::parse_duration,
    window::{BucketWindow, MetricWindows},
};
