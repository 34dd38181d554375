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
use crate::target::{Endpoint, ProxyUrl, Scheme, Target, TlsSettings};
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
    /// The runtime's proxy environment, for hosts other than the endpoint
    /// (token realms, blob redirects); `None` uses the endpoint's proxy.
    pub proxy_env: Option<crate::config::proxy::ProxyEnv>,
}

impl Context {
    /// The proxy for another host reached on behalf of `ep` (a token realm,
    /// a blob redirect): Go's `ProxyFromEnvironment` is asked per request
    /// URL, so `NO_PROXY` is evaluated for that host, not the endpoint's.
    #[must_use]
    pub fn proxy_for_host(
        &self,
        ep: &Endpoint,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Option<ProxyUrl> {
        match &self.proxy_env {
            Some(env) => crate::config::proxy::proxy_for(env, scheme.as_str(), host, port),
            None => ep.proxy.clone(),
        }
    }

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

/// `stage code: summary` of the first failing stage, for a summary that says
/// why a second host (a token realm, a blob redirect) could not be reached;
/// empty when none failed.
pub(crate) fn first_failure(stages: &[StageResult]) -> String {
    stages
        .iter()
        .find(|s| s.is_fail())
        .map_or_else(String::new, |s| {
            format!("{} {}: {}", s.stage.as_str(), s.code, s.summary)
        })
}

/// The host of `url` as the resolver and the TLS name want it: IPv6 without brackets.
fn url_host(url: &url::Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

/// Scheme, host (see [`url_host`]) and port of an `http`/`https` URL that a
/// stage dials itself (a token realm, a blob redirect); any scheme other than
/// `https` counts as `http`.
pub(crate) fn url_target(url: &url::Url) -> (Scheme, String, u16) {
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let port = url.port_or_known_default().unwrap_or(scheme.default_port());
    (scheme, url_host(url), port)
}

/// Where to dial: scheme, host and port, with the endpoint's TLS material and proxy.
#[derive(Clone, Copy, Debug)]
pub struct DialSpec<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub port: u16,
    pub tls: &'a TlsSettings,
    pub proxy: Option<&'a ProxyUrl>,
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
    dial_with(ctx, spec, None).await
}

/// Through a proxy, dns and tcp concern the proxy host: a failure there means
/// the configured proxy cannot be reached (`PROXY_UNREACHABLE`), whatever the
/// cause, which stays in the stage's `detail.cause`.
fn blame_proxy(stage: &mut StageResult, host: &str, port: u16) {
    if let serde_json::Value::Object(map) = &mut stage.detail {
        map.insert(
            "cause".to_owned(),
            serde_json::Value::String(stage.code.as_str().to_owned()),
        );
        map.insert(
            "proxy_host".to_owned(),
            serde_json::Value::String(format!("{host}:{port}")),
        );
    }
    stage.code = Code::ProxyUnreachable;
    stage.summary = format!("proxy {host}:{port} cannot be reached: {}", stage.summary);
}

/// [`dial`] with an endpoint's own connect limit (hosts.toml `dial_timeout`,
/// which containerd gives its `net.Dialer`), used for the tcp stage instead
/// of `--timeout`, still cut short by the run's deadline.
pub async fn dial_with(
    ctx: &Context,
    spec: DialSpec<'_>,
    dial_timeout: Option<Duration>,
) -> Dialed {
    let mut stages = Vec::new();
    let (dns_host, dns_port) = match spec.proxy {
        Some(p) => (p.host(), p.port()),
        None => (spec.host.to_owned(), spec.port),
    };
    let (mut dns_stage, addrs) = dns::resolve(&ctx.resolver, &dns_host, ctx.stage_timeout()).await;
    let dns_failed = dns_stage.is_fail();
    if dns_failed && spec.proxy.is_some() {
        blame_proxy(&mut dns_stage, &dns_host, dns_port);
    }
    stages.push(dns_stage);
    if dns_failed {
        return Dialed { stages, io: None };
    }
    let tcp_limit = dial_timeout.map_or_else(
        || ctx.stage_timeout(),
        |d| d.min(ctx.deadline.saturating_duration_since(Instant::now())),
    );
    let (mut tcp_stage, stream) = tcp::connect(&addrs, dns_port, tcp_limit).await;
    if stream.is_none() && spec.proxy.is_some() {
        blame_proxy(&mut tcp_stage, &dns_host, dns_port);
    }
    stages.push(tcp_stage);
    let Some(stream) = stream else {
        return Dialed { stages, io: None };
    };
    let mut io: BoxIo = Box::new(stream);
    if let Some(proxy) = spec.proxy
        && spec.scheme == Scheme::Http
    {
        // Go's transport (containerd's) sends plain-HTTP requests to the proxy
        // in absolute form (`GET http://host/v2/`); only https is tunnelled
        // with CONNECT (net/http/transport.go `connectMethod`).
        stages.push(StageResult::ok(
            Stage::Proxy,
            Duration::ZERO,
            format!(
                "plain HTTP forwarded by proxy {} (absolute-form requests, no CONNECT)",
                proxy.redacted()
            ),
            serde_json::json!({"proxy": proxy.redacted(), "forward": true}),
        ));
        return Dialed {
            stages,
            io: Some(io),
        };
    }
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
    /// The endpoint actually contacted: the configured one, or its plain-http
    /// fallback when the runtime would have fallen back (its `url` is then `http://`).
    pub endpoint: Endpoint,
    pub stages: Vec<StageResult>,
    /// Why the runtime would not use this endpoint for this target at all.
    pub skipped: Option<String>,
}

impl EndpointOutcome {
    /// The first failing stage, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.is_fail())
    }

    /// Probed, and every stage passed.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.skipped.is_none() && self.first_failure().is_none()
    }
}

