//! [`LocalPods`]: every replica is a child process of this binary (`infergate predictor`),
//! watched by its own supervisor task.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::supervisor::Supervisor;
use super::{BoxFuture, Orchestrator, PodEvent, PodTemplate};

/// How local pods are started, restarted and stopped.
#[derive(Clone, Debug)]
pub struct LocalPodsConfig {
    /// How long a predictor may take to load its model and print its ready line; a slower one
    /// is killed and reported failed. Default: 300 s.
    pub ready_timeout: Duration,
    /// How long a predictor may drain in-flight requests after SIGTERM before it gets SIGKILL.
    /// Default: 35 s (the predictor's own drain limit, 30 s, plus slack).
    pub stop_timeout: Duration,
    /// The delay before the first restart of a crashed replica; it doubles with every further
    /// crash. Default: 100 ms.
    pub backoff_initial: Duration,
    /// The longest delay between restarts. Default: 30 s.
    pub backoff_max: Duration,
    /// How long a restarted replica must stay up for its next crash to be treated as the first
    /// again (backoff back to `backoff_initial`). Default: 60 s.
    pub backoff_reset_after: Duration,
    /// How the gateway reaches the replicas. Default: [`PodTransport::Unix`].
    pub transport: PodTransport,
}

/// How the gateway reaches its local replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodTransport {
    /// A Unix domain socket per replica process (`--unix-socket PATH`) in a private runtime
    /// folder (mode 0700) that the gateway creates and removes. The default: it measured
    /// faster than loopback TCP (BENCHMARKS.md, transport and gateway sections).
    #[default]
    Unix,
    /// Loopback TCP on a free port (`--http-port 0 --host 127.0.0.1`).
    Tcp,
}

/// Runs replicas as local child processes of `binary` (normally this very executable).
///
/// Cloning gives another handle to the same pods. When the last handle is dropped, every
/// replica is stopped in the background; call [`LocalPods::shutdown`] to wait for that.
#[derive(Clone, Debug)]
pub struct LocalPods {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    binary: Arc<PathBuf>,
    events: mpsc::Sender<PodEvent>,
    config: LocalPodsConfig,
    registry: Arc<Registry>,
    sockets: Arc<RuntimeDir>,
}

/// The private folder of the replicas' Unix sockets: created (mode 0700) when the first socket
/// is needed, removed by [`LocalPods::shutdown`] or once every supervisor is gone.
#[derive(Debug, Default)]
pub(super) struct RuntimeDir {
    dir: OnceLock<Result<PathBuf, String>>,
    next: AtomicU64,
}

/// The supervised replicas. Supervisors hold it weakly, so dropping the last [`LocalPods`]
/// drops every stop sender, which stops every supervisor.
#[derive(Debug, Default)]
pub(super) struct Registry {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Set by `shutdown`: no replica starts any more.
    closed: bool,
    next_id: u64,
    replicas: HashMap<(String, u32), Supervised>,
}

/// A running supervisor task and the way to stop it.
#[derive(Debug)]
struct Supervised {
    id: u64,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A `--pod-transport` value that is neither `unix` nor `tcp`.
#[derive(Debug, thiserror::Error)]
#[error("pod transport `{0}` is unknown: use `unix` or `tcp`")]
pub struct PodTransportError(String);

// === impl PodTransport ===

impl std::str::FromStr for PodTransport {
    type Err = PodTransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unix" => Ok(PodTransport::Unix),
            "tcp" => Ok(PodTransport::Tcp),
            other => Err(PodTransportError(other.to_owned())),
        }
    }
}

impl std::fmt::Display for PodTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PodTransport::Unix => "unix",
            PodTransport::Tcp => "tcp",
        })
    }
}

// === impl LocalPodsConfig ===

impl Default for LocalPodsConfig {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(300),
            stop_timeout: Duration::from_secs(35),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            backoff_reset_after: Duration::from_secs(60),
            transport: PodTransport::default(),
        }
    }
}

// === impl LocalPods ===

impl LocalPods {
    /// Pods that run `binary predictor ...` and report on `events`.
    pub fn new(binary: PathBuf, events: mpsc::Sender<PodEvent>, config: LocalPodsConfig) -> Self {
        let registry = Arc::new(Registry::default());
        Self {
            inner: Arc::new(Inner {
                binary: Arc::new(binary),
                events,
                config,
                registry,
                sockets: Arc::new(RuntimeDir::default()),
            }),
        }
    }

