//! The kubelet's own credential sources: the exec credential providers of
//! `--image-credential-provider-config` and the node's docker config file,
//! which the kubelet hands to the runtime as the pull's `AuthConfig`.
//!
//! Parsing follows kubernetes `staging/src/k8s.io/kubelet/config/v1/types.go`
//! (`CredentialProviderConfig`, `CredentialProvider`, `ExecEnvVar`) and the
//! validation of `pkg/credentialprovider/plugin/config.go`
//! (`validateCredentialProviderConfig`, `readCredentialProviderConfig`, which
//! also takes a directory of `*.json`/`*.yaml`/`*.yml`). A provider applies to
//! an image as in `plugin/plugin.go` `isImageAllowed`: `URLsMatchStr` from
//! `pkg/credentialprovider/keyring.go`, which [`crate::config::credentials::dockercfg`] already
//! implements for the keyring and which is reused here.
//!
//! The docker config search is `pkg/credentialprovider/config.go`
//! `ReadDockerConfigFile`: `config.json` in the preferred path (the kubelet's
//! `--root-dir`, `cmd/kubelet/app/server.go` `SetPreferredDockercfgPath`), the
//! working directory, `$HOME/.docker` and `/.docker`; the first file that
//! parses wins and a broken one is skipped; failing all, the legacy
//! `.dockercfg` in the root dir, working directory, `$HOME` and `/`.
//!
//! It reads only through [`HostRoot`], never runs a provider binary and never
//! puts a secret into a [`Source`], a remark or an error. Provider `env`
//! values are [`Secret`]s: they may carry cloud keys.

use crate::config::credentials::dockercfg::{self, DockerConfig, Format};
use crate::config::{ParseError, Severity, Source, read_optional, read_optional_then, systemd};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{Credential, UnreadCredentials};
use serde::Deserialize;
use std::time::Duration;

/// `kubelet.config.k8s.io` versions that carry `CredentialProviderConfig`.
const CONFIG_API_VERSIONS: [&str; 3] = [
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];

/// plugin.go `apiVersions`: the exec request versions a provider may ask for.
const PROVIDER_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// A parsed `CredentialProviderConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialProviderConfig {
    pub api_version: String,
    pub providers: Vec<CredentialProvider>,
}

/// One exec credential provider (`providers[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialProvider {
    /// Also the binary's name in `--image-credential-provider-bin-dir`.
    pub name: String,
    pub match_images: Vec<String>,
    pub default_cache_duration: Duration,
    /// The exec request version (`credentialprovider.kubelet.k8s.io/v1`).
    pub api_version: String,
    pub args: Vec<String>,
    pub env: Vec<(String, Secret)>,
    /// `tokenAttributes` is set: the provider gets a service account token.
    pub service_account_token: bool,
    /// The 1-based line of the entry (its `name`), for messages.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    api_version: Option<String>,
    kind: Option<String>,
    providers: Option<Vec<RawProvider>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProvider {
    #[serde(default)]
    name: String,
    match_images: Option<Vec<String>>,
    default_cache_duration: Option<String>,
    #[serde(default)]
    api_version: String,
    args: Option<Vec<String>>,
    env: Option<Vec<RawEnv>>,
    token_attributes: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    name: String,
    #[serde(default)]
    value: String,
}

/// Parse a `CredentialProviderConfig` (YAML or JSON) and validate it as the
/// kubelet does before it registers any provider. Unknown fields are errors:
/// the kubelet decodes this file strictly (`serializer.EnableStrict`).
pub fn parse_credential_provider_config(
    text: &str,
) -> Result<CredentialProviderConfig, ParseError> {
    let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
        // The message ends with "at line L column C"; the line is kept apart.
        let msg = e.to_string();
        let message = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        ParseError::new(e.location().map(|l| l.line()), message)
    })?;
    let api_version = raw.api_version.unwrap_or_default();
    if !CONFIG_API_VERSIONS.contains(&api_version.as_str()) {
        return Err(ParseError::new(
            key_line(text, "apiVersion", 0),
            format!(
                "apiVersion {api_version:?} is not one of {}",
                CONFIG_API_VERSIONS.join(", ")
            ),
        ));
    }
    let kind = raw.kind.unwrap_or_default();
    if kind != "CredentialProviderConfig" {
        return Err(ParseError::new(
            key_line(text, "kind", 0),
            format!("kind {kind:?} is not CredentialProviderConfig"),
        ));
    }
    let raw_providers = raw.providers.unwrap_or_default();
    if raw_providers.is_empty() {
        return Err(ParseError::new(
            key_line(text, "providers", 0),
            "providers: at least 1 item in plugins is required",
        ));
    }
    let mut providers: Vec<CredentialProvider> = Vec::new();
    for (i, p) in raw_providers.into_iter().enumerate() {
        let line = key_line(text, "name", i)
            .or_else(|| key_line(text, "providers", 0))
            .unwrap_or(1);
        let fail = |m: String| ParseError::new(Some(line), format!("provider {:?}: {m}", p.name));
        validate_name(&p.name).map_err(|m| fail(m.to_owned()))?;
        if providers.iter().any(|q| q.name == p.name) {
            return Err(fail("duplicate provider name".to_owned()));
        }
        if p.api_version.is_empty() {
            return Err(fail("apiVersion is required".to_owned()));
        }
        if !PROVIDER_API_VERSIONS.contains(&p.api_version.as_str()) {
            return Err(fail(format!(
                "apiVersion {:?} is not supported (supported: {})",
                p.api_version,
                PROVIDER_API_VERSIONS.join(", ")
            )));
        }
        let match_images = p.match_images.clone().unwrap_or_default();
        if match_images.is_empty() {
            return Err(fail(
                "matchImages: at least 1 item in matchImages is required".to_owned(),
            ));
        }
        if let Some(bad) = match_images
            .iter()
            .find(|m| dockercfg::parse_schemeless(m).is_none())
        {
            return Err(fail(format!("match image {bad:?} is invalid")));
        }
        let Some(cache) = p.default_cache_duration.as_deref() else {
            return Err(fail("defaultCacheDuration is required".to_owned()));
        };
        let default_cache_duration = go_duration(cache).map_err(fail)?;
        providers.push(CredentialProvider {
            name: p.name,
            match_images,
            default_cache_duration,
            api_version: p.api_version,
            args: p.args.unwrap_or_default(),
            env: p
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.name, Secret::new(e.value)))
                .collect(),
            service_account_token: p.token_attributes.is_some(),
            line,
        });
    }
    Ok(CredentialProviderConfig {
        api_version,
        providers,
    })
}

