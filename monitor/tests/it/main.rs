//! The monitoring crate against real parts: an in-process infergate predictor (iris on ONNX
//! Runtime) behind the standalone monitoring proxy, a real Prometheus scraping it, and promtool
//! on our exposition, alert rules and their unit tests (scripts/setup-prometheus.sh installs
//! both).

mod dashboards;
mod prometheus;
mod standalone;
mod support;
