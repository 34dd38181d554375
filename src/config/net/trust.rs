//! The node's CA set, found the way Go's crypto/x509 finds it on Linux
//! (containerd, CRI-O, kubelet and dockerd are Go programs and use it).
//!
//! Go (`src/crypto/x509/root_linux.go`, `root_unix.go` `loadSystemRoots`) reads
//! the FIRST bundle of `certFiles` that can be read, then every entry of each
//! of `certDirectories`, skipping symlinks that point within the directory
//! (`isSameDirSymlink`: OpenSSL's hash links, duplicates of files already
//! read), and adds every parseable `CERTIFICATE` PEM block of each file to one
//! pool (`AppendCertsFromPEM`: anything else is silently skipped; the pool
//! drops exact duplicates). `SSL_CERT_FILE`/`SSL_CERT_DIR` belong to the
//! runtime's environment, which the probe cannot see, so they are ignored.
//!
//! Files are read only through the [`HostRoot`], and symlinks are followed
//! inside it: Debian's `/etc/ssl/certs/*.pem` are absolute links into
//! `/usr/share/ca-certificates`, which must land under `--root`, not on the
//! probe's own file system. This module must not build TLS configs: that is
//! the tls stage's job.

use crate::config::Source;
use crate::hostroot::HostRoot;
pub use crate::netconf::parse_pem_certs;
use crate::secret::Secret;
use crate::target::{LoadedClientCert, LoadedFile, TlsMaterial, TlsSettings};
use rustls_pki_types::CertificateDer;
use std::collections::HashSet;
use std::io;
use std::path::Path;

/// Go's `certFiles` (`src/crypto/x509/root_linux.go`): the first one that can
/// be read is used, the rest are ignored.
pub const CERT_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian/Ubuntu/Gentoo etc.
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora/RHEL 6
    "/etc/ssl/ca-bundle.pem",             // OpenSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
    "/etc/ssl/cert.pem",                  // Alpine Linux
];

/// Go's `certDirectories` (`src/crypto/x509/root_linux.go`): all are read.
pub const CERT_DIRECTORIES: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// The node's CA certificates and where each group came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCas {
    /// Unique, parseable CA certificates, in the order they were found.
    pub certs: Vec<CertificateDer<'static>>,
    /// The bundle Go would use (node path) and how many certificates it added.
    pub bundle: Option<(String, usize)>,
    /// Each directory read (node path) and how many new certificates its files added.
    pub dirs: Vec<(String, usize)>,
}

/// Find and read the node's CA set under `root`, reporting every file and
/// directory used as a `trust` [`Source`].
#[must_use]
pub fn load(root: &HostRoot) -> (NodeCas, Vec<Source>) {
    let mut cas = NodeCas::default();
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |cas: &mut NodeCas, certs: Vec<CertificateDer<'static>>| -> usize {
        let before = cas.certs.len();
        for c in certs {
            if seen.insert(c.as_ref().to_vec()) {
                cas.certs.push(c);
            }
        }
        cas.certs.len() - before
    };

    for file in CERT_FILES {
        match read_in_root(root, Path::new(file)) {
            Ok(data) => {
                let (certs, _) = parse_pem_certs(&data);
                let n = add(&mut cas, certs);
                // Go stops at the first readable bundle even when it holds no
                // certificate; so do we, and say so.
                sources.push(if n == 0 {
                    Source::error(file, "trust", "CA bundle holds no valid certificate; Go stops here and ignores later bundles")
                } else {
                    Source::ok(file, "trust")
                });
                cas.bundle = Some((file.to_owned(), n));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => sources.push(Source::error(
                file,
                "trust",
                format!("cannot read CA bundle: {e}"),
            )),
        }
    }

    for dir in CERT_DIRECTORIES {
        let Ok(host_dir) = root.real_path(dir) else {
            continue;
        };
        let entries = match std::fs::read_dir(&host_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                sources.push(Source::error(
                    dir,
                    "trust",
                    format!("cannot read CA directory: {e}"),
                ));
                continue;
            }
        };
        let mut names: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        let mut added = 0;
        for name in names {
            if is_same_dir_symlink(&host_dir.join(&name)) {
                continue;
            }
            // Unreadable entries (sub-directories, dangling links) are
            // skipped silently, as Go does.
            if let Ok(data) = read_in_root(root, &Path::new(dir).join(&name)) {
                added += add(&mut cas, parse_pem_certs(&data).0);
            }
        }
        sources.push(Source::ok(dir, "trust"));
        cas.dirs.push((dir.to_owned(), added));
    }

    if cas.certs.is_empty() {
        sources.push(Source::error(
            CERT_FILES[0],
            "trust",
            format!(
                "no CA bundle found under {}: every TLS registry will be untrusted",
                root.root().display()
            ),
        ));
    }
    (cas, sources)
}

