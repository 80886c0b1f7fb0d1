//! [`AutoscalerConfig::from_isvc`]: the InferenceService's scaling fields and the
//! `autoscaling.knative.dev/*` annotations, parsed once into a typed config.
//!
//! Precedence follows KServe's `setAutoScalingAnnotations` (ksvc reconciler): a spec field that
//! is set (`minReplicas`, `maxReplicas` != 0, `scaleTarget`, `scaleMetric`) overwrites the
//! matching annotation; the annotation applies when the field is unset; then Knative's default.
//! One difference: KServe always writes `min-scale` (from `minReplicas`, else 1), so it ignores
//! a `min-scale` annotation; infergate honours it when `minReplicas` is unset.

use std::time::Duration;

use infergate_k8s::{InferenceService, ScaleMetric, annotations};

use crate::config::{
    AutoscalerConfig, BurstCapacity, ConfigError, Metric, TARGET_MIN, WINDOW_MAX, WINDOW_MIN,
    default_concurrency_target, default_rps_target,
};

// === impl AutoscalerConfig ===

impl AutoscalerConfig {
    /// The KPA config of `isvc`'s predictor, validated.
    pub fn from_isvc(isvc: &InferenceService) -> Result<Self, ConfigError> {
        let spec = &isvc.spec.predictor;
        let ann = |key| isvc.annotation(key);
        let mut config = Self::default();

        config.metric = match &spec.scale_metric {
            Some(metric) => metric_from_spec(metric)?,
            None => match ann(annotations::METRIC) {
                Some(value) => parse_metric(value)?,
                None => Metric::Concurrency,
            },
        };
        config.container_concurrency = match spec.container_concurrency {
            None => 0,
            Some(cc) => u32::try_from(cc).map_err(|_| ConfigError::OutOfRange {
                key: "spec.predictor.containerConcurrency",
                value: cc.to_string(),
                range: ">= 0",
            })?,
        };
        config.target = match spec.scale_target {
            Some(target) => f64::from(target),
            None => match ann(annotations::TARGET) {
                Some(value) => parse_f64(annotations::TARGET, value)?,
                None => match config.metric {
                    Metric::Concurrency if config.container_concurrency > 0 => {
                        f64::from(config.container_concurrency)
                    }
                    Metric::Concurrency => default_concurrency_target(),
                    Metric::Rps => default_rps_target(),
                },
            },
        };
        if config.target < TARGET_MIN {
            let key = if spec.scale_target.is_some() {
                "spec.predictor.scaleTarget"
            } else {
                annotations::TARGET
            };
            return Err(out_of_range(key, config.target, ">= 0.01"));
        }

        config.min_scale = match spec.min_replicas {
            Some(min) => replicas("spec.predictor.minReplicas", min)?,
            None => match ann(annotations::MIN_SCALE) {
                Some(value) => parse_u32(annotations::MIN_SCALE, value)?,
                None => config.min_scale,
            },
        };
        let max = match spec.max_replicas.filter(|&max| max != 0) {
            Some(max) => replicas("spec.predictor.maxReplicas", max)?,
            None => match ann(annotations::MAX_SCALE) {
                Some(value) => parse_u32(annotations::MAX_SCALE, value)?,
                None => 0,
            },
        };
        config.max_scale = (max > 0).then_some(max);

        if let Some(value) = ann(annotations::TARGET_UTILIZATION_PERCENTAGE) {
            config.target_utilization_percentage =
                parse_f64(annotations::TARGET_UTILIZATION_PERCENTAGE, value)?;
        }
        if let Some(value) = ann(annotations::TARGET_BURST_CAPACITY) {
            config.target_burst_capacity = parse_burst_capacity(value)?;
        }
        if let Some(value) = ann(annotations::WINDOW) {
            let window = parse_duration(annotations::WINDOW, value)?;
            if !(WINDOW_MIN..=WINDOW_MAX).contains(&window) || window.subsec_nanos() != 0 {
                return Err(ConfigError::OutOfRange {
                    key: annotations::WINDOW,
                    value: value.to_owned(),
                    range: "whole seconds in [6s, 1h]",
                });
            }
            config.stable_window = window;
        }
        if let Some(value) = ann(annotations::PANIC_WINDOW_PERCENTAGE) {
            config.panic_window_percentage =
                parse_f64(annotations::PANIC_WINDOW_PERCENTAGE, value)?;
        }
        if let Some(value) = ann(annotations::PANIC_THRESHOLD_PERCENTAGE) {
            config.panic_threshold_percentage =
                parse_f64(annotations::PANIC_THRESHOLD_PERCENTAGE, value)?;
        }
        if let Some(value) = ann(annotations::SCALE_TO_ZERO_POD_RETENTION_PERIOD) {
            config.scale_to_zero_pod_retention_period =
                parse_duration(annotations::SCALE_TO_ZERO_POD_RETENTION_PERIOD, value)?;
        }
        if let Some(value) = ann(annotations::INITIAL_SCALE) {
            config.initial_scale = parse_u32(annotations::INITIAL_SCALE, value)?;
        }
        config.validate()
    }
}

fn metric_from_spec(metric: &ScaleMetric) -> Result<Metric, ConfigError> {
    match metric {
        ScaleMetric::Concurrency => Ok(Metric::Concurrency),
        ScaleMetric::Rps => Ok(Metric::Rps),
        other => Err(ConfigError::UnsupportedMetric {
            key: "spec.predictor.scaleMetric",
            value: other.as_str().to_owned(),
        }),
    }
}

fn parse_metric(value: &str) -> Result<Metric, ConfigError> {
    match value {
        "concurrency" => Ok(Metric::Concurrency),
        "rps" => Ok(Metric::Rps),
        other => Err(ConfigError::UnsupportedMetric {
            key: annotations::METRIC,
            value: other.to_owned(),
        }),
    }
}

fn parse_burst_capacity(value: &str) -> Result<BurstCapacity, ConfigError> {
    let key = annotations::TARGET_BURST_CAPACITY;
    match parse_f64(key, value)? {
        -1.0 => Ok(BurstCapacity::Unlimited),
        tbc if tbc >= 0.0 => Ok(BurstCapacity::Requests(tbc)),
        tbc => Err(out_of_range(key, tbc, "-1 or >= 0")),
    }
}

fn replicas(key: &'static str, value: i32) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| out_of_range(key, value, ">= 0"))
}

fn out_of_range(key: &'static str, value: impl ToString, range: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        key,
        value: value.to_string(),
        range,
    }
}

fn parse_error(key: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Parse {
        key,
        value: value.to_owned(),
        expected,
    }
}

fn parse_f64(key: &'static str, value: &str) -> Result<f64, ConfigError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| parse_error(key, value, "a number"))
}

fn parse_u32(key: &'static str, value: &str) -> Result<u32, ConfigError> {
    value
        .parse::<u32>()
        .map_err(|_| parse_error(key, value, "a non-negative integer"))
}

/// A Go duration as Knative writes them (`60s`, `1m30s`, `500ms`, `1h`); no sign.
pub fn parse_duration(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let err = || parse_error(key, value, "a duration such as `60s` or `1m30s`");
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = value;
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(err()),
        };
        total += number * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}
