//! A counting semaphore over the pooling allocator's instance slots, so that a call beyond
//! `max_concurrent` waits (bounded, without blocking a thread) instead of failing inside wasmtime.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, TryAcquireError};

pub(crate) struct Slots {
    free: Semaphore,
}

/// One slot, given back on drop.
pub(crate) type Slot<'a> = SemaphorePermit<'a>;

// === impl Slots ===

impl Slots {
    pub(crate) fn new(total: u32) -> Self {
        Self {
            free: Semaphore::new(usize::try_from(total).unwrap_or(usize::MAX)),
        }
    }

    /// Takes a slot, waiting up to `wait` for one; `None` if none came free. A free slot is
    /// taken without touching the timer (the common case); waiting needs a tokio runtime with
    /// its time driver.
    pub(crate) async fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        match self.free.try_acquire() {
            Ok(slot) => return Some(slot),
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {}
        }
        tokio::time::timeout(wait, self.free.acquire())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn waits_for_a_slot_then_gives_up() {
        let slots = Slots::new(1);
        let first = slots.acquire(Duration::ZERO).await.expect("one free slot");
        let started = Instant::now();
        assert!(
            slots.acquire(Duration::from_millis(20)).await.is_none(),
            "no second slot"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "waited the whole bound"
        );
        drop(first);
        assert!(
            slots.acquire(Duration::ZERO).await.is_some(),
            "the slot came back"
        );
    }

    #[tokio::test]
    async fn a_released_slot_wakes_a_waiter() {
        let slots = Slots::new(1);
        let held = slots.acquire(Duration::ZERO).await.expect("one free slot");
        // Biased: the waiter is polled first and finds no slot, then the holder lets go.
        let (got, ()) = tokio::join!(biased; slots.acquire(Duration::from_secs(10)), async move {
            drop(held);
        });
        assert!(got.is_some(), "the waiter got the slot");
    }
}
