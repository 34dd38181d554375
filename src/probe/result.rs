//! Stage results: which stage, ok/fail/skipped, the contract code, the time
//! it took, a one-line summary, and what the stage found as a typed detail
//! (one struct or enum per stage).
//!
//! The verdict, the hints and the metrics read these fields; only
//! `report::json` turns them into the report's `detail` objects. Every value
//! here is fit for a report: no secret is ever stored in a detail (tokens,
//! passwords, `Authorization` values, token bodies and redirect queries are
//! dropped before a detail is built).
//!
//! This module is a leaf: it holds values and imports nothing else from
//! `probe/`, so every stage can use it without an import circle.

use crate::code::Code;
use crate::oci::Platform;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The stages of `CONTRACT.md`, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Dns,
    Tcp,
    Proxy,
    Tls,
    Ping,
    Auth,
    Manifest,
    Blob,
    Platform,
}

impl Stage {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Proxy => "proxy",
            Stage::Tls => "tls",
            Stage::Ping => "ping",
            Stage::Auth => "auth",
            Stage::Manifest => "manifest",
            Stage::Blob => "blob",
            Stage::Platform => "platform",
        }
    }

    /// The stages that cost the registry nothing: they end at the node's
    /// resolver, its network path and the TLS handshake.
    #[must_use]
    pub fn is_node_local(self) -> bool {
        matches!(self, Stage::Dns | Stage::Tcp | Stage::Proxy | Stage::Tls)
    }
}

/// `ok`, `fail` or `skipped` (with why, typed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Fail,
    Skipped(SkipReason),
}

/// Why a stage did not run. The summary says it for a person; code asks this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// An earlier stage failed (or ended the sequence) first.
    NotReached,
    /// An agent's node-local round checks dns, tcp, proxy and tls only.
    NodeLocalOnly,
    /// Not needed here: answered by what an earlier round learnt (a
    /// remembered authorization, an unchanged digest), by the runtime's
    /// fallback, or nothing to check (a platform the config does not declare).
    NotNeeded,
}

impl Status {
    #[must_use]
    pub fn is_skipped(self) -> bool {
        matches!(self, Status::Skipped(_))
    }
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Skipped(_) => "skipped",
        }
    }
}

/// The outcome of one stage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageResult {
    pub stage: Stage,
    pub status: Status,
    pub code: Code,
    pub duration: Duration,
    /// The key fact in one line for a person ("93.184.216.34 via 10.0.0.10",
    /// "CN=reg.test, expires 2027-01-01", "connection refused"). Never a secret.
    pub summary: String,
    pub detail: Detail,
    /// Set when the stage reached for a proxy host and failed there.
    pub proxy_blame: Option<ProxyBlame>,
    /// The `Date` of the last HTTP answer this stage read (registry, token
    /// service, IMDS), beside the node's clock when it arrived.
    pub server_date: Option<ServerDate>,
}

impl StageResult {
    #[must_use]
    pub fn ok(
        stage: Stage,
        duration: Duration,
        summary: impl Into<String>,
        detail: Detail,
    ) -> Self {
        Self {
            stage,
            status: Status::Ok,
            code: Code::Ok,
            duration,
            summary: summary.into(),
            detail,
            proxy_blame: None,
            server_date: None,
        }
    }

    #[must_use]
    pub fn fail(
        stage: Stage,
        code: Code,
        duration: Duration,
        summary: impl Into<String>,
        detail: Detail,
    ) -> Self {
        Self {
            stage,
            status: Status::Fail,
            code,
            duration,
            summary: summary.into(),
            detail,
            proxy_blame: None,
            server_date: None,
        }
    }

    #[must_use]
    pub fn skipped(stage: Stage, reason: SkipReason, summary: impl Into<String>) -> Self {
        Self {
            stage,
            status: Status::Skipped(reason),
            code: Code::Ok,
            duration: Duration::ZERO,
            summary: summary.into(),
            detail: Detail::None,
            proxy_blame: None,
            server_date: None,
        }
    }

    #[must_use]
    pub fn is_fail(&self) -> bool {
        self.status == Status::Fail
    }
}

/// A server's `Date` header (RFC 9110 section 6.6.1, one-second resolution)
/// and the node's clock when the answer arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerDate {
    /// `host[:port]` that answered.
    pub host: String,
    pub server: std::time::SystemTime,
    pub node: std::time::SystemTime,
}

