//! Properties of the decider: min/max and the rate caps hold for any load and any config
//! Knative accepts; panic mode never scales down.

use std::time::Duration;

use infergate_autoscaler::{AutoscalerConfig, DeciderState, Metrics, decide};
use proptest::prelude::*;

use crate::sim;

fn configs() -> impl Strategy<Value = AutoscalerConfig> {
    (
        (0u32..5, proptest::option::of(1u32..50), 0u32..4),
        (1.0f64..300.0, 1.0f64..=100.0, 0u32..20),
        (6u64..120, 1.0f64..=100.0, 110.0f64..=1000.0),
        (1.01f64..1000.0, 1.01f64..10.0, 0u64..40),
    )
        .prop_map(
            |((min, max, initial), (target, util, cc), (window, pw, pt), (up, down, grace))| {
                AutoscalerConfig {
                    min_scale: max.map_or(min, |max| min.min(max)),
                    max_scale: max,
                    initial_scale: initial,
                    target,
                    target_utilization_percentage: util,
                    container_concurrency: cc,
                    stable_window: Duration::from_secs(window),
                    panic_window_percentage: pw,
                    panic_threshold_percentage: pt,
                    max_scale_up_rate: up,
                    max_scale_down_rate: down,
                    scale_to_zero_grace_period: Duration::from_secs(grace),
                    ..AutoscalerConfig::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One decision from any state the simulation can reach: bounds and caps hold against the
    /// ready replicas the decider was told about.
    #[test]
    fn one_decision_respects_bounds_and_rate_caps(
        config in configs(),
        ready in 0u32..500,
        stable in 0.0f64..1e6,
        panic in 0.0f64..1e6,
        warm in any::<bool>(),
    ) {
        let config = config.validate().unwrap();
        let mut state = DeciderState::default();
        if warm {
            // Past initial scale, so only min/max and the caps bound the decision.
            let metrics = Metrics { ready_replicas: ready.max(config.initial_scale), stable: 0.0, panic: 0.0 };
            decide(&mut state, &metrics, Duration::ZERO, &config);
        }
        let metrics = Metrics { ready_replicas: ready, stable, panic };
        let decision = decide(&mut state, &metrics, Duration::from_secs(2), &config);
        let tick = sim::Tick { at: 2, ready, decision };
        sim::check_invariants(&config, &[tick]).map_err(TestCaseError::fail)?;
    }

    /// A whole simulated run under random load: every decision keeps the invariants, including
    /// no scale-down while panicking.
    #[test]
    fn runs_keep_the_invariants(
        config in configs(),
        loads in proptest::collection::vec(0.0f64..5000.0, 1..40),
        ready_delay in 0u64..10,
    ) {
        let config = config.validate().unwrap();
        // Each random value holds for 10 s, so panic and stable windows both see changes.
        let duration = loads.len() as u64 * 10;
        let ticks = sim::run(&config, duration, ready_delay, |second| loads[(second / 10) as usize % loads.len()]);
        sim::check_invariants(&config, &ticks).map_err(TestCaseError::fail)?;
    }
}
