//! The controller's side of autoscaling: per revision, turn the request path's counters into
//! one value per second, run the KPA decider every tick, and keep the activator told.
//!
//! ```text
//! every sample interval: Scaling::sample() ─> this second's mean in-flight (or requests)
//! each new second:       MetricWindows::record(second, value)
//! every tick (2 s):      decide(state, windows.metrics(now, ready), now, config) ─> desired
//! on a poke:             record the queued demand now, decide at once (scale from zero)
//! ```
//!
//! Concurrency per second is the larger of the sampled mean in flight and the busy time of the
//! requests that finished in that second, so a burst of short requests between two samples is
//! not lost.

use std::sync::Arc;
use std::time::Duration;

use infergate_autoscaler::{
    Activator, ActivatorConfig, AutoscalerConfig, DeciderState, Decision, Metric, MetricWindows,
    Pokes, decide,
};

use crate::scaling::{Sample, Scaling, busy_concurrency};

/// Settings that Knative keeps cluster-wide (`config-autoscaler`) rather than per revision,
/// plus the activator's bounds.
#[derive(Clone, Debug)]
pub struct AutoscalerDefaults {
    /// How often the decider runs. Default 2 s.
    pub tick_interval: Duration,
    /// How often in-flight requests are sampled. Default 100 ms.
    pub sample_interval: Duration,
    /// `scale-to-zero-grace-period`. Default 30 s.
    pub scale_to_zero_grace_period: Duration,
    /// Replicas when `maxReplicas` is unset: one machine has room for few. Default: CPU cores.
    pub max_replicas: u32,
    /// Queue depth and wait bound of each revision's activator.
    pub activator: ActivatorConfig,
}

/// One revision's autoscaler.
#[derive(Debug)]
pub(super) struct Scaler {
    pub(super) config: AutoscalerConfig,
    pub(super) shared: Arc<Scaling>,
    state: DeciderState,
    windows: MetricWindows,
    /// Replicas the revision should run now.
    pub(super) desired: u32,
    /// The second being accumulated, and its samples so far.
    second: Option<u64>,
    in_flight_sum: u64,
    samples: u32,
    /// The counters at the start of the current second.
    at_second_start: Sample,
    last_decision: Option<Duration>,
}

// === impl AutoscalerDefaults ===

impl Default for AutoscalerDefaults {
    fn default() -> Self {
        AutoscalerDefaults {
            tick_interval: infergate_autoscaler::default_tick_interval(),
            sample_interval: Duration::from_millis(100),
            scale_to_zero_grace_period: infergate_autoscaler::default_scale_to_zero_grace_period(),
            max_replicas: std::thread::available_parallelism()
                .map_or(2, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            activator: ActivatorConfig::default(),
        }
    }
}

impl AutoscalerDefaults {
    /// `config` with the cluster-wide settings applied (a revision's own `maxReplicas` wins).
    pub(super) fn apply(&self, mut config: AutoscalerConfig) -> AutoscalerConfig {
        config.tick_interval = self.tick_interval;
        config.scale_to_zero_grace_period = self.scale_to_zero_grace_period;
        if config.max_scale.is_none() {
            config.max_scale = Some(self.max_replicas.max(config.min_scale).max(1));
        }
        config
    }
}

// === impl Scaler ===

impl Scaler {
    /// A scaler starting at the config's initial scale, and its activator's pokes.
    pub(super) fn new(config: AutoscalerConfig, activator: ActivatorConfig) -> (Self, Pokes) {
        let (activator, pokes) = Activator::spawn(activator);
        let desired = initial(&config);
        let scaler = Scaler {
            shared: Arc::new(Scaling::new(activator, config.metric, desired)),
            state: DeciderState::default(),
            windows: MetricWindows::new(&config),
            desired,
            second: None,
            in_flight_sum: 0,
            samples: 0,
            at_second_start: Sample::default(),
            last_decision: None,
            config,
        };
        (scaler, pokes)
    }

    /// Forgets the past (a retired revision that runs again starts over at its initial scale).
    pub(super) fn reset(&mut self) {
        self.state = DeciderState::default();
        self.windows = MetricWindows::new(&self.config);
        self.desired = initial(&self.config);
        self.second = None;
        self.last_decision = None;
    }

    /// Takes one sample at `now`; closes the previous second when a new one starts.
    pub(super) fn sample(&mut self, now: Duration) {
        let sample = self.shared.sample();
        let second = now.as_secs();
        match self.second {
            Some(current) if current == second => {}
            Some(current) => {
                let value = self.second_value(&sample);
                self.windows.record(Duration::from_secs(current), value);
                self.start_second(second, sample);
            }
            None => self.start_second(second, sample),
        }
        self.in_flight_sum += sample.in_flight;
        self.samples += 1;
    }

    /// Runs the decider when a tick is due (or `force`d, on a poke); returns the decision.
    pub(super) fn maybe_decide(
        &mut self,
        now: Duration,
        ready: u32,
        force: bool,
    ) -> Option<Decision> {
        let due = self
            .last_decision
            .is_none_or(|last| now.saturating_sub(last) >= self.config.tick_interval);
        if !(due || force) {
            return None;
        }
        if force {
            // A poke: the queued requests are demand now, before this second closes.
            let queued = self.shared.sample().in_flight.max(1) as f64;
            self.windows.record(now, queued);
        }
        self.last_decision = Some(now);
        let metrics = self.windows.metrics(now, ready);
        let decision = decide(&mut self.state, &metrics, now, &self.config);
        self.desired = decision.desired_replicas;
        self.shared.decided(&decision);
        Some(decision)
    }

    fn start_second(&mut self, second: u64, sample: Sample) {
        self.second = Some(second);
        self.in_flight_sum = 0;
        self.samples = 0;
        self.at_second_start = sample;
    }

    /// The metric's value for the second that just ended.
    fn second_value(&self, now: &Sample) -> f64 {
        match self.config.metric {
            Metric::Concurrency => {
                let sampled = match self.samples {
                    0 => 0.0,
                    n => self.in_flight_sum as f64 / f64::from(n),
                };
                let busy = busy_concurrency(&self.at_second_start, now, Duration::from_secs(1));
                sampled.max(busy)
            }
            Metric::Rps => now.requests.saturating_sub(self.at_second_start.requests) as f64,
        }
    }
}

/// The replicas a new (or restarted) revision runs before the decider's first word.
fn initial(config: &AutoscalerConfig) -> u32 {
    config.clamp_scale(config.min_scale.max(config.initial_scale))
}
