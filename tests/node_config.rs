//! End-to-end: the node's runtime config decides what is probed (issue 4).
//! Each test writes runtime config into its own node root, runs the `probe`
//! binary in the test bed, and checks the endpoints the runtime would use.

mod common;
mod support;

use common::{Run, probe};
use support::World;

fn run(w: &World, root: &support::NodeRoot, args: &[&str]) -> Run {
    let mut full = args.to_vec();
    full.push("--json");
    probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &full,
        None,
    )
}

/// A containerd node whose registry config lives in `certs.d`.
fn containerd_root(w: &World) -> support::NodeRoot {
    let root = w.new_root();
    root.write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    root.write("run/containerd/containerd.sock", "");
    root
}

#[test]
fn a_ca_known_only_to_hosts_toml_is_trusted() {
    let Some(w) = support::world() else { return };
    let ca = std::fs::read_to_string(w.ca_pem_path()).unwrap();
    let root = containerd_root(w);
    // The node's bundle does not hold the test CA.
    root.write(support::root::CA_BUNDLE, "");
    let untrusted = run(w, &root, &["--image", "registry.test/single:1"]);
    assert_eq!(
        untrusted.target().code,
        "TLS_UNTRUSTED",
        "{}",
        untrusted.stdout
    );
    assert_eq!(untrusted.status, Some(7));

    root.write("etc/containerd/certs.d/registry.test/registry-ca.pem", &ca);
    root.write(
        "etc/containerd/certs.d/registry.test/hosts.toml",
        "server = \"https://registry.test\"\n\n[host.\"https://registry.test\"]\n  ca = \"registry-ca.pem\"\n",
    );
    let trusted = run(w, &root, &["--image", "registry.test/single:1"]);
    let t = trusted.target();
    assert_eq!(t.code, "OK", "{}", trusted.stdout);
    assert_eq!(trusted.status, Some(0));
    let tls = t.stage("tls").unwrap();
    assert_eq!(tls.detail["verified_with"], "ca_files", "{}", tls.detail);
}

#[test]
fn a_dead_mirror_before_a_live_upstream_is_degraded() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/containerd/certs.d/registry.test/hosts.toml",
        "server = \"https://registry.test\"\n\n[host.\"https://refused.test\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
    );
    let r = run(w, &root, &["--image", "registry.test/single:1"]);
    let t = r.target();
    assert_eq!(
        (t.status.as_str(), t.code.as_str()),
        ("degraded", "OK"),
        "{}",
        r.stdout
    );
    assert_eq!(r.status, Some(0));
    assert_eq!(t.endpoints.len(), 2);
    assert_eq!(t.endpoints[0].role, "mirror");
    assert_eq!(t.endpoints[0].url, "https://refused.test/v2/");
    assert_eq!(t.endpoints[0].code, "TCP_REFUSED");
    assert_eq!(t.endpoints[1].role, "upstream");
    assert_eq!(t.endpoints[1].status, "ok");
    assert!(t.message.contains("refused.test"), "{}", t.message);
}

#[test]
fn a_plain_http_registry_from_hosts_toml_works() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/containerd/certs.d/plainhttp.test:5000/hosts.toml",
        "server = \"http://plainhttp.test:5000\"\n",
    );
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].url, "http://plainhttp.test:5000/v2/");
    assert!(t.stage("tls").is_none_or(|s| s.status == "skipped"));
}

