//! Starting replicas: the ready event, and the ways a replica fails to start.

use super::*;

#[tokio::test]
async fn ready_event_carries_the_printed_address() {
    let mut h = Harness::new(config());
    let (_listener, addr) = listener();
    let script = format!(
        "echo 'chatter before the ready line'\n{}\nexec sleep 600",
        ready("r1", addr)
    );
    let template = h.template("r1", &script);

    h.pods.start_replica(&template, 2);
    h.pods.start_replica(&template, 2); // already supervised: does nothing
    assert_eq!(h.next_event().await, ready_event("r1", 2, addr));
    assert_eq!(h.pods.running(), [("r1".to_owned(), 2)]);

    h.pods.shutdown().await;
    assert_eq!(h.runs("r1"), 1, "the second start_replica started nothing");
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn unix_transport_gives_each_process_its_own_socket_in_a_private_folder() {
    use std::os::unix::fs::PermissionsExt as _;

    use infergate_predictor::http::ListenAddr;

    let mut h = Harness::new(LocalPodsConfig {
        transport: PodTransport::Unix,
        ..config()
    });
    // The scenario makes the socket's file (as a predictor would) and announces it.
    let script = "echo $$ >> \"$dir/r1.pids\"\n\
                  : > \"$socket\"\n\
                  echo \"infergate-predictor ready on unix:$socket\"\n\
                  exec sleep 600";
    let template = h.template("r1", script);
    h.pods.start_replica(&template, 0);
    h.pods.start_replica(&template, 1);
    let mut sockets = Vec::new();
    for _ in 0..2 {
        match h.next_event().await {
            PodEvent::Ready {
                addr: ListenAddr::Unix(path),
                ..
            } => sockets.push(path),
            other => panic!("expected a ready event on a Unix socket, got {other:?}"),
        }
    }
    assert_ne!(sockets[0], sockets[1], "one socket per process");
    let dir = sockets[0].parent().expect("a socket folder").to_owned();
    assert_eq!(sockets[1].parent(), Some(dir.as_path()));
    let mode = std::fs::metadata(&dir)
        .expect("the folder exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{} is private", dir.display());
    for socket in &sockets {
        assert!(
            socket.is_file(),
            "{} was made by the scenario",
            socket.display()
        );
        assert!(
            socket.as_os_str().len() < 108,
            "{} fits sun_path",
            socket.display()
        );
    }

    h.pods.shutdown().await;
    assert!(
        !dir.exists(),
        "shutdown removes {} and what is left in it",
        dir.display()
    );
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn failed_carries_the_error_line_and_is_not_restarted() {
    let mut h = Harness::new(config());
    let script = "echo $$ >> \"$dir/r1.pids\"\n\
                  echo 'loading the model' >&2\n\
                  echo 'error: model load failed: not a valid ONNX model: bad' >&2\n\
                  exit 1";
    h.pods.start_replica(&h.template("r1", script), 0);

    let expected = failed_event("r1", 0, "model load failed: not a valid ONNX model: bad");
    assert_eq!(h.next_event().await, expected);
    assert!(
        h.pods.running().is_empty(),
        "a failed replica is no longer supervised"
    );
    assert_eq!(h.runs("r1"), 1);
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn failed_without_an_error_line_quotes_stderr_or_the_exit_status() {
    let mut h = Harness::new(config());
    let noisy = h.template(
        "noisy",
        "echo 'thread main panicked' >&2\necho 'at src/x.rs:1' >&2\nexit 3",
    );
    let silent = h.template("silent", "exit 4");
    h.pods.start_replica(&noisy, 0);
    let expected = "the predictor exited (exit status: 3); its last stderr lines: \
                    thread main panicked | at src/x.rs:1";
    assert_eq!(h.next_event().await, failed_event("noisy", 0, expected));

    h.pods.start_replica(&silent, 0);
    let expected = "the predictor exited (exit status: 4)";
    assert_eq!(h.next_event().await, failed_event("silent", 0, expected));
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn a_binary_that_cannot_start_fails() {
    let missing = PathBuf::from("/nonexistent/infergate");
    let mut h = Harness::with_binary(missing, config());
    h.pods.start_replica(
        &PodTemplate {
            revision: "r1".to_owned(),
            args: Vec::new(),
        },
        0,
    );
    match h.next_event().await {
        PodEvent::Failed {
            revision,
            replica: 0,
            message,
        } if revision == "r1" => {
            assert!(
                message.starts_with("cannot start /nonexistent/infergate: "),
                "{message}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    h.assert_no_more_events().await;
}

#[tokio::test]
async fn ready_timeout_kills_the_predictor_and_fails() {
    let mut h = Harness::new(LocalPodsConfig {
        ready_timeout: 300 * MS,
        ..config()
    });
    let script = "echo $$ >> \"$dir/r1.pids\"\necho 'still loading' >&2\nexec sleep 600";
    h.pods.start_replica(&h.template("r1", script), 0);

    let expected = failed_event("r1", 0, "did not become ready within 300ms");
    assert_eq!(h.next_event().await, expected);
    let pids = h.pids("r1");
    assert!(
        is_gone(pids[0]),
        "the predictor that never got ready was killed"
    );
    assert!(h.pods.running().is_empty());
    h.assert_no_more_events().await;
}
