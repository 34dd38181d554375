//! k3s (and RKE2) private registry configuration: `/etc/rancher/k3s/registries.yaml`
//! ([`K3sConfig`] implements [`crate::config::runtime::backend::RuntimeConfig`]).
//!
//! k3s does not hand this file to containerd directly; at start it renders
//! one `hosts.toml` per registry under [`HOSTS_DIR`]. This module reproduces
//! that rendering (k3s `pkg/agent/containerd/config.go` `getHostConfigs`,
//! `normalizeEndpointAddress`, `configForHost`; types from rancher/wharfie
//! `pkg/registries`) so a plan can be made from registries.yaml alone, and
//! exposes [`HOSTS_DIR`] so the caller can also read what k3s actually wrote
//! with the containerd hosts.toml discovery. `configs.<host>.auth` goes into
//! containerd's own config, so containerd's rules decode it
//! ([`crate::config::credentials::basic_auth`]).
//!
//! Endpoint order: the mirror's endpoints, then the registry itself unless
//! `disable-default-registry-endpoint` is set in the k3s config. Registries
//! without their own entry use the `"*"` entry (containerd's `_default`).
//! What k3s skips is an `error` finding at its key's line, a duplicate it
//! drops a `warning`.
//!
//! Parsers take `&str`; only [`discover`] reads files, through [`HostRoot`];
//! [`plan`] only checks `certs.d` paths by re-rooting them. Secrets stay
//! [`Secret`]s.

use crate::config::runtime::backend::RegistryPlan;
use crate::config::{Finding, ParseError, Severity, Source};
use crate::hostroot::HostRoot;
use crate::reference::Reference;
use crate::secret::Secret;
use crate::target::{Capabilities, ClientCert, Endpoint, HttpFallback, Role, Scheme, TlsSettings};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The default registries.yaml (`--private-registry` changes it).
pub const REGISTRIES_YAML: &str = "/etc/rancher/k3s/registries.yaml";
/// Where k3s writes the generated containerd `hosts.toml` directories.
pub const HOSTS_DIR: &str = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d";
/// k3s's config file and drop-in directory (flags as YAML keys).
pub const CONFIG_YAML: &str = "/etc/rancher/k3s/config.yaml";
pub const CONFIG_YAML_D: &str = "/etc/rancher/k3s/config.yaml.d";

const DEFAULT_KEY: &str = "*";

/// `mirrors.<host>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    /// Endpoint URLs as written (`https://mirror:5000`, `mirror.example/v3`, ...).
    pub endpoints: Vec<String>,
    /// Repository rewrites, regex -> replacement, applied by containerd per endpoint.
    pub rewrites: BTreeMap<String, String>,
}

/// `configs.<host>.auth`: k3s writes it into containerd's config, so
/// containerd's `ParseAuth` reads it.
pub use crate::config::credentials::basic_auth::AuthConfig;

/// `configs.<host>.tls`; paths are node paths, not re-rooted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub insecure_skip_verify: bool,
}

/// `configs.<host>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryConfig {
    pub auth: Option<AuthConfig>,
    pub tls: Option<Tls>,
}

/// A parsed registries.yaml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct K3sRegistries {
    pub mirrors: BTreeMap<String, Mirror>,
    pub configs: BTreeMap<String, RegistryConfig>,
    /// The 1-based line of each `mirrors` and `configs` key, for findings
    /// (block-style YAML only; a key written in flow style has none).
    pub mirror_lines: BTreeMap<String, usize>,
    pub config_lines: BTreeMap<String, usize>,
}

/// Everything discovered for k3s on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct K3sConfig {
    pub registries: K3sRegistries,
    /// The registries.yaml node path in effect.
    pub path: String,
    /// `disable-default-registry-endpoint: true` in the k3s config.
    pub disable_default_endpoint: bool,
}

// ---------------------------------------------------------------------------
// Parsing

#[derive(Deserialize, Default)]
struct RawRegistries {
    mirrors: Option<BTreeMap<String, Option<RawMirror>>>,
    configs: Option<BTreeMap<String, Option<RawConfig>>>,
}

#[derive(Deserialize, Default)]
struct RawMirror {
    endpoint: Option<Vec<String>>,
    rewrite: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    auth: Option<RawAuth>,
    tls: Option<RawTls>,
}

// Every field is Option: an empty YAML value is null, which Go reads as "".
#[derive(Deserialize, Default)]
struct RawAuth {
    username: Option<String>,
    password: Option<String>,
    auth: Option<String>,
    identity_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTls {
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    insecure_skip_verify: Option<bool>,
}

/// `serde_yaml_ng`'s error at its line. The column is left out of the
/// [`ParseError`]: the message already ends with "at line L column C", and
/// the report shows k3s errors as "line L: message".
fn yaml_error(e: &serde_yaml_ng::Error) -> ParseError {
    ParseError::new(e.location().map(|l| l.line()), e.to_string())
}

/// Parse registries.yaml. An empty document is an empty configuration.
pub fn parse(text: &str) -> Result<K3sRegistries, ParseError> {
    if text.trim().is_empty() {
        return Ok(K3sRegistries::default());
    }
    let raw: Option<RawRegistries> = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(&e))?;
    let raw = raw.unwrap_or_default();
    let mirrors = entries(raw.mirrors, |m| Mirror {
        endpoints: m.endpoint.unwrap_or_default(),
        rewrites: m.rewrite.unwrap_or_default(),
    });
    let configs = entries(raw.configs, |c| {
        let auth = c.auth.map(|a| AuthConfig {
            username: a.username.unwrap_or_default(),
            password: Secret::new(a.password.unwrap_or_default()),
            auth: Secret::new(a.auth.unwrap_or_default()),
            identity_token: Secret::new(a.identity_token.unwrap_or_default()),
            line: None,
        });
        let tls = c.tls.map(|t| Tls {
            ca_file: t.ca_file.unwrap_or_default(),
            cert_file: t.cert_file.unwrap_or_default(),
            key_file: t.key_file.unwrap_or_default(),
            insecure_skip_verify: t.insecure_skip_verify.unwrap_or_default(),
        });
        RegistryConfig { auth, tls }
    });
    Ok(K3sRegistries {
        mirrors,
        configs,
        mirror_lines: key_lines(text, "mirrors"),
        config_lines: key_lines(text, "configs"),
    })
}

