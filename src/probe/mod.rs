//! The staged probe: one primitive per stage, each with its own timeout, each
//! returning a typed [`StageResult`] (a failure is a measurement, not an `Err`).
//!
//! `dial` chains dns -> tcp -> (proxy) -> tls for any host (an endpoint, a
//! token realm, a blob redirect target); `http` runs ping -> auth -> manifest
//! -> platform -> blob over the connection dial returned. This module only
//! sequences stages; the fault taxonomy lives in `verdict.rs`.

pub mod auth;
pub mod blob;
pub mod challenge;
pub mod dns;
pub mod http;
pub mod manifest;
pub mod proxy;
pub mod tcp;
pub mod tls;

use crate::code::Code;
use crate::hostroot::HostRoot;
use crate::platform::Platform;
use crate::target::{Endpoint, Scheme, Target, TlsSettings};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// Any byte stream a stage hands to the next: TCP, a proxy tunnel, TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}
/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// The stages of `CONTRACT.md`, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Dns,
    Tcp,
    Proxy,
    Tls,
    Ping,
    Auth,
    Manifest,
    Blob,
    Platform,
}

impl Stage {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Proxy => "proxy",
            Stage::Tls => "tls",
            Stage::Ping => "ping",
            Stage::Auth => "auth",
            Stage::Manifest => "manifest",
            Stage::Blob => "blob",
            Stage::Platform => "platform",
        }
    }
}

/// `ok`, `fail` or `skipped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Fail,
    Skipped,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// The outcome of one stage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageResult {
    pub stage: Stage,
    pub status: Status,
    pub code: Code,
    pub duration: Duration,
    /// The key fact in one line for the human view ("93.184.216.34 via 10.0.0.10",
    /// "CN=reg.test, expires 2027-01-01", "connection refused"). Never a secret.
    pub summary: String,
    /// Structured facts for the JSON report's `detail` object. Never a secret.
    pub detail: Value,
}

impl StageResult {
    #[must_use]
    pub fn ok(stage: Stage, duration: Duration, summary: impl Into<String>, detail: Value) -> Self {
        Self {
            stage,
            status: Status::Ok,
            code: Code::Ok,
            duration,
            summary: summary.into(),
            detail,
        }
    }

    #[must_use]
    pub fn fail(
        stage: Stage,
        code: Code,
        duration: Duration,
        summary: impl Into<String>,
        detail: Value,
    ) -> Self {
        Self {
            stage,
            status: Status::Fail,
            code,
            duration,
            summary: summary.into(),
            detail,
        }
    }

    #[must_use]
    pub fn skipped(stage: Stage, summary: impl Into<String>) -> Self {
        Self {
            stage,
            status: Status::Skipped,
            code: Code::Ok,
            duration: Duration::ZERO,
            summary: summary.into(),
            detail: Value::Object(serde_json::Map::new()),
        }
    }

    #[must_use]
    pub fn is_fail(&self) -> bool {
        self.status == Status::Fail
    }
}

/// What every stage needs from the run: the node's resolver and trust, the
/// per-stage timeout, the run's deadline, the platform wanted.
pub struct Context {
    pub root: HostRoot,
    pub resolver: dns::NodeResolver,
    pub trust: Arc<tls::TrustStore>,
    /// Per-stage timeout (`--timeout`).
    pub timeout: Duration,
    /// The whole run's deadline (`--deadline`).
    pub deadline: Instant,
    pub platform: Platform,
}

impl Context {
    /// The time a stage may take now: the stage timeout, cut short by the deadline.
    #[must_use]
    pub fn stage_timeout(&self) -> Duration {
        self.timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }
}

/// A connection made by [`dial`], with the stages it took.
pub struct Dialed {
    pub stages: Vec<StageResult>,
    /// The stream, when every stage succeeded.
    pub io: Option<BoxIo>,
}

impl Dialed {
    /// The first failing stage's code, if any.
    #[must_use]
    pub fn failure(&self) -> Option<Code> {
        self.stages.iter().find(|s| s.is_fail()).map(|s| s.code)
    }
}

