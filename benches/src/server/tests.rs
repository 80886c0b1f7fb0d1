//! Server processes, with real children (`sh`, `python3 -m http.server`).

use std::net::TcpListener;

use tokio::process::Command;

use super::*;

fn log_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("infergate-bench-test-{}", std::process::id()));
    dir.join(name)
}

#[test]
fn vm_hwm_is_read_from_proc_status() {
    let status = "Name:\tx\nVmPeak:\t  10 kB\nVmHWM:\t  162952 kB\nVmRSS:\t 1 kB\n";
    assert_eq!(status_kib(status, "VmHWM:"), Some(162_952));
    assert_eq!(status_kib(status, "VmRSS:"), Some(1));
    assert_eq!(status_kib("Name:\tx\n", "VmHWM:"), None);
}

#[tokio::test]
async fn a_ready_line_gives_the_address_and_the_server_stops_on_sigterm() {
    let mut command = Command::new("sh");
    // Prints the ready line, then waits; `exec sleep` so SIGTERM reaches the sleeping process.
    command.args([
        "-c",
        "echo starting; echo 'infergate-predictor ready on http://127.0.0.1:4321'; exec sleep 60",
    ]);
    let server = ServerProcess::start_with_ready_line("sh", command, &log_path("ready.log"))
        .await
        .unwrap();
    assert_eq!(server.addr(), "127.0.0.1:4321".parse().unwrap());
    assert!(server.peak_rss_kib().unwrap() > 0);
    let status = tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !status.success(),
        "sleep ends by SIGTERM, not by itself: {status}"
    );
}

#[tokio::test]
async fn a_server_that_exits_before_ready_is_an_error_quoting_its_log() {
    let mut command = Command::new("sh");
    command.args(["-c", "echo 'model file not found' >&2; exit 3"]);
    let err = ServerProcess::start_with_ready_line("sh", command, &log_path("exit.log"))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ServerError::ExitedEarly { .. }), "{message}");
    assert!(message.contains("model file not found"), "{message}");
}

#[tokio::test]
async fn a_ready_line_on_another_host_is_refused() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "echo 'infergate-predictor ready on http://0.0.0.0:80'; exec sleep 60",
    ]);
    let err = ServerProcess::start_with_ready_line("sh", command, &log_path("host.log"))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::BadReadyLine { .. }), "{err}");
}

#[tokio::test]
async fn a_ready_url_is_polled_until_it_answers() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = log_path("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ready"), "ok").unwrap();
    let mut command = Command::new("python3");
    command
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&dir);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = ServerProcess::start_with_ready_url(
        "http.server",
        command,
        addr,
        "/ready",
        &log_path("url.log"),
    )
    .await
    .unwrap();
    assert_eq!(server.addr(), addr);
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_gateway_ready_line_is_found_and_memory_covers_the_process_or_its_tree() {
    let mut command = Command::new("sh");
    // A child (`sleep`) that SIGTERM takes down with its parent, then the gateway's ready line.
    command.args([
        "-c",
        "sleep 60 & trap 'kill $!; exit 0' TERM; \
         echo 'infergate ready on http://127.0.0.1:4322'; wait",
    ]);
    let server = ServerProcess::start_with_ready_prefix(
        "gateway",
        GATEWAY_READY_PREFIX,
        command,
        &log_path("gateway.log"),
    )
    .await
    .unwrap();
    assert_eq!(server.addr(), "127.0.0.1:4322".parse().unwrap());
    let own = server.memory(Scope::Process).unwrap();
    let tree = server.memory(Scope::Tree).unwrap();
    assert!(own.rss_kib > 0 && own.peak_kib >= own.rss_kib, "{own:?}");
    assert!(
        tree.rss_kib > own.rss_kib,
        "the tree adds `sleep`: {tree:?} vs {own:?}"
    );
    // The peak covers the tree (more than the shell alone). Not equal to `tree.peak_kib`: the
    // forked child may exec `sleep` between the two reads, which resets its own peak.
    assert!(
        server.peak_rss_kib().unwrap() > own.peak_kib,
        "peak covers the tree: {own:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_predictor_prefix_does_not_match_the_gateway_line() {
    let mut command = Command::new("sh");
    command.args(["-c", "echo 'infergate ready on http://127.0.0.1:4323'"]);
    let err = ServerProcess::start_with_ready_line("sh", command, &log_path("prefix.log"))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::ExitedEarly { .. }), "{err}");
}
