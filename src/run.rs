//! One probe run: settings -> node config -> targets -> concurrent staged
//! probes -> verdicts -> report. The only place that wires the pipeline
//! together; each step lives in its own module.

use crate::cli::{Args, Mode, Settings, UsageError};
use crate::config::node::{self, NodeConfig};
use crate::config::{self, Source};
use crate::hostroot::HostRoot;
use crate::probe::{self, Context, dns, tls};
use crate::report::{self, Report, TargetReport};
use crate::secret::Secret;
use crate::target::{Credential, Role, Scheme, Secretish, Target};
use crate::verdict;
use std::io::{self, Write as _};
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
}

/// Docker Hub's registry name (its API host is `reference::api_host`).
pub const DOCKER_HUB: &str = "docker.io";

/// Parse arguments, run, render; return the exit status.
pub fn main_with(args: &Args) -> Result<u8, RunError> {
    // `probe explain`: no settings, no node, no network.
    if let Some(crate::cli::Command::Explain { message }) = &args.command {
        let message = crate::explain::read_message(message, &mut io::stdin().lock())
            .map_err(|e| UsageError(format!("explain: cannot read standard input: {e}")))?;
        let explanation = crate::explain::explain(&message);
        let mut stdout = anstream::stdout();
        report::explain::write(&explanation, args.json, &mut stdout).map_err(RunError::Output)?;
        stdout.flush().map_err(RunError::Output)?;
        return Ok(explanation.exit_status());
    }
    let settings = Settings::from_args(args, &mut io::stdin().lock())?;
    let report = match settings.mode {
        Mode::Plan => plan_run(&settings)?,
        Mode::Probe => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(RunError::Runtime)?;
            runtime.block_on(probe_run(&settings))?
        }
    };
    let mut stdout = anstream::stdout();
    if settings.json {
        report::json::write(&report, true, &mut stdout).map_err(RunError::Output)?;
    } else if report.plan {
        report::plan::write(&report, &mut stdout).map_err(RunError::Output)?;
    } else {
        report::text::write(&report, &mut stdout).map_err(RunError::Output)?;
    }
    stdout.flush().map_err(RunError::Output)?;
    if report.plan {
        return Ok(0);
    }
    Ok(verdict::exit_status(
        report.targets.iter().map(|t| &t.verdict),
    ))
}

/// The node's name: the DaemonSet's `NODE_NAME` (downward API), else the node's hostname file.
fn node_name(root: &HostRoot) -> String {
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
        (Some(u), Some(p)) => Some(Credential {
            secret: Secretish::Basic {
                username: u.clone(),
                password: Secret::new(p.expose()),
            },
            source: "--username/--password-stdin".to_owned(),
        }),
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
        node::push_unique(sources, s);
        with_credential(&mut t, creds.lookup(&reference.name()));
        let mut remarks = target_remarks(input, reference, creds);
        remarks.append(&mut t.remarks);
        t.remarks = remarks;
        out.push(t);
    }
    for r in &settings.registries {
        let (mut t, s) = node.target(root, &r.domain(), None);
        node::push_unique(sources, s);
        if let Some(scheme) = r.scheme {
            force_scheme(&mut t, scheme, r.port);
        }
        with_credential(&mut t, creds.lookup(&r.domain()));
        out.push(t);
    }
    if settings.images.is_empty() && settings.registries.is_empty() {
        for registry in node.registries(root) {
            let (mut t, s) = node.target(root, &registry, None);
            node::push_unique(sources, s);
            with_credential(&mut t, creds.lookup(&registry));
            out.push(t);
        }
    }
    out
}

/// The kubelet-like credential, when there is one, replaces the config's on every endpoint.
fn with_credential(target: &mut Target, credential: Option<Credential>) {
    if let Some(c) = credential {
        for ep in &mut target.endpoints {
            ep.credential = Some(c.clone());
        }
    }
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
    if let Some(c) = &creds.docker_config {
        remarks.extend(c.remarks(&reference.name()));
    }
    remarks
}

