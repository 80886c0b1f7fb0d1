//! [`Transformer`]: one compiled module with its configuration and limits (one revision), and
//! what a call returns ([`Transformed`]).

use std::sync::Arc;

use wasmtime::{InstancePre, ModuleExport};

use crate::call::CallState;
use crate::{CallError, Engine, Limits, LoadError, Protocol, Stage};

/// A compiled, checked transformer. Cheap to clone; calls may run on any number of threads at
/// once, each in a fresh instance.
#[derive(Clone)]
pub struct Transformer {
    pub(crate) inner: Arc<Loaded>,
}

pub(crate) struct Loaded {
    pub(crate) name: String,
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) exports: Arc<Exports>,
    pub(crate) config: Box<[u8]>,
    pub(crate) limits: Limits,
}

/// Where the ABI's exports are, looked up once at load time.
pub(crate) struct Exports {
    pub(crate) memory: ModuleExport,
    pub(crate) alloc: ModuleExport,
    /// The WASI reactor initialiser, called before anything else when present.
    pub(crate) initialize: Option<ModuleExport>,
    pub(crate) preprocess: Option<ModuleExport>,
    pub(crate) postprocess: Option<ModuleExport>,
}

/// What a call produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transformed {
    /// The new body, or `None` when the guest passed its input through unchanged (forward the
    /// bytes already held).
    pub body: Option<Vec<u8>>,
    /// The protocol the result speaks: the one the guest declared, else the input's. After
    /// `preprocess` it picks the predictor endpoint (`V1`: `/v1/models/{name}:predict`, `V2`:
    /// `/v2/models/{name}/infer`).
    pub protocol: Protocol,
}

// === impl Transformer ===

impl Transformer {
    /// Compiles and checks a module with `engine` (same as [`Engine::compile`]).
    pub fn compile(
        engine: &Engine,
        name: &str,
        wasm: &[u8],
        config: &str,
        limits: Limits,
    ) -> Result<Self, LoadError> {
        engine.compile(name, wasm, config, limits)
    }

    /// The same compiled module with another configuration string, without compiling again
    /// (a revision whose only change is `spec.transformer.wasm.config`).
    #[must_use]
    pub fn with_config(&self, config: &str) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Loaded {
                name: inner.name.clone(),
                engine: inner.engine.clone(),
                pre: inner.pre.clone(),
                exports: inner.exports.clone(),
                config: config.as_bytes().into(),
                limits: inner.limits.clone(),
            }),
        }
    }

    /// The name errors carry (the InferenceService's).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether the module exports `preprocess`.
    pub fn has_preprocess(&self) -> bool {
        self.inner.exports.preprocess.is_some()
    }

    /// Whether the module exports `postprocess`.
    pub fn has_postprocess(&self) -> bool {
        self.inner.exports.postprocess.is_some()
    }

    /// Runs `preprocess` on a client's request `body`, which speaks `protocol`. Takes at most
    /// about twice the deadline (a wait for a free slot, then the call) and never blocks the
    /// thread: the guest yields to the executor at every epoch tick. Needs a tokio runtime with
    /// its time driver (for the bounded wait for a slot).
    pub async fn preprocess(
        &self,
        body: &[u8],
        protocol: Protocol,
    ) -> Result<Transformed, CallError> {
        self.inner
            .call(Stage::Preprocess, body, protocol, protocol)
            .await
    }

    /// Runs `postprocess` on the predictor's response `body`, which speaks `protocol`; `client`
    /// is the protocol of the client's original request (what it expects back). As
    /// [`Transformer::preprocess`] for time and the runtime.
    pub async fn postprocess(
        &self,
        body: &[u8],
        protocol: Protocol,
        client: Protocol,
    ) -> Result<Transformed, CallError> {
        self.inner
            .call(Stage::Postprocess, body, protocol, client)
            .await
    }
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("name", &self.inner.name)
            .field("preprocess", &self.has_preprocess())
            .field("postprocess", &self.has_postprocess())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}
