//! The epoch ticker: one thread per engine advancing its epoch every tick while calls run, and
//! parked while none do (an idle gateway does not wake up a thousand times a second).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use wasmtime::EngineWeak;

pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    /// Calls running now.
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Held for the length of a call: the ticker ticks while any is alive.
pub(crate) struct Active<'a> {
    ticker: &'a Ticker,
}

// === impl Ticker ===

impl Ticker {
    pub(crate) fn spawn(engine: &wasmtime::Engine, tick: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { active: AtomicUsize::new(0), stop: AtomicBool::new(false) });
        let weak = engine.weak();
        let handle = thread::Builder::new()
            .name("transformer-epoch".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, &weak, tick)
            })?;
        Ok(Self { shared, thread: handle.thread().clone() })
    }

    /// Marks a call as running until the guard drops.
    pub(crate) fn active(&self) -> Active<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Active { ticker: self }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Advances the epoch once per `tick` of wall-clock time while calls run. A sleep can overrun
/// (a busy machine schedules the thread late), so the epoch follows the clock, not the number of
/// sleeps: a deadline of N ticks is N ticks of real time. Time spent parked is not counted, or
/// the first call after an idle spell would see its deadline pass at once.
fn run(shared: &Shared, engine: &EngineWeak, tick: Duration) {
    let mut last = Instant::now();
    let mut owed = Duration::ZERO;
    while !shared.stop.load(Ordering::Acquire) {
        if shared.active.load(Ordering::Acquire) == 0 {
            // `unpark` before `park` makes `park` return at once, so a call starting between
            // the check and here is not missed; spurious wake-ups just loop.
            thread::park();
            last = Instant::now();
            continue;
        }
        thread::sleep(tick);
        let now = Instant::now();
        owed += now - last;
        last = now;
        let Some(engine) = engine.upgrade() else {
            return;
        };
        while owed >= tick {
            engine.increment_epoch();
            owed -= tick;
        }
    }
}

// === impl Active ===

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.ticker.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}