/// Where credentials come from in this run.
struct Credentials {
    flag: Option<Credential>,
    docker_config: Option<config::dockercfg::DockerConfig>,
}

impl Credentials {
    fn load(settings: &Settings, sources: &mut Vec<Source>) -> Result<Self, RunError> {
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
        Ok(Self {
            flag: flag_credential(settings),
            docker_config,
        })
    }

    fn lookup(&self, name: &str) -> Option<Credential> {
        self.flag
            .clone()
            .or_else(|| self.docker_config.as_ref().and_then(|c| c.lookup(name)))
    }
}

/// Probe every target concurrently and build the report.
pub async fn probe_run(settings: &Settings) -> Result<Report, RunError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let root = checked_root(settings)?;
    let mut sources = Vec::new();
    let (resolver, dns_sources) = dns::NodeResolver::from_root(&root, settings.timeout);
    sources.extend(dns_sources);
    let (trust, trust_sources) = tls::TrustStore::load(&root);
    sources.extend(trust_sources);
    let creds = Credentials::load(settings, &mut sources)?;
    let (node, node_sources) = node::discover(&root);
    node::push_unique(&mut sources, node_sources);
    let targets = targets(settings, &root, &node, &creds, &mut sources);
    let ctx = Arc::new(Context {
        root: root.clone(),
        resolver,
        trust: Arc::new(trust),
        timeout: settings.timeout,
        deadline: started + settings.deadline,
        platform: settings.platform.clone(),
        proxy_env: Some(node.proxy.clone()),
    });
    // Every stage is cut at the deadline already; the grace only covers bookkeeping.
    let hard_stop = ctx.deadline + Duration::from_millis(500);
    let tasks: Vec<_> = targets
        .iter()
        .cloned()
        .map(|t| {
            let ctx = Arc::clone(&ctx);
            tokio::spawn(async move {
                tokio::time::timeout_at(hard_stop, probe::probe_target(&ctx, &t))
                    .await
                    .unwrap_or_default()
            })
        })
        .collect();
    let mut reports = Vec::with_capacity(targets.len());
    for (target, task) in targets.into_iter().zip(tasks) {
        let outcomes = task.await.unwrap_or_default();
        let verdict = verdict::judge(&target, &outcomes);
        reports.push(TargetReport {
            target,
            verdict,
            outcomes,
        });
    }
    Ok(Report {
        node: node_name(&root),
        started_at,
        duration: started.elapsed(),
        status: verdict::overall(reports.iter().map(|r| r.verdict.status)),
        config_sources: sources,
        targets: reports,
        plan: false,
        runtime: Some(node.describe_runtime()),
        notes: node.notes,
    })
}

/// `probe plan`: the same targets as a probe run, from the same node files,
/// and no network at all.
pub fn plan_run(settings: &Settings) -> Result<Report, RunError> {
    let started_at = SystemTime::now();
    let started = std::time::Instant::now();
    let root = checked_root(settings)?;
    let mut sources = Vec::new();
    let creds = Credentials::load(settings, &mut sources)?;
    let (node, node_sources) = node::discover(&root);
    node::push_unique(&mut sources, node_sources);
    let targets = targets(settings, &root, &node, &creds, &mut sources);
    Ok(plan_report(
        node_name(&root),
        &node,
        sources,
        targets,
        started_at,
        started.elapsed(),
    ))
}

/// A plan report over already built targets (also what tests render).
#[must_use]
pub fn plan_report(
    node_name: String,
    node: &NodeConfig,
    config_sources: Vec<Source>,
    targets: Vec<Target>,
    started_at: SystemTime,
    duration: Duration,
) -> Report {
    let targets = targets
        .into_iter()
        .map(|target| TargetReport {
            verdict: report::plan::plan_verdict(&target),
            target,
            outcomes: Vec::new(),
        })
        .collect();
    Report {
        node: node_name,
        started_at,
        duration,
        status: verdict::TargetStatus::Ok,
        config_sources,
        targets,
        plan: true,
        runtime: Some(node.describe_runtime()),
        notes: node.notes.clone(),
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
