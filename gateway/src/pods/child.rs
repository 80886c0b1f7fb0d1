//! One predictor child process: spawning it, reading its ready line, forwarding its output to
//! `tracing`, describing why it died, and terminating it.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use infergate_predictor::http::{ListenAddr, ListenAddrError};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::PodTemplate;

/// What the predictor prints on stdout, followed by `http://HOST:PORT` or `unix:PATH`, once it
/// serves.
const READY_PREFIX: &str = "infergate-predictor ready on ";
/// How many of the child's last stderr lines are kept for failure messages.
const STDERR_TAIL_LINES: usize = 20;
/// How many of those a failure message quotes (on one line) when the child printed no
/// `error: ` line.
const MESSAGE_TAIL_LINES: usize = 3;
/// Longest line read from the child at once; longer lines arrive in pieces.
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// After the child exits, how long its stderr may take to reach end-of-file: a grandchild
/// that inherited the pipe could hold it open forever.
const STDERR_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The `tracing` target the children's output is logged under (`RUST_LOG=infergate::pod=warn`).
const LOG_TARGET: &str = "infergate::pod";

/// A running predictor process, owned by its replica's supervisor. Dropping it kills the process.
#[derive(Debug)]
pub(super) struct Child {
    process: tokio::process::Child,
    labels: Labels,
    /// Read until the ready line, then handed to a draining task.
    stdout: Option<BufReader<ChildStdout>>,
    stdout_task: Option<JoinHandle<()>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Forwards stderr to `tracing`; `None` once it has been awaited.
    stderr_task: Option<JoinHandle<()>>,
}

/// How a child's startup ended.
#[derive(Debug)]
pub(super) enum Startup {
    /// It printed its ready line.
    Ready(ListenAddr),
    /// It exited (or could not be waited for) before printing it.
    Exited(io::Result<ExitStatus>),
    /// It printed neither its ready line nor exited in time; it is still running.
    TimedOut,
    /// It printed a ready line whose address does not parse; it is still running.
    BadReadyLine(String),
}

/// The replica a child belongs to, as logged with every line.
#[derive(Clone, Debug)]
struct Labels {
    revision: Arc<str>,
    replica: u32,
}

// === impl Child ===

impl Child {
    /// Starts `binary predictor ARGS --unix-socket SOCKET`, or without a socket
    /// `binary predictor ARGS --http-port 0 --host 127.0.0.1`.
    pub(super) fn spawn(
        binary: &Path,
        template: &PodTemplate,
        replica: u32,
        socket: Option<&Path>,
    ) -> io::Result<Self> {
        let mut command = Command::new(binary);
        command.arg("predictor").args(&template.args);
        match socket {
            Some(socket) => command.arg("--unix-socket").arg(socket),
            None => command.args(["--http-port", "0", "--host", "127.0.0.1"]),
        };
        command
            // Its stderr is a pipe into our logs, not a terminal: no colour codes.
            .env("NO_COLOR", "1")
            // Lines without their own timestamp: the gateway's log line carries one.
            .env(super::POD_LOGS_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // GPU assignment (DESIGN.md §11) goes here: set `CUDA_VISIBLE_DEVICES` to the GPUs
        // leased to this replica from the pool (and to "" for a CPU-only revision).
        let mut process = command.spawn()?;
        let labels = Labels {
            revision: template.revision.as_str().into(),
            replica,
        };
        let stdout = process.stdout.take().expect("stdout is piped");
        let stderr = process.stderr.take().expect("stderr is piped");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
        let stderr_task = tokio::spawn(forward_stderr(stderr, labels.clone(), stderr_tail.clone()));
        tracing::debug!(
            revision = %labels.revision, replica, pid = process.id(), "Started predictor process."
        );
        Ok(Self {
            process,
            labels,
            stdout: Some(BufReader::new(stdout)),
            stdout_task: None,
            stderr_tail,
            stderr_task: Some(stderr_task),
        })
    }

    /// Waits up to `timeout` for the ready line (or for the process to exit without one).
    pub(super) async fn wait_ready(&mut self, timeout: Duration) -> Startup {
        let deadline = Instant::now() + timeout;
        let Some(mut stdout) = self.stdout.take() else {
            return Startup::BadReadyLine("(the ready line was already read)".to_owned());
        };
        match tokio::time::timeout_at(deadline, read_ready_line(&mut stdout, &self.labels)).await {
            Err(_elapsed) => {
                self.stdout = Some(stdout);
                Startup::TimedOut
            }
            Ok(Some(Ok(addr))) => {
                // Keep draining stdout so the child never blocks writing to a full pipe.
                self.stdout_task = Some(tokio::spawn(forward_stdout(stdout, self.labels.clone())));
                Startup::Ready(addr)
            }
            Ok(Some(Err(line))) => Startup::BadReadyLine(line),
            // Stdout closed without a ready line: the child is exiting (or chose to close it).
            Ok(None) => match tokio::time::timeout_at(deadline, self.process.wait()).await {
                Ok(exit) => Startup::Exited(exit),
                Err(_elapsed) => Startup::TimedOut,
            },
        }
    }

    /// Waits for the process to exit.
    pub(super) async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.process.wait().await
    }

