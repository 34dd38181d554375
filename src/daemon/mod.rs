//! `probe daemon`: the agent on every node. It runs rounds on an interval
//! (with jitter, so a fleet does not hit a registry in the same second),
//! logs each round's report as one JSON line on stdout (`node` from
//! `NODE_NAME`), writes it to `--report-file` atomically, and publishes it
//! with its metrics to the admin server ([`admin`]), which only reads.
//!
//! Two cadences ([`sampling`]): node-local checks every `--interval`,
//! registry checks every `--registry-interval` at the node's own phase (and
//! with `--cluster-size`, only in the node's share of rounds). A target
//! whose node-local result changes gets its registry checks at once. Between
//! registry checks a target keeps the registry stages of its last check,
//! marked with when they ran. Warm tokens, unchanged digests and 429
//! backoffs are remembered across rounds (`probe::memory`), so a healthy
//! round costs a registry one manifest `HEAD`.
//!
//! Operational events (start, targets reloaded, a round that could not run)
//! go through `tracing` to stderr. SIGTERM or SIGINT abandons the round in
//! progress, and the agent exits 0.

pub mod admin;
pub mod sampling;
pub mod targets;

use crate::cli::{DaemonSettings, Settings};
use crate::config;
use crate::probe::memory::Memory;
use crate::probe::result::{SkipReason, Stage, StageResult, Status};
use crate::probe::{Depth, EndpointOutcome};
use crate::report::metrics::Counters;
use crate::report::{self, Report, TargetReport};
use crate::run::{self, RunError};
use crate::verdict::{self, TargetStatus};
use admin::{Health, Published};
use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// What a target's last registry check left, for the rounds in between.
#[derive(Clone, Debug)]
struct LastCheck {
    at: SystemTime,
    outcomes: Vec<EndpointOutcome>,
    /// The check failed for a cause of this node's own (not the registry's):
    /// the node then takes every registry round until it passes.
    failed_here: bool,
}

/// The agent's state across rounds.
struct Agent {
    base: Settings,
    daemon: DaemonSettings,
    node: String,
    memory: Arc<Memory>,
    /// The kubelet credential providers' answers, kept as the kubelet keeps them.
    providers: crate::config::credentials::credential_provider::ProviderCache,
    targets: Option<targets::Targets>,
    last_check: HashMap<String, LastCheck>,
    /// Whether each target's node-local checks passed last round.
    local_ok: HashMap<String, bool>,
    /// Host names the node's resolver answered for, and when last: evidence
    /// for the node finding when they stop resolving.
    resolved: HashMap<String, SystemTime>,
    counters: Counters,
    round: u64,
    /// Why `/readyz` fails although rounds run (the targets file was refused).
    not_ready: Option<String>,
    /// The last round's report line and metrics page, bytes.
    sizes: (usize, usize),
}

/// Targets probed at once in a round: each holds a connection, TLS and
/// HTTP buffers while it runs, so a long list is probed in waves
/// (`bench/targets.sh`: about 76 KiB of peak RSS per target all at once,
/// 51 KiB in waves of 64, at a similar round time on a local registry).
/// A target waits at most half the round's time for its wave.
const IN_FLIGHT: usize = 64;

/// Descriptors kept for the probe loop per target it may probe at once: the
/// registry connection, a token service's, a DNS socket.
const DESCRIPTORS_PER_TARGET: u64 = 3;

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A target's key across rounds: its image, or its registry.
fn key(t: &crate::target::Target) -> String {
    t.to_string()
}

impl Agent {
    /// The registry round `now` is in for this node and `target`: rounds
    /// are counted from the node's phase, so each spans one registry
    /// interval from `r * interval + phase`, and a local round lands in every
    /// one of them (the interval is shorter): none is lost to a phase late in
    /// the interval.
    fn own_round(&self, target: &str, now: SystemTime) -> (u64, Duration) {
        let ri = self.daemon.registry_interval;
        let phase = sampling::phase(&self.node, target, ri);
        let round = sampling::registry_round(since_epoch(now).saturating_sub(phase), ri);
        (round, phase)
    }

