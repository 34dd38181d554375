//! The dns stage: resolve a host the way the node's resolver would, from
//! `<root>/etc/hosts` and `<root>/etc/resolv.conf`, never from the probe's own
//! files and never from a server the node's resolv.conf does not name.
//!
//! Order, as Go (containerd, kubelet) and glibc do by default ("files dns"):
//! an IP literal is itself; a name pinned in `/etc/hosts` wins without a
//! query; otherwise A and AAAA are asked in parallel for each candidate of
//! the search list, server by server.
//!
//! hickory does the wire work (UDP, TCP on truncation, ids, EDNS), one
//! `NameServerPool` per nameserver. We deliberately do not use hickory's
//! `Resolver` for the walk over names and servers: it keeps only the last
//! error of a search list and drops the CNAME chain of a negative answer,
//! and both are what this stage exists to report. The walk mirrors Go:
//! `nameList` and `tryOneName` in `src/net/dnsclient_unix.go` (attempts x
//! servers, the next server after SERVFAIL/REFUSED/silence, stop at NXDOMAIN
//! or NODATA), and which name's failure is reported follows glibc's
//! `__res_context_search` (`resolv/res_query.c`).
//!
//! A failure is a measurement: every outcome is a [`StageResult`], never an `Err`.
//! The resolver is built from [`ResolverSettings`] and a [`HostTable`] that
//! node discovery parsed (`config::net::resolv`); this module reads no file.

use super::result::{Detail, DnsDetail, DnsLookup, DnsQuery, Nameservers, Stage, StageResult};
use crate::code::Code;
pub use crate::netconf::{HostTable, ResolverSettings};
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverOpts, ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::{DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

struct Server {
    addr: SocketAddr,
    pool: NameServerPool<TokioRuntimeProvider>,
}

/// The node's resolver: its resolv.conf settings, its hosts table, and one
/// hickory pool per nameserver it names.
pub struct NodeResolver {
    conf: ResolverSettings,
    hosts: HostTable,
    servers: Vec<Server>,
    /// Go's `serverOffset` for `options rotate`.
    rotation: AtomicUsize,
    /// Why no server could be set up, if so.
    setup_error: Option<String>,
}

impl fmt::Debug for NodeResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeResolver")
            .field("conf", &self.conf)
            .field("hosts", &self.hosts.len())
            .field("servers", &self.nameservers())
            .finish_non_exhaustive()
    }
}

impl NodeResolver {
    /// A resolver from parsed settings, asking each nameserver on `port`
    /// (53 on a node; tests point it at a server on a loopback port).
    #[must_use]
    pub fn from_parts(conf: ResolverSettings, hosts: HostTable, port: u16) -> Self {
        let (servers, setup_error) = match build_servers(&conf, port) {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        Self {
            conf,
            hosts,
            servers,
            rotation: AtomicUsize::new(0),
            setup_error,
        }
    }

    /// The settings in use.
    #[must_use]
    pub fn settings(&self) -> &ResolverSettings {
        &self.conf
    }

    /// The node's static host table.
    #[must_use]
    pub fn hosts(&self) -> &HostTable {
        &self.hosts
    }

    /// The servers asked, in resolv.conf order.
    #[must_use]
    pub fn nameservers(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }
}

fn build_servers(conf: &ResolverSettings, port: u16) -> Result<Vec<Server>, String> {
    let mut opts = ResolverOpts::default();
    opts.timeout = conf.timeout;
    // Retries across attempts and servers are ours (Go's tryOneName); the
    // pool holds one server and must not reorder, cache or read local files.
    opts.attempts = 1;
    opts.num_concurrent_reqs = 1;
    opts.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.edns0 = true;
    let tls = TlsConfig::new().map_err(|e| format!("cannot set up the DNS client: {e}"))?;
    let cx = Arc::new(PoolContext::new(opts, tls));
    Ok(conf
        .nameservers
        .iter()
        .map(|ns| {
            let mut connections = if conf.use_tcp {
                vec![ConnectionConfig::tcp()]
            } else {
                vec![ConnectionConfig::udp(), ConnectionConfig::tcp()]
            };
            for c in &mut connections {
                c.port = port;
            }
            // Trusting NXDOMAIN is what Go and glibc do: the next server is
            // asked only after silence or SERVFAIL/REFUSED.
            let config = NameServerConfig::new(*ns, true, connections);
            let pool =
                NameServerPool::from_config([config], cx.clone(), TokioRuntimeProvider::default());
            Server {
                addr: SocketAddr::new(*ns, port),
                pool,
            }
        })
        .collect())
}

/// Go's `nameList` (`src/net/dnsclient_unix.go`): the absolute names to try, in order.
#[must_use]
pub fn name_list(conf: &ResolverSettings, name: &str) -> Vec<String> {
    let rooted = name.ends_with('.');
    if name.is_empty() || name.len() > 254 || (name.len() == 254 && !rooted) {
        return Vec::new();
    }
    if rooted {
        return vec![name.to_owned()];
    }
    let has_ndots = name.matches('.').count() >= conf.ndots;
    let name = format!("{name}.");
    let mut names = Vec::with_capacity(1 + conf.search.len());
    if has_ndots {
        names.push(name.clone());
    }
    for suffix in &conf.search {
        let fqdn = format!("{name}{suffix}");
        if fqdn.len() <= 254 {
            names.push(fqdn);
        }
    }
    if !has_ndots {
        names.push(name);
    }
    names
}

/// What one server said to one query.
#[derive(Clone, Debug, PartialEq)]
pub enum Exchange {
    /// NOERROR or NXDOMAIN: final for this name and type. No address means NODATA
    /// (or NXDOMAIN); `cnames` is the alias chain from the query name, in order.
    Answer {
        rcode: ResponseCode,
        cnames: Vec<String>,
        addrs: Vec<IpAddr>,
    },
    /// SERVFAIL, REFUSED or another error code: the next server is asked.
    ServerError(ResponseCode),
    /// No answer in time.
    Timeout,
    /// No usable answer otherwise (socket refused, malformed reply).
    Failed(String),
}

/// Map what hickory returned for one query to an [`Exchange`]. hickory turns
/// an empty NXDOMAIN/NOERROR into `DnsError::NoRecordsFound` carrying the
/// rcode, other error rcodes into `DnsError::ResponseCode`, and silence into
/// `NetError::Timeout` (hickory-net `error.rs`, `DnsError::from_response`).
#[must_use]
pub fn classify(
    result: Result<DnsResponse, NetError>,
    qname: &Name,
    qtype: RecordType,
) -> Exchange {
    match result {
        Ok(response) => {
            let rcode = response.response_code;
            match rcode {
                ResponseCode::NoError | ResponseCode::NXDomain => {
                    let (cnames, addrs) = read_answers(&response, qname, qtype);
                    Exchange::Answer {
                        rcode,
                        cnames,
                        addrs,
                    }
                }
                other => Exchange::ServerError(other),
            }
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. }))) => {
            match response_code {
                ResponseCode::NoError | ResponseCode::NXDomain => Exchange::Answer {
                    rcode: response_code,
                    cnames: Vec::new(),
                    addrs: Vec::new(),
                },
                other => Exchange::ServerError(other),
            }
        }
        Err(NetError::Dns(DnsError::ResponseCode(code))) => Exchange::ServerError(code),
        Err(NetError::Timeout) => Exchange::Timeout,
        Err(NetError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => Exchange::Timeout,
        Err(e) => Exchange::Failed(e.to_string()),
    }
}

