//! Concatenating requests' inputs along the first dimension, and splitting outputs back.

use crate::protocol::{Tensor, TensorData};

/// Why a batch's outputs cannot be split back into per-request outputs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SplitError {
    #[error(
        "output `{name}` has shape {shape:?} for a batch of {rows} rows; its first dimension \
         is not the batch dimension, so this model cannot be batched (set --max-batch-size 1)"
    )]
    NotBatched {
        name: String,
        shape: Vec<usize>,
        rows: usize,
    },
}

/// Concatenates the inputs of requests that share a [`super::BatchKey`] along the first
/// dimension. `None` when they do not in fact agree (the key makes that unreachable).
pub(crate) fn concat_inputs(requests: &[&[Tensor]]) -> Option<Vec<Tensor>> {
    let first = requests.first()?;
    let rows: usize = requests
        .iter()
        .map(|inputs| inputs.first().and_then(|t| t.shape().first()).copied())
        .sum::<Option<usize>>()?;
    (0..first.len())
        .map(|i| {
            let model = &first[i];
            let mut shape = model.shape().to_vec();
            *shape.first_mut()? = rows;
            let parts = requests
                .iter()
                .map(|inputs| inputs.get(i).map(Tensor::data))
                .collect::<Option<Vec<_>>>()?;
            let total = parts.iter().map(|d| d.len()).sum();
            let data = concat_data(&parts, total)?;
            Tensor::new(model.name(), shape, data).ok()
        })
        .collect()
}

/// Splits every output by rows: `rows[j]` rows for request `j`, in order.
pub(crate) fn split_outputs(
    outputs: Vec<Tensor>,
    rows: &[usize],
) -> Result<Vec<Vec<Tensor>>, SplitError> {
    let total: usize = rows.iter().sum();
    let mut per_request: Vec<Vec<Tensor>> = rows
        .iter()
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for output in outputs {
        let (name, shape, data) = output.into_parts();
        let not_batched = |shape: Vec<usize>| SplitError::NotBatched {
            name: name.clone(),
            shape,
            rows: total,
        };
        let inner: usize = match shape.split_first() {
            Some((&first, inner)) if first == total => inner.iter().product(),
            _ => return Err(not_batched(shape)),
        };
        let counts: Vec<usize> = rows.iter().map(|&r| r * inner).collect();
        let Some(parts) = split_data(data, &counts) else {
            return Err(not_batched(shape));
        };
        for ((part, &r), outputs) in parts.into_iter().zip(rows).zip(&mut per_request) {
            let mut part_shape = shape.clone();
            part_shape[0] = r;
            let tensor = Tensor::new(name.clone(), part_shape, part)
                .map_err(|_| not_batched(shape.clone()))?;
            outputs.push(tensor);
        }
    }
    Ok(per_request)
}

/// The elements of `parts` one after the other; `None` when their datatypes differ.
fn concat_data(parts: &[&TensorData], total: usize) -> Option<TensorData> {
    macro_rules! arms {
        ($($variant:ident),+) => {
            match parts.first()? {
                $(TensorData::$variant(_) => {
                    let mut out = Vec::with_capacity(total);
                    for part in parts {
                        let TensorData::$variant(values) = part else {
                            return None;
                        };
                        out.extend_from_slice(values);
                    }
                    TensorData::$variant(out)
                })+
            }
        };
    }
    Some(arms!(
        Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, F32, F64, Bytes
    ))
}

/// `data` cut into consecutive parts of `counts[j]` elements; `None` unless they add up.
///
/// The first part keeps the original buffer; each later one is one copy of its elements.
fn split_data(data: TensorData, counts: &[usize]) -> Option<Vec<TensorData>> {
    if counts.iter().sum::<usize>() != data.len() || counts.is_empty() {
        return None;
    }
    macro_rules! arms {
        ($($variant:ident),+) => {
            match data {
                $(TensorData::$variant(mut values) => {
                    let mut parts = Vec::with_capacity(counts.len());
                    for &n in counts[1..].iter().rev() {
                        let at = values.len() - n;
                        parts.push(TensorData::$variant(values.split_off(at)));
                    }
                    parts.push(TensorData::$variant(values));
                    parts.reverse();
                    parts
                })+
            }
        };
    }
    Some(arms!(
        Bool, U8, U16, U32, U64, I8, I16, I32, I64, F16, F32, F64, Bytes
    ))
}
