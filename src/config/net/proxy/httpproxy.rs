//! Go's proxy rules: `golang.org/x/net/http/httpproxy` (`proxy.go`:
//! `FromEnvironment`, `Config.ProxyFunc`, `parseProxy`, `useProxy`,
//! `canonicalAddr`, the `NO_PROXY` matchers), which `net/http`'s
//! `ProxyFromEnvironment` (`src/net/http/transport.go`) uses, and so do
//! containerd, CRI-O, dockerd and k3s. Its test tables (`proxy_test.go`) are
//! ported below as the oracle.
//!
//! Pure functions over a [`ProxyEnv`] already discovered: no file, no
//! environment of our own, no network. A proxy URL comes out as a
//! [`ProxyUrl`], whose user info is secret.

use super::ProxyEnv;
use crate::target::ProxyUrl;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The proxy URL a Go runtime uses for `scheme://host:port`, or `None` for a
/// direct connection (`httpproxy` `config.proxyForURL`). `host` is a name or
/// an IP literal without brackets (an IPv6 zone `%eth0` is allowed).
#[must_use]
pub fn proxy_for(env: &ProxyEnv, scheme: &str, host: &str, port: u16) -> Option<ProxyUrl> {
    // HTTPS_PROXY only for https, HTTP_PROXY only for http; any other scheme is direct.
    // The CGI rule (REQUEST_METHOD set) cannot apply to a runtime daemon.
    let var = env.var_for(scheme)?;
    let proxy = parse_proxy(var.value.expose())?;
    let no_proxy = NoProxy::parse(env.no_proxy.as_ref().map_or("", |v| v.value.expose()));
    no_proxy.use_proxy(host, port).then_some(proxy)
}

/// `httpproxy.parseProxy`: a value without scheme (or without host) is retried
/// as `http://<value>`; `None` when it is empty or unusable (Go ignores those).
///
/// Go's `url.Parse` and the WHATWG parser of the `url` crate differ on exotic
/// input (the `url` crate trims surrounding spaces, lower-cases http(s) hosts);
/// for every value in `proxy_test.go` they agree.
#[must_use]
pub fn parse_proxy(value: &str) -> Option<ProxyUrl> {
    if value.is_empty() {
        return None;
    }
    let first = url::Url::parse(value);
    if let Ok(u) = &first
        && u.host_str().is_some_and(|h| !h.is_empty())
    {
        return Some(ProxyUrl::from_url(u.clone()));
    }
    if let Ok(u) = url::Url::parse(&format!("http://{value}")) {
        return Some(ProxyUrl::from_url(u));
    }
    first.ok().map(ProxyUrl::from_url)
}

// ---------------------------------------------------------------------------
// NO_PROXY
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum IpMatcher {
    Cidr { net: IpAddr, prefix: u8 },
    Ip { ip: IpAddr, port: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct DomainMatcher {
    /// Always starts with `.`.
    host: String,
    port: String,
    /// The entry had no leading `.`, so the bare name matches too.
    match_host: bool,
}

/// A compiled `NO_PROXY` value (`httpproxy` `config.init`): `*`, CIDRs,
/// IPs (optionally with port), domain suffixes (optionally with port).
/// Malformed entries are ignored, as Go does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    ips: Vec<IpMatcher>,
    domains: Vec<DomainMatcher>,
}

impl NoProxy {
    #[must_use]
    pub fn parse(value: &str) -> Self {
        let mut out = Self::default();
        for p in value.split(',') {
            let p = p.trim().to_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                // Go replaces both matcher lists and stops reading.
                return Self {
                    all: true,
                    ..Self::default()
                };
            }
            if let Some((net, prefix)) = go_parse_cidr(&p) {
                out.ips.push(IpMatcher::Cidr { net, prefix });
                continue;
            }
            let (mut phost, pport) = match crate::config::net::hostport::go_split_host_port(&p) {
                Some((h, port)) => {
                    if h.is_empty() {
                        continue;
                    }
                    let h = if h.len() >= 2 && h.starts_with('[') && h.ends_with(']') {
                        &h[1..h.len() - 1]
                    } else {
                        h
                    };
                    (h.to_owned(), port.to_owned())
                }
                None => (p.clone(), String::new()),
            };
            if let Some(ip) = go_parse_ip(&phost) {
                out.ips.push(IpMatcher::Ip { ip, port: pport });
                continue;
            }
            if phost.is_empty() {
                continue;
            }
            // `*.example.com` is the same as `.example.com`.
            if phost.starts_with("*.") {
                phost.remove(0);
            }
            let match_host = !phost.starts_with('.');
            if match_host {
                phost.insert(0, '.');
            }
            let host = idna_ascii(&phost).unwrap_or(phost);
            out.domains.push(DomainMatcher {
                host,
                port: pport,
                match_host,
            });
        }
        out
    }

    /// `httpproxy` `config.useProxy` for the canonical address of `host:port`:
    /// whether the request goes through the proxy.
    #[must_use]
    pub fn use_proxy(&self, host: &str, port: u16) -> bool {
        // canonicalAddr: url.Hostname() (brackets gone), IDNA to ASCII when it works.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = idna_ascii(host).unwrap_or_else(|| host.to_owned());
        // Go joins host and port and splits them again; a host with a bracket
        // in it fails that split, and useProxy answers "direct".
        if host.contains(['[', ']']) {
            return false;
        }
        if host == "localhost" {
            return false;
        }
        let ip = go_parse_addr(&host);
        if ip.is_some_and(go_is_loopback) {
            return false;
        }
        if self.all {
            return false;
        }
        let port = port.to_string();
        let addr = host.trim().to_lowercase();
        if let Some(ip) = ip {
            let ip = unmap(ip);
            for m in &self.ips {
                let hit = match m {
                    IpMatcher::Cidr { net, prefix } => cidr_contains(*net, *prefix, ip),
                    IpMatcher::Ip {
                        ip: want,
                        port: want_port,
                    } => unmap(*want) == ip && (want_port.is_empty() || *want_port == port),
                };
                if hit {
                    return false;
                }
            }
            // Domain matchers never match an IP host (the CVE-2025-22870 fix:
            // an IPv6 zone like `%.example.com` is not a domain suffix).
            return true;
        }
        for m in &self.domains {
            if (addr.ends_with(&m.host) || (m.match_host && addr == m.host[1..]))
                && (m.port.is_empty() || m.port == port)
            {
                return false;
            }
        }
        true
    }
}

