//! Docker `config.json` / Kubernetes `.dockerconfigjson` / legacy `.dockercfg`
//! credentials, matched to an image the way kubelet does for image pull
//! secrets and node credential files.
//!
//! Parsing follows kubernetes pkg/credentialprovider/config.go
//! (`DockerConfigJSON`, `DockerConfigEntry.UnmarshalJSON`,
//! `decodeDockerConfigFieldAuth`, in [`crate::config::credentials::basic_auth`]) and docker/cli cli/config/configfile/file.go
//! (`ConfigFile`: `auths`, `credsStore`, `credHelpers`, `identitytoken`,
//! `registrytoken`). Matching follows kubernetes
//! pkg/credentialprovider/keyring.go (`BasicDockerKeyring.Add`/`Lookup`,
//! `URLsMatch`, `isDefaultRegistryMatch`).
//!
//! It must not touch the disk (the caller reads the file through `HostRoot`)
//! and must not run credential helpers: `credsStore`/`credHelpers` are only
//! reported. Secrets live in [`Secret`]; [`DockerConfig`] is not `Serialize`
//! and its `Debug` shows no secret, and no error message quotes a value.

use crate::config::credentials::basic_auth::{self, AuthRules};
use crate::secret::Secret;
use crate::target::{Credential, CredentialSecret};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Which of the two file shapes the text had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"auths": {...}, ...}`: `config.json` and `.dockerconfigjson`.
    ConfigJson,
    /// `{"registry": {...}}` without the `auths` wrapper: `.dockercfg`.
    LegacyDockercfg,
}

/// One `auths` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEntry {
    /// The key as written (`https://index.docker.io/v1/`, `myreg.azurecr.io`).
    pub key: String,
    /// From `auth` (which wins, as in kubelet) or `username`.
    pub username: String,
    pub password: Option<Secret>,
    /// `identitytoken`: an `OAuth2` refresh token (`docker login` to ACR and others).
    pub identity_token: Option<Secret>,
    /// `registrytoken`: a bearer token sent as is.
    pub registry_token: Option<Secret>,
    pub email: Option<String>,
    /// The keyring index key kubelet derives from `key` (host plus a path
    /// other than `/v1/`/`/v2/`), or `None` if kubelet would drop the entry
    /// because the key does not parse as a URL.
    pub match_key: Option<String>,
}

impl AuthEntry {
    /// Whether the entry holds a credential itself ([`Self::credential`]
    /// gives one), not only a key a helper fills.
    fn has_credential(&self) -> bool {
        self.password.is_some() || !self.username.is_empty() || self.identity_token.is_some()
    }

    /// The credential this entry gives, if it has one we can use.
    fn credential(&self, label: &str) -> Option<Credential> {
        let secret = if let Some(token) = &self.identity_token {
            CredentialSecret::IdentityToken {
                username: self.username.clone(),
                token: token.clone(),
            }
        } else if self.password.is_some() || !self.username.is_empty() {
            CredentialSecret::Basic {
                username: self.username.clone(),
                password: self.password.clone().unwrap_or_default(),
            }
        } else {
            // A registrytoken alone has no `CredentialSecret` form (see the report).
            return None;
        };
        Some(Credential::new(
            secret,
            format!("{label} (key {:?})", self.key),
        ))
    }
}

/// A parsed docker config: its auth entries and the helpers it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerConfig {
    pub format: Format,
    /// Sorted by key.
    pub entries: Vec<AuthEntry>,
    /// `credsStore`: the default credential helper (`desktop`, `secretservice`, ...).
    pub creds_store: Option<String>,
    /// `credHelpers`: registry host -> helper suffix.
    pub cred_helpers: BTreeMap<String, String>,
    /// Where the file came from, for [`Credential::source`].
    pub label: String,
}

/// How a config file holds a registry's credentials ([`DockerConfig::held_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// In the file itself (`auth`, `username`/`password`, `identitytoken`).
    Inline,
    /// Only in credential helper `docker-credential-<helper>`, named by
    /// `setting` (`credsStore` or `credHelpers`).
    Helper {
        setting: &'static str,
        helper: String,
    },
}

/// Why the text is not a docker config; `line`/`column` are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Top-level fields of docker/cli's `ConfigFile`: if any is present, the file is
/// a `config.json` even without `auths` (e.g. only `credsStore`).
const CONFIG_JSON_FIELDS: &[&str] = &[
    "auths",
    "HttpHeaders",
    "psFormat",
    "imagesFormat",
    "networksFormat",
    "pluginsFormat",
    "volumesFormat",
    "statsFormat",
    "detachKeys",
    "credsStore",
    "credHelpers",
    "serviceInspectFormat",
    "servicesFormat",
    "tasksFormat",
    "secretFormat",
    "configFormat",
    "nodesFormat",
    "pruneFilters",
    "proxies",
    "currentContext",
    "cliPluginsExtraDirs",
    "plugins",
    "aliases",
    "features",
    "experimental",
];

