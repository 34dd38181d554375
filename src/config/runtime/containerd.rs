//! containerd's `/etc/containerd/config.toml`: the CRI plugin's registry
//! settings (`config_path`, the deprecated `mirrors`/`configs`/`auths`, and
//! `headers`), its `imports`, and the endpoints they give a registry
//! ([`ContainerdConfig`] implements [`crate::config::runtime::backend::RuntimeConfig`]). The
//! `certs.d/<host>/hosts.toml` side is [`crate::config::runtime::hosts_toml`].
//!
//! Sources ported: `internal/cri/config/config.go` (`Registry`,
//! `ValidateImageConfig`), `internal/cri/server/images/image_pull.go`
//! (`registryHosts`, `registryEndpoints`, `ParseAuth`, `hostDirFromRoots`),
//! `cmd/containerd/server/config/config.go` (`LoadConfigWithPlugins`,
//! `resolveImports`, `mergeConfig`, `v1Migrate`) and, for 1.x, `configs.tls`
//! from `pkg/cri/server/image_pull.go` (`getTLSConfig`).
//!
//! Findings: a file containerd refuses or a contradiction it rejects is an
//! `error`; what depends on the containerd version (2.2's default
//! `config_path`, the transfer service's single directory) is a `warning`.
//!
//! [`parse`] takes `&str` and never touches the disk; only [`discover`] and
//! the endpoint builder ([`registry_hosts`]) read files,
//! through [`HostRoot`]. It applies no proxy and no kubelet credential (the
//! caller does). Secrets (`password`, `auth`, `identitytoken`, header values)
//! stay [`Secret`]s.

use crate::config::net::hostport::split_authority;
use crate::config::runtime::hosts_toml::{
    self, clean_path, is_localhost, is_proxy, split_url, str_value, string_list,
};
use crate::config::runtime::version::Version;
use crate::config::{ParseError, Severity, Source, line_of};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{Capabilities, ClientCert, Endpoint, Role, Scheme, TlsSettings};
use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::{Component, Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Where containerd reads its config.
pub const CONFIG_PATH: &str = "/etc/containerd/config.toml";

/// The `config_path` containerd 2.2+ uses when none is set (its generated
/// default config carries it; see containerd issue #12808).
pub const DEFAULT_CONFIG_PATH_V2: &str = "/etc/containerd/certs.d:/etc/docker/certs.d";

const KIND: &str = "containerd";

/// A `mirrors."<host>"` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub host: String,
    pub endpoints: Vec<String>,
    pub line: usize,
}

/// `configs."<host>".tls` (containerd 1.x only; 2.x dropped the field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub insecure_skip_verify: bool,
    /// The 1-based line of the `tls` table.
    pub line: Option<usize>,
}

/// `configs."<host>".auth` (or a deprecated `auths."<url>"` folded in).
pub use crate::config::credentials::basic_auth::AuthConfig;

/// `configs."<host>"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    pub tls: Option<TlsConfig>,
    pub auth: Option<AuthConfig>,
}

/// The CRI plugin's `registry` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// As written; a `:`-separated list. Empty means unset, as in containerd.
    pub config_path: String,
    /// Line of `config_path`, for reports.
    pub config_path_line: Option<usize>,
    pub mirrors: Vec<Mirror>,
    /// Keyed by the host actually contacted (`registry-1.docker.io` for Docker Hub).
    pub configs: Vec<(String, RegistryConfig)>,
    /// Sent to every registry.
    pub headers: Vec<(String, Vec<Secret>)>,
}

/// What registry discovery needs from a containerd config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerdConfig {
    /// `version`; a missing one is 1. Version 4 and up read as 3.
    pub version: u32,
    /// Whether the file wrote `version` at all: a root config without one lets
    /// the first drop-in that has one set the ceiling for the others.
    pub version_set: bool,
    /// The 1-based line of `version`, for findings about the whole config,
    /// and the node path of the file it is in when that is not the file
    /// the registry table came from (set by [`discover`]).
    pub version_line: Option<usize>,
    pub version_file: Option<String>,
    /// `imports`: paths or globs, relative ones relative to the importing file.
    pub imports: Vec<String>,
    pub registry: Registry,
    /// The file declared the CRI plugin table that holds `registry`. Merging
    /// replaces that plugin's table wholesale, registry included.
    pub cri_plugin: bool,
    /// Node path of the file the registry table came from (set by [`discover`]).
    pub origin: Option<String>,
    /// The node's containerd release (read from its binary by the caller);
    /// `None`: unknown, and the newest release's behaviour applies.
    pub release: Option<Version>,
}

/// Parse one containerd config file.
pub fn parse(text: &str) -> Result<ContainerdConfig, ParseError> {
    let doc = DeTable::parse(text).map_err(|e| ParseError::from_toml(text, &e))?;
    let doc = doc.get_ref();
    let mut cfg = ContainerdConfig {
        version: 1,
        ..ContainerdConfig::default()
    };
    if let Some(v) = doc.get("version") {
        cfg.version_set = true;
        cfg.version_line = Some(line(text, v));
        let DeValue::Integer(i) = v.get_ref() else {
            return Err(ParseError::at(
                text,
                v.span().start,
                "version must be an integer",
            ));
        };
        let n = i64::from_str_radix(
            i.as_str().replace('_', "").trim_start_matches('+'),
            i.radix(),
        )
        .map_err(|_| ParseError::at(text, v.span().start, "version is not a number"))?;
        cfg.version = match n {
            // containerd treats 0 as "unset", i.e. version 1.
            0 | 1 => 1,
            2 => 2,
            3.. => 3,
            _ => {
                return Err(ParseError::at(
                    text,
                    v.span().start,
                    format!("unsupported version {n}"),
                ));
            }
        };
    }
    if let Some(v) = doc.get("imports") {
        cfg.imports = string_list(text, v, "imports")?;
    }

    let plugins = match doc.get("plugins") {
        None => None,
        Some(v) => match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                return Err(ParseError::at(
                    text,
                    v.span().start,
                    "plugins must be a table",
                ));
            }
        },
    };
    if let Some(plugins) = plugins {
        let images = plugins.get("io.containerd.cri.v1.images");
        // v1Migrate maps short v1 names (`cri`) to `io.containerd.grpc.v1.<name>`.
        let grpc = plugins.get("io.containerd.grpc.v1.cri").or_else(|| {
            if cfg.version == 1 {
                plugins.get("cri")
            } else {
                None
            }
        });
        cfg.cri_plugin = images.is_some() || grpc.is_some();
        // Read both names whatever `version` says: AKS ships `version = 2` with the
        // 2.x name. When both carry a registry, 2.x (version 3) migrates the old
        // name into the new one, and 1.x never looks at the new one.
        let chosen = match (registry_of(images), registry_of(grpc)) {
            (Some(i), Some(g)) => Some(if cfg.version >= 3 { i } else { g }),
            (i, g) => i.or(g),
        };
        if let Some(reg) = chosen {
            let DeValue::Table(reg) = reg.get_ref() else {
                return Err(ParseError::at(
                    text,
                    reg.span().start,
                    "registry must be a table",
                ));
            };
            cfg.registry = parse_registry(text, reg)?;
        }
    }
    Ok(cfg)
}