/// A YAML map whose entries may be empty (`host:` with nothing under it, or
/// the whole section so): each entry read with its defaults.
fn entries<T: Default, U>(
    map: Option<BTreeMap<String, Option<T>>>,
    read: impl Fn(T) -> U,
) -> BTreeMap<String, U> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(host, entry)| (host, read(entry.unwrap_or_default())))
        .collect()
}

/// The line of each key directly under the top-level `section:` of a
/// block-style YAML document. serde gives values without positions; this
/// scan is only for naming lines in findings, never for values.
fn key_lines(text: &str, section: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    let mut child_indent = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if indent == 0 {
            inside = trimmed
                .strip_prefix(section)
                .is_some_and(|r| r.trim_start().starts_with(':'));
            child_indent = None;
            continue;
        }
        if inside
            && *child_indent.get_or_insert(indent) == indent
            && let Some(key) = yaml_key(trimmed)
        {
            out.entry(key).or_insert(i + 1);
        }
    }
    out
}

/// The key of a `key: value` or `key:` line, quoted or plain.
fn yaml_key(line: &str) -> Option<String> {
    for quote in ['"', '\''] {
        if let Some(rest) = line.strip_prefix(quote) {
            let end = rest.find(quote)?;
            return rest[end + 1..]
                .trim_start()
                .starts_with(':')
                .then(|| rest[..end].to_owned());
        }
    }
    let key = match line.split_once(": ") {
        Some((k, _)) => k,
        None => line.trim_end().strip_suffix(':')?,
    };
    Some(key.trim_end().to_owned())
}

#[derive(Deserialize, Default)]
struct RawK3sConfig {
    #[serde(rename = "private-registry")]
    private_registry: Option<String>,
    #[serde(rename = "disable-default-registry-endpoint")]
    disable_default_registry_endpoint: Option<bool>,
}

/// The two k3s config keys that matter here: (`private-registry`,
/// `disable-default-registry-endpoint`), each `None` when unset.
pub fn parse_k3s_config(text: &str) -> Result<(Option<String>, Option<bool>), ParseError> {
    if text.trim().is_empty() {
        return Ok((None, None));
    }
    let raw: Option<RawK3sConfig> = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(&e))?;
    let raw = raw.unwrap_or_default();
    Ok((raw.private_registry, raw.disable_default_registry_endpoint))
}

// ---------------------------------------------------------------------------
// Discovery

fn read_optional(root: &HostRoot, path: &str, sources: &mut Vec<Source>) -> Option<String> {
    crate::config::read_optional_then(root, path, "k3s", "; k3s fails to start", sources)
}

/// Read the k3s config (+ config.yaml.d in lexical order, later keys win)
/// and the registries.yaml it points to.
#[must_use]
pub fn discover(root: &HostRoot) -> (K3sConfig, Vec<Source>) {
    let mut sources = Vec::new();
    let mut cfg = K3sConfig {
        path: REGISTRIES_YAML.to_owned(),
        ..K3sConfig::default()
    };

    let drop_ins = root
        .read_dir(CONFIG_YAML_D)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| p.to_string_lossy().into_owned());
    for path in std::iter::once(CONFIG_YAML.to_owned()).chain(drop_ins) {
        let Some(text) = read_optional(root, &path, &mut sources) else {
            continue;
        };
        match parse_k3s_config(&text) {
            Ok((private, disable)) => {
                if let Some(p) = private {
                    cfg.path = p;
                }
                if let Some(d) = disable {
                    cfg.disable_default_endpoint = d;
                }
                sources.push(Source::ok(&path, "k3s"));
            }
            Err(e) => sources.push(Source::parse_error(
                &path,
                "k3s",
                &e.with_consequence("k3s fails to start"),
            )),
        }
    }

    if let Some(text) = read_optional(root, &cfg.path, &mut sources) {
        match parse(&text) {
            Ok(r) => {
                cfg.registries = r;
                sources.push(Source::ok(&cfg.path, "k3s"));
            }
            Err(e) => sources.push(Source::parse_error(
                &cfg.path,
                "k3s",
                &e.with_consequence("k3s fails to start"),
            )),
        }
    }
    (cfg, sources)
}

// ---------------------------------------------------------------------------
// hosts.toml rendering (getHostConfigs)