/// config.go's name rules: required, and usable as a file name in the bin dir.
fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("name is required")
    } else if name.contains('/') {
        Err("provider name cannot contain '/'")
    } else if name.contains(' ') {
        Err("provider name cannot contain spaces")
    } else if name == "." || name == ".." {
        Err("provider name cannot be '.' or '..'")
    } else {
        Ok(())
    }
}

/// A `metav1.Duration` (Go `time.ParseDuration`, e.g. `10m`, `1h30m`, `0`);
/// negative ones fail validation as in config.go.
fn go_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "defaultCacheDuration {s:?} must be greater than or equal to 0"
        ));
    }
    crate::config::go_duration::parse(t)
        .map_err(|e| format!("defaultCacheDuration {s:?} is not a duration: {e}"))
}

/// The 1-based line of the `nth` (0-based) `key:` (YAML) or `"key":` (JSON)
/// outside comments; serde gives no positions for values that parsed.
fn key_line(text: &str, key: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            !l.starts_with('#')
                && (l.starts_with(&format!("{key}:"))
                    || l.contains(&format!("\"{key}\":"))
                    || l.contains(&format!("\"{key}\" :")))
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// Whether the kubelet would call `provider` for `image`, a repository name
/// without tag as the kubelet looks it up (`docker.io/library/nginx`,
/// `myreg.azurecr.io/app`) or a registry host: `URLsMatchStr` against each
/// `matchImages` entry (same number of host labels, a glob per label, equal
/// ports, path prefix).
#[must_use]
pub fn matches(provider: &CredentialProvider, image: &str) -> bool {
    provider
        .match_images
        .iter()
        .any(|m| dockercfg::urls_match(m, image))
}

// ---- discovery --------------------------------------------------------------

/// Environment files with the kubelet's flags (as `runtime::detect` reads them).
pub const FLAG_FILES: [&str; 3] = [
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
];

/// The kubelet's systemd unit (its `ExecStart=` and `Environment=` carry flags).
const UNIT: &str = "kubelet.service";
/// The `kind` of the files read here (`CONTRACT.md`: `config_sources[].kind`).
const KIND: &str = "kubelet";

const CONFIG_FLAG: &str = "image-credential-provider-config";
const BIN_DIR_FLAG: &str = "image-credential-provider-bin-dir";
const ROOT_DIR_FLAG: &str = "root-dir";

/// The kubelet's default `--root-dir`.
pub const DEFAULT_ROOT_DIR: &str = "/var/lib/kubelet";

/// The last value of `--flag=VALUE` or `--flag VALUE` in a flags or unit
/// file, with its 1-based line; comment lines are skipped.
#[must_use]
pub fn kubelet_flag(text: &str, flag: &str) -> Option<(String, usize)> {
    let needle = format!("--{flag}");
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find(&needle) {
            let after = &rest[pos + needle.len()..];
            rest = after;
            let value = match after.chars().next() {
                Some('=') => &after[1..],
                Some(c) if c.is_whitespace() => after.trim_start(),
                _ => continue,
            };
            let value: String = value
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\'))
                .collect();
            if !value.is_empty() && !value.starts_with('-') {
                found = Some((value, i + 1));
            }
        }
    }
    found
}

/// A provider as read from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeProvider {
    pub provider: CredentialProvider,
    /// The config file it is in.
    pub file: String,
    /// `<bin-dir>/<name>`, when the binary is not there (the kubelet then
    /// refuses to register any provider and exits).
    pub missing_binary: Option<String>,
}

/// Where the kubelet on this node gets pull credentials from, besides pull secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeletCredentials {
    /// `--image-credential-provider-config` and where it is set (`file:line`).
    pub provider_config: Option<(String, String)>,
    /// `--image-credential-provider-bin-dir` and where it is set.
    pub bin_dir: Option<(String, String)>,
    pub providers: Vec<NodeProvider>,
    /// The docker config the kubelet's default keyring reads, with its node path.
    pub docker_config: Option<(String, DockerConfig)>,
    /// Docker/containers config files in users' homes, which the kubelet
    /// never reads (node path, parsed keys, why it skips it).
    pub home_configs: Vec<(String, DockerConfig, String)>,
    /// The kubelet's `$HOME` and how it is known: from its unit's
    /// `Environment=`/`EnvironmentFile=` or `User=`; `None` when its unit
    /// sets neither (systemd then sets no `HOME`).
    pub home: (Option<String>, String),
    /// The kubelet's `--root-dir`, where a copied `config.json` is read first.
    pub root_dir: String,
}

/// Per-user credential files under `/home`: `docker login`'s and
/// `podman login`'s (containers/image `$HOME/.config/containers/auth.json`).
/// Neither the kubelet (root, searching the paths of `find_docker_config`)
/// nor a runtime reads a user's home: CRI-O runs as root, whose
/// containers/image auth files are `/run/containers/0/auth.json` and
/// root's own home; containerd and dockerd read no docker config at all.
pub const HOME_CONFIGS: [&str; 2] = [".docker/config.json", ".config/containers/auth.json"];