impl ServerDate {
    /// The node's clock minus the server's, in whole seconds (positive: the
    /// node is ahead). Rounded down: a `Date` is the server's time cut to
    /// the second, so it is up to a second early, and the floor of the
    /// difference is its nearest estimate (a node two days behind reads
    /// -172,800, not -172,799).
    #[must_use]
    pub fn offset_seconds(&self) -> i64 {
        match self.node.duration_since(self.server) {
            Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
            Err(behind) => {
                let d = behind.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                -whole.saturating_add(i64::from(d.subsec_nanos() > 0))
            }
        }
    }
}

/// A clock offset in words: "2 days behind", "2 days 5 hours ahead",
/// "3 hours ahead", "40 seconds ahead".
#[must_use]
pub fn clock_words(offset_seconds: i64) -> String {
    let side = if offset_seconds < 0 {
        "behind"
    } else {
        "ahead"
    };
    let s = offset_seconds.unsigned_abs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    // Rounded to the unit shown: a `Date` has one-second resolution, so two
    // days off reads 172,799 s as often as 172,800 s.
    let hours = (s + 1_800) / 3_600;
    let text = match s {
        0..120 => plural(s, "second"),
        120..7_200 => plural((s + 30) / 60, "minute"),
        _ if hours < 48 => plural(hours, "hour"),
        _ => match (hours / 24, hours % 24) {
            (days, 0) => plural(days, "day"),
            (days, hours) => format!("{} {}", plural(days, "day"), plural(hours, "hour")),
        },
    };
    format!("{text} {side}")
}

/// The segment size the path-MTU retry advertises (`TCP_MAXSEG` before
/// connect): RFC 879's default MSS, which fits any path MTU of 576 or more.
pub const SMALL_MSS: u32 = 536;

/// A stalled exchange tried once more over a connection that advertised a
/// small MSS, so the server's segments fit a smaller path MTU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MssRetry {
    /// The address retried (the one the stalled connection used).
    pub address: Option<SocketAddr>,
    pub mss: u32,
    /// The same exchange completed with the small MSS.
    pub completed: bool,
    pub duration_ms: u64,
    /// What the retry came to, in a line.
    pub summary: String,
}

/// The registry's clock, asked because its certificate failed only on time:
/// a credential-free `GET /v2/` over a handshake that accepted the chain but
/// for its dates, and the chain checked again at the registry's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockCheck {
    pub date: ServerDate,
    /// The chain is valid at the registry's time (the node's clock is the fault).
    pub valid_by_server_clock: bool,
    /// Why it is not, when it is not.
    pub error: Option<String>,
}

/// The address the tcp stage among `stages` connected to.
#[must_use]
pub fn tcp_address(stages: &[StageResult]) -> Option<SocketAddr> {
    stages.iter().find_map(|s| match &s.detail {
        Detail::Tcp(TcpDetail { address, .. }) => *address,
        _ => None,
    })
}

/// `stage CODE: summary` of the first failing stage, for a summary that says
/// why another host (a token realm, a blob redirect) could not be reached;
/// empty when none failed.
#[must_use]
pub fn first_failure(stages: &[StageResult]) -> String {
    stages
        .iter()
        .find(|s| s.is_fail())
        .map_or_else(String::new, |s| {
            format!("{} {}: {}", s.stage.as_str(), s.code, s.summary)
        })
}

/// The typed detail of a stage result.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Detail {
    /// Nothing beyond the summary (skipped stages).
    #[default]
    None,
    Dns(DnsDetail),
    Tcp(TcpDetail),
    Proxy(ProxyDetail),
    Tls(Box<TlsDetail>),
    /// The https attempt of an endpoint the runtime retried over http.
    Fallback(FallbackDetail),
    Ping(PingDetail),
    Auth(Box<AuthDetail>),
    Manifest(Box<ManifestDetail>),
    Platform(PlatformDetail),
    Blob(BlobDetail),
}

// ---- dns ----

/// Where a dns stage's answer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsDetail {
    /// An IP literal: no lookup.
    Literal { address: IpAddr },
    /// Pinned in the node's `/etc/hosts`: DNS is not asked.
    HostsFile {
        query_name: String,
        addresses: Vec<IpAddr>,
    },
    /// Asked the node's nameservers.
    Lookup(DnsLookup),
}

/// Which nameserver a lookup's answer speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nameservers {
    /// The server whose reply decided.
    One(SocketAddr),
    /// No server replied: every server asked.
    Asked(Vec<SocketAddr>),
}

