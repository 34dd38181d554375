//! The node's runtime version, read from the runtime's binary in the node
//! root without running it (issue 15), and the containerd behaviour that
//! depends on it: a `hosts.toml` without a `[host]` table, which containerd
//! 1.x before 1.7.32 ignores (containerd#10027).
//!
//! The binary is the machine's real Debian containerd (`/usr/bin/containerd`,
//! installed by `scripts/test`), copied into a temp node root; the expected
//! version is what that binary itself prints with `--version`. The plan
//! tests need no root; the last test probes the bed's plain-HTTP registry.

mod common;
mod support;

use common::{plan, probe};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONTAINERD: &str = "/usr/bin/containerd";

/// The machine's containerd, or `None` (a loud skip; a failure under `CI=true`).
fn containerd() -> Option<PathBuf> {
    let path = PathBuf::from(CONTAINERD);
    if path.is_file() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{CONTAINERD} is missing (CI=true: not skipping; scripts/test installs containerd)"
    );
    eprintln!("*** SKIPPED: {CONTAINERD} is missing (run scripts/test) ***");
    None
}

/// The upstream part of what `containerd --version` prints:
/// `containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1`
/// gives `1.6.20` (Debian's `~ds1` and any `+...` dropped, a leading `v` too).
fn printed_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(out.status.success(), "{} --version failed", bin.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let field = text
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("unexpected --version output: {text}"));
    let field = field.strip_prefix('v').unwrap_or(field);
    field.split(['~', '+']).next().unwrap().to_owned()
}

/// A containerd node root: socket, `config_path`, and (when given) the
/// containerd binary at `/usr/bin/containerd`.
fn node(bin: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let put = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("run/containerd/containerd.sock", "");
    put(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    if let Some(bin) = bin {
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::fs::copy(bin, dir.path().join("usr/bin/containerd")).unwrap();
    }
    dir
}

/// A `hosts.toml` with only root-level fields, as issue 15 found it.
fn root_only_hosts(root: &Path, registry: &str) {
    let dir = root.join("etc/containerd/certs.d").join(registry);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hosts.toml"),
        format!("server = \"http://{registry}\"\n"),
    )
    .unwrap();
}

fn source<'a>(v: &'a Value, suffix: &str) -> &'a Value {
    v["config_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no source {suffix}: {v:#}"))
}

#[test]
fn plan_prints_the_version_containerd_prints() {
    let Some(bin) = containerd() else { return };
    let expected = printed_version(&bin);
    let root = node(Some(&bin));
    let v: Value = serde_json::from_str(&plan(
        root.path(),
        &["--registry", "registry.test", "--json"],
    ))
    .unwrap();
    assert_eq!(v["runtime"]["name"], "containerd", "{:#}", v["runtime"]);
    assert_eq!(
        v["runtime"]["version"],
        expected.as_str(),
        "{:#}",
        v["runtime"]
    );
    assert_eq!(v["runtime"]["source"], CONTAINERD);
    // The human plan says it too.
    let text = plan(root.path(), &["--registry", "registry.test"]);
    assert!(
        text.contains(&format!(
            "containerd {expected} (socket /run/containerd/containerd.sock; version from {CONTAINERD})"
        )),
        "{text}"
    );
    assert!(!text.contains("version unknown"), "{text}");
}

