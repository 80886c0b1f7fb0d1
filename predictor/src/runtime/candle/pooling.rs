//! sentence-transformers' `Pooling(mean)` + `Normalize`: the mask-weighted mean of the token
//! vectors, scaled to unit length.

/// sentence-transformers clamps the token count (`torch.clamp(min=1e-9)`) ...
const MIN_TOKEN_WEIGHT: f64 = 1e-9;
/// ... and the norm (`F.normalize(eps=1e-12)`), so neither division is by zero.
const MIN_NORM: f64 = 1e-12;

/// Pools `hidden` (row-major `[batch, seq_len, hidden_size]`) over the tokens whose `mask`
/// (row-major `[batch, seq_len]`) is non-zero, weighted by it, and L2-normalises each row.
/// Returns row-major `[batch, hidden_size]`. Sums in f64, so a row's result does not depend on
/// how much padding follows it.
pub(super) fn mean_pool_l2(
    hidden: &[f32],
    mask: &[u32],
    batch: usize,
    seq_len: usize,
    hidden_size: usize,
) -> Vec<f32> {
    debug_assert_eq!(hidden.len(), batch * seq_len * hidden_size);
    debug_assert_eq!(mask.len(), batch * seq_len);
    let mut out = Vec::with_capacity(batch * hidden_size);
    let mut sum = vec![0f64; hidden_size];
    for row in 0..batch {
        sum.fill(0.0);
        let mut weight = 0f64;
        for token in 0..seq_len {
            let m = mask[row * seq_len + token];
            if m == 0 {
                continue;
            }
            let m = f64::from(m);
            weight += m;
            let start = (row * seq_len + token) * hidden_size;
            for (s, &h) in sum.iter_mut().zip(&hidden[start..start + hidden_size]) {
                *s += m * f64::from(h);
            }
        }
        let weight = weight.max(MIN_TOKEN_WEIGHT);
        let norm = sum.iter().map(|s| (s / weight).powi(2)).sum::<f64>().sqrt();
        let scale = weight * norm.max(MIN_NORM);
        out.extend(sum.iter().map(|s| (s / scale) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mean_pool_l2;

    #[test]
    fn averages_only_masked_tokens_then_normalises() {
        // 2 rows x 3 tokens x 2 dims; row 0 has 2 real tokens, row 1 has 3.
        let hidden = [
            3.0, 0.0, 1.0, 4.0, 100.0, -100.0, //
            1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        ];
        let mask = [1, 1, 0, 1, 1, 1];
        let out = mean_pool_l2(&hidden, &mask, 2, 3, 2);
        assert_eq!(out.len(), 4);
        // Row 0: mean (2, 2) -> (1/sqrt2, 1/sqrt2); the padding (100, -100) is ignored.
        let r = std::f32::consts::FRAC_1_SQRT_2;
        let expected = [r, r, r, r];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?} != {expected:?}");
        }
    }

    #[test]
    fn zero_vector_stays_zero() {
        let out = mean_pool_l2(&[0.0, 0.0], &[1], 1, 1, 2);
        assert_eq!(out, [0.0, 0.0]);
    }
}