/// Go's `idnaASCII`: ASCII passes unchanged, otherwise `idna.Lookup.ToASCII`
/// (UTS 46 with STD3 rules and hyphen checks, no DNS length check).
fn idna_ascii(v: &str) -> Option<String> {
    if v.is_ascii() {
        return Some(v.to_owned());
    }
    idna::uts46::Uts46::new()
        .to_ascii(
            v.as_bytes(),
            idna::AsciiDenyList::STD3,
            idna::uts46::Hyphens::Check,
            idna::uts46::DnsLength::Ignore,
        )
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Go's `net.ParseIP`: dotted IPv4 or IPv6, no zone.
fn go_parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// Go's `netip.ParseAddr`: like `ParseIP`, plus a non-empty IPv6 zone.
fn go_parse_addr(s: &str) -> Option<IpAddr> {
    match s.split_once('%') {
        None => go_parse_ip(s),
        Some((addr, zone)) if !zone.is_empty() => addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        Some(_) => None,
    }
}

/// Go's `net.IP.IsLoopback`: 127/8 (also IPv4-mapped) and `::1`.
fn go_is_loopback(ip: IpAddr) -> bool {
    unmap(ip).is_loopback()
}

/// Go's `net.IP` treats an IPv4-mapped IPv6 address as the IPv4 address (`To4`).
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Go's `net.ParseCIDR`, returning the masked network (as `IPNet.Contains`
/// sees it: an IPv4-mapped IPv6 network is an IPv4 network with the prefix
/// less 96) and the prefix length.
fn go_parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, mask) = s.split_once('/')?;
    let ip = go_parse_ip(addr)?;
    // dtoi: ASCII digits only, at least one, no sign.
    if mask.is_empty() || mask.len() > 3 || !mask.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = mask.parse().ok()?;
    match ip {
        IpAddr::V4(v4) => (bits <= 32).then(|| (IpAddr::V4(mask_v4(v4, bits)), bits)),
        IpAddr::V6(v6) => {
            if bits > 128 {
                return None;
            }
            let net = mask_v6(v6, bits);
            Some(match net.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), bits.saturating_sub(96)),
                None => (IpAddr::V6(net), bits),
            })
        }
    }
}

fn mask_v4(ip: Ipv4Addr, bits: u8) -> Ipv4Addr {
    let m = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits))
    };
    Ipv4Addr::from(u32::from(ip) & m)
}

fn mask_v6(ip: Ipv6Addr, bits: u8) -> Ipv6Addr {
    let m = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(bits))
    };
    Ipv6Addr::from(u128::from(ip) & m)
}

fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => mask_v4(i, prefix) == n,
        (IpAddr::V6(n), IpAddr::V6(i)) => mask_v6(i, prefix) == n,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::net::proxy::tests::env3;

    /// golang/net `http/httpproxy/proxy_test.go` `proxyForURLTests`, request URLs
    /// split into (scheme, host, port) since our callers hold endpoints, not URLs
    /// (`req` blank means `http://example.com`). The CGI case that expects an
    /// error is left out: a runtime daemon never runs as a CGI handler.
    #[test]
    fn go_proxy_for_url_table() {
        /// `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, request, wanted proxy.
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            (&'a str, &'a str, u16),
            Option<&'a str>,
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("127.0.0.1:8080", "", "", ("http", "example.com", 80), Some("http://127.0.0.1:8080")),
            ("cache.corp.example.com:1234", "", "", ("http", "example.com", 80), Some("http://cache.corp.example.com:1234")),
            ("cache.corp.example.com", "", "", ("http", "example.com", 80), Some("http://cache.corp.example.com")),
            // single label domain is recognized as scheme by url.Parse
            ("localhost", "", "", ("http", "example.com", 80), Some("http://localhost")),
            ("https://cache.corp.example.com", "", "", ("http", "example.com", 80), Some("https://cache.corp.example.com")),
            ("http://127.0.0.1:8080", "", "", ("http", "example.com", 80), Some("http://127.0.0.1:8080")),
            ("https://127.0.0.1:8080", "", "", ("http", "example.com", 80), Some("https://127.0.0.1:8080")),
            ("socks5://127.0.0.1", "", "", ("http", "example.com", 80), Some("socks5://127.0.0.1")),
            // Preserve unknown schemes.
            ("foo://host", "", "", ("http", "example.com", 80), Some("foo://host")),
            // Don't use secure for http
            ("http.proxy.tld", "secure.proxy.tld", "", ("http", "insecure.tld", 80), Some("http://http.proxy.tld")),
            // Use secure for https.
            ("http.proxy.tld", "secure.proxy.tld", "", ("https", "secure.tld", 443), Some("http://secure.proxy.tld")),
            ("http.proxy.tld", "https://secure.proxy.tld", "", ("https", "secure.tld", 443), Some("https://secure.proxy.tld")),
            ("http.proxy.tld", "", "", ("https", "secure.tld", 443), None),
            ("http.proxy.tld", "", "", ("ftp", "insecure.tld", 21), None),
            // HTTPS proxy is still used even in CGI environment.
            ("", "https://secure.proxy.tld", "", ("https", "secure.tld", 443), Some("https://secure.proxy.tld")),
            ("", "", "", ("http", "example.com", 80), None),
            ("proxy", "", "example.com", ("http", "example.com", 80), None),
            ("proxy", "", ".example.com", ("http", "example.com", 80), Some("http://proxy")),
            ("proxy", "", "ample.com", ("http", "example.com", 80), Some("http://proxy")),
            ("proxy", "", "example.com", ("http", "foo.example.com", 80), None),
            ("proxy", "", ".foo.com", ("http", "example.com", 80), Some("http://proxy")),
            ("proxy", "", ".示例.com", ("http", "www.示例.com", 80), None),
            ("proxy", "", "xn--fsq092h.com", ("http", "www.示例.com", 80), None),
            ("proxy", "", "示例.com", ("http", "www.xn--fsq092h.com", 80), None),
            // http://[1000::%25.example.com]:123: a zone is not a domain suffix.
            ("proxy", "", "example.com", ("http", "1000::%.example.com", 123), Some("http://proxy")),
        ];
        for (http, https, no, (scheme, host, port), want) in table {
            let env = env3(http, https, no);
            let got = proxy_for(&env, scheme, host, *port);
            let want = want.map(|w| ProxyUrl::parse(w).unwrap());
            assert_eq!(
                got, want,
                "http_proxy={http:?} https_proxy={https:?} no_proxy={no:?} req={scheme}://{host}:{port}"
            );
        }
    }

    const GO_NO_PROXY: &str = "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64";

    /// `proxy_test.go` `UseProxyTests` against `noProxy`, each host at port 80.
    #[rustfmt::skip]
    const GO_USE_PROXY: &[(&str, bool)] = &[
        // Never proxy localhost:
        ("localhost", false), ("127.0.0.1", false), ("127.0.0.2", false), ("[::1]", false),
        ("[::2]", true), // not a loopback address
        ("192.168.1.1", false),                // matches exact IPv4
        ("192.168.1.2", true),                 // ports do not match
        ("192.168.1.3", false),                // matches exact IPv4:port
        ("192.168.1.4", true),                 // no match
        ("10.0.0.2", false),                   // matches IPv4/CIDR
        ("[2001:db8::52:0:1]", false),         // matches exact IPv6
        ("[2001:db8::52:0:2]", true),          // no match
        ("[2001:db8::52:0:3]", false),         // matches exact [IPv6]:port
        ("[2002:db8:a::123]", false),          // matches IPv6/CIDR
        ("[fe80::424b:c8be:1643:a1b6]", true), // no match
        ("barbaz.net", true),          // does not match as .barbaz.net
        ("www.barbaz.net", false),     // does match as .barbaz.net
        ("foobar.com", false),         // does match as foobar.com
        ("www.foobar.com", false),     // match because NO_PROXY includes "foobar.com"
        ("foofoobar.com", true),       // not match as a part of foobar.com
        ("baz.com", true),             // not match as a part of barbaz.com
        ("localhost.net", true),       // not match as suffix of address
        ("local.localhost", true),     // not match as prefix as address
        ("barbarbaz.net", true),       // not match, wrong domain
        ("wildcard.io", true),         // does not match as *.wildcard.io
        ("nested.wildcard.io", false), // match as *.wildcard.io
        ("awildcard.io", true),        // not a match because of '*'
    ];

    #[test]
    fn go_use_proxy_table() {
        let np = NoProxy::parse(GO_NO_PROXY);
        for (host, want) in GO_USE_PROXY {
            assert_eq!(np.use_proxy(host, 80), *want, "useProxy({host}:80)");
        }
    }

    /// `proxy_test.go` `TestAllNoProxy`: `*` means direct for everything.
    #[test]
    fn go_all_no_proxy() {
        let np = NoProxy::parse("*");
        for (host, _) in GO_USE_PROXY {
            assert!(!np.use_proxy(host, 80), "useProxy({host}:80)");
        }
    }

    /// `proxy_test.go` `TestInvalidNoProxy`: a malformed entry is ignored, no panic.
    #[test]
    fn go_invalid_no_proxy() {
        assert!(NoProxy::parse(":1").use_proxy("example.com", 80));
    }

    #[test]
    fn no_proxy_ports_cidrs_and_mapped_addresses() {
        let np = NoProxy::parse(" registry.local:5000 , 10.1.0.0/16,::ffff:172.16.0.0/108, ,.svc");
        assert!(!np.use_proxy("registry.local", 5000));
        assert!(
            np.use_proxy("registry.local", 443),
            "port-qualified entries match only that port"
        );
        assert!(!np.use_proxy("10.1.2.3", 443));
        assert!(
            !np.use_proxy("::ffff:10.1.2.3", 443),
            "IPv4-mapped hosts match IPv4 CIDRs"
        );
        assert!(
            !np.use_proxy("172.16.3.4", 443),
            "an IPv4-mapped CIDR matches IPv4 hosts"
        );
        assert!(np.use_proxy("172.32.0.1", 443));
        assert!(!np.use_proxy("kube-dns.kube-system.svc", 443));
        assert!(
            np.use_proxy("svc", 443),
            "a leading dot matches subdomains only"
        );
        assert!(
            np.use_proxy("10.1.2.3.nip.io", 443),
            "CIDRs match IP hosts only"
        );
        assert!(
            !np.use_proxy("REGISTRY.LOCAL", 5000),
            "hosts compare case-insensitively"
        );
        assert!(
            np.use_proxy("LOCALHOST", 443),
            "Go's localhost rule is case-sensitive"
        );
        assert!(
            !np.use_proxy("::ffff:127.0.0.1", 443),
            "IPv4-mapped loopback is loopback"
        );
    }

    mod props {
        use super::super::*;
        use crate::secret::Secret;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        proptest! {
            #[test]
            fn no_proxy_never_panics(no in ".{0,200}", host in ".{0,60}", port in any::<u16>()) {
                let t = Instant::now();
                let np = NoProxy::parse(&no);
                let _ = np.use_proxy(&host, port);
                let env = ProxyEnv { http_proxy: None, https_proxy: None, no_proxy: None };
                let (h, n) = (Secret::new(host.clone()), Secret::new(no.clone()));
                let _ = proxy_for(&env.with_docker_proxies(Some(&h), Some(&n), Some(&n), "p"), "https", &host, port);
                prop_assert!(t.elapsed() < Duration::from_secs(1));
            }

            #[test]
            fn no_proxy_structured(no in "[a-z0-9.:*/,\\[\\] %-]{0,80}", host in "[a-z0-9.:%-]{0,30}") {
                let _ = NoProxy::parse(&no).use_proxy(&host, 443);
            }
        }
    }
}
