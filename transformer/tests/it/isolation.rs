//! Concurrent calls into one module: each sees a fresh instance, and calls beyond the
//! engine's slots wait or fail cleanly.

use std::sync::Barrier;
use std::time::Duration;

use infergate_transformer::{CallError, Engine, EngineConfig, Limits, Protocol};

use crate::fixtures::{self, module};
use crate::support::{engine, exclusive, json};

const THREADS: usize = 64;
const CALLS: usize = 50;

#[test]
fn sixty_four_concurrent_callers_each_see_fresh_state() {
    let _exclusive = exclusive();
    let engine = engine();
    // 64 threads on a few cores stretch each call's wall-clock time far beyond its CPU time; the
    // deadline is not what this test is about.
    let limits = Limits {
        deadline: Duration::from_secs(30),
        ..Limits::default()
    };
    let counter = engine
        .compile("counter", &module(fixtures::COUNTER), "", limits)
        .expect("loads");
    let start = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (counter, start) = (&counter, &start);
            scope.spawn(move || {
                start.wait();
                for call in 0..CALLS {
                    let id = format!(r#"{{"id":"{thread}-{call}"}}"#);
                    let out = counter
                        .preprocess(id.as_bytes(), Protocol::V1)
                        .expect("counter call");
                    let body = json(out.body.as_deref().expect("a body"));
                    // A count above 1 would be state left by another request; another id a mix-up.
                    assert_eq!(body["global"], 1, "{body}");
                    assert_eq!(body["memory"], 1, "{body}");
                    assert_eq!(body["echo"]["id"], format!("{thread}-{call}"), "{body}");
                }
            });
        }
    });
}

#[test]
fn calls_beyond_the_slots_wait_for_one() {
    let _exclusive = exclusive();
    let engine = Engine::new(EngineConfig {
        max_concurrent: 2,
        ..EngineConfig::default()
    })
    .expect("engine");
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", Limits::default())
        .expect("loads");
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| (0..20).all(|_| echo.preprocess(b"[1]", Protocol::V1).is_ok())))
            .collect();
        for caller in callers {
            assert!(
                caller.join().expect("caller thread"),
                "every call got a slot"
            );
        }
    });
}

#[test]
fn a_call_that_finds_no_slot_within_its_deadline_is_a_503() {
    let _exclusive = exclusive();
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
    let started = Barrier::new(2);
    std::thread::scope(|scope| {
        let spinner = scope.spawn(|| {
            started.wait();
            spin.preprocess(b"{}", Protocol::V1)
        });
        started.wait();
        // Give the spinner time to take the only slot; it holds it for 300 ms.
        std::thread::sleep(Duration::from_millis(50));
        let error = echo
            .preprocess(b"{}", Protocol::V1)
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
        let spun = spinner
            .join()
            .expect("spinner thread")
            .expect_err("spins to its deadline");
        assert_eq!(spun.status(), 504);
    });
    assert!(
        echo.preprocess(b"{}", Protocol::V1).is_ok(),
        "the slot is free again"
    );
}