/// The paths [`find_docker_config`] searches, for a person.
/// `$HOME` is Go's `os.UserHomeDir()` in kubernetes
/// `pkg/credentialprovider/config.go`; systemd sets no `HOME` for a unit
/// without `User=` (systemd.exec, `SetLoginEnvironment=`), and an empty
/// home makes that path `.docker`, the working directory's.
fn searched(root_dir: &str) -> String {
    format!(
        "{root_dir}/config.json, /config.json (its working directory), $HOME/.docker/config.json (/root/.docker/config.json when its environment has HOME=/root; a systemd unit without User= sets no HOME) and /.docker/config.json, the first it finds"
    )
}

/// Every `/home/<user>/<HOME_CONFIGS>` that parses, and root's own
/// `/root/.docker/config.json`, but for the kubelet's own `HOME`'s
/// `.docker/config.json`, with a warning source for each that has any
/// registry in it. Only keys are read into findings.
fn find_home_configs(
    root: &HostRoot,
    root_dir: &str,
    home: &(Option<String>, String),
    sources: &mut Vec<Source>,
) -> Vec<(String, DockerConfig, String)> {
    let mut homes: Vec<String> = root
        .read_dir("/home")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            p.file_name()
                .map(|n| format!("/home/{}", n.to_string_lossy()))
        })
        .collect();
    homes.sort();
    homes.push("/root".to_owned());
    let mut out = Vec::new();
    for dir in homes {
        let why = if dir == "/root" {
            format!(
                "the kubelet's HOME is not /root ({}), so it reads {}, never /root/.docker",
                home.1,
                searched(root_dir)
            )
        } else {
            format!(
                "it is in a user's home: the kubelet runs as root and reads {}, never /home",
                searched(root_dir)
            )
        };
        for rel in HOME_CONFIGS {
            // Root's podman file is CRI-O's to read; the kubelet's own
            // `$HOME/.docker/config.json` is one it reads.
            if (dir == "/root" && rel != ".docker/config.json")
                || (home.0.as_deref() == Some(dir.as_str()) && rel == ".docker/config.json")
            {
                continue;
            }
            let path = format!("{dir}/{rel}");
            let Some(text) = read_optional(root, &path, "docker-config", sources) else {
                continue;
            };
            let Ok(cfg) = dockercfg::parse(&text) else {
                continue;
            };
            let mut names = cfg.registries();
            names.extend(cfg.cred_helpers.keys().cloned());
            names.sort();
            names.dedup();
            if names.is_empty() {
                continue;
            }
            sources.push(Source::warning(
                &path,
                "docker-config",
                format!(
                    "has credentials for {} that the kubelet never reads: {why} (kubernetes pkg/credentialprovider/config.go)",
                    names.join(", "),
                ),
            ));
            out.push((path, cfg.with_label(format!("{rel} in {dir}")), why.clone()));
        }
    }
    out
}

/// A flag value and where it came from.
struct FlagAt {
    value: String,
    at: String,
    file: String,
    line: usize,
}

/// The files that may carry kubelet flags, in the order a later one wins:
/// the unit and its drop-ins in systemd's order, then the environment files
/// they name by convention.
fn flag_files(root: &HostRoot, sources: &mut Vec<Source>) -> Vec<String> {
    let mut files = systemd::unit_files(root, UNIT, KIND, sources);
    files.extend(FLAG_FILES.iter().map(|f| (*f).to_owned()));
    files
}

/// Read the kubelet's credential provider flags and config, and find the
/// docker config file its default keyring uses.
#[must_use]
pub fn discover(root: &HostRoot) -> (KubeletCredentials, Vec<Source>) {
    let mut sources = Vec::new();
    let mut out = KubeletCredentials::default();
    let (mut config, mut bin_dir, mut root_dir) = (None, None, None);
    for file in flag_files(root, &mut sources) {
        let Some(text) = read_optional(root, &file, KIND, &mut sources) else {
            continue;
        };
        // Every flag file read is listed, with or without the flags we look for.
        crate::config::merge_sources(&mut sources, [Source::ok(&file, KIND)]);
        for (flag, slot) in [
            (CONFIG_FLAG, &mut config),
            (BIN_DIR_FLAG, &mut bin_dir),
            (ROOT_DIR_FLAG, &mut root_dir),
        ] {
            if let Some((value, line)) = kubelet_flag(&text, flag) {
                *slot = Some(FlagAt {
                    value,
                    at: format!("{file}:{line}"),
                    file: file.clone(),
                    line,
                });
            }
        }
    }
    if let Some(cfg) = &config {
        out.providers = read_providers(root, cfg, bin_dir.as_ref(), &mut sources);
    } else if let Some(bin) = &bin_dir {
        // The kubelet starts; the flag does nothing: risky, not broken.
        sources.push(Source::finding(
            &bin.file,
            "kubelet",
            Severity::Warning,
            Some(bin.line),
            format!(
                "--{BIN_DIR_FLAG} is set ({}) but --{CONFIG_FLAG} is not: the kubelet registers no credential provider",
                bin.at
            ),
        ));
    }
    out.provider_config = config.map(|f| (f.value, f.at));
    out.bin_dir = bin_dir.map(|f| (f.value, f.at));
    let root_dir = root_dir.map_or_else(|| DEFAULT_ROOT_DIR.to_owned(), |f| f.value);
    out.home = kubelet_home(root, &mut sources);
    out.docker_config = find_docker_config(root, &root_dir, out.home.0.as_deref(), &mut sources);
    if let Some((path, cfg)) = &out.docker_config
        && let Some(helper) = cfg.creds_store.as_deref()
    {
        // Entries `docker login` left empty for the helper give the kubelet nothing.
        sources.push(Source::warning(
            path,
            "kubelet",
            format!(
                "credsStore {helper:?}: the kubelet never runs credential helpers, so registries whose credentials are kept in docker-credential-{helper} get none from this file"
            ),
        ));
    }
    out.home_configs = find_home_configs(root, &root_dir, &out.home, &mut sources);
    out.root_dir = root_dir;
    let mut merged = Vec::new();
    crate::config::merge_sources(&mut merged, sources);
    (out, merged)
}

