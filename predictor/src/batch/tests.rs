//! The batcher's pure parts: configuration, keys, the planning rules, concat and split.
//! (Batching against the real ONNX Runtime is tested in `tests/it/batching.rs`.)

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::queue::testing::{pending, plan_of};
use super::*;
use crate::protocol::{Tensor, TensorData};

fn config(max: usize, delay_ms: u64, preferred: &[usize]) -> BatchConfig {
    BatchConfig::new(max, Duration::from_millis(delay_ms), preferred.to_vec())
        .expect("valid test config")
}

/// A queue of requests with these (rows, width), all enqueued at `at`. The receivers are
/// leaked so that no request looks abandoned.
fn queue(requests: &[(usize, usize)], at: Instant) -> VecDeque<Pending> {
    requests
        .iter()
        .map(|&(rows, width)| {
            let (p, rx) = pending(rows, width, at);
            std::mem::forget(rx);
            p
        })
        .collect()
}

#[test]
fn config_is_checked() {
    assert_eq!(
        BatchConfig::new(0, Duration::ZERO, vec![]),
        Err(BatchConfigError::MaxBatchSize(0))
    );
    assert_eq!(
        BatchConfig::new(8, Duration::ZERO, vec![4, 16]),
        Err(BatchConfigError::PreferredTooLarge { size: 16, max: 8 })
    );
    assert_eq!(
        BatchConfig::new(8, Duration::ZERO, vec![0, 4]),
        Err(BatchConfigError::PreferredZero(0))
    );
    let c = config(8, 0, &[8, 4, 4]);
    assert_eq!(c.preferred(), [4, 8], "sorted, deduplicated");
    assert!(c.is_on());
    assert!(!BatchConfig::default().is_on());
    assert_eq!("delay".parse(), Ok(QueuePolicy::Delay));
    assert!("drop".parse::<QueuePolicy>().is_err());
}

#[test]
fn keys_agree_only_on_inner_dims_and_bound_rows() {
    let t = |shape: Vec<usize>| {
        let n = shape.iter().product();
        Tensor::new("input", shape, TensorData::F32(vec![0.0; n])).expect("consistent")
    };
    let (a, rows) = BatchKey::of(&[t(vec![3, 4])], 8).expect("batchable");
    assert_eq!(rows, 3);
    let (b, _) = BatchKey::of(&[t(vec![1, 4])], 8).expect("batchable");
    let (c, _) = BatchKey::of(&[t(vec![1, 5])], 8).expect("batchable");
    assert_eq!(a, b);
    assert_ne!(a, c, "different inner dims");
    assert!(
        BatchKey::of(&[t(vec![9, 4])], 8).is_none(),
        "more rows than max"
    );
    assert!(BatchKey::of(&[t(vec![0, 4])], 8).is_none(), "empty batch");
    assert!(BatchKey::of(&[t(vec![])], 8).is_none(), "scalar");
    let two = [t(vec![2, 4]), t(vec![3, 4]).with_name("other")];
    assert!(BatchKey::of(&two, 8).is_none(), "inputs disagree on rows");
}

#[test]
fn with_no_delay_a_free_worker_takes_every_compatible_request_up_to_max() {
    let now = Instant::now();
    let c = config(8, 0, &[]);
    // 3 + (different width) + 2 + 4 (does not fit: 9 > 8) + 1
    let q = queue(&[(3, 4), (1, 5), (2, 4), (4, 4), (1, 4)], now);
    assert_eq!(
        plan_of(&q, &c, now),
        Some(vec![0, 2]),
        "stops at the first that does not fit"
    );
    let q = queue(&[(3, 4), (1, 5), (2, 4), (1, 4)], now);
    assert_eq!(plan_of(&q, &c, now), Some(vec![0, 2, 3]));
}

