//! The `serving.kserve.io/v1beta1` InferenceService types, serde only.
//!
//! Field names follow KServe's (`#[serde(rename_all = "camelCase")]`), optional fields are
//! `Option`s and are skipped when serializing, so a value prints back as KServe would.
//! Only the fields infergate honours (DESIGN §6) are modelled; the loader warns about the rest.

pub mod annotations;
mod condition;
mod inference_service;
mod meta;
mod model;
mod open_enum;
mod predictor;
mod status;
mod transformer;

pub use self::{
    condition::{Condition, ConditionStatus, ConditionType},
    inference_service::{API_VERSION, InferenceService, InferenceServiceSpec, KIND},
    meta::ObjectMeta,
    model::{
        Container, Framework, FrameworkSpec, ModelFormatSpec, ModelSpec, ProtocolVersion, Quantity,
        ResourceRequirements,
    },
    predictor::{Batcher, Logger, LoggerMode, PredictorSpec, ScaleMetric},
    status::{
        Addressable, Component, ComponentStatus, FailureInfo, InferenceServiceStatus, ModelCopies,
        ModelRevisionStates, ModelState, ModelStatus, TrafficTarget, TransitionStatus,
    },
    transformer::{TransformerSpec, WasmModule},
};