#[test]
fn a_crio_mirror_comes_first() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/crio/crio.sock", "");
    root.write(
        "etc/containers/registries.conf",
        "[[registry]]\nlocation = \"unavailable.test\"\n\n[[registry.mirror]]\nlocation = \"registry.test\"\n",
    );
    let r = run(w, &root, &["--image", "unavailable.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].role, "mirror");
    assert_eq!(t.endpoints[0].url, "https://registry.test/v2/");
    assert_eq!(t.endpoints[0].status, "ok");
    assert_eq!(
        t.endpoints.last().unwrap().url,
        "https://unavailable.test/v2/"
    );
}

/// The proxy comes from containerd's systemd drop-in, as kubespray writes it.
fn proxy_dropin(root: &support::NodeRoot, proxy: &str, no_proxy: &str) {
    root.write(
        "etc/systemd/system/containerd.service.d/http-proxy.conf",
        &format!("[Service]\nEnvironment=\"HTTP_PROXY={proxy}\" \"HTTPS_PROXY={proxy}\" \"NO_PROXY={no_proxy}\"\n"),
    );
}

#[test]
fn a_registry_reachable_only_through_the_proxy_is_ok() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // Without the proxy, the node cannot even resolve it.
    let direct = run(w, &root, &["--image", "proxied.test/single:1"]);
    assert_eq!(direct.target().code, "DNS_NXDOMAIN", "{}", direct.stdout);

    proxy_dropin(&root, &w.proxy_url(), "localhost,127.0.0.1");
    let r = run(w, &root, &["--image", "proxied.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    let ep = &t.endpoints[0];
    assert_eq!(ep.proxy.as_deref(), Some(w.proxy_url().as_str()));
    assert!(
        ep.stages
            .iter()
            .any(|s| s.stage == "proxy" && s.status == "ok"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_dead_proxy_is_proxy_unreachable() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    proxy_dropin(&root, &w.dead_proxy_url(), "localhost");
    let r = run(w, &root, &["--registry", "registry.test"]);
    let t = r.target();
    assert_eq!(t.code, "PROXY_UNREACHABLE", "{}", r.stdout);
    assert_eq!(r.status, Some(3));
}

#[test]
fn the_proxy_refusing_connect_is_proxy_rejected() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // tinyproxy allows CONNECT to port 443 only.
    proxy_dropin(&root, &w.proxy_url(), "localhost");
    let r = run(w, &root, &["--registry", "registry.test:5000"]);
    let t = r.target();
    assert_eq!(t.code, "PROXY_REJECTED", "{}", r.stdout);
    assert_eq!(r.status, Some(7));
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    proxy_dropin(&root, &w.dead_proxy_url(), "localhost,.test");
    let r = run(w, &root, &["--registry", "registry.test"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].proxy, None);
}

#[test]
fn a_broken_config_toml_is_reported_and_the_probe_goes_on() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("run/containerd/containerd.sock", "");
    root.write(
        "etc/containerd/config.toml",
        "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".registry\n",
    );
    let r = run(w, &root, &["--registry", "registry.test"]);
    let report = r.report();
    let broken = report
        .config_sources
        .iter()
        .find(|s| s.path == "/etc/containerd/config.toml")
        .unwrap_or_else(|| panic!("config.toml not listed: {}", r.stdout));
    assert_eq!(broken.severity, "error", "{}", r.stdout);
    // The path is the file; the line is a field of its own.
    assert_eq!(broken.line, Some(3), "{}", r.stdout);
    let error = broken.message.as_deref().expect("an error");
    assert!(error.contains("line 3"), "{error}");
    assert_eq!(report.targets[0].code, "OK", "{}", r.stdout);
    assert_eq!(r.status, Some(0));
}

/// containerd's `config_path` notes depend on its version: warnings, each at
/// its line, and the probe is not the worse for them.
#[test]
fn containerd_config_path_notes_are_warnings() {
    let Some(w) = support::world() else { return };
    let warning_of = |config: &str| {
        let root = w.new_root();
        root.write("run/containerd/containerd.sock", "");
        root.write("etc/containerd/config.toml", config);
        let r = run(w, &root, &["--registry", "registry.test"]);
        let report = r.report();
        assert_eq!(report.targets[0].code, "OK", "{}", r.stdout);
        assert_eq!(r.status, Some(0));
        let socket = report
            .config_sources
            .iter()
            .find(|s| s.path == "/run/containerd/containerd.sock")
            .unwrap();
        assert_eq!(
            (
                socket.severity.as_str(),
                socket.line,
                socket.message.as_deref()
            ),
            ("ok", None, None)
        );
        let toml: Vec<_> = report
            .config_sources
            .iter()
            .filter(|s| s.path == "/etc/containerd/config.toml")
            .collect();
        assert_eq!(toml.len(), 1, "one entry per file: {}", r.stdout);
        assert_eq!(
            (toml[0].kind.as_str(), toml[0].severity.as_str()),
            ("containerd", "warning"),
            "{}",
            r.stdout
        );
        (toml[0].line, toml[0].message.clone().unwrap())
    };

    // Version 3 without config_path: containerd 2.2 reads its default directories, 2.0/2.1 none.
    let (line, message) = warning_of("# containerd 2.x\nversion = 3\n");
    assert_eq!(line, Some(2));
    assert!(message.contains("config_path is not set"), "{message}");
    assert!(
        message.contains("/etc/containerd/certs.d:/etc/docker/certs.d"),
        "{message}"
    );

    // Two config_path entries: the transfer service reads one directory.
    let (line, message) = warning_of(
        "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\"\n",
    );
    assert_eq!(line, Some(3));
    assert!(message.contains("transfer service"), "{message}");
}

#[test]
fn a_crio_prefix_rewrite_asks_for_the_rewritten_repository() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/crio/crio.sock", "");
    root.write(
        "etc/containers/registries.conf",
        "[[registry]]\nprefix = \"alias.test/apps\"\nlocation = \"registry.test/public\"\n",
    );
    let r = run(w, &root, &["--image", "alias.test/apps/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].url, "https://registry.test/v2/");
    let manifest = t.stage("manifest").unwrap();
    assert_eq!(
        manifest.detail["digest"],
        w.content().single,
        "{}",
        manifest.detail
    );
}

#[test]
fn a_mirror_without_resolve_is_not_asked_for_a_tag() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // A pull-only mirror that would fail first: containerd does not resolve tags there.
    root.write(
        "etc/containerd/certs.d/registry.test/hosts.toml",
        "server = \"https://registry.test\"\n\n[host.\"https://refused.test\"]\n  capabilities = [\"pull\"]\n",
    );
    let r = run(w, &root, &["--image", "registry.test/single:1"]);
    let t = r.target();
    assert_eq!(
        (t.status.as_str(), t.code.as_str()),
        ("ok", "OK"),
        "{}",
        r.stdout
    );
    assert_eq!(t.endpoints[0].status, "skipped");
    assert!(t.endpoints[0].stages.is_empty());
    assert_eq!(t.endpoints[1].status, "ok");
}

#[test]
fn without_target_flags_every_registry_the_config_names_is_probed() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/containerd/certs.d/registry.test/hosts.toml",
        "server = \"https://registry.test\"\n",
    );
    root.write(
        "etc/containerd/certs.d/basic.test/hosts.toml",
        "server = \"https://basic.test\"\n",
    );
    let r = run(w, &root, &["--timeout", "1s"]);
    let report = r.report();
    let mut registries: Vec<&str> = report.targets.iter().map(|t| t.registry.as_str()).collect();
    registries.sort_unstable();
    assert_eq!(
        registries,
        ["basic.test", "docker.io", "registry.test"],
        "{}",
        r.stdout
    );
    let by_name = |n: &str| report.targets.iter().find(|t| t.registry == n).unwrap();
    assert_eq!(by_name("registry.test").code, "OK");
    // Registry-only mode stops after the /v2/ challenge: basic auth asked, no credentials.
    assert_eq!(
        by_name("basic.test").endpoints[0].url,
        "https://basic.test/v2/"
    );
    // docker.io is the runtime's default, contacted as registry-1.docker.io (not resolvable in the bed).
    assert_eq!(
        by_name("docker.io").endpoints[0].url,
        "https://registry-1.docker.io/v2/"
    );
}

