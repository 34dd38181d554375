//! The proxy stage: an HTTP `CONNECT` tunnel through the runtime's proxy.
//!
//! Go's `net/http` Transport (which containerd uses) sends
//! `CONNECT host:port HTTP/1.1` with a `Host` header and, when the proxy URL
//! has user info, `Proxy-Authorization: Basic ...`; any 2xx opens the tunnel.
//! The proxy's answer head is capped so a hostile proxy cannot make us read
//! forever.

use super::io::BoxIo;
use super::result::{Detail, ProxyDetail, Stage, StageResult};
use crate::code::Code;
use crate::target::ProxyUrl;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout};

/// The largest proxy answer head we read.
const MAX_HEAD: usize = 16 * 1024;

/// Open a tunnel to `host:port` through `proxy` over `io`.
pub async fn connect(
    mut io: BoxIo,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    limit: Duration,
) -> (StageResult, Option<BoxIo>) {
    let started = Instant::now();
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let shown = proxy.redacted();
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy.basic_authorization() {
        let _ = write!(req, "Proxy-Authorization: {}\r\n", auth.expose());
    }
    req.push_str("\r\n");
    let exchange = async {
        io.write_all(req.as_bytes()).await?;
        let mut head = Vec::with_capacity(512);
        let mut byte = [0u8; 1];
        // Byte by byte so that nothing past the head (the tunnel's first bytes) is consumed.
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_HEAD {
                return Err(std::io::Error::other("proxy answer head too large"));
            }
            if io.read(&mut byte).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "proxy closed the connection",
                ));
            }
            head.push(byte[0]);
        }
        Ok(head)
    };
    let detail = |status: Option<u16>| {
        Detail::Proxy(ProxyDetail::Connect {
            proxy: shown.clone(),
            authority: authority.clone(),
            status,
        })
    };
    match timeout(limit, exchange).await {
        Err(_) => (
            StageResult::fail(
                Stage::Proxy,
                Code::ProxyUnreachable,
                started.elapsed(),
                format!("proxy {shown} did not answer CONNECT in time"),
                detail(None),
            ),
            None,
        ),
        Ok(Err(e)) => (
            StageResult::fail(
                Stage::Proxy,
                Code::ProxyUnreachable,
                started.elapsed(),
                format!("proxy {shown}: {e}"),
                detail(None),
            ),
            None,
        ),
        Ok(Ok(head)) => {
            let text = String::from_utf8_lossy(&head);
            let status_line = text.lines().next().unwrap_or_default().to_owned();
            let status = status_line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok());
            match status {
                Some(s) if (200..300).contains(&s) => (
                    StageResult::ok(
                        Stage::Proxy,
                        started.elapsed(),
                        format!("CONNECT {authority} via {shown}: {s}"),
                        detail(Some(s)),
                    ),
                    Some(io),
                ),
                Some(s) => (
                    StageResult::fail(
                        Stage::Proxy,
                        Code::ProxyRejected,
                        started.elapsed(),
                        format!("proxy {shown} refused CONNECT {authority}: {status_line}"),
                        detail(Some(s)),
                    ),
                    None,
                ),
                None => (
                    StageResult::fail(
                        Stage::Proxy,
                        Code::ProxyRejected,
                        started.elapsed(),
                        format!("proxy {shown} answered garbage to CONNECT"),
                        detail(None),
                    ),
                    None,
                ),
            }
        }
    }
}