/// A normalised endpoint URL (`normalizeEndpointAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct EndpointUrl {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    path: String,
    override_path: bool,
    /// The registry name whose `configs` entry applies (`docker.io` for registry-1).
    registry: String,
}

impl EndpointUrl {
    fn key(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{}{port}{}",
            self.scheme.as_str(),
            self.host,
            self.path
        )
    }
}

/// containerd's `docker.IsLocalhost`: `localhost` or a loopback IP.
fn is_localhost(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `normalizeEndpointAddress`: default scheme (http only for localhost on a
/// port other than 443), `docker.io` -> `registry-1.docker.io`, and `/v2`
/// unless the endpoint names another path (then `override_path`).
fn normalize_endpoint(endpoint: &str) -> Result<EndpointUrl, String> {
    // Errors quote the endpoint without the user info it may carry.
    let shown = crate::config::without_userinfo(endpoint);
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, endpoint),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = crate::config::net::hostport::split_authority(authority)
        .map_err(|e| format!("{e} in {shown:?}"))?;
    // Go's url.Parse reads the last `:` of an unbracketed host as the port.
    if host.contains(':') && !authority.starts_with('[') {
        return Err(format!("an IPv6 address needs brackets in {shown:?}"));
    }
    let scheme = match scheme {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => return Err(format!("unsupported scheme {other:?} in {shown:?}")),
        None if is_localhost(&host) && port.is_some_and(|p| p != 443) => Scheme::Http,
        None => Scheme::Https,
    };
    let authority_norm = match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let (host, registry) = if authority_norm == "docker.io" {
        ("registry-1.docker.io".to_owned(), "docker.io".to_owned())
    } else if authority_norm == "registry-1.docker.io" {
        (host, "docker.io".to_owned())
    } else {
        (host, authority_norm)
    };
    let (path, override_path) = match path {
        "" | "/" | "/v2" => ("/v2".to_owned(), false),
        p => (p.to_owned(), true),
    };
    Ok(EndpointUrl {
        scheme,
        host,
        port,
        path,
        override_path,
        registry,
    })
}

/// `configForHost`: a `configs` entry under the DefaultHost-mapped name wins.
fn config_for_host<'a>(
    configs: &'a BTreeMap<String, RegistryConfig>,
    host: &str,
) -> Option<&'a RegistryConfig> {
    if host == "docker.io"
        && let Some(c) = configs.get("registry-1.docker.io")
    {
        return Some(c);
    }
    configs.get(host)
}

/// One `[host]` (or the `server` default) in a rendered hosts.toml.
#[derive(Clone, Debug)]
struct HostEndpoint {
    /// `None` for `"*"`: the default endpoint is the requested registry itself.
    url: Option<EndpointUrl>,
    config: RegistryConfig,
    config_key: Option<String>,
    rewrites: BTreeMap<String, String>,
}

impl HostEndpoint {
    fn has_config(&self) -> bool {
        self.url.as_ref().is_some_and(|u| u.override_path)
            || self.config.auth.is_some()
            || self.config.tls.is_some()
            || !self.rewrites.is_empty()
    }
}

#[derive(Clone, Debug, Default)]
struct HostConfig {
    default: Option<HostEndpoint>,
    endpoints: Vec<HostEndpoint>,
}

