//! The fixture modules live in the crate (feature `fixtures`) so the gateway's tests share them.

pub(crate) use infergate_transformer::fixtures::*;
