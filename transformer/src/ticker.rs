//! The epoch ticker: one thread per engine advancing its epoch every tick while calls run (each
//! tick makes every running call compare the clock with its deadline). It parks after a spell
//! with no calls (an idle gateway does not wake up a thousand times a
//! second), and a call wakes it only when it really is parked (no syscall on a busy path).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use wasmtime::EngineWeak;

/// How long the ticker keeps ticking with no call running before it parks.
const LINGER: Duration = Duration::from_millis(200);

pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    /// Calls running now.
    active: AtomicUsize,
    /// The ticker is parked, or about to park: a starting call must unpark it.
    parked: AtomicBool,
    stop: AtomicBool,
}

/// Held for the length of a call: the ticker ticks while any is alive.
pub(crate) struct Active<'a> {
    ticker: &'a Ticker,
}

// === impl Ticker ===

impl Ticker {
    pub(crate) fn spawn(engine: &wasmtime::Engine, tick: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let weak = engine.weak();
        let handle = thread::Builder::new()
            .name("transformer-epoch".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, &weak, tick)
            })?;
        Ok(Self {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Marks a call as running until the guard drops.
    pub(crate) fn active(&self) -> Active<'_> {
        // SeqCst pairs with the ticker's store of `parked` then load of `active`: either it sees
        // this call, or this call sees it parked and wakes it.
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        Active { ticker: self }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Advances the epoch once per sleep of `tick`. Sleeps may overrun on a busy machine; that only
/// delays the moment a call notices its deadline, never brings it forward (calls compare the
/// wall clock, see `call::past_deadline`).
fn run(shared: &Shared, engine: &EngineWeak, tick: Duration) {
    let mut idle_since: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.active.load(Ordering::SeqCst) == 0 {
            if idle_since.get_or_insert_with(Instant::now).elapsed() >= LINGER {
                shared.parked.store(true, Ordering::SeqCst);
                // Re-check after announcing: a call that started before the store has not
                // unparked us. A spurious wake-up or a stale unpark token just loops.
                if shared.active.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst)
                {
                    thread::park();
                }
                shared.parked.store(false, Ordering::SeqCst);
                idle_since = None;
                continue;
            }
        } else {
            idle_since = None;
        }
        thread::sleep(tick);
        match engine.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => return,
        }
    }
}

// === impl Active ===

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.ticker.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}