/// Probe one endpoint of a target: dial, then the HTTP stages; then, when the
/// runtime would retry this host over plain http, the same over http.
pub async fn probe_endpoint(ctx: &Context, target: &Target, ep: &Endpoint) -> EndpointOutcome {
    let stages = probe_once(ctx, target, ep).await;
    if let (Some(fallback), Some(cause)) = (ep.fallback_endpoint(), fallback_cause(ep, &stages))
        && Instant::now() < ctx.deadline
    {
        let mut retried = probe_once(ctx, target, &fallback).await;
        let note = fallback_note(ep, &fallback, cause);
        // The tls stage belongs after dns/tcp/proxy and before the HTTP stages.
        let at = retried
            .iter()
            .position(|s| s.stage > Stage::Proxy)
            .unwrap_or(retried.len());
        retried.insert(at, note);
        return EndpointOutcome {
            endpoint: fallback,
            stages: retried,
            skipped: None,
        };
    }
    EndpointOutcome {
        endpoint: ep.clone(),
        stages,
        skipped: None,
    }
}

async fn probe_once(ctx: &Context, target: &Target, ep: &Endpoint) -> Vec<StageResult> {
    let dialed = dial_with(ctx, DialSpec::for_endpoint(ep), ep.dial_timeout).await;
    let mut stages = dialed.stages;
    if let Some(io) = dialed.io {
        stages.extend(http::run(ctx, target, ep, io).await);
    }
    stages
}

/// The https failure after which the runtime retries over http, if any.
/// containerd (`isTLSError`) only retries when the handshake itself failed
/// (the server answered in plain HTTP, or timed out), never on a certificate
/// error; containers/image and moby retry after any failure through the ping.
fn fallback_cause<'a>(ep: &Endpoint, stages: &'a [StageResult]) -> Option<&'a StageResult> {
    let rule = ep.http_fallback.as_ref()?;
    let failure = stages.iter().find(|s| s.is_fail())?;
    let retry = match failure.stage {
        Stage::Tls => rule.on_any_error || failure.code == Code::TlsHandshake,
        Stage::Tcp | Stage::Proxy | Stage::Ping => rule.on_any_error,
        // The name is the same over http; past the ping, https is in use.
        _ => false,
    };
    retry.then_some(failure)
}

