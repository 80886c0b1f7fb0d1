#![doc = include_str!("../ABI.md")]
//!
//! # This crate
//!
//! The host side: one [`Engine`] per process ([`EngineConfig`]: the pooling allocator's slots,
//! the epoch tick, fuel), [`Engine::compile`] once per revision ([`Limits`]; a [`LoadError`]
//! fails the revision), then [`Transformer::preprocess`] / [`Transformer::postprocess`] per
//! request, each in a fresh instance ([`CallError::status`] gives the HTTP status).

mod abi;
mod call;
mod engine;
mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod limits;
mod load;
mod protocol;
mod slots;
mod ticker;
mod transformer;
mod wasi;

pub use self::{
    engine::Engine,
    error::{CallError, EngineError, LoadError, Stage},
    limits::{EngineConfig, Limits},
    protocol::Protocol,
    transformer::{Transformed, Transformer},
};
