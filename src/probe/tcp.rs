//! The tcp stage: connect to each resolved address in the order Go's dialer
//! (containerd's) would, and tell timeout, refusal and unreachability apart.
//!
//! Go's `net.Dialer` (`dialParallel`/`dialSerial`, net/dial.go) splits the
//! addresses into "primaries" (the family of the first address) and
//! "fallbacks" (the other family), tries each list serially with the remaining
//! time split evenly over the remaining addresses (`partialDeadline`, never
//! under 2 s unless less is left) and starts the fallbacks 300 ms after the
//! primaries. We keep the order and the time split but run the two families
//! one after the other, so that every attempt is reported on its own.

use super::{Stage, StageResult};
use crate::code::Code;
use serde_json::json;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Go's `saneMinimum` in `partialDeadline`.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// Order addresses as Go does: the first address's family first, then the other.
#[must_use]
pub fn happy_eyeballs_order(addrs: &[IpAddr]) -> Vec<IpAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let v6 = first.is_ipv6();
    let (mut primaries, fallbacks): (Vec<IpAddr>, Vec<IpAddr>) =
        addrs.iter().partition(|a| a.is_ipv6() == v6);
    primaries.extend(fallbacks);
    primaries
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

fn socket_addr(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// Connect to `port` on `addrs` within `limit`; report every attempt.
pub async fn connect(
    addrs: &[IpAddr],
    port: u16,
    limit: Duration,
) -> (StageResult, Option<TcpStream>) {
    let started = Instant::now();
    let deadline = started + limit;
    let ordered = happy_eyeballs_order(addrs);
    let mut attempts = Vec::new();
    let mut worst: Option<(Code, String)> = None;
    for (i, ip) in ordered.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            attempts.push(json!({"address": socket_addr(*ip, port).to_string(), "result": "skipped", "reason": "stage timeout reached"}));
            continue;
        }
        let remaining = deadline - now;
        let left = (ordered.len() - i) as u32;
        let share = (remaining / left).max(MIN_ATTEMPT).min(remaining);
        let addr = socket_addr(*ip, port);
        let t0 = Instant::now();
        let result = timeout(share, TcpStream::connect(addr)).await;
        let ms = t0.elapsed().as_millis() as u64;
        match result {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                attempts
                    .push(json!({"address": addr.to_string(), "result": "ok", "duration_ms": ms}));
                let summary = format!("connected to {addr}");
                return (
                    StageResult::ok(
                        Stage::Tcp,
                        started.elapsed(),
                        summary,
                        json!({"address": addr.to_string(), "attempts": attempts}),
                    ),
                    Some(stream),
                );
            }
            Ok(Err(e)) => {
                let code = classify(&e);
                attempts.push(json!({"address": addr.to_string(), "result": code.as_str(), "error": e.to_string(), "duration_ms": ms}));
                worst.get_or_insert((code, format!("{addr}: {e}")));
            }
            Err(_) => {
                attempts.push(json!({"address": addr.to_string(), "result": "TCP_TIMEOUT", "error": "no answer", "duration_ms": ms}));
                worst.get_or_insert((
                    Code::TcpTimeout,
                    format!(
                        "{addr}: no answer within {}",
                        // Whole milliseconds: the split of the stage time is not exact.
                        humantime::format_duration(Duration::from_millis(
                            ((share.as_micros() + 500) / 1000) as u64
                        ))
                    ),
                ));
            }
        }
    }
    let (code, summary) =
        worst.unwrap_or((Code::TcpUnreachable, "no address to connect to".to_owned()));
    (
        StageResult::fail(
            Stage::Tcp,
            code,
            started.elapsed(),
            summary,
            json!({"attempts": attempts}),
        ),
        None,
    )
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
