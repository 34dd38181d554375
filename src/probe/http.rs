//! The HTTP stages over a dialled connection: ping (`GET /v2/`), then auth,
//! manifest, platform and blob (each in its own module), sequenced by [`run`].
//!
//! Also the small HTTP/1.1 client they share ([`HostClient`]): hyper's
//! connection-level API over the stream `dial` returned, so every failure
//! below HTTP was already reported by dns/tcp/proxy/tls. Every request,
//! including reading its size-capped body, runs under one stage timeout, so
//! a silent or endless server costs at most `--timeout`.
//!
//! What it must not do: put a secret (Authorization, endpoint header values,
//! token bodies) into a [`StageResult`], a `Debug` or an error string; read an
//! unbounded body; retry a 429 (the report says "rate limited" at once).

use super::challenge::{self, Challenge};
use super::{BoxIo, Context, DialSpec, Stage, StageResult, auth, blob, manifest};
use crate::code::Code;
use crate::secret::Secret;
use crate::target::{Endpoint, ProxyUrl, Scheme, Target, TlsSettings};
use bytes::Bytes;
use http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue, SERVER, USER_AGENT,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::fmt;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// Our User-Agent. containerd sends `containerd/<version>`; we say who we are
/// instead so a registry operator can tell probes from pulls in their logs,
/// and say which client we imitate. Registries key quotas and policy on
/// address and account, not on this header, so answers do not change. An
/// endpoint `header` entry naming `User-Agent` wins, as in containerd's
/// `dockerBase.request`.
pub const USER_AGENT_VALUE: &str = concat!(
    "regprobe/",
    env!("CARGO_PKG_VERSION"),
    " (containerd-compatible)"
);

/// Error bodies: containerd reads at most 64000 bytes of them
/// (`core/remotes/errors/errors.go`, `NewUnexpectedStatusErr`).
pub const ERROR_BODY_LIMIT: usize = 64_000;
/// Token responses are small JSON objects; 1 MiB is generous.
pub const TOKEN_BODY_LIMIT: usize = 1 << 20;
/// containerd's `MaxManifestSize` (`core/remotes/docker/resolver.go`), which
/// is `4 * 1048 * 1048`, not 4 MiB: we copy the constant, typo and all.
pub const MANIFEST_LIMIT: usize = 4 * 1048 * 1048;

/// A response body as far as we read it.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// Read in full (empty for HEAD).
    Complete(Bytes),
    /// Larger than the cap (declared or seen): not read further.
    TooLarge { limit: usize },
    /// The connection failed while reading it.
    Broken(String),
}

/// A response: status, headers and the capped body.
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
    pub elapsed: Duration,
}

// Bodies may be token responses: `Debug` shows sizes, never content.
impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Complete(b) => write!(f, "Complete({} bytes)", b.len()),
            Body::TooLarge { limit } => write!(f, "TooLarge({limit})"),
            Body::Broken(e) => write!(f, "Broken({e})"),
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// A response header as text (first value), if present and printable.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes when read in full.
    #[must_use]
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Complete(b) => Some(b),
            _ => None,
        }
    }

    /// `Content-Type` without parameters, lower-cased.
    #[must_use]
    pub fn content_type(&self) -> Option<String> {
        self.header(CONTENT_TYPE.as_str()).map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The `WWW-Authenticate` challenges.
    #[must_use]
    pub fn challenges(&self) -> Vec<Challenge> {
        challenge::from_headers(&self.headers)
    }

    /// `"404 Not Found"`.
    #[must_use]
    pub fn status_line(&self) -> String {
        let s = self.status;
        format!(
            "{} {}",
            s.as_u16(),
            s.canonical_reason().unwrap_or_default()
        )
        .trim_end()
        .to_owned()
    }

    /// The registry rate-limit headers (Docker Hub, and `Retry-After` anywhere).
    #[must_use]
    pub fn rate_limit_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for h in [
            "ratelimit-limit",
            "ratelimit-remaining",
            "docker-ratelimit-source",
            "retry-after",
        ] {
            if let Some(v) = self.header(h) {
                m.insert(h.to_owned(), Value::String(v.to_owned()));
            }
        }
        Value::Object(m)
    }
}

