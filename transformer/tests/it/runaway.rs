//! Modules that never stop or never stop growing: bounded, and harmless to later calls.

use std::process::Command;
use std::time::{Duration, Instant};

use infergate_transformer::{CallError, Engine, EngineConfig, Limits, Protocol};

use crate::fixtures::{self, module};
use crate::support::{engine, exclusive, rss_bytes};

#[tokio::test]
async fn an_endless_loop_hits_the_deadline_and_the_next_calls_succeed() {
    let _exclusive = exclusive().await;
    let engine = engine();
    let deadline = Limits::default_deadline();
    let spin = engine
        .compile("spin", &module(fixtures::SPIN), "", Limits::default())
        .expect("spin loads");
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", Limits::default())
        .expect("echo loads");
    let mut took = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let error = spin
            .preprocess(b"{}", Protocol::V1)
            .await
            .expect_err("never finishes");
        took.push(started.elapsed());
        assert!(matches!(error, CallError::Deadline { .. }), "{error:?}");
        assert_eq!(error.status(), 504);
        assert_eq!(
            error.to_string(),
            "transformer spin exceeded its 100 ms deadline"
        );
        // The same engine keeps working, for this module's neighbours and for itself.
        assert!(
            echo.preprocess(b"{}", Protocol::V1).await.is_ok(),
            "another module after a timeout"
        );
    }
    took.sort();
    assert!(took[0] >= deadline, "stopped early: {took:?}");
    // The ticker thread must be scheduled to end the call; on a machine shared with other
    // builds that can lag, so the best of five attempts has to be on time (a broken deadline
    // never is).
    assert!(
        took[0] <= deadline + Duration::from_millis(50),
        "stopped late: {took:?}"
    );
}

#[tokio::test]
async fn a_short_deadline_is_honoured() {
    let _exclusive = exclusive().await;
    let limits = Limits {
        deadline: Duration::from_millis(10),
        ..Limits::default()
    };
    let spin = engine()
        .compile("spin", &module(fixtures::SPIN), "", limits)
        .expect("spin loads");
    let started = Instant::now();
    let error = spin
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("never finishes");
    assert_eq!(error.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(60),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_start_function_that_never_ends_hits_the_deadline() {
    let _exclusive = exclusive().await;
    let limits = Limits {
        deadline: Duration::from_millis(20),
        ..Limits::default()
    };
    let spin = engine()
        .compile("start", &module(fixtures::SPIN_AT_START), "", limits)
        .expect("loads");
    let error = spin
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("never instantiates");
    assert!(matches!(error, CallError::Deadline { .. }), "{error:?}");
}

#[tokio::test]
async fn fuel_stops_an_endless_loop() {
    let engine = Engine::new(EngineConfig {
        fuel: true,
        ..EngineConfig::default()
    })
    .expect("engine with fuel");
    let limits = Limits {
        fuel: Some(1_000_000),
        deadline: Duration::from_secs(10),
        ..Limits::default()
    };
    let spin = engine
        .compile("spin", &module(fixtures::SPIN), "", limits)
        .expect("spin loads");
    let error = spin
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("runs out");
    assert!(
        matches!(
            error,
            CallError::OutOfFuel {
                fuel: 1_000_000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 504);
    // With fuel compiled in, a transformer without a fuel limit still runs normally.
    let echo = engine
        .compile("echo", &module(fixtures::ECHO), "", Limits::default())
        .expect("echo loads");
    assert!(echo.preprocess(b"{}", Protocol::V1).await.is_ok());
}

#[tokio::test]
async fn a_memory_hog_gets_a_500_at_its_cap() {
    let limits = Limits {
        max_memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let hog = engine()
        .compile("hog", &module(fixtures::HOG), "", limits)
        .expect("hog loads");
    let error = hog
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("runs out of memory");
    assert!(
        matches!(
            error,
            CallError::OutOfMemory {
                limit: 0x80_0000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 500);
    assert!(
        error
            .to_string()
            .starts_with("transformer hog ran out of memory (limit 8388608 bytes)"),
        "{error}"
    );
}

/// Run in its own process by [`memory_hogs_leave_rss_bounded`], so that other tests' memory
/// does not blur the measurement.
#[tokio::test]
#[ignore = "run in a child process by runaway::memory_hogs_leave_rss_bounded"]
async fn memory_hog_rss_child() {
    let engine = engine();
    let hog = engine
        .compile("hog", &module(fixtures::HOG), "", Limits::default())
        .expect("hog loads");
    let hog_once = async || {
        let error = hog
            .preprocess(b"{}", Protocol::V1)
            .await
            .expect_err("runs out of memory");
        assert!(matches!(error, CallError::OutOfMemory { .. }), "{error:?}");
    };
    hog_once().await;
    let before = rss_bytes();
    for _ in 0..30 {
        hog_once().await;
    }
    let after = rss_bytes();
    println!(
        "RSS before {} MiB, after 30 hogs of 64 MiB each {} MiB",
        before >> 20,
        after >> 20
    );
    // One hog touches its whole 64 MiB; keeping even one of them would show.
    assert!(
        after < before + (32 << 20),
        "RSS grew from {before} to {after} bytes"
    );
}

#[tokio::test]
async fn memory_hogs_leave_rss_bounded() {
    let _exclusive = exclusive().await;
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([
            "--exact",
            "runaway::memory_hog_rss_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test:\n{stdout}"
    );
}
