//! The supervisor of one replica: a task that owns the replica's child process, reports what
//! happens to it, restarts it after a crash, and stops it when asked.
//!
//! ```text
//!  spawn ──▶ wait ready ──▶ Ready event ──▶ wait exit ──▶ Exited event ──▶ backoff ──▶ spawn ...
//!               │ (exit or timeout, never ready before)
//!               └──▶ Failed event, end
//!  stop (at any await): SIGTERM, bounded wait, SIGKILL; no event, no restart
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::child::{Child, Startup};
use super::local::{LocalPodsConfig, PodTransport, Registry, RuntimeDir};
use super::{PodEvent, PodTemplate};

/// Everything one replica's supervisor task needs.
#[derive(Debug)]
pub(super) struct Supervisor {
    pub(super) binary: Arc<PathBuf>,
    pub(super) template: PodTemplate,
    pub(super) replica: u32,
    pub(super) config: LocalPodsConfig,
    pub(super) events: mpsc::Sender<PodEvent>,
    /// Where this supervisor is registered, to deregister itself when its replica fails.
    pub(super) registry: Weak<Registry>,
    /// Where Unix sockets go (with [`PodTransport::Unix`]).
    pub(super) sockets: Arc<RuntimeDir>,
    /// This supervisor's registration, so it never removes a newer one for the same replica.
    pub(super) id: u64,
}

/// The end of one process of the replica.
enum Run {
    /// The replica was asked to stop; the process is gone.
    Stopped,
    /// The process ended on its own (or was killed for not becoming ready).
    Ended {
        /// How long it had been ready; `None`: never.
        ready_for: Option<Duration>,
        message: String,
    },
}

// === impl Run ===

impl Run {
    /// A process that ended before it ever became ready.
    fn not_ready(message: String) -> Self {
        Self::Ended {
            ready_for: None,
            message,
        }
    }
}

// === impl Supervisor ===

impl Supervisor {
    /// Supervises the replica until `stop` fires (or its sender is dropped) or the replica fails.
    pub(super) async fn run(self, mut stop: oneshot::Receiver<()>) {
        let config = &self.config;
        let mut backoff = Backoff::new(
            config.backoff_initial,
            config.backoff_max,
            config.backoff_reset_after,
        );
        let mut ever_ready = false;
        loop {
            let (ready_for, message) = match self.run_once(&mut stop).await {
                Run::Stopped => return,
                Run::Ended { ready_for, message } => (ready_for, message),
            };
            ever_ready |= ready_for.is_some();
            let (revision, replica) = (&self.template.revision, self.replica);
            if !ever_ready {
                tracing::warn!(%revision, replica, reason = %message, "Predictor failed to start.");
                // Deregistered first, so `running()` no longer lists it when the event arrives.
                let _stop_sender = self.deregister();
                let event = PodEvent::Failed {
                    revision: revision.clone(),
                    replica,
                    message,
                };
                self.emit(event, &mut stop).await;
                return;
            }
            let delay = backoff.after_exit(ready_for);
            tracing::warn!(
                %revision, replica, reason = %message, ?delay, "Predictor exited; restarting."
            );
            let event = PodEvent::Exited {
                revision: revision.clone(),
                replica,
                message,
            };
            if !self.emit(event, &mut stop).await {
                return;
            }
            // The backoff sleep is the condition awaited here; a stop cuts it short.
            tokio::select! {
                biased;
                _ = &mut stop => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Runs one process of the replica, from spawn to exit (or stop).
    async fn run_once(&self, stop: &mut oneshot::Receiver<()>) -> Run {
        let (revision, replica) = (&self.template.revision, self.replica);
        let socket = match self.config.transport {
            PodTransport::Tcp => None,
            PodTransport::Unix => match self.sockets.socket_path() {
                Ok(path) => Some(path),
                Err(message) => return Run::not_ready(message),
            },
        };
        let mut child = match Child::spawn(&self.binary, &self.template, replica, socket.as_deref())
        {
            Ok(child) => child,
            Err(e) => {
                let message = format!("cannot start {}: {e}", self.binary.display());
                return Run::not_ready(message);
            }
        };
        let ready_timeout = self.config.ready_timeout;
        let startup = tokio::select! {
            biased;
            _ = &mut *stop => return self.stopped(child).await,
            startup = child.wait_ready(ready_timeout) => startup,
        };
        let addr = match startup {
            Startup::Ready(addr) => addr,
            Startup::Exited(exit) => {
                let message = child.failure_message(&exit).await;
                return Run::not_ready(message);
            }
            Startup::TimedOut => {
                child.kill().await;
                let message = format!("did not become ready within {ready_timeout:?}");
                return Run::not_ready(message);
            }
            Startup::BadReadyLine(line) => {
                child.kill().await;
                let message = format!("printed a ready line with no valid address: {line:?}");
                return Run::not_ready(message);
            }
        };
        let ready_at = Instant::now();
        tracing::info!(%revision, replica, %addr, "Predictor is ready.");
        let event = PodEvent::Ready {
            revision: revision.clone(),
            replica,
            addr,
        };
        if !self.emit(event, stop).await {
            return self.stopped(child).await;
        }
        let exit = tokio::select! {
            biased;
            _ = &mut *stop => return self.stopped(child).await,
            exit = child.wait() => exit,
        };
        let ready_for = Some(ready_at.elapsed());
        Run::Ended {
            ready_for,
            message: child.failure_message(&exit).await,
        }
    }

    /// Stops `child` for a stop request.
    async fn stopped(&self, mut child: Child) -> Run {
        child.terminate(self.config.stop_timeout).await;
        Run::Stopped
    }

    /// Sends `event` unless a stop comes first; `false`: stopped (and `stop` has completed).
    async fn emit(&self, event: PodEvent, stop: &mut oneshot::Receiver<()>) -> bool {
        tokio::select! {
            biased;
            _ = stop => false,
            sent = self.events.send(event) => {
                if sent.is_err() {
                    tracing::debug!("Nobody receives pod events any more.");
                }
                true
            }
        }
    }

    /// Removes this supervisor from the registry; the returned stop sender must outlive the
    /// supervisor's last event, since dropping it means "stop".
    fn deregister(&self) -> Option<oneshot::Sender<()>> {
        let registry = self.registry.upgrade()?;
        registry.remove(&self.template.revision, self.replica, self.id)
    }
}
