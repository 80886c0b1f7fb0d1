//! Waiting for an InferenceService to be Ready, through the gateway's admin API.
//!
//! `GET /admin/v1/namespaces/{ns}/inferenceservices/{name}` answers the service with its KServe
//! status; the service is ready when its `Ready` condition's status is `"True"`. Only the fields
//! read here are parsed, so the rest of the document may change freely.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::load;

/// How often the admin API is asked while the predictor pod loads its model.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The admin API's answer, reduced to what readiness needs.
#[derive(Debug, Deserialize)]
struct ServiceView {
    isvc: Isvc,
}

#[derive(Debug, Deserialize)]
struct Isvc {
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Debug, Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Where an InferenceService stands, from one admin answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Readiness {
    Ready,
    /// Not (yet) ready; the text says why, as the status does.
    NotReady(String),
}

/// The gateway never made the service ready, or answered something unreadable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadyError {
    #[error("admin answer for inferenceservice {service} is not a service view: {source}")]
    BadJson {
        service: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("inferenceservice {service} not Ready after {seconds} s; last status: {last}")]
    Timeout {
        service: String,
        seconds: u64,
        last: String,
    },
}

/// Reads the `Ready` condition of one admin answer.
pub(super) fn readiness(service: &str, body: &[u8]) -> Result<Readiness, ReadyError> {
    let view: ServiceView = serde_json::from_slice(body).map_err(|source| ReadyError::BadJson {
        service: service.to_owned(),
        source,
    })?;
    let ready = view
        .isvc
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.kind == "Ready");
    Ok(match ready {
        Some(c) if c.status == "True" => Readiness::Ready,
        Some(c) => {
            let why = [c.reason.as_deref(), c.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            Readiness::NotReady(format!("Ready={} {why}", c.status).trim_end().to_owned())
        }
        None => Readiness::NotReady("no Ready condition yet".to_owned()),
    })
}

/// Polls the admin API on `addr` until `namespace/name` is Ready, for at most `timeout`.
/// A 404 (the folder not loaded yet) or a refused connection counts as not ready.
pub(crate) async fn wait_until_ready(
    addr: SocketAddr,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), ReadyError> {
    let service = format!("{namespace}/{name}");
    let path = format!("/admin/v1/namespaces/{namespace}/inferenceservices/{name}");
    let deadline = Instant::now() + timeout;
    loop {
        let last = match load::get(addr, &path).await {
            Ok((status, body)) if status.is_success() => match readiness(&service, &body)? {
                Readiness::Ready => return Ok(()),
                Readiness::NotReady(why) => why,
            },
            Ok((status, body)) => format!("{status}: {}", String::from_utf8_lossy(&body).trim()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(ReadyError::Timeout {
                service,
                seconds: timeout.as_secs(),
                last,
            });
        }
        // The admin API has no watch; polling at 100 ms costs the gateway nothing measurable.
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway's answer for a ready iris (trimmed of fields readiness ignores).
    const READY: &str = r#"{"isvc":{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService",
        "metadata":{"name":"iris"},"spec":{"predictor":{"model":{"modelFormat":{"name":"onnx"},
        "storageUri":"/work/main/examples/models/iris.onnx"}}},"status":{"url":"http://iris.default.example.com",
        "conditions":[{"type":"IngressReady","status":"True","lastTransitionTime":"2026-11-23T06:02:43Z"},
        {"type":"PredictorReady","status":"True","lastTransitionTime":"2026-11-23T06:02:43Z"},
        {"type":"Ready","status":"True","lastTransitionTime":"2026-11-23T06:02:43Z"}]}},
        "revisions":[{"name":"iris-predictor-00001","state":"Ready","readyReplicas":1}],
        "file":"/tmp/x/iris.yaml","documents_in_file":1}"#;

    #[test]
    fn a_true_ready_condition_is_ready() {
        assert_eq!(
            readiness("default/iris", READY.as_bytes()).unwrap(),
            Readiness::Ready
        );
    }

    #[test]
    fn a_false_or_missing_ready_condition_says_why() {
        let loading = READY.replace(
            r#"{"type":"Ready","status":"True","#,
            r#"{"type":"Ready","status":"False","reason":"PredictorNotReady","message":"loading","#,
        );
        assert_eq!(
            readiness("default/iris", loading.as_bytes()).unwrap(),
            Readiness::NotReady("Ready=False PredictorNotReady: loading".to_owned())
        );
        let no_status = r#"{"isvc":{"metadata":{"name":"iris"}}}"#;
        assert_eq!(
            readiness("default/iris", no_status.as_bytes()).unwrap(),
            Readiness::NotReady("no Ready condition yet".to_owned())
        );
    }

    #[test]
    fn an_answer_that_is_not_a_service_view_is_an_error_naming_the_service() {
        let err = readiness("default/iris", br#"{"error":"nope"}"#).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ReadyError::BadJson { .. }), "{message}");
        assert!(message.contains("default/iris"), "{message}");
        assert!(message.contains("isvc"), "{message}");
    }

    #[tokio::test]
    async fn waiting_on_a_port_with_no_gateway_times_out_saying_what_it_saw() {
        let addr = crate::predictor::free_loopback_addr().unwrap();
        let err = wait_until_ready(addr, "default", "iris", Duration::from_millis(300))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ReadyError::Timeout { .. }), "{message}");
        assert!(message.contains("default/iris not Ready"), "{message}");
        assert!(message.contains("connect"), "{message}");
    }
}
