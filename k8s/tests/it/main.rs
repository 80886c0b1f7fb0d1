//! infergate-k8s integration tests: one binary (one link step), one module per concern.

mod load_errors;
mod model;
mod samples;
mod status;
mod support;
mod validate;
mod warnings;
