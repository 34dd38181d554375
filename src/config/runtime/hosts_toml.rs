//! containerd's per-registry host directories: `<config_path>/<host>/hosts.toml`
//! and the Docker-style `*.crt` / `*.cert` + `*.key` fallback. (The node's
//! `/etc/hosts` is [`crate::config::net::resolv`]'s, not this module's.)
//!
//! A port of containerd's `core/remotes/docker/config/hosts.go`
//! (`ConfigureHosts`, `parseHostsFile`, `parseHostConfig`, `getSortedHosts`,
//! `loadHostDir`, `loadCertFiles`, `HostDirFromRoot`, `hostDirectory`) and
//! `config_unix.go` (`hostPaths`), so the endpoints come out in the order and
//! with the schemes containerd itself would use, one [`HostEntry`] each.
//!
//! [`parse`] takes `&str` and never touches the disk; only [`discover_hosts_for`],
//! [`load_host_dir`] and [`registries`] read files, always through
//! [`HostRoot`]. Paths written inside `hosts.toml` are node paths and are
//! re-rooted with [`HostRoot::resolve`] when endpoints are built. A
//! `hosts.toml` containerd ignores (it does not parse, or a host has no
//! `[host."..."]` header) is an `error` finding at its line. Header values
//! stay [`Secret`]s.

use crate::config::net::hostport::split_authority;
use crate::config::runtime::version::Version;
use crate::config::{ParseError, Severity, Source, line_of};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{Capabilities, ClientCert, Endpoint, HttpFallback, Role, Scheme, TlsSettings};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One entry of containerd's `[]hostConfig`: a `[host."..."]` table, or the
/// file's top level (`server` plus top-level settings), which is always last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// `None` only for the top-level entry when `server` is absent; containerd
    /// then fills in the registry's default upstream.
    pub scheme: Option<Scheme>,
    /// The URL authority as written (`host`, `host:port`, `[v6]:port`), `""` when unset.
    pub host: String,
    /// API root: `/v2` appended unless `override_path`; `""` when
    /// `override_path` is set and the URL has no path.
    pub path: String,
    pub capabilities: Capabilities,
    /// The `referrers` capability (containerd 2.1+); kept apart because
    /// [`Capabilities`] only models what a pull needs.
    pub referrers: bool,
    /// `ca`: as written; relative paths are relative to the host directory.
    pub ca: Option<Vec<String>>,
    /// `client`: (cert, key) pairs; an empty key means the key is in the cert file.
    pub client: Option<Vec<(String, String)>>,
    pub skip_verify: Option<bool>,
    /// `header`: name and values, in file order. Values may carry tokens.
    pub header: Vec<(String, Vec<Secret>)>,
    pub dial_timeout: Option<Duration>,
    /// Line of the `[host."..."]` header or of `server =`.
    pub line: Option<usize>,
}

impl HostConfig {
    /// The zero entry containerd appends when a directory gives no server.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            scheme: None,
            host: String::new(),
            path: String::new(),
            capabilities: Capabilities {
                pull: false,
                resolve: false,
                push: false,
            },
            referrers: false,
            ca: None,
            client: None,
            skip_verify: None,
            header: Vec::new(),
            dial_timeout: None,
            line: None,
        }
    }
}

/// A parsed `hosts.toml` (or a cert-file directory turned into the same shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsFile {
    /// `[host."..."]` entries in file order, then the top-level entry.
    pub hosts: Vec<HostConfig>,
    /// Hosts defined only through dotted keys or inline tables, with the
    /// line of their key: go-toml's tree walk in `getSortedHosts` only sees
    /// `[host."..."]` headers, so containerd silently skips these.
    pub ignored: Vec<(String, usize)>,
    /// The file has a `host` table at all (`[host]`, `[host."..."]`, dotted
    /// keys): containerd 1.x before 1.7.32 ignores a file without one
    /// ([`ignores_root_only`]).
    pub has_host_tree: bool,
}

/// Parse a `hosts.toml`. Errors are the ones containerd's `parseHostsFile`
/// returns (after which it ignores the file and falls back to cert files).
pub fn parse(text: &str) -> Result<HostsFile, ParseError> {
    let doc = DeTable::parse(text).map_err(|e| ParseError::from_toml(text, &e))?;
    let doc = doc.get_ref();
    let order = header_hosts(text);

    let server = match doc.get("server") {
        None => None,
        Some(v) => Some((str_value(text, v, "server")?, v.span().start)),
    };

    let mut hosts = Vec::new();
    let mut ignored = Vec::new();
    if let Some(host_tbl) = doc.get("host") {
        let DeValue::Table(host_tbl) = host_tbl.get_ref() else {
            return Err(ParseError::at(
                text,
                host_tbl.span().start,
                "\"host\" must be a table of hosts",
            ));
        };
        // go-toml's Unmarshal into map[string]hostFileConfig fails on any non-table entry.
        for (name, value) in host_tbl {
            if !matches!(value.get_ref(), DeValue::Table(_)) {
                return Err(ParseError::at(
                    text,
                    value.span().start,
                    format!("host {:?} must be a table", name.get_ref()),
                ));
            }
            if !order.iter().any(|(n, _)| n == name.get_ref().as_ref()) {
                ignored.push((name.get_ref().to_string(), line_of(text, name.span().start)));
            }
        }
        for (name, offset) in &order {
            let Some(value) = host_tbl.get(name.as_str()) else {
                continue;
            };
            let DeValue::Table(tbl) = value.get_ref() else {
                continue;
            };
            hosts.push(parse_host_config(
                text,
                name,
                tbl,
                Some(line_of(text, *offset)),
            )?);
        }
    }
    let (server_url, server_line) = match &server {
        Some((s, off)) => (s.as_str(), Some(line_of(text, *off))),
        None => ("", None),
    };
    hosts.push(parse_host_config(text, server_url, doc, server_line)?);
    Ok(HostsFile {
        hosts,
        ignored,
        has_host_tree: doc.contains_key("host"),
    })
}