    /// Why the process ended: its last `error: ` line, else its last stderr lines, else `exit`.
    /// Waits (bounded) for the rest of its stderr first.
    pub(super) async fn failure_message(&mut self, exit: &io::Result<ExitStatus>) -> String {
        if let Some(task) = self.stderr_task.take()
            && tokio::time::timeout(STDERR_DRAIN_TIMEOUT, task)
                .await
                .is_err()
        {
            tracing::debug!(
                revision = %self.labels.revision, replica = self.labels.replica,
                "Predictor stderr still open after it exited."
            );
        }
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        failure_message(exit, &tail)
    }

    /// SIGTERM (the predictor drains in-flight requests), then SIGKILL if it has not exited
    /// within `grace`. Returns once the process has been reaped.
    pub(super) async fn terminate(&mut self, grace: Duration) {
        let (revision, replica) = (&self.labels.revision, self.labels.replica);
        // `id()` is `None` once the process has been reaped, so the pid cannot have been reused.
        let Some(pid) = self.process.id().and_then(|pid| i32::try_from(pid).ok()) else {
            return;
        };
        if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
            tracing::debug!(%revision, replica, pid, error = %e, "Cannot send SIGTERM.");
        }
        match tokio::time::timeout(grace, self.process.wait()).await {
            Ok(Ok(status)) => {
                tracing::info!(%revision, replica, %status, "Predictor stopped.");
            }
            Ok(Err(e)) => {
                tracing::warn!(%revision, replica, error = %e, "Cannot wait for the predictor.");
                self.kill().await;
            }
            Err(_elapsed) => {
                tracing::warn!(
                    %revision, replica, ?grace, "Predictor did not stop after SIGTERM; killing it."
                );
                self.kill().await;
            }
        }
    }

    /// SIGKILL, and reap it.
    pub(super) async fn kill(&mut self) {
        if let Err(e) = self.process.kill().await {
            tracing::warn!(
                revision = %self.labels.revision, replica = self.labels.replica, error = %e,
                "Cannot kill the predictor."
            );
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // The process itself is killed by `kill_on_drop`; don't leave its readers behind (a
        // grandchild could hold the pipes open).
        for task in [self.stdout_task.take(), self.stderr_task.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// Reads stdout up to the ready line: `None` at end-of-file, `Err(line)` for a ready line whose
/// address does not parse. Other lines are logged.
async fn read_ready_line(
    stdout: &mut BufReader<ChildStdout>,
    labels: &Labels,
) -> Option<Result<ListenAddr, String>> {
    while let Some(line) = next_line(stdout).await {
        match parse_ready_line(&line) {
            Some(ready) => return Some(ready.map_err(|_| line)),
            None => labels.log(&line),
        }
    }
    None
}

/// `Some` for a ready line: `infergate-predictor ready on http://HOST:PORT` or
/// `infergate-predictor ready on unix:PATH`.
fn parse_ready_line(line: &str) -> Option<Result<ListenAddr, ListenAddrError>> {
    let addr = line.trim().strip_prefix(READY_PREFIX)?;
    Some(addr.parse())
}

async fn forward_stdout(mut stdout: BufReader<ChildStdout>, labels: Labels) {
    while let Some(line) = next_line(&mut stdout).await {
        labels.log(&line);
    }
}

async fn forward_stderr(
    stderr: impl AsyncRead + Unpin,
    labels: Labels,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut stderr = BufReader::new(stderr);
    while let Some(line) = next_line(&mut stderr).await {
        labels.log(&line);
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The next line, without its line ending, lossily decoded; `None` at end-of-file or on error.
async fn next_line(reader: &mut BufReader<impl AsyncRead + Unpin>) -> Option<String> {
    let mut buf = Vec::new();
    match (&mut *reader)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut buf)
        .await
    {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            let line = String::from_utf8_lossy(&buf);
            Some(line.trim_end_matches(['\n', '\r']).to_owned())
        }
    }
}

/// The message for a process that ended with `exit` having printed `stderr_tail`.
fn failure_message(exit: &io::Result<ExitStatus>, stderr_tail: &VecDeque<String>) -> String {
    if let Some(error) = stderr_tail
        .iter()
        .rev()
        .find_map(|line| line.strip_prefix("error: "))
    {
        return error.trim().to_owned();
    }
    let exit = match exit {
        Ok(status) => format!("the predictor exited ({status})"),
        Err(e) => format!("cannot wait for the predictor: {e}"),
    };
    let lines: Vec<&str> = stderr_tail
        .iter()
        .map(String::as_str)
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return exit;
    }
    let last = &lines[lines.len().saturating_sub(MESSAGE_TAIL_LINES)..];
    format!("{exit}; its last stderr lines: {}", last.join(" | "))
}

// === impl Labels ===

impl Labels {
    /// Logs one of the child's lines at the child's own level (`ERROR ...`, `WARN ...`; its
    /// final `error: ...` line is an error too).
    fn log(&self, line: &str) {
        let (revision, replica) = (&self.revision, self.replica);
        let trimmed = line.trim_start();
        let (level, message) = match trimmed.split_once(' ') {
            Some((level @ ("ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE"), rest)) => (level, rest),
            _ if trimmed.starts_with("error:") => ("ERROR", trimmed),
            _ => ("INFO", trimmed),
        };
        match level {
            "ERROR" => tracing::error!(target: LOG_TARGET, %revision, replica, "{message}"),
            "WARN" => tracing::warn!(target: LOG_TARGET, %revision, replica, "{message}"),
            "DEBUG" | "TRACE" => {
                tracing::debug!(target: LOG_TARGET, %revision, replica, "{message}")
            }
            _ => tracing::info!(target: LOG_TARGET, %revision, replica, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn tail(lines: &[&str]) -> VecDeque<String> {
        lines.iter().map(|line| (*line).to_owned()).collect()
    }

    #[test]
    fn ready_line_parses_ipv4_ipv6_and_unix_and_ignores_other_lines() {
        let v4 = parse_ready_line("infergate-predictor ready on http://127.0.0.1:8080");
        let v4_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
        assert_eq!(v4, Some(Ok(ListenAddr::Tcp(v4_addr))));
        let v6 = parse_ready_line("infergate-predictor ready on http://[::1]:9\r\n");
        let v6_addr = "[::1]:9".parse().expect("addr");
        assert_eq!(v6, Some(Ok(ListenAddr::Tcp(v6_addr))));
        let unix = parse_ready_line("infergate-predictor ready on unix:/run/x/0.sock\n");
        assert_eq!(unix, Some(Ok(ListenAddr::Unix("/run/x/0.sock".into()))));
        assert_eq!(parse_ready_line("loading model"), None);
        assert_eq!(parse_ready_line(""), None);
        assert!(matches!(
            parse_ready_line("infergate-predictor ready on http://nope"),
            Some(Err(_))
        ));
    }

    #[test]
    fn failure_message_prefers_the_last_error_line() {
        let exit = Ok(ExitStatus::from_raw(1 << 8));
        let lines = tail(&[
            "error: first",
            "INFO loading",
            "error: model load failed: bad",
            "x",
        ]);
        assert_eq!(failure_message(&exit, &lines), "model load failed: bad");
    }

    #[test]
    fn failure_message_falls_back_to_the_last_stderr_lines_then_the_status() {
        let exit = Ok(ExitStatus::from_raw(2 << 8));
        let lines = tail(&["1", "2", "", "3", "4", "5", "6"]);
        assert_eq!(
            failure_message(&exit, &lines),
            "the predictor exited (exit status: 2); its last stderr lines: 4 | 5 | 6"
        );
        assert_eq!(
            failure_message(&exit, &tail(&[])),
            "the predictor exited (exit status: 2)"
        );
        let killed = Ok(ExitStatus::from_raw(9));
        assert_eq!(
            failure_message(&killed, &tail(&[" "])),
            "the predictor exited (signal: 9 (SIGKILL))"
        );
    }
}