/// Why a request got no response.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// No complete answer within the stage timeout.
    Timeout(Duration),
    /// The connection failed (reset, closed, protocol error).
    Connection(String),
    /// The connection closed and re-dialling it failed at these stages.
    Redial(Vec<StageResult>),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(d) => write!(f, "no answer within {}", humantime::format_duration(*d)),
            Failure::Connection(e) => write!(f, "connection failed: {e}"),
            Failure::Redial(stages) => match stages.iter().find(|s| s.is_fail()) {
                Some(s) => write!(f, "reconnect failed at {}: {}", s.stage.as_str(), s.summary),
                None => f.write_str("reconnect failed"),
            },
        }
    }
}

/// A request of ours, rebuilt for each attempt (a retry on a fresh connection
/// needs it twice). Header values may be secret: hyper's `sensitive` flag is
/// set on them and this type has no `Debug` that shows them.
pub struct Req {
    pub method: Method,
    /// Origin-form target: path and query.
    pub target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// The body cap for the response.
    pub limit: usize,
}

impl fmt::Debug for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the request line: headers and body may hold credentials.
        write!(f, "Req({} {})", self.method, self.target)
    }
}

impl Req {
    #[must_use]
    pub fn new(method: Method, target: impl Into<String>, limit: usize) -> Self {
        Self {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            limit,
        }
    }

    /// Add a non-secret header; invalid values are dropped (they come from
    /// our own code or from parsed, already-valid responses).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// Add a secret header; it is marked sensitive (never logged by hyper).
    #[must_use]
    pub fn secret_header(mut self, name: HeaderName, value: &Secret) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(value.expose()) {
            v.set_sensitive(true);
            self.headers.push((name, v));
        }
        self
    }

    /// The endpoint's configured extra headers (containerd `header`).
    #[must_use]
    pub fn endpoint_headers(mut self, ep: &Endpoint) -> Self {
        for (k, v) in &ep.headers {
            if let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v.expose()),
            ) {
                value.set_sensitive(true);
                self.headers.push((name, value));
            }
        }
        self
    }

    /// The `Authorization` value of an auth session, if any.
    #[must_use]
    pub fn authorization(self, value: Option<&Secret>) -> Self {
        match value {
            Some(v) => self.secret_header(http::header::AUTHORIZATION, v),
            None => self,
        }
    }

    #[must_use]
    pub fn body(mut self, content_type: &str, body: Bytes) -> Self {
        self = self.header(CONTENT_TYPE, content_type);
        self.body = body;
        self
    }

    /// `via_proxy`: the proxy a plain-HTTP request is forwarded by, which
    /// wants the absolute form and its own credentials (Go's transport).
    fn build(
        &self,
        authority: &str,
        via_proxy: Option<&ProxyUrl>,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let uri = match via_proxy {
            Some(_) => format!("http://{authority}{}", self.target),
            None => self.target.clone(),
        };
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .header(HOST, authority);
        if let Some(auth) = via_proxy.and_then(ProxyUrl::basic_authorization) {
            let mut v = http::HeaderValue::from_str(auth.expose())?;
            v.set_sensitive(true);
            b = b.header(http::header::PROXY_AUTHORIZATION, v);
        }
        if !self.headers.iter().any(|(k, _)| k == USER_AGENT) {
            b = b.header(USER_AGENT, USER_AGENT_VALUE);
        }
        for (k, v) in &self.headers {
            b = b.header(k, v.clone());
        }
        if !self.body.is_empty() {
            b = b.header(CONTENT_LENGTH, self.body.len());
        }
        b.body(Full::new(self.body.clone()))
    }
}

/// An HTTP/1.1 client for one host, kept alive across requests and re-dialled
/// (without new stages in the report) when the server closes it.
pub struct HostClient<'c> {
    ctx: &'c Context,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    tls: TlsSettings,
    proxy: Option<ProxyUrl>,
    /// A stream not yet handshaken (the one `dial` gave us).
    pending: Option<BoxIo>,
    sender: Option<SendRequest<Full<Bytes>>>,
    task: Option<JoinHandle<()>>,
    /// How many times the connection was re-dialled.
    pub reconnects: u32,
}

