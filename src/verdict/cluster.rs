//! The cluster-wide verdicts of `probe summarize`: given every node's
//! verdict on a target, does every node that reached the question fail it
//! the same way (the config, the network path, the name or the registry is
//! the same for all), or only some (those nodes differ)? Nodes stopped
//! earlier by a fault of their own are set apart, not counted.
//!
//! Pure: the summary (`summary.rs`) reads the reports and hands each
//! target's cells in; the wording of causes comes from the advice table.

use crate::code::{Category, Code};
use crate::verdict::TargetStatus;
use crate::verdict::advice;
use std::collections::HashMap;

/// One node's result for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub status: TargetStatus,
    pub code: Code,
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
}

impl Cell {
    /// What the matrix shows: `OK`, `DEGRADED` or the failing code.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self.status {
            TargetStatus::Ok => "OK",
            TargetStatus::Degraded => "DEGRADED",
            TargetStatus::Fail => self.code.as_str(),
        }
    }

    #[must_use]
    pub fn fails(&self) -> bool {
        self.status == TargetStatus::Fail
    }
}

/// Whether every node that probes a target fails it the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    All,
    Some,
}

impl Scope {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Some => "some",
        }
    }
}

/// The cluster-wide verdict on one failing target and code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterVerdict {
    pub target: String,
    pub code: Code,
    pub category: Category,
    /// The failing nodes, in row order.
    pub nodes: Vec<String>,
    /// Nodes whose check reached this code's stage (see [`reach`]).
    pub nodes_total: usize,
    pub scope: Scope,
    /// Nodes that have the target but stopped before this code's stage by a
    /// fault of their own (their network, name, config or credentials), in
    /// row order: not counted in `nodes_total`.
    pub stopped_earlier: Vec<StoppedEarlier>,
    /// The cluster-wide sentence: "12/12 nodes fail `TLS_UNTRUSTED` for
    /// registry.corp: the CA is missing on every node".
    pub message: String,
    /// The probe's message on those nodes (the most common).
    pub target_message: String,
    /// The probe's hint on those nodes (the most common).
    pub hint: Option<String>,
}

/// A node left out of a verdict: its own fault stopped its check earlier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoppedEarlier {
    pub node: String,
    pub code: Code,
    /// The node's report has a node finding (it reaches no registry).
    pub node_finding: bool,
}

/// The most common value, ties to the first seen.
fn most_common<T: Eq + std::hash::Hash + Clone>(items: impl IntoIterator<Item = T>) -> Option<T> {
    let mut counts: Vec<(T, usize)> = Vec::new();
    let mut index: HashMap<T, usize> = HashMap::new();
    for item in items {
        if let Some(&i) = index.get(&item) {
            counts[i].1 += 1;
        } else {
            index.insert(item.clone(), counts.len());
            counts.push((item, 1));
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(t, _)| t)
}

/// How far a check got before a code stopped it, in stage order: config
/// and the reference (nothing sent), DNS, connecting (TCP or the proxy),
/// TLS, the registry's first answer (`/v2/`), auth, then the manifest and
/// what follows. A code's verdict is about the question its stage asks; a
/// node stopped at an earlier stage never asked it.
#[must_use]
pub fn reach(code: Code) -> u8 {
    match code {
        Code::Ok => u8::MAX,
        Code::InvalidReference | Code::ConfigBlocked | Code::NodeDiskFull => 0,
        Code::DnsNxdomain | Code::DnsNoAddress | Code::DnsTimeout | Code::DnsServfail => 1,
        Code::TcpTimeout
        | Code::TcpRefused
        | Code::TcpUnreachable
        | Code::ProxyUnreachable
        | Code::ProxyRejected => 2,
        // An MTU black hole shows at the first large packet: the handshake
        // (or a blob); the node's clock at the certificate's dates.
        Code::TlsUntrusted
        | Code::TlsNameMismatch
        | Code::TlsExpired
        | Code::TlsHandshake
        | Code::MtuBlackhole
        | Code::ClockSkew => 3,
        Code::NotARegistry | Code::IpNotAllowed | Code::RateLimited | Code::RegistryError => 4,
        Code::AuthRequired
        | Code::AuthRejected
        | Code::AuthServerUnreachable
        | Code::AuthError
        | Code::CredentialProviderFailed => 5,
        Code::AccessDenied
        | Code::ImageNotFound
        | Code::PlatformMissing
        | Code::BlobUnreachable
        | Code::PullProgressTimeout => 6,
    }
}

/// The cell stopped its node's check before `code`'s stage by a fault of
/// the node's own: an earlier stage, and not the registry's answer (a
/// registry failing some nodes' TLS or `/v2/` is evidence about it).
fn stopped_before(cell: &Cell, code: Code) -> bool {
    cell.fails() && cell.category != Category::Registry && reach(cell.code) < reach(code)
}

/// A target's cells split into nodes stopped earlier and nodes that reached the question.
type Split<'a> = (Vec<&'a Probed<'a>>, Vec<&'a Probed<'a>>);

/// One node's cell for a target, as the summary read it.
#[derive(Clone, Copy, Debug)]
pub struct Probed<'a> {
    pub node: &'a str,
    /// The node's report has a node finding (it reaches no registry).
    pub node_finding: bool,
    pub cell: &'a Cell,
}

