//! The runtime's proxy: which `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` the
//! container runtime daemon actually runs with, and Go's rules for applying
//! them to one registry endpoint.
//!
//! Two halves:
//!
//! * **The environment.** A daemon started by systemd gets the manager's
//!   `DefaultEnvironment=` (`/etc/systemd/system.conf` and `system.conf.d/*.conf`),
//!   then its unit's `Environment=` (unit file, then drop-ins in lexical order),
//!   then its `EnvironmentFile=`s, which override `Environment=` whatever their
//!   order in the unit (systemd.exec(5)), then `UnsetEnvironment=`.
//!   `/etc/environment` only counts when a unit names it in `EnvironmentFile=`
//!   (AKS does that for kubelet, not for containerd) or through PAM, which
//!   daemons do not use. When the daemon is running and the host's `/proc` is
//!   visible under the root, its `/proc/<pid>/environ` is the truth and the
//!   files are only the fallback.
//! * **The rules.** [`proxy_for`] is a port of `golang.org/x/net/http/httpproxy`
//!   (`proxy.go`: `FromEnvironment`, `Config.ProxyFunc`, `parseProxy`,
//!   `useProxy`, `canonicalAddr`, the matchers), which `net/http`'s
//!   `ProxyFromEnvironment` (`src/net/http/transport.go`) uses, and so do
//!   containerd, CRI-O, dockerd and k3s. Its test tables (`proxy_test.go`) are
//!   ported below as the oracle.
//!
//! Parsers take `&str`/`&[u8]` and never touch the disk; only [`discover`]
//! reads files, through [`HostRoot`]. Proxy values may carry credentials
//! (`http://user:pass@proxy:3128`): nothing here prints a proxy value
//! unredacted (`Debug` and error messages included).

use super::Source;
use crate::hostroot::HostRoot;
use crate::target::ProxyUrl;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

// ---------------------------------------------------------------------------
// The resolved proxy environment
// ---------------------------------------------------------------------------

/// One proxy variable as the runtime sees it, with where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyVar {
    /// The variable that supplied it, e.g. `HTTPS_PROXY` or `https_proxy`.
    pub name: String,
    /// The raw value. May contain credentials: show [`ProxyVar::display_value`].
    pub value: String,
    /// `<node path>:<line>`, `/proc/<pid>/environ` or `<daemon.json path> (proxies)`.
    pub source: String,
}

impl ProxyVar {
    /// The value with any user info replaced, safe for reports and logs.
    #[must_use]
    pub fn display_value(&self) -> String {
        redact_value(&self.value)
    }
}

impl fmt::Debug for ProxyVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyVar")
            .field("name", &self.name)
            .field("value", &self.display_value())
            .field("source", &self.source)
            .finish()
    }
}

/// Redact a proxy or `NO_PROXY` value: URLs lose their user info; anything
/// with an `@` that does not parse is hidden whole, since it may be a
/// credential we failed to recognise.
fn redact_value(value: &str) -> String {
    match parse_proxy(value) {
        Some(u) if value.contains('@') => u.redacted(),
        _ if value.contains('@') => "(redacted)".to_owned(),
        _ => value.to_owned(),
    }
}

/// The proxy settings the runtime resolves, after Go's `getEnvAny`
/// (upper-case name first, then lower-case; an empty value counts as unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub http_proxy: Option<ProxyVar>,
    pub https_proxy: Option<ProxyVar>,
    pub no_proxy: Option<ProxyVar>,
}

impl ProxyEnv {
    /// Resolve from a daemon's environment the way `httpproxy.FromEnvironment` does.
    #[must_use]
    pub fn from_env(env: &EnvMap) -> Self {
        let any = |names: [&str; 2]| {
            names.iter().find_map(|n| {
                env.get(n)
                    .filter(|v| !v.value.is_empty())
                    .map(|v| ProxyVar {
                        name: (*n).to_owned(),
                        value: v.value.clone(),
                        source: v.origin.clone(),
                    })
            })
        };
        Self {
            http_proxy: any(["HTTP_PROXY", "http_proxy"]),
            https_proxy: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
        }
    }

    /// Apply Docker's `daemon.json` `proxies` (`http-proxy`, `https-proxy`,
    /// `no-proxy`), parsed elsewhere. dockerd's `configureProxyEnv`
    /// (moby `cmd/dockerd/daemon.go`) sets both spellings of each variable
    /// from a non-empty value, overriding the process environment, so the
    /// file wins even over `/proc/<pid>/environ`.
    #[must_use]
    pub fn with_docker_proxies(
        mut self,
        http: Option<&str>,
        https: Option<&str>,
        no: Option<&str>,
        source: &str,
    ) -> Self {
        let set = |slot: &mut Option<ProxyVar>, name: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                *slot = Some(ProxyVar {
                    name: name.to_owned(),
                    value: v.to_owned(),
                    source: source.to_owned(),
                });
            }
        };
        set(&mut self.http_proxy, "HTTP_PROXY", http);
        set(&mut self.https_proxy, "HTTPS_PROXY", https);
        set(&mut self.no_proxy, "NO_PROXY", no);
        self
    }

    /// No proxy variable at all: every endpoint is direct.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.http_proxy.is_none() && self.https_proxy.is_none() && self.no_proxy.is_none()
    }
}

/// The proxy URL a Go runtime uses for `scheme://host:port`, or `None` for a
/// direct connection (`httpproxy` `config.proxyForURL`). `host` is a name or
/// an IP literal without brackets (an IPv6 zone `%eth0` is allowed).
#[must_use]
pub fn proxy_for(env: &ProxyEnv, scheme: &str, host: &str, port: u16) -> Option<ProxyUrl> {
    // HTTPS_PROXY only for https, HTTP_PROXY only for http; any other scheme is direct.
    // The CGI rule (REQUEST_METHOD set) cannot apply to a runtime daemon.
    let var = match scheme {
        "https" => env.https_proxy.as_ref(),
        "http" => env.http_proxy.as_ref(),
        _ => None,
    }?;
    let proxy = parse_proxy(&var.value)?;
    let no_proxy = NoProxy::parse(env.no_proxy.as_ref().map_or("", |v| v.value.as_str()));
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
            let (mut phost, pport) = match super::hostport::go_split_host_port(&p) {
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

// ---------------------------------------------------------------------------
// A process environment with provenance
// ---------------------------------------------------------------------------

/// One environment value and where it was set.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub value: String,
    pub origin: String,
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", redact_value(&self.value), self.origin)
    }
}