#[test]
fn containerd_1_6_ignores_a_hosts_toml_without_a_host_table() {
    let Some(bin) = containerd() else { return };
    let version = printed_version(&bin);
    let root = node(Some(&bin));
    root_only_hosts(root.path(), "plain.test:5000");
    let v: Value = serde_json::from_str(&plan(
        root.path(),
        &["--registry", "plain.test:5000", "--json"],
    ))
    .unwrap();
    let t = &v["targets"][0];
    let urls: Vec<&str> = t["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].as_str().unwrap())
        .collect();
    assert!(
        version.starts_with("1.6."),
        "the machine's containerd is Debian bookworm's 1.6, which has the bug; found {version}"
    );
    // What containerd does: the registry's own host over https, system CA.
    assert_eq!(urls, ["https://plain.test:5000/v2/"], "{t:#}");
    assert_eq!(t["endpoints"][0]["plan"]["ca_files"], Value::Array(vec![]));
    assert_eq!(t["endpoints"][0]["plan"]["source"], "default");
    let s = source(&v, "plain.test:5000/hosts.toml");
    assert_eq!(s["severity"], "error", "{s:#}");
    let m = s["message"].as_str().unwrap();
    for want in [
        format!("containerd {version} ignores this hosts.toml: no [host] table"),
        "containerd#10027".to_owned(),
        "it pulls https://plain.test:5000 with the system CA".to_owned(),
    ] {
        assert!(m.contains(&want), "{want:?} not in {m}");
    }
}

#[test]
fn without_a_binary_the_newest_behaviour_is_assumed_and_said() {
    let root = node(None);
    root_only_hosts(root.path(), "plain.test:5000");
    let v: Value = serde_json::from_str(&plan(
        root.path(),
        &["--registry", "plain.test:5000", "--json"],
    ))
    .unwrap();
    assert_eq!(
        v["runtime"],
        serde_json::json!({"name": "containerd", "version": null, "source": null})
    );
    // Newer releases read the file: plain http as it says.
    let t = &v["targets"][0];
    assert_eq!(
        t["endpoints"][0]["url"], "http://plain.test:5000/v2/",
        "{t:#}"
    );
    let s = source(&v, "plain.test:5000/hosts.toml");
    assert_eq!(s["severity"], "warning", "{s:#}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("containerd 1.6.x and 1.7.0-1.7.31 ignore this file"),
        "{s:#}"
    );
    let text = plan(root.path(), &["--registry", "plain.test:5000"]);
    assert!(
        text.contains("runtime version unknown (no containerd binary found under the node root): the probe assumes the newest release's behaviour"),
        "{text}"
    );
}

/// End to end against the bed's plain-HTTP registry: with Debian's
/// containerd 1.6 in the node root the probe fails the way that containerd
/// does (https to a plain-HTTP server, no fallback); without a binary the
/// file is honoured and the pull works.
#[test]
fn a_root_only_hosts_toml_fails_on_containerd_1_6_like_containerd() {
    let Some(bin) = containerd() else { return };
    let Some(w) = support::world() else { return };
    let version = printed_version(&bin);
    let run = |with_binary: bool| {
        let root = w.new_root();
        root.write(
            "etc/containerd/config.toml",
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
        )
        .write("run/containerd/containerd.sock", "")
        .write(
            "etc/containerd/certs.d/plainhttp.test:5000/hosts.toml",
            "server = \"http://plainhttp.test:5000\"\n",
        );
        if with_binary {
            std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
            std::fs::copy(&bin, root.path().join("usr/bin/containerd")).unwrap();
        }
        probe(
            w.command(env!("CARGO_BIN_EXE_probe")),
            root.path(),
            &["--image", "plainhttp.test:5000/single:1", "--json"],
            None,
        )
    };

    let on_1_6 = run(true);
    let r = on_1_6.report();
    assert_eq!(r.runtime.version.as_deref(), Some(version.as_str()));
    let t = on_1_6.target();
    assert_eq!(t.endpoints.len(), 1, "{}", on_1_6.stdout);
    assert_eq!(t.endpoints[0].url, "https://plainhttp.test:5000/v2/");
    assert_eq!(
        (t.status.as_str(), t.code.as_str()),
        ("fail", "TLS_HANDSHAKE"),
        "{}",
        on_1_6.stdout
    );
    assert_eq!(on_1_6.status, Some(3));
    let s = r
        .config_sources
        .iter()
        .find(|s| s.path.ends_with("plainhttp.test:5000/hosts.toml"))
        .unwrap();
    assert_eq!(s.severity, "error");
    assert!(
        s.message
            .as_deref()
            .unwrap()
            .contains(&format!("containerd {version} ignores this hosts.toml")),
        "{:?}",
        s.message
    );

    let newest = run(false);
    let t = newest.target();
    assert_eq!(newest.report().runtime.version, None);
    assert_eq!(t.code, "OK", "{}", newest.stdout);
    assert_eq!(t.endpoints[0].url, "http://plainhttp.test:5000/v2/");
}
