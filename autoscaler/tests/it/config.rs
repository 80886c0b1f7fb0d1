//! `AutoscalerConfig::from_isvc`: KServe fields, Knative annotations, defaults and errors.

use std::time::Duration;

use infergate_autoscaler::{AutoscalerConfig, BurstCapacity, ConfigError, Metric};
use infergate_k8s::{InferenceService, ScaleMetric, annotations};

#[test]
fn defaults_are_knatives_with_kserves_min_replicas() {
    let config = AutoscalerConfig::from_isvc(&InferenceService::test("iris")).unwrap();
    assert_eq!(config, AutoscalerConfig::default());
    assert_eq!(config.metric, Metric::Concurrency);
    assert_eq!(config.target, 100.0);
    assert_eq!(config.target_value(), 70.0);
    assert_eq!(config.target_burst_capacity, BurstCapacity::Requests(211.0));
    assert_eq!(config.stable_window, Duration::from_secs(60));
    assert_eq!(config.panic_window(), Duration::from_secs(6));
    assert_eq!(config.panic_threshold(), 2.0);
    assert_eq!(
        (config.max_scale_up_rate, config.max_scale_down_rate),
        (1000.0, 2.0)
    );
    assert_eq!(config.scale_to_zero_grace_period, Duration::from_secs(30));
    assert_eq!(config.scale_to_zero_pod_retention_period, Duration::ZERO);
    assert_eq!(
        (config.initial_scale, config.min_scale, config.max_scale),
        (1, 1, None)
    );
    assert_eq!(config.tick_interval, Duration::from_secs(2));
}

#[test]
fn annotations_are_parsed_into_typed_fields() {
    let isvc = InferenceService::test("iris")
        .annotate(annotations::METRIC, "rps")
        .annotate(annotations::TARGET, "12.5")
        .annotate(annotations::TARGET_UTILIZATION_PERCENTAGE, "80")
        .annotate(annotations::TARGET_BURST_CAPACITY, "-1")
        .annotate(annotations::WINDOW, "1m30s")
        .annotate(annotations::PANIC_WINDOW_PERCENTAGE, "20")
        .annotate(annotations::PANIC_THRESHOLD_PERCENTAGE, "150")
        .annotate(annotations::SCALE_TO_ZERO_POD_RETENTION_PERIOD, "45s")
        .annotate(annotations::INITIAL_SCALE, "0")
        .annotate(annotations::MIN_SCALE, "0")
        .annotate(annotations::MAX_SCALE, "7");
    let config = AutoscalerConfig::from_isvc(&isvc).unwrap();
    assert_eq!(config.metric, Metric::Rps);
    assert_eq!(config.target, 12.5);
    assert_eq!(config.target_value(), 10.0);
    assert_eq!(config.target_burst_capacity, BurstCapacity::Unlimited);
    assert_eq!(config.stable_window, Duration::from_secs(90));
    assert_eq!(config.panic_window(), Duration::from_secs(18));
    assert_eq!(config.panic_threshold(), 1.5);
    assert_eq!(
        config.scale_to_zero_pod_retention_period,
        Duration::from_secs(45)
    );
    assert_eq!(config.last_pod_timeout(), Duration::from_secs(45));
    assert_eq!(
        (config.initial_scale, config.min_scale, config.max_scale),
        (0, 0, Some(7))
    );
}

#[test]
fn spec_fields_win_over_annotations_as_kserve_writes_them() {
    let isvc = InferenceService::test("iris")
        .annotate(annotations::METRIC, "rps")
        .annotate(annotations::TARGET, "50")
        .annotate(annotations::MIN_SCALE, "3")
        .annotate(annotations::MAX_SCALE, "9")
        .scale(ScaleMetric::Concurrency, 20)
        .min_replicas(2)
        .max_replicas(4);
    let config = AutoscalerConfig::from_isvc(&isvc).unwrap();
    assert_eq!(config.metric, Metric::Concurrency);
    assert_eq!(config.target, 20.0);
    assert_eq!((config.min_scale, config.max_scale), (2, Some(4)));

    // `maxReplicas: 0` means unset in KServe, so the annotation applies.
    let isvc = InferenceService::test("iris")
        .annotate(annotations::MAX_SCALE, "9")
        .max_replicas(0);
    assert_eq!(
        AutoscalerConfig::from_isvc(&isvc).unwrap().max_scale,
        Some(9)
    );
}

