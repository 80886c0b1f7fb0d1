//! The activator queue on a paused clock: FIFO release as capacity appears, the
//! containerConcurrency cap, overflow, the two timeouts and the scale-from-zero poke.

use std::time::Duration;

use infergate_autoscaler::{Activator, ActivatorConfig, ActivatorError, ActivatorStats, Permit};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const LONG: Duration = Duration::from_secs(3600);
const BOUND: Duration = Duration::from_secs(5);

fn config(queue_depth: usize) -> ActivatorConfig {
    ActivatorConfig {
        queue_depth,
        max_wait: Duration::from_secs(30),
        retry_after: Duration::from_secs(2),
    }
}

/// Waits until the activator reports `want`. Bounded by a number of polls rather than time:
/// on a paused clock, a task that keeps yielding never lets the clock advance.
async fn until_stats(activator: &Activator, want: ActivatorStats) {
    let mut last = ActivatorStats::default();
    for _ in 0..10_000 {
        last = activator.stats().await.expect("the activator runs");
        if last == want {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("stats never became {want:?}; last {last:?}");
}

/// Enqueues request `id` in a task that reports `(id, permit)` once it gets through.
async fn enqueue(
    activator: &Activator,
    id: usize,
    granted: &mpsc::UnboundedSender<(usize, Permit)>,
) -> JoinHandle<()> {
    let (activator2, granted) = (activator.clone(), granted.clone());
    let queued_before = activator.stats().await.expect("the activator runs").queued;
    let task = tokio::spawn(async move {
        let permit = activator2
            .enqueue(Instant::now() + LONG)
            .await
            .expect("a permit before the hour-long deadline");
        granted
            .send((id, permit))
            .expect("the test holds the receiver");
    });
    // Enqueue one at a time so that the FIFO order is the id order.
    let want = ActivatorStats {
        queued: queued_before + 1,
        in_flight: activator
            .stats()
            .await
            .expect("the activator runs")
            .in_flight,
    };
    until_stats(activator, want).await;
    task
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn queued_requests_are_released_in_order_as_capacity_appears() {
    let (activator, _pokes) = Activator::spawn(config(10));
    let (granted_tx, mut granted) = mpsc::unbounded_channel();
    for id in 0..5 {
        enqueue(&activator, id, &granted_tx).await;
    }
    assert!(
        granted.try_recv().is_err(),
        "nothing passes without a ready replica"
    );

    // One replica taking two requests at a time: the two oldest go first.
    activator.capacity_changed(1, 2);
    let (first, p0) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    let (second, p1) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    assert_eq!((first, second), (0, 1));
    until_stats(
        &activator,
        ActivatorStats {
            queued: 3,
            in_flight: 2,
        },
    )
    .await;
    assert!(
        granted.try_recv().is_err(),
        "never above containerConcurrency per replica"
    );

    // A finished request frees its slot for the next in line.
    drop(p0);
    let (third, _p2) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    assert_eq!(third, 2);
    until_stats(
        &activator,
        ActivatorStats {
            queued: 2,
            in_flight: 2,
        },
    )
    .await;

    // A second replica lets the remaining two through, in order.
    activator.capacity_changed(2, 2);
    let order: Vec<usize> = [granted.recv().await.unwrap(), granted.recv().await.unwrap()]
        .into_iter()
        .map(|(id, _permit)| id)
        .collect();
    assert_eq!(order, [3, 4]);
    drop(p1);
    until_stats(
        &activator,
        ActivatorStats {
            queued: 0,
            in_flight: 1,
        },
    )
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unlimited_container_concurrency_releases_everything_once_a_replica_is_ready() {
    let (activator, _pokes) = Activator::spawn(config(10));
    let (granted_tx, mut granted) = mpsc::unbounded_channel();
    for id in 0..4 {
        enqueue(&activator, id, &granted_tx).await;
    }
    activator.capacity_changed(1, 0);
    for id in 0..4 {
        assert_eq!(timeout(BOUND, granted.recv()).await.unwrap().unwrap().0, id);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_full_queue_answers_at_once_with_retry_after() {
    let (activator, _pokes) = Activator::spawn(config(2));
    let (granted_tx, _granted) = mpsc::unbounded_channel();
    enqueue(&activator, 0, &granted_tx).await;
    enqueue(&activator, 1, &granted_tx).await;

    let start = Instant::now();
    let err = activator.enqueue(start + LONG).await.unwrap_err();
    assert_eq!(
        err,
        ActivatorError::QueueFull {
            depth: 2,
            retry_after: Duration::from_secs(2)
        }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(err.kind(), "queue_full");
    assert_eq!(start.elapsed(), Duration::ZERO, "overflow must not wait");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn waiting_past_the_bound_times_out_and_frees_the_slot() {
    let (activator, _pokes) = Activator::spawn(config(1));
    let start = Instant::now();
    let err = activator.enqueue(start + LONG).await.unwrap_err();
    assert_eq!(
        err,
        ActivatorError::Timeout {
            waited: Duration::from_secs(30)
        }
    );
    assert_eq!(err.kind(), "queue_timeout");
    assert_eq!(start.elapsed(), Duration::from_secs(30));

    // The timed-out waiter neither blocks the (depth 1) queue nor takes a permit.
    let (granted_tx, mut granted) = mpsc::unbounded_channel();
    enqueue(&activator, 7, &granted_tx).await;
    activator.capacity_changed(1, 1);
    let (id, _permit) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    assert_eq!(id, 7);
    until_stats(
        &activator,
        ActivatorStats {
            queued: 0,
            in_flight: 1,
        },
    )
    .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_requests_own_deadline_ends_the_wait_first() {
    let (activator, _pokes) = Activator::spawn(config(1));
    let start = Instant::now();
    let err = activator
        .enqueue(start + Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(err, ActivatorError::DeadlineExceeded);
    assert_eq!(err.kind(), "deadline_exceeded");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_first_request_at_zero_pokes_the_autoscaler_once() {
    let (activator, mut pokes) = Activator::spawn(config(10));
    let (granted_tx, mut granted) = mpsc::unbounded_channel();
    assert_eq!(pokes.try_recv(), None);

    enqueue(&activator, 0, &granted_tx).await;
    assert_eq!(timeout(BOUND, pokes.recv()).await.unwrap(), Some(()));
    enqueue(&activator, 1, &granted_tx).await;
    assert_eq!(
        pokes.try_recv(),
        None,
        "only the first request at zero pokes"
    );

    // With a ready replica, requests pass without poking.
    activator.capacity_changed(1, 1);
    let (_, permit) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    drop(permit);
    let (_, permit) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    drop(permit);
    let _permit = activator.enqueue(Instant::now() + LONG).await;
    assert_eq!(pokes.try_recv(), None);

    // Back at zero: the next first request pokes again.
    activator.capacity_changed(0, 1);
    let _late = enqueue(&activator, 2, &granted_tx).await;
    assert_eq!(timeout(BOUND, pokes.recv()).await.unwrap(), Some(()));
}

/// The fast path takes a free slot without queueing, shares the slot count with the queue, and
/// steps aside while anyone waits (FIFO): a freed slot goes to the oldest waiter, not to a
/// newcomer on the fast path.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn try_acquire_shares_the_slots_and_never_jumps_the_queue() {
    let (activator, _pokes) = Activator::spawn(config(10));
    assert!(
        activator.try_acquire().is_none(),
        "no ready replica: no slot"
    );

    activator.capacity_changed(1, 2);
    let a = activator.try_acquire().expect("a free slot");
    let b = activator.try_acquire().expect("a second free slot");
    assert!(
        activator.try_acquire().is_none(),
        "containerConcurrency 2 on one replica: two slots"
    );
    until_stats(
        &activator,
        ActivatorStats {
            queued: 0,
            in_flight: 2,
        },
    )
    .await;

    let (granted_tx, mut granted) = mpsc::unbounded_channel();
    enqueue(&activator, 7, &granted_tx).await;
    drop(a);
    let (id, permit) = timeout(BOUND, granted.recv()).await.unwrap().unwrap();
    assert_eq!(id, 7, "the freed slot goes to the waiter");
    assert!(
        activator.try_acquire().is_none(),
        "both slots taken again: one fast, one queued"
    );
    drop((b, permit));
    let c = activator.try_acquire();
    assert!(c.is_some(), "slots free and nobody waiting: fast path");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unavailable_revision_fails_its_waiters_and_new_requests_at_once() {
    let (activator, _pokes) = Activator::spawn(config(10));
    let start = Instant::now();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let activator = activator.clone();
            tokio::spawn(async move { activator.enqueue(Instant::now() + LONG).await })
        })
        .collect();
    until_stats(
        &activator,
        ActivatorStats {
            queued: 3,
            in_flight: 0,
        },
    )
    .await;

    activator.unavailable("model.onnx: not a valid ONNX model");
    let reason: std::sync::Arc<str> = "model.onnx: not a valid ONNX model".into();
    for waiter in waiters {
        let result = timeout(BOUND, waiter)
            .await
            .expect("the waiter ends")
            .expect("the waiter task");
        assert_eq!(
            result.unwrap_err(),
            ActivatorError::Unavailable {
                reason: reason.clone()
            }
        );
    }
    let err = activator.enqueue(Instant::now() + LONG).await.unwrap_err();
    assert_eq!(err.kind(), "revision_unavailable");
    assert!(err.to_string().contains("not a valid ONNX model"), "{err}");
    assert_eq!(start.elapsed(), Duration::ZERO, "nobody waits for max_wait");
    assert!(
        activator.try_acquire().is_none(),
        "no slot while unavailable"
    );

    // Capacity again (a new replica came up): requests get through.
    activator.capacity_changed(1, 0);
    let permit = timeout(BOUND, activator.enqueue(Instant::now() + LONG))
        .await
        .expect("no wait with a ready replica");
    assert!(permit.is_ok(), "{permit:?}");
}
