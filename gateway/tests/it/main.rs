//! The gateway crate's integration tests: real `infergate` processes on 127.0.0.1, one binary.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap is a failed test, with its location"
)]

mod autoscale;
mod monitoring;
mod predictor;
mod serve;
mod support;
mod transformer;