impl Drop for HostClient<'_> {
    fn drop(&mut self) {
        // The connection task would otherwise wait on a silent server forever.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl<'c> HostClient<'c> {
    /// A client over an already dialled stream.
    #[must_use]
    pub fn over(ctx: &'c Context, spec: DialSpec<'_>, io: BoxIo) -> Self {
        Self {
            ctx,
            scheme: spec.scheme,
            host: spec.host.to_owned(),
            port: spec.port,
            tls: spec.tls.clone(),
            proxy: spec.proxy.cloned(),
            pending: Some(io),
            sender: None,
            task: None,
            reconnects: 0,
        }
    }

    /// Dial a host (dns/tcp/proxy/tls) and return a client, or the stages that failed.
    /// The stages are returned in both cases for the caller's detail.
    pub async fn connect(ctx: &'c Context, spec: DialSpec<'_>) -> (Vec<StageResult>, Option<Self>) {
        let dialed = super::dial(ctx, spec).await;
        let client = dialed.io.map(|io| Self::over(ctx, spec, io));
        (dialed.stages, client)
    }

    /// A client for another host reached on behalf of `ep` (a token realm, a
    /// blob redirect): containerd's per-host `http.Client` serves those too,
    /// so the endpoint's TLS settings apply; the proxy is decided for that host.
    pub async fn connect_other(
        ctx: &'c Context,
        ep: &Endpoint,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> (Vec<StageResult>, Option<Self>) {
        let proxy = ctx.proxy_for_host(ep, scheme, host, port);
        let spec = DialSpec {
            scheme,
            host,
            port,
            proxy: proxy.as_ref(),
            ..DialSpec::for_endpoint(ep)
        };
        Self::connect(ctx, spec).await
    }

    /// Whether this client talks to `scheme://host:port`.
    #[must_use]
    pub fn is_for(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.host.eq_ignore_ascii_case(host) && self.port == port
    }

    /// `host[:port]` for the `Host` header.
    #[must_use]
    pub fn authority(&self) -> String {
        authority(self.scheme, &self.host, self.port)
    }

    fn close(&mut self) {
        self.sender = None;
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Make sure there is a ready connection; `Ok(true)` when it is a new one.
    async fn ready(&mut self) -> Result<bool, Failure> {
        if let Some(s) = self.sender.as_mut() {
            if s.ready().await.is_ok() {
                return Ok(false);
            }
            self.close();
        }
        let io = if let Some(io) = self.pending.take() {
            io
        } else {
            let spec = DialSpec {
                scheme: self.scheme,
                host: &self.host,
                port: self.port,
                tls: &self.tls,
                proxy: self.proxy.as_ref(),
            };
            let dialed = super::dial(self.ctx, spec).await;
            let Some(io) = dialed.io else {
                return Err(Failure::Redial(dialed.stages));
            };
            self.reconnects += 1;
            io
        };
        let (sender, conn) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::Connection(e.to_string()))?;
        self.task = Some(tokio::spawn(async move {
            let _ = conn.await;
        }));
        self.sender = Some(sender);
        Ok(true)
    }

    /// Send `req` and read the capped body, all within the stage timeout.
    pub async fn send(&mut self, req: &Req) -> Result<Reply, Failure> {
        let limit = self.ctx.stage_timeout();
        let started = Instant::now();
        match timeout(limit, self.send_inner(req)).await {
            Ok(Ok(mut reply)) => {
                reply.elapsed = started.elapsed();
                Ok(reply)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                // The connection is in an unknown state: never reuse it.
                self.close();
                Err(Failure::Timeout(limit))
            }
        }
    }

    async fn send_inner(&mut self, req: &Req) -> Result<Reply, Failure> {
        for attempt in 0..2 {
            let fresh = self.ready().await?;
            let via_proxy = self.proxy.as_ref().filter(|_| self.scheme == Scheme::Http);
            let hreq = req
                .build(&self.authority(), via_proxy)
                .map_err(|e| Failure::Connection(format!("invalid request: {e}")))?;
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            match sender.send_request(hreq).await {
                Ok(resp) => return Ok(self.read(resp, req).await),
                Err(e) => {
                    self.close();
                    // A kept-alive connection the server closed meanwhile: one
                    // retry on a new connection, as Go's transport does.
                    if fresh || attempt == 1 {
                        return Err(Failure::Connection(e.to_string()));
                    }
                }
            }
        }
        Err(Failure::Connection("connection closed".to_owned()))
    }

    async fn read(&mut self, resp: hyper::Response<hyper::body::Incoming>, req: &Req) -> Reply {
        let (parts, incoming) = resp.into_parts();
        let reply = |body| Reply {
            status: parts.status,
            headers: parts.headers.clone(),
            body,
            elapsed: Duration::ZERO,
        };
        if req.method == Method::HEAD {
            return reply(Body::Complete(Bytes::new()));
        }
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > req.limit as u64) {
            // Do not read it at all; the unread body makes the connection unusable.
            self.close();
            return reply(Body::TooLarge { limit: req.limit });
        }
        match Limited::new(incoming, req.limit).collect().await {
            Ok(c) => reply(Body::Complete(c.to_bytes())),
            Err(e) => {
                self.close();
                if e.is::<LengthLimitError>() {
                    reply(Body::TooLarge { limit: req.limit })
                } else {
                    reply(Body::Broken(e.to_string()))
                }
            }
        }
    }
}