#[test]
fn a_delay_holds_a_partial_batch_until_it_fills_or_the_oldest_waited_long_enough() {
    let now = Instant::now();
    let c = config(4, 10, &[]);
    let q = queue(&[(1, 4), (1, 4)], now);
    assert_eq!(plan_of(&q, &c, now), None, "waits to fill");
    assert_eq!(
        plan_of(&q, &c, now + Duration::from_millis(10)),
        Some(vec![0, 1]),
        "the delay is over"
    );
    let q = queue(&[(1, 4), (1, 4), (2, 4)], now);
    assert_eq!(plan_of(&q, &c, now), Some(vec![0, 1, 2]), "full");
}

#[test]
fn preferred_sizes_dispatch_at_once_and_win_over_a_larger_batch() {
    let now = Instant::now();
    let c = config(16, 1_000, &[4, 8]);
    let q = queue(&[(2, 4), (2, 4), (1, 4)], now);
    assert_eq!(plan_of(&q, &c, now), Some(vec![0, 1]), "4 is preferred");
    let q = queue(&[(3, 4), (1, 4), (3, 4), (1, 4), (2, 4)], now);
    assert_eq!(plan_of(&q, &c, now), Some(vec![0, 1, 2, 3]), "8 beats 4");
    let q = queue(&[(3, 4), (3, 4)], now);
    assert_eq!(plan_of(&q, &c, now), None, "no preferred size: wait");
    assert_eq!(
        plan_of(&q, &c, now + Duration::from_secs(1)),
        Some(vec![0, 1]),
        "then everything"
    );
}

#[test]
fn a_request_that_cannot_be_batched_runs_alone() {
    let now = Instant::now();
    let c = config(4, 1_000, &[]);
    // 5 rows > max 4: no key.
    let q = queue(&[(5, 4), (1, 4)], now);
    assert_eq!(plan_of(&q, &c, now), Some(vec![0]));
}

#[test]
fn requests_whose_client_left_are_skipped() {
    let now = Instant::now();
    let c = config(8, 0, &[]);
    let (a, _a) = pending(1, 4, now);
    let (b, b_rx) = pending(1, 4, now);
    let (d, _d) = pending(1, 4, now);
    drop(b_rx);
    let q: VecDeque<Pending> = [a, b, d].into_iter().collect();
    assert_eq!(plan_of(&q, &c, now), Some(vec![0, 2]));
}

/// Tensors of `rows[j]` rows each and the given inner shape, with distinct values.
fn requests(rows: &[usize], inner: &[usize]) -> Vec<Vec<Tensor>> {
    let width: usize = inner.iter().product();
    let mut next = 0.0_f32;
    rows.iter()
        .map(|&r| {
            let mut shape = vec![r];
            shape.extend_from_slice(inner);
            let data = (0..r * width)
                .map(|_| {
                    next += 1.0;
                    next
                })
                .collect();
            let floats = Tensor::new("x", shape.clone(), TensorData::F32(data)).expect("ok");
            let words = (0..r * width)
                .map(|i| format!("w{i}").into_bytes())
                .collect();
            let bytes = Tensor::new("s", shape, TensorData::Bytes(words)).expect("ok");
            vec![floats, bytes]
        })
        .collect()
}

proptest! {
    #[test]
    fn split_undoes_concat(
        rows in prop::collection::vec(1usize..6, 1..8),
        inner in prop::collection::vec(1usize..4, 0..3),
    ) {
        let originals = requests(&rows, &inner);
        let views: Vec<&[Tensor]> = originals.iter().map(Vec::as_slice).collect();
        let joined = concat_inputs(&views).expect("same key");
        prop_assert_eq!(joined[0].shape()[0], rows.iter().sum::<usize>());
        let parts = split_outputs(joined, &rows).expect("rows add up");
        prop_assert_eq!(parts, originals);
    }
}

#[test]
fn outputs_without_the_batch_dimension_are_not_split() {
    let out = Tensor::new("pooled", vec![1, 3], TensorData::F32(vec![0.0; 3])).expect("ok");
    let err = split_outputs(vec![out], &[1, 2]).expect_err("1 row for a batch of 3");
    assert!(
        err.to_string()
            .contains("output `pooled` has shape [1, 3] for a batch of 3 rows")
    );
}
