//! The tcp stage: connect to each resolved address the way Go's dialer
//! (containerd's) does, and tell timeout, refusal and unreachability apart.
//!
//! Go's `net.Dialer` (`dialParallel`/`dialSerial`, net/dial.go) splits the
//! addresses into "primaries" (the family of the first address) and
//! "fallbacks" (the other family). Each list is tried serially, the remaining
//! time split evenly over the remaining addresses (`partialDeadline`, never
//! under 2 s unless less is left); the fallbacks start 300 ms after the
//! primaries (`fallbackDelay`) and the first connection wins. A node with
//! broken IPv6 therefore still connects in about 300 ms, as the runtime does.
//! Every attempt is reported, including the one the winner made moot.

use super::result::{AttemptOutcome, Detail, Stage, StageResult, TcpAttempt, TcpDetail};
use crate::code::Code;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// Go's `saneMinimum` in `partialDeadline`.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);
/// Go's default `fallbackDelay` (net/dial.go).
const FALLBACK_DELAY: Duration = Duration::from_millis(300);

/// Order addresses as Go does: the first address's family first, then the other.
#[must_use]
pub fn happy_eyeballs_order(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let (mut primaries, fallbacks) = partition(addrs);
    primaries.extend(fallbacks);
    primaries
}

/// Go's `partition`: addresses of the first address's family, and the rest.
fn partition(addrs: &[IpAddr]) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let Some(first) = addrs.first() else {
        return (Vec::new(), Vec::new());
    };
    let v6 = first.is_ipv6();
    addrs.iter().partition(|a| a.is_ipv6() == v6)
}

/// Classify a connect error into a contract code.
#[must_use]
pub fn classify(err: &io::Error) -> Code {
    match err.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => Code::TcpRefused,
        io::ErrorKind::TimedOut => Code::TcpTimeout,
        io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable => Code::TcpUnreachable,
        _ => match err.raw_os_error() {
            Some(111) => Code::TcpRefused,
            Some(110) => Code::TcpTimeout,
            // EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN and anything else that is not a refusal.
            _ => Code::TcpUnreachable,
        },
    }
}

/// What one serial list of addresses came to.
#[derive(Default)]
struct Serial {
    attempts: Vec<TcpAttempt>,
    stream: Option<(TcpStream, SocketAddr)>,
    /// The first failure, which Go's `dialSerial` returns.
    first_error: Option<(Code, String)>,
}

/// Go's `dialSerial`: one address after another, each with its share of the time left.
async fn dial_serial(addrs: &[IpAddr], port: u16, deadline: Instant, delay: Duration) -> Serial {
    let mut out = Serial::default();
    if !delay.is_zero() {
        sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    for (i, ip) in addrs.iter().enumerate() {
        let addr = SocketAddr::new(*ip, port);
        let now = Instant::now();
        if now >= deadline {
            out.attempts.push(TcpAttempt {
                address: addr,
                outcome: AttemptOutcome::Skipped {
                    reason: "stage timeout reached".to_owned(),
                },
            });
            continue;
        }
        let remaining = deadline - now;
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (remaining / left).max(MIN_ATTEMPT).min(remaining);
        let result = timeout(share, TcpStream::connect(addr)).await;
        let ms = now.elapsed().as_millis() as u64;
        match result {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                out.attempts.push(TcpAttempt {
                    address: addr,
                    outcome: AttemptOutcome::Connected { duration_ms: ms },
                });
                out.stream = Some((stream, addr));
                return out;
            }
            Ok(Err(e)) => {
                let code = classify(&e);
                out.attempts.push(TcpAttempt {
                    address: addr,
                    outcome: AttemptOutcome::Failed {
                        code,
                        error: e.to_string(),
                        duration_ms: ms,
                    },
                });
                out.first_error
                    .get_or_insert((code, format!("{addr}: {e}")));
            }
            Err(_) => {
                out.attempts.push(TcpAttempt {
                    address: addr,
                    outcome: AttemptOutcome::Failed {
                        code: Code::TcpTimeout,
                        error: "no answer".to_owned(),
                        duration_ms: ms,
                    },
                });
                // Whole milliseconds: the split of the stage time is not exact.
                let shown = Duration::from_millis(((share.as_micros() + 500) / 1000) as u64);
                out.first_error.get_or_insert((
                    Code::TcpTimeout,
                    format!(
                        "{addr}: no answer within {}",
                        humantime::format_duration(shown)
                    ),
                ));
            }
        }
    }
    out
}