/// A process environment being assembled; later `set`s override earlier ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvMap {
    vars: BTreeMap<String, EnvValue>,
}

impl EnvMap {
    pub fn set(&mut self, key: &str, value: &str, origin: &str) {
        self.vars.insert(
            key.to_owned(),
            EnvValue {
                value: value.to_owned(),
                origin: origin.to_owned(),
            },
        );
    }

    pub fn unset(&mut self, key: &str) {
        self.vars.remove(key);
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&EnvValue> {
        self.vars.get(key)
    }

    /// k3s hands its embedded containerd `CONTAINERD_X` as `X`, overriding the
    /// inherited `X` (k3s-io/k3s#3553; `os/exec` keeps the last duplicate).
    fn apply_k3s_containerd_prefix(&mut self) {
        let prefixed: Vec<(String, EnvValue)> = self
            .vars
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("CONTAINERD_")
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_owned(), v.clone()))
            })
            .collect();
        self.vars.extend(prefixed);
    }
}

// ---------------------------------------------------------------------------
// Parsers: systemd and /proc
// ---------------------------------------------------------------------------

/// An `Environment=`/`DefaultEnvironment=`/`EnvironmentFile` assignment and
/// its 1-based line.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvAssignment {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl fmt::Debug for EnvAssignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} (line {})",
            self.key,
            redact_value(&self.value),
            self.line
        )
    }
}

/// An `EnvironmentFile=` entry: a node path (specifiers not yet expanded),
/// `optional` when written with a leading `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFileRef {
    pub path: String,
    pub optional: bool,
    pub line: usize,
}

/// The environment directives of one unit file or drop-in (or of a
/// `system.conf` file, where `DefaultEnvironment=` fills `environment`).
///
/// In systemd an empty assignment (`Environment=`) empties the list built so
/// far, including what earlier files added; the `*_reset` flags say this file
/// did so, and the lists hold what came after the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitEnv {
    pub environment_reset: bool,
    pub environment: Vec<EnvAssignment>,
    pub environment_files_reset: bool,
    pub environment_files: Vec<EnvFileRef>,
    pub unset_reset: bool,
    /// `UnsetEnvironment=` words: `NAME` or `NAME=VALUE` (only that exact value).
    pub unset: Vec<String>,
    /// Problems with their line; never containing values.
    pub errors: Vec<(usize, String)>,
}

/// Split an `Environment=` value into assignments, as systemd's
/// `config_parse_environ` does: words by `extract_first_word` with
/// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE` (`src/basic/extract-word.c`): single
/// and double quotes anywhere in a word, C escapes (`\n`, `\x41`, `\u00e9`,
/// `\101`, `\s`...) in and out of quotes, whitespace separates. Words that
/// are not valid `NAME=VALUE` assignments are skipped; at a syntax error
/// (unbalanced quote, bad escape, trailing backslash) systemd ignores the rest
/// of the line but keeps what it already parsed, and so does this.
#[must_use]
pub fn parse_systemd_environment(value: &str) -> Vec<(String, String)> {
    parse_environ_words(value).0
}

fn parse_environ_words(value: &str) -> (Vec<(String, String)>, Option<&'static str>) {
    let mut out = Vec::new();
    let mut rest = value.as_bytes();
    loop {
        match extract_first_word(&mut rest) {
            Err(e) => return (out, Some(e)),
            Ok(None) => return (out, None),
            Ok(Some(word)) => {
                // A raw byte from `\x..`/octal that is not UTF-8 fails env_value_is_valid.
                let Ok(word) = String::from_utf8(word) else {
                    continue;
                };
                if let Some((k, v)) = word.split_once('=')
                    && env_name_is_valid(k)
                    && env_value_is_valid(v)
                {
                    out.push((k.to_owned(), v.to_owned()));
                }
            }
        }
    }
}

const WHITESPACE: &[u8] = b" \t\n\r";

/// `extract_first_word(p, &word, NULL, EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)`.
fn extract_first_word(p: &mut &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let start = p.iter().position(|c| !WHITESPACE.contains(c));
    let Some(start) = start else {
        *p = &[];
        return Ok(None);
    };
    let mut s = &p[start..];
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some((&c, tail)) = s.split_first() else {
            if quote.is_some() {
                return Err("unbalanced quotes");
            }
            *p = &[];
            return Ok(Some(word));
        };
        match (quote, c) {
            (_, b'\\') => {
                if tail.is_empty() {
                    return Err("trailing backslash");
                }
                let (bytes, used) = cunescape_one(tail).ok_or("invalid escape")?;
                word.extend_from_slice(&bytes);
                s = &tail[used..];
            }
            (Some(q), c) if c == q => {
                quote = None;
                s = tail;
            }
            (None, b'\'' | b'"') => {
                quote = Some(c);
                s = tail;
            }
            (None, c) if WHITESPACE.contains(&c) => {
                *p = tail;
                return Ok(Some(word));
            }
            (_, c) => {
                word.push(c);
                s = tail;
            }
        }
    }
}

/// systemd's `cunescape_one` (`src/basic/escape.c`): the bytes one escape
/// (after the backslash) stands for, and how many input bytes it used.
fn cunescape_one(p: &[u8]) -> Option<(Vec<u8>, usize)> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let simple = match p[0] {
        b'a' => Some(7u8),
        b'b' => Some(8),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b's' => Some(b' '),
        _ => None,
    };
    if let Some(b) = simple {
        return Some((vec![b], 1));
    }
    match p[0] {
        b'x' => {
            let hi = hex(*p.get(1)?)?;
            let lo = hex(*p.get(2)?)?;
            // systemd refuses NUL bytes.
            if hi == 0 && lo == 0 {
                return None;
            }
            Some((vec![(hi * 16 + lo) as u8], 3))
        }
        b'u' | b'U' => {
            let n = if p[0] == b'u' { 4 } else { 8 };
            let digits = p.get(1..=n)?;
            let mut v = 0u32;
            for d in digits {
                v = v * 16 + hex(*d)?;
            }
            if v == 0 {
                return None;
            }
            let c = char::from_u32(v)?;
            Some((c.to_string().into_bytes(), n + 1))
        }
        b'0'..=b'7' => {
            let oct = |b: u8| (b'0'..=b'7').contains(&b).then(|| u32::from(b - b'0'));
            let mut m = 0u32;
            for d in p.get(..3)? {
                m = (m << 3) | oct(*d)?;
            }
            if m == 0 || m > 255 {
                return None;
            }
            Some((vec![m as u8], 3))
        }
        _ => None,
    }
}

