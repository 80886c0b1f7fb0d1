//! One call: a fresh store and instance, the input copied in, the entry point run under the
//! deadline and memory cap, the output checked and copied out (ABI.md, "One call").
//!
//! The guest runs on a wasmtime fiber inside the caller's future: at every epoch tick it either
//! yields to the executor (before its deadline, so a spinning guest never holds an async worker
//! for more than a tick) or is interrupted (past it).

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use wasmtime::{Instance, Memory, ResourceLimiter, Store, StoreContextMut, Trap, UpdateDeadline};

use crate::abi::Returned;
use crate::transformer::Loaded;
use crate::wasi::{Exit, guest_slice};
use crate::{CallError, Protocol, Stage, Transformed};

/// How much of the guest's stdout/stderr a call keeps for its error message.
const CAPTURE_BYTES: usize = 4 << 10;
/// Table growth beyond this is refused (Rust modules use a few hundred entries).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The store's data: the deadline, the memory cap and what the guest wrote.
pub(crate) struct CallState {
    /// When the call must end (wall clock).
    deadline: Instant,
    max_memory: usize,
    /// A `memory.grow` past the cap was refused: a later trap is then an out-of-memory.
    memory_refused: bool,
    captured: Vec<u8>,
}

// === impl CallState ===

impl CallState {
    fn new(deadline: Duration, max_memory: u64) -> Self {
        Self {
            deadline: Instant::now() + deadline,
            max_memory: usize::try_from(max_memory).unwrap_or(usize::MAX),
            memory_refused: false,
            captured: Vec::new(),
        }
    }

    /// Keeps the first [`CAPTURE_BYTES`] written to stdout/stderr.
    pub(crate) fn capture(&mut self, bytes: &[u8]) {
        let room = CAPTURE_BYTES.saturating_sub(self.captured.len());
        self.captured
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What the guest wrote, on one line.
    fn written(&self) -> String {
        let text = String::from_utf8_lossy(&self.captured);
        text.split('\n')
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_memory;
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }
}

// === impl Loaded ===

impl Loaded {
    pub(crate) async fn call(
        &self,
        stage: Stage,
        body: &[u8],
        protocol: Protocol,
        client: Protocol,
    ) -> Result<Transformed, CallError> {
        let entry = match stage {
            Stage::Preprocess => self.exports.preprocess,
            Stage::Postprocess => self.exports.postprocess,
        };
        let entry = entry.ok_or_else(|| CallError::NoEntryPoint {
            transformer: self.name.clone(),
            stage,
        })?;
        let engine = &self.engine.inner;
        // Declared before the store, so dropped after it: the slot is free once the instance is.
        let _slot = engine
            .slots
            .acquire(self.limits.deadline)
            .await
            .ok_or_else(|| CallError::Overloaded {
                transformer: self.name.clone(),
                max_concurrent: engine.config.max_concurrent,
            })?;
        let _ticking = engine.ticker.active();

        let state = CallState::new(self.limits.deadline, self.limits.max_memory_bytes);
        let mut store = Store::new(&engine.wasm, state);
        store.limiter(|state| state);
        // Every tick, the guest checks the clock: the call ends at the first tick past its
        // deadline, however late or early the ticker's ticks come. Set before instantiation, so
        // a start function is bounded too.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(past_deadline);
        if engine.config.fuel {
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            store
                .set_fuel(fuel)
                .map_err(|error| self.host(&format!("cannot set fuel: {error:#}")))?;
        }

        let returned = self.run(&mut store, entry, body, protocol, client).await;
        let (word, memory) = returned.map_err(|error| self.failure(store.data(), &error))?;
        self.output(
            &store,
            memory,
            Returned::decode(word),
            body,
            stage,
            protocol,
        )
    }

    /// Instantiates, copies the input in and runs the entry point: the raw return word.
    async fn run(
        &self,
        store: &mut Store<CallState>,
        entry: wasmtime::ModuleExport,
        body: &[u8],
        protocol: Protocol,
        client: Protocol,
    ) -> wasmtime::Result<(i64, Memory)> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let memory = export(store, &instance, &self.exports.memory)?
            .into_memory()
            .ok_or_else(|| wasmtime::format_err!("`memory` is not a memory"))?;
        if let Some(initialize) = &self.exports.initialize {
            func(store, &instance, initialize)?
                .typed::<(), ()>(&*store)?
                .call_async(&mut *store, ())
                .await?;
        }

        let alloc = func(store, &instance, &self.exports.alloc)?.typed::<i32, i32>(&*store)?;
        let total = body
            .len()
            .checked_add(self.config.len())
            .and_then(|n| i32::try_from(n).ok());
        let total = total.ok_or_else(|| {
            wasmtime::format_err!("the input ({} bytes) is too large", body.len())
        })?;
        let ptr = alloc.call_async(&mut *store, total).await?;
        if ptr == 0 && total > 0 {
            wasmtime::bail!("`alloc({total})` returned 0 (out of memory?)");
        }
        let data = memory.data_mut(&mut *store);
        let start = usize::try_from(ptr.cast_unsigned())?;
        let target = data
            .get_mut(start..start + body.len() + self.config.len())
            .ok_or_else(|| {
                wasmtime::format_err!("`alloc({total})` returned {start}, outside memory")
            })?;
        let (body_part, config_part) = target.split_at_mut(body.len());
        body_part.copy_from_slice(body);
        config_part.copy_from_slice(&self.config);

