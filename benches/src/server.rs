//! A server under test, as a child process: started, waited for, measured, stopped.
//!
//! Readiness is either a line the server prints on stdout (infergate's predictor prints
//! `infergate-predictor ready on http://127.0.0.1:PORT`, the gateway `infergate ready on
//! http://127.0.0.1:PORT`) or an HTTP endpoint that answers 200 (KServe's
//! `/v2/models/{name}/ready`). Every wait is bounded; a server that exits or never
//! becomes ready is an error that quotes the end of its log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::load;

/// How long a server may take to load its model and become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The readiness line's prefix on `infergate predictor`'s stdout.
pub const PREDICTOR_READY_PREFIX: &str = "infergate-predictor ready on http://";
/// The readiness line's prefix on `infergate serve`'s stdout (the gateway).
pub const GATEWAY_READY_PREFIX: &str = "infergate ready on http://";

/// `infergate serve --config CONFIG_DIR` on free loopback ports (its own and its metrics'), to
/// start with [`ServerProcess::start_with_ready_prefix`] and [`GATEWAY_READY_PREFIX`]; callers
/// add their own flags.
pub(crate) fn serve_command(bin: &Path, config_dir: &Path) -> Command {
    let mut command = Command::new(bin);
    command.arg("serve").arg("--config").arg(config_dir).args([
        "--http-port",
        "0",
        "--metrics-port",
        "0",
        "--host",
        "127.0.0.1",
    ]);
    command
}

/// A running server process whose output goes to a log file.
#[derive(Debug)]
pub struct ServerProcess {
    label: String,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

/// Which processes a memory reading covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The server's own process.
    Process,
    /// The process and all its descendants, summed.
    Tree,
}

/// Resident memory of a server, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most it has ever been resident.
    pub peak_kib: u64,
}