/// `env_name_is_valid`: `[A-Za-z_][A-Za-z0-9_]*`.
fn env_name_is_valid(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `env_value_is_valid`: no control characters other than tab and newline.
fn env_value_is_valid(v: &str) -> bool {
    !v.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
}

/// One `key=value` line of a systemd ini file, after continuation joining.
struct IniEntry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// systemd's `config_parse` line handling (`src/shared/conf-parser.c`):
/// `#`/`;` comment lines (skipped even inside a continuation), a trailing
/// odd backslash joins the next line (the backslash becomes a space),
/// `[Section]` headers, `Key=Value` with both sides stripped.
fn parse_ini(text: &str, errors: &mut Vec<(usize, String)>) -> Vec<IniEntry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut continuation: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let raw = if idx == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        if raw
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with(['#', ';'])
        {
            continue;
        }
        let mut joined = match continuation.take() {
            Some(mut c) => {
                c.push_str(raw);
                c
            }
            None => raw.to_owned(),
        };
        let mut escaped = false;
        for b in joined.bytes() {
            escaped = !escaped && b == b'\\';
        }
        if escaped {
            joined.pop();
            joined.push(' ');
            continuation = Some(joined);
            continue;
        }
        let l = joined.trim_matches([' ', '\t', '\n', '\r']);
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) => name.clone_into(&mut section),
                None => errors.push((line_no, "invalid section header".to_owned())),
            }
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            errors.push((line_no, "missing '=', line ignored".to_owned()));
            continue;
        };
        out.push(IniEntry {
            section: section.clone(),
            key: k.trim_matches([' ', '\t', '\n', '\r']).to_owned(),
            value: v.trim_matches([' ', '\t', '\n', '\r']).to_owned(),
            line: line_no,
        });
    }
    if let Some(c) = continuation {
        // systemd parses a dangling continuation at EOF as it stands.
        if let Some((k, v)) = c.trim().split_once('=') {
            out.push(IniEntry {
                section,
                key: k.trim().to_owned(),
                value: v.trim().to_owned(),
                line: text.lines().count(),
            });
        }
    }
    out
}

fn push_environ(env: &mut UnitEnv, directive: &str, value: &str, line: usize) {
    if value.is_empty() {
        env.environment_reset = true;
        env.environment.clear();
        return;
    }
    let (pairs, err) = parse_environ_words(value);
    env.environment
        .extend(
            pairs
                .into_iter()
                .map(|(key, value)| EnvAssignment { key, value, line }),
        );
    if let Some(e) = err {
        env.errors
            .push((line, format!("{directive}=: {e}, rest of the line ignored")));
    }
}

