//! The library entry point: settings in, [`Report`] out. One shared setup
//! (node files -> config -> targets with their TLS files read) feeds both a
//! probe run and `probe plan`; the probe run then builds what every stage
//! shares (the node's resolver and CA set, the proxy rules), probes every
//! target concurrently and judges each.
//!
//! The CLI (`app.rs`), the daemon, `probe pod` and tests call this. What it
//! must not do: read stdin, write stdout, choose an exit status, or render.

use crate::cli::{Mode, Settings, UsageError};
use crate::config::credential_provider::ProviderCache;
use crate::config::dockercfg::DockerConfig;
use crate::config::node::{self, NodeConfig};
use crate::config::{self, Source};
use crate::hostroot::HostRoot;
use crate::pod::{ContainerReport, PodInput, PodReport};
use crate::probe::dns::NodeResolver;
use crate::probe::result::{CandidateOutcome, Detail};
use crate::probe::tls::TrustStore;
use crate::probe::{self, Context, Depth, EndpointOutcome};
use crate::report::{Report, TargetReport};
use crate::secret::Secret;
use crate::target::{Credential, CredentialSecret, Role, Scheme, Target};
use crate::verdict;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Why a run could not happen at all (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot write the report: {0}")]
    Output(io::Error),
    #[error(transparent)]
    Summary(#[from] crate::summary::SummaryError),
}

/// Docker Hub's registry name (its API host is `reference::api_host`).
pub const DOCKER_HUB: &str = "docker.io";

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
async fn setup_with(
    settings: &Settings,
    pull_secrets: Vec<DockerConfig>,
    providers: Option<&ProviderCache>,
) -> Result<Setup, RunError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let root = checked_root(settings)?;
    let mut sources = Vec::new();
    let creds = Credentials::load(settings, pull_secrets, &mut sources)?;
    let (node, node_sources) = node::discover(&root);
    config::merge_sources(&mut sources, node_sources);
    let mut targets = targets(settings, &root, &node, &creds, &mut sources);
    node_keyring(
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
            config::trust::load_endpoint_files(&mut ep.tls);
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

/// The rest of the node's keyring for each target, after its config.json:
/// what the kubelet's credential providers answer (run for real, in name
/// order, each once per image; a plan runs none), and for an Azure Container
/// Registry the node's own identity from `azure.json`, exchanged at probe
/// time as `acr-credential-provider` does. A provider that cannot answer is
/// a [`crate::target::ProviderFailure`]; `acr-credential-provider` failing
/// here is only noted, since the node's identity stands in for it.
async fn node_keyring(
    settings: &Settings,
    root: &HostRoot,
    node: &NodeConfig,
    cache: Option<&ProviderCache>,
    targets: &mut [Target],
    sources: &mut Vec<Source>,
) {
    use config::credential_provider as cp;
    use std::collections::HashMap;
    let (azure, azure_sources) = config::azure::discover(root);
    config::merge_sources(sources, azure_sources);
    let bin_dir = node.kubelet.bin_dir.as_ref().map(|(d, _)| d.clone());
    let limit = settings.deadline.min(cp::KUBELET_TIMEOUT);
    let mut answers: HashMap<
        (String, String),
        Result<cp::ProviderAnswer, crate::target::ProviderFailure>,
    > = HashMap::new();
    for t in targets.iter_mut() {
        let name = t.keyring_name();
        let mut providers = node.kubelet.providers_for(&name);
        // The kubelet's keyring asks its providers in name order.
        providers.sort_by(|a, b| a.provider.name.cmp(&b.provider.name));
        let mut acr_provider = None;
        for p in providers {
            let is_acr = p.provider.name == "acr-credential-provider";
            let key = (p.provider.name.clone(), name.clone());
            let answer = if settings.mode == crate::cli::Mode::Plan {
                None
            } else if let Some(a) = answers.get(&key) {
                Some(a.clone())
            } else if let Some(a) = cache.and_then(|c| c.get(&p.provider.name, &name)) {
                Some(Ok(a))
            } else {
                let a = match &bin_dir {
                    Some(dir) => cp::run(root, p, dir, &name, limit).await,
                    None => Err(crate::target::ProviderFailure {
                        name: p.provider.name.clone(),
                        path: p.provider.name.clone(),
                        config: p.file.clone(),
                        reason: "no --image-credential-provider-bin-dir: the kubelet cannot run it"
                            .to_owned(),
                    }),
                };
                if let (Some(c), Ok(answer)) = (cache, &a) {
                    c.put(&p.provider, &name, answer);
                }
                answers.insert(key, a.clone());
                Some(a)
            };
            match answer {
                None => t.remarks.push(format!(
                    "the kubelet asks credential provider {} ({}) for {name}; the probe runs it (a plan does not)",
                    p.provider.name, p.file
                )),
                Some(Ok(a)) => {
                    if !a.rerooted.is_empty() {
                        t.remarks.push(format!(
                            "credential provider {} ran with node paths under --root: {}",
                            p.provider.name,
                            a.rerooted.join(", ")
                        ));
                    }
                    let creds = a.credentials(&name);
                    if creds.is_empty() {
                        t.remarks.push(format!(
                            "credential provider {} answered no credential for {name}",
                            p.provider.name
                        ));
                    }
                    t.kubelet_credentials.extend(creds);
                    if is_acr {
                        acr_provider = Some(Ok(()));
                    }
                }
                Some(Err(f)) if is_acr && azure.is_some() => {
                    t.remarks.push(format!(
                        "acr-credential-provider could not run here ({}); the probe exchanges the node's identity itself, as the provider would",
                        f.reason
                    ));
                    acr_provider = Some(Err(()));
                }
                Some(Err(f)) => t.provider_failures.push(f),
            }
        }
        let acr = acr_provider.is_some() || config::azure::is_acr(&t.registry);
        if let (true, Some(az)) = (acr, &azure) {
            let why = match acr_provider {
                Some(Ok(())) => "checked after acr-credential-provider's answer",
                Some(Err(())) => "standing in for acr-credential-provider",
                None => "as acr-credential-provider would use it",
            };
            if let Some(c) = config::azure::credential(az, &settings.imds_endpoint, why) {
                if acr_provider.is_none() {
                    t.remarks.push(format!(
                        "no kubelet credential provider matches {name}; the probe uses {} as acr-credential-provider would: if the kubelet runs none, its pulls are anonymous",
                        config::azure::AZURE_JSON
                    ));
                }
                t.kubelet_credentials.push(c);
            }
        }
    }
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

/// `probe pod`: each distinct image of the pod (init containers first, as
/// the kubelet starts them), with the pod's pull secrets before the node's
/// keyring, as the kubelet's `MakeDockerKeyring` unions them; each
/// container's kubelet message explained and set beside the verdict.
pub async fn pod(settings: &Settings, input: PodInput) -> Result<Report, RunError> {
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
    let mut setup = setup_with(&s, input.keyring(), None).await?;
    config::merge_sources(&mut setup.sources, input.sources());
    for t in &mut setup.targets {
        let name = t.keyring_name();
        t.secret_findings = input.secret_findings(&name, &t.registry);
    }
    let mut report = probe_setup(setup, &s).await;
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
    report.pod = Some(PodReport {
        namespace: input.namespace,
        name: input.name,
        node: input.node,
        containers,
        findings,
    });
    Ok(report)
}

/// The shared state of the stages: the node's resolver and CA set (their
/// files join `sources`), the run's limits, and the runtime's proxy rules for
/// hosts other than the endpoints.
#[must_use]
pub fn context(setup: &Setup, settings: &Settings, sources: &mut Vec<Source>) -> Context {
    let (resolver_settings, hosts, dns_sources) =
        config::resolv::discover(&setup.root, settings.timeout);
    config::merge_sources(sources, dns_sources);
    let (cas, trust_sources) = config::trust::load(&setup.root);
    config::merge_sources(sources, trust_sources);
    let env = setup.node.proxy.clone();
    Context {
        resolver: NodeResolver::from_parts(resolver_settings, hosts, 53),
        trust: Arc::new(TrustStore::from_certs(cas.certs)),
        timeout: settings.timeout,
        deadline: Instant::now() + settings.deadline,
        platform: settings.platform.clone(),
        proxy_for_other_host: Some(Arc::new(move |scheme: Scheme, host: &str, port: u16| {
            config::proxy::proxy_for(&env, scheme.as_str(), host, port)
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
    let node_finding = verdict::node_finding(
        reports
            .iter()
            .map(|r| (&r.target, &r.verdict, r.outcomes.as_slice())),
    );
    Report {
        node: setup.node_name,
        started_at: setup.started_at,
        duration: setup.started.elapsed(),
        status: verdict::overall(reports.iter().map(|r| r.verdict.status)),
        config_sources: sources,
        node_finding,
        targets: reports,
        plan: false,
        runtime: Some(setup.node.describe_runtime()),
        notes: setup.node.notes,
        pod: None,
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
    probe_targets_bounded(ctx, targets, depths, None).await
}

/// [`probe_targets_at`] with at most `in_flight` targets probed at once
/// (the agent's memory bound; `None`: all at once, as a one-shot run does).
/// A target waits for a slot at most half the time left to the deadline,
/// then starts anyway: a round of slow targets still gives each its stage
/// timeouts instead of a deadline verdict.
pub async fn probe_targets_bounded(
    ctx: &Arc<Context>,
    targets: Vec<Target>,
    depths: &[Depth],
    in_flight: Option<usize>,
) -> Vec<TargetReport> {
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
                let outcomes = tokio::time::timeout_at(hard_stop, with_candidates(&ctx, &t, depth))
                    .await
                    .unwrap_or_default();
                (outcomes, started.elapsed())
            })
        })
        .collect();
    let mut reports = Vec::with_capacity(targets.len());
    for (target, task) in targets.into_iter().zip(tasks) {
        let (outcomes, duration): (Vec<EndpointOutcome>, Duration) = task.await.unwrap_or_default();
        let verdict = verdict::judge(&target, &outcomes);
        reports.push(TargetReport {
            target,
            verdict,
            outcomes,
            duration,
        });
    }
    reports
}

/// Probe a target as the kubelet pulls it: with each of its credentials in
/// turn until one works (`kuberuntime_image.go` `PullImage` tries every
/// credential the keyring gives), or with the runtime's own when it has
/// none. The outcomes are the working credential's, else the first's; the
/// auth stages say how every credential fared.
async fn with_candidates(ctx: &Context, target: &Target, depth: Depth) -> Vec<EndpointOutcome> {
    if target.kubelet_credentials.is_empty() {
        return probe::probe_target_at(ctx, target, depth).await;
    }
    let mut tried: Vec<CandidateOutcome> = Vec::new();
    let mut chosen: Option<Vec<EndpointOutcome>> = None;
    for c in &target.kubelet_credentials {
        let t = target.with_kubelet_credential(c);
        let outcomes = probe::probe_target_at(ctx, &t, depth).await;
        let v = verdict::judge(&t, &outcomes);
        let ok = v.status != verdict::TargetStatus::Fail;
        tried.push(CandidateOutcome {
            source: c.source.clone(),
            kind: c.kind().as_str(),
            user: Some(c.username().to_owned()).filter(|u| !u.is_empty()),
            code: v.code,
            summary: v.message,
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

/// A plan report over set-up targets: nothing judged.
#[must_use]
pub fn plan_report(setup: Setup) -> Report {
    let targets = setup
        .targets
        .into_iter()
        .map(|target| TargetReport {
            verdict: crate::report::plan::plan_verdict(&target),
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
        plan: true,
        runtime: Some(setup.node.describe_runtime()),
        notes: setup.node.notes,
        pod: None,
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

/// Credentials given on the command line, for every target.
fn flag_credential(settings: &Settings) -> Option<Credential> {
    match (&settings.username, &settings.password) {
        (Some(u), Some(p)) => Some(Credential::new(
            CredentialSecret::Basic {
                username: u.clone(),
                password: Secret::new(p.expose()),
            },
            "--username/--password-stdin",
        )),
        _ => None,
    }
}

/// Build targets from the settings (and, with no target flags, from every
/// registry the node's config names), with endpoints from the node's config.
///
/// Credentials given to the probe (`--username`, `--docker-config`) stand for
/// the kubelet's `AuthConfig` (an imagePullSecret): containerd's CRI
/// `credentials()` uses it when present and the config's `configs.<host>.auth`
/// otherwise, and `ParseAuth` hands it to every host contacted, mirrors
/// included, because the kubelet sends no `ServerAddress`
/// (`internal/cri/server/images/image_pull.go`). They replace the kubelet's
/// own docker config credential that `NodeConfig::target` set, as a pull
/// secret comes before the node's keyring: flags > kubelet config.json >
/// runtime config auth.
fn targets(
    settings: &Settings,
    root: &HostRoot,
    node: &NodeConfig,
    creds: &Credentials,
    sources: &mut Vec<Source>,
) -> Vec<Target> {
    let mut out = Vec::new();
    for (reference, input) in settings.images.iter().zip(&settings.image_inputs) {
        let (mut t, s) = node.target(root, &reference.domain, Some(reference));
        config::merge_sources(sources, s);
        creds.prepend(&mut t, &reference.name());
        let mut remarks = target_remarks(input, reference, creds);
        remarks.append(&mut t.remarks);
        t.remarks = remarks;
        out.push(t);
    }
    for r in &settings.registries {
        let (mut t, s) = node.target(root, &r.domain(), None);
        config::merge_sources(sources, s);
        if let Some(scheme) = r.scheme {
            force_scheme(&mut t, scheme, r.port);
        }
        creds.prepend(&mut t, &r.domain());
        out.push(t);
    }
    if settings.images.is_empty() && settings.registries.is_empty() && settings.mode != Mode::Pod {
        for registry in node.registries(root) {
            let (mut t, s) = node.target(root, &registry, None);
            config::merge_sources(sources, s);
            creds.prepend(&mut t, &registry);
            out.push(t);
        }
    }
    out
}

/// `--registry http://host:port` asks for that scheme: it replaces the scheme
/// of the registry's own default endpoint (mirrors keep theirs).
fn force_scheme(target: &mut Target, scheme: Scheme, port: Option<u16>) {
    for ep in &mut target.endpoints {
        if ep.role == Role::Upstream && ep.scheme != scheme {
            ep.scheme = scheme;
            ep.port = port.unwrap_or(scheme.default_port());
            ep.http_fallback = None;
            if scheme == Scheme::Http {
                ep.tls = crate::target::TlsSettings::default();
            }
        }
    }
}

/// Notes for a person about an image name and its credentials.
fn target_remarks(
    input: &str,
    reference: &crate::reference::Reference,
    creds: &Credentials,
) -> Vec<String> {
    let mut remarks = crate::reference::remarks(input, reference);
    for c in &creds.pull_secrets {
        remarks.extend(c.remarks(&reference.name()));
    }
    remarks
}

/// Where credentials come from in this run.
struct Credentials {
    flag: Option<Credential>,
    /// The pod's pull secrets, then `--docker-config`: one keyring.
    pull_secrets: Vec<DockerConfig>,
}

impl Credentials {
    fn load(
        settings: &Settings,
        mut pull_secrets: Vec<DockerConfig>,
        sources: &mut Vec<Source>,
    ) -> Result<Self, RunError> {
        let docker_config = match &settings.docker_config {
            None => None,
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| RunError::Config {
                    path: shown.clone(),
                    reason: format!("cannot read --docker-config: {e}"),
                })?;
                let cfg = config::dockercfg::parse(&text)
                    .map_err(|e| RunError::Config {
                        path: shown.clone(),
                        reason: e.to_string(),
                    })?
                    .with_label(format!("--docker-config {shown}"));
                sources.push(Source::ok(shown, "docker-config"));
                Some(cfg)
            }
        };
        pull_secrets.extend(docker_config);
        Ok(Self {
            flag: flag_credential(settings),
            pull_secrets,
        })
    }

    /// Put the pull secrets' credentials for `name` first among the
    /// kubelet's: the kubelet's keyring is the union of the pod's pull
    /// secrets and then the node's own (`credentialprovider.MakeDockerKeyring`).
    fn prepend(&self, target: &mut Target, name: &str) {
        let mut first: Vec<Credential> = self.flag.iter().cloned().collect();
        first.extend(config::dockercfg::keyring_lookup(&self.pull_secrets, name));
        first.append(&mut target.kubelet_credentials);
        target.kubelet_credentials = first;
    }
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