/// Where to dial: scheme, host and port, with the endpoint's TLS material and proxy.
#[derive(Clone, Copy, Debug)]
pub struct DialSpec<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub port: u16,
    pub tls: &'a TlsSettings,
    pub proxy: Option<&'a url::Url>,
}

impl<'a> DialSpec<'a> {
    #[must_use]
    pub fn for_endpoint(ep: &'a Endpoint) -> Self {
        Self {
            scheme: ep.scheme,
            host: &ep.host,
            port: ep.port,
            tls: &ep.tls,
            proxy: ep.proxy.as_ref(),
        }
    }
}

/// dns -> tcp -> (proxy CONNECT) -> tls. Through a proxy, name resolution of
/// the target is the proxy's business: dns and tcp apply to the proxy host.
pub async fn dial(ctx: &Context, spec: DialSpec<'_>) -> Dialed {
    let mut stages = Vec::new();
    let (dns_host, dns_port) = match spec.proxy {
        Some(p) => (
            p.host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            p.port_or_known_default().unwrap_or(3128),
        ),
        None => (spec.host.to_owned(), spec.port),
    };
    let (dns_stage, addrs) = dns::resolve(&ctx.resolver, &dns_host, ctx.stage_timeout()).await;
    let dns_failed = dns_stage.is_fail();
    stages.push(dns_stage);
    if dns_failed {
        return Dialed { stages, io: None };
    }
    let (tcp_stage, stream) = tcp::connect(&addrs, dns_port, ctx.stage_timeout()).await;
    stages.push(tcp_stage);
    let Some(stream) = stream else {
        if spec.proxy.is_some() {
            // The proxy itself cannot be reached: that is the proxy stage's verdict.
            let cause = stages.last().map(|s| s.summary.clone()).unwrap_or_default();
            stages.push(StageResult::fail(
                Stage::Proxy,
                Code::ProxyUnreachable,
                Duration::ZERO,
                format!("proxy {dns_host}:{dns_port} unreachable: {cause}"),
                serde_json::json!({ "proxy": format!("{dns_host}:{dns_port}") }),
            ));
        }
        return Dialed { stages, io: None };
    };
    let mut io: BoxIo = Box::new(stream);
    if let Some(proxy) = spec.proxy {
        let (stage, tunnel) =
            proxy::connect(io, proxy, spec.host, spec.port, ctx.stage_timeout()).await;
        stages.push(stage);
        let Some(tunnel) = tunnel else {
            return Dialed { stages, io: None };
        };
        io = tunnel;
    }
    if spec.scheme == Scheme::Https {
        let (stage, tls_io) =
            tls::handshake(io, spec.host, spec.tls, &ctx.trust, ctx.stage_timeout()).await;
        stages.push(stage);
        match tls_io {
            Some(t) => io = t,
            None => return Dialed { stages, io: None },
        }
    }
    Dialed {
        stages,
        io: Some(io),
    }
}

/// The stages run against one endpoint.
#[derive(Clone, Debug)]
pub struct EndpointOutcome {
    pub endpoint: Endpoint,
    pub stages: Vec<StageResult>,
}

impl EndpointOutcome {
    /// The first failing stage, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.is_fail())
    }
}

/// Probe one endpoint of a target: dial, then the HTTP stages.
pub async fn probe_endpoint(ctx: &Context, target: &Target, ep: &Endpoint) -> EndpointOutcome {
    let dialed = dial(ctx, DialSpec::for_endpoint(ep)).await;
    let mut stages = dialed.stages;
    if let Some(io) = dialed.io {
        stages.extend(http::run(ctx, target, ep, io).await);
    }
    EndpointOutcome {
        endpoint: ep.clone(),
        stages,
    }
}

/// Probe a target's endpoints in the runtime's order, stopping at the first
/// one that works (as the runtime would), or trying them all if none does.
pub async fn probe_target(ctx: &Context, target: &Target) -> Vec<EndpointOutcome> {
    let mut outcomes = Vec::new();
    for ep in &target.endpoints {
        if Instant::now() >= ctx.deadline {
            break;
        }
        let outcome = probe_endpoint(ctx, target, ep).await;
        let ok = outcome.first_failure().is_none();
        outcomes.push(outcome);
        if ok {
            break;
        }
    }
    outcomes
}
