//! The blob stage: fetch the platform manifest's config blob and follow the
//! registry's redirects to its data endpoint (ACR `*.data.azurecr.io`, Azure
//! `*.blob.core.windows.net`, S3, a CDN like
//! `production.cloudflare.docker.com`), which is often a different host that
//! a firewall forgets.
//!
//! It is a `GET`, not a `HEAD`: registries redirect blob GETs (distribution
//! serves HEAD itself), and a presigned S3/SAS URL is signed for GET, so a
//! HEAD would test neither the redirect nor the data endpoint. The config is
//! small and containerd reads it in full anyway; we cap it at 1 MiB. Docker
//! Hub does not count blob GETs as pulls.
//!
//! Redirects follow Go's `http.Client` as containerd configures it
//! (resolver.go `CheckRedirect`: at most 10): `Authorization` only goes to
//! the registry host itself (containerd's authorizer is keyed by host, and Go
//! strips it on a cross-domain redirect). Each new host is dialled with
//! `super::dial`, its stages reported in the detail.
//!
//! What it must not do: report a redirect URL's query (it carries signatures),
//! send the token or endpoint headers to another host.

use super::client::{Body, Failure, HostClient, Req, authority, registry_target};
use super::context::Context;
use super::dial::{self, DialSpec, url_target};
use super::dns;
use super::manifest::accept_for;
use super::registry_error::{classify, parse_errors, snippet};
use super::result::{
    BlobDetail, Detail, Hop, MssRetry, RedirectHost, Stage, StageResult, first_failure, tcp_address,
};
use super::session::Session;
use super::tcp;
use crate::code::Code;
use crate::oci::{Descriptor, digest_matches, short_digest};
use crate::reference::Reference;
use crate::target::Endpoint;
use bytes::Bytes;
use http::Method;
use http::header::ACCEPT;
use std::net::SocketAddr;
use tokio::time::Instant;

/// The most config bytes we read.
pub const CONFIG_LIMIT: usize = 1 << 20;
/// Go's `http.Client` default, which containerd's `CheckRedirect` repeats.
pub const MAX_REDIRECTS: usize = 10;

/// Redirect bookkeeping: resolve `Location`s, count hops, remember hosts.
#[derive(Clone, Debug, Default)]
pub struct Redirects {
    pub hops: Vec<Hop>,
}

/// A URL without query or fragment, for reports.
#[must_use]
pub fn shown(u: &url::Url) -> String {
    super::client::strip_query(u.as_str())
}

fn host_key(u: &url::Url) -> (String, String, Option<u16>) {
    (
        u.scheme().to_owned(),
        u.host_str().unwrap_or_default().to_ascii_lowercase(),
        u.port_or_known_default(),
    )
}

