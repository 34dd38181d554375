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
    /// What the run was: a probe, a plan or a pod's probe.
    pub kind: ReportKind,
    /// The runtime and what gave it away, e.g. `containerd (socket /run/containerd/containerd.sock)`.
    pub runtime: Option<String>,
    /// Facts about how the node config was read (which k3s view), for the human views.
    pub notes: Vec<String>,
}

/// What a run was, with what only that kind has.
#[derive(Clone, Debug)]
pub enum ReportKind {
    /// `probe`: every target probed and judged.
    Probe,
    /// `probe plan`: nothing was probed; renderers leave verdicts out and
    /// show each endpoint's config instead.
    Plan,
    /// `probe pod`: the pod, and the kubelet's word beside each container's verdict.
    Pod(Box<crate::pod::PodReport>),
}

impl Report {
    /// Whether this is a plan (nothing probed).
    #[must_use]
    pub fn is_plan(&self) -> bool {
        matches!(self.kind, ReportKind::Plan)
    }

    /// The pod of a `probe pod` run.
    #[must_use]
    pub fn pod(&self) -> Option<&crate::pod::PodReport> {
        match &self.kind {
            ReportKind::Pod(p) => Some(p),
            _ => None,
        }
    }
}
