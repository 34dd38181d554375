//! The node's stub-resolver files: `/etc/resolv.conf` ([`parse`]) and
//! `/etc/hosts` ([`parse_hosts`]), with the semantics of Go's resolver (the
//! one containerd and kubelet use) and glibc where they agree.
//!
//! Parsers are pure functions on `&str`; only [`discover`] reads the node's
//! files, through [`HostRoot`]. Nothing here consults the probe's own
//! `/etc/resolv.conf` or asks DNS anything. A broken line is reported with its
//! line number and skipped; the rest still counts, as it does for the node's
//! own resolver. The result is what the dns stage is built from
//! ([`ResolverSettings`], [`HostTable`]).
//!
//! Upstream semantics mirrored here:
//! - resolv.conf: Go `src/net/dnsconfig_unix.go` (`dnsReadConfig`): defaults
//!   ndots 1, timeout 5 s, attempts 2; at most 3 nameservers (`MAXNS`); the
//!   last `search`/`domain` line wins; `ndots` clamped to 0..=15, `timeout`
//!   and `attempts` to at least 1; no nameserver means `127.0.0.1` and `::1`.
//! - hosts: Go `src/net/hosts.go` (`readHosts`): `#` starts a comment
//!   anywhere, the first field is an IP literal (IPv6 may carry a `%zone`),
//!   every further field is a name, names compare case-insensitively and as
//!   absolute names, and repeated names accumulate addresses in file order.

use crate::config::{Severity, Source};
use crate::hostroot::HostRoot;
use crate::netconf::{HostTable, ResolverSettings};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Go's `MAXNS`-like limit: glibc and Go use only the first three nameservers.
pub const MAX_NAMESERVERS: usize = 3;

/// A problem on one line of a file; the line was skipped (or partly used).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed value and the lines that could not be used. Parsing never fails
/// as a whole: the node's resolver keeps going past a bad line, and so do we.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<T> {
    pub value: T,
    pub errors: Vec<LineError>,
}