/// Go's `isSameDirSymlink` (`root_unix.go`): a symlink whose target has no `/`.
fn is_same_dir_symlink(host_path: &Path) -> bool {
    std::fs::symlink_metadata(host_path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::read_link(host_path)
            .is_ok_and(|t| !t.as_os_str().as_encoded_bytes().contains(&b'/'))
}

/// Read a node file, following symlinks inside the root.
fn read_in_root(root: &HostRoot, node_path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(root.real_path(node_path)?)
}

/// Read an endpoint's TLS files (its `ca` files, client certificates and
/// keys; paths already re-rooted by discovery) so the tls stage reads none.
/// A file that cannot be read is kept as its error: the runtime would refuse
/// the host's config, and the tls stage says so.
pub fn load_endpoint_files(tls: &mut TlsSettings) {
    let read = |path: &Path| LoadedFile {
        path: path.to_path_buf(),
        bytes: std::fs::read(path).map_err(|e| e.to_string()),
    };
    let ca_files = tls.ca_files.iter().map(|p| read(p)).collect();
    let client_certs = tls
        .client_certs
        .iter()
        .map(|pair| {
            // An empty key path: the key is in the certificate file (containerd `client = "file"`).
            let key_path = if pair.key.as_os_str().is_empty() {
                pair.cert.clone()
            } else {
                pair.key.clone()
            };
            let key = std::fs::read_to_string(&key_path)
                .map(Secret::new)
                .map_err(|e| e.to_string());
            LoadedClientCert {
                cert: read(&pair.cert),
                key_path,
                key,
            }
        })
        .collect();
    tls.material = TlsMaterial {
        ca_files,
        client_certs,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn ca_pem(cn: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn write(root: &Path, node: &str, text: &str) {
        let p = root.join(node.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn parse_skips_garbage_and_non_certificates() {
        let a = ca_pem("A");
        let broken = "-----BEGIN CERTIFICATE-----\n!!notbase64!!\n-----END CERTIFICATE-----\n";
        let not_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let text = format!("junk\n{broken}{key}{not_der}{a}trailing\n");
        let (certs, skipped) = parse_pem_certs(text.as_bytes());
        assert_eq!(certs.len(), 1);
        assert_eq!(skipped, 2);
        assert_eq!(parse_pem_certs(b"").0.len(), 0);
    }

    #[test]
    fn first_bundle_wins_and_dirs_are_added() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c, d) = (ca_pem("A"), ca_pem("B"), ca_pem("C"), ca_pem("D"));
        // The RHEL bundle comes before Alpine's: Alpine's must be ignored.
        write(
            tmp.path(),
            "/etc/pki/tls/certs/ca-bundle.crt",
            &format!("{a}{b}"),
        );
        write(tmp.path(), "/etc/ssl/cert.pem", &d);
        // The certs dir: a new CA, a duplicate, garbage, and a same-dir hash link.
        write(tmp.path(), "/etc/ssl/certs/c.pem", &c);
        write(tmp.path(), "/etc/ssl/certs/dup.pem", &a);
        write(
            tmp.path(),
            "/etc/ssl/certs/garbage.txt",
            "not a certificate",
        );
        std::os::unix::fs::symlink("c.pem", tmp.path().join("etc/ssl/certs/abcd1234.0")).unwrap();
        let (cas, sources) = load(&HostRoot::new(tmp.path()));
        assert_eq!(
            cas.bundle,
            Some(("/etc/pki/tls/certs/ca-bundle.crt".to_owned(), 2))
        );
        // /etc/pki/tls/certs holds the bundle itself again: no new certificate.
        assert_eq!(
            cas.dirs,
            vec![
                ("/etc/ssl/certs".to_owned(), 1),
                ("/etc/pki/tls/certs".to_owned(), 0)
            ]
        );
        assert_eq!(cas.certs.len(), 3);
        assert!(
            sources
                .iter()
                .all(|s| s.kind == "trust" && s.message().is_none()),
            "{sources:?}"
        );
        assert_eq!(sources[0].path, "/etc/pki/tls/certs/ca-bundle.crt");
    }

    #[test]
    fn absolute_symlinks_stay_under_root() {
        let tmp = tempfile::tempdir().unwrap();
        let a = ca_pem("A");
        write(tmp.path(), "/usr/share/ca-certificates/mozilla/A.crt", &a);
        fs::create_dir_all(tmp.path().join("etc/ssl/certs")).unwrap();
        // Debian's layout: an absolute link, which must be re-rooted.
        std::os::unix::fs::symlink(
            "/usr/share/ca-certificates/mozilla/A.crt",
            tmp.path().join("etc/ssl/certs/A.pem"),
        )
        .unwrap();
        // Fedora's layout: the bundle reached through a relative directory link.
        write(
            tmp.path(),
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            &ca_pem("B"),
        );
        std::os::unix::fs::symlink("../../ca-trust/extracted/pem/tls-ca-bundle.pem", {
            fs::create_dir_all(tmp.path().join("etc/pki/tls/certs")).unwrap();
            tmp.path().join("etc/pki/tls/certs/ca-bundle.crt")
        })
        .unwrap();
        let (cas, _) = load(&HostRoot::new(tmp.path()));
        assert_eq!(
            cas.bundle,
            Some(("/etc/pki/tls/certs/ca-bundle.crt".to_owned(), 1))
        );
        assert_eq!(cas.dirs[0], ("/etc/ssl/certs".to_owned(), 1));
        assert_eq!(cas.certs.len(), 2);
    }

    #[test]
    fn empty_root_reports_untrusted_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let (cas, sources) = load(&HostRoot::new(tmp.path()));
        assert!(cas.certs.is_empty());
        assert_eq!(sources.len(), 1);
        let err = sources[0].message().unwrap();
        assert!(err.starts_with("no CA bundle found under "), "{err}");
        assert!(err.ends_with("every TLS registry will be untrusted"));
    }
}
