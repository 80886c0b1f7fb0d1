//! Bins shared by a reference distribution and its sliding window, and the reference itself.
//!
//! Numeric series are binned on edges taken from the reference: its deciles (the values at
//! 10%, 20%, …, 90% of the sorted reference, duplicates removed), so each bin holds about a
//! tenth of the reference. A value `v` falls in bin `i` when `edges[i-1] < v <= edges[i]`
//! (Prometheus' `le` convention; a value equal to an edge at `f32` precision is that edge, so
//! FP32 tensors and JSON numbers bin alike), the first bin is everything up to `edges[0]` and the last
//! everything above the last edge. Class series have one bin per reference class (at most
//! [`crate::config::MAX_CLASSES`]) and a last bin for every other class.

/// The bins of one series.
#[derive(Clone, Debug, PartialEq)]
pub enum Bins {
    /// `edges.len() + 1` bins; edges strictly ascending and finite.
    Numeric { edges: Vec<f64> },
    /// `classes.len() + 1` bins, the last for classes not in the list.
    Classes { classes: Vec<String> },
}

/// A reference distribution: bins and how many reference values fell in each.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub bins: Bins,
    /// One count per bin.
    pub counts: Vec<u64>,
}

/// Quantiles used as numeric bin edges: the deciles.
const QUANTILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

// === impl Bins ===

impl Bins {
    /// The number of bins.
    pub fn len(&self) -> usize {
        match self {
            Bins::Numeric { edges } => edges.len() + 1,
            Bins::Classes { classes } => classes.len() + 1,
        }
    }

    /// Never true: there is always at least one bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bin of a numeric value (the last bin for a class series, which has no numbers). A
    /// value equal to an edge at `f32` precision counts as that edge: the same number read from
    /// FP32 data (3.4 is 3.4000000953674316 widened) or from a JSON number (V1: 3.4 exactly)
    /// lands in the same bin.
    pub fn of_value(&self, v: f64) -> usize {
        self.locate(v).0
    }

    /// `v`, or the edge it equals at `f32` precision: what a histogram on these edges observes,
    /// so that its `le` buckets agree with [`Bins::of_value`].
    pub fn snap(&self, v: f64) -> f64 {
        self.locate(v).1
    }

    /// [`Bins::of_value`] and [`Bins::snap`] with one search of the edges.
    pub fn locate(&self, v: f64) -> (usize, f64) {
        match self {
            Bins::Numeric { edges } => {
                let above = edges.partition_point(|&e| e < v);
                match above.checked_sub(1) {
                    Some(below) if same_f32(edges[below], v) => (below, edges[below]),
                    _ => match edges.get(above) {
                        Some(&e) if same_f32(e, v) => (above, e),
                        _ => (above, v),
                    },
                }
            }
            Bins::Classes { classes } => (classes.len(), v),
        }
    }

    /// The bin of a class (the last bin, "other", for a class not in the reference).
    pub fn of_class(&self, class: &str) -> usize {
        match self {
            Bins::Classes { classes } => classes
                .iter()
                .position(|c| c == class)
                .unwrap_or(classes.len()),
            Bins::Numeric { edges } => edges.len(),
        }
    }

    /// The decile edges of `values` (finite values only; `None` when there are none).
    pub fn deciles(values: &[f64]) -> Option<Bins> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = QUANTILES
            .iter()
            .map(|q| {
                // Nearest rank.
                let rank = (q * sorted.len() as f64).ceil() as usize;
                sorted[rank.clamp(1, sorted.len()) - 1]
            })
            .collect();
        // FP32 data widened to f64 reads 0.8999999761581421 for 0.9: label buckets the way the
        // value was written. Values are binned on these same edges, reference and window alike.
        for e in &mut edges {
            *e = shortest(*e);
        }
        edges.dedup();
        Some(Bins::Numeric { edges })
    }
}

/// Whether `a` and `b` are the same number at `f32` precision.
fn same_f32(a: f64, b: f64) -> bool {
    a as f32 == b as f32
}

/// `v` as the shortest decimal of the `f32` it equals, when it is one (else `v`).
fn shortest(v: f64) -> f64 {
    let narrow = v as f32;
    if f64::from(narrow) == v {
        narrow.to_string().parse().unwrap_or(v)
    } else {
        v
    }
}

// === impl Reference ===

impl Reference {
    /// Bins `values` on their own deciles.
    pub fn from_values(values: &[f64]) -> Option<Reference> {
        let bins = Bins::deciles(values)?;
        let mut counts = vec![0; bins.len()];
        for &v in values.iter().filter(|v| v.is_finite()) {
            counts[bins.of_value(v)] += 1;
        }
        Some(Reference { bins, counts })
    }

