//! A registry that changes its hostility on demand (issue 19): the agent's
//! fault-injection tests flip it between rounds. Raw TCP and TLS, so that a
//! stall can happen before the handshake and an answer can be trickled.
//!
//! - [`Mode::Healthy`]: `/v2/` answers 200 as distribution does.
//! - [`Mode::Slowloris`]: a status line, then one header byte every 200 ms.
//! - [`Mode::TlsStall`]: the TCP connection is accepted, the handshake never
//!   answered.
//! - [`Mode::RateLimited`]: 429 `TOOMANYREQUESTS` with `Retry-After: 0` (so
//!   the next round may ask again).
//! - [`Mode::Garbage`]: binary junk where the response should be, then close.
//!
//! Each connection is served on its own thread and ends within 30 s; the
//! accept loop stops when the [`Server`] is dropped.

use super::http::{Server, accept_until_dropped};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// What the registry does to the next connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Healthy = 0,
    Slowloris = 1,
    TlsStall = 2,
    RateLimited = 3,
    Garbage = 4,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Healthy,
        Mode::Slowloris,
        Mode::TlsStall,
        Mode::RateLimited,
        Mode::Garbage,
    ];

    fn from_u8(v: u8) -> Mode {
        Mode::ALL
            .into_iter()
            .find(|m| *m as u8 == v)
            .unwrap_or(Mode::Healthy)
    }
}

/// The switch a test holds: the mode, and how many connections came.
#[derive(Clone, Default)]
pub struct Switch {
    mode: Arc<AtomicU8>,
    connections: Arc<AtomicUsize>,
}

impl Switch {
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Serve `switch`'s behaviour on `listener` (bound in the namespace) with
/// `tls`, until the returned [`Server`] is dropped.
pub fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, switch: Switch) -> Server {
    accept_until_dropped(listener, move |tcp, _, flag| {
        switch.connections.fetch_add(1, Ordering::SeqCst);
        let (tls, mode, flag) = (Arc::clone(&tls), switch.mode(), Arc::clone(flag));
        thread::spawn(move || {
            let _ = connection(tcp, &tls, mode, &flag);
        });
    })
}

fn connection(
    tcp: TcpStream,
    tls: &Arc<rustls::ServerConfig>,
    mode: Mode,
    stop: &AtomicBool,
) -> io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let lifetime = Instant::now() + Duration::from_secs(30);
    if mode == Mode::TlsStall {
        // Read the ClientHello and say nothing until the client gives up.
        let mut tcp = tcp;
        let mut buf = [0u8; 4096];
        while Instant::now() < lifetime && !stop.load(Ordering::Relaxed) {
            match tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        return Ok(());
    }
    let conn = rustls::ServerConnection::new(Arc::clone(tls)).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // The request head (the probe sends no body to /v2/).
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    match mode {
        Mode::Healthy => stream.write_all(
            b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n\
              Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        )?,
        Mode::RateLimited => {
            let body =
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down","detail":null}]}"#;
            write!(
                stream,
                "HTTP/1.1 429 Too Many Requests\r\nDocker-Distribution-API-Version: registry/2.0\r\n\
                 Retry-After: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        Mode::Garbage => {
            let junk: Vec<u8> = (0u8..=255).rev().cycle().take(700).collect();
            stream.write_all(&junk)?;
        }
        Mode::Slowloris => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nX-Slow: ")?;
            stream.flush()?;
            while Instant::now() < lifetime && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(200));
                stream.write_all(b"a")?;
                stream.flush()?;
            }
        }
        Mode::TlsStall => {}
    }
    stream.flush()?;
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}
