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
    /// The runtime, its release and what gave them away.
    pub runtime: Option<RuntimeReport>,
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

/// The node's runtime (`CONTRACT.md`'s top-level `runtime`), and for the
/// human views what gave it away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeReport {
    /// `containerd`, `cri-o`, `docker`, `k3s` or `unknown`.
    pub name: &'static str,
    /// The upstream release read from the runtime's binary.
    pub version: Option<String>,
    /// The node path of the binary the version was read from.
    pub source: Option<String>,
    /// What gave the runtime away, e.g. `containerd (socket /run/containerd/containerd.sock)`.
    pub detected: String,
    /// The evidence alone (`socket /run/containerd/containerd.sock`).
    pub evidence: String,
    /// Why the version is unknown, when it is.
    pub unknown_why: Option<String>,
}

impl From<&crate::config::node::NodeConfig> for RuntimeReport {
    fn from(node: &crate::config::node::NodeConfig) -> Self {
        Self {
            name: node.runtime.contract_name(),
            version: node.release.version.as_ref().map(|v| v.text.clone()),
            source: node.release.source.clone(),
            detected: node.describe_runtime(),
            evidence: node.evidence.clone(),
            unknown_why: node.release.unknown_why.clone(),
        }
    }
}

impl RuntimeReport {
    /// One line for the human views: `containerd 1.6.20 (socket ...; version
    /// from /usr/bin/containerd)`, or the version marked unknown.
    #[must_use]
    pub fn line(&self) -> String {
        let evidence = &self.evidence;
        match (&self.version, &self.source) {
            (Some(v), Some(src)) => format!("{} {v} ({evidence}; version from {src})", self.name),
            _ => format!("{}, version unknown ({evidence})", self.name),
        }
    }

    /// The plan's note when the version is unknown: what is assumed.
    #[must_use]
    pub fn assumption(&self) -> Option<String> {
        if self.version.is_some() {
            return None;
        }
        let why = self
            .unknown_why
            .as_deref()
            .map_or_else(String::new, |w| format!(" ({w})"));
        Some(format!(
            "runtime version unknown{why}: the probe assumes the newest release's behaviour"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_line_keeps_evidence_that_ends_in_a_bracket() {
        let rt = RuntimeReport {
            name: "containerd",
            version: None,
            source: None,
            detected: "containerd (kubelet runtime endpoint unix:///run/containerd/containerd.sock (/var/lib/kubelet/config.yaml))".to_owned(),
            evidence: "kubelet runtime endpoint unix:///run/containerd/containerd.sock (/var/lib/kubelet/config.yaml)".to_owned(),
            unknown_why: None,
        };
        assert_eq!(
            rt.line(),
            "containerd, version unknown (kubelet runtime endpoint unix:///run/containerd/containerd.sock (/var/lib/kubelet/config.yaml))"
        );
    }
}
