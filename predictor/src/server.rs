//! The predictor's HTTP server: binds first, loads the model beside it, and turns ready only
//! after the model answered one warm-up inference.
//!
//! Liveness is true as soon as the port is bound; readiness (`/v2/health/ready`, the model's
//! `ready` endpoints) turns true once, when the worker pool has started. The hot path reads the
//! loaded model through a `OnceLock`: no lock is ever taken per request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::watch;

use crate::config::PredictorConfig;
use crate::error::{ServeError, StartError};
use crate::http::{self as h, ListenAddr, Listener, ResponseBody};
use crate::metrics::{Metrics, PoolMetrics};
use crate::protocol::{v1, v2};
use crate::route::{ModelRef, Route};
use crate::storage::{StorageUri, locate};
use crate::worker::WorkerPool;

/// A predictor bound to its port or Unix socket. [`Server::run`] loads the model and serves.
pub struct Server {
    listener: Listener,
    local_addr: ListenAddr,
    shared: Arc<Shared>,
}

struct Shared {
    config: PredictorConfig,
    model: OnceLock<Model>,
    /// What `GET /metrics` shows.
    metrics: Metrics,
}

struct Model {
    pool: WorkerPool,
    /// The V2 metadata response, rendered once.
    metadata: Bytes,
}

// === impl Server ===

impl Server {
    /// Binds the configured Unix socket, else the configured address (port 0 picks a free
    /// port).
    pub async fn bind(config: PredictorConfig) -> Result<Server, StartError> {
        let addr = match &config.unix_socket {
            Some(path) => ListenAddr::Unix(path.clone()),
            None => ListenAddr::Tcp(SocketAddr::new(config.host, config.http_port)),
        };
        let (listener, local_addr) = Listener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Server {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                metrics: Metrics::new(&config.model_name),
                config,
                model: OnceLock::new(),
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> &ListenAddr {
        &self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    ///
    /// Loads the model while already answering liveness probes; `on_ready` runs once the model
    /// is loaded and warmed up. A model that fails to load ends the server with that error.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
        on_ready: impl FnOnce(&ListenAddr) + Send,
    ) -> Result<(), StartError> {
        let Server {
            listener,
            local_addr,
            shared,
        } = self;
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let handler = {
            let shared = Arc::clone(&shared);
            move |req| handle(Arc::clone(&shared), req)
        };
        let drain = shared.config.shutdown_timeout;
        let stop = async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        // The socket file (if any) lives until the drain is over.
        let (serving, _socket_file) = match listener {
            Listener::Tcp(l) => (tokio::spawn(h::serve(l, handler, stop, drain)), None),
            Listener::Unix(l, file) => {
                (tokio::spawn(h::serve(l, handler, stop, drain)), Some(file))
            }
        };
        tracing::info!(address = %local_addr, model = %shared.config.model_name, "Listening; loading the model.");

        let loader = Arc::clone(&shared);
        let loaded =
            tokio::task::spawn_blocking(move || load(&loader.config, loader.metrics.pool()))
                .await
                .unwrap_or_else(|e| {
                    Err(StartError::Runtime(crate::RuntimeError::Load(format!(
                        "the loader panicked: {e}"
                    ))))
                });
        let result = match loaded {
            Ok(model) => {
                let _ = shared.model.set(model);
                on_ready(&local_addr);
                shutdown.await;
                Ok(())
            }
            Err(e) => Err(e),
        };
        let _ = stop_tx.send(true);
        let _ = serving.await;
        result
    }
}

/// Fetches, loads and warms up the model (blocking).
fn load(config: &PredictorConfig, metrics: &PoolMetrics) -> Result<Model, StartError> {
    let started = std::time::Instant::now();
    let path = StorageUri::parse(&config.storage_uri).fetch()?;
    let (path, format) = locate(&path, config.model_format)?;
    let loaded = crate::runtime::load(&config.model_name, &path, format, &config.runtime)?;
    let versions: Vec<String> = config.model_version.iter().cloned().collect();
    let metadata = v2::model_metadata(&loaded.metadata, &versions);
    let pool = WorkerPool::start(loaded, &config.pool, metrics)?;
    tracing::info!(
        model = %config.model_name,
        %format,
        path = %path.display(),
        workers = config.pool.workers,
        max_batch_size = if pool.is_batching() { config.pool.batch.max_batch_size() } else { 1 },
        seconds = started.elapsed().as_secs_f64(),
        "Model loaded and warmed up."
    );
    Ok(Model { pool, metadata })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let timer = shared.metrics.start(&path);
    let response = match dispatch(&shared, req).await {
        Ok(response) => response,
        Err(e) => {
            let status = e.status();
            if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(%method, %path, %status, kind = e.kind(), error = %e, "Request failed.");
            } else {
                tracing::debug!(%method, %path, %status, kind = e.kind(), error = %e, "Request rejected.");
            }
            h::error(status, &e.to_string())
        }
    };
    if let Some(timer) = timer {
        timer.finish(response.status());
    }
    response
}

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ServeError> {
    let path = req.uri().path();
    if path == "/metrics" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(metrics_response(&shared.metrics));
    }
    let route = Route::parse(path).ok_or_else(|| ServeError::NoRoute(path.to_owned()))?;
    let expected = if route.is_post() {
        Method::POST
    } else {
        Method::GET
    };
    if req.method() != expected && !(expected == Method::GET && req.method() == Method::HEAD) {
        return Err(ServeError::MethodNotAllowed {
            method: req.method().to_string(),
            path: path.to_owned(),
        });
    }
    let config = &shared.config;
    let ready = shared.model.get();
    // The loaded model, or 503 while it loads.
    let loaded = || ready.ok_or_else(|| ServeError::NotReady(config.model_name.clone()));
    // What the readiness probes answer: 200 once the model is loaded, 503 before.
    let ready_status = if ready.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match route {
        Route::Live => Ok(json_value(
            StatusCode::OK,
            &serde_json::json!({ "live": true }),
        )),
        Route::Ready => Ok(json_value(
            ready_status,
            &serde_json::json!({ "ready": ready.is_some() }),
        )),
        Route::ServerMetadata => Ok(json_value(
            StatusCode::OK,
            &serde_json::json!({
                "name": "infergate",
                "version": env!("CARGO_PKG_VERSION"),
                "extensions": ["binary_tensor_data"],
            }),
        )),
        Route::ModelMetadata(model) => {
            check_model(config, model)?;
            let model = loaded()?;
            Ok(h::json(StatusCode::OK, model.metadata.clone()))
        }
        Route::ModelReady(model) => {
            check_model(config, model)?;
            Ok(json_value(
                ready_status,
                &serde_json::json!({ "name": model.name, "ready": ready.is_some() }),
            ))
        }
        Route::V1List => Ok(json_value(
            StatusCode::OK,
            &serde_json::json!({ "models": [config.model_name] }),
        )),
        Route::V1Model(name) => {
            check_model(config, v1_model(name))?;
            Ok(json_value(
                StatusCode::OK,
                &serde_json::json!({ "name": name, "ready": ready.is_some() }),
            ))
        }
        Route::Infer(model) => {
            check_model(config, model)?;
            let model = loaded()?;
            infer_v2(config, model, req).await
        }
        Route::V1Predict(name) => {
            check_model(config, v1_model(name))?;
            let model = loaded()?;
            predict_v1(config, model, req).await
        }
    }
}