/// readCredentialProviderConfig: one file, or every `*.json`/`*.yaml`/`*.yml`
/// of a directory in name order; then the bin dir check of
/// `RegisterCredentialProviderPlugins`.
fn read_providers(
    root: &HostRoot,
    cfg: &FlagAt,
    bin_dir: Option<&FlagAt>,
    sources: &mut Vec<Source>,
) -> Vec<NodeProvider> {
    let path = cfg.value.as_str();
    let files: Vec<String> = if root.real_path(path).is_ok_and(|p| p.is_dir()) {
        let files: Vec<String> = root
            .read_dir(path)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
                    && !root.real_path(p).is_ok_and(|r| r.is_dir())
            })
            .map(|p| p.display().to_string())
            .collect();
        if files.is_empty() {
            sources.push(Source::error(
                path,
                "kubelet",
                format!(
                    "no configuration files found in directory (set by --{CONFIG_FLAG} in {}); the kubelet does not start",
                    cfg.at
                ),
            ));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    let mut providers: Vec<NodeProvider> = Vec::new();
    for file in files {
        let text = match root.read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                sources.push(Source::error(
                    &file,
                    "kubelet",
                    format!(
                        "cannot read the credential provider config (set by --{CONFIG_FLAG} in {}): {e}; the kubelet does not start",
                        cfg.at
                    ),
                ));
                continue;
            }
        };
        match parse_credential_provider_config(&text) {
            Err(e) => sources.push(Source::parse_error(
                &file,
                "kubelet",
                &e.with_consequence(
                    "the kubelet does not start with this credential provider config",
                ),
            )),
            Ok(parsed) => {
                sources.push(Source::ok(&file, "kubelet"));
                for p in parsed.providers {
                    if providers.iter().any(|q| q.provider.name == p.name) {
                        sources.push(Source::finding(
                            &file,
                            "kubelet",
                            Severity::Error,
                            Some(p.line),
                            format!(
                                "line {}: duplicate provider name {:?} found in configuration file(s)",
                                p.line, p.name
                            ),
                        ));
                        continue;
                    }
                    providers.push(NodeProvider {
                        provider: p,
                        file: file.clone(),
                        missing_binary: None,
                    });
                }
            }
        }
    }
    let Some(bin) = bin_dir else {
        if !providers.is_empty() {
            sources.push(Source::finding(
                &cfg.file,
                "kubelet",
                Severity::Error,
                Some(cfg.line),
                format!(
                    "--{CONFIG_FLAG} is set ({}) without --{BIN_DIR_FLAG}: the kubelet cannot run any provider",
                    cfg.at
                ),
            ));
        }
        return providers;
    };
    let dir = bin.value.trim_end_matches('/');
    for p in &mut providers {
        let exe = format!("{dir}/{}", p.provider.name);
        if !root.exists(&exe) {
            sources.push(Source::finding(
                &p.file,
                "kubelet",
                Severity::Error,
                Some(p.provider.line),
                format!(
                    "line {}: kubelet cannot run provider {}: {exe} not found (--{BIN_DIR_FLAG} in {})",
                    p.provider.line, p.provider.name, bin.at
                ),
            ));
            p.missing_binary = Some(exe);
        }
    }
    providers
}

/// The kubelet's `$HOME`, as `os.UserHomeDir()` in kubernetes
/// `pkg/credentialprovider/config.go` reads it, and how it is known. Under
/// systemd (systemd.exec(5)): the unit's environment (`Environment=`,
/// `EnvironmentFile=`, the manager's `DefaultEnvironment=`), else the home
/// of its `User=`; a unit with neither gets no `HOME`. With no kubelet unit
/// on the node (started by hand, or by a supervisor we do not read), root's
/// home is assumed.
fn kubelet_home(root: &HostRoot, sources: &mut Vec<Source>) -> (Option<String>, String) {
    let mut read = Vec::new();
    let Some(exec) = systemd::unit_environment(root, UNIT, KIND, &mut read) else {
        return (
            Some("/root".to_owned()),
            "no kubelet unit found: assumed started as root with HOME=/root".to_owned(),
        );
    };
    crate::config::merge_sources(sources, read);
    if let Some(h) = exec.env.get("HOME") {
        let home = h.value.expose().to_owned();
        return (
            Some(home.clone()).filter(|h| !h.is_empty()),
            format!("HOME={home} from {}", h.origin),
        );
    }
    match exec.user.as_deref() {
        None => (
            None,
            format!("{UNIT} sets no User= and no HOME, so systemd gives it no HOME"),
        ),
        Some(user) => {
            let home = if user == "root" || user == "0" {
                Some("/root".to_owned())
            } else {
                root.read_to_string("/etc/passwd").ok().and_then(|t| {
                    t.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() >= 6 && f[0] == user).then(|| f[5].to_owned())
                    })
                })
            };
            (home, format!("User={user} in {UNIT}"))
        }
    }
}