/// containerd's `getSortedHosts`: walk the top-level expressions and record
/// `[host.<name>...]` table headers in order, skipping a repeat of the
/// immediately preceding host (so `[host.a]` then `[host.a.header]` is one
/// host). Offsets point at the header.
fn header_hosts(text: &str) -> Vec<(String, usize)> {
    use toml_parser::parser::{EventKind, parse_document};
    use toml_parser::{Raw, Source as TomlSource};

    let source = TomlSource::new(text);
    let tokens = source.lex().into_vec();
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut in_header = false;
    let mut header_start = 0usize;
    let mut parts: Vec<String> = Vec::new();
    let mut receiver = |event: toml_parser::parser::Event| match event.kind() {
        EventKind::StdTableOpen => {
            in_header = true;
            header_start = event.span().start();
            parts.clear();
        }
        EventKind::SimpleKey if in_header => {
            let span = event.span();
            let raw_text = text.get(span.start()..span.end()).unwrap_or("");
            let raw = Raw::new_unchecked(raw_text, event.encoding(), span);
            let mut key = String::new();
            raw.decode_key(&mut key, &mut ());
            parts.push(key);
        }
        EventKind::StdTableClose if in_header => {
            in_header = false;
            if parts.len() >= 2
                && parts[0] == "host"
                && out.last().is_none_or(|(h, _)| *h != parts[1])
            {
                out.push((parts[1].clone(), header_start));
            }
        }
        _ => {}
    };
    parse_document(&tokens, &mut receiver, &mut ());
    out
}

pub(crate) fn str_value(
    text: &str,
    v: &Spanned<DeValue<'_>>,
    what: &str,
) -> Result<String, ParseError> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(ParseError::at(
            text,
            v.span().start,
            format!("{what} must be a string, not {}", other.type_str()),
        )),
    }
}

fn bool_value(text: &str, v: &Spanned<DeValue<'_>>, what: &str) -> Result<bool, ParseError> {
    match v.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(ParseError::at(
            text,
            v.span().start,
            format!("{what} must be a boolean, not {}", other.type_str()),
        )),
    }
}

/// `makeStringSlice`: every element must be a string.
pub(crate) fn string_list(
    text: &str,
    v: &Spanned<DeValue<'_>>,
    what: &str,
) -> Result<Vec<String>, ParseError> {
    let DeValue::Array(items) = v.get_ref() else {
        return Err(ParseError::at(
            text,
            v.span().start,
            format!("{what} must be an array of strings"),
        ));
    };
    items
        .iter()
        .map(|item| str_value(text, item, what))
        .collect()
}

/// containerd's `parseHostConfig` for one table.
fn parse_host_config(
    text: &str,
    server: &str,
    tbl: &DeTable<'_>,
    line: Option<usize>,
) -> Result<HostConfig, ParseError> {
    let at = |v: &Spanned<DeValue<'_>>, msg: String| ParseError::at(text, v.span().start, msg);
    let err_line = |msg: String| ParseError::new(Some(line.unwrap_or(1)), msg);
    let mut result = HostConfig::empty();
    result.line = line;
    let override_path = match tbl.get("override_path") {
        Some(v) => bool_value(text, v, "override_path")?,
        None => false,
    };

    if !server.is_empty() {
        let url = if server.starts_with("http") {
            server.to_owned()
        } else {
            format!("https://{server}")
        };
        let parts = split_url(&url)
            .map_err(|e| err_line(format!("unable to parse server {server}: {e}")))?;
        result.scheme = Some(parts.scheme);
        result.host = parts.authority;
        let mut path = parts.path;
        if path.is_empty() {
            if !override_path {
                "/v2".clone_into(&mut path);
            }
        } else {
            path = clean_path(&path);
            if !path.ends_with("/v2") && !override_path {
                path.push_str("/v2");
            }
        }
        result.path = path;
    }

    if let Some(v) = tbl.get("skip_verify") {
        result.skip_verify = Some(bool_value(text, v, "skip_verify")?);
    }

    let caps = match tbl.get("capabilities") {
        Some(v) => string_list(text, v, "capabilities")?,
        None => Vec::new(),
    };
    if caps.is_empty() {
        result.capabilities = Capabilities::default();
        result.referrers = true;
    } else {
        for c in &caps {
            match c.to_lowercase().as_str() {
                "pull" => result.capabilities.pull = true,
                "resolve" => result.capabilities.resolve = true,
                "push" => result.capabilities.push = true,
                "referrers" => result.referrers = true,
                _ => return Err(at(&tbl["capabilities"], format!("unknown capability {c}"))),
            }
        }
    }

    if let Some(v) = tbl.get("ca") {
        result.ca = Some(match v.get_ref() {
            DeValue::String(s) => vec![s.to_string()],
            DeValue::Array(_) => string_list(text, v, "ca")?,
            other => {
                return Err(at(
                    v,
                    format!("invalid type {} for \"ca\"", other.type_str()),
                ));
            }
        });
    }

    if let Some(v) = tbl.get("client") {
        let mut pairs = Vec::new();
        match v.get_ref() {
            DeValue::String(s) => pairs.push((s.to_string(), String::new())),
            DeValue::Array(items) => {
                for item in &**items {
                    match item.get_ref() {
                        DeValue::String(s) => pairs.push((s.to_string(), String::new())),
                        DeValue::Array(_) => {
                            let pair = string_list(text, item, "client")?;
                            let [cert, key] = <[String; 2]>::try_from(pair).map_err(|p| {
                                at(item, format!("invalid pair {p:?} for \"client\""))
                            })?;
                            pairs.push((cert, key));
                        }
                        other => {
                            return Err(at(
                                item,
                                format!("invalid type {} for \"client\"", other.type_str()),
                            ));
                        }
                    }
                }
            }
            other => {
                return Err(at(
                    v,
                    format!("invalid type {} for \"client\"", other.type_str()),
                ));
            }
        }
        result.client = Some(pairs);
    }

    if let Some(v) = tbl.get("header") {
        let DeValue::Table(headers) = v.get_ref() else {
            return Err(at(v, "header must be a table".to_owned()));
        };
        let mut entries: Vec<_> = headers.iter().collect();
        // The map is sorted by name; file order reads better in reports.
        entries.sort_by_key(|(k, _)| k.span().start);
        for (name, value) in entries {
            let values = match value.get_ref() {
                DeValue::String(s) => vec![s.to_string()],
                DeValue::Array(_) => string_list(text, value, "header")?,
                other => {
                    return Err(at(
                        value,
                        format!(
                            "invalid type {} for header {:?}",
                            other.type_str(),
                            name.get_ref()
                        ),
                    ));
                }
            };
            result.header.push((
                name.get_ref().to_string(),
                values.into_iter().map(Secret::new).collect(),
            ));
        }
    }

    if let Some(v) = tbl.get("dial_timeout") {
        let s = str_value(text, v, "dial_timeout")?;
        if !s.is_empty() {
            result.dial_timeout =
                Some(crate::config::go_duration::parse(&s).map_err(|e| at(v, e))?);
        }
    }

    Ok(result)
}

