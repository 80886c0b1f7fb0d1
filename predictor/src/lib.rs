//! infergate's predictor: one model server "pod".
//!
//! It decodes KServe V1 and Open Inference Protocol (V2) requests into checked tensors, runs
//! them on a model runtime (ONNX Runtime behind the `onnx` feature, candle behind `candle`) on
//! dedicated worker threads, and encodes the outputs back.
//!
//! ```text
//! HTTP body -> protocol (decode + check against ModelMetadata) -> batcher/workers -> Session::run
//!           <- protocol (encode, `outputs` selection, binary extension) <-
//! ```
//!
//! [`protocol`] has no runtime dependency and can be used alone (the gateway's monitoring does).

pub mod batch;
pub mod config;
pub mod error;
pub mod home;
pub mod http;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod route;
pub mod runtime;
pub mod server;
pub mod storage;
pub mod worker;

pub use self::{
    batch::{BatchConfig, QueuePolicy},
    config::PredictorConfig,
    error::{ServeError, StartError},
    model::{LoadedModel, ModelMetadata, RuntimeError, Session, SessionFactory, TensorSpec},
    server::Server,
    storage::{ModelFormat, StorageUri},
    worker::{PoolConfig, WorkerPool},
};
