//! One cold start: wait until a revision is at zero and its process is gone, then time one
//! request from sending it to reading its whole answer, and check the answer.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::phases::Phases;
use crate::gateway::NAMESPACE;
use crate::load::{self, LoadConfig};
use crate::predictor::Case;
use crate::server;

/// How often the admin API and `/proc` are read while waiting for a revision to reach zero.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// One measured cold start.
#[derive(Clone, Debug, Serialize)]
pub struct Cycle {
    /// The revision that served it.
    pub revision: String,
    /// Request sent → whole answer read, in ms.
    pub total_ms: f64,
    /// The admin API said `atZero` with no ready or desired replica before the request.
    pub at_zero_before: bool,
    /// Predictor processes of this service (children of the gateway) just before the request.
    pub processes_before: usize,
    pub phases: Phases,
    /// Wall-clock times of sending and of the whole answer, to find the gateway's log lines.
    #[serde(skip)]
    pub(super) sent: SystemTime,
    #[serde(skip)]
    pub(super) received: SystemTime,
}

/// Where a revision stands, from the admin API and `/proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ZeroState {
    /// The revision that takes the traffic.
    pub(super) revision: String,
    pub(super) at_zero: bool,
    pub(super) processes: usize,
}

/// The admin answer for one service, reduced to its revision rows.
#[derive(Debug, Deserialize)]
struct ServiceView {
    revisions: Vec<RevisionRow>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevisionRow {
    name: String,
    #[serde(default)]
    at_zero: bool,
    ready_replicas: usize,
    desired_replicas: usize,
    #[serde(default)]
    traffic: u32,
}

/// The gateway and the service a cycle talks to.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The gateway's address.
    pub(super) addr: SocketAddr,
    /// The gateway's pid: its children are the predictor processes.
    pub(super) gateway_pid: u32,
    /// The InferenceService (and model) name.
    pub(super) service: String,
}

// === impl Target ===

impl Target {
    /// The revision taking the traffic, whether the admin API has it at zero (no ready and no
    /// desired replica), and how many predictor processes of the service are alive.
    pub(super) async fn zero_state(&self) -> anyhow::Result<ZeroState> {
        let path = format!(
            "/admin/v1/namespaces/{NAMESPACE}/inferenceservices/{}",
            self.service
        );
        let (status, body) = load::get(self.addr, &path).await?;
        anyhow::ensure!(
            status.is_success(),
            "GET {path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let row = serving_revision(&body)
            .with_context(|| format!("the admin view of {}", self.service))?;
        Ok(ZeroState {
            at_zero: row.at_zero && row.ready_replicas == 0 && row.desired_replicas == 0,
            revision: row.name,
            processes: predictor_processes(self.gateway_pid, &self.service).len(),
        })
    }

    /// Waits until the serving revision is at zero and none of the service's processes is left.
    pub(super) async fn wait_at_zero(&self, timeout: Duration) -> anyhow::Result<ZeroState> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.zero_state().await?;
            if state.at_zero && state.processes == 0 {
                return Ok(state);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not reach zero replicas within {} s: {state:?}",
                self.service,
                timeout.as_secs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits until the serving revision has `replicas` ready replicas.
    pub(super) async fn wait_ready_replicas(
        &self,
        replicas: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let path = format!(
            "/admin/v1/namespaces/{NAMESPACE}/inferenceservices/{}",
            self.service
        );
        let deadline = Instant::now() + timeout;
        loop {
            let (_, body) = load::get(self.addr, &path).await?;
            let row = serving_revision(&body)?;
            if row.ready_replicas == replicas {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} has {} ready replicas, not {replicas}, after {} s",
                self.service,
                row.ready_replicas,
                timeout.as_secs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Sends `case` once, times it, and checks the answer against the reference.
    pub(super) async fn timed_request(
        &self,
        case: &Case,
        zero: &ZeroState,
    ) -> anyhow::Result<Cycle> {
        let config = LoadConfig::json_post(
            self.addr,
            format!("/v2/models/{}/infer", self.service),
            case.v2_request(),
        );
        let sent = SystemTime::now();
        let (answer, elapsed) = load::timed(&config).await?;
        let received = SystemTime::now();
        anyhow::ensure!(
            answer.status.is_success(),
            "{}: the request at zero answered {}: {}",
            self.service,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        case.check_response(&answer.body)
            .with_context(|| format!("{}: the answer to the request at zero", self.service))?;
        Ok(Cycle {
            revision: zero.revision.clone(),
            total_ms: elapsed.as_secs_f64() * 1e3,
            at_zero_before: zero.at_zero,
            processes_before: zero.processes,
            phases: Phases::default(),
            sent,
            received,
        })
    }
}

/// The revision row with the most traffic (the one a request goes to).
fn serving_revision(body: &[u8]) -> anyhow::Result<RevisionRow> {
    let view: ServiceView =
        serde_json::from_slice(body).context("the admin answer is not a service view")?;
    view.revisions
        .into_iter()
        .max_by_key(|r| r.traffic)
        .context("the service has no revision")
}

/// Children of `gateway_pid` that run `predictor ... --model-name SERVICE ...`.
pub(super) fn predictor_processes(gateway_pid: u32, service: &str) -> Vec<u32> {
    server::children(gateway_pid)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
                args.windows(2)
                    .any(|w| w[0] == b"--model-name" && w[1] == service.as_bytes())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_revision_is_the_one_with_the_traffic() {
        let body = br#"{"isvc":{},"revisions":[
            {"name":"iris-predictor-00002","state":"Ready","readyReplicas":0,"desiredReplicas":0,
             "traffic":100,"atZero":true},
            {"name":"iris-predictor-00001","state":"Stopped","readyReplicas":0,"desiredReplicas":0,
             "traffic":0,"atZero":false}]}"#;
        let row = serving_revision(body).unwrap();
        assert_eq!(row.name, "iris-predictor-00002");
        assert!(row.at_zero);
        let err = serving_revision(br#"{"revisions":[]}"#).unwrap_err();
        assert!(err.to_string().contains("no revision"), "{err:#}");
        let err = serving_revision(b"nope").unwrap_err();
        assert!(err.to_string().contains("service view"), "{err:#}");
    }

    #[tokio::test]
    async fn predictor_processes_are_found_by_their_model_name_among_the_children() {
        // `sh -c SCRIPT NAME ARGS...` keeps NAME and ARGS in its cmdline; the builtin `read`
        // waits on the pipe without a grandchild.
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "read line", "predictor", "--model-name", "iris"])
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let me = std::process::id();
        let pid = child.id().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !predictor_processes(me, "iris").contains(&pid) {
            assert!(Instant::now() < deadline, "the child is listed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(predictor_processes(me, "mlp").is_empty());
        assert!(predictor_processes(me, "iri").is_empty());
        child.kill().await.unwrap();
        assert!(!predictor_processes(me, "iris").contains(&pid));
    }
}
