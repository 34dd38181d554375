//! One target probed as the kubelet pulls it: with each credential of its
//! keyring in turn until one works. What "works" means is the verdict's to
//! say, handed in as a [`Judge`], so this stage knows no verdict.

use super::context::Context;
use super::result::{CandidateOutcome, Detail};
use super::sequence::{Depth, EndpointOutcome, probe_target_at};
use crate::code::Code;
use crate::target::Target;

/// How a credential fared, as the caller's verdict judges its outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The pull would work (ok or degraded).
    pub works: bool,
    pub code: Code,
    pub summary: String,
}

/// The caller's verdict on one credential's outcomes.
pub type Judge = fn(&Target, &[EndpointOutcome]) -> Judged;

/// Probe a target as the kubelet pulls it: with each of its credentials in
/// turn until one works (`kuberuntime_image.go` `PullImage` tries every
/// credential the keyring gives), or with the runtime's own when it has
/// none. The outcomes are the working credential's, else the first's; the
/// auth stages say how every credential fared.
pub async fn probe_as_kubelet(
    ctx: &Context,
    target: &Target,
    depth: Depth,
    judge: Judge,
) -> Vec<EndpointOutcome> {
    if target.kubelet_credentials.is_empty() {
        return probe_target_at(ctx, target, depth).await;
    }
    let mut tried: Vec<CandidateOutcome> = Vec::new();
    let mut chosen: Option<Vec<EndpointOutcome>> = None;
    for c in &target.kubelet_credentials {
        let t = target.with_kubelet_credential(c);
        let outcomes = probe_target_at(ctx, &t, depth).await;
        let v = judge(&t, &outcomes);
        let ok = v.works;
        tried.push(CandidateOutcome {
            source: c.source.clone(),
            kind: c.kind().as_str(),
            user: Some(c.username().to_owned()).filter(|u| !u.is_empty()),
            code: v.code,
            summary: v.summary,
        });
        if ok {
            chosen = Some(outcomes);
            break;
        }
        if chosen.is_none() {
            chosen = Some(outcomes);
        }
        if ctx.time_left().is_zero() {
            break;
        }
    }
    let mut outcomes = chosen.unwrap_or_default();
    if tried.len() > 1 {
        for o in &mut outcomes {
            for s in &mut o.stages {
                if let Detail::Auth(d) = &mut s.detail {
                    d.candidates.clone_from(&tried);
                }
            }
        }
    }
    outcomes
}