    /// Whether `target`'s registry checks are due now, and if not, why not
    /// (for the skipped stages).
    fn due(&self, target: &str, now: SystemTime) -> Result<(), String> {
        let d = &self.daemon;
        if d.registry_interval <= d.interval {
            return Ok(());
        }
        let (round, phase) = self.own_round(target, now);
        let start_of = |r: u64| -> Duration {
            Duration::from_millis(
                u64::try_from(d.registry_interval.as_millis())
                    .unwrap_or(u64::MAX)
                    .saturating_mul(r),
            ) + phase
        };
        let (n, k) = (d.cluster_size.unwrap_or(1), d.registry_probes_per_round);
        // A node that failed its last check is always sampled: its own fault
        // (network, name, credentials, config) is confirmed or cleared each
        // registry interval; a registry-side one (5xx, 429, token service)
        // is the registry's, and the sample keeps its load down.
        let failing = self.last_check.get(target).is_some_and(|l| l.failed_here);
        let takes = failing || sampling::takes_round(&self.node, target, round, n, k);
        let checked_this_round = self
            .last_check
            .get(target)
            .is_some_and(|l| self.own_round(target, l.at).0 == round);
        if takes && !checked_this_round {
            return Ok(());
        }
        let next = if failing {
            round + 1
        } else {
            sampling::next_round(&self.node, target, round + 1, n, k)
        };
        let at = SystemTime::UNIX_EPOCH + start_of(next);
        let last = self.last_check.get(target).map_or_else(
            || "never on this node".to_owned(),
            |c| format!("at {}", rfc3339(c.at)),
        );
        Err(match d.cluster_size {
            Some(n) if n > 1 => format!(
                "sampled out: {n} nodes share the registry checks (about {k} per {}); this node's next share is at {}; last registry check {last}",
                humantime::format_duration(d.registry_interval),
                rfc3339(at)
            ),
            _ => format!(
                "registry checks run every {}; next at {}; last {last}",
                humantime::format_duration(d.registry_interval),
                rfc3339(at)
            ),
        })
    }

    /// One round: the targets (the file re-read), the depth of each, the
    /// probe, the carry-over of registry stages, the verdicts.
    async fn round(&mut self) -> Result<(Report, bool), RunError> {
        self.round += 1;
        let now = SystemTime::now();
        let (settings, file_source) = match &mut self.targets {
            Some(t) => {
                let r = t.resolve(&self.base, self.round);
                self.not_ready = r.problem;
                (r.settings, Some(r.source))
            }
            None => (self.base.clone(), None),
        };
        let mut setup = run::setup_cached(&settings, &self.providers).await?;
        setup.node_name.clone_from(&self.node);
        let mut sources = std::mem::take(&mut setup.sources);
        if let Some(s) = file_source {
            config::merge_sources(&mut sources, [s]);
        }
        let mut ctx = run::context(&setup, &settings, &mut sources);
        ctx.memory = Some(Arc::clone(&self.memory));
        let ctx = Arc::new(ctx);
        let targets = std::mem::take(&mut setup.targets);
        // A cold round pings each endpoint once, whatever its images.
        self.memory.new_round();
        let endpoints: Vec<String> = targets
            .iter()
            .flat_map(|t| t.endpoints.iter().map(crate::target::Endpoint::url))
            .collect();
        self.memory.retain_endpoints(&endpoints);
        // Each target's key, by index: probing and judging keep the order.
        let keys: Vec<String> = targets.iter().map(key).collect();
        let mut why_not = Vec::with_capacity(targets.len());
        let depths: Vec<Depth> = keys
            .iter()
            .map(|k| match self.due(k, now) {
                Ok(()) => {
                    why_not.push(None);
                    Depth::Full
                }
                Err(why) => {
                    why_not.push(Some(why));
                    Depth::NodeLocal
                }
            })
            .collect();
        let mut probed = run::probe_targets_bounded(&ctx, targets, &depths, Some(IN_FLIGHT)).await;
        // A target whose node-local result changed is checked against its
        // registry at once: a new fault is diagnosed in this round.
        let mut again = Vec::new();
        for (i, p) in probed.iter().enumerate() {
            if depths[i] == Depth::NodeLocal {
                let ok = !fails_at_node(p);
                let before = self.local_ok.get(&keys[i]).copied();
                if before.is_some_and(|b| b != ok) {
                    again.push(i);
                }
            }
        }
        if !again.is_empty() {
            let targets: Vec<_> = again.iter().map(|i| probed[*i].target.clone()).collect();
            let rerun = run::probe_targets_bounded(
                &ctx,
                targets,
                &vec![Depth::Full; again.len()],
                Some(IN_FLIGHT),
            )
            .await;
            for (i, p) in again.iter().zip(rerun) {
                probed[*i] = p;
                why_not[*i] = None;
            }
        }
        // A node-local round's registry stages are the last check's; then
        // every target is judged once.
        for ((p, why), k) in probed.iter_mut().zip(&why_not).zip(&keys) {
            self.local_ok.insert(k.clone(), !fails_at_node(p));
            if let Some(why) = why {
                carry_over(p, self.last_check.get(k), why);
            }
        }
        let reports = run::judge_all(probed);
        let mut any_registry = false;
        for ((r, why), k) in reports.iter().zip(&why_not).zip(&keys) {
            if why.is_none() {
                any_registry = true;
                self.last_check.insert(
                    k.clone(),
                    LastCheck {
                        at: now,
                        outcomes: r.outcomes.clone(),
                        failed_here: r.verdict.status == TargetStatus::Fail
                            && r.verdict.category != crate::code::Category::Registry,
                    },
                );
            }
        }
        // Forget targets that left the list.
        self.last_check.retain(|k, _| keys.contains(k));
        self.local_ok.retain(|k, _| keys.contains(k));
        let evidence = self.resolved_before(&reports, now);
        let report = run::judged_report_with(setup, sources, reports, &evidence);
        Ok((report, any_registry))
    }
}

