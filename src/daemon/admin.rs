//! The agent's admin server, apart from the probe loop (kubert's `admin`):
//! `/metrics`, `/healthz`, `/readyz` and `/report`. It only reads what the
//! loop published after its last round (rendered once, shared as bytes), so
//! a slow or hostile scraper never stalls a round.
//!
//! The port is open to every pod and host that reaches the node
//! (`hostNetwork`), so it must hold under idle floods, slowloris and
//! oversized requests, with bounded memory and descriptors. Go's `net/http`,
//! as `blackbox_exporter` uses it (`http.ListenAndServe` with a zero
//! `http.Server`: no connection cap, no header timeout, 1 MB of headers, and
//! the Go runtime raising `RLIMIT_NOFILE` to its hard limit), holds an idle
//! flood by accepting everything until the descriptors run out, a goroutine
//! and its buffers per connection, for ever. Here:
//!
//! - Accept everything, up to a pool sized from the descriptor budget
//!   ([`Budget`]: the soft `RLIMIT_NOFILE`, raised to the hard one as Go does,
//!   minus a reserve for the probe loop's sockets and files), at most
//!   [`MAX_CONNECTIONS`]. A connection that has sent nothing costs its socket
//!   and a small task: hyper and its buffer come with the first byte.
//! - When the pool is full, the newcomer takes the place of the oldest
//!   connection that has not yet sent a complete request head: an idle or
//!   slow client holds a slot only until someone else needs it, while a
//!   request being answered is never cut.
//! - A head must arrive within [`HEAD_TIMEOUT`]; under pressure (the pool
//!   three quarters full) within [`PRESSED_HEAD_TIMEOUT`]. A connection lives
//!   at most [`CONNECTION_TIMEOUT`] and serves one request (no keep-alive).
//! - A head over [`MAX_HEAD_BYTES`] is answered 431 and closed; the read
//!   buffer never grows past it.
//!
//! It must not block the probe loop: it shares no lock with it (only the
//! `watch` of the last round and the atomic health clock).

use crate::report::metrics::CONTENT_TYPE;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// What the loop publishes after each round, rendered once.
#[derive(Debug)]
pub struct Published {
    pub round: u64,
    /// The report as logged: one JSON object and a newline.
    pub report: Bytes,
    /// The metrics in the `OpenMetrics` text format.
    pub metrics: Bytes,
    /// Why the agent is not ready although a round finished (its targets
    /// file was refused): `/readyz` answers 503 with it.
    pub not_ready: Option<String>,
}

/// Whether the loop is alive: a round that runs far past its deadline, or no
/// round started for far longer than the interval, makes `/healthz` fail.
#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` when the running round started; 0 when idle.
    round_started: AtomicU64,
    /// Milliseconds since `epoch` of the last sign of life (a round's start or end).
    last_beat: AtomicU64,
    /// A round longer than this is stuck.
    pub stuck_after: Duration,
    /// Idle longer than this is stuck too.
    pub idle_after: Duration,
}

