//! Integration tests: real wasmtime, the real example transformers
//! (`scripts/build-transformers.sh`) and small WAT fixtures.

mod errors;
mod examples;
mod fixtures;
mod isolation;
mod load;
mod runaway;
mod support;