/// config.go `ReadDockerConfigFile` over the node: every `config.json`
/// candidate, then every `.dockercfg`; the first one that parses wins.
fn find_docker_config(
    root: &HostRoot,
    root_dir: &str,
    home: Option<&str>,
    sources: &mut Vec<Source>,
) -> Option<(String, DockerConfig)> {
    let root_dir = root_dir.trim_end_matches('/');
    // Preferred path (--root-dir), the working directory (`/` under systemd),
    // $HOME (an unset HOME makes it `.docker`, the working directory's, the
    // same as `/`'s), then `/`.
    let home = home.map_or("", |h| h.trim_end_matches('/'));
    let json = [
        format!("{root_dir}/config.json"),
        "/config.json".to_owned(),
        format!("{home}/.docker/config.json"),
        "/.docker/config.json".to_owned(),
    ];
    let legacy = [
        format!("{root_dir}/.dockercfg"),
        "/.dockercfg".to_owned(),
        format!("{home}/.dockercfg"),
    ];
    for (candidates, label) in [(&json[..], "config.json"), (&legacy[..], ".dockercfg")] {
        let mut seen: Vec<&str> = Vec::new();
        for path in candidates {
            if seen.contains(&path.as_str()) {
                continue;
            }
            seen.push(path);
            let Some(text) =
                read_optional_then(root, path, "kubelet", "; the kubelet skips it", sources)
            else {
                continue;
            };
            // An empty file (a hostPath mount point the DaemonSet created)
            // fails to unmarshal and the kubelet goes on to the next
            // candidate without a word (config.go `ReadDockerConfigJSONFile`
            // logs it at V(4) only): it is absent, not broken.
            if text.trim().is_empty() {
                sources.push(Source::ok(path, "kubelet"));
                continue;
            }
            match dockercfg::parse(&text) {
                Err(e) => sources.push(Source::finding(
                    path,
                    "kubelet",
                    Severity::Error,
                    Some(e.line),
                    format!("{e}; the kubelet skips it"),
                )),
                Ok(mut cfg) => {
                    // The kubelet reads only `auths` from a config.json: a
                    // legacy layout there is a valid file with no credentials.
                    if label == "config.json" && cfg.format == Format::LegacyDockercfg {
                        sources.push(Source::error(
                            path,
                            "kubelet",
                            "no \"auths\" object: the kubelet reads no credentials from it (the legacy layout belongs in .dockercfg)",
                        ));
                        cfg.entries.clear();
                    } else {
                        sources.push(Source::ok(path, "kubelet"));
                    }
                    let cfg = cfg.with_label(format!("kubelet {label} {path}"));
                    return Some((path.clone(), cfg));
                }
            }
        }
    }
    None
}

impl KubeletCredentials {
    /// The providers the kubelet would call for `image` (see [`matches()`]).
    #[must_use]
    pub fn providers_for(&self, image: &str) -> Vec<&NodeProvider> {
        self.providers
            .iter()
            .filter(|p| matches(&p.provider, image))
            .collect()
    }

    /// The credential the kubelet's default keyring (its docker config file)
    /// gives for `image`, a repository name or registry host.
    #[must_use]
    pub fn lookup(&self, image: &str) -> Option<Credential> {
        self.docker_config.as_ref()?.1.lookup(image)
    }

    /// Notes for a person: which provider the kubelet would call for
    /// `image`, and what the docker config file says about it.
    #[must_use]
    pub fn remarks(&self, image: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((_, cfg)) = &self.docker_config {
            out.extend(cfg.remarks(image));
        }
        out
    }

    /// Node files that hold credentials for `image` the kubelet never hands
    /// to the runtime: a user's home (`docker login` without sudo, as on
    /// Minikube), or the kubelet's own file when its entry only names a
    /// credential helper. The kubelet's own file wins when it has them.
    #[must_use]
    pub fn unread_for(&self, image: &str) -> Vec<UnreadCredentials> {
        let root_dir = if self.root_dir.is_empty() {
            DEFAULT_ROOT_DIR
        } else {
            self.root_dir.trim_end_matches('/')
        };
        let kubelet_path = format!("{root_dir}/config.json");
        let kubelet_reads = self.docker_config.as_ref().map(|(p, _)| p.clone());
        let mut out = Vec::new();
        if let Some((path, cfg)) = &self.docker_config {
            match cfg.held_for(image) {
                Some(dockercfg::Held::Inline) => return out,
                Some(dockercfg::Held::Helper { setting, helper }) => out.push(UnreadCredentials {
                    path: path.clone(),
                    why: format!(
                        "its entry only names credential helper docker-credential-{helper} ({setting}), and the kubelet reads the file's `auths` only and never runs a helper"
                    ),
                    kubelet_path: kubelet_path.clone(),
                    inline: false,
                    kubelet_reads: kubelet_reads.clone(),
                }),
                None => {}
            }
        }
        for (path, cfg, why) in &self.home_configs {
            let (helper, inline) = match cfg.held_for(image) {
                None => continue,
                Some(dockercfg::Held::Inline) => (String::new(), true),
                Some(dockercfg::Held::Helper { setting, helper }) => (
                    format!(
                        "; and its entry is kept by credential helper docker-credential-{helper} ({setting}), which the kubelet never runs either"
                    ),
                    false,
                ),
            };
            out.push(UnreadCredentials {
                path: path.clone(),
                why: format!("{why}{helper}"),
                kubelet_path: kubelet_path.clone(),
                inline,
                kubelet_reads: kubelet_reads.clone(),
            });
        }
        out
    }

    /// Every credential the kubelet's docker config gives `image`, most
    /// specific key first (the kubelet tries them in turn).
    #[must_use]
    pub fn lookup_all(&self, image: &str) -> Vec<Credential> {
        self.docker_config
            .as_ref()
            .map(|(_, c)| c.lookup_all(image))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(file: &str) -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubelet/");
        std::fs::read_to_string(format!("{dir}{file}")).unwrap()
    }

    fn provider(match_images: &[&str]) -> CredentialProvider {
        CredentialProvider {
            name: "p".to_owned(),
            match_images: match_images.iter().map(|m| (*m).to_owned()).collect(),
            default_cache_duration: Duration::ZERO,
            api_version: PROVIDER_API_VERSIONS[0].to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            service_account_token: false,
            line: 1,
        }
    }

