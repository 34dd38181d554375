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
use super::result::{
    Detail, MssRetry, ProxyBlame, ProxyDetail, SMALL_MSS, Stage, StageResult, tcp_address,
};
use super::tcp;
use super::tls;
use crate::code::Code;
use crate::target::{Endpoint, ProxyUrl, Scheme, TlsSettings};
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

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
    /// The chain the server presented ([`dial_ignoring_cert_time`] only).
    pub chain: Vec<CertificateDer<'static>>,
}

impl Dialed {
    /// The stages up to the one that failed, and no stream.
    fn stopped(stages: Vec<StageResult>) -> Self {
        Self {
            stages,
            io: None,
            chain: Vec::new(),
        }
    }

    /// Connected with no TLS of its own (plain HTTP forwarded by a proxy).
    fn connected(stages: Vec<StageResult>, io: BoxIo) -> Self {
        Self {
            stages,
            io: Some(io),
            chain: Vec::new(),
        }
    }
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
    dial_with(ctx, spec, false).await
}

/// [`dial`], but the handshake accepts a chain whose only fault is its dates
/// and the chain comes back: for the clock check, which sends nothing secret
/// over this connection.
pub async fn dial_ignoring_cert_time(ctx: &Context, spec: DialSpec<'_>) -> Dialed {
    dial_with(ctx, spec, true).await
}

async fn dial_with(ctx: &Context, spec: DialSpec<'_>, time_only: bool) -> Dialed {
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
        return Dialed::stopped(stages);
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
        return Dialed::stopped(stages);
    };
    let connected = tcp_address(&stages);
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
        return Dialed::connected(stages, io);
    }
    if let Some(proxy) = spec.proxy {
        let (stage, tunnel) =
            proxy::connect(io, proxy, spec.host, spec.port, ctx.stage_timeout()).await;
        stages.push(stage);
        let Some(tunnel) = tunnel else {
            return Dialed::stopped(stages);
        };
        io = tunnel;
    }
    let mut chain = Vec::new();
    if spec.scheme == Scheme::Https {
        let (mut stage, tls_io, presented) = tls::handshake_with(
            io,
            spec.host,
            spec.tls,
            &ctx.trust,
            ctx.stage_timeout(),
            time_only,
        )
        .await;
        if time_only {
            chain = presented;
        } else if tls_io.is_none() {
            mtu_check(ctx, spec, connected, &mut stage).await;
        }
        stages.push(stage);
        let Some(t) = tls_io else {
            return Dialed {
                stages,
                io: None,
                chain,
            };
        };
        io = t;
    }
    Dialed {
        stages,
        io: Some(io),
        chain,
    }
}

/// A handshake that stalled after TCP connected, tried once more on the same
/// address with a small MSS: when that completes, the server's full-size
/// segments were lost on the way (a path MTU black hole) and the stage says
/// `MTU_BLACKHOLE`; when it stalls too, the retry is recorded and the code
/// stays. Not through a proxy: our MSS would only shape the proxy's leg.
async fn mtu_check(
    ctx: &Context,
    spec: DialSpec<'_>,
    connected: Option<SocketAddr>,
    stage: &mut StageResult,
) {
    let Detail::Tls(detail) = &mut stage.detail else {
        return;
    };
    let (true, None, Some(addr)) = (detail.stalled, spec.proxy, connected) else {
        return;
    };
    if Instant::now() >= ctx.deadline {
        return;
    }
    let (retry, _) = small_mss(ctx, spec, addr).await;
    if retry.completed {
        stage.code = Code::MtuBlackhole;
        stage.summary = format!(
            "TCP connects but the TLS handshake stalls ({}); with a segment size of {} bytes it completes: large packets from {} are lost on the way (a path MTU black hole)",
            stage.summary, retry.mss, spec.host
        );
    } else {
        stage.summary = format!(
            "{}; retried with a segment size of {} bytes: {} (so not a path-MTU problem)",
            stage.summary, retry.mss, retry.summary
        );
    }
    detail.error = Some(stage.summary.clone());
    detail.mss_retry = Some(retry);
}

/// Connect to `addr` advertising [`SMALL_MSS`] and, for https, handshake;
/// each step under its own stage timeout. The stream comes back when every
/// step completed, for an exchange to be repeated over it.
pub async fn small_mss(
    ctx: &Context,
    spec: DialSpec<'_>,
    addr: SocketAddr,
) -> (MssRetry, Option<BoxIo>) {
    let started = Instant::now();
    let mss = SMALL_MSS;
    let done = |completed: bool, summary: String| MssRetry {
        address: Some(addr),
        mss,
        completed,
        duration_ms: started.elapsed().as_millis() as u64,
        summary,
    };
    let stream = match tcp::connect_with_mss(addr, mss, ctx.stage_timeout()).await {
        Ok(s) => s,
        Err((code, e)) => return (done(false, format!("connect failed ({code}): {e}")), None),
    };
    if spec.scheme != Scheme::Https {
        return (
            done(true, format!("connected to {addr}")),
            Some(Box::new(stream)),
        );
    }
    let (stage, io) = tls::handshake(
        Box::new(stream),
        spec.host,
        spec.tls,
        &ctx.trust,
        ctx.stage_timeout(),
    )
    .await;
    match io {
        Some(io) => (
            done(
                true,
                format!(
                    "the TLS handshake with {addr} completed in {} ms",
                    stage.duration.as_millis()
                ),
            ),
            Some(io),
        ),
        // The certificate arrived, so did the large segments: the stall was
        // the path; the certificate's own fault is the next thing to fix.
        None if matches!(
            stage.code,
            Code::TlsUntrusted | Code::TlsNameMismatch | Code::TlsExpired
        ) =>
        {
            (
                done(
                    true,
                    format!(
                        "the certificate arrived ({}: {})",
                        stage.code, stage.summary
                    ),
                ),
                None,
            )
        }
        None => (done(false, stage.summary), None),
    }
}
