//! The control loop: one task owns every InferenceService's revisions and replicas.
//!
//! ```text
//! config folder --(watch)--> Reload ---\
//! local pods  -----------> PodEvent ----> Controller (owns all state) --> ArcSwap<RouteTable> (hot path)
//! drain tasks -----------> Stopped -----/                              \-> ArcSwap<Views>      (admin API)
//! ```
//! Nothing else mutates this state, and the request path only ever loads the published
//! tables: it never waits on the controller.

mod revision;
mod scale;
mod status;
pub mod traffic;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use infergate_k8s::InferenceService;
use infergate_monitor::{ModelMonitoring, Monitor};
use tokio::sync::mpsc;

use self::revision::{
    Replica, Revision, RevisionRecord, RevisionState, now_unix, revision_name, spec_of,
};
use self::traffic::{Rollout, Share};
use crate::pods::{LocalPods, PodEvent};
use crate::proxy::Endpoint;
use crate::route::{RevisionRoute, RouteTable, ServiceRoute};
use crate::store::{Key, Snapshot, Source, Store};

pub use self::scale::AutoscalerDefaults;
pub use self::status::{RevisionView, ServiceView, Views};

/// Default request timeout when the YAML sets none (DESIGN.md §12).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the controller runs revisions.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// The domain of `{name}.{namespace}.{domain}` hosts.
    pub domain: String,
    /// Where revision history survives restarts.
    pub state_file: PathBuf,
    /// `--workers` for each predictor replica (default: the predictor's own default).
    pub predictor_workers: Option<usize>,
    /// How long a replica leaving the traffic may take to finish its requests.
    pub drain_timeout: Duration,
    /// The URL clients use, for `status.url` (`http://{name}.{namespace}.{domain}`).
    pub url_scheme: String,
    /// Cluster-wide autoscaler settings and the activator's bounds.
    pub autoscaling: AutoscalerDefaults,
    /// Compiles and runs WebAssembly transformers (`None`: revisions with one fail).
    pub transformers: Option<infergate_transformer::Engine>,
}

/// What the controller publishes.
#[derive(Clone)]
pub struct Published {
    pub routes: Arc<ArcSwap<RouteTable>>,
    pub views: Arc<ArcSwap<Views>>,
}

/// A message to the controller.
#[derive(Debug)]
pub enum Msg {
    /// The config folder changed: reload it.
    Reload {
        /// Answered once the reload is done and published (the admin API waits on it, so a
        /// `get` right after an `apply` already shows the change).
        done: Option<tokio::sync::oneshot::Sender<()>>,
    },
    Pod(PodEvent),
    /// Time to sample the load (and, every tick interval, to decide replicas).
    Tick,
    /// A request is waiting for a revision with no capacity: decide its replicas now.
    Poke {
        /// The revision's orchestrator name.
        pod: String,
    },
    /// A drained replica has stopped.
    Stopped {
        revision: String,
        replica: u32,
    },
}

struct Service {
    source: Source,
    revisions: Vec<Revision>,
    rollout: Rollout,
    traffic: Vec<Share>,
    /// Its `monitoring.infergate.dev/*` settings, read when its file changes.
    monitoring: ModelMonitoring,
}

/// The control loop's state.
pub struct Controller {
    config: ControllerConfig,
    store: Store,
    pods: Arc<LocalPods>,
    services: BTreeMap<Key, Service>,
    /// Revision history of services, including ones not (yet) in the folder after a restart.
    history: BTreeMap<Key, History>,
    published: Published,
    inbox: mpsc::Sender<Msg>,
    last_saved: String,
    /// The decider's clock starts here.
    started: tokio::time::Instant,
    /// Told which models exist, and their settings, on every publish.
    monitor: Option<Monitor>,
}

/// What is persisted per InferenceService.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct History {
    revisions: Vec<RevisionRecord>,
    rollout: Rollout,
}

// === impl Controller ===

impl Controller {
    /// A controller over `store`, with its published tables empty.
    pub fn new(
        config: ControllerConfig,
        store: Store,
        pods: Arc<LocalPods>,
        inbox: mpsc::Sender<Msg>,
    ) -> Self {
        let history = load_history(&config.state_file);
        let published = Published {
            routes: Arc::new(ArcSwap::from_pointee(
                RouteTable::builder(&config.domain).build(),
            )),
            views: Arc::new(ArcSwap::from_pointee(Views::default())),
        };
        Controller {
            config,
            store,
            pods,
            services: BTreeMap::new(),
            history,
            published,
            inbox,
            last_saved: String::new(),
            started: tokio::time::Instant::now(),
            monitor: None,
        }
    }

