//! Proxying: one request to one replica of a revision, over pooled keep-alive connections
//! (loopback TCP or Unix sockets) that the request's own task drives (`pool`).
//!
//! ```text
//! request ─ read body (≤ max_body_bytes, 413) ─ choose replica (least outstanding, < cap, else 503)
//!   ─ send ─┬─ response headers ─> stream the body back (slot held until it ends)
//!           ├─ connection failed before any response ─> once more on another replica, else 502
//!           └─ deadline ─> 504
//! ```
//!
//! The request body is read whole (bounded) so that a send that failed at the connection level
//! can be retried once; response bodies are streamed, never buffered. Response headers are never
//! followed by a retry.

mod body;
mod connect;
mod endpoint;
mod error;
mod headers;
mod pool;

#[cfg(test)]
mod tests;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::time::Sleep;

use self::body::Guarded;
use self::endpoint::Choice;
use self::pool::{Conn, PoolConfig};
pub use self::{
    body::BodyTimeout,
    connect::ConnectError,
    endpoint::{Endpoint, InFlight},
    error::ProxyError,
    pool::UpstreamError,
};
use crate::route::{REVISION_HEADER, RevisionRoute};

/// A boxed error, as bodies and the tower stack carry them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every proxied response: the upstream body streamed, or a JSON error.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// How the proxy talks to replicas.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The largest request body forwarded, in bytes; larger ones get 413. Default 16 MiB.
    pub max_body_bytes: usize,
    /// How long a connect to a replica (TCP or Unix socket) may take. Default 2 s.
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per replica. Default 1024.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
}

/// Forwards requests to replicas. Cheap to share (`Arc` or a clone); the idle connections live
/// with each replica's [`Endpoint`].
#[derive(Clone, Debug)]
pub struct Proxy {
    pool: PoolConfig,
    max_body_bytes: usize,
}

// === impl ProxyConfig ===

impl ProxyConfig {
    pub const fn default_max_body_bytes() -> usize {
        16 * 1024 * 1024
    }
    pub const fn default_connect_timeout() -> Duration {
        Duration::from_secs(2)
    }
    pub const fn default_pool_max_idle_per_host() -> usize {
        1024
    }
    pub const fn default_pool_idle_timeout() -> Duration {
        Duration::from_secs(90)
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            max_body_bytes: Self::default_max_body_bytes(),
            connect_timeout: Self::default_connect_timeout(),
            pool_max_idle_per_host: Self::default_pool_max_idle_per_host(),
            pool_idle_timeout: Self::default_pool_idle_timeout(),
        }
    }
}

// === impl Proxy ===

impl Proxy {
    pub fn new(config: ProxyConfig) -> Self {
        Proxy {
            pool: PoolConfig {
                max_idle: config.pool_max_idle_per_host,
                idle_timeout: config.pool_idle_timeout,
                connect_timeout: config.connect_timeout,
            },
            max_body_bytes: config.max_body_bytes,
        }
    }

    /// Sends `req` to a replica of `revision` chosen by least outstanding requests, never above
    /// its `containerConcurrency`, and returns the upstream response with its body streamed, or a
    /// `{"error": ...}` response: 413 body too large, 408 body not received in time, 503 (with
    /// `Retry-After: 1`) no replica or all at capacity, 502 replica unreachable after one retry,
    /// 504 no response headers within `timeout`. A body still streaming at `timeout` is cut off.
    ///
    /// Responses carry `x-infergate-revision` naming the revision that served them.
    pub async fn forward(
        &self,
        revision: &RevisionRoute,
        req: Request<Incoming>,
        timeout: Duration,
    ) -> Response<BoxBody> {
        let forwarded = self.try_forward(revision, req, timeout).await;
        into_response(revision, forwarded)
    }

    /// [`Proxy::forward`] of a request whose body was already read (by a transformer or the
    /// monitor), within `timeout` from now.
    pub async fn forward_buffered(
        &self,
        revision: &RevisionRoute,
        parts: http::request::Parts,
        body: Bytes,
        timeout: Duration,
    ) -> Response<BoxBody> {
        let deadline = Box::pin(tokio::time::sleep(timeout));
        let forwarded = self.send(revision, parts, body, deadline, timeout).await;
        into_response(revision, forwarded)
    }