impl Nameservers {
    /// For a person: `10.0.0.10:53`, or `10.0.0.10:53, 10.0.0.11:53`.
    #[must_use]
    pub fn joined(&self) -> String {
        match self {
            Nameservers::One(s) => s.to_string(),
            Nameservers::Asked(all) => all
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A lookup through the node's resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsLookup {
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain from the name asked, in order (private endpoints such
    /// as `*.privatelink.azurecr.io` show up here).
    pub cname_chain: Vec<String>,
    pub nameserver: Nameservers,
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...; `None` when no server replied.
    pub rcode: Option<String>,
    /// The name (from the search list) that decided.
    pub query_name: Option<String>,
    /// The candidate names, when the walk got as far as building them.
    pub names_tried: Option<Vec<String>>,
    /// Every query sent, when the walk finished within the stage.
    pub queries: Option<Vec<DnsQuery>>,
}

impl DnsLookup {
    /// A lookup no server answered: every server `asked`, and the names
    /// built, when the walk got that far.
    #[must_use]
    pub fn unanswered(asked: Vec<SocketAddr>, names_tried: Option<Vec<String>>) -> Self {
        Self {
            addresses: Vec::new(),
            cname_chain: Vec::new(),
            nameserver: Nameservers::Asked(asked),
            rcode: None,
            query_name: None,
            names_tried,
            queries: None,
        }
    }

    /// The private endpoint the name resolves through (an Azure Private
    /// Link name such as `myreg.privatelink.azurecr.io` in the CNAME chain).
    #[must_use]
    pub fn private_endpoint(&self) -> Option<&str> {
        self.cname_chain
            .iter()
            .map(String::as_str)
            .find(|c| c.contains(".privatelink."))
    }
}

/// One query to one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsQuery {
    pub name: String,
    /// `A`, `AAAA`; `None` for a name DNS cannot carry.
    pub qtype: Option<String>,
    pub server: Option<SocketAddr>,
    /// `NOERROR`, `NODATA`, `NXDOMAIN`, `timeout`, `failed: ...`, `invalid name`.
    pub result: String,
    pub duration_ms: Option<u64>,
}

// ---- tcp ----

/// The tcp stage: the address connected to, and every attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpDetail {
    pub address: Option<SocketAddr>,
    pub attempts: Vec<TcpAttempt>,
}

/// One connect attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpAttempt {
    pub address: SocketAddr,
    pub outcome: AttemptOutcome,
}

/// How a connect attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Connected {
        duration_ms: u64,
    },
    Failed {
        code: Code,
        error: String,
        duration_ms: u64,
    },
    /// Not tried: no time left.
    Skipped {
        reason: String,
    },
    /// Not finished: the other address family connected first.
    Abandoned {
        reason: String,
    },
}

// ---- proxy ----

/// The proxy stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyDetail {
    /// An https endpoint tunnelled with `CONNECT`.
    Connect {
        /// The proxy, user info redacted.
        proxy: String,
        /// `host:port` asked for.
        authority: String,
        status: Option<u16>,
    },
    /// A plain-http endpoint forwarded in absolute form (no `CONNECT`).
    Forward { proxy: String },
}

/// A dns or tcp failure that concerns the proxy host, not the registry:
/// through a proxy, name resolution and connection are the proxy's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyBlame {
    /// The stage's own code (what went wrong reaching the proxy).
    pub cause: Code,
    /// `host:port` of the proxy.
    pub proxy_host: String,
}

// ---- tls ----

/// The tls stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsDetail {
    pub server_name: String,
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: Option<String>,
    pub alpn: Option<String>,
    pub cipher_suite: Option<String>,
    /// The presented chain, leaf first (recorded even when verification fails).
    pub chain: Vec<Certificate>,
    /// Which roots vouched for the chain, if any did.
    pub verified_with: Option<TrustedBy>,
    pub skip_verify: bool,
    /// What `skip_verify` hid: the verdict the chain would have had.
    pub masked_error: Option<String>,
    pub ca_files: Vec<CaFileFacts>,
    pub client_certificate: ClientCertFacts,
    /// How many CA certificates the node trusts.
    pub trust_store_certificates: usize,
    /// The failure, on failure.
    pub error: Option<String>,
    /// TCP connected but no TLS answer came within the stage timeout.
    pub stalled: bool,
    /// The stalled handshake tried again with a small MSS.
    pub mss_retry: Option<MssRetry>,
    /// The registry's clock, when the certificate failed only on time.
    pub clock: Option<ClockCheck>,
}

/// Which roots vouched for a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedBy {
    /// The node's CA set.
    System,
    /// Only the endpoint's own `ca` files.
    CaFiles,
}

impl TrustedBy {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TrustedBy::System => "system",
            TrustedBy::CaFiles => "ca_files",
        }
    }
}

