//! The predictor's configuration: what to serve, where, and its limits.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::protocol::Limits;
use crate::runtime::RuntimeOptions;
use crate::storage::ModelFormat;
use crate::worker::PoolConfig;

/// Default largest request body: 16 MiB (DESIGN.md §12).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;
/// Default time in-flight requests get to finish after SIGTERM.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything one predictor needs.
#[derive(Clone, Debug)]
pub struct PredictorConfig {
    /// The name clients use in URLs (`/v2/models/{name}`).
    pub model_name: String,
    /// The version served, if the model has one; `/versions/{v}` URLs must match it.
    pub model_version: Option<String>,
    /// Where the model is: a local path or `file://` URI.
    pub storage_uri: String,
    /// The format; inferred from the files when `None`.
    pub model_format: Option<ModelFormat>,
    /// Address to listen on. Default 127.0.0.1.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one. Default 8080.
    pub http_port: u16,
    /// Listen on this Unix domain socket instead of `host:http_port` (a stale socket file is
    /// replaced; the file is removed on exit). Default: none.
    pub unix_socket: Option<PathBuf>,
    /// Worker threads and queue bound.
    pub pool: PoolConfig,
    /// Runtime settings.
    pub runtime: RuntimeOptions,
    /// Tensor limits.
    pub limits: Limits,
    /// Largest request body in bytes; larger gets 413. Default 16 MiB.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish on shutdown. Default 30 s.
    pub shutdown_timeout: Duration,
}

impl PredictorConfig {
    /// A configuration with every default, serving `storage_uri` as `model_name`.
    pub fn new(model_name: impl Into<String>, storage_uri: impl Into<String>) -> Self {
        PredictorConfig {
            model_name: model_name.into(),
            model_version: None,
            storage_uri: storage_uri.into(),
            model_format: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 8080,
            unix_socket: None,
            pool: PoolConfig::default(),
            runtime: RuntimeOptions::default(),
            limits: Limits::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}
