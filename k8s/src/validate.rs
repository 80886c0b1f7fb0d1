//! Checks of values that parse but that KServe (and infergate) reject.

use crate::api::{InferenceService, LoggerMode, PredictorSpec, ProtocolVersion, ScaleMetric};

/// One invalid value; the message names the field by its full path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error(
        "spec.predictor.minReplicas ({min}) must be <= spec.predictor.maxReplicas ({max}) \
         (maxReplicas 0 means no upper bound)"
    )]
    MinAboveMax { min: i32, max: i32 },
    #[error("{field} must be >= 0, got {value}")]
    Negative { field: &'static str, value: i64 },
    #[error("{field} must be > 0, got {value}")]
    NotPositive { field: &'static str, value: i64 },
    #[error("spec.predictor.canaryTrafficPercent must be between 0 and 100, got {value}")]
    CanaryOutOfRange { value: i64 },
    /// A value outside a closed set, e.g. `scaleMetric: qps`.
    #[error("{field}: `{value}` is not one of {}", allowed.join(", "))]
    UnknownValue {
        field: String,
        value: String,
        allowed: &'static [&'static str],
    },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
}

// === impl InferenceService ===

impl InferenceService {
    /// Checks the values KServe's CRD and webhook restrict: replica bounds, the canary
    /// percentage, concurrency, timeouts, batcher settings and the closed sets (`scaleMetric`,
    /// `protocolVersion`, `logger.mode`). Returns every problem, not just the first.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errors = Vec::new();
        let predictor = &self.spec.predictor;
        check_scaling(predictor, &mut errors);
        check_traffic(predictor, &mut errors);
        check_closed_sets(predictor, &mut errors);
        if let Some(wasm) = self.spec.transformer.as_ref().and_then(|t| t.wasm.as_ref())
            && wasm.uri.trim().is_empty()
        {
            errors.push(ValidationError::Empty {
                field: "spec.transformer.wasm.uri",
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_scaling(predictor: &PredictorSpec, errors: &mut Vec<ValidationError>) {
    let min = predictor.min_replicas;
    let max = predictor.max_replicas;
    non_negative("spec.predictor.minReplicas", min.map(i64::from), errors);
    non_negative("spec.predictor.maxReplicas", max.map(i64::from), errors);
    if let (Some(min), Some(max)) = (min, max)
        && max > 0
        && min > max
    {
        errors.push(ValidationError::MinAboveMax { min, max });
    }
    let target = predictor.scale_target.map(i64::from);
    positive("spec.predictor.scaleTarget", target, errors);
    non_negative(
        "spec.predictor.containerConcurrency",
        predictor.container_concurrency,
        errors,
    );
}

fn check_traffic(predictor: &PredictorSpec, errors: &mut Vec<ValidationError>) {
    if let Some(value) = predictor.canary_traffic_percent
        && !(0..=100).contains(&value)
    {
        errors.push(ValidationError::CanaryOutOfRange { value });
    }
    positive("spec.predictor.timeout", predictor.timeout, errors);
    if let Some(batcher) = &predictor.batcher {
        let max_batch_size = batcher.max_batch_size;
        positive(
            "spec.predictor.batcher.maxBatchSize",
            max_batch_size,
            errors,
        );
        positive(
            "spec.predictor.batcher.maxLatency",
            batcher.max_latency,
            errors,
        );
        positive("spec.predictor.batcher.timeout", batcher.timeout, errors);
    }
}

fn check_closed_sets(predictor: &PredictorSpec, errors: &mut Vec<ValidationError>) {
    if let Some(ScaleMetric::Unknown(value)) = &predictor.scale_metric {
        errors.push(unknown(
            "spec.predictor.scaleMetric",
            value,
            ScaleMetric::KNOWN,
        ));
    }
    if let Some(LoggerMode::Unknown(value)) =
        predictor.logger.as_ref().and_then(|l| l.mode.as_ref())
    {
        errors.push(unknown(
            "spec.predictor.logger.mode",
            value,
            LoggerMode::KNOWN,
        ));
    }
    let model = predictor.model.as_ref().map(|m| {
        (
            "spec.predictor.model".to_owned(),
            m.protocol_version.as_ref(),
        )
    });
    let frameworks = predictor.frameworks().into_iter().map(|(f, spec)| {
        (
            format!("spec.predictor.{f}"),
            spec.protocol_version.as_ref(),
        )
    });
    for (field, version) in model.into_iter().chain(frameworks) {
        if let Some(ProtocolVersion::Unknown(value)) = version {
            let field = format!("{field}.protocolVersion");
            errors.push(unknown(&field, value, ProtocolVersion::KNOWN));
        }
    }
}

fn non_negative(field: &'static str, value: Option<i64>, errors: &mut Vec<ValidationError>) {
    if let Some(value) = value
        && value < 0
    {
        errors.push(ValidationError::Negative { field, value });
    }
}

fn positive(field: &'static str, value: Option<i64>, errors: &mut Vec<ValidationError>) {
    if let Some(value) = value
        && value <= 0
    {
        errors.push(ValidationError::NotPositive { field, value });
    }
}

fn unknown(field: &str, value: &str, allowed: &'static [&'static str]) -> ValidationError {
    ValidationError::UnknownValue {
        field: field.to_owned(),
        value: value.to_owned(),
        allowed,
    }
}