/// `getHostConfigs`, keyed like the hosts.toml directories (`_default` for `"*"`).
fn host_configs(
    reg: &K3sRegistries,
    no_default_endpoint: bool,
    problems: &mut Vec<Finding>,
) -> BTreeMap<String, HostConfig> {
    // k3s skips what it cannot render (an error: the entry is ignored) and
    // drops duplicates (a warning: nothing is lost).
    let mirror_finding = |severity, host: &str, message| Finding {
        line: reg.mirror_lines.get(host).copied(),
        severity,
        message,
    };
    let mut hosts: BTreeMap<String, HostConfig> = BTreeMap::new();
    let dir = |h: &str| {
        if h == DEFAULT_KEY {
            "_default".to_owned()
        } else {
            h.to_owned()
        }
    };
    let default_for = |host: &str,
                       config: Option<&RegistryConfig>,
                       key: Option<String>|
     -> Result<HostEndpoint, String> {
        let url = normalize_endpoint(host)
            .map_err(|e| format!("invalid endpoint URL {host} for {host}: {e}"))?;
        Ok(HostEndpoint {
            url: (host != DEFAULT_KEY).then_some(url),
            config: config.cloned().unwrap_or_default(),
            config_key: key,
            rewrites: BTreeMap::new(),
        })
    };

    for (host, config) in &reg.configs {
        if host == DEFAULT_KEY {
            // normalize_endpoint("*") would fail; upstream drops the URL anyway.
            hosts.insert(
                dir(host),
                HostConfig {
                    default: Some(HostEndpoint {
                        url: None,
                        config: config.clone(),
                        config_key: Some(host.clone()),
                        rewrites: BTreeMap::new(),
                    }),
                    endpoints: Vec::new(),
                },
            );
            continue;
        }
        match default_for(host, Some(config), Some(host.clone())) {
            Ok(d) => {
                hosts.insert(
                    dir(host),
                    HostConfig {
                        default: Some(d),
                        endpoints: Vec::new(),
                    },
                );
            }
            Err(e) => problems.push(Finding {
                line: reg.config_lines.get(host).copied(),
                severity: Severity::Error,
                message: format!("Failed to generate config for registry {host}: {e}"),
            }),
        }
    }

    for (host, mirror) in &reg.mirrors {
        // Upstream looks the raw key up, so a "*" mirror always starts afresh.
        let mut config = if let Some(c) = hosts.get(host) {
            c.clone()
        } else {
            let mut c = if host == DEFAULT_KEY {
                HostConfig::default()
            } else {
                let key = config_for_host(&reg.configs, host).map(|_| host.clone());
                match default_for(host, config_for_host(&reg.configs, host), key) {
                    Ok(d) => HostConfig {
                        default: Some(d),
                        endpoints: Vec::new(),
                    },
                    Err(e) => {
                        problems.push(mirror_finding(
                            Severity::Error,
                            host,
                            format!("Failed to generate config for registry {host}: {e}"),
                        ));
                        continue;
                    }
                }
            };
            if no_default_endpoint {
                c.default = None;
            } else if host == DEFAULT_KEY {
                c.default = Some(HostEndpoint {
                    url: None,
                    config: RegistryConfig::default(),
                    config_key: None,
                    rewrites: BTreeMap::new(),
                });
            }
            c
        };

        let mut seen: Vec<String> = Vec::new();
        for (i, endpoint) in mirror.endpoints.iter().enumerate() {
            // k3s's words for an endpoint it passes over (`Ignoring invalid
            // ...`, `Skipping duplicate ...`), with no userinfo.
            let passed_over = |severity, what: &str, why: String| {
                mirror_finding(
                    severity,
                    host,
                    format!(
                        "{what} endpoint URL {i}={} for {host}{why}",
                        crate::config::without_userinfo(endpoint)
                    ),
                )
            };
            let url = match normalize_endpoint(endpoint) {
                Ok(u) => u,
                Err(e) => {
                    problems.push(passed_over(
                        Severity::Error,
                        "Ignoring invalid",
                        format!(": {e}"),
                    ));
                    continue;
                }
            };
            if seen.contains(&url.key()) {
                problems.push(passed_over(
                    Severity::Warning,
                    "Skipping duplicate",
                    String::new(),
                ));
                continue;
            }
            seen.push(url.key());
            let cfg = config_for_host(&reg.configs, &url.registry);
            let ep = HostEndpoint {
                config: cfg.cloned().unwrap_or_default(),
                config_key: cfg.map(|_| url.registry.clone()),
                rewrites: mirror.rewrites.clone(),
                url: Some(url),
            };
            let same_as_default = config
                .default
                .as_ref()
                .and_then(|d| d.url.as_ref())
                .is_some_and(|d| ep.url.as_ref().is_some_and(|u| u.key() == d.key()));
            if i + 1 == mirror.endpoints.len() && same_as_default {
                // The last endpoint being the registry itself becomes the default.
                config.default = Some(ep);
            } else {
                config.endpoints.push(ep);
            }
        }
        hosts.insert(dir(host), config);
    }

    hosts.retain(|_, c| {
        !c.endpoints.is_empty() || c.default.as_ref().is_some_and(HostEndpoint::has_config)
    });
    hosts
}

// ---------------------------------------------------------------------------
// Endpoints

fn to_endpoint(
    cfg: &K3sConfig,
    root: &HostRoot,
    ep: &HostEndpoint,
    registry: &str,
    role: Role,
    problems: &mut Vec<Finding>,
) -> Endpoint {
    let url = ep.url.clone().unwrap_or_else(|| {
        normalize_endpoint(registry).unwrap_or(EndpointUrl {
            scheme: Scheme::Https,
            host: registry.to_owned(),
            port: None,
            path: "/v2".to_owned(),
            override_path: false,
            registry: registry.to_owned(),
        })
    });
    let mut out = Endpoint::https(&url.host, url.port.unwrap_or(url.scheme.default_port()));
    out.scheme = url.scheme;
    out.path = url.path;
    out.role = role;
    if role == Role::Mirror {
        // Written as `capabilities = ["pull", "resolve"]`; containerd adds ?ns= for mirrors.
        out.capabilities = Capabilities {
            pull: true,
            resolve: true,
            push: false,
        };
        out.ns_param = Some(registry.to_owned());
    }
    let key = ep.config_key.clone().unwrap_or_default();
    let config_error = |message| Finding {
        line: cfg.registries.config_lines.get(&key).copied(),
        severity: Severity::Error,
        message,
    };
    out.source = if key.is_empty() && (ep.url.is_none() || role == Role::Upstream) {
        "default".to_owned()
    } else if key.is_empty() {
        format!("{} (mirrors.\"{registry}\")", cfg.path)
    } else {
        format!("{} (configs.\"{key}\")", cfg.path)
    };
    if let Some(tls) = &ep.config.tls {
        let mut t = TlsSettings {
            skip_verify: tls.insecure_skip_verify,
            ..TlsSettings::default()
        };
        if !tls.ca_file.is_empty() {
            t.ca_files.push(root.resolve(&tls.ca_file));
        }
        match (tls.cert_file.is_empty(), tls.key_file.is_empty()) {
            (false, false) => t.client_certs.push(ClientCert {
                cert: root.resolve(&tls.cert_file),
                key: root.resolve(&tls.key_file),
            }),
            (false, true) => problems.push(config_error(format!(
                "configs.\"{key}\".tls: cert file {:?} was specified, but no corresponding key file was specified",
                tls.cert_file
            ))),
            (true, false) => problems.push(config_error(format!(
                "configs.\"{key}\".tls: key file {:?} was specified, but no corresponding cert file was specified",
                tls.key_file
            ))),
            (true, true) => {}
        }
        out.tls = t;
        // k3s writes these as hosts.toml `ca`/`client`/`skip_verify`, and containerd's
        // ConfigureHosts then tries https first on an http host with a port other than 80.
        if url.scheme == Scheme::Http
            && let Some(port) = url.port.filter(|p| *p != 80)
        {
            out.scheme = Scheme::Https;
            out.http_fallback = Some(HttpFallback {
                port,
                on_any_error: false,
                proxy: None,
            });
        }
    }
    if let Some(auth) = &ep.config.auth {
        match auth.credential(format!("{} (configs.\"{key}\".auth)", cfg.path)) {
            Ok(c) => out.credential = c,
            Err(e) => {
                let (severity, consequence) = if e.runtime_fails() {
                    (Severity::Error, "containerd fails the pull")
                } else {
                    (Severity::Warning, "the probe goes without it")
                };
                problems.push(Finding {
                    severity,
                    ..config_error(format!("configs.\"{key}\".auth: `auth` {e}; {consequence}"))
                });
            }
        }
    }
    out
}