/// Parse a `config.json`, `.dockerconfigjson` or legacy `.dockercfg`.
pub fn parse(text: &str) -> Result<DockerConfig, ParseError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json's syntax errors never quote the input; strip its own position suffix.
        let msg = e.to_string();
        let message = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        ParseError {
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let Value::Object(root) = root else {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: "a docker config is a JSON object".to_owned(),
        });
    };
    // Go's encoding/json matches field names case-insensitively.
    let is_config_json = root.is_empty()
        || root
            .keys()
            .any(|k| CONFIG_JSON_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(k)))
        || !root.values().all(Value::is_object);
    let (format, auths) = if is_config_json {
        let auths = match field(&root, "auths") {
            None | Some(Value::Null) => None,
            Some(Value::Object(a)) => Some(a),
            Some(_) => {
                return Err(at(
                    text,
                    "auths",
                    "`auths` must be an object of registry -> credentials",
                ));
            }
        };
        (Format::ConfigJson, auths)
    } else {
        (Format::LegacyDockercfg, Some(&root))
    };
    let mut entries = Vec::new();
    for (key, value) in auths.into_iter().flatten() {
        entries.push(parse_entry(text, key, value)?);
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let creds_store = match field(&root, "credsStore") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null | Value::String(_)) => None,
        Some(_) => return Err(at(text, "credsStore", "`credsStore` must be a string")),
    };
    let mut cred_helpers = BTreeMap::new();
    match field(&root, "credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (host, helper) in m {
                let Value::String(helper) = helper else {
                    return Err(at(text, host, "a `credHelpers` value must be a string"));
                };
                cred_helpers.insert(host.clone(), helper.clone());
            }
        }
        Some(_) => return Err(at(text, "credHelpers", "`credHelpers` must be an object")),
    }
    Ok(DockerConfig {
        format,
        entries,
        creds_store,
        cred_helpers,
        label: "docker config".to_owned(),
    })
}

/// A field by name, exact match first, then case-insensitively as Go does.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// An error positioned at the first occurrence of `"key"` in the text.
fn at(text: &str, key: &str, message: &str) -> ParseError {
    let needle = serde_json::to_string(key).unwrap_or_default();
    let offset = text.find(&needle).unwrap_or(0);
    let line = crate::config::line_of(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    ParseError {
        line,
        column: text[line_start..offset].chars().count() + 1,
        message: message.to_owned(),
    }
}

fn parse_entry(text: &str, key: &str, value: &Value) -> Result<AuthEntry, ParseError> {
    let Value::Object(obj) = value else {
        return Err(at(
            text,
            key,
            &format!("the entry for {key:?} must be an object"),
        ));
    };
    let string = |name: &str| -> Result<Option<String>, ParseError> {
        match field(obj, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(at(
                text,
                key,
                &format!("`{name}` of {key:?} must be a string"),
            )),
        }
    };
    let mut username = string("username")?.unwrap_or_default();
    let mut password = string("password")?
        .filter(|p| !p.is_empty())
        .map(Secret::from);
    if let Some(auth) = string("auth")?.filter(|a| !a.is_empty()) {
        // kubelet: `auth` replaces username/password; a bad one fails the whole secret.
        let (u, p) = basic_auth::decode(&auth, AuthRules::Kubelet)
            .map_err(|e| at(text, key, &format!("`auth` of {key:?} {e}")))?;
        username = u;
        password = Some(p);
    }
    Ok(AuthEntry {
        key: key.to_owned(),
        username,
        password,
        identity_token: string("identitytoken")?
            .filter(|t| !t.is_empty())
            .map(Secret::from),
        registry_token: string("registrytoken")?
            .filter(|t| !t.is_empty())
            .map(Secret::from),
        email: string("email")?.filter(|e| !e.is_empty()),
        match_key: keyring_key(key),
    })
}

// ---- kubelet's keyring -----------------------------------------------------

/// A URL as Go's `url.Parse` splits it, reduced to what the keyring uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyUrl {
    host: String,
    path: String,
}

/// `url.Parse("https://" + s)` for a schemeless string (keyring.go
/// `ParseSchemelessURL`); `None` where Go returns an error.
pub(crate) fn parse_schemeless(s: &str) -> Option<KeyUrl> {
    let s = s.split('#').next().unwrap_or(s);
    let s = s.split('?').next().unwrap_or(s);
    let (authority, path) = match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // url.go parseHost / validOptionalPort / shouldEscape(encodeHost): what
    // follows the host must be `:digits`. Go takes the last `:` of a bare
    // IPv6 literal as a port too; a stray `[`/`]`, which Go lets through,
    // is refused (no registry name has one).
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let port_ok = match crate::config::net::hostport::split(host) {
        Ok((_, Some(port))) => digits(port),
        Ok((bare, None)) if bare.contains(':') && !host.starts_with('[') => {
            bare.rsplit(':').next().is_some_and(digits)
        }
        Ok((_, None)) => true,
        Err(_) => false,
    };
    if !port_ok {
        return None;
    }
    let host_char = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"".contains(c);
    if !host.chars().all(host_char) || path.chars().any(|c| c.is_control() || c == ' ') {
        return None;
    }
    Some(KeyUrl {
        host: host.to_owned(),
        path: path.to_owned(),
    })
}

/// keyring.go `BasicDockerKeyring.Add`: the index key for a config key.
fn keyring_key(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let url = parse_schemeless(rest)?;
    // "It also considers /v2/ and /v1/ equivalent to the hostname".
    let path = if url.path.starts_with("/v2/") || url.path.starts_with("/v1/") {
        &url.path[3..]
    } else {
        &url.path
    };
    Some(if path.is_empty() || path == "/" {
        url.host
    } else {
        format!("{}{path}", url.host)
    })
}

