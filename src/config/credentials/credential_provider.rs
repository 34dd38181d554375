//! Running a kubelet image credential provider the way the kubelet does
//! (kubernetes `pkg/credentialprovider/plugin/plugin.go`, `ExecPlugin`):
//! the binary `<bin-dir>/<name>` with the config's `args`, the environment
//! plus the config's `env`, a `CredentialProviderRequest` (`{apiVersion,
//! kind, image}`) on stdin, and a `CredentialProviderResponse` on stdout
//! whose `apiVersion` must be the one asked for and whose `auth` entries
//! become a keyring (`cacheKeyType` Image, Registry or Global is required).
//!
//! Bounds: the kubelet gives a provider one minute (`context.WithTimeout(ctx,
//! 1*time.Minute)`); the probe gives it that or what is left of its run,
//! whichever is shorter. The kubelet reads stdout whole; we stop at 1 MiB.
//!
//! Node paths: the binary runs under `--root`, and `args` or `env` values
//! that are absolute paths of files present under `--root` are re-rooted
//! (AKS passes `/etc/kubernetes/azure.json`), and the result says so.
//!
//! What it must not do: echo stdout anywhere (it holds secrets; the kubelet
//! says only "error decoding credential provider plugin response from
//! stdout"), keep a password as a plain string, or run anything but the
//! binary the node's config names.

use crate::config::credentials::dockercfg::DockerConfig;
use crate::config::credentials::kubelet::{CredentialProvider, NodeProvider};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{Credential, CredentialKind, ProviderFailure};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The kubelet's catch-all exec timeout (plugin.go).
pub const KUBELET_TIMEOUT: Duration = Duration::from_secs(60);
/// The most stdout we read from a provider.
pub const MAX_STDOUT: usize = 1 << 20;
/// The most stderr we keep (its last line is reported).
const MAX_STDERR: usize = 64 * 1024;

/// What a provider answered, as the kubelet keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderAnswer {
    /// The `auth` entries as a keyring, labelled with the provider.
    pub keyring: DockerConfig,
    /// `Image`, `Registry` or `Global`.
    pub cache_key_type: String,
    /// `cacheDuration`, if given.
    pub cache_duration: Option<String>,
    /// Arguments and environment values re-rooted under `--root`.
    pub rerooted: Vec<String>,
}

impl ProviderAnswer {
    /// The credentials for `image` (a repository name), most specific first,
    /// of kind `provider`.
    #[must_use]
    pub fn credentials(&self, image: &str) -> Vec<Credential> {
        self.keyring
            .lookup_all(image)
            .into_iter()
            .map(|c| c.of_kind(CredentialKind::Provider))
            .collect()
    }
}

/// The kubelet's cache of provider answers, kept by the agent across rounds
/// so that a provider runs about as often as the kubelet runs it (an ECR or
/// ACR provider costs its cloud an API call per run). As `plugin.go`
/// (`pluginProvider.provide`, `getCachedCredentials`): an answer is filed
/// under the image, its registry or one global key by its `cacheKeyType`,
/// kept for its `cacheDuration` or else the config's
/// `defaultCacheDuration`, not at all when that is zero; a lookup tries the
/// image, then its registry, then the global key. Failures are not kept.
#[derive(Debug, Default)]
pub struct ProviderCache {
    entries:
        std::sync::Mutex<std::collections::HashMap<(String, String), (Instant, ProviderAnswer)>>,
}

