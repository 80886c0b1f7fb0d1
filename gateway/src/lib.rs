//! infergate's gateway: InferenceServices from a folder of YAML, immutable revisions, local
//! predictor pods, and the ingress that routes and splits traffic between them.

pub mod admin;
pub mod controller;
pub mod ingress;
pub mod metrics;
pub mod pods;
pub mod proxy;
pub mod route;
pub mod scaling;
pub mod serve;
pub mod store;
