//! Stopping replicas: one at a time, all at once, and by dropping the pods.

use super::*;

#[tokio::test]
async fn stop_replica_terminates_gracefully_and_does_not_restart() {
    let mut h = Harness::new(config());
    let (_listener, addr) = listener();
    // Drains on SIGTERM like the predictor: notes it got the signal, then exits 0.
    let script = format!(
        "trap 'touch \"$dir/terminated\"; kill $sleeper; exit 0' TERM\n\
         {}\n\
         sleep 600 & sleeper=$!\n\
         wait $sleeper",
        ready("r1", addr)
    );
    h.pods.start_replica(&h.template("r1", &script), 0);
    h.pods
        .start_replica(&h.template("r2", &script.replace("r1.pids", "r2.pids")), 0);
    assert!(matches!(h.next_event().await, PodEvent::Ready { .. }));
    assert!(matches!(h.next_event().await, PodEvent::Ready { .. }));

    timeout(BOUND, h.pods.stop_replica("r1", 0))
        .await
        .expect("stop_replica within the bound");
    assert!(
        h.dir.path().join("terminated").exists(),
        "the predictor got SIGTERM"
    );
    assert!(
        is_gone(h.pids("r1")[0]),
        "stop_replica returns once the process is gone"
    );
    assert_eq!(
        h.pods.running(),
        [("r2".to_owned(), 0)],
        "only r1 was stopped"
    );
    assert!(!is_gone(h.pids("r2")[0]));
    timeout(BOUND, h.pods.stop_replica("r1", 0))
        .await
        .expect("stopping it again does nothing");
    timeout(BOUND, h.pods.stop_replica("r2", 0))
        .await
        .expect("stop r2");
    assert_eq!(h.runs("r1"), 1, "a stopped replica is not restarted");
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn stop_replica_kills_a_predictor_that_ignores_sigterm() {
    let stop_timeout = 300 * MS;
    let mut h = Harness::new(LocalPodsConfig {
        stop_timeout,
        ..config()
    });
    let (_listener, addr) = listener();
    let script = format!("trap '' TERM\n{}\nexec sleep 600", ready("r1", addr));
    h.pods.start_replica(&h.template("r1", &script), 0);
    assert_eq!(h.next_event().await, ready_event("r1", 0, addr));

    let started = Instant::now();
    timeout(BOUND, h.pods.stop_replica("r1", 0))
        .await
        .expect("stop_replica within the bound");
    assert!(
        started.elapsed() >= stop_timeout,
        "it waited for the drain before SIGKILL"
    );
    assert!(is_gone(h.pids("r1")[0]), "killed after the stop timeout");
    assert!(h.pods.running().is_empty());
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn stopping_during_the_restart_backoff_cancels_the_restart() {
    let mut h = Harness::new(LocalPodsConfig {
        backoff_initial: 2 * BOUND,
        ..config()
    });
    let (_listener, addr) = listener();
    let script = format!("{}\necho 'error: crashed' >&2\nexit 3", ready("r1", addr));
    h.pods.start_replica(&h.template("r1", &script), 0);
    assert_eq!(h.next_event().await, ready_event("r1", 0, addr));
    assert_eq!(h.next_event().await, exited_event("r1", 0, "crashed"));

    // The backoff (20 s) outlasts the bound (10 s): returning in time means it was cut short.
    timeout(BOUND, h.pods.stop_replica("r1", 0))
        .await
        .expect("stop cuts the backoff short");
    assert!(h.pods.running().is_empty());
    assert_eq!(h.runs("r1"), 1);
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn shutdown_stops_every_replica_in_parallel_and_refuses_new_ones() {
    let stop_timeout = Duration::from_secs(1);
    let mut h = Harness::new(LocalPodsConfig {
        stop_timeout,
        ..config()
    });
    let (_listener, addr) = listener();
    // Each ignores SIGTERM, so each takes the whole stop timeout: 3 s if stopped one by one.
    let scenario = |revision| format!("trap '' TERM\n{}\nexec sleep 600", ready(revision, addr));
    let (a, b) = (
        h.template("a", &scenario("a")),
        h.template("b", &scenario("b")),
    );
    let pods: Arc<dyn Orchestrator> = Arc::new(h.pods.clone());
    pods.start_replica(&a, 0);
    pods.start_replica(&a, 1);
    pods.start_replica(&b, 0);
    for _ in 0..3 {
        assert!(matches!(h.next_event().await, PodEvent::Ready { .. }));
    }
    let expected = [("a", 0), ("a", 1), ("b", 0)].map(|(r, i)| (r.to_owned(), i));
    assert_eq!(pods.running(), expected);

    let started = Instant::now();
    timeout(BOUND, pods.shutdown())
        .await
        .expect("shutdown within the bound");
    let took = started.elapsed();
    assert!(
        took >= stop_timeout && took < 2 * stop_timeout + stop_timeout / 2,
        "{took:?}"
    );
    let pids = [h.pids("a"), h.pids("b")].concat();
    assert_eq!(pids.len(), 3);
    assert!(
        pids.iter().all(|pid| is_gone(*pid)),
        "every predictor is gone"
    );
    assert!(pods.running().is_empty());

    pods.start_replica(&a, 2);
    assert!(pods.running().is_empty(), "nothing starts after shutdown");
    drop(pods);
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_every_replica() {
    let mut h = Harness::new(config());
    let (_listener, addr) = listener();
    let script = format!("{}\nexec sleep 600", ready("r1", addr));
    h.pods.start_replica(&h.template("r1", &script), 0);
    assert_eq!(h.next_event().await, ready_event("r1", 0, addr));
    let pid = h.pids("r1")[0];

    // The channel closes once the supervisor has stopped its process and ended.
    let Harness {
        pods,
        mut events,
        dir: _dir,
    } = h;
    drop(pods);
    assert_eq!(
        timeout(BOUND, events.recv())
            .await
            .expect("the supervisor ends"),
        None
    );
    assert!(is_gone(pid), "the predictor was stopped");
}