    /// The largest request body forwarded, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Reads a request's body whole (at most the configured limit: 413 past it, 408 when it
    /// does not arrive within `timeout`), as [`Proxy::forward`] does before it sends.
    pub async fn read_request(
        &self,
        req: Request<Incoming>,
        timeout: Duration,
    ) -> Result<(http::request::Parts, Bytes), Response<BoxBody>> {
        let (parts, body) = req.into_parts();
        let read = infergate_predictor::http::read_body(&parts.headers, body, self.max_body_bytes);
        let body = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => return Err(error_response(&ProxyError::from(e))),
            Err(_) => return Err(error_response(&ProxyError::BodyTimeout { timeout })),
        };
        Ok((parts, body))
    }

    /// [`Proxy::forward`], with the failure as a typed error.
    pub async fn try_forward(
        &self,
        revision: &RevisionRoute,
        req: Request<Incoming>,
        timeout: Duration,
    ) -> Result<Response<BoxBody>, ProxyError> {
        // One timer for the whole exchange: body upload, response headers and response body.
        let mut deadline: Pin<Box<Sleep>> = Box::pin(tokio::time::sleep(timeout));
        let (parts, body) = req.into_parts();
        let read = infergate_predictor::http::read_body(&parts.headers, body, self.max_body_bytes);
        let body = tokio::select! {
            read = read => read?,
            () = deadline.as_mut() => return Err(ProxyError::BodyTimeout { timeout }),
        };
        self.send(revision, parts, body, deadline, timeout).await
    }

    /// Sends a read request to a replica of `revision` (retrying once on a connection failure)
    /// and streams the response back, all before `deadline`.
    async fn send(
        &self,
        revision: &RevisionRoute,
        mut parts: http::request::Parts,
        body: Bytes,
        mut deadline: Pin<Box<Sleep>>,
        timeout: Duration,
    ) -> Result<Response<BoxBody>, ProxyError> {
        headers::strip_hop_by_hop(&mut parts.headers);
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));

        // HTTP/1.1 needs a Host header; a client that spoke HTTP/2 sent `:authority` instead.
        if !parts.headers.contains_key(HOST) {
            let host = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .unwrap_or_else(|| HeaderValue::from_static("localhost"));
            parts.headers.insert(HOST, host);
        }

        let mut in_flight = self.choose(revision, None)?;
        let mut retried = false;
        let (response, conn) = loop {
            let endpoint = Arc::clone(in_flight.endpoint());
            // The first attempt keeps the original headers for a possible retry.
            let headers = match retried {
                false => parts.headers.clone(),
                true => std::mem::take(&mut parts.headers),
            };
            let upstream = upstream_request(&parts.method, &path, headers, &body);
            let attempt = async {
                // A retry opens a new connection: idle ones to a replica that just failed are
                // likely closed too.
                let idle = match retried {
                    false => endpoint.idle().checkout(&self.pool),
                    true => None,
                };
                let mut conn = match idle {
                    Some(conn) => conn,
                    None => Conn::connect(endpoint.addr(), self.pool.connect_timeout).await?,
                };
                let response = conn.send(upstream).await?;
                Ok::<_, UpstreamError>((response, conn))
            };
            let sent = tokio::select! {
                sent = attempt => sent,
                () = deadline.as_mut() => {
                    return Err(ProxyError::Timeout { revision: revision.name.clone(), timeout });
                }
            };
            match sent {
                Ok(sent) => break sent,
                Err(e) if !retried && e.is_retryable() => {
                    let addr = endpoint.addr();
                    let revision_name = &revision.name;
                    tracing::debug!(%addr, revision = %revision_name, error = %e, "Replica failed before responding; retrying once.");
                    // Release the failed slot first: it may be the only replica.
                    drop(in_flight);
                    in_flight = self.choose(revision, Some(&endpoint))?;
                    retried = true;
                }
                Err(source) => {
                    return Err(ProxyError::Upstream {
                        revision: revision.name.clone(),
                        addr: endpoint.addr().clone(),
                        source,
                    });
                }
            }
        };

        let (mut parts, incoming) = response.into_parts();
        headers::strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(
            REVISION_HEADER,
            in_flight.endpoint().revision_header().clone(),
        );
        let body = Guarded::new(incoming, in_flight, conn, self.pool, deadline, timeout);
        Ok(Response::from_parts(parts, BoxBody::new(body)))
    }

    fn choose(
        &self,
        revision: &RevisionRoute,
        avoid: Option<&Arc<Endpoint>>,
    ) -> Result<InFlight, ProxyError> {
        match endpoint::choose(&revision.endpoints, avoid) {
            Choice::Chosen(in_flight) => Ok(in_flight),
            Choice::Full => Err(ProxyError::AtCapacity {
                revision: revision.name.clone(),
                replicas: revision.endpoints.len(),
                limit: revision.container_concurrency,
            }),
            Choice::Empty => Err(ProxyError::NoReplica {
                revision: revision.name.clone(),
            }),
        }
    }
}

/// The response for a forwarding outcome: the upstream's, or a `{"error": ...}`.
fn into_response(
    revision: &RevisionRoute,
    forwarded: Result<Response<BoxBody>, ProxyError>,
) -> Response<BoxBody> {
    forwarded.unwrap_or_else(|e| {
        tracing::debug!(revision = %revision.name, kind = e.kind(), error = %e.message(), "Proxy error.");
        error_response(&e)
    })
}

fn error_response(e: &ProxyError) -> Response<BoxBody> {
    infergate_predictor::http::error(e.status(), &e.message())
        .map(|b| b.map_err(|never| match never {}).boxed())
}

/// The request to send upstream: same method, path and query (in origin form), and
/// (hop-by-hop stripped) headers, as HTTP/1.1 (what the replicas speak, whatever the client
/// spoke).
fn upstream_request(
    method: &http::Method,
    path: &PathAndQuery,
    headers: http::HeaderMap,
    body: &Bytes,
) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = method.clone();
    *req.uri_mut() = path.clone().into();
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    req
}
