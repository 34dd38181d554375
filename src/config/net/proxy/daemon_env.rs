//! The runtime daemon's environment, as systemd and the kernel give it: the
//! part of [`super::ProxyEnv`] discovery that reads the node.
//!
//! A daemon started by systemd gets the manager's `DefaultEnvironment=`
//! (`/etc/systemd/system.conf` and `system.conf.d/*.conf`), then its unit's
//! `Environment=` (unit file, then drop-ins in lexical order), then its
//! `EnvironmentFile=`s, which override `Environment=` whatever their order in
//! the unit (systemd.exec(5)), then `UnsetEnvironment=`. `/etc/environment`
//! only counts when a unit names it in `EnvironmentFile=` (AKS does that for
//! kubelet, not for containerd) or through PAM, which daemons do not use.
//! When the daemon is running and the host's `/proc` is visible under the
//! root, its `/proc/<pid>/environ` is the truth and the files are only the
//! fallback.
//!
//! systemd's own rules (unit search path, drop-in order, the parsers) are
//! [`crate::config::systemd`]'s; this module applies them to the runtime's
//! unit and reads `/proc/<pid>/environ` (its parser takes `&[u8]` and never
//! touches the disk). Only [`discover`] reads files, through [`HostRoot`]. Every value is a [`Secret`] from parsing on; no error
//! message quotes one. Applying the variables to a URL is
//! [`super::httpproxy`]'s job, not this module's.

use super::ProxyEnv;
use crate::config::Source;
use crate::config::systemd;
pub use crate::config::systemd::{EnvMap, EnvValue};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use std::path::Path;

/// The `kind` of the files read here (`CONTRACT.md`: `config_sources[].kind`).
const KIND: &str = "proxy";

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// `/proc/<pid>/environ`: NUL-separated `KEY=VALUE`. A Go process reads its
/// environment with `syscall.copyenv`, where the first of duplicate keys
/// wins, so later duplicates are dropped here.
#[must_use]
pub fn parse_proc_environ(bytes: &[u8]) -> Vec<(String, Secret)> {
    let mut out: Vec<(String, Secret)> = Vec::new();
    for entry in bytes.split(|b| *b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((k, v)) = entry.split_once('=')
            && !k.is_empty()
            && !out.iter().any(|(ok, _)| ok == k)
        {
            out.push((k.to_owned(), Secret::new(v)));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// The systemd unit that runs `runtime`'s daemon (`containerd.service`),
/// the first of its candidates that has a file under `root`, else the first.
#[must_use]
pub fn runtime_unit(root: &HostRoot, runtime: &str) -> Option<(&'static str, Vec<String>)> {
    let (units, _) = runtime_units(runtime);
    let mut ignored = Vec::new();
    for unit in units {
        let files = systemd::unit_files(root, unit, KIND, &mut ignored);
        if !files.is_empty() {
            return Some((unit, files));
        }
    }
    units.first().map(|u| (*u, Vec::new()))
}

/// The systemd units and process names (`/proc/<pid>/comm`) of a runtime.
fn runtime_units(runtime: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match runtime {
        "containerd" => (&["containerd.service"], &["containerd"]),
        "crio" | "cri-o" => (&["crio.service", "cri-o.service"], &["crio"]),
        "docker" => (&["docker.service"], &["dockerd"]),
        "k3s" => (
            &["k3s.service", "k3s-agent.service"],
            &["k3s", "k3s-server", "k3s-agent"],
        ),
        _ => (&[], &[]),
    }
}

/// The proxy environment of `runtime` (`containerd`, `crio`, `docker`, `k3s`)
/// on the node under `root`, and every file consulted (kind `proxy`).
///
/// The running daemon's `/proc/<pid>/environ` wins when the host's `/proc` is
/// visible at `<root>/proc`; otherwise the environment systemd would build
/// from the unit files. Docker's `daemon.json` `proxies` are applied by the
/// caller with [`ProxyEnv::with_docker_proxies`].
#[must_use]
pub fn discover(root: &HostRoot, runtime: &str) -> (ProxyEnv, Vec<Source>) {
    let mut sources = Vec::new();
    let mut env = systemd_env(root, runtime, &mut sources);
    if let Some(proc_env) = proc_env(root, runtime, &mut sources) {
        env = proc_env;
    }
    let mut merged = Vec::new();
    crate::config::merge_sources(&mut merged, sources);
    (ProxyEnv::from_env(&env), merged)
}

/// The environment systemd would give the runtime's unit
/// ([`systemd::unit_environment`]): the first of the runtime's units that
/// has any file.
fn systemd_env(root: &HostRoot, runtime: &str, sources: &mut Vec<Source>) -> EnvMap {
    let (units, _) = runtime_units(runtime);
    let mut env = units
        .iter()
        .find_map(|unit| systemd::unit_environment(root, unit, KIND, sources))
        .map(|u| u.env)
        .unwrap_or_else(|| systemd::manager_environment(root, KIND, sources));
    if runtime == "k3s" {
        apply_k3s_containerd_prefix(&mut env);
    }
    env
}

/// k3s hands its embedded containerd `CONTAINERD_X` as `X`, overriding the
/// inherited `X` (k3s-io/k3s#3553; `os/exec` keeps the last duplicate).
fn apply_k3s_containerd_prefix(env: &mut EnvMap) {
    let prefixed: Vec<(String, EnvValue)> = env
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("CONTAINERD_")
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), v.clone()))
        })
        .collect();
    for (k, v) in prefixed {
        env.set(&k, v.value, &v.origin);
    }
}