/// Connect to `port` on `addrs` within `limit`; report every attempt.
pub async fn connect(
    addrs: &[IpAddr],
    port: u16,
    limit: Duration,
) -> (StageResult, Option<TcpStream>) {
    let started = Instant::now();
    let deadline = started + limit;
    let (primaries, fallbacks) = partition(addrs);
    let (primary, fallback) = if fallbacks.is_empty() {
        (
            dial_serial(&primaries, port, deadline, Duration::ZERO).await,
            None,
        )
    } else {
        race(&primaries, &fallbacks, port, deadline).await
    };
    let mut attempts = primary.attempts;
    let mut stream = primary.stream;
    let mut fallback_error = None;
    if let Some(f) = fallback {
        attempts.extend(f.attempts);
        stream = stream.or(f.stream);
        fallback_error = f.first_error;
    }
    if let Some((stream, addr)) = stream {
        let summary = format!("connected to {addr}");
        let detail = Detail::Tcp(TcpDetail {
            address: Some(addr),
            attempts,
        });
        return (
            StageResult::ok(Stage::Tcp, started.elapsed(), summary, detail),
            Some(stream),
        );
    }
    // Go's dialParallel returns the primaries' error when both lists fail.
    let (code, summary) = primary
        .first_error
        .or(fallback_error)
        .unwrap_or((Code::TcpUnreachable, "no address to connect to".to_owned()));
    let detail = Detail::Tcp(TcpDetail {
        address: None,
        attempts,
    });
    (
        StageResult::fail(Stage::Tcp, code, started.elapsed(), summary, detail),
        None,
    )
}

/// Go's `dialParallel`: primaries now, fallbacks after [`FALLBACK_DELAY`];
/// the first connection wins and the other list is abandoned.
async fn race(
    primaries: &[IpAddr],
    fallbacks: &[IpAddr],
    port: u16,
    deadline: Instant,
) -> (Serial, Option<Serial>) {
    let mut p = Box::pin(dial_serial(primaries, port, deadline, Duration::ZERO));
    let mut f = Box::pin(dial_serial(fallbacks, port, deadline, FALLBACK_DELAY));
    let mut p_done: Option<Serial> = None;
    let mut f_done: Option<Serial> = None;
    loop {
        tokio::select! {
            r = &mut p, if p_done.is_none() => p_done = Some(r),
            r = &mut f, if f_done.is_none() => f_done = Some(r),
        }
        let won = p_done.as_ref().is_some_and(|s| s.stream.is_some())
            || f_done.as_ref().is_some_and(|s| s.stream.is_some());
        if won || (p_done.is_some() && f_done.is_some()) {
            break;
        }
    }
    let abandoned = |addrs: &[IpAddr]| Serial {
        attempts: addrs
            .iter()
            .map(|ip| TcpAttempt {
                address: SocketAddr::new(*ip, port),
                outcome: AttemptOutcome::Abandoned {
                    reason: "the other address family connected first".to_owned(),
                },
            })
            .collect(),
        ..Serial::default()
    };
    let primary = p_done.unwrap_or_else(|| abandoned(primaries));
    let fallback = f_done.unwrap_or_else(|| abandoned(fallbacks));
    (primary, Some(fallback))
}