        let entry = func(store, &instance, &entry)?
            .typed::<(i32, i32, i32, i32, i32, i32), i64>(&*store)?;
        let body_len = i32::try_from(body.len())?;
        let config_ptr = ptr.wrapping_add(body_len);
        let config_len = i32::try_from(self.config.len())?;
        let word = entry
            .call_async(
                &mut *store,
                (
                    ptr,
                    body_len,
                    config_ptr,
                    config_len,
                    protocol.code(),
                    client.code(),
                ),
            )
            .await?;
        Ok((word, memory))
    }

    /// Turns the return word into the result, checking bounds, size and JSON.
    fn output(
        &self,
        store: &Store<CallState>,
        memory: Memory,
        returned: Returned,
        input: &[u8],
        stage: Stage,
        protocol: Protocol,
    ) -> Result<Transformed, CallError> {
        let invalid = |reason: String| CallError::InvalidOutput {
            transformer: self.name.clone(),
            stage,
            reason,
        };
        let data = memory.data(store);
        let read = |ptr: u32, len: u32| {
            guest_slice(data, ptr, len).ok_or_else(|| {
                invalid(format!(
                    "{len} bytes at address {ptr} lie outside its {} bytes of memory",
                    data.len()
                ))
            })
        };
        match returned {
            Returned::Json {
                ptr,
                len,
                protocol: declared,
            } => {
                let max = self.limits.max_output_bytes;
                if usize::try_from(len).map_or(true, |len| len > max) {
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    return Err(CallError::OutputTooLarge {
                        transformer: self.name.clone(),
                        len,
                        max,
                    });
                }
                let bytes = read(ptr, len)?;
                serde_json::from_slice::<IgnoredAny>(bytes)
                    .map_err(|error| invalid(format!("not JSON: {error}")))?;
                Ok(Transformed {
                    body: Some(bytes.to_vec()),
                    protocol: declared.unwrap_or(protocol),
                })
            }
            Returned::Unchanged => {
                tracing::trace!(transformer = %self.name, %stage, bytes = input.len(), "passed through");
                Ok(Transformed {
                    body: None,
                    protocol,
                })
            }
            Returned::Rejected { ptr, len } => {
                let message = std::str::from_utf8(read(ptr, len.min(CAPTURE_BYTES as u32))?)
                    .map_err(|error| invalid(format!("its error message is not UTF-8: {error}")))?;
                Err(CallError::Rejected {
                    transformer: self.name.clone(),
                    stage,
                    message: message.to_owned(),
                })
            }
            Returned::Unknown(status) => Err(invalid(format!(
                "unknown status {status} in its return value"
            ))),
        }
    }

    /// Classifies a failure inside the guest (or the ABI calls around it).
    fn failure(&self, state: &CallState, error: &wasmtime::Error) -> CallError {
        let transformer = self.name.clone();
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return CallError::Deadline {
                    transformer,
                    deadline: self.limits.deadline,
                };
            }
            Some(Trap::OutOfFuel) => {
                return CallError::OutOfFuel {
                    transformer,
                    fuel: self.limits.fuel.unwrap_or(u64::MAX),
                };
            }
            _ => {}
        }
        let cause = match error.downcast_ref::<Exit>() {
            Some(exit) => exit.to_string(),
            None => error.root_cause().to_string(),
        };
        let written = state.written();
        let message = if written.is_empty() {
            cause
        } else {
            format!("{written} ({cause})")
        };
        if state.memory_refused {
            CallError::OutOfMemory {
                transformer,
                limit: self.limits.max_memory_bytes,
                message,
            }
        } else {
            CallError::Trap {
                transformer,
                message,
            }
        }
    }

    fn host(&self, reason: &str) -> CallError {
        CallError::Host {
            transformer: self.name.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// The epoch callback: interrupt once the wall-clock deadline has passed, else yield to the
/// executor (tokio's `yield_now`, so the task goes behind the others ready on its worker) and
/// look again at the next tick.
fn past_deadline(store: StoreContextMut<'_, CallState>) -> wasmtime::Result<UpdateDeadline> {
    Ok(if Instant::now() >= store.data().deadline {
        UpdateDeadline::Interrupt
    } else {
        UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
    })
}

fn export(
    store: &mut Store<CallState>,
    instance: &Instance,
    export: &wasmtime::ModuleExport,
) -> wasmtime::Result<wasmtime::Extern> {
    instance
        .get_module_export(&mut *store, export)
        .ok_or_else(|| wasmtime::format_err!("an export vanished"))
}

fn func(
    store: &mut Store<CallState>,
    instance: &Instance,
    at: &wasmtime::ModuleExport,
) -> wasmtime::Result<wasmtime::Func> {
    export(store, instance, at)?
        .into_func()
        .ok_or_else(|| wasmtime::format_err!("an export is not a function"))
}
