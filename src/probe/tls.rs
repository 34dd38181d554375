//! The tls stage: a rustls handshake with the trust the runtime would use:
//! the node's CA set (found as Go's crypto/x509 finds it by node discovery,
//! `config::net::trust`), plus the endpoint's `ca` files, client certificate and
//! `skip_verify`, whose contents discovery read beforehand
//! ([`crate::target::TlsMaterial`]): this module reads no file.
//!
//! containerd (core/remotes/docker/config/hosts.go, `tlsConfigFromHost`)
//! starts from the system pool and appends every `ca` file to it; a `ca` file
//! that cannot be read or holds no certificate, or a client pair that does not
//! load, makes it reject the host's whole config before any connection. We
//! mirror that, and `skip_verify` (Go's `InsecureSkipVerify`) skips chain and
//! name checks but not the handshake signature.
//!
//! The certificate verdict is taken by our own verifier, which records the
//! presented chain and webpki's verdict before answering rustls, so the report
//! has the chain even when the handshake fails, the code does not depend on
//! how tokio-rustls wraps errors, and with `skip_verify` we can still say what
//! it masks. This module must not speak HTTP: it offers only `http/1.1` in
//! ALPN because hyper's http1 runs over the stream it returns.

use super::io::BoxIo;
use super::result::{
    CaFileFacts, CertFacts, Certificate, ClientCertFacts, Detail, Stage, StageResult, TlsDetail,
    TrustedBy,
};
use crate::code::Code;
pub use crate::netconf::parse_pem_certs;
use crate::target::{LoadedClientCert, TlsSettings};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// ring, explicitly: the process-wide default provider is nobody's business here.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A webpki verifier over `roots`, or `None` when there is no root at all
/// (rustls refuses to build one; every chain is then of unknown issuer).
fn webpki_verifier(roots: Arc<RootCertStore>) -> Option<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .ok()
}

/// The verifier of the node's CA set plus an endpoint's `ca` files: the
/// node's own, built once, when the endpoint adds none.
fn verifier_with(
    trust: &TrustStore,
    ca_certs: Vec<CertificateDer<'static>>,
) -> Option<Arc<WebPkiServerVerifier>> {
    if ca_certs.is_empty() {
        return trust.verifier.clone();
    }
    let mut roots = (*trust.roots).clone();
    roots.add_parsable_certificates(ca_certs);
    webpki_verifier(Arc::new(roots))
}

/// The node's CA set, built once per run and shared by every handshake.
pub struct TrustStore {
    roots: Arc<RootCertStore>,
    /// Built once: it only depends on `roots`.
    verifier: Option<Arc<WebPkiServerVerifier>>,
}

impl TrustStore {
    /// A store of exactly these CA certificates (the node's set, or none).
    #[must_use]
    pub fn from_certs(certs: impl IntoIterator<Item = CertificateDer<'static>>) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(certs);
        let roots = Arc::new(roots);
        Self {
            verifier: webpki_verifier(roots.clone()),
            roots,
        }
    }

    /// How many CA certificates the node trusts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

/// What the handshake showed us, filled in by the verifier and the client
/// certificate resolver while rustls runs.
#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Option<Result<TrustedBy, rustls::Error>>,
    client_cert_requested: bool,
}

type Slot = Arc<Mutex<Seen>>;

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Seen> {
    // A panic elsewhere must not hide what was recorded.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct RecordingVerifier {
    /// Node roots plus the endpoint's ca files: containerd's pool.
    combined: Option<Arc<WebPkiServerVerifier>>,
    /// Node roots alone, asked only to tell `verified_with` apart.
    system: Option<Arc<WebPkiServerVerifier>>,
    has_ca_files: bool,
    skip_verify: bool,
    /// Accept a chain whose only fault is its dates (the clock check; the
    /// connection then carries nothing secret).
    time_only: bool,
    algs: WebPkiSupportedAlgorithms,
    slot: Slot,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Recorded first, so that a failure below still leaves the chain.
        lock(&self.slot).chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        let verdict = match &self.combined {
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| {
                    if !self.has_ca_files {
                        return TrustedBy::System;
                    }
                    match &self.system {
                        Some(s)
                            if s.verify_server_cert(
                                end_entity,
                                intermediates,
                                server_name,
                                ocsp_response,
                                now,
                            )
                            .is_ok() =>
                        {
                            TrustedBy::System
                        }
                        _ => TrustedBy::CaFiles,
                    }
                }),
        };
        lock(&self.slot).verdict = Some(verdict.clone());
        if self.skip_verify || (self.time_only && verdict.as_ref().is_err_and(is_time_error)) {
            return Ok(ServerCertVerified::assertion());
        }
        verdict.map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Offers the configured client certificate, and notes that the server asked.
