//! Docker Engine (dockerd) registry configuration, as Minikube's docker
//! runtime and cri-dockerd nodes use it.
//!
//! Reads `/etc/docker/daemon.json` (`registry-mirrors`, `insecure-registries`,
//! `proxies`), the same options from dockerd's command line in its systemd
//! unit and drop-ins (Minikube writes `--insecure-registry` there), and the
//! per-host `/etc/docker/certs.d/<host:port>/` directories. Endpoint order
//! follows moby's `lookupV2Endpoints`: for Docker Hub the mirrors, then
//! `registry-1.docker.io`; for other registries `https`, plus plain `http`
//! when the registry is insecure.
//!
//! Ported from moby `daemon/pkg/registry/config.go` (`loadMirrors`,
//! `loadInsecureRegistries`, `ValidateMirror`, `isSecureIndex`),
//! `registry/service_v2.go` (`lookupV2Endpoints`) and
//! `daemon/pkg/registry/registry.go` (`newTLSConfig`, `loadTLSConfig`).
//!
//! [`DockerConfig`] implements [`crate::config::runtime::backend::RuntimeConfig`]. What dockerd refuses
//! to start with is an `error` finding of the file (daemon.json or the unit)
//! at the line that has it. `proxies` are held as [`Secret`]s and applied by
//! the caller ([`crate::config::net::proxy::ProxyEnv::with_docker_proxies`]), not here.
//!
//! Parsers take `&str`; only [`discover`] and the endpoint builders read
//! files, through [`HostRoot`]. Host names are never resolved here: moby
//! matches insecure CIDRs against resolved addresses, so callers that have
//! resolved a name can ask [`insecure_cidr_for`].

use crate::config::runtime::backend::RegistryPlan;
use crate::config::{ParseError, Severity, Source, read_optional, systemd};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{ClientCert, Endpoint, HttpFallback, Role, Scheme, TlsSettings};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;

/// dockerd's default configuration file (`--config-file` changes it).
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// moby's `CertsDir()` on Linux.
pub const CERTS_D: &str = "/etc/docker/certs.d";
/// dockerd's systemd unit.
const UNIT: &str = "docker.service";
/// The `kind` of the files read here (`CONTRACT.md`: `config_sources[].kind`).
const KIND: &str = "docker";

/// Docker Hub: the index name and the host actually contacted.
const INDEX_NAME: &str = "docker.io";
const INDEX_HOSTNAME: &str = "index.docker.io";
const DEFAULT_REGISTRY_HOST: &str = "registry-1.docker.io";
/// Always insecure in moby (`loadInsecureRegistries`).
const ALWAYS_INSECURE: [&str; 2] = ["::1/128", "127.0.0.0/8"];

/// daemon.json `proxies` (moby `daemon/config` `Proxies`). A proxy URL may
/// carry a password, so the values are secret from parsing on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proxies {
    pub http_proxy: Option<Secret>,
    pub https_proxy: Option<Secret>,
    pub no_proxy: Option<Secret>,
}

/// `proxies` as serde reads it, turned into [`Proxies`] at once.
#[derive(Deserialize)]
#[expect(
    clippy::struct_field_names,
    reason = "the names of dockerd's keys, as in Proxies"
)]
struct RawProxies {
    #[serde(rename = "http-proxy")]
    http_proxy: Option<String>,
    #[serde(rename = "https-proxy")]
    https_proxy: Option<String>,
    #[serde(rename = "no-proxy")]
    no_proxy: Option<String>,
}

impl From<RawProxies> for Proxies {
    fn from(raw: RawProxies) -> Self {
        Self {
            http_proxy: raw.http_proxy.map(Secret::new),
            https_proxy: raw.https_proxy.map(Secret::new),
            no_proxy: raw.no_proxy.map(Secret::new),
        }
    }
}

/// The registry-related part of one daemon.json.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonConfig {
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    pub proxies: Option<Proxies>,
    /// 1-based lines of the keys, for `file:line` sources.
    pub registry_mirrors_line: Option<usize>,
    pub insecure_registries_line: Option<usize>,
    pub proxies_line: Option<usize>,
}

#[derive(Deserialize)]
struct RawDaemon {
    #[serde(rename = "registry-mirrors")]
    registry_mirrors: Option<Vec<String>>,
    #[serde(rename = "insecure-registries")]
    insecure_registries: Option<Vec<String>>,
    proxies: Option<RawProxies>,
}

/// A configured value and where it was set: `source` for people
/// (`file:line`, `unit (ExecStart)`, `default`), `file` and `line` for
/// findings (`file` empty for moby's built-in defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub source: String,
    pub file: String,
    pub line: Option<usize>,
}

impl Setting {
    /// A finding about this setting that makes dockerd refuse to start.
    fn refused(&self, message: &str) -> Source {
        Source::finding(
            &self.file,
            "docker",
            Severity::Error,
            self.line,
            format!("{message} (dockerd refuses to start)"),
        )
    }
}