/// Endpoints for `registry_host` (a reference domain such as `docker.io`),
/// and what k3s would skip or refuse on the way.
#[must_use]
pub fn plan(cfg: &K3sConfig, root: &HostRoot, registry_host: &str) -> RegistryPlan {
    let mut plan = RegistryPlan::default();
    let mut problems = Vec::new();
    let hosts = host_configs(&cfg.registries, cfg.disable_default_endpoint, &mut problems);
    // containerd looks for the registry's own directory first, then _default.
    if let Some(host) = hosts.get(registry_host).or_else(|| hosts.get("_default")) {
        for ep in &host.endpoints {
            let e = to_endpoint(cfg, root, ep, registry_host, Role::Mirror, &mut problems);
            plan.endpoints.push(e);
        }
        if let Some(d) = &host.default {
            let e = to_endpoint(cfg, root, d, registry_host, Role::Upstream, &mut problems);
            plan.endpoints.push(e);
        }
    } else {
        // No directory rendered: containerd's own defaults (localhost gets https
        // with skip_verify and an http fallback).
        plan.endpoints.extend(
            crate::config::runtime::hosts_toml::configure(registry_host, None, root)
                .into_iter()
                .map(|h| h.endpoint),
        );
    }
    let mut findings: Vec<Finding> = Vec::new();
    for p in problems {
        if !findings.contains(&p) {
            findings.push(p);
        }
    }
    if !findings.is_empty() {
        plan.sources.push(Source {
            path: cfg.path.clone(),
            kind: "k3s".to_owned(),
            findings,
        });
    }
    plan
}

/// The endpoints containerd would try for `registry_host` under k3s, in order.
#[must_use]
pub fn endpoints_for(cfg: &K3sConfig, root: &HostRoot, registry_host: &str) -> Vec<Endpoint> {
    plan(cfg, root, registry_host).endpoints
}

/// The repository rewrites that apply to `registry_host`'s mirror endpoints.
#[must_use]
pub fn rewrites_for<'a>(
    cfg: &'a K3sConfig,
    registry_host: &str,
) -> Option<&'a BTreeMap<String, String>> {
    cfg.registries
        .mirrors
        .get(registry_host)
        .or_else(|| cfg.registries.mirrors.get(DEFAULT_KEY))
        .map(|m| &m.rewrites)
        .filter(|r| !r.is_empty())
}