impl<T> Parsed<T> {
    /// All line errors joined into one message for a `config::Source`, or `None`.
    #[must_use]
    pub fn error_summary(&self) -> Option<String> {
        if self.errors.is_empty() {
            return None;
        }
        Some(
            self.errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// One `nameserver` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nameserver {
    pub ip: IpAddr,
    /// The IPv6 zone (`fe80::1%eth0`), kept for the report; sockets here do not use it.
    pub zone: Option<String>,
}

impl fmt::Display for Nameserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.zone {
            Some(z) => write!(f, "{}%{z}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// The resolver settings of `/etc/resolv.conf`, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one field per resolv.conf flag, named as in the file"
)]
pub struct ResolvConf {
    /// In file order, at most [`MAX_NAMESERVERS`]; never empty (Go's `defaultNS`).
    pub nameservers: Vec<Nameserver>,
    /// True when the file named no usable nameserver and the defaults apply.
    pub default_nameservers: bool,
    /// Search suffixes, rooted (`corp.example.`), from the last `search` or `domain` line.
    pub search: Vec<String>,
    pub ndots: usize,
    /// Per query and server (`options timeout:N`).
    pub timeout: Duration,
    /// Rounds over the server list (`options attempts:N`).
    pub attempts: usize,
    pub rotate: bool,
    /// `options use-vc` / `usevc` / `tcp`: TCP only.
    pub use_tcp: bool,
    pub edns0: bool,
    /// `single-request` / `single-request-reopen`: A and AAAA one after the other.
    pub single_request: bool,
    pub trust_ad: bool,
}

impl Default for ResolvConf {
    /// What Go uses when resolv.conf is missing or empty.
    fn default() -> Self {
        Self {
            nameservers: default_nameservers(),
            default_nameservers: true,
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            use_tcp: false,
            edns0: false,
            single_request: false,
            trust_ad: false,
        }
    }
}

impl ResolvConf {
    /// What the dns stage needs of these settings.
    #[must_use]
    pub fn settings(&self) -> ResolverSettings {
        ResolverSettings {
            nameservers: self.nameservers.iter().map(|n| n.ip).collect(),
            search: self.search.clone(),
            ndots: self.ndots,
            timeout: self.timeout,
            attempts: self.attempts,
            rotate: self.rotate,
            single_request: self.single_request,
            use_tcp: self.use_tcp,
        }
    }

    /// Go's `dnsDefaultSearch`: with no `search`/`domain` line, the domain part
    /// of the node's host name is the search list. The caller passes the
    /// node's name (e.g. from `<root>/etc/hostname`), never the probe's own.
    pub fn apply_default_search(&mut self, hostname: &str) {
        if !self.search.is_empty() {
            return;
        }
        let hostname = hostname.trim();
        if let Some(i) = hostname.find('.')
            && i < hostname.len() - 1
        {
            self.search = vec![ensure_rooted(&hostname[i + 1..])];
        }
    }
}

fn default_nameservers() -> Vec<Nameserver> {
    vec![
        Nameserver {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            zone: None,
        },
        Nameserver {
            ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            zone: None,
        },
    ]
}

fn ensure_rooted(s: &str) -> String {
    if s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

/// An IP literal, IPv6 possibly with `%zone` (Go's `netip.ParseAddr` accepts both).
fn parse_ip_zone(s: &str) -> Option<(IpAddr, Option<String>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (addr, zone) = s.split_once('%')?;
    let ip = addr.parse::<Ipv6Addr>().ok()?;
    (!zone.is_empty()).then(|| (IpAddr::V6(ip), Some(zone.to_owned())))
}

/// Go's `dtoi` on an option value: leading decimal digits; anything else is an error here
/// (Go silently reads 0, then clamps; we clamp the same way but also say so).
fn option_number(value: &str) -> Option<usize> {
    value.parse::<usize>().ok()
}

/// Parse `/etc/resolv.conf` text.
#[must_use]
pub fn parse(text: &str) -> Parsed<ResolvConf> {
    let mut conf = ResolvConf {
        nameservers: Vec::new(),
        default_nameservers: false,
        ..ResolvConf::default()
    };
    let mut errors = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        // Go: a comment is a line starting with ';' or '#'.
        if raw.starts_with(';') || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split_ascii_whitespace().collect();
        let Some((&keyword, args)) = fields.split_first() else {
            continue;
        };
        let mut err = |message: String| errors.push(LineError { line, message });
        match keyword {
            "nameserver" => match args.first() {
                None => err("nameserver without an address".to_owned()),
                Some(addr) => match parse_ip_zone(addr) {
                    None => err(format!(
                        "nameserver {addr:?} is not an IP address (ignored, as the node's resolver does)"
                    )),
                    Some(_) if conf.nameservers.len() >= MAX_NAMESERVERS => err(format!(
                        "nameserver {addr} ignored: the resolver uses only the first {MAX_NAMESERVERS}"
                    )),
                    Some((ip, zone)) => conf.nameservers.push(Nameserver { ip, zone }),
                },
            },
            "domain" => match args.first() {
                Some(d) => conf.search = vec![ensure_rooted(d)],
                None => err("domain without a name".to_owned()),
            },
            "search" => {
                conf.search = args
                    .iter()
                    .map(|s| ensure_rooted(s))
                    .filter(|s| s != ".")
                    .collect();
            }
            "options" => {
                for opt in args {
                    let (name, value) = match opt.split_once(':') {
                        Some((n, v)) => (n, Some(v)),
                        None => (*opt, None),
                    };
                    match (name, value) {
                        ("ndots", Some(v)) => match option_number(v) {
                            Some(n) => conf.ndots = n.min(15),
                            None => err(format!(
                                "options {opt}: not a number (ndots left at {})",
                                conf.ndots
                            )),
                        },
                        ("timeout", Some(v)) => match option_number(v) {
                            Some(n) => conf.timeout = Duration::from_secs(n.max(1) as u64),
                            None => err(format!("options {opt}: not a number")),
                        },
                        ("attempts", Some(v)) => match option_number(v) {
                            Some(n) => conf.attempts = n.max(1),
                            None => err(format!("options {opt}: not a number")),
                        },
                        ("rotate", None) => conf.rotate = true,
                        ("use-vc" | "usevc" | "tcp", None) => conf.use_tcp = true,
                        ("edns0", None) => conf.edns0 = true,
                        ("single-request" | "single-request-reopen", None) => {
                            conf.single_request = true;
                        }
                        ("trust-ad", None) => conf.trust_ad = true,
                        // Known to glibc or Go, no effect on what we probe.
                        (
                            "no-reload" | "inet6" | "no-tld-query" | "no-aaaa" | "debug"
                            | "insecure1" | "insecure2",
                            None,
                        ) => {}
                        _ => err(format!("unknown option {opt:?} (ignored)")),
                    }
                }
            }
            // OpenBSD's database order and glibc's `sortlist`: no effect on a Linux node's lookups.
            "lookup" | "sortlist" => {}
            other => err(format!("unknown keyword {other:?} (ignored)")),
        }
    }
    if conf.nameservers.is_empty() {
        conf.nameservers = default_nameservers();
        conf.default_nameservers = true;
    }
    Parsed {
        value: conf,
        errors,
    }
}

/// Parse `/etc/hosts` text.
#[must_use]
pub fn parse_hosts(text: &str) -> Parsed<HostTable> {
    let mut hosts = HostTable::default();
    let mut errors = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.split_once('#').map_or(raw, |(before, _)| before);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            [only] => errors.push(LineError {
                line: idx + 1,
                message: format!("{only:?} has no host name"),
            }),
            [addr, names @ ..] => match parse_ip_zone(addr) {
                Some((ip, _zone)) => {
                    for name in names {
                        hosts.insert(name, ip);
                    }
                }
                None => errors.push(LineError {
                    line: idx + 1,
                    message: format!("{addr:?} is not an IP address"),
                }),
            },
        }
    }
    Parsed {
        value: hosts,
        errors,
    }
}

