//! End-to-end, issue 18 parts 1 and 2: the diagnoses no peer makes about
//! the network path and the node's clock, each by its real fault in a world
//! of its own (the standard world must not get `gso_max_segs 1` or a length
//! rule):
//!
//! - a path MTU black hole: `iptables -m length` drops a host's packets
//!   above 1,200 bytes, for a TLS registry (its handshake flight is larger)
//!   and for a blob host (its handshake passes, the blob does not);
//! - the node's clock: the probe runs under libfaketime (Debian `faketime`,
//!   the dynamically linked build) two days behind and two days ahead.
//!
//! And the negatives: a healthy registry (also one with a large certificate)
//! is neither; a certificate that is really expired stays `TLS_EXPIRED`; a
//! server that accepts TCP and never answers TLS is `TLS_HANDSHAKE`, since
//! the small MSS fails too.

mod common;
mod support;

use base64::Engine as _;
use common::{Run, metric, parse_metrics, probe};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::OnceLock;
use support::http::{Answer, Reply, Request};
use support::{Auth, Cert, Host, NodeRoot, PULLER, World, WorldBuilder};

const fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, d)
}

/// The plain registry the blob front and the blob host relay to.
const PLAIN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(ip(14)), 5000);
/// Packets above this many bytes from a black-holed host are dropped.
const MAX_LEN: u16 = 1200;
/// The repository whose config blob is large (8 KiB).
const BIG: &str = "big";

struct Bed {
    w: World,
    /// Holds `stall.test:443` open: TCP connects (the kernel's backlog
    /// answers), TLS never does.
    _stall: TcpListener,
}

fn bed() -> Option<&'static Bed> {
    static BED: OnceLock<Bed> = OnceLock::new();
    if !support::require(&["faketime"]) {
        return None;
    }
    Some(BED.get_or_init(|| {
        let front = |req: &Request| -> Answer {
            if req.method == "GET" && req.path().contains("/blobs/sha256:") {
                // Like a registry handing blobs to storage on another host.
                let location = format!("https://mtublobs.test{}", req.path());
                Reply::new(307).header("Location", &location).into()
            } else {
                Answer::Forward(PLAIN)
            }
        };
        let w = WorldBuilder::new()
            .host(Host::registry("registry.test", ip(10)))
            .host(Host::registry("plain.test", ip(14)).plain_http(PLAIN.port()))
            .host(Host::registry("expired.test", ip(20)).cert(Cert::Expired))
            .host(Host::registry("mtu.test", ip(60)).cert(Cert::Large))
            .host(Host::nothing("stall.test", ip(61)))
            .host(Host::handler("mtufront.test", ip(62), front))
            .host(
                Host::registry("clock.test", ip(63))
                    .cert(Cert::Narrow)
                    .auth(Auth::Htpasswd),
            )
            .host(Host::registry("bigcert.test", ip(64)).cert(Cert::Large))
            .host(Host::handler("mtublobs.test", ip(65), |_: &Request| {
                Answer::Forward(PLAIN)
            }))
            .build();
        w.push_large_config("plain.test", BIG, "1", 8 * 1024);
        w.drop_packets_above("mtu.test", MAX_LEN);
        w.drop_packets_above("mtublobs.test", MAX_LEN);
        let stall = w.run(|| TcpListener::bind((ip(61), 443)).expect("bind stall.test:443"));
        Bed { w, _stall: stall }
    }))
}

/// A node root that has credentials for `clock.test` in the kubelet's
/// `config.json`: the clock check must never send them.
fn root_with_credentials(w: &World) -> NodeRoot {
    let root = w.new_root();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", PULLER.0, PULLER.1));
    root.write(
        "var/lib/kubelet/config.json",
        &format!(r#"{{"auths": {{"clock.test": {{"auth": "{auth}"}}}}}}"#),
    );
    root
}

/// `probe ARGS --json --root ROOT` in the namespace; stage timeout 2 s so
/// a stall is seen quickly.
fn run(w: &World, root: &Path, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--timeout", "2s", "--json"]);
    probe(w.command(env!("CARGO_BIN_EXE_probe")), root, &all, None)
}

/// [`run`] under libfaketime with the node's clock `offset` off (`-2d`).
/// `FAKETIME_DONT_FAKE_MONOTONIC`: only the wall clock is wrong on such a
/// node; the timers keep running (`-m`: the multi-threaded library, for
/// tokio's threads).
fn run_skewed(w: &World, root: &Path, offset: &str, args: &[&str]) -> Run {
    let mut cmd = w.command("faketime");
    cmd.args(["-m", "-f", offset])
        .arg(env!("CARGO_BIN_EXE_probe"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let mut all = args.to_vec();
    all.extend(["--timeout", "2s", "--json"]);
    probe(cmd, root, &all, None)
}

/// No secret of the bed (passwords, their base64, issued tokens) in any
/// output of the run.
fn no_secret(w: &World, r: &Run) {
    let mut secrets = w.secrets();
    secrets.push(
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", PULLER.0, PULLER.1)),
    );
    for s in secrets {
        assert!(!r.stdout.contains(&s), "secret in stdout:\n{}", r.stdout);
        assert!(!r.stderr.contains(&s), "secret in stderr:\n{}", r.stderr);
    }
}

fn show(r: &Run) -> String {
    format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr)
}

fn contains_all(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} not in: {text}");
    }
}

