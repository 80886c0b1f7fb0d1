//! The ingress: what `infergate serve` does with each request.
//!
//! ```text
//! request ─ /admin/ ─> Admin
//!         ─ route (one atomic load of the RouteTable) ─> revision
//!             ─ a free slot, nobody waiting (one CAS) ─> proxy ─> replica
//!             ─ otherwise ─> activator queue (bounded, FIFO; pokes the autoscaler at zero)
//!                              ─ permit ─> the revision as the current table has it ─> proxy
//! ```
//!
//! One slot count per revision (`ready replicas x containerConcurrency`, unlimited when it is 0)
//! admits every request. Warm traffic takes a slot with one atomic operation
//! (`Activator::try_acquire`) and never waits on the activator's task; a request queues only
//! while the revision has no free slot (no ready replica, or every replica at its limit) or
//! others already wait, so order stays first come, first served. Knative's target-burst-capacity
//! rule is still computed and exported (`infergate_autoscaler_activator_in_path`), but an
//! in-process activator that counts every request's slot needs no separate hop to protect
//! replicas from bursts, so it does not change admission.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use infergate_autoscaler::ActivatorError;
use tokio::time::Instant;

use infergate_monitor::Monitor;

mod transform;

use crate::admin::{self, Admin};
use crate::metrics::{self, Metrics, RequestLabels};
use crate::proxy::{BoxBody, BoxError, Proxy};
use crate::route::{RevisionRoute, RouteTable};

/// Everything a request may need; one per gateway, shared by every connection.
pub struct Ingress {
    pub admin: Admin,
    pub proxy: Proxy,
    pub routes: Arc<ArcSwap<RouteTable>>,
    pub metrics: Arc<Metrics>,
    /// Prediction and feature distributions, recorded off the response path.
    pub monitor: Monitor,
}

/// Where a request is going, for labels and re-resolution after a wait.
struct Target<'a> {
    namespace: &'a str,
    model: &'a str,
    revision: Arc<RevisionRoute>,
    timeout: Duration,
    started: Instant,
}

/// A body that keeps `guard` alive until the body is done (or dropped).
struct Guarded<G> {
    inner: BoxBody,
    guard: Option<G>,
}

// === impl Ingress ===

impl Ingress {
    /// Answers one request; never fails (errors are `{"error": ...}` responses).
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<BoxBody> {
        if req.uri().path().starts_with(admin::PREFIX) {
            return self
                .admin
                .handle(req)
                .await
                .map(|b| b.map_err(|never| match never {}).boxed());
        }
        let started = Instant::now();
        let protocol = metrics::protocol_of(req.uri().path());
        // The hot path: one atomic load of the route table, no lock.
        let table = self.routes.load();
        let resolved = match table.resolve_request(&req) {
            Ok(resolved) => resolved,
            Err(e) => {
                let labels = RequestLabels {
                    namespace: "",
                    model: "",
                    revision: "",
                    protocol,
                };
                self.metrics
                    .observe(labels, e.status().as_u16(), started.elapsed());
                return error(e.status(), &e.to_string());
            }
        };
        let service = resolved.service;
        let (namespace, model) = (service.namespace.clone(), service.name.clone());
        let target = Target {
            namespace: &namespace,
            model: &model,
            revision: Arc::clone(resolved.revision),
            timeout: service.timeout,
            started,
        };
        drop(table);
        let _in_flight = self.metrics.start(&namespace, &model);
        let revision_name = target.revision.name.clone();
        let response = self.dispatch(target, req).await;
        let labels = RequestLabels {
            namespace: &namespace,
            model: &model,
            revision: &revision_name,
            protocol,
        };
        self.metrics
            .observe(labels, response.status().as_u16(), started.elapsed());
        response
    }