/// The model a V1 path names: V1 paths carry no version.
fn v1_model(name: &str) -> ModelRef<'_> {
    ModelRef {
        name,
        version: None,
    }
}

/// 404 unless the path names the served model (and its version, when it has one).
fn check_model(config: &PredictorConfig, model: ModelRef<'_>) -> Result<(), ServeError> {
    if model.name != config.model_name {
        return Err(ServeError::ModelNotFound {
            requested: model.name.to_owned(),
            served: config.model_name.clone(),
        });
    }
    match model.version {
        Some(v) if config.model_version.as_deref() != Some(v) => Err(ServeError::VersionNotFound {
            model: model.name.to_owned(),
            version: v.to_owned(),
        }),
        _ => Ok(()),
    }
}

async fn infer_v2(
    config: &PredictorConfig,
    model: &Model,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ServeError> {
    let header_len = match req.headers().get(v2::INFERENCE_HEADER_CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| ServeError::BadHeader {
                    name: v2::INFERENCE_HEADER_CONTENT_LENGTH,
                    problem: "must be a non-negative integer".into(),
                })?,
        ),
    };
    let (parts, body) = req.into_parts();
    let body = h::read_body(&parts.headers, body, config.max_body_bytes).await?;
    let request = v2::decode_request(&body, header_len, model.pool.metadata(), &config.limits)?;
    drop(body);
    let outputs = model.pool.infer(request.inputs).await?;
    let encoded = v2::encode_response(
        &config.model_name,
        config.model_version.as_deref(),
        request.id.as_deref(),
        outputs,
        &request.outputs,
    );
    let mut response = h::json(StatusCode::OK, encoded.body);
    if let Some(len) = encoded.header_len {
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(v2::INFERENCE_HEADER_CONTENT_LENGTH, HeaderValue::from(len));
    }
    Ok(response)
}

async fn predict_v1(
    config: &PredictorConfig,
    model: &Model,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ServeError> {
    let (parts, body) = req.into_parts();
    let body = h::read_body(&parts.headers, body, config.max_body_bytes).await?;
    let request = v1::decode_request(&body, model.pool.metadata(), &config.limits)?;
    drop(body);
    let outputs = model.pool.infer(request.inputs).await?;
    Ok(h::json(StatusCode::OK, v1::encode_response(outputs)))
}

fn json_value(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let body = serde_json::to_vec(value).expect("a serde_json::Value always serialises");
    h::json(status, Bytes::from(body))
}

/// `GET /metrics`: the Prometheus text exposition.
fn metrics_response(metrics: &Metrics) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
