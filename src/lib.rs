//! regprobe: probe container registries from a Kubernetes node the way its
//! runtime would, and give one verdict per target.
//!
//! The pipeline, one module per step, data flowing one way:
//! node files ([`hostroot`]) -> [`config`] discovery -> [`target`]s
//! (endpoints in runtime order) -> staged [`probe`] -> [`verdict`] ->
//! [`report`] renderers. [`run`] wires it (settings in, `Report` out);
//! [`cli`] turns arguments into settings and [`app`] is what the command
//! line does with them. [`pod`] reads a pod for `probe pod`, [`explain`]
//! a kubelet message, [`summary`] the agents' logs.

pub mod app;
pub mod cli;
pub mod code;
pub mod config;
pub mod daemon;
pub mod explain;
pub mod hostroot;
pub mod netconf;
pub mod oci;
pub mod pod;
pub mod probe;
pub mod reference;
pub mod report;
pub mod run;
pub mod secret;
pub mod summary;
pub mod target;
pub mod verdict;
