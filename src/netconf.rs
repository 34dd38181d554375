//! The node's network facts as the probe consumes them: the resolver's
//! settings, the `/etc/hosts` table and the trust anchors in PEM data.
//!
//! Config discovery fills these from the node's files (`config::net::resolv`,
//! `config::net::trust`); the probe's stages read them (`probe::dns`,
//! `probe::tls`). A leaf: it imports neither, so data flows one way, from
//! config through here to the probe. No I/O.

use rustls::pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// What the stage needs of the node's `/etc/resolv.conf` (parsed, defaults
/// applied, by `config::net::resolv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverSettings {
    /// In resolv.conf order, never empty (Go's defaults apply).
    pub nameservers: Vec<IpAddr>,
    /// Rooted search suffixes (`corp.example.`).
    pub search: Vec<String>,
    pub ndots: usize,
    /// Per query and server.
    pub timeout: Duration,
    /// Rounds over the server list.
    pub attempts: usize,
    pub rotate: bool,
    /// A and AAAA one after the other.
    pub single_request: bool,
    /// TCP only.
    pub use_tcp: bool,
}

impl Default for ResolverSettings {
    /// Go's defaults for a node with no resolv.conf.
    fn default() -> Self {
        Self {
            nameservers: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            single_request: false,
            use_tcp: false,
        }
    }
}

/// The node's static host table (`/etc/hosts`), as the stage consults it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTable {
    /// Lower-cased absolute name (`registry.local.`) -> addresses in file order.
    by_name: HashMap<String, Vec<IpAddr>>,
}

impl HostTable {
    /// The addresses pinned for `name`, if any (case-insensitive; a trailing dot is optional).
    #[must_use]
    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.by_name
            .get(&abs_lower(name))
            .map(Vec::as_slice)
            .filter(|a| !a.is_empty())
    }

    /// Number of distinct names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Pin `name` to `ip`, as one more hosts line would.
    pub fn insert(&mut self, name: &str, ip: IpAddr) {
        let addrs = self.by_name.entry(abs_lower(name)).or_default();
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
}

fn abs_lower(name: &str) -> String {
    let mut n = name.to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// Every `CERTIFICATE` PEM block of `data` that parses as an X.509
/// certificate usable as a trust anchor, as Go's `AppendCertsFromPEM` keeps
/// them; the second value counts the blocks skipped (bad PEM, bad DER).
#[must_use]
pub fn parse_pem_certs(data: &[u8]) -> (Vec<CertificateDer<'static>>, usize) {
    let mut certs = Vec::new();
    let mut skipped = 0;
    // The iterator moves past a broken section before reporting it, so
    // carrying on after an `Err` resumes at the next block, as Go's loop does.
    for item in CertificateDer::pem_slice_iter(data) {
        match item {
            Ok(der) if webpki::anchor_from_trusted_cert(&der).is_ok() => certs.push(der),
            Ok(_) | Err(_) => skipped += 1,
        }
    }
    (certs, skipped)
}