impl Health {
    #[must_use]
    pub fn new(stuck_after: Duration, idle_after: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            round_started: AtomicU64::new(0),
            last_beat: AtomicU64::new(1),
            stuck_after,
            idle_after,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub fn round_started(&self) {
        let now = self.now_ms();
        self.round_started.store(now, Ordering::Relaxed);
        self.last_beat.store(now, Ordering::Relaxed);
    }

    pub fn round_ended(&self) {
        self.round_started.store(0, Ordering::Relaxed);
        self.last_beat.store(self.now_ms(), Ordering::Relaxed);
    }

    /// `None` when alive, else why not.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        let now = self.now_ms();
        let started = self.round_started.load(Ordering::Relaxed);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if started != 0 && now - started > ms(self.stuck_after) {
            return Some(format!(
                "a round has been running for {}s (stuck after {}s)",
                (now - started) / 1000,
                self.stuck_after.as_secs()
            ));
        }
        let beat = self.last_beat.load(Ordering::Relaxed);
        if started == 0 && now.saturating_sub(beat) > ms(self.idle_after) {
            return Some(format!(
                "no round started for {}s (expected within {}s)",
                (now - beat) / 1000,
                self.idle_after.as_secs()
            ));
        }
        None
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .unwrap_or_default()
}

fn answer(
    req: &Request<Incoming>,
    latest: &watch::Receiver<Option<Arc<Published>>>,
    health: &Health,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    let published = latest.borrow().clone();
    match req.uri().path() {
        "/healthz" => match health.problem() {
            None => text(StatusCode::OK, "ok\n"),
            Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        "/readyz" => match published {
            Some(p) => match &p.not_ready {
                None => text(StatusCode::OK, format!("ok: round {} done\n", p.round)),
                Some(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: round {} done, but {why}\n", p.round),
                ),
            },
            None => text(StatusCode::SERVICE_UNAVAILABLE, "no round finished yet\n"),
        },
        "/report" => match published {
            Some(p) => Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(p.report.clone()))
                .unwrap_or_default(),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "no round finished yet\n"),
        },
        "/metrics" => match published {
            Some(p) => Response::builder()
                .header("content-type", CONTENT_TYPE)
                .body(Full::new(p.metrics.clone()))
                .unwrap_or_default(),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "no round finished yet\n"),
        },
        "/" => text(
            StatusCode::OK,
            "regprobe agent: /metrics /healthz /readyz /report\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// What the descriptor budget allows the admin server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The soft `RLIMIT_NOFILE` in effect (`None`: unlimited).
    pub nofile: Option<u64>,
    /// Connections the admin server holds at once.
    pub connections: usize,
}

/// The most connections held at once, whatever the descriptor limit. An
/// idle one costs its socket and a small task (no buffer until it speaks).
pub const MAX_CONNECTIONS: usize = 4096;
/// The fewest, however tight the limit: the kubelet and Prometheus still get in.
const MIN_CONNECTIONS: usize = 16;
/// Descriptors kept for the process itself (runtime, stdio, files read each round).
const BASE_RESERVE: u64 = 64;
/// A request head must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and within this when the pool is three quarters full.
pub const PRESSED_HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// A connection lives at most this long.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read (hyper's read buffer); larger is 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

impl Budget {
    /// Raise the soft `RLIMIT_NOFILE` to the hard limit (as the Go runtime
    /// does at start since Go 1.19, `os/rlimit.go`), then size the pool from
    /// what is left after `probe_reserve` descriptors for the probe loop.
    #[must_use]
    pub fn for_this_process(probe_reserve: u64) -> Self {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                limit = getrlimit(Resource::Nofile);
            }
        }
        Self::from_limit(limit.current, probe_reserve)
    }

    /// The pool for a soft limit of `nofile` descriptors.
    #[must_use]
    pub fn from_limit(nofile: Option<u64>, probe_reserve: u64) -> Self {
        let free = nofile.map_or(u64::MAX, |n| n.saturating_sub(probe_reserve + BASE_RESERVE));
        let connections = usize::try_from(free)
            .unwrap_or(usize::MAX)
            .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS);
        Self {
            nofile,
            connections,
        }
    }
}

/// One accepted connection, as the pool sees it.
struct Entry {
    accepted: Instant,
    /// The request head is complete: the connection is being answered.
    head: Arc<AtomicBool>,
    /// Dropping it closes the connection.
    _close: oneshot::Sender<()>,
}

/// The connections held, oldest first (ids grow with time).
struct Pool {
    capacity: usize,
    next: u64,
    open: BTreeMap<u64, Entry>,
    /// Connections closed to make room, since the last log line.
    shed: u64,
    last_log: Option<Instant>,
}

