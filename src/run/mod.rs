//! The library entry point: settings in, [`Report`] out. One shared setup
//! (node files -> config -> targets with their TLS files read) feeds both a
//! probe run and `probe plan`; the probe run then builds what every stage
//! shares (the node's resolver and CA set, the proxy rules), probes every
//! target concurrently and judges each.
//!
//! The CLI (`app.rs`), the daemon, `probe pod` and tests call this. What it
//! must not do: read stdin, write stdout, choose an exit status, or render.
//! Its rooms: [`keyring`] (the credentials in the kubelet's order) and
//! [`build`] (targets from the settings and the node's config); the
//! credential-candidate loop is the probe's (`probe::candidates`), `probe
//! pod` is `pod::run`.

pub mod build;
mod error;
pub mod keyring;

pub use error::RunError;

use crate::cli::{Settings, UsageError};
use crate::config::credentials::credential_provider::ProviderCache;
use crate::config::credentials::dockercfg::DockerConfig;
use crate::config::node::{self, NodeConfig};
use crate::config::{self, Source};
use crate::hostroot::HostRoot;
use crate::probe::dns::NodeResolver;
use crate::probe::tls::TrustStore;
use crate::probe::{Context, Depth, EndpointOutcome, candidates};
use crate::report::{Report, ReportKind, TargetReport};
use crate::target::{Scheme, Target};
use crate::verdict;
use keyring::Keyring;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// What a probe run and a plan share: the node's config read under
/// `--root`, and the targets built from it, in the runtime's endpoint order.
#[derive(Debug)]
pub struct Setup {
    pub root: HostRoot,
    pub node: NodeConfig,
    pub node_name: String,
    /// Every config file read so far, with its findings.
    pub sources: Vec<Source>,
    pub targets: Vec<Target>,
    pub started_at: SystemTime,
    pub started: Instant,
}

/// Read the node's config and build the targets, running the kubelet's
/// credential providers for them (a plan runs none). No registry is asked.
pub async fn setup(settings: &Settings) -> Result<Setup, RunError> {
    setup_with(settings, Vec::new(), None).await
}

/// [`setup`] for the agent's rounds: credential providers' answers are kept
/// in `providers` across rounds as the kubelet keeps them.
pub async fn setup_cached(
    settings: &Settings,
    providers: &ProviderCache,
) -> Result<Setup, RunError> {
    setup_with(settings, Vec::new(), Some(providers)).await
}

/// [`setup`] with a pod's pull secrets (in `imagePullSecrets` order) before
/// the node's keyring.
pub(crate) async fn setup_with(
    settings: &Settings,
    pull_secrets: Vec<DockerConfig>,
    providers: Option<&ProviderCache>,
) -> Result<Setup, RunError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let root = checked_root(settings)?;
    let mut sources = Vec::new();
    let creds = Keyring::load(settings, pull_secrets, &mut sources)?;
    let (node, node_sources) = node::discover(&root);
    config::merge_sources(&mut sources, node_sources);
    let mut targets = build::targets(settings, &root, &node, &creds, &mut sources);
    keyring::add_node_keyring(
        settings,
        &root,
        &node,
        providers,
        &mut targets,
        &mut sources,
    )
    .await;
    for t in &mut targets {
        for ep in &mut t.endpoints {
            config::net::trust::load_endpoint_files(&mut ep.tls);
        }
    }
    Ok(Setup {
        node_name: node_name(&root),
        root,
        node,
        sources,
        targets,
        started_at,
        started,
    })
}

/// Probe every target the settings name (or the node's config names).
pub async fn probe(settings: &Settings) -> Result<Report, RunError> {
    let setup = setup(settings).await?;
    Ok(probe_setup(setup, settings).await)
}

/// `probe plan`: the same targets as a probe run, from the same node files,
/// and no network at all.
pub async fn plan(settings: &Settings) -> Result<Report, RunError> {
    let setup = setup(settings).await?;
    Ok(plan_report(setup))
}

