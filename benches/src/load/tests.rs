//! The load generator against a real TCP server that answers what each test needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Every wait in these tests is bounded by this.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// How the test server answers the n-th request (0-based, counted over all connections).
#[derive(Clone, Copy)]
enum Behaviour {
    /// 200 with a small JSON body, always.
    Ok,
    /// 200 for the first request (the probe), then this status.
    OkThen(u16),
    /// 200 for the first request, then close every connection without answering.
    OkThenHangUp,
}

struct TestServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    bodies_ok: Arc<AtomicU64>,
}

/// A minimal HTTP/1.1 keep-alive server: reads a request head and its content-length body,
/// checks the body, answers per `behaviour`.
async fn serve(behaviour: Behaviour, expected_body: &'static [u8]) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let bodies_ok = Arc::new(AtomicU64::new(0));
    let (r, b) = (requests.clone(), bodies_ok.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(connection(
                stream,
                behaviour,
                expected_body,
                r.clone(),
                b.clone(),
            ));
        }
    });
    TestServer {
        addr,
        requests,
        bodies_ok,
    }
}

async fn connection(
    stream: TcpStream,
    behaviour: Behaviour,
    expected_body: &'static [u8],
    requests: Arc<AtomicU64>,
    bodies_ok: Arc<AtomicU64>,
) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; content_length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        if body == expected_body {
            bodies_ok.fetch_add(1, Ordering::SeqCst);
        }
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let status = match (behaviour, n) {
            (Behaviour::Ok, _) | (_, 0) => 200,
            (Behaviour::OkThen(status), _) => status,
            (Behaviour::OkThenHangUp, _) => return,
        };
        let body = if status == 200 {
            r#"{"outputs":[]}"#
        } else {
            r#"{"error":"no"}"#
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

fn config(addr: SocketAddr, concurrency: usize) -> LoadConfig {
    LoadConfig {
        concurrency,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(400),
        expect: Some("outputs".to_owned()),
        ..LoadConfig::json_post(
            addr,
            "/v2/models/m/infer",
            Bytes::from_static(b"{\"inputs\":[]}"),
        )
    }
}

async fn run_bounded(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    tokio::time::timeout(TEST_TIMEOUT, run(config))
        .await
        .expect("load run timed out")
}

#[tokio::test]
async fn counts_every_2xx_answer_in_the_window_and_summarises_latency() {
    let server = serve(Behaviour::Ok, b"{\"inputs\":[]}").await;
    let report = run_bounded(&config(server.addr, 4)).await.unwrap();

    assert_eq!(report.concurrency, 4);
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    // The server saw the probe, the warm-up and the window; every request carried the body.
    let served = server.requests.load(Ordering::SeqCst);
    assert!(
        served > report.requests,
        "served {served}, reported {}",
        report.requests
    );
    assert_eq!(server.bodies_ok.load(Ordering::SeqCst), served);
    let l = &report.latency;
    assert!(0.0 < l.p50_us && l.p50_us <= l.p90_us && l.p90_us <= l.p99_us && l.p99_us <= l.max_us);
    assert!(
        report.elapsed_s >= 0.4 && report.elapsed_s < 5.0,
        "{report:?}"
    );
    let rate = report.requests as f64 / report.elapsed_s;
    assert!((report.requests_per_s - rate).abs() < 1e-6);
}

#[tokio::test]
async fn non_2xx_answers_are_counted_by_status_and_not_timed() {
    let server = serve(Behaviour::OkThen(503), b"{\"inputs\":[]}").await;
    let report = run_bounded(&config(server.addr, 2)).await.unwrap();

    assert_eq!(report.requests, 0, "{report:?}");
    assert!(
        report.errors.status.get(&503).copied().unwrap_or(0) > 0,
        "{report:?}"
    );
    assert_eq!(report.errors.transport, 0);
    assert!(report.to_string().contains("(503: "), "{report}");
}

#[tokio::test]
async fn transport_errors_are_counted_and_the_worker_reconnects() {
    let server = serve(Behaviour::OkThenHangUp, b"{\"inputs\":[]}").await;
    let report = run_bounded(&config(server.addr, 2)).await.unwrap();

    assert_eq!(report.requests, 0, "{report:?}");
    assert!(report.errors.status.is_empty(), "{report:?}");
    // Each hang-up is on a fresh connection, so more than one per worker means it reconnected.
    assert!(report.errors.transport > 2, "{report:?}");
    assert!(report.errors.first_transport_error.is_some());
}

#[tokio::test]
async fn a_probe_answered_with_an_error_fails_the_run_loudly() {
    let server = serve(Behaviour::OkThen(500), b"").await;
    // Spend the server's one 200 so the probe gets the 500.
    let cfg = config(server.addr, 1);
    probe(&cfg).await.unwrap();
    let err = run_bounded(&cfg).await.unwrap_err();
    assert!(
        matches!(err, LoadError::ProbeStatus { status, .. } if status == 500),
        "{err}"
    );
    assert!(err.to_string().contains(r#"{"error":"no"}"#), "{err}");
}

#[tokio::test]
async fn a_probe_body_without_the_expected_text_fails_the_run() {
    let server = serve(Behaviour::Ok, b"").await;
    let cfg = LoadConfig {
        expect: Some("probabilities".to_owned()),
        ..config(server.addr, 1)
    };
    let err = run_bounded(&cfg).await.unwrap_err();
    assert!(matches!(err, LoadError::ProbeBody { .. }), "{err}");
}

#[tokio::test]
async fn a_server_that_is_not_listening_fails_the_probe() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = run_bounded(&config(addr, 1)).await.unwrap_err();
    assert!(matches!(err, LoadError::Probe { .. }), "{err}");
}

#[test]
fn zero_concurrency_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = config("127.0.0.1:9".parse().unwrap(), 0);
    assert!(matches!(rt.block_on(run(&cfg)), Err(LoadError::NoWorkers)));
}

#[test]
fn json_report_round_trips() {
    let report = LoadReport {
        concurrency: 8,
        requests: 10,
        elapsed_s: 1.0,
        requests_per_s: 10.0,
        latency: LatencySummary {
            p50_us: 1.0,
            p90_us: 2.0,
            p99_us: 3.0,
            max_us: 4.0,
            mean_us: 1.5,
        },
        errors: ErrorCounts::default(),
    };
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<LoadReport>(&json).unwrap(), report);
}

#[test]
fn headers_parse_from_name_colon_value() {
    let (name, value) = parse_header("X-Test:  yes ").unwrap();
    assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-test", "yes"));
    assert!(parse_header("no colon").is_err());
}