impl Pool {
    /// Make room for one more: under pressure, drop those past the short
    /// head timeout; when full, the oldest still without a head. `false`
    /// when every slot is answering a request.
    fn make_room(&mut self) -> bool {
        if self.open.len() * 4 >= self.capacity * 3 {
            let before = self.open.len();
            self.open.retain(|_, e| {
                e.head.load(Ordering::Relaxed) || e.accepted.elapsed() < PRESSED_HEAD_TIMEOUT
            });
            self.shed += (before - self.open.len()) as u64;
        }
        if self.open.len() < self.capacity {
            return true;
        }
        let oldest = self
            .open
            .iter()
            .find(|(_, e)| !e.head.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                self.open.remove(&id);
                self.shed += 1;
                true
            }
            None => false,
        }
    }

    /// Say, at most once a minute, that connections were shed.
    fn log_pressure(&mut self) {
        if self.shed == 0
            || self
                .last_log
                .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return;
        }
        tracing::warn!(
            event = "admin_pressure",
            shed = self.shed,
            open = self.open.len(),
            capacity = self.capacity,
            "admin server under pressure: closed connections that sent no request in time"
        );
        self.shed = 0;
        self.last_log = Some(Instant::now());
    }
}

/// Takes a connection out of the pool when its task ends.
struct Slot {
    pool: Arc<Mutex<Pool>>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut p) = self.pool.lock() {
            p.open.remove(&self.id);
        }
    }
}

/// Completed connections the kernel queues for `accept`: as Go's `net`
/// (`maxListenerBacklog` in `src/net/sock_linux.go` reads
/// `/proc/sys/net/core/somaxconn`, which also caps this), not tokio's
/// 1,024, so a flood of connects does not drop a scraper's SYN for a second.
const BACKLOG: u32 = 4096;

/// Bind the admin port.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serve until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    latest: watch::Receiver<Option<Arc<Published>>>,
    health: Arc<Health>,
    budget: Budget,
    mut shutdown: watch::Receiver<bool>,
) {
    let pool = Arc::new(Mutex::new(Pool {
        capacity: budget.connections.max(1),
        next: 0,
        open: BTreeMap::new(),
        shed: 0,
        last_log: None,
    }));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, or the like: free a slot, do not spin.
            if let Ok(mut p) = pool.lock() {
                let open = p.open.len();
                p.capacity = p.capacity.min(open.max(MIN_CONNECTIONS));
                p.make_room();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (head, closed, slot) = {
            let Ok(mut p) = pool.lock() else { return };
            let room = p.make_room();
            p.log_pressure();
            if !room {
                drop(stream);
                continue;
            }
            let id = p.next;
            p.next += 1;
            let head = Arc::new(AtomicBool::new(false));
            let (close, closed) = oneshot::channel();
            p.open.insert(
                id,
                Entry {
                    accepted: Instant::now(),
                    head: Arc::clone(&head),
                    _close: close,
                },
            );
            let slot = Slot {
                pool: Arc::clone(&pool),
                id,
            };
            (head, closed, slot)
        };
        let latest = latest.clone();
        let health = Arc::clone(&health);
        tokio::spawn(connection(stream, latest, health, head, closed, slot));
    }
}

/// One connection: first, with no buffer, wait for its first byte (an idle
/// connection costs its socket and a small task, so the pool can be large);
/// then hyper reads the head and answers.
async fn connection(
    stream: TcpStream,
    latest: watch::Receiver<Option<Arc<Published>>>,
    health: Arc<Health>,
    head: Arc<AtomicBool>,
    mut closed: oneshot::Receiver<()>,
    slot: Slot,
) {
    let started = Instant::now();
    // A peek, not `readable()`: readiness alone can be spurious, and the
    // idle stage must hold until a byte is really there.
    let mut first = [0u8; 1];
    let spoke = tokio::select! {
        r = tokio::time::timeout(HEAD_TIMEOUT, stream.peek(&mut first)) => matches!(r, Ok(Ok(1..))),
        _ = &mut closed => false,
    };
    if spoke {
        // Boxed: the idle stage above stays a small task.
        Box::pin(answer_on(stream, latest, health, head, closed, started)).await;
    }
    drop(slot);
}