/// Registry hosts the configuration names: mirror and config keys, except `"*"`.
#[must_use]
pub fn registries(cfg: &K3sConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in cfg
        .registries
        .mirrors
        .keys()
        .chain(cfg.registries.configs.keys())
    {
        if k != DEFAULT_KEY && !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

impl crate::config::runtime::backend::RuntimeConfig for K3sConfig {
    fn registries(&self, _root: &HostRoot) -> Vec<String> {
        registries(self)
    }

    fn plan(&self, root: &HostRoot, registry: &str, image: Option<&Reference>) -> RegistryPlan {
        let mut plan = plan(self, root, registry);
        if let (Some(rules), Some(image)) = (rewrites_for(self, registry), image) {
            apply_rewrites(
                &mut plan.endpoints,
                rules,
                image,
                &self.path,
                &mut plan.remarks,
            );
        }
        plan
    }
}

/// k3s `rewrite`: a Go regexp over the repository, applied per mirror
/// endpoint. Without a regexp engine in the build, only the form k3s documents
/// (`^prefix/(.*)` -> `new/prefix/$1`) is applied; any other rule is named in a
/// remark so a person knows the mirror is asked for another path.
fn apply_rewrites(
    endpoints: &mut [Endpoint],
    rules: &std::collections::BTreeMap<String, String>,
    image: &Reference,
    file: &str,
    remarks: &mut Vec<String>,
) {
    let mut applied = None;
    let mut unknown = Vec::new();
    for (pattern, replacement) in rules {
        match simple_rewrite(pattern, replacement, &image.path) {
            Rewrite::To(path) => {
                applied = Some(path);
                break;
            }
            Rewrite::NoMatch => {}
            Rewrite::Unsupported => unknown.push(pattern.clone()),
        }
    }
    if let Some(path) = applied {
        for ep in endpoints.iter_mut().filter(|e| e.role == Role::Mirror) {
            ep.repository = Some(path.clone());
        }
    } else if !unknown.is_empty() {
        remarks.push(format!(
            "{file} rewrites repositories on mirrors of {} ({}); this probe asks the mirrors for {} unchanged",
            image.domain,
            unknown.join(", "),
            image.path
        ));
    }
}

/// How a k3s rewrite rule applies to one repository path.
enum Rewrite {
    /// A `^literal(.*)` rule that matches: the new path.
    To(String),
    /// A `^literal(.*)` rule that does not match.
    NoMatch,
    /// Any other regexp: not evaluated here.
    Unsupported,
}

/// Evaluate `pattern` (k3s documents `^prefix/(.*)`) on `path`.
fn simple_rewrite(pattern: &str, replacement: &str, path: &str) -> Rewrite {
    let Some(prefix) = pattern
        .strip_prefix('^')
        .map(|b| b.strip_suffix('$').unwrap_or(b))
        .and_then(|b| b.strip_suffix("(.*)"))
        .filter(|p| !p.contains(|c: char| "\\.+*?()[]{}|^$".contains(c)))
    else {
        return Rewrite::Unsupported;
    };
    match path.strip_prefix(prefix) {
        Some(rest) => Rewrite::To(replacement.replace("${1}", rest).replace("$1", rest)),
        None => Rewrite::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CredentialSecret;
    use std::path::Path;

    fn fixture(name: &str) -> String {
        crate::config::fixture("k3s", name)
    }

    fn cfg_of(text: &str, disable_default: bool) -> K3sConfig {
        K3sConfig {
            registries: parse(text).unwrap(),
            path: REGISTRIES_YAML.to_owned(),
            disable_default_endpoint: disable_default,
        }
    }

    fn urls(eps: &[Endpoint]) -> Vec<(String, Role)> {
        eps.iter().map(|e| (e.url(), e.role)).collect()
    }

    #[test]
    fn docs_fixture_parses_with_null_tls_values() {
        let r = parse(&fixture("k3s-docs-registries-with-tls-and-auth.yaml")).unwrap();
        assert_eq!(
            r.mirrors["docker.io"].endpoints,
            ["https://registry.example.com:5000"]
        );
        assert!(r.mirrors["docker.io"].rewrites.is_empty());
        let c = &r.configs["registry.example.com:5000"];
        let auth = c.auth.as_ref().unwrap();
        assert_eq!(
            (auth.username.as_str(), auth.password.expose()),
            ("xxxxxx", "xxxxxx")
        );
        assert!(auth.auth.is_empty() && auth.identity_token.is_empty());
        // `cert_file:` with only a comment is YAML null, which k3s reads as "".
        assert_eq!(c.tls, Some(Tls::default()));
        assert!(
            !format!("{r:?}").contains("xxxxxx\" }"),
            "password must be redacted in Debug"
        );
    }

    #[test]
    fn docs_fixture_endpoints() {
        let cfg = cfg_of(
            &fixture("k3s-docs-registries-with-tls-and-auth.yaml"),
            false,
        );
        let root = HostRoot::new("/host");
        let p = plan(&cfg, &root, "docker.io");
        assert!(p.sources.is_empty(), "{:?}", p.sources);
        assert_eq!(
            urls(&p.endpoints),
            [
                (
                    "https://registry.example.com:5000/v2/".to_owned(),
                    Role::Mirror
                ),
                (
                    "https://registry-1.docker.io/v2/".to_owned(),
                    Role::Upstream
                )
            ]
        );
        let mirror = &p.endpoints[0];
        assert_eq!(mirror.ns_param.as_deref(), Some("docker.io"));
        assert!(!mirror.capabilities.push);
        assert_eq!(
            mirror.source,
            "/etc/rancher/k3s/registries.yaml (configs.\"registry.example.com:5000\")"
        );
        let cred = mirror.credential.as_ref().unwrap();
        assert_eq!(cred.username(), "xxxxxx");
        assert_eq!(
            cred.source,
            "/etc/rancher/k3s/registries.yaml (configs.\"registry.example.com:5000\".auth)"
        );
        assert_eq!(mirror.tls, TlsSettings::default());
        assert!(p.endpoints[1].credential.is_none());
        assert_eq!(p.endpoints[1].source, "default");

        // The config-only host gets its own hosts.toml: itself, with auth.
        let own = endpoints_for(&cfg, &root, "registry.example.com:5000");
        assert_eq!(
            urls(&own),
            [(
                "https://registry.example.com:5000/v2/".to_owned(),
                Role::Upstream
            )]
        );
        assert!(own[0].credential.is_some());
        // Anything else: plain upstream.
        let quay = endpoints_for(&cfg, &root, "quay.io");
        assert_eq!(
            urls(&quay),
            [("https://quay.io/v2/".to_owned(), Role::Upstream)]
        );
        assert_eq!(quay[0].source, "default");

        // --disable-default-registry-endpoint drops the upstream fallback for mirrored registries.
        let strict = cfg_of(&fixture("k3s-docs-registries-with-tls-and-auth.yaml"), true);
        assert_eq!(
            urls(&endpoints_for(&strict, &root, "docker.io")),
            [(
                "https://registry.example.com:5000/v2/".to_owned(),
                Role::Mirror
            )]
        );
        assert_eq!(registries(&cfg), ["docker.io", "registry.example.com:5000"]);
    }

    #[test]
    fn wildcard_rewrites_tls_and_normalisation() {
        let text = r#"
mirrors:
  "*":
    endpoint:
      - "mirror.local:5000"
  docker.io:
    endpoint:
      - "localhost:5000"
      - "https://proxy.example/v3/"
      - "https://proxy.example/v3/"
      - "docker.io"
    rewrite:
      "^library/(.*)": "hub/library/$1"
configs:
  mirror.local:5000:
    tls:
      ca_file: /etc/ssl/mirror-ca.pem
      cert_file: /etc/ssl/client.pem
      key_file: /etc/ssl/client-key.pem
      insecure_skip_verify: true
  proxy.example:
    auth:
      auth: am9lam9lOmhlbGxv
  "*":
    auth:
      identity_token: token-value
"#;
        let cfg = cfg_of(text, false);
        let root = HostRoot::new("/host");
        let p = plan(&cfg, &root, "docker.io");
        // The duplicate is skipped; `docker.io` as last endpoint becomes the default.
        assert_eq!(
            p.sources
                .iter()
                .filter_map(Source::message)
                .collect::<Vec<_>>(),
            ["Skipping duplicate endpoint URL 2=https://proxy.example/v3/ for docker.io"]
        );
        // Nothing is lost by a duplicate: a warning, at the mirror's key.
        assert_eq!(
            (
                p.sources[0].path.as_str(),
                p.sources[0].severity(),
                p.sources[0].line()
            ),
            (REGISTRIES_YAML, Severity::Warning, Some(6))
        );
        assert_eq!(
            urls(&p.endpoints),
            [
                ("http://localhost:5000/v2/".to_owned(), Role::Mirror),
                ("https://proxy.example/v3/".to_owned(), Role::Mirror),
                (
                    "https://registry-1.docker.io/v2/".to_owned(),
                    Role::Upstream
                ),
            ]
        );
        assert_eq!(p.endpoints[1].path, "/v3/");
        match &p.endpoints[1].credential.as_ref().unwrap().secret {
            CredentialSecret::Basic { username, password } => {
                assert_eq!((username.as_str(), password.expose()), ("joejoe", "hello"));
            }
            _ => panic!("expected basic credentials"),
        }
        assert_eq!(
            rewrites_for(&cfg, "docker.io").unwrap()["^library/(.*)"],
            "hub/library/$1"
        );

        // Registries without their own entry use "*" (containerd's _default).
        let q = plan(&cfg, &root, "quay.io");
        assert_eq!(
            urls(&q.endpoints),
            [
                ("https://mirror.local:5000/v2/".to_owned(), Role::Mirror),
                ("https://quay.io/v2/".to_owned(), Role::Upstream)
            ]
        );
        let tls = &q.endpoints[0].tls;
        assert!(tls.skip_verify);
        assert_eq!(tls.ca_files, [Path::new("/host/etc/ssl/mirror-ca.pem")]);
        assert_eq!(
            tls.client_certs,
            [ClientCert {
                cert: "/host/etc/ssl/client.pem".into(),
                key: "/host/etc/ssl/client-key.pem".into()
            }]
        );
        assert_eq!(q.endpoints[0].ns_param.as_deref(), Some("quay.io"));
        assert_eq!(
            registries(&cfg),
            ["docker.io", "mirror.local:5000", "proxy.example"]
        );
    }

    /// What k3s skips is an error at the key's line; a bad `auth` too.
    #[test]
    fn skipped_entries_are_errors_at_their_key() {
        let text = "# registries\nmirrors:\n  docker.io:\n    endpoint:\n      - \"ftp://u:s3cret@bad\"\n  \"quay.io\": {endpoint: [\"https://q.test\"]}\nconfigs:\n  'q.test':\n    auth:\n      auth: \"bm8tY29sb24=\"\n";
        let r = parse(text).unwrap();
        assert_eq!(r.mirror_lines.get("docker.io"), Some(&3));
        assert_eq!(r.mirror_lines.get("quay.io"), Some(&6));
        assert_eq!(r.config_lines.get("q.test"), Some(&8));
        let cfg = cfg_of(text, false);
        let root = HostRoot::new("/host");
        let p = plan(&cfg, &root, "docker.io");
        let f = &p.sources[0].findings[0];
        assert_eq!((f.severity, f.line), (Severity::Error, Some(3)));
        assert!(
            f.message
                .starts_with("Ignoring invalid endpoint URL 0=ftp://bad"),
            "{f:?}"
        );
        assert!(!f.message.contains("s3cret"), "{f:?}");
        // Every plan renders every registry, as k3s does at start: the
        // docker.io finding comes along, then quay.io's mirror's auth.
        let p = plan(&cfg, &root, "quay.io");
        let f = &p.sources[0].findings[1];
        assert_eq!((f.severity, f.line), (Severity::Error, Some(8)));
        assert!(
            f.message.contains("does not decode to user:password"),
            "{f:?}"
        );
        assert!(p.endpoints[0].credential.is_none());
    }

    #[test]
    fn endpoint_normalisation_table() {
        for (input, scheme, host, port, path, over) in [
            (
                "localhost:5000",
                Scheme::Http,
                "localhost",
                Some(5000),
                "/v2",
                false,
            ),
            (
                "127.0.0.1:443",
                Scheme::Https,
                "127.0.0.1",
                Some(443),
                "/v2",
                false,
            ),
            ("[::1]:5001", Scheme::Http, "::1", Some(5001), "/v2", false),
            (
                "registry.example.com",
                Scheme::Https,
                "registry.example.com",
                None,
                "/v2",
                false,
            ),
            (
                "http://registry.example.com/",
                Scheme::Http,
                "registry.example.com",
                None,
                "/v2",
                false,
            ),
            (
                "docker.io",
                Scheme::Https,
                "registry-1.docker.io",
                None,
                "/v2",
                false,
            ),
            (
                "https://mirror/v2",
                Scheme::Https,
                "mirror",
                None,
                "/v2",
                false,
            ),
            (
                "https://mirror/prefix/v2",
                Scheme::Https,
                "mirror",
                None,
                "/prefix/v2",
                true,
            ),
        ] {
            let u = normalize_endpoint(input).unwrap();
            assert_eq!(
                (
                    u.scheme,
                    u.host.as_str(),
                    u.port,
                    u.path.as_str(),
                    u.override_path
                ),
                (scheme, host, port, path, over),
                "{input}"
            );
        }
        assert!(normalize_endpoint("ftp://x").is_err());
        assert!(normalize_endpoint("https://:5000").is_err());
        assert!(normalize_endpoint("x:notaport").is_err());
    }

    #[test]
    fn parse_errors_carry_lines() {
        let e = parse("mirrors:\n  docker.io:\n    endpoint: [\"a\"\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        let e = parse("mirrors:\n  docker.io:\n    endpoint: 5\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(parse("").unwrap(), K3sRegistries::default());
        assert_eq!(parse("---\n").unwrap(), K3sRegistries::default());
    }

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn discover_follows_k3s_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            CONFIG_YAML,
            "write-kubeconfig-mode: \"0644\"\nprivate-registry: /opt/k3s/registries.yaml\n",
        );
        write(
            dir.path(),
            "/etc/rancher/k3s/config.yaml.d/50-registry.yaml",
            "disable-default-registry-endpoint: true\n",
        );
        write(
            dir.path(),
            "/opt/k3s/registries.yaml",
            &fixture("k3s-docs-registries-with-tls-and-auth.yaml"),
        );
        let (cfg, sources) = discover(&root);
        let paths: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                CONFIG_YAML,
                "/etc/rancher/k3s/config.yaml.d/50-registry.yaml",
                "/opt/k3s/registries.yaml"
            ]
        );
        assert!(sources.iter().all(|s| s.message().is_none()));
        assert!(cfg.disable_default_endpoint);
        assert_eq!(cfg.path, "/opt/k3s/registries.yaml");
        assert_eq!(endpoints_for(&cfg, &root, "docker.io").len(), 1);

        write(dir.path(), "/opt/k3s/registries.yaml", "mirrors: [\n");
        let (_, sources) = discover(&root);
        assert!(
            sources[2]
                .message()
                .as_deref()
                .is_some_and(|e| e.starts_with("line ")),
            "{sources:?}"
        );
    }

    fn exercise(text: &str) {
        let start = std::time::Instant::now();
        if let Ok(r) = parse(text) {
            let root = HostRoot::new("/nonexistent-probe-root");
            for disable in [false, true] {
                let cfg = K3sConfig {
                    registries: r.clone(),
                    path: REGISTRIES_YAML.to_owned(),
                    disable_default_endpoint: disable,
                };
                for host in ["docker.io", "quay.io", "registry.example.com:5000", "*", ""] {
                    let _ = plan(&cfg, &root, host);
                }
                let _ = registries(&cfg);
            }
        }
        let _ = parse_k3s_config(text);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "slow on {text:?}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        #[test]
        fn random_text_never_panics(text in "\\PC{0,300}") {
            exercise(&text);
        }

        #[test]
        fn mutated_fixture_never_panics(
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            ch in proptest::prelude::any::<char>(),
        ) {
            let text = fixture("k3s-docs-registries-with-tls-and-auth.yaml");
            for damaged in crate::config::damaged(&text, cut, at, ch) {
                exercise(&damaged);
            }
        }

        #[test]
        fn random_endpoints_never_panic(eps in proptest::collection::vec("\\PC{0,30}", 0..6), keys in proptest::collection::vec("[a-z*.:0-9]{0,12}", 0..4)) {
            let mut r = K3sRegistries::default();
            for k in &keys {
                r.mirrors.insert(k.clone(), Mirror { endpoints: eps.clone(), rewrites: BTreeMap::new() });
                r.configs.insert(k.clone(), RegistryConfig { auth: Some(AuthConfig { auth: Secret::new("!!"), ..AuthConfig::default() }), tls: Some(Tls { cert_file: "c".into(), ..Tls::default() }) });
            }
            let cfg = K3sConfig { registries: r, path: REGISTRIES_YAML.to_owned(), disable_default_endpoint: false };
            let root = HostRoot::new("/nonexistent-probe-root");
            for k in keys.iter().map(String::as_str).chain(["docker.io"]) {
                let _ = plan(&cfg, &root, k);
            }
        }
    }
}