    /// Sends the request to a replica of its revision, through the activator when the revision
    /// lacks capacity.
    async fn dispatch(&self, target: Target<'_>, req: Request<Incoming>) -> Response<BoxBody> {
        let Some(scaling) = target.revision.scaling.clone() else {
            return self
                .exchange(&target, &target.revision, req, target.timeout)
                .await;
        };
        let load = scaling.start();
        // Warm traffic: a free slot and nobody waiting, taken with one atomic operation.
        if !target.revision.endpoints.is_empty()
            && let Some(permit) = scaling.activator.try_acquire()
        {
            let response = self
                .exchange(&target, &target.revision, req, target.timeout)
                .await;
            return guarded(response, (load, permit));
        }

        let cold = target.revision.endpoints.is_empty() && scaling.take_cold();
        let deadline = target.started + target.timeout;
        let queued = scaling.queued();
        let permit = scaling.activator.enqueue(deadline).await;
        drop(queued);
        let labels = [
            target.namespace,
            target.model,
            target.revision.name.as_str(),
        ];
        self.metrics
            .observe_queue_wait(labels, target.started.elapsed());
        let permit = match permit {
            Ok(permit) => permit,
            Err(e) => return activator_error(&target.revision.name, &e),
        };
        // The controller published the new replicas before it let the permit go.
        let revision = self
            .routes
            .load()
            .revision(target.namespace, target.model, &target.revision.name)
            .map_or_else(|| Arc::clone(&target.revision), Arc::clone);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self.exchange(&target, &revision, req, remaining).await;
        if cold {
            self.metrics
                .observe_cold_start(labels, target.started.elapsed());
        }
        guarded(response, (load, permit))
    }
}

impl Ingress {
    /// One exchange with a replica of `revision`, within `timeout`: streamed through, or, when
    /// the monitor samples it, with the request body read first so that the monitor sees both
    /// bodies once the response has been sent.
    async fn exchange(
        &self,
        target: &Target<'_>,
        revision: &RevisionRoute,
        req: Request<Incoming>,
        timeout: Duration,
    ) -> Response<BoxBody> {
        let path = req.uri().path();
        if let Some(transformer) = &revision.transformer
            && let Some(client) = transform::inference_protocol(path)
        {
            return self
                .exchange_transformed(target, revision, transformer, client, req, timeout)
                .await;
        }
        let Some(recorder) = self.monitor.sample(target.namespace, target.model, path) else {
            return self.proxy.forward(revision, req, timeout).await;
        };
        let deadline = Instant::now() + timeout;
        let (parts, body) = match self.proxy.read_request(req, timeout).await {
            Ok(read) => read,
            Err(response) => return response,
        };
        let headers = parts.headers.clone();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self
            .proxy
            .forward_buffered(revision, parts, body.clone(), remaining)
            .await;
        recorder.tee(&headers, body, response).map(BoxBody::new)
    }
}

/// 503 (`Retry-After` when the queue is full) or 504, as the activator's error says.
fn activator_error(revision: &str, e: &ActivatorError) -> Response<BoxBody> {
    let status = match e {
        ActivatorError::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        ActivatorError::QueueFull { .. }
        | ActivatorError::Timeout { .. }
        | ActivatorError::Unavailable { .. }
        | ActivatorError::Closed => StatusCode::SERVICE_UNAVAILABLE,
    };
    tracing::debug!(%revision, kind = e.kind(), error = %e, "Activator refused a request.");
    let mut response = error(status, &format!("revision {revision}: {e}"));
    if let Some(after) = e.retry_after() {
        let seconds = after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
    }
    response
}

fn error(status: StatusCode, message: &str) -> Response<BoxBody> {
    infergate_predictor::http::error(status, message)
        .map(|b| b.map_err(|never| match never {}).boxed())
}

fn guarded<G: Send + Sync + Unpin + 'static>(
    response: Response<BoxBody>,
    guard: G,
) -> Response<BoxBody> {
    response.map(|inner| {
        BoxBody::new(Guarded {
            inner,
            guard: Some(guard),
        })
    })
}

// === impl Guarded ===

impl<G: Unpin> Body for Guarded<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) || this.inner.is_end_stream() {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