// --- A path MTU black hole ------------------------------------------------

#[test]
fn a_tls_registry_behind_an_mtu_black_hole_is_mtu_blackhole() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let r = run(w, w.root(), &["--image", "mtu.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "MTU_BLACKHOLE", "{}", show(&r));
    assert_eq!(t.category, "network");
    assert_eq!(r.status, Some(3), "{}", show(&r));
    // The message names the segment size that worked; the hint MTU, MSS
    // clamping and tracepath.
    contains_all(&t.message, &["536"]);
    let hint = t.hint.clone().unwrap_or_default();
    contains_all(&hint, &["MTU", "MSS", "tracepath -n mtu.test", "clamp-mss"]);
    let tls = t.stage("tls").expect("tls stage");
    assert_eq!(tls.code, "MTU_BLACKHOLE");
    assert_eq!(tls.detail["stalled"], true, "{}", tls.detail);
    assert_eq!(tls.detail["mss_retry"]["mss"], 536);
    assert_eq!(tls.detail["mss_retry"]["completed"], true);
    no_secret(w, &r);
    // The human view says it too.
    let human = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        w.root(),
        &["--image", "mtu.test/single:1", "--timeout", "2s"],
        None,
    );
    contains_all(&human.stdout, &["MTU_BLACKHOLE", "536"]);
    no_secret(w, &human);
}

#[test]
fn a_blob_host_behind_an_mtu_black_hole_is_mtu_blackhole() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let r = run(w, w.root(), &["--image", &format!("mtufront.test/{BIG}:1")]);
    let t = r.target();
    assert_eq!(t.code, "MTU_BLACKHOLE", "{}", show(&r));
    assert_eq!(t.category, "network");
    // The manifest came through the front; the blob host is where it broke.
    assert_eq!(t.stage("manifest").map(|s| s.code.as_str()), Some("OK"));
    let blob = t.stage("blob").expect("blob stage");
    assert_eq!(blob.code, "MTU_BLACKHOLE", "{}", blob.detail);
    // The transfer stalled, not the handshake: the blob host's TLS flight
    // is under the limit, its 8 KiB answer is not.
    let host = &blob.detail["redirect_stages"][0];
    assert_eq!(host["host"], "mtublobs.test", "{}", blob.detail);
    assert_eq!(host["stages"][2]["stage"], "tls");
    assert_eq!(host["stages"][2]["code"], "OK", "{}", blob.detail);
    assert_eq!(blob.detail["mss_retry"]["completed"], true);
    assert_eq!(blob.detail["mss_retry"]["mss"], 536);
    contains_all(&t.message, &["mtublobs.test", "536"]);
    let hint = t.hint.clone().unwrap_or_default();
    contains_all(&hint, &["MTU", "MSS", "tracepath -n mtublobs.test", "536"]);
    no_secret(w, &r);
}

#[test]
fn a_clean_tls_stall_is_not_an_mtu_black_hole() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let r = run(w, w.root(), &["--registry", "stall.test"]);
    let t = r.target();
    assert_eq!(t.code, "TLS_HANDSHAKE", "{}", show(&r));
    let tls = t.stage("tls").expect("tls stage");
    // The small MSS was tried, and failed too.
    assert_eq!(
        tls.detail["mss_retry"]["completed"], false,
        "{}",
        tls.detail
    );
    assert!(!r.stdout.contains("MTU_BLACKHOLE"), "{}", r.stdout);
    no_secret(w, &r);
}