/// The `[Service]` environment directives of a unit file or drop-in:
/// `Environment=`, `EnvironmentFile=` (`-` prefix: optional; the value is a
/// path, not word-split) and `UnsetEnvironment=`.
#[must_use]
pub fn parse_unit_file(text: &str) -> UnitEnv {
    let mut env = UnitEnv::default();
    let entries = parse_ini(text, &mut env.errors);
    for e in entries.into_iter().filter(|e| e.section == "Service") {
        match e.key.as_str() {
            "Environment" => push_environ(&mut env, "Environment", &e.value, e.line),
            "EnvironmentFile" => {
                if e.value.is_empty() {
                    env.environment_files_reset = true;
                    env.environment_files.clear();
                    continue;
                }
                let (optional, path) = match e.value.strip_prefix('-') {
                    Some(p) => (true, p),
                    None => (false, e.value.as_str()),
                };
                if path.starts_with('/') || path.starts_with('%') {
                    env.environment_files.push(EnvFileRef {
                        path: path.to_owned(),
                        optional,
                        line: e.line,
                    });
                } else {
                    env.errors.push((
                        e.line,
                        "EnvironmentFile= path is not absolute, ignored".to_owned(),
                    ));
                }
            }
            "UnsetEnvironment" => {
                if e.value.is_empty() {
                    env.unset_reset = true;
                    env.unset.clear();
                    continue;
                }
                let mut rest = e.value.as_bytes();
                loop {
                    match extract_first_word(&mut rest) {
                        Ok(Some(w)) => env.unset.push(String::from_utf8_lossy(&w).into_owned()),
                        Ok(None) => break,
                        Err(err) => {
                            env.errors.push((
                                e.line,
                                format!("UnsetEnvironment=: {err}, rest of the line ignored"),
                            ));
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    env.errors.sort_by_key(|e| e.0);
    env
}

/// `DefaultEnvironment=` of `[Manager]` in `system.conf` or a
/// `system.conf.d/*.conf` drop-in (same syntax as `Environment=`).
#[must_use]
pub fn parse_system_conf(text: &str) -> UnitEnv {
    let mut env = UnitEnv::default();
    let entries = parse_ini(text, &mut env.errors);
    for e in entries
        .into_iter()
        .filter(|e| e.section == "Manager" && e.key == "DefaultEnvironment")
    {
        push_environ(&mut env, "DefaultEnvironment", &e.value, e.line);
    }
    env
}

/// An `EnvironmentFile=` file, per systemd's `parse_env_file_internal`
/// (`src/basic/env-file.c`): `KEY=VALUE` lines, `#`/`;` comments at line
/// start, single quotes (literal), double quotes (backslash escapes only
/// `"` `\` `` ` `` `$`), unquoted values with backslash escapes and trailing
/// whitespace trimmed, backslash-newline continuations. Keys that are not
/// valid names (so `export FOO=bar`, whose key is `export FOO`) are dropped,
/// as `strv_env_clean` does: there is no `export` support.
#[must_use]
pub fn parse_environment_file(text: &str) -> Vec<EnvAssignment> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }
    let mut out = Vec::new();
    let mut st = St::PreKey;
    let mut key = String::new();
    let mut value = String::new();
    let mut last_key_ws: Option<usize> = None;
    let mut last_value_ws: Option<usize> = None;
    let mut line = 1usize;
    let mut key_line = 1usize;
    let push = |out: &mut Vec<EnvAssignment>, key: &str, value: &str, line: usize| {
        if env_name_is_valid(key) && env_value_is_valid(value) {
            out.push(EnvAssignment {
                key: key.to_owned(),
                value: value.to_owned(),
                line,
            });
        }
    };
    let is_nl = |c: char| c == '\n' || c == '\r';
    let is_ws = |c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r';
    for c in text.chars() {
        match st {
            St::PreKey => {
                if c == '#' || c == ';' {
                    st = St::Comment;
                } else if !is_ws(c) {
                    st = St::Key;
                    last_key_ws = None;
                    key_line = line;
                    key.push(c);
                } else if is_nl(c) {
                    line += 1;
                }
            }
            St::Key => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    key.clear();
                } else if c == '=' {
                    st = St::PreValue;
                    last_value_ws = None;
                } else {
                    if !is_ws(c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            St::PreValue => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    if let Some(n) = last_key_ws {
                        key.truncate(n);
                    }
                    push(&mut out, &key, &value, key_line);
                    key.clear();
                    value.clear();
                } else if c == '\'' {
                    st = St::SingleQuote;
                } else if c == '"' {
                    st = St::DoubleQuote;
                } else if c == '\\' {
                    st = St::ValueEscape;
                } else if !is_ws(c) {
                    st = St::Value;
                    value.push(c);
                }
            }
            St::Value => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    if let Some(n) = last_value_ws {
                        value.truncate(n);
                    }
                    if let Some(n) = last_key_ws {
                        key.truncate(n);
                    }
                    push(&mut out, &key, &value, key_line);
                    key.clear();
                    value.clear();
                } else if c == '\\' {
                    st = St::ValueEscape;
                    last_value_ws = None;
                } else {
                    if !is_ws(c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            St::ValueEscape => {
                st = St::Value;
                if is_nl(c) {
                    line += 1;
                } else {
                    value.push(c);
                }
            }
            St::SingleQuote => {
                if c == '\'' {
                    st = St::PreValue;
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    value.push(c);
                }
            }
            St::DoubleQuote => {
                if c == '"' {
                    st = St::PreValue;
                } else if c == '\\' {
                    st = St::DoubleQuoteEscape;
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    value.push(c);
                }
            }
            St::DoubleQuoteEscape => {
                st = St::DoubleQuote;
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push(c);
                } else if c == '\n' {
                    line += 1;
                } else {
                    // Like the shell, keep the backslash before other characters.
                    value.push('\\');
                    value.push(c);
                }
            }
            St::Comment => {
                if c == '\\' {
                    st = St::CommentEscape;
                } else if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                }
            }
            St::CommentEscape => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                } else {
                    st = St::Comment;
                }
            }
        }
    }
    if matches!(
        st,
        St::PreValue
            | St::Value
            | St::ValueEscape
            | St::SingleQuote
            | St::DoubleQuote
            | St::DoubleQuoteEscape
    ) {
        if st == St::Value
            && let Some(n) = last_value_ws
        {
            value.truncate(n);
        }
        if let Some(n) = last_key_ws {
            key.truncate(n);
        }
        push(&mut out, &key, &value, key_line);
    }
    out
}