/// The parts of a URL containerd uses (Go's `url.Parse`: scheme lowercased,
/// user info dropped, port digits checked, path kept undecoded).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UrlParts {
    pub scheme: Scheme,
    pub authority: String,
    pub path: String,
}

pub(crate) fn split_url(url: &str) -> Result<UrlParts, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "missing scheme".to_owned())?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(format!("unsupported scheme {other:?}")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, a)| a)
        .to_owned();
    let tail = &rest[end..];
    let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
    split_authority(&authority)?;
    Ok(UrlParts {
        scheme,
        authority,
        path: path.to_owned(),
    })
}

/// Go's `path.Clean` for the absolute paths found in URLs.
pub(crate) fn clean_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    format!("/{}", out.join("/"))
}

/// The Docker-layout fallback (`loadCertFiles`): `*.crt` are CAs, `*.cert`
/// are client certs with the `.key` of the same stem when `has_key` says it
/// exists. `files` are the directory's regular files, by name, sorted.
#[must_use]
#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "containerd's loadCertFiles uses strings.HasSuffix: `CA.CRT` is not a CA to it"
)]
pub fn from_cert_files(files: &[String], has_key: impl Fn(&str) -> bool) -> HostsFile {
    let mut entry = HostConfig::empty();
    for name in files {
        if name.ends_with(".crt") {
            entry.ca.get_or_insert_with(Vec::new).push(name.clone());
        }
        if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            let key = if has_key(&key) { key } else { String::new() };
            entry
                .client
                .get_or_insert_with(Vec::new)
                .push((name.clone(), key));
        }
    }
    HostsFile {
        hosts: vec![entry],
        ignored: Vec::new(),
        has_host_tree: false,
    }
}

/// containerd's `hostDirectory`: `host:port` becomes `host_port_`, because
/// `:` is awkward in directory names.
#[must_use]
pub fn host_directory(host: &str) -> String {
    match host.rfind(':') {
        Some(idx) if idx > 0 => format!("{}_{}_", &host[..idx], &host[idx + 1..]),
        _ => host.to_owned(),
    }
}

/// The inverse of [`host_directory`], for listing registries from dir names.
#[must_use]
pub fn host_from_directory(dir: &str) -> String {
    if let Some(body) = dir.strip_suffix('_')
        && let Some((host, port)) = body.rsplit_once('_')
        && !host.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("{host}:{port}");
    }
    dir.to_owned()
}

/// containerd's `hostPaths` (unix): the candidate directory names under one
/// root, in the order tried. Upstream main at the time of writing has no
/// wildcard-suffix candidates (a fork's `hostSuffix` is not in a release).
#[must_use]
pub fn host_paths(host: &str) -> Vec<String> {
    let mut out = Vec::new();
    let dir = host_directory(host);
    if dir != host {
        out.push(dir);
    }
    out.push(host.to_owned());
    out.push("_default".to_owned());
    out
}

/// A loaded host directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDir {
    /// Node path of the directory (relative `ca`/`client` paths hang off it).
    pub dir: PathBuf,
    /// Node path of the `hosts.toml` the entries came from; `None` when they
    /// came from cert files.
    pub file: Option<PathBuf>,
    pub hosts: HostsFile,
}

/// One host as containerd's resolver would use it (an entry of its
/// `[]docker.RegistryHost`; not [`crate::target::RegistryHost`], which is
/// a `--registry` value). `endpoint` carries the same facts (`http_fallback`,
/// `dial_timeout`) for the probe; these fields keep the parser's view for
/// table tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    pub endpoint: Endpoint,
    /// containerd tries HTTPS first and retries over plain HTTP on a TLS
    /// failure (`docker.NewHTTPFallback`). `endpoint.scheme` is then `Https`.
    pub http_fallback: bool,
    pub dial_timeout: Option<Duration>,
}

/// containerd's `docker.IsLocalhost`: `localhost` or a loopback IP, any port.
#[must_use]
pub fn is_localhost(host: &str) -> bool {
    let name = split_authority(host).map_or_else(|_| host.to_owned(), |(h, _)| h);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// containerd's resolver sends `?ns=<registry>` when the host contacted is
/// not the registry itself (`isProxy` in `core/remotes/docker/resolver.go`);
/// Docker Hub's `registry-1.docker.io` counts as the registry.
#[must_use]
pub fn is_proxy(endpoint_authority: &str, registry_host: &str) -> bool {
    endpoint_authority != registry_host
        && !(registry_host == "docker.io" && endpoint_authority == "registry-1.docker.io")
}

fn abs_node_path(p: &str, dir: &Path) -> PathBuf {
    if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        dir.join(p)
    }
}

/// containerd's `ConfigureHosts` as the CRI plugin calls it (no default
/// scheme, no default TLS): fill the registry's default upstream into a last
/// entry without a host, then turn each entry into an endpoint, switching
/// `http` hosts with TLS settings to HTTPS-with-HTTP-fallback.
#[must_use]
pub fn configure(registry_host: &str, dir: Option<&HostDir>, root: &HostRoot) -> Vec<HostEntry> {
    configure_for(registry_host, dir, root, None)
}

/// Whether a containerd release tries https first, with a plain-http retry,
/// for an `http` host that has TLS settings and a port other than 80
/// (`ConfigureHosts`, "remotes: always try to establish tls connection when
/// tls configured", containerd 79772a0dd; backported as 6b5912220 to 1.6.25
/// and 7779ce64e to 1.7.7). Older releases use plain http as written.
fn tls_first_for_http_hosts(release: Option<&Version>) -> bool {
    release.is_none_or(|v| v.at_least(1, 7, 7) || v.in_series_from(1, 6, 25))
}

/// Whether a release picks a localhost registry's scheme by its port
/// ("Avoid TLS fallback when protocol is not ambiguous", d48ceb606; 1.6.25
/// as 51df21d09, 1.7.8 as 35c7634e3). Older releases use plain http with
/// verification off for every localhost registry.
fn localhost_scheme_by_port(release: Option<&Version>) -> bool {
    release.is_none_or(|v| v.at_least(1, 7, 8) || v.in_series_from(1, 6, 25))
}

