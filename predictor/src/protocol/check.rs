//! Checks of a request tensor's shape against the model's declared shape and the limits.

use super::Limits;
use super::error::{ProtocolError, TensorAt};
use crate::model::TensorSpec;

/// Turns the request's dimensions into sizes, rejecting negative ones.
pub(crate) fn dims(at: &TensorAt, shape: &[i64]) -> Result<Vec<usize>, ProtocolError> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| ProtocolError::NegativeDimension {
                at: at.clone(),
                shape: shape.to_vec(),
                dim: d,
            })
        })
        .collect()
}

/// Checks rank and every fixed dimension; `-1` in the model's shape matches anything.
pub(crate) fn against_spec(
    at: &TensorAt,
    shape: &[usize],
    spec: &TensorSpec,
) -> Result<(), ProtocolError> {
    if shape.len() != spec.shape.len() {
        return Err(ProtocolError::RankMismatch {
            at: at.clone(),
            shape: shape.to_vec(),
            rank: shape.len(),
            model_shape: spec.shape.clone(),
        });
    }
    for (index, (&actual, &expected)) in shape.iter().zip(&spec.shape).enumerate() {
        if expected >= 0 && i64::try_from(actual).ok() != Some(expected) {
            return Err(ProtocolError::DimensionMismatch {
                at: at.clone(),
                shape: shape.to_vec(),
                index,
                actual,
                expected,
                model_shape: spec.shape.clone(),
            });
        }
    }
    Ok(())
}

/// The element count of `shape`, bounded by `limits.max_elements`.
pub(crate) fn element_count(
    at: &TensorAt,
    shape: &[usize],
    limits: &Limits,
) -> Result<usize, ProtocolError> {
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| ProtocolError::ElementCountOverflow {
            at: at.clone(),
            shape: shape.to_vec(),
        })?;
    if count > limits.max_elements {
        return Err(ProtocolError::TooManyElements {
            at: at.clone(),
            count,
            max: limits.max_elements,
        });
    }
    Ok(count)
}