impl ProviderCache {
    /// The answer of `provider` still fresh for `image` (a repository name).
    #[must_use]
    pub fn get(&self, provider: &str, image: &str) -> Option<ProviderAnswer> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        entries.retain(|_, (expires, _)| *expires > now);
        ["Image", "Registry", "Global"]
            .iter()
            .find_map(|t| entries.get(&(provider.to_owned(), cache_key(t, image))))
            .map(|(_, a)| a.clone())
    }

    /// Keep `answer` of `provider`, asked for `image`, as the kubelet would.
    pub fn put(&self, provider: &CredentialProvider, image: &str, answer: &ProviderAnswer) {
        let ttl = match answer.cache_duration.as_deref() {
            None => provider.default_cache_duration,
            Some(d) => match crate::config::go_duration::parse(d.trim()) {
                Ok(d) => d,
                // The kubelet would have refused to decode it; keep nothing.
                Err(_) => return,
            },
        };
        if ttl.is_zero() {
            return;
        }
        let key = cache_key(&answer.cache_key_type, image);
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.insert(
            (provider.name.clone(), key),
            (Instant::now() + ttl, answer.clone()),
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawResponse {
    api_version: Option<String>,
    kind: Option<String>,
    cache_key_type: Option<String>,
    cache_duration: Option<String>,
    #[serde(default)]
    auth: BTreeMap<String, RawAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Secret,
}

/// Decode a provider's stdout. The error never quotes the output.
pub fn parse_response(stdout: &[u8], api_version: &str) -> Result<RawParts, String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).map_err(|_| {
        "its answer is not JSON (the kubelet: error reading GVK from response)".to_owned()
    })?;
    let got = v
        .get("apiVersion")
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    if got != api_version {
        return Err(format!(
            "its answer has apiVersion {got:?}, not {api_version:?} as configured (the kubelet rejects it)"
        ));
    }
    let raw: RawResponse = serde_json::from_value(v).map_err(|_| {
        "error decoding credential provider plugin response from stdout (unknown or mistyped fields)"
            .to_owned()
    })?;
    if raw.kind.as_deref() != Some("CredentialProviderResponse") {
        return Err(format!(
            "its answer's kind is {:?}, not CredentialProviderResponse",
            raw.kind.unwrap_or_default()
        ));
    }
    let cache_key_type = raw.cache_key_type.unwrap_or_default();
    if !matches!(cache_key_type.as_str(), "Image" | "Registry" | "Global") {
        return Err(format!(
            "its answer's cacheKeyType {cache_key_type:?} is not Image, Registry or Global (the kubelet drops it)"
        ));
    }
    let _ = raw.api_version;
    Ok(RawParts {
        cache_key_type,
        cache_duration: raw.cache_duration,
        auth: raw
            .auth
            .into_iter()
            .map(|(k, a)| (k, a.username, a.password))
            .collect(),
    })
}

/// A decoded response, secrets already [`Secret`]s.
pub struct RawParts {
    pub cache_key_type: String,
    pub cache_duration: Option<String>,
    pub auth: Vec<(String, String, Secret)>,
}

/// An argument or environment value re-rooted when it is an absolute path
/// (or `--flag=/path`) of a file present under `root`.
fn reroot(value: &str, root: &HostRoot, rerooted: &mut Vec<String>) -> String {
    let (prefix, path) = match value.split_once('=') {
        Some((k, v)) if v.starts_with('/') => (format!("{k}="), v),
        _ => (String::new(), value),
    };
    if !path.starts_with('/') || root.root() == Path::new("/") {
        return value.to_owned();
    }
    match root.real_path(path) {
        Ok(real) if real.exists() => {
            let shown = real.display().to_string();
            rerooted.push(format!("{path} -> {shown}"));
            format!("{prefix}{shown}")
        }
        _ => value.to_owned(),
    }
}

/// The last non-empty line of a provider's stderr, short.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        out.push_str("...");
    }
    out
}