/// [`configure`] as the node's containerd `release` does it (`None`: the
/// newest release).
#[must_use]
pub fn configure_for(
    registry_host: &str,
    dir: Option<&HostDir>,
    root: &HostRoot,
    release: Option<&Version>,
) -> Vec<HostEntry> {
    let mut hosts = dir.map_or_else(|| vec![HostConfig::empty()], |d| d.hosts.hosts.clone());
    if let Some(last) = hosts.last_mut()
        && last.host.is_empty()
    {
        if registry_host == "docker.io" {
            last.scheme = Some(Scheme::Https);
            "registry-1.docker.io".clone_into(&mut last.host);
        } else if is_localhost(registry_host) && !localhost_scheme_by_port(release) {
            registry_host.clone_into(&mut last.host);
            last.scheme = Some(Scheme::Http);
            last.skip_verify = Some(true);
        } else if is_localhost(registry_host) {
            registry_host.clone_into(&mut last.host);
            let port = split_authority(registry_host).ok().and_then(|(_, p)| p);
            // Only an explicit, non-443 port leaves the protocol open.
            last.scheme = Some(if matches!(port, None | Some(443)) {
                Scheme::Https
            } else {
                Scheme::Http
            });
            if port != Some(80) {
                last.skip_verify = Some(true);
            }
        } else {
            registry_host.clone_into(&mut last.host);
            last.scheme = Some(Scheme::Https);
        }
        "/v2".clone_into(&mut last.path);
        last.capabilities = Capabilities::default();
    }

    let mut out = Vec::new();
    for h in hosts {
        let Ok((name, port)) = split_authority(&h.host) else {
            continue;
        };
        let mut scheme = h.scheme.unwrap_or(Scheme::Https);
        let explicit_tls = h.ca.is_some() || h.client.is_some() || h.skip_verify.is_some();
        let mut http_fallback = false;
        // `port != "" && port != "80"` upstream: a port-less http host stays http.
        if scheme == Scheme::Http
            && explicit_tls
            && port.is_some_and(|p| p != 80)
            && tls_first_for_http_hosts(release)
        {
            scheme = Scheme::Https;
            http_fallback = true;
        }
        let base = dir.map_or_else(PathBuf::new, |d| d.dir.clone());
        let tls = TlsSettings {
            ca_files: h
                .ca
                .iter()
                .flatten()
                .map(|p| root.resolve(abs_node_path(p, &base)))
                .collect(),
            client_certs: h
                .client
                .iter()
                .flatten()
                .map(|(cert, key)| {
                    let cert = abs_node_path(cert, &base);
                    let key = if key.is_empty() {
                        cert.clone()
                    } else {
                        abs_node_path(key, &base)
                    };
                    ClientCert {
                        cert: root.resolve(cert),
                        key: root.resolve(key),
                    }
                })
                .collect(),
            skip_verify: h.skip_verify.unwrap_or(false),
            material: crate::target::TlsMaterial::default(),
        };
        let authority = h.host.clone();
        let proxy = is_proxy(&authority, registry_host);
        let source = match (dir, h.line) {
            (Some(HostDir { file: Some(f), .. }), Some(line)) => format!("{}:{line}", f.display()),
            (
                Some(HostDir {
                    file: None, dir, ..
                }),
                _,
            ) if h.ca.is_some() || h.client.is_some() => {
                format!("{}/ (certificate files)", dir.display())
            }
            _ => "default".to_owned(),
        };
        let endpoint = Endpoint {
            scheme,
            host: name,
            port: port.unwrap_or_else(|| scheme.default_port()),
            // The resolver joins paths with Go's path.Join, so `//v2` reads as `/v2`.
            path: if h.path.is_empty() {
                String::new()
            } else {
                clean_path(&h.path)
            },
            role: if proxy { Role::Mirror } else { Role::Upstream },
            tls,
            proxy: None,
            headers: h
                .header
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(|v| (k.clone(), v.clone())))
                .collect(),
            capabilities: h.capabilities,
            credential: None,
            ns_param: proxy.then(|| registry_host.to_owned()),
            source,
            // The retry keeps the host's port: only a host with an explicit one falls back.
            http_fallback: http_fallback.then(|| HttpFallback {
                port: port.unwrap_or(80),
                on_any_error: false,
                proxy: None,
            }),
            dial_timeout: h.dial_timeout,
            repository: None,
        };
        out.push(HostEntry {
            endpoint,
            http_fallback,
            dial_timeout: h.dial_timeout,
        });
    }
    out
}

/// `hostDirFromRoots` + `HostDirFromRoot`: the first existing candidate
/// directory, trying every candidate of one root before the next root.
#[must_use]
pub fn find_host_dir(
    root: &HostRoot,
    config_paths: &[String],
    registry_host: &str,
) -> Option<PathBuf> {
    config_paths
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|base| {
            host_paths(registry_host)
                .into_iter()
                .map(move |c| Path::new(base).join(c))
        })
        .find(|candidate| root.exists(candidate))
}

/// `loadHostDir`: `hosts.toml` if present and non-empty, else cert files; a
/// `hosts.toml` containerd cannot parse is ignored in favour of cert files,
/// which is reported as a source error.
#[must_use]
pub fn load_host_dir(root: &HostRoot, dir: &Path) -> (HostDir, Vec<Source>) {
    let file = dir.join("hosts.toml");
    let mut sources = Vec::new();
    match root.read_to_string(&file) {
        Ok(text) if !text.is_empty() => match parse(&text) {
            Ok(hosts) => {
                sources.push(Source::ok(file.display().to_string(), "hosts.toml"));
                for (name, line) in &hosts.ignored {
                    sources.push(Source::finding(
                        file.display().to_string(),
                        "hosts.toml",
                        Severity::Error,
                        Some(*line),
                        format!("host {name:?} is not declared with a [host.\"...\"] header; containerd skips it"),
                    ));
                }
                return (
                    HostDir {
                        dir: dir.to_owned(),
                        file: Some(file),
                        hosts,
                    },
                    sources,
                );
            }
            Err(e) => sources.push(Source::parse_error(
                file.display().to_string(),
                "hosts.toml",
                &e.with_consequence(
                    "containerd ignores this file and uses only the directory's certificate files",
                ),
            )),
        },
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => sources.push(Source::error(
            file.display().to_string(),
            "hosts.toml",
            format!("cannot read: {e}; containerd fails the pull"),
        )),
    }
    let (host_dir, source) = cert_files_dir(root, dir);
    sources.push(source);
    (host_dir, sources)
}

/// `loadCertFiles`: the directory's `*.crt` CAs and `*.cert`/`*.key` pairs
/// on the registry's default host.
fn cert_files_dir(root: &HostRoot, dir: &Path) -> (HostDir, Source) {
    let names: Vec<String> = root
        .read_dir(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| root.resolve(p).is_file())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let hosts = from_cert_files(&names, |key| root.exists(dir.join(key)));
    (
        HostDir {
            dir: dir.to_owned(),
            file: None,
            hosts,
        },
        Source::ok(dir.display().to_string(), "certs.d"),
    )
}