/// `/proc/<pid>/environ`: NUL-separated `KEY=VALUE`. A Go process reads its
/// environment with `syscall.copyenv`, where the first of duplicate keys
/// wins, so later duplicates are dropped here.
#[must_use]
pub fn parse_proc_environ(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in bytes.split(|b| *b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((k, v)) = entry.split_once('=')
            && !k.is_empty()
            && !out.iter().any(|(ok, _)| ok == k)
        {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// systemd's system unit search path, highest priority first (systemd.unit(5)).
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// `system.conf` drop-in directories, highest priority first (systemd-system.conf(5)).
const SYSTEM_CONF_DIRS: &[&str] = &[
    "/etc/systemd/system.conf.d",
    "/run/systemd/system.conf.d",
    "/usr/local/lib/systemd/system.conf.d",
    "/usr/lib/systemd/system.conf.d",
];

/// The systemd units and process names (`/proc/<pid>/comm`) of a runtime.
fn runtime_units(runtime: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match runtime {
        "containerd" => (&["containerd.service"], &["containerd"]),
        "crio" | "cri-o" => (&["crio.service", "cri-o.service"], &["crio"]),
        "docker" => (&["docker.service"], &["dockerd"]),
        "k3s" => (
            &["k3s.service", "k3s-agent.service"],
            &["k3s", "k3s-server", "k3s-agent"],
        ),
        _ => (&[], &[]),
    }
}

/// `.conf` files of the given node directories, one per file name (the
/// higher-priority directory wins), in lexical order of file name.
fn dropins(root: &HostRoot, dirs: &[String], sources: &mut Vec<Source>) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in dirs {
        match root.read_dir(dir) {
            Ok(entries) => {
                for p in entries {
                    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    // systemd's conf_files_list matches the suffix case-sensitively too.
                    if Path::new(name).extension().is_some_and(|e| e == "conf") {
                        by_name
                            .entry(name.to_owned())
                            .or_insert_with(|| p.to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) => sources.push(Source::error(
                dir.clone(),
                "proxy",
                format!("cannot list directory: {e}"),
            )),
        }
    }
    by_name.into_values().collect()
}

/// Read one node file for discovery; a missing file is `None` without a Source.
fn read_node(root: &HostRoot, path: &str, sources: &mut Vec<Source>) -> Option<String> {
    match root.read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            sources.push(Source::error(path, "proxy", format!("cannot read: {e}")));
            None
        }
    }
}

fn errors_source(path: &str, errors: &[(usize, String)]) -> Source {
    if errors.is_empty() {
        Source::ok(path, "proxy")
    } else {
        let joined: Vec<String> = errors
            .iter()
            .map(|(l, m)| format!("line {l}: {m}"))
            .collect();
        Source::error(path, "proxy", joined.join("; "))
    }
}

/// systemd specifiers that can appear in these paths and values (systemd.unit(5)
/// "Specifiers"); `None` for one we do not know, which systemd would resolve
/// from the running system.
fn expand_specifiers(s: &str, unit: &str) -> Option<String> {
    let full = unit;
    let stem = unit.rsplit_once('.').map_or(unit, |(a, _)| a);
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let rep = match chars.next()? {
            '%' => "%",
            'n' => full,
            'N' => stem,
            'p' => prefix,
            'i' | 'I' => instance,
            't' => "/run",
            'E' => "/etc",
            'S' => "/var/lib",
            'C' => "/var/cache",
            'L' => "/var/log",
            'T' => "/tmp",
            'V' => "/var/tmp",
            _ => return None,
        };
        out.push_str(rep);
    }
    Some(out)
}

/// The proxy environment of `runtime` (`containerd`, `crio`, `docker`, `k3s`)
/// on the node under `root`, and every file consulted (kind `proxy`).
///
/// The running daemon's `/proc/<pid>/environ` wins when the host's `/proc` is
/// visible at `<root>/proc`; otherwise the environment systemd would build
/// from the unit files. Docker's `daemon.json` `proxies` are applied by the
/// caller with [`ProxyEnv::with_docker_proxies`].
#[must_use]
pub fn discover(root: &HostRoot, runtime: &str) -> (ProxyEnv, Vec<Source>) {
    let mut sources = Vec::new();
    let mut env = systemd_env(root, runtime, &mut sources);
    if let Some(proc_env) = proc_env(root, runtime, &mut sources) {
        env = proc_env;
    }
    (ProxyEnv::from_env(&env), sources)
}

/// The environment systemd would give the runtime's unit.
fn systemd_env(root: &HostRoot, runtime: &str, sources: &mut Vec<Source>) -> EnvMap {
    let mut env = EnvMap::default();

    // The manager's DefaultEnvironment=: system.conf, then its drop-ins.
    let conf_dirs: Vec<String> = SYSTEM_CONF_DIRS.iter().map(|d| (*d).to_owned()).collect();
    let mut manager_files = vec!["/etc/systemd/system.conf".to_owned()];
    manager_files.extend(dropins(root, &conf_dirs, sources));
    let mut defaults: Vec<(EnvAssignment, String)> = Vec::new();
    for path in manager_files {
        let Some(text) = read_node(root, &path, sources) else {
            continue;
        };
        let parsed = parse_system_conf(&text);
        if parsed.environment_reset {
            defaults.clear();
        }
        defaults.extend(parsed.environment.into_iter().map(|a| (a, path.clone())));
        sources.push(errors_source(&path, &parsed.errors));
    }
    for (a, path) in &defaults {
        env.set(&a.key, &a.value, &format!("{path}:{}", a.line));
    }

    // The unit: the first of the runtime's units that has any file.
    let (units, _) = runtime_units(runtime);
    for unit in units {
        let unit_file = UNIT_DIRS
            .iter()
            .map(|d| format!("{d}/{unit}"))
            .find(|p| root.resolve(p).is_file());
        let mut dropin_dirs = Vec::new();
        let stem = unit.trim_end_matches(".service");
        for d in UNIT_DIRS {
            dropin_dirs.push(format!("{d}/{unit}.d"));
            // Prefix drop-ins (`k3s-.service.d` for `k3s-agent.service`) and the
            // type-wide `service.d`, systemd >= 246.
            let mut cut = stem;
            while let Some((head, _)) = cut.rsplit_once('-') {
                dropin_dirs.push(format!("{d}/{head}-.service.d"));
                cut = head;
            }
            dropin_dirs.push(format!("{d}/service.d"));
        }
        let dropin_files = dropins(root, &dropin_dirs, sources);
        if unit_file.is_none() && dropin_files.is_empty() {
            continue;
        }
        apply_unit(
            root,
            unit,
            unit_file.into_iter().chain(dropin_files),
            &mut env,
            sources,
        );
        break;
    }
    if runtime == "k3s" {
        env.apply_k3s_containerd_prefix();
    }
    env
}

/// Merge a unit's files in order and apply `Environment=`, then the
/// `EnvironmentFile=`s, then `UnsetEnvironment=` (systemd's exec order).
fn apply_unit(
    root: &HostRoot,
    unit: &str,
    files: impl Iterator<Item = String>,
    env: &mut EnvMap,
    sources: &mut Vec<Source>,
) {
    let mut assigns: Vec<(EnvAssignment, String)> = Vec::new();
    let mut env_files: Vec<(EnvFileRef, String)> = Vec::new();
    let mut unset: Vec<String> = Vec::new();
    for path in files {
        let Some(text) = read_node(root, &path, sources) else {
            continue;
        };
        let parsed = parse_unit_file(&text);
        if parsed.environment_reset {
            assigns.clear();
        }
        if parsed.environment_files_reset {
            env_files.clear();
        }
        if parsed.unset_reset {
            unset.clear();
        }
        assigns.extend(parsed.environment.into_iter().map(|a| (a, path.clone())));
        env_files.extend(
            parsed
                .environment_files
                .into_iter()
                .map(|f| (f, path.clone())),
        );
        unset.extend(parsed.unset);
        sources.push(errors_source(&path, &parsed.errors));
    }
    for (a, path) in &assigns {
        let origin = format!("{path}:{}", a.line);
        // Specifiers are resolved in Environment= values; an unknown one makes
        // systemd drop the assignment.
        if let Some(v) = expand_specifiers(&a.value, unit) {
            env.set(&a.key, &v, &origin);
        }
    }
    for (f, unit_path) in &env_files {
        let Some(path) = expand_specifiers(&f.path, unit) else {
            sources.push(Source::error(
                unit_path.clone(),
                "proxy",
                format!(
                    "line {}: EnvironmentFile= uses an unknown specifier",
                    f.line
                ),
            ));
            continue;
        };
        match root.read_to_string(&path) {
            Ok(text) => {
                for a in parse_environment_file(&text) {
                    env.set(&a.key, &a.value, &format!("{path}:{}", a.line));
                }
                sources.push(Source::ok(path, "proxy"));
            }
            Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let why = if f.optional {
                    format!("cannot read: {e}")
                } else {
                    format!(
                        "cannot read: {e} (required by {unit_path}:{}; the unit fails to start)",
                        f.line
                    )
                };
                sources.push(Source::error(path, "proxy", why));
            }
        }
    }
    for u in &unset {
        match u.split_once('=') {
            Some((k, v)) => {
                if env.get(k).is_some_and(|cur| cur.value == v) {
                    env.unset(k);
                }
            }
            None => env.unset(u),
        }
    }
}

/// The running runtime's environment from `<root>/proc/<pid>/environ`.
fn proc_env(root: &HostRoot, runtime: &str, sources: &mut Vec<Source>) -> Option<EnvMap> {
    let (_, comms) = runtime_units(runtime);
    if comms.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = root
        .read_dir("/proc")
        .ok()?
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let pid = pids.into_iter().find(|pid| {
        root.read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
            .is_ok_and(|c| comms.contains(&c.trim_end_matches('\n')))
    })?;
    let path = format!("/proc/{pid}/environ");
    match root.read(&path) {
        Ok(bytes) => {
            let mut env = EnvMap::default();
            for (k, v) in parse_proc_environ(&bytes) {
                env.set(&k, &v, &path);
            }
            if runtime == "k3s" {
                env.apply_k3s_containerd_prefix();
            }
            sources.push(Source::ok(path, "proxy"));
            Some(env)
        }
        Err(e) => {
            sources.push(Source::error(
                path,
                "proxy",
                format!("cannot read: {e}; using the unit files instead"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> ProxyVar {
        ProxyVar {
            name: name.to_owned(),
            value: value.to_owned(),
            source: "test".to_owned(),
        }
    }

    fn env3(http: &str, https: &str, no: &str) -> ProxyEnv {
        let opt = |n: &str, v: &str| if v.is_empty() { None } else { Some(var(n, v)) };
        ProxyEnv {
            http_proxy: opt("HTTP_PROXY", http),
            https_proxy: opt("HTTPS_PROXY", https),
            no_proxy: opt("NO_PROXY", no),
        }
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../shared/fixtures/proxy/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

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

    /// `proxy_test.go` `TestFromEnvironment`/`...LowerCase`, plus `getEnvAny`'s
    /// "empty counts as unset" and the upper-case-first order.
    #[test]
    fn from_env_prefers_upper_case_and_skips_empty() {
        let mut e = EnvMap::default();
        e.set("HTTP_PROXY", "httpproxy", "a:1");
        e.set("HTTPS_PROXY", "httpsproxy", "a:2");
        e.set("NO_PROXY", "noproxy", "a:3");
        let p = ProxyEnv::from_env(&e);
        assert_eq!(p.http_proxy.as_ref().unwrap().value, "httpproxy");
        assert_eq!(p.https_proxy.as_ref().unwrap().source, "a:2");
        assert_eq!(p.no_proxy.as_ref().unwrap().value, "noproxy");

        let mut e = EnvMap::default();
        e.set("http_proxy", "lower", "b:1");
        e.set("HTTPS_PROXY", "", "b:2");
        e.set("https_proxy", "lower-s", "b:3");
        e.set("HTTP_PROXY", "UPPER", "b:4");
        let p = ProxyEnv::from_env(&e);
        assert_eq!(p.http_proxy.unwrap().name, "HTTP_PROXY");
        let s = p.https_proxy.unwrap();
        assert_eq!(
            (s.name.as_str(), s.value.as_str()),
            ("https_proxy", "lower-s")
        );
        assert!(p.no_proxy.is_none());
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

    #[test]
    fn docker_daemon_json_overrides() {
        let env = env3("http://env:1", "http://env:2", "a.example").with_docker_proxies(
            None,
            Some("http://json:3128"),
            Some(""),
            "/etc/docker/daemon.json (proxies)",
        );
        assert_eq!(env.http_proxy.unwrap().value, "http://env:1");
        let https = env.https_proxy.unwrap();
        assert_eq!(
            (https.value.as_str(), https.source.as_str()),
            ("http://json:3128", "/etc/docker/daemon.json (proxies)")
        );
        assert_eq!(
            env.no_proxy.unwrap().value,
            "a.example",
            "an empty no-proxy leaves the environment alone"
        );
    }

    #[test]
    fn debug_never_shows_proxy_credentials() {
        let env = env3("http://bob:s3cret@proxy:3128", "bob:s3cret@proxy:3128", "");
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("bob"),
            "{shown}"
        );
        assert!(shown.contains("proxy:3128"), "{shown}");
        let mut m = EnvMap::default();
        m.set("HTTPS_PROXY", "http://u:hunter2@p:1", "x:1");
        assert!(!format!("{m:?}").contains("hunter2"));
        let a = parse_systemd_environment("HTTPS_PROXY=http://u:hunter2@p:1");
        assert_eq!(a[0].1, "http://u:hunter2@p:1");
        let u = parse_unit_file("[Service]\nEnvironment=HTTPS_PROXY=http://u:hunter2@p:1 \"BROKEN");
        assert!(!format!("{u:?}").contains("hunter2"));
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn systemd_environment_quoting() {
        #[rustfmt::skip]
        let table: &[(&str, &[(&str, &str)])] = &[
            // systemd.exec(5)'s own example.
            ("VAR1=word1 VAR2=word2 VAR3=$word 5 6", &[("VAR1", "word1"), ("VAR2", "word2"), ("VAR3", "$word")]),
            (r#""VAR1=word1 word2" VAR2=word3 "VAR3=word 5 6""#, &[("VAR1", "word1 word2"), ("VAR2", "word3"), ("VAR3", "word 5 6")]),
            (r#"A='single "kept"' B="double 'kept'""#, &[("A", r#"single "kept""#), ("B", "double 'kept'")]),
            (r#"A=x\sy B="tab\there" C=\x41\101\u00e9"#, &[("A", "x y"), ("B", "tab\there"), ("C", "AAé")]),
            // `\ ` is not one of systemd's escapes (`\s` is): the line is rejected.
            (r"A=one\ word", &[]),
            ("  \tA=1\t\tB=2  ", &[("A", "1"), ("B", "2")]),
            ("A=", &[("A", "")]),
            // Not assignments, or invalid names: skipped, the rest still counts.
            ("novalue 1BAD=x BAD-NAME=y =z GOOD=ok", &[("GOOD", "ok")]),
            // Syntax errors: what came before stays, the rest is ignored.
            (r#"A=1 "B=unterminated C=3"#, &[("A", "1")]),
            (r"A=1 B=\q C=3", &[("A", "1")]),
            (r"A=1 B=trailing\", &[("A", "1")]),
            (r"A=\x00", &[]),
            // A raw non-UTF-8 byte makes the value invalid.
            (r"A=\xff B=2", &[("B", "2")]),
            ("", &[]),
        ];
        for (input, want) in table {
            assert_eq!(parse_systemd_environment(input), pairs(want), "{input:?}");
        }
    }

    #[test]
    fn unit_file_sections_resets_and_files() {
        let text = "# comment\n[Unit]\nEnvironment=IGNORED=1\n[Service]\nEnvironment=A=1\nEnvironment=B=2 \\\n  C=3\n; c\nEnvironment=\nEnvironment=D=4\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=/etc/environment\nEnvironmentFile=relative\nUnsetEnvironment=X Y=1\nbroken line\n";
        let u = parse_unit_file(text);
        assert!(u.environment_reset);
        assert_eq!(
            u.environment,
            vec![EnvAssignment {
                key: "D".into(),
                value: "4".into(),
                line: 10
            }]
        );
        assert_eq!(
            u.environment_files,
            vec![
                EnvFileRef {
                    path: "/etc/default/%N".into(),
                    optional: true,
                    line: 11
                },
                EnvFileRef {
                    path: "/etc/environment".into(),
                    optional: false,
                    line: 12
                }
            ]
        );
        assert_eq!(u.unset, vec!["X".to_owned(), "Y=1".to_owned()]);
        let lines: Vec<usize> = u.errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![13, 15]);

        let u = parse_unit_file("[Service]\nEnvironment=B=2 \\\n# skipped\n  C=3\n");
        let got: Vec<(&str, &str, usize)> = u
            .environment
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(
            got,
            vec![("B", "2", 4), ("C", "3", 4)],
            "continuations skip comment lines"
        );
    }

    #[test]
    fn environment_file_rules() {
        let text = "# comment\n; also\nPLAIN=value   \nexport EXPORTED=no\nSQ='a \"b\" $c'\nDQ=\"x \\\"y\\\" \\$z \\n\"\n  SPACED = v w  \nCONT=one\\\ntwo\nEMPTY=\nnoequals\nESC=a\\ b\n1BAD=x\n";
        let got: Vec<(String, String, usize)> = parse_environment_file(text)
            .into_iter()
            .map(|a| (a.key, a.value, a.line))
            .collect();
        let want: Vec<(String, String, usize)> = [
            ("PLAIN", "value", 3),
            ("SQ", "a \"b\" $c", 5),
            ("DQ", "x \"y\" $z \\n", 6),
            ("SPACED", "v w", 7),
            ("CONT", "onetwo", 8),
            ("EMPTY", "", 10),
            ("ESC", "a b", 12),
        ]
        .iter()
        .map(|(k, v, l)| ((*k).to_owned(), (*v).to_owned(), *l))
        .collect();
        assert_eq!(got, want);
        // No trailing newline, quoted value at EOF.
        assert_eq!(parse_environment_file("A=\"x y\"").len(), 1);
    }

    #[test]
    fn proc_environ_first_duplicate_wins() {
        let got = parse_proc_environ(
            b"PATH=/bin\0HTTP_PROXY=http://a:1\0junk\0HTTP_PROXY=http://b:2\0EQ=a=b\0",
        );
        assert_eq!(
            got,
            pairs(&[
                ("PATH", "/bin"),
                ("HTTP_PROXY", "http://a:1"),
                ("EQ", "a=b")
            ])
        );
        assert!(parse_proc_environ(b"").is_empty());
    }

    #[test]
    fn fixture_kubespray_containerd_dropin() {
        let u = parse_unit_file(&fixture("kubespray-containerd.service.d-http-proxy.conf"));
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        let got: Vec<(&str, &str, usize)> = u
            .environment
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("HTTP_PROXY", "http://proxy.example.com:3128", 2),
                ("HTTPS_PROXY", "http://proxy.example.com:3128", 2),
                (
                    "NO_PROXY",
                    "localhost,127.0.0.1,10.233.0.0/18,10.233.64.0/18,.svc,.cluster.local",
                    2
                ),
            ]
        );
    }

    #[test]
    fn fixture_aks_system_conf_d() {
        let u = parse_system_conf(&fixture("aks-system.conf.d-proxy.conf"));
        assert!(u.errors.is_empty());
        assert_eq!(u.environment.len(), 6);
        assert_eq!(u.environment[2].key, "HTTPS_PROXY");
        assert_eq!(
            (u.environment[2].value.as_str(), u.environment[2].line),
            ("http://10.0.0.4:3128/", 4)
        );
        // A unit parser must not take DefaultEnvironment= from [Manager].
        assert!(
            parse_unit_file(&fixture("aks-system.conf.d-proxy.conf"))
                .environment
                .is_empty()
        );
    }

    fn write(root: &Path, node: &str, contents: &[u8]) {
        let p = root.join(node.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    #[test]
    fn discover_aks_default_environment_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "/etc/systemd/system.conf.d/proxy.conf",
            fixture("aks-system.conf.d-proxy.conf").as_bytes(),
        );
        write(
            dir.path(),
            "/lib/systemd/system/containerd.service",
            b"[Service]\nExecStart=/usr/bin/containerd\n",
        );
        let (env, sources) = discover(&HostRoot::new(dir.path()), "containerd");
        let https = env.https_proxy.clone().unwrap();
        assert_eq!(https.source, "/etc/systemd/system.conf.d/proxy.conf:4");
        assert_eq!(https.name, "HTTPS_PROXY");
        assert!(
            sources.iter().any(
                |s| s.path == "/lib/systemd/system/containerd.service" && s.message().is_none()
            )
        );
        let proxy = ProxyUrl::parse("http://10.0.0.4:3128/").unwrap();
        assert_eq!(
            proxy_for(&env, "https", "myregistry.azurecr.io", 443),
            Some(proxy)
        );
        assert_eq!(proxy_for(&env, "https", "mcr.microsoft.com", 443), None);
        assert_eq!(proxy_for(&env, "https", "10.224.3.4", 443), None);
        assert_eq!(proxy_for(&env, "https", "registry.default.svc", 443), None);
        assert_eq!(proxy_for(&env, "https", "169.254.169.254", 80), None);
    }

    #[test]
    fn discover_dropin_then_environ_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            "/lib/systemd/system/containerd.service",
            b"[Service]\nEnvironment=HTTP_PROXY=http://unit:1\n",
        );
        write(
            dir.path(),
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            fixture("kubespray-containerd.service.d-http-proxy.conf").as_bytes(),
        );
        write(
            dir.path(),
            "/etc/systemd/system/containerd.service.d/zz-no.conf",
            b"[Service]\nEnvironment=\"NO_PROXY=.later\"\n",
        );

        let (env, sources) = discover(&root, "containerd");
        let http = env.http_proxy.unwrap();
        assert_eq!(
            http.value, "http://proxy.example.com:3128",
            "drop-ins override the unit file"
        );
        assert_eq!(
            http.source,
            "/etc/systemd/system/containerd.service.d/http-proxy.conf:2"
        );
        assert_eq!(
            env.no_proxy.unwrap().source,
            "/etc/systemd/system/containerd.service.d/zz-no.conf:2"
        );
        assert!(
            sources
                .iter()
                .all(|s| s.kind == "proxy" && s.message().is_none()),
            "{sources:?}"
        );

        // The running daemon's environment is the truth.
        write(dir.path(), "/proc/17/comm", b"bash\n");
        write(dir.path(), "/proc/4242/comm", b"containerd\n");
        write(
            dir.path(),
            "/proc/4242/environ",
            b"PATH=/usr/bin\0https_proxy=http://live:3128\0NO_PROXY=*\0",
        );
        write(dir.path(), "/proc/self/comm", b"probe\n");
        let (env, sources) = discover(&root, "containerd");
        assert!(env.http_proxy.is_none(), "files are only the fallback");
        let https = env.https_proxy.unwrap();
        assert_eq!(
            (https.value.as_str(), https.source.as_str()),
            ("http://live:3128", "/proc/4242/environ")
        );
        assert!(sources.iter().any(|s| s.path == "/proc/4242/environ"));
    }

    #[test]
    fn discover_environment_file_beats_environment_and_k3s_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        // k3s install.sh's unit shape.
        write(
            dir.path(),
            "/etc/systemd/system/k3s-agent.service",
            b"[Service]\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s-agent.service.env\nEnvironment=HTTPS_PROXY=http://env-directive:1\n",
        );
        write(
            dir.path(),
            "/etc/systemd/system/k3s-agent.service.env",
            b"HTTPS_PROXY=http://file:2\nCONTAINERD_HTTPS_PROXY=\"http://containerd-only:3\"\nCONTAINERD_NO_PROXY=.corp\n",
        );
        let (env, sources) = discover(&root, "k3s");
        let https = env.https_proxy.unwrap();
        assert_eq!(https.value, "http://containerd-only:3");
        assert_eq!(https.source, "/etc/systemd/system/k3s-agent.service.env:2");
        assert_eq!(env.no_proxy.unwrap().value, ".corp");
        assert!(sources.iter().all(|s| s.message().is_none()), "{sources:?}");

        // A required EnvironmentFile= that is missing is reported; Environment= still applies.
        write(dir.path(), "/etc/systemd/system/crio.service", b"[Service]\nEnvironment=HTTPS_PROXY=http://d:1\nEnvironmentFile=/etc/crio.env\nUnsetEnvironment=NO_PROXY\nEnvironment=NO_PROXY=x\n");
        let (env, sources) = discover(&root, "crio");
        assert_eq!(env.https_proxy.unwrap().value, "http://d:1");
        assert!(env.no_proxy.is_none(), "UnsetEnvironment= is applied last");
        let missing = sources.iter().find(|s| s.path == "/etc/crio.env").unwrap();
        assert!(
            missing
                .message()
                .as_deref()
                .unwrap()
                .contains("fails to start"),
            "{missing:?}"
        );
    }

    #[test]
    fn discover_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        let (env, sources) = discover(&HostRoot::new(dir.path()), "docker");
        assert!(env.is_empty());
        assert!(sources.is_empty(), "{sources:?}");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        proptest! {
            #[test]
            fn no_proxy_never_panics(no in ".{0,200}", host in ".{0,60}", port in any::<u16>()) {
                let t = Instant::now();
                let np = NoProxy::parse(&no);
                let _ = np.use_proxy(&host, port);
                let env = ProxyEnv { http_proxy: None, https_proxy: None, no_proxy: None };
                let _ = proxy_for(&env.with_docker_proxies(Some(&host), Some(&no), Some(&no), "p"), "https", &host, port);
                prop_assert!(t.elapsed() < Duration::from_secs(1));
            }

            #[test]
            fn no_proxy_structured(no in "[a-z0-9.:*/,\\[\\] %-]{0,80}", host in "[a-z0-9.:%-]{0,30}") {
                let _ = NoProxy::parse(&no).use_proxy(&host, 443);
            }

            #[test]
            fn systemd_parsers_never_panic(s in "(?s).{0,300}", q in "[A-Z_=\"'\\\\ a-z0-9xuU\n#;\\[\\]-]{0,200}") {
                let t = Instant::now();
                for text in [&s, &q] {
                    let _ = parse_systemd_environment(text);
                    let _ = parse_unit_file(text);
                    let _ = parse_system_conf(text);
                    let _ = parse_environment_file(text);
                    let _ = parse_proc_environ(text.as_bytes());
                    let _ = expand_specifiers(text, "k3s-agent.service");
                }
                prop_assert!(t.elapsed() < Duration::from_secs(1));
            }
        }
    }
}
