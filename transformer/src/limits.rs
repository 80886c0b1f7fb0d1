//! What a transformer call may use ([`Limits`], per transformer) and how the shared engine is
//! sized ([`EngineConfig`]).

use std::time::Duration;

/// Bounds on one transformer's calls. Set when the module is compiled (one revision).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may run guest code (epoch interruption; a call past it fails
    /// with 504). Also how long a call waits for a free instance slot.
    pub deadline: Duration,
    /// The most linear memory one instance may have, in bytes. At most the engine's
    /// [`EngineConfig::max_memory_bytes`].
    pub max_memory_bytes: u64,
    /// Instructions (wasmtime fuel units) one call may execute; `None` for no fuel bound.
    /// Needs an engine built with [`EngineConfig::fuel`].
    pub fuel: Option<u64>,
    /// The largest output a call may return, in bytes.
    pub max_output_bytes: usize,
}

/// How the shared [`Engine`](crate::Engine) is built. One per process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Instance slots in the pooling allocator: the most calls that run at once, across every
    /// transformer. A call beyond it waits for a slot, up to its deadline.
    pub max_concurrent: u32,
    /// The largest memory any transformer may be given (the pooling allocator's slot size).
    pub max_memory_bytes: u64,
    /// How often the ticker thread advances the epoch: the resolution of every deadline.
    pub tick: Duration,
    /// Compile fuel metering in, so that [`Limits::fuel`] can be used (about 3 µs per call).
    pub fuel: bool,
    /// Bytes of each memory slot kept resident between calls and reset with `memset` (only the
    /// pages a call touched, found with Linux's `PAGEMAP_SCAN` where the kernel has it) instead
    /// of being unmapped: a fresh instance then takes no page faults on memory its slot's
    /// previous user already touched.
    pub keep_resident_bytes: usize,
}

// === impl Limits ===

impl Limits {
    /// 100 ms.
    pub const fn default_deadline() -> Duration {
        Duration::from_millis(100)
    }

    /// 64 MiB.
    pub const fn default_max_memory_bytes() -> u64 {
        64 << 20
    }

    /// 16 MiB, the gateway's body limit.
    pub const fn default_max_output_bytes() -> usize {
        16 << 20
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Self::default_deadline(),
            max_memory_bytes: Self::default_max_memory_bytes(),
            fuel: None,
            max_output_bytes: Self::default_max_output_bytes(),
        }
    }
}

// === impl EngineConfig ===

impl EngineConfig {
    /// 64 concurrent calls.
    pub const fn default_max_concurrent() -> u32 {
        64
    }

    /// 1 ms.
    pub const fn default_tick() -> Duration {
        Duration::from_millis(1)
    }

    /// 1 MiB per slot.
    pub const fn default_keep_resident_bytes() -> usize {
        1 << 20
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent: Self::default_max_concurrent(),
            max_memory_bytes: Limits::default_max_memory_bytes(),
            tick: Self::default_tick(),
            fuel: false,
            keep_resident_bytes: Self::default_keep_resident_bytes(),
        }
    }
}
