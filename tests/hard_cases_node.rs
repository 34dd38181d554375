//! End to end (issue 18, items 3-6): causes of `ImagePullBackOff` that leave
//! the verdict right but useless unless the node's files are read too.
//! Each test writes the real fault into a node root in the bed (a user's
//! `docker login`, a proxy only login shells have, a name without its
//! registry host, two typos), checks the code and the hint's key facts, and
//! searches every output, JSON and human, for the secrets involved. Each has
//! its negative: the same files where nothing is wrong say nothing.

mod common;
mod support;

use base64::Engine as _;
use common::{Report, Run, probe};
use support::{NodeRoot, PULLER, World};

/// The proxy password of the login-shell tests; never in any output.
const PROXY_PASSWORD: &str = "login-proxy-pw-7731";
const PROXY_USER: &str = "corp-user";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every secret these tests put on a node.
fn secrets() -> Vec<String> {
    vec![
        PULLER.1.to_owned(),
        b64(&format!("{}:{}", PULLER.0, PULLER.1)),
        PROXY_PASSWORD.to_owned(),
        PROXY_USER.to_owned(),
    ]
}

/// `probe ARGS --json` and the human view on `root`; both are searched for
/// every secret, and must agree on the exit status.
fn run(w: &World, root: &NodeRoot, args: &[&str]) -> Run {
    let mut json = args.to_vec();
    json.extend(["--json", "--timeout", "2s"]);
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &json,
        None,
    );
    let mut human = args.to_vec();
    human.extend(["--timeout", "2s"]);
    let h = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &human,
        None,
    );
    for out in [&r.stdout, &r.stderr, &h.stdout, &h.stderr] {
        for secret in secrets() {
            assert!(!out.contains(&secret), "{secret:?} in output:\n{out}");
        }
    }
    assert_eq!(r.status, h.status, "{}\n{}", h.stdout, h.stderr);
    r
}

fn hint(r: &Report, i: usize) -> String {
    r.targets[i].hint.clone().unwrap_or_default()
}

/// A containerd node: its config and its systemd unit, without a proxy.
fn containerd_root(w: &World) -> NodeRoot {
    let root = w.new_root();
    root.write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    root.write("run/containerd/containerd.sock", "");
    root.write(
        "lib/systemd/system/containerd.service",
        "[Unit]\nDescription=containerd container runtime\n\n[Service]\nExecStart=/usr/bin/containerd\nRestart=always\n",
    );
    root
}

/// `docker login basic.test` as it writes the file: the password inline.
fn docker_login_config(host: &str) -> String {
    format!(
        r#"{{"auths": {{"{host}": {{"auth": "{}"}}}}}}"#,
        b64(&format!("{}:{}", PULLER.0, PULLER.1))
    )
}

// ---- 3. credentials the kubelet never reads -------------------------------

#[test]
fn credentials_in_a_users_home_are_named_with_the_three_fixes() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // Seed 004's Minikube path: `minikube ssh -- docker login` as user docker.
    root.write(
        "home/docker/.docker/config.json",
        &docker_login_config("basic.test"),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "AUTH_REQUIRED", "{}", r.stdout);
    let h = hint(&rep, 0);
    for fact in [
        "/home/docker/.docker/config.json has credentials for basic.test",
        "the kubelet runs as root",
        "never /home",
        "`sudo docker login basic.test`",
        "/root/.docker/config.json",
        "`sudo cp /home/docker/.docker/config.json /var/lib/kubelet/config.json`",
        "imagePullSecret",
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }
    assert!(
        h.starts_with("/home/docker/.docker/config.json"),
        "the unread file comes first: {h}"
    );
    let src = rep
        .config_sources
        .iter()
        .find(|s| s.path == "/home/docker/.docker/config.json")
        .expect("the home file is listed");
    assert_eq!(src.severity, "warning", "{:?}", src.message);
    assert!(
        src.message
            .as_deref()
            .unwrap_or_default()
            .contains("basic.test"),
        "{:?}",
        src.message
    );

    // Negative: the same file where the kubelet reads it works, and the
    // home file is not blamed for anything.
    root.write(
        "var/lib/kubelet/config.json",
        &docker_login_config("basic.test"),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "OK", "{}", r.stdout);
    assert!(!hint(&rep, 0).contains("never reads"), "{}", hint(&rep, 0));
}