fn registry_of<'a, 'i>(
    plugin: Option<&'a Spanned<DeValue<'i>>>,
) -> Option<&'a Spanned<DeValue<'i>>> {
    plugin.and_then(|p| p.get_ref().as_table()?.get("registry"))
}

fn line(text: &str, v: &Spanned<impl Sized>) -> usize {
    line_of(text, v.span().start)
}

fn table<'a, 'i>(
    text: &str,
    v: &'a Spanned<DeValue<'i>>,
    what: &str,
) -> Result<&'a DeTable<'i>, ParseError> {
    match v.get_ref() {
        DeValue::Table(t) => Ok(t),
        other => Err(ParseError::at(
            text,
            v.span().start,
            format!("{what} must be a table, not {}", other.type_str()),
        )),
    }
}

fn opt_string(text: &str, t: &DeTable<'_>, key: &str) -> Result<Option<String>, ParseError> {
    t.get(key).map(|v| str_value(text, v, key)).transpose()
}

/// Entries of a table in file order (the map itself is sorted by key).
fn in_file_order<'a, 'i>(
    t: &'a DeTable<'i>,
) -> Vec<(
    &'a Spanned<std::borrow::Cow<'i, str>>,
    &'a Spanned<DeValue<'i>>,
)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

fn parse_auth(text: &str, t: &DeTable<'_>, line: usize) -> Result<AuthConfig, ParseError> {
    Ok(AuthConfig {
        username: opt_string(text, t, "username")?.unwrap_or_default(),
        password: Secret::new(opt_string(text, t, "password")?.unwrap_or_default()),
        auth: Secret::new(opt_string(text, t, "auth")?.unwrap_or_default()),
        identity_token: Secret::new(opt_string(text, t, "identitytoken")?.unwrap_or_default()),
        line: Some(line),
    })
}

fn parse_registry(text: &str, reg: &DeTable<'_>) -> Result<Registry, ParseError> {
    let mut out = Registry::default();
    if let Some(v) = reg.get("config_path") {
        out.config_path = str_value(text, v, "config_path")?;
        out.config_path_line = Some(line(text, v));
    }
    if let Some(v) = reg.get("mirrors") {
        for (host, m) in in_file_order(table(text, v, "mirrors")?) {
            let m_tbl = table(text, m, "mirror")?;
            let endpoints = match m_tbl.get("endpoint") {
                Some(e) => string_list(text, e, "endpoint")?,
                None => Vec::new(),
            };
            out.mirrors.push(Mirror {
                host: host.get_ref().to_string(),
                endpoints,
                line: line(text, host),
            });
        }
    }
    if let Some(v) = reg.get("configs") {
        for (host, c) in in_file_order(table(text, v, "configs")?) {
            let c = table(text, c, "configs entry")?;
            let mut rc = RegistryConfig::default();
            if let Some(tls_value) = c.get("tls") {
                let tls = table(text, tls_value, "tls")?;
                rc.tls = Some(TlsConfig {
                    line: Some(line(text, tls_value)),
                    ca_file: opt_string(text, tls, "ca_file")?,
                    cert_file: opt_string(text, tls, "cert_file")?,
                    key_file: opt_string(text, tls, "key_file")?,
                    insecure_skip_verify: match tls.get("insecure_skip_verify") {
                        Some(b) => b.get_ref().as_bool().ok_or_else(|| {
                            ParseError::at(
                                text,
                                b.span().start,
                                "insecure_skip_verify must be a boolean",
                            )
                        })?,
                        None => false,
                    },
                });
            }
            if let Some(auth) = c.get("auth") {
                rc.auth = Some(parse_auth(
                    text,
                    table(text, auth, "auth")?,
                    line(text, auth),
                )?);
            }
            out.configs.push((host.get_ref().to_string(), rc));
        }
    }
    // ValidateImageConfig folds the deprecated `auths` (keyed by URL) into `configs` by host.
    if let Some(v) = reg.get("auths") {
        for (endpoint, a) in in_file_order(table(text, v, "auths")?) {
            let auth = parse_auth(text, table(text, a, "auths entry")?, line(text, a))?;
            let key = match split_url(endpoint.get_ref()) {
                Ok(parts) => parts.authority,
                Err(_) => endpoint.get_ref().to_string(),
            };
            match out.configs.iter_mut().find(|(h, _)| *h == key) {
                Some((_, rc)) => rc.auth = Some(auth),
                None => out.configs.push((
                    key,
                    RegistryConfig {
                        tls: None,
                        auth: Some(auth),
                    },
                )),
            }
        }
    }
    if let Some(v) = reg.get("headers") {
        for (name, values) in in_file_order(table(text, v, "headers")?) {
            let values = string_list(text, values, "header values")?;
            out.headers.push((
                name.get_ref().to_string(),
                values.into_iter().map(Secret::new).collect(),
            ));
        }
    }
    Ok(out)
}

/// `mergeConfig`: scalars override when set, `imports` append without
/// duplicates, and the `plugins` map merges by plugin id with each plugin's
/// table replaced entirely ("Maps merged by keys, but values are replaced
/// entirely"), so a drop-in that declares the CRI plugin replaces the whole
/// registry table, even with nothing.
pub fn merge(into: &mut ContainerdConfig, from: ContainerdConfig) {
    for i in from.imports {
        if !into.imports.contains(&i) {
            into.imports.push(i);
        }
    }
    if from.cri_plugin {
        into.registry = from.registry;
        into.cri_plugin = true;
        into.origin = from.origin;
    }
}

/// `resolveImports`: clean, make relative paths relative to the importing
/// file's directory, expand globs (sorted, as Go's `filepath.Glob`).
fn resolve_imports(root: &HostRoot, parent: &Path, imports: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for import in imports {
        let p = Path::new(import);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            parent.parent().unwrap_or(Path::new("/")).join(p)
        };
        let p = normalize(&p);
        let s = p.to_string_lossy();
        if s.contains('*') {
            let pattern = root.resolve(&p);
            let Ok(paths) = glob::glob(&pattern.to_string_lossy()) else {
                continue;
            };
            let mut matches: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter_map(|m| {
                    m.strip_prefix(root.root())
                        .ok()
                        .map(|rel| Path::new("/").join(rel))
                })
                .collect();
            matches.sort();
            out.extend(matches);
        } else {
            out.push(p);
        }
    }
    out
}