/// Whether a containerd release ignores a `hosts.toml` without a `host`
/// table. `getSortedHosts` in `remotes/docker/config/hosts.go` returned
/// "invalid `host` tree" for it, and `loadHostDir` logged "failed to decode
/// hosts.toml" and fell back to the directory's certificate files
/// (containerd#10027). At the release tags: every 1.5, 1.6 (1.6.0-1.6.39,
/// and release/1.6 after them) and 1.7.0-1.7.31 have it; 1.7.32 has the fix
/// (containerd#10028, commit 24007441d, merged 2026-05-11); 2.0.0 and later
/// never had it (go-toml v2's parser walk in `getSortedHosts` since commit
/// b5615caf1, 2023-09-22, returns an empty list).
#[must_use]
pub fn ignores_root_only(v: &Version) -> bool {
    !v.at_least(1, 7, 32)
}

/// The hosts for `registry_host` from a `config_path` list, in containerd's
/// order, each an endpoint with its HTTP-fallback flag and dial timeout, as
/// the node's containerd `release` reads the directory (`None`: unknown, the
/// newest release's behaviour): a release that ignores a root-only
/// `hosts.toml` gets the certificate-file fallback, and the file an `error`
/// saying what that release does instead.
#[must_use]
pub fn discover_hosts_for(
    root: &HostRoot,
    config_paths: &[String],
    registry_host: &str,
    release: Option<&Version>,
) -> (Vec<HostEntry>, Vec<Source>) {
    let Some(dir) = find_host_dir(root, config_paths, registry_host) else {
        return (
            configure_for(registry_host, None, root, release),
            Vec::new(),
        );
    };
    let (host_dir, mut sources) = load_host_dir(root, &dir);
    // A `hosts.toml` without a `[host]` table, and a release that ignores it.
    let root_only = host_dir
        .file
        .clone()
        .filter(|_| !host_dir.hosts.has_host_tree);
    let (Some(file), Some(v)) = (&root_only, release.filter(|v| ignores_root_only(v))) else {
        if let (Some(file), None) = (&root_only, release) {
            crate::config::merge_sources(
                &mut sources,
                [Source::warning(
                    file.display().to_string(),
                    "hosts.toml",
                    "no [host] table: containerd 1.6.x and 1.7.0-1.7.31 ignore this file (containerd#10027); the node's \
                 containerd version is unknown, so the probe reads it as newer releases do",
                )],
            );
        }
        return (
            configure_for(registry_host, Some(&host_dir), root, release),
            sources,
        );
    };
    let shown = file.display().to_string();
    let (fallback, certs) = cert_files_dir(root, &dir);
    let hosts = configure_for(registry_host, Some(&fallback), root, Some(v));
    let with = match hosts.last().map(|h| &h.endpoint) {
        Some(ep) if ep.scheme == Scheme::Http => "no TLS",
        Some(ep) if !ep.tls.ca_files.is_empty() || !ep.tls.client_certs.is_empty() => {
            "the system CA and this directory's certificate files"
        }
        Some(ep) if ep.tls.skip_verify => "certificates unchecked",
        _ => "the system CA",
    };
    let pulls = hosts.last().map_or_else(String::new, |h| {
        format!(
            "{}://{}",
            h.endpoint.scheme.as_str(),
            h.endpoint.authority()
        )
    });
    sources.retain(|s| s.path != shown);
    sources.push(Source::error(
        &shown,
        "hosts.toml",
        format!(
            "containerd {v} ignores this hosts.toml: no [host] table (\"failed to decode hosts.toml: invalid `host` tree\", \
             containerd#10027, fixed in 1.7.32; 2.x reads it); it pulls {pulls} with {with}"
        ),
    ));
    crate::config::merge_sources(&mut sources, [certs]);
    (hosts, sources)
}