#[test]
fn a_home_file_for_another_registry_is_not_blamed() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "home/docker/.docker/config.json",
        &docker_login_config("registry.test"),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "AUTH_REQUIRED", "{}", r.stdout);
    let h = hint(&rep, 0);
    assert!(!h.contains("/home/docker"), "{h}");
    assert!(h.contains("imagePullSecret"), "the usual hint stays: {h}");
}

#[test]
fn a_credential_helper_entry_gives_the_kubelet_nothing() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // `sudo docker login` on a node whose root config has a credsStore: the
    // kubelet finds the file, but only an empty entry in it.
    root.write(
        "var/lib/kubelet/config.json",
        r#"{"auths": {"basic.test": {}}, "credsStore": "secretservice"}"#,
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "AUTH_REQUIRED", "{}", r.stdout);
    let h = hint(&rep, 0);
    for fact in [
        "/var/lib/kubelet/config.json has credentials for basic.test",
        "docker-credential-secretservice (credsStore)",
        "never runs a helper",
        "imagePullSecret",
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }
    let src = rep
        .config_sources
        .iter()
        .find(|s| s.path == "/var/lib/kubelet/config.json")
        .expect("listed");
    assert_eq!(src.severity, "warning", "{:?}", src.message);
}

// ---- 4. a proxy only the shell has ----------------------------------------

/// The bed's proxy URL with user info, as a corporate profile script sets it.
fn proxy_with_user(w: &World) -> String {
    w.proxy_url().replacen(
        "http://",
        &format!("http://{PROXY_USER}:{PROXY_PASSWORD}@"),
        1,
    )
}

