//! A deliberately small HTTP/1.1 server and client for the in-process
//! servers of the bed (token issuer, canned-answer faults, the blob
//! redirector, the ACR-like front, IMDS) and for pushing content.
//!
//! One request per connection (`Connection: close`): every client we test
//! against copes with that, and it keeps this code obviously correct. It is
//! not a general HTTP implementation and must not grow into one.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};

/// One parsed request.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The client's address (server side only).
    pub peer: Option<SocketAddr>,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Decoded query pairs.
    pub fn query(&self) -> Vec<(String, String)> {
        let q = self.target.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded `application/x-www-form-urlencoded` body pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// What a handler wants done with a request.
#[derive(Clone, Debug)]
pub enum Answer {
    Reply(Reply),
    /// Pass the request to a plain-HTTP upstream and relay its answer.
    Forward(SocketAddr),
    /// A complete response, head and body, written as is (see [`relay`]).
    Raw(Vec<u8>),
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::new(status)
            .header("Content-Type", "application/json")
            .body(value.to_string())
    }

    /// A registry error body (`{"errors":[{"code":...}]}`) as distribution
    /// sends it.
    pub fn registry_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]}),
        )
        .header("Docker-Distribution-API-Version", "registry/2.0")
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer::Reply(reply)
    }
}

/// The logic of an in-process server.
pub type Handler = Arc<dyn Fn(&Request) -> Answer + Send + Sync>;

/// A running accept loop; dropping it stops accepting.
pub struct Server {
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Serves `handler` on `listener` (already bound in the right namespace)
/// until the returned [`Server`] is dropped. Must be called on a thread
/// inside the namespace so forwarded connections start there too.
pub fn serve(listener: TcpListener, tls: Option<Arc<ServerConfig>>, handler: Handler) -> Server {
    accept_until_dropped(listener, move |tcp, peer, _| {
        let (tls, handler) = (tls.clone(), handler.clone());
        thread::spawn(move || {
            let _ = connection(tcp, peer, tls, &handler);
        });
    })
}

/// Hands each connection `listener` accepts (with the stop flag its
/// handler may watch) to `accepted`, until the returned [`Server`] is dropped.
pub fn accept_until_dropped(
    listener: TcpListener,
    accepted: impl Fn(TcpStream, SocketAddr, &Arc<AtomicBool>) + Send + 'static,
) -> Server {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Polling accept lets the loop notice `stop` without another socket.
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((tcp, peer)) => accepted(tcp, peer, &flag),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    Server { stop }
}

fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    handler: &Handler,
) -> io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream: Box<dyn Stream> = match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg).map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    let Some(mut request) = read_request(&mut stream)? else {
        return Ok(());
    };
    request.peer = Some(peer);
    match handler(&request) {
        Answer::Reply(reply) => write_reply(&mut stream, &reply, request.method == "HEAD")?,
        Answer::Forward(upstream) => {
            let raw = send(upstream, None, "", &request)?;
            stream.write_all(&raw)?;
        }
        Answer::Raw(raw) => stream.write_all(&raw)?,
    }
    stream.flush()
}

fn read_head(stream: &mut dyn Stream) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((buf, rest)));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn read_request(stream: &mut dyn Stream) -> io::Result<Option<Request>> {
    let Some((head, mut body)) = read_head(stream)? else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers = parse_headers(&head);
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        peer: None,
        target,
        headers,
        body,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Writes `reply`; for a HEAD request the head only (with the length the
/// body would have).
fn write_reply(stream: &mut dyn Stream, reply: &Reply, head_only: bool) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    );
    stream.write_all(out.as_bytes())?;
    if head_only {
        return Ok(());
    }
    stream.write_all(&reply.body)
}

/// A parsed response from [`request`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `req` to `addr` (TLS when `tls` is given, with `host` as SNI) and
/// returns the raw response bytes; the connection is closed after it.
fn send(
    addr: SocketAddr,
    tls: Option<Arc<ClientConfig>>,
    host: &str,
    req: &Request,
) -> io::Result<Vec<u8>> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut stream: Box<dyn Stream> = match tls {
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(io::Error::other)?;
            let conn = rustls::ClientConnection::new(cfg, name).map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
        None => Box::new(tcp),
    };
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        let k_l = k.to_ascii_lowercase();
        if k_l != "connection" && k_l != "content-length" {
            let _ = write!(out, "{k}: {v}\r\n");
        }
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    );
    stream.write_all(out.as_bytes())?;
    stream.write_all(&req.body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        // Servers that close without TLS close_notify are fine for us.
        Ok(_) => Ok(raw),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e),
    }
}

/// A one-shot client request. Call it on a thread inside the namespace.
pub fn request(
    addr: SocketAddr,
    tls: Option<Arc<ClientConfig>>,
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> io::Result<Response> {
    let mut all: Vec<(String, String)> = vec![("Host".into(), host.into())];
    all.extend(headers.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    let req = Request {
        method: method.into(),
        peer: None,
        target: target.into(),
        headers: all,
        body,
    };
    parse_response(&send(addr, tls, host, &req)?)
}

/// Sends `req` unchanged to the plain-HTTP `upstream` and returns its raw
/// answer, for a handler that looks at it before relaying it
/// ([`Answer::Raw`]). Call it from a handler: the connection threads run
/// inside the namespace.
pub fn relay(upstream: SocketAddr, req: &Request) -> io::Result<Vec<u8>> {
    send(upstream, None, "", req)
}

/// Splits a raw response into status, headers and body (the body as sent:
/// not de-chunked; the bed's upstreams send `Content-Length`).
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("response without head"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line: {head}")))?;
    Ok(Response {
        status,
        headers: parse_headers(&head),
        body: raw[end + 4..].to_vec(),
    })
}
