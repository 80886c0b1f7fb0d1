//! Proxying: one request to one replica of a revision, over pooled keep-alive connections.
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
mod endpoint;
mod error;
mod headers;

#[cfg(test)]
mod tests;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;

use self::body::Guarded;
use self::endpoint::Choice;
pub use self::{
    body::BodyTimeout,
    endpoint::{Endpoint, InFlight},
    error::ProxyError,
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
    /// How long a TCP connect to a replica may take. Default 2 s.
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per replica. Default 1024.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
}

/// Forwards requests to replicas. Cheap to share (`Arc` or a clone: the pool is shared).
#[derive(Clone, Debug)]
pub struct Proxy {
    client: Client<HttpConnector, Full<Bytes>>,
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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector);
        Proxy {
            client,
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
        match self.try_forward(revision, req, timeout).await {
            Ok(response) => response,
            Err(e) => {
                let error = e.message();
                tracing::debug!(revision = %revision.name, kind = e.kind(), %error, "Proxy error.");
                infergate_predictor::http::error(e.status(), &error)
                    .map(|b| b.map_err(|never| match never {}).boxed())
            }
        }
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
        let (mut parts, body) = req.into_parts();
        let read = infergate_predictor::http::read_body(&parts.headers, body, self.max_body_bytes);
        let body = tokio::select! {
            read = read => read?,
            () = deadline.as_mut() => return Err(ProxyError::BodyTimeout { timeout }),
        };
        headers::strip_hop_by_hop(&mut parts.headers);
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));

        let mut in_flight = self.choose(revision, None)?;
        let mut retried = false;
        let response = loop {
            let endpoint = Arc::clone(in_flight.endpoint());
            // The first attempt keeps the original headers for a possible retry.
            let headers = match retried {
                false => parts.headers.clone(),
                true => std::mem::take(&mut parts.headers),
            };
            let upstream = upstream_request(&parts.method, &endpoint, &path, headers, &body);
            let sent = tokio::select! {
                sent = self.client.request(upstream) => sent,
                () = deadline.as_mut() => {
                    return Err(ProxyError::Timeout { revision: revision.name.clone(), timeout });
                }
            };
            match sent {
                Ok(response) => break response,
                Err(e) if !retried && error::is_retryable(&e) => {
                    let addr = endpoint.addr();
                    let revision_name = &revision.name;
                    tracing::debug!(%addr, revision = %revision_name, error = ?e, "Replica failed before responding; retrying once.");
                    // Release the failed slot first: it may be the only replica.
                    drop(in_flight);
                    in_flight = self.choose(revision, Some(&endpoint))?;
                    retried = true;
                }
                Err(source) => {
                    return Err(ProxyError::Upstream {
                        revision: revision.name.clone(),
                        addr: endpoint.addr(),
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
        let body = Guarded::new(incoming, in_flight, deadline, timeout);
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

/// The request to send upstream: same method, path and query, and (hop-by-hop stripped) headers,
/// as HTTP/1.1 (what the replicas speak, whatever the client spoke) to `endpoint`.
fn upstream_request(
    method: &http::Method,
    endpoint: &Endpoint,
    path: &PathAndQuery,
    headers: http::HeaderMap,
    body: &Bytes,
) -> Request<Full<Bytes>> {
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTP);
    uri.authority = Some(endpoint.authority().clone());
    uri.path_and_query = Some(path.clone());
    let uri = Uri::from_parts(uri).expect("scheme, authority and path make an absolute URI");
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    req
}