/// Connect to `addr` advertising `mss` as our maximum segment size
/// (`TCP_MAXSEG` set before connect, which Linux puts in the SYN's MSS
/// option; no privilege needed), so the server sends segments of at most
/// that size. For the path-MTU retry only: one address, no fallback.
pub async fn connect_with_mss(
    addr: SocketAddr,
    mss: u32,
    limit: Duration,
) -> Result<TcpStream, (Code, String)> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| (classify(&e), format!("socket: {e}")))?;
    socket2::SockRef::from(&socket)
        .set_tcp_mss(mss)
        .map_err(|e| (Code::TcpUnreachable, format!("TCP_MAXSEG {mss}: {e}")))?;
    match timeout(limit, socket.connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err((classify(&e), format!("{addr}: {e}"))),
        Err(_) => Err((
            Code::TcpTimeout,
            format!(
                "{addr}: no answer within {}",
                humantime::format_duration(limit)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_first_family_first() {
        let a: Vec<IpAddr> = ["::1", "127.0.0.1", "::2", "127.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let o: Vec<String> = happy_eyeballs_order(&a)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(o, ["::1", "::2", "127.0.0.1", "127.0.0.2"]);
    }

    #[test]
    fn classify_errors() {
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            Code::TcpRefused
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(113)),
            Code::TcpUnreachable
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(101)),
            Code::TcpUnreachable
        );
    }

    /// A listener whose accept queue is full: the kernel drops further SYNs,
    /// so a connect to it hangs like a blackholed address.
    fn silent_listener(addr: &str) -> (socket2::Socket, std::net::TcpStream, u16) {
        let addr: SocketAddr = addr.parse().unwrap();
        let s = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(0).unwrap();
        let port = s.local_addr().unwrap().as_socket().unwrap().port();
        // Fill the queue of one; never accepted.
        let filler = std::net::TcpStream::connect(SocketAddr::new(addr.ip(), port)).unwrap();
        (s, filler, port)
    }

    /// Broken IPv6, working IPv4: the fallback connects ~300 ms after the
    /// primary started, as Go's dialParallel does, not after the primary's share.
    #[tokio::test]
    async fn a_silent_primary_family_loses_the_race_to_the_fallback() {
        // The same port silent on IPv6 and listening on IPv4 (retry if taken).
        let (_silent, _filler, port, live) = (0..20)
            .find_map(|_| {
                let (silent, filler, port) = silent_listener("[::1]:0");
                let live = std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
                Some((silent, filler, port, live))
            })
            .expect("a port free on both loopbacks");
        let addrs: Vec<IpAddr> = vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let started = Instant::now();
        let (r, s) = connect(&addrs, port, Duration::from_secs(5)).await;
        assert!(s.is_some(), "{r:?}");
        let Detail::Tcp(d) = &r.detail else {
            panic!("{r:?}")
        };
        assert_eq!(d.address, Some(SocketAddr::from(([127, 0, 0, 1], port))));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= FALLBACK_DELAY && elapsed < Duration::from_millis(1500),
            "{elapsed:?}"
        );
        let attempts = &d.attempts;
        assert!(
            matches!(attempts[0].outcome, AttemptOutcome::Abandoned { .. }),
            "{attempts:?}"
        );
        assert!(matches!(
            attempts[1].outcome,
            AttemptOutcome::Connected { .. }
        ));
        drop(live);
    }

    #[tokio::test]
    async fn when_both_families_fail_the_primary_error_is_reported() {
        let (_silent, _filler, port) = silent_listener("[::1]:0");
        // Nothing listens on that port on IPv4: refused quickly, primary still times out.
        let addrs: Vec<IpAddr> = vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let started = Instant::now();
        let (r, s) = connect(&addrs, port, Duration::from_millis(800)).await;
        assert!(s.is_none());
        assert_eq!(r.code, Code::TcpTimeout, "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn refused_on_closed_loopback_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let (r, s) = connect(
            &["127.0.0.1".parse().unwrap()],
            port,
            Duration::from_secs(2),
        )
        .await;
        assert!(s.is_none());
        assert_eq!(r.code, Code::TcpRefused);
    }
}
