//! Why a request could not be routed, and the response each reason gets.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

/// A request that names no routable service or revision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The path or Host names a model that no InferenceService serves (404).
    #[error("model `{name}` not found: no InferenceService `{name}` in namespace `{namespace}`")]
    NoService { namespace: String, name: String },
    /// Neither the Host nor the path names a model (404).
    #[error(
        "no model in the request: the path `{path}` is not /v1/models/{{name}}[:predict] or \
         /v2/models/{{name}}/..., and the Host is not {{name}}.{{namespace}}.{domain}"
    )]
    NoModel { path: String, domain: String },
    /// The service exists but none of its revisions is ready to take traffic yet (503).
    #[error("model `{name}` (namespace `{namespace}`) has no ready revision yet")]
    NoReadyRevision { namespace: String, name: String },
    /// `x-infergate-revision` names a revision the service has not (or not ready) (404).
    #[error(
        "model `{name}` (namespace `{namespace}`) has no ready revision `{revision}` \
         (from the x-infergate-revision header)"
    )]
    UnknownRevision {
        namespace: String,
        name: String,
        revision: String,
    },
    /// A `latest-`/`prev-` Host names a tag no revision of the service carries (404).
    #[error("model `{name}` (namespace `{namespace}`) has no revision tagged `{tag}`")]
    UnknownTag {
        namespace: String,
        name: String,
        tag: String,
    },
}

// === impl RouteError ===

impl RouteError {
    /// 503 while a service has no ready revision (it may get one soon), 404 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            RouteError::NoReadyRevision { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RouteError::NoService { .. }
            | RouteError::NoModel { .. }
            | RouteError::UnknownRevision { .. }
            | RouteError::UnknownTag { .. } => StatusCode::NOT_FOUND,
        }
    }

    /// A short, fixed name for the metrics `code` label and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RouteError::NoService { .. } => "no_service",
            RouteError::NoModel { .. } => "no_model",
            RouteError::NoReadyRevision { .. } => "no_ready_revision",
            RouteError::UnknownRevision { .. } => "unknown_revision",
            RouteError::UnknownTag { .. } => "unknown_tag",
        }
    }

    /// `{"error": "..."}` with [`RouteError::status`]; the 503 carries `Retry-After: 1`.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        infergate_predictor::http::error(self.status(), &self.to_string())
    }
}
