//! Errors: [`LoadError`] when a module is compiled (fails the revision), [`CallError`] when a
//! call fails (an HTTP status for the client), [`EngineError`] when the engine cannot start.

use std::time::Duration;

use http::StatusCode;

/// The shared engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration (for example the pooling allocator could not reserve
    /// its address space).
    #[error("cannot create the WebAssembly engine: {0}")]
    Wasmtime(String),
    /// The epoch ticker thread could not be spawned.
    #[error("cannot spawn the transformer epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
}

/// A module cannot be used as a transformer. The message names the transformer and says what
/// is wrong, for the revision's `Failed` condition.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a valid WebAssembly module, cranelift could not compile them, or the
    /// engine cannot host it (for example its initial memory exceeds the engine's slot size).
    #[error("transformer {name}: cannot compile the WebAssembly module: {reason}")]
    InvalidWasm { name: String, reason: String },
    /// A required export is missing.
    #[error("transformer {name}: the module does not export `{export}` ({why})")]
    MissingExport {
        name: String,
        export: &'static str,
        why: &'static str,
    },
    /// Neither entry point is exported.
    #[error("transformer {name}: the module exports neither `preprocess` nor `postprocess`")]
    NoEntryPoint { name: String },
    /// An export has the wrong kind or type.
    #[error("transformer {name}: export `{export}` must be {expected}, found {found}")]
    WrongExport {
        name: String,
        export: &'static str,
        expected: &'static str,
        found: String,
    },
    /// The module imports something the host cannot provide.
    #[error(
        "transformer {name}: unsupported import `{module}::{field}` ({kind}); only functions may be imported"
    )]
    UnsupportedImport {
        name: String,
        module: String,
        field: String,
        kind: &'static str,
    },
    /// The module's initial memory is larger than its limit.
    #[error(
        "transformer {name}: the module's initial memory ({initial} bytes) exceeds its limit max_memory_bytes = {limit}"
    )]
    InitialMemoryTooLarge {
        name: String,
        initial: u64,
        limit: u64,
    },
    /// The limits ask for more than the engine provides.
    #[error("transformer {name}: {field} = {asked} exceeds the engine's {engine}")]
    LimitAboveEngine {
        name: String,
        field: &'static str,
        asked: u64,
        engine: u64,
    },
    /// `Limits::fuel` is set on an engine built without fuel metering.
    #[error(
        "transformer {name}: limits.fuel is set but the engine was built without fuel metering (EngineConfig::fuel)"
    )]
    FuelDisabled { name: String },
    /// Linking or pre-instantiation failed.
    #[error("transformer {name}: cannot link the module: {reason}")]
    Link { name: String, reason: String },
}

/// A transformer call failed. [`CallError::status`] is the HTTP status for the client.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest refused its input: the client's fault in `preprocess` (400), the predictor's in
    /// `postprocess` (500).
    #[error("transformer {transformer} {stage} rejected its input: {message}")]
    Rejected {
        transformer: String,
        stage: Stage,
        message: String,
    },
    /// The call ran past its deadline.
    #[error("transformer {transformer} exceeded its {} ms deadline", deadline.as_millis())]
    Deadline {
        transformer: String,
        deadline: Duration,
    },
    /// The call ran out of fuel.
    #[error("transformer {transformer} ran out of fuel ({fuel} units)")]
    OutOfFuel { transformer: String, fuel: u64 },
    /// The guest trapped.
    #[error("transformer {transformer} trapped: {message}")]
    Trap {
        transformer: String,
        message: String,
    },
    /// The guest's memory would have grown past its limit and the guest then failed.
    #[error("transformer {transformer} ran out of memory (limit {limit} bytes): {message}")]
    OutOfMemory {
        transformer: String,
        limit: u64,
        message: String,
    },
    /// The guest's output is unusable (not JSON, out of bounds, unknown status, ...).
    #[error("transformer {transformer} {stage} returned invalid output: {reason}")]
    InvalidOutput {
        transformer: String,
        stage: Stage,
        reason: String,
    },
    /// The guest's output is larger than `Limits::max_output_bytes`.
    #[error(
        "transformer {transformer} returned {len} bytes, more than its max_output_bytes = {max}"
    )]
    OutputTooLarge {
        transformer: String,
        len: usize,
        max: usize,
    },
    /// Every instance slot stayed busy for the whole deadline.
    #[error("transformer {transformer}: all {max_concurrent} transformer instance slots are busy")]
    Overloaded {
        transformer: String,
        max_concurrent: u32,
    },
    /// The module does not export the entry point that was called.
    #[error("transformer {transformer} has no {stage} entry point")]
    NoEntryPoint { transformer: String, stage: Stage },
    /// Instantiation or an ABI call failed in a way the guest did not cause in the entry point
    /// (for example `alloc` returned 0).
    #[error("transformer {transformer}: {reason}")]
    Host { transformer: String, reason: String },
}

/// Which entry point a call ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `preprocess`: the client's request.
    Preprocess,
    /// `postprocess`: the predictor's response.
    Postprocess,
}

// === impl CallError ===

impl CallError {
    /// 400 for a request `preprocess` rejected, 503 when overloaded, 504 for a deadline or
    /// fuel, else 500.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Rejected {
                stage: Stage::Preprocess,
                ..
            } => StatusCode::BAD_REQUEST,
            Self::Rejected {
                stage: Stage::Postprocess,
                ..
            } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Deadline { .. } | Self::OutOfFuel { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Trap { .. }
            | Self::OutOfMemory { .. }
            | Self::InvalidOutput { .. }
            | Self::OutputTooLarge { .. }
            | Self::NoEntryPoint { .. }
            | Self::Host { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

// === impl Stage ===

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Preprocess => "preprocess",
            Self::Postprocess => "postprocess",
        })
    }
}
