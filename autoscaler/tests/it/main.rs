//! Integration tests of `infergate-autoscaler`: one binary (one link step), one module per area.

mod activator;
mod config;
mod properties;
mod scenarios;
mod sim;
mod window;
