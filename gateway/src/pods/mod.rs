//! Predictor pods: the processes that serve one revision's model, and the supervisors that
//! start, watch, restart and stop them.
//!
//! ```text
//!  gateway controller ──start_replica / stop_replica──▶ Orchestrator (LocalPods)
//!         ▲                                                │ one supervisor task per replica
//!         └────── PodEvent: Ready / Exited / Failed ◀──────┤
//!                                                          ▼
//!                      `infergate predictor ARGS --http-port 0 --host 127.0.0.1`
//! ```
//!
//! The children's stdout and stderr lines are logged under the `infergate::pod` target, at the
//! level the child wrote (`RUST_LOG=infergate::pod=warn` hides the chatter).
//!
//! [`LocalPods`] runs every replica as a child process of the gateway's own binary; a
//! Kubernetes orchestrator (a Deployment per revision) will implement the same
//! [`Orchestrator`] trait later.
//!
//! Invariants: a replica is reported [`PodEvent::Failed`] at most once and is then never
//! restarted; a replica being stopped is never restarted and produces no event; every wait
//! (readiness, stop, restart backoff) is bounded by [`LocalPodsConfig`].

mod backoff;
mod child;
mod local;
mod supervisor;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;

use infergate_predictor::http::ListenAddr;

pub use self::local::{LocalPods, LocalPodsConfig, PodTransport};

/// Set in a pod's environment: its logs go to the gateway, which adds the timestamp, so the
/// predictor writes lines without one (`LEVEL message fields`).
pub const POD_LOGS_ENV: &str = "INFERGATE_POD_LOGS";

/// What to run for one revision.
#[derive(Clone, Debug)]
pub struct PodTemplate {
    /// The revision every replica of this template belongs to, e.g. `iris-predictor-00001`.
    pub revision: String,
    /// The predictor's flags: everything after `predictor`, without `--http-port` and
    /// `--host` (the orchestrator picks those).
    pub args: Vec<String>,
}

/// What happened to a replica, reported on the orchestrator's event channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodEvent {
    /// A replica printed its ready line: it serves the model at `addr`.
    Ready {
        /// The replica's revision.
        revision: String,
        /// The replica's index within its revision.
        replica: u32,
        /// Where the replica serves HTTP: loopback TCP or a Unix socket.
        addr: ListenAddr,
    },
    /// A replica that had been ready exited unexpectedly (or one of its restarts failed before
    /// becoming ready); it will be restarted after a backoff.
    Exited {
        /// The replica's revision.
        revision: String,
        /// The replica's index within its revision.
        replica: u32,
        /// Why: the child's `error: ...` line, its last stderr lines, or its exit status.
        message: String,
    },
    /// A replica exited, or was killed, before ever becoming ready (the model does not load).
    /// It is not restarted.
    Failed {
        /// The replica's revision.
        revision: String,
        /// The replica's index within its revision.
        replica: u32,
        /// Why: the child's `error: ...` line (without `error: `), its last stderr lines, its
        /// exit status, or `did not become ready within ...`.
        message: String,
    },
}

/// A boxed future, so that [`Orchestrator`] can be used as `dyn Orchestrator`.
pub type BoxFuture<'a, T = ()> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs the replicas of revisions: the seam between the gateway's control loop and where pods
/// actually run (local processes now, Kubernetes Deployments later).
///
/// Implementations report what happens to replicas as [`PodEvent`]s on a channel they are
/// given at construction.
pub trait Orchestrator: Send + Sync + 'static {
    /// Starts supervising replica `replica` of `template.revision`; returns at once. Starting a
    /// replica that is already supervised does nothing.
    fn start_replica(&self, template: &PodTemplate, replica: u32);

    /// Stops a replica (gracefully, then forcibly) and waits until it is gone. It is not
    /// restarted and produces no event. Stopping an unknown replica does nothing.
    fn stop_replica<'a>(&'a self, revision: &'a str, replica: u32) -> BoxFuture<'a>;

    /// Stops every replica, in parallel, and refuses to start new ones.
    fn shutdown(&self) -> BoxFuture<'_>;

    /// The replicas currently supervised, as `(revision, replica)`, sorted.
    fn running(&self) -> Vec<(String, u32)>;
}
