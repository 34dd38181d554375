//! The JSON report of `CONTRACT.md`: `schema` `regprobe.report/v2`.
//!
//! These output types are the contract and are kept apart from the domain
//! types (built with `From`), so a refactoring inside cannot change the
//! report by accident; each stage's `detail` object is made in [`detail`].
//! Nothing secret can reach them: `Secret` has no `Serialize`, and stage
//! details are built without secrets.

pub mod detail;
pub mod pod;

use super::Report;
use crate::probe::EndpointOutcome;
use crate::target::{Credential, ProxyUrl};
use serde::Serialize;
use serde_json::Value;
use std::io;

/// The report's schema identifier.
pub const SCHEMA: &str = "regprobe.report/v2";

/// The top-level report object.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    pub schema: &'static str,
    pub node: &'a str,
    pub started_at: String,
    pub duration_ms: u64,
    /// Absent in `probe plan --json`, which judges nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    pub config_sources: Vec<JsonSource>,
    /// Absent in `probe plan --json`, which judges nothing.
    #[serde(skip_serializing_if = "Judged::is_not_judged")]
    pub node_finding: Judged<JsonNodeFinding>,
    pub runtime: JsonRuntime,
    pub targets: Vec<JsonTarget>,
    /// Only in `probe pod --json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<pod::JsonPod>,
}

/// A value that exists only in a judged report: `null` or the value there,
/// and left out of `probe plan --json`.
#[derive(Debug)]
pub enum Judged<T> {
    NotJudged,
    Value(Option<T>),
}

impl<T> Judged<T> {
    fn is_not_judged(&self) -> bool {
        matches!(self, Judged::NotJudged)
    }
}

impl<T: Serialize> Serialize for Judged<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Judged::NotJudged | Judged::Value(None) => s.serialize_none(),
            Judged::Value(Some(v)) => v.serialize(s),
        }
    }
}

/// The node's finding: one cause for every failing target.
#[derive(Debug, Serialize)]
pub struct JsonNodeFinding {
    pub category: &'static str,
    pub message: String,
    pub hint: String,
}

/// The node's runtime and its release, where its binary told.
#[derive(Debug, Serialize)]
pub struct JsonRuntime {
    /// `containerd`, `cri-o`, `docker`, `k3s` or `unknown`.
    pub name: &'static str,
    /// The upstream release (`1.6.20` for Debian's `1.6.20~ds1`), or null.
    pub version: Option<String>,
    /// The node path of the binary it was read from, or null.
    pub source: Option<String>,
}

impl From<Option<&super::RuntimeReport>> for JsonRuntime {
    fn from(r: Option<&super::RuntimeReport>) -> Self {
        r.map_or(
            Self {
                name: "unknown",
                version: None,
                source: None,
            },
            |r| Self {
                name: r.name,
                version: r.version.clone(),
                source: r.source.clone(),
            },
        )
    }
}

/// Where an endpoint's credential comes from; never the secret.
#[derive(Debug, Serialize)]
pub struct JsonCredential {
    pub source: String,
    /// `anonymous`, `basic`, `token`, `identity` or `provider`.
    pub kind: &'static str,
    /// A user or client id, never a secret.
    pub user: Option<String>,
}

impl JsonCredential {
    /// The credential sent to an endpoint, or anonymous.
    fn of(credential: Option<&Credential>) -> Self {
        match credential {
            None => Self {
                source: "none configured for this host".to_owned(),
                kind: "anonymous",
                user: None,
            },
            Some(c) => Self {
                source: c.source.clone(),
                kind: c.kind().as_str(),
                user: Some(c.username().to_owned()).filter(|u| !u.is_empty()),
            },
        }
    }
}

/// One config file read: its worst finding's severity and line, and every
/// finding's message.
#[derive(Debug, Serialize)]
pub struct JsonSource {
    pub path: String,
    pub line: Option<usize>,
    pub kind: String,
    pub severity: &'static str,
    pub message: Option<String>,
}

impl From<&crate::config::Source> for JsonSource {
    fn from(s: &crate::config::Source) -> Self {
        Self {
            path: s.path.clone(),
            line: s.line(),
            kind: s.kind.clone(),
            severity: s.severity().as_str(),
            message: s.message(),
        }
    }
}

/// One target.
#[derive(Debug, Serialize)]
pub struct JsonTarget {
    pub registry: String,
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    pub message: String,
    pub hint: Option<String>,
    pub endpoints: Vec<JsonEndpoint>,
}