impl Redirects {
    /// Record a redirect from `current` with `status` and `location`; the next URL,
    /// or why not (too many hops, a missing or unusable `Location`).
    pub fn follow(
        &mut self,
        status: u16,
        current: &url::Url,
        location: Option<&str>,
    ) -> Result<url::Url, String> {
        if self.hops.len() >= MAX_REDIRECTS {
            return Err(format!(
                "stopped after {MAX_REDIRECTS} redirects (last to {})",
                shown(current)
            ));
        }
        let Some(loc) = location.filter(|l| !l.is_empty()) else {
            return Err(format!("{status} redirect without a Location header"));
        };
        let next = current
            .join(loc)
            .map_err(|e| format!("{status} redirect to an invalid Location: {e}"))?;
        if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none() {
            return Err(format!(
                "{status} redirect to unsupported URL {}",
                shown(&next)
            ));
        }
        self.hops.push(Hop {
            status,
            to: shown(&next),
            cross_host: host_key(&next) != host_key(current),
        });
        Ok(next)
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The blob stage for `config`: returns the config bytes when read in full.
pub async fn run(
    ctx: &Context,
    ep: &Endpoint,
    image: &Reference,
    client: &mut HostClient<'_>,
    session: &Session,
    config: &Descriptor,
) -> (StageResult, Option<Bytes>) {
    let started = Instant::now();
    let target = registry_target(ep, &format!("{}/blobs/{}", image.path, config.digest));
    let first = format!("{}://{}{}", ep.scheme.as_str(), ep.authority(), target);
    let mut url = match url::Url::parse(&first) {
        Ok(u) => u,
        Err(e) => {
            return (
                StageResult::fail(
                    Stage::Blob,
                    Code::RegistryError,
                    started.elapsed(),
                    format!("invalid blob URL: {e}"),
                    Detail::None,
                ),
                None,
            );
        }
    };
    let mut redirects = Redirects::default();
    let mut other: Option<HostClient<'_>> = None;
    let mut detail = BlobDetail {
        digest: config.digest.clone(),
        url: shown(&url),
        ..BlobDetail::default()
    };
    // Every way out: the hops into the detail, the other host's requests
    // counted, the detail into the stage.
    macro_rules! finish {
        ($stage:expr, $bytes:expr) => {{
            let mut stage: StageResult = $stage;
            detail.redirects = redirects.hops;
            if let Some(c) = other.as_mut() {
                client.absorb(c);
            }
            stage.detail = Detail::Blob(detail);
            return (stage, $bytes);
        }};
    }
    macro_rules! fail {
        ($code:expr, $summary:expr) => {
            finish!(
                StageResult::fail(
                    Stage::Blob,
                    $code,
                    started.elapsed(),
                    $summary,
                    Detail::None
                ),
                None
            )
        };
    }
    loop {
        let (scheme, host, port) = url_target(&url);
        let on_registry = client.is_for(scheme, &host, port);
        let path_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut req = Req::new(Method::GET, path_query, CONFIG_LIMIT)
            .header(ACCEPT, &accept_for(&config.media_type));
        if on_registry {
            req = req
                .endpoint_headers(ep)
                .authorization(session.authorization.as_ref());
        } else if !other
            .as_ref()
            .is_some_and(|c| c.is_for(scheme, &host, port))
        {
            let (stages, c) = HostClient::connect_other(ctx, ep, scheme, &host, port).await;
            let why = first_failure(&stages);
            // A handshake that only completed with a small MSS (dial's retry).
            let code = match stages.iter().find(|s| s.is_fail()) {
                Some(s) if s.code == Code::MtuBlackhole => Code::MtuBlackhole,
                _ => Code::BlobUnreachable,
            };
            detail.redirect_stages.push(RedirectHost {
                host: authority(scheme, &host, port),
                stages,
            });
            if let Some(old) = other.as_mut() {
                client.absorb(old);
            }
            if c.is_none() {
                fail!(
                    code,
                    format!("blob data endpoint {host}:{port} unreachable: {why}")
                );
            }
            other = c;
        }
        let sent = match (on_registry, other.as_mut()) {
            (true, _) => client.send(&req).await,
            (false, Some(c)) => c.send(&req).await,
            (false, None) => unreachable!("dialled above"),
        };
        let sent = match sent {
            // A transfer that stalled: once more over a small-MSS connection.
            Err(Failure::Timeout(t)) => {
                let proxy = ctx.proxy_for_host(ep, scheme, &host, port);
                let spec = DialSpec {
                    scheme,
                    host: &host,
                    port,
                    proxy: proxy.as_ref(),
                    dial_timeout: None,
                    ..DialSpec::for_endpoint(ep)
                };
                // The address the last redirect host's tcp stage connected to.
                let addr = if on_registry {
                    None
                } else {
                    detail
                        .redirect_stages
                        .last()
                        .and_then(|h| tcp_address(&h.stages))
                };
                let retry = match proxy {
                    None if Instant::now() < ctx.deadline => {
                        Some(mss_retry(ctx, spec, addr, &req, &mut client.requests).await)
                    }
                    _ => None,
                };
                detail.mss_retry = retry;
                match &detail.mss_retry {
                    Some(r) if r.completed => fail!(
                        Code::MtuBlackhole,
                        format!(
                            "GET blob {} from {host} stalls after the answer's head (no complete answer within {}); with a segment size of {} bytes it completes: large packets from {host} are lost on the way (a path MTU black hole)",
                            config.digest,
                            humantime::format_duration(t),
                            r.mss
                        )
                    ),
                    Some(r) => Err(Failure::Connection(format!(
                        "{}; retried with a small segment size: {} (so not a path-MTU problem)",
                        Failure::Timeout(t),
                        r.summary
                    ))),
                    None => Err(Failure::Timeout(t)),
                }
            }
            other => other,
        };
        let reply = match sent {
            Ok(r) => r,
            Err(e) if on_registry => fail!(
                Code::RegistryError,
                format!("GET blob {}: {e}", config.digest)
            ),
            Err(e) => fail!(
                Code::BlobUnreachable,
                format!("blob data endpoint {host}: {e}")
            ),
        };
        let status = reply.status.as_u16();
        if is_redirect(status) {
            match redirects.follow(status, &url, reply.header("location")) {
                Ok(next) => {
                    url = next;
                    continue;
                }
                Err(why) => fail!(Code::RegistryError, why),
            }
        }
        detail.final_host = Some(authority(scheme, &host, port));
        detail.status = Some(status);
        if !reply.status.is_success() {
            if !on_registry {
                let server = reply
                    .header("server")
                    .map(|s| format!(" (server: {s})"))
                    .unwrap_or_default();
                let msg = reply
                    .bytes()
                    .map(|b| snippet(b, 160))
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                fail!(
                    Code::BlobUnreachable,
                    format!(
                        "blob data endpoint {host} answered {}{server}{msg}",
                        reply.status_line()
                    )
                );
            }
            let errors = reply
                .bytes()
                .and_then(|b| parse_errors(b))
                .unwrap_or_default();
            if status == 404 {
                fail!(
                    Code::RegistryError,
                    format!(
                        "manifest references missing blob {} (404 from the registry)",
                        config.digest
                    )
                );
            }
            let (code, summary) = classify(
                status,
                &errors,
                &reply.challenges(),
                session.credentials_used,
                &image.path,
                &config.digest,
            );
            fail!(
                code,
                format!("GET blob: {}: {summary}", reply.status_line())
            );
        }
        let (bytes, note) = match &reply.body {
            Body::Complete(b) => {
                if !digest_matches(&config.digest, b) {
                    fail!(
                        Code::RegistryError,
                        format!(
                            "config blob content does not match its digest {}",
                            config.digest
                        )
                    );
                }
                (Some(b.clone()), format!("{} bytes", b.len()))
            }
            Body::TooLarge { limit } => {
                (None, format!("larger than {limit} bytes, not read in full"))
            }
            Body::Broken(e) if on_registry => {
                fail!(Code::RegistryError, format!("config blob cut off: {e}"))
            }
            Body::Broken(e) => fail!(
                Code::BlobUnreachable,
                format!("blob data endpoint {host} cut the transfer: {e}")
            ),
        };
        let via = if redirects.hops.is_empty() {
            String::new()
        } else {
            format!(" via {} redirect(s)", redirects.hops.len())
        };
        let summary = format!(
            "config {} from {}{via} ({note})",
            short_digest(&config.digest),
            authority(scheme, &host, port)
        );
        finish!(
            StageResult::ok(Stage::Blob, started.elapsed(), summary, Detail::None),
            bytes
        );
    }
}

/// The stalled request once more, on `addr` (or the host's first address)
/// over a connection that advertises a small MSS; its requests are counted.
async fn mss_retry(
    ctx: &Context,
    spec: DialSpec<'_>,
    addr: Option<SocketAddr>,
    req: &Req,
    requests: &mut u32,
) -> MssRetry {
    let started = Instant::now();
    let addr = if let Some(a) = addr {
        Some(a)
    } else {
        let (_, addrs) = dns::resolve(&ctx.resolver, spec.host, ctx.stage_timeout()).await;
        tcp::happy_eyeballs_order(&addrs)
            .first()
            .map(|ip| SocketAddr::new(*ip, spec.port))
    };
    let Some(addr) = addr else {
        return MssRetry {
            address: None,
            mss: super::result::SMALL_MSS,
            completed: false,
            duration_ms: started.elapsed().as_millis() as u64,
            summary: format!("{} has no address", spec.host),
        };
    };
    let (mut retry, io) = dial::small_mss(ctx, spec, addr).await;
    if let Some(io) = io {
        let mut c = HostClient::over(ctx, spec, io);
        let sent = c.send(req).await;
        *requests += c.requests;
        (retry.completed, retry.summary) = match sent {
            Ok(r) => match &r.body {
                Body::Complete(b) => (true, format!("{}, {} bytes", r.status_line(), b.len())),
                Body::TooLarge { limit } => (
                    true,
                    format!("{}, more than {limit} bytes", r.status_line()),
                ),
                Body::Broken(e) => (false, format!("{}, then cut off: {e}", r.status_line())),
            },
            Err(e) => (false, e.to_string()),
        };
    } else {
        // The handshake alone proves nothing about a transfer.
        retry.completed = false;
    }
    retry.duration_ms = started.elapsed().as_millis() as u64;
    retry
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::super::testutil::{Seen, context, endpoint, reply, serve};
    use super::*;
    use crate::oci::{MEDIA_OCI_MANIFEST, sha256_digest};
    use serde_json::json;

    fn blob_detail(s: &StageResult) -> &BlobDetail {
        match &s.detail {
            Detail::Blob(d) => d,
            other => panic!("{other:?}"),
        }
    }
    use crate::target::Target;
    use std::time::Duration;

    #[test]
    fn redirect_bookkeeping() {
        let mut r = Redirects::default();
        let start = url::Url::parse("https://myreg.azurecr.io/v2/app/blobs/sha256:1").unwrap();
        let next = r
            .follow(
                307,
                &start,
                Some("https://myreg.westeurope.data.azurecr.io/blob?sig=SECRET&se=1"),
            )
            .unwrap();
        assert_eq!(
            next.query(),
            Some("sig=SECRET&se=1"),
            "the request keeps the query"
        );
        assert_eq!(
            r.hops[0],
            Hop {
                status: 307,
                to: "https://myreg.westeurope.data.azurecr.io/blob".to_owned(),
                cross_host: true
            }
        );
        assert!(!format!("{:?}", r.hops).contains("SECRET"));
        let same = r.follow(302, &next, Some("/other")).unwrap();
        assert_eq!(
            same.as_str(),
            "https://myreg.westeurope.data.azurecr.io/other"
        );
        assert!(!r.hops[1].cross_host);
        assert!(
            r.follow(302, &same, None)
                .unwrap_err()
                .contains("without a Location")
        );
        assert!(r.follow(302, &same, Some("ftp://x/y")).is_err());
        let mut r = Redirects::default();
        let mut u = start.clone();
        for _ in 0..MAX_REDIRECTS {
            u = r.follow(302, &u, Some("/again")).unwrap();
        }
        assert!(
            r.follow(302, &u, Some("/again"))
                .unwrap_err()
                .contains("stopped after 10 redirects")
        );
    }

    struct World {
        registry: super::super::testutil::Server,
        out: Vec<StageResult>,
    }

    const CONFIG: &[u8] =
        br#"{"os":"linux","architecture":"arm64","rootfs":{"type":"layers","diff_ids":[]}}"#;

    /// A registry with one single-platform (linux/arm64) image whose config
    /// blob answer is `blob`. With `basic`, every request needs Basic auth and
    /// the endpoint has credentials and an extra header.
    async fn world(
        basic: bool,
        blob: impl Fn(&Seen) -> super::super::testutil::Answer + Send + Sync + 'static,
    ) -> World {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(CONFIG), "size": CONFIG.len()},
            "layers": []
        })
        .to_string();
        let registry = serve(move |s| {
            if basic && s.header("authorization").is_none() {
                reply(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], "")
            } else if s.path() == "/v2/" {
                reply(
                    200,
                    &[("Docker-Distribution-API-Version", "registry/2.0")],
                    "{}",
                )
            } else if s.path().contains("/manifests/") {
                reply(
                    200,
                    &[("Content-Type", MEDIA_OCI_MANIFEST)],
                    manifest.clone(),
                )
            } else {
                blob(s)
            }
        })
        .await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = endpoint(registry.port);
        if basic {
            ep.credential = Some(crate::target::Credential::new(
                crate::target::CredentialSecret::Basic {
                    username: "u".to_owned(),
                    password: crate::secret::Secret::new("p"),
                },
                "test",
            ));
            ep.headers = vec![("X-Mirror-Key".to_owned(), crate::secret::Secret::new("k"))];
        }
        let image = Reference {
            domain: registry.addr(),
            path: "team/app".to_owned(),
            tag: Some("1".to_owned()),
            digest: None,
        };
        let target = Target {
            registry: registry.addr(),
            image: Some(image),
            endpoints: vec![ep.clone()],
            remarks: vec![],
            ..Default::default()
        };
        let out = crate::probe::probe_endpoint(&ctx, &target, &ep)
            .await
            .stages;
        World { registry, out }
    }

    fn stage(out: &[StageResult], s: Stage) -> &StageResult {
        out.iter()
            .find(|r| r.stage == s)
            .unwrap_or_else(|| panic!("no {s:?} in {out:?}"))
    }

    #[tokio::test]
    async fn redirect_to_closed_port_is_blob_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = l.local_addr().unwrap().port();
        drop(l);
        let w = world(false, move |_| {
            let loc = format!("http://127.0.0.3:{closed}/data/blob?sig=SIGNATURE");
            reply(307, &[("Location", loc.as_str())], "")
        })
        .await;
        let b = stage(&w.out, Stage::Blob);
        assert_eq!(b.code, Code::BlobUnreachable, "{}", b.summary);
        assert!(b.summary.contains("127.0.0.3"), "{}", b.summary);
        assert_eq!(
            blob_detail(b).redirect_stages[0].stages[1].code,
            Code::TcpRefused
        );
        assert!(!format!("{b:?}").contains("SIGNATURE"));
        assert!(stage(&w.out, Stage::Platform).status.is_skipped());
    }

    #[tokio::test]
    async fn endless_redirects_are_registry_error() {
        let w = world(false, |s| {
            let n: u32 = s
                .path()
                .rsplit('/')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let loc = format!("/v2/team/app/blobs/hop/{}", n + 1);
            reply(302, &[("Location", loc.as_str())], "")
        })
        .await;
        let b = stage(&w.out, Stage::Blob);
        assert_eq!(b.code, Code::RegistryError, "{}", b.summary);
        assert!(
            b.summary.contains("stopped after 10 redirects"),
            "{}",
            b.summary
        );
        assert_eq!(blob_detail(b).redirects.len(), 10);
    }

    #[tokio::test]
    async fn redirect_to_other_host_without_authorization_then_platform_check() {
        // The data endpoint lives on another loopback address: another host to the client.
        let data = super::super::testutil::serve_at("127.0.0.4", |_| reply(200, &[], CONFIG)).await;
        let data_port = data.port;
        let w = world(true, move |_| {
            let loc = format!("http://127.0.0.4:{data_port}/data?sig=S");
            reply(307, &[("Location", loc.as_str())], "")
        })
        .await;
        let b = stage(&w.out, Stage::Blob);
        assert_eq!(b.status, Status::Ok, "{}", b.summary);
        assert_eq!(
            blob_detail(b).final_host,
            Some(format!("127.0.0.4:{data_port}"))
        );
        assert!(b.summary.contains("via 1 redirect"), "{}", b.summary);
        let seen = data.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].target, "/data?sig=S", "the signed query is sent");
        assert!(
            seen[0].header("authorization").is_none(),
            "no Authorization to another host"
        );
        assert!(
            seen[0].header("x-mirror-key").is_none(),
            "no endpoint headers to another host"
        );
        let blob_req = w
            .registry
            .seen()
            .into_iter()
            .find(|s| s.path().contains("/blobs/"))
            .unwrap();
        assert!(
            blob_req
                .header("authorization")
                .is_some_and(|a| a.starts_with("Basic "))
        );
        assert_eq!(blob_req.header("x-mirror-key"), Some("k"));
        // The config says arm64; the node is amd64.
        let p = stage(&w.out, Stage::Platform);
        assert_eq!(p.code, Code::PlatformMissing, "{}", p.summary);
        assert_eq!(
            p.summary,
            "single-platform image built for linux/arm64; this node is linux/amd64"
        );
        let order: Vec<Stage> = w.out.iter().map(|s| s.stage).collect();
        assert_eq!(
            order,
            [
                Stage::Dns,
                Stage::Tcp,
                Stage::Ping,
                Stage::Auth,
                Stage::Manifest,
                Stage::Blob,
                Stage::Platform
            ]
        );
    }

    #[tokio::test]
    async fn blob_digest_mismatch_is_registry_error() {
        let w = world(false, |_| reply(200, &[], "not the config")).await;
        let b = stage(&w.out, Stage::Blob);
        assert_eq!(b.code, Code::RegistryError);
        assert!(b.summary.contains("does not match"), "{}", b.summary);
    }
}