    /// Records prediction and feature distributions of every served model with `monitor`.
    pub fn with_monitor(mut self, monitor: Monitor) -> Self {
        self.monitor = Some(monitor);
        self
    }

    pub fn published(&self) -> Published {
        self.published.clone()
    }

    /// Runs until `inbox` closes.
    pub async fn run(mut self, mut inbox: mpsc::Receiver<Msg>) {
        self.reload();
        let ticker = spawn_ticker(self.inbox.clone(), self.config.autoscaling.sample_interval);
        while let Some(msg) = inbox.recv().await {
            match msg {
                Msg::Tick => self.tick(None),
                Msg::Poke { pod } => self.tick(Some(&pod)),
                Msg::Reload { done } => {
                    self.reload();
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Msg::Pod(event) => self.on_pod(event),
                Msg::Stopped { revision, replica } => {
                    tracing::debug!(%revision, replica, "Replica stopped.");
                }
            }
        }
        ticker.abort();
    }

    /// Samples every revision's load; decides replicas where a tick is due, or at once for the
    /// `poked` revision; reconciles the services whose replicas change.
    fn tick(&mut self, poked: Option<&str>) {
        let now = self.started.elapsed();
        let mut changed = Vec::new();
        for (key, service) in &mut self.services {
            for revision in &mut service.revisions {
                if revision.is_failed() || revision.state == RevisionState::Stopped {
                    continue;
                }
                let ready = revision.ready_replicas() as u32;
                let force = poked == Some(revision.pod.as_str());
                let Some(scaler) = &mut revision.scaler else {
                    continue;
                };
                let before = scaler.desired;
                scaler.sample(now);
                let Some(decision) = scaler.maybe_decide(now, ready, force) else {
                    continue;
                };
                if decision.desired_replicas != before {
                    tracing::info!(
                        revision = %revision.record.name,
                        from = before,
                        to = decision.desired_replicas,
                        ready,
                        panic = decision.panic,
                        stable = decision.stable_value,
                        "Scaling revision."
                    );
                    changed.push(key.clone());
                }
            }
        }
        changed.dedup();
        for key in changed {
            self.reconcile(&key);
        }
    }

    /// A revision of `isvc`, with its activator's pokes forwarded to this controller.
    fn new_revision(&self, record: RevisionRecord, isvc: &InferenceService) -> Revision {
        let (revision, pokes) = Revision::new(
            record,
            isvc,
            self.store.dir(),
            self.config.predictor_workers,
            &self.config.autoscaling,
            self.config.transformers.as_ref(),
        );
        if let Some(mut pokes) = pokes {
            let inbox = self.inbox.clone();
            let pod = revision.pod.clone();
            tokio::spawn(async move {
                while pokes.recv().await.is_some() {
                    let poke = Msg::Poke { pod: pod.clone() };
                    if inbox.send(poke).await.is_err() {
                        break;
                    }
                }
            });
        }
        revision
    }

    fn reload(&mut self) {
        let Snapshot { services } = self.store.reload();
        let removed: Vec<Key> = self
            .services
            .keys()
            .filter(|k| !services.contains_key(*k))
            .cloned()
            .collect();
        for key in removed {
            if let Some(service) = self.services.remove(&key) {
                tracing::info!(namespace = %key.0, name = %key.1, "InferenceService deleted; stopping its revisions.");
                for mut revision in service.revisions {
                    let replicas = take_replicas(&mut revision, usize::MAX);
                    self.drain(&revision.pod, replicas);
                }
            }
            self.history.remove(&key);
        }
        for (key, source) in services {
            match self.services.get_mut(&key) {
                Some(service) => {
                    service.monitoring = monitoring_of(&source, self.store.dir());
                    service.source = source;
                }
                None => {
                    let history = self.history.get(&key).cloned().unwrap_or_default();
                    let revisions = history
                        .revisions
                        .into_iter()
                        .map(|record| {
                            let mut rev = self.new_revision(record, &source.isvc);
                            // Only the latest revision's spec is the current YAML; older ones
                            // restart as history until the rollout needs them again.
                            rev.state = RevisionState::Stopped;
                            rev
                        })
                        .collect();
                    self.services.insert(
                        key.clone(),
                        Service {
                            monitoring: monitoring_of(&source, self.store.dir()),
                            source,
                            revisions,
                            rollout: history.rollout,
                            traffic: Vec::new(),
                        },
                    );
                }
            }
            self.reconcile(&key);
        }
        self.publish();
    }

    /// Brings one service's revisions, replicas and traffic in line with its YAML.
    fn reconcile(&mut self, key: &Key) {
        let Some(service) = self.services.get_mut(key) else {
            return;
        };
        let isvc = &service.source.isvc;
        let spec = spec_of(isvc);
        let latest_matches = service
            .revisions
            .last()
            .is_some_and(|r| r.record.spec == spec);
        if !latest_matches {
            let number = service.revisions.last().map_or(1, |r| r.record.number + 1);
            let record = RevisionRecord {
                name: revision_name(isvc.name(), number),
                number,
                spec,
                created: now_unix(),
            };
            let isvc = isvc.clone();
            let revision = self.new_revision(record, &isvc);
            tracing::info!(revision = %revision.name(), "Created revision.");
            let service = self.services.get_mut(key).expect("looked up above");
            service.revisions.push(revision);
        }
        let service = self.services.get_mut(key).expect("looked up above");
        let isvc = &service.source.isvc;
        if let Some(invalid) = &service.source.invalid {
            let latest = service
                .revisions
                .last_mut()
                .expect("a revision was just ensured");
            latest.state = RevisionState::Failed {
                reason: "InvalidSpec",
                message: invalid.clone(),
            };
        }
        // A restarted gateway finds its latest revision Stopped (from history): it runs again.
        if let Some(latest) = service.revisions.last_mut()
            && latest.state == RevisionState::Stopped
        {
            latest.state = RevisionState::Loading;
        }

        let latest_ready = service
            .revisions
            .iter()
            .rev()
            .find(|r| r.ever_ready && !r.is_failed() && r.state != RevisionState::Stopped)
            .map(|r| r.record.name.clone());
        let canary = isvc
            .spec
            .predictor
            .canary_traffic_percent
            .map(|p| p.clamp(0, 100) as u32);
        service.traffic = traffic::plan(&mut service.rollout, latest_ready.as_deref(), canary);
        // Traffic moves only to Ready revisions: a stable revision that is not (yet) Ready (after
        // a restart, or a rollback to a retired revision) leaves its share to the latest ready
        // one until it is. It keeps its entry, at 0%, so that it runs.
        let revisions = &service.revisions;
        let routable = |name: &str| {
            revisions.iter().any(|r| {
                r.name() == name
                    && r.ever_ready
                    && !r.is_failed()
                    && r.state != RevisionState::Stopped
            })
        };
        let waiting: u32 = service
            .traffic
            .iter_mut()
            .filter(|s| !routable(&s.revision))
            .map(|s| std::mem::take(&mut s.percent))
            .sum();
        if let Some(latest) = service.traffic.iter_mut().find(|s| s.latest) {
            latest.percent += waiting;
        }

        // Which revisions run: the traffic, the latest (while it loads) and the rolled-out one
        // (the stable revision a restarted canary needs). The revision a blue/green rollout
        // replaced drains and stops (DESIGN.md §4); a rollback starts it again.
        let mut active: BTreeSet<String> =
            service.traffic.iter().map(|s| s.revision.clone()).collect();
        active.extend(service.rollout.rolled_out.clone());
        if let Some(latest) = service.revisions.last() {
            active.insert(latest.record.name.clone());
        }
        let mut to_drain = Vec::new();
        for revision in &mut service.revisions {
            let is_active = active.contains(revision.name()) && !revision.is_failed();
            if is_active && revision.state == RevisionState::Stopped {
                revision.state = RevisionState::Loading;
                if let Some(scaler) = &mut revision.scaler {
                    scaler.reset();
                }
            }
            let desired = match is_active {
                true => revision.desired_replicas(),
                false => 0,
            };
            // Initial scale 0: a new revision is Ready at zero and starts on its first request.
            if is_active && desired == 0 && !revision.ever_ready && revision.template.is_some() {
                revision.state = RevisionState::Ready;
                revision.ever_ready = true;
            }
            let have = revision.replicas.len() as u32;
            if have < desired {
                if let Some(template) = &revision.template {
                    for _ in have..desired {
                        let replica = revision.next_replica;
                        revision.next_replica += 1;
                        revision.replicas.insert(replica, Replica::Starting);
                        self.pods.start_replica(template, replica);
                    }
                }
            } else if have > desired {
                let extra = take_replicas(revision, (have - desired) as usize);
                to_drain.push((revision.pod.clone(), extra));
            }
            if !is_active && revision.replicas.is_empty() && !revision.is_failed() {
                // Retired: it must load again (and be Ready again) before it takes traffic.
                revision.state = RevisionState::Stopped;
                revision.ever_ready = false;
            }
        }
        self.history.insert(
            key.clone(),
            History {
                revisions: service.revisions.iter().map(|r| r.record.clone()).collect(),
                rollout: service.rollout.clone(),
            },
        );
        // Publish before draining: a replica leaves the route table before it is stopped.
        self.publish();
        for (revision, replicas) in to_drain {
            self.drain(&revision, replicas);
        }
    }

    fn on_pod(&mut self, event: PodEvent) {
        let pod = match &event {
            PodEvent::Ready { revision, .. }
            | PodEvent::Exited { revision, .. }
            | PodEvent::Failed { revision, .. } => revision.clone(),
        };
        let Some((key, revision)) = self.find_revision(&pod) else {
            return;
        };
        let revision_name = revision.name().to_owned();
        let mut to_drain = Vec::new();
        match event {
            PodEvent::Ready { replica, addr, .. } => {
                if !revision.replicas.contains_key(&replica) {
                    return; // Stopped meanwhile; the drain takes care of it.
                }
                let endpoint = Endpoint::new(&revision_name, addr, revision.container_concurrency);
                revision.replicas.insert(replica, Replica::Ready(endpoint));
                let desired = revision.replicas.len();
                if revision.ready_replicas() == desired && !revision.is_failed() {
                    if !revision.ever_ready {
                        tracing::info!(revision = %revision_name, replicas = desired, "Revision ready.");
                    }
                    revision.state = RevisionState::Ready;
                    revision.ever_ready = true;
                }
            }
            PodEvent::Exited {
                replica, message, ..
            } => {
                tracing::warn!(revision = %revision_name, replica, %message, "Replica exited; restarting it.");
                if revision.replicas.contains_key(&replica) {
                    revision.replicas.insert(replica, Replica::Starting);
                }
                if revision.ready_replicas() < revision.replicas.len()
                    && revision.state == RevisionState::Ready
                {
                    revision.state = RevisionState::Loading;
                }
            }
            PodEvent::Failed {
                replica, message, ..
            } => {
                tracing::error!(revision = %revision_name, replica, %message, "Revision failed to load.");
                revision.state = RevisionState::Failed {
                    reason: "ModelLoadFailed",
                    message,
                };
                revision.replicas.remove(&replica);
                to_drain = take_replicas(revision, usize::MAX);
            }
        }
        self.drain(&pod, to_drain);
        self.reconcile(&key);
    }

    /// The revision whose replicas the orchestrator knows as `pod`.
    fn find_revision(&mut self, pod: &str) -> Option<(Key, &mut Revision)> {
        self.services.iter_mut().find_map(|(key, service)| {
            service
                .revisions
                .iter_mut()
                .find(|r| r.pod == pod)
                .map(|r| (key.clone(), r))
        })
    }

    /// Stops replicas (of the revision the orchestrator knows as `revision`) that already left
    /// the route table, once their in-flight requests finish.
    fn drain(&self, revision: &str, endpoints: Vec<(u32, Option<Arc<Endpoint>>)>) {
        if endpoints.is_empty() {
            return;
        }
        let pods = Arc::clone(&self.pods);
        let inbox = self.inbox.clone();
        let timeout = self.config.drain_timeout;
        let revision = revision.to_owned();
        tokio::spawn(async move {
            for (replica, endpoint) in endpoints {
                if let Some(endpoint) = endpoint {
                    wait_idle(&endpoint, timeout).await;
                }
                pods.stop_replica(&revision, replica).await;
                let _ = inbox
                    .send(Msg::Stopped {
                        revision: revision.clone(),
                        replica,
                    })
                    .await;
            }
        });
    }

    /// Builds and swaps in the route table and the views, and saves the history.
    fn publish(&mut self) {
        let mut routes = RouteTable::builder(&self.config.domain);
        let mut views = Views::default();
        for (key, service) in &self.services {
            let isvc = &service.source.isvc;
            let revision_routes: BTreeMap<&str, Arc<RevisionRoute>> = service
                .revisions
                .iter()
                .filter(|r| r.ever_ready && !r.is_failed() && r.state != RevisionState::Stopped)
                .map(|r| {
                    (
                        r.name(),
                        Arc::new(RevisionRoute {
                            name: r.name().to_owned(),
                            endpoints: r.endpoints(),
                            container_concurrency: r.container_concurrency,
                            scaling: r.scaler.as_ref().map(|s| Arc::clone(&s.shared)),
                            transformer: r.transformer.clone(),
                        }),
                    )
                })
                .collect();
            let traffic = service
                .traffic
                .iter()
                .filter_map(|s| {
                    revision_routes
                        .get(s.revision.as_str())
                        .map(|r| (Arc::clone(r), s.percent, s.tag.map(str::to_owned)))
                })
                .collect();
            let timeout = isvc.spec.predictor.timeout().unwrap_or(DEFAULT_TIMEOUT);
            routes = routes.service(ServiceRoute {
                namespace: key.0.clone(),
                name: key.1.clone(),
                timeout,
                tag_routing: isvc.tag_routing_enabled(),
                traffic,
                revisions: revision_routes.values().cloned().collect(),
            });
            views.services.insert(
                key.clone(),
                status::view(&self.config, service_parts(service)),
            );
        }
        self.published.routes.store(Arc::new(routes.build()));
        self.published.views.store(Arc::new(views));
        if let Some(monitor) = &self.monitor {
            monitor.configure(self.services.iter().map(|((namespace, name), service)| {
                (namespace.clone(), name.clone(), service.monitoring.clone())
            }));
        }
        // After the routes: a request the activator lets go finds the new replicas.
        for revision in self.services.values().flat_map(|s| &s.revisions) {
            if let Some(scaler) = &revision.scaler {
                let ready = revision.ready_replicas() as u32;
                let routable = revision.ever_ready && revision.state != RevisionState::Stopped;
                scaler
                    .shared
                    .set_cold(routable && revision.replicas.is_empty());
                let cc = u32::try_from(revision.container_concurrency).unwrap_or(u32::MAX);
                match &revision.state {
                    // It cannot start replicas: requests fail at once with the reason rather
                    // than wait out the activator's max wait.
                    RevisionState::Failed { message, .. } if ready == 0 => {
                        scaler.shared.activator.unavailable(message);
                    }
                    _ => scaler.shared.activator.capacity_changed(ready, cc),
                }
            }
        }
        self.save_history();
    }

    fn save_history(&mut self) {
        let state: BTreeMap<String, &History> = self
            .history
            .iter()
            .map(|((ns, name), h)| (format!("{ns}/{name}"), h))
            .collect();
        let text = serde_json::to_string_pretty(&state).expect("history serialises");
        if text == self.last_saved {
            return;
        }
        if let Some(dir) = self.config.state_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match crate::store::write_atomic(&self.config.state_file, &text) {
            Ok(()) => self.last_saved = text,
            Err(e) => {
                tracing::error!(file = %self.config.state_file.display(), error = %e, "Cannot save revision history.")
            }
        }
    }
}

/// What status rendering needs of a service.
fn service_parts(service: &Service) -> status::ServiceParts<'_> {
    status::ServiceParts {
        source: &service.source,
        revisions: &service.revisions,
        rollout: &service.rollout,
        traffic: &service.traffic,
    }
}