    /// One bin per class seen (the `max` most frequent, ties by name), plus "other".
    pub fn from_classes(counts: &std::collections::BTreeMap<String, u64>, max: usize) -> Reference {
        let mut by_count: Vec<(&String, u64)> = counts.iter().map(|(c, &n)| (c, n)).collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let kept: Vec<String> = by_count
            .iter()
            .take(max)
            .map(|(c, _)| (*c).clone())
            .collect();
        let mut ref_counts: Vec<u64> = by_count.iter().take(max).map(|(_, n)| *n).collect();
        ref_counts.push(by_count.iter().skip(max).map(|(_, n)| n).sum());
        Reference {
            bins: Bins::Classes { classes: kept },
            counts: ref_counts,
        }
    }

    /// The numeric edges, for histogram buckets (`None` for a class series).
    pub fn edges(&self) -> Option<&[f64]> {
        match &self.bins {
            Bins::Numeric { edges } => Some(edges),
            Bins::Classes { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The histogram observes the snapped value, the window counts the bin: they agree when
        /// the histogram's buckets are the edges (`le`), for FP32 values and JSON numbers alike.
        #[test]
        fn the_bin_is_the_le_bucket_of_the_snapped_value(
            values in prop::collection::vec(-50.0f32..50.0, 1..100),
            probes in prop::collection::vec(-60.0f32..60.0, 1..50),
        ) {
            let values: Vec<f64> = values.into_iter().map(|v| f64::from((v * 10.0).round() / 10.0)).collect();
            let reference = Reference::from_values(&values).expect("finite values");
            let edges = reference.edges().expect("numeric").to_vec();
            let probes = probes.into_iter().map(f64::from).chain(values.iter().copied()).chain(edges.iter().copied());
            for v in probes {
                let (bin, snapped) = reference.bins.locate(v);
                let bucket = edges.iter().position(|&e| snapped <= e).unwrap_or(edges.len());
                prop_assert_eq!(bin, bucket, "{} snapped to {} on {:?}", v, snapped, edges);
                prop_assert_eq!((bin, snapped), (reference.bins.of_value(v), reference.bins.snap(v)));
            }
        }
    }

    #[test]
    fn deciles_split_the_reference_in_tenths() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let reference = Reference::from_values(&values).expect("values");
        assert_eq!(
            reference.edges(),
            Some(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0][..])
        );
        assert_eq!(reference.counts, vec![10; 10]);
        // `le` semantics: an edge value belongs to the bin below it.
        assert_eq!(reference.bins.of_value(10.0), 0);
        assert_eq!(reference.bins.of_value(10.5), 1);
        assert_eq!(reference.bins.of_value(1e9), 9);
        assert_eq!(reference.bins.of_value(-1e9), 0);
    }

    #[test]
    fn fp32_edges_read_as_written() {
        let values: Vec<f64> = (0..100).map(|i| f64::from(i as f32 / 10.0)).collect();
        let reference = Reference::from_values(&values).expect("values");
        assert_eq!(reference.edges().expect("numeric")[0], 0.9);
        assert_eq!(reference.counts.iter().sum::<u64>(), 100);
    }

    #[test]
    fn fp32_and_json_numbers_land_in_the_same_bin() {
        // 3.4 widened from f32 is above 3.4, 3.1 widened is below 3.1: both are their edge.
        let values: Vec<f64> = [2.9f32, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let reference = Reference::from_values(&values).expect("values");
        let bins = &reference.bins;
        for (fp32, json) in [(3.4f32, 3.4f64), (3.1, 3.1), (3.8, 3.8), (2.9, 2.9)] {
            let widened = f64::from(fp32);
            assert_eq!(bins.of_value(widened), bins.of_value(json), "{json}");
        }
        // On an edge, both observe the edge itself (3.8 is above the last edge, 3.7).
        for (fp32, json) in [(3.4f32, 3.4f64), (3.1, 3.1), (2.9, 2.9), (3.7, 3.7)] {
            assert_eq!(bins.snap(f64::from(fp32)), json);
            assert_eq!(bins.snap(json), json);
        }
        assert_eq!(bins.snap(3.45), 3.45);
        // One reference value per bin, as the deciles promise.
        assert_eq!(reference.counts, vec![1; 10]);
    }

    #[test]
    fn constant_and_empty_series() {
        let reference = Reference::from_values(&[3.0; 50]).expect("values");
        assert_eq!(reference.edges(), Some(&[3.0][..]));
        assert_eq!(reference.counts, vec![50, 0]);
        assert!(Reference::from_values(&[f64::NAN]).is_none());
        assert!(Reference::from_values(&[]).is_none());
    }

    #[test]
    fn classes_keep_the_most_frequent_and_pool_the_rest() {
        let counts: BTreeMap<String, u64> = [("a", 5), ("b", 9), ("c", 1), ("d", 5)]
            .into_iter()
            .map(|(c, n)| (c.to_owned(), n))
            .collect();
        let reference = Reference::from_classes(&counts, 3);
        assert_eq!(
            reference.bins,
            Bins::Classes {
                classes: vec!["b".into(), "a".into(), "d".into()]
            }
        );
        assert_eq!(reference.counts, vec![9, 5, 5, 1]);
        assert_eq!(reference.bins.of_class("d"), 2);
        assert_eq!(reference.bins.of_class("zzz"), 3);
    }
}
