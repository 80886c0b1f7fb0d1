//! A counting semaphore over the pooling allocator's instance slots, so that a call beyond
//! `max_concurrent` waits (bounded) instead of failing inside wasmtime.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

/// One slot, given back on drop.
pub(crate) struct Slot<'a> {
    slots: &'a Slots,
}

// === impl Slots ===

impl Slots {
    pub(crate) fn new(total: u32) -> Self {
        Self { free: Mutex::new(total), freed: Condvar::new() }
    }

    /// Takes a slot, waiting up to `wait` for one; `None` if none came free.
    pub(crate) fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        let deadline = Instant::now() + wait;
        // The counter is always consistent, so a panic elsewhere while holding it is harmless.
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            let left = deadline.checked_duration_since(Instant::now())?;
            free = self.freed.wait_timeout(free, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *free -= 1;
        Some(Slot { slots: self })
    }
}

// === impl Slot ===

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.slots.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.slots.freed.notify_one();
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
        assert!(slots.acquire(Duration::from_millis(20)).is_none(), "no second slot");
        assert!(started.elapsed() >= Duration::from_millis(20), "waited the whole bound");
        drop(first);
        assert!(slots.acquire(Duration::ZERO).is_some(), "the slot came back");
    }

    #[test]
    fn a_released_slot_wakes_a_waiter() {
        let slots = Slots::new(1);
        let held = slots.acquire(Duration::ZERO).expect("one free slot");
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| slots.acquire(Duration::from_secs(10)).is_some());
            drop(held);
            assert!(waiter.join().expect("waiter thread"), "the waiter got the slot");
        });
    }
}
