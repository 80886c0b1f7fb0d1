//! What the admin API shows: KServe-shaped status, and a row per revision.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use infergate_k8s::{
    Component, ComponentStatus, Condition, ConditionStatus, ConditionType, FailureInfo,
    InferenceService, InferenceServiceStatus, ModelRevisionStates, ModelState, ModelStatus,
    TrafficTarget, TransitionStatus,
};
use serde::Serialize;

use super::ControllerConfig;
use super::revision::{Revision, RevisionState};
use super::traffic::{Rollout, Share};
use crate::scaling::Scaling;
use crate::store::{Key, Source};

/// Every InferenceService, as the admin API serves it.
#[derive(Clone, Debug, Default)]
pub struct Views {
    pub services: BTreeMap<Key, ServiceView>,
}

/// One InferenceService: the object with its status, and its revisions.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceView {
    pub isvc: InferenceService,
    pub revisions: Vec<RevisionView>,
    /// The file that defines it.
    pub file: PathBuf,
    pub documents_in_file: usize,
}

/// One revision row (`infergate get revisions`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    pub name: String,
    /// Loading, Ready, Failed or Stopped.
    pub state: String,
    pub message: Option<String>,
    pub ready_replicas: usize,
    pub desired_replicas: usize,
    /// Percent of the traffic.
    pub traffic: u32,
    pub tags: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// Routable with no replica: the next request starts one.
    pub at_zero: bool,
    /// The autoscaler's latest decision and the live load, read when rendered.
    #[serde(rename = "autoscaler", serialize_with = "live_scaling")]
    pub scaling: Option<Arc<Scaling>>,
}

fn live_scaling<S: serde::Serializer>(
    scaling: &Option<Arc<Scaling>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    scaling.as_ref().map(|s| s.view()).serialize(serializer)
}

pub(super) struct ServiceParts<'a> {
    pub(super) source: &'a Source,
    pub(super) revisions: &'a [Revision],
    pub(super) rollout: &'a Rollout,
    pub(super) traffic: &'a [Share],
}

/// Renders one service.
pub(super) fn view(config: &ControllerConfig, parts: ServiceParts<'_>) -> ServiceView {
    let ServiceParts {
        source,
        revisions,
        rollout,
        traffic,
    } = parts;
    let mut isvc = source.isvc.clone();
    isvc.status = Some(kserve_status(config, &isvc, revisions, rollout, traffic));
    let rows = revisions
        .iter()
        .rev()
        .map(|r| {
            let share = traffic.iter().find(|s| s.revision == r.name());
            let (state, message) = match &r.state {
                RevisionState::Loading => ("Loading", None),
                RevisionState::Ready => ("Ready", None),
                RevisionState::Failed { message, .. } => ("Failed", Some(message.clone())),
                RevisionState::Stopped => ("Stopped", None),
            };
            RevisionView {
                name: r.name().to_owned(),
                state: state.to_owned(),
                message,
                ready_replicas: r.ready_replicas(),
                desired_replicas: r.replicas.len(),
                traffic: share.map_or(0, |s| s.percent),
                tags: share
                    .and_then(|s| s.tag)
                    .map(|t| vec![t.to_owned()])
                    .unwrap_or_default(),
                created: rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(r.record.created)),
                at_zero: r.ever_ready
                    && r.state != RevisionState::Stopped
                    && !r.is_failed()
                    && r.replicas.is_empty(),
                scaling: r.scaler.as_ref().map(|s| Arc::clone(&s.shared)),
            }
        })
        .collect();
    ServiceView {
        isvc,
        revisions: rows,
        file: source.file.clone(),
        documents_in_file: source.documents_in_file,
    }
}

