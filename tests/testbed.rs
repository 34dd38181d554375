//! The test bed checked with skopeo, the reference client: each world name
//! must behave as `tests/README.md` says before the probe is judged on it.
//! skopeo runs inside the world's namespace with `--command-timeout` so a
//! dropped address costs seconds, not minutes.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use support::http::{Reply, request};
use support::{Host, SILENT_DNS_IP, World, WorldBuilder};

/// The shared world, if skopeo and the bed can run here.
fn world() -> Option<&'static World> {
    if !support::require(&["skopeo"]) {
        return None;
    }
    support::world()
}

/// `skopeo inspect` (with `--raw` unless `config` is wanted) of `reference`
/// trusting the test CA; `Ok(stdout)` or `Err(stderr)`.
fn inspect_with(
    w: &World,
    env: &[(&str, &str)],
    extra: &[&str],
    reference: &str,
) -> Result<String, String> {
    let cert_dir = w.cert_dir();
    let mut cmd = w.command("skopeo");
    cmd.args(["--command-timeout", "5s", "inspect", "--retry-times", "0"])
        .arg("--cert-dir")
        .arg(&cert_dir)
        .args(extra)
        .arg(format!("docker://{reference}"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run skopeo");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn raw(w: &World, reference: &str) -> Result<String, String> {
    inspect_with(w, &[], &["--raw"], reference)
}

#[track_caller]
fn assert_fails(result: Result<String, String>, expected: &str) {
    match result {
        Ok(out) => panic!("expected failure with {expected:?}, skopeo succeeded: {out}"),
        Err(err) => assert!(
            err.contains(expected),
            "expected {expected:?} in skopeo's error:\n{err}"
        ),
    }
}

#[test]
fn healthy_registry_serves_the_three_images() {
    let Some(w) = world() else { return };
    let multi = raw(w, "registry.test/multi:1").expect("multi:1");
    assert_eq!(
        support::content::digest(multi.as_bytes()),
        w.content().multi
    );
    let index: serde_json::Value = serde_json::from_str(&multi).expect("index json");
    assert_eq!(index["mediaType"], support::content::INDEX);
    let arches: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().expect("arch"))
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);

    let single = raw(w, "registry.test/single:1").expect("single:1");
    assert!(single.contains(support::content::MANIFEST), "{single}");
    assert_eq!(
        support::content::digest(single.as_bytes()),
        w.content().single
    );
    // Without --raw skopeo also fetches and parses the config blob.
    let config = inspect_with(w, &[], &[], "registry.test/single:1").expect("inspect single");
    assert!(config.contains(r#""Architecture": "amd64""#), "{config}");

    let armonly = raw(w, "registry.test/armonly:1").expect("armonly:1");
    assert!(
        armonly.contains("arm64") && !armonly.contains("amd64"),
        "{armonly}"
    );
}

#[test]
fn missing_tag_and_repository_are_manifest_unknown() {
    let Some(w) = world() else { return };
    assert_fails(raw(w, "registry.test/multi:nope"), "manifest unknown");
    // distribution 2.8 says MANIFEST_UNKNOWN for a repository it lacks, too.
    assert_fails(raw(w, "registry.test/nothing-here:1"), "manifest unknown");
}

#[test]
fn plain_http_registry_answers_http_only() {
    let Some(w) = world() else { return };
    let insecure = inspect_with(
        w,
        &[],
        &["--raw", "--tls-verify=false"],
        "plainhttp.test:5000/single:1",
    );
    assert!(
        insecure
            .expect("plain http")
            .contains(support::content::MANIFEST)
    );
    assert_fails(
        raw(w, "plainhttp.test:5000/single:1"),
        "server gave HTTP response to HTTPS client",
    );
}

#[test]
fn basic_auth_registry_wants_the_right_password() {
    let Some(w) = world() else { return };
    let (user, password) = support::PULLER;
    let good = format!("{user}:{password}");
    assert!(inspect_with(w, &[], &["--raw", "--creds", &good], "basic.test/multi:1").is_ok());
    assert_fails(raw(w, "basic.test/multi:1"), "authentication required");
    let bad = format!("{user}:wrong");
    assert_fails(
        inspect_with(w, &[], &["--raw", "--creds", &bad], "basic.test/multi:1"),
        "authentication required",
    );
}

#[test]
fn token_registry_grants_what_the_issuer_signs() {
    let Some(w) = world() else { return };
    let creds = |(u, p): (&str, &str)| format!("{u}:{p}");
    let pull = creds(support::PULLER);
    let out = inspect_with(w, &[], &["--raw", "--creds", &pull], "token.test/multi:1");
    assert_eq!(
        support::content::digest(out.expect("puller").as_bytes()),
        w.content().multi
    );
    // Valid credentials, token without access: the registry refuses.
    let no_pull = creds(support::NO_PULL);
    assert_fails(
        inspect_with(
            w,
            &[],
            &["--raw", "--creds", &no_pull],
            "token.test/multi:1",
        ),
        "requested access to the resource is denied",
    );
    // Anonymous tokens reach public/ only.
    assert!(raw(w, "token.test/public/single:1").is_ok());
    assert_fails(
        raw(w, "token.test/multi:1"),
        "requested access to the resource is denied",
    );
    let bad = format!("{}:wrong", support::PULLER.0);
    assert_fails(
        inspect_with(w, &[], &["--raw", "--creds", &bad], "token.test/multi:1"),
        "incorrect username or password",
    );
}

#[test]
fn token_issuer_speaks_the_oauth2_password_grant() {
    let Some(w) = world() else { return };
    let ca = std::fs::read_to_string(w.ca_pem_path()).expect("ca");
    let addr = w.addr("auth.test");
    let (user, password) = support::PULLER;
    let body = format!(
        "grant_type=password&username={user}&password={password}&service=token.test\
         &scope=repository:multi:pull&client_id=rpt"
    );
    let response = w.run(move || {
        let mut roots = rustls::RootCertStore::empty();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).expect("pem");
        roots.add(der).expect("root");
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let ctype = [("Content-Type", "application/x-www-form-urlencoded")];
        request(
            addr,
            Some(tls.into()),
            "auth.test",
            "POST",
            "/token",
            &ctype,
            body.into_bytes(),
        )
    });
    let response = response.expect("POST /token");
    assert_eq!(response.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(json["token"], json["access_token"]);
    assert_eq!(json["token"].as_str().expect("token").split('.').count(), 3);
}

#[test]
fn broken_token_realms_fail_the_login() {
    let Some(w) = world() else { return };
    let pull = format!("{}:{}", support::PULLER.0, support::PULLER.1);
    let with_creds =
        |reference: &str| inspect_with(w, &[], &["--raw", "--creds", &pull], reference);
    assert_fails(with_creds("tokengone.test/multi:1"), "no such host");
    assert_fails(with_creds("tokenerror.test/multi:1"), "500");
    assert_fails(with_creds("tokengarbage.test/multi:1"), "invalid character");
}

#[test]
fn certificate_faults() {
    let Some(w) = world() else { return };
    assert_fails(raw(w, "expired.test/multi:1"), "certificate has expired");
    assert_fails(
        raw(w, "wrongname.test/multi:1"),
        "certificate is valid for other.test, not wrongname.test",
    );
    assert_fails(
        raw(w, "unknownca.test/multi:1"),
        "certificate signed by unknown authority",
    );
    // The healthy registry is only trusted through the test CA.
    let out = w.exec(
        "skopeo",
        &[
            "--command-timeout",
            "5s",
            "inspect",
            "--raw",
            "docker://registry.test/multi:1",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate signed by unknown authority")
    );
}

#[test]
fn registry_answer_faults() {
    let Some(w) = world() else { return };
    assert_fails(raw(w, "ratelimit.test/multi:1"), "toomanyrequests");
    assert_fails(
        raw(w, "unavailable.test/multi:1"),
        "503 (Service Unavailable)",
    );
    assert_fails(raw(w, "notregistry.test/multi:1"), "404 (Not Found)");
}

#[test]
fn redirected_blobs_point_at_an_unreachable_host() {
    let Some(w) = world() else { return };
    // Manifests come through the front unchanged...
    let manifest = raw(w, "redirect.test/single:1").expect("manifest via the front");
    assert_eq!(
        support::content::digest(manifest.as_bytes()),
        w.content().single
    );
    // ...but the config blob is a 307 to refused.test.
    assert_fails(
        inspect_with(w, &[], &[], "redirect.test/single:1"),
        "dial tcp 10.77.0.31:443: connect: connection refused",
    );
}

#[test]
fn network_faults() {
    let Some(w) = world() else { return };
    // skopeo's own dial timeout is 30 s; its 5 s command timeout ends the
    // wait first, so the dropped address shows as an expired deadline on
    // the very first request, and as a timed-out connect to a plain socket.
    let started = Instant::now();
    let err = raw(w, "blackhole.test/multi:1").expect_err("dropped");
    assert!(
        err.contains("pinging container registry blackhole.test")
            && err.contains("context deadline exceeded"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let addr = w.addr("blackhole.test");
    let direct = w.run(move || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)));
    assert_eq!(
        direct.expect_err("dropped").kind(),
        std::io::ErrorKind::TimedOut
    );
    assert_fails(
        raw(w, "refused.test/multi:1"),
        "connect: connection refused",
    );
    assert_fails(
        raw(w, "unreachable.test/multi:1"),
        "connect: no route to host",
    );
}

#[test]
fn dns_names_and_faults() {
    let Some(w) = world() else { return };
    assert_fails(raw(w, "nosuch.test/multi:1"), "no such host");
    assert_fails(raw(w, "noaddr.test/multi:1"), "no such host");
    assert_fails(raw(w, "servfail.test/multi:1"), "server misbehaving");
    // skopeo cannot tell these apart; the probe must, so check the answers.
    let dns = |name: &str| query(w, support::DNS_IP, name).expect("dnsmasq answers");
    assert_eq!(dns("registry.test"), (0, 1));
    assert_eq!(dns("nosuch.test"), (3, 0));
    assert_eq!(dns("noaddr.test"), (0, 0));
    assert_eq!(dns("servfail.test"), (5, 0));
    assert_eq!(dns("proxied.test"), (3, 0));
    assert!(query(w, SILENT_DNS_IP, "registry.test").is_err());
}

#[test]
fn silent_resolver_times_out() {
    let Some(w) = world() else { return };
    let root = w.new_root();
    root.nameserver(SILENT_DNS_IP);
    let cert_dir = w.cert_dir();
    let args = [
        "--command-timeout",
        "4s",
        "inspect",
        "--raw",
        "--cert-dir",
        cert_dir.to_str().expect("utf-8 path"),
        "docker://registry.test/multi:1",
    ];
    let out = w.exec_on(root.path(), "skopeo", &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("lookup registry.test") && err.contains("i/o timeout"),
        "{err}"
    );
}

#[test]
fn proxied_registry_is_reachable_only_through_the_proxy() {
    let Some(w) = world() else { return };
    let proxy = w.proxy_url();
    let via = |url: &str, reference: &str| {
        inspect_with(w, &[("HTTPS_PROXY", url)], &["--raw"], reference)
    };
    let multi = via(&proxy, "proxied.test/multi:1").expect("through the proxy");
    assert_eq!(
        support::content::digest(multi.as_bytes()),
        w.content().multi
    );
    assert_fails(raw(w, "proxied.test/multi:1"), "no such host");
    assert_fails(
        via(&w.dead_proxy_url(), "registry.test/multi:1"),
        "proxyconnect tcp",
    );
    assert_fails(
        via(&w.dead_proxy_url(), "registry.test/multi:1"),
        "connection refused",
    );
    // tinyproxy only CONNECTs to 443.
    assert_fails(
        via(&proxy, "registry.test:5000/multi:1"),
        "Access violation",
    );
    // The address itself is dropped for everyone but the proxy.
    let addr = w.addr("proxied.test");
    let direct = w.run(move || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)));
    assert_eq!(
        direct.expect_err("dropped").kind(),
        std::io::ErrorKind::TimedOut
    );
}

#[test]
fn node_root_trusts_the_test_ca_only() {
    let Some(w) = world() else { return };
    let bundle = std::fs::read_to_string(w.root().join(support::root::CA_BUNDLE)).expect("bundle");
    let ca = std::fs::read_to_string(w.ca_pem_path()).expect("ca");
    assert_eq!(bundle, ca);
    let resolv = std::fs::read_to_string(w.root().join("etc/resolv.conf")).expect("resolv");
    assert!(resolv.contains(&format!("nameserver {}", support::DNS_IP)));
    let root = w.new_root();
    root.write("etc/containerd/config.toml", "version = 2\n");
    assert!(root.path().join("etc/containerd/config.toml").is_file());
    assert!(root.path().join(support::root::CA_BUNDLE).is_file());
}

/// The README's example: a world of its own with one more fault, gone
/// again when dropped.
#[test]
fn a_world_with_one_more_fault() {
    if !support::require(&["skopeo"]) {
        return;
    }
    let teapot = Ipv4Addr::new(10, 77, 0, 99);
    let w = WorldBuilder::new()
        .host(Host::handler("teapot.test", teapot, |_| {
            Reply::new(418).into()
        }))
        .build();
    assert_fails(raw(&w, "teapot.test/multi:1"), "418");
    let ns = w.ns().to_owned();
    drop(w);
    let list = std::process::Command::new(support::netns::tool("ip"))
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&ns));
}

/// A single A query to `server`: `(rcode, answer count)`.
fn query(w: &World, server: Ipv4Addr, name: &str) -> std::io::Result<(u8, u16)> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        packet.push(u8::try_from(label.len()).expect("short label"));
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    w.run(move || {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        socket.send_to(&packet, SocketAddr::from((server, 53)))?;
        let mut answer = [0u8; 512];
        let n = socket.recv(&mut answer)?;
        assert!(n >= 12, "short DNS answer");
        Ok((answer[3] & 0x0f, u16::from_be_bytes([answer[6], answer[7]])))
    })
}
