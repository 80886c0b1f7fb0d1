//! Compiling a module and checking it against the ABI once, so that nothing about its shape can
//! fail at request time.

use std::sync::Arc;

use wasmtime::{ExternType, FuncType, Module, ModuleExport, ValType};

use crate::abi::{ALLOC, MEMORY, POSTPROCESS, PREPROCESS};
use crate::transformer::{Exports, Loaded};
use crate::{Engine, Limits, LoadError, Transformer};

/// The WASI reactor initialiser (`wasm32-wasip1` cdylibs may export it).
const INITIALIZE: &str = "_initialize";

pub(crate) fn compile(
    engine: &Engine,
    name: &str,
    wasm: &[u8],
    config: &str,
    limits: Limits,
) -> Result<Transformer, LoadError> {
    check_limits(engine, name, &limits)?;
    let module = Module::new(&engine.inner.wasm, wasm).map_err(|error| LoadError::InvalidWasm {
        name: name.to_owned(),
        reason: format!("{error:#}"),
    })?;
    check_imports(name, &module)?;
    let exports = check_exports(name, &module, &limits)?;

    let link = |error: wasmtime::Error| LoadError::Link {
        name: name.to_owned(),
        reason: format!("{error:#}"),
    };
    let mut linker = engine.inner.linker.clone();
    linker
        .define_unknown_imports_as_traps(&module)
        .map_err(link)?;
    let pre = linker.instantiate_pre(&module).map_err(link)?;

    Ok(Transformer {
        inner: Arc::new(Loaded {
            name: name.to_owned(),
            engine: engine.clone(),
            pre,
            exports: Arc::new(exports),
            config: config.as_bytes().into(),
            limits,
        }),
    })
}

fn check_limits(engine: &Engine, name: &str, limits: &Limits) -> Result<(), LoadError> {
    let config = &engine.inner.config;
    if limits.max_memory_bytes > config.max_memory_bytes {
        return Err(LoadError::LimitAboveEngine {
            name: name.to_owned(),
            field: "max_memory_bytes",
            asked: limits.max_memory_bytes,
            engine: config.max_memory_bytes,
        });
    }
    if limits.fuel.is_some() && !config.fuel {
        return Err(LoadError::FuelDisabled {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Functions are linked (the WASI stubs, else a trap when called); anything else cannot be.
fn check_imports(name: &str, module: &Module) -> Result<(), LoadError> {
    for import in module.imports() {
        let kind = match import.ty() {
            ExternType::Func(_) => continue,
            ExternType::Memory(_) => "memory",
            ExternType::Table(_) => "table",
            ExternType::Global(_) => "global",
            ExternType::Tag(_) => "tag",
        };
        return Err(LoadError::UnsupportedImport {
            name: name.to_owned(),
            module: import.module().to_owned(),
            field: import.name().to_owned(),
            kind,
        });
    }
    Ok(())
}

fn check_exports(name: &str, module: &Module, limits: &Limits) -> Result<Exports, LoadError> {
    let missing = |export, why| LoadError::MissingExport {
        name: name.to_owned(),
        export,
        why,
    };
    let wrong = |export, expected, found: String| LoadError::WrongExport {
        name: name.to_owned(),
        export,
        expected,
        found,
    };

    let memory = match module.get_export(MEMORY) {
        None => {
            return Err(missing(
                MEMORY,
                "the linear memory the host reads and writes",
            ));
        }
        Some(ExternType::Memory(memory)) => memory,
        Some(other) => return Err(wrong(MEMORY, "a memory", kind(&other))),
    };
    if memory.is_64() || memory.is_shared() {
        return Err(wrong(
            MEMORY,
            "a 32-bit unshared memory",
            format!("{memory:?}"),
        ));
    }
    let initial = memory.minimum().saturating_mul(memory.page_size());
    if initial > limits.max_memory_bytes {
        return Err(LoadError::InitialMemoryTooLarge {
            name: name.to_owned(),
            initial,
            limit: limits.max_memory_bytes,
        });
    }

    let func =
        |export: &'static str, params: &[ValType], results: &[ValType], expected| match module
            .get_export(export)
        {
            None => Ok(None),
            Some(ExternType::Func(ty)) if signature_is(&ty, params, results) => Ok(Some(())),
            Some(ExternType::Func(ty)) => Err(wrong(export, expected, signature(&ty))),
            Some(other) => Err(wrong(export, expected, kind(&other))),
        };
    let entry = [
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
        ValType::I32,
    ];
    let entry_sig = "a function (i32, i32, i32, i32, i32, i32) -> i64";
    func(
        ALLOC,
        &[ValType::I32],
        &[ValType::I32],
        "a function (i32) -> i32",
    )?
    .ok_or_else(|| missing(ALLOC, "the allocator the host copies the input into"))?;
    let has_initialize = func(INITIALIZE, &[], &[], "a function () -> ()")?.is_some();
    let has_preprocess = func(PREPROCESS, &entry, &[ValType::I64], entry_sig)?.is_some();
    let has_postprocess = func(POSTPROCESS, &entry, &[ValType::I64], entry_sig)?.is_some();
    if !has_preprocess && !has_postprocess {
        return Err(LoadError::NoEntryPoint {
            name: name.to_owned(),
        });
    }

    let index = |export: &str| module.get_export_index(export);
    let present = |export: &str| -> ModuleExport { index(export).expect("export checked above") };
    Ok(Exports {
        memory: present(MEMORY),
        alloc: present(ALLOC),
        initialize: has_initialize.then(|| present(INITIALIZE)),
        preprocess: has_preprocess.then(|| present(PREPROCESS)),
        postprocess: has_postprocess.then(|| present(POSTPROCESS)),
    })
}

fn signature_is(ty: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    let same = |a: ValType, b: &ValType| a.matches(b) && b.matches(&a);
    ty.params().len() == params.len()
        && ty.results().len() == results.len()
        && ty.params().zip(params).all(|(a, b)| same(a, b))
        && ty.results().zip(results).all(|(a, b)| same(a, b))
}

fn signature(ty: &FuncType) -> String {
    let list = |types: &mut dyn Iterator<Item = ValType>| {
        types.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "a function ({}) -> ({})",
        list(&mut ty.params()),
        list(&mut ty.results())
    )
}

fn kind(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(ty) => signature(ty),
        ExternType::Global(_) => "a global".to_owned(),
        ExternType::Table(_) => "a table".to_owned(),
        ExternType::Memory(_) => "a memory".to_owned(),
        ExternType::Tag(_) => "a tag".to_owned(),
    }
}
