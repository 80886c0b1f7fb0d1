//! `infergate monitor --upstream URL`: the monitoring proxy alone, in front of any KServe V1 or
//! Open Inference Protocol (V2) server (KServe's ModelServer, Triton, MLServer, an infergate
//! predictor).
//!
//! ```text
//! client ──> read body (≤ max) ──> pooled keep-alive client ──> upstream
//!        <── response streamed back (TeeBody) <────────────────┘
//!            RED metrics at response headers; distributions and drift after the body
//! /metrics on its own port
//! ```
//!
//! Every request is forwarded, whatever its path; only inference paths are monitored. Labels:
//! `namespace` from the config file (default empty), `model` from the URL (at most
//! [`MAX_MODEL_LABELS`] distinct names; the rest are counted under `model=""`), `revision`
//! empty. An upstream that cannot be reached gets a 502 `{"error": ...}`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{CONNECTION, HeaderName, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::config::MonitorFile;
use crate::red::{self, RedMetrics, RequestLabels};
use crate::{ModelMonitoring, Monitor, MonitorConfig};

/// Distinct `model` label values the proxy uses; further model names are counted as `""`.
pub const MAX_MODEL_LABELS: usize = 64;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Everything `infergate monitor` needs.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    /// The server to forward to, `http://host:port` (a path prefix is kept in front of each
    /// request's path).
    pub upstream: Uri,
    /// The proxy's address.
    pub http: SocketAddr,
    /// Where Prometheus scrapes `/metrics` (`None`: no metrics listener).
    pub metrics: Option<SocketAddr>,
    /// The monitoring YAML ([`MonitorFile`]); `None`: every model with the default settings.
    pub config_file: Option<PathBuf>,
    /// Largest request body in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// How long in-flight requests get on shutdown.
    pub drain_timeout: Duration,
}

/// The checked upstream: scheme, authority and path prefix.
#[derive(Clone, Debug)]
struct Upstream {
    authority: Authority,
    prefix: String,
    display: String,
}

struct Proxy {
    upstream: Upstream,
    client: Client<HttpConnector, Full<Bytes>>,
    red: RedMetrics,
    monitor: Monitor,
    namespace: String,
    max_body_bytes: usize,
    models: ModelLabels,
}

/// The bounded set of model names used as labels.
struct ModelLabels {
    known: ArcSwap<HashSet<String>>,
    adding: Mutex<()>,
}

/// Runs the proxy until `shutdown` resolves; `on_ready` gets the proxy's and the metrics'
/// bound addresses.
pub async fn run(
    config: StandaloneConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
    on_ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> anyhow::Result<()> {
    let upstream = Upstream::parse(&config.upstream)?;
    let (namespace, defaults, models) = match &config.config_file {
        Some(path) => {
            let file = MonitorFile::load(path)?;
            let base = path.parent().unwrap_or(Path::new("."));
            let (defaults, models) = file.resolve(path, base)?;
            (file.namespace, defaults, models)
        }
        None => Default::default(),
    };
    let registry = Registry::new();
    let red = RedMetrics::register(&registry)?;
    let monitor = Monitor::new(
        MonitorConfig {
            unknown_models: Some(defaults),
            ..MonitorConfig::default()
        },
        &registry,
    )?;
    let listed: Vec<String> = models.keys().cloned().collect();
    monitor.configure(
        models
            .into_iter()
            .map(|(model, settings): (String, ModelMonitoring)| {
                (namespace.clone(), model, settings)
            }),
    );

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen on {}", config.http))?;
    let addr = listener.local_addr()?;
    let metrics_server = match config.metrics {
        Some(at) => {
            let registry = registry.clone();
            Some(serve_metrics(at, move || render(&registry)).await?)
        }
        None => None,
    };

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector);
    let proxy = Arc::new(Proxy {
        upstream,
        client,
        red,
        monitor,
        namespace,
        max_body_bytes: config.max_body_bytes,
        models: ModelLabels {
            known: ArcSwap::from_pointee(listed.into_iter().collect()),
            adding: Mutex::new(()),
        },
    });
    let handler = move |req: Request<Incoming>| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.handle(req).await }
    };
    tracing::info!(address = %addr, upstream = %config.upstream, "Monitoring proxy listening.");
    on_ready(addr, metrics_server.as_ref().map(|(_, at)| *at));
    infergate_predictor::http::serve(listener, handler, shutdown, config.drain_timeout).await;
    if let Some((server, _)) = metrics_server {
        server.abort();
    }
    Ok(())
}

/// The Prometheus text exposition of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding into a Vec cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}