#[test]
fn a_proxy_only_login_shells_have_is_named_with_the_drop_in() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/profile.d/proxy.sh",
        &format!(
            "# corporate proxy for interactive users\nexport HTTPS_PROXY={}\nexport NO_PROXY=localhost,127.0.0.1\n",
            proxy_with_user(w)
        ),
    );
    // proxied.test is reachable only through the proxy: not even in DNS.
    let r = run(w, &root, &["--image", "proxied.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "DNS_NXDOMAIN", "{}", r.stdout);
    let h = hint(&rep, 0);
    let redacted = w.proxy_url().replacen("http://", "http://redacted@", 1);
    for fact in [
        "a login shell on this node gets HTTPS_PROXY=",
        "/etc/profile.d/proxy.sh:2",
        "containerd.service (/lib/systemd/system/containerd.service) does not set it",
        "/etc/systemd/system/containerd.service.d/http-proxy.conf",
        "NO_PROXY=localhost,127.0.0.1",
        "systemctl daemon-reload && systemctl restart containerd.service",
        &redacted,
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }
    assert!(h.starts_with("a login shell"), "first in the hint: {h}");
    assert!(
        rep.config_sources
            .iter()
            .any(|s| s.path == "/etc/profile.d/proxy.sh" && s.kind == "login-env"),
        "{:?}",
        rep.config_sources
    );

    // The fix the hint gives, with the real password, makes it work.
    root.write(
        "etc/systemd/system/containerd.service.d/http-proxy.conf",
        &format!(
            "[Service]\nEnvironment=\"HTTPS_PROXY={}\" \"NO_PROXY=localhost,127.0.0.1\"\n",
            w.proxy_url()
        ),
    );
    let r = run(w, &root, &["--image", "proxied.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "OK", "{}", r.stdout);
    assert!(!hint(&rep, 0).contains("login shell"), "{}", hint(&rep, 0));
}

#[test]
fn etc_environment_counts_and_a_healthy_or_excluded_registry_says_nothing() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    root.write(
        "etc/environment",
        &format!(
            "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\"\nhttps_proxy=\"{}\"\n",
            proxy_with_user(w)
        ),
    );
    let r = run(w, &root, &["--image", "proxied.test/single:1"]);
    let h = hint(&r.report(), 0);
    assert!(
        h.contains("https_proxy=") && h.contains("/etc/environment:2"),
        "{h}"
    );

    // Negative: a registry the node reaches directly is fine, login proxy or not.
    let r = run(w, &root, &["--image", "registry.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "OK", "{}", r.stdout);
    assert!(!hint(&rep, 0).contains("login shell"), "{}", hint(&rep, 0));

    // Negative: the shell would not use the proxy for this host either.
    root.write(
        "etc/environment",
        &format!(
            "https_proxy=\"{}\"\nno_proxy=\".test\"\n",
            proxy_with_user(w)
        ),
    );
    let r = run(w, &root, &["--image", "proxied.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "DNS_NXDOMAIN", "{}", r.stdout);
    assert!(!hint(&rep, 0).contains("login shell"), "{}", hint(&rep, 0));
}

// ---- 5. the name the user meant -------------------------------------------

#[test]
fn a_docker_hub_name_whose_namespace_is_a_known_registry_names_the_meant_image() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // The node has config for basic.test (a hosts.toml directory), and the
    // image was written without its registry host. Docker Hub is not in
    // the bed: its lookup fails inside the namespace and nothing leaves it.
    root.write(
        "etc/containerd/certs.d/basic.test/hosts.toml",
        "server = \"https://basic.test\"\n",
    );
    let r = run(w, &root, &["--image", "basic/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].registry, "docker.io", "{}", r.stdout);
    let h = hint(&rep, 0);
    assert!(
        h.contains("the image most likely meant is `basic.test/single:1`"),
        "{h}"
    );
    assert!(h.contains("the node's containerd registry config"), "{h}");

    // Negative: a namespace no known host starts with gets the generic remark only.
    let r = run(w, &root, &["--image", "someuser/single:1"]);
    let h = hint(&r.report(), 0);
    assert!(!h.contains("most likely meant"), "{h}");
    assert!(h.contains("`someuser/single` is Docker Hub's"), "{h}");
    // Negative: written with its host, nothing to say.
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    assert!(!hint(&r.report(), 0).contains("most likely meant"));
}

// ---- 6. node findings that claim only what the evidence shows -------------

#[test]
fn two_typos_are_names_or_zone_not_the_resolver() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    let r = run(
        w,
        &root,
        &[
            "--image",
            "regsitry.test/single:1",
            "--image",
            "basci.test/single:1",
        ],
    );
    let rep = r.report();
    assert!(
        rep.targets.iter().all(|t| t.code == "DNS_NXDOMAIN"),
        "{}",
        r.stdout
    );
    let f = rep.node_finding.as_ref().expect("a node finding");
    assert!(
        f.message
            .contains("either the names are wrong, or this resolver lacks their zone"),
        "{}",
        f.message
    );
    assert!(
        f.hint.contains("nothing here tells the two apart")
            && f.hint.contains("regsitry.test")
            && f.hint.contains("basci.test")
            && f.hint.contains("private DNS zone"),
        "{}",
        f.hint
    );
    assert!(
        !f.hint.contains("not the registry names") && !f.message.contains("reaches no registry"),
        "no claim the evidence does not make: {f:?}"
    );

    // Negative: one typo beside a working registry is no node finding.
    let r = run(
        w,
        &root,
        &[
            "--image",
            "regsitry.test/single:1",
            "--image",
            "registry.test/single:1",
        ],
    );
    assert!(r.report().node_finding.is_none(), "{}", r.stdout);
}

#[test]
fn the_default_registry_failing_too_points_at_the_resolver() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // docker.io pulled through a mirror name the resolver does not know:
    // the bed's stand-in for "a name that must exist fails too".
    root.write(
        "etc/containerd/certs.d/docker.io/hosts.toml",
        "server = \"https://hub-mirror.test\"\n",
    );
    let r = run(
        w,
        &root,
        &[
            "--image",
            "regsitry.test/single:1",
            "--image",
            "docker.io/library/busybox:1",
        ],
    );
    let rep = r.report();
    assert!(
        rep.targets.iter().all(|t| t.code == "DNS_NXDOMAIN"),
        "{}",
        r.stdout
    );
    let f = rep.node_finding.as_ref().expect("a node finding");
    assert!(
        f.hint
            .contains("docker.io is the runtime's default registry")
            && f.hint.contains("the likely cause"),
        "{}",
        f.hint
    );
}
