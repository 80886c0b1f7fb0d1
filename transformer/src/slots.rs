//! A counting semaphore over the pooling allocator's instance slots, so that a call beyond
//! `max_concurrent` waits (bounded) instead of failing inside wasmtime.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct Slots {
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    free: u32,
    /// Callers blocked in `acquire`: a release notifies only when there are any (std's
    /// `notify_one` is a syscall even with no waiter).
    waiting: u32,
}

/// One slot, given back on drop.
pub(crate) struct Slot<'a> {
    slots: &'a Slots,
}

// === impl Slots ===

impl Slots {
    pub(crate) fn new(total: u32) -> Self {
        Self {
            state: Mutex::new(State {
                free: total,
                waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Takes a slot, waiting up to `wait` for one; `None` if none came free.
    pub(crate) fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        // The counters are always consistent, so a panic elsewhere while holding them is harmless.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut deadline = None;
        while state.free == 0 {
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait);
            let left = deadline.checked_duration_since(Instant::now())?;
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
        state.free -= 1;
        Some(Slot { slots: self })
    }
}

// === impl Slot ===

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self
            .slots
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.free += 1;
        if state.waiting > 0 {
            self.slots.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_slot_then_gives_up() {
        let slots = Slots::new(1);
        let first = slots.acquire(Duration::ZERO).expect("one free slot");
        let started = Instant::now();
        assert!(
            slots.acquire(Duration::from_millis(20)).is_none(),
            "no second slot"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "waited the whole bound"
        );
        drop(first);
        assert!(
            slots.acquire(Duration::ZERO).is_some(),
            "the slot came back"
        );
    }

    #[test]
    fn a_released_slot_wakes_a_waiter() {
        let slots = Slots::new(1);
        let held = slots.acquire(Duration::ZERO).expect("one free slot");
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| slots.acquire(Duration::from_secs(10)).is_some());
            drop(held);
            assert!(
                waiter.join().expect("waiter thread"),
                "the waiter got the slot"
            );
        });
    }
}