impl Agent {
    /// Note the names this round resolved, and return those of earlier
    /// rounds that failed at DNS now, for the node finding.
    fn resolved_before(
        &mut self,
        reports: &[TargetReport],
        now: SystemTime,
    ) -> verdict::NodeEvidence {
        let mut failing = Vec::new();
        let current: Vec<&str> = reports
            .iter()
            .flat_map(|r| r.target.endpoints.iter().map(|e| e.host.as_str()))
            .collect();
        self.resolved.retain(|h, _| current.contains(&h.as_str()));
        for o in reports.iter().flat_map(|r| r.outcomes.iter()) {
            match o.stage(Stage::Dns).map(|s| s.status) {
                Some(Status::Ok) => {
                    self.resolved.insert(o.endpoint.host.clone(), now);
                }
                Some(Status::Fail) => failing.push(o.endpoint.host.clone()),
                _ => {}
            }
        }
        let mut resolved_before: Vec<(String, String)> = failing
            .into_iter()
            .filter_map(|h| self.resolved.get(&h).map(|at| (h, rfc3339(*at))))
            .collect();
        resolved_before.sort();
        resolved_before.dedup();
        verdict::NodeEvidence { resolved_before }
    }
}

/// The target fails at one of the node-local stages (DNS, TCP, proxy,
/// TLS): every endpoint the runtime would use failed (the verdict's fail),
/// one of them there.
fn fails_at_node(p: &run::Probed) -> bool {
    !p.outcomes.iter().any(EndpointOutcome::is_ok)
        && p.outcomes.iter().any(|o| {
            o.skipped.is_none() && o.first_failure().is_some_and(|f| f.stage.is_node_local())
        })
}

/// Between registry checks: the registry stages a node-local round left out
/// are those of the target's last check (when its endpoint was checked then),
/// marked with when they ran; else they stay skipped, saying why.
fn carry_over(r: &mut run::Probed, last: Option<&LastCheck>, why: &str) {
    for o in &mut r.outcomes {
        let earlier = last.and_then(|l| {
            l.outcomes
                .iter()
                .find(|p| p.endpoint.url() == o.endpoint.url() && p.skipped.is_none())
        });
        for s in &mut o.stages {
            if s.status != Status::Skipped(SkipReason::NodeLocalOnly) {
                continue;
            }
            match earlier.and_then(|e| e.stages.iter().find(|p| p.stage == s.stage)) {
                Some(p) if !p.status.is_skipped() || s.stage != Stage::Ping => {
                    let at = last.map(|l| rfc3339(l.at)).unwrap_or_default();
                    let mut carried: StageResult = p.clone();
                    carried.summary = format!("[registry check at {at}] {}", p.summary);
                    carried.duration = Duration::ZERO;
                    *s = carried;
                }
                _ => s.summary = format!("not run: {why}"),
            }
        }
    }
}

/// Write `bytes` to `path` atomically (a temp file in the same directory, renamed).
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The node's name for the reports: `NODE_NAME`, else the node's hostname.
fn node_name(settings: &Settings) -> String {
    run::node_name(&crate::hostroot::HostRoot::new(&settings.root))
}