const RESOLV_CONF: &str = "/etc/resolv.conf";
const HOSTS: &str = "/etc/hosts";
const HOSTNAME: &str = "/etc/hostname";

/// A file's skipped lines as findings: the resolver goes on past them.
fn line_findings(path: &str, kind: &str, errors: &[LineError]) -> Source {
    let mut source = Source::ok(path, kind);
    for e in errors {
        source.findings.push(crate::config::Finding {
            line: Some(e.line),
            severity: Severity::Warning,
            message: format!("{e} (the resolver skips this line)"),
        });
    }
    source
}

/// A resolver file read and parsed, its skipped lines recorded; a file that
/// cannot be read is a finding of `severity` saying what the resolver does
/// instead (`fallback`), and the parser's defaults stand.
fn read_parsed<T: Default>(
    root: &HostRoot,
    path: &str,
    kind: &str,
    parse: fn(&str) -> Parsed<T>,
    (severity, fallback): (Severity, &str),
    sources: &mut Vec<Source>,
) -> T {
    match root.read_to_string(path) {
        Ok(text) => {
            let parsed = parse(&text);
            sources.push(line_findings(path, kind, &parsed.errors));
            parsed.value
        }
        Err(e) => {
            sources.push(Source::finding(
                path,
                kind,
                severity,
                None,
                format!("{e}; {fallback}"),
            ));
            T::default()
        }
    }
}