/// Removes up to `n` replicas (the newest first), returning them with their endpoints.
fn take_replicas(revision: &mut Revision, n: usize) -> Vec<(u32, Option<Arc<Endpoint>>)> {
    let numbers: Vec<u32> = revision.replicas.keys().rev().take(n).copied().collect();
    numbers
        .into_iter()
        .filter_map(|r| {
            revision.replicas.remove(&r).map(|replica| match replica {
                Replica::Ready(endpoint) => (r, Some(endpoint)),
                Replica::Starting => (r, None),
            })
        })
        .collect()
}

fn load_history(path: &std::path::Path) -> BTreeMap<Key, History> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<BTreeMap<String, History>>(&text) {
        Ok(map) => map
            .into_iter()
            .filter_map(|(k, h)| {
                k.split_once('/')
                    .map(|(ns, n)| ((ns.to_owned(), n.to_owned()), h))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "Ignoring unreadable revision history.");
            BTreeMap::new()
        }
    }
}

/// The monitoring settings of a service; invalid ones are reported and replaced by the defaults.
fn monitoring_of(source: &Source, config_dir: &std::path::Path) -> ModelMonitoring {
    ModelMonitoring::from_inference_service(&source.isvc, config_dir).unwrap_or_else(|e| {
        tracing::warn!(
            file = %source.file.display(),
            name = %source.isvc.name(),
            error = %e,
            "Invalid monitoring settings; monitoring this model with the defaults."
        );
        ModelMonitoring::default()
    })
}

/// Sends [`Msg::Tick`] every `every`; a tick the controller has not taken yet is not repeated.
fn spawn_ticker(inbox: mpsc::Sender<Msg>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match inbox.try_send(Msg::Tick) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    })
}

/// Waits until no request is in flight to `endpoint` (bounded by `timeout`). A short grace first
/// lets requests that picked it from the previous route table register.
async fn wait_idle(endpoint: &Endpoint, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while endpoint.outstanding() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
