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
use common::{NodeFinding, Report, Run, probe};
use std::net::Ipv4Addr;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::{Host, NodeRoot, PULLER, World, WorldBuilder};

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

/// The finding's message when every registry name is NXDOMAIN: both readings.
const BOTH_READINGS: &str = "either the names are wrong, or this resolver lacks their zone";

/// The node finding of a run of `images` in which every name is NXDOMAIN.
fn nxdomain_finding(w: &World, root: &NodeRoot, images: [&str; 2]) -> NodeFinding {
    let args: Vec<&str> = images.iter().flat_map(|i| ["--image", *i]).collect();
    let r = run(w, root, &args);
    let rep = r.report();
    assert!(
        rep.targets.iter().all(|t| t.code == "DNS_NXDOMAIN"),
        "{}",
        r.stdout
    );
    rep.node_finding.expect("a node finding")
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
        "its environment has HOME=/root",
        "`sudo cp /home/docker/.docker/config.json /var/lib/kubelet/config.json`",
        "imagePullSecret",
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }
    assert!(
        h.starts_with("/home/docker/.docker/config.json"),
        "the unread file comes first: {h}"
    );
    assert!(
        !h.contains("helper"),
        "the home file holds them inline: {h}"
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

    // The kubelet already reads its own file (for another registry): root's
    // file would not be read, and a copy would drop that file's entries.
    root.write(
        "var/lib/kubelet/config.json",
        &docker_login_config("registry.test"),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "AUTH_REQUIRED", "{}", r.stdout);
    let h = hint(&rep, 0);
    for fact in [
        "/home/docker/.docker/config.json has credentials for basic.test",
        "the kubelet reads only the first config.json it finds, here /var/lib/kubelet/config.json",
        "merge its `auths` entry for basic.test into /var/lib/kubelet/config.json",
        "imagePullSecret",
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }
    assert!(!h.contains("sudo cp"), "{h}");

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
        "`sudo docker login basic.test` as root writes /root/.docker/config.json",
        "the kubelet reads only the first config.json it finds, here /var/lib/kubelet/config.json",
        "write the credentials themselves (an `auths` entry with `auth`, not a helper's name) for basic.test into /var/lib/kubelet/config.json",
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

#[test]
fn a_cred_helpers_entry_in_roots_config_gives_the_kubelet_nothing() {
    let Some(w) = support::world() else { return };
    let root = containerd_root(w);
    // `sudo docker login basic.test` with a credHelpers entry for it: root's
    // file, which the kubelet reads, names only the helper.
    root.write(
        "root/.docker/config.json",
        r#"{"auths": {}, "credHelpers": {"basic.test": "pass"}}"#,
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "AUTH_REQUIRED", "{}", r.stdout);
    let h = hint(&rep, 0);
    for fact in [
        "/root/.docker/config.json has credentials for basic.test",
        "docker-credential-pass (credHelpers)",
        "never runs a helper",
        "`sudo docker login basic.test` as root (it writes /root/.docker/config.json",
        "no credsStore and no credHelpers entry for basic.test",
        "write the credentials themselves (an `auths` entry with `auth`, not a helper's name) for basic.test into /root/.docker/config.json",
        "imagePullSecret",
    ] {
        assert!(h.contains(fact), "{fact:?} in {h}");
    }

    // Negative: a helper for another registry beside inline credentials for
    // this one; the kubelet uses the inline entry, nothing is blamed.
    root.write(
        "root/.docker/config.json",
        &format!(
            r#"{{"auths": {{"basic.test": {{"auth": "{}"}}}}, "credHelpers": {{"registry.test": "pass"}}}}"#,
            b64(&format!("{}:{}", PULLER.0, PULLER.1))
        ),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let rep = r.report();
    assert_eq!(rep.targets[0].code, "OK", "{}", r.stdout);
    assert!(!hint(&rep, 0).contains("never reads"), "{}", hint(&rep, 0));
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
        "only a login session reads /etc/environment (pam_env)",
        "only a login shell /etc/profile.d/*.sh",
        "systemd starts containerd.service with neither: its unit (/lib/systemd/system/containerd.service) does not set it",
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
    let f = nxdomain_finding(w, &root, ["regsitry.test/single:1", "basci.test/single:1"]);
    assert!(f.message.contains(BOTH_READINGS), "{}", f.message);
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
    let _zoneless = ZonelessResolver::start(w);
    let root = containerd_root(w);
    // A resolver that knows neither the bed's zone nor Docker Hub's: the
    // name that must exist (registry-1.docker.io) is NXDOMAIN too.
    root.nameserver(ZONELESS_DNS.parse::<Ipv4Addr>().unwrap());
    let f = nxdomain_finding(
        w,
        &root,
        ["registry.test/single:1", "docker.io/library/busybox:1"],
    );
    assert!(f.message.contains(BOTH_READINGS), "{}", f.message);
    for fact in [
        "registry-1.docker.io is the runtime's default registry (docker.io) and exists, yet it fails too",
        "the likely cause",
        "unless this node is air-gapped",
        ZONELESS_DNS,
    ] {
        assert!(f.hint.contains(fact), "{fact:?} in {}", f.hint);
    }

    // Negative: Docker Hub pulled through a mirror name the resolver does
    // not know is no name that must exist (the mirror name may be the typo).
    root.nameserver(support::DNS_IP);
    root.write(
        "etc/containerd/certs.d/docker.io/hosts.toml",
        "server = \"https://hub-mirror.test\"\n",
    );
    let f = nxdomain_finding(
        w,
        &root,
        ["regsitry.test/single:1", "docker.io/library/busybox:1"],
    );
    assert!(
        f.hint.contains("nothing here tells the two apart") && !f.hint.contains("likely cause"),
        "{}",
        f.hint
    );
}

/// A resolver without the bed's zone: dnsmasq on `127.0.0.54` in the
/// world's namespace, answering NXDOMAIN for every `.test` and `docker.io`
/// name (a node's stub resolver that was never told about a private zone,
/// and has no forwarder). Killed on drop.
struct ZonelessResolver(Child);

const ZONELESS_DNS: &str = "127.0.0.54";

impl ZonelessResolver {
    fn start(w: &World) -> ZonelessResolver {
        let log = w.dir().join("logs/dnsmasq-zoneless.log");
        let child = w
            .command(support::netns::tool("dnsmasq"))
            .args([
                "-C",
                "/dev/null",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--user=root",
                "--group=root",
                "--pid-file=",
                "--bind-interfaces",
                "--local=/test/",
                "--local=/docker.io/",
            ])
            .arg(format!("--listen-address={ZONELESS_DNS}"))
            .arg(format!("--log-facility={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let resolver = ZonelessResolver(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = w.exec("ss", &["-Hlun", "src", &format!("{ZONELESS_DNS}:53")]);
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return resolver;
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq on {ZONELESS_DNS} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ZonelessResolver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `probe daemon` on `root` in the world's namespace; its report lines.
struct Agent {
    child: Child,
    lines: Receiver<String>,
}

impl Agent {
    fn start(w: &World, root: &NodeRoot, port: u16, args: &[&str]) -> Agent {
        let mut child = w
            .daemon(root.path(), port, "node-1", args)
            .stderr(Stdio::null())
            .spawn()
            .expect("start probe daemon");
        let lines = common::forward_lines(child.stdout.take().unwrap(), |l| l);
        Agent { child, lines }
    }

    /// The next report line, searched for every secret.
    fn next(&self) -> Report {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a report line within 30 s");
        for secret in secrets() {
            assert!(!line.contains(&secret), "{secret:?} in {line}");
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a v2 report ({e}): {line}"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn names_the_agent_resolved_in_earlier_rounds_point_at_the_resolver() {
    let Some(w) = support::world() else { return };
    let zoneless = ZonelessResolver::start(w);
    let root = containerd_root(w);
    let agent = Agent::start(
        w,
        &root,
        19841,
        &[
            "--interval",
            "1s",
            "--registry-interval",
            "1s",
            "--timeout",
            "2s",
            "--image",
            "registry.test/single:1",
            "--image",
            "basic.test/single:1",
        ],
    );
    // Round 1: the node's resolver knows the zone.
    let first = agent.next();
    assert!(
        first.targets.iter().all(|t| t.code != "DNS_NXDOMAIN"),
        "{first:?}"
    );
    // The node's resolv.conf now points at a resolver without the zone.
    root.nameserver(ZONELESS_DNS.parse::<Ipv4Addr>().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let lost = loop {
        let r = agent.next();
        if r.targets.iter().all(|t| t.code == "DNS_NXDOMAIN") {
            break r;
        }
        assert!(Instant::now() < deadline, "never NXDOMAIN: {r:?}");
    };
    let f = lost.node_finding.as_ref().expect("a node finding");
    assert!(f.message.contains(BOTH_READINGS), "{}", f.message);
    for fact in [
        "this node resolved basic.test (at ",
        "registry.test (at ",
        "in an earlier round, so those names are right and the resolver",
        "lost their zone",
        ZONELESS_DNS,
    ] {
        assert!(f.hint.contains(fact), "{fact:?} in {}", f.hint);
    }
    drop(agent);

    // Negative: the same resolver and names in a single run, with no
    // earlier rounds, claim neither reading.
    let f = nxdomain_finding(w, &root, ["registry.test/single:1", "basic.test/single:1"]);
    assert!(
        f.hint.contains("nothing here tells the two apart"),
        "{}",
        f.hint
    );
    assert!(!f.hint.contains("are right"), "{}", f.hint);
    drop(zoneless);
}

#[test]
fn two_refusing_registries_are_thin_evidence_and_ten_are_strong() {
    if !support::require_netns() {
        return;
    }
    let names: Vec<String> = (0..10).map(|i| format!("down{i}.test")).collect();
    let w = WorldBuilder::new()
        .hosts(
            names
                .iter()
                .zip(100u8..)
                .map(|(n, i)| Host::nothing(n, Ipv4Addr::new(10, 77, 0, i))),
        )
        .host(Host::registry("up.test", Ipv4Addr::new(10, 77, 0, 120)))
        .build();
    let root = containerd_root(&w);
    let args = |n: usize| -> Vec<&str> {
        names[..n]
            .iter()
            .flat_map(|h| ["--registry", h.as_str()])
            .collect()
    };

    let r = run(&w, &root, &args(2));
    let rep = r.report();
    assert!(
        rep.targets.iter().all(|t| t.code == "TCP_REFUSED"),
        "{}",
        r.stdout
    );
    let two = rep.node_finding.expect("a node finding");
    assert!(
        two.hint
            .contains("2 registries failing to connect alike suggests the node's egress")
            && two.hint.contains("two registries are thin evidence"),
        "{}",
        two.hint
    );

    let r = run(&w, &root, &args(10));
    let rep = r.report();
    assert_eq!(rep.targets.len(), 10, "{}", r.stdout);
    let ten = rep.node_finding.expect("a node finding");
    assert!(
        ten.hint.contains(
            "10 registries failing to connect alike strongly points to the node's egress"
        ) && !ten.hint.contains("thin evidence"),
        "{}",
        ten.hint
    );

    // Negative: the same refusing registries beside one that answers are
    // no node finding; the node reaches a registry.
    let mut with_up = args(10);
    with_up.extend(["--registry", "up.test"]);
    let r = run(&w, &root, &with_up);
    assert!(r.report().node_finding.is_none(), "{}", r.stdout);
}
