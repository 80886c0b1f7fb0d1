//! Shared helpers: engines, example modules, a lock for timing-sensitive tests.

use std::path::PathBuf;
use std::sync::OnceLock;

use infergate_transformer::{Engine, EngineConfig, Limits, Transformer};

/// Tests that measure time or hammer every core take this, so they do not distort each other.
/// (tokio's lock: it is held across awaits, and each test has its own runtime; it cannot be
/// poisoned by a failed test.)
pub(crate) async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

pub(crate) fn engine() -> Engine {
    Engine::new(EngineConfig::default()).expect("engine with the default config")
}

/// `examples/transformers/build/<name>.wasm`; fails (never skips) when it has not been built.
pub(crate) fn example_wasm(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/transformers/build")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}; run scripts/build-transformers.sh first",
            path.display()
        )
    })
}

/// The iris example with its class names, compiled once for the whole test binary (cranelift
/// in a debug build takes seconds per module).
pub(crate) fn iris() -> &'static Transformer {
    static IRIS: OnceLock<Transformer> = OnceLock::new();
    IRIS.get_or_init(|| {
        example(
            shared_engine(),
            "iris",
            r#"{"classes": ["setosa", "versicolor", "virginica"]}"#,
        )
    })
}

/// The minilm example without config, compiled once for the whole test binary.
pub(crate) fn minilm() -> &'static Transformer {
    static MINILM: OnceLock<Transformer> = OnceLock::new();
    MINILM.get_or_init(|| example(shared_engine(), "minilm", ""))
}

/// One engine for tests that need nothing special from it.
pub(crate) fn shared_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(engine)
}

pub(crate) fn example(engine: &Engine, name: &str, config: &str) -> Transformer {
    engine
        .compile(name, &example_wasm(name), config, Limits::default())
        .expect("the example transformer loads")
}

pub(crate) fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("the output is JSON")
}

/// This process's resident set size in bytes, from /proc/self/status.
pub(crate) fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}
