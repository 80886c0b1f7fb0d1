//! The predictor's integration tests: one binary, one module per area.

mod batching;
mod candle;
