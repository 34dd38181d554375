//! The staged probe: one primitive per stage, each with its own timeout,
//! each returning a typed [`StageResult`] (a failure is a measurement, not an
//! `Err`).
//!
//! The files show the pipeline: [`dns`], [`tcp`], [`proxy`], [`tls`] reach a
//! host ([`dial`] chains them); [`ping`], [`auth`], [`manifest`],
//! [`platform`], [`blob`] speak the registry API over the small HTTP
//! [`client`]; [`sequence`] runs them in order for each endpoint of a
//! target. [`clock`] asks a registry its time when a certificate fails only
//! on its dates. [`result`] holds the typed stage results, [`challenge`] and
//! [`registry_error`] parse what registries send back, [`context`] is what a
//! run shares.
//!
//! What `probe/` must not do: read a file or know a runtime's config (node
//! discovery hands in the resolver, the CA set, the TLS files' contents and
//! the proxy rules, so nothing here imports `config`); decide what a failure
//! means (that is `verdict/`); put a secret in a result. Inside `probe/`,
//! modules import each other by path (`super::client::...`), never through
//! the re-exports below, and without an import circle
//! (`tests/architecture.rs`).

pub mod auth;
pub mod blob;
pub mod candidates;
pub mod challenge;
pub mod client;
pub mod clock;
pub mod context;
pub mod dial;
pub mod dns;
pub mod identity;
pub mod io;
pub mod manifest;
pub mod memory;
pub mod ping;
pub mod platform;
pub mod proxy;
pub mod registry_error;
pub mod result;
pub mod sequence;
pub mod session;
pub mod tcp;
#[cfg(test)]
mod testutil;
pub mod tls;

pub use context::Context;
pub use result::{Detail, Stage, StageResult, Status};
pub use sequence::{Depth, EndpointOutcome, probe_endpoint, probe_target, probe_target_at};
