//! The one shape every runtime's registry config has: [`RuntimeConfig`],
//! which containerd ([`crate::config::runtime::containerd::ContainerdConfig`]), k3s
//! ([`crate::config::runtime::k3s::K3sConfig`]), CRI-O ([`crate::config::runtime::crio::CrioConfig`]) and
//! Docker ([`crate::config::runtime::docker::DockerConfig`]) implement, and the
//! [`RegistryPlan`] it gives for one registry: endpoints in the runtime's
//! order with their TLS, headers and credentials, remarks for a person, and
//! findings about the files consulted.
//!
//! Each runtime module reads its files in its own `discover(&HostRoot) ->
//! (Config, Vec<Source>)`; after that [`crate::config::node`] only talks to this
//! trait. Nothing here reads files, resolves names or applies proxies (the
//! caller applies the daemon's proxy environment and the kubelet's
//! credentials on top).

use crate::config::Source;
use crate::hostroot::HostRoot;
use crate::reference::Reference;
use crate::target::Endpoint;
use std::fmt;

/// What a runtime's config says about one registry (or one image on it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryPlan {
    /// The hosts the runtime would try, in its order (mirrors first); empty
    /// when it would try none.
    pub endpoints: Vec<Endpoint>,
    /// Facts that explain a failure, for the target's hint ("the mirror's
    /// certs.d has a key without a certificate", "CRI-O blocks it").
    pub remarks: Vec<String>,
    /// Findings about the files consulted on the way, with severity and
    /// line; merged into the report's `config_sources`.
    pub sources: Vec<Source>,
    /// Why the runtime refuses every pull of this registry, when it does
    /// (CRI-O `blocked = true`): the contract's `CONFIG_BLOCKED`.
    pub blocked: Option<String>,
}

/// A runtime's registry config, discovered from the node.
pub trait RuntimeConfig: fmt::Debug + Send + Sync {
    /// Every registry the config names, in its order; Docker Hub only when
    /// the config names it (the caller adds the runtime default).
    fn registries(&self, root: &HostRoot) -> Vec<String>;

    /// The plan for `registry` (a reference's domain, or `--registry`'s
    /// `host[:port]`), or for `image` on it: some runtimes choose endpoints
    /// by repository or by tag/digest (CRI-O prefixes and `pull-from-mirror`,
    /// k3s `rewrite`). Reads files through `root` (certs.d, hosts.toml).
    fn plan(&self, root: &HostRoot, registry: &str, image: Option<&Reference>) -> RegistryPlan;
}