/// keyring.go `SplitURL`: dot-separated host parts and the port
/// (`net.SplitHostPort`, the whole host and no port where it fails).
fn split_url(url: &KeyUrl) -> (Vec<&str>, &str) {
    let (host, port) = crate::config::net::hostport::go_split_host_port(&url.host)
        .unwrap_or((url.host.as_str(), ""));
    (host.split('.').collect(), port)
}

/// keyring.go `URLsMatchStr`: does `target` fall under the (glob) key?
/// Host parts match by glob (`*.example.com`), ports exactly, paths by prefix.
pub(crate) fn urls_match(glob: &str, target: &str) -> bool {
    let (Some(g), Some(t)) = (parse_schemeless(glob), parse_schemeless(target)) else {
        return false;
    };
    let (g_parts, g_port) = split_url(&g);
    let (t_parts, t_port) = split_url(&t);
    g_port == t_port
        && g_parts.len() == t_parts.len()
        && t.path.starts_with(&g.path)
        && g_parts
            .iter()
            .zip(&t_parts)
            .all(|(gp, tp)| glob_match(gp.as_bytes(), tp.as_bytes()) == Some(true))
}

/// One element of a host-label glob: `*`, or something that matches one byte.
enum GlobToken {
    Star,
    Any,
    Byte(u8),
    /// `[...]`: inclusive byte ranges, negated with `^`.
    Class {
        negate: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl GlobToken {
    fn matches(&self, b: u8) -> bool {
        match self {
            GlobToken::Star => false,
            GlobToken::Any => true,
            GlobToken::Byte(c) => *c == b,
            GlobToken::Class { negate, ranges } => {
                ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&&b)) != *negate
            }
        }
    }
}

/// The tokens of a glob, or `None` for a malformed one (Go's `ErrBadPattern`).
fn glob_tokens(pat: &[u8]) -> Option<Vec<GlobToken>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = pat.get(i) {
        i += 1;
        out.push(match c {
            b'*' => GlobToken::Star,
            b'?' => GlobToken::Any,
            b'\\' => {
                i += 1;
                GlobToken::Byte(*pat.get(i - 1)?)
            }
            b'[' => {
                let negate = pat.get(i) == Some(&b'^');
                if negate {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = *pat.get(i)?;
                    if c == b']' && !first {
                        i += 1;
                        break;
                    }
                    first = false;
                    let lo = if c == b'\\' {
                        i += 1;
                        *pat.get(i)?
                    } else {
                        c
                    };
                    i += 1;
                    let hi = if pat.get(i) == Some(&b'-')
                        && pat.get(i + 1).is_some_and(|b| *b != b']')
                    {
                        i += 2;
                        *pat.get(i - 1)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                GlobToken::Class { negate, ranges }
            }
            c => GlobToken::Byte(c),
        });
    }
    Some(out)
}

/// Go `path/filepath.Match` for one host label: `*`, `?`, `[...]` with ranges
/// and `^` negation, `\` escapes. `None` for a malformed pattern.
///
/// Iterative, backtracking only to the last `*`: a pull secret's key is user
/// input, and a recursive matcher overflows the stack on a long label and
/// takes exponential time on `*a*a*a...` (Go's matcher does neither).
fn glob_match(pat: &[u8], s: &[u8]) -> Option<bool> {
    let tokens = glob_tokens(pat)?;
    let (mut t, mut i) = (0, 0);
    // Where the last `*` was and where in `s` it currently stops.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match tokens.get(t) {
            Some(GlobToken::Star) => {
                star = Some((t, i));
                t += 1;
            }
            Some(token) if token.matches(s[i]) => {
                t += 1;
                i += 1;
            }
            _ => {
                let Some((star_t, star_i)) = star else {
                    return Some(false);
                };
                let star_i = star_i + 1;
                star = Some((star_t, star_i));
                t = star_t + 1;
                i = star_i;
            }
        }
    }
    Some(tokens[t..].iter().all(|tok| matches!(tok, GlobToken::Star)))
}

/// The key the kubelet files Docker Hub's credentials under (keyring.go `defaultRegistryHost`).
const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// The host whose helper a Docker CLI config consults for `image`:
/// `docker.io` for Docker Hub's names, else the reference's domain.
fn helper_host(image: &str) -> &str {
    if is_default_registry_match(image) {
        "docker.io"
    } else {
        crate::reference::domain_part(image)
    }
}

/// keyring.go `isDefaultRegistryMatch`: would this image be pulled from Docker Hub?
fn is_default_registry_match(image: &str) -> bool {
    let (first, rest) = match image.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (image, None),
    };
    if first.is_empty() {
        return false;
    }
    rest.is_none()
        || first == "docker.io"
        || first == "index.docker.io"
        || !first.contains(['.', ':'])
}

/// Keys people write for Docker Hub that kubelet does not use for `docker.io` images.
const HUB_ALIASES_KUBELET_MISSES: &[&str] = &[
    "registry-1.docker.io",
    "index.docker.io/v1",
    "hub.docker.com",
];

/// Every credential for `image` in a keyring made of several configs (the
/// pod's pull secrets, in `imagePullSecrets` order): the kubelet adds each
/// secret to one `BasicDockerKeyring`, so a key's credentials come in secret
/// order and more specific keys first across all of them
/// (`pkg/credentialprovider/secrets/secrets.go` `MakeDockerKeyring`).
#[must_use]
pub fn keyring_lookup(configs: &[DockerConfig], image: &str) -> Vec<Credential> {
    keyring_entries(configs, image)
        .into_iter()
        .filter_map(|(c, e)| e.credential(&c.label))
        .collect()
}