/// Serves `GET /metrics` on its own port: the text `render` returns at each scrape (Prometheus
/// text format). Returns the server task and the bound address.
pub async fn serve_metrics(
    at: SocketAddr,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("cannot listen on {at} for metrics"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "Metrics listening.");
    let handler = move |req: Request<Incoming>| {
        let render = render.clone();
        async move {
            if req.uri().path() != "/metrics" {
                return infergate_predictor::http::error(
                    StatusCode::NOT_FOUND,
                    "metrics are at /metrics",
                );
            }
            let mut response = Response::new(Full::new(Bytes::from(render())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
    };
    let server = tokio::spawn(infergate_predictor::http::serve(
        listener,
        handler,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    Ok((server, bound))
}

// === impl Upstream ===

impl Upstream {
    fn parse(uri: &Uri) -> anyhow::Result<Upstream> {
        if uri.scheme() != Some(&Scheme::HTTP) {
            anyhow::bail!("--upstream {uri}: only http:// upstreams are supported");
        }
        let authority = uri
            .authority()
            .cloned()
            .with_context(|| format!("--upstream {uri}: no host"))?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Upstream {
            authority,
            prefix,
            display: uri.to_string(),
        })
    }

    fn uri(&self, path: Option<&PathAndQuery>) -> anyhow::Result<Uri> {
        let path = path.map_or("/", PathAndQuery::as_str);
        let full = format!("{}{path}", self.prefix);
        Ok(Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(full)
            .build()?)
    }
}

// === impl Proxy ===

impl Proxy {
    async fn handle(&self, req: Request<Incoming>) -> Response<BoxBody> {
        let started = tokio::time::Instant::now();
        let path = req.uri().path().to_owned();
        let protocol = red::protocol_of(&path);
        let model = red::model_of(&path).map_or("", |m| self.models.label(m));
        let _in_flight = self.red.start(&self.namespace, model);
        let response = self.forward(req, &path, model).await;
        let labels = RequestLabels {
            namespace: &self.namespace,
            model,
            revision: "",
            protocol,
        };
        self.red
            .observe(labels, response.status().as_u16(), started.elapsed());
        response
    }

    async fn forward(&self, req: Request<Incoming>, path: &str, model: &str) -> Response<BoxBody> {
        let (mut parts, body) = req.into_parts();
        let body =
            match infergate_predictor::http::read_body(&parts.headers, body, self.max_body_bytes)
                .await
            {
                Ok(body) => body,
                Err(e) => return error(e.status(), &e.to_string()),
            };
        let recorder = match model {
            "" => None,
            model => self.monitor.sample(&self.namespace, model, path),
        };
        strip_hop_by_hop(&mut parts.headers);
        let uri = match self.upstream.uri(parts.uri.path_and_query()) {
            Ok(uri) => uri,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("cannot forward: {e}")),
        };
        let mut upstream = Request::new(Full::new(body.clone()));
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = parts.headers.clone();
        let response = match self.client.request(upstream).await {
            Ok(response) => response,
            Err(e) => {
                let source = std::error::Error::source(&e).map(ToString::to_string);
                let message = match source {
                    Some(source) => format!("upstream {}: {e}: {source}", self.upstream.display),
                    None => format!("upstream {}: {e}", self.upstream.display),
                };
                tracing::debug!(%message, "Upstream request failed.");
                return error(StatusCode::BAD_GATEWAY, &message);
            }
        };
        let (mut head, incoming) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let response = Response::from_parts(head, incoming);
        match recorder {
            Some(recorder) => recorder
                .tee(&parts.headers, body, response)
                .map(|b| b.map_err(BoxError::from).boxed()),
            None => response.map(|b| b.map_err(BoxError::from).boxed()),
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response<BoxBody> {
    infergate_predictor::http::error(status, message)
        .map(|b| b.map_err(|never| match never {}).boxed())
}

/// Removes the hop-by-hop headers (RFC 9110 §7.6.1) and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named
        .iter()
        .chain(&[CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE])
        .chain(&[HeaderName::from_static("keep-alive")])
    {
        headers.remove(name);
    }
}

// === impl ModelLabels ===

impl ModelLabels {
    /// `model` itself when it is (or can become) one of the bounded label values, else `""`.
    fn label<'m>(&self, model: &'m str) -> &'m str {
        if self.known.load().contains(model) {
            return model;
        }
        let Ok(_adding) = self.adding.lock() else {
            return "";
        };
        let known = self.known.load();
        if known.contains(model) {
            return model;
        }
        if known.len() >= MAX_MODEL_LABELS {
            return "";
        }
        let mut next = (**known).clone();
        next.insert(model.to_owned());
        self.known.store(Arc::new(next));
        model
    }
}