/// `host[:port]` as in a URL authority (IPv6 bracketed, default port omitted).
#[must_use]
pub fn authority(scheme: Scheme, host: &str, port: u16) -> String {
    let h = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if port == scheme.default_port() {
        h
    } else {
        format!("{h}:{port}")
    }
}

/// `<ep.path>/<rest>` plus containerd's `?ns=<registry>` for mirrors
/// (`request.addNamespace` in resolver.go, applied to manifest and blob
/// requests, not to our `/v2/` ping).
#[must_use]
pub fn registry_target(ep: &Endpoint, rest: &str) -> String {
    let mut t = format!(
        "{}/{}",
        ep.path.trim_end_matches('/'),
        rest.trim_start_matches('/')
    );
    if let Some(ns) = &ep.ns_param {
        t.push_str("?ns=");
        t.extend(url::form_urlencoded::byte_serialize(ns.as_bytes()));
    }
    t
}

/// A short, printable excerpt of a (non-secret) body for summaries.
#[must_use]
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > max {
        format!("{}...", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

/// What the ping stage learnt.
pub struct Ping {
    pub result: StageResult,
    pub challenges: Vec<Challenge>,
}

fn looks_like_html(reply: &Reply) -> bool {
    reply.content_type().is_some_and(|c| c.contains("html"))
        || reply.bytes().is_some_and(|b| {
            let t = String::from_utf8_lossy(&b[..b.len().min(512)])
                .trim_start()
                .to_ascii_lowercase();
            t.starts_with("<!doctype") || t.starts_with("<html")
        })
}

/// The ping stage: `GET <path>/`. A registry answers 200, or 401 with a
/// challenge; distribution always sends `Docker-Distribution-API-Version`,
/// but some registries (and mirrors) omit it on a 200, so its absence alone
/// does not condemn; an HTML page, a 404 or a redirect does.
pub async fn ping(client: &mut HostClient<'_>, ep: &Endpoint) -> Ping {
    let started = Instant::now();
    let target = format!("{}/", ep.path.trim_end_matches('/'));
    let req = Req::new(Method::GET, target.clone(), ERROR_BODY_LIMIT).endpoint_headers(ep);
    let reply = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            let code = match &e {
                Failure::Redial(stages) => stages
                    .iter()
                    .find(|s| s.is_fail())
                    .map_or(Code::RegistryError, |s| s.code),
                _ => Code::RegistryError,
            };
            let result = StageResult::fail(
                Stage::Ping,
                code,
                started.elapsed(),
                format!("GET {target}: {e}"),
                json!({"url": ep.url(), "error": e.to_string()}),
            );
            return Ping {
                result,
                challenges: Vec::new(),
            };
        }
    };
    if reply.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        && client.scheme == Scheme::Http
        && client.proxy.is_some()
    {
        // A forwarded plain-HTTP request: the proxy itself refused it.
        let result = StageResult::fail(
            Stage::Ping,
            Code::ProxyRejected,
            reply.elapsed,
            format!(
                "the proxy refused to forward GET {target}: {}",
                reply.status_line()
            ),
            json!({"status": 407, "forwarded_by_proxy": true}),
        );
        return Ping {
            result,
            challenges: Vec::new(),
        };
    }
    let challenges = if reply.status == StatusCode::UNAUTHORIZED {
        reply.challenges()
    } else {
        Vec::new()
    };
    let api_version = reply
        .header("docker-distribution-api-version")
        .map(str::to_owned);
    let server = reply.header(SERVER.as_str()).map(str::to_owned);
    let server_note = server
        .as_deref()
        .map(|s| format!(" (server: {s})"))
        .unwrap_or_default();
    let mut detail = json!({
        "url": ep.url(),
        "status": reply.status.as_u16(),
        "docker_distribution_api_version": api_version,
        "server": server,
        "challenges": challenges.iter().map(Challenge::to_json).collect::<Vec<_>>(),
    });
    let rl = reply.rate_limit_json();
    if rl.as_object().is_some_and(|m| !m.is_empty()) {
        detail["rate_limit"] = rl;
    }
    if client.reconnects > 0 {
        detail["reconnects"] = json!(client.reconnects);
    }
    let status = reply.status.as_u16();
    let elapsed = started.elapsed();
    let line = reply.status_line();
    let result = match status {
        200..=299 => {
            let body_ok = match &reply.body {
                Body::Complete(b) => {
                    b.iter().all(u8::is_ascii_whitespace)
                        || serde_json::from_slice::<Value>(b).is_ok()
                }
                _ => false,
            };
            if api_version.is_some() || (body_ok && !looks_like_html(&reply)) {
                let note = if api_version.is_some() {
                    ""
                } else {
                    " (no Docker-Distribution-API-Version header)"
                };
                StageResult::ok(
                    Stage::Ping,
                    elapsed,
                    format!("{line}: anonymous access to {target}{note}"),
                    detail,
                )
            } else {
                StageResult::fail(
                    Stage::Ping,
                    Code::NotARegistry,
                    elapsed,
                    format!("{line} with a web page, not a registry API answer{server_note}"),
                    detail,
                )
            }
        }
        401 => match challenge::choose(&challenges, true) {
            Some(c) => {
                let realm = c
                    .param("realm")
                    .map(|r| format!(" realm={r}"))
                    .unwrap_or_default();
                let service = c
                    .param("service")
                    .map(|s| format!(" service={s}"))
                    .unwrap_or_default();
                let summary = format!(
                    "{line}: authentication required ({}{realm}{service})",
                    c.scheme.as_str()
                );
                StageResult::ok(Stage::Ping, elapsed, summary, detail)
            }
            None => StageResult::fail(
                Stage::Ping,
                Code::RegistryError,
                elapsed,
                format!(
                    "{line} without a Basic or Bearer WWW-Authenticate challenge: containerd fails with \"failed to find supported auth scheme\"{server_note}"
                ),
                detail,
            ),
        },
        429 => StageResult::fail(
            Stage::Ping,
            Code::RateLimited,
            elapsed,
            format!("{line}: rate limited at {target}"),
            detail,
        ),
        403 => match reply
            .bytes()
            .and_then(|b| manifest::parse_errors(b))
            .and_then(|e| e.into_iter().next())
        {
            // ACR's firewall, for one, answers /v2/ with 403 DENIED and names the client address.
            Some(e) => StageResult::fail(
                Stage::Ping,
                Code::AccessDenied,
                elapsed,
                format!(
                    "{line}: registry refused this node: {}: {}",
                    e.code, e.message
                ),
                detail,
            ),
            None => StageResult::fail(
                Stage::Ping,
                Code::NotARegistry,
                elapsed,
                format!("{line} at {target}, not a registry answer{server_note}"),
                detail,
            ),
        },
        500..=599 => StageResult::fail(
            Stage::Ping,
            Code::RegistryError,
            elapsed,
            format!("{line} at {target}{server_note}"),
            detail,
        ),
        300..=399 => {
            let to = reply
                .header("location")
                .map(strip_query)
                .unwrap_or_default();
            StageResult::fail(
                Stage::Ping,
                Code::NotARegistry,
                elapsed,
                format!(
                    "{line}: {target} redirects to {to}; a registry answers it directly{server_note}"
                ),
                detail,
            )
        }
        _ => StageResult::fail(
            Stage::Ping,
            Code::NotARegistry,
            elapsed,
            format!("{line} at {target}: does not answer like a registry{server_note}"),
            detail,
        ),
    };
    Ping { result, challenges }
}