/// Run `provider` for `image` (a repository name without tag, as the kubelet
/// passes it), within `limit`.
pub async fn run(
    root: &HostRoot,
    provider: &NodeProvider,
    bin_dir: &str,
    image: &str,
    limit: Duration,
) -> Result<ProviderAnswer, ProviderFailure> {
    let p = &provider.provider;
    let node_path = format!("{}/{}", bin_dir.trim_end_matches('/'), p.name);
    let fail = |reason: String| ProviderFailure {
        name: p.name.clone(),
        path: node_path.clone(),
        config: provider.file.clone(),
        reason,
    };
    let Ok(binary) = root.real_path(&node_path) else {
        return Err(fail(format!(
            "the binary {node_path} is not there (the kubelet refuses to start with it missing)"
        )));
    };
    if !binary.is_file() {
        return Err(fail(format!("the binary {node_path} is not there")));
    }
    let mut rerooted = Vec::new();
    let args: Vec<String> = p
        .args
        .iter()
        .map(|a| reroot(a, root, &mut rerooted))
        .collect();
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The kubelet's own environment plus the config's `env`; ours stands in
    // for the kubelet's, less the probe's own settings.
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        if !k.to_string_lossy().starts_with("PROBE_") {
            cmd.env(k, v);
        }
    }
    for (k, v) in &p.env {
        cmd.env(k, reroot(v.expose(), root, &mut rerooted));
    }
    let request = serde_json::json!({
        "apiVersion": p.api_version,
        "kind": "CredentialProviderRequest",
        "image": image,
    })
    .to_string();
    let limit = limit.min(KUBELET_TIMEOUT);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot run {node_path}: {e}")))?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let exchange = async {
        if let Some(mut i) = stdin.take() {
            // A provider that does not read its request is not our failure.
            let _ = i.write_all(request.as_bytes()).await;
            drop(i);
        }
        let mut out = Vec::new();
        let mut err = Vec::new();
        let over = {
            let read_out = async {
                if let Some(o) = stdout.as_mut() {
                    let _ = o.take(MAX_STDOUT as u64 + 1).read_to_end(&mut out).await;
                }
                out.len() > MAX_STDOUT
            };
            let read_err = async {
                if let Some(e) = stderr.as_mut() {
                    let _ = e.take(MAX_STDERR as u64).read_to_end(&mut err).await;
                    // The rest is not kept, but read: a provider blocked on
                    // a full stderr pipe would never exit.
                    let _ = tokio::io::copy(e, &mut tokio::io::sink()).await;
                }
            };
            let (mut read_out, mut read_err) = (std::pin::pin!(read_out), std::pin::pin!(read_err));
            // Past the cap the answer is refused at once: stderr's end is not
            // awaited (a provider's children may hold it open).
            tokio::select! {
                over = &mut read_out => {
                    if !over {
                        (&mut read_err).await;
                    }
                    over
                }
                () = &mut read_err => (&mut read_out).await,
            }
        };
        if over {
            let _ = child.start_kill();
        }
        (out, err)
    };
    let Ok((out, err)) = tokio::time::timeout(limit, exchange).await else {
        let _ = child.start_kill();
        return Err(fail(format!(
            "no answer within {} (the kubelet waits 1m)",
            humantime::format_duration(limit)
        )));
    };
    if out.len() > MAX_STDOUT {
        let _ = child.start_kill();
        return Err(fail(format!(
            "its answer is larger than {MAX_STDOUT} bytes; not read"
        )));
    }
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(fail(format!("cannot wait for it: {e}"))),
        Err(_) => {
            let _ = child.start_kill();
            return Err(fail("it closed its output but did not exit".to_owned()));
        }
    };
    let stderr_line = last_line(&err);
    let said = if stderr_line.is_empty() {
        String::new()
    } else {
        format!(": {stderr_line}")
    };
    if !status.success() {
        let how = status.code().map_or_else(
            || "was killed by a signal".to_owned(),
            |c| format!("exited {c}"),
        );
        return Err(fail(format!("it {how}{said}")));
    }
    let parts = parse_response(&out, &p.api_version).map_err(|why| fail(format!("{why}{said}")))?;
    Ok(ProviderAnswer {
        keyring: DockerConfig::from_entries(
            format!("kubelet credential provider {} ({})", p.name, provider.file),
            parts.auth,
        ),
        cache_key_type: parts.cache_key_type,
        cache_duration: parts.cache_duration,
        rerooted,
    })
}

