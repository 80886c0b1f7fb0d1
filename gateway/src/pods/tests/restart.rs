//! Restarting replicas that exit after becoming ready.

use super::*;

#[tokio::test]
async fn a_crashed_replica_restarts_on_a_new_address_with_doubling_backoff() {
    let backoff = 300 * MS;
    let mut h = Harness::new(LocalPodsConfig {
        backoff_initial: backoff,
        ..config()
    });
    let listeners = [listener(), listener(), listener()];
    let [a1, a2, a3] = [0, 1, 2].map(|i| listeners[i].1);
    // Runs 1 and 2 crash right after becoming ready; run 3 stays up.
    let script = format!(
        "n=$(( $(cat \"$dir/runs\" 2>/dev/null || echo 0) + 1 )); echo $n > \"$dir/runs\"\n\
         case $n in 1) addr={a1} ;; 2) addr={a2} ;; *) addr={a3} ;; esac\n\
         echo \"infergate-predictor ready on http://$addr\"\n\
         [ $n -ge 3 ] && exec sleep 600\n\
         echo \"error: crashed on run $n\" >&2\n\
         exit 3"
    );
    h.pods.start_replica(&h.template("r1", &script), 1);

    assert_eq!(h.next_event().await, ready_event("r1", 1, a1));
    assert_eq!(
        h.next_event().await,
        exited_event("r1", 1, "crashed on run 1")
    );
    let first_exit = Instant::now();
    assert_eq!(h.next_event().await, ready_event("r1", 1, a2));
    let first_gap = first_exit.elapsed();
    assert_eq!(
        h.next_event().await,
        exited_event("r1", 1, "crashed on run 2")
    );
    let second_exit = Instant::now();
    assert_eq!(h.next_event().await, ready_event("r1", 1, a3));
    let second_gap = second_exit.elapsed();

    // The restart waits the backoff (less a little for the event's delivery), then twice it.
    assert!(
        first_gap >= backoff - 50 * MS,
        "first restart after {first_gap:?}"
    );
    assert!(
        second_gap >= 2 * backoff - 50 * MS,
        "second restart after {second_gap:?}"
    );
    assert_eq!(h.pods.running(), [("r1".to_owned(), 1)]);
    h.pods.shutdown().await;
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn a_restart_that_fails_to_load_is_an_exit_and_is_retried() {
    let mut h = Harness::new(config());
    let (_listener, addr) = listener();
    // Run 1 crashes once ready, run 2 fails to load, run 3 stays up.
    let script = format!(
        "echo $$ >> \"$dir/r1.pids\"\n\
         n=$(wc -l < \"$dir/r1.pids\")\n\
         if [ $n -eq 2 ]; then echo 'error: model load failed: file vanished' >&2; exit 1; fi\n\
         echo 'infergate-predictor ready on http://{addr}'\n\
         if [ $n -eq 1 ]; then echo 'error: crashed' >&2; exit 3; fi\n\
         exec sleep 600"
    );
    h.pods.start_replica(&h.template("r1", &script), 0);

    assert_eq!(h.next_event().await, ready_event("r1", 0, addr));
    assert_eq!(h.next_event().await, exited_event("r1", 0, "crashed"));
    let expected = exited_event("r1", 0, "model load failed: file vanished");
    assert_eq!(
        h.next_event().await,
        expected,
        "a replica that was ready keeps restarting"
    );
    assert_eq!(h.next_event().await, ready_event("r1", 0, addr));
    assert_eq!(h.runs("r1"), 3);
    h.pods.shutdown().await;
    h.assert_no_more_events().await;
}