    #[test]
    fn aks_fixture() {
        let cfg = parse_credential_provider_config(&fixture(
            "aks-credential-provider-config-network-isolated.yaml",
        ))
        .unwrap();
        assert_eq!(cfg.api_version, "kubelet.config.k8s.io/v1");
        assert_eq!(cfg.providers.len(), 1);
        let p = &cfg.providers[0];
        assert_eq!(p.name, "acr-credential-provider");
        assert_eq!(p.line, 4);
        assert_eq!(
            p.match_images,
            [
                "*.azurecr.io",
                "*.azurecr.cn",
                "*.azurecr.de",
                "*.azurecr.us",
                "*.*.geo.azurecr.io",
                "*.*.geo.azurecr.cn",
                "*.*.geo.azurecr.de",
                "*.*.geo.azurecr.us",
                "mcr.microsoft.com",
            ]
        );
        assert_eq!(p.default_cache_duration, Duration::from_secs(600));
        assert_eq!(p.api_version, "credentialprovider.kubelet.k8s.io/v1");
        assert_eq!(
            p.args,
            [
                "/etc/kubernetes/azure.json",
                "--registry-mirror=mcr.microsoft.com:test.azurecr.io"
            ]
        );
        assert!(p.env.is_empty() && !p.service_account_token);
        assert!(matches(p, "myreg.azurecr.io/app"));
        assert!(matches(p, "myreg.westeurope.geo.azurecr.io/app"));
        assert!(matches(p, "mcr.microsoft.com/oss/nginx"));
        assert!(!matches(p, "docker.io/library/nginx"));
    }

    #[test]
    fn ecr_docs_fixture() {
        let cfg = parse_credential_provider_config(&fixture(
            "k8s-docs-ecr-credential-provider-config.yaml",
        ))
        .unwrap();
        let p = &cfg.providers[0];
        assert_eq!(p.name, "ecr");
        assert_eq!(p.match_images.len(), 5);
        assert_eq!(p.match_images[0], "*.dkr.ecr.*.amazonaws.com");
        assert_eq!(p.default_cache_duration, Duration::from_secs(12 * 3600));
        assert_eq!(p.args, ["get-credentials"]);
        assert_eq!(p.env.len(), 1);
        assert_eq!(p.env[0].0, "AWS_PROFILE");
        assert_eq!(p.env[0].1.expose(), "example_profile");
        assert!(!format!("{p:?}").contains("example_profile"));
        assert!(matches(
            p,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
        ));
        assert!(!matches(p, "123456789012.dkr.ecr.amazonaws.com/app"));
    }

