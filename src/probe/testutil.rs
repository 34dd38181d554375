//! For the stages' unit tests: a loopback HTTP/1.1 server whose answers
//! tests script, and a test [`Context`]. Tests build the broken world; they
//! do not mock the client.

use super::context::Context;
use super::dns::{HostTable, NodeResolver, ResolverSettings};
use super::tls::TrustStore;
use crate::oci::Platform;
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

/// A context with the resolver defaults and no trusted CA: IP literals
/// need no resolver, and plain HTTP endpoints need no trust store. The
/// second value is kept for the tests' `let (ctx, _dir) = ...` shape.
pub fn context(stage_timeout: Duration) -> (Context, ()) {
    let settings = ResolverSettings {
        timeout: stage_timeout,
        ..ResolverSettings::default()
    };
    let ctx = Context {
        resolver: NodeResolver::from_parts(settings, HostTable::default(), 53),
        trust: Arc::new(TrustStore::from_certs([])),
        timeout: stage_timeout,
        deadline: tokio::time::Instant::now() + Duration::from_secs(60),
        platform: Platform::parse("linux/amd64").unwrap(),
        proxy_for_other_host: None,
        memory: None,
    };
    (ctx, ())
}

/// A plain-HTTP upstream endpoint on a loopback port.
pub fn endpoint(port: u16) -> crate::target::Endpoint {
    let mut ep = crate::target::Endpoint::https("127.0.0.1", port);
    ep.scheme = crate::target::Scheme::Http;
    ep
}

/// A scripted registry on loopback.
pub fn registry(
    handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> impl std::future::Future<Output = Server> {
    serve(handler)
}

/// Dial the registry on `port` (plain HTTP) and run the HTTP stages for
/// `127.0.0.1:<port>/team/app:<tag>`.
pub async fn probe_image(port: u16, tag: &str) -> Vec<super::result::StageResult> {
    let (ctx, ()) = context(Duration::from_secs(2));
    let ep = endpoint(port);
    let image = crate::reference::Reference {
        domain: format!("127.0.0.1:{port}"),
        path: "team/app".to_owned(),
        tag: Some(tag.to_owned()),
        digest: None,
    };
    let target = crate::target::Target {
        registry: image.domain.clone(),
        image: Some(image),
        endpoints: vec![ep.clone()],
        remarks: vec![],
        ..Default::default()
    };
    let dialed = super::dial::dial(&ctx, super::dial::DialSpec::for_endpoint(&ep)).await;
    super::sequence::http_stages(&ctx, &target, &ep, dialed.io.unwrap())
        .await
        .0
}

/// The stage of that name, or a panic naming what is there.
pub fn stage(
    out: &[super::result::StageResult],
    s: super::result::Stage,
) -> &super::result::StageResult {
    out.iter()
        .find(|r| r.stage == s)
        .unwrap_or_else(|| panic!("no {s:?} in {out:?}"))
}

/// A registry's `/v2/` answer, for handlers that script the rest.
pub fn v2_ok(s: &Seen) -> Option<Answer> {
    (s.path() == "/v2/").then(|| {
        reply(
            200,
            &[("Docker-Distribution-API-Version", "registry/2.0")],
            "{}",
        )
    })
}
