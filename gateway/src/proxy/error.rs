//! Why a request could not be proxied, whose fault it is, and the response it gets.

use std::error::Error as _;
use std::fmt::Write as _;
use std::time::Duration;

use http::StatusCode;
use infergate_predictor::http::{BodyError, ListenAddr};

/// A failure before any upstream response headers arrived.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The client's request body is too large (413) or unreadable (400). Client's fault.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The client did not finish sending its body within the request timeout (408).
    #[error("the request body did not arrive within the request timeout of {timeout:?}")]
    BodyTimeout { timeout: Duration },
    /// The revision has no ready replica (scaled to zero or all gone) (503).
    #[error("revision `{revision}` has no ready replica")]
    NoReplica { revision: String },
    /// Every replica is at its `containerConcurrency` (503).
    #[error(
        "revision `{revision}` is at capacity: all {replicas} replicas have \
         containerConcurrency={limit} requests in flight"
    )]
    AtCapacity {
        revision: String,
        replicas: usize,
        limit: usize,
    },
    /// No response headers within the request timeout (504).
    #[error("revision `{revision}` did not respond within the request timeout of {timeout:?}")]
    Timeout { revision: String, timeout: Duration },
    /// The replica could not be reached or dropped the connection, even after the one retry (502).
    #[error("replica {addr} of revision `{revision}` failed")]
    Upstream {
        revision: String,
        addr: ListenAddr,
        #[source]
        source: super::UpstreamError,
    },
}

// === impl ProxyError ===

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Body(e) => e.status(),
            ProxyError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ProxyError::NoReplica { .. } | ProxyError::AtCapacity { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// A short, fixed name for the metrics `code` label and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyError::Body(BodyError::TooLarge { .. }) => "body_too_large",
            ProxyError::Body(BodyError::Read(_)) => "body_unreadable",
            ProxyError::BodyTimeout { .. } => "body_timeout",
            ProxyError::NoReplica { .. } => "no_replica",
            ProxyError::AtCapacity { .. } => "at_capacity",
            ProxyError::Timeout { .. } => "timeout",
            ProxyError::Upstream { .. } => "upstream",
        }
    }

    /// The message with its whole cause chain (`a: b: c`): the client error types only say
    /// "client error (Connect)" at the top.
    pub fn message(&self) -> String {
        let mut out = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            let _ = write!(out, ": {cause}");
            source = cause.source();
        }
        out
    }

    /// `{"error": "..."}` with [`ProxyError::status`]; the 503s carry `Retry-After: 1`.
    pub fn to_response(&self) -> http::Response<http_body_util::Full<bytes::Bytes>> {
        infergate_predictor::http::error(self.status(), &self.message())
    }
}