/// A URL without its query and fragment: redirect targets carry signatures
/// (S3 `X-Amz-Signature`, Azure SAS `sig=`) that must not reach a report.
#[must_use]
pub fn strip_query(u: &str) -> String {
    u.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// `skipped` entries for the stages a failure kept us from.
fn not_reached(stages: &[Stage], why: &str) -> Vec<StageResult> {
    stages
        .iter()
        .map(|s| StageResult::skipped(*s, format!("not reached: {why}")))
        .collect()
}

/// Run ping -> auth -> manifest -> platform -> blob for `target` on `ep` over
/// `io`, stopping at the first failure (the rest are reported `skipped`). In
/// registry-only mode (no image) it stops after auth.
pub async fn run(ctx: &Context, target: &Target, ep: &Endpoint, io: BoxIo) -> Vec<StageResult> {
    // A CRI-O `prefix`/`location` or k3s `rewrite` changes the repository asked
    // for on this endpoint: scope, manifest and blob paths all use it.
    let rewritten;
    let target = match (&ep.repository, &target.image) {
        (Some(repo), Some(image)) if *repo != image.path => {
            let mut t = target.clone();
            if let Some(i) = t.image.as_mut() {
                i.path.clone_from(repo);
            }
            rewritten = t;
            &rewritten
        }
        _ => target,
    };
    let mut client = HostClient::over(ctx, DialSpec::for_endpoint(ep), io);
    let later: &[Stage] = if target.image.is_some() {
        &[Stage::Auth, Stage::Manifest, Stage::Platform, Stage::Blob]
    } else {
        &[Stage::Auth]
    };
    let mut out = Vec::new();
    let p = ping(&mut client, ep).await;
    if p.result.is_fail() {
        let why = format!("ping failed ({})", p.result.code);
        out.push(p.result);
        out.extend(not_reached(later, &why));
        return out;
    }
    out.push(p.result);
    let (auth_result, mut session) = auth::run(ctx, target, ep, &mut client, &p.challenges).await;
    let failed = auth_result.is_fail().then_some(auth_result.code);
    out.push(auth_result);
    if let Some(code) = failed {
        out.extend(not_reached(&later[1..], &format!("auth failed ({code})")));
        return out;
    }
    let Some(image) = &target.image else {
        return out;
    };

    let (m, resolved) = manifest::run(ctx, ep, image, &mut client, &mut session).await;
    out.push(m);
    let Some(resolved) = resolved else {
        let code = out.last().map_or(Code::RegistryError, |s| s.code);
        out.extend(not_reached(
            &[Stage::Platform, Stage::Blob],
            &format!("manifest failed ({code})"),
        ));
        return out;
    };
    // An index names platforms itself: choose before touching blobs. A single
    // manifest only says its platform in the config blob, so the platform
    // stage comes after the blob stage has fetched that config.
    let config = if resolved.is_index() {
        let (p, cfg) =
            manifest::platform_from_index(ctx, ep, image, &mut client, &session, &resolved).await;
        out.push(p);
        let Some(c) = cfg else {
            let code = out.last().map_or(Code::RegistryError, |s| s.code);
            out.extend(not_reached(
                &[Stage::Blob],
                &format!("platform failed ({code})"),
            ));
            return out;
        };
        c
    } else {
        match resolved.config() {
            Ok(c) => c,
            Err(why) => {
                out.push(StageResult::fail(
                    Stage::Platform,
                    Code::RegistryError,
                    Duration::ZERO,
                    why,
                    json!({}),
                ));
                out.extend(not_reached(
                    &[Stage::Blob],
                    "manifest has no usable config descriptor",
                ));
                return out;
            }
        }
    };
    let (b, config_bytes) = blob::run(ctx, ep, image, &mut client, &session, &config).await;
    let blob_failed = b.is_fail().then_some(b.code);
    out.push(b);
    if !resolved.is_index() {
        match (blob_failed, config_bytes) {
            (Some(code), _) => out.extend(not_reached(
                &[Stage::Platform],
                &format!("config blob not fetched ({code})"),
            )),
            (None, bytes) => out.push(manifest::platform_from_config(ctx, bytes.as_ref())),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A loopback HTTP/1.1 server whose answers tests script, and a test
    //! [`Context`]: tests build the broken world, they do not mock the client.

    use super::super::{Context, dns, tls};
    use crate::hostroot::HostRoot;
    use crate::platform::Platform;
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A request as the server saw it.
    #[derive(Clone, Debug)]
    pub struct Seen {
        pub method: String,
        pub target: String,
        pub headers: HashMap<String, String>,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn path(&self) -> &str {
            self.target.split('?').next().unwrap_or_default()
        }
        pub fn header(&self, h: &str) -> Option<&str> {
            self.headers
                .get(&h.to_ascii_lowercase())
                .map(String::as_str)
        }
    }

    /// What the handler tells the server to do.
    pub enum Answer {
        Reply {
            status: u16,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        },
        /// Send this head, then stream `total` bytes slowly (never finishing quickly).
        Endless {
            status: u16,
            headers: Vec<(String, String)>,
        },
        /// Read the request and never answer.
        Silence,
    }

    pub fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Answer {
        Answer::Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        }
    }

    pub type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

    pub struct Server {
        pub port: u16,
        pub seen: Arc<Mutex<Vec<Seen>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Server {
        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
        pub fn addr(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }
    }

    pub async fn serve(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Server {
        serve_at("127.0.0.1", handler).await
    }

    /// Serve on another loopback address (another "host" to the client).
    pub async fn serve_at(
        ip: &str,
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let s2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (h, s) = (handler.clone(), s2.clone());
                conns.push(tokio::spawn(async move { connection(stream, h, s).await }));
            }
        });
        Server { port, seen, task }
    }

    async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let mut first = lines.next()?.split(' ');
                let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some(Seen {
                    method,
                    target,
                    headers,
                    body,
                });
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn connection(mut stream: TcpStream, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) {
        let mut buf = Vec::new();
        while let Some(req) = read_request(&mut stream, &mut buf).await {
            seen.lock().unwrap().push(req.clone());
            let head_only = req.method == "HEAD";
            match handler(&req) {
                Answer::Reply {
                    status,
                    headers,
                    body,
                } => {
                    let mut out = format!("HTTP/1.1 {status} X\r\n");
                    let has_len = headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
                    for (k, v) in &headers {
                        let _ = write!(out, "{k}: {v}\r\n");
                    }
                    if !has_len {
                        let _ = write!(out, "Content-Length: {}\r\n", body.len());
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    if !head_only {
                        bytes.extend_from_slice(&body);
                    }
                    if stream.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Answer::Endless { status, headers } => {
                    let mut out = format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n");
                    for (k, v) in &headers {
                        let _ = write!(out, "{k}: {v}\r\n");
                    }
                    out.push_str("\r\n");
                    if stream.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'a'; 64 * 1024];
                    loop {
                        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
                        c.extend_from_slice(&chunk);
                        c.extend_from_slice(b"\r\n");
                        if stream.write_all(&c).await.is_err() {
                            return;
                        }
                    }
                }
                Answer::Silence => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
    }

    /// A context over an empty root: IP literals need no resolver, and plain
    /// HTTP endpoints need no trust store.
    pub fn context(stage_timeout: Duration) -> (Context, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        let (resolver, _) = dns::NodeResolver::from_root(&root, stage_timeout);
        let (trust, _) = tls::TrustStore::load(&root);
        let ctx = Context {
            root,
            resolver,
            trust: Arc::new(trust),
            timeout: stage_timeout,
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            platform: Platform::parse("linux/amd64").unwrap(),
            proxy_env: None,
        };
        (ctx, dir)
    }

    /// A plain-HTTP upstream endpoint on a loopback port.
    pub fn endpoint(port: u16) -> crate::target::Endpoint {
        let mut ep = crate::target::Endpoint::https("127.0.0.1", port);
        ep.scheme = crate::target::Scheme::Http;
        ep
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{Answer, context, endpoint, reply, serve};
    use super::*;
    use crate::probe::Status;
    use crate::target::Target;

    async fn ping_against(answer: impl Fn() -> Answer + Send + Sync + 'static) -> Ping {
        let server = serve(move |_| answer()).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let ep = endpoint(server.port);
        let dialed = super::super::dial(&ctx, DialSpec::for_endpoint(&ep)).await;
        let mut client = HostClient::over(&ctx, DialSpec::for_endpoint(&ep), dialed.io.unwrap());
        ping(&mut client, &ep).await
    }

    #[tokio::test]
    async fn ping_200_is_ok_and_401_bearer_records_challenge() {
        let p = ping_against(|| {
            reply(
                200,
                &[("Docker-Distribution-API-Version", "registry/2.0")],
                "{}",
            )
        })
        .await;
        assert_eq!(p.result.status, Status::Ok, "{}", p.result.summary);
        assert_eq!(
            p.result.detail["docker_distribution_api_version"],
            "registry/2.0"
        );

        let p = ping_against(|| {
            reply(
                401,
                &[(
                    "WWW-Authenticate",
                    r#"Bearer realm="https://auth.test/token",service="reg.test""#,
                )],
                "",
            )
        })
        .await;
        assert_eq!(p.result.status, Status::Ok);
        assert_eq!(p.challenges.len(), 1);
        assert_eq!(
            p.result.detail["challenges"][0]["realm"],
            "https://auth.test/token"
        );
        assert!(
            p.result.summary.contains("service=reg.test"),
            "{}",
            p.result.summary
        );
    }

    #[tokio::test]
    async fn ping_classifies_non_registries() {
        let p = ping_against(|| reply(404, &[("Server", "nginx/1.25")], "<html>nope</html>")).await;
        assert_eq!(p.result.code, Code::NotARegistry);
        assert!(
            p.result.summary.contains("404") && p.result.summary.contains("nginx/1.25"),
            "{}",
            p.result.summary
        );

        let p = ping_against(|| {
            reply(
                200,
                &[("Content-Type", "text/html")],
                "<!DOCTYPE html><html>portal</html>",
            )
        })
        .await;
        assert_eq!(p.result.code, Code::NotARegistry);

        // Some registries omit the version header on a 200 with a JSON body.
        let p = ping_against(|| reply(200, &[("Content-Type", "application/json")], "{}")).await;
        assert_eq!(p.result.status, Status::Ok);

        let p = ping_against(|| reply(429, &[("Retry-After", "30")], "")).await;
        assert_eq!(p.result.code, Code::RateLimited);
        assert_eq!(p.result.detail["rate_limit"]["retry-after"], "30");

        let p = ping_against(|| reply(503, &[], "")).await;
        assert_eq!(p.result.code, Code::RegistryError);

        let p = ping_against(|| reply(401, &[], "")).await;
        assert_eq!(p.result.code, Code::RegistryError, "401 without challenge");

        let p = ping_against(|| reply(302, &[("Location", "https://login.test/?session=abc")], ""))
            .await;
        assert_eq!(p.result.code, Code::NotARegistry);
        assert!(
            !p.result.summary.contains("session=abc"),
            "{}",
            p.result.summary
        );

        let body = r#"{"errors":[{"code":"DENIED","message":"client with IP '10.1.2.3' is not allowed access"}]}"#;
        let p = ping_against(move || reply(403, &[], body)).await;
        assert_eq!(p.result.code, Code::AccessDenied);
        assert!(
            p.result.summary.contains("10.1.2.3"),
            "{}",
            p.result.summary
        );
    }

    #[tokio::test]
    async fn silent_server_is_bounded_by_the_stage_timeout() {
        let server = serve(|_| Answer::Silence).await;
        let (ctx, _dir) = context(Duration::from_millis(300));
        let ep = endpoint(server.port);
        let target = Target {
            registry: server.addr(),
            image: None,
            endpoints: vec![ep.clone()],
            remarks: vec![],
        };
        let started = std::time::Instant::now();
        let out = crate::probe::probe_endpoint(&ctx, &target, &ep).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let ping = out.stages.iter().find(|s| s.stage == Stage::Ping).unwrap();
        assert_eq!(ping.code, Code::RegistryError);
        assert!(ping.summary.contains("no answer"), "{}", ping.summary);
        let auth = out.stages.iter().find(|s| s.stage == Stage::Auth).unwrap();
        assert_eq!(auth.status, Status::Skipped);
    }

    #[tokio::test]
    async fn keep_alive_reuses_and_redials_after_close() {
        // First answer closes the connection; the client must re-dial for the second.
        let server = serve(|_| {
            reply(
                200,
                &[
                    ("Connection", "close"),
                    ("Docker-Distribution-API-Version", "registry/2.0"),
                ],
                "{}",
            )
        })
        .await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let ep = endpoint(server.port);
        let dialed = super::super::dial(&ctx, DialSpec::for_endpoint(&ep)).await;
        let mut client = HostClient::over(&ctx, DialSpec::for_endpoint(&ep), dialed.io.unwrap());
        assert_eq!(ping(&mut client, &ep).await.result.status, Status::Ok);
        assert_eq!(ping(&mut client, &ep).await.result.status, Status::Ok);
        assert_eq!(client.reconnects, 1);
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].header("user-agent"), Some(USER_AGENT_VALUE));
        assert_eq!(seen[0].header("host"), Some(server.addr().as_str()));
    }

    #[test]
    fn registry_target_adds_ns_for_mirrors() {
        let mut ep = endpoint(5000);
        assert_eq!(
            registry_target(&ep, "library/nginx/manifests/latest"),
            "/v2/library/nginx/manifests/latest"
        );
        ep.ns_param = Some("docker.io".to_owned());
        assert_eq!(
            registry_target(&ep, "a/blobs/sha256:1"),
            "/v2/a/blobs/sha256:1?ns=docker.io"
        );
    }

    #[test]
    fn reply_debug_hides_body() {
        let r = Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Body::Complete(Bytes::from_static(br#"{"token":"sekrit"}"#)),
            elapsed: Duration::ZERO,
        };
        let d = format!("{r:?}");
        assert!(!d.contains("sekrit") && d.contains("18 bytes"), "{d}");
    }

    #[test]
    fn req_debug_hides_headers() {
        let r = Req::new(Method::GET, "/v2/", 10)
            .secret_header(http::header::AUTHORIZATION, &Secret::new("Bearer sekrit"));
        assert_eq!(format!("{r:?}"), "Req(GET /v2/)");
    }
}
