//! Test support shared by this crate's and the gateway's integration tests (feature
//! `test-support`, enabled only as a dev-dependency): a real Prometheus started on loopback
//! ([`Prometheus`]), the shipped Grafana dashboards as queries Prometheus can run
//! ([`Dashboard`]), and where the Prometheus tools are ([`tool`]).
//!
//! Everything here panics with a message on failure: it is for tests, where a panic is the
//! failure report.

mod dashboards;
mod prometheus;

use std::path::{Path, PathBuf};

pub use self::dashboards::{Dashboard, Query};
pub use self::prometheus::{Prometheus, value};

/// The repository root (the folder that holds `dashboards/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `promtool` or `prometheus`: on PATH or in /usr/bin. Fails (never skips) when missing.
pub fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([Path::new("/usr/bin").join(name)])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: run scripts/setup-prometheus.sh"))
}
