//! The supervisor against real processes: `testdata/stub-predictor.sh` stands in for
//! `infergate predictor` and runs, with `/bin/sh`, a scenario script each test writes to its
//! own temporary directory (ready lines, crashes, `error: ` lines, ignored SIGTERMs).

mod restart;
mod start;
mod stop;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::{LocalPods, LocalPodsConfig, Orchestrator, PodEvent, PodTemplate, PodTransport};

/// The longest any single expected thing (an event, a stop) may take before the test fails.
const BOUND: Duration = Duration::from_secs(10);
const MS: Duration = Duration::from_millis(1);

/// One `LocalPods` running the stub, its events, and the scenarios' directory.
struct Harness {
    pods: LocalPods,
    events: mpsc::Receiver<PodEvent>,
    dir: TempDir,
}

// === impl Harness ===

impl Harness {
    fn new(config: LocalPodsConfig) -> Self {
        Self::with_binary(stub(), config)
    }

    fn with_binary(binary: PathBuf, config: LocalPodsConfig) -> Self {
        let (tx, events) = mpsc::channel(16);
        let dir = tempfile::tempdir().expect("create a temporary directory");
        Self {
            pods: LocalPods::new(binary, tx, config),
            events,
            dir,
        }
    }

    /// A template whose predictor runs `script` (with `$dir` set to the scenarios' directory).
    fn template(&self, revision: &str, script: &str) -> PodTemplate {
        let dir = self.dir.path();
        let path = dir.join(format!("{revision}.sh"));
        let script = format!("dir='{}'\n{script}\n", dir.display());
        std::fs::write(&path, script).expect("write the scenario");
        let storage_uri = path.to_str().expect("a UTF-8 temporary path").to_owned();
        let args = ["--model-name", "m", "--storage-uri", &storage_uri];
        PodTemplate {
            revision: revision.to_owned(),
            args: args.map(str::to_owned).to_vec(),
        }
    }

    async fn next_event(&mut self) -> PodEvent {
        timeout(BOUND, self.events.recv())
            .await
            .expect("a pod event within the bound")
            .expect("the event channel is open")
    }

    /// The pids the scenario of `revision` recorded (`echo $$ >> "$dir/REVISION.pids"`).
    fn pids(&self, revision: &str) -> Vec<Pid> {
        let path = self.dir.path().join(format!("{revision}.pids"));
        let pids = std::fs::read_to_string(path).expect("the scenario recorded its pid");
        pids.lines()
            .map(|pid| Pid::from_raw(pid.parse().expect("a pid")))
            .collect()
    }

    /// How many processes the scenario of `revision` started (`$dir/REVISION.pids` lines).
    fn runs(&self, revision: &str) -> usize {
        self.pids(revision).len()
    }

    /// Drops the pods and checks that no event was, or will be, sent: once every supervisor
    /// has ended, the channel closes.
    async fn assert_no_more_events(mut self) {
        drop(self.pods);
        let next = timeout(BOUND, self.events.recv())
            .await
            .expect("every supervisor ends");
        assert_eq!(next, None, "no event after the end of the test");
    }
}

/// The stand-in predictor binary.
fn stub() -> PathBuf {
    let stub =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/pods/testdata/stub-predictor.sh");
    assert!(stub.is_file(), "{} is missing", stub.display());
    stub
}

fn config() -> LocalPodsConfig {
    LocalPodsConfig {
        ready_timeout: BOUND,
        stop_timeout: BOUND,
        backoff_initial: 20 * MS,
        backoff_max: Duration::from_secs(1),
        backoff_reset_after: Duration::from_secs(60),
        // The scenarios announce TCP listeners; `unix_transport_*` tests the sockets.
        transport: PodTransport::Tcp,
    }
}

/// A listener to announce in ready lines (nothing connects to it).
fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let addr = listener.local_addr().expect("listener address");
    (listener, addr)
}

/// Scenario lines: record the pid, then print the ready line for `addr`.
fn ready(revision: &str, addr: SocketAddr) -> String {
    format!(
        "echo $$ >> \"$dir/{revision}.pids\"\n\
         echo 'loading the model' >&2\n\
         echo 'infergate-predictor ready on http://{addr}'"
    )
}

fn ready_event(revision: &str, replica: u32, addr: SocketAddr) -> PodEvent {
    PodEvent::Ready {
        revision: revision.to_owned(),
        replica,
        addr: addr.into(),
    }
}

fn exited_event(revision: &str, replica: u32, message: &str) -> PodEvent {
    PodEvent::Exited {
        revision: revision.to_owned(),
        replica,
        message: message.to_owned(),
    }
}

fn failed_event(revision: &str, replica: u32, message: &str) -> PodEvent {
    PodEvent::Failed {
        revision: revision.to_owned(),
        replica,
        message: message.to_owned(),
    }
}

/// Whether process `pid` is gone (exited and reaped).
fn is_gone(pid: Pid) -> bool {
    kill(pid, None) == Err(Errno::ESRCH)
}