/// The verdicts on one target (a column), one per failing code, from every
/// node's cell that has it, in row order.
#[must_use]
pub fn verdicts(target: &str, probed: &[Probed]) -> Vec<ClusterVerdict> {
    let mut out = Vec::new();
    let mut codes: Vec<Code> = probed
        .iter()
        .filter(|p| p.cell.fails())
        .map(|p| p.cell.code)
        .collect();
    codes.sort();
    codes.dedup();
    for code in codes {
        let (earlier, reached): Split = probed.iter().partition(|p| stopped_before(p.cell, code));
        let failing: Vec<&Probed> = reached
            .iter()
            .filter(|p| p.cell.fails() && p.cell.code == code)
            .copied()
            .collect();
        let category =
            most_common(failing.iter().map(|p| p.cell.category)).unwrap_or_else(|| code.category());
        let nodes: Vec<String> = failing.iter().map(|p| p.node.to_owned()).collect();
        let scope = if failing.len() == reached.len() {
            Scope::All
        } else {
            Scope::Some
        };
        let stopped_earlier: Vec<StoppedEarlier> = earlier
            .iter()
            .map(|p| StoppedEarlier {
                node: p.node.to_owned(),
                code: p.cell.code,
                node_finding: p.node_finding,
            })
            .collect();
        let mut message = sentence(target, code, scope, &nodes, reached.len());
        if !stopped_earlier.is_empty() {
            message.push_str("; ");
            message.push_str(&apart(&stopped_earlier));
        }
        out.push(ClusterVerdict {
            target: target.to_owned(),
            code,
            category,
            nodes_total: reached.len(),
            scope,
            stopped_earlier,
            message,
            target_message: most_common(failing.iter().map(|p| p.cell.message.as_str()))
                .unwrap_or_default()
                .to_owned(),
            hint: most_common(failing.iter().map(|p| p.cell.hint.as_deref()))
                .flatten()
                .map(str::to_owned),
            nodes,
        });
    }
    out
}

/// "1 node could not reach it: `DNS_TIMEOUT` (aks-np1-2), see node findings".
fn apart(stopped: &[StoppedEarlier]) -> String {
    let mut codes: Vec<Code> = stopped.iter().map(|s| s.code).collect();
    codes.sort();
    codes.dedup();
    let by_code: Vec<String> = codes
        .iter()
        .map(|code| {
            let names: Vec<String> = stopped
                .iter()
                .filter(|s| s.code == *code)
                .map(|s| s.node.clone())
                .collect();
            format!("{code} ({})", name_list(&names, SENTENCE_NAMES))
        })
        .collect();
    let n = stopped.len();
    let see = if stopped.iter().any(|s| s.node_finding) {
        ", see node findings"
    } else {
        ""
    };
    format!(
        "{n} node{} could not reach it: {}{see}",
        if n == 1 { "" } else { "s" },
        by_code.join(", ")
    )
}

/// At most `max` names, then "and N more".
#[must_use]
pub fn name_list(names: &[String], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    format!("{} and {} more", names[..max].join(", "), names.len() - max)
}

/// How many node names a verdict sentence shows.
const SENTENCE_NAMES: usize = 3;

fn sentence(target: &str, code: Code, scope: Scope, nodes: &[String], total: usize) -> String {
    let n = nodes.len();
    let who = match scope {
        Scope::All => format!("{n}/{total} nodes"),
        Scope::Some => format!("{n}/{total} nodes ({})", name_list(nodes, SENTENCE_NAMES)),
    };
    format!(
        "{who} fail {code} for {target}: {}",
        advice::fleet_cause(code, scope == Scope::All, n)
    )
}
