//! Drift scores between two binned distributions: pure functions, no state.
//!
//! Both take bin counts over the same bins (the reference's, see [`crate::bins`]):
//!
//! - **PSI**, the population stability index: `Σ (q_i − p_i) · ln(q_i / p_i)`, where `p` is the
//!   reference's share per bin and `q` the window's. An empty bin would make it infinite, so
//!   both distributions are smoothed first: every share below [`EPSILON`] is raised to it and
//!   the shares are renormalised to sum to 1. Usual reading: < 0.1 stable, 0.1–0.2 some drift
//!   (the default warning), > 0.2 drift (the default threshold).
//! - **JS**, the Jensen-Shannon distance: the square root of the Jensen-Shannon divergence in
//!   bits (log base 2), so it lies in [0, 1], is symmetric and is a metric. It is finite with
//!   empty bins, so it takes the raw shares. For small shifts a JS distance of 0.1 and 0.2 sits
//!   close to a PSI of 0.1 and 0.2, which is why both share the default thresholds.

/// The smallest share a bin gets before PSI is computed.
pub const EPSILON: f64 = 1e-4;

/// Shares per bin from counts; all zeros when `counts` sums to 0.
pub fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

/// `shares` with every share raised to at least [`EPSILON`], renormalised to sum to 1.
pub fn smoothed(shares: &[f64]) -> Vec<f64> {
    let floored: Vec<f64> = shares.iter().map(|&s| s.max(EPSILON)).collect();
    let total: f64 = floored.iter().sum();
    floored.iter().map(|s| s / total).collect()
}

/// The population stability index of `window` against `reference` (bin counts over the same
/// bins), smoothed as the module documentation says. 0 for identical shares; never negative.
pub fn psi(reference: &[u64], window: &[u64]) -> f64 {
    debug_assert_eq!(reference.len(), window.len(), "same bins");
    let p = smoothed(&shares(reference));
    let q = smoothed(&shares(window));
    p.iter()
        .zip(&q)
        .map(|(p, q)| (q - p) * (q / p).ln())
        .sum::<f64>()
        .max(0.0)
}

/// The Jensen-Shannon distance (base 2) between the two distributions of bin counts, in [0, 1].
pub fn js_distance(reference: &[u64], window: &[u64]) -> f64 {
    debug_assert_eq!(reference.len(), window.len(), "same bins");
    let p = shares(reference);
    let q = shares(window);
    // Σ a·log2(a/m), with 0·log 0 = 0.
    let kl_to_mean = |a: f64, m: f64| if a > 0.0 { a * (a / m).log2() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&p, &q)| {
            let m = (p + q) / 2.0;
            0.5 * kl_to_mean(p, m) + 0.5 * kl_to_mean(q, m)
        })
        .sum();
    // Rounding can leave a hair below 0 or above 1.
    divergence.clamp(0.0, 1.0).sqrt()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn counts() -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> {
        (1usize..20).prop_flat_map(|bins| {
            (
                prop::collection::vec(0u64..1000, bins),
                prop::collection::vec(0u64..1000, bins),
            )
        })
    }

    proptest! {
        #[test]
        fn identical_distributions_score_zero((a, _) in counts()) {
            prop_assert!(psi(&a, &a).abs() < 1e-12);
            prop_assert!(js_distance(&a, &a).abs() < 1e-6);
            // Scaling the counts keeps the shares.
            let doubled: Vec<u64> = a.iter().map(|c| c * 2).collect();
            prop_assert!(psi(&a, &doubled).abs() < 1e-12);
        }

        #[test]
        fn scores_are_bounded_and_js_is_symmetric((a, b) in counts()) {
            prop_assume!(a.iter().sum::<u64>() > 0 && b.iter().sum::<u64>() > 0);
            let (psi_ab, js_ab, js_ba) = (psi(&a, &b), js_distance(&a, &b), js_distance(&b, &a));
            prop_assert!(psi_ab >= 0.0 && psi_ab.is_finite());
            prop_assert!((0.0..=1.0).contains(&js_ab));
            prop_assert!((js_ab - js_ba).abs() < 1e-12);
        }
    }

    /// A normal-ish sample over 10 bins, shifted by `shift` bins' worth of mass.
    fn shifted(shift: f64) -> Vec<u64> {
        (0..10)
            .map(|i| {
                let x = f64::from(i) - 4.5 - shift;
                (10_000.0 * (-x * x / 8.0).exp()) as u64
            })
            .collect()
    }

    #[test]
    fn scores_grow_with_the_shift() {
        let reference = shifted(0.0);
        let mut last = (0.0, 0.0);
        for step in 1..=6 {
            let window = shifted(f64::from(step) * 0.5);
            let now = (psi(&reference, &window), js_distance(&reference, &window));
            assert!(
                now.0 > last.0 && now.1 > last.1,
                "step {step}: {now:?} after {last:?}"
            );
            last = now;
        }
    }

    #[test]
    fn disjoint_distributions() {
        assert!((js_distance(&[10, 0], &[0, 10]) - 1.0).abs() < 1e-12);
        // ln(1 / ε) scale: large, finite.
        let psi = psi(&[10, 0], &[0, 10]);
        assert!(psi > 10.0 && psi.is_finite(), "{psi}");
    }

    #[test]
    fn known_values() {
        // Reference 50/50, window 60/40: PSI = 0.1·ln(1.2) − 0.1·ln(0.8) ≈ 0.04055.
        assert!((psi(&[50, 50], &[60, 40]) - 0.040_546_5).abs() < 1e-5);
        // An empty window scores 0 against nothing, by the smoothing: both uniform-ish.
        assert!(js_distance(&[0, 0], &[0, 0]).abs() < 1e-12);
    }
}
