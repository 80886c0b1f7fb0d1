//! The traffic split: an exact, evenly interleaved 100-slot schedule per service.
//!
//! Every 100 consecutive draws give each revision exactly its percent, and the picks of one
//! revision are spread out (a 10/90 split sends one request in every ten to the canary, never ten
//! in a row). The schedule is built once per route table by laying every pick out at its ideal
//! time; a draw is one relaxed atomic increment and an array read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in one cycle of the schedule: percentages are exact per 100 requests.
pub(crate) const SLOTS: usize = 100;

/// A service's precomputed schedule and its draw counter.
#[derive(Debug)]
pub(crate) struct Split {
    /// Index into the service's `traffic` for each of the [`SLOTS`] slots; empty when no entry has
    /// any traffic.
    schedule: Box<[usize]>,
    next: AtomicU64,
}

// === impl Split ===

impl Split {
    /// The schedule for these percentages (one per traffic entry). Percentages that do not sum to
    /// 100 are treated as weights and apportioned to 100 slots by largest remainder.
    pub(crate) fn new(percents: &[u32]) -> Split {
        let slots = apportion(percents);
        Split {
            schedule: schedule(&slots).into_boxed_slice(),
            next: AtomicU64::new(0),
        }
    }

    /// The traffic entry for the next request; `None` when nothing takes traffic.
    pub(crate) fn draw(&self) -> Option<usize> {
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // SLOTS fits in u64 and the remainder is below SLOTS, so both casts are lossless.
        Some(self.schedule[(n % SLOTS as u64) as usize])
    }

    /// The whole cycle, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn schedule(&self) -> &[usize] {
        &self.schedule
    }
}

/// Slots per entry, summing to exactly [`SLOTS`] (or all zero when every weight is zero).
pub(crate) fn apportion(weights: &[u32]) -> Vec<u32> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let slots = SLOTS as u64;
    let mut out: Vec<u32> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u64, usize)> = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = u64::from(w) * slots;
        // A quotient of at most SLOTS always fits in u32.
        out.push(u32::try_from(exact / total).expect("a share of 100 slots fits in u32"));
        remainders.push((exact % total, i));
    }
    let given: u64 = out.iter().map(|&s| u64::from(s)).sum();
    // Largest remainders first; ties go to the earlier entry, so the result is deterministic.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((slots - given) as usize) {
        out[i] += 1;
    }
    out
}

/// One cycle in which entry `i` appears exactly `slots[i]` times, evenly spaced: its `k`-th pick
/// ideally falls at `(k + 1/2) / slots[i]` of the cycle, and all picks are laid out in the order
/// of those ideal times. A pick's slot is within half the number of entries of its ideal slot.
fn schedule(slots: &[u32]) -> Vec<usize> {
    // (2k + 1, 2 * slots[i], i): the ideal time as an exact fraction, compared by
    // cross-multiplication (both factors are at most 201, far from overflow).
    let mut picks: Vec<(u64, u64, usize)> = slots
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| (0..u64::from(s)).map(move |k| (2 * k + 1, 2 * u64::from(s), i)))
        .collect();
    picks.sort_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)).then(a.2.cmp(&b.2)));
    picks.into_iter().map(|(_, _, i)| i).collect()
}
