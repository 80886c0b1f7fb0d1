//! `infergate serve`: the embedded all-in-one gateway.
//!
//! ```text
//! client --> http front --/admin/--> Admin (writes the folder)
//!                       \--> RouteTable (ArcSwap) --> Proxy --> predictor replica (local pod)
//! folder watcher --Reload--> Controller --PodTemplate--> LocalPods --PodEvent--> Controller
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::Watcher as _;
use tokio::sync::mpsc;

use infergate_monitor::{Monitor, MonitorConfig};

use crate::admin::Admin;
use crate::controller::{AutoscalerDefaults, Controller, ControllerConfig, Msg};
use crate::ingress::Ingress;
use crate::metrics::Metrics;
use crate::pods::{LocalPods, LocalPodsConfig};
use crate::proxy::{Proxy, ProxyConfig};
use crate::store::{Store, is_config_file};

/// Everything `infergate serve` needs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The folder of InferenceService YAML files.
    pub config_dir: PathBuf,
    /// Where revision history is kept (default `<config_dir>/.infergate/state.json`).
    pub state_file: Option<PathBuf>,
    /// The gateway's address.
    pub http: SocketAddr,
    /// Where Prometheus scrapes `/metrics` (`None`: no metrics listener).
    pub metrics: Option<SocketAddr>,
    /// Hosts are `{name}.{namespace}.{domain}`.
    pub domain: String,
    /// The `infergate` binary that runs predictor pods (default: this executable).
    pub binary: Option<PathBuf>,
    /// `--workers` for each predictor replica.
    pub predictor_workers: Option<usize>,
    /// How the gateway reaches its predictor pods (Unix sockets or loopback TCP).
    pub pod_transport: crate::pods::PodTransport,
    /// Largest request body (413 past it).
    pub max_body_bytes: usize,
    /// How long in-flight requests get on shutdown and when a replica leaves the traffic.
    pub drain_timeout: Duration,
    /// Cluster-wide autoscaler settings and the activator's bounds.
    pub autoscaling: AutoscalerDefaults,
}

/// Runs the gateway until `shutdown` resolves; `on_ready` gets the bound address.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
    on_ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> anyhow::Result<()> {
    let config_dir = config
        .config_dir
        .canonicalize()
        .with_context(|| format!("config folder {}", config.config_dir.display()))?;
    let state_file = config
        .state_file
        .clone()
        .unwrap_or_else(|| config_dir.join(".infergate/state.json"));
    let binary = match &config.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("cannot find the infergate executable")?,
    };
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("cannot listen on {}", config.http))?;
    let addr = listener.local_addr()?;

    let (inbox_tx, inbox_rx) = mpsc::channel::<Msg>(1024);
    let (pod_tx, mut pod_rx) = mpsc::channel(1024);
    let pods_config = LocalPodsConfig {
        transport: config.pod_transport,
        ..LocalPodsConfig::default()
    };
    let pods = Arc::new(LocalPods::new(binary, pod_tx, pods_config));
    let metrics = Arc::new(Metrics::new());
    let monitor = Monitor::new(MonitorConfig::default(), metrics.registry())
        .context("cannot start monitoring")?;
    let controller = Controller::new(
        ControllerConfig {
            domain: config.domain.clone(),
            state_file,
            predictor_workers: config.predictor_workers,
            drain_timeout: config.drain_timeout,
            url_scheme: "http".into(),
            autoscaling: config.autoscaling.clone(),
            transformers: transformer_engine(),
        },
        Store::new(&config_dir),
        Arc::clone(&pods),
        inbox_tx.clone(),
    )
    .with_monitor(monitor.clone());
    let published = controller.published();
    let control = tokio::spawn(controller.run(inbox_rx));
    let forward_pods = {
        let inbox = inbox_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = pod_rx.recv().await {
                if inbox.send(Msg::Pod(event)).await.is_err() {
                    break;
                }
            }
        })
    };
    let _watcher = watch(&config_dir, inbox_tx.clone())?;

    let admin = Admin {
        config_dir: config_dir.clone(),
        views: Arc::clone(&published.views),
        controller: inbox_tx.clone(),
        max_body_bytes: config.max_body_bytes,
    };
    let metrics_server = match config.metrics {
        Some(at) => {
            let (metrics, views) = (Arc::clone(&metrics), Arc::clone(&published.views));
            let render = move || metrics.render(&views.load());
            Some(infergate_monitor::standalone::serve_metrics(at, render).await?)
        }
        None => None,
    };
    let ingress = Arc::new(Ingress {
        admin,
        proxy: Proxy::new(ProxyConfig {
            max_body_bytes: config.max_body_bytes,
            ..ProxyConfig::default()
        }),
        routes: Arc::clone(&published.routes),
        metrics,
        monitor,
    });
    let handler = move |req| Arc::clone(&ingress).handle(req);
    tracing::info!(address = %addr, config = %config_dir.display(), "Gateway listening.");
    on_ready(addr, metrics_server.as_ref().map(|(_, at)| *at));
    infergate_predictor::http::serve(listener, handler, shutdown, config.drain_timeout).await;

    if let Some((server, _)) = metrics_server {
        server.abort();
    }
    tracing::info!("Stopping predictor pods.");
    pods.shutdown().await;
    drop(inbox_tx);
    control.abort();
    forward_pods.abort();
    Ok(())
}

/// The engine WebAssembly transformers run on; without one, revisions with a transformer fail
/// and every other model is served as usual.
fn transformer_engine() -> Option<infergate_transformer::Engine> {
    infergate_transformer::Engine::default_engine()
        .inspect_err(|e| {
            tracing::error!(error = %e, "Cannot start the WebAssembly engine; transformers are disabled.");
        })
        .ok()
}

/// Watches the folder; each burst of changes to YAML files becomes one `Reload`.
fn watch(
    dir: &std::path::Path,
    inbox: mpsc::Sender<Msg>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only changes: reading the files (an Access event) must not trigger another reload.
        if let Ok(event) = event
            && !event.kind.is_access()
            && !event.kind.is_other()
            && event.paths.iter().any(|p| {
                p.extension().is_some_and(|e| e == "yaml" || e == "yml") || is_config_file(p)
            })
        {
            let _ = tx.try_send(());
        }
    })
    .context("cannot watch the config folder")?;
    watcher
        .watch(dir, notify::RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Editors write in several steps; let the burst settle, then reload once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            while rx.try_recv().is_ok() {}
            if inbox.send(Msg::Reload { done: None }).await.is_err() {
                break;
            }
        }
    });
    Ok(watcher)
}
