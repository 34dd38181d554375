//! The agent's admin server, apart from the probe loop (kubert's `admin`):
//! `/metrics`, `/healthz`, `/readyz` and `/report`. It only reads what the
//! loop published after its last round (rendered once, shared as bytes), so
//! a slow or hostile scraper never stalls a round: each connection has its
//! own task, a header-read timeout and an overall timeout, and connections
//! beyond a small limit are closed at once.

use crate::report::metrics::CONTENT_TYPE;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// Connections served at once; more are closed.
const MAX_CONNECTIONS: usize = 32;
/// A request head must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection lives at most this long.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What the loop publishes after each round, rendered once.
#[derive(Debug)]
pub struct Published {
    pub round: u64,
    /// The report as logged: one JSON object and a newline.
    pub report: Bytes,
    /// The metrics in the `OpenMetrics` text format.
    pub metrics: Bytes,
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
            Some(p) => text(StatusCode::OK, format!("ok: round {} done\n", p.round)),
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

/// Serve until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    latest: watch::Receiver<Option<Arc<Published>>>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, or the like: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let latest = latest.clone();
        let health = Arc::clone(&health);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let resp = answer(&req, &latest, &health);
                async move { Ok::<_, Infallible>(resp) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
