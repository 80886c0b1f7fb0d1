//! Guest SDK for infergate transformers: write `preprocess` and/or `postprocess` as ordinary
//! Rust functions over JSON and name them in [`export!`]; the SDK implements the host ABI
//! (`transformer/ABI.md`: the exported allocator, the packed return word, the status codes).
//!
//! ```
//! use infergate_transformer_guest::{Error, Input, Output, Protocol, export};
//!
//! /// Upper-cases every V1 instance that is a string; passes anything else through.
//! fn preprocess(input: Input<'_>) -> Result<Output, Error> {
//!     if input.protocol() != Protocol::V1 {
//!         return Ok(Output::unchanged());
//!     }
//!     let mut body: serde_json::Value = input.json()?;
//!     let Some(instances) = body["instances"].as_array_mut() else {
//!         return Err(Error::new("`instances` must be an array"));
//!     };
//!     for text in instances.iter_mut() {
//!         if let Some(upper) = text.as_str().map(str::to_uppercase) {
//!             *text = upper.into();
//!         }
//!     }
//!     Output::json(&body)
//! }
//!
//! export!(preprocess = preprocess);
//! # fn main() {}
//! ```
//!
//! An `Err` is the input's fault: the gateway answers 400 with its message. A panic is a bug:
//! the instance traps and the gateway answers 500 with the panic message. Each call runs in a
//! fresh instance, so statics start from their initial values every time.
//!
//! Build for `wasm32-wasip1` as a `cdylib` (see `examples/transformers/`). On other targets
//! [`export!`] exports nothing, so a transformer crate still compiles (and its functions can be
//! unit-tested) natively.

// The ABI is raw pointers into linear memory: the exported allocator, reading the input where
// the host wrote it, and the bump allocator.
#![allow(
    unsafe_code,
    reason = "the host ABI passes raw pointers into linear memory"
)]

#[cfg(all(target_arch = "wasm32", feature = "bump-alloc"))]
mod bump;
mod io;
#[doc(hidden)]
pub mod rt;

pub use self::io::{Error, Input, Output, Protocol};

/// Exports the ABI for the named functions, each `fn(Input<'_>) -> Result<Output, Error>`:
/// `export!(preprocess = my_pre)`, `export!(postprocess = my_post)` or both,
/// `export!(preprocess = my_pre, postprocess = my_post)`. Also exports `alloc` and `dealloc`.
/// Use it once per crate.
#[macro_export]
macro_rules! export {
    ($($stage:ident = $function:path),+ $(,)?) => {
        $( $crate::export!(@entry $stage, $function); )+

        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "the ABI's allocator export")]
        #[unsafe(export_name = "alloc")]
        pub extern "C" fn __infergate_alloc(len: i32) -> i32 {
            $crate::rt::alloc(len)
        }

        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "the ABI's allocator export")]
        #[unsafe(export_name = "dealloc")]
        pub extern "C" fn __infergate_dealloc(ptr: i32, len: i32) {
            // SAFETY: the ABI says the host only hands back what `alloc` gave it.
            unsafe { $crate::rt::dealloc(ptr, len) }
        }
    };
    (@entry preprocess, $function:path) => {
        $crate::export!(@extern "preprocess", __infergate_preprocess, $function);
    };
    (@entry postprocess, $function:path) => {
        $crate::export!(@extern "postprocess", __infergate_postprocess, $function);
    };
    (@extern $export:literal, $symbol:ident, $function:path) => {
        // Exported under the ABI's name; the Rust name leaves `preprocess` free for the user.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code, reason = "the ABI's entry point export")]
        #[unsafe(export_name = $export)]
        pub extern "C" fn $symbol(
            in_ptr: i32,
            in_len: i32,
            cfg_ptr: i32,
            cfg_len: i32,
            in_proto: i32,
            client_proto: i32,
        ) -> i64 {
            // SAFETY: the host wrote the input and config at these addresses (ABI.md).
            unsafe { $crate::rt::entry($function, in_ptr, in_len, cfg_ptr, cfg_len, in_proto, client_proto) }
        }

        // Natively nothing is exported; this keeps the function used and type-checked.
        #[cfg(not(target_arch = "wasm32"))]
        const _: $crate::rt::Entry = $function;
    };
}