/// Read one request head on `stream` and answer it, until shed, the head
/// timeout (from `started`) or the connection timeout.
async fn answer_on(
    stream: TcpStream,
    latest: watch::Receiver<Option<Arc<Published>>>,
    health: Arc<Health>,
    head: Arc<AtomicBool>,
    closed: oneshot::Receiver<()>,
    started: Instant,
) {
    let seen = Arc::clone(&head);
    let service = service_fn(move |req: Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        let resp = answer(&req, &latest, &health);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT.saturating_sub(started.elapsed()))
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    // Shed from the pool (the sender dropped), or no head in time.
    let head_wait = async {
        tokio::time::sleep_until(started + HEAD_TIMEOUT).await;
        if head.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout_at(started + CONNECTION_TIMEOUT, conn) => {}
        _ = closed => {}
        () = head_wait => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server with a pool of `connections`, a finished round published.
    async fn server(connections: usize) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let published = Published {
            round: 3,
            report: Bytes::from_static(b"{}\n"),
            metrics: Bytes::from_static(b"# EOF\n"),
            not_ready: None,
        };
        let (tx, latest) = watch::channel(Some(Arc::new(published)));
        std::mem::forget(tx);
        let health = Arc::new(Health::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        let (stop, shutdown) = watch::channel(false);
        let budget = Budget {
            nofile: None,
            connections,
        };
        tokio::spawn(serve(listener, latest, health, budget, shutdown));
        (addr, stop)
    }

    /// `GET path`: the status line, or the error.
    async fn get(addr: std::net::SocketAddr, path: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out))
            .await
            .map_err(|_| "no answer in 3 s".to_owned())?
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out).into_owned();
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }

    /// Issue 19: idle connections far beyond the pool, and slowloris
    /// clients trickling a head: `/healthz` and `/metrics` still answer,
    /// each time, and the pool holds no more than its size.
    #[tokio::test]
    async fn idle_and_slow_connections_do_not_starve_requests() {
        let (addr, _stop) = server(8).await;
        let mut idle = Vec::new();
        for _ in 0..100 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nX-a: ")
                .await
                .unwrap();
            slow.push(s);
        }
        for path in ["/healthz", "/metrics", "/readyz"] {
            for _ in 0..5 {
                let status = get(addr, path).await;
                assert_eq!(status.as_deref(), Ok("HTTP/1.1 200 OK"), "{path}");
            }
        }
        // The flood was shed: most idle connections are closed by now.
        let mut closed = 0;
        for s in &mut idle {
            let mut b = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await
            {
                closed += 1;
            }
        }
        assert!(closed >= 90, "{closed} of 100 idle connections closed");
    }

    /// A head over the limit is 431; the server goes on.
    #[tokio::test]
    async fn an_oversized_head_is_431() {
        let (addr, _stop) = server(8).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-big: ".to_vec();
        head.resize(head.len() + 2 * 1024 * 1024, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        // The server answers and closes while we still write.
        let _ = s.write_all(&head).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"),
            "{:?}",
            String::from_utf8_lossy(&out[..out.len().min(80)])
        );
        assert_eq!(
            get(addr, "/healthz").await.as_deref(),
            Ok("HTTP/1.1 200 OK")
        );
    }

    #[test]
    fn the_pool_is_sized_from_the_descriptor_limit() {
        assert_eq!(Budget::from_limit(None, 3000).connections, MAX_CONNECTIONS);
        assert_eq!(
            Budget::from_limit(Some(1_048_576), 3000).connections,
            MAX_CONNECTIONS
        );
        assert_eq!(Budget::from_limit(Some(3364), 3000).connections, 300);
        assert_eq!(
            Budget::from_limit(Some(1024), 3000).connections,
            MIN_CONNECTIONS
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_fails_on_a_stuck_round_and_on_silence() {
        let h = Health::new(Duration::from_secs(40), Duration::from_secs(120));
        assert_eq!(h.problem(), None);
        h.round_started();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(h.problem(), None);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(h.problem().unwrap().contains("running"));
        h.round_ended();
        assert_eq!(h.problem(), None);
        tokio::time::advance(Duration::from_secs(121)).await;
        assert!(h.problem().unwrap().contains("no round started"));
    }
}
