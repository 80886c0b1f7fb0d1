//! `metadata`: the subset of Kubernetes' `ObjectMeta` that infergate reads or echoes back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An object's identity and its free-form labels and annotations.
///
/// `name`, `namespace`, `labels` and `annotations` are honoured. The server-set fields
/// (`generation`, `uid`, `resourceVersion`, `creationTimestamp`) are kept so that YAML printed by
/// `kubectl get -o yaml` loads without warnings and prints back unchanged; infergate sets
/// `generation` itself when it stores a spec. Any other field warns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The object's name, unique within its namespace. Required: the loader reports its absence.
    pub name: String,
    /// The namespace; `None` means the loader's default namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations, among them the Knative autoscaling ones (see [`crate::annotations`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Incremented on every change of the spec; `status.observedGeneration` echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// RFC 3339 time, as the API server writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

// === impl ObjectMeta ===

impl ObjectMeta {
    /// Metadata with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}
