//! The test PKI, made fresh for every world: the CA the node trusts, a CA
//! it does not, and a CA for the token issuer's JWT signing certificate.
//!
//! Certificates are written as PEM files under the world directory; nothing
//! here is installed into the host's trust store.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Which certificate a TLS server presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cert {
    /// Issued by the test CA for the host's own name.
    Good,
    /// Issued by the test CA for the host's name, but `not_after` is past.
    Expired,
    /// Issued by the test CA for another name.
    For(String),
    /// Issued for the host's name by a CA the node does not trust.
    UnknownCa,
    /// Like `Good`, with 60 more names: the server's handshake flight is
    /// then well over 1,200 bytes, as a real chain (leaf + intermediate) is,
    /// so a path MTU black hole stalls the handshake.
    Large,
    /// Like `Good`, but valid only from an hour ago to a day ahead: a node
    /// clock two days off either way fails it (the clock tests).
    Narrow,
}

/// A certificate chain and key, in the forms the servers want.
pub struct Leaf {
    pub chain_pem: String,
    pub key_pem: String,
    pub chain_der: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

struct Ca {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("self-sign ca");
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, names: &[&str], expired: bool) -> Leaf {
        if expired {
            self.issue_for(names, Duration::days(-30), Duration::days(-1))
        } else {
            self.issue_for(names, Duration::days(-1), Duration::days(30))
        }
    }

    /// A leaf valid from `now + from` to `now + to`.
    fn issue_for(&self, names: &[&str], from: Duration, to: Duration) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        let now = OffsetDateTime::now_utc();
        params.not_before = now + from;
        params.not_after = now + to;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain_der: vec![cert.der().clone()],
            key_der: key.serialize_der(),
        }
    }
}

/// The three CAs of a world.
pub struct Pki {
    trusted: Ca,
    unknown: Ca,
    token: Ca,
}

impl Pki {
    pub fn new() -> Pki {
        Pki {
            trusted: Ca::new("rpt test CA"),
            unknown: Ca::new("rpt unknown CA"),
            token: Ca::new("rpt token CA"),
        }
    }

    /// PEM of the CA the node trusts (the node root's bundle holds it).
    pub fn ca_pem(&self) -> &str {
        &self.trusted.pem
    }

    /// DER of the CA the node trusts, for in-process clients.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.trusted.der.clone()
    }

    /// PEM of the CA the registries' `rootcertbundle` holds.
    pub fn token_ca_pem(&self) -> &str {
        &self.token.pem
    }

    /// The certificate `kind` for a server named `host`.
    pub fn leaf(&self, host: &str, kind: &Cert) -> Leaf {
        match kind {
            Cert::Good => self.trusted.issue(&[host], false),
            Cert::Expired => self.trusted.issue(&[host], true),
            Cert::For(other) => self.trusted.issue(&[other], false),
            Cert::UnknownCa => self.unknown.issue(&[host], false),
            Cert::Large => {
                let more: Vec<String> = (0..60).map(|i| format!("alt-{i:02}.{host}")).collect();
                let mut names = vec![host];
                names.extend(more.iter().map(String::as_str));
                self.trusted.issue(&names, false)
            }
            Cert::Narrow => self
                .trusted
                .issue_for(&[host], Duration::hours(-1), Duration::days(1)),
        }
    }

    /// The token issuer's signing certificate, chained to the token CA.
    pub fn token_signer(&self) -> Leaf {
        self.token.issue(&["rpt-token-signer"], false)
    }
}