    #[test]
    fn json_form_parses() {
        let text = r#"{"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "CredentialProviderConfig",
  "providers": [{"name": "gcp", "matchImages": ["gcr.io", "*.pkg.dev"], "defaultCacheDuration": "1h30m",
    "apiVersion": "credentialprovider.kubelet.k8s.io/v1alpha1"}]}"#;
        let cfg = parse_credential_provider_config(text).unwrap();
        assert_eq!(
            cfg.providers[0].default_cache_duration,
            Duration::from_secs(5400)
        );
        assert_eq!(cfg.providers[0].line, 2);
    }

    /// kubernetes `keyring_test.go` `TestURLsMatch`, plus the ACR patterns.
    #[test]
    /// The upstream `TestURLsMatch` table runs against the same matcher in
    /// `dockercfg` (`urls_match_table`); here, the patterns providers ship.
    fn match_images_table() {
        for (glob, image, want) in [
            // ACR: one label per glob, ports must match, paths are prefixes.
            ("*.azurecr.io", "myreg.azurecr.io/app", true),
            ("*.azurecr.io", "myreg.azurecr.io", true),
            ("*.azurecr.io", "a.b.azurecr.io/app", false),
            (
                "*.*.geo.azurecr.io",
                "myreg.eastus.geo.azurecr.io/app",
                true,
            ),
            ("*.*.geo.azurecr.io", "myreg.azurecr.io/app", false),
            ("*.azurecr.io", "myreg.azurecr.io:443/app", false),
            ("registry.io:8080/path", "registry.io:8080/path/app", true),
            ("registry.io:8080/path", "registry.io/path/app", false),
            ("registry.io:8080/path", "registry.io:8080/other", false),
        ] {
            assert_eq!(
                matches(&provider(&[glob]), image),
                want,
                "{glob} vs {image}"
            );
        }
    }

    #[test]
    fn validation_errors_carry_lines() {
        let head =
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n";
        for (body, line, what) in [
            (
                "  - name: a\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    defaultCacheDuration: 1m\n",
                4,
                "matchImages",
            ),
            (
                "  - name: a\n    matchImages: [x.io]\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
                4,
                "defaultCacheDuration is required",
            ),
            (
                "  - name: a\n    matchImages: [x.io]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v2\n",
                4,
                "not supported",
            ),
            (
                "  - matchImages: [x.io]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
                3,
                "name is required",
            ),
            (
                "  - name: a\n    matchImages: [x.io]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n  - name: a\n    matchImages: [y.io]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
                8,
                "duplicate",
            ),
            (
                "  - name: a\n    matchImages: [x.io]\n    defaultCacheDuration: -1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
                4,
                "greater than or equal to 0",
            ),
            (
                "  - name: a\n    matchImages: [\"x.io:abc\"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
                4,
                "is invalid",
            ),
            (
                "  - name: a\n    matchImage: [x.io]\n",
                5,
                "unknown field `matchImage`",
            ),
        ] {
            let e = parse_credential_provider_config(&format!("{head}{body}")).unwrap_err();
            assert_eq!(e.line, Some(line), "{what}: {e}");
            assert!(e.message.contains(what), "{what}: {e}");
        }
        let e = parse_credential_provider_config(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse_credential_provider_config("apiVersion: v1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: apiVersion"), "{e}");
        let e = parse_credential_provider_config(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = parse_credential_provider_config("kind: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn flags_in_env_and_unit_files() {
        assert_eq!(
            kubelet_flag(
                "KUBELET_FLAGS=--a=b --image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider\n",
                CONFIG_FLAG
            ),
            Some((
                "/var/lib/kubelet/credential-provider-config.yaml".to_owned(),
                1
            ))
        );
        let unit = "[Service]\n# ExecStart=/usr/bin/kubelet --image-credential-provider-config=/old\nEnvironment=\"KUBELET_EXTRA_ARGS=--image-credential-provider-config /etc/kubernetes/cp.yaml\"\nExecStart=/usr/bin/kubelet \\\n  --image-credential-provider-bin-dir=/opt/cp/bin \\\n  --root-dir=/data/kubelet\n";
        assert_eq!(
            kubelet_flag(unit, CONFIG_FLAG),
            Some(("/etc/kubernetes/cp.yaml".to_owned(), 3))
        );
        assert_eq!(
            kubelet_flag(unit, BIN_DIR_FLAG),
            Some(("/opt/cp/bin".to_owned(), 5))
        );
        assert_eq!(
            kubelet_flag(unit, ROOT_DIR_FLAG),
            Some(("/data/kubelet".to_owned(), 6))
        );
        assert_eq!(
            kubelet_flag("--image-credential-provider-config-x=1", CONFIG_FLAG),
            None
        );
    }

    struct Root(tempfile::TempDir);

    impl Root {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }
        fn put(&self, node_path: &str, text: &str) -> &Self {
            let p = self.0.path().join(node_path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
            self
        }
        fn discover(&self) -> (KubeletCredentials, Vec<Source>) {
            discover(&HostRoot::new(self.0.path()))
        }
    }

    const AKS_FLAGS: &str = "KUBELET_FLAGS=--image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider\n";

    #[test]
    fn discovery_reads_flags_config_and_binaries() {
        let r = Root::new();
        r.put("/etc/default/kubelet", AKS_FLAGS)
            .put(
                "/var/lib/kubelet/credential-provider-config.yaml",
                &fixture("aks-credential-provider-config-network-isolated.yaml"),
            )
            .put(
                "/var/lib/kubelet/credential-provider/acr-credential-provider",
                "",
            );
        let (k, sources) = r.discover();
        assert_eq!(
            k.provider_config,
            Some((
                "/var/lib/kubelet/credential-provider-config.yaml".to_owned(),
                "/etc/default/kubelet:1".to_owned()
            ))
        );
        assert_eq!(k.providers.len(), 1);
        assert_eq!(k.providers[0].missing_binary, None);
        assert!(sources.iter().all(|s| s.message().is_none()), "{sources:?}");
        assert!(sources.iter().any(|s| s.path == "/etc/default/kubelet"));
        let acr = k.providers_for("myreg.azurecr.io/app");
        assert_eq!(acr.len(), 1);
        assert_eq!(acr[0].provider.name, "acr-credential-provider");
        assert_eq!(
            acr[0].file,
            "/var/lib/kubelet/credential-provider-config.yaml"
        );
        assert!(k.providers_for("docker.io/library/nginx").is_empty());
    }

    #[test]
    fn missing_binary_and_broken_files_are_source_errors() {
        let r = Root::new();
        r.put(
            "/etc/systemd/system/kubelet.service.d/20-cp.conf",
            "[Service]\nEnvironment=\"KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/kubernetes/cp --image-credential-provider-bin-dir=/opt/cp/bin\"\n",
        )
        .put(
            "/etc/kubernetes/cp/10-ecr.yaml",
            &fixture("k8s-docs-ecr-credential-provider-config.yaml"),
        )
        .put(
            "/etc/kubernetes/cp/20-broken.yaml",
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: x\n    matchImages: []\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
        )
        .put("/etc/kubernetes/cp/README", "not config")
        .put("/var/lib/kubelet/config.json", "{\"auths\": {\n  \"a.io\": 5}}")
        .put(
            "/.docker/config.json",
            "{\"auths\": {\"myreg.azurecr.io\": {\"auth\": \"dXNlcjpodW50ZXIy\"}}}",
        );
        let (k, sources) = r.discover();
        assert_eq!(k.providers.len(), 1);
        let missing = sources
            .iter()
            .find(|s| s.path == "/etc/kubernetes/cp/10-ecr.yaml" && s.message().is_some())
            .unwrap();
        assert_eq!(
            missing.message().as_deref(),
            Some(
                "line 12: kubelet cannot run provider ecr: /opt/cp/bin/ecr not found (--image-credential-provider-bin-dir in /etc/systemd/system/kubelet.service.d/20-cp.conf:2)"
            )
        );
        assert_eq!(
            (missing.severity(), missing.line()),
            (Severity::Error, Some(12))
        );
        let at = |path: &str| {
            let s = sources.iter().find(|s| s.path == path).unwrap();
            (s.severity(), s.line())
        };
        assert_eq!(
            at("/etc/kubernetes/cp/20-broken.yaml"),
            (Severity::Error, Some(4))
        );
        assert_eq!(
            at("/var/lib/kubelet/config.json"),
            (Severity::Error, Some(2))
        );
        let broken = sources
            .iter()
            .find(|s| s.path == "/etc/kubernetes/cp/20-broken.yaml")
            .and_then(crate::config::Source::message)
            .unwrap();
        assert!(
            broken.starts_with("line 4: provider \"x\": matchImages"),
            "{broken}"
        );
        assert_eq!(
            k.providers_for("123.dkr.ecr.eu-west-1.amazonaws.com/app")[0]
                .missing_binary
                .as_deref(),
            Some("/opt/cp/bin/ecr")
        );
        // The broken kubelet config.json is skipped; /.docker/config.json is used.
        let bad = sources
            .iter()
            .find(|s| s.path == "/var/lib/kubelet/config.json")
            .and_then(crate::config::Source::message)
            .unwrap();
        assert!(
            bad.starts_with("line 2, column") && bad.ends_with("the kubelet skips it"),
            "{bad}"
        );
        assert_eq!(k.docker_config.as_ref().unwrap().0, "/.docker/config.json");
        let c = k.lookup("myreg.azurecr.io/app").unwrap();
        assert_eq!(c.username(), "user");
        assert_eq!(
            c.source,
            "kubelet config.json /.docker/config.json (key \"myreg.azurecr.io\")"
        );
        for s in &sources {
            assert!(!format!("{s:?}").contains("hunter2"));
        }
    }

    #[test]
    fn a_bin_dir_without_a_config_is_a_warning_at_its_line() {
        let r = Root::new();
        r.put(
            "/etc/default/kubelet",
            "# AKS\nKUBELET_FLAGS=--v=2 --image-credential-provider-bin-dir=/opt/cp\n",
        );
        let (k, sources) = r.discover();
        assert!(k.providers.is_empty());
        let s: Vec<_> = sources
            .iter()
            .filter(|s| s.path == "/etc/default/kubelet")
            .collect();
        assert_eq!(s.len(), 1, "one entry per file: {sources:?}");
        assert_eq!((s[0].severity(), s[0].line()), (Severity::Warning, Some(2)));
        assert!(
            s[0].message()
                .unwrap()
                .contains("registers no credential provider")
        );
    }

    #[test]
    fn docker_config_search_order_and_legacy() {
        let r = Root::new();
        r.put("/.dockercfg", r#"{"quay.io": {"auth": "Zm9vOmJhcg=="}}"#);
        let (k, _) = r.discover();
        assert_eq!(
            k.lookup("quay.io/x").unwrap().source,
            "kubelet .dockercfg /.dockercfg (key \"quay.io\")"
        );
        r.put("/root/.docker/config.json", r#"{"auths": {}}"#)
            .put(
                "/data/kubelet/config.json",
                r#"{"auths": {"quay.io": {"auth": "Zm9vOmJhcg=="}}}"#,
            )
            .put(
                "/etc/sysconfig/kubelet",
                "KUBELET_EXTRA_ARGS=--root-dir=/data/kubelet\n",
            );
        let (k, _) = r.discover();
        assert_eq!(
            k.docker_config.as_ref().unwrap().0,
            "/data/kubelet/config.json"
        );
        // A config.json in the legacy layout is valid to the kubelet, and empty.
        let r = Root::new();
        r.put(
            "/var/lib/kubelet/config.json",
            r#"{"quay.io": {"auth": "Zm9vOmJhcg=="}}"#,
        );
        let (k, sources) = r.discover();
        assert!(k.lookup("quay.io/x").is_none());
        assert!(
            sources[0]
                .message()
                .as_deref()
                .unwrap()
                .contains("no \"auths\"")
        );
        // Nothing at all.
        let (k, sources) = Root::new().discover();
        assert_eq!(
            k,
            KubeletCredentials {
                root_dir: DEFAULT_ROOT_DIR.to_owned(),
                home: (
                    Some("/root".to_owned()),
                    "no kubelet unit found: assumed started as root with HOME=/root".to_owned()
                ),
                ..KubeletCredentials::default()
            }
        );
        assert!(sources.is_empty());
    }

    /// The kubelet reads `$HOME/.docker/config.json` only with a `HOME`:
    /// systemd gives a unit one from `Environment=` or its `User=`, never
    /// by default (kubeadm's kubelet.service sets neither).
    #[test]
    fn root_docker_config_is_read_only_with_home_root() {
        const CREDS: &str = r#"{"auths": {"quay.io": {"auth": "Zm9vOmJhcg=="}}}"#;
        const UNIT: &str = "[Service]\nExecStart=/usr/bin/kubelet\n";
        // kubeadm's unit: no HOME, so /root/.docker is never read, and said so.
        let r = Root::new();
        r.put("/root/.docker/config.json", CREDS)
            .put("/usr/lib/systemd/system/kubelet.service", UNIT);
        let (k, sources) = r.discover();
        assert!(k.docker_config.is_none(), "{:?}", k.docker_config);
        assert_eq!(k.home.0, None);
        let unread = k.unread_for("quay.io/x");
        assert_eq!(unread.len(), 1, "{unread:?}");
        assert!(
            unread[0].why.contains("HOME is not /root"),
            "{}",
            unread[0].why
        );
        assert!(
            sources
                .iter()
                .any(|s| s.path == "/root/.docker/config.json")
        );
        // Environment=HOME=/root in a drop-in, or User=root: read.
        for dropin in [
            "[Service]\nEnvironment=HOME=/root\n",
            "[Service]\nUser=root\n",
        ] {
            let r = Root::new();
            r.put("/root/.docker/config.json", CREDS)
                .put("/usr/lib/systemd/system/kubelet.service", UNIT)
                .put("/etc/systemd/system/kubelet.service.d/10-home.conf", dropin);
            let (k, _) = r.discover();
            assert_eq!(k.home.0.as_deref(), Some("/root"), "{dropin}");
            assert_eq!(
                k.docker_config.as_ref().map(|(p, _)| p.as_str()),
                Some("/root/.docker/config.json")
            );
            assert!(k.unread_for("quay.io/x").is_empty());
        }
    }

    /// A kubelet run as a user (`User=kube`) reads that user's
    /// `.docker/config.json`: it is not named as unread; another user's is.
    #[test]
    fn the_kubelets_own_home_is_not_unread() {
        const CREDS: &str = r#"{"auths": {"quay.io": {"auth": "Zm9vOmJhcg=="}}}"#;
        let r = Root::new();
        r.put(
            "/usr/lib/systemd/system/kubelet.service",
            "[Service]\nUser=kube\nExecStart=/usr/bin/kubelet\n",
        )
        .put("/etc/passwd", "kube:x:999:999::/home/kube:/bin/sh\n")
        .put("/home/kube/.docker/config.json", CREDS)
        .put("/home/docker/.docker/config.json", CREDS);
        let (k, _) = r.discover();
        assert_eq!(k.home.0.as_deref(), Some("/home/kube"));
        assert_eq!(
            k.docker_config.as_ref().map(|(p, _)| p.as_str()),
            Some("/home/kube/.docker/config.json")
        );
        let unread: Vec<&str> = k.home_configs.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(unread, ["/home/docker/.docker/config.json"]);
    }
}