/// An insecure-registry CIDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsecureCidr {
    pub net: IpNet,
    pub source: String,
}

/// dockerd's effective registry configuration on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// Normalised mirror URLs (`https://mirror.example/`), deduplicated, in order.
    pub mirrors: Vec<Setting>,
    /// Insecure `host[:port]` entries (scheme stripped, `index.docker.io` -> `docker.io`).
    pub insecure_hosts: Vec<Setting>,
    /// Insecure CIDRs, including moby's implicit `::1/128` and `127.0.0.0/8`.
    pub insecure_cidrs: Vec<InsecureCidr>,
    pub proxies: Proxies,
    pub proxies_source: Option<String>,
    /// The daemon.json node path in effect (`--config-file` or the default).
    pub daemon_json: String,
    /// dockerd's `ExecStart` arguments, after unit/drop-in merging.
    pub exec_start: Vec<String>,
    /// Things dockerd would refuse to start with, as findings of the file
    /// (daemon.json or the unit) that has them.
    pub problems: Vec<Source>,
}

// ---------------------------------------------------------------------------
// daemon.json

/// The 1-based line where `"key"` first appears in `text`.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.find(&format!("\"{key}\""))
        .map(|off| crate::config::line_of(text, off))
}

/// Parse daemon.json. Unknown keys are ignored here (dockerd itself refuses them).
pub fn parse_daemon_json(text: &str) -> Result<DaemonConfig, ParseError> {
    let raw: RawDaemon = serde_json::from_str(text).map_err(|e| ParseError {
        line: (e.line() > 0).then_some(e.line()),
        column: (e.column() > 0).then_some(e.column()),
        message: e.to_string(),
    })?;
    Ok(DaemonConfig {
        registry_mirrors_line: raw
            .registry_mirrors
            .as_ref()
            .and_then(|_| key_line(text, "registry-mirrors")),
        insecure_registries_line: raw
            .insecure_registries
            .as_ref()
            .and_then(|_| key_line(text, "insecure-registries")),
        proxies_line: raw.proxies.as_ref().and_then(|_| key_line(text, "proxies")),
        registry_mirrors: raw.registry_mirrors,
        insecure_registries: raw.insecure_registries,
        proxies: raw.proxies.map(Proxies::from),
    })
}

// ---------------------------------------------------------------------------
// systemd unit

/// The effective dockerd command line of one unit text: the words of the
/// last `ExecStart=`, or nothing when the last assignment is the empty reset.
#[must_use]
pub fn parse_unit_exec_start(text: &str) -> Vec<String> {
    systemd::parse_unit_file(text)
        .exec_start
        .pop()
        .and_then(|e| e.argv)
        .unwrap_or_default()
}

/// The registry options found on dockerd's command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub config_file: Option<String>,
}

/// Pick `--registry-mirror`, `--insecure-registry` and `--config-file` out of
/// dockerd's arguments (`--flag value` and `--flag=value`, as pflag accepts).
#[must_use]
pub fn flags_from_args(args: &[String]) -> Flags {
    let mut flags = Flags::default();
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let target = match name {
            "--registry-mirror" => &mut flags.registry_mirrors,
            "--insecure-registry" => &mut flags.insecure_registries,
            "--config-file" => {
                flags.config_file = inline.or_else(|| it.next().cloned());
                continue;
            }
            _ => continue,
        };
        if let Some(v) = inline.or_else(|| it.next().cloned()) {
            target.push(v);
        }
    }
    flags
}

// ---------------------------------------------------------------------------
// Service configuration (moby loadMirrors / loadInsecureRegistries)

/// `ValidateMirror`: an http(s) URL without query, fragment or credentials;
/// normalised with one trailing slash.
pub fn validate_mirror(mirror: &str) -> Result<String, String> {
    // What the messages quote: never the credentials the URL may carry.
    let shown = crate::config::without_userinfo(mirror);
    match mirror.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => {}
        _ => {
            return Err(format!(
                "invalid mirror: no scheme specified for {shown:?}: must use either 'https://' or 'http://'"
            ));
        }
    }
    let uri = url::Url::parse(mirror)
        .map_err(|e| format!("invalid mirror: {shown:?} is not a valid URI: {e}"))?;
    if uri.scheme() != "http" && uri.scheme() != "https" {
        return Err(format!(
            "invalid mirror: unsupported scheme {:?} in {shown:?}: must use either 'https://' or 'http://'",
            uri.scheme()
        ));
    }
    if uri.query().is_some() || uri.fragment().is_some() {
        return Err(format!(
            "invalid mirror: query or fragment at end of the URI {shown:?}"
        ));
    }
    if !uri.username().is_empty() || uri.password().is_some() {
        // Never echo the credentials back.
        return Err("invalid mirror: username/password not allowed in URI".to_owned());
    }
    Ok(format!("{}/", mirror.trim_end_matches('/')))
}

