//! `status.conditions[]`: Knative-style conditions.

use serde::{Deserialize, Serialize};

use super::open_enum::open_enum;

/// One entry of `status.conditions`, as Knative writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: ConditionStatus,
    /// One CamelCase word saying why, e.g. `ModelLoadFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339 time of the last change of `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// `Error` (the default when absent), `Warning` or `Info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

open_enum! {
    /// `conditions[].type`.
    pub enum ConditionType {
        PredictorReady => "PredictorReady",
        TransformerReady => "TransformerReady",
        IngressReady => "IngressReady",
        Ready => "Ready",
        LatestDeploymentReady => "LatestDeploymentReady",
    }
}

/// `conditions[].status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

// === impl Condition ===

impl Condition {
    /// A condition with no reason or message.
    pub fn new(type_: ConditionType, status: ConditionStatus) -> Self {
        Self {
            type_,
            status,
            reason: None,
            message: None,
            last_transition_time: None,
            severity: None,
        }
    }
}
