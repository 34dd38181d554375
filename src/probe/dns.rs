//! The dns stage: resolve a host with the node's resolver (built from
//! `<root>/etc/resolv.conf` and `<root>/etc/hosts`), never the probe's own.
//!
//! STUB: to be filled in (hickory-resolver 0.26).

use super::{Stage, StageResult};
use crate::code::Code;
use crate::config::Source;
use crate::hostroot::HostRoot;
use std::net::IpAddr;
use std::time::Duration;

/// The node's resolver.
pub struct NodeResolver {
    _private: (),
}

impl NodeResolver {
    /// Build the resolver from the node's files; problems are reported as sources.
    #[must_use]
    pub fn from_root(_root: &HostRoot, _timeout: Duration) -> (Self, Vec<Source>) {
        (Self { _private: () }, Vec::new())
    }
}

/// Resolve `host`. An IP literal resolves to itself without asking anyone.
pub async fn resolve(_resolver: &NodeResolver, host: &str, _timeout: Duration) -> (StageResult, Vec<IpAddr>) {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return (
            StageResult::ok(Stage::Dns, Duration::ZERO, format!("{ip} (literal)"), serde_json::json!({"addresses": [ip.to_string()]})),
            vec![ip],
        );
    }
    (
        StageResult::fail(Stage::Dns, Code::DnsTimeout, Duration::ZERO, "dns stage not implemented", serde_json::json!({})),
        Vec::new(),
    )
}