fn normalize_index_name(name: &str) -> &str {
    if name == INDEX_HOSTNAME {
        INDEX_NAME
    } else {
        name
    }
}

/// Build the effective configuration from mirrors and insecure entries
/// (flags first, then daemon.json), recording what dockerd would reject.
fn build(cfg: &mut DockerConfig, mirrors: Vec<Setting>, insecure: Vec<Setting>) {
    for m in mirrors {
        match validate_mirror(&m.value) {
            Ok(v) if !cfg.mirrors.iter().any(|s| s.value == v) => {
                cfg.mirrors.push(Setting { value: v, ..m });
            }
            Ok(_) => {}
            Err(e) => cfg.problems.push(m.refused(&e)),
        }
    }
    let implicit = ALWAYS_INSECURE.iter().map(|c| Setting {
        value: (*c).to_owned(),
        source: "default".to_owned(),
        ..Setting::default()
    });
    for s in insecure.into_iter().chain(implicit) {
        let mut r = normalize_index_name(&s.value).to_owned();
        if r.starts_with('-') || r.ends_with('-') {
            cfg.problems.push(s.refused(&format!(
                "invalid index name ({r}). Cannot begin or end with a hyphen"
            )));
            continue;
        }
        if let Some((scheme, host)) = r.split_once("://") {
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
                r = String::from(host);
            } else {
                cfg.problems
                    .push(s.refused(&format!("insecure registry {r} should not contain '://'")));
                continue;
            }
        }
        if let Ok(net) = r.parse::<IpNet>() {
            let net = net.trunc();
            if !cfg.insecure_cidrs.iter().any(|c| c.net == net) {
                cfg.insecure_cidrs.push(InsecureCidr {
                    net,
                    source: s.source,
                });
            }
        } else if !cfg.insecure_hosts.iter().any(|h| h.value == r) {
            cfg.insecure_hosts.push(Setting { value: r, ..s });
        }
    }
}

/// The CIDR that makes `addr` insecure, if any (for callers that resolved a name).
#[must_use]
pub fn insecure_cidr_for(cfg: &DockerConfig, addr: IpAddr) -> Option<&InsecureCidr> {
    cfg.insecure_cidrs.iter().find(|c| c.net.contains(&addr))
}

/// `isSecureIndex` without name resolution: `None` when `host_port` is secure,
/// else the source that made it insecure. Docker Hub is always secure.
#[must_use]
pub fn insecure_source<'a>(cfg: &'a DockerConfig, host_port: &str) -> Option<&'a str> {
    let name = normalize_index_name(host_port);
    if name == INDEX_NAME {
        return None;
    }
    if let Some(h) = cfg.insecure_hosts.iter().find(|h| h.value == name) {
        return Some(&h.source);
    }
    let (host, _) = crate::config::net::hostport::split_lenient(name);
    let addr: IpAddr = host.parse().ok()?;
    insecure_cidr_for(cfg, addr).map(|c| c.source.as_str())
}

// ---------------------------------------------------------------------------
// certs.d

/// [`load_certs_dir`] for one registry, recorded: the directory as a source
/// (or its error, saying `runtime_fails`) and the error as a remark.
pub fn read_certs_dir(
    root: &HostRoot,
    dir: &str,
    runtime_fails: &str,
    sources: &mut Vec<Source>,
    remarks: &mut Vec<String>,
) -> Option<TlsSettings> {
    match load_certs_dir(root, dir) {
        Ok(Some(tls)) => {
            sources.push(Source::ok(dir, "certs.d"));
            Some(tls)
        }
        Ok(None) => None,
        Err(e) => {
            sources.push(Source::error(
                dir,
                "certs.d",
                format!("{e}; {runtime_fails}"),
            ));
            remarks.push(format!("{dir}: {e}"));
            None
        }
    }
}

/// Read a per-host certs directory like moby's `loadTLSConfig` and
/// containers/image's `SetupCertificates`: `*.crt` are extra CAs, `*.cert`
/// with a matching `*.key` are client pairs; a lone `.cert` or `.key` is an
/// error the runtime fails the pull with. `Ok(None)` when the directory is absent.
pub fn load_certs_dir(root: &HostRoot, node_dir: &str) -> Result<Option<TlsSettings>, String> {
    if !root.resolve(node_dir).is_dir() {
        return Ok(None);
    }
    let entries = root
        .read_dir(node_dir)
        .map_err(|e| format!("cannot list: {e}"))?;
    let names: Vec<String> = entries
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut tls = TlsSettings::default();
    // Extensions are case-sensitive upstream too (filepath.Ext / strings.HasSuffix).
    for (path, name) in entries.iter().zip(&names) {
        #[expect(
            clippy::case_sensitive_file_extension_comparisons,
            reason = "matches moby and containers/image"
        )]
        let is_ca = name.ends_with(".crt");
        if is_ca {
            tls.ca_files.push(root.resolve(path));
        } else if let Some(base) = name.strip_suffix(".cert") {
            let key = format!("{base}.key");
            if !names.contains(&key) {
                return Err(format!(
                    "missing key {key} for client certificate {name}. CA certificates must use the extension .crt"
                ));
            }
            tls.client_certs.push(ClientCert {
                cert: root.resolve(path),
                key: root.resolve(format!("{node_dir}/{key}")),
            });
        } else if let Some(base) = name.strip_suffix(".key") {
            let cert = format!("{base}.cert");
            if !names.contains(&cert) {
                return Err(format!("missing client certificate {cert} for key {name}"));
            }
        }
    }
    Ok(Some(tls))
}