/// The running runtime's environment from `<root>/proc/<pid>/environ`.
fn proc_env(root: &HostRoot, runtime: &str, sources: &mut Vec<Source>) -> Option<EnvMap> {
    let (_, comms) = runtime_units(runtime);
    if comms.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = root
        .read_dir("/proc")
        .ok()?
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let pid = pids.into_iter().find(|pid| {
        root.read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
            .is_ok_and(|c| comms.contains(&c.trim_end_matches('\n')))
    })?;
    let path = format!("/proc/{pid}/environ");
    match root.read(&path) {
        Ok(bytes) => {
            let mut env = EnvMap::default();
            for (k, v) in parse_proc_environ(&bytes) {
                env.set(&k, v, &path);
            }
            if runtime == "k3s" {
                apply_k3s_containerd_prefix(&mut env);
            }
            sources.push(Source::ok(path, KIND));
            Some(env)
        }
        Err(e) => {
            // Not the runtime's problem, only ours: a warning.
            sources.push(Source::warning(
                path,
                KIND,
                format!("cannot read: {e}; using the unit files instead"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;
    use crate::config::net::proxy::proxy_for;
    use crate::target::ProxyUrl;

    use crate::config::{exposed, pairs};

    fn fixture(name: &str) -> String {
        crate::config::fixture("proxy", name)
    }

    #[test]
    fn proc_environ_first_duplicate_wins() {
        let got = exposed(parse_proc_environ(
            b"PATH=/bin\0HTTP_PROXY=http://a:1\0junk\0HTTP_PROXY=http://b:2\0EQ=a=b\0",
        ));
        assert_eq!(
            got,
            pairs(&[
                ("PATH", "/bin"),
                ("HTTP_PROXY", "http://a:1"),
                ("EQ", "a=b")
            ])
        );
        assert!(parse_proc_environ(b"").is_empty());
    }

    fn write(root: &Path, node: &str, contents: &[u8]) {
        let p = root.join(node.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    #[test]
    fn discover_aks_default_environment_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "/etc/systemd/system.conf.d/proxy.conf",
            fixture("aks-system.conf.d-proxy.conf").as_bytes(),
        );
        write(
            dir.path(),
            "/lib/systemd/system/containerd.service",
            b"[Service]\nExecStart=/usr/bin/containerd\n",
        );
        let (env, sources) = discover(&HostRoot::new(dir.path()), "containerd");
        let https = env.https_proxy.clone().unwrap();
        assert_eq!(https.source, "/etc/systemd/system.conf.d/proxy.conf:4");
        assert_eq!(https.name, "HTTPS_PROXY");
        assert!(
            sources.iter().any(
                |s| s.path == "/lib/systemd/system/containerd.service" && s.message().is_none()
            )
        );
        let proxy = ProxyUrl::parse("http://10.0.0.4:3128/").unwrap();
        assert_eq!(
            proxy_for(&env, "https", "myregistry.azurecr.io", 443),
            Some(proxy)
        );
        assert_eq!(proxy_for(&env, "https", "mcr.microsoft.com", 443), None);
        assert_eq!(proxy_for(&env, "https", "10.224.3.4", 443), None);
        assert_eq!(proxy_for(&env, "https", "registry.default.svc", 443), None);
        assert_eq!(proxy_for(&env, "https", "169.254.169.254", 80), None);
    }

    #[test]
    fn discover_dropin_then_environ_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        write(
            dir.path(),
            "/lib/systemd/system/containerd.service",
            b"[Service]\nEnvironment=HTTP_PROXY=http://unit:1\n",
        );
        write(
            dir.path(),
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            fixture("kubespray-containerd.service.d-http-proxy.conf").as_bytes(),
        );
        write(
            dir.path(),
            "/etc/systemd/system/containerd.service.d/zz-no.conf",
            b"[Service]\nEnvironment=\"NO_PROXY=.later\"\n",
        );

        let (env, sources) = discover(&root, "containerd");
        let http = env.http_proxy.unwrap();
        assert_eq!(
            http.value.expose(),
            "http://proxy.example.com:3128",
            "drop-ins override the unit file"
        );
        assert_eq!(
            http.source,
            "/etc/systemd/system/containerd.service.d/http-proxy.conf:2"
        );
        assert_eq!(
            env.no_proxy.unwrap().source,
            "/etc/systemd/system/containerd.service.d/zz-no.conf:2"
        );
        assert!(
            sources
                .iter()
                .all(|s| s.kind == "proxy" && s.message().is_none()),
            "{sources:?}"
        );

        // The running daemon's environment is the truth.
        write(dir.path(), "/proc/17/comm", b"bash\n");
        write(dir.path(), "/proc/4242/comm", b"containerd\n");
        write(
            dir.path(),
            "/proc/4242/environ",
            b"PATH=/usr/bin\0https_proxy=http://live:3128\0NO_PROXY=*\0",
        );
        write(dir.path(), "/proc/self/comm", b"probe\n");
        let (env, sources) = discover(&root, "containerd");
        assert!(env.http_proxy.is_none(), "files are only the fallback");
        let https = env.https_proxy.unwrap();
        assert_eq!(
            (https.value.expose(), https.source.as_str()),
            ("http://live:3128", "/proc/4242/environ")
        );
        assert!(sources.iter().any(|s| s.path == "/proc/4242/environ"));
    }

    #[test]
    fn discover_environment_file_beats_environment_and_k3s_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        // k3s install.sh's unit shape.
        write(
            dir.path(),
            "/etc/systemd/system/k3s-agent.service",
            b"[Service]\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=-/etc/systemd/system/k3s-agent.service.env\nEnvironment=HTTPS_PROXY=http://env-directive:1\n",
        );
        write(
            dir.path(),
            "/etc/systemd/system/k3s-agent.service.env",
            b"HTTPS_PROXY=http://file:2\nCONTAINERD_HTTPS_PROXY=\"http://containerd-only:3\"\nCONTAINERD_NO_PROXY=.corp\n",
        );
        let (env, sources) = discover(&root, "k3s");
        let https = env.https_proxy.unwrap();
        assert_eq!(https.value.expose(), "http://containerd-only:3");
        assert_eq!(https.source, "/etc/systemd/system/k3s-agent.service.env:2");
        assert_eq!(env.no_proxy.unwrap().value.expose(), ".corp");
        assert!(sources.iter().all(|s| s.message().is_none()), "{sources:?}");

        // A required EnvironmentFile= that is missing is reported; Environment= still applies.
        write(dir.path(), "/etc/systemd/system/crio.service", b"[Service]\nEnvironment=HTTPS_PROXY=http://d:1\nEnvironmentFile=/etc/crio.env\nUnsetEnvironment=NO_PROXY\nEnvironment=NO_PROXY=x\n");
        let (env, sources) = discover(&root, "crio");
        assert_eq!(env.https_proxy.unwrap().value.expose(), "http://d:1");
        assert!(env.no_proxy.is_none(), "UnsetEnvironment= is applied last");
        let missing = sources.iter().find(|s| s.path == "/etc/crio.env").unwrap();
        assert!(
            missing
                .message()
                .as_deref()
                .unwrap()
                .contains("fails to start"),
            "{missing:?}"
        );
    }

    /// Each line systemd ignores is an error of its own, at its line, in
    /// the one entry the file has; what parsed before it still applies.
    #[test]
    fn ignored_unit_lines_are_errors_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = "/etc/systemd/system/containerd.service.d/p.conf";
        write(
            dir.path(),
            path,
            b"[Service]\nEnvironment=HTTPS_PROXY=http://p:1 \"BROKEN\nnot an assignment\nEnvironmentFile=%Z/x\n",
        );
        let (env, sources) = discover(&HostRoot::new(dir.path()), "containerd");
        assert_eq!(env.https_proxy.unwrap().value.expose(), "http://p:1");
        let unit: Vec<&Source> = sources.iter().filter(|s| s.path == path).collect();
        assert_eq!(unit.len(), 1, "{sources:?}");
        let got: Vec<(Option<usize>, Severity)> = unit[0]
            .findings
            .iter()
            .map(|f| (f.line, f.severity))
            .collect();
        assert_eq!(
            got,
            [
                (Some(2), Severity::Error),
                (Some(3), Severity::Error),
                (Some(4), Severity::Error)
            ]
        );
        assert_eq!(unit[0].line(), Some(2));
    }

    #[test]
    fn discover_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        let (env, sources) = discover(&HostRoot::new(dir.path()), "docker");
        assert!(env.is_empty());
        assert!(sources.is_empty(), "{sources:?}");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        proptest! {

            #[test]
            fn proc_environ_parser_never_panics(s in "(?s).{0,300}", q in "[A-Z_=\"'\\\\ a-z0-9xuU\n#;\\[\\]-]{0,200}") {
                let t = Instant::now();
                for text in [&s, &q] {
                    let _ = parse_proc_environ(text.as_bytes());
                }
                prop_assert!(t.elapsed() < Duration::from_secs(1));
            }
        }
    }
}