/// `filepath.Clean` for absolute node paths.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Read `/etc/containerd/config.toml` and its imports, breadth first, each
/// file once, merged as containerd does. A missing root file is an empty
/// config (containerd runs on defaults) and no source. Problems become
/// source errors and the run goes on.
#[must_use]
pub fn discover(root: &HostRoot) -> (ContainerdConfig, Vec<Source>) {
    let mut merged = ContainerdConfig {
        version: 1,
        ..ContainerdConfig::default()
    };
    let mut sources = Vec::new();
    let mut loaded: HashSet<PathBuf> = HashSet::new();
    let mut pending: VecDeque<PathBuf> = VecDeque::from([PathBuf::from(CONFIG_PATH)]);
    let mut root_version: Option<u32> = None;
    let mut ceiling_set = false;
    while let Some(path) = pending.pop_front() {
        if !loaded.insert(path.clone()) {
            continue;
        }
        let shown = path.display().to_string();
        let text = match root.read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound && root_version.is_none() => {
                return (merged, sources);
            }
            Err(e) => {
                let why = if root_version.is_none() {
                    "cannot read"
                } else {
                    "cannot read import"
                };
                sources.push(Source::error(
                    &shown,
                    KIND,
                    format!("{why}: {e}; containerd fails to start"),
                ));
                continue;
            }
        };
        let mut cfg = match parse(&text) {
            Ok(c) => c,
            Err(e) => {
                sources.push(Source::parse_error(
                    &shown,
                    KIND,
                    &e.with_consequence("containerd fails to start with this file"),
                ));
                if root_version.is_none() {
                    root_version = Some(1);
                }
                continue;
            }
        };
        // LoadConfigWithPlugins: the first file with a version sets the ceiling.
        if root_version.is_some() && !ceiling_set && cfg.version_set {
            root_version = Some(cfg.version);
            ceiling_set = true;
        }
        match root_version {
            None => {
                root_version = Some(cfg.version);
                ceiling_set = cfg.version_set;
                merged.version = cfg.version;
                merged.version_line = cfg.version_line;
                merged.version_file = Some(shown.clone());
            }
            Some(rv) if cfg.version > rv => {
                sources.push(Source::finding(
                    &shown,
                    KIND,
                    Severity::Error,
                    cfg.version_line,
                    format!("drop-in config version {} higher than root config version {rv}; containerd fails to start", cfg.version),
                ));
                continue;
            }
            Some(_) => {}
        }
        // mergeConfig overrides with any non-zero version; none exceeds the ceiling.
        if cfg.version_set && cfg.version > merged.version {
            merged.version = cfg.version;
            merged.version_line = cfg.version_line;
            merged.version_file = Some(shown.clone());
        }
        sources.push(Source::ok(&shown, KIND));
        cfg.origin = Some(shown);
        let imports = resolve_imports(root, &path, &cfg.imports);
        merge(&mut merged, cfg);
        pending.extend(imports);
    }
    (merged, sources)
}

/// Whether the node's containerd is `major.minor` or later; when its release
/// is unknown, whether the config is written for the newest (version 3).
fn release_at_least(cfg: &ContainerdConfig, major: u32, minor: u32) -> bool {
    cfg.release
        .as_ref()
        .map_or(cfg.version >= 3, |v| v.at_least(major, minor, 0))
}

/// Whether containerd 2.x's config rules apply: the node's release says so,
/// or, when it is unknown, the config does (version 3 is read by 2.x only;
/// a version 1/2 file is written for 1.x, and predicting 2.x's rules for it,
/// such as dropping `configs.tls`, would flip verdicts on no evidence).
fn rules_2x(cfg: &ContainerdConfig) -> bool {
    release_at_least(cfg, 2, 0)
}

/// Whether containerd fills in its default `config_path` (2.2+: the CRI
/// images plugin's `DefaultImageConfig`, containerd#12808): by release when
/// known, else the newest behaviour for a version 3 config.
fn defaults_config_path(cfg: &ContainerdConfig) -> bool {
    release_at_least(cfg, 2, 2)
}

/// Whether the CRI plugin pulls through the transfer service (2.1+), which
/// reads `config_path` as one directory.
fn pulls_via_transfer(cfg: &ContainerdConfig) -> bool {
    release_at_least(cfg, 2, 1)
}

/// The `config_path` list containerd uses, if it uses one: the configured
/// value, or containerd 2.2+'s default when the config names no mirrors
/// (1.x and 2.0/2.1 have no default; with the release unknown, a version 3
/// config gets the newest behaviour).
#[must_use]
pub fn effective_config_path(cfg: &ContainerdConfig) -> Option<Vec<String>> {
    let raw = if !cfg.registry.config_path.is_empty() {
        cfg.registry.config_path.as_str()
    } else if defaults_config_path(cfg) && cfg.registry.mirrors.is_empty() {
        DEFAULT_CONFIG_PATH_V2
    } else {
        return None;
    };
    Some(split_config_path(raw))
}

/// `filepath.SplitList` of a `config_path`: `:`-separated, or `;`-separated
/// when it is a Windows path (`C:\ProgramData\containerd\certs.d`, as AKS
/// writes for Windows nodes), whose drive colon is no separator. An empty
/// element would mean containerd's working directory; it is left out.
fn split_config_path(raw: &str) -> Vec<String> {
    let b = raw.as_bytes();
    let windows =
        b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    raw.split(if windows { ';' } else { ':' })
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The hosts for `registry_host` in containerd's order, with global headers
/// and `configs."<host>".auth` credentials applied: each an endpoint with
/// its HTTP-fallback flag and dial timeout.
#[must_use]
pub fn registry_hosts(
    cfg: &ContainerdConfig,
    root: &HostRoot,
    registry_host: &str,
) -> (Vec<hosts_toml::HostEntry>, Vec<Source>) {
    let file = cfg.origin.clone().unwrap_or_else(|| CONFIG_PATH.to_owned());
    let reg = &cfg.registry;
    let mut sources = file_findings(cfg, &file);
    let mut hosts = if let Some(paths) = effective_config_path(cfg) {
        let (h, s) =
            hosts_toml::discover_hosts_for(root, &paths, registry_host, cfg.release.as_ref());
        sources.extend(s);
        h
    } else {
        let (h, s) = legacy_hosts(cfg, root, registry_host, &file);
        sources.extend(s);
        h
    };

    for h in &mut hosts {
        let ep = &mut h.endpoint;
        let mut headers: Vec<(String, Secret)> = reg
            .headers
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(|v| (k.clone(), v.clone())))
            .collect();
        headers.append(&mut ep.headers);
        ep.headers = headers;
        let authority = ep.authority();
        if let Some((key, auth)) = reg
            .configs
            .iter()
            .find_map(|(k, c)| (*k == authority).then_some((k, c.auth.as_ref()?)))
        {
            let source = format!("{file} (configs.\"{key}\".auth)");
            match auth.credential(source) {
                Ok(c) => ep.credential = c,
                Err(e) if e.runtime_fails() => sources.push(Source::finding(
                    &file,
                    KIND,
                    Severity::Error,
                    auth.line,
                    format!("configs.\"{key}\".auth: `auth` {e}; containerd fails the pull"),
                )),
                Err(e) => sources.push(Source::finding(
                    &file,
                    KIND,
                    Severity::Warning,
                    auth.line,
                    format!("configs.\"{key}\".auth: `auth` {e}; the probe goes without it"),
                )),
            }
        }
    }
    (hosts, sources)
}