#[test]
fn healthy_registries_are_neither_mtu_blackhole_nor_clock_skew() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    // A large certificate without the length rule, and a plain healthy one.
    for image in ["bigcert.test/single:1", "registry.test/single:1"] {
        let r = run(w, w.root(), &["--image", image]);
        let t = r.target();
        assert_eq!(t.code, "OK", "{image}: {}", show(&r));
        for code in ["MTU_BLACKHOLE", "CLOCK_SKEW", "mss_retry"] {
            assert!(!r.stdout.contains(code), "{image}: {code} in {}", r.stdout);
        }
        assert!(r.report().node_finding.is_none(), "{}", r.stdout);
        // The registry's Date was read: the node's clock is right.
        let ping = t.stage("ping").expect("ping stage");
        let offset = ping.detail["date"]["offset_seconds"].as_i64();
        assert!(offset.is_some_and(|o| o.abs() <= 5), "{}", ping.detail);
        no_secret(w, &r);
    }
}

// --- The node's clock ------------------------------------------------------

fn clock_skew(offset: &str, words: &str, sign: i64) {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let root = root_with_credentials(w);
    let r = run_skewed(w, root.path(), offset, &["--image", "clock.test/single:1"]);
    let report = r.report();
    let target = r.target();
    assert_eq!(target.code, "CLOCK_SKEW", "{}", show(&r));
    assert_eq!(target.category, "config");
    assert_eq!(r.status, Some(7), "{}", show(&r));
    contains_all(
        target.hint.as_deref().unwrap_or_default(),
        &[words, "clock.test", "timedatectl", "chronyc"],
    );
    let finding = report.node_finding.expect("a node finding");
    assert_eq!(finding.category, "config");
    contains_all(
        &finding.message,
        &[&format!("this node's clock is {words}"), "clock.test"],
    );
    contains_all(&finding.hint, &["timedatectl", "NTP"]);
    let tls = target.stage("tls").expect("tls stage");
    let clock = &tls.detail["clock"];
    assert_eq!(clock["valid_by_registry_clock"], true, "{}", tls.detail);
    let off = clock["registry_date"]["offset_seconds"]
        .as_i64()
        .expect("offset");
    assert!(
        (off - sign * 172_800).abs() <= 60,
        "offset {off} for {offset}"
    );
    no_secret(w, &r);
    // The registry saw the clock check's `GET /v2/` and no credential: the
    // node has one for it, and a time-tolerant connection must not carry it.
    assert_eq!(
        target.endpoints[0].credential.kind, "basic",
        "the node has a credential for clock.test"
    );
    // (distribution logs "authorized request" for a request with valid
    // Basic credentials, and answers 401 to one without.)
    let log = w.log("clock.test");
    assert!(
        log.contains("\"GET /v2/ HTTP/1.1\" 401"),
        "no credential-free GET /v2/ reached clock.test:\n{log}"
    );
    assert!(
        !log.contains("authorized request"),
        "a credential reached clock.test over the clock check:\n{log}"
    );
    // The human view leads with the node's finding.
    let mut cmd = w.command("faketime");
    cmd.args(["-m", "-f", offset])
        .arg(env!("CARGO_BIN_EXE_probe"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let human = probe(
        cmd,
        root.path(),
        &["--image", "clock.test/single:1", "--timeout", "2s"],
        None,
    );
    contains_all(
        &human.stdout,
        &["CLOCK_SKEW", &format!("this node's clock is {words}")],
    );
    no_secret(w, &human);
}

#[test]
fn a_node_clock_two_days_behind_is_clock_skew() {
    clock_skew("-2d", "2 days behind", -1);
}

#[test]
fn a_node_clock_two_days_ahead_is_clock_skew() {
    clock_skew("+2d", "2 days ahead", 1);
}

#[test]
fn a_certificate_really_expired_stays_tls_expired() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let r = run(w, w.root(), &["--registry", "expired.test"]);
    let t = r.target();
    assert_eq!(t.code, "TLS_EXPIRED", "{}", show(&r));
    assert!(!r.stdout.contains("CLOCK_SKEW"), "{}", r.stdout);
    assert!(r.report().node_finding.is_none(), "{}", r.stdout);
    let tls = t.stage("tls").expect("tls stage");
    assert_eq!(
        tls.detail["clock"]["valid_by_registry_clock"], false,
        "{}",
        tls.detail
    );
    no_secret(w, &r);
}

#[test]
fn the_clock_skew_is_a_metric() {
    let Some(b) = bed() else { return };
    let w = &b.w;
    let root = root_with_credentials(w);
    // One round of the agent under faketime, two days behind, then /metrics.
    let port = 19_818;
    let mut cmd = w.command("faketime");
    cmd.args(["-m", "-f", "-2d"])
        .arg(env!("CARGO_BIN_EXE_probe"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .arg("daemon")
        .arg("--root")
        .arg(root.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--image", "clock.test/single:1", "--timeout", "2s"])
        .env("NODE_NAME", "node-a")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("start the agent");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let page = w.run(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(r) =
                support::http::request(addr, None, "agent", "GET", "/metrics", &[], Vec::new())
                && String::from_utf8_lossy(&r.body).contains("regprobe_clock_skew_seconds")
            {
                return String::from_utf8_lossy(&r.body).into_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no clock skew metric in 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    let samples = parse_metrics(&page);
    let skew = metric(&samples, "regprobe_clock_skew_seconds", &[]).expect("the metric");
    assert!((skew + 172_800.0).abs() <= 60.0, "skew {skew}\n{page}");
    assert_eq!(
        metric(
            &samples,
            "probe_verdict",
            &[("registry", "clock.test"), ("code", "CLOCK_SKEW")]
        ),
        Some(1.0),
        "{page}"
    );
    for s in w.secrets() {
        assert!(!page.contains(&s), "secret in /metrics");
    }
}

// --- probe explain: the runtime's own words --------------------------------

fn explain(message: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["explain", "--json", message])
        .output()
        .expect("run probe explain");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn explain_knows_the_messages_of_these_faults() {
    // Go crypto/x509 (verify.go, CertificateInvalidError Expired) as
    // containerd wraps it: node clock behind (not yet valid), and ahead.
    let behind = explain(
        "Failed to pull image \"clock.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"clock.test/single:1\": failed to resolve reference \"clock.test/single:1\": failed to do request: Head \"https://clock.test/v2/single/manifests/1\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-12-03T09:00:00Z is before 2026-12-05T08:00:00Z",
    );
    assert_eq!(behind["code"], "TLS_EXPIRED", "{behind}");
    assert!(
        behind["also_possible"]
            .as_array()
            .unwrap()
            .contains(&"CLOCK_SKEW".into()),
        "{behind}"
    );
    contains_all(
        behind["hint"].as_str().unwrap(),
        &["clock.test", "clock", "timedatectl"],
    );
    let ahead = explain(
        "x509: certificate has expired or is not yet valid: current time 2026-12-07T09:00:00Z is after 2026-12-06T08:00:00Z",
    );
    assert_eq!(ahead["code"], "TLS_EXPIRED", "{ahead}");
    assert!(
        ahead["also_possible"]
            .as_array()
            .unwrap()
            .contains(&"CLOCK_SKEW".into())
    );
    // Go net/http's handshake timeout (transport.go), and containerd's
    // copy of a blob that stalls (content/helpers.go).
    let tls = explain(
        "failed to do request: Head \"https://mtu.test/v2/single/manifests/1\": net/http: TLS handshake timeout",
    );
    assert_eq!(tls["code"], "TLS_HANDSHAKE", "{tls}");
    assert!(
        tls["also_possible"]
            .as_array()
            .unwrap()
            .contains(&"MTU_BLACKHOLE".into())
    );
    contains_all(tls["hint"].as_str().unwrap(), &["MTU", "tracepath"]);
    let blob = explain(
        "failed to pull and unpack image \"mtufront.test/big:1\": failed to copy: read tcp 10.0.0.4:51234->10.77.0.65:443: read: connection reset by peer",
    );
    assert_eq!(blob["code"], "BLOB_UNREACHABLE", "{blob}");
    for stalled in [
        "failed to copy: read tcp 10.0.0.4:51234->10.77.0.65:443: i/o timeout",
        "failed to pull and unpack image \"mtufront.test/big:1\": short read: expected 8395 bytes but got 1024: unexpected EOF",
    ] {
        let e = explain(stalled);
        assert_eq!(e["code"], "BLOB_UNREACHABLE", "{e}");
        assert!(
            e["also_possible"]
                .as_array()
                .unwrap()
                .contains(&"MTU_BLACKHOLE".into()),
            "{e}"
        );
    }
    assert!(
        blob["also_possible"]
            .as_array()
            .unwrap()
            .contains(&"MTU_BLACKHOLE".into())
    );
}
