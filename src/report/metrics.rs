//! The agent's Prometheus metrics (`CONTRACT.md`, "Metrics"), built from the
//! latest [`Report`] and the agent's counters into a fresh registry for each
//! round, so a target that left the list leaves no series behind and labels
//! stay bounded (registry, image, code, category, role, stage: no digests,
//! messages or addresses). Written in the `OpenMetrics` text format by
//! `prometheus-client`, which Prometheus scrapes.
//!
//! It renders only: the counters are the agent's, the values the report's.
//!
//! Beyond the contract's table (additions, recorded in `CHANGELOG.md`; the
//! alert rules of `deploy/monitoring/` need them):
//! `regprobe_node_finding{category}` (1 while the report has a node finding),
//! `regprobe_last_round_timestamp_seconds{kind}` (when the last round of each
//! kind ended: a stalled agent keeps serving an old value) and
//! `probe_registry_ratelimit_limit{registry}` (the limit the registry's
//! rate-limit headers announce, beside `remaining`).

use super::{Report, TargetReport};
use crate::config::Severity;
use crate::probe::EndpointOutcome;
use crate::probe::result::{Detail, PingDetail, RateLimit};
use crate::verdict::TargetStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

/// The content type of [`write()`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the agent counts across rounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Rounds with node-local checks only.
    pub local_rounds: u64,
    /// Rounds in which at least one target's registry checks ran. The two
    /// kinds are disjoint: their sum is every round.
    pub registry_rounds: u64,
    /// HTTP requests sent to each registry (by the target's registry name).
    pub requests: BTreeMap<String, u64>,
    /// When the last round of each kind ended (local, registry).
    pub last_local: Option<SystemTime>,
    pub last_registry: Option<SystemTime>,
    /// The node's clock minus the servers' (their `Date` headers) as the
    /// last round that read one saw it; node-local rounds read none.
    pub clock_skew_seconds: Option<i64>,
}

impl Counters {
    /// Count a finished round's requests and kind.
    pub fn add_round(&mut self, report: &Report, registry_round: bool) {
        let now = SystemTime::now();
        if registry_round {
            self.registry_rounds += 1;
            self.last_registry = Some(now);
        } else {
            self.local_rounds += 1;
            self.last_local = Some(now);
        }
        if let Some(r) =
            crate::verdict::clock_reading(report.targets.iter().flat_map(|t| &t.outcomes))
        {
            self.clock_skew_seconds = Some(r.offset_seconds);
        }
        for t in &report.targets {
            let sent: u64 = t.outcomes.iter().map(|o| u64::from(o.requests)).sum();
            *self.requests.entry(t.target.registry.clone()).or_default() += sent;
        }
    }

