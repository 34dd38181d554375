//! CRI-O and Podman registry configuration, read the way containers/image reads it.
//!
//! Covers `/etc/containers/registries.conf` (v2, and v1 converted like
//! `V1RegistriesConf.ConvertToV2`), the `registries.conf.d/*.conf` drop-ins
//! merged like `parsedConfig.updateWithConfigurationFrom`, the per-host
//! `certs.d` directories (`tlsclientconfig.SetupCertificates`), and the few
//! `crio.conf` keys that change pulls. Endpoint order follows
//! `Registry.PullSourcesFromReference`: the mirrors allowed for this pull,
//! then the registry's own location, nothing at all when it is `blocked`.
//!
//! Ported from containers/image `pkg/sysregistriesv2/system_registries_v2.go`
//! (now containers/container-libs `image/pkg/sysregistriesv2/`) and
//! `docker/docker_client.go` / `docker_image_src.go`.
//!
//! [`CrioConfig`] implements [`crate::config::runtime::backend::RuntimeConfig`]: a `blocked` registry
//! is the plan's `blocked` (no endpoint); a `certs.d` CRI-O fails on, or a
//! mirror a blocked registry covers, is an `error` finding of that file;
//! crio.conf's `insecure_registries`, ignored by CRI-O 1.35+, a `warning`.
//!
//! Parsers take `&str` and never touch the disk; only [`discover`] and the
//! endpoint builders read files, always through [`HostRoot`]. This module does
//! not resolve names or open connections. A `proxy` URL is a
//! [`ProxyUrl`] from parsing on (its user info secret), and no error quotes it.

use crate::config::{ParseError, Severity, Source, line_of};
use crate::hostroot::HostRoot;
use crate::reference::{domain_part, name_part};
use crate::secret::Secret;
use crate::target::{Endpoint, HttpFallback, ProxyUrl, Role, Scheme};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The system-wide registries file (containers-registries.conf(5)).
pub const REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
/// Drop-ins merged on top of [`REGISTRIES_CONF`] in lexical order; only `*.conf`.
pub const REGISTRIES_CONF_D: &str = "/etc/containers/registries.conf.d";
/// CRI-O's own config and its drop-in directory.
pub const CRIO_CONF: &str = "/etc/crio/crio.conf";
pub const CRIO_CONF_D: &str = "/etc/crio/crio.conf.d";
/// Per-host TLS directories in the order containers/image searches them for a
/// root process (`systemPerHostCertDirPaths`); the first `<dir>/<host:port>`
/// that exists wins.
pub const CERTS_DIRS: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// Docker Hub's reference domain and the host actually contacted for it
/// (`dockerHostname` / `dockerRegistry` in `docker_client.go`).
const DOCKER_HOSTNAME: &str = "docker.io";
const DOCKER_REGISTRY: &str = "registry-1.docker.io";

/// `pull-from-mirror` of a `[[registry.mirror]]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullFromMirror {
    #[default]
    All,
    DigestOnly,
    TagOnly,
}

/// Where a `[[registry]]` or `[[registry.mirror]]` table was written.
/// `file` is empty until [`discover`] fills it in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: Option<usize>,
}

impl Origin {
    /// `file:line`, `file`, `line N` or `registries.conf`, whichever is known.
    #[must_use]
    pub fn describe(&self) -> String {
        match (self.file.is_empty(), self.line) {
            (false, Some(l)) => format!("{}:{l}", self.file),
            (false, None) => self.file.clone(),
            (true, Some(l)) => format!("line {l}"),
            (true, None) => "registries.conf".to_owned(),
        }
    }
}

/// One `[[registry.mirror]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    /// Skip TLS verification and allow plain HTTP.
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
    /// `proxy` URL for this mirror, validated (http, https, socks5, socks5h);
    /// its user info is secret.
    pub proxy: Option<ProxyUrl>,
    pub origin: Origin,
}

/// One `[[registry]]`, normalised as `postProcessRegistries` leaves it
/// (prefix defaulted to the location, trailing slashes trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// What references it matches: a host, a namespace, an image, or `*.example.com`.
    pub prefix: String,
    /// Where to pull from instead; empty only with a wildcard prefix (pull as-is).
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirror_by_digest_only: bool,
    pub mirrors: Vec<Mirror>,
    pub proxy: Option<ProxyUrl>,
    pub origin: Origin,
}

/// A parsed (and possibly merged) registries configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// Unique by prefix, sorted by prefix (as upstream keeps them).
    pub registries: Vec<Registry>,
    /// `None` when no file set it; `Some(vec![])` when a file emptied it.
    pub unqualified_search_registries: Option<Vec<String>>,
    pub credential_helpers: Option<Vec<String>>,
    pub short_name_mode: Option<String>,
    /// Short-name aliases; an empty value in a drop-in erases an alias.
    pub aliases: BTreeMap<String, String>,
    /// The text was in the deprecated v1 format and was converted.
    pub v1_format: bool,
}

/// The `[crio.image]` keys that matter for pulls, after crio.conf.d merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrioConf {
    /// A node path; credentials there apply to every pull.
    pub global_auth_file: Option<String>,
    /// CRI-O 1.35+ ignores this key (registries.conf `insecure = true` replaces
    /// it); exposed so the caller can hint about it.
    pub insecure_registries: Option<Vec<String>>,
    /// `file:line` of the `insecure_registries` that won.
    pub insecure_registries_source: Option<String>,
    /// The 1-based line of `insecure_registries` in the file just parsed.
    pub insecure_registries_line: Option<usize>,
    /// `file:line` of the `global_auth_file` that won.
    pub global_auth_file_source: Option<String>,
}

/// Everything discovered for CRI-O / Podman on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrioConfig {
    pub registries: RegistriesConf,
    pub crio: CrioConf,
    /// The auth files containers/image reads when the kubelet passes no
    /// credential, in its order, each with its node path.
    pub auth_files: Vec<(String, crate::config::credentials::dockercfg::DockerConfig)>,
}

/// containers/image's auth files for CRI-O, which runs as root
/// (`pkg/docker/config/config.go` `getAuthFilePaths`): `global_auth_file`
/// (CRI-O's `--global-auth-file`) or `/run/containers/0/auth.json`
/// (`${XDG_RUNTIME_DIR}/containers/auth.json` for uid 0), then
/// `~/.config/containers/auth.json`, `~/.docker/config.json`, `~/.dockercfg`.
fn auth_file_paths(global: Option<&str>) -> Vec<String> {
    let mut paths = vec![global.unwrap_or("/run/containers/0/auth.json").to_owned()];
    paths.extend(
        [
            "/root/.config/containers/auth.json",
            "/root/.docker/config.json",
            "/root/.dockercfg",
        ]
        .map(str::to_owned),
    );
    paths
}

/// One place a pull would try, before it becomes [`Endpoint`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSource {
    pub role: Role,
    /// `host[:port][/namespace]` as written in the config.
    pub location: String,
    pub insecure: bool,
    pub proxy: Option<ProxyUrl>,
    /// The reference rewritten for this location (`mirror.example/ns/image:tag`).
    pub reference: String,
    pub origin: Origin,
}

/// What a pull of one reference would contact, and why not when it would
/// not: [`crate::config::runtime::backend::RegistryPlan`] plus the pull sources it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullPlan {
    /// In the runtime's order. An insecure location yields one `https`
    /// endpoint with `skip_verify` and an `http_fallback`, as
    /// `detectPropertiesHelper` pings https first, then http, on one host.
    pub endpoints: Vec<Endpoint>,
    /// `Some("registry X is blocked in file:line")` when the pull is refused.
    pub blocked: Option<String>,
    pub pull_sources: Vec<PullSource>,
    /// Problems the runtime would fail on for some endpoint (certs.d, a
    /// mirror a `blocked` registry covers, a rewrite), as remarks...
    pub problems: Vec<String>,
    /// ...and as findings of the file or directory at fault.
    pub findings: Vec<Source>,
}

// ---------------------------------------------------------------------------
// Parsing

#[derive(Deserialize, Default)]
struct RawFile {
    registry: Option<Vec<Spanned<RawRegistry>>>,
    #[serde(rename = "unqualified-search-registries")]
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(rename = "credential-helpers")]
    credential_helpers: Option<Vec<String>>,
    #[serde(rename = "short-name-mode", default)]
    short_name_mode: String,
    #[serde(rename = "additional-layer-store-auth-helper", default)]
    additional_layer_store_auth_helper: String,
    aliases: Option<BTreeMap<String, String>>,
    /// The v1 `[registries.search|insecure|block]` tables.
    registries: Option<RawV1>,
}

#[derive(Deserialize, Default)]
struct RawV1 {
    search: Option<RawV1List>,
    insecure: Option<RawV1List>,
    block: Option<RawV1List>,
}