#[test]
fn container_concurrency_is_the_default_target_and_caps_the_target() {
    let isvc = InferenceService::test("iris").container_concurrency(10);
    let config = AutoscalerConfig::from_isvc(&isvc).unwrap();
    assert_eq!(
        (
            config.container_concurrency,
            config.target,
            config.total_value()
        ),
        (10, 10.0, 10.0)
    );
    assert_eq!(config.target_value(), 7.0);

    let isvc = InferenceService::test("iris")
        .container_concurrency(10)
        .scale(ScaleMetric::Concurrency, 50);
    assert_eq!(
        AutoscalerConfig::from_isvc(&isvc).unwrap().total_value(),
        10.0
    );

    // For rps, containerConcurrency is a different unit and caps nothing.
    let isvc = InferenceService::test("iris")
        .container_concurrency(10)
        .scale(ScaleMetric::Rps, 50);
    assert_eq!(
        AutoscalerConfig::from_isvc(&isvc).unwrap().total_value(),
        50.0
    );
    let isvc = InferenceService::test("iris").annotate(annotations::METRIC, "rps");
    assert_eq!(AutoscalerConfig::from_isvc(&isvc).unwrap().target, 200.0);
}

#[test]
fn errors_name_the_key_and_the_problem() {
    let cases = [
        (
            annotations::WINDOW,
            "5s",
            "`autoscaling.knative.dev/window` is 5s but must be whole seconds in [6s, 1h]",
        ),
        (
            annotations::WINDOW,
            "1500ms",
            "`autoscaling.knative.dev/window` is 1500ms but must be whole seconds in [6s, 1h]",
        ),
        (
            annotations::WINDOW,
            "a minute",
            "`autoscaling.knative.dev/window`: cannot parse \"a minute\" as a duration such as `60s` or `1m30s`",
        ),
        (
            annotations::TARGET,
            "0",
            "`autoscaling.knative.dev/target` is 0 but must be >= 0.01",
        ),
        (
            annotations::TARGET,
            "many",
            "`autoscaling.knative.dev/target`: cannot parse \"many\" as a number",
        ),
        (
            annotations::METRIC,
            "cpu",
            "`autoscaling.knative.dev/metric`: metric \"cpu\" is not supported by the KPA (use `concurrency` or `rps`)",
        ),
        (
            annotations::PANIC_THRESHOLD_PERCENTAGE,
            "100",
            "`autoscaling.knative.dev/panic-threshold-percentage` is 100 but must be in [110, 1000]",
        ),
        (
            annotations::PANIC_WINDOW_PERCENTAGE,
            "0.5",
            "`autoscaling.knative.dev/panic-window-percentage` is 0.5 but must be in [1, 100]",
        ),
        (
            annotations::TARGET_UTILIZATION_PERCENTAGE,
            "120",
            "`autoscaling.knative.dev/target-utilization-percentage` is 120 but must be in [1, 100]",
        ),
        (
            annotations::TARGET_BURST_CAPACITY,
            "-2",
            "`autoscaling.knative.dev/target-burst-capacity` is -2 but must be -1 or >= 0",
        ),
        (
            annotations::INITIAL_SCALE,
            "-1",
            "`autoscaling.knative.dev/initial-scale`: cannot parse \"-1\" as a non-negative integer",
        ),
        (
            annotations::MIN_SCALE,
            "3",
            "`min-scale` (3) must not exceed `max-scale` (2)",
        ),
    ];
    for (key, value, message) in cases {
        let isvc = InferenceService::test("iris")
            .annotate(key, value)
            .annotate(annotations::MAX_SCALE, "2");
        let err = AutoscalerConfig::from_isvc(&isvc).unwrap_err();
        assert_eq!(err.to_string(), message, "{key}: {value}");
    }
}

#[test]
fn spec_errors_name_the_spec_field() {
    let isvc = InferenceService::test("iris").scale(ScaleMetric::from("qps"), 1);
    let err = AutoscalerConfig::from_isvc(&isvc).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::UnsupportedMetric {
                key: "spec.predictor.scaleMetric",
                ..
            }
        ),
        "{err}"
    );
    let isvc = InferenceService::test("iris").min_replicas(-1);
    assert_eq!(
        AutoscalerConfig::from_isvc(&isvc).unwrap_err().to_string(),
        "`spec.predictor.minReplicas` is -1 but must be >= 0"
    );
}

#[test]
fn validate_allows_short_test_windows_but_not_nonsense() {
    let short = AutoscalerConfig {
        stable_window: Duration::from_secs(2),
        scale_to_zero_grace_period: Duration::ZERO,
        ..AutoscalerConfig::default()
    };
    assert!(short.validate().is_ok());
    let fractional = AutoscalerConfig {
        stable_window: Duration::from_millis(2500),
        ..AutoscalerConfig::default()
    };
    assert_eq!(
        fractional.validate().unwrap_err().to_string(),
        "`autoscaling.knative.dev/window` is 2.5s but must be a whole number of seconds, at least 1s"
    );
    let no_cap = AutoscalerConfig {
        max_scale_down_rate: 1.0,
        ..AutoscalerConfig::default()
    };
    assert_eq!(
        no_cap.validate().unwrap_err().to_string(),
        "`max-scale-down-rate` is 1 but must be > 1"
    );
}