/// moby's `newTLSConfig`: certs.d is only read for secure registries.
fn tls_for(root: &HostRoot, host_port: &str, secure: bool, plan: &mut RegistryPlan) -> TlsSettings {
    if !secure {
        return TlsSettings {
            skip_verify: true,
            ..TlsSettings::default()
        };
    }
    if host_port.is_empty() || host_port.contains('/') || host_port.starts_with('.') {
        return TlsSettings::default();
    }
    let dir = format!("{CERTS_D}/{host_port}");
    read_certs_dir(
        root,
        &dir,
        &format!("dockerd fails every pull from {host_port}"),
        &mut plan.sources,
        &mut plan.remarks,
    )
    .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Discovery

/// Read dockerd's unit, drop-ins, daemon.json and build its registry config.
#[must_use]
pub fn discover(root: &HostRoot) -> (DockerConfig, Vec<Source>) {
    let mut sources = Vec::new();
    let mut cfg = DockerConfig::default();

    // ExecStart from the unit, then drop-ins; an empty ExecStart= resets.
    let mut exec: Option<(Vec<String>, String, usize)> = None;
    for path in systemd::unit_files(root, UNIT, KIND, &mut sources) {
        let Some(text) = read_optional(root, &path, KIND, &mut sources) else {
            continue;
        };
        sources.push(Source::ok(&path, KIND));
        for e in systemd::parse_unit_file(&text).exec_start {
            exec = e.argv.map(|words| (words, path.clone(), e.line));
        }
    }
    let (args, unit_path, exec_line) = exec.unwrap_or_default();
    let flags = flags_from_args(&args);
    cfg.exec_start = args;

    cfg.daemon_json = flags
        .config_file
        .clone()
        .unwrap_or_else(|| DAEMON_JSON.to_owned());
    let mut file = DaemonConfig::default();
    if let Some(text) = read_optional(root, &cfg.daemon_json, KIND, &mut sources) {
        match parse_daemon_json(&text) {
            Ok(d) => {
                file = d;
                sources.push(Source::ok(&cfg.daemon_json, "docker"));
            }
            Err(e) => sources.push(Source::parse_error(
                &cfg.daemon_json,
                "docker",
                &e.with_consequence("dockerd refuses to start"),
            )),
        }
    }

    let at = |line: Option<usize>| match line {
        Some(l) => format!("{}:{l}", cfg.daemon_json),
        None => cfg.daemon_json.clone(),
    };
    // dockerd refuses a directive given both as a flag and in daemon.json.
    let mut conflicts = Vec::new();
    if !flags.registry_mirrors.is_empty() && file.registry_mirrors.is_some() {
        conflicts.push("registry-mirrors");
    }
    if !flags.insecure_registries.is_empty() && file.insecure_registries.is_some() {
        conflicts.push("insecure-registries");
    }
    let flag_setting = |v: &String| Setting {
        value: v.clone(),
        source: format!("{unit_path} (ExecStart)"),
        file: unit_path.clone(),
        line: Some(exec_line),
    };
    // The flags' entries, then daemon.json's: one side only, unless they
    // conflict (above).
    let merged = |flagged: &[String], listed: Option<&Vec<String>>, line: Option<usize>| {
        let json_setting = |v: &String| Setting {
            value: v.clone(),
            source: at(line),
            file: cfg.daemon_json.clone(),
            line,
        };
        flagged
            .iter()
            .map(flag_setting)
            .chain(listed.into_iter().flatten().map(json_setting))
            .collect::<Vec<Setting>>()
    };
    let mirrors = merged(
        &flags.registry_mirrors,
        file.registry_mirrors.as_ref(),
        file.registry_mirrors_line,
    );
    let insecure = merged(
        &flags.insecure_registries,
        file.insecure_registries.as_ref(),
        file.insecure_registries_line,
    );
    if let Some(p) = file.proxies.take() {
        cfg.proxies_source = Some(at(file.proxies_line));
        cfg.proxies = p;
    }
    if let Some(first) = conflicts.first() {
        let line = if *first == "registry-mirrors" {
            file.registry_mirrors_line
        } else {
            file.insecure_registries_line
        };
        cfg.problems.push(Source::finding(
            &cfg.daemon_json,
            "docker",
            Severity::Error,
            line,
            format!(
                "the following directives are specified both as a flag and in the configuration file: {} (dockerd refuses to start)",
                conflicts.join(", ")
            ),
        ));
    }
    build(&mut cfg, mirrors, insecure);
    crate::config::merge_sources(&mut sources, cfg.problems.iter().cloned());
    (cfg, sources)
}

// ---------------------------------------------------------------------------
// Endpoints (lookupV2Endpoints)

/// Endpoints for `registry_host` (`docker.io`, `myreg:5000`) in dockerd's order.
#[must_use]
pub fn plan(cfg: &DockerConfig, root: &HostRoot, registry_host: &str) -> RegistryPlan {
    let mut plan = RegistryPlan::default();
    let hostname = normalize_index_name(registry_host);
    if hostname == INDEX_NAME {
        for m in &cfg.mirrors {
            let Ok(url) = url::Url::parse(&m.value) else {
                continue;
            };
            let Some(host) = url.host_str() else { continue };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let scheme = if url.scheme() == "http" {
                Scheme::Http
            } else {
                Scheme::Https
            };
            let port = url.port().unwrap_or(scheme.default_port());
            let host_port = match url.port() {
                Some(p) if host.contains(':') => format!("[{host}]:{p}"),
                Some(p) => format!("{host}:{p}"),
                None if host.contains(':') => format!("[{host}]"),
                None => host.clone(),
            };
            let mut ep = Endpoint::https(&host, port);
            ep.scheme = scheme;
            ep.role = Role::Mirror;
            ep.path = format!("{}/v2", url.path().trim_end_matches('/'));
            ep.source.clone_from(&m.source);
            if scheme == Scheme::Https {
                let secure = insecure_source(cfg, &host_port).is_none();
                ep.tls = tls_for(root, &host_port, secure, &mut plan);
            }
            plan.endpoints.push(ep);
        }
        // The official registry uses the default TLS config, no certs.d.
        plan.endpoints
            .push(Endpoint::https(DEFAULT_REGISTRY_HOST, 443));
        return plan;
    }

    let (host, port) = crate::config::net::hostport::split_lenient(hostname);
    let insecure = insecure_source(cfg, hostname).map(str::to_owned);
    let mut https = Endpoint::https(&host, port.unwrap_or(443));
    https.tls = tls_for(root, hostname, insecure.is_none(), &mut plan);
    if let Some(src) = &insecure {
        https.source.clone_from(src);
    }
    // moby lists an insecure registry as https (unverified) then http; pulls
    // move on to http after any https failure, so it is one host with a fallback.
    https.http_fallback = insecure.is_some().then(|| HttpFallback {
        port: port.unwrap_or(80),
        on_any_error: true,
        proxy: None,
    });
    plan.endpoints.push(https);
    plan
}

/// The endpoints dockerd would try for `registry_host`, in order.
#[must_use]
pub fn endpoints_for(cfg: &DockerConfig, root: &HostRoot, registry_host: &str) -> Vec<Endpoint> {
    plan(cfg, root, registry_host).endpoints
}

/// Registry hosts the configuration names: Docker Hub when mirrors are set,
/// and every insecure `host[:port]` entry.
#[must_use]
pub fn registries(cfg: &DockerConfig) -> Vec<String> {
    let mut out = Vec::new();
    if !cfg.mirrors.is_empty() {
        out.push(INDEX_NAME.to_owned());
    }
    for h in &cfg.insecure_hosts {
        if !out.contains(&h.value) {
            out.push(h.value.clone());
        }
    }
    out
}

impl crate::config::runtime::backend::RuntimeConfig for DockerConfig {
    fn registries(&self, _root: &HostRoot) -> Vec<String> {
        registries(self)
    }

    fn plan(
        &self,
        root: &HostRoot,
        registry: &str,
        _image: Option<&crate::reference::Reference>,
    ) -> RegistryPlan {
        plan(self, root, registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> String {
        crate::config::fixture("docker", name)
    }

    // Shaped like the docker.service minikube provisions (kubernetes/minikube
    // pkg/provision/buildroot.go template: reset ExecStart, then dockerd with
    // --insecure-registry per `--insecure-registry` and --registry-mirror per
    // `--registry-mirror`), rendered by hand; not a verbatim upstream file.
    const MINIKUBE_UNIT: &str = r"[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network.target  minikube-automount.service docker.socket
Requires= minikube-automount.service docker.socket

[Service]
Type=notify
Restart=on-failure

# This file is a systemd drop-in unit that inherits from the base dockerd configuration.
# The base configuration already specifies an 'ExecStart=...' command. The first directive
# here is to clear out that command inherited from the base configuration.
ExecStart=
ExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --default-ulimit=nofile=1048576:1048576 --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=docker --insecure-registry 10.96.0.0/12 --registry-mirror=https://mirror.example.com 
ExecReload=/bin/kill -s HUP $MAINPID

[Install]
WantedBy=multi-user.target
";

    #[test]
    fn full_daemon_json_fixture() {
        let text = fixture("dockerd-docs-daemon-linux-full.json");
        let d = parse_daemon_json(&text).unwrap();
        assert_eq!(d.registry_mirrors, Some(vec![]));
        assert_eq!(d.insecure_registries, Some(vec![]));
        assert_eq!(
            d.proxies,
            Some(Proxies {
                http_proxy: Some(Secret::new("http://proxy.example.com:80")),
                https_proxy: Some(Secret::new("https://proxy.example.com:443")),
                no_proxy: Some(Secret::new("*.test.example.com,.example.org")),
            })
        );
        assert_eq!(
            (
                d.proxies_line,
                d.insecure_registries_line,
                d.registry_mirrors_line
            ),
            (Some(64), Some(72), Some(105))
        );
        // The CLI's config.json parses too: its `proxies` (keyed by daemon
        // address) carries none of dockerd's keys.
        let cli = parse_daemon_json(&fixture("docker-cli-docs-sample-config.json")).unwrap();
        assert_eq!(
            (cli.proxies, cli.registry_mirrors),
            (Some(Proxies::default()), None)
        );
        let cli = parse_daemon_json(&fixture("docker-cli-test-config-index-docker-io-auth.json"))
            .unwrap();
        assert_eq!(cli, DaemonConfig::default());
    }

    #[test]
    fn proxy_passwords_in_daemon_json_stay_secret() {
        let d = parse_daemon_json(
            "{\"proxies\": {\"https-proxy\": \"http://bob:pr0xy-s3cret@proxy.test:3128\"}}",
        )
        .unwrap();
        assert!(!format!("{d:?}").contains("s3cret"));
        let https = d.proxies.unwrap().https_proxy.unwrap();
        assert_eq!(https.expose(), "http://bob:pr0xy-s3cret@proxy.test:3128");
    }

    #[test]
    fn daemon_json_errors_carry_line_and_column() {
        let e = parse_daemon_json("{\n  \"registry-mirrors\": [\"https://m\",\n}\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.column.is_some());
        let e = parse_daemon_json("{\"insecure-registries\": \"10.0.0.0/8\"}").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().starts_with("line 1 column"), "{e}");
    }

    #[test]
    fn unit_exec_start_parsing() {
        let args = parse_unit_exec_start(MINIKUBE_UNIT);
        assert_eq!(args[0], "/usr/bin/dockerd");
        let flags = flags_from_args(&args);
        assert_eq!(flags.insecure_registries, ["10.96.0.0/12"]);
        assert_eq!(flags.registry_mirrors, ["https://mirror.example.com"]);
        assert_eq!(flags.config_file, None);

        // Continuations, quoting, executable prefixes, and a final reset.
        let text = "[Service]\nExecStart=-/usr/bin/dockerd \\\n  --insecure-registry \"my reg:5000\" \\\n  # comment inside a continuation\n  --config-file=/etc/docker/alt.json\n";
        let args = parse_unit_exec_start(text);
        assert_eq!(
            args,
            [
                "/usr/bin/dockerd",
                "--insecure-registry",
                "my reg:5000",
                "--config-file=/etc/docker/alt.json"
            ]
        );
        assert_eq!(
            flags_from_args(&args).config_file.as_deref(),
            Some("/etc/docker/alt.json")
        );
        assert!(
            parse_unit_exec_start("[Service]\nExecStart=/usr/bin/dockerd\nExecStart=\n").is_empty()
        );
        // ExecStart outside [Service] is not dockerd's command line.
        assert!(parse_unit_exec_start("[Unit]\nExecStart=/bin/true\n").is_empty());
    }

    #[test]
    fn mirror_validation_table() {
        for (input, want) in [
            (
                "https://mirror.example.com",
                Ok("https://mirror.example.com/"),
            ),
            ("http://10.0.0.5:5000/", Ok("http://10.0.0.5:5000/")),
            (
                "https://mirror.example.com/path//",
                Ok("https://mirror.example.com/path/"),
            ),
            ("mirror.example.com", Err("no scheme specified")),
            ("ftp://mirror.example.com", Err("unsupported scheme")),
            ("https://mirror.example.com/?x=1", Err("query or fragment")),
            (
                "https://user:hunter2@mirror.example.com",
                Err("username/password not allowed"),
            ),
            (
                "https://user:hunter2@mirror.example.com/?x=1",
                Err("query or fragment"),
            ),
        ] {
            match (validate_mirror(input), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w),
                (Err(got), Err(w)) => {
                    assert!(got.contains(w), "{got}");
                    assert!(!got.contains("hunter2"));
                }
                (got, w) => panic!("{input}: {got:?} vs {w:?}"),
            }
        }
    }

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn discover_minikube_style_node() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            "/lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
        );
        write(
            dir.path(),
            "/etc/systemd/system/docker.service.d/10-machine.conf",
            MINIKUBE_UNIT,
        );
        write(
            dir.path(),
            DAEMON_JSON,
            "{\n  \"exec-opts\": [\"native.cgroupdriver=systemd\"],\n  \"proxies\": {\"http-proxy\": \"http://10.0.0.1:3128\", \"no-proxy\": \"localhost\"}\n}\n",
        );
        let (cfg, sources) = discover(&root);
        let paths: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/lib/systemd/system/docker.service",
                "/etc/systemd/system/docker.service.d/10-machine.conf",
                DAEMON_JSON
            ]
        );
        assert!(cfg.problems.is_empty(), "{:?}", cfg.problems);
        let unit = "/etc/systemd/system/docker.service.d/10-machine.conf (ExecStart)";
        assert_eq!(
            cfg.mirrors,
            [Setting {
                value: "https://mirror.example.com/".to_owned(),
                source: unit.to_owned(),
                file: "/etc/systemd/system/docker.service.d/10-machine.conf".to_owned(),
                line: Some(15),
            }]
        );
        let cidrs: Vec<String> = cfg
            .insecure_cidrs
            .iter()
            .map(|c| c.net.to_string())
            .collect();
        assert_eq!(cidrs, ["10.96.0.0/12", "::1/128", "127.0.0.0/8"]);
        assert_eq!(
            cfg.proxies.http_proxy.as_ref().map(Secret::expose),
            Some("http://10.0.0.1:3128")
        );
        assert_eq!(
            cfg.proxies_source.as_deref(),
            Some("/etc/docker/daemon.json:3")
        );

        assert_eq!(insecure_source(&cfg, "10.96.0.10:5000"), Some(unit));
        assert_eq!(insecure_source(&cfg, "127.0.0.1:5000"), Some("default"));
        assert_eq!(insecure_source(&cfg, "[::1]:5000"), Some("default"));
        assert_eq!(insecure_source(&cfg, "registry.example.com"), None);
        assert_eq!(insecure_source(&cfg, "docker.io"), None);
        assert!(insecure_cidr_for(&cfg, "10.100.0.1".parse().unwrap()).is_some());

        let hub: Vec<(String, Role)> = endpoints_for(&cfg, &root, "docker.io")
            .iter()
            .map(|e| (e.url(), e.role))
            .collect();
        assert_eq!(
            hub,
            [
                ("https://mirror.example.com/v2/".to_owned(), Role::Mirror),
                (
                    "https://registry-1.docker.io/v2/".to_owned(),
                    Role::Upstream
                )
            ]
        );
        assert_eq!(endpoints_for(&cfg, &root, "index.docker.io").len(), 2);

        let insecure = endpoints_for(&cfg, &root, "10.96.0.10:5000");
        let got: Vec<(String, bool, &str)> = insecure
            .iter()
            .map(|e| (e.url(), e.tls.skip_verify, e.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [("https://10.96.0.10:5000/v2/".to_owned(), true, unit)]
        );
        assert_eq!(
            insecure[0].http_fallback.as_ref().map(|f| f.port),
            Some(5000)
        );
        assert_eq!(registries(&cfg), ["docker.io"]);
    }

    #[test]
    fn flag_and_file_conflict_and_certs_d() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            "/usr/lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd --insecure-registry=myreg:5000 --config-file /etc/docker/custom.json\n",
        );
        write(
            dir.path(),
            "/etc/docker/custom.json",
            "{\"insecure-registries\": [\"http://other:5000\", \"-bad\"], \"registry-mirrors\": [\"https://m1\", \"https://m1/\", \"http://10.0.0.5:5000\"]}",
        );
        write(
            dir.path(),
            "/etc/docker/certs.d/secure.example:5000/ca.crt",
            "x",
        );
        write(
            dir.path(),
            "/etc/docker/certs.d/secure.example:5000/client.cert",
            "x",
        );
        write(
            dir.path(),
            "/etc/docker/certs.d/secure.example:5000/client.key",
            "x",
        );
        write(
            dir.path(),
            "/etc/docker/certs.d/broken.example/client.cert",
            "x",
        );
        // Insecure registries never read certs.d.
        write(dir.path(), "/etc/docker/certs.d/myreg:5000/ca.crt", "x");

        let (cfg, _) = discover(&root);
        assert_eq!(cfg.daemon_json, "/etc/docker/custom.json");
        assert_eq!(cfg.problems.len(), 2, "{:?}", cfg.problems);
        let problems: Vec<(String, Option<usize>, Severity, String)> = cfg
            .problems
            .iter()
            .map(|p| (p.path.clone(), p.line(), p.severity(), p.message().unwrap()))
            .collect();
        // Both make dockerd refuse to start: errors, at the daemon.json key.
        let custom = "/etc/docker/custom.json".to_owned();
        assert!(
            problems
                .iter()
                .any(|(path, line, sev, m)| (path, *line, *sev)
                    == (&custom, Some(1), Severity::Error)
                    && m.contains("invalid index name (-bad)")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|(path, _, sev, m)| (path, *sev)
            == (&custom, Severity::Error)
            && m.contains(
                "specified both as a flag and in the configuration file: insecure-registries"
            )));
        let hosts: Vec<&str> = cfg
            .insecure_hosts
            .iter()
            .map(|h| h.value.as_str())
            .collect();
        assert_eq!(hosts, ["myreg:5000", "other:5000"]);
        let mirrors: Vec<&str> = cfg.mirrors.iter().map(|m| m.value.as_str()).collect();
        assert_eq!(mirrors, ["https://m1/", "http://10.0.0.5:5000/"]);

        let hub = endpoints_for(&cfg, &root, "docker.io");
        let urls: Vec<String> = hub.iter().map(Endpoint::url).collect();
        assert_eq!(
            urls,
            [
                "https://m1/v2/",
                "http://10.0.0.5:5000/v2/",
                "https://registry-1.docker.io/v2/"
            ]
        );

        let secure = plan(&cfg, &root, "secure.example:5000");
        assert_eq!(secure.endpoints.len(), 1);
        let certs = dir.path().join("etc/docker/certs.d/secure.example:5000");
        assert_eq!(secure.endpoints[0].tls.ca_files, [certs.join("ca.crt")]);
        assert_eq!(
            secure.endpoints[0].tls.client_certs,
            [ClientCert {
                cert: certs.join("client.cert"),
                key: certs.join("client.key")
            }]
        );
        assert!(!secure.endpoints[0].tls.skip_verify);

        let broken = plan(&cfg, &root, "broken.example");
        assert_eq!(
            broken.remarks,
            [
                "/etc/docker/certs.d/broken.example: missing key client.key for client certificate client.cert. CA certificates must use the extension .crt"
            ]
        );
        assert_eq!(
            (
                broken.sources[0].path.as_str(),
                broken.sources[0].severity()
            ),
            ("/etc/docker/certs.d/broken.example", Severity::Error)
        );
        let mine = plan(&cfg, &root, "myreg:5000");
        assert!(mine.endpoints[0].tls.ca_files.is_empty());
        assert_eq!(
            mine.endpoints.iter().map(Endpoint::url).collect::<Vec<_>>(),
            ["https://myreg:5000/v2/"]
        );
        assert!(
            mine.endpoints[0]
                .http_fallback
                .as_ref()
                .is_some_and(|f| f.on_any_error)
        );
        assert_eq!(registries(&cfg), ["docker.io", "myreg:5000", "other:5000"]);
    }

    fn exercise(text: &str) {
        let start = std::time::Instant::now();
        if let Ok(d) = parse_daemon_json(text) {
            let mut cfg = DockerConfig::default();
            let s = |v: &String| Setting {
                value: v.clone(),
                source: "t".to_owned(),
                ..Setting::default()
            };
            build(
                &mut cfg,
                d.registry_mirrors.iter().flatten().map(s).collect(),
                d.insecure_registries.iter().flatten().map(s).collect(),
            );
            let root = HostRoot::new("/nonexistent-probe-root");
            for host in ["docker.io", "10.0.0.1:5000", "[::1]:5000", "x"] {
                let _ = plan(&cfg, &root, host);
            }
        }
        let args = parse_unit_exec_start(text);
        let _ = flags_from_args(&args);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "slow on {text:?}"
        );
    }

    fn fixtures() -> Vec<String> {
        vec![
            fixture("dockerd-docs-daemon-linux-full.json"),
            "{\"registry-mirrors\": [\"https://m\", \"http://[::1]:5000\"], \"insecure-registries\": [\"10.0.0.0/8\", \"r:5000\", \"https://x\"]}".to_owned(),
            MINIKUBE_UNIT.to_owned(),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        #[test]
        fn random_text_never_panics(text in "\\PC{0,300}") {
            exercise(&text);
        }

        #[test]
        fn mutated_fixtures_never_panic(
            which in 0usize..3,
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            ch in proptest::prelude::any::<char>(),
        ) {
            for damaged in crate::config::damaged(&fixtures()[which], cut, at, ch) {
                exercise(&damaged);
            }
        }

        #[test]
        fn random_mirror_and_insecure_values_never_panic(values in proptest::collection::vec("\\PC{0,40}", 0..8)) {
            let mut cfg = DockerConfig::default();
            let s = |v: &String| Setting { value: v.clone(), source: "t".to_owned(), ..Setting::default() };
            build(&mut cfg, values.iter().map(s).collect(), values.iter().map(s).collect());
            let root = HostRoot::new("/nonexistent-probe-root");
            for v in &values {
                let _ = plan(&cfg, &root, v);
            }
            let _ = plan(&cfg, &root, "docker.io");
        }
    }
}