/// The https attempt, kept as a skipped tls stage that says why http follows.
fn fallback_note(ep: &Endpoint, fallback: &Endpoint, cause: &StageResult) -> StageResult {
    let why = if cause.stage == Stage::Tls && cause.code == Code::TlsHandshake {
        "server speaks plain HTTP or the handshake failed".to_owned()
    } else {
        format!("https {} failed ({})", cause.stage.as_str(), cause.code)
    };
    let mut note = StageResult::skipped(
        Stage::Tls,
        format!(
            "{why}; falling back to {} as the runtime does (http_fallback: {})",
            fallback.url(),
            ep.source
        ),
    );
    note.detail = serde_json::json!({
        "fallback_from": ep.url(),
        "fallback_to": fallback.url(),
        "https_stage": cause.stage.as_str(),
        "https_code": cause.code.as_str(),
        "https_error": cause.summary,
    });
    note
}

/// Probe a target's endpoints in the runtime's order, stopping at the first
/// one that works (as the runtime would), or trying them all if none does.
pub async fn probe_target(ctx: &Context, target: &Target) -> Vec<EndpointOutcome> {
    let mut outcomes = Vec::new();
    let by_tag = target.image.as_ref().is_some_and(|i| i.digest.is_none());
    for ep in &target.endpoints {
        if Instant::now() >= ctx.deadline {
            break;
        }
        // containerd resolves a tag only on hosts with the `resolve`
        // capability (core/remotes/docker/resolver.go `Resolve`:
        // `r.filterHosts(HostCapabilityResolve)`); a pull-only mirror serves
        // content by digest after that, which the probe does not reach.
        if by_tag && !ep.capabilities.resolve {
            outcomes.push(EndpointOutcome {
                endpoint: ep.clone(),
                stages: Vec::new(),
                skipped: Some(
                    "no `resolve` capability: the runtime resolves tags elsewhere and uses this host only for content by digest"
                        .to_owned(),
                ),
            });
            continue;
        }
        let outcome = probe_endpoint(ctx, target, ep).await;
        let ok = outcome.is_ok();
        outcomes.push(outcome);
        if ok {
            break;
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::http::testutil::{context, reply, serve};
    use super::*;
    use crate::target::HttpFallback;

    fn target() -> Target {
        Target {
            registry: "127.0.0.1".into(),
            image: None,
            endpoints: Vec::new(),
            remarks: Vec::new(),
        }
    }

    fn registry_answer() -> http::testutil::Answer {
        reply(
            200,
            &[("Docker-Distribution-API-Version", "registry/2.0")],
            "{}",
        )
    }

    /// A closed loopback port: connecting is refused.
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn plain_http_server_behind_an_https_fallback_endpoint() {
        let server = serve(|_| registry_answer()).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = Endpoint::https("127.0.0.1", server.port);
        ep.tls.skip_verify = true;
        ep.http_fallback = Some(HttpFallback {
            port: server.port,
            on_any_error: false,
            proxy: None,
        });
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(
            out.endpoint.url(),
            format!("http://127.0.0.1:{}/v2/", server.port)
        );
        assert!(out.first_failure().is_none(), "{:?}", out.stages);
        let tls = out.stages.iter().find(|s| s.stage == Stage::Tls).unwrap();
        assert_eq!(tls.status, Status::Skipped);
        assert!(tls.summary.contains("falling back"), "{}", tls.summary);
        assert_eq!(tls.detail["https_code"], "TLS_HANDSHAKE");
        let order: Vec<Stage> = out.stages.iter().map(|s| s.stage).collect();
        assert_eq!(
            order[..4],
            [Stage::Dns, Stage::Tcp, Stage::Tls, Stage::Ping]
        );

        // Without the fallback the same server is a TLS failure.
        ep.http_fallback = None;
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(
            out.first_failure().map(|f| f.code),
            Some(Code::TlsHandshake)
        );
        assert!(out.endpoint.url().starts_with("https://"));
    }

    #[tokio::test]
    async fn any_error_fallback_moves_to_the_http_port() {
        let server = serve(|_| registry_answer()).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = Endpoint::https("127.0.0.1", closed_port());
        ep.http_fallback = Some(HttpFallback {
            port: server.port,
            on_any_error: true,
            proxy: None,
        });
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert!(out.first_failure().is_none(), "{:?}", out.stages);
        assert_eq!(out.endpoint.port, server.port);
        // containerd does not retry a refused connect on an explicit port.
        ep.http_fallback.as_mut().unwrap().on_any_error = false;
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(out.first_failure().map(|f| f.code), Some(Code::TcpRefused));
    }
}