    /// Forget registries no target names any more (their series go too).
    pub fn retain_registries(&mut self, report: &Report) {
        self.requests
            .retain(|r, _| report.targets.iter().any(|t| t.target.registry == *r));
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    registry: String,
    image: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    registry: String,
    image: String,
    code: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    registry: String,
    image: String,
    role: String,
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabels {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn target_labels(t: &TargetReport) -> TargetLabels {
    TargetLabels {
        registry: t.target.registry.clone(),
        image: t
            .target
            .image
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// The endpoint the verdict came from: the one that worked, or the failing
/// one whose first failure is the verdict's.
fn deciding(t: &TargetReport) -> Option<&EndpointOutcome> {
    let mut tried = t.outcomes.iter().filter(|o| o.skipped.is_none());
    if t.verdict.status == TargetStatus::Fail {
        t.outcomes.iter().find(|o| {
            o.first_failure()
                .is_some_and(|f| f.code == t.verdict.code && Some(f.stage) == t.verdict.stage)
        })
    } else {
        tried
            .clone()
            .find(|o| o.is_ok())
            .or_else(move || tried.next_back())
    }
}

/// The earliest `not_after` of any chain a target's endpoints presented.
fn earliest_expiry(t: &TargetReport) -> Option<i64> {
    t.outcomes
        .iter()
        .flat_map(|o| &o.stages)
        .filter_map(|s| match &s.detail {
            Detail::Tls(d) => Some(d.chain.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|c| c.facts.as_ref().ok())
        .map(|f| f.not_after.unix_timestamp())
        .min()
}

/// The last rate-limit `remaining` and `limit` a target's registry sent.
fn rate_limit(t: &TargetReport) -> (Option<f64>, Option<f64>) {
    let last = rate_limits(t)
        .filter_map(RateLimit::remaining_count)
        .next_back();
    let limit = rate_limits(t)
        .filter_map(RateLimit::limit_count)
        .next_back();
    (last, limit)
}

/// Every rate-limit header set a target's registry sent, in stage order.
fn rate_limits(t: &TargetReport) -> impl DoubleEndedIterator<Item = &RateLimit> {
    t.outcomes
        .iter()
        .flat_map(|o| &o.stages)
        .filter_map(|s| -> Option<&RateLimit> {
            match &s.detail {
                Detail::Ping(PingDetail::Answered(a)) => Some(&a.rate_limit),
                Detail::Manifest(m) => m.response.as_ref().map(|r| &r.rate_limit),
                _ => None,
            }
        })
}

/// Seconds since the epoch.
fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Write the metrics of `report` and `counters` (which have taken `report`
/// in, [`Counters::add_round`]) in the `OpenMetrics` text format.
pub fn write(report: &Report, counters: &Counters, out: &mut impl io::Write) -> io::Result<()> {
    let mut registry = Registry::default();
    let success = Family::<TargetLabels, Gauge>::default();
    let verdict = Family::<VerdictLabels, Gauge>::default();
    let duration = Family::<TargetLabels, FloatGauge>::default();
    let stage_duration = Family::<StageLabels, FloatGauge>::default();
    let expiry = Family::<RegistryLabels, Gauge>::default();
    let remaining = Family::<RegistryLabels, FloatGauge>::default();
    let limit = Family::<RegistryLabels, FloatGauge>::default();
    let finding = Family::<CategoryLabels, Gauge>::default();
    let last_round = Family::<KindLabels, FloatGauge>::default();
    let rounds = Family::<KindLabels, Counter>::default();
    let requests = Family::<RegistryLabels, Counter>::default();
    let problems = Family::<SeverityLabels, Gauge>::default();
    let build = Family::<VersionLabels, Gauge>::default();

    for t in &report.targets {
        let labels = target_labels(t);
        let ok = matches!(t.verdict.status, TargetStatus::Ok | TargetStatus::Degraded);
        success.get_or_create(&labels).set(i64::from(ok));
        verdict
            .get_or_create(&VerdictLabels {
                registry: labels.registry.clone(),
                image: labels.image.clone(),
                code: t.verdict.code.as_str().to_owned(),
                category: t.verdict.category.as_str().to_owned(),
            })
            .set(1);
        duration
            .get_or_create(&labels)
            .set(t.duration.as_secs_f64());
        if let Some(o) = deciding(t) {
            for s in o.stages.iter().filter(|s| !s.status.is_skipped()) {
                stage_duration
                    .get_or_create(&StageLabels {
                        registry: labels.registry.clone(),
                        image: labels.image.clone(),
                        role: o.endpoint.role.as_str().to_owned(),
                        stage: s.stage.as_str().to_owned(),
                    })
                    .set(s.duration.as_secs_f64());
            }
        }
        let reg = RegistryLabels {
            registry: labels.registry.clone(),
        };
        if let Some(at) = earliest_expiry(t) {
            let g = expiry.get_or_create(&reg);
            let earlier = match g.get() {
                0 => at,
                seen => seen.min(at),
            };
            g.set(earlier);
        }
        let (left, most) = rate_limit(t);
        if let Some(left) = left {
            remaining.get_or_create(&reg).set(left);
        }
        if let Some(most) = most {
            limit.get_or_create(&reg).set(most);
        }
    }
    if let Some(f) = &report.node_finding {
        finding
            .get_or_create(&CategoryLabels {
                category: f.category.as_str().to_owned(),
            })
            .set(1);
    }
    for (kind, at) in [
        ("local", counters.last_local),
        ("registry", counters.last_registry),
    ] {
        if let Some(at) = at {
            last_round
                .get_or_create(&KindLabels {
                    kind: kind.to_owned(),
                })
                .set(unix(at));
        }
    }
    rounds
        .get_or_create(&KindLabels {
            kind: "local".to_owned(),
        })
        .inc_by(counters.local_rounds);
    rounds
        .get_or_create(&KindLabels {
            kind: "registry".to_owned(),
        })
        .inc_by(counters.registry_rounds);
    for (r, n) in &counters.requests {
        requests
            .get_or_create(&RegistryLabels {
                registry: r.clone(),
            })
            .inc_by(*n);
    }
    for severity in [Severity::Ok, Severity::Warning, Severity::Error] {
        let n = report
            .config_sources
            .iter()
            .filter(|s| s.severity() == severity)
            .count();
        problems
            .get_or_create(&SeverityLabels {
                severity: severity.as_str().to_owned(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    build
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .set(1);

    registry.register(
        "probe_success",
        "1 when the target's status is ok or degraded",
        success,
    );
    registry.register("probe_verdict", "1 for the target's current code", verdict);
    registry.register(
        "probe_duration_seconds",
        "the target's last probe, wall time",
        duration,
    );
    registry.register(
        "probe_stage_duration_seconds",
        "each stage of the endpoint the verdict came from",
        stage_duration,
    );
    registry.register(
        "probe_ssl_earliest_cert_expiry",
        "unix time of the earliest expiry in the presented chains",
        expiry,
    );
    registry.register(
        "probe_registry_ratelimit_remaining",
        "from the registry's rate-limit headers, when sent",
        remaining,
    );
    registry.register(
        "probe_registry_ratelimit_limit",
        "the limit the registry's rate-limit headers announce, when sent",
        limit,
    );
    registry.register(
        "regprobe_node_finding",
        "1 while one cause explains every failing target on the node (the report's node_finding)",
        finding,
    );
    registry.register(
        "regprobe_last_round_timestamp_seconds",
        "unix time the last round of that kind ended (registry: a registry check ran)",
        last_round,
    );
    registry.register(
        "regprobe_rounds",
        "rounds run: registry when a registry check ran, else local (the kinds add up to every round)",
        rounds,
    );
    registry.register(
        "regprobe_registry_requests",
        "HTTP requests sent to the registry (its read budget)",
        requests,
    );
    registry.register(
        "regprobe_config_problems",
        "config sources with that severity",
        problems,
    );
    registry.register("regprobe_build_info", "1", build);
    // Absent, not NaN, while no server has sent a `Date`: as blackbox_exporter
    // leaves out probe_ssl_earliest_cert_expiry without TLS. A NaN sample
    // would poison every aggregation across nodes (max, avg) and compare
    // false silently; an absent series is what `absent()` and staleness are for.
    if let Some(seconds) = counters.clock_skew_seconds {
        let g = FloatGauge::default();
        g.set(seconds as f64);
        registry.register(
            "regprobe_clock_skew_seconds",
            "the node's clock minus the registries' (their Date headers, last round that read one)",
            g,
        );
    }

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())
}
