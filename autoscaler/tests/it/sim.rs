//! A simulated revision: load -> 1 s metric buckets -> a decision every tick -> ready replicas
//! that follow the decisions after a delay. Shared by the scenario and property tests.

use std::time::Duration;

use infergate_autoscaler::{AutoscalerConfig, DeciderState, Decision, MetricWindows, decide};

/// One decision and what the decider saw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tick {
    pub(crate) at: u64,
    pub(crate) ready: u32,
    pub(crate) decision: Decision,
}

/// Runs `load(second)` for `duration` seconds. New replicas are ready `ready_delay` seconds
/// after the decision that asked for them; removed ones go at once.
pub(crate) fn run(
    config: &AutoscalerConfig,
    duration: u64,
    ready_delay: u64,
    mut load: impl FnMut(u64) -> f64,
) -> Vec<Tick> {
    let tick = config.tick_interval.as_secs().max(1);
    let mut windows = MetricWindows::new(config);
    let mut state = DeciderState::default();
    let mut ticks: Vec<Tick> = Vec::new();
    for second in 0..=duration {
        let now = Duration::from_secs(second);
        windows.record(now, load(second));
        if second % tick != 0 {
            continue;
        }
        let ready = ready_at(&ticks, second, ready_delay);
        let decision = decide(&mut state, &windows.metrics(now, ready), now, config);
        ticks.push(Tick {
            at: second,
            ready,
            decision,
        });
    }
    ticks
}

/// Replicas ready at `second`: what an earlier decision asked for `delay` seconds ago, but no
/// more than the latest decision wants (scale-down is immediate).
fn ready_at(ticks: &[Tick], second: u64, delay: u64) -> u32 {
    let Some(latest) = ticks.last() else {
        return 0;
    };
    let started = ticks
        .iter()
        .rev()
        .find(|t| t.at + delay <= second)
        .map_or(0, |t| t.decision.desired_replicas);
    started.min(latest.decision.desired_replicas)
}

/// The invariants every decision must keep, whatever the load: min/max, the rate caps
/// relative to the ready replicas, and no scale-down while panicking.
pub(crate) fn check_invariants(config: &AutoscalerConfig, ticks: &[Tick]) -> Result<(), String> {
    let mut previous: Option<&Tick> = None;
    for t in ticks {
        let desired = t.decision.desired_replicas;
        if desired < config.min_scale || config.max_scale.is_some_and(|max| desired > max) {
            return Err(format!(
                "t={}s: {desired} replicas outside [min, max] of {config:?}",
                t.at
            ));
        }
        let ready = f64::from(t.ready.max(1));
        let up = (config.max_scale_up_rate * ready).ceil() as u32;
        let down = (ready / config.max_scale_down_rate).floor() as u32;
        let floor = config.min_scale.max(config.initial_scale);
        // Knative applies the caps to each decision, then holds the panic peak: while panicking,
        // keeping an earlier (capped) peak may exceed the cap of the replicas ready now.
        let holds_panic_peak = t.decision.panic
            && previous.is_some_and(|p| p.decision.panic && desired <= p.decision.desired_replicas);
        if desired > up.max(floor) && !holds_panic_peak {
            return Err(format!(
                "t={}s: {desired} replicas from {} ready exceeds the up cap {up}",
                t.at, t.ready
            ));
        }
        let ceiling = config.max_scale.unwrap_or(u32::MAX);
        if desired < down.min(ceiling) {
            return Err(format!(
                "t={}s: {desired} replicas from {} ready is below the down cap {down}",
                t.at, t.ready
            ));
        }
        if let Some(p) = previous
            && p.decision.panic
            && t.decision.panic
            && desired < p.decision.desired_replicas
        {
            return Err(format!(
                "t={}s: scaled down from {} to {desired} in panic mode",
                t.at, p.decision.desired_replicas
            ));
        }
        previous = Some(t);
    }
    Ok(())
}