#[derive(Deserialize, Default)]
struct RawV1List {
    registries: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawRegistry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(rename = "mirror-by-digest-only", default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    proxy: String,
    #[serde(rename = "pull-from-mirror", default)]
    pull_from_mirror: String,
    #[serde(default)]
    mirror: Vec<Spanned<RawMirror>>,
}

#[derive(Deserialize, Default)]
struct RawMirror {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    proxy: String,
    #[serde(rename = "pull-from-mirror", default)]
    pull_from_mirror: String,
}

/// A registry before post-processing; `pull_from_mirror` strings are checked there.
struct Pending {
    reg: Registry,
    pull_from_mirror: String,
    /// As written; dropped once parsed (it may hold a password).
    proxy_raw: Secret,
    mirrors: Vec<(String, Secret)>, // (pull-from-mirror, proxy) per mirror, raw
}

fn toml_error(text: &str, e: &toml::de::Error) -> ParseError {
    let line = e.span().map(|s| line_of(text, s.start));
    ParseError::new(line, e.message().trim_end())
}

/// Parse one registries.conf (or drop-in) text: v2 as is, v1 converted.
/// Validation follows `loadConfigFile` + `postProcessRegistries`, with
/// upstream's error messages.
pub fn parse_registries(text: &str) -> Result<RegistriesConf, ParseError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;

    // `hasSetField`: an empty array counts as set, a missing one does not.
    let v1_set = raw.registries.as_ref().is_some_and(|v| {
        [&v.search, &v.insecure, &v.block]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| l.registries.is_some()))
    });
    let v2_set = raw.registry.is_some()
        || raw.unqualified_search_registries.is_some()
        || raw.credential_helpers.is_some()
        || !raw.short_name_mode.is_empty()
        || !raw.additional_layer_store_auth_helper.is_empty()
        || raw.aliases.is_some();

    let mut conf = RegistriesConf::default();
    let mut pending = Vec::new();
    if v1_set {
        if v2_set {
            return Err(ParseError::new(
                None,
                "mixing sysregistry v1/v2 is not supported",
            ));
        }
        let v1 = raw.registries.unwrap_or_default();
        pending = convert_v1(&v1)?;
        conf.unqualified_search_registries = v1.search.and_then(|s| s.registries);
        conf.v1_format = true;
    } else {
        for table in raw.registry.unwrap_or_default() {
            let line = Some(line_of(text, table.span().start));
            let r = table.into_inner();
            let mut mirrors = Vec::new();
            let mut raw_mirrors = Vec::new();
            for m in r.mirror {
                let mline = Some(line_of(text, m.span().start));
                let m = m.into_inner();
                raw_mirrors.push((m.pull_from_mirror, Secret::new(m.proxy)));
                mirrors.push(Mirror {
                    location: m.location,
                    insecure: m.insecure,
                    pull_from_mirror: PullFromMirror::All,
                    proxy: None,
                    origin: Origin {
                        file: String::new(),
                        line: mline,
                    },
                });
            }
            pending.push(Pending {
                reg: Registry {
                    prefix: r.prefix,
                    location: r.location,
                    insecure: r.insecure,
                    blocked: r.blocked,
                    mirror_by_digest_only: r.mirror_by_digest_only,
                    mirrors,
                    proxy: None,
                    origin: Origin {
                        file: String::new(),
                        line,
                    },
                },
                pull_from_mirror: r.pull_from_mirror,
                proxy_raw: Secret::new(r.proxy),
                mirrors: raw_mirrors,
            });
        }
        conf.unqualified_search_registries = raw.unqualified_search_registries;
        conf.credential_helpers = raw.credential_helpers;
        conf.aliases = raw.aliases.unwrap_or_default();
    }

    conf.registries = post_process(pending)?;
    if let Some(usr) = conf.unqualified_search_registries.as_mut() {
        for entry in usr.iter_mut() {
            let loc = parse_location(entry)?;
            if !is_domain(&loc) {
                return Err(ParseError::new(
                    None,
                    format!("Invalid unqualified-search-registries entry {loc:?}"),
                ));
            }
            *entry = loc;
        }
    }

    if !raw.short_name_mode.is_empty() {
        match raw.short_name_mode.as_str() {
            "disabled" | "enforcing" | "permissive" => {
                conf.short_name_mode = Some(raw.short_name_mode);
            }
            other => {
                return Err(ParseError::new(
                    None,
                    format!("invalid short-name mode: {other:?}"),
                ));
            }
        }
    }

    for r in &conf.registries {
        if r.prefix.starts_with("*.") && r.prefix.contains(['/', '@', ':']) {
            return Err(ParseError::new(
                r.origin.line,
                format!(
                    "Wildcarded prefix should be in the format: *.example.com. Current prefix {:?} is incorrectly formatted",
                    r.prefix
                ),
            ));
        }
    }
    Ok(conf)
}

/// `ConvertToV2`: blocked entries first, then insecure ones, one registry per
/// location; search entries only become unqualified-search registries.
fn convert_v1(v1: &RawV1) -> Result<Vec<Pending>, ParseError> {
    let mut out: Vec<Pending> = Vec::new();
    let lists = [(&v1.block, true), (&v1.insecure, false)];
    for (list, is_block) in lists {
        for loc in list
            .as_ref()
            .and_then(|l| l.registries.as_ref())
            .into_iter()
            .flatten()
        {
            let loc = parse_location(loc)?;
            let idx = if let Some(i) = out.iter().position(|p| p.reg.location == loc) {
                i
            } else {
                out.push(Pending {
                    reg: Registry {
                        prefix: loc.clone(),
                        location: loc,
                        insecure: false,
                        blocked: false,
                        mirror_by_digest_only: false,
                        mirrors: Vec::new(),
                        proxy: None,
                        origin: Origin::default(),
                    },
                    pull_from_mirror: String::new(),
                    proxy_raw: Secret::default(),
                    mirrors: Vec::new(),
                });
                out.len() - 1
            };
            if is_block {
                out[idx].reg.blocked = true;
            } else {
                out[idx].reg.insecure = true;
            }
        }
    }
    Ok(out)
}

