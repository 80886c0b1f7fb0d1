//! One load worker: a keep-alive HTTP/1.1 connection and a closed loop of requests on it.

use std::net::SocketAddr;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Highest latency the histograms track, in nanoseconds (60 s); slower requests saturate.
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Significant figures kept by the histograms (0.1 % relative error).
const SIGNIFICANT_FIGURES: u8 = 3;

/// When recording starts and when new requests stop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub(super) measure_from: Instant,
    pub(super) stop_at: Instant,
}

/// What one worker saw inside the measurement window.
#[derive(Debug)]
pub(super) struct WorkerResult {
    /// Latencies of the 2xx answers, in nanoseconds.
    pub(super) latencies: Histogram<u64>,
    /// Non-2xx answers, by status code.
    pub(super) statuses: Vec<(StatusCode, u64)>,
    /// Requests that got no HTTP answer (connect, write or read failed).
    pub(super) transport_errors: u64,
    /// The first transport error's message, so a report can say what went wrong.
    pub(super) first_transport_error: Option<String>,
    /// When the last recorded request finished.
    pub(super) last_end: Option<Instant>,
}

/// A request failed below HTTP: the connection could not be made, or broke.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("HTTP/1.1 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("send: {0}")]
    Send(#[source] hyper::Error),
    #[error("reading the response body: {0}")]
    Body(#[source] hyper::Error),
}

/// A client connection; the task driving its I/O is spawned on open and ends with it.
pub(super) struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

// === impl Connection ===

impl Connection {
    pub(super) async fn open(addr: SocketAddr) -> Result<Self, TransportError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(TransportError::Connect)?;
        // Requests are small and latency is what we measure: never wait for Nagle.
        stream.set_nodelay(true).map_err(TransportError::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(TransportError::Handshake)?;
        // The driver's error also surfaces through `send_request`, where it is counted.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender })
    }

    /// Sends `request` and reads the whole response body, keeping the connection reusable.
    pub(super) async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        self.sender.ready().await.map_err(TransportError::Send)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(TransportError::Send)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(TransportError::Body)?;
        Ok((status, body.to_bytes()))
    }
}

/// An empty latency histogram, in nanoseconds.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_FIGURES)
        .expect("constant histogram bounds are valid")
}

/// Copies a request whose body is a cheaply cloned `Bytes`.
pub(super) fn clone_request(template: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut request = Request::new(template.body().clone());
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

/// Runs one worker's closed loop until `window.stop_at`.
pub(super) async fn run(
    addr: SocketAddr,
    template: Request<Full<Bytes>>,
    window: Window,
) -> WorkerResult {
    let mut result = WorkerResult {
        latencies: new_histogram(),
        statuses: Vec::new(),
        transport_errors: 0,
        first_transport_error: None,
        last_end: None,
    };
    let mut conn: Option<Connection> = None;
    loop {
        let start = Instant::now();
        if start >= window.stop_at {
            break;
        }
        let recorded = start >= window.measure_from;
        let outcome = match conn.as_mut() {
            Some(c) => c.send(clone_request(&template)).await,
            None => match Connection::open(addr).await {
                Ok(c) => conn.insert(c).send(clone_request(&template)).await,
                Err(e) => Err(e),
            },
        };
        let end = Instant::now();
        if outcome.is_err() {
            // The connection is unusable after a transport error; the next request reconnects.
            conn = None;
        }
        if !recorded {
            continue;
        }
        result.last_end = Some(end);
        match outcome {
            Ok((status, _)) if status.is_success() => {
                let nanos = u64::try_from(end.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
                result.latencies.saturating_record(nanos.max(1));
            }
            Ok((status, _)) => match result.statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => result.statuses.push((status, 1)),
            },
            Err(e) => {
                result.transport_errors += 1;
                result
                    .first_transport_error
                    .get_or_insert_with(|| e.to_string());
                // A refused connection fails in microseconds; don't spin on it.
                tokio::task::yield_now().await;
            }
        }
    }
    result
}
