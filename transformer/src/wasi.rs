//! The only host functions a module can reach: stubs for the WASI preview-1 imports that Rust's
//! std links in even when unused (ABI.md, "WASI and imports"). No files, network or clock.

use wasmtime::{Caller, Extern, Linker};

use crate::call::CallState;

const WASI: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;

/// `proc_exit` ends the call with this error, so the caller can say "exited with code N".
#[derive(Debug, thiserror::Error)]
#[error("exited with code {0}")]
pub(crate) struct Exit(pub(crate) i32);

pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI, "fd_write", fd_write)?;
    linker.func_wrap(WASI, "environ_sizes_get", environ_sizes_get)?;
    linker.func_wrap(WASI, "environ_get", |_: i32, _: i32| ERRNO_SUCCESS)?;
    linker.func_wrap(WASI, "random_get", random_get)?;
    linker.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(code)))
    })?;
    Ok(())
}

/// Captures what the guest writes to stdout and stderr (bounded, for error messages); any other
/// descriptor is `EBADF`.
fn fd_write(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nwritten: i32,
) -> i32 {
    if fd != 1 && fd != 2 {
        return ERRNO_BADF;
    }
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return ERRNO_FAULT;
    };
    let (memory, state) = memory.data_and_store_mut(&mut caller);
    let mut written: u32 = 0;
    for index in 0..u32::try_from(iovs_len).unwrap_or(0) {
        let Some(iov) = guest_u32_pair(memory, iovs, index) else {
            return ERRNO_FAULT;
        };
        let Some(bytes) = guest_slice(memory, iov.0, iov.1) else {
            return ERRNO_FAULT;
        };
        state.capture(bytes);
        written = written.saturating_add(iov.1);
    }
    match guest_slice_mut(memory, nwritten.cast_unsigned(), 4) {
        Some(out) => {
            out.copy_from_slice(&written.to_le_bytes());
            ERRNO_SUCCESS
        }
        None => ERRNO_FAULT,
    }
}

/// An empty environment: zero variables, zero bytes.
fn environ_sizes_get(mut caller: Caller<'_, CallState>, count: i32, size: i32) -> i32 {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return ERRNO_FAULT;
    };
    let memory = memory.data_mut(&mut caller);
    for at in [count, size] {
        match guest_slice_mut(memory, at.cast_unsigned(), 4) {
            Some(out) => out.copy_from_slice(&0u32.to_le_bytes()),
            None => return ERRNO_FAULT,
        }
    }
    ERRNO_SUCCESS
}

/// Not random: a fixed sequence, so that std's `HashMap` (which seeds itself from here) works
/// and every call behaves the same.
fn random_get(mut caller: Caller<'_, CallState>, buf: i32, len: i32) -> i32 {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return ERRNO_FAULT;
    };
    let memory = memory.data_mut(&mut caller);
    let Some(out) = guest_slice_mut(memory, buf.cast_unsigned(), len.cast_unsigned()) else {
        return ERRNO_FAULT;
    };
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in out.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    ERRNO_SUCCESS
}

fn guest_u32_pair(memory: &[u8], base: i32, index: u32) -> Option<(u32, u32)> {
    let at = base.cast_unsigned().checked_add(index.checked_mul(8)?)?;
    let bytes = guest_slice(memory, at, 8)?;
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((word(0), word(4)))
}

/// `memory[ptr..ptr + len]`, or `None` when out of bounds.
pub(crate) fn guest_slice(memory: &[u8], ptr: u32, len: u32) -> Option<&[u8]> {
    let start = usize::try_from(ptr).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    memory.get(start..end)
}

pub(crate) fn guest_slice_mut(memory: &mut [u8], ptr: u32, len: u32) -> Option<&mut [u8]> {
    let start = usize::try_from(ptr).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    memory.get_mut(start..end)
}
