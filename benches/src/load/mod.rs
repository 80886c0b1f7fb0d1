//! A closed-loop HTTP/1.1 load generator.
//!
//! `concurrency` workers each own one keep-alive connection and send the same POST back to back:
//! a new request leaves as soon as the previous response has been read in full. After a warm-up,
//! every request that *starts* inside the measurement window is timed into an HDR histogram; the
//! window closes for new requests at its end, and the requests still in flight are waited for
//! and counted, so the elapsed time is the window plus at most one latency.
//!
//! ```text
//! probe (one request, body checked) -> warm-up (not recorded) -> window (recorded) -> drain
//! ```
//!
//! Failures are never dropped: non-2xx answers and transport errors (connect, write, read) are
//! counted separately in the [`LoadReport`], and a worker whose connection broke reconnects.

mod report;
mod worker;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use tokio::time::Instant;

pub use self::report::{ErrorCounts, LatencySummary, LoadReport};
pub use self::worker::TransportError;
use self::worker::{Connection, Window};

/// What to send, where, how hard and for how long.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server, on the loopback interface.
    pub addr: SocketAddr,
    /// The request path, e.g. `/v2/models/iris/infer`.
    pub path: String,
    /// The request body, sent unchanged every time.
    pub body: Bytes,
    /// Headers added to every request (`host` and `content-length` are set already).
    pub headers: HeaderMap,
    /// Number of workers, each with one connection and at most one request in flight.
    pub concurrency: usize,
    /// Time spent sending requests before the measurement starts.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub duration: Duration,
    /// A substring the probe response's body must contain (e.g. `"outputs"`), if any.
    pub expect: Option<String>,
}

/// Why a load run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `concurrency` was zero.
    #[error("`concurrency` must be at least 1")]
    NoWorkers,
    /// `path` is not a valid request path.
    #[error("`path` {path:?} is not a valid request URI: {source}")]
    BadPath {
        path: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The probe request failed before any HTTP answer arrived.
    #[error("probe request to http://{addr}{path} failed: {source}")]
    Probe {
        addr: SocketAddr,
        path: String,
        #[source]
        source: TransportError,
    },
    /// The probe answered with a non-2xx status; benchmarking an error page is meaningless.
    #[error("probe request to http://{addr}{path} answered {status}: {body}")]
    ProbeStatus {
        addr: SocketAddr,
        path: String,
        status: StatusCode,
        body: String,
    },
    /// The probe's 2xx body lacks the expected text.
    #[error("probe response from http://{addr}{path} does not contain {expected:?}: {body}")]
    ProbeBody {
        addr: SocketAddr,
        path: String,
        expected: String,
        body: String,
    },
    /// A worker task panicked or was cancelled.
    #[error("load worker died: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// The probe's answer, for callers that check outputs (e.g. against reference values).
#[derive(Clone, Debug)]
pub struct ProbeResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

// === impl LoadConfig ===

impl LoadConfig {
    /// A config for a V2-style JSON POST with a 2-second warm-up and a 10-second window.
    pub fn json_post(addr: SocketAddr, path: impl Into<String>, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        LoadConfig {
            addr,
            path: path.into(),
            body,
            headers,
            concurrency: 1,
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            expect: None,
        }
    }

    /// The request every worker sends, with `host` and `content-length` filled in.
    fn request_template(&self) -> Result<Request<Full<Bytes>>, LoadError> {
        let uri: Uri = self.path.parse().map_err(|source| LoadError::BadPath {
            path: self.path.clone(),
            source,
        })?;
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        let host = HeaderValue::from_str(&self.addr.to_string())
            .expect("a socket address is a valid header value");
        headers.insert(http::header::HOST, host);
        headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(self.body.len()),
        );
        Ok(request)
    }
}