#[test]
fn a_registry_blocked_by_crio_config_is_a_config_failure() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/crio/crio.sock", "");
    root.write(
        "etc/containers/registries.conf",
        "[[registry]]\nlocation = \"registry.test\"\nblocked = true\n",
    );
    let r = run(w, &root, &["--image", "registry.test/single:1"]);
    let t = r.target();
    assert_eq!(
        (t.status.as_str(), t.category.as_str()),
        ("fail", "config"),
        "{}",
        r.stdout
    );
    assert_eq!(r.status, Some(7));
    assert!(t.endpoints.is_empty());
    assert!(t.message.contains("blocked"), "{}", t.message);
    assert!(
        t.message.contains("/etc/containers/registries.conf"),
        "{}",
        t.message
    );
}

/// `NO_PROXY` is evaluated for the token realm's host on its own, as Go's
/// `ProxyFromEnvironment` is asked per request URL.
#[test]
fn the_token_realm_gets_its_own_proxy_decision() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    proxy_dropin(&root, &w.dead_proxy_url(), "localhost,token.test");
    let r = run(w, &root, &["--image", "token.test/public/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "AUTH_SERVER_UNREACHABLE", "{}", r.stdout);
    assert_eq!(t.endpoints[0].proxy, None);
    let auth = t.stage("auth").unwrap();
    assert!(
        auth.detail["realm_stages"]
            .to_string()
            .contains("PROXY_UNREACHABLE"),
        "{}",
        auth.detail
    );

    proxy_dropin(&root, &w.dead_proxy_url(), "localhost,token.test,auth.test");
    let r = run(w, &root, &["--image", "token.test/public/single:1"]);
    assert_eq!(r.target().code, "OK", "{}", r.stdout);
}

#[test]
fn a_crio_insecure_registry_falls_back_to_plain_http() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/crio/crio.sock", "");
    root.write(
        "etc/containers/registries.conf",
        "[[registry]]\nlocation = \"plainhttp.test:5000\"\ninsecure = true\n",
    );
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints.len(), 1, "one host, not a mirror: {}", r.stdout);
    assert_eq!(t.endpoints[0].url, "http://plainhttp.test:5000/v2/");
    let tls = t.stage("tls").unwrap();
    assert_eq!(tls.status, "skipped", "{}", tls.detail);
}