/// The shared state of the stages: the node's resolver and CA set (their
/// files join `sources`), the run's limits, and the runtime's proxy rules for
/// hosts other than the endpoints.
#[must_use]
pub fn context(setup: &Setup, settings: &Settings, sources: &mut Vec<Source>) -> Context {
    let (resolver_settings, hosts, dns_sources) =
        config::net::resolv::discover(&setup.root, settings.timeout);
    config::merge_sources(sources, dns_sources);
    let (cas, trust_sources) = config::net::trust::load(&setup.root);
    config::merge_sources(sources, trust_sources);
    let env = setup.node.proxy.clone();
    Context {
        resolver: NodeResolver::from_parts(resolver_settings, hosts, 53),
        trust: Arc::new(TrustStore::from_certs(cas.certs)),
        timeout: settings.timeout,
        deadline: Instant::now() + settings.deadline,
        platform: settings.platform.clone(),
        proxy_for_other_host: Some(Arc::new(move |scheme: Scheme, host: &str, port: u16| {
            config::net::proxy::proxy_for(&env, scheme.as_str(), host, port)
        })),
        memory: None,
    }
}

/// Probe the set-up targets and judge them.
pub async fn probe_setup(mut setup: Setup, settings: &Settings) -> Report {
    let mut sources = std::mem::take(&mut setup.sources);
    let ctx = Arc::new(context(&setup, settings, &mut sources));
    let targets = std::mem::take(&mut setup.targets);
    let reports = probe_targets(&ctx, targets).await;
    judged_report(setup, sources, reports)
}

/// The report of a probe run: the set-up node's facts, the config sources
/// read, each target's verdict, the overall status and the node's finding.
#[must_use]
pub fn judged_report(setup: Setup, sources: Vec<Source>, reports: Vec<TargetReport>) -> Report {
    judged_report_with(setup, sources, reports, &verdict::NodeEvidence::default())
}

/// [`judged_report`] with what earlier rounds showed (the agent's).
#[must_use]
pub fn judged_report_with(
    setup: Setup,
    sources: Vec<Source>,
    reports: Vec<TargetReport>,
    evidence: &verdict::NodeEvidence,
) -> Report {
    let node_finding = verdict::node_finding_with(
        reports
            .iter()
            .map(|r| (&r.target, &r.verdict, r.outcomes.as_slice())),
        evidence,
    );
    Report {
        node: setup.node_name,
        started_at: setup.started_at,
        duration: setup.started.elapsed(),
        status: verdict::overall(reports.iter().map(|r| r.verdict.status)),
        config_sources: sources,
        node_finding,
        targets: reports,
        kind: ReportKind::Probe,
        runtime: Some(crate::report::RuntimeReport::from(&setup.node)),
        notes: setup.node.notes,
    }
}

/// Probe targets concurrently under the context's deadline, and judge each.
pub async fn probe_targets(ctx: &Arc<Context>, targets: Vec<Target>) -> Vec<TargetReport> {
    let depths = vec![Depth::Full; targets.len()];
    probe_targets_at(ctx, targets, &depths).await
}

/// [`probe_targets`], each target to its own depth.
pub async fn probe_targets_at(
    ctx: &Arc<Context>,
    targets: Vec<Target>,
    depths: &[Depth],
) -> Vec<TargetReport> {
    judge_all(probe_targets_bounded(ctx, targets, depths, None).await)
}