/// One endpoint tried for a target.
#[derive(Debug, Serialize)]
pub struct JsonEndpoint {
    pub url: String,
    pub role: &'static str,
    pub proxy: Option<String>,
    pub credential: JsonCredential,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    pub stages: Vec<JsonStage>,
    /// Only in `probe plan --json`: the config behind this endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::plan::JsonPlan>,
}

/// One stage.
#[derive(Debug, Serialize)]
pub struct JsonStage {
    pub stage: &'static str,
    pub status: &'static str,
    pub code: &'static str,
    pub duration_ms: u64,
    pub detail: Value,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    dt.replace_nanosecond(0)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl From<&EndpointOutcome> for JsonEndpoint {
    fn from(o: &EndpointOutcome) -> Self {
        let failure = o.first_failure();
        let stages: Vec<JsonStage> = o
            .stages
            .iter()
            .map(|s| JsonStage {
                stage: s.stage.as_str(),
                status: s.status.as_str(),
                code: s.code.as_str(),
                duration_ms: s.duration.as_millis() as u64,
                detail: detail::stage_detail(s),
            })
            .collect();
        Self {
            url: o.endpoint.url(),
            role: o.endpoint.role.as_str(),
            proxy: o.endpoint.proxy.as_ref().map(ProxyUrl::redacted),
            credential: JsonCredential::of(o.endpoint.credential.as_ref()),
            status: Some(if o.skipped.is_some() {
                "skipped"
            } else if failure.is_some() {
                "fail"
            } else {
                "ok"
            }),
            code: Some(failure.map_or("OK", |f| f.code.as_str())),
            stages,
            plan: None,
        }
    }
}

impl<'a> From<&'a Report> for JsonReport<'a> {
    fn from(r: &'a Report) -> Self {
        let targets = r
            .targets
            .iter()
            .map(|t| {
                let mut endpoints: Vec<JsonEndpoint> =
                    t.outcomes.iter().map(JsonEndpoint::from).collect();
                // Endpoints the runtime would not reach (an earlier one worked, or the deadline hit) are listed as skipped.
                for ep in t.target.endpoints.iter().skip(t.outcomes.len()) {
                    endpoints.push(JsonEndpoint {
                        url: ep.url(),
                        role: ep.role.as_str(),
                        proxy: ep.proxy.as_ref().map(ProxyUrl::redacted),
                        credential: JsonCredential::of(t.target.credential_for(ep)),
                        status: (!r.is_plan()).then_some("skipped"),
                        code: (!r.is_plan()).then_some("OK"),
                        stages: Vec::new(),
                        plan: r.is_plan().then(|| {
                            super::plan::JsonPlan::new(
                                &t.target,
                                ep,
                                r.runtime.as_ref().map(|rt| rt.detected.as_str()),
                            )
                        }),
                    });
                }
                let judged = !r.is_plan();
                JsonTarget {
                    registry: t.target.registry.clone(),
                    image: t.target.image.as_ref().map(ToString::to_string),
                    status: judged.then(|| t.verdict.status.as_str()),
                    code: judged.then(|| t.verdict.code.as_str()),
                    category: judged.then(|| t.verdict.category.as_str()),
                    message: t.verdict.message.clone(),
                    hint: t.verdict.hint.clone(),
                    endpoints,
                }
            })
            .collect();
        Self {
            schema: SCHEMA,
            node: &r.node,
            started_at: rfc3339(r.started_at),
            duration_ms: r.duration.as_millis() as u64,
            status: (!r.is_plan()).then(|| r.status.as_str()),
            config_sources: r.config_sources.iter().map(JsonSource::from).collect(),
            node_finding: if r.is_plan() {
                Judged::NotJudged
            } else {
                Judged::Value(r.node_finding.as_ref().map(|f| JsonNodeFinding {
                    category: f.category.as_str(),
                    message: f.message.clone(),
                    hint: f.hint.clone(),
                }))
            },
            runtime: JsonRuntime::from(r.runtime.as_ref()),
            pod: r.pod().map(|p| pod::JsonPod::new(p, &r.targets)),
            targets,
        }
    }
}

/// Write the report as one JSON object, pretty or on one line (daemon logs).
pub fn write(report: &Report, pretty: bool, out: &mut impl io::Write) -> io::Result<()> {
    let j = JsonReport::from(report);
    if pretty {
        serde_json::to_writer_pretty(&mut *out, &j)?;
    } else {
        serde_json::to_writer(&mut *out, &j)?;
    }
    out.write_all(b"\n")
}
