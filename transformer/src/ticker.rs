//! The epoch ticker: one thread per engine advancing its epoch every tick while calls run. It
//! parks after a spell with no calls (an idle gateway does not wake up a thousand times a
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
        let handle = thread::Builder::new().name("transformer-epoch".into()).spawn({
            let shared = shared.clone();
            move || run(&shared, &weak, tick)
        })?;
        Ok(Self { shared, thread: handle.thread().clone() })
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

/// Advances the epoch once per `tick` of wall-clock time. A sleep can overrun (a busy machine
/// schedules the thread late), so the epoch follows the clock, not the number of sleeps: a
/// deadline of N ticks is N ticks of real time. Time spent parked is not counted, or the first
/// call after an idle spell would see its deadline pass at once.
fn run(shared: &Shared, engine: &EngineWeak, tick: Duration) {
    let mut last = Instant::now();
    let mut owed = Duration::ZERO;
    let mut idle_since: Option<Instant> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.active.load(Ordering::SeqCst) == 0 {
            let since = *idle_since.get_or_insert(last);
            if last.duration_since(since) >= LINGER {
                shared.parked.store(true, Ordering::SeqCst);
                // Re-check after announcing: a call that started before the store has not
                // unparked us. A spurious wake-up or a stale unpark token just loops.
                if shared.active.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
                    thread::park();
                }
                shared.parked.store(false, Ordering::SeqCst);
                last = Instant::now();
                owed = Duration::ZERO;
                idle_since = None;
                continue;
            }
        } else {
            idle_since = None;
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
        self.ticker.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}