/// What is wrong or risky in the registry table as a whole: the same for
/// every registry, so [`crate::config::merge_sources`] keeps one copy.
fn file_findings(cfg: &ContainerdConfig, file: &str) -> Vec<Source> {
    let reg = &cfg.registry;
    let at = |severity, line, message: String| Source::finding(file, KIND, severity, line, message);
    let mut out = Vec::new();
    if let Some(v) = &cfg.release {
        out.extend(release_findings(cfg, v, file));
    }
    let unknown = cfg.release.is_none();
    if !reg.mirrors.is_empty() && !reg.config_path.is_empty() {
        out.push(at(
            Severity::Error,
            reg.config_path_line,
            "`mirrors` cannot be set when `config_path` is provided: containerd's CRI plugin refuses to load this \
             registry config; probing with config_path"
                .to_owned(),
        ));
    } else if !reg.mirrors.is_empty() && cfg.version >= 3 && unknown {
        out.push(at(
            Severity::Warning,
            reg.mirrors.first().map(|m| m.line),
            format!(
                "containerd 2.2+ defaults config_path to {DEFAULT_CONFIG_PATH_V2}, and then refuses `mirrors` \
                 (\"`mirrors` cannot be set when `config_path` is provided\"); 2.0/2.1 still use them"
            ),
        ));
    } else if reg.config_path.is_empty() && cfg.version >= 3 && unknown {
        out.push(Source::finding(
            cfg.version_file.as_deref().unwrap_or(file),
            KIND,
            Severity::Warning,
            cfg.version_line,
            format!(
                "config_path is not set: containerd 2.2+ reads hosts.toml from its default {DEFAULT_CONFIG_PATH_V2}, \
                 containerd 2.0/2.1 from nowhere; set it so every version reads the same directories"
            ),
        ));
    }
    if pulls_via_transfer(cfg) && split_config_path(&reg.config_path).len() > 1 {
        out.push(at(
            Severity::Warning,
            reg.config_path_line,
            "containerd 2.x pulls through the transfer service, which takes config_path as one directory, not a \
             `:` list (containerd#12808); unless disable_image_pull_with_transfer_service = true, these hosts.toml \
             files may be ignored"
                .to_owned(),
        ));
    }
    if rules_2x(cfg)
        && let Some(tls) = reg.configs.iter().find_map(|(_, c)| c.tls.as_ref())
    {
        let who = cfg.release.as_ref().map_or_else(
            || "containerd 2.x".to_owned(),
            |v| format!("containerd {v}"),
        );
        out.push(at(
            Severity::Error,
            tls.line,
            format!(
                "{who} ignores configs.\"<host>\".tls (removed in 2.0, containerd d2b7a1e29); use hosts.toml `ca`/`client`"
            ),
        ));
    }
    out
}

/// What the node's known containerd release does with this config that
/// another release would not (each rule cites where containerd changed).
fn release_findings(cfg: &ContainerdConfig, v: &Version, file: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let version_file = cfg.version_file.as_deref().unwrap_or(file);
    if v.major < 2 && cfg.version >= 3 {
        // services/server/config/config.go ValidateV2: "unsupported config
        // version" since containerd 00347b7fa (1.7.17) / 38607b59c (1.6.32);
        // before, a version 3 file loads as version 2 and the 2.x plugin
        // names (io.containerd.cri.v1.images) are unknown plugins.
        let refuses = v.at_least(1, 7, 17) || v.in_series_from(1, 6, 32);
        let message = if refuses {
            format!(
                "containerd {v} refuses config version 3 (\"unsupported config version `3`\", since 1.6.32/1.7.17) and does not start: \
                 every pull fails; write a version 2 config for 1.x"
            )
        } else {
            format!(
                "containerd {v} reads config version 3 as version 2: the 2.x plugin names (io.containerd.cri.v1.images) \
                 are not its plugins, so their registry settings are ignored; write a version 2 config for 1.x"
            )
        };
        out.push(Source::finding(
            version_file,
            KIND,
            Severity::Error,
            cfg.version_line,
            message,
        ));
    }
    if v.major >= 2 && !cfg.registry.mirrors.is_empty() && cfg.registry.config_path.is_empty() {
        // internal/cri/config/config.go ValidateImageConfig: deprecated in 2.x,
        // to be removed in 2.3 per its DEPRECATED notes.
        out.push(Source::finding(
            file,
            KIND,
            Severity::Warning,
            cfg.registry.mirrors.first().map(|m| m.line),
            format!(
                "containerd {v} still reads registry.mirrors but deprecates them (\"`mirrors` is deprecated, please use `config_path` instead\"); \
                 move them to hosts.toml under config_path"
            ),
        ));
    }
    out
}