#[test]
fn a_docker_insecure_registry_falls_back_to_plain_http() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/cri-dockerd.sock", "");
    root.write(
        "etc/docker/daemon.json",
        "{\n  \"insecure-registries\": [\"plainhttp.test:5000\"]\n}\n",
    );
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].url, "http://plainhttp.test:5000/v2/");
    // Without the setting dockerd speaks TLS only.
    let root = w.new_root();
    root.write("var/run/cri-dockerd.sock", "");
    root.write("etc/docker/daemon.json", "{}\n");
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    assert_eq!(r.target().code, "TLS_HANDSHAKE", "{}", r.stdout);
}

#[test]
fn a_k3s_mirror_comes_first() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write(
        "etc/rancher/k3s/registries.yaml",
        "mirrors:\n  unavailable.test:\n    endpoint:\n      - \"https://registry.test\"\n",
    );
    let r = run(w, &root, &["--image", "unavailable.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    assert_eq!(t.endpoints[0].url, "https://registry.test/v2/");
    assert_eq!(t.endpoints[0].role, "mirror");
}

/// Secrets from node config (containerd `configs.auth`, hosts.toml header
/// values, a proxy URL's password, kubelet's config.json) appear in no output.
#[test]
fn node_config_secrets_never_leak() {
    use base64::Engine as _;
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let header_secret = "Hdr-S3cret-Value";
    let auth_secret = "Cfg-S3cret-Pass";
    let kubelet_secret = "Kubelet-S3cret";
    root.write("run/containerd/containerd.sock", "");
    root.write(
        "etc/containerd/config.toml",
        &format!(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"basic.test\".auth]\n  username = \"alice\"\n  password = \"{auth_secret}\"\n"
        ),
    );
    root.write(
        "etc/containerd/certs.d/registry.test/hosts.toml",
        &format!("server = \"https://registry.test\"\n[host.\"https://registry.test\".header]\n  Authorization = \"Bearer {header_secret}\"\n"),
    );
    let proxy = w
        .proxy_url()
        .replace("http://", "http://puser:Proxy-S3cret@");
    proxy_dropin(&root, &proxy, "localhost,registry.test,basic.test");
    let kube_auth =
        base64::engine::general_purpose::STANDARD.encode(format!("kube:{kubelet_secret}"));
    root.write(
        "var/lib/kubelet/config.json",
        &format!("{{\"auths\":{{\"token.test\":{{\"auth\":\"{kube_auth}\"}}}}}}"),
    );
    let mut outputs = Vec::new();
    for image in [
        "basic.test/single:1",
        "registry.test/single:1",
        "token.test/single:1",
        "proxied.test/single:1",
    ] {
        outputs.push(run(w, &root, &["--image", image]));
        outputs.push(probe(
            w.command(env!("CARGO_BIN_EXE_probe")),
            root.path(),
            &["--image", image],
            None,
        ));
        outputs.push(probe(
            w.command(env!("CARGO_BIN_EXE_probe")),
            root.path(),
            &["plan", "--image", image],
            None,
        ));
        outputs.push(probe(
            w.command(env!("CARGO_BIN_EXE_probe")),
            root.path(),
            &["plan", "--json", "--image", image],
            None,
        ));
    }
    for r in &outputs {
        for needle in [
            header_secret,
            auth_secret,
            kubelet_secret,
            kube_auth.as_str(),
            "Proxy-S3cret",
        ] {
            assert!(
                !r.stdout.contains(needle),
                "stdout leaks {needle:?}:\n{}",
                r.stdout
            );
            assert!(
                !r.stderr.contains(needle),
                "stderr leaks {needle:?}:\n{}",
                r.stderr
            );
        }
    }
    // Not vacuous: the config credential was used (basic auth accepted with alice's wrong password is refused).
    assert_eq!(
        outputs[0].target().code,
        "AUTH_REJECTED",
        "{}",
        outputs[0].stdout
    );
}

/// A plain-HTTP registry behind `HTTP_PROXY`: Go's transport forwards the
/// request in absolute form, no CONNECT (tinyproxy allows CONNECT to 443 only).
#[test]
fn a_plain_http_registry_is_reached_through_the_proxy_without_connect() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/containerd/certs.d/plainhttp.test:5000/hosts.toml",
        "server = \"http://plainhttp.test:5000\"\n",
    );
    proxy_dropin(&root, &w.proxy_url(), "localhost");
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}", r.stdout);
    let ep = &t.endpoints[0];
    assert_eq!(ep.proxy.as_deref(), Some(w.proxy_url().as_str()));
    let proxy = ep
        .stages
        .iter()
        .find(|s| s.stage == "proxy")
        .expect("a proxy stage");
    assert_eq!(proxy.detail["forward"], true, "{}", proxy.detail);
    // The requests really go through the proxy: a dead one fails them.
    proxy_dropin(&root, &w.dead_proxy_url(), "localhost");
    let r = run(w, &root, &["--image", "plainhttp.test:5000/single:1"]);
    assert_eq!(r.target().code, "PROXY_UNREACHABLE", "{}", r.stdout);
}
