//! Reaching a host: dns -> tcp -> (proxy) -> tls, for an endpoint, a token
//! realm or a blob redirect target alike. Through a proxy, name resolution
//! and the connection are the proxy's: dns and tcp then concern the proxy
//! host, and a failure there is `PROXY_UNREACHABLE`.
//!
//! It only chains the connection stages; it speaks no HTTP and decides no
//! verdict.

use super::context::Context;
use super::dns;
use super::io::BoxIo;
use super::proxy;
use super::result::{Detail, ProxyBlame, ProxyDetail, Stage, StageResult};
use super::tcp;
use super::tls;
use crate::code::Code;
use crate::target::{Endpoint, ProxyUrl, Scheme, TlsSettings};
use std::time::Duration;

/// Where to dial: scheme, host and port, with the endpoint's TLS material and proxy.
#[derive(Clone, Copy, Debug)]
pub struct DialSpec<'a> {
    pub scheme: Scheme,
    pub host: &'a str,
    pub port: u16,
    pub tls: &'a TlsSettings,
    pub proxy: Option<&'a ProxyUrl>,
    /// The TCP connect limit instead of `--timeout` (hosts.toml `dial_timeout`).
    pub dial_timeout: Option<Duration>,
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
            dial_timeout: ep.dial_timeout,
        }
    }
}

/// A connection made by [`dial`], with the stages it took.
pub struct Dialed {
    pub stages: Vec<StageResult>,
    /// The stream, when every stage succeeded.
    pub io: Option<BoxIo>,
}

/// Scheme, host (IPv6 without brackets) and port of an `http`/`https` URL
/// that a stage dials itself (a token realm, a blob redirect); any scheme
/// other than `https` counts as `http`.
#[must_use]
pub fn url_target(url: &url::Url) -> (Scheme, String, u16) {
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let port = url.port_or_known_default().unwrap_or(scheme.default_port());
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    (scheme, host, port)
}

/// Through a proxy, dns and tcp concern the proxy host: a failure there means
/// the configured proxy cannot be reached (`PROXY_UNREACHABLE`), whatever the
/// cause, which the stage keeps.
fn blame_proxy(stage: &mut StageResult, host: &str, port: u16) {
    stage.proxy_blame = Some(ProxyBlame {
        cause: stage.code,
        proxy_host: format!("{host}:{port}"),
    });
    stage.code = Code::ProxyUnreachable;
    stage.summary = format!("proxy {host}:{port} cannot be reached: {}", stage.summary);
}

/// dns -> tcp -> (proxy) -> tls, each under its own timeout and the run's deadline.
pub async fn dial(ctx: &Context, spec: DialSpec<'_>) -> Dialed {
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
    let tcp_limit = spec
        .dial_timeout
        .map_or_else(|| ctx.stage_timeout(), |d| d.min(ctx.time_left()));
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
            Detail::Proxy(ProxyDetail::Forward {
                proxy: proxy.redacted(),
            }),
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