/// The entries of [`keyring_lookup`], each with the config it came from.
fn keyring_entries<'a>(
    configs: &'a [DockerConfig],
    image: &str,
) -> Vec<(&'a DockerConfig, &'a AuthEntry)> {
    let all = || {
        configs
            .iter()
            .flat_map(|c| c.entries.iter().map(move |e| (c, e)))
    };
    let mut index: Vec<&str> = all().filter_map(|(_, e)| e.match_key.as_deref()).collect();
    index.sort_unstable();
    index.dedup();
    // "The index is reverse-sorted so more specific paths are matched first."
    index.reverse();
    let by_key = |k: &str| -> Vec<(&'a DockerConfig, &'a AuthEntry)> {
        all()
            .filter(|(_, e)| e.match_key.as_deref() == Some(k))
            .collect()
    };
    let hits: Vec<_> = index
        .iter()
        .filter(|k| urls_match(k, image))
        .flat_map(|k| by_key(k))
        .collect();
    if !hits.is_empty() {
        return hits;
    }
    if is_default_registry_match(image) {
        return by_key(DEFAULT_REGISTRY_HOST);
    }
    Vec::new()
}

impl DockerConfig {
    /// Name the file for [`Credential::source`], e.g. `--docker-config /tmp/cfg.json`.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// A keyring of `(key, username, password)` entries, as the kubelet builds
    /// one from a credential provider's `auth` answer.
    #[must_use]
    pub fn from_entries(label: impl Into<String>, entries: Vec<(String, String, Secret)>) -> Self {
        let mut entries: Vec<AuthEntry> = entries
            .into_iter()
            .map(|(key, username, password)| AuthEntry {
                match_key: keyring_key(&key),
                key,
                username,
                password: Some(password).filter(|p| !p.is_empty()),
                identity_token: None,
                registry_token: None,
                email: None,
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            format: Format::ConfigJson,
            entries,
            creds_store: None,
            cred_helpers: BTreeMap::new(),
            label: label.into(),
        }
    }

    /// Every credential for `image`, most specific key first, as the
    /// kubelet tries them in turn.
    #[must_use]
    pub fn lookup_all(&self, image_or_registry: &str) -> Vec<Credential> {
        keyring_lookup(std::slice::from_ref(self), image_or_registry)
    }

    /// Every entry matching `image`, most specific first, as kubelet's
    /// `BasicDockerKeyring.Lookup` orders them (kubelet tries them in turn).
    /// `image` is a repository name without tag, e.g. `docker.io/library/nginx`
    /// ([`crate::reference::Reference::name`]), or a registry host.
    #[must_use]
    pub fn matching_entries(&self, image: &str) -> Vec<&AuthEntry> {
        keyring_entries(std::slice::from_ref(self), image)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The registries this config has entries for, as a person names them
    /// (`docker.io` for Docker Hub's keys), sorted, for "it has ..." findings.
    #[must_use]
    pub fn registries(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| e.match_key.as_deref())
            .map(|k| {
                if k == DEFAULT_REGISTRY_HOST || k.starts_with("index.docker.io/") {
                    "docker.io".to_owned()
                } else {
                    k.to_owned()
                }
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The credential kubelet would try first for `image` (see [`Self::matching_entries`]).
    #[must_use]
    pub fn lookup(&self, image_or_registry: &str) -> Option<Credential> {
        self.matching_entries(image_or_registry)
            .into_iter()
            .find_map(|e| e.credential(&self.label))
    }

    /// The credential helper docker/cli would run for a registry host
    /// (`getConfiguredCredentialStore`: `credHelpers[host]`, else `credsStore`).
    /// For Docker Hub docker/cli asks under `https://index.docker.io/v1/`.
    #[must_use]
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        self.helper_source(registry).map(|(_, helper)| helper)
    }

    /// [`Self::helper_for`] and which setting named it (`credHelpers` or `credsStore`).
    fn helper_source(&self, registry: &str) -> Option<(&'static str, &str)> {
        let hub = [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
        ];
        let keys: &[&str] = if registry == "docker.io" || registry == "index.docker.io" {
            &hub
        } else {
            &[registry]
        };
        keys.iter()
            .find_map(|k| self.cred_helpers.get(*k))
            .map(|h| ("credHelpers", h.as_str()))
            .or_else(|| self.creds_store.as_deref().map(|h| ("credsStore", h)))
    }

    /// How this file holds credentials for `image` (a repository name as for
    /// [`Self::lookup`]), if it does: written in the file, or only named
    /// there and kept by a credential helper. Only keys are looked at.
    #[must_use]
    pub fn held_for(&self, image: &str) -> Option<Held> {
        let host = helper_host(image);
        let hits = self.matching_entries(image);
        if hits.iter().any(|e| e.has_credential()) {
            return Some(Held::Inline);
        }
        // `docker login` with a helper leaves an empty `auths` entry; a
        // `credHelpers` key names the registry without one.
        let named = !hits.is_empty() || self.cred_helpers.keys().any(|k| k == host);
        match self.helper_source(host) {
            Some((setting, helper)) if named => Some(Held::Helper {
                setting,
                helper: helper.to_owned(),
            }),
            _ => None,
        }
    }

    /// Notes for a person about credentials for `image` (a repository name as
    /// for [`Self::lookup`]): helpers we cannot run, tokens kubelet ignores,
    /// Docker Hub keys kubelet does not match.
    #[must_use]
    pub fn remarks(&self, image: &str) -> Vec<String> {
        let mut out = Vec::new();
        let host = helper_host(image);
        let hits = self.matching_entries(image);
        if let Some((which, helper)) = self.helper_source(host) {
            out.push(format!(
                "{which} {helper:?} is configured in {}; regprobe cannot call credential helpers \
                 (docker-credential-{helper}), and neither does kubelet for image pull secrets",
                self.label
            ));
        }
        if let Some(e) = hits.first() {
            if e.identity_token.is_some() || e.registry_token.is_some() {
                out.push(format!(
                    "the entry {:?} has an identitytoken/registrytoken: Docker uses it, but kubelet passes only \
                     username and password from image pull secrets",
                    e.key
                ));
            }
        } else if is_default_registry_match(image) {
            for e in &self.entries {
                if e.match_key
                    .as_deref()
                    .is_some_and(|k| HUB_ALIASES_KUBELET_MISSES.contains(&k))
                {
                    out.push(format!(
                        "the key {:?} is not used by kubelet for Docker Hub images; write it as \
                         \"https://index.docker.io/v1/\"",
                        e.key
                    ));
                }
            }
        }
        for e in &self.entries {
            if e.match_key.is_none() {
                out.push(format!(
                    "the key {:?} is not a valid registry URL; kubelet ignores it",
                    e.key
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/docker/");
        std::fs::read_to_string(format!("{path}{name}")).unwrap()
    }

    fn basic(c: &Credential) -> (&str, &str) {
        match &c.secret {
            CredentialSecret::Basic { username, password } => (username, password.expose()),
            _ => panic!("not basic"),
        }
    }

    /// A legacy `.dockercfg` with one key and foo:bar, as `keyring_test.go` builds them.
    fn one_key(key: &str) -> DockerConfig {
        let text =
            format!(r#"{{ "{key}": {{ "email": "foo@bar.baz", "auth": "Zm9vOmJhcg==" }} }}"#);
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.format, Format::LegacyDockercfg);
        cfg
    }

    #[test]
    fn docker_cli_fixture_index_docker_io() {
        let cfg = parse(&fixture("docker-cli-test-config-index-docker-io-auth.json"))
            .unwrap()
            .with_label("docker config /x");
        assert_eq!(cfg.format, Format::ConfigJson);
        assert_eq!(cfg.entries.len(), 1);
        assert_eq!(cfg.entries[0].match_key.as_deref(), Some("index.docker.io"));
        for image in [
            "docker.io/library/nginx",
            "docker.io/someone/app",
            "docker.io",
            "nginx",
        ] {
            let c = cfg.lookup(image).unwrap_or_else(|| panic!("{image}"));
            assert_eq!(basic(&c), ("joejoe", "hello"));
            assert_eq!(
                c.source,
                r#"docker config /x (key "https://index.docker.io/v1/")"#
            );
        }
        assert!(cfg.lookup("quay.io/foo/bar").is_none());
        assert!(cfg.lookup("myreg.azurecr.io/app").is_none());
    }

    #[test]
    fn docker_cli_docs_sample_has_helpers_and_no_auths() {
        let cfg = parse(&fixture("docker-cli-docs-sample-config.json")).unwrap();
        assert_eq!(cfg.format, Format::ConfigJson);
        assert!(cfg.entries.is_empty());
        assert_eq!(cfg.creds_store.as_deref(), Some("secretservice"));
        assert_eq!(
            cfg.cred_helpers
                .get("awesomereg.example.org")
                .map(String::as_str),
            Some("hip-star")
        );
        assert_eq!(cfg.helper_for("awesomereg.example.org"), Some("hip-star"));
        assert_eq!(cfg.helper_for("docker.io"), Some("secretservice"));
        let r = cfg.remarks("unicorn.example.com/app");
        assert!(
            r[0].starts_with("credHelpers \"vcbait\" is configured"),
            "{r:?}"
        );
        assert!(r[0].contains("cannot call credential helpers"));
        let r = cfg.remarks("docker.io/library/nginx");
        assert!(r[0].starts_with("credsStore \"secretservice\""), "{r:?}");
    }

    /// `keyring_test.go` `TestUrlsMatch`.
    #[test]
    fn urls_match_table() {
        for (glob, target, expected) in [
            ("*.kubernetes.io", "prefix.kubernetes.io", true),
            ("prefix.*.io", "prefix.kubernetes.io", true),
            ("prefix.kubernetes.*", "prefix.kubernetes.io", true),
            ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
            ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true),
            ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true),
            (
                "*.kubernetes.io:1111/blah",
                "prefix.kubernetes.io:1111/blah",
                true,
            ),
            (
                "prefix.*.io:1111/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                true,
            ),
            ("*.kubernetes.io", "kubernetes.io", false),
            ("*.*.kubernetes.io", "prefix.kubernetes.io", false),
            ("*.*.kubernetes.io", "kubernetes.io", false),
            ("kubernetes.io", "kubernetes.com", false),
            ("k*.io", "quay.io", false),
            (
                "*.kubernetes.io:1234/blah",
                "prefix.kubernetes.io:1111/blah",
                false,
            ),
            (
                "prefix.*.io/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                false,
            ),
        ] {
            assert_eq!(urls_match(glob, target), expected, "{glob} vs {target}");
        }
    }

    /// `keyring_test.go` `TestDockerKeyringForGlob`: each key finds `target/foo/bar`.
    #[test]
    fn keyring_for_glob() {
        for (key, target) in [
            ("https://hello.kubernetes.io", "hello.kubernetes.io"),
            ("https://*.docker.io", "prefix.docker.io"),
            ("https://prefix.*.io", "prefix.docker.io"),
            ("https://prefix.docker.*", "prefix.docker.io"),
            ("https://*.docker.io/path", "prefix.docker.io/path"),
            ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
            ("https://prefix.docker.*/path", "prefix.docker.io/path"),
            ("https://*.docker.io:8888", "prefix.docker.io:8888"),
            ("https://prefix.*.io:8888", "prefix.docker.io:8888"),
            ("https://prefix.docker.*:8888", "prefix.docker.io:8888"),
            (
                "https://*.docker.io/path:1111",
                "prefix.docker.io/path:1111",
            ),
            ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
            ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
            (
                "https://prefix.docker.*/path:1111",
                "prefix.docker.io/path:1111",
            ),
            ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
            ("*.docker.io:1111", "prefix.docker.io:1111/path"),
        ] {
            let cfg = one_key(key);
            let c = cfg
                .lookup(&format!("{target}/foo/bar"))
                .unwrap_or_else(|| panic!("{key} -> {target}"));
            assert_eq!(basic(&c), ("foo", "bar"));
            assert_eq!(cfg.entries[0].email.as_deref(), Some("foo@bar.baz"));
        }
    }

    /// `keyring_test.go` `TestKeyringMiss` and `TestKeyringMissWithDockerHubCredentials`.
    #[test]
    fn keyring_miss() {
        for (key, lookup) in [
            ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
            ("https://*.docker.com", "prefix.docker.io"),
            ("https://suffix.*.io", "prefix.docker.io"),
            ("https://prefix.docker.c*", "prefix.docker.io"),
            (
                "https://prefix.*.io/path:1111",
                "prefix.docker.io/path/subpath:1111",
            ),
            ("suffix.*.io", "prefix.docker.io"),
            ("https://index.docker.io/v1/", "world.mesos.org"),
        ] {
            assert!(
                one_key(key).lookup(&format!("{lookup}/foo/bar")).is_none(),
                "{key} should miss {lookup}"
            );
        }
    }

    /// `keyring_test.go` `TestKeyringHitWith{Unqualified,UnqualifiedLibrary,Qualified}DockerHub`
    /// and `TestIsDefaultRegistryMatch`.
    #[test]
    fn docker_hub_fallback() {
        let cfg = one_key("https://index.docker.io/v1/");
        for image in [
            "google/docker-registry",
            "jenkins",
            "index.docker.io/v1//google/docker-registry",
        ] {
            assert_eq!(
                basic(&cfg.lookup(image).unwrap()),
                ("foo", "bar"),
                "{image}"
            );
        }
        for (image, expected) in [
            ("foo/bar", true),
            ("docker.io/foo/bar", true),
            ("index.docker.io/foo/bar", true),
            ("foo", true),
            ("", false),
            ("registry.tld/foo/bar", false),
            ("registry:5000/foo/bar", false),
            ("myhostdocker.io/foo/bar", false),
        ] {
            assert_eq!(is_default_registry_match(image), expected, "{image:?}");
        }
        // "docker.io" matches by host; "registry-1.docker.io" is not used by kubelet.
        assert!(
            one_key("docker.io")
                .lookup("docker.io/library/nginx")
                .is_some()
        );
        let miss = one_key("registry-1.docker.io");
        assert!(miss.lookup("docker.io/library/nginx").is_none());
        assert!(
            miss.remarks("docker.io/library/nginx")[0].contains("\"https://index.docker.io/v1/\"")
        );
    }

    /// `keyring_test.go` `TestDockerKeyringLookup` and `TestIssue3797`.
    #[test]
    fn most_specific_first() {
        let cfg = parse(
            r#"{"auths": {
                "bar.example.com/pong": {"username": "grace", "password": "squash"},
                "bar.example.com": {"username": "ada", "password": "smash"}
            }}"#,
        )
        .unwrap();
        let users = |image: &str| -> Vec<String> {
            cfg.matching_entries(image)
                .iter()
                .map(|e| e.username.clone())
                .collect()
        };
        assert_eq!(users("bar.example.com"), ["ada"]);
        assert_eq!(users("bar.example.com/pong"), ["grace", "ada"]);
        assert_eq!(users("bar.example.com/ping"), ["ada"]);
        assert_eq!(users("bar.example.com/pongz"), ["grace", "ada"]);
        assert_eq!(users("bar.example.com/pong/pang"), ["grace", "ada"]);
        assert!(users("example.com").is_empty());
        assert!(users("foo.example.com").is_empty());
        assert_eq!(
            cfg.lookup("bar.example.com/pong/x").unwrap().username(),
            "grace"
        );

        let rex = one_key("https://quay.io/v1/");
        for image in ["quay.io", "quay.io/foo", "quay.io/foo/bar"] {
            assert!(rex.lookup(image).is_some(), "{image}");
        }
    }

    #[test]
    fn entry_forms_and_secrets() {
        let text = r#"{
  "auths": {
    "myreg.azurecr.io": {"auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==", "identitytoken": "refresh-xyz"},
    "https://quay.io": {"Username": "robot", "Password": "p:w"},
    "unpadded.example.com": {"auth": "dTpwOnE"},
    "tok.example.com": {"registrytoken": "bearer-abc"}
  }
}"#;
        let cfg = parse(text).unwrap();
        let acr = cfg.lookup("myreg.azurecr.io/app").unwrap();
        match &acr.secret {
            CredentialSecret::IdentityToken { username, token } => {
                assert_eq!(username, "00000000-0000-0000-0000-000000000000");
                assert_eq!(token.expose(), "refresh-xyz");
            }
            _ => panic!("expected identity token"),
        }
        assert!(
            cfg.remarks("myreg.azurecr.io/app")[0]
                .contains("kubelet passes only username and password")
        );
        assert_eq!(
            basic(&cfg.lookup("quay.io/org/x").unwrap()),
            ("robot", "p:w")
        );
        // Unpadded base64 is accepted (kubelet), and the split is at the first ':'.
        assert_eq!(
            basic(&cfg.lookup("unpadded.example.com").unwrap()),
            ("u", "p:q")
        );
        assert!(cfg.lookup("tok.example.com/x").is_none());
        assert!(cfg.entries.iter().any(|e| e.registry_token.is_some()));
        // No secret in Debug.
        let debug = format!("{cfg:?}");
        for secret in ["refresh-xyz", "p:w", "bearer-abc", "MDAwMDAw"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
    }

    #[test]
    fn errors_carry_position_and_no_secret() {
        let e = parse("{\n  \"auths\": {\n    \"a.io\": {\"auth\": \"x\"},\n  }\n}").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (4, "trailing comma"));
        let e =
            parse("{\"auths\": {\n \"a.io\": {\"auth\": \"c2VjcmV0LW5vLWNvbG9u\"}}}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("base64(username:password)"), "{e}");
        assert!(!e.to_string().contains("c2VjcmV0") && !e.to_string().contains("secret-no-colon"));
        let e = parse("{\"auths\": {\"a.io\": {\"auth\": \"!!!\"}}}").unwrap_err();
        assert!(e.message.contains("not valid base64"), "{e}");
        assert!(parse("[]").is_err());
        assert!(parse("{\"auths\": []}").is_err());
        assert!(parse("{\"auths\": {\"a.io\": {\"password\": 5}}}").is_err());
    }

    #[test]
    fn legacy_dockercfg_and_bad_keys() {
        let cfg = parse(r#"{"https://index.docker.io/v1/": {"auth": "Zm9vOmJhcg=="}, "bad host/x": {"auth": "Zm9vOmJhcg=="}}"#).unwrap();
        assert_eq!(cfg.format, Format::LegacyDockercfg);
        assert!(cfg.lookup("docker.io/library/busybox").is_some());
        assert_eq!(cfg.entries[0].match_key, None);
        assert!(
            cfg.remarks("quay.io/x")
                .iter()
                .any(|r| r.contains("\"bad host/x\" is not a valid registry URL"))
        );
        assert_eq!(
            keyring_key("https://index.docker.io/v1/").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            keyring_key("http://reg.io:5000/v2/").as_deref(),
            Some("reg.io:5000")
        );
        assert_eq!(keyring_key("reg.io/team/").as_deref(), Some("reg.io/team/"));
        assert_eq!(keyring_key("reg.io:abc"), None);
    }

    /// Issue 4: no config text and no image name makes parsing or kubelet's
    /// keyring matching panic or take long (a pull secret is user input).
    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        fn seeds() -> Vec<String> {
            let mut out: Vec<String> = [
                "docker-cli-docs-sample-config.json",
                "docker-cli-test-config-index-docker-io-auth.json",
            ]
            .iter()
            .map(|f| super::fixture(f))
            .collect();
            out.push(r#"{"https://index.docker.io/v1/": {"auth": "Zm9vOmJhcg=="}, "*.azurecr.io/team": {"username": "u", "password": "p", "identitytoken": "t"}, "[::1]:5000": {"auth": "Zm9vOmJhcg", "email": "e"}}"#.to_owned());
            out.push(r#"{"auths": {"reg.io:5000/v2/": {"registrytoken": "x"}, "q?ua#y": {}}, "credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}}"#.to_owned());
            out
        }

        /// Parse, then ask every question a run asks, for each name; within a second.
        fn exercise(text: &str, names: &[&str]) {
            let start = Instant::now();
            if let Ok(cfg) = parse(text) {
                let keys: Vec<String> = cfg.entries.iter().map(|e| e.key.clone()).collect();
                for name in names.iter().copied().chain(keys.iter().map(String::as_str)) {
                    let _ = cfg.lookup(name);
                    let _ = cfg.helper_for(name);
                    let _ = cfg.remarks(name);
                }
                let _ = format!("{cfg:?}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "slow on {text:?} with {names:?}"
            );
        }

        /// A config whose one key is `key`, as a pull secret could carry it.
        fn with_key(key: &str) -> String {
            let key = serde_json::to_string(key).unwrap();
            format!(r#"{{"auths": {{{key}: {{"auth": "Zm9vOmJhcg=="}}}}}}"#)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_text_never_panics(text in "(?s).{0,400}", name in "(?s).{0,80}") {
                exercise(&text, &[&name]);
            }

            #[test]
            fn damaged_fixtures_never_panic(
                which in 0usize..4,
                at in any::<prop::sample::Index>(),
                ch in any::<char>(),
                cut in any::<prop::sample::Index>(),
                name in "[a-z0-9.:/*\\[\\]-]{0,40}",
            ) {
                let mut chars: Vec<char> = seeds()[which].chars().collect();
                let i = at.index(chars.len());
                chars[i] = ch;
                exercise(&chars.iter().collect::<String>(), &[&name]);
                chars.truncate(cut.index(chars.len() + 1));
                exercise(&chars.iter().collect::<String>(), &[&name]);
            }

            /// Keys and names from the keyring grammar: globs, classes, escapes, ports, paths.
            #[test]
            fn arbitrary_keys_and_names_never_panic(
                key in "(https?://)?[a-z0-9.*?\\[\\]^\\\\:@/-]{0,60}",
                names in prop::collection::vec("[a-z0-9.*?\\[\\]:@/-]{0,60}|(?s).{0,30}", 0..6),
            ) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                exercise(&with_key(&key), &names);
            }

            /// Many `*` in one host label against a long label: a backtracking
            /// glob takes exponential time here; Go's `filepath.Match` does not.
            #[test]
            fn star_heavy_globs_stay_fast(stars in 1usize..40, len in 1usize..4000, tail in "[a-c]{0,3}") {
                let key = format!("{}{tail}.io", "*a".repeat(stars));
                let name = format!("{}.io/x", "a".repeat(len));
                exercise(&with_key(&key), &[&name]);
            }
        }

        /// The recursive matcher this module used before (exponential on `*a*a*a...`),
        /// kept as the reference the iterative one is checked against.
        fn recursive_glob(pat: &[u8], s: &[u8]) -> Option<bool> {
            match pat.first() {
                None => Some(s.is_empty()),
                Some(b'*') => {
                    for i in 0..=s.len() {
                        if recursive_glob(&pat[1..], &s[i..])? {
                            return Some(true);
                        }
                    }
                    Some(false)
                }
                Some(b'?') => Some(!s.is_empty() && recursive_glob(&pat[1..], &s[1..])?),
                Some(b'[') => {
                    let mut i = 1;
                    let negate = pat.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut matched = false;
                    let mut first = true;
                    loop {
                        let c = *pat.get(i)?;
                        if c == b']' && !first {
                            i += 1;
                            break;
                        }
                        first = false;
                        let lo = if c == b'\\' {
                            i += 1;
                            *pat.get(i)?
                        } else {
                            c
                        };
                        i += 1;
                        let hi = if pat.get(i) == Some(&b'-')
                            && pat.get(i + 1).is_some_and(|b| *b != b']')
                        {
                            i += 2;
                            *pat.get(i - 1)?
                        } else {
                            lo
                        };
                        if s.first().is_some_and(|x| (lo..=hi).contains(x)) {
                            matched = true;
                        }
                    }
                    Some(!s.is_empty() && matched != negate && recursive_glob(&pat[i..], &s[1..])?)
                }
                Some(b'\\') => {
                    let c = *pat.get(1)?;
                    Some(s.first() == Some(&c) && recursive_glob(&pat[2..], &s[1..])?)
                }
                Some(c) => Some(s.first() == Some(c) && recursive_glob(&pat[1..], &s[1..])?),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            #[test]
            fn glob_match_agrees_with_the_recursive_reference(
                pat in "[ab*?\\[\\]^\\\\-]{0,10}",
                s in "[ab\\]^*?-]{0,10}",
            ) {
                prop_assert_eq!(
                    glob_match(pat.as_bytes(), s.as_bytes()) == Some(true),
                    recursive_glob(pat.as_bytes(), s.as_bytes()) == Some(true),
                    "{:?} vs {:?}", pat, s
                );
            }
        }

        #[test]
        fn long_labels_do_not_overflow_the_stack() {
            let label = "a".repeat(200_000);
            let key = format!("{label}.io");
            exercise(&with_key(&key), &[&format!("{label}.io/x")]);
            exercise(&with_key(&"*".repeat(200_000)), &[&label]);
        }
    }

    /// Issue 18: how a file holds a registry's credentials, from keys only.
    #[test]
    fn held_for_tells_inline_from_helper() {
        let cfg = parse(
            r#"{"auths": {"a.io": {"auth": "dTpw"}, "b.io": {}, "https://index.docker.io/v1/": {}}, "credsStore": "desktop", "credHelpers": {"c.io": "ecr-login"}}"#,
        )
        .unwrap();
        assert_eq!(cfg.held_for("a.io/app"), Some(Held::Inline));
        assert_eq!(
            cfg.held_for("b.io/app"),
            Some(Held::Helper {
                setting: "credsStore",
                helper: "desktop".into()
            })
        );
        assert_eq!(
            cfg.held_for("c.io/app"),
            Some(Held::Helper {
                setting: "credHelpers",
                helper: "ecr-login".into()
            })
        );
        assert_eq!(
            cfg.held_for("docker.io/library/nginx"),
            Some(Held::Helper {
                setting: "credsStore",
                helper: "desktop".into()
            })
        );
        // A credsStore alone names no registry.
        assert_eq!(cfg.held_for("d.io/app"), None);
    }
}