/// Registry hosts that have a directory under one of the `config_paths`
/// (`_default` excluded), with `host_port_` names turned back into `host:port`.
#[must_use]
pub fn registries(root: &HostRoot, config_paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for base in config_paths.iter().filter(|p| !p.is_empty()) {
        for entry in root.read_dir(base).unwrap_or_default() {
            if !root.resolve(&entry).is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if name == "_default" {
                continue;
            }
            let host = host_from_directory(&name);
            if !out.contains(&host) {
                out.push(host);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::config::fixture("containerd", name)
    }

    /// The endpoints alone.
    fn discover(
        root: &HostRoot,
        config_paths: &[String],
        registry_host: &str,
    ) -> (Vec<Endpoint>, Vec<Source>) {
        let (hosts, sources) = discover_hosts_for(root, config_paths, registry_host, None);
        (hosts.into_iter().map(|h| h.endpoint).collect(), sources)
    }

    fn caps(pull: bool, resolve: bool, push: bool) -> Capabilities {
        Capabilities {
            pull,
            resolve,
            push,
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn hc(scheme: Scheme, host: &str, path: &str, c: Capabilities, referrers: bool) -> HostConfig {
        HostConfig {
            scheme: Some(scheme),
            host: host.to_owned(),
            path: path.to_owned(),
            capabilities: c,
            referrers,
            ..HostConfig::empty()
        }
    }

    fn header(name: &str, values: &[&str]) -> (String, Vec<Secret>) {
        (
            name.to_owned(),
            values.iter().map(|v| Secret::new(*v)).collect(),
        )
    }

    /// containerd's `TestParseHostFile` (`hosts_test.go`), against its own `testtoml`.
    #[test]
    fn parse_host_file_matches_containerd() {
        let all = caps(true, true, true);
        let pull = caps(true, false, false);
        let mut expected = vec![
            HostConfig {
                ca: Some(strs(&["/etc/certs/mirror.pem"])),
                skip_verify: Some(false),
                header: vec![header("x-custom-2", &["value1", "value2"])],
                ..hc(Scheme::Https, "mirror.registry", "/v2", pull, false)
            },
            HostConfig {
                skip_verify: Some(true),
                ..hc(Scheme::Https, "mirror-bak.registry", "/us/v2", pull, false)
            },
            hc(Scheme::Http, "mirror.registry", "/v2", pull, false),
            HostConfig {
                ca: Some(strs(&[
                    "/etc/certs/test-1-ca.pem",
                    "/etc/certs/special.pem",
                ])),
                client: Some(vec![
                    (
                        "/etc/certs/client.cert".into(),
                        "/etc/certs/client.key".into(),
                    ),
                    ("/etc/certs/client.pem".into(), String::new()),
                ]),
                ..hc(Scheme::Https, "test-1.registry", "/v2", all, true)
            },
            HostConfig {
                client: Some(vec![("/etc/certs/client.pem".into(), String::new())]),
                ..hc(Scheme::Https, "test-2.registry", "/v2", all, true)
            },
            HostConfig {
                client: Some(vec![
                    ("/etc/certs/client-1.pem".into(), String::new()),
                    ("/etc/certs/client-2.pem".into(), String::new()),
                ]),
                ..hc(Scheme::Https, "test-3.registry", "/v2", all, true)
            },
            HostConfig {
                client: Some(vec![
                    ("/etc/certs/client-1.pem".into(), String::new()),
                    ("/etc/certs/client-2.pem".into(), String::new()),
                ]),
                ..hc(Scheme::Https, "no-referrers.registry", "/v2", all, false)
            },
            hc(
                Scheme::Https,
                "noncompliantmirror.registry",
                "/v2/namespaceprefix",
                pull,
                false,
            ),
            hc(
                Scheme::Https,
                "noprefixnoncompliant.registry",
                "",
                all,
                true,
            ),
            HostConfig {
                header: vec![header("x-custom-1", &["justaheader"])],
                ..hc(Scheme::Https, "onlyheader.registry", "/v2", all, true)
            },
            HostConfig {
                dial_timeout: Some(Duration::from_secs(3)),
                ..hc(Scheme::Https, "dial-timeout.registry", "/v2", all, true)
            },
            HostConfig {
                ca: Some(strs(&["/etc/path/default"])),
                header: vec![header("x-custom-1", &["custom header"])],
                ..hc(Scheme::Https, "test-default.registry", "/v2", all, true)
            },
        ];
        let got = parse(&fixture("hosts-test-parsehostfile.toml")).unwrap();
        // Lines of each [host."..."] header and of `server` in the fixture.
        let lines = [6, 13, 17, 20, 25, 28, 31, 35, 39, 42, 45, 1];
        for (e, line) in expected.iter_mut().zip(lines) {
            e.line = Some(line);
        }
        assert_eq!(got.hosts.len(), expected.len());
        for (i, (g, e)) in got.hosts.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "host {i}");
        }
        assert!(got.ignored.is_empty());
    }

    /// Path rules of parseHostConfig: `/v2` appended unless present or `override_path`.
    #[test]
    fn v2_path_rules() {
        let cases = [
            ("https://r.test", false, "/v2"),
            ("https://r.test/", false, "//v2"),
            ("https://r.test/v2", false, "/v2"),
            ("https://r.test/v2/", false, "/v2"),
            ("https://r.test/a/../b", false, "/b/v2"),
            ("https://r.test/custom", true, "/custom"),
            ("https://r.test", true, ""),
            ("r.test:5000", false, "/v2"),
        ];
        for (url, ovr, want) in cases {
            let text = format!("[host.\"{url}\"]\noverride_path = {ovr}\n");
            let f = parse(&text).unwrap();
            assert_eq!(f.hosts[0].path, want, "{url} override={ovr}");
        }
        // A bare host name gets https://, as in parseHostConfig.
        let f = parse("server = \"r.test:5000\"").unwrap();
        assert_eq!(
            (f.hosts[0].scheme, f.hosts[0].host.as_str()),
            (Some(Scheme::Https), "r.test:5000")
        );
    }

    #[test]
    fn order_follows_headers_not_keys() {
        // Sorted order would be a, b, c; containerd follows the headers.
        let f = parse("[host.\"https://c\"]\n[host.\"https://a\"]\n[host.\"https://c\".header]\nx = \"1\"\n[host.\"https://b\"]\n")
            .unwrap();
        let hosts: Vec<_> = f.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["c", "a", "c", "b", ""]);
        // Dotted keys never become a header: containerd skips the host.
        let f = parse("[host]\n\"https://dotted\".capabilities = [\"pull\"]\n").unwrap();
        assert_eq!(f.hosts.len(), 1);
        assert_eq!(f.ignored, [("https://dotted".to_owned(), 2)]);
    }

    #[test]
    fn errors_carry_lines() {
        let e = parse(
            "server = \"https://x\"\n\n[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(4), "unknown capability fly")
        );
        let e =
            parse("a = 1\n[host.\"https://m\"]\nclient = [[\"a\", \"b\", \"c\"]]\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("invalid pair"), "{e}");
        let e = parse("x = \n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("[host.\"https://m\"]\nskip_verify = \"yes\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("[host.\"https://m\"]\ndial_timeout = \"3 parsecs\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(parse("[[host.\"https://m\"]]\n").is_err());
    }

    /// containerd's `TestHostPathsUnix` cases that hold for upstream `hostPaths`.
    #[test]
    fn host_paths_like_containerd() {
        assert_eq!(host_paths("docker.io"), ["docker.io", "_default"]);
        assert_eq!(
            host_paths("localhost:5555"),
            ["localhost_5555_", "localhost:5555", "_default"]
        );
        assert_eq!(host_directory("[::1]:5000"), "[::1]_5000_");
        assert_eq!(host_from_directory("localhost_5555_"), "localhost:5555");
        assert_eq!(host_from_directory("my_registry"), "my_registry");
    }

    /// `TestHTTPFallback` rows with the options the CRI plugin passes (none):
    /// (registry, scheme, fallback).
    #[test]
    fn default_hosts_and_http_fallback() {
        let root = HostRoot::new("/nonexistent");
        let rows = [
            ("localhost:8080", Scheme::Https, true),
            ("localhost:80", Scheme::Http, false),
            ("localhost:443", Scheme::Https, false),
            ("localhost", Scheme::Https, false),
            ("localhost:5000", Scheme::Https, true),
            ("example.com", Scheme::Https, false),
            ("example.com:5000", Scheme::Https, false),
            ("127.0.0.254:5000", Scheme::Https, true),
            ("127.0.0.254", Scheme::Https, false),
            ("[::1]:5000", Scheme::Https, true),
            ("::1", Scheme::Https, false),
        ];
        for (host, scheme, fallback) in rows {
            let got = configure(host, None, &root);
            assert_eq!(got.len(), 1, "{host}");
            assert_eq!(
                (got[0].endpoint.scheme, got[0].http_fallback),
                (scheme, fallback),
                "{host}"
            );
            assert_eq!(got[0].endpoint.role, Role::Upstream);
        }
        let v6 = &configure("::1", None, &root)[0].endpoint;
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.url()),
            ("::1", 443, "https://[::1]/v2/".to_owned())
        );
        // TestDefaultHosts: docker.io goes to registry-1.docker.io, no ?ns=.
        let got = configure("docker.io", None, &root);
        assert_eq!(got[0].endpoint.url(), "https://registry-1.docker.io/v2/");
        assert_eq!(got[0].endpoint.ns_param, None);
        assert_eq!(got[0].endpoint.capabilities, Capabilities::default());
    }

    fn dir_with(file: &str, text: &str) -> HostDir {
        HostDir {
            dir: PathBuf::from(format!("/etc/containerd/certs.d/{file}")),
            file: Some(PathBuf::from(format!(
                "/etc/containerd/certs.d/{file}/hosts.toml"
            ))),
            hosts: parse(text).unwrap(),
        }
    }

    #[test]
    fn docs_local_mirror_endpoints() {
        let root = HostRoot::new("/host");
        let dir = dir_with(
            "docker.io",
            &fixture("hosts-docs-docker-io-local-mirror.toml"),
        );
        let got = configure("docker.io", Some(&dir), &root);
        let urls: Vec<_> = got.iter().map(|h| h.endpoint.url()).collect();
        assert_eq!(
            urls,
            [
                "https://public-mirror.example.com/v2/",
                "https://docker-mirror.internal/v2/",
                "https://registry-1.docker.io/v2/"
            ]
        );
        let pulls_only = &got[0].endpoint;
        assert_eq!(pulls_only.capabilities, caps(true, false, false));
        assert_eq!(
            (pulls_only.role, pulls_only.ns_param.as_deref()),
            (Role::Mirror, Some("docker.io"))
        );
        assert_eq!(
            pulls_only.source,
            "/etc/containerd/certs.d/docker.io/hosts.toml:3"
        );
        // The relative `ca` hangs off the host dir, then is re-rooted.
        assert_eq!(
            got[1].endpoint.tls.ca_files,
            [PathBuf::from(
                "/host/etc/containerd/certs.d/docker.io/docker-mirror.crt"
            )]
        );
        let upstream = &got[2].endpoint;
        assert_eq!(
            (upstream.role, upstream.ns_param.as_ref()),
            (Role::Upstream, None)
        );
        assert_eq!(
            upstream.source,
            "/etc/containerd/certs.d/docker.io/hosts.toml:1"
        );
    }

    #[test]
    fn docs_simple_and_aks_and_kind_and_minikube() {
        let root = HostRoot::default();
        let f = parse(&fixture("hosts-docs-docker-io-simple.toml")).unwrap();
        assert_eq!(f.hosts[0].host, "registry-1.docker.io");
        assert_eq!(f.hosts[1].host, "docker.io");
        let got = configure(
            "docker.io",
            Some(&dir_with(
                "docker.io",
                &fixture("hosts-docs-docker-io-simple.toml"),
            )),
            &root,
        );
        assert_eq!(got[0].endpoint.role, Role::Upstream);
        assert_eq!(got[1].endpoint.url(), "https://docker.io/v2/");

        // AKS Mooncake: no server, so the registry itself is the last resort.
        let got = configure(
            "mcr.azk8s.cn",
            Some(&dir_with(
                "mcr.azk8s.cn",
                &fixture("aks-mcr.azk8s.cn-hosts.toml"),
            )),
            &root,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].endpoint.url(), "https://mcr.azure.cn/v2/");
        assert_eq!(got[0].endpoint.headers.len(), 1);
        assert_eq!(got[0].endpoint.headers[0].0, "X-Forwarded-For");
        assert_eq!(got[0].endpoint.headers[0].1.expose(), "mcr.azk8s.cn");
        assert_eq!(got[0].endpoint.ns_param.as_deref(), Some("mcr.azk8s.cn"));
        assert_eq!(got[1].endpoint.url(), "https://mcr.azk8s.cn/v2/");

        // kind: plain-HTTP mirror without TLS settings stays HTTP, no fallback;
        // the localhost:5001 default upstream gets HTTPS-first with fallback.
        let got = configure(
            "localhost:5001",
            Some(&dir_with(
                "localhost:5001",
                &fixture("kind-localhost-5001-hosts.toml"),
            )),
            &root,
        );
        assert_eq!(
            (got[0].endpoint.url(), got[0].http_fallback),
            ("http://kind-registry:5000/v2/".to_owned(), false)
        );
        assert_eq!(
            (got[1].endpoint.url(), got[1].http_fallback),
            ("https://localhost:5001/v2/".to_owned(), true)
        );
        assert!(got[1].endpoint.tls.skip_verify);

        // minikube: `skip_verify` on an http:// host makes containerd try HTTPS first.
        let text = fixture("minikube-insecure-registry-192.168.49.1_5000-hosts.toml");
        let got = configure(
            "192.168.49.1:5000",
            Some(&dir_with("192.168.49.1:5000", &text)),
            &root,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].endpoint.scheme, got[0].http_fallback),
            (Scheme::Https, true)
        );
        assert_eq!(got[0].endpoint.port, 5000);
        assert_eq!(
            (got[1].endpoint.scheme, got[1].http_fallback),
            (Scheme::Http, false)
        );
        assert!(got.iter().all(|h| h.endpoint.role == Role::Upstream));
    }

    #[test]
    fn discovery_over_config_path_list() {
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        let mk = |p: &str, body: &str| {
            let full = root.resolve(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, body).unwrap();
        };
        // Docker layout in the second root; `_default` in the first wins anyway.
        mk("/etc/docker/certs.d/reg.test:5000/ca.crt", "x");
        mk("/etc/docker/certs.d/reg.test:5000/client.cert", "x");
        mk("/etc/docker/certs.d/reg.test:5000/client.key", "x");
        mk("/etc/docker/certs.d/reg.test:5000/other.cert", "x");
        let paths = strs(&["/etc/containerd/certs.d", "/etc/docker/certs.d"]);
        let (eps, sources) = discover(&root, &paths, "reg.test:5000");
        assert_eq!(eps.len(), 1);
        let base = root.resolve("/etc/docker/certs.d/reg.test:5000");
        assert_eq!(eps[0].tls.ca_files, [base.join("ca.crt")]);
        assert_eq!(
            eps[0].tls.client_certs,
            [
                ClientCert {
                    cert: base.join("client.cert"),
                    key: base.join("client.key")
                },
                ClientCert {
                    cert: base.join("other.cert"),
                    key: base.join("other.cert")
                },
            ]
        );
        assert_eq!(
            sources,
            [Source::ok("/etc/docker/certs.d/reg.test:5000", "certs.d")]
        );

        mk(
            "/etc/containerd/certs.d/_default/hosts.toml",
            "server = \"https://catch-all.test\"\n",
        );
        let (eps, _) = discover(&root, &paths, "reg.test:5000");
        assert_eq!(eps[0].url(), "https://catch-all.test/v2/");

        // A broken hosts.toml: containerd falls back to the dir's cert files.
        mk(
            "/etc/containerd/certs.d/reg.test_5000_/hosts.toml",
            "server = \"https://x\"\n[host.\"https://m\"]\ncapabilities = [\"fly\"]\n",
        );
        mk("/etc/containerd/certs.d/reg.test_5000_/mine.crt", "x");
        let (eps, sources) = discover(&root, &paths, "reg.test:5000");
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url(), "https://reg.test:5000/v2/");
        assert_eq!(
            eps[0].tls.ca_files,
            [root.resolve("/etc/containerd/certs.d/reg.test_5000_/mine.crt")]
        );
        let err = sources[0].message().unwrap();
        assert!(err.starts_with("line 3: unknown capability fly"), "{err}");
        assert_eq!(
            (sources[0].severity(), sources[0].line()),
            (Severity::Error, Some(3))
        );

        let mut regs = registries(&root, &paths);
        regs.sort();
        assert_eq!(regs, ["reg.test:5000"]);
    }

    #[test]
    fn a_root_only_file_by_containerd_release() {
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        let mk = |p: &str, body: &str| {
            let full = root.resolve(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, body).unwrap();
        };
        let file = "/etc/containerd/certs.d/plain.test:5000/hosts.toml";
        mk(file, "server = \"http://plain.test:5000\"\n");
        let paths = strs(&["/etc/containerd/certs.d"]);
        let v = |s: &str| Version::parse(s).unwrap();
        let at = |release: Option<&Version>| {
            let (hosts, sources) = discover_hosts_for(&root, &paths, "plain.test:5000", release);
            let urls: Vec<String> = hosts.iter().map(|h| h.endpoint.url()).collect();
            let s = sources.into_iter().find(|s| s.path == file).unwrap();
            (urls, s.severity(), s.message().unwrap_or_default())
        };
        for ignoring in [
            "1.5.18",
            "1.6.0",
            "1.6.20",
            "1.6.39",
            "1.7.0",
            "1.7.31",
            "1.7.23-k3s1",
        ] {
            let (urls, severity, message) = at(Some(&v(ignoring)));
            assert_eq!(urls, ["https://plain.test:5000/v2/"], "{ignoring}");
            assert_eq!(severity, Severity::Error, "{ignoring}");
            assert!(
                message.contains(&format!("containerd {ignoring} ignores this hosts.toml"))
                    && message.ends_with("it pulls https://plain.test:5000 with the system CA"),
                "{message}"
            );
        }
        for reading in ["1.7.32", "1.7.34", "2.0.0", "2.3.4"] {
            assert_eq!(
                at(Some(&v(reading))),
                (
                    vec!["http://plain.test:5000/v2/".to_owned()],
                    Severity::Ok,
                    String::new()
                ),
                "{reading}"
            );
        }
        let (urls, severity, message) = at(None);
        assert_eq!(urls, ["http://plain.test:5000/v2/"]);
        assert_eq!(severity, Severity::Warning);
        assert!(message.contains("version is unknown"), "{message}");

        // A `[host]` table, even empty, is k3s's workaround: every release reads the file.
        mk(file, "server = \"http://plain.test:5000\"\n[host]\n");
        assert_eq!(at(Some(&v("1.6.20"))).1, Severity::Ok);

        // The fallback keeps the directory's certificate files, as loadCertFiles does.
        mk(
            file,
            "server = \"https://plain.test:5000\"\nca = \"ca.crt\"\n",
        );
        mk("/etc/containerd/certs.d/plain.test:5000/ca.crt", "x");
        let (hosts, sources) =
            discover_hosts_for(&root, &paths, "plain.test:5000", Some(&v("1.6.20")));
        assert_eq!(
            hosts[0].endpoint.tls.ca_files,
            [root.resolve("/etc/containerd/certs.d/plain.test:5000/ca.crt")]
        );
        let s = sources.iter().find(|s| s.path == file).unwrap();
        assert!(
            s.message()
                .unwrap()
                .ends_with("with the system CA and this directory's certificate files"),
            "{s:?}"
        );
        assert!(
            sources
                .iter()
                .any(|s| s.path == "/etc/containerd/certs.d/plain.test:5000" && s.kind == "certs.d")
        );
    }

    #[test]
    fn http_hosts_and_localhost_by_containerd_release() {
        let root = HostRoot::new("/nonexistent");
        let v = |s: &str| Version::parse(s).unwrap();
        let first = |registry: &str, dir: Option<&HostDir>, release: Option<&Version>| {
            let h = configure_for(registry, dir, &root, release).remove(0);
            (
                h.endpoint.url(),
                h.http_fallback,
                h.endpoint.tls.skip_verify,
            )
        };
        // localhost: plain http, unverified, before 1.6.25/1.7.7; by port since 1.6.25/1.7.8.
        for (release, want) in [
            ("1.6.24", ("http://localhost:5000/v2/", false, true)),
            // 1.7.7 has the https-first retry but not the port rule: its
            // localhost host is http with skip_verify, which counts as TLS.
            ("1.7.7", ("https://localhost:5000/v2/", true, true)),
            ("1.6.25", ("https://localhost:5000/v2/", true, true)),
            ("1.7.8", ("https://localhost:5000/v2/", true, true)),
            ("2.0.0", ("https://localhost:5000/v2/", true, true)),
        ] {
            let (url, fallback, skip) = first("localhost:5000", None, Some(&v(release)));
            assert_eq!((url.as_str(), fallback, skip), want, "{release}");
        }
        assert_eq!(
            first("localhost", None, Some(&v("1.6.20"))).0,
            "http://localhost/v2/"
        );
        assert_eq!(first("localhost", None, None).0, "https://localhost/v2/");
        // An http host with a CA: tried over https first from 1.6.25/1.7.7 on.
        let dir = dir_with(
            "reg.test_5000_",
            "server = \"http://reg.test:5000\"\nca = \"/etc/ca.pem\"\n",
        );
        assert_eq!(
            first("reg.test:5000", Some(&dir), Some(&v("1.7.6"))).0,
            "http://reg.test:5000/v2/"
        );
        for release in [Some(v("1.7.7")), Some(v("1.6.25")), None] {
            let (url, fallback, _) = first("reg.test:5000", Some(&dir), release.as_ref());
            assert_eq!(
                (url.as_str(), fallback),
                ("https://reg.test:5000/v2/", true),
                "{release:?}"
            );
        }
    }
}
