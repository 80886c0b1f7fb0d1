//! infergate's benchmarks: a load generator and the side-by-side comparisons behind
//! BENCHMARKS.md.
//!
//! These are measurements, not tests: nothing here asserts a speed. The `infergate-bench`
//! binary drives them; this library holds the parts so they can be tested on their own.
//!
//! ```text
//! infergate-bench load       -> load::run against any HTTP/1.1 server (closed loop, HDR histogram)
//! infergate-bench predictor  -> for each model: infergate predictor, then KServe ModelServer,
//!                               each under load at c = 1, 8, 64; ONNX Runtime in-process as the floor
//!                            -> markdown table, rewritten into BENCHMARKS.md between markers
//! infergate-bench gateway    -> iris through infergate serve vs direct vs nginx (to the predictor,
//!                               and to a static answer), at c = 1, 64: what the gateway hop
//!                               adds, next to what nginx adds and to one bare nginx hop
//! infergate-bench transport  -> hyper client -> hyper server process over loopback TCP vs a Unix
//!                               socket, at c = 1, 64: which one the gateway -> pod hop should use
//! infergate-bench batching   -> the MLP predictor with dynamic batching on vs off at c = 64
//! infergate-bench coldstart  -> infergate serve with minReplicas 0: first request at zero -> answer,
//!                               20 cycles per model (p50, p90, max, split), and a ramp from zero
//! infergate-bench monitoring -> infergate serve with in-gateway monitoring on (sample ratio 1) vs off,
//!                               iris and MLP at c = 64
//! infergate-bench transformer -> iris through infergate serve with the WebAssembly transformer
//!                               (V1 named features) vs without (V2), c = 1, 64: the added latency
//! ```

pub mod batching;
pub mod coldstart;
pub mod gateway;
pub mod load;
pub mod machine;
pub mod markers;
pub mod monitoring;
pub mod predictor;
pub mod server;
pub mod transformer;
pub mod transport;