/// The key a provider's answer is cached under for `image` (plugin.go:
/// the image, its registry (`parseRegistry`), or `globalCacheKey`).
fn cache_key(cache_key_type: &str, image: &str) -> String {
    match cache_key_type {
        "Image" => image.to_owned(),
        "Registry" => crate::reference::domain_part(image).to_owned(),
        _ => "global".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_strictly_and_never_quoted() {
        let v1 = "credentialprovider.kubelet.k8s.io/v1";
        let good = br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"6h","auth":{"*.azurecr.io":{"username":"00000000-0000-0000-0000-000000000000","password":"s3cret-refresh"}}}"#;
        let p = parse_response(good, v1).unwrap();
        assert_eq!(p.cache_key_type, "Registry");
        assert_eq!(p.auth[0].2.expose(), "s3cret-refresh");
        for (bad, why) in [
            (&b"not json s3cret"[..], "not JSON"),
            (br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","cacheKeyType":"Image"}"#, "apiVersion"),
            (br#"{"kind":"Nope","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image"}"#, "kind"),
            (br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#, "cacheKeyType"),
            (br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","auth":{"a":{"username":"u","password":"s3cret","extra":1}}}"#, "decoding"),
        ] {
            let e = parse_response(bad, v1).err().unwrap();
            assert!(e.contains(why), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn cache_keys_follow_the_kubelet() {
        assert_eq!(cache_key("Image", "reg.io/a/b"), "reg.io/a/b");
        assert_eq!(cache_key("Registry", "reg.io:5000/a/b"), "reg.io:5000");
        assert_eq!(cache_key("Global", "reg.io/a"), "global");
    }

    #[test]
    fn the_cache_keeps_answers_as_the_kubelet_does() {
        let answer = |key_type: &str, duration: Option<&str>| ProviderAnswer {
            keyring: DockerConfig::from_entries("p", vec![]),
            cache_key_type: key_type.to_owned(),
            cache_duration: duration.map(str::to_owned),
            rerooted: vec![],
        };
        let provider = |default_secs: u64| CredentialProvider {
            name: "ecr".to_owned(),
            match_images: vec![],
            default_cache_duration: Duration::from_secs(default_secs),
            api_version: String::new(),
            args: vec![],
            env: vec![],
            service_account_token: false,
            line: 1,
        };
        let cache = ProviderCache::default();
        // Registry key: any image of that registry finds it, another registry does not.
        cache.put(&provider(0), "reg.io/a", &answer("Registry", Some("1h")));
        assert!(cache.get("ecr", "reg.io/b/c").is_some());
        assert!(cache.get("ecr", "other.io/a").is_none());
        assert!(cache.get("acr", "reg.io/a").is_none(), "per provider");
        // No cacheDuration: the config's default; zero keeps nothing.
        let cache = ProviderCache::default();
        cache.put(&provider(0), "reg.io/a", &answer("Image", None));
        assert!(cache.get("ecr", "reg.io/a").is_none());
        cache.put(&provider(600), "reg.io/a", &answer("Image", None));
        assert!(cache.get("ecr", "reg.io/a").is_some());
        assert!(
            cache.get("ecr", "reg.io/b").is_none(),
            "an image key is that image's"
        );
        // Expired answers are gone; a global one serves everything.
        let cache = ProviderCache::default();
        cache.put(&provider(0), "reg.io/a", &answer("Global", Some("1ns")));
        std::thread::sleep(Duration::from_millis(2));
        assert!(cache.get("ecr", "reg.io/a").is_none());
        cache.put(&provider(0), "reg.io/a", &answer("Global", Some("1h")));
        assert!(cache.get("ecr", "x.io/y").is_some());
    }

    /// A provider past the stdout cap is refused as such, at once, even when
    /// it would go on writing (or block on its full pipe) until the timeout.
    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_at_once() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("flood");
        std::fs::write(
            &script,
            "#!/bin/sh\nhead -c 3000000 /dev/zero\nhead -c 200000 /dev/zero >&2\nsleep 30\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let provider = NodeProvider {
            provider: CredentialProvider {
                name: "flood".to_owned(),
                match_images: vec!["reg.test".to_owned()],
                default_cache_duration: Duration::ZERO,
                api_version: "credentialprovider.kubelet.k8s.io/v1".to_owned(),
                args: Vec::new(),
                env: Vec::new(),
                service_account_token: false,
                line: 1,
            },
            file: "/etc/kubernetes/credential-provider.yaml".to_owned(),
            missing_binary: None,
        };
        let started = std::time::Instant::now();
        let root = HostRoot::new(dir.path());
        let e = run(
            &root,
            &provider,
            "/bin",
            "reg.test/app",
            Duration::from_secs(20),
        )
        .await
        .err()
        .unwrap();
        assert!(e.reason.contains("larger than"), "{}", e.reason);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn paths_under_the_root_are_rerooted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/kubernetes")).unwrap();
        std::fs::write(dir.path().join("etc/kubernetes/azure.json"), "{}").unwrap();
        let root = HostRoot::new(dir.path());
        let mut seen = Vec::new();
        let a = reroot("/etc/kubernetes/azure.json", &root, &mut seen);
        assert_eq!(
            a,
            dir.path()
                .join("etc/kubernetes/azure.json")
                .display()
                .to_string()
        );
        let b = reroot("--config=/etc/kubernetes/azure.json", &root, &mut seen);
        assert!(b.starts_with("--config=/") && b.ends_with("etc/kubernetes/azure.json"));
        assert_eq!(reroot("/not/there", &root, &mut seen), "/not/there");
        assert_eq!(reroot("relative", &root, &mut seen), "relative");
        assert_eq!(seen.len(), 2);
    }
}