/// A certificate as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Hex SHA-256 of the DER.
    pub sha256: String,
    /// `Err` when the DER does not parse.
    pub facts: Result<CertFacts, String>,
}

/// The parsed facts of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// Hex.
    pub serial: String,
    pub is_ca: bool,
}

/// One `ca` file of the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaFileFacts {
    pub path: String,
    pub certificates: usize,
    pub error: Option<String>,
}

/// The endpoint's client certificate, and whether the server asked for one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertFacts {
    pub configured: bool,
    /// The certificate file that loaded.
    pub cert: Option<String>,
    pub requested: bool,
    pub sent: bool,
    pub errors: Vec<String>,
}

/// The https attempt before a runtime's fall back to plain http.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackDetail {
    pub from: String,
    pub to: String,
    /// The https stage that failed, and how.
    pub https_stage: &'static str,
    pub https_code: Code,
    pub https_error: String,
}

// ---- ping ----

/// The `GET /v2/` ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PingDetail {
    /// The registry answered.
    Answered(PingAnswer),
    /// No answer (timeout, broken connection).
    Failed { url: String, error: String },
    /// A plain-http request the proxy refused to forward (407).
    ProxyRefused,
}

/// What the ping's answer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingAnswer {
    pub url: String,
    pub status: u16,
    pub api_version: Option<String>,
    pub server: Option<String>,
    pub challenges: Vec<ChallengeFacts>,
    pub rate_limit: RateLimit,
    /// How often the connection had to be re-dialled.
    pub reconnects: u32,
    /// An error from the registry's own error body (e.g. ACR's firewall).
    pub registry_errors: Vec<RegistryErrorFacts>,
}

/// The facts of a `WWW-Authenticate` challenge a report may show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeFacts {
    /// `basic`, `bearer`, `digest`.
    pub scheme: &'static str,
    pub realm: Option<String>,
    pub service: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

/// Registry rate-limit headers (Docker Hub's, and `Retry-After` anywhere).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: Option<String>,
    pub remaining: Option<String>,
    pub source: Option<String>,
    pub retry_after: Option<String>,
}

impl RateLimit {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.limit.is_none()
            && self.remaining.is_none()
            && self.source.is_none()
            && self.retry_after.is_none()
    }

    /// The remaining count (Docker Hub sends `76;w=21600`).
    #[must_use]
    pub fn remaining_count(&self) -> Option<f64> {
        leading_count(self.remaining.as_deref()?)
    }

    /// The limit's count (Docker Hub sends `100;w=21600`).
    #[must_use]
    pub fn limit_count(&self) -> Option<f64> {
        leading_count(self.limit.as_deref()?)
    }
}

/// A rate-limit header's count, before any `;` parameters.
fn leading_count(header: &str) -> Option<f64> {
    header.split(';').next()?.trim().parse().ok()
}

/// One entry of distribution's error envelope, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryErrorFacts {
    pub code: String,
    pub message: String,
}

// ---- auth ----

/// The auth stage (and an authorization made later, on a manifest's 401).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthDetail {
    /// The scheme answered; `None` when the registry asked for nothing.
    pub scheme: Option<&'static str>,
    /// The challenges offered, when none could be answered.
    pub challenges: Vec<ChallengeFacts>,
    /// Whether credentials were sent.
    pub credentials: bool,
    pub credential_source: Option<String>,
    pub username: Option<String>,
    pub bearer: Option<BearerFacts>,
    /// `GET /v2/` again with the authorization (Basic, or registry-only mode).
    pub recheck_status: Option<u16>,
    /// A cloud identity exchanged for the registry credential, step by step.
    pub identity: Option<IdentityFacts>,
    /// Each credential the kubelet would try for this image, and how it
    /// fared, when there were several or a step before this one decided.
    pub candidates: Vec<CandidateOutcome>,
}

/// An Azure managed identity's exchange: which identity, which audience
/// worked, and each step (IMDS, exchange) with its timing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityFacts {
    pub client_id: Option<String>,
    pub audience: Option<String>,
    pub steps: Vec<IdentityStep>,
}

/// One step of an identity exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityStep {
    /// `imds` or `exchange`.
    pub step: String,
    /// The audience (AAD resource) asked for.
    pub audience: String,
    pub code: Code,
    pub duration_ms: u64,
    pub summary: String,
    /// The `Date` of the step's answer (IMDS, the registry's exchange).
    pub date: Option<ServerDate>,
}