/// The time to wait before the next round: the interval, give or take 20 %.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// Run the agent until `shutdown` turns true (or `--max-rounds`), writing
/// each round's report line to `lines` (the app hands in standard output).
pub async fn run(
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
    lines: &mut (dyn io::Write + Send),
) -> Result<(), RunError> {
    let daemon = settings
        .daemon
        .clone()
        .ok_or_else(|| RunError::Usage(crate::cli::UsageError("not a daemon run".to_owned())))?;
    let flagged = settings.registries.len() + settings.image_inputs.len();
    if flagged > targets::MAX_TARGETS {
        return Err(RunError::Usage(crate::cli::UsageError(targets::too_many(
            flagged, 0,
        ))));
    }
    let budget =
        admin::Budget::for_this_process(DESCRIPTORS_PER_TARGET * targets::MAX_TARGETS as u64);
    let listener = admin::listen(daemon.listen).map_err(|e| RunError::Config {
        path: daemon.listen.to_string(),
        reason: format!("cannot listen: {e}"),
    })?;
    let (publish, latest) = watch::channel::<Option<Arc<Published>>>(None);
    let health = Arc::new(Health::new(
        settings.deadline + Duration::from_secs(15),
        daemon.interval.mul_f64(1.2) + settings.deadline + Duration::from_secs(30),
    ));
    let server = tokio::spawn(admin::serve(
        listener,
        latest,
        Arc::clone(&health),
        budget,
        shutdown.clone(),
    ));
    let node = node_name(&settings);
    tracing::info!(
        event = "start",
        node = %node,
        listen = %daemon.listen,
        interval = %humantime::format_duration(daemon.interval),
        registry_interval = %humantime::format_duration(daemon.registry_interval),
        cluster_size = daemon.cluster_size,
        max_targets = targets::MAX_TARGETS,
        open_files_limit = budget.nofile,
        admin_connections = budget.connections,
        version = env!("CARGO_PKG_VERSION"),
        "regprobe agent started"
    );
    let mut agent = Agent {
        targets: daemon.targets.as_deref().map(targets::Targets::new),
        base: settings,
        daemon: daemon.clone(),
        node,
        memory: Arc::new(Memory::default()),
        providers: crate::config::credentials::credential_provider::ProviderCache::default(),
        last_check: HashMap::new(),
        resolved: HashMap::new(),
        local_ok: HashMap::new(),
        counters: Counters::default(),
        round: 0,
        not_ready: None,
        sizes: (0, 0),
    };
    // The first round comes soon, but not at the same second on every node of a rollout.
    let mut wait = daemon
        .interval
        .min(Duration::from_secs(10))
        .mul_f64(fastrand::f64());
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
        health.round_started();
        let outcome = tokio::select! {
            r = agent.round() => Some(r),
            _ = shutdown.changed() => None,
        };
        health.round_ended();
        match outcome {
            None => {
                tracing::info!(
                    event = "stop",
                    round = agent.round,
                    "round abandoned on shutdown"
                );
                break;
            }
            Some(Err(e)) => {
                tracing::error!(event = "round", round = agent.round, error = %e, "the round could not run");
            }
            Some(Ok((report, registry_round))) => {
                agent.counters.add_round(&report, registry_round);
                agent.counters.retain_registries(&report);
                // Sized from the last round: no doubling copies of a
                // megabyte-long line.
                let mut line = Vec::with_capacity(agent.sizes.0 + agent.sizes.0 / 8);
                let mut metrics = Vec::with_capacity(agent.sizes.1 + agent.sizes.1 / 8);
                if let Err(e) = report::json::write(&report, false, &mut line)
                    .and_then(|()| report::metrics::write(&report, &agent.counters, &mut metrics))
                {
                    tracing::error!(event = "render", error = %e, "cannot render the report");
                } else {
                    // Published first: whoever reads the line finds the
                    // same round (or a later one) on /report and /metrics.
                    agent.sizes = (line.len(), metrics.len());
                    let line = Bytes::from(line);
                    let _ = publish.send(Some(Arc::new(Published {
                        round: agent.round,
                        report: line.clone(),
                        metrics: Bytes::from(metrics),
                        not_ready: agent.not_ready.clone(),
                    })));
                    if let Some(path) = &daemon.report_file
                        && let Err(e) = write_atomically(path, &line)
                    {
                        tracing::error!(event = "report_file", path = %path.display(), error = %e, "cannot write the report file");
                    }
                    if lines.write_all(&line).and_then(|()| lines.flush()).is_err() {
                        tracing::error!(event = "stdout", "cannot write the report line");
                    }
                }
            }
        }
        if daemon.max_rounds.is_some_and(|m| agent.round >= m) {
            break;
        }
        wait = jittered(daemon.interval);
    }
    server.abort();
    let _ = lines.flush();
    tracing::info!(
        event = "stop",
        rounds = agent.round,
        "regprobe agent stopped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomically(&path, b"{\"a\":1}\n").unwrap();
        write_atomically(&path, b"{\"a\":2}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":2}\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    fn agent(node: &str, cluster_size: u32) -> Agent {
        use clap::Parser as _;
        let args = crate::cli::Args::try_parse_from(["probe", "daemon"]).unwrap();
        let base = Settings::from_args(&args, &mut std::io::empty()).unwrap();
        let mut daemon = base.daemon.clone().unwrap();
        daemon.cluster_size = Some(cluster_size);
        Agent {
            base,
            daemon,
            node: node.to_owned(),
            memory: Arc::new(Memory::default()),
            providers: crate::config::credentials::credential_provider::ProviderCache::default(),
            targets: None,
            last_check: HashMap::new(),
            resolved: HashMap::new(),
            local_ok: HashMap::new(),
            counters: Counters::default(),
            round: 0,
            not_ready: None,
            sizes: (0, 0),
        }
    }

    /// Issue 10: among 5,000 nodes, K = 3, a node is sampled out of almost
    /// every registry round for a target, unless its last check failed for a
    /// cause of its own: then it takes every round (at its phase); a
    /// registry-side failure keeps the sample.
    #[test]
    fn a_failing_node_is_always_sampled() {
        let mut a = agent("aks-nodepool1-12345678-vmss000042", 5_000);
        let target = "myregistry.azurecr.io/app:1.2";
        let interval = a.daemon.registry_interval;
        let phase = sampling::phase(&a.node, target, interval);
        // Just after this node's phase in each of 200 registry rounds.
        let at = |r: u32| {
            SystemTime::UNIX_EPOCH + interval * (1_000_000 + r) + phase + Duration::from_secs(1)
        };
        let taken = |a: &Agent| (0..200).filter(|r| a.due(target, at(*r)).is_ok()).count();
        assert!(taken(&a) <= 1, "healthy: sampled out nearly always");
        assert!(
            a.due(target, at(0))
                .unwrap_err()
                .starts_with("sampled out: 5000 nodes share")
        );
        let last = |failed_here| LastCheck {
            at: SystemTime::UNIX_EPOCH,
            outcomes: Vec::new(),
            failed_here,
        };
        a.last_check.insert(target.to_owned(), last(true));
        assert_eq!(taken(&a), 200, "failing here: every round");
        a.last_check.insert(target.to_owned(), last(false));
        assert!(taken(&a) <= 1, "failing at the registry: sampled as before");
    }

    /// Local rounds every minute, registry checks every 15 minutes, no
    /// sharing: every target is checked once per registry interval, whatever
    /// its phase (a phase in the last minute of the interval used to lose
    /// its check when the next local round fell into the next interval).
    #[test]
    fn every_registry_interval_gets_its_check_whatever_the_phase() {
        let mut a = agent("aks-np1-0", 1);
        a.daemon.cluster_size = None;
        let (local, ri) = (a.daemon.interval, a.daemon.registry_interval);
        let late = (0..2000)
            .map(|i| format!("reg{i}.test"))
            .filter(|t| sampling::phase(&a.node, t, ri) > ri.saturating_sub(local))
            .take(20)
            .collect::<Vec<_>>();
        assert!(!late.is_empty());
        for target in late
            .iter()
            .map(String::as_str)
            .chain(["myregistry.azurecr.io"])
        {
            let start = SystemTime::UNIX_EPOCH + ri * 1_000_000 + Duration::from_secs(7);
            let mut checks = 0;
            let rounds = 100 * ri.as_secs() / local.as_secs();
            for i in 0..rounds {
                // Local rounds drift within the agent's jitter.
                let now = start
                    + local * u32::try_from(i).unwrap()
                    + Duration::from_millis(i * 37 % 9000);
                if a.due(target, now).is_ok() {
                    checks += 1;
                    let check = LastCheck {
                        at: now,
                        outcomes: Vec::new(),
                        failed_here: false,
                    };
                    a.last_check.insert(target.to_owned(), check);
                }
            }
            assert!(
                (99..=101).contains(&checks),
                "{target}: {checks} checks in 100 registry intervals"
            );
        }
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(60));
            assert!(d >= Duration::from_secs(48) && d <= Duration::from_secs(72));
        }
    }
}
