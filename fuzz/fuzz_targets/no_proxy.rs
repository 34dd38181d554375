//! Fuzz target: `NO_PROXY` matching (`config::net::proxy::NoProxy`) and proxy URLs
//! (`parse_proxy`). The first two bytes are the port, the next two say
//! where the rest splits into a `NO_PROXY` value and a host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::net::proxy::{self, NoProxy};

fuzz_target!(|data: &[u8]| {
    let [p0, p1, s0, s1, rest @ ..] = data else {
        return;
    };
    let port = u16::from_be_bytes([*p0, *p1]);
    let at = usize::from(u16::from_be_bytes([*s0, *s1])) % (rest.len() + 1);
    let (no_proxy, host) = rest.split_at(at);
    let no_proxy = String::from_utf8_lossy(no_proxy);
    let host = String::from_utf8_lossy(host);
    let _ = NoProxy::parse(&no_proxy).use_proxy(&host, port);
    let _ = proxy::parse_proxy(&no_proxy);
    let _ = proxy::parse_proxy(&host);
});