/// [`probe_targets_at`] without the verdicts, with at most `in_flight` targets probed at once
/// (the agent's memory bound; `None`: all at once, as a one-shot run does).
/// A target waits for a slot at most half the time left to the deadline,
/// then starts anyway: a round of slow targets still gives each its stage
/// timeouts instead of a deadline verdict.
pub async fn probe_targets_bounded(
    ctx: &Arc<Context>,
    targets: Vec<Target>,
    depths: &[Depth],
    in_flight: Option<usize>,
) -> Vec<Probed> {
    // Every stage is cut at the deadline already; the grace only covers bookkeeping.
    let hard_stop = ctx.deadline + Duration::from_millis(500);
    let slots = in_flight.map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    let now = Instant::now();
    let start_by = now + ctx.deadline.saturating_duration_since(now) / 2;
    let tasks: Vec<_> = targets
        .iter()
        .cloned()
        .zip(depths.iter().copied().chain(std::iter::repeat(Depth::Full)))
        .map(|(t, depth)| {
            let ctx = Arc::clone(ctx);
            let slots = slots.clone();
            tokio::spawn(async move {
                let _slot = match slots {
                    Some(s) => tokio::time::timeout_at(start_by, s.acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok),
                    None => None,
                };
                let started = Instant::now();
                let outcomes = tokio::time::timeout_at(
                    hard_stop,
                    candidates::probe_as_kubelet(&ctx, &t, depth, judged),
                )
                .await
                .unwrap_or_default();
                (outcomes, started.elapsed())
            })
        })
        .collect();
    let mut probed = Vec::with_capacity(targets.len());
    for (target, task) in targets.into_iter().zip(tasks) {
        let (outcomes, duration): (Vec<EndpointOutcome>, Duration) = task.await.unwrap_or_default();
        probed.push(Probed {
            target,
            outcomes,
            duration,
        });
    }
    probed
}

/// A target probed and not yet judged: what the agent completes (a
/// node-local round's registry stages carried over) before the one verdict.
#[derive(Clone, Debug)]
pub struct Probed {
    pub target: Target,
    pub outcomes: Vec<EndpointOutcome>,
    pub duration: Duration,
}

/// Judge each probed target, once.
#[must_use]
pub fn judge_all(probed: Vec<Probed>) -> Vec<TargetReport> {
    probed
        .into_iter()
        .map(|p| TargetReport {
            verdict: verdict::judge(&p.target, &p.outcomes),
            target: p.target,
            outcomes: p.outcomes,
            duration: p.duration,
        })
        .collect()
}

/// The verdict on one credential's outcomes, for the candidate loop.
fn judged(target: &Target, outcomes: &[EndpointOutcome]) -> candidates::Judged {
    let v = verdict::judge(target, outcomes);
    candidates::Judged {
        works: v.status != verdict::TargetStatus::Fail,
        code: v.code,
        summary: v.message,
    }
}

/// A plan report over set-up targets: nothing judged.
#[must_use]
pub fn plan_report(setup: Setup) -> Report {
    let targets = setup
        .targets
        .into_iter()
        .map(|target| TargetReport {
            verdict: verdict::planned(&target),
            target,
            outcomes: Vec::new(),
            duration: Duration::ZERO,
        })
        .collect();
    Report {
        node: setup.node_name,
        started_at: setup.started_at,
        duration: setup.started.elapsed(),
        status: verdict::TargetStatus::Ok,
        config_sources: setup.sources,
        node_finding: None,
        targets,
        kind: ReportKind::Plan,
        runtime: Some(crate::report::RuntimeReport::from(&setup.node)),
        notes: setup.node.notes,
    }
}

/// The node's name: the DaemonSet's `NODE_NAME` (downward API), else the node's hostname file.
#[must_use]
pub fn node_name(root: &HostRoot) -> String {
    if let Ok(n) = std::env::var("NODE_NAME") {
        if !n.trim().is_empty() {
            return n.trim().to_owned();
        }
    }
    for path in ["/etc/hostname", "/proc/sys/kernel/hostname"] {
        if let Ok(n) = root.read_to_string(path) {
            if !n.trim().is_empty() {
                return n.trim().to_owned();
            }
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

fn checked_root(settings: &Settings) -> Result<HostRoot, RunError> {
    let root = HostRoot::new(&settings.root);
    if !root.root().is_dir() {
        return Err(RunError::Usage(UsageError(format!(
            "--root {}: not a directory",
            root.root().display()
        ))));
    }
    Ok(root)
}
