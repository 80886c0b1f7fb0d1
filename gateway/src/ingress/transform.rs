//! Requests to a revision with a WebAssembly transformer.
//!
//! ```text
//! client body ─ preprocess (inline, deadline) ─┬─ same protocol: same path
//!                                              └─ V1 <-> V2: the predictor's other endpoint
//!   ─ proxy ─ (monitor tee) ─ response 2xx ─ postprocess ─> client
//!                             response 4xx/5xx ─────────────> client, untouched
//! ```
//!
//! Only inference paths (`/v1/models/{name}:predict`, `/v2/models/{name}[/versions/{v}]/infer`)
//! are transformed; metadata and health requests pass through. A guest call runs inline on the
//! request's task (no hand-off to the blocking pool, which cost more than the call): the guest
//! runs on a wasmtime fiber that yields to the runtime at every epoch tick, so one that spins
//! for its whole deadline never holds an async worker for longer than a tick.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use infergate_transformer::{CallError, Protocol, Transformed, Transformer};
use tokio::time::Instant;

use super::{Ingress, Target, error};
use crate::proxy::BoxBody;
use crate::route::RevisionRoute;

/// Which entry point runs.
#[derive(Clone, Copy, Debug)]
enum Stage {
    Pre,
    Post,
}

impl Ingress {
    /// One exchange through `transformer` (the client's request spoke `client`).
    pub(super) async fn exchange_transformed(
        &self,
        target: &Target<'_>,
        revision: &RevisionRoute,
        transformer: &Transformer,
        client: Protocol,
        req: Request<Incoming>,
        timeout: Duration,
    ) -> Response<BoxBody> {
        let deadline = Instant::now() + timeout;
        let (mut parts, body) = match self.proxy.read_request(req, timeout).await {
            Ok(read) => read,
            Err(response) => return response,
        };
        let (body, upstream) = match transformer.has_preprocess() {
            false => (body, client),
            true => match self
                .call(target, transformer, Stage::Pre, body, client, client)
                .await
            {
                Ok(transformed) => transformed,
                Err(response) => return response,
            },
        };
        if upstream != client {
            parts.uri = predictor_path(target.model, upstream);
        }
        // The body may have changed: hyper sets the length of the new one.
        parts.headers.remove(CONTENT_LENGTH);
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

        let recorder = self
            .monitor
            .sample(target.namespace, target.model, parts.uri.path());
        let headers = recorder.as_ref().map(|_| parts.headers.clone());
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self
            .proxy
            .forward_buffered(revision, parts, body.clone(), remaining)
            .await;
        let response = match (recorder, headers) {
            (Some(recorder), Some(headers)) => {
                recorder.tee(&headers, body, response).map(BoxBody::new)
            }
            _ => response,
        };
        if !transformer.has_postprocess() || !response.status().is_success() {
            return response;
        }

        let (mut parts, body) = response.into_parts();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let limit = self.proxy.max_body_bytes();
        let read = tokio::time::timeout(remaining, read_limited(body, limit)).await;
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                let message = format!("reading the predictor's response for the transformer: {e}");
                return error(StatusCode::BAD_GATEWAY, &message);
            }
            Err(_) => {
                let message =
                    format!("the request did not finish within its timeout of {timeout:?}");
                return error(StatusCode::GATEWAY_TIMEOUT, &message);
            }
        };
        let body = match self
            .call(target, transformer, Stage::Post, body, upstream, client)
            .await
        {
            Ok((body, _)) => body,
            Err(response) => return response,
        };
        parts.headers.remove(CONTENT_LENGTH);
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Response::from_parts(
            parts,
            Full::new(body).map_err(|never| match never {}).boxed(),
        )
    }

    /// Runs one entry point and times it; the body it returns (the input
    /// when the guest passed it through) and the protocol it speaks, or the error response.
    async fn call(
        &self,
        target: &Target<'_>,
        transformer: &Transformer,
        stage: Stage,
        body: Bytes,
        protocol: Protocol,
        client: Protocol,
    ) -> Result<(Bytes, Protocol), Response<BoxBody>> {
        let started = Instant::now();
        let called = match stage {
            Stage::Pre => transformer.preprocess(&body, protocol).await,
            Stage::Post => transformer.postprocess(&body, protocol, client).await,
        };
        let name = match stage {
            Stage::Pre => "preprocess",
            Stage::Post => "postprocess",
        };
        self.metrics
            .observe_transformer(target.namespace, target.model, name, started.elapsed());
        match called {
            Ok(Transformed {
                body: out,
                protocol,
            }) => Ok((out.map_or(body, Bytes::from), protocol)),
            Err(e) => Err(call_error(&e)),
        }
    }
}

/// Reads a whole body of at most `limit` bytes.
async fn read_limited(mut body: BoxBody, limit: usize) -> Result<Bytes, String> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(format!("the response is larger than {limit} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// The protocol of an inference request's path, `None` for every other path.
pub(super) fn inference_protocol(path: &str) -> Option<Protocol> {
    if path.starts_with("/v1/models/") && path.ends_with(":predict") {
        Some(Protocol::V1)
    } else if path.starts_with("/v2/models/") && path.ends_with("/infer") {
        Some(Protocol::V2)
    } else {
        None
    }
}

/// The predictor's inference path for `model` in `protocol`.
fn predictor_path(model: &str, protocol: Protocol) -> http::Uri {
    let path = match protocol {
        Protocol::V1 => format!("/v1/models/{model}:predict"),
        Protocol::V2 => format!("/v2/models/{model}/infer"),
    };
    PathAndQuery::try_from(path)
        .map(http::Uri::from)
        .expect("a model name is a DNS label, valid in a path")
}

fn call_error(e: &CallError) -> Response<BoxBody> {
    tracing::debug!(error = %e, "Transformer call failed.");
    error(e.status(), &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_paths() {
        assert_eq!(
            inference_protocol("/v1/models/iris:predict"),
            Some(Protocol::V1)
        );
        assert_eq!(
            inference_protocol("/v2/models/iris/infer"),
            Some(Protocol::V2)
        );
        assert_eq!(
            inference_protocol("/v2/models/iris/versions/1/infer"),
            Some(Protocol::V2)
        );
        assert_eq!(inference_protocol("/v2/models/iris"), None);
        assert_eq!(inference_protocol("/v1/models/iris"), None);
        assert_eq!(
            predictor_path("iris", Protocol::V2),
            "/v2/models/iris/infer"
        );
        assert_eq!(
            predictor_path("iris", Protocol::V1),
            "/v1/models/iris:predict"
        );
    }
}