/// How one of the kubelet's credentials fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateOutcome {
    pub source: String,
    pub kind: &'static str,
    pub user: Option<String>,
    pub code: Code,
    pub summary: String,
}

/// How a Bearer token was asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BearerFacts {
    pub realm: String,
    pub service: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Why configured credentials were not sent to the realm.
    pub credentials_withheld: Option<String>,
    /// The realm host's own dns/tcp/tls, when it is another host.
    pub realm_stages: Option<Vec<StageResult>>,
    /// The POST's status when it fell back to GET.
    pub post_status: Option<u16>,
    pub grant: Option<Grant>,
    pub status: Option<u16>,
    /// As the token service sent them (numbers or strings).
    pub expires_in: Option<serde_json::Value>,
    pub issued_at: Option<serde_json::Value>,
}

/// How a token was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    OAuthPost,
    GetWithBasic,
    AnonymousGet,
}

impl Grant {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::OAuthPost => "oauth2 POST",
            Grant::GetWithBasic => "GET with Basic auth",
            Grant::AnonymousGet => "anonymous GET",
        }
    }
}

// ---- manifest ----

/// The manifest stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManifestDetail {
    pub url: String,
    pub accept: &'static str,
    /// An authorization the manifest request needed (a 401 first).
    pub auth: Option<AuthDetail>,
    pub auth_summary: Option<String>,
    /// 405 when HEAD was refused and GET used.
    pub head_status: Option<u16>,
    pub response: Option<ResponseFacts>,
    pub credentials: Option<bool>,
    /// The GET that read the error body HEAD could not carry.
    pub error_get_status: Option<u16>,
    pub errors: Option<Vec<RegistryErrorFacts>>,
    pub computed_digest: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

/// The resolving request's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFacts {
    pub method: &'static str,
    pub status: u16,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
    pub rate_limit: RateLimit,
}

// ---- platform ----

/// The platform stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformDetail {
    pub wanted: Platform,
    /// The platforms the image offers (`unknown` entries, attestations, left out).
    pub present: Vec<String>,
    /// The index digest, when the image is an index.
    pub index: Option<String>,
    pub chosen: Option<ChosenPlatform>,
    /// The config digest of the chosen manifest.
    pub config: Option<String>,
}

/// The index entry chosen for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenPlatform {
    pub platform: String,
    pub digest: String,
    pub media_type: String,
}

// ---- blob ----

/// The blob stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlobDetail {
    pub digest: String,
    /// The first URL, without query.
    pub url: String,
    pub redirects: Vec<Hop>,
    /// Each other host dialled on the way, with its stages.
    pub redirect_stages: Vec<RedirectHost>,
    /// `host[:port]` that answered last.
    pub final_host: Option<String>,
    pub status: Option<u16>,
    /// The stalled transfer tried again with a small MSS.
    pub mss_retry: Option<MssRetry>,
}

/// One redirect hop, as reported (no query: it carries signatures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub status: u16,
    pub to: String,
    pub cross_host: bool,
}

/// Another host reached on a redirect, and its dns/tcp/tls stages.
#[derive(Clone, Debug, PartialEq)]
pub struct RedirectHost {
    pub host: String,
    pub stages: Vec<StageResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn clock_offsets_read_in_the_unit_that_fits() {
        let cases = [
            (0, "0 seconds ahead"),
            (-1, "1 second behind"),
            (90, "90 seconds ahead"),
            (-600, "10 minutes behind"),
            (10_800, "3 hours ahead"),
            // One second short of two days (a Date's resolution) is two days.
            (-172_799, "2 days behind"),
            (172_800, "2 days ahead"),
            (190_800, "2 days 5 hours ahead"),
            (-259_100, "3 days behind"),
        ];
        for (offset, words) in cases {
            assert_eq!(clock_words(offset), words, "{offset}");
        }
    }

    #[test]
    fn the_offset_is_the_node_minus_the_server() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let d = |node, server| ServerDate {
            host: "r.test".into(),
            server: at(server),
            node: at(node),
        };
        assert_eq!(d(1_000, 1_000).offset_seconds(), 0);
        assert_eq!(d(1_000, 173_800).offset_seconds(), -172_800);
        assert_eq!(d(173_800, 1_000).offset_seconds(), 172_800);
        // Two days behind, the node's clock 0.3 s into its second: the
        // Date (cut to the second) makes it -172,799.7, which is -172,800.
        let behind = ServerDate {
            host: "r.test".into(),
            server: at(173_800),
            node: at(1_000) + Duration::from_millis(300),
        };
        assert_eq!(behind.offset_seconds(), -172_800);
    }
}