/// `parseLocation`: trim trailing slashes, refuse URI schemes.
fn parse_location(input: &str) -> Result<String, ParseError> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(ParseError::new(
            None,
            format!(
                "invalid location '{}': URI schemes are not supported",
                crate::config::without_userinfo(input)
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// `parseProxy`: empty is no proxy; otherwise a URL with a supported scheme.
/// The error never quotes the value: it may hold a password.
fn parse_proxy(input: &Secret, line: Option<usize>) -> Result<Option<ProxyUrl>, ParseError> {
    if input.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(input.expose())
        .map_err(|e| ParseError::new(line, format!("parsing the proxy URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
        return Err(ParseError::new(
            line,
            format!(
                "proxy URL scheme \"{}\" is not supported. Supported are http, https, socks5, socks5h",
                url.scheme()
            ),
        ));
    }
    Ok(Some(ProxyUrl::from_url(url)))
}

/// A loose version of distribution's anchored `DomainRegexp`: a host
/// (name, IPv4 or bracketed IPv6) with an optional port, nothing else.
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '.', ':'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}

/// `postProcessRegistries`: validate, default prefixes, check conflicting
/// duplicates, keep the first entry per prefix and sort by prefix.
fn post_process(pending: Vec<Pending>) -> Result<Vec<Registry>, ParseError> {
    let mut regs = Vec::with_capacity(pending.len());
    // The proxies as written, for the conflict check below (upstream compares strings).
    let mut raw_proxies = Vec::with_capacity(pending.len());
    for p in pending {
        let mut reg = p.reg;
        let line = reg.origin.line;
        let at = |e: ParseError| ParseError {
            line: e.line.or(line),
            ..e
        };
        reg.location = parse_location(&reg.location).map_err(at)?;
        if reg.prefix.is_empty() {
            if reg.location.is_empty() {
                return Err(ParseError::new(
                    line,
                    "invalid condition: both location and prefix are unset",
                ));
            }
            reg.prefix.clone_from(&reg.location);
        } else {
            reg.prefix = parse_location(&reg.prefix).map_err(at)?;
            if !reg.prefix.starts_with("*.") && reg.location.is_empty() {
                return Err(ParseError::new(
                    line,
                    "invalid condition: location is unset and prefix is not in the format: *.example.com",
                ));
            }
        }
        reg.proxy = parse_proxy(&p.proxy_raw, line)?;
        raw_proxies.push(p.proxy_raw);
        if !p.pull_from_mirror.is_empty() {
            return Err(ParseError::new(
                line,
                format!(
                    "pull-from-mirror must not be set for a non-mirror registry {:?}",
                    reg.prefix
                ),
            ));
        }
        for (mir, (pfm, proxy)) in reg.mirrors.iter_mut().zip(p.mirrors) {
            let mline = mir.origin.line;
            mir.location =
                parse_location(&mir.location).map_err(|e| ParseError { line: mline, ..e })?;
            if mir.location.is_empty() {
                return Err(ParseError::new(
                    mline,
                    "invalid condition: mirror location is unset",
                ));
            }
            mir.proxy = parse_proxy(&proxy, mline)?;
            if reg.mirror_by_digest_only && !pfm.is_empty() {
                return Err(ParseError::new(
                    mline,
                    format!(
                        "cannot set mirror usage mirror-by-digest-only for the registry ({:?}) and pull-from-mirror for per-mirror ({:?}) at the same time",
                        reg.prefix, mir.location
                    ),
                ));
            }
            mir.pull_from_mirror = match pfm.as_str() {
                "" | "all" => PullFromMirror::All,
                "digest-only" => PullFromMirror::DigestOnly,
                "tag-only" => PullFromMirror::TagOnly,
                other => {
                    return Err(ParseError::new(
                        mline,
                        format!(
                            "unsupported pull-from-mirror value {other:?} for mirror {:?}",
                            mir.location
                        ),
                    ));
                }
            };
        }
        regs.push(reg);
    }

    // A location may back several prefixes, but its security settings must agree.
    let key = |r: &Registry| {
        if r.location.is_empty() {
            r.prefix.clone()
        } else {
            r.location.clone()
        }
    };
    for (i, reg) in regs.iter().enumerate() {
        for (j, other) in regs[..i]
            .iter()
            .enumerate()
            .filter(|(_, o)| key(o) == key(reg))
        {
            let conflict = if reg.insecure != other.insecure {
                Some("insecure")
            } else if raw_proxies[i] != raw_proxies[j] {
                Some("proxy")
            } else if reg.blocked != other.blocked {
                Some("blocked")
            } else {
                None
            };
            if let Some(field) = conflict {
                return Err(ParseError::new(
                    reg.origin.line,
                    format!(
                        "registry '{}' is defined multiple times with conflicting '{field}' setting",
                        reg.location
                    ),
                ));
            }
        }
    }

    // First entry per prefix wins; the rest are silently ignored upstream too.
    let mut unique: BTreeMap<String, Registry> = BTreeMap::new();
    for reg in regs {
        unique.entry(reg.prefix.clone()).or_insert(reg);
    }
    Ok(unique.into_values().collect())
}

impl RegistriesConf {
    /// Record the node path on every entry, for `file:line` sources.
    pub fn set_file(&mut self, path: &str) {
        for r in &mut self.registries {
            path.clone_into(&mut r.origin.file);
            for m in &mut r.mirrors {
                path.clone_into(&mut m.origin.file);
            }
        }
    }

    /// Merge a drop-in on top, as `updateWithConfigurationFrom` does:
    /// registries are replaced whole by prefix, other fields override when set.
    pub fn merge(&mut self, updates: RegistriesConf) {
        let mut map: BTreeMap<String, Registry> = self
            .registries
            .drain(..)
            .map(|r| (r.prefix.clone(), r))
            .collect();
        for r in updates.registries {
            map.insert(r.prefix.clone(), r);
        }
        self.registries = map.into_values().collect();
        if updates.unqualified_search_registries.is_some() {
            self.unqualified_search_registries = updates.unqualified_search_registries;
        }
        if updates.credential_helpers.is_some() {
            self.credential_helpers = updates.credential_helpers;
        }
        if updates.short_name_mode.is_some() {
            self.short_name_mode = updates.short_name_mode;
        }
        for (k, v) in updates.aliases {
            if v.is_empty() {
                self.aliases.remove(&k);
            } else {
                self.aliases.insert(k, v);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Matching (FindRegistry, PullSourcesFromReference)

/// `refMatchingSubdomainPrefix`: `prefix` is `*.example.com`; returns the
/// length of the matched host in `reference`.
fn ref_matching_subdomain_prefix(reference: &str, prefix: &str) -> Option<usize> {
    let tail = &prefix[1..];
    let index = reference.find(tail)?;
    if reference[..index].contains('/') {
        return None;
    }
    let end = index + tail.len();
    if end == reference.len() || matches!(reference.as_bytes()[end], b':' | b'/' | b'@') {
        Some(end)
    } else {
        None
    }
}

/// `refMatchingPrefix`: the length of `reference` consumed by `prefix`, if it matches.
fn ref_matching_prefix(reference: &str, prefix: &str) -> Option<usize> {
    if prefix.starts_with("*.") {
        return ref_matching_subdomain_prefix(reference, prefix);
    }
    if reference.len() < prefix.len() || !reference.starts_with(prefix) {
        return None;
    }
    if reference.len() == prefix.len() {
        return Some(prefix.len());
    }
    // Upstream notes that this also lets `example.com:5000` match `example.com`.
    matches!(reference.as_bytes()[prefix.len()], b':' | b'/' | b'@').then_some(prefix.len())
}

/// `FindRegistry`: the registry with the longest matching prefix (first one on
/// ties). `reference` is a host, a repository name or a full reference.
#[must_use]
pub fn find_registry<'a>(conf: &'a RegistriesConf, reference: &str) -> Option<&'a Registry> {
    let mut best: Option<&Registry> = None;
    for r in &conf.registries {
        if ref_matching_prefix(reference, &r.prefix).is_some()
            && r.prefix.len() > best.map_or(0, |b| b.prefix.len())
        {
            best = Some(r);
        }
    }
    best
}

/// `Endpoint.rewriteReference`: replace the matched prefix by the location.
fn rewrite_reference(location: &str, reference: &str, prefix: &str) -> Result<String, String> {
    let Some(len) = ref_matching_prefix(reference, prefix) else {
        return Err(format!(
            "invalid prefix '{prefix}' for reference '{reference}'"
        ));
    };
    if location.is_empty() {
        if !prefix.starts_with("*.") {
            return Err(format!(
                "invalid prefix '{prefix}' for empty location, should be in the format: *.example.com"
            ));
        }
        return Ok(reference.to_owned());
    }
    Ok(format!("{location}{}", &reference[len..]))
}

/// `PullSourcesFromReference`: mirrors allowed for this pull kind, then the
/// registry's own location.
pub fn pull_sources(
    reg: &Registry,
    reference: &str,
    by_digest: bool,
) -> Result<Vec<PullSource>, String> {
    let mut out = Vec::new();
    let mirrors = reg.mirrors.iter().filter(|m| {
        if reg.mirror_by_digest_only {
            by_digest
        } else {
            match m.pull_from_mirror {
                PullFromMirror::All => true,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            }
        }
    });
    for m in mirrors {
        out.push(PullSource {
            role: Role::Mirror,
            location: m.location.clone(),
            insecure: m.insecure,
            proxy: m.proxy.clone(),
            reference: rewrite_reference(&m.location, reference, &reg.prefix)?,
            origin: m.origin.clone(),
        });
    }
    out.push(PullSource {
        role: Role::Upstream,
        location: reg.location.clone(),
        insecure: reg.insecure,
        proxy: reg.proxy.clone(),
        reference: rewrite_reference(&reg.location, reference, &reg.prefix)?,
        origin: reg.origin.clone(),
    });
    Ok(out)
}

/// Why a pull of `reference` is refused, if a `blocked = true` registry covers it.
#[must_use]
pub fn blocked_reason(cfg: &CrioConfig, reference: &str) -> Option<String> {
    let reg = find_registry(&cfg.registries, name_part(reference))?;
    reg.blocked.then(|| {
        format!(
            "registry {} is blocked in {}",
            reg.prefix,
            reg.origin.describe()
        )
    })
}

// ---------------------------------------------------------------------------
// Discovery

fn read_optional(root: &HostRoot, path: &str, sources: &mut Vec<Source>) -> Option<String> {
    crate::config::read_optional(root, path, "crio", sources)
}

/// `*.conf` files of a node directory in lexical order, as node paths.
fn conf_files(root: &HostRoot, dir: &str, sources: &mut Vec<Source>) -> Vec<String> {
    match root.read_dir(dir) {
        Ok(list) => list
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "conf") && root.resolve(p).is_file())
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            sources.push(Source::error(dir, "crio", format!("cannot list: {e}")));
            Vec::new()
        }
    }
}

#[derive(Deserialize, Default)]
struct RawCrio {
    crio: Option<RawCrioTable>,
}

#[derive(Deserialize, Default)]
struct RawCrioTable {
    image: Option<RawCrioImage>,
}

#[derive(Deserialize, Default)]
struct RawCrioImage {
    global_auth_file: Option<Spanned<String>>,
    insecure_registries: Option<Spanned<Vec<String>>>,
}

/// Parse one crio.conf (or crio.conf.d drop-in) for the `[crio.image]` keys we use.
/// Source fields carry `line N` only; [`discover`] prefixes the file.
pub fn parse_crio_conf(text: &str) -> Result<CrioConf, ParseError> {
    let raw: RawCrio = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let image = raw.crio.and_then(|c| c.image).unwrap_or_default();
    let mut out = CrioConf::default();
    if let Some(v) = image.global_auth_file {
        out.global_auth_file_source = Some(format!("line {}", line_of(text, v.span().start)));
        out.global_auth_file = Some(v.into_inner());
    }
    if let Some(v) = image.insecure_registries {
        let line = line_of(text, v.span().start);
        out.insecure_registries_source = Some(format!("line {line}"));
        out.insecure_registries_line = Some(line);
        out.insecure_registries = Some(v.into_inner());
    }
    Ok(out)
}

fn with_file(src: Option<String>, path: &str) -> Option<String> {
    src.map(|s| format!("{path}:{}", s.trim_start_matches("line ")))
}

/// Read registries.conf, its drop-ins and crio.conf(.d) from the node.
/// A file that fails to parse is reported and skipped; note that containers/image
/// itself refuses to load any registries configuration in that case.
#[must_use]
pub fn discover(root: &HostRoot) -> (CrioConfig, Vec<Source>) {
    let mut sources = Vec::new();
    let mut cfg = CrioConfig::default();

    if let Some(text) = read_optional(root, REGISTRIES_CONF, &mut sources) {
        match parse_registries(&text) {
            Ok(mut conf) => {
                conf.set_file(REGISTRIES_CONF);
                cfg.registries = conf;
                sources.push(Source::ok(REGISTRIES_CONF, "crio"));
            }
            Err(e) => sources.push(Source::parse_error(REGISTRIES_CONF, "crio", &e)),
        }
    }
    for path in conf_files(root, REGISTRIES_CONF_D, &mut sources) {
        let Some(text) = read_optional(root, &path, &mut sources) else {
            continue;
        };
        match parse_registries(&text) {
            // loadConfigFile(path, forceV2 = true) for drop-ins.
            Ok(conf) if conf.v1_format => {
                let line = text.find("[registries").map(|at| line_of(&text, at));
                sources.push(Source::finding(
                    &path,
                    "crio",
                    Severity::Error,
                    line,
                    "registry must be in v2 format but is in v1",
                ));
            }
            Ok(mut conf) => {
                conf.set_file(&path);
                cfg.registries.merge(conf);
                sources.push(Source::ok(&path, "crio"));
            }
            Err(e) => sources.push(Source::parse_error(&path, "crio", &e)),
        }
    }

    let mut crio_files = Vec::new();
    if root.exists(CRIO_CONF) {
        crio_files.push(CRIO_CONF.to_owned());
    }
    crio_files.extend(conf_files(root, CRIO_CONF_D, &mut sources));
    for path in crio_files {
        let Some(text) = read_optional(root, &path, &mut sources) else {
            continue;
        };
        match parse_crio_conf(&text) {
            Ok(c) => {
                sources.push(
                    if c.insecure_registries.as_ref().is_some_and(|r| !r.is_empty()) {
                        Source::finding(
                            &path,
                            "crio",
                            Severity::Warning,
                            c.insecure_registries_line,
                            "[crio.image] insecure_registries works before CRI-O 1.35 only; 1.35+ ignores it \
                             (use `insecure = true` in a registries.conf [[registry]])",
                        )
                    } else {
                        Source::ok(&path, "crio")
                    },
                );
                if c.global_auth_file.is_some() {
                    cfg.crio.global_auth_file = c.global_auth_file;
                    cfg.crio.global_auth_file_source = with_file(c.global_auth_file_source, &path);
                }
                if c.insecure_registries.is_some() {
                    cfg.crio.insecure_registries = c.insecure_registries;
                    cfg.crio.insecure_registries_source =
                        with_file(c.insecure_registries_source, &path);
                }
            }
            Err(e) => sources.push(Source::parse_error(&path, "crio", &e)),
        }
    }
    for path in auth_file_paths(cfg.crio.global_auth_file.as_deref()) {
        let Ok(text) = root.read_to_string(&path) else {
            continue;
        };
        match crate::config::credentials::dockercfg::parse(&text) {
            Ok(c) => {
                sources.push(Source::ok(&path, "crio-auth"));
                cfg.auth_files.push((
                    path.clone(),
                    c.with_label(format!("CRI-O auth file {path}")),
                ));
            }
            Err(e) => sources.push(Source::finding(
                &path,
                "crio-auth",
                Severity::Error,
                Some(e.line),
                format!("{e}; containers/image cannot read credentials from it"),
            )),
        }
    }
    (cfg, sources)
}

impl CrioConfig {
    /// The credential containers/image finds for `repository` (`host/path`)
    /// in its auth files: the first file with a matching key wins, its most
    /// specific key first.
    #[must_use]
    pub fn auth_for(&self, repository: &str) -> Option<crate::target::Credential> {
        self.auth_files
            .iter()
            .find_map(|(_, c)| c.lookup(repository))
    }
}

// ---------------------------------------------------------------------------
// Endpoints

/// The certs.d directory containers/image would use for `host_port`, if any.
fn certs_dir_for(root: &HostRoot, host_port: &str) -> Option<String> {
    if host_port.is_empty() || host_port.contains('/') || host_port.starts_with('.') {
        return None;
    }
    CERTS_DIRS
        .iter()
        .map(|d| format!("{d}/{host_port}"))
        .find(|p| root.resolve(p).is_dir())
}

/// The endpoints, blocked reason and rewritten references for one pull.
/// `image_or_registry` is a normalised reference (`docker.io/library/nginx:latest`)
/// or a registry host; a reference containing `@` counts as a digest pull.
#[must_use]
pub fn plan(
    cfg: &CrioConfig,
    root: &HostRoot,
    image_or_registry: &str,
    by_digest: bool,
) -> PullPlan {
    let mut plan = PullPlan::default();
    let by_digest = by_digest || image_or_registry.contains('@');
    let name = name_part(image_or_registry);

    // docker_image_src.go newImageSource: no matching registry means the
    // reference's own domain, secure.
    let sources = match find_registry(&cfg.registries, name) {
        Some(reg) if reg.blocked => {
            plan.blocked = blocked_reason(cfg, image_or_registry);
            return plan;
        }
        Some(reg) => match pull_sources(reg, image_or_registry, by_digest) {
            Ok(s) => s,
            Err(e) => {
                plan.findings.push(origin_error(&reg.origin, &e));
                plan.problems.push(e);
                return plan;
            }
        },
        None => vec![PullSource {
            role: Role::Upstream,
            location: domain_part(image_or_registry).to_owned(),
            insecure: false,
            proxy: None,
            reference: image_or_registry.to_owned(),
            origin: Origin {
                file: String::new(),
                line: None,
            },
        }],
    };

    for src in &sources {
        let domain = domain_part(&src.reference);
        // newDockerClient refuses a physical reference that a blocked registry covers.
        if let Some(reg) = find_registry(&cfg.registries, name_part(&src.reference))
            && reg.blocked
            && src.role == Role::Mirror
        {
            let why = format!(
                "mirror {} skipped: registry {} is blocked in {}",
                src.location,
                reg.prefix,
                reg.origin.describe()
            );
            plan.findings.push(origin_error(&src.origin, &why));
            plan.problems.push(why);
            continue;
        }
        let (host, port) = crate::config::net::hostport::split_lenient(domain);
        let host = if host == DOCKER_HOSTNAME {
            DOCKER_REGISTRY.to_owned()
        } else {
            host
        };
        let source = if src.origin.file.is_empty() && src.origin.line.is_none() {
            "default".to_owned()
        } else {
            src.origin.describe()
        };
        let proxy = src.proxy.clone();

        let mut https = Endpoint::https(&host, port.unwrap_or(Scheme::Https.default_port()));
        https.role = src.role;
        https.proxy.clone_from(&proxy);
        https.source.clone_from(&source);
        // certs.d is looked up by the reference's host:port (docker.io, not registry-1).
        if let Some(dir) = certs_dir_for(root, domain) {
            if let Some(tls) = crate::config::runtime::docker::read_certs_dir(
                root,
                &dir,
                &format!("CRI-O fails every pull from {domain}"),
                &mut plan.findings,
                &mut plan.problems,
            ) {
                https.tls = tls;
            }
        }
        https.tls.skip_verify = src.insecure;
        // One host to the runtime: https (unverified), then http after any ping failure.
        https.http_fallback = src.insecure.then(|| HttpFallback {
            port: port.unwrap_or(Scheme::Http.default_port()),
            on_any_error: true,
            proxy: None,
        });
        // The manifest is asked for under the rewritten repository (prefix -> location).
        let repository = name_part(&src.reference)
            .split_once('/')
            .map(|(_, path)| path.to_owned());
        let original = name_part(image_or_registry)
            .split_once('/')
            .map(|(_, path)| path.to_owned());
        if repository != original {
            https.repository = repository;
        }
        plan.endpoints.push(https);
    }
    plan.pull_sources = sources;
    plan
}

/// An error at a `[[registry]]` or `[[registry.mirror]]` table.
fn origin_error(origin: &Origin, message: &str) -> Source {
    let path = if origin.file.is_empty() {
        REGISTRIES_CONF
    } else {
        &origin.file
    };
    Source::finding(path, "crio", Severity::Error, origin.line, message)
}

/// The endpoints a pull would try, in order; empty when blocked (see [`blocked_reason`]).
#[must_use]
pub fn endpoints_for(
    cfg: &CrioConfig,
    root: &HostRoot,
    image_or_registry: &str,
    by_digest: bool,
) -> Vec<Endpoint> {
    plan(cfg, root, image_or_registry, by_digest).endpoints
}

/// Every registry host the configuration names: locations, non-wildcard
/// prefixes, mirrors and unqualified-search registries, in first-seen order.
#[must_use]
pub fn registries(cfg: &CrioConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        let d = domain_part(s);
        if !d.is_empty() && !d.starts_with("*.") && !out.iter().any(|o| o == d) {
            out.push(d.to_owned());
        }
    };
    for r in &cfg.registries.registries {
        add(&r.prefix);
        add(&r.location);
        for m in &r.mirrors {
            add(&m.location);
        }
    }
    for s in cfg
        .registries
        .unqualified_search_registries
        .iter()
        .flatten()
    {
        add(s);
    }
    out
}

impl crate::config::runtime::backend::RuntimeConfig for CrioConfig {
    fn registries(&self, _root: &HostRoot) -> Vec<String> {
        registries(self)
    }

    fn plan(
        &self,
        root: &HostRoot,
        registry: &str,
        image: Option<&crate::reference::Reference>,
    ) -> crate::config::runtime::backend::RegistryPlan {
        let what = image.map_or_else(|| registry.to_owned(), ToString::to_string);
        let by_digest = image.is_some_and(|r| r.digest.is_some());
        let p = plan(self, root, &what, by_digest);
        let mut remarks = Vec::new();
        if let Some(why) = &p.blocked {
            remarks.push(format!(
                "{why}: CRI-O refuses every pull from it; remove `blocked = true` there to allow it"
            ));
        }
        remarks.extend(p.problems);
        remarks.extend(insecure_registries_remark(self, registry));
        let mut endpoints = p.endpoints;
        // Without a credential from the kubelet, CRI-O asks its auth files,
        // per location contacted (a mirror by its own name).
        for ep in &mut endpoints {
            if ep.credential.is_none() {
                let repo = ep
                    .repository
                    .clone()
                    .or_else(|| image.map(|i| i.path.clone()))
                    .unwrap_or_default();
                let name = if repo.is_empty() {
                    ep.authority()
                } else {
                    format!("{}/{repo}", ep.authority())
                };
                ep.credential = self.auth_for(&name);
            }
        }
        crate::config::runtime::backend::RegistryPlan {
            endpoints,
            remarks,
            sources: p.findings,
            blocked: p.blocked,
        }
    }
}

/// crio.conf's `insecure_registries` for `registry`: honoured before 1.35,
/// ignored since, so say so when registries.conf does not cover it.
fn insecure_registries_remark(cfg: &CrioConfig, registry: &str) -> Option<String> {
    let listed = cfg
        .crio
        .insecure_registries
        .iter()
        .flatten()
        .any(|r| r == registry);
    let insecure_in_conf = find_registry(&cfg.registries, registry)
        .is_some_and(|r| r.insecure && r.prefix == registry);
    if !listed || insecure_in_conf {
        return None;
    }
    let at = cfg
        .crio
        .insecure_registries_source
        .as_deref()
        .unwrap_or(CRIO_CONF);
    Some(format!(
        "{registry} is in crio.conf insecure_registries ({at}), which CRI-O 1.35+ ignores: add a [[registry]] with location = \"{registry}\" and insecure = true to registries.conf"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::config::fixture("crio", name)
    }

    // Drop-ins of containers/image pkg/sysregistriesv2/testdata/registries.conf.d
    // (containers/image @ config-1 8e40c84, subdomain-override-* da93a53/3734406),
    // embedded verbatim; config-2.conf is the shared fixture. config-3.ignore
    // is not a *.conf file and is never read.
    const CONFIG_1: &str = "unqualified-search-registries = [\"example-overwrite.com\"]\n\n[[registry]]\nlocation = \"1.com\"\n\n[aliases]\ndocker=\"docker.io/library/config1\"\nconfig1=\"config1.com/image\"\nbarz=\"barz.com/image/config1\"\n";
    const SUBDOMAIN_OVERRIDE_1: &str = "[[registry]]\nlocation = \"subdomain-prefix-1-overridden-by-dropin-location.com\"\nprefix = \"*.not.quite.simple-prefix.com\"\n";
    const SUBDOMAIN_OVERRIDE_2: &str = "[[registry]]\nlocation = \"subdomain-prefix-2-overridden-by-dropin-location.com\"\nprefix = \"*.docker.com\"\n";
    const SUBDOMAIN_OVERRIDE_3: &str = "[[registry]]\nlocation = \"subdomain-prefix-3-overridden-by-dropin-location.com\"\nprefix = \"*.bar.example.com\"\n";
    // testdata/base-for-registries.d.conf (containers/image @ eee0de5), verbatim.
    const BASE_FOR_REGISTRIES_D: &str = "unqualified-search-registries = [\"example.com\"]\n\n[[registry]]\nlocation = \"base.com\"\ninsecure = true";
    // testdata/v1-compatibility.conf, mixing-v1-v2.conf, mixing-v1-v2-empty.conf (containers/image), verbatim.
    const V1_COMPATIBILITY: &str = "[registries.search]\nregistries = [\"registry-a.com////\", \"registry-c.com\", \"registry-d.com\"]\n\n[registries.block]\nregistries = [\"registry-b.com\"]\n\n[registries.insecure]\nregistries = [\"registry-d.com\", \"registry-e.com\", \"registry-a.com\"]\n";
    const MIXING_V1_V2: &str = "[registries.search]\nregistries = [\"registry-a.com\", \"registry-c.com\"]\n\n[registries.block]\nregistries = [\"registry-b.com\"]\n\n[registries.insecure]\nregistries = [\"registry-d.com\", \"registry-e.com\", \"registry-a.com\"]\n\n[[registry]]\nlocation = \"registry-a.com\"\nunqualified-search = true\n\n[[registry]]\nlocation = \"registry-b.com\"\n\n[[registry]]\nlocation = \"registry-c.com\"\nunqualified-search = true\n";
    const MIXING_V1_V2_EMPTY: &str = "unqualified-search-registries = []\n\n[registries.search]\nregistries = []\n\n[registries.block]\nregistries = []\n\n[registries.insecure]\nregistries = []\n";

    fn with_drop_ins(base: &str) -> RegistriesConf {
        let mut conf = parse_registries(base).unwrap();
        let config_2 = fixture("containers-image-testdata-registries.conf.d-config-2.conf");
        for d in [
            CONFIG_1,
            &config_2,
            SUBDOMAIN_OVERRIDE_1,
            SUBDOMAIN_OVERRIDE_2,
            SUBDOMAIN_OVERRIDE_3,
        ] {
            let d = parse_registries(d).unwrap();
            assert!(!d.v1_format);
            conf.merge(d);
        }
        conf
    }

    fn location<'a>(conf: &'a RegistriesConf, r: &str) -> Option<&'a str> {
        find_registry(conf, r).map(|r| r.location.as_str())
    }

    /// Port of `TestFindRegistry` (find-registry.conf + testdata/registries.conf.d).
    #[test]
    fn find_registry_upstream_table() {
        let conf = with_drop_ins(&fixture("containers-image-testdata-find-registry.conf"));
        assert_eq!(conf.registries.len(), 19);

        let reg = find_registry(&conf, "simple-prefix.com/foo/bar:latest").unwrap();
        assert_eq!(reg.prefix, "simple-prefix.com");
        assert_eq!(reg.location, "registry.com:5000");
        assert!(find_registry(&conf, "simple-prefix.com/").is_some());
        assert!(find_registry(&conf, "simple-prefix.com").is_some());
        for (r, loc) in [
            ("not.so.simple-prefix.com/", "subdomain-prefix.com"),
            ("not.quite.simple-prefix.com/", "subdomain-prefix-2.com"),
            (
                "not.quite.simple-prefix.com:5000/with/path/and/beyond:tag",
                "subdomain-prefix-2.com",
            ),
            (
                "really.not.quite.simple-prefix.com:5000/with/path/and/beyond:tag",
                "subdomain-prefix-1-overridden-by-dropin-location.com",
            ),
            (
                "foo.docker.io:5000/omg/wtf/bbq:foo",
                "subdomain-prefix-2.com",
            ),
            (
                "foo.bar.example.com:6000/omg/wtf/bbq@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "subdomain-prefix-3-overridden-by-dropin-location.com",
            ),
            (
                "foo.bar.docker.io:5000/omg/wtf/bbq:foo",
                "subdomain-prefix-4.com",
            ),
            (
                "foo.bar.example.com:5000/omg/wtf/bbq:foo",
                "subdomain-prefix-5.com",
            ),
        ] {
            assert_eq!(location(&conf, r), Some(loc), "{r}");
        }
        assert!(find_registry(&conf, "simple-prefix.comx").is_none());
        let reg = find_registry(&conf, "complex-prefix.com:4000/with/path/and/beyond:tag").unwrap();
        assert_eq!(reg.prefix, "complex-prefix.com:4000/with/path");
        assert_eq!(reg.location, "another-registry.com:5000");
        let reg = find_registry(&conf, "no-prefix.com/foo:tag").unwrap();
        assert_eq!(
            (reg.prefix.as_str(), reg.location.as_str()),
            ("no-prefix.com", "no-prefix.com")
        );
        let reg = find_registry(&conf, "empty-prefix.com/foo:tag").unwrap();
        assert_eq!(
            (reg.prefix.as_str(), reg.location.as_str()),
            ("empty-prefix.com", "empty-prefix.com")
        );
    }

    /// Port of `TestRegistriesConfDirectory` (base-for-registries.d.conf + drop-ins).
    #[test]
    fn registries_conf_directory_merge() {
        let conf = with_drop_ins(BASE_FOR_REGISTRIES_D);
        assert_eq!(
            conf.unqualified_search_registries,
            Some(vec!["example-overwrite.com".to_owned()])
        );
        let locations: Vec<&str> = conf
            .registries
            .iter()
            .map(|r| r.location.as_str())
            .collect();
        assert_eq!(
            locations,
            [
                "subdomain-prefix-3-overridden-by-dropin-location.com",
                "subdomain-prefix-2-overridden-by-dropin-location.com",
                "subdomain-prefix-1-overridden-by-dropin-location.com",
                "1.com",
                "2.com",
                "base.com"
            ]
        );
        let base = find_registry(&conf, "base.com/test:latest").unwrap();
        assert!(base.blocked);
        // Replaced whole by the drop-in: the base file's insecure = true is gone.
        assert!(!base.insecure);
        // TestCredentialHelpers / TestGetShortNameMode values from config-2.conf.
        assert_eq!(
            conf.credential_helpers,
            Some(vec!["dropin-1".to_owned(), "dropin-2".to_owned()])
        );
        assert_eq!(conf.short_name_mode.as_deref(), Some("permissive"));
        // config-2 erases `example` (empty value) and overrides `barz`.
        assert_eq!(
            conf.aliases.get("barz").map(String::as_str),
            Some("barz.com/config2")
        );
        assert_eq!(
            conf.aliases.get("docker").map(String::as_str),
            Some("docker.io/library/config1")
        );
        assert!(!conf.aliases.contains_key("example"));
    }

    /// Rows of `TestPullSourcesFromReference`: prefix, digest locations/insecure, tag locations/insecure.
    type Case<'a> = (
        &'a str,
        &'a [&'a str],
        &'a [bool],
        &'a [&'a str],
        &'a [bool],
    );

    /// Port of `TestPullSourcesFromReference` (pull-sources-from-reference.conf).
    #[test]
    fn pull_sources_upstream_table() {
        let conf = parse_registries(&fixture(
            "containers-image-testdata-pull-sources-from-reference.conf",
        ))
        .unwrap();
        assert_eq!(conf.registries.len(), 9);
        let digest = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let tag = ":aaa";
        let cases: &[Case] = &[
            (
                "registry-a.com/foo",
                &[
                    "mirror-1.registry-a.com",
                    "mirror-2.registry-a.com",
                    "registry-a.com/bar",
                ],
                &[false, true, false],
                &[
                    "mirror-1.registry-a.com",
                    "mirror-2.registry-a.com",
                    "registry-a.com/bar",
                ],
                &[false, true, false],
            ),
            (
                "registry-b.com/foo",
                &[
                    "mirror-1.registry-b.com",
                    "mirror-2.registry-b.com",
                    "registry-b.com/bar",
                ],
                &[false, false, false],
                &["registry-b.com/bar"],
                &[false],
            ),
            (
                "registry-a.com/baz",
                &[
                    "mirror-1.registry-a.com",
                    "mirror-2.registry-a.com",
                    "registry-a.com/bar",
                ],
                &[false, true, false],
                &[
                    "mirror-1.registry-a.com",
                    "mirror-2.registry-a.com",
                    "registry-a.com/bar",
                ],
                &[false, true, false],
            ),
            (
                "registry-b.com/baz",
                &[
                    "mirror-1.registry-b.com",
                    "mirror-2.registry-b.com",
                    "registry-b.com/bar",
                ],
                &[false, false, false],
                &["registry-b.com/bar"],
                &[false],
            ),
            (
                "registry-c.com/baz",
                &[
                    "mirror-1.registry-c.com",
                    "mirror-2.registry-c.com",
                    "registry-c.com/bar",
                ],
                &[false, false, false],
                &["mirror-1.registry-c.com", "registry-c.com/bar"],
                &[false, false],
            ),
            (
                "registry-d.com/baz",
                &[
                    "mirror-1.registry-d.com",
                    "mirror-2.registry-d.com",
                    "registry-d.com/bar",
                ],
                &[false, false, false],
                &["registry-d.com/bar"],
                &[false],
            ),
            (
                "registry-e.com/baz",
                &["registry-e.com/bar"],
                &[false],
                &[
                    "mirror-1.registry-e.com",
                    "mirror-2.registry-e.com",
                    "registry-e.com/bar",
                ],
                &[false, false, false],
            ),
            (
                "registry-f.com/baz",
                &["mirror-1.registry-f.com", "registry-f.com/bar"],
                &[false, false],
                &[
                    "mirror-1.registry-f.com",
                    "mirror-2.registry-f.com",
                    "registry-f.com/bar",
                ],
                &[false, false, false],
            ),
            (
                "registry-g.com/baz",
                &[
                    "mirror-1.registry-g.com",
                    "mirror-3.registry-g.com",
                    "mirror-4.registry-g.com",
                    "registry-g.com/bar",
                ],
                &[false, false, false, false],
                &[
                    "mirror-2.registry-g.com",
                    "mirror-3.registry-g.com",
                    "mirror-4.registry-g.com",
                    "registry-g.com/bar",
                ],
                &[false, false, false, false],
            ),
        ];
        for (prefix, dig_locs, dig_insecure, tag_locs, tag_insecure) in cases {
            for (suffix, by_digest, locs, insecure) in [
                (digest, true, dig_locs, dig_insecure),
                (tag, false, tag_locs, tag_insecure),
            ] {
                let reference = format!("{prefix}/image{suffix}");
                let reg = find_registry(&conf, name_part(&reference)).unwrap();
                let sources = pull_sources(reg, &reference, by_digest).unwrap();
                let got: Vec<&str> = sources.iter().map(|s| s.location.as_str()).collect();
                assert_eq!(&got, locs, "{reference}");
                let got: Vec<bool> = sources.iter().map(|s| s.insecure).collect();
                assert_eq!(&got, insecure, "{reference}");
                for (s, loc) in sources.iter().zip(locs.iter()) {
                    assert_eq!(s.reference, format!("{loc}/image{suffix}"));
                }
                assert_eq!(sources.last().unwrap().role, Role::Upstream);
            }
        }
    }

    /// Port of `TestRefMatchingSubdomainPrefix` and `TestRefMatchingPrefix`.
    #[test]
    fn ref_matching_tables() {
        let a = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let b = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        let sub: &[(&str, &str, Option<usize>)] = &[
            ("docker.io", "*.io", Some(9)),
            ("docker.io/foo", "*.com", None),
            ("example.com/foo", "*.co", None),
            ("example.com/foo", "*.example.com", None),
            ("example.com/foo", "*.com", Some(11)),
            ("example.com/foo:bar", "*.com", Some(11)),
            ("example.com/foo/bar:baz", "*.com", Some(11)),
            ("yet.another.example.com/foo", "**.example.com", None),
            (
                "yet.another.example.com/foo",
                "***.another.example.com",
                None,
            ),
            (
                "yet.another.example.com/foo",
                "**********.another.example.com",
                None,
            ),
            (
                "yet.another.example.com/foo/bar",
                "**********.another.example.com",
                None,
            ),
            (
                "yet.another.example.com/foo/bar",
                "*.another.example.com",
                Some(23),
            ),
            (
                "another.example.com/namespace.com/foo/bar/bbq:baz",
                "*.example.com",
                Some(19),
            ),
            (
                "example.net/namespace-ends-in.com/foo/bar/bbq:baz",
                "*.com",
                None,
            ),
            (
                "another.example.com/namespace.com/foo/bar/bbq:baz",
                "*.namespace.com",
                None,
            ),
            ("sub.example.com/foo/bar", "*.com", Some(15)),
            ("sub.example.com/foo/bar", "*.example.com", Some(15)),
            (
                "another.sub.example.com/foo/bar/bbq:baz",
                "*.example.com",
                Some(23),
            ),
            (
                "another.sub.example.com/foo/bar/bbq:baz",
                "*.sub.example.com",
                Some(23),
            ),
        ];
        for (r, p, want) in sub {
            assert_eq!(ref_matching_subdomain_prefix(r, p), *want, "{r} vs {p}");
        }
        let digested = format!("yet.another.example.com/foo/bar@{a}");
        assert_eq!(
            ref_matching_subdomain_prefix(&digested, "*.example.com"),
            Some(23)
        );

        let plain: Vec<(String, String, Option<usize>)> = vec![
            ("docker.io".into(), "docker.io".into(), Some(9)),
            ("docker.io".into(), "example.com".into(), None),
            (
                "example.com:5000".into(),
                "example.com:5000".into(),
                Some(16),
            ),
            ("example.com:50000".into(), "example.com:5000".into(), None),
            ("example.com:5000".into(), "example.com".into(), Some(11)),
            ("example.com/foo".into(), "example.com".into(), Some(11)),
            (
                "example.com/foo/bar:baz".into(),
                "example.com".into(),
                Some(11),
            ),
            (
                format!("example.com/foo/bar@{a}"),
                "example.com".into(),
                Some(11),
            ),
            ("docker.io".into(), "docker.io/library".into(), None),
            (
                "docker.io/library".into(),
                "docker.io/library".into(),
                Some(17),
            ),
            (
                "example.com/library".into(),
                "docker.io/library".into(),
                None,
            ),
            (
                "docker.io/libraryy".into(),
                "docker.io/library".into(),
                None,
            ),
            (
                "docker.io/library/busybox".into(),
                "docker.io/library".into(),
                Some(17),
            ),
            (
                "docker.io/library/busybox2".into(),
                "docker.io/library/busybox".into(),
                None,
            ),
            ("example.com/foo".into(), "example.com/foo:bar".into(), None),
            (
                "example.com/foo:bar".into(),
                "example.com/foo:bar".into(),
                Some(19),
            ),
            (
                "example.com/foo:bar2".into(),
                "example.com/foo:bar".into(),
                None,
            ),
            (
                format!("example.com/foo@{a}"),
                format!("example.com/foo@{a}"),
                Some(16 + a.len()),
            ),
            (
                format!("example.com/foo@{b}"),
                format!("example.com/foo@{a}"),
                None,
            ),
            ("example.com/foo".into(), "*".into(), None),
        ];
        for (r, p, want) in &plain {
            assert_eq!(ref_matching_prefix(r, p), *want, "{r} vs {p}");
        }
    }

    /// Port of `TestRewriteReferenceSuccess` (the rows that need no reference validation).
    #[test]
    fn rewrite_reference_table() {
        for (input, prefix, location, want) in [
            (
                "example.com/image",
                "example.com",
                "example.com",
                "example.com/image",
            ),
            (
                "example.com:5000/image:latest",
                "example.com:5000",
                "example.com:5000",
                "example.com:5000/image:latest",
            ),
            (
                "example.com/foo/image:latest",
                "example.com/foo",
                "example.com/path",
                "example.com/path/image:latest",
            ),
            (
                "docker.io/library/image",
                "docker.io/library",
                "example.com",
                "example.com/image",
            ),
            (
                "docker.io/library/image",
                "docker.io",
                "example.com",
                "example.com/library/image",
            ),
            (
                "docker.io/namespace/image",
                "*.io",
                "example.com",
                "example.com/namespace/image",
            ),
            (
                "another.sub.example.io:5000/library/prefix/image:latest",
                "*.sub.example.io",
                "example.com",
                "example.com:5000/library/prefix/image:latest",
            ),
            (
                "foo.bar.io/ns1/ns2/ns3/ns4",
                "*.bar.io",
                "omg.bbq.com/roflmao",
                "omg.bbq.com/roflmao/ns1/ns2/ns3/ns4",
            ),
            (
                "abc.internal.registry.com/foo:bar",
                "*.internal.registry.com",
                "",
                "abc.internal.registry.com/foo:bar",
            ),
            (
                "alien.vs.predator.foobar.io:5000/omg:bbq",
                "*.foobar.io",
                "",
                "alien.vs.predator.foobar.io:5000/omg:bbq",
            ),
        ] {
            assert_eq!(
                rewrite_reference(location, input, prefix).as_deref(),
                Ok(want),
                "{input}"
            );
        }
        assert!(
            rewrite_reference("example.com", "docker.io/library/image", "example.com").is_err()
        );
        assert!(rewrite_reference("", "example.com:5000/image:latest", "example.com").is_err());
    }

    /// `TestMixingV1andV2`, `TestV1BackwardsCompatibility`, `TestInvalidMirrorConfig` messages.
    #[test]
    fn v1_conversion_and_invalid_configs() {
        for text in [MIXING_V1_V2, MIXING_V1_V2_EMPTY] {
            let err = parse_registries(text).unwrap_err();
            assert!(
                err.message
                    .contains("mixing sysregistry v1/v2 is not supported"),
                "{err}"
            );
        }
        let conf = parse_registries(V1_COMPATIBILITY).unwrap();
        assert!(conf.v1_format);
        assert_eq!(conf.registries.len(), 4);
        assert_eq!(
            conf.unqualified_search_registries,
            Some(vec![
                "registry-a.com".to_owned(),
                "registry-c.com".to_owned(),
                "registry-d.com".to_owned()
            ])
        );
        let b = find_registry(&conf, "registry-b.com/bar/foo/barfoo:latest").unwrap();
        assert!(b.blocked);
        assert!(find_registry(&conf, "registry-a.com/x").unwrap().insecure);
        assert!(find_registry(&conf, "registry-c.com/x").is_none());

        for (text, want, line) in [
            (
                "[[registry]]\nprefix = \"registry-a.com/foo\"\nlocation = \"registry-a.com/bar\"\npull-from-mirror = \"digest-only\"\n",
                "pull-from-mirror must not be set for a non-mirror registry \"registry-a.com/foo\"",
                Some(1),
            ),
            (
                "[[registry]]\nprefix = \"registry-a.com/foo\"\nlocation = \"registry-a.com/bar\"\nmirror-by-digest-only = true\n\n[[registry.mirror]]\nlocation = \"mirror-1.registry-a.com\"\npull-from-mirror = \"digest-only\"\n",
                "cannot set mirror usage mirror-by-digest-only for the registry (\"registry-a.com/foo\") and pull-from-mirror for per-mirror (\"mirror-1.registry-a.com\") at the same time",
                Some(6),
            ),
            (
                "[[registry]]\nprefix = \"registry-a.com/foo\"\nlocation = \"registry-a.com/bar\"\n\n[[registry.mirror]]\nlocation = \"mirror-1.registry-a.com\"\npull-from-mirror = \"notvalid\"\n",
                "unsupported pull-from-mirror value \"notvalid\" for mirror \"mirror-1.registry-a.com\"",
                Some(5),
            ),
            (
                "[[registry]]\nlocation = \"registry.com\"\n\n[[registry]]\nlocation = \"registry.com\"\ninsecure = true\n",
                "registry 'registry.com' is defined multiple times with conflicting 'insecure' setting",
                Some(4),
            ),
            (
                "[[registry]]\nlocation = \"https://x.com\"\n",
                "invalid location 'https://x.com': URI schemes are not supported",
                Some(1),
            ),
            (
                "[[registry]]\nlocation = \"x.com\"\n[[registry.mirror]]\ninsecure = true\n",
                "invalid condition: mirror location is unset",
                Some(3),
            ),
            (
                "[[registry]]\nprefix = \"*.x.com/ns\"\n",
                "Wildcarded prefix should be in the format",
                Some(1),
            ),
            (
                "[[registry]]\nlocation = \"x.com\"\nproxy = \"ftp://p:1\"\n",
                "proxy URL scheme \"ftp\" is not supported",
                Some(1),
            ),
            (
                "short-name-mode = \"xxx\"\n",
                "invalid short-name mode: \"xxx\"",
                None,
            ),
        ] {
            let err = parse_registries(text).unwrap_err();
            assert!(err.message.contains(want), "{err} !~ {want}");
            assert_eq!(err.line, line, "{want}");
        }
        let err =
            parse_registries("[[registry]]\nlocation = \"x\"\ninsecure = \"yes\"\n").unwrap_err();
        assert_eq!(err.line, Some(3));
    }

    /// A `proxy` with a password is a `ProxyUrl` from parsing on: the
    /// password reaches the endpoint as `Proxy-Authorization` only, and no
    /// `Debug` or error message shows it.
    #[test]
    fn proxy_passwords_stay_secret() {
        let text = "[[registry]]\nlocation = \"a.test\"\nproxy = \"http://bob:pr0xy-s3cret@proxy.test:3128\"\n\n[[registry.mirror]]\nlocation = \"m.test\"\nproxy = \"socks5://eve:m1rror-s3cret@socks.test:1080\"\n";
        let conf = parse_registries(text).unwrap();
        let shown = format!("{conf:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("proxy.test:3128"),
            "{shown}"
        );
        let cfg = CrioConfig {
            registries: conf,
            crio: CrioConf::default(),
            auth_files: Vec::new(),
        };
        let eps = endpoints_for(&cfg, &HostRoot::new("/nonexistent"), "a.test/x:1", false);
        let upstream = eps[1].proxy.as_ref().unwrap();
        assert_eq!(upstream.redacted(), "http://redacted@proxy.test:3128");
        assert!(upstream.basic_authorization().is_some());
        assert_eq!(eps[0].proxy.as_ref().unwrap().scheme(), "socks5");
        // A value that does not parse is not quoted back.
        let err = parse_registries(
            "[[registry]]\nlocation = \"a.test\"\nproxy = \"http://bob:pr0xy-s3cret@[bad\"\n",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn minikube_v1_and_kubespray_fixtures() {
        let v1 = parse_registries(&fixture("minikube-iso-registries-v1-format.conf")).unwrap();
        assert!(v1.v1_format);
        assert!(v1.registries.is_empty());
        assert_eq!(
            v1.unqualified_search_registries,
            Some(vec!["docker.io".to_owned()])
        );

        let k =
            parse_registries(&fixture("kubespray-registries.conf.d-10-docker.io.conf")).unwrap();
        assert_eq!(k.registries.len(), 1);
        let r = &k.registries[0];
        assert_eq!(
            (
                r.prefix.as_str(),
                r.location.as_str(),
                r.insecure,
                r.blocked
            ),
            ("docker.io", "registry-1.docker.io", false, false)
        );
        let m: Vec<(&str, bool, Option<usize>)> = r
            .mirrors
            .iter()
            .map(|m| (m.location.as_str(), m.insecure, m.origin.line))
            .collect();
        assert_eq!(
            m,
            [
                ("192.168.100.100:5000", true, Some(7)),
                ("mirror.gcr.io", false, Some(11))
            ]
        );
        assert_eq!(r.origin.line, Some(1));
    }

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn discover_merges_drop_ins_and_builds_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            REGISTRIES_CONF,
            &fixture("minikube-iso-registries-v1-format.conf"),
        );
        write(
            dir.path(),
            "/etc/containers/registries.conf.d/10-docker.io.conf",
            &fixture("kubespray-registries.conf.d-10-docker.io.conf"),
        );
        write(
            dir.path(),
            "/etc/containers/registries.conf.d/20-blocked.conf",
            "[[registry]]\nlocation = \"evil.example\"\nblocked = true\n",
        );
        write(
            dir.path(),
            "/etc/containers/registries.conf.d/30-v1.conf",
            "[registries.search]\nregistries = ['quay.io']\n",
        );
        write(
            dir.path(),
            "/etc/containers/registries.conf.d/README",
            "not a drop-in",
        );
        write(
            dir.path(),
            CRIO_CONF,
            "[crio.image]\nglobal_auth_file = \"/etc/crio/auth.json\"\ninsecure_registries = [\"10.0.0.0/8\"]\n",
        );
        write(
            dir.path(),
            "/etc/crio/crio.conf.d/01-override.conf",
            "[crio]\n[crio.image]\n\ninsecure_registries = [\"myreg:5000\"]\n",
        );
        // certs.d for the insecure mirror: a CA and a client pair.
        for f in ["ca.crt", "client.cert", "client.key"] {
            write(
                dir.path(),
                &format!("/etc/containers/certs.d/192.168.100.100:5000/{f}"),
                "x",
            );
        }
        // A lone key in /etc/docker/certs.d is what the runtime fails on.
        write(
            dir.path(),
            "/etc/docker/certs.d/mirror.gcr.io/orphan.key",
            "x",
        );

        let (cfg, sources) = discover(&root);
        let paths: Vec<(&str, bool)> = sources
            .iter()
            .map(|s| (s.path.as_str(), s.message().is_none()))
            .collect();
        assert_eq!(
            paths,
            [
                (REGISTRIES_CONF, true),
                ("/etc/containers/registries.conf.d/10-docker.io.conf", true),
                ("/etc/containers/registries.conf.d/20-blocked.conf", true),
                ("/etc/containers/registries.conf.d/30-v1.conf", false),
                (CRIO_CONF, false),
                ("/etc/crio/crio.conf.d/01-override.conf", false),
            ]
        );
        // insecure_registries: version-dependent, a warning at its line.
        let lines: Vec<(Severity, Option<usize>)> = sources[4..]
            .iter()
            .map(|s| (s.severity(), s.line()))
            .collect();
        assert_eq!(
            lines,
            [(Severity::Warning, Some(3)), (Severity::Warning, Some(4))]
        );
        assert_eq!(
            (sources[3].severity(), sources[3].line()),
            (Severity::Error, Some(1))
        );
        assert_eq!(
            sources[3].message().as_deref(),
            Some("registry must be in v2 format but is in v1")
        );
        assert_eq!(
            cfg.crio.global_auth_file.as_deref(),
            Some("/etc/crio/auth.json")
        );
        assert_eq!(
            cfg.crio.global_auth_file_source.as_deref(),
            Some("/etc/crio/crio.conf:2")
        );
        assert_eq!(
            cfg.crio.insecure_registries,
            Some(vec!["myreg:5000".to_owned()])
        );
        assert_eq!(
            cfg.crio.insecure_registries_source.as_deref(),
            Some("/etc/crio/crio.conf.d/01-override.conf:4")
        );
        assert_eq!(
            cfg.registries.unqualified_search_registries,
            Some(vec!["docker.io".to_owned()])
        );

        let p = plan(&cfg, &root, "docker.io/library/nginx:latest", false);
        let got: Vec<(String, Role, bool)> = p
            .endpoints
            .iter()
            .map(|e| (e.url(), e.role, e.tls.skip_verify))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "https://192.168.100.100:5000/v2/".to_owned(),
                    Role::Mirror,
                    true
                ),
                ("https://mirror.gcr.io/v2/".to_owned(), Role::Mirror, false),
                (
                    "https://registry-1.docker.io/v2/".to_owned(),
                    Role::Upstream,
                    false
                ),
            ]
        );
        let drop_in = "/etc/containers/registries.conf.d/10-docker.io.conf";
        assert_eq!(p.endpoints[0].source, format!("{drop_in}:7"));
        assert_eq!(
            p.endpoints[0].http_fallback,
            Some(HttpFallback {
                port: 5000,
                on_any_error: true,
                proxy: None
            })
        );
        assert_eq!(p.endpoints[1].http_fallback, None);
        assert_eq!(p.endpoints[1].source, format!("{drop_in}:11"));
        assert_eq!(p.endpoints[2].source, format!("{drop_in}:1"));
        let certs = dir
            .path()
            .join("etc/containers/certs.d/192.168.100.100:5000");
        assert_eq!(p.endpoints[0].tls.ca_files, [certs.join("ca.crt")]);
        assert_eq!(
            p.endpoints[0].tls.client_certs,
            [crate::target::ClientCert {
                cert: certs.join("client.cert"),
                key: certs.join("client.key")
            }]
        );
        assert_eq!(
            p.problems,
            [
                "/etc/docker/certs.d/mirror.gcr.io: missing client certificate orphan.cert for key orphan.key"
            ]
        );
        // Each certs.d read is listed; the one at fault is an error of its own,
        // CRI-O fails the pull.
        let dirs: Vec<(&str, &str, Severity)> = p
            .findings
            .iter()
            .map(|s| (s.path.as_str(), s.kind.as_str(), s.severity()))
            .collect();
        assert_eq!(
            dirs,
            [
                (
                    "/etc/containers/certs.d/192.168.100.100:5000",
                    "certs.d",
                    Severity::Ok
                ),
                (
                    "/etc/docker/certs.d/mirror.gcr.io",
                    "certs.d",
                    Severity::Error
                )
            ]
        );
        let sources: Vec<&str> = p
            .pull_sources
            .iter()
            .map(|s| s.reference.as_str())
            .collect();
        assert_eq!(
            sources,
            [
                "192.168.100.100:5000/library/nginx:latest",
                "mirror.gcr.io/library/nginx:latest",
                "registry-1.docker.io/library/nginx:latest"
            ]
        );

        // Blocked: no endpoints, and a reason naming the file and line.
        let b = plan(&cfg, &root, "evil.example/app:1", false);
        assert!(b.endpoints.is_empty());
        assert_eq!(
            b.blocked.as_deref(),
            Some(
                "registry evil.example is blocked in /etc/containers/registries.conf.d/20-blocked.conf:1"
            )
        );
        assert_eq!(blocked_reason(&cfg, "evil.example"), b.blocked);

        // Unconfigured registry: itself, secure, source default.
        let q = endpoints_for(&cfg, &root, "quay.io", false);
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].url(), q[0].source.as_str()),
            ("https://quay.io/v2/".to_owned(), "default")
        );

        assert_eq!(
            registries(&cfg),
            [
                "docker.io",
                "registry-1.docker.io",
                "192.168.100.100:5000",
                "mirror.gcr.io",
                "evil.example"
            ]
        );
    }

    #[test]
    fn pull_sources_fixture_endpoints_follow_digest_rules() {
        let cfg = CrioConfig {
            registries: parse_registries(&fixture(
                "containers-image-testdata-pull-sources-from-reference.conf",
            ))
            .unwrap(),
            crio: CrioConf::default(),
            auth_files: Vec::new(),
        };
        let root = HostRoot::new("/nonexistent-probe-root");
        let urls = |input: &str, by_digest: bool| -> Vec<String> {
            endpoints_for(&cfg, &root, input, by_digest)
                .iter()
                .map(Endpoint::url)
                .collect()
        };
        assert_eq!(
            urls("registry-a.com/foo/image:aaa", false),
            [
                "https://mirror-1.registry-a.com/v2/",
                "https://mirror-2.registry-a.com/v2/",
                "https://registry-a.com/v2/"
            ]
        );
        // The insecure mirror is one host: https, then http on port 80.
        let eps = endpoints_for(&cfg, &root, "registry-a.com/foo/image:aaa", false);
        assert_eq!(eps[1].http_fallback.as_ref().map(|f| f.port), Some(80));
        assert_eq!(
            urls("registry-b.com/foo/image:aaa", false),
            ["https://registry-b.com/v2/"]
        );
        // `@` in the reference makes it a digest pull even when by_digest is false.
        assert_eq!(
            urls(
                "registry-b.com/foo/image@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false
            ),
            [
                "https://mirror-1.registry-b.com/v2/",
                "https://mirror-2.registry-b.com/v2/",
                "https://registry-b.com/v2/"
            ]
        );
        assert_eq!(
            urls("registry-e.com/baz/image", true),
            ["https://registry-e.com/v2/"]
        );
    }

    fn fixtures() -> Vec<String> {
        vec![
            fixture("containers-image-testdata-find-registry.conf"),
            fixture("containers-image-testdata-pull-sources-from-reference.conf"),
            fixture("containers-image-testdata-registries.conf.d-config-2.conf"),
            fixture("kubespray-registries.conf.d-10-docker.io.conf"),
            fixture("minikube-iso-registries-v1-format.conf"),
        ]
    }

    fn exercise(text: &str) {
        let start = std::time::Instant::now();
        if let Ok(conf) = parse_registries(text) {
            let cfg = CrioConfig {
                registries: conf,
                crio: CrioConf::default(),
                auth_files: Vec::new(),
            };
            let root = HostRoot::new("/nonexistent-probe-root");
            for input in [
                "docker.io/library/nginx:latest",
                "registry-a.com/foo/x@sha256:ab",
                "a.b.simple-prefix.com",
                "",
            ] {
                let _ = plan(&cfg, &root, input, false);
            }
            let _ = registries(&cfg);
        }
        let _ = parse_crio_conf(text);
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
        fn mutated_fixtures_never_panic(
            which in 0usize..5,
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            ch in proptest::prelude::any::<char>(),
        ) {
            let text = &fixtures()[which];
            for damaged in crate::config::damaged(text, cut, at, ch) {
                exercise(&damaged);
            }
        }

        #[test]
        fn shuffled_fixture_lines_never_panic(lines in proptest::collection::vec(
            proptest::sample::select(fixtures().join("\n").lines().map(str::to_owned).collect::<Vec<_>>()), 0..40)
        ) {
            exercise(&lines.join("\n"));
        }
    }
}
