//! `status`, in KServe's shape, so that `kubectl`-style output and KServe clients read it
//! unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::{Condition, ConditionStatus, ConditionType};
use super::open_enum::open_enum;

/// `status` of an InferenceService.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where clients reach the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// `PredictorReady`, `TransformerReady`, `IngressReady` and `Ready` (see [`ConditionType`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Per component (`predictor`, `transformer`): revisions and traffic.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<Component, ComponentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_status: Option<ModelStatus>,
    /// KServe's deployment mode (`Serverless`, `Standard`, ...); kept so that status printed by
    /// KServe loads without warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_serving_runtime_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_runtime_name: Option<String>,
}

/// `status.address`: the in-cluster address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addressable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

open_enum! {
    /// The keys of `status.components`.
    pub enum Component {
        Predictor => "predictor",
        Transformer => "transformer",
        Explainer => "explainer",
    }
}

/// `status.components.<component>`: its URL, revisions and traffic split.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// The newest revision, whatever its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision: Option<String>,
    /// The newest revision that became Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision: Option<String>,
    /// The newest revision that took its full share of traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_rolledout_revision: Option<String>,
    /// The revision `canaryTrafficPercent` splits against, and `rollback` returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_rolledout_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
}

/// One entry of `traffic[]`: a revision and its share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    /// `latest` or `prev` with tag routing on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    /// Whether this entry follows the latest ready revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<bool>,
    /// Share of requests, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    /// The revision's own URL (with tag routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_name: Option<String>,
}

/// `status.modelStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<ModelRevisionStates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_status: Option<TransitionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_info: Option<FailureInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<ModelCopies>,
}

/// `modelStatus.copies`: how many copies of the model are loaded, and how many failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCopies {
    #[serde(default)]
    pub failed_copies: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_copies: Option<i64>,
}

/// `modelStatus.states`: the model's state in the serving and in the rolling-out revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRevisionStates {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_model_state: Option<ModelState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_model_state: Option<ModelState>,
}

open_enum! {
    /// `activeModelState` / `targetModelState`.
    pub enum ModelState {
        Empty => "",
        Pending => "Pending",
        Standby => "Standby",
        Loading => "Loading",
        Loaded => "Loaded",
        FailedToLoad => "FailedToLoad",
    }
}

open_enum! {
    /// `modelStatus.transitionStatus`.
    pub enum TransitionStatus {
        Empty => "",
        UpToDate => "UpToDate",
        InProgress => "InProgress",
        BlockedByFailedLoad => "BlockedByFailedLoad",
        InvalidSpec => "InvalidSpec",
    }
}

/// `modelStatus.lastFailureInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureInfo {
    /// e.g. `ModelLoadFailed`, `InvalidPredictorSpec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The revision whose load failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_revision_name: Option<String>,
    /// RFC 3339 time of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

// === impl InferenceServiceStatus ===

impl InferenceServiceStatus {
    /// The condition of that type, if present.
    pub fn condition(&self, type_: &ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| &c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition(&ConditionType::Ready)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// `components.predictor`, if present.
    pub fn predictor(&self) -> Option<&ComponentStatus> {
        self.components.get(&Component::Predictor)
    }
}
