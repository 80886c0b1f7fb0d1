//! Modules refused at load time, with a reason that names the problem.

use infergate_transformer::{Limits, LoadError};

use crate::fixtures::{self, module, wat};
use crate::support::{engine, example_wasm, iris, minilm};

fn refuse(wasm: &[u8]) -> LoadError {
    engine()
        .compile("broken", wasm, "", Limits::default())
        .expect_err("the module is refused")
}

const ALLOC: &str = r#"(func (export "alloc") (param i32) (result i32) (i32.const 0))"#;
const ENTRY: &str =
    r#"(func (export "preprocess") (param i32 i32 i32 i32 i32 i32) (result i64) (i64.const 0))"#;
const MEMORY: &str = r#"(memory (export "memory") 1)"#;

#[tokio::test]
async fn not_webassembly() {
    let error = refuse(b"hello, I am not wasm");
    assert!(matches!(error, LoadError::InvalidWasm { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("transformer broken: cannot compile the WebAssembly module: "),
        "{error}"
    );
}

#[tokio::test]
async fn missing_memory() {
    let error = refuse(&wat(&format!("(module {ALLOC} {ENTRY})")));
    assert_eq!(
        error.to_string(),
        "transformer broken: the module does not export `memory` (the linear memory the host reads and writes)"
    );
}

#[tokio::test]
async fn missing_allocator() {
    let error = refuse(&wat(&format!("(module {MEMORY} {ENTRY})")));
    assert!(
        matches!(
            error,
            LoadError::MissingExport {
                export: "alloc",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("does not export `alloc`"),
        "{error}"
    );
}

#[tokio::test]
async fn missing_both_entry_points() {
    let error = refuse(&wat(&format!("(module {MEMORY} {ALLOC})")));
    assert_eq!(
        error.to_string(),
        "transformer broken: the module exports neither `preprocess` nor `postprocess`"
    );
}

#[tokio::test]
async fn an_entry_point_of_the_wrong_type() {
    let error = refuse(&wat(&format!(
        r#"(module {MEMORY} {ALLOC} (func (export "postprocess") (param i32 i32) (result i32) (i32.const 0)))"#
    )));
    assert_eq!(
        error.to_string(),
        "transformer broken: export `postprocess` must be a function (i32, i32, i32, i32, i32, i32) -> i64, \
         found a function (i32, i32) -> (i32)"
    );
}

#[tokio::test]
async fn memory_exported_as_something_else() {
    let error = refuse(&wat(&format!(
        r#"(module {ALLOC} {ENTRY} (global (export "memory") i32 (i32.const 0)))"#
    )));
    assert!(
        error
            .to_string()
            .contains("export `memory` must be a memory, found a global"),
        "{error}"
    );
}

#[tokio::test]
async fn an_imported_memory() {
    let error = refuse(&wat(&format!(
        r#"(module (import "env" "memory" (memory 1)) {ALLOC} {ENTRY})"#
    )));
    assert_eq!(
        error.to_string(),
        "transformer broken: unsupported import `env::memory` (memory); only functions may be imported"
    );
}

#[tokio::test]
async fn an_initial_memory_over_the_limit() {
    // 100 pages = 6.25 MiB > 4 MiB.
    let wasm = wat(&format!(
        r#"(module (memory (export "memory") 100) {ALLOC} {ENTRY})"#
    ));
    let limits = Limits {
        max_memory_bytes: 4 << 20,
        ..Limits::default()
    };
    let error = engine()
        .compile("broken", &wasm, "", limits)
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "transformer broken: the module's initial memory (6553600 bytes) exceeds its limit max_memory_bytes = 4194304"
    );
    // 2000 pages = 125 MiB: more than the engine's slots hold, which wasmtime itself refuses.
    let error = refuse(&wat(&format!(
        r#"(module (memory (export "memory") 2000) {ALLOC} {ENTRY})"#
    )));
    assert!(
        error
            .to_string()
            .contains("exceeds the limit of 0x4000000 bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn limits_the_engine_cannot_give() {
    let engine = engine();
    let wasm = module(fixtures::ECHO);
    let fuel = Limits {
        fuel: Some(1000),
        ..Limits::default()
    };
    let error = engine
        .compile("fuel", &wasm, "", fuel)
        .expect_err("no fuel metering");
    assert!(matches!(error, LoadError::FuelDisabled { .. }), "{error:?}");
    let huge = Limits {
        max_memory_bytes: 1 << 30,
        ..Limits::default()
    };
    let error = engine
        .compile("huge", &wasm, "", huge)
        .expect_err("above the pool's slot size");
    assert_eq!(
        error.to_string(),
        "transformer huge: max_memory_bytes = 1073741824 exceeds the engine's 67108864"
    );
}

#[tokio::test]
async fn the_examples_load_with_their_entry_points() {
    assert!(iris().has_preprocess() && iris().has_postprocess());
    assert!(minilm().has_preprocess() && !minilm().has_postprocess());
    assert_eq!(iris().name(), "iris");
}

#[tokio::test]
async fn a_truncated_example_is_refused() {
    let wasm = example_wasm("iris");
    let error = refuse(&wasm[..wasm.len() / 2]);
    assert!(matches!(error, LoadError::InvalidWasm { .. }), "{error:?}");
}
