//! The small HTTP/1.1 client the HTTP stages share ([`HostClient`]): hyper's
//! connection-level API over the stream `dial` returned, so every failure
//! below HTTP was already reported by dns/tcp/proxy/tls. Every request,
//! including reading its size-capped body, runs under one stage timeout, so
//! a silent or endless server costs at most `--timeout`.
//!
//! A leaf of the HTTP stages: it knows requests and replies, not what a
//! registry's answer means. What it must not do: put a secret
//! (Authorization, endpoint header values, token bodies) into a `Debug` or an
//! error string; read an unbounded body; retry anything but a kept-alive
//! connection the server closed.

use super::challenge::{self, Challenge};
use super::context::Context;
use super::dial::{self, DialSpec};
use super::io::BoxIo;
use super::result::{RateLimit, ServerDate, StageResult};
use crate::secret::Secret;
use crate::target::{Endpoint, ProxyUrl, Scheme, TlsSettings};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
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

    /// The answer's `Date` header (RFC 9110 section 6.6.1: an origin server
    /// with a clock must send it) beside the node's clock now, as `host`'s.
    #[must_use]
    pub fn server_date(&self, host: &str) -> Option<ServerDate> {
        let server = httpdate::parse_http_date(self.header("date")?).ok()?;
        Some(ServerDate {
            host: host.to_owned(),
            server,
            node: std::time::SystemTime::now(),
        })
    }

    /// The registry rate-limit headers (Docker Hub, and `Retry-After` anywhere).
    #[must_use]
    pub fn rate_limit(&self) -> RateLimit {
        let h = |name: &str| self.header(name).map(str::to_owned);
        RateLimit {
            limit: h("ratelimit-limit"),
            remaining: h("ratelimit-remaining"),
            source: h("docker-ratelimit-source"),
            retry_after: h("retry-after"),
        }
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
    /// How many requests were sent (the registry's read budget).
    pub requests: u32,
    /// The `Date` of the last answer, not yet claimed by a stage.
    pub last_date: Option<ServerDate>,
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
            requests: 0,
            last_date: None,
        }
    }

    /// Dial a host (dns/tcp/proxy/tls) and return a client, or the stages that failed.
    /// The stages are returned in both cases for the caller's detail.
    pub async fn connect(ctx: &'c Context, spec: DialSpec<'_>) -> (Vec<StageResult>, Option<Self>) {
        let dialed = dial::dial(ctx, spec).await;
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
            dial_timeout: None,
            ..DialSpec::for_endpoint(ep)
        };
        Self::connect(ctx, spec).await
    }

    /// Take over the requests and the last `Date` of a client used on this
    /// one's behalf (a token realm, a blob host, IMDS).
    pub fn absorb(&mut self, other: &mut HostClient<'_>) {
        self.requests += std::mem::take(&mut other.requests);
        if let Some(d) = other.last_date.take() {
            self.last_date = Some(d);
        }
    }

    /// Whether requests go through a proxy.
    #[must_use]
    pub fn via_proxy(&self) -> bool {
        self.proxy.is_some()
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
                dial_timeout: None,
            };
            let dialed = dial::dial(self.ctx, spec).await;
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
                if let Some(d) = reply.server_date(&self.authority()) {
                    self.last_date = Some(d);
                }
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
            self.requests += 1;
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

/// A URL without its query and fragment: redirect targets carry signatures
/// (S3 `X-Amz-Signature`, Azure SAS `sig=`) that must not reach a report.
#[must_use]
pub fn strip_query(u: &str) -> String {
    u.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{context, endpoint, reply, serve};
    use super::*;

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
        let dialed = dial::dial(&ctx, DialSpec::for_endpoint(&ep)).await;
        let mut client = HostClient::over(&ctx, DialSpec::for_endpoint(&ep), dialed.io.unwrap());
        assert_eq!(
            client
                .send(&Req::new(Method::GET, "/v2/", 100))
                .await
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            client
                .send(&Req::new(Method::GET, "/v2/", 100))
                .await
                .unwrap()
                .status,
            200
        );
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
