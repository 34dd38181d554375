//! `probe pod`: the pod's images probed with its own pull secrets before
//! the node's keyring, and each container's kubelet message set beside the
//! verdict.

use super::{ContainerReport, PodInput, PodReport};
use crate::cli::{Mode, Settings};
use crate::config;
use crate::report::{Report, ReportKind, TargetReport};
use crate::run::{self, RunError};
use crate::target::Target;
use crate::verdict;
use std::time::Duration;

/// `probe pod`: each distinct image of the pod (init containers first, as
/// the kubelet starts them), with the pod's pull secrets before the node's
/// keyring, as the kubelet's `MakeDockerKeyring` unions them; each
/// container's kubelet message explained and set beside the verdict.
pub async fn run(settings: &Settings, input: PodInput) -> Result<Report, RunError> {
    let mut images: Vec<&str> = Vec::new();
    for c in &input.containers {
        if !images.contains(&c.image.as_str()) {
            images.push(&c.image);
        }
    }
    let (valid, invalid): (Vec<_>, Vec<_>) = images
        .iter()
        .map(|i| (*i, crate::reference::Reference::parse(i)))
        .partition(|(_, r)| r.is_ok());
    let mut s = settings.clone();
    s.mode = Mode::Pod;
    s.registries.clear();
    s.image_inputs = valid.iter().map(|(i, _)| (*i).to_owned()).collect();
    s.images = valid.into_iter().filter_map(|(_, r)| r.ok()).collect();
    let mut setup = run::setup_with(&s, input.keyring(), None).await?;
    config::merge_sources(&mut setup.sources, input.sources());
    for t in &mut setup.targets {
        let name = t.keyring_name();
        t.secret_findings = input.secret_findings(&name, &t.registry);
    }
    let mut report = run::probe_setup(setup, &s).await;
    // The kubelet refuses these before any pull (`InvalidImageName`).
    let mut by_image: Vec<&str> = s.image_inputs.iter().map(String::as_str).collect();
    for (image, err) in invalid {
        let reason = err.err().map(|e| e.reason).unwrap_or_default();
        report.targets.push(TargetReport {
            verdict: verdict::invalid_reference(image, &reason),
            target: Target {
                registry: crate::reference::registry_guess(image),
                ..Target::default()
            },
            outcomes: Vec::new(),
            duration: Duration::ZERO,
        });
        by_image.push(image);
    }
    report.status = verdict::overall(report.targets.iter().map(|r| r.verdict.status));
    let containers = input
        .containers
        .iter()
        .map(|c| {
            // Every image has its target, in `by_image` order.
            let target = by_image
                .iter()
                .position(|i| *i == c.image)
                .unwrap_or_default();
            let explained = c.kubelet.message.as_deref().map(crate::explain::explain);
            let comparison = crate::pod::compare::compare(
                c,
                explained.as_ref(),
                &report.targets[target].verdict,
                input.node.as_deref(),
                &report.node,
            );
            ContainerReport {
                container: c.clone(),
                explained,
                target,
                comparison,
            }
        })
        .collect();
    let mut findings = Vec::new();
    if let Some(n) = input.node.as_deref().filter(|n| *n != report.node) {
        findings.push(format!(
            "this pod is on {n}, the probe runs on {}: it sees this node's network, config and credentials, not {n}'s; run it on {n} (the agent there, or `kubectl debug node/{n}`)",
            report.node
        ));
    }
    report.kind = ReportKind::Pod(Box::new(PodReport {
        namespace: input.namespace,
        name: input.name,
        node: input.node,
        containers,
        findings,
    }));
    Ok(report)
}
