//! The ABI glue [`export!`](crate::export) expands to. Not a public API.

use std::alloc::Layout;
use std::sync::Once;

use crate::io::OutputKind;
use crate::{Error, Input, Output, Protocol};

/// A transformer function.
pub type Entry = fn(Input<'_>) -> Result<Output, Error>;

/// Status codes in bits 60-63 of the return word (ABI.md).
const STATUS_SAME_PROTOCOL: u64 = 0;
const STATUS_UNCHANGED: u64 = 3;
const STATUS_ERROR: u64 = 4;
/// The longest output the return word can describe.
const MAX_LEN: usize = (1 << 28) - 1;

/// The exported `alloc`: `len` bytes, or 0 when out of memory.
pub fn alloc(len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    if len == 0 {
        // Any in-bounds address will do for nothing; 0 means failure.
        return 1;
    }
    let Ok(layout) = Layout::from_size_align(len, 1) else {
        return 0;
    };
    // SAFETY: the layout's size is not zero.
    address(unsafe { std::alloc::alloc(layout) })
}

/// The exported `dealloc`.
///
/// # Safety
/// `ptr` and `len` come from one `alloc` call (or an output) not yet freed.
pub unsafe fn dealloc(ptr: i32, len: i32) {
    let (Ok(len), false) = (usize::try_from(len), ptr == 0) else {
        return;
    };
    if let (true, Ok(layout)) = (len > 0, Layout::from_size_align(len, 1)) {
        // SAFETY: the caller promises this block came from `alloc` with this length.
        unsafe { std::alloc::dealloc(pointer(ptr), layout) }
    }
}

/// An exported entry point: reads the input, runs `function`, packs the result.
///
/// # Safety
/// `in_ptr..in_ptr+in_len` and `cfg_ptr..cfg_ptr+cfg_len` are initialised memory the host
/// wrote (ABI.md).
pub unsafe fn entry(
    function: Entry,
    in_ptr: i32,
    in_len: i32,
    cfg_ptr: i32,
    cfg_len: i32,
    in_proto: i32,
    client_proto: i32,
) -> i64 {
    static HOOK: Once = Once::new();
    // A panic aborts the instance (a trap); the host reports what the hook wrote to stderr.
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
    // SAFETY: the caller's contract.
    let (body, config) = unsafe { (slice(in_ptr, in_len), slice(cfg_ptr, cfg_len)) };
    let (status, bytes) = dispatch(function, body, config, in_proto, client_proto);
    pack(status, bytes)
}

/// Runs `function` on the input: the status word and the output bytes.
pub(crate) fn dispatch(
    function: Entry,
    body: &[u8],
    config: &[u8],
    in_proto: i32,
    client_proto: i32,
) -> (u64, Vec<u8>) {
    let error = |message: String| (STATUS_ERROR, message.into_bytes());
    let (Some(protocol), Some(client_protocol)) = (
        Protocol::from_code(in_proto),
        Protocol::from_code(client_proto),
    ) else {
        return error(format!(
            "unknown protocol codes {in_proto} and {client_proto}"
        ));
    };
    let Ok(config) = std::str::from_utf8(config) else {
        return error("the transformer config is not UTF-8".to_owned());
    };
    match function(Input {
        body,
        config,
        protocol,
        client_protocol,
    }) {
        Ok(Output {
            kind: OutputKind::Unchanged,
        }) => (STATUS_UNCHANGED, Vec::new()),
        Ok(Output {
            kind: OutputKind::Json { bytes, .. },
        }) if bytes.len() > MAX_LEN => error(format!(
            "the output ({} bytes) is larger than the ABI's {MAX_LEN}",
            bytes.len()
        )),
        Ok(Output {
            kind: OutputKind::Json { bytes, protocol },
        }) => (
            protocol.map_or(STATUS_SAME_PROTOCOL, Protocol::status),
            bytes,
        ),
        Err(message) => error(message.message().to_owned()),
    }
}

/// Leaks `bytes` (the instance is discarded after the call, or the host frees it with
/// `dealloc(ptr, len)`) and packs status, length and address.
fn pack(status: u64, bytes: Vec<u8>) -> i64 {
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len().min(MAX_LEN) as u64;
    let ptr = if bytes.is_empty() {
        0
    } else {
        u64::from(address(Box::leak(bytes).as_mut_ptr()).cast_unsigned())
    };
    ((status << 60) | (len << 32) | ptr).cast_signed()
}

/// # Safety
/// A non-empty range must be initialised memory.
unsafe fn slice<'a>(ptr: i32, len: i32) -> &'a [u8] {
    match usize::try_from(len) {
        // SAFETY: the caller's contract.
        Ok(len) if len > 0 => unsafe { std::slice::from_raw_parts(pointer(ptr), len) },
        _ => &[],
    }
}

/// A linear-memory address as the ABI's i32 (wasm32 addresses are 32 bits).
fn address(ptr: *mut u8) -> i32 {
    (ptr as usize as u32).cast_signed()
}

fn pointer(address: i32) -> *mut u8 {
    address.cast_unsigned() as usize as *mut u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(input: Input<'_>) -> Result<Output, Error> {
        match input.body() {
            b"same" => Ok(Output::raw(input.config_str().as_bytes().to_vec())),
            b"v2" => Output::json(&(input.client_protocol() == Protocol::V1))
                .map(|out| out.with_protocol(Protocol::V2)),
            b"keep" => Ok(Output::unchanged()),
            _ => Err(Error::new("bad input")),
        }
    }

    #[test]
    fn dispatch_sets_each_status() {
        assert_eq!(dispatch(echo, b"same", b"{}", 1, 1), (0, b"{}".to_vec()));
        assert_eq!(dispatch(echo, b"v2", b"", 1, 1), (2, b"true".to_vec()));
        assert_eq!(dispatch(echo, b"v2", b"", 2, 2), (2, b"false".to_vec()));
        assert_eq!(dispatch(echo, b"keep", b"", 2, 2), (3, Vec::new()));
        assert_eq!(
            dispatch(echo, b"other", b"", 1, 1),
            (4, b"bad input".to_vec())
        );
        assert_eq!(
            dispatch(echo, b"same", b"", 7, 1).0,
            4,
            "unknown protocol code"
        );
        assert_eq!(
            dispatch(echo, b"same", &[0xff], 1, 1).0,
            4,
            "config not UTF-8"
        );
    }

    #[test]
    fn config_defaults_when_empty() {
        #[derive(Default, serde::Deserialize, PartialEq, Debug)]
        struct Config {
            max: Option<u32>,
        }
        let input = |config| Input::new(b"", config, Protocol::V1, Protocol::V1);
        assert_eq!(input("").config::<Config>(), Ok(Config::default()));
        assert_eq!(
            input(r#"{"max": 3}"#).config::<Config>(),
            Ok(Config { max: Some(3) })
        );
        let error = input("{").config::<Config>().expect_err("not JSON");
        assert!(
            error.message().starts_with("invalid transformer config: "),
            "{error}"
        );
    }
}
