//! Concurrent calls into one module: each sees a fresh instance, calls beyond the engine's slots
//! wait or fail cleanly, and a guest that spins does not starve the other tasks on its thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use infergate_transformer::{CallError, Engine, EngineConfig, Limits, Protocol};

use crate::fixtures::{self, module};
use crate::support::{engine, exclusive, json};

const TASKS: usize = 64;
const CALLS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_callers_each_see_fresh_state() {
    let _exclusive = exclusive().await;
    let engine = engine();
    // 64 tasks on a few cores stretch each call's wall-clock time far beyond its CPU time; the
    // deadline is not what this test is about.
    let limits = Limits {
        deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    let counter = engine
        .compile("counter", &module(fixtures::COUNTER), "", limits)
        .expect("loads");
    let callers: Vec<_> = (0..TASKS)
        .map(|task| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for call in 0..CALLS {
                    let id = format!(r#"{{"id":"{task}-{call}"}}"#);
                    let out = counter
                        .preprocess(id.as_bytes(), Protocol::V1)
                        .await
                        .expect("counter call");
                    let body = json(out.body.as_deref().expect("a body"));
                    // A count above 1 would be state left by another request; another id a mix-up.
                    assert_eq!(body["global"], 1, "{body}");
                    assert_eq!(body["memory"], 1, "{body}");
                    assert_eq!(body["echo"]["id"], format!("{task}-{call}"), "{body}");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_slots_wait_for_one() {
    let _exclusive = exclusive().await;
    let engine = Engine::new(EngineConfig {
        max_concurrent: 2,
        ..EngineConfig::default()
    })
    .expect("engine");
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", Limits::default())
        .expect("loads");
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let echo = echo.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    if echo.preprocess(b"[1]", Protocol::V1).await.is_err() {
                        return false;
                    }
                }
                true
            })
        })
        .collect();
    for caller in callers {
        assert!(caller.await.expect("caller task"), "every call got a slot");
    }
}

/// Starts `spin` on its own task of a current-thread runtime and returns once that task is
/// inside the guest: it has started the call and given the thread back without finishing,
/// which only a yield from inside the guest can do (a free slot is taken without waiting).
async fn spinning(
    spin: &infergate_transformer::Transformer,
) -> tokio::task::JoinHandle<(
    Result<infergate_transformer::Transformed, CallError>,
    Instant,
)> {
    let entered = Arc::new(AtomicBool::new(false));
    let spinner = tokio::spawn({
        let (spin, entered) = (spin.clone(), entered.clone());
        async move {
            entered.store(true, Ordering::SeqCst);
            let result = spin.preprocess(b"{}", Protocol::V1).await;
            (result, Instant::now())
        }
    });
    // On a current-thread runtime the spinner runs (up to its first yield) before this resumes.
    tokio::task::yield_now().await;
    assert!(entered.load(Ordering::SeqCst), "the spinner task ran");
    assert!(!spinner.is_finished(), "the spinner is still in the guest");
    spinner
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_guest_does_not_starve_its_thread() {
    let _exclusive = exclusive().await;
    let engine = engine();
    let deadline = Duration::from_millis(500);
    let spin = engine
        .compile(
            "spin",
            &module(fixtures::SPIN),
            "",
            Limits {
                deadline,
                ..Limits::default()
            },
        )
        .expect("spin loads");
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", Limits::default())
        .expect("echo loads");

    let started = Instant::now();
    let spinner = spinning(&spin).await;
    // The only thread is the one the spinner runs on: these calls finish only because it
    // yields at every epoch tick (a blocking call would hold the thread for the whole 500 ms).
    for _ in 0..10 {
        let out = echo
            .preprocess(br#"{"fast": true}"#, Protocol::V1)
            .await
            .expect("echo while the spinner runs");
        assert_eq!(out.body.as_deref(), Some(&br#"{"fast": true}"#[..]));
    }
    let fast = started.elapsed();
    assert!(
        !spinner.is_finished(),
        "the spinner outlived the fast calls"
    );
    let (spun, ended) = spinner.await.expect("spinner task");
    let error = spun.expect_err("spins to its deadline");
    assert!(matches!(error, CallError::Deadline { .. }), "{error:?}");
    let spun_for = ended - started;
    assert!(
        fast < deadline / 5,
        "the fast calls took {fast:?} beside a spinner (deadline {deadline:?})"
    );
    assert!(
        spun_for >= deadline && spun_for <= deadline + Duration::from_millis(50),
        "the spinner took {spun_for:?} for a {deadline:?} deadline"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_that_finds_no_slot_within_its_deadline_is_a_503() {
    let _exclusive = exclusive().await;
    let engine = Engine::new(EngineConfig {
        max_concurrent: 1,
        ..EngineConfig::default()
    })
    .expect("engine");
    let slow = Limits {
        deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let spin = engine
        .compile("spin", &module(fixtures::SPIN), "", slow)
        .expect("spin loads");
    let quick = Limits {
        deadline: Duration::from_millis(20),
        ..Limits::default()
    };
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", quick)
        .expect("echo loads");
    // The spinner holds the only slot for 300 ms.
    let spinner = spinning(&spin).await;
    let waited = Instant::now();
    let error = echo
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("no free slot");
    assert!(
        matches!(
            error,
            CallError::Overloaded {
                max_concurrent: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 503);
    assert!(
        waited.elapsed() >= Duration::from_millis(20),
        "gave up before its deadline: {:?}",
        waited.elapsed()
    );
    let (spun, _) = spinner.await.expect("spinner task");
    assert_eq!(spun.expect_err("spins to its deadline").status(), 504);
    assert!(
        echo.preprocess(b"{}", Protocol::V1).await.is_ok(),
        "the slot is free again"
    );
}
