//! Routing: which InferenceService, and which of its revisions, a request goes to.
//!
//! ```text
//! Host {name}.{ns}.{domain} ─┐                        ┌─ x-infergate-revision: pins a revision
//! latest-/prev-{name} Host ──┼─> ServiceRoute ────────┼─ tag (latest-/prev- Host)
//! /v1/models/{name}... ──────┤   (namespace/name)     └─ else the 100-slot traffic schedule
//! /v2/models/{name}/... ─────┘                                    │
//!   (path: namespace `default` only)                              v
//!                                                           RevisionRoute -> proxy
//! ```
//!
//! The controller builds a new [`RouteTable`] on every change and swaps it in; requests only read
//! it, so routing never waits on the control plane. Resolution allocates nothing on success.
//!
//! A [`Resolved`] borrows the table: to await the proxy with it, hold the table with
//! `ArcSwap::load_full` (or clone the `Arc<RevisionRoute>`) rather than a short-lived `load()`
//! guard.

mod error;
mod parse;
mod split;
mod table;

#[cfg(test)]
mod tests;

pub use self::{
    error::RouteError,
    table::{Pick, Resolved, RevisionRoute, RouteTable, RouteTableBuilder, ServiceRoute},
};

/// Pins a request to one revision of its service by name (404 when the service has no such ready
/// revision). Meant for tests and debugging.
pub const REVISION_HEADER: &str = "x-infergate-revision";
/// KServe's default ingress domain: services answer at `{name}.{namespace}.example.com`.
pub const DEFAULT_DOMAIN: &str = "example.com";
/// The namespace path routing (`/v1/models/{name}`, `/v2/models/{name}/...`) looks in.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The tag of the latest rolled-out revision (`latest-{name}` Host).
pub const TAG_LATEST: &str = "latest";
/// The tag of the previous rolled-out revision (`prev-{name}` Host).
pub const TAG_PREV: &str = "prev";
