use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};

use super::*;

/// Both transports carry the closed loop end to end against the real server code (in-process
/// here; the benchmark runs it in a child process).
#[tokio::test]
async fn both_transports_serve_the_closed_loop() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP");
    let tcp_target = Target::Tcp(tcp.local_addr().expect("TCP address"));
    let socket = std::env::temp_dir().join(format!(
        "infergate-bench-transport-test-{}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&socket);
    let unix = UnixListener::bind(&socket).expect("bind Unix");
    let unix_target = Target::Unix(socket.clone());
    let servers = [
        tokio::spawn(server::accept_tcp(tcp)),
        tokio::spawn(server::accept_unix(unix)),
    ];

    for target in [&tcp_target, &unix_target] {
        let checked = async {
            probe(target).await?;
            closed_loop(
                target,
                2,
                Duration::from_millis(50),
                Duration::from_millis(200),
            )
            .await
        };
        let run = tokio::time::timeout(Duration::from_secs(10), checked)
            .await
            .expect("the run ends within 10 s")
            .expect("the run succeeds");
        assert!(run.requests_per_s > 0.0, "{target:?}: {run:?}");
        assert!(
            run.p50_us > 0.0 && run.p50_us <= run.p99_us,
            "{target:?}: {run:?}"
        );
    }
    for server in servers {
        server.abort();
    }
    let _ = std::fs::remove_file(&socket);
}

#[tokio::test]
async fn a_missing_socket_fails_the_probe_naming_the_path() {
    let path = std::env::temp_dir().join("infergate-bench-transport-no-such.sock");
    let err = probe(&Target::Unix(path.clone()))
        .await
        .expect_err("nobody listens there");
    assert!(
        format!("{err:#}").contains(&path.display().to_string()),
        "{err:#}"
    );
}
