//! The predictor's errors, and the one place they become HTTP responses.

use http::StatusCode;

use crate::http::BodyError;
use crate::model::RuntimeError;
use crate::protocol::ProtocolError;
use crate::storage::StorageError;
use crate::worker::PoolError;

/// Why a request failed. [`ServeError::status`] is the only mapping to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("model `{requested}` not found; this server serves `{served}`")]
    ModelNotFound { requested: String, served: String },
    #[error("model `{model}` has no version `{version}`")]
    VersionNotFound { model: String, version: String },
    #[error("model `{0}` is not ready yet; retry shortly")]
    NotReady(String),
    #[error("no route for {0}; see /v2 and /v1/models")]
    NoRoute(String),
    #[error("method {method} not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("header `{name}`: {problem}")]
    BadHeader { name: &'static str, problem: String },
}

/// Why the predictor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: crate::http::ListenAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

// === impl ServeError ===

impl ServeError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Protocol(_) | ServeError::BadHeader { .. } => StatusCode::BAD_REQUEST,
            ServeError::Body(e) => e.status(),
            ServeError::Pool(PoolError::Runtime(RuntimeError::InvalidInput(_))) => {
                StatusCode::BAD_REQUEST
            }
            ServeError::Pool(PoolError::Runtime(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            ServeError::Pool(PoolError::Overloaded(_) | PoolError::Closed)
            | ServeError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::ModelNotFound { .. }
            | ServeError::VersionNotFound { .. }
            | ServeError::NoRoute(_) => StatusCode::NOT_FOUND,
            ServeError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::Protocol(e) => e.kind(),
            ServeError::Body(BodyError::TooLarge { .. }) => "body_too_large",
            ServeError::Body(BodyError::Read(_)) => "body_read",
            ServeError::Pool(PoolError::Overloaded(_)) => "overloaded",
            ServeError::Pool(PoolError::Closed) => "shutting_down",
            ServeError::Pool(PoolError::Runtime(RuntimeError::InvalidInput(_))) => "invalid_input",
            ServeError::Pool(PoolError::Runtime(_)) => "runtime",
            ServeError::ModelNotFound { .. } => "model_not_found",
            ServeError::VersionNotFound { .. } => "version_not_found",
            ServeError::NotReady(_) => "not_ready",
            ServeError::NoRoute(_) => "no_route",
            ServeError::MethodNotAllowed { .. } => "method_not_allowed",
            ServeError::BadHeader { .. } => "bad_header",
        }
    }
}
