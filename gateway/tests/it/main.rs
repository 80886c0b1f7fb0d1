//! The gateway crate's integration tests: real `infergate` processes on 127.0.0.1, one binary.

mod predictor;
mod support;
