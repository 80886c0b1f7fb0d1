//! Which requests may share a model call: the batch key, and the model's batch dimension.

use crate::model::ModelMetadata;
use crate::protocol::{DataType, Tensor};

/// What requests must have in common to be concatenated: the same inputs in the same order,
/// each with the same datatype and the same dimensions after the first.
///
/// Requested outputs are not part of the key: the model computes every output whatever the
/// request selects, and the selection is applied when each response is encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchKey {
    inputs: Box<[InputKey]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InputKey {
    name: String,
    datatype: DataType,
    inner: Box<[usize]>,
}

// === impl BatchKey ===

impl BatchKey {
    /// The key and row count of a request, or `None` when it must run alone: no inputs, a
    /// scalar input, inputs that disagree on their first dimension, or more than `max_rows` rows.
    pub fn of(inputs: &[Tensor], max_rows: usize) -> Option<(BatchKey, usize)> {
        let rows = *inputs.first()?.shape().first()?;
        if rows == 0 || rows > max_rows {
            return None;
        }
        let inputs = inputs
            .iter()
            .map(|t| match t.shape() {
                [first, inner @ ..] if *first == rows => Some(InputKey {
                    name: t.name().to_owned(),
                    datatype: t.datatype(),
                    inner: inner.into(),
                }),
                _ => None,
            })
            .collect::<Option<Box<[_]>>>()?;
        Some((BatchKey { inputs }, rows))
    }
}

/// Whether every input and output of the model has a dynamic first dimension: the only models
/// whose requests can be concatenated and whose outputs can be split back by rows.
pub fn model_is_batchable(metadata: &ModelMetadata) -> bool {
    !metadata.inputs.is_empty()
        && metadata
            .inputs
            .iter()
            .chain(&metadata.outputs)
            .all(|spec| spec.shape.first() == Some(&-1))
}