/// The CNAME chain from `qname` and the addresses of type `qtype`. Like Go
/// (`goLookupIPCNAME`), addresses of the asked type are taken from the whole
/// answer section, trusting the recursive server to answer for the chain's end.
fn read_answers(
    response: &DnsResponse,
    qname: &Name,
    qtype: RecordType,
) -> (Vec<String>, Vec<IpAddr>) {
    let mut cnames = Vec::new();
    let mut current = qname.clone();
    // Bounded by the answer count, so a CNAME loop cannot spin.
    for _ in 0..response.answers.len() {
        let next = response.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name.eq_case(&current) || r.name == current => {
                Some(target.0.clone())
            }
            _ => None,
        });
        match next {
            Some(target) => {
                cnames.push(display_name(&target));
                current = target;
            }
            None => break,
        }
    }
    let addrs = response
        .answers
        .iter()
        .filter_map(|r| match (&r.data, qtype) {
            (RData::A(a), RecordType::A) => Some(IpAddr::V4(a.0)),
            (RData::AAAA(a), RecordType::AAAA) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    (cnames, addrs)
}

fn display_name(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_owned()
}

fn rcode_str(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The result of one record type for one name, after trying the servers.
#[derive(Clone, Debug)]
struct TypeResult {
    exchange: Exchange,
    /// The server whose reply decided it, if one replied.
    server: Option<SocketAddr>,
}

/// How one candidate name fared, both types together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Silent,
    ServFail,
    NxDomain,
    NoData,
    Addresses,
}

fn kind_of(e: &Exchange) -> Kind {
    match e {
        Exchange::Answer { addrs, .. } if !addrs.is_empty() => Kind::Addresses,
        Exchange::Answer {
            rcode: ResponseCode::NXDomain,
            ..
        } => Kind::NxDomain,
        Exchange::Answer { .. } => Kind::NoData,
        Exchange::ServerError(_) => Kind::ServFail,
        Exchange::Timeout | Exchange::Failed(_) => Kind::Silent,
    }
}

#[derive(Clone, Debug)]
struct NameResult {
    name: String,
    a: TypeResult,
    aaaa: TypeResult,
}

impl NameResult {
    /// The more telling of the two answers: an address beats NODATA beats
    /// NXDOMAIN beats SERVFAIL beats silence (a definite answer from a server
    /// says more than a failure to get one).
    fn decisive(&self) -> &TypeResult {
        if kind_of(&self.aaaa.exchange) > kind_of(&self.a.exchange) {
            &self.aaaa
        } else {
            &self.a
        }
    }

    fn kind(&self) -> Kind {
        kind_of(&self.decisive().exchange)
    }

    fn addrs(&self) -> Vec<IpAddr> {
        // IPv4 first: the tcp stage keeps the first family first, and most nodes are IPv4.
        [&self.a, &self.aaaa]
            .iter()
            .filter_map(|t| match &t.exchange {
                Exchange::Answer { addrs, .. } => Some(addrs.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn cnames(&self) -> Vec<String> {
        [&self.a, &self.aaaa]
            .iter()
            .filter_map(|t| match &t.exchange {
                Exchange::Answer { cnames, .. } if !cnames.is_empty() => Some(cnames.clone()),
                _ => None,
            })
            .max_by_key(Vec::len)
            .unwrap_or_default()
    }
}

/// Which failed candidate speaks for the lookup, as glibc's `__res_context_search`
/// decides: the as-is name if it was tried first, else any NODATA, else any
/// SERVFAIL, else the last name tried.
fn deciding(results: &[NameResult], as_is_first: bool) -> Option<&NameResult> {
    if as_is_first {
        return results.first();
    }
    results
        .iter()
        .find(|r| r.kind() == Kind::NoData)
        .or_else(|| results.iter().find(|r| r.kind() == Kind::ServFail))
        .or_else(|| results.last())
}

struct Walk {
    found: Option<NameResult>,
    tried: Vec<NameResult>,
    as_is_first: bool,
    log: Vec<DnsQuery>,
    cut_short: bool,
}

impl NodeResolver {
    /// Go's `tryOneName`: rounds of `attempts` over the servers until one gives a final answer.
    async fn try_one_name(
        &self,
        name: &Name,
        qtype: RecordType,
        deadline: Instant,
        log: &mut Vec<DnsQuery>,
    ) -> TypeResult {
        let n = self.servers.len();
        let offset = if self.conf.rotate {
            self.rotation.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let mut last = TypeResult {
            exchange: Exchange::Failed(
                self.setup_error
                    .clone()
                    .unwrap_or_else(|| "no nameserver".to_owned()),
            ),
            server: None,
        };
        if n > 0 {
            last.exchange = Exchange::Timeout;
        }
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = true;
        options.use_edns = true;
        for _ in 0..self.conf.attempts.max(1) {
            for j in 0..n {
                let server = &self.servers[(offset + j) % n];
                let now = Instant::now();
                if now >= deadline {
                    return last;
                }
                let limit = self.conf.timeout.min(deadline - now);
                let query = Query::query(name.clone(), qtype);
                let started = Instant::now();
                let result =
                    tokio::time::timeout(limit, server.pool.lookup(query, options).first_answer())
                        .await;
                let exchange = match result {
                    Ok(r) => classify(r, name, qtype),
                    Err(_) => Exchange::Timeout,
                };
                log.push(DnsQuery {
                    name: display_name(name),
                    qtype: Some(qtype.to_string()),
                    server: Some(server.addr),
                    result: exchange_label(&exchange),
                    duration_ms: Some(started.elapsed().as_millis() as u64),
                });
                match exchange {
                    Exchange::Answer { .. } => {
                        return TypeResult {
                            exchange,
                            server: Some(server.addr),
                        };
                    }
                    Exchange::ServerError(_) => {
                        last = TypeResult {
                            exchange,
                            server: Some(server.addr),
                        }
                    }
                    // A server that answered SERVFAIL says more than a later silent one.
                    Exchange::Timeout | Exchange::Failed(_)
                        if matches!(last.exchange, Exchange::ServerError(_)) => {}
                    Exchange::Timeout | Exchange::Failed(_) => {
                        last = TypeResult {
                            exchange,
                            server: None,
                        }
                    }
                }
            }
        }
        last
    }

    async fn query_name(
        &self,
        fqdn: &str,
        deadline: Instant,
        log: &mut Vec<DnsQuery>,
    ) -> NameResult {
        let Ok(name) = Name::from_ascii(fqdn).or_else(|_| Name::from_str_relaxed(fqdn)) else {
            // Go and glibc answer "no such host" for a name DNS cannot carry.
            let invalid = TypeResult {
                exchange: Exchange::Answer {
                    rcode: ResponseCode::NXDomain,
                    cnames: Vec::new(),
                    addrs: Vec::new(),
                },
                server: None,
            };
            log.push(DnsQuery {
                name: fqdn.to_owned(),
                qtype: None,
                server: None,
                result: "invalid name".to_owned(),
                duration_ms: None,
            });
            return NameResult {
                name: fqdn.to_owned(),
                a: invalid.clone(),
                aaaa: invalid,
            };
        };
        let (a, aaaa) = if self.conf.single_request {
            let a = self.try_one_name(&name, RecordType::A, deadline, log).await;
            let aaaa = self
                .try_one_name(&name, RecordType::AAAA, deadline, log)
                .await;
            (a, aaaa)
        } else {
            let mut log_aaaa = Vec::new();
            let both = tokio::join!(
                self.try_one_name(&name, RecordType::A, deadline, log),
                self.try_one_name(&name, RecordType::AAAA, deadline, &mut log_aaaa),
            );
            log.extend(log_aaaa);
            both
        };
        NameResult {
            name: fqdn.to_owned(),
            a,
            aaaa,
        }
    }

    async fn walk(&self, host: &str, deadline: Instant) -> Walk {
        let names = name_list(&self.conf, host);
        let as_is_first = names.len() > 1
            && names
                .first()
                .is_some_and(|n| n.trim_end_matches('.') == host);
        let mut walk = Walk {
            found: None,
            tried: Vec::new(),
            as_is_first,
            log: Vec::new(),
            cut_short: false,
        };
        for fqdn in names {
            if Instant::now() >= deadline {
                walk.cut_short = true;
                break;
            }
            let result = self.query_name(&fqdn, deadline, &mut walk.log).await;
            if result.kind() == Kind::Addresses {
                walk.found = Some(result);
                return walk;
            }
            walk.tried.push(result);
        }
        walk
    }
}

fn exchange_label(e: &Exchange) -> String {
    match e {
        Exchange::Answer { rcode, addrs, .. }
            if addrs.is_empty() && *rcode == ResponseCode::NoError =>
        {
            "NODATA".to_owned()
        }
        Exchange::Answer { rcode, .. } | Exchange::ServerError(rcode) => rcode_str(*rcode),
        Exchange::Timeout => "timeout".to_owned(),
        Exchange::Failed(m) => format!("failed: {m}"),
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolve `host` as the node would. An IP literal resolves to itself without
/// asking anyone; a name in the node's `/etc/hosts` is answered from there.
/// The stage ends within `timeout` whatever the node's resolver settings.
pub async fn resolve(
    resolver: &NodeResolver,
    host: &str,
    timeout: Duration,
) -> (StageResult, Vec<IpAddr>) {
    let started = Instant::now();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return (
            StageResult::ok(
                Stage::Dns,
                started.elapsed(),
                format!("{ip} (IP literal, no lookup)"),
                Detail::Dns(DnsDetail::Literal { address: ip }),
            ),
            vec![ip],
        );
    }
    if let Some(ips) = resolver.hosts.lookup(host) {
        let ips = ips.to_vec();
        return (
            StageResult::ok(
                Stage::Dns,
                started.elapsed(),
                format!(
                    "{host} is pinned in the node's /etc/hosts to {}; DNS is not asked",
                    join(&ips)
                ),
                Detail::Dns(DnsDetail::HostsFile {
                    query_name: host.to_owned(),
                    addresses: ips.clone(),
                }),
            ),
            ips,
        );
    }
    let deadline = started + timeout;
    let asked = resolver.nameservers();
    // The walk watches the deadline itself; the outer timeout is the guarantee.
    let Ok(walk) = tokio::time::timeout(timeout, resolver.walk(host, deadline)).await else {
        return (
            StageResult::fail(
                Stage::Dns,
                Code::DnsTimeout,
                started.elapsed(),
                format!(
                    "no DNS answer for {host} within {} from {}",
                    humantime::format_duration(timeout),
                    join(&asked)
                ),
                Detail::Dns(DnsDetail::Lookup(DnsLookup::unanswered(
                    asked.clone(),
                    None,
                ))),
            ),
            Vec::new(),
        );
    };
    report(resolver, host, timeout, started.elapsed(), walk, &asked)
}

fn report(
    resolver: &NodeResolver,
    host: &str,
    timeout: Duration,
    elapsed: Duration,
    walk: Walk,
    asked: &[SocketAddr],
) -> (StageResult, Vec<IpAddr>) {
    let searched: Vec<String> = name_list(&resolver.conf, host)
        .iter()
        .map(|n| n.trim_end_matches('.').to_owned())
        .collect();
    if let Some(found) = walk.found {
        let addrs = found.addrs();
        let cnames = found.cnames();
        let decisive = found.decisive();
        let server = decisive.server;
        let query_name = found.name.trim_end_matches('.').to_owned();
        let mut summary = join(&addrs);
        if !cnames.is_empty() {
            let _ = write!(summary, " via CNAME {}", cnames.join(" -> "));
        }
        if !query_name.eq_ignore_ascii_case(host) {
            let _ = write!(summary, " (as {query_name}, from the search list)");
        }
        if let Some(s) = &server {
            let _ = write!(summary, " from {s}");
        }
        let detail = Detail::Dns(DnsDetail::Lookup(DnsLookup {
            addresses: addrs.clone(),
            cname_chain: cnames,
            nameserver: server.map_or_else(|| Nameservers::Asked(asked.to_vec()), Nameservers::One),
            rcode: Some("NOERROR".to_owned()),
            query_name: Some(query_name),
            names_tried: Some(searched),
            queries: Some(walk.log),
        }));
        return (StageResult::ok(Stage::Dns, elapsed, summary, detail), addrs);
    }
    let Some(decider) = deciding(&walk.tried, walk.as_is_first) else {
        // Nothing was asked: no valid candidate name, or no time at all.
        let (code, summary) = if walk.cut_short {
            (Code::DnsTimeout, format!("no time left to resolve {host}"))
        } else {
            (
                Code::DnsNxdomain,
                format!("{host:?} is not a valid DNS name"),
            )
        };
        return (
            StageResult::fail(
                Stage::Dns,
                code,
                elapsed,
                summary,
                Detail::Dns(DnsDetail::Lookup(DnsLookup::unanswered(
                    asked.to_vec(),
                    Some(searched),
                ))),
            ),
            Vec::new(),
        );
    };
    let decisive = decider.decisive();
    let cnames = decider.cnames();
    let query_name = decider.name.trim_end_matches('.').to_owned();
    let server = decisive.server;
    let nameserver = server.map_or_else(|| Nameservers::Asked(asked.to_vec()), Nameservers::One);
    let from = server.map_or_else(
        || {
            if asked.is_empty() {
                "no usable nameserver".to_owned()
            } else {
                join(asked)
            }
        },
        |s| s.to_string(),
    );
    let chain = if cnames.is_empty() {
        String::new()
    } else {
        format!(" (CNAME {})", cnames.join(" -> "))
    };
    let also = if searched.len() > 1 {
        format!("; tried {}", searched.join(", "))
    } else {
        String::new()
    };
    let (code, rcode, summary) = match &decisive.exchange {
        Exchange::Answer {
            rcode: ResponseCode::NXDomain,
            ..
        } => (
            Code::DnsNxdomain,
            Some(ResponseCode::NXDomain),
            format!("NXDOMAIN: {query_name}{chain} does not exist, says {from}{also}"),
        ),
        Exchange::Answer { rcode, .. } => (
            Code::DnsNoAddress,
            Some(*rcode),
            format!(
                "{query_name}{chain} exists but has no A/AAAA record (NOERROR, no data) from {from}{also}"
            ),
        ),
        Exchange::ServerError(rcode) => (
            Code::DnsServfail,
            Some(*rcode),
            format!("{} from {from} for {query_name}{also}", rcode_str(*rcode)),
        ),
        Exchange::Timeout => (
            Code::DnsTimeout,
            None,
            format!(
                "no DNS answer for {query_name} from {from} within {}{also}",
                humantime::format_duration(resolver.conf.timeout.min(timeout))
            ),
        ),
        Exchange::Failed(msg) => (
            Code::DnsTimeout,
            None,
            format!("no DNS answer for {query_name} from {from}: {msg}"),
        ),
    };
    let detail = Detail::Dns(DnsDetail::Lookup(DnsLookup {
        addresses: Vec::new(),
        cname_chain: cnames,
        nameserver,
        rcode: rcode.map(rcode_str),
        query_name: Some(query_name),
        names_tried: Some(searched),
        queries: Some(walk.log),
    }));
    (
        StageResult::fail(Stage::Dns, code, elapsed, summary, detail),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::{Message, OpCode};
    use hickory_resolver::proto::rr::Record;
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn conf(search: &[&str], ndots: usize, servers: &[&str]) -> ResolverSettings {
        ResolverSettings {
            nameservers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            search: search.iter().map(|s| (*s).to_owned()).collect(),
            ndots,
            ..ResolverSettings::default()
        }
    }

    /// The lookup detail of a dns stage that asked DNS.
    fn lookup(s: &StageResult) -> &DnsLookup {
        match &s.detail {
            Detail::Dns(DnsDetail::Lookup(l)) => l,
            other => panic!("not a lookup: {other:?}"),
        }
    }

    /// After Go's `TestNameList`-style expectations in `dnsclient_unix_test.go`.
    #[test]
    fn name_list_like_go() {
        let c = conf(&["svc.cluster.local.", "corp.example."], 1, &["127.0.0.1"]);
        assert_eq!(
            name_list(&c, "myreg.azurecr.io"),
            [
                "myreg.azurecr.io.",
                "myreg.azurecr.io.svc.cluster.local.",
                "myreg.azurecr.io.corp.example."
            ]
        );
        assert_eq!(
            name_list(&c, "registry"),
            [
                "registry.svc.cluster.local.",
                "registry.corp.example.",
                "registry."
            ]
        );
        assert_eq!(name_list(&c, "rooted.example."), ["rooted.example."]);
        let c5 = conf(&["svc.cluster.local."], 5, &["127.0.0.1"]);
        assert_eq!(
            name_list(&c5, "a.b.c"),
            ["a.b.c.svc.cluster.local.", "a.b.c."]
        );
        let c0 = conf(&["x."], 0, &["127.0.0.1"]);
        assert_eq!(name_list(&c0, "host"), ["host.", "host.x."]);
        assert!(name_list(&c, "").is_empty());
        // Go's TestDNSNameLength: too long for DNS -> nothing; too long to suffix -> as-is only.
        let label = "a".repeat(63);
        let too_long = format!("a.{label}.{label}.{label}.{label}.{label}");
        assert!(name_list(&c, &too_long).is_empty());
        let max = format!("{label}.{label}.{label}.{}", "a".repeat(61));
        assert_eq!(max.len(), 253);
        assert_eq!(name_list(&c, &max), [format!("{max}.")]);
    }

    fn response(
        qname: &str,
        qtype: RecordType,
        rcode: ResponseCode,
        answers: Vec<Record>,
    ) -> DnsResponse {
        let mut m = Message::response(7, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(name(qname), qtype));
        m.add_answers(answers);
        DnsResponse::from_message(m).unwrap()
    }

    fn cname(from: &str, to: &str) -> Record {
        Record::from_rdata(name(from), 60, RData::CNAME(CNAME(name(to))))
    }

    fn a(owner: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::from(ip))))
    }

    #[test]
    fn classify_maps_hickory_outcomes() {
        let q = name("myreg.azurecr.io.");
        // A chain answered in one response, as a recursive server does.
        let r = response(
            "myreg.azurecr.io.",
            RecordType::A,
            ResponseCode::NoError,
            vec![
                cname("myreg.azurecr.io.", "myreg.privatelink.azurecr.io."),
                cname("myreg.privatelink.azurecr.io.", "eus.data.azurecr.io."),
                a("eus.data.azurecr.io.", [10, 1, 2, 3]),
            ],
        );
        assert_eq!(
            classify(Ok(r), &q, RecordType::A),
            Exchange::Answer {
                rcode: ResponseCode::NoError,
                cnames: vec![
                    "myreg.privatelink.azurecr.io".into(),
                    "eus.data.azurecr.io".into()
                ],
                addrs: vec!["10.1.2.3".parse().unwrap()],
            }
        );
        // NXDOMAIN at the end of a chain keeps the chain.
        let r = response(
            "myreg.azurecr.io.",
            RecordType::A,
            ResponseCode::NXDomain,
            vec![cname("myreg.azurecr.io.", "myreg.privatelink.azurecr.io.")],
        );
        assert!(
            matches!(classify(Ok(r), &q, RecordType::A), Exchange::Answer { rcode: ResponseCode::NXDomain, ref cnames, ref addrs } if cnames.len() == 1 && addrs.is_empty())
        );
        let nx = NetError::from(NoRecords::new(
            Query::query(q.clone(), RecordType::A),
            ResponseCode::NXDomain,
        ));
        assert_eq!(
            classify(Err(nx), &q, RecordType::A),
            Exchange::Answer {
                rcode: ResponseCode::NXDomain,
                cnames: vec![],
                addrs: vec![]
            }
        );
        let nodata = NetError::from(NoRecords::new(
            Query::query(q.clone(), RecordType::AAAA),
            ResponseCode::NoError,
        ));
        let e = classify(Err(nodata), &q, RecordType::AAAA);
        assert_eq!(kind_of(&e), Kind::NoData);
        assert_eq!(
            classify(
                Err(NetError::Dns(DnsError::ResponseCode(
                    ResponseCode::ServFail
                ))),
                &q,
                RecordType::A
            ),
            Exchange::ServerError(ResponseCode::ServFail)
        );
        assert_eq!(
            classify(
                Err(NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused))),
                &q,
                RecordType::A
            ),
            Exchange::ServerError(ResponseCode::Refused)
        );
        assert_eq!(
            classify(Err(NetError::Timeout), &q, RecordType::A),
            Exchange::Timeout
        );
        assert_eq!(
            classify(
                Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
                &q,
                RecordType::A
            ),
            Exchange::Timeout
        );
        assert!(matches!(
            classify(
                Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()),
                &q,
                RecordType::A
            ),
            Exchange::Failed(_)
        ));
        // A SERVFAIL that reached us as a message is still a server error.
        let r = response(
            "myreg.azurecr.io.",
            RecordType::A,
            ResponseCode::ServFail,
            vec![],
        );
        assert_eq!(
            classify(Ok(r), &q, RecordType::A),
            Exchange::ServerError(ResponseCode::ServFail)
        );
    }

    fn name_result(n: &str, a: Exchange, aaaa: Exchange) -> NameResult {
        NameResult {
            name: n.into(),
            a: TypeResult {
                exchange: a,
                server: None,
            },
            aaaa: TypeResult {
                exchange: aaaa,
                server: None,
            },
        }
    }

    fn nx() -> Exchange {
        Exchange::Answer {
            rcode: ResponseCode::NXDomain,
            cnames: vec![],
            addrs: vec![],
        }
    }

    fn nodata() -> Exchange {
        Exchange::Answer {
            rcode: ResponseCode::NoError,
            cnames: vec![],
            addrs: vec![],
        }
    }

    #[test]
    fn deciding_follows_glibc_res_search() {
        let tried = vec![
            name_result("registry.svc.cluster.local.", nx(), nx()),
            name_result("registry.corp.example.", nodata(), nx()),
            name_result(
                "registry.",
                Exchange::ServerError(ResponseCode::ServFail),
                Exchange::Timeout,
            ),
        ];
        assert_eq!(
            deciding(&tried, false).unwrap().name,
            "registry.corp.example.",
            "any NODATA wins"
        );
        assert_eq!(
            deciding(&tried, true).unwrap().name,
            "registry.svc.cluster.local.",
            "the as-is name tried first wins"
        );
        let tried = vec![
            name_result("a.", nx(), nx()),
            name_result("b.", Exchange::ServerError(ResponseCode::Refused), nx()),
            name_result("c.", nx(), nx()),
        ];
        // Per name, NXDOMAIN beats SERVFAIL; so no SERVFAIL name here, last wins.
        assert_eq!(deciding(&tried, false).unwrap().name, "c.");
        let tried = vec![
            name_result(
                "a.",
                Exchange::ServerError(ResponseCode::ServFail),
                Exchange::Timeout,
            ),
            name_result("b.", nx(), nx()),
        ];
        assert_eq!(
            deciding(&tried, false).unwrap().name,
            "a.",
            "SERVFAIL beats a later NXDOMAIN"
        );
    }

    /// A tiny DNS server on a loopback UDP port: `answer` builds (rcode, answers) per query.
    async fn dns_server<F>(ip: &str, port: u16, answer: F) -> SocketAddr
    where
        F: Fn(&Query) -> (ResponseCode, Vec<Record>) + Send + 'static,
    {
        let sock = tokio::net::UdpSocket::bind((ip, port)).await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(q) = req.queries.first().cloned() else {
                    continue;
                };
                let (rcode, answers) = answer(&q);
                let mut resp = Message::response(req.metadata.id, OpCode::Query);
                resp.metadata.recursion_desired = true;
                resp.metadata.recursion_available = true;
                resp.metadata.response_code = rcode;
                resp.add_query(q);
                resp.add_answers(answers);
                let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
            }
        });
        addr
    }

    /// The zone every server test uses.
    fn zone(q: &Query) -> (ResponseCode, Vec<Record>) {
        let qn = q.name().to_ascii().to_ascii_lowercase();
        let is_a = q.query_type() == RecordType::A;
        match qn.as_str() {
            "myreg.azurecr.io." => {
                let mut ans = vec![
                    cname("myreg.azurecr.io.", "myreg.privatelink.azurecr.io."),
                    cname("myreg.privatelink.azurecr.io.", "pe.eus.azurecr.io."),
                ];
                if is_a {
                    ans.push(a("pe.eus.azurecr.io.", [10, 9, 8, 7]));
                } else {
                    ans.push(Record::from_rdata(
                        name("pe.eus.azurecr.io."),
                        60,
                        RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                    ));
                }
                (ResponseCode::NoError, ans)
            }
            "v4only.example." if is_a => (
                ResponseCode::NoError,
                vec![a("v4only.example.", [192, 0, 2, 1])],
            ),
            "short.corp.example." if is_a => (
                ResponseCode::NoError,
                vec![a("short.corp.example.", [192, 0, 2, 9])],
            ),
            "v4only.example."
            | "nodata.example."
            | "short.corp.example."
            | "registry.corp.example." => (ResponseCode::NoError, vec![]),
            "broken.example." => (ResponseCode::ServFail, vec![]),
            "refused.example." => (ResponseCode::Refused, vec![]),
            "dangling.example." => (
                ResponseCode::NXDomain,
                vec![cname("dangling.example.", "gone.privatelink.example.")],
            ),
            _ => (ResponseCode::NXDomain, vec![]),
        }
    }

    async fn resolver_with_zone(search: &[&str]) -> NodeResolver {
        let addr = dns_server("127.0.0.1", 0, zone).await;
        NodeResolver::from_parts(
            conf(search, 1, &["127.0.0.1"]),
            HostTable::default(),
            addr.port(),
        )
    }

    const T: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn cname_chain_and_addresses() {
        let r = resolver_with_zone(&[]).await;
        let (s, ips) = resolve(&r, "myreg.azurecr.io", T).await;
        assert_eq!(s.code, Code::Ok, "{}", s.summary);
        assert_eq!(
            ips,
            [
                "10.9.8.7".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        let l = lookup(&s);
        assert_eq!(
            l.cname_chain,
            ["myreg.privatelink.azurecr.io", "pe.eus.azurecr.io"]
        );
        assert_eq!(l.query_name.as_deref(), Some("myreg.azurecr.io"));
        assert_eq!(l.rcode.as_deref(), Some("NOERROR"));
        assert!(
            matches!(&l.nameserver, Nameservers::One(a) if a.ip() == IpAddr::from([127, 0, 0, 1]))
        );
        assert!(
            s.summary
                .contains("via CNAME myreg.privatelink.azurecr.io -> pe.eus.azurecr.io"),
            "{}",
            s.summary
        );

        let (s, ips) = resolve(&r, "v4only.example", T).await;
        assert_eq!(
            (s.code, ips.len()),
            (Code::Ok, 1),
            "NODATA for AAAA alone is not a failure"
        );
    }

    #[tokio::test]
    async fn negative_answers_map_to_contract_codes() {
        let r = resolver_with_zone(&[]).await;
        let (s, ips) = resolve(&r, "nothere.example", T).await;
        assert_eq!(s.code, Code::DnsNxdomain, "{}", s.summary);
        assert!(ips.is_empty());
        assert_eq!(lookup(&s).rcode.as_deref(), Some("NXDOMAIN"));

        let (s, _) = resolve(&r, "nodata.example", T).await;
        assert_eq!(s.code, Code::DnsNoAddress, "{}", s.summary);
        assert_eq!(lookup(&s).rcode.as_deref(), Some("NOERROR"));

        let (s, _) = resolve(&r, "broken.example", T).await;
        assert_eq!(s.code, Code::DnsServfail, "{}", s.summary);
        assert_eq!(lookup(&s).rcode.as_deref(), Some("SERVFAIL"));

        let (s, _) = resolve(&r, "refused.example", T).await;
        assert_eq!(s.code, Code::DnsServfail, "{}", s.summary);
        assert_eq!(lookup(&s).rcode.as_deref(), Some("REFUSED"));

        let (s, _) = resolve(&r, "dangling.example", T).await;
        assert_eq!(s.code, Code::DnsNxdomain, "{}", s.summary);
        assert_eq!(
            lookup(&s).cname_chain,
            ["gone.privatelink.example"],
            "the chain to a missing private zone is kept"
        );
        assert!(
            s.summary.contains("gone.privatelink.example"),
            "{}",
            s.summary
        );
    }

    #[tokio::test]
    async fn search_list_expansion() {
        let r = resolver_with_zone(&["corp.example."]).await;
        let (s, ips) = resolve(&r, "short", T).await;
        assert_eq!(
            (s.code, ips),
            (Code::Ok, vec!["192.0.2.9".parse::<IpAddr>().unwrap()]),
            "{}",
            s.summary
        );
        assert_eq!(lookup(&s).query_name.as_deref(), Some("short.corp.example"));
        assert!(s.summary.contains("search list"), "{}", s.summary);
        // "registry": registry.corp.example is NODATA, registry. NXDOMAIN -> NO_ADDRESS (glibc got_nodata).
        let (s, _) = resolve(&r, "registry", T).await;
        assert_eq!(s.code, Code::DnsNoAddress, "{}", s.summary);
        assert_eq!(
            lookup(&s).query_name.as_deref(),
            Some("registry.corp.example")
        );
        // Enough dots: the as-is name is tried first and its NXDOMAIN is the answer.
        let (s, _) = resolve(&r, "nothere.example", T).await;
        assert_eq!(s.code, Code::DnsNxdomain, "{}", s.summary);
        assert_eq!(lookup(&s).query_name.as_deref(), Some("nothere.example"));
        assert_eq!(
            lookup(&s).names_tried.as_deref(),
            Some(
                &[
                    "nothere.example".to_owned(),
                    "nothere.example.corp.example".to_owned()
                ][..]
            )
        );
    }

    #[tokio::test]
    async fn silent_server_times_out_within_the_stage_timeout() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let r = NodeResolver::from_parts(
            conf(&["a.example.", "b.example."], 1, &["127.0.0.1"]),
            HostTable::default(),
            port,
        );
        let limit = Duration::from_secs(1);
        let t0 = std::time::Instant::now();
        let (s, ips) = resolve(&r, "myreg.azurecr.io", limit).await;
        let elapsed = t0.elapsed();
        assert_eq!(s.code, Code::DnsTimeout, "{}", s.summary);
        assert!(ips.is_empty());
        assert!(
            elapsed < limit + Duration::from_millis(500),
            "took {elapsed:?}"
        );
        assert!(
            elapsed + Duration::from_millis(100) >= limit,
            "gave up early: {elapsed:?}"
        );
        assert_eq!(lookup(&s).rcode, None);
        drop(silent);
    }

    #[tokio::test]
    async fn servfail_moves_to_the_next_server_nxdomain_does_not() {
        // Two servers on the same port, 127.0.0.1 failing, 127.0.0.2 answering.
        let first = dns_server("127.0.0.1", 0, |_| (ResponseCode::ServFail, vec![])).await;
        dns_server("127.0.0.2", first.port(), zone).await;
        let r = NodeResolver::from_parts(
            conf(&[], 1, &["127.0.0.1", "127.0.0.2"]),
            HostTable::default(),
            first.port(),
        );
        let (s, ips) = resolve(&r, "v4only.example", T).await;
        assert_eq!((s.code, ips.len()), (Code::Ok, 1), "{}", s.summary);
        assert_eq!(
            lookup(&s).nameserver,
            Nameservers::One(format!("127.0.0.2:{}", first.port()).parse().unwrap())
        );

        let nx_first = dns_server("127.0.0.1", 0, |_| (ResponseCode::NXDomain, vec![])).await;
        dns_server("127.0.0.2", nx_first.port(), zone).await;
        let r = NodeResolver::from_parts(
            conf(&[], 1, &["127.0.0.1", "127.0.0.2"]),
            HostTable::default(),
            nx_first.port(),
        );
        let (s, _) = resolve(&r, "v4only.example", T).await;
        assert_eq!(
            s.code,
            Code::DnsNxdomain,
            "NXDOMAIN is final, as in Go and glibc: {}",
            s.summary
        );
    }

    #[tokio::test]
    async fn literals_and_hosts_file_skip_dns() {
        // No server behind this port: any query would time out.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut hosts = HostTable::default();
        hosts.insert("MyReg.AzureCR.io", "10.0.0.5".parse().unwrap());
        let r = NodeResolver::from_parts(
            conf(&[], 1, &["127.0.0.1"]),
            hosts,
            silent.local_addr().unwrap().port(),
        );
        let (s, ips) = resolve(&r, "myreg.azurecr.io", T).await;
        assert_eq!(
            (s.code, ips),
            (Code::Ok, vec!["10.0.0.5".parse::<IpAddr>().unwrap()])
        );
        assert!(matches!(s.detail, Detail::Dns(DnsDetail::HostsFile { .. })));
        assert!(
            s.summary.contains("pinned in the node's /etc/hosts"),
            "{}",
            s.summary
        );
        assert!(s.duration < Duration::from_millis(100));
        for lit in ["192.0.2.7", "[2001:db8::1]", "2001:db8::1"] {
            let (s, ips) = resolve(&r, lit, T).await;
            assert_eq!((s.code, ips.len()), (Code::Ok, 1), "{lit}");
            assert!(matches!(s.detail, Detail::Dns(DnsDetail::Literal { .. })));
        }
    }
}