#[derive(Debug)]
struct RecordingClientCert {
    key: Option<Arc<CertifiedKey>>,
    slot: Slot,
}

impl ResolvesClientCert for RecordingClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        lock(&self.slot).client_cert_requested = true;
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

/// The endpoint's `ca` files: certificates, per-file facts, and the problems
/// that would make the runtime refuse the host config.
fn load_ca_files(
    settings: &TlsSettings,
) -> (Vec<CertificateDer<'static>>, Vec<CaFileFacts>, Vec<String>) {
    let (mut certs, mut facts, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for path in &settings.ca_files {
        let loaded = settings.material.ca_files.iter().find(|f| f.path == *path);
        let (n, error) = match loaded.map(|f| &f.bytes) {
            Some(Ok(data)) => {
                let (found, _) = parse_pem_certs(data);
                let n = found.len();
                certs.extend(found);
                (n, (n == 0).then(|| "no certificate in the file".to_owned()))
            }
            Some(Err(e)) => (0, Some(e.clone())),
            None => (0, Some("not read before the probe".to_owned())),
        };
        if let Some(e) = &error {
            errors.push(format!("cannot load CA file {}: {e}", path.display()));
        }
        facts.push(CaFileFacts {
            path: path.display().to_string(),
            certificates: n,
            error,
        });
    }
    (certs, facts, errors)
}

/// The first client pair that loads (PEM certificate chain, PEM key in
/// PKCS#1, PKCS#8 or SEC1, matching the certificate). An empty key path means
/// the key is in the certificate file, as containerd's `client = "file"`;
/// discovery read it as the key.
fn load_client_cert(
    settings: &TlsSettings,
) -> (Option<(Arc<CertifiedKey>, &LoadedClientCert)>, Vec<String>) {
    let mut errors = Vec::new();
    if settings.material.client_certs.len() < settings.client_certs.len() {
        errors.push("client certificate files were not read before the probe".to_owned());
    }
    for pair in &settings.material.client_certs {
        let cert_path = pair.cert.path.display();
        let loaded = pair
            .cert
            .bytes
            .as_ref()
            .map_err(|e| format!("{cert_path}: {e}"))
            .and_then(|cert_pem| {
                let chain: Vec<_> = CertificateDer::pem_slice_iter(cert_pem)
                    .filter_map(Result::ok)
                    .collect();
                if chain.is_empty() {
                    return Err(format!("{cert_path}: no certificate in the file"));
                }
                let key_path = pair.key_path.display();
                let key_pem = pair.key.as_ref().map_err(|e| format!("{key_path}: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes())
                    .map_err(|e| format!("{key_path}: no usable private key ({e})"))?;
                CertifiedKey::from_der(chain, key, &provider())
                    .map_err(|e| format!("{cert_path} with {key_path}: {e}"))
            });
        match loaded {
            Ok(key) => return (Some((Arc::new(key), pair)), errors),
            Err(e) => errors.push(format!("cannot load client certificate {e}")),
        }
    }
    (None, errors)
}

fn cert_facts(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let (mut dns, mut ip) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                        ip.push(std::net::IpAddr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        ip.push(std::net::IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let time = |t: &x509_parser::time::ASN1Time| {
        time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| e.to_string())
    };
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        dns_names: dns,
        ip_addresses: ip,
        not_before: time(&cert.validity().not_before)?,
        not_after: time(&cert.validity().not_after)?,
        serial: cert.raw_serial_as_string(),
        is_ca: cert.is_ca(),
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A certificate as the report shows it: its SHA-256 fingerprint and its
/// parsed facts, or why the DER does not parse.
#[must_use]
pub fn describe_certificate(der: &[u8]) -> Certificate {
    let sha256 = Sha256::digest(der)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
    Certificate {
        sha256,
        facts: cert_facts(der).map_err(|e| format!("unparseable certificate: {e}")),
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A certificate verdict about dates only: expired or not yet valid.
fn is_time_error(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
        )
    )
}

/// Whether `chain` (leaf first) is valid for `server_name` at `at` with the
/// runtime's trust (the node's CA set plus the endpoint's `ca` files): the
/// clock check asks it at the time the registry states.
pub fn verify_at(
    chain: &[CertificateDer<'static>],
    server_name: &str,
    settings: &TlsSettings,
    trust: &TrustStore,
    at: std::time::SystemTime,
) -> Result<(), String> {
    let (ca_certs, _, _) = load_ca_files(settings);
    let verifier = verifier_with(trust, ca_certs).ok_or("the node trusts no CA")?;
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate presented")?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| e.to_string())?;
    let since = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(
            leaf,
            intermediates,
            &name,
            &[],
            UnixTime::since_unix_epoch(since),
        )
        .map(|_| ())
        .map_err(|e| cert_summary(&e, server_name, chain))
}

/// The contract code of a certificate verdict.
fn cert_code(err: &rustls::Error) -> Code {
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Code::TlsNameMismatch,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => Code::TlsExpired,
        // Unknown issuer, bad signature, bad encoding, wrong purpose,
        // revoked...: the node's CA set does not vouch for this chain.
        _ => Code::TlsUntrusted,
    }
}

/// A certificate failure in plain words, with what would fix it.
fn cert_summary(err: &rustls::Error, name: &str, chain: &[CertificateDer<'_>]) -> String {
    let leaf = chain.first().and_then(|c| cert_facts(c).ok());
    let top = chain.last().and_then(|c| cert_facts(c).ok());
    match (cert_code(err), err) {
        (Code::TlsNameMismatch, _) => {
            let valid_for = leaf
                .map(|f| [f.dns_names, f.ip_addresses].concat().join(", "))
                .unwrap_or_default();
            format!(
                "certificate is valid for [{valid_for}], not for {name}: use a name it covers or reissue it with {name} in its SANs"
            )
        }
        (
            Code::TlsExpired,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
            ),
        ) => {
            let from = leaf.map(|f| rfc3339(f.not_before)).unwrap_or_default();
            format!(
                "certificate for {name} is not valid before {from}: check the node's clock, or the certificate's dates"
            )
        }
        (Code::TlsExpired, _) => {
            let until = leaf.map(|f| rfc3339(f.not_after)).unwrap_or_default();
            format!(
                "certificate for {name} expired on {until}: the registry must renew it (or check the node's clock)"
            )
        }
        (_, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => match top {
            Some(f) if chain.len() == 1 && f.subject == f.issuer => format!(
                "certificate for {name} is self-signed ({}) and not trusted by the node's CA set: add it to the registry's hosts.toml `ca` or the node's CA bundle",
                f.subject
            ),
            Some(f) => format!(
                "certificate for {name} issued by {} is not trusted by the node's CA set: add that CA to the registry's hosts.toml `ca` or the node's CA bundle (or a TLS-inspecting proxy is in the way)",
                f.issuer
            ),
            None => format!("certificate for {name} is not trusted by the node's CA set"),
        },
        _ => format!("certificate for {name} rejected: {err}"),
    }
}

/// A handshake failure that is not about the certificate, in plain words.
fn io_summary(err: &io::Error, seen: &Seen, has_client_cert: bool) -> String {
    let client_hint = if seen.client_cert_requested && !has_client_cert {
        "; the server asked for a client certificate and none is configured"
    } else {
        ""
    };
    if let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        return match tls {
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => {
                format!("the server did not answer with TLS (plain HTTP on this port?): {tls}")
            }
            rustls::Error::AlertReceived(alert) => {
                format!("the server aborted the handshake with alert {alert:?}{client_hint}")
            }
            other => format!("TLS handshake failed: {other}{client_hint}"),
        };
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => {
            format!("the server closed the connection during the TLS handshake{client_hint}")
        }
        io::ErrorKind::ConnectionReset => {
            format!(
                "connection reset during the TLS handshake (a firewall or proxy cutting TLS?){client_hint}"
            )
        }
        _ => format!("TLS handshake failed: {err}{client_hint}"),
    }
}

/// Handshake over `io` for `server_name` (a DNS name, or an IP literal
/// checked against IP SANs), within `timeout`.
///
/// On success returns the TLS stream for the HTTP stages. The stage's
/// [`TlsDetail`] holds the presented chain (each as [`describe_certificate`]),
/// which roots vouched for it, what `skip_verify` masks, the endpoint's
/// `ca` files and client certificate, and on failure the error. Codes: `TLS_UNTRUSTED`, `TLS_NAME_MISMATCH`,
/// `TLS_EXPIRED` for certificate verdicts (and `TLS_UNTRUSTED` when the
/// endpoint's own TLS files would not load in the runtime), `TLS_HANDSHAKE`
/// for everything else, timeouts included.
pub async fn handshake(
    io: BoxIo,
    server_name: &str,
    settings: &TlsSettings,
    trust: &TrustStore,
    timeout: Duration,
) -> (StageResult, Option<BoxIo>) {
    let (stage, io, _) = handshake_with(io, server_name, settings, trust, timeout, false).await;
    (stage, io)
}

/// [`handshake`], with the presented chain; with `time_only`, a chain whose
/// only fault is its dates is accepted. That is for the clock check only:
/// nothing secret may be sent over the stream it returns.
pub async fn handshake_with(
    io: BoxIo,
    server_name: &str,
    settings: &TlsSettings,
    trust: &TrustStore,
    timeout: Duration,
    time_only: bool,
) -> (StageResult, Option<BoxIo>, Vec<CertificateDer<'static>>) {
    let started = Instant::now();
    let (ca_certs, ca_facts, ca_errors) = load_ca_files(settings);
    let (client, client_errors) = load_client_cert(settings);
    let mut detail = TlsDetail {
        server_name: server_name.to_owned(),
        skip_verify: settings.skip_verify,
        ca_files: ca_facts,
        client_certificate: ClientCertFacts {
            configured: !settings.client_certs.is_empty(),
            cert: client
                .as_ref()
                .map(|(_, p)| p.cert.path.display().to_string()),
            requested: false,
            sent: false,
            errors: client_errors.clone(),
        },
        trust_store_certificates: trust.len(),
        ..TlsDetail::default()
    };
    let fail = |code: Code, summary: String, mut detail: TlsDetail| {
        detail.error = Some(summary.clone());
        (
            StageResult::fail(
                Stage::Tls,
                code,
                started.elapsed(),
                summary,
                Detail::Tls(Box::new(detail)),
            ),
            None,
            Vec::new(),
        )
    };

    let Ok(name) = ServerName::try_from(server_name.to_owned()) else {
        return fail(
            Code::TlsHandshake,
            format!("{server_name:?} is not a valid TLS server name"),
            detail,
        );
    };

    let slot: Slot = Arc::default();
    // Files that failed to load add no root, so they cannot have vouched.
    let has_ca_files = !ca_certs.is_empty();
    let system = has_ca_files.then(|| trust.verifier.clone()).flatten();
    let combined = verifier_with(trust, ca_certs);
    let verifier = RecordingVerifier {
        combined,
        system,
        has_ca_files,
        skip_verify: settings.skip_verify,
        time_only,
        algs: provider().signature_verification_algorithms,
        slot: slot.clone(),
    };
    let has_client_cert = client.is_some();
    let resolver = RecordingClientCert {
        key: client.map(|(k, _)| k),
        slot: slot.clone(),
    };
    let mut config = match ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(Arc::new(resolver)),
        Err(e) => {
            return fail(
                Code::TlsHandshake,
                format!("cannot build a TLS client: {e}"),
                detail,
            );
        }
    };
    // We speak HTTP/1.1 only (hyper http1); a resumed session would skip the
    // verifier and leave the chain unrecorded.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = Resumption::disabled();

    let result = tokio::time::timeout(
        timeout,
        TlsConnector::from(Arc::new(config)).connect(name, io),
    )
    .await;
    let seen = std::mem::take(&mut *lock(&slot));
    detail.chain = seen.chain.iter().map(|c| describe_certificate(c)).collect();
    detail.client_certificate.requested = seen.client_cert_requested;
    detail.client_certificate.sent = seen.client_cert_requested && has_client_cert;
    if let Some(Ok(by)) = &seen.verdict {
        detail.verified_with = Some(*by);
    }
    let masked = match &seen.verdict {
        Some(Err(e)) if settings.skip_verify => Some(cert_summary(e, server_name, &seen.chain)),
        _ => None,
    };
    detail.masked_error.clone_from(&masked);
    // The runtime rejects the host's TLS config before connecting; the
    // handshake above only gathers facts.
    let config_errors: Vec<String> = ca_errors.into_iter().chain(client_errors).collect();

    // TCP connected, and no TLS answer came: a stall, not a refusal.
    detail.stalled = result.is_err();
    let failure = match result {
        Err(_) => Some((
            Code::TlsHandshake,
            format!(
                "no TLS answer within {}",
                humantime::format_duration(timeout)
            ),
        )),
        Ok(Err(e)) => Some(match &seen.verdict {
            Some(Err(cert_err)) if !settings.skip_verify => (
                cert_code(cert_err),
                cert_summary(cert_err, server_name, &seen.chain),
            ),
            _ => (Code::TlsHandshake, io_summary(&e, &seen, has_client_cert)),
        }),
        Ok(Ok(stream)) => {
            detail_connection(&mut detail, &stream);
            if config_errors.is_empty() {
                return (
                    ok_result(started, detail, &seen, masked, has_client_cert),
                    Some(Box::new(stream)),
                    seen.chain,
                );
            }
            None
        }
    };

    // Broken TLS files come first: the runtime never gets to connect.
    match (config_errors.is_empty(), failure) {
        (false, None) => fail(Code::TlsUntrusted, config_summary(&config_errors), detail),
        (false, Some((_, also))) => fail(
            Code::TlsUntrusted,
            format!(
                "{}; the handshake itself: {also}",
                config_summary(&config_errors)
            ),
            detail,
        ),
        (true, Some((code, summary))) => fail(code, summary, detail),
        (true, None) => unreachable!("a successful handshake without config errors returned above"),
    }
}

/// Version, ALPN and cipher suite of an established connection.
fn detail_connection(detail: &mut TlsDetail, stream: &tokio_rustls::client::TlsStream<BoxIo>) {
    let (_, conn) = stream.get_ref();
    detail.version = conn.protocol_version().map(version_name);
    detail.alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    detail.cipher_suite = conn.negotiated_cipher_suite().map(|s| {
        let suite = s.suite();
        suite
            .as_str()
            .map_or_else(|| format!("{suite:?}"), str::to_owned)
    });
}

/// The one-line success: version, leaf, expiry, and what deserves a warning.
fn ok_result(
    started: Instant,
    detail: TlsDetail,
    seen: &Seen,
    masked: Option<String>,
    has_client_cert: bool,
) -> StageResult {
    let mut summary = detail.version.clone().unwrap_or_else(|| "TLS".to_owned());
    if let Some(f) = seen.chain.first().and_then(|c| cert_facts(c).ok()) {
        let _ = write!(
            summary,
            ", {} issued by {}, expires {}",
            f.subject,
            f.issuer,
            f.not_after.date()
        );
    }
    if detail.verified_with == Some(TrustedBy::CaFiles) {
        summary.push_str(", trusted through the endpoint's ca files");
    }
    if let Some(m) = masked {
        let _ = write!(summary, "; skip_verify is on and masks: {m}");
    }
    if seen.client_cert_requested && !has_client_cert {
        summary.push_str("; the server asked for a client certificate and none is configured");
    }
    StageResult::ok(
        Stage::Tls,
        started.elapsed(),
        summary,
        Detail::Tls(Box::new(detail)),
    )
}

fn config_summary(errors: &[String]) -> String {
    format!(
        "the runtime would reject this host's TLS config before connecting: {}",
        errors.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::server::WebPkiClientVerifier;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    const T: Duration = Duration::from_secs(5);

    fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    /// A leaf for `sans`, valid over `[from, until]` (years), signed by `issuer`.
    fn leaf(
        issuer: &CertifiedIssuer<'static, KeyPair>,
        sans: &[&str],
        years: (i32, i32),
    ) -> (Vec<CertificateDer<'static>>, KeyPair) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, sans[0]);
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        (vec![cert.der().clone()], key)
    }

    fn current(
        sans: &[&str],
        issuer: &CertifiedIssuer<'static, KeyPair>,
    ) -> (Vec<CertificateDer<'static>>, KeyPair) {
        leaf(issuer, sans, (2020, 2099))
    }

    /// A one-connection TLS server on loopback; yields the client's certificates.
    async fn tls_server(
        chain: Vec<CertificateDer<'static>>,
        key: &KeyPair,
        client_ca: Option<CertificateDer<'static>>,
    ) -> (SocketAddr, JoinHandle<Option<Vec<CertificateDer<'static>>>>) {
        tls_server_versions(chain, key, client_ca, rustls::DEFAULT_VERSIONS).await
    }

    async fn tls_server_versions(
        chain: Vec<CertificateDer<'static>>,
        key: &KeyPair,
        client_ca: Option<CertificateDer<'static>>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (SocketAddr, JoinHandle<Option<Vec<CertificateDer<'static>>>>) {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca).unwrap();
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(v)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.ok()?;
            let certs = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec);
            // Hold the connection until the client goes away.
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf).await;
            certs
        });
        (addr, task)
    }

    /// Handshake with the server at `addr` as `name`, the settings' TLS files
    /// read first as discovery reads them.
    async fn probe(
        addr: SocketAddr,
        name: &str,
        settings: &TlsSettings,
        trust: &TrustStore,
    ) -> (StageResult, Option<BoxIo>) {
        let settings = with_files(settings);
        let tcp = TcpStream::connect(addr).await.unwrap();
        handshake(Box::new(tcp), name, &settings, trust, T).await
    }

    /// The settings with their files' contents, read as discovery reads them.
    fn with_files(settings: &TlsSettings) -> TlsSettings {
        let read = |p: &std::path::Path| crate::target::LoadedFile {
            path: p.to_path_buf(),
            bytes: std::fs::read(p).map_err(|e| e.to_string()),
        };
        let mut s = settings.clone();
        s.material.ca_files = s.ca_files.iter().map(|p| read(p)).collect();
        s.material.client_certs = s
            .client_certs
            .iter()
            .map(|c| crate::target::LoadedClientCert {
                cert: read(&c.cert),
                key_path: c.key.clone(),
                key: std::fs::read_to_string(&c.key)
                    .map(crate::secret::Secret::new)
                    .map_err(|e| e.to_string()),
            })
            .collect();
        s
    }

    /// The stage's detail as the report shows it.
    fn dj(r: &StageResult) -> serde_json::Value {
        crate::report::json::detail::stage_detail(r)
    }

    /// Serve `leaf` on a one-connection server that asks for no client
    /// certificate, and handshake with it as `name`.
    async fn probe_leaf(
        (chain, key): (Vec<CertificateDer<'static>>, KeyPair),
        name: &str,
        settings: &TlsSettings,
        trust: &TrustStore,
    ) -> (StageResult, Option<BoxIo>) {
        let (addr, _srv) = tls_server(chain, &key, None).await;
        probe(addr, name, settings, trust).await
    }

    fn trusting(ca: &CertifiedIssuer<'static, KeyPair>) -> TrustStore {
        TrustStore::from_certs([ca.der().clone()])
    }

    #[tokio::test]
    async fn trusted_by_node_store_records_chain() {
        let root = ca("Test CA");
        let (chain, key) = current(&["registry.test"], &root);
        let (r, io) = probe_leaf(
            (chain.clone(), key),
            "registry.test",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert!(io.is_some());
        assert_eq!(
            r.summary,
            "TLSv1.3, CN=registry.test issued by CN=Test CA, expires 2099-01-01"
        );
        assert_eq!(dj(&r)["version"], "TLSv1.3");
        assert_eq!(dj(&r)["alpn"], "http/1.1");
        assert_eq!(dj(&r)["verified_with"], "system");
        assert!(
            dj(&r)["cipher_suite"]
                .as_str()
                .unwrap()
                .starts_with("TLS13_")
        );
        let rendered = dj(&r);
        let leaf = &rendered["chain"][0];
        assert_eq!(leaf["subject"], "CN=registry.test");
        assert_eq!(leaf["issuer"], "CN=Test CA");
        assert_eq!(leaf["dns_names"], serde_json::json!(["registry.test"]));
        assert_eq!(leaf["not_after"], "2099-01-01T00:00:00Z");
        let fingerprint = Sha256::digest(&chain[0])
            .iter()
            .fold(String::new(), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            });
        assert_eq!(leaf["sha256"], fingerprint);
        assert!(dj(&r)["masked_error"].is_null());
    }

    #[tokio::test]
    async fn tls12_server_is_reported_as_such() {
        let root = ca("Test CA");
        let (chain, key) = current(&["registry.test"], &root);
        let (addr, _srv) = tls_server_versions(chain, &key, None, &[&rustls::version::TLS12]).await;
        let (r, _) = probe(
            addr,
            "registry.test",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert_eq!(dj(&r)["version"], "TLSv1.2");
        assert_eq!(dj(&r)["alpn"], "http/1.1");
        assert!(
            r.summary.starts_with("TLSv1.2, CN=registry.test"),
            "{}",
            r.summary
        );
    }

    #[tokio::test]
    async fn ip_literal_is_checked_against_ip_sans() {
        let root = ca("Test CA");
        let (r, _) = probe_leaf(
            current(&["127.0.0.1"], &root),
            "127.0.0.1",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert_eq!(
            dj(&r)["chain"][0]["ip_addresses"],
            serde_json::json!(["127.0.0.1"])
        );
    }

    #[tokio::test]
    async fn unknown_ca_is_untrusted_with_chain() {
        let (root, other) = (ca("Test CA"), ca("Other CA"));
        let (r, io) = probe_leaf(
            current(&["registry.test"], &other),
            "registry.test",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert!(io.is_none());
        assert_eq!(r.code, Code::TlsUntrusted);
        assert!(
            r.summary.starts_with("certificate for registry.test issued by CN=Other CA is not trusted by the node's CA set"),
            "{}",
            r.summary
        );
        assert_eq!(dj(&r)["chain"][0]["issuer"], "CN=Other CA");
        // An empty node store behaves the same (rustls would refuse to build a verifier).
        let (r, _) = probe_leaf(
            current(&["registry.test"], &other),
            "registry.test",
            &TlsSettings::default(),
            &TrustStore::from_certs([]),
        )
        .await;
        assert_eq!(r.code, Code::TlsUntrusted, "{}", r.summary);
    }

    #[tokio::test]
    async fn wrong_name_is_a_mismatch() {
        let root = ca("Test CA");
        let (r, _) = probe_leaf(
            current(&["other.test"], &root),
            "registry.test",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::TlsNameMismatch, "{}", r.summary);
        assert!(
            r.summary
                .starts_with("certificate is valid for [other.test], not for registry.test"),
            "{}",
            r.summary
        );
    }

    #[tokio::test]
    async fn expired_and_not_yet_valid() {
        let root = ca("Test CA");
        for (years, want) in [
            ((2019, 2021), "expired on 2021-01-01T00:00:00Z"),
            ((2090, 2099), "not valid before 2090-01-01"),
        ] {
            let (r, _) = probe_leaf(
                leaf(&root, &["registry.test"], years),
                "registry.test",
                &TlsSettings::default(),
                &trusting(&root),
            )
            .await;
            assert_eq!(r.code, Code::TlsExpired, "{}", r.summary);
            assert!(r.summary.contains(want), "{}", r.summary);
        }
    }

    #[tokio::test]
    async fn trusted_through_endpoint_ca_files() {
        let (root, node) = (ca("Private CA"), ca("Public CA"));
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, root.pem()).unwrap();
        let settings = TlsSettings {
            ca_files: vec![ca_file],
            ..TlsSettings::default()
        };
        let (r, io) = probe_leaf(
            current(&["registry.test"], &root),
            "registry.test",
            &settings,
            &trusting(&node),
        )
        .await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert!(io.is_some());
        assert_eq!(dj(&r)["verified_with"], "ca_files");
        assert_eq!(dj(&r)["ca_files"][0]["certificates"], 1);
    }

    #[tokio::test]
    async fn unloadable_ca_file_fails_like_the_runtime() {
        let root = ca("Test CA");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "no pem here").unwrap();
        let settings = TlsSettings {
            ca_files: vec![empty, dir.path().join("missing.crt")],
            ..TlsSettings::default()
        };
        let (r, _) = probe_leaf(
            current(&["registry.test"], &root),
            "registry.test",
            &settings,
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::TlsUntrusted, "{}", r.summary);
        assert!(
            r.summary.contains("empty.crt: no certificate in the file"),
            "{}",
            r.summary
        );
        assert!(r.summary.contains("missing.crt"), "{}", r.summary);
        // The handshake still ran, so the facts are there; files that did
        // not load cannot have vouched for the chain.
        assert_eq!(dj(&r)["version"], "TLSv1.3");
        assert_eq!(dj(&r)["verified_with"], "system");
        // Broken files outrank a certificate verdict: the runtime stops first.
        let other = ca("Other CA");
        let (r, _) = probe_leaf(
            current(&["registry.test"], &other),
            "registry.test",
            &settings,
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::TlsUntrusted, "{}", r.summary);
        assert!(
            r.summary
                .starts_with("the runtime would reject this host's TLS config"),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains(
                "the handshake itself: certificate for registry.test issued by CN=Other CA"
            ),
            "{}",
            r.summary
        );
    }

    #[tokio::test]
    async fn skip_verify_accepts_but_reports_what_it_masks() {
        let (root, other) = (ca("Test CA"), ca("Other CA"));
        let settings = TlsSettings {
            skip_verify: true,
            ..TlsSettings::default()
        };
        let (r, io) = probe_leaf(
            current(&["registry.test"], &other),
            "registry.test",
            &settings,
            &trusting(&root),
        )
        .await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert!(io.is_some());
        let rendered = dj(&r);
        let masked = rendered["masked_error"].as_str().unwrap();
        assert!(
            masked.contains("issued by CN=Other CA is not trusted"),
            "{masked}"
        );
        assert!(
            r.summary
                .contains("skip_verify is on and masks: certificate for registry.test"),
            "{}",
            r.summary
        );
        assert!(dj(&r)["verified_with"].is_null());
    }

    #[tokio::test]
    async fn garbage_answer_is_a_handshake_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        let (r, io) = probe(
            addr,
            "registry.test",
            &TlsSettings::default(),
            &TrustStore::from_certs([]),
        )
        .await;
        assert!(io.is_none());
        assert_eq!(r.code, Code::TlsHandshake);
        assert!(
            r.summary.starts_with("the server did not answer with TLS"),
            "{}",
            r.summary
        );
        assert_eq!(dj(&r)["chain"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn silent_server_times_out_within_bound() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let t0 = std::time::Instant::now();
        let limit = Duration::from_millis(300);
        let (r, io) = handshake(
            Box::new(tcp),
            "registry.test",
            &TlsSettings::default(),
            &TrustStore::from_certs([]),
            limit,
        )
        .await;
        let elapsed = t0.elapsed();
        assert!(io.is_none());
        assert_eq!(r.code, Code::TlsHandshake);
        assert!(
            r.summary.starts_with("no TLS answer within 300ms"),
            "{}",
            r.summary
        );
        assert!(
            elapsed >= limit && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn client_certificate_is_presented_when_required() {
        let (root, client_ca) = (ca("Test CA"), ca("Client CA"));
        let (chain, key) = current(&["registry.test"], &root);
        let (client_chain, client_key) = current(&["node.test"], &client_ca);
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (
            dir.path().join("client.cert"),
            dir.path().join("client.key"),
        );
        let pem = pem_of(&client_chain[0]);
        std::fs::write(&cert_path, pem).unwrap();
        std::fs::write(&key_path, client_key.serialize_pem()).unwrap();
        let good = crate::target::ClientCert {
            cert: cert_path,
            key: key_path.clone(),
        };
        let settings = TlsSettings {
            client_certs: vec![good.clone()],
            ..TlsSettings::default()
        };
        let (addr, srv) = tls_server(chain.clone(), &key, Some(client_ca.der().clone())).await;
        let (r, io) = probe(addr, "registry.test", &settings, &trusting(&root)).await;
        assert_eq!(r.code, Code::Ok, "{}", r.summary);
        assert_eq!(dj(&r)["client_certificate"]["requested"], true);
        assert_eq!(dj(&r)["client_certificate"]["sent"], true);
        drop(io);
        let seen = srv
            .await
            .unwrap()
            .expect("server accepted the client certificate");
        assert_eq!(seen[0], client_chain[0]);

        // A broken pair before it: the good one is still sent, but the
        // runtime, which loads every pair, would refuse the host config.
        let broken = crate::target::ClientCert {
            cert: dir.path().join("nope.cert"),
            key: key_path,
        };
        let settings = TlsSettings {
            client_certs: vec![broken, good],
            ..TlsSettings::default()
        };
        let (addr, srv) = tls_server(chain, &key, Some(client_ca.der().clone())).await;
        let (r, io) = probe(addr, "registry.test", &settings, &trusting(&root)).await;
        assert_eq!(r.code, Code::TlsUntrusted, "{}", r.summary);
        assert!(r.summary.contains("nope.cert"), "{}", r.summary);
        assert_eq!(dj(&r)["client_certificate"]["sent"], true);
        drop(io);
        assert!(srv.await.unwrap().is_some());

        // Without a certificate, the report says the server asked for one.
        let (chain, key) = current(&["registry.test"], &root);
        let (addr, _srv) = tls_server(chain, &key, Some(client_ca.der().clone())).await;
        let (r, _) = probe(
            addr,
            "registry.test",
            &TlsSettings::default(),
            &trusting(&root),
        )
        .await;
        assert_eq!(dj(&r)["client_certificate"]["requested"], true);
        assert!(
            r.summary
                .contains("asked for a client certificate and none is configured"),
            "{}",
            r.summary
        );
    }

    fn pem_of(der: &CertificateDer<'_>) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// `dial` runs inside `tokio::spawn`: the stage's future must be `Send`.
    #[test]
    fn handshake_future_is_send() {
        fn assert_send<F: Send>(_: &F) {}
        let (a, _b) = tokio::io::duplex(64);
        let trust = TrustStore::from_certs([]);
        let settings = TlsSettings::default();
        let fut = handshake(Box::new(a), "registry.test", &settings, &trust, T);
        assert_send(&fut);
    }

    #[test]
    fn describe_handles_garbage() {
        let v = crate::report::json::detail::certificate(&describe_certificate(b"not der"));
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("unparseable certificate")
        );
        assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    }
}
