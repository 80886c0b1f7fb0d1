//! The shared [`Engine`]: one wasmtime engine with the pooling allocator and epoch interruption,
//! its ticker thread, and the slots that bound concurrent calls.

use std::sync::Arc;

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use crate::call::CallState;
use crate::slots::Slots;
use crate::ticker::Ticker;
use crate::{EngineConfig, EngineError, Limits, LoadError, Transformer};

/// One per process: compiles transformers and runs their calls. Cheap to clone (shared); the
/// ticker thread stops when the last clone and every [`Transformer`] compiled with it are
/// dropped.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) wasm: wasmtime::Engine,
    pub(crate) config: EngineConfig,
    /// The host functions every module may import (the WASI stubs).
    pub(crate) linker: Linker<CallState>,
    pub(crate) ticker: Ticker,
    pub(crate) slots: Slots,
}

// === impl Engine ===

impl Engine {
    /// Builds the engine and starts its (parked until the first call) epoch ticker thread.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        let wasm = wasmtime::Engine::new(&wasmtime_config(&config))
            .map_err(|error| EngineError::Wasmtime(format!("{error:#}")))?;
        let mut linker = Linker::new(&wasm);
        crate::wasi::add_to_linker(&mut linker)
            .map_err(|error| EngineError::Wasmtime(format!("{error:#}")))?;
        let ticker = Ticker::spawn(&wasm, config.tick).map_err(EngineError::Ticker)?;
        let slots = Slots::new(config.max_concurrent);
        Ok(Self {
            inner: Arc::new(Inner {
                wasm,
                config,
                linker,
                ticker,
                slots,
            }),
        })
    }

    /// An engine with [`EngineConfig::default`].
    pub fn default_engine() -> Result<Self, EngineError> {
        Self::new(EngineConfig::default())
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Compiles and checks a module (once per revision). `config` is the string the entry points
    /// receive (`spec.transformer.wasm.config`; empty when unset).
    pub fn compile(
        &self,
        name: &str,
        wasm: &[u8],
        config: &str,
        limits: Limits,
    ) -> Result<Transformer, LoadError> {
        crate::load::compile(self, name, wasm, config, limits)
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn wasmtime_config(config: &EngineConfig) -> Config {
    let slots = config.max_concurrent;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(slots)
        .total_memories(slots)
        // One fiber stack per running call: a store keeps its stack for all its async calls.
        .total_stacks(slots)
        .total_tables(slots)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(config.keep_resident_bytes.min(64 << 10))
        .pagemap_scan(Enabled::Auto);

    let mut wasmtime = Config::new();
    wasmtime
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .consume_fuel(config.fuel)
        .memory_init_cow(true);
    wasmtime
}
