//! Config discovery: read the node's files (always through [`HostRoot`]) and
//! turn them into targets and endpoints. Each submodule parses one format
//! from `&str` and never touches the disk itself.
//!
//! Problems are collected as [`Source`]s with path, line and reason; a broken
//! file never stops the run.

pub mod containerd;
pub mod crio;
pub mod docker;
pub mod dockercfg;
pub mod hosts;
pub mod k3s;
pub mod node;
pub mod proxy;
pub mod resolv;
pub mod runtime;
pub mod trust;

use serde::Serialize;

/// A config file that was consulted, and what went wrong with it, if anything.
/// Serialised as the report's `config_sources` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The node path (as the runtime sees it, not re-rooted), e.g. `/etc/containerd/config.toml`.
    pub path: String,
    /// `containerd`, `hosts.toml`, `crio`, `docker`, `kubelet`, `k3s`, `proxy`, `resolv`, `hosts`, `trust`, `docker-config`, ...
    pub kind: String,
    /// Why the file could not be used, with a line number where there is one.
    pub error: Option<String>,
}

impl Source {
    #[must_use]
    pub fn ok(path: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            error: None,
        }
    }

    #[must_use]
    pub fn error(
        path: impl Into<String>,
        kind: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            error: Some(error.into()),
        }
    }
}

/// The 1-based line of a byte offset in `text`, for error messages.
#[must_use]
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}