/// The node's resolver settings and host table, read under `root`:
/// `/etc/resolv.conf` (Go's defaults when it is missing), the domain of
/// `/etc/hostname` as the search list when the file names none (Go's
/// `dnsDefaultSearch`), and `/etc/hosts`. `timeout` caps the wait for one
/// server (resolv.conf's `timeout:` may be longer than a stage may take).
#[must_use]
pub fn discover(root: &HostRoot, timeout: Duration) -> (ResolverSettings, HostTable, Vec<Source>) {
    let mut sources = Vec::new();
    let mut conf = read_parsed(
        root,
        RESOLV_CONF,
        "resolv",
        parse,
        (
            Severity::Error,
            "using the resolver defaults (nameservers 127.0.0.1 and ::1)",
        ),
        &mut sources,
    );
    if conf.search.is_empty()
        && let Ok(hostname) = root.read_to_string(HOSTNAME)
    {
        conf.apply_default_search(&hostname);
    }
    let hosts = read_parsed(
        root,
        HOSTS,
        "hosts",
        parse_hosts,
        (
            Severity::Warning,
            "no name is pinned, every name goes to DNS",
        ),
        &mut sources,
    );
    conf.timeout = conf.timeout.min(timeout.max(Duration::from_millis(1)));
    (conf.settings(), hosts, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_reads_node_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/resolv.conf"),
            "nameserver 10.0.0.10\nnameserver not-an-ip\noptions timeout:9\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/hosts"), "10.0.0.5 myreg.azurecr.io\n").unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "node1.corp.example\n").unwrap();
        let (conf, hosts, sources) = discover(&HostRoot::new(dir.path()), Duration::from_secs(3));
        assert_eq!(conf.nameservers, ["10.0.0.10".parse::<IpAddr>().unwrap()]);
        assert_eq!(conf.search, ["corp.example."]);
        assert_eq!(
            conf.timeout,
            Duration::from_secs(3),
            "capped by the stage timeout"
        );
        assert!(hosts.lookup("myreg.azurecr.io").is_some());
        assert_eq!(sources.len(), 2);
        assert_eq!(
            (sources[0].path.as_str(), sources[0].kind.as_str()),
            ("/etc/resolv.conf", "resolv")
        );
        assert_eq!(sources[0].severity(), Severity::Warning);
        assert_eq!(sources[0].line(), Some(2));
        assert!(
            sources[0].message().unwrap().starts_with("line 2:"),
            "{:?}",
            sources[0].message()
        );
        assert_eq!(sources[1], Source::ok("/etc/hosts", "hosts"));

        let empty = tempfile::tempdir().unwrap();
        let (conf, _, sources) = discover(&HostRoot::new(empty.path()), Duration::from_secs(5));
        // Go's defaults for a node with no resolv.conf: the local resolver.
        assert_eq!(
            conf.nameservers,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(sources[0].severity(), Severity::Error);
        assert_eq!(sources[1].severity(), Severity::Warning);
    }

    fn ns(list: &[&str]) -> Vec<Nameserver> {
        list.iter()
            .map(|s| {
                let (ip, zone) = parse_ip_zone(s).unwrap();
                Nameserver { ip, zone }
            })
            .collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Go's `src/net/testdata/*resolv.conf` fixtures with the expectations of
    /// `dnsReadConfigTests` in `src/net/dnsconfig_unix_test.go` (search lists
    /// there come from the host name `host.domain.local`, applied here by
    /// `apply_default_search`).
    #[test]
    fn go_dns_read_config_table() {
        struct Case {
            name: &'static str,
            text: &'static str,
            servers: &'static [&'static str],
            search: &'static [&'static str],
            ndots: usize,
            timeout: u64,
            attempts: usize,
            rotate: bool,
            use_tcp: bool,
            single_request: bool,
        }
        let cases = [
            Case {
                name: "resolv.conf",
                text: "# /etc/resolv.conf\n\ndomain localdomain\nnameserver 8.8.8.8\nnameserver 2001:4860:4860::8888\nnameserver fe80::1%lo0\noptions ndots:5 timeout:10 attempts:3 rotate\noptions attempts 3\n",
                servers: &["8.8.8.8", "2001:4860:4860::8888", "fe80::1%lo0"],
                search: &["localdomain."],
                ndots: 5,
                timeout: 10,
                attempts: 3,
                rotate: true,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "domain-resolv.conf",
                text: "# /etc/resolv.conf\n\nsearch test invalid\ndomain localdomain\nnameserver 8.8.8.8\n",
                servers: &["8.8.8.8"],
                search: &["localdomain."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "search-resolv.conf",
                text: "# /etc/resolv.conf\n\ndomain localdomain\nsearch test invalid\nnameserver 8.8.8.8\n",
                servers: &["8.8.8.8"],
                search: &["test.", "invalid."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "empty-resolv.conf",
                text: "",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "invalid-ndots-resolv.conf",
                text: "options ndots:0\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 0,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "large-ndots-resolv.conf",
                text: "options ndots:16\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 15,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "openbsd-resolv.conf",
                text: "# Generated by vio0 dhclient\nsearch c.symbolic-datum-552.internal.\nnameserver 169.254.169.254\nnameserver 10.240.0.1\nlookup file bind\n",
                servers: &["169.254.169.254", "10.240.0.1"],
                search: &["c.symbolic-datum-552.internal."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: false,
            },
            Case {
                name: "single-request-resolv.conf",
                text: "options single-request\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: true,
            },
            Case {
                name: "single-request-reopen-resolv.conf",
                text: "options single-request-reopen\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: false,
                single_request: true,
            },
            Case {
                name: "linux-use-vc-resolv.conf",
                text: "options use-vc\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: true,
                single_request: false,
            },
            Case {
                name: "freebsd-usevc-resolv.conf",
                text: "options usevc\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: true,
                single_request: false,
            },
            Case {
                name: "openbsd-tcp-resolv.conf",
                text: "options tcp\n",
                servers: &["127.0.0.1", "::1"],
                search: &["domain.local."],
                ndots: 1,
                timeout: 5,
                attempts: 2,
                rotate: false,
                use_tcp: true,
                single_request: false,
            },
        ];
        for c in cases {
            let mut conf = parse(c.text).value;
            conf.apply_default_search("host.domain.local");
            assert_eq!(conf.nameservers, ns(c.servers), "{}", c.name);
            assert_eq!(conf.search, strings(c.search), "{}", c.name);
            assert_eq!(conf.ndots, c.ndots, "{}", c.name);
            assert_eq!(conf.timeout, Duration::from_secs(c.timeout), "{}", c.name);
            assert_eq!(conf.attempts, c.attempts, "{}", c.name);
            assert_eq!(conf.rotate, c.rotate, "{}", c.name);
            assert_eq!(conf.use_tcp, c.use_tcp, "{}", c.name);
            assert_eq!(conf.single_request, c.single_request, "{}", c.name);
        }
    }

    /// Go's `dnsDefaultSearchTests`.
    #[test]
    fn go_default_search_table() {
        for (hostname, want) in [
            ("host.long.domain.local", vec!["long.domain.local."]),
            ("host.local", vec!["local."]),
            ("host", vec![]),
            ("foo.", vec![]),
        ] {
            let mut conf = ResolvConf::default();
            conf.apply_default_search(hostname);
            assert_eq!(conf.search, strings(&want), "{hostname}");
        }
        let mut conf = parse("search a.example\n").value;
        conf.apply_default_search("host.other.example");
        assert_eq!(
            conf.search,
            strings(&["a.example."]),
            "an explicit search list wins"
        );
    }

    #[test]
    fn defaults_without_nameserver() {
        let p = parse("search corp.example\n");
        assert!(p.value.default_nameservers);
        assert_eq!(p.value.nameservers, ns(&["127.0.0.1", "::1"]));
        assert_eq!(
            (p.value.ndots, p.value.attempts, p.value.timeout),
            (1, 2, Duration::from_secs(5))
        );
        assert!(p.errors.is_empty());
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let text = "nameserver 10.0.0.10\nnameserver dns.corp.example\nfrobnicate yes\noptions ndots:x timeout:0 attempts:0 edns0 bogus\nnameserver 10.0.0.11\nnameserver 10.0.0.12\nnameserver 10.0.0.13\n";
        let p = parse(text);
        assert_eq!(
            p.value.nameservers,
            ns(&["10.0.0.10", "10.0.0.11", "10.0.0.12"])
        );
        assert!(!p.value.default_nameservers);
        assert_eq!(p.value.ndots, 1);
        assert_eq!(
            p.value.timeout,
            Duration::from_secs(1),
            "timeout:0 clamps to 1 as in Go"
        );
        assert_eq!(p.value.attempts, 1, "attempts:0 clamps to 1 as in Go");
        assert!(p.value.edns0);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 4, 7]);
        let summary = p.error_summary().unwrap();
        assert!(
            summary.starts_with("line 2: nameserver \"dns.corp.example\""),
            "{summary}"
        );
        assert!(
            summary.contains("line 7: nameserver 10.0.0.13 ignored"),
            "{summary}"
        );
    }

    #[test]
    fn last_search_or_domain_wins() {
        assert_eq!(
            parse("search a b\ndomain c\n").value.search,
            strings(&["c."])
        );
        assert_eq!(
            parse("domain c\nsearch a b.\n").value.search,
            strings(&["a.", "b."])
        );
        assert_eq!(
            parse("search a\nsearch .\n").value.search,
            Vec::<String>::new()
        );
    }

    #[test]
    fn comments_only_at_line_start() {
        let p =
            parse("; comment\n# comment\nnameserver 10.0.0.1\n  # indented is a keyword to Go\n");
        assert_eq!(p.value.nameservers, ns(&["10.0.0.1"]));
        assert_eq!(p.errors.len(), 1);
    }

    #[test]
    fn hosts_like_go() {
        // After Go's src/net/testdata/hosts and hosts_test.go `lookupStaticHostTests`.
        let text = "255.255.255.255\tbroadcasthost\n127.0.0.2\todin\n127.0.0.3  odin  # inline comment\n::2      odin\n127.1.1.1\tthor\n# aliases\n127.1.1.2\tullr ullrhost\nfe80::1%lo0\tlocalhost\n# Bogus entries that must be ignored.\n123.123.123\tloki\n321.321.321.321 loki\n127.0.0.4\n# Upper case names\n127.0.0.1\tLocalHost\n127.0.0.5 MyReg.AzureCR.io\n";
        let p = parse_hosts(text);
        let h = &p.value;
        let ips = |name: &str| {
            h.lookup(name)
                .map(|a| a.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(ips("odin").unwrap(), ["127.0.0.2", "127.0.0.3", "::2"]);
        assert_eq!(ips("ODIN.").unwrap(), ["127.0.0.2", "127.0.0.3", "::2"]);
        assert_eq!(ips("ullrhost").unwrap(), ["127.1.1.2"]);
        assert_eq!(ips("localhost").unwrap(), ["fe80::1", "127.0.0.1"]);
        assert_eq!(ips("myreg.azurecr.io").unwrap(), ["127.0.0.5"]);
        assert_eq!(ips("loki"), None);
        assert_eq!(ips("inline"), None, "text after # is a comment");
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [10, 11, 12]);
    }

    /// Issue 4: no input makes either parser panic or take long. Arbitrary text,
    /// resolv.conf-shaped lines, and damaged copies of the Go testdata above.
    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        const SEEDS: &[&str] = &[
            "# /etc/resolv.conf\n\ndomain localdomain\nnameserver 8.8.8.8\nnameserver 2001:4860:4860::8888\nnameserver fe80::1%lo0\noptions ndots:5 timeout:10 attempts:3 rotate\noptions attempts 3\n",
            "search test invalid\ndomain localdomain\nnameserver 8.8.8.8\noptions ndots:16 timeout:0 attempts:0 edns0 single-request trust-ad use-vc\n",
            "255.255.255.255\tbroadcasthost\n127.0.0.2\todin\n127.0.0.3  odin  # inline comment\n::2      odin\nfe80::1%lo0\tlocalhost\n123.123.123\tloki\n127.0.0.4\n",
        ];

        /// Both parsers and every accessor on their results, within a second.
        fn exercise(text: &str) {
            let start = Instant::now();
            let conf = parse(text);
            let _ = conf.error_summary();
            let mut value = conf.value;
            value.apply_default_search(text);
            for ns in &value.nameservers {
                let _ = ns.to_string();
            }
            let hosts = parse_hosts(text);
            let _ = hosts.error_summary();
            for word in text.split_whitespace().take(50) {
                let _ = hosts.value.lookup(word);
            }
            let _ = hosts.value.lookup(text);
            assert!(start.elapsed() < Duration::from_secs(1), "slow on {text:?}");
        }

        /// `text` with a char replaced at `at` and cut at `cut`.
        fn damage(
            text: &str,
            at: prop::sample::Index,
            ch: char,
            cut: prop::sample::Index,
        ) -> String {
            let mut chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len());
            chars[i] = ch;
            chars.truncate(cut.index(chars.len() + 1));
            chars.into_iter().collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
                exercise(&text);
            }

            #[test]
            fn resolv_shaped_lines_never_panic(lines in prop::collection::vec(
                ("(nameserver|domain|search|options|lookup|sortlist|#|;| nameserver)",
                 prop::collection::vec("[0-9a-fA-F:.%a-z]{0,20}|(ndots|timeout|attempts|rotate|edns0)(:[0-9+-]{0,22})?", 0..5)),
                0..20,
            )) {
                let text = lines.iter().fold(String::new(), |mut text, (k, args)| {
                    text.push_str(k);
                    text.push(' ');
                    text.push_str(&args.join(" "));
                    text.push('\n');
                    text
                });
                exercise(&text);
            }

            #[test]
            fn damaged_seeds_never_panic(
                which in 0..SEEDS.len(),
                at in any::<prop::sample::Index>(),
                ch in any::<char>(),
                cut in any::<prop::sample::Index>(),
            ) {
                exercise(&damage(SEEDS[which], at, ch, cut));
            }

            #[test]
            fn huge_numbers_clamp(n in "[0-9]{1,40}") {
                let conf = parse(&format!("options ndots:{n} timeout:{n} attempts:{n}\n")).value;
                prop_assert!(conf.ndots <= 15);
                prop_assert!(conf.attempts >= 1);
            }
        }
    }
}
