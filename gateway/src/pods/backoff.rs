//! Restart backoff: exponential (initial, doubling, capped), reset once a replica has stayed
//! ready long enough to count as healthy again.

use std::time::Duration;

/// The delays before successive restarts of one replica.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    /// Restarts since the last reset; the next delay is `initial * 2^attempt`, capped.
    attempt: u32,
}

// === impl Backoff ===

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Self {
            initial,
            max,
            reset_after,
            attempt: 0,
        }
    }

    /// The delay before the next restart, after a process that had been ready for `ready_for`
    /// (`None`: it never became ready) exited. A process ready for at least `reset_after`
    /// starts the sequence over.
    pub(super) fn after_exit(&mut self, ready_for: Option<Duration>) -> Duration {
        if ready_for.is_some_and(|ready_for| ready_for >= self.reset_after) {
            self.attempt = 0;
        }
        let delay = delay(self.initial, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

/// `initial * 2^attempt`, capped at `max` (and never above it, even when `initial` is).
fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    2u32.checked_pow(attempt)
        .and_then(|factor| initial.checked_mul(factor))
        .map_or(max, |delay| delay.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delay_doubles_from_initial_and_caps_at_max() {
        let delays: Vec<_> = (0..8).map(|n| delay(100 * MS, 1000 * MS, n)).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1000, 1000, 1000, 1000].map(|ms| ms * MS)
        );
    }

    #[test]
    fn delay_saturates_instead_of_overflowing() {
        let max = Duration::from_secs(30);
        assert_eq!(delay(100 * MS, max, 31), max);
        assert_eq!(delay(100 * MS, max, 32), max, "2^32 overflows u32");
        assert_eq!(delay(100 * MS, max, u32::MAX), max);
        assert_eq!(delay(Duration::MAX, max, 1), max, "Duration overflows");
    }

    #[test]
    fn delay_never_exceeds_max_even_when_initial_does() {
        assert_eq!(delay(5000 * MS, 1000 * MS, 0), 1000 * MS);
        assert_eq!(delay(Duration::ZERO, 1000 * MS, 10), Duration::ZERO);
    }

    #[test]
    fn after_exit_grows_until_a_long_enough_ready_period_resets_it() {
        let mut backoff = Backoff::new(100 * MS, 30_000 * MS, 60_000 * MS);
        assert_eq!(backoff.after_exit(Some(5 * MS)), 100 * MS);
        assert_eq!(
            backoff.after_exit(None),
            200 * MS,
            "a failed restart keeps growing"
        );
        assert_eq!(
            backoff.after_exit(Some(59_999 * MS)),
            400 * MS,
            "just short of reset_after"
        );
        assert_eq!(
            backoff.after_exit(Some(60_000 * MS)),
            100 * MS,
            "ready for reset_after"
        );
        assert_eq!(backoff.after_exit(Some(MS)), 200 * MS);
    }

    #[test]
    fn after_exit_uses_the_documented_defaults_shape() {
        let mut backoff = Backoff::new(100 * MS, 30_000 * MS, 60_000 * MS);
        let delays: Vec<_> = (0..12)
            .map(|_| backoff.after_exit(None).as_millis())
            .collect();
        assert_eq!(
            delays,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000
            ]
        );
    }
}