/// `registryEndpoints` + the legacy branch of `registryHosts`: the mirror's
/// endpoints (or `*`'s), then the default host unless an endpoint already is
/// the registry itself.
fn legacy_hosts(
    cfg: &ContainerdConfig,
    root: &HostRoot,
    registry_host: &str,
    file: &str,
) -> (Vec<hosts_toml::HostEntry>, Vec<Source>) {
    let mirror = cfg
        .registry
        .mirrors
        .iter()
        .find(|m| m.host == registry_host)
        .or_else(|| cfg.registry.mirrors.iter().find(|m| m.host == "*"));
    let default_scheme = |host: &str| if is_localhost(host) { "http" } else { "https" };
    // Each URL with the line of the mirror that names it (`None`: the default host).
    let mut urls: Vec<(String, Option<usize>)> = Vec::new();
    if let Some(m) = mirror {
        for e in &m.endpoints {
            let url = if e.contains("://") {
                e.clone()
            } else {
                let host = crate::reference::domain_part(e);
                format!("{}://{e}", default_scheme(host))
            };
            urls.push((url, Some(m.line)));
        }
    }
    let has_registry = urls
        .iter()
        .any(|(u, _)| split_url(u).is_ok_and(|p| p.authority == registry_host));
    if !has_registry {
        let default_host = if registry_host == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry_host
        };
        urls.push((
            format!("{}://{default_host}", default_scheme(default_host)),
            None,
        ));
    }

    let mut out = Vec::new();
    let mut sources = Vec::new();
    for (url, line) in urls {
        let source = line.map_or_else(|| "default".to_owned(), |l| format!("{file}:{l}"));
        // containerd fails the whole pull on a bad URL; probing the rest is the closest we get.
        let parts = match split_url(&url)
            .and_then(|p| split_authority(&p.authority).map(|hp| (p, hp)))
        {
            Ok(p) => p,
            Err(e) => {
                sources.push(Source::finding(
                    file,
                    KIND,
                    Severity::Error,
                    line,
                    format!(
                        "parse registry endpoint {:?} from mirrors: {e}; containerd fails every pull from {registry_host}",
                        crate::config::without_userinfo(&url)
                    ),
                ));
                continue;
            }
        };
        let (parts, (host, port)) = parts;
        let mut tls = TlsSettings::default();
        // 1.x only: configs.<host>.tls, keyed by the host contacted.
        if !rules_2x(cfg)
            && let Some(t) = cfg
                .registry
                .configs
                .iter()
                .find(|(k, _)| *k == parts.authority)
                .and_then(|(_, c)| c.tls.as_ref())
        {
            tls.skip_verify = t.insecure_skip_verify;
            tls.ca_files
                .extend(t.ca_file.iter().map(|p| root.resolve(p)));
            if let Some(cert) = &t.cert_file {
                let key = t.key_file.clone().unwrap_or_else(|| cert.clone());
                tls.client_certs.push(ClientCert {
                    cert: root.resolve(cert),
                    key: root.resolve(key),
                });
            }
        } else if is_localhost(registry_host) && parts.scheme == Scheme::Http {
            tls.skip_verify = true;
        }
        let proxy = is_proxy(&parts.authority, registry_host);
        let endpoint = Endpoint {
            scheme: parts.scheme,
            host,
            port: port.unwrap_or_else(|| parts.scheme.default_port()),
            path: if parts.path.is_empty() {
                "/v2".to_owned()
            } else {
                clean_path(&parts.path)
            },
            role: if proxy { Role::Mirror } else { Role::Upstream },
            tls,
            proxy: None,
            headers: Vec::new(),
            capabilities: Capabilities {
                pull: true,
                resolve: true,
                push: false,
            },
            credential: None,
            ns_param: proxy.then(|| registry_host.to_owned()),
            source,
            http_fallback: None,
            dial_timeout: None,
            repository: None,
        };
        out.push(hosts_toml::HostEntry {
            endpoint,
            http_fallback: false,
            dial_timeout: None,
        });
    }
    (out, sources)
}

/// Every registry the config names: mirror keys (not `*`), `configs` keys,
/// and the host directories under the effective `config_path`.
#[must_use]
pub fn registries(cfg: &ContainerdConfig, root: &HostRoot) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |h: &str| {
        if h != "*" && !h.is_empty() && !out.iter().any(|o| o == h) {
            out.push(h.to_owned());
        }
    };
    for m in &cfg.registry.mirrors {
        add(&m.host);
    }
    for (h, _) in &cfg.registry.configs {
        add(h);
    }
    if let Some(paths) = effective_config_path(cfg) {
        for h in hosts_toml::registries(root, &paths) {
            add(&h);
        }
    }
    out
}

impl crate::config::runtime::backend::RuntimeConfig for ContainerdConfig {
    fn registries(&self, root: &HostRoot) -> Vec<String> {
        registries(self, root)
    }

    fn plan(
        &self,
        root: &HostRoot,
        registry: &str,
        _image: Option<&crate::reference::Reference>,
    ) -> crate::config::runtime::backend::RegistryPlan {
        let (hosts, sources) = registry_hosts(self, root, registry);
        crate::config::runtime::backend::RegistryPlan {
            endpoints: hosts.into_iter().map(|h| h.endpoint).collect(),
            remarks: remarks(self, root, registry),
            sources,
            blocked: None,
        }
    }
}