    /// Starts supervising replica `replica` of `template.revision` and returns at once; its
    /// [`PodEvent`]s follow. Starting a replica that is already supervised, or starting one
    /// after [`LocalPods::shutdown`], does nothing.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn start_replica(&self, template: &PodTemplate, replica: u32) {
        let inner = &self.inner;
        let revision = &template.revision;
        // Held until the supervisor is registered: one that fails at once deregisters itself
        // under this lock, so it must find its entry already there.
        let mut state = inner.registry.lock();
        if state.closed {
            tracing::warn!(%revision, replica, "Not starting a predictor: shutting down.");
            return;
        }
        let key = (revision.clone(), replica);
        if state.replicas.contains_key(&key) {
            tracing::debug!(%revision, replica, "Predictor already supervised.");
            return;
        }
        let id = state.next_id;
        state.next_id += 1;
        let supervisor = Supervisor {
            binary: inner.binary.clone(),
            template: template.clone(),
            replica,
            config: inner.config.clone(),
            events: inner.events.clone(),
            registry: Arc::downgrade(&inner.registry),
            sockets: Arc::clone(&inner.sockets),
            id,
        };
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(supervisor.run(stop_rx));
        state.replicas.insert(key, Supervised { id, stop, task });
    }

    /// Stops a replica: SIGTERM, a wait bounded by [`LocalPodsConfig::stop_timeout`], then
    /// SIGKILL. Returns once the process is gone. It is not restarted and produces no event.
    /// Stopping a replica that is not supervised (or is already being stopped) does nothing.
    pub async fn stop_replica(&self, revision: &str, replica: u32) {
        let supervised = self
            .inner
            .registry
            .lock()
            .replicas
            .remove(&(revision.to_owned(), replica));
        if let Some(supervised) = supervised {
            let _ = supervised.stop.send(());
            join(supervised.task, revision, replica).await;
        }
    }

    /// Stops every replica in parallel and waits until all are gone; no replica starts after.
    pub async fn shutdown(&self) {
        let replicas: Vec<_> = {
            let mut state = self.inner.registry.lock();
            state.closed = true;
            state.replicas.drain().collect()
        };
        tracing::info!(replicas = replicas.len(), "Stopping every predictor.");
        let mut tasks = Vec::with_capacity(replicas.len());
        for ((revision, replica), supervised) in replicas {
            let _ = supervised.stop.send(());
            tasks.push((supervised.task, revision, replica));
        }
        // Every supervisor is stopping concurrently already; wait for each in turn.
        for (task, revision, replica) in tasks {
            join(task, &revision, replica).await;
        }
        self.inner.sockets.remove();
    }

    /// The replicas currently supervised, as `(revision, replica)`, sorted. A replica that
    /// failed is no longer listed by the time its [`PodEvent::Failed`] arrives.
    pub fn running(&self) -> Vec<(String, u32)> {
        let mut running: Vec<_> = self
            .inner
            .registry
            .lock()
            .replicas
            .keys()
            .cloned()
            .collect();
        running.sort();
        running
    }
}

impl Orchestrator for LocalPods {
    fn start_replica(&self, template: &PodTemplate, replica: u32) {
        LocalPods::start_replica(self, template, replica);
    }

    fn stop_replica<'a>(&'a self, revision: &'a str, replica: u32) -> BoxFuture<'a> {
        Box::pin(LocalPods::stop_replica(self, revision, replica))
    }

    fn shutdown(&self) -> BoxFuture<'_> {
        Box::pin(LocalPods::shutdown(self))
    }

    fn running(&self) -> Vec<(String, u32)> {
        LocalPods::running(self)
    }
}

/// Waits for a supervisor task to finish.
async fn join(task: JoinHandle<()>, revision: &str, replica: u32) {
    if let Err(e) = task.await
        && e.is_panic()
    {
        tracing::error!(%revision, replica, error = %e, "Predictor supervisor panicked.");
    }
}

// === impl Registry ===

impl Registry {
    /// Removes supervisor `id`'s registration, if it is still the one for this replica, and
    /// returns its stop sender: dropping that stops the supervisor, so it keeps it until done.
    pub(super) fn remove(
        &self,
        revision: &str,
        replica: u32,
        id: u64,
    ) -> Option<oneshot::Sender<()>> {
        let mut state = self.lock();
        let key = (revision.to_owned(), replica);
        if state
            .replicas
            .get(&key)
            .is_some_and(|supervised| supervised.id == id)
        {
            return state
                .replicas
                .remove(&key)
                .map(|supervised| supervised.stop);
        }
        None
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (each change is one map operation).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl RuntimeDir ===

/// Longest runtime folder path: a socket path (folder + `/N.sock`) must fit `sun_path`, 108
/// bytes with its NUL.
const MAX_RUNTIME_DIR_BYTES: usize = 80;

impl RuntimeDir {
    /// A fresh socket path for one predictor process (never reused, so a process that is still
    /// exiting can never remove its successor's socket).
    pub(super) fn socket_path(&self) -> Result<PathBuf, String> {
        let dir = self
            .dir
            .get_or_init(create_runtime_dir)
            .as_ref()
            .map_err(Clone::clone)?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(dir.join(format!("{n}.sock")))
    }

    /// Removes the folder and every socket left in it (by a killed predictor).
    fn remove(&self) {
        if let Some(Ok(dir)) = self.dir.get()
            && let Err(e) = std::fs::remove_dir_all(dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "Cannot remove the pods' socket folder.");
        }
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Creates `infergate-PID-N` with mode 0700 in `$XDG_RUNTIME_DIR`, else the temporary folder,
/// else `/tmp`: the first whose path is short enough for socket paths.
fn create_runtime_dir() -> Result<PathBuf, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let bases = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(std::env::temp_dir()),
        Some(PathBuf::from("/tmp")),
    ];
    let mut last_error = String::from("no candidate folder");
    for base in bases.into_iter().flatten().filter(|b| b.is_dir()) {
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("infergate-{}-{n}", std::process::id()));
            if dir.as_os_str().len() > MAX_RUNTIME_DIR_BYTES {
                last_error = format!("{} is too long for socket paths", dir.display());
                break;
            }
            match create_private_dir(&dir) {
                Ok(()) => {
                    tracing::debug!(dir = %dir.display(), "Created the pods' socket folder.");
                    return Ok(dir);
                }
                // Left by an earlier process with the same pid: never reuse it, take the next.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    last_error = format!("cannot create {}: {e}", dir.display());
                    break;
                }
            }
        }
    }
    Err(format!(
        "cannot create a folder for the pods' Unix sockets ({last_error}); \
         `--pod-transport tcp` avoids them"
    ))
}

/// Creates `dir` (not its parents), readable and writable by this user only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    // The umask can only remove bits; make sure none were added by an odd default ACL.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