/// Parses a `name: value` header given on the command line.
pub fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| format!("header {raw:?} must look like `name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("header name in {raw:?}: {e}"))?;
    let value =
        HeaderValue::from_str(value.trim()).map_err(|e| format!("header value in {raw:?}: {e}"))?;
    Ok((name, value))
}

/// Sends one request and checks that the answer is a 2xx whose body contains `config.expect`.
pub async fn probe(config: &LoadConfig) -> Result<ProbeResponse, LoadError> {
    let template = config.request_template()?;
    let probe_err = |source| LoadError::Probe {
        addr: config.addr,
        path: config.path.clone(),
        source,
    };
    let mut conn = Connection::open(config.addr).await.map_err(probe_err)?;
    let (status, body) = conn
        .send(worker::clone_request(&template))
        .await
        .map_err(probe_err)?;
    let text = || String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        return Err(LoadError::ProbeStatus {
            addr: config.addr,
            path: config.path.clone(),
            status,
            body: text(),
        });
    }
    if let Some(expected) = &config.expect
        && !String::from_utf8_lossy(&body).contains(expected.as_str())
    {
        return Err(LoadError::ProbeBody {
            addr: config.addr,
            path: config.path.clone(),
            expected: expected.clone(),
            body: text(),
        });
    }
    Ok(ProbeResponse { status, body })
}

/// Sends one request on a connection opened beforehand, and times it from handing the request
/// to the connection until its whole body was read. The status is not checked: a caller timing
/// a cold start wants to see the error an answer carries.
pub async fn timed(config: &LoadConfig) -> Result<(ProbeResponse, Duration), LoadError> {
    let template = config.request_template()?;
    let probe_err = |source| LoadError::Probe {
        addr: config.addr,
        path: config.path.clone(),
        source,
    };
    let mut conn = Connection::open(config.addr).await.map_err(probe_err)?;
    let start = Instant::now();
    let (status, body) = conn.send(template).await.map_err(probe_err)?;
    let elapsed = start.elapsed();
    Ok((ProbeResponse { status, body }, elapsed))
}

/// Probes the server, then runs the closed loop and summarises it.
pub async fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.concurrency == 0 {
        return Err(LoadError::NoWorkers);
    }
    probe(config).await?;
    run_unprobed(config).await
}

/// Runs the closed loop without probing first: the first requests meet the server as it is
/// (e.g. scaled to zero), and count when `warmup` is zero.
pub async fn run_unprobed(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.concurrency == 0 {
        return Err(LoadError::NoWorkers);
    }
    let template = config.request_template()?;
    let start = Instant::now();
    let window = Window {
        measure_from: start + config.warmup,
        stop_at: start + config.warmup + config.duration,
    };
    let workers: Vec<_> = (0..config.concurrency)
        .map(|_| {
            tokio::spawn(worker::run(
                config.addr,
                worker::clone_request(&template),
                window,
            ))
        })
        .collect();
    let mut results = Vec::with_capacity(workers.len());
    for worker in workers {
        results.push(worker.await?);
    }
    let elapsed = results
        .iter()
        .filter_map(|r| r.last_end)
        .max()
        .map_or(config.duration, |end| {
            end.saturating_duration_since(window.measure_from)
        });
    Ok(LoadReport::from_workers(
        config.concurrency,
        elapsed,
        &results,
    ))
}

/// Sends one GET on a fresh connection and reads the whole answer (readiness checks).
pub async fn get(addr: SocketAddr, path: &str) -> Result<(StatusCode, Bytes), LoadError> {
    let uri: Uri = path.parse().map_err(|source| LoadError::BadPath {
        path: path.to_owned(),
        source,
    })?;
    let probe_err = |source| LoadError::Probe {
        addr,
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open(addr).await.map_err(probe_err)?;
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri;
    let host =
        HeaderValue::from_str(&addr.to_string()).expect("a socket address is a valid header");
    request.headers_mut().insert(http::header::HOST, host);
    conn.send(request).await.map_err(probe_err)
}

#[cfg(test)]
mod tests;