/// Config facts containerd users trip over, for one registry.
fn remarks(cfg: &ContainerdConfig, root: &HostRoot, registry: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(paths) = effective_config_path(cfg) else {
        return out;
    };
    let Some(dir) = hosts_toml::find_host_dir(root, &paths, registry) else {
        return out;
    };
    // hostDirFromRoots tries every name under one root before the next root,
    // so a `_default` there wins over Docker's per-host directory.
    if dir.file_name().is_some_and(|n| n == "_default") {
        let docker_dir = Path::new(crate::config::runtime::docker::CERTS_D)
            .join(hosts_toml::host_directory(registry));
        let docker_dir_plain = Path::new(crate::config::runtime::docker::CERTS_D).join(registry);
        if let Some(shadowed) = [docker_dir, docker_dir_plain]
            .into_iter()
            .find(|d| root.resolve(d).is_dir())
        {
            out.push(format!(
                "containerd uses {} for {registry}, which shadows {}: its certificates are not used; move them to a {registry} directory next to _default",
                dir.display(),
                shadowed.display()
            ));
        }
    }
    if pulls_via_transfer(cfg) && paths.len() > 1 {
        let first = paths.first().map(String::as_str).unwrap_or_default();
        let which = if dir.starts_with(first) {
            "the first"
        } else {
            "a later"
        };
        out.push(format!(
            "{registry}'s hosts directory {} is in {which} entry of config_path {:?}: containerd 2.1+ pulls through the transfer service, which reads config_path as one directory (containerd#12415, #12808), so it may be ignored unless the CRI plugin pulls locally (use_local_image_pull = true)",
            dir.display(),
            paths.join(":")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CredentialSecret;

    /// The endpoints alone.
    fn endpoints_for(
        cfg: &ContainerdConfig,
        root: &HostRoot,
        registry_host: &str,
    ) -> (Vec<Endpoint>, Vec<Source>) {
        let (hosts, sources) = registry_hosts(cfg, root, registry_host);
        (hosts.into_iter().map(|h| h.endpoint).collect(), sources)
    }

    fn fixture(name: &str) -> String {
        crate::config::fixture("containerd", name)
    }

    #[test]
    fn fixtures_parse_with_their_registry_settings() {
        let c = parse(&fixture("minikube-kicbase-containerd-config.toml")).unwrap();
        assert_eq!(
            (c.version, c.registry.config_path.as_str()),
            (2, "/etc/containerd/certs.d")
        );
        assert_eq!(c.registry.config_path_line, Some(59));

        let c = parse(&fixture("aks-containerd-config-v1-template-rendered.toml")).unwrap();
        assert_eq!(c.registry.config_path, "/etc/containerd/certs.d");
        assert_eq!(c.registry.headers.len(), 1);
        assert_eq!(c.registry.headers[0].0, "X-Meta-Source-Client");
        assert_eq!(c.registry.headers[0].1[0].expose(), "azure/aks");

        // version = 2 with containerd 2.x's plugin name.
        let c = parse(&fixture("aks-containerd-config-v2-template-rendered.toml")).unwrap();
        assert_eq!(
            (c.version, c.registry.config_path.as_str()),
            (2, "/etc/containerd/certs.d")
        );
        assert!(c.cri_plugin);

        let c = parse(&fixture(
            "aks-windows-containerd2-config-v3-template-rendered.toml",
        ))
        .unwrap();
        assert_eq!(
            (c.version, c.registry.config_path.as_str()),
            (3, r"C:\ProgramData\containerd\certs.d")
        );
        // A Windows path: its drive colon is no list separator (`;` is).
        assert_eq!(
            effective_config_path(&c).unwrap(),
            [r"C:\ProgramData\containerd\certs.d"]
        );
        assert_eq!(
            split_config_path(r"C:\a\certs.d;D:\b"),
            [r"C:\a\certs.d", r"D:\b"]
        );
        assert_eq!(
            split_config_path("/etc/containerd/certs.d::/etc/docker/certs.d"),
            ["/etc/containerd/certs.d", "/etc/docker/certs.d"]
        );

        let c = parse(&fixture("config-v1-plugins-cri-registry-mirrors-docs.toml")).unwrap();
        assert_eq!(c.version, 1);
        let mirrors: Vec<_> = c
            .registry
            .mirrors
            .iter()
            .map(|m| (m.host.as_str(), m.endpoints[0].as_str(), m.line))
            .collect();
        assert_eq!(
            mirrors,
            [
                ("docker.io", "https://registry-1.docker.io", 4),
                ("test.https-registry.io", "https://HostIP1:Port1", 6),
                ("test.http-registry.io", "http://HostIP2:Port2", 8),
                ("*", "https://HostIP3:Port3", 11),
            ]
        );

        let c = parse(&fixture("config-v3-cri-images-registry-gcr-auth-docs.toml")).unwrap();
        assert_eq!(c.version, 3);
        assert_eq!(c.registry.mirrors.len(), 2);
        let (host, gcr) = &c.registry.configs[0];
        let auth = gcr.auth.as_ref().unwrap();
        assert_eq!(
            (host.as_str(), auth.username.as_str()),
            ("gcr.io", "_json_key")
        );
        assert_eq!(auth.password.expose(), "paste output from jq");
        assert_eq!(format!("{auth:?}").matches("(redacted)").count(), 3);
        assert!(!format!("{c:?}").contains("paste output"));
    }

    #[test]
    fn broken_config_reports_line() {
        let e = parse("version = 2\n[plugins]\n  x = [1,\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = 5\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse("version = \"2\"\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert_eq!(parse("version = 4\n").unwrap().version, 3);
        assert_eq!(parse("").unwrap().version, 1);
    }

    #[test]
    fn legacy_mirrors_in_containerd_order() {
        let root = HostRoot::new("/host");
        let c = parse(&fixture("config-v1-plugins-cri-registry-mirrors-docs.toml")).unwrap();
        // docker.io: the mirror is registry-1.docker.io, which is not "docker.io",
        // so registryEndpoints appends the default again.
        let (eps, sources) = endpoints_for(&c, &root, "docker.io");
        assert!(sources.is_empty());
        let urls: Vec<_> = eps.iter().map(Endpoint::url).collect();
        assert_eq!(
            urls,
            [
                "https://registry-1.docker.io/v2/",
                "https://registry-1.docker.io/v2/"
            ]
        );
        assert_eq!(eps[0].source, "/etc/containerd/config.toml:4");
        assert_eq!(eps[1].source, "default");
        assert_eq!(
            eps[0].capabilities,
            Capabilities {
                pull: true,
                resolve: true,
                push: false
            }
        );
        // Anything else falls to "*", whose placeholder port makes containerd fail the pull.
        let (eps, sources) = endpoints_for(&c, &root, "quay.io");
        assert_eq!(
            eps.iter().map(Endpoint::url).collect::<Vec<_>>(),
            ["https://quay.io/v2/"]
        );
        // The path is the file; the line is the `*` mirror's, and the pull fails: an error.
        assert_eq!(
            (
                sources[0].path.as_str(),
                sources[0].line(),
                sources[0].severity()
            ),
            ("/etc/containerd/config.toml", Some(11), Severity::Error)
        );
        assert!(
            sources[0]
                .message()
                .as_deref()
                .unwrap()
                .contains("invalid port"),
            "{sources:?}"
        );
        let text = "[plugins.cri.registry.mirrors.\"*\"]\nendpoint = [\"mirror.test:5000\"]\n";
        let (eps, _) = endpoints_for(&parse(text).unwrap(), &root, "quay.io");
        assert_eq!(eps[0].url(), "https://mirror.test:5000/v2/");
        assert_eq!(
            (eps[0].role, eps[0].ns_param.as_deref()),
            (Role::Mirror, Some("quay.io"))
        );
        // A localhost default is plain HTTP in legacy mode.
        let (eps, _) = endpoints_for(
            &ContainerdConfig {
                version: 2,
                ..Default::default()
            },
            &root,
            "localhost:5000",
        );
        assert_eq!(eps[0].url(), "http://localhost:5000/v2/");
        assert!(eps[0].tls.skip_verify);
    }

    #[test]
    fn legacy_tls_and_auth_keyed_by_contacted_host() {
        let text = r#"
version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.test:5000/prefix"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.test:5000".tls]
  ca_file = "/etc/certs/mirror.pem"
  cert_file = "/etc/certs/c.pem"
  key_file = "/etc/certs/c.key"
[plugins."io.containerd.grpc.v1.cri".registry.configs."registry-1.docker.io".auth]
  auth = "am9lam9lOmhlbGxv"
[plugins."io.containerd.grpc.v1.cri".registry.auths."https://mirror.test:5000"]
  identitytoken = "tok"
"#;
        let root = HostRoot::new("/host");
        let c = parse(text).unwrap();
        let (eps, sources) = endpoints_for(&c, &root, "docker.io");
        assert!(sources.is_empty(), "{sources:?}");
        assert_eq!(eps[0].url(), "https://mirror.test:5000/prefix/");
        assert_eq!(
            eps[0].tls.ca_files,
            [PathBuf::from("/host/etc/certs/mirror.pem")]
        );
        assert_eq!(
            eps[0].tls.client_certs[0].key,
            PathBuf::from("/host/etc/certs/c.key")
        );
        let cred = eps[0].credential.as_ref().unwrap();
        assert!(
            matches!(&cred.secret, CredentialSecret::IdentityToken { token, .. } if token.expose() == "tok")
        );
        let cred = eps[1].credential.as_ref().unwrap();
        assert_eq!(cred.username(), "joejoe");
        assert!(
            matches!(&cred.secret, CredentialSecret::Basic { password, .. } if password.expose() == "hello")
        );
        assert_eq!(
            cred.source,
            "/etc/containerd/config.toml (configs.\"registry-1.docker.io\".auth)"
        );
    }

    #[test]
    fn v3_gcr_auth_docs_config() {
        let root = HostRoot::new("/nonexistent");
        let c = parse(&fixture("config-v3-cri-images-registry-gcr-auth-docs.toml")).unwrap();
        let (eps, sources) = endpoints_for(&c, &root, "gcr.io");
        // The mirror is gcr.io itself: no default appended.
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].role, Role::Upstream);
        let cred = eps[0].credential.as_ref().unwrap();
        assert_eq!(cred.username(), "_json_key");
        // On 2.2+ the default config_path makes containerd refuse the mirrors.
        assert_eq!(sources.len(), 1);
        assert!(
            sources[0]
                .message()
                .as_deref()
                .unwrap()
                .contains("cannot be set")
        );
        // Version-dependent (2.0/2.1 use the mirrors): a warning at the first mirror.
        assert_eq!(
            (
                sources[0].path.as_str(),
                sources[0].line(),
                sources[0].severity()
            ),
            ("/etc/containerd/config.toml", Some(5), Severity::Warning)
        );
    }

    /// The same config read by the releases whose rules differ.
    #[test]
    fn the_node_release_decides_what_is_read() {
        let release = |v: &str| Some(Version::parse(v).unwrap());
        let root = HostRoot::new("/host");
        let legacy = r#"
version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.test:5000"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.test:5000".tls]
  ca_file = "/etc/certs/mirror.pem"
"#;
        // 1.x applies configs.tls; 2.0 removed it (d2b7a1e29), even from a migrated version 2 file.
        let mut c = parse(legacy).unwrap();
        c.release = release("1.7.22");
        let (eps, sources) = endpoints_for(&c, &root, "docker.io");
        assert_eq!(
            eps[0].tls.ca_files,
            [PathBuf::from("/host/etc/certs/mirror.pem")]
        );
        assert!(sources.is_empty(), "{sources:?}");
        c.release = release("2.0.0");
        let (eps, sources) = endpoints_for(&c, &root, "docker.io");
        assert!(eps[0].tls.ca_files.is_empty());
        let messages: Vec<String> = sources.iter().filter_map(Source::message).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("containerd 2.0.0 ignores configs.\"<host>\".tls")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("deprecates them")),
            "{messages:?}"
        );

        // Config version 3 on 1.x: refused since 1.6.32/1.7.17, read as version 2 before.
        let v3 = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n";
        for (v, refuses) in [
            ("1.6.31", false),
            ("1.6.32", true),
            ("1.7.16", false),
            ("1.7.17", true),
            ("1.7.30", true),
        ] {
            let mut c = parse(v3).unwrap();
            c.release = release(v);
            let (_, sources) = endpoints_for(&c, &root, "docker.io");
            let s = &sources[0];
            assert_eq!((s.severity(), s.line()), (Severity::Error, Some(1)), "{v}");
            let m = s.message().unwrap();
            assert!(m.starts_with(&format!("containerd {v} ")), "{m}");
            assert_eq!(m.contains("does not start"), refuses, "{v}: {m}");
        }
        let mut c = parse(v3).unwrap();
        c.release = release("2.1.4");
        assert!(endpoints_for(&c, &root, "docker.io").1.is_empty());

        // The default config_path: 2.2+ only, whatever the file's version says.
        let bare = "version = 2\n";
        let mut c = parse(bare).unwrap();
        assert_eq!(effective_config_path(&c), None);
        c.release = release("2.2.1");
        assert_eq!(
            effective_config_path(&c).unwrap(),
            ["/etc/containerd/certs.d", "/etc/docker/certs.d"]
        );
        let mut c = parse("version = 3\n").unwrap();
        assert!(
            effective_config_path(&c).is_some(),
            "unknown: the newest behaviour"
        );
        c.release = release("2.1.9");
        assert_eq!(effective_config_path(&c), None);
    }

    #[test]
    fn mirrors_with_config_path_is_rejected_and_config_path_wins() {
        let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/containerd/certs.d\"\n\
                    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m.test\"]\n";
        let c = parse(text).unwrap();
        let (eps, sources) = endpoints_for(&c, &HostRoot::new("/nonexistent"), "docker.io");
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url(), "https://registry-1.docker.io/v2/");
        // The CRI plugin refuses the contradiction: an error at config_path's line.
        assert_eq!(
            (
                sources[0].path.as_str(),
                sources[0].line(),
                sources[0].severity()
            ),
            ("/etc/containerd/config.toml", Some(3), Severity::Error)
        );
        assert!(
            sources[0]
                .message()
                .as_deref()
                .unwrap()
                .starts_with("`mirrors` cannot be set when `config_path` is provided")
        );
    }

    /// Each finding has its severity and its own line; the path stays the file.
    #[test]
    fn findings_carry_severity_and_line() {
        let text = "version = 3\n\
                    [plugins.\"io.containerd.cri.v1.images\".registry]\n\
                    config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\"\n\
                    [plugins.\"io.containerd.cri.v1.images\".registry.configs.\"r.test\".tls]\n\
                    ca_file = \"/etc/ca.pem\"\n\
                    [plugins.\"io.containerd.cri.v1.images\".registry.configs.\"r.test\".auth]\n\
                    auth = \"bm8tY29sb24=\"\n";
        let c = parse(text).unwrap();
        let (_, sources) = endpoints_for(&c, &HostRoot::new("/nonexistent"), "r.test");
        let got: Vec<(&str, Option<usize>, Severity)> = sources
            .iter()
            .flat_map(|s| {
                s.findings
                    .iter()
                    .map(move |f| (s.path.as_str(), f.line, f.severity))
            })
            .collect();
        assert_eq!(
            got,
            [
                (CONFIG_PATH, Some(3), Severity::Warning),
                (CONFIG_PATH, Some(4), Severity::Error),
                (CONFIG_PATH, Some(6), Severity::Error),
            ],
            "{sources:?}"
        );
        assert!(sources[0].message().unwrap().contains("transfer service"));
        assert!(sources[1].message().unwrap().contains("ignores configs"));
        let auth = sources[2].message().unwrap();
        assert!(auth.contains("does not decode to user:password"), "{auth}");
        assert!(!auth.contains("no-colon"), "{auth}");
        // A drop-in that outranks the root's version: an error at its `version` line.
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        write(&root, CONFIG_PATH, "version = 2\nimports = [\"d.toml\"]\n");
        write(&root, "/etc/containerd/d.toml", "# drop-in\nversion = 3\n");
        let (_, sources) = discover(&root);
        assert_eq!(
            (sources[1].severity(), sources[1].line()),
            (Severity::Error, Some(2))
        );
        // Version 3 without config_path, found by discovery: the note is at `version`.
        write(&root, CONFIG_PATH, "# containerd 2\nversion = 3\n");
        let (c, _) = discover(&root);
        let (_, sources) = endpoints_for(&c, &root, "r.test");
        assert_eq!(
            (
                sources[0].path.as_str(),
                sources[0].severity(),
                sources[0].line()
            ),
            (CONFIG_PATH, Severity::Warning, Some(2))
        );
    }

    fn write(root: &HostRoot, p: &str, body: &str) {
        let full = root.resolve(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, body).unwrap();
    }

    #[test]
    fn discovery_follows_imports_and_replaces_the_plugin_table() {
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        // Nothing there: empty config, no source.
        let (c, sources) = discover(&root);
        assert_eq!((c.version, sources.len()), (1, 0));

        write(
            &root,
            CONFIG_PATH,
            "version = 2\nimports = [\"conf.d/*.toml\", \"/etc/containerd/config.toml\"]\n\
             [plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/containerd/certs.d\"\n",
        );
        write(
            &root,
            "/etc/containerd/conf.d/10-other.toml",
            "version = 2\n[metrics]\naddress = \"\"\n",
        );
        write(
            &root,
            "/etc/containerd/conf.d/20-registry.toml",
            "version = 2\nimports = [\"../more.toml\"]\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m.test\"]\n",
        );
        write(&root, "/etc/containerd/more.toml", "version = 3\n");
        // A drop-in may not outrank the root's version (checked below); a
        // root without `version` lets the first versioned drop-in decide.
        let tmp2 = tempfile::tempdir().unwrap();
        let root2 = HostRoot::new(tmp2.path());
        write(&root2, CONFIG_PATH, "imports = [\"a.toml\", \"b.toml\"]\n");
        write(&root2, "/etc/containerd/a.toml", "version = 2\n");
        write(&root2, "/etc/containerd/b.toml", "version = 3\n");
        let (_, s2) = discover(&root2);
        let errs: Vec<_> = s2
            .iter()
            .map(|s| (s.path.as_str(), s.message().is_some()))
            .collect();
        assert_eq!(
            errs,
            [
                ("/etc/containerd/config.toml", false),
                ("/etc/containerd/a.toml", false),
                ("/etc/containerd/b.toml", true)
            ]
        );
        let (c, sources) = discover(&root);
        let paths: Vec<_> = sources
            .iter()
            .map(|s| (s.path.as_str(), s.message().is_some()))
            .collect();
        assert_eq!(
            paths,
            [
                ("/etc/containerd/config.toml", false),
                ("/etc/containerd/conf.d/10-other.toml", false),
                ("/etc/containerd/conf.d/20-registry.toml", false),
                ("/etc/containerd/more.toml", true),
            ]
        );
        // The drop-in's CRI table replaced the root's: config_path is gone.
        assert_eq!(c.registry.config_path, "");
        assert_eq!(c.registry.mirrors[0].host, "docker.io");
        assert_eq!(
            c.origin.as_deref(),
            Some("/etc/containerd/conf.d/20-registry.toml")
        );
        let (eps, _) = endpoints_for(&c, &root, "docker.io");
        assert_eq!(eps[0].source, "/etc/containerd/conf.d/20-registry.toml:3");
        assert_eq!(registries(&c, &root), ["docker.io"]);
    }

    #[test]
    fn discovery_of_a_broken_root_goes_on_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        write(&root, CONFIG_PATH, "version = 2\n\n[plugins\n");
        let (c, sources) = discover(&root);
        assert_eq!(c.registry, Registry::default());
        assert_eq!(sources.len(), 1);
        assert!(
            sources[0]
                .message()
                .as_deref()
                .unwrap()
                .starts_with("line 3:"),
            "{sources:?}"
        );
    }

    #[test]
    fn config_path_discovery_with_v3_default() {
        let tmp = tempfile::tempdir().unwrap();
        let root = HostRoot::new(tmp.path());
        write(
            &root,
            "/etc/docker/certs.d/reg.test/hosts.toml",
            "[host.\"https://mirror.test\"]\ncapabilities = [\"pull\"]\n",
        );
        write(
            &root,
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            &fixture("hosts-docs-docker-io-local-mirror.toml"),
        );
        let c = ContainerdConfig {
            version: 3,
            registry: Registry {
                headers: vec![("X-Meta".into(), vec![Secret::new("a")])],
                configs: vec![(
                    "mirror.test".into(),
                    RegistryConfig {
                        tls: None,
                        auth: Some(AuthConfig {
                            username: "u".into(),
                            ..Default::default()
                        }),
                    },
                )],
                ..Registry::default()
            },
            ..ContainerdConfig::default()
        };
        let (eps, sources) = endpoints_for(&c, &root, "reg.test");
        assert_eq!(
            eps.iter().map(Endpoint::url).collect::<Vec<_>>(),
            ["https://mirror.test/v2/", "https://reg.test/v2/"]
        );
        assert!(!eps[0].capabilities.resolve);
        assert_eq!(eps[0].headers[0].0, "X-Meta");
        assert_eq!(eps[0].credential.as_ref().unwrap().username(), "u");
        assert!(eps[1].credential.is_none());
        // Version 3 without config_path: which directories count depends on the version.
        assert_eq!(
            (sources[0].path.as_str(), sources[0].severity()),
            (CONFIG_PATH, Severity::Warning)
        );
        assert!(
            sources[0]
                .message()
                .unwrap()
                .contains("config_path is not set"),
            "{sources:?}"
        );
        assert_eq!(
            sources[1..],
            [Source::ok(
                "/etc/docker/certs.d/reg.test/hosts.toml",
                "hosts.toml"
            )]
        );
        let mut regs = registries(&c, &root);
        regs.sort();
        assert_eq!(regs, ["docker.io", "mirror.test", "reg.test"]);
        // Version 2 without config_path: no default, certs.d is not consulted.
        let v2 = ContainerdConfig { version: 2, ..c };
        assert_eq!(endpoints_for(&v2, &root, "reg.test").0.len(), 1);
    }

    /// Random truncations and byte flips of every fixture must never panic
    /// either parser.
    #[test]
    fn parsers_never_panic_on_damaged_fixtures() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let dir = format!("{}/tests/fixtures/containerd", env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            texts.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let mut runner = TestRunner::new(Config {
            cases: 512,
            ..Config::default()
        });
        let strategy = (
            0..texts.len(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            any::<u8>(),
            any::<bool>(),
        );
        runner
            .run(&strategy, |(i, cut, at, byte, flip)| {
                let mut bytes = texts[i].clone();
                if flip && !bytes.is_empty() {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                bytes.truncate(cut.index(bytes.len() + 1));
                let text = String::from_utf8_lossy(&bytes);
                let _ = parse(&text);
                let _ = hosts_toml::parse(&text);
                Ok(())
            })
            .unwrap();
    }
}