fn kserve_status(
    config: &ControllerConfig,
    isvc: &InferenceService,
    revisions: &[Revision],
    rollout: &Rollout,
    traffic: &[Share],
) -> InferenceServiceStatus {
    let (namespace, name) = (isvc.namespace().unwrap_or("default"), isvc.name());
    let url = format!(
        "{}://{name}.{namespace}.{}",
        config.url_scheme, config.domain
    );
    let latest = revisions.last();
    let latest_ready = revisions
        .iter()
        .rev()
        .find(|r| r.ever_ready && !r.is_failed());
    let serving = traffic.iter().any(|s| {
        s.percent > 0
            && revisions
                .iter()
                .any(|r| r.name() == s.revision && r.ready_replicas() > 0)
    });
    let now = rfc3339(SystemTime::now());
    let condition = |type_, ok: bool, reason: Option<&str>, message: Option<String>| Condition {
        reason: reason.map(str::to_owned),
        message,
        last_transition_time: Some(now.clone()),
        ..Condition::new(
            type_,
            if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
        )
    };
    let failure = latest.and_then(|r| match &r.state {
        RevisionState::Failed { reason, message } => Some((r.name(), *reason, message.clone())),
        _ => None,
    });
    let predictor_reason = if serving {
        None
    } else if failure.is_some() {
        failure.as_ref().map(|f| f.1)
    } else {
        Some("RevisionLoading")
    };
    let mut conditions = vec![
        condition(
            ConditionType::IngressReady,
            serving,
            (!serving).then_some("NoReadyRevision"),
            None,
        ),
        condition(
            ConditionType::LatestDeploymentReady,
            latest.is_some_and(|r| r.state == RevisionState::Ready),
            failure.as_ref().map(|f| f.1).or_else(|| {
                latest
                    .filter(|r| r.state != RevisionState::Ready)
                    .map(|_| "RevisionLoading")
            }),
            failure.as_ref().map(|f| f.2.clone()),
        ),
        condition(
            ConditionType::PredictorReady,
            serving,
            predictor_reason,
            (!serving).then(|| {
                failure.as_ref().map_or_else(
                    || "waiting for a revision to load".to_owned(),
                    |f| f.2.clone(),
                )
            }),
        ),
    ];
    if isvc
        .spec
        .transformer
        .as_ref()
        .is_some_and(|t| t.wasm.is_some())
    {
        let transformer_failure = failure.as_ref().filter(|f| f.1 == "TransformerLoadFailed");
        conditions.push(condition(
            ConditionType::TransformerReady,
            serving && transformer_failure.is_none(),
            transformer_failure.map(|f| f.1).or(predictor_reason),
            transformer_failure.map(|f| f.2.clone()),
        ));
    }
    conditions.push(condition(
        ConditionType::Ready,
        serving,
        predictor_reason,
        None,
    ));

    let predictor = ComponentStatus {
        url: Some(url.clone()),
        latest_created_revision: latest.map(|r| r.name().to_owned()),
        latest_ready_revision: latest_ready.map(|r| r.name().to_owned()),
        latest_rolledout_revision: rollout.rolled_out.clone(),
        previous_rolledout_revision: rollout.previous.clone(),
        traffic: traffic
            .iter()
            .map(|s| TrafficTarget {
                tag: s.tag.map(str::to_owned),
                revision_name: Some(s.revision.clone()),
                latest_revision: Some(s.latest),
                percent: Some(i64::from(s.percent)),
                url: s.tag.map(|t| {
                    format!(
                        "{}://{t}-{name}.{namespace}.{}",
                        config.url_scheme, config.domain
                    )
                }),
                ..TrafficTarget::default()
            })
            .collect(),
        ..ComponentStatus::default()
    };
    let target_state = latest.map(|r| match r.state {
        RevisionState::Ready => ModelState::Loaded,
        RevisionState::Failed { .. } => ModelState::FailedToLoad,
        RevisionState::Loading => ModelState::Loading,
        RevisionState::Stopped => ModelState::Standby,
    });
    let transition = match (&failure, latest.map(|r| &r.state)) {
        (Some((_, "InvalidSpec", _)), _) => TransitionStatus::InvalidSpec,
        (Some(_), _) => TransitionStatus::BlockedByFailedLoad,
        (None, Some(RevisionState::Ready)) => TransitionStatus::UpToDate,
        _ => TransitionStatus::InProgress,
    };
    InferenceServiceStatus {
        observed_generation: isvc.metadata.generation,
        url: Some(url),
        conditions,
        components: BTreeMap::from([(Component::Predictor, predictor)]),
        model_status: Some(ModelStatus {
            states: Some(ModelRevisionStates {
                active_model_state: Some(if serving {
                    ModelState::Loaded
                } else {
                    ModelState::Pending
                }),
                target_model_state: target_state,
            }),
            transition_status: Some(transition),
            last_failure_info: failure.map(|(revision, reason, message)| FailureInfo {
                reason: Some(reason.to_owned()),
                message: Some(message),
                model_revision_name: Some(revision.to_owned()),
                ..FailureInfo::default()
            }),
            copies: None,
        }),
        ..InferenceServiceStatus::default()
    }
}

/// RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_398_645), "2026-11-23T01:50:45Z");
    }
}
