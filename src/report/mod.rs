//! Report renderers. The domain [`Report`] is built once per run; renderers
//! turn it into the contract JSON ([`json`]), the human view ([`text`]) or a
//! plan ([`plan`]), writing to any `io::Write` so tests render into a
//! `Vec<u8>`. Renderers only render: they decide nothing and read no file.

pub mod explain;
pub mod json;
pub mod metrics;
pub mod npd;
pub mod plan;
pub mod summary;
pub mod text;

use crate::config::Source;
use crate::probe::EndpointOutcome;
use crate::target::Target;
use crate::verdict::{NodeFinding, TargetStatus, Verdict};
use std::time::{Duration, SystemTime};

/// One target's result.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub target: Target,
    pub verdict: Verdict,
    /// Endpoints tried, in order.
    pub outcomes: Vec<EndpointOutcome>,
    /// The target's probe, wall time.
    pub duration: Duration,
}

/// A whole run.
#[derive(Clone, Debug)]
pub struct Report {
    pub node: String,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub status: TargetStatus,
    pub config_sources: Vec<Source>,
    /// One cause for every failing target, when there is one.
    pub node_finding: Option<NodeFinding>,
    pub targets: Vec<TargetReport>,
    /// `probe plan`: nothing was probed; renderers leave verdicts out and
    /// show each endpoint's config instead.
    pub plan: bool,
    /// The runtime and what gave it away, e.g. `containerd (socket /run/containerd/containerd.sock)`.
    pub runtime: Option<String>,
    /// Facts about how the node config was read (which k3s view), for the human views.
    pub notes: Vec<String>,
    /// `probe pod`: the pod, and the kubelet's word beside each container's verdict.
    pub pod: Option<crate::pod::PodReport>,
}