/// Why a server could not be started, measured or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{label}: cannot create log file {path}: {source}")]
    Log {
        label: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{label}: cannot start `{program}`: {source}")]
    Spawn {
        label: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{label}: exited ({status}) before it was ready; end of {log}:\n{tail}")]
    ExitedEarly {
        label: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{label}: not ready after {seconds} s; end of {log}:\n{tail}")]
    NotReady {
        label: String,
        seconds: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("{label}: readiness line {line:?} does not name a 127.0.0.1 address")]
    BadReadyLine { label: String, line: String },
    #[error("{label}: cannot read /proc/{pid}/status: {source}")]
    Proc {
        label: String,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("{label}: waiting for exit: {source}")]
    Wait {
        label: String,
        #[source]
        source: std::io::Error,
    },
}

// === impl ServerProcess ===

impl ServerProcess {
    /// Starts `command` and waits for the line `infergate-predictor ready on http://ADDR` on its
    /// stdout; stderr goes to `log`.
    pub async fn start_with_ready_line(
        label: &str,
        command: Command,
        log: &Path,
    ) -> Result<Self, ServerError> {
        Self::start_with_ready_prefix(label, PREDICTOR_READY_PREFIX, command, log).await
    }

    /// Starts `infergate serve` (a [`serve_command`] plus the caller's flags) and waits for its
    /// ready line; stderr goes to `log`.
    pub(crate) async fn start_gateway(command: Command, log: &Path) -> Result<Self, ServerError> {
        Self::start_with_ready_prefix("gateway", GATEWAY_READY_PREFIX, command, log).await
    }

    /// Starts `command` and waits for a line `PREFIX ADDR` on its stdout, where `prefix` ends
    /// with `http://`; stderr goes to `log`.
    pub async fn start_with_ready_prefix(
        label: &str,
        prefix: &str,
        mut command: Command,
        log: &Path,
    ) -> Result<Self, ServerError> {
        let file = log_file(label, log)?;
        command
            .stdout(Stdio::piped())
            .stderr(file)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = spawn(label, &mut command)?;
        let stdout = child.stdout.take().expect("stdout was piped");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + READY_TIMEOUT;
        let line = loop {
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Err(_) => return Err(not_ready(label, log)),
                Ok(Ok(Some(line))) if line.starts_with(prefix) => break line,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None) | Err(_)) => return Err(exited_early(label, &mut child, log).await),
            }
        };
        let addr = line[prefix.len()..]
            .trim()
            .trim_end_matches('/')
            .parse::<SocketAddr>()
            .ok()
            .filter(|a| a.ip().is_loopback())
            .ok_or_else(|| ServerError::BadReadyLine {
                label: label.to_owned(),
                line: line.clone(),
            })?;
        // Keep draining stdout so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let pid = child
            .id()
            .expect("a child that printed a line has not been reaped");
        Ok(ServerProcess {
            label: label.to_owned(),
            child,
            pid,
            addr,
            log: log.to_owned(),
        })
    }

    /// Starts `command` (stdout and stderr to `log`) and polls `GET ready_path` on `addr`
    /// until it answers 200.
    pub async fn start_with_ready_url(
        label: &str,
        mut command: Command,
        addr: SocketAddr,
        ready_path: &str,
        log: &Path,
    ) -> Result<Self, ServerError> {
        let file = log_file(label, log)?;
        let file2 = file.try_clone().map_err(|source| ServerError::Log {
            label: label.to_owned(),
            path: log.to_owned(),
            source,
        })?;
        command
            .stdout(file)
            .stderr(file2)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = spawn(label, &mut command)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok((status, _)) = load::get(addr, ready_path).await
                && status.is_success()
            {
                break;
            }
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Err(exited_early(label, &mut child, log).await);
            }
            if Instant::now() >= deadline {
                return Err(not_ready(label, log));
            }
            // Polling is the only readiness signal KServe gives; 100 ms keeps it cheap.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pid = child
            .id()
            .expect("a child that answered HTTP has not been reaped");
        Ok(ServerProcess {
            label: label.to_owned(),
            child,
            pid,
            addr,
            log: log.to_owned(),
        })
    }

    /// The process id (the process has not been reaped while `self` lives).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Peak resident memory in KiB: `VmHWM` summed over the process and all its descendants
    /// (KServe with several workers is a parent and one child per worker).
    pub fn peak_rss_kib(&self) -> Result<u64, ServerError> {
        Ok(self.memory(Scope::Tree)?.peak_kib)
    }

    /// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), in KiB, of the process alone or
    /// summed over it and its descendants.
    pub fn memory(&self, scope: Scope) -> Result<Memory, ServerError> {
        let mut total = Memory::default();
        let mut pending = vec![self.pid];
        while let Some(pid) = pending.pop() {
            let status =
                std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|source| {
                    ServerError::Proc {
                        label: self.label.clone(),
                        pid,
                        source,
                    }
                })?;
            total.rss_kib += status_kib(&status, "VmRSS:").unwrap_or(0);
            total.peak_kib += status_kib(&status, "VmHWM:").unwrap_or(0);
            if scope == Scope::Tree {
                pending.extend(children(pid));
            }
        }
        Ok(total)
    }

    /// Sends SIGTERM and waits for a graceful exit; kills the process if it takes too long.
    pub async fn stop(mut self) -> Result<ExitStatus, ServerError> {
        let wait_err = |source| ServerError::Wait {
            label: self.label.clone(),
            source,
        };
        // std has no SIGTERM and unsafe code is forbidden here; `kill` is in every Linux base.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .map_err(wait_err)?;
        if sent.success()
            && let Ok(status) = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await
        {
            return status.map_err(wait_err);
        }
        eprintln!(
            "{}: no exit {} s after SIGTERM; killing it",
            self.label,
            STOP_TIMEOUT.as_secs()
        );
        self.child.kill().await.map_err(wait_err)?;
        self.child.wait().await.map_err(wait_err)
    }
}

fn log_file(label: &str, path: &Path) -> Result<std::fs::File, ServerError> {
    let err = |source| ServerError::Log {
        label: label.to_owned(),
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::File::create(path).map_err(err)
}

fn spawn(label: &str, command: &mut Command) -> Result<Child, ServerError> {
    command.spawn().map_err(|source| ServerError::Spawn {
        label: label.to_owned(),
        program: command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned(),
        source,
    })
}

async fn exited_early(label: &str, child: &mut Child, log: &Path) -> ServerError {
    let status = match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(e)) => format!("unknown: {e}"),
        Err(_) => "closed stdout but still running".to_owned(),
    };
    ServerError::ExitedEarly {
        label: label.to_owned(),
        status,
        log: log.to_owned(),
        tail: tail(log),
    }
}

fn not_ready(label: &str, log: &Path) -> ServerError {
    ServerError::NotReady {
        label: label.to_owned(),
        seconds: READY_TIMEOUT.as_secs(),
        log: log.to_owned(),
        tail: tail(log),
    }
}

/// The last 20 lines of a log file, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A `key:` line's value from a `/proc/PID/status` text, in KiB (e.g. `VmHWM:`).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The direct children of `pid`, from every thread's `children` list.
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

#[cfg(test)]
mod tests;
