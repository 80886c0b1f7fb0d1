//! KServe `serving.kserve.io/v1beta1` InferenceService types, serde only (no kube).
//!
//! The gateway loads a folder of InferenceService YAML with [`parse_documents`], which names
//! every field infergate does not honour; [`InferenceService::predictor_model`] says whether the
//! predictor can be served (and what to do when not), [`InferenceService::validate`] checks the
//! values KServe restricts, and [`InferenceServiceStatus`] prints status the way KServe does.
//!
//! ```text
//! YAML ──parse_documents──> Parsed { isvc, warnings } ──validate / predictor_model──> gateway
//!                                                                          status <── gateway
//! ```
//!
//! What this crate is not: a Kubernetes client. The kube-rs controller will sit behind a
//! `controller` feature; the autoscaler parses the Knative annotations named in
//! [`annotations`].

pub mod api;
mod load;
mod predictor_model;
#[cfg(any(test, feature = "test-util"))]
mod test_util;
mod validate;

pub use self::{
    api::{
        API_VERSION, Addressable, Batcher, Component, ComponentStatus, Condition, ConditionStatus,
        ConditionType, Container, FailureInfo, Framework, FrameworkSpec, InferenceService,
        InferenceServiceSpec, InferenceServiceStatus, KIND, Logger, LoggerMode, ModelCopies,
        ModelFormatSpec, ModelRevisionStates, ModelSpec, ModelState, ModelStatus, ObjectMeta,
        PredictorSpec, ProtocolVersion, Quantity, ResourceRequirements, ScaleMetric, TrafficTarget,
        TransformerSpec, TransitionStatus, WasmModule, annotations,
    },
    load::{LoadError, Parsed, Position, Warning, WarningKind, parse_documents},
    predictor_model::{ImageName, ModelFormat, PredictorModel, UnsupportedModel},
    validate::ValidationError,
};
