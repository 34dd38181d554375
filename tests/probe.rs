//! End-to-end: the `probe` binary against the test bed's real registries,
//! DNS, proxy and faults (issue 3). Every contract code that needs no node
//! config is produced here by its real fault, and read back through the
//! contract's JSON shape.

mod common;
mod support;

use common::{Run, probe};
use std::time::Duration;
use support::{NO_PULL, PULLER, SILENT_DNS_IP, World};

fn run(w: &World, args: &[&str], stdin: Option<&str>) -> Run {
    probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        w.root(),
        args,
        stdin,
    )
}

/// One fault, one code: run the probe with `--json`, check code, category,
/// exit status, that a hint is given, and return the target for more checks.
fn expect(
    w: &World,
    args: &[&str],
    stdin: Option<&str>,
    code: &str,
    category: &str,
    exit: i32,
) -> common::Target {
    let mut full = args.to_vec();
    full.push("--json");
    let r = run(w, &full, stdin);
    let t = r.target();
    assert_eq!(t.code, code, "{}\n{}", t.message, r.stdout);
    assert_eq!(t.category, category, "{}", t.message);
    assert_eq!(r.status, Some(exit), "{}", r.stderr);
    if code == "OK" {
        assert_eq!(t.status, "ok");
    } else {
        assert_eq!(t.status, "fail");
        assert!(
            t.hint.as_deref().is_some_and(|h| !h.is_empty()),
            "no hint for {code}"
        );
        // The target's code is the first failing stage's code on the endpoint used.
        let ep = t
            .endpoints
            .iter()
            .find(|e| e.status == "fail")
            .expect("a failing endpoint");
        assert_eq!(ep.code, code);
        let first = ep
            .stages
            .iter()
            .find(|s| s.status == "fail")
            .expect("a failing stage");
        assert_eq!(first.code, code);
    }
    t
}

macro_rules! fault {
    ($name:ident, $args:expr, $code:literal, $category:literal, $exit:literal $(, hint: $hint:literal)?) => {
        #[test]
        fn $name() {
            let Some(w) = support::world() else { return };
            let _t = expect(w, &$args, None, $code, $category, $exit);
            $(
                let hint = _t.hint.unwrap_or_default();
                assert!(hint.contains($hint), "hint lacks {:?}: {hint}", $hint);
            )?
        }
    };
}

fault!(
    dns_nxdomain,
    ["--registry", "nosuch.test"],
    "DNS_NXDOMAIN",
    "name",
    4
);
fault!(
    dns_no_address,
    ["--registry", "noaddr.test"],
    "DNS_NO_ADDRESS",
    "name",
    4
);
fault!(
    dns_servfail,
    ["--registry", "servfail.test"],
    "DNS_SERVFAIL",
    "network",
    3
);
fault!(
    tcp_refused,
    ["--registry", "refused.test"],
    "TCP_REFUSED",
    "network",
    3
);
fault!(
    tcp_unreachable,
    ["--registry", "unreachable.test"],
    "TCP_UNREACHABLE",
    "network",
    3
);
fault!(
    tls_untrusted,
    ["--registry", "unknownca.test"],
    "TLS_UNTRUSTED",
    "config",
    7
);
fault!(
    tls_name_mismatch,
    ["--registry", "wrongname.test"],
    "TLS_NAME_MISMATCH",
    "config",
    7
);
fault!(
    tls_expired,
    ["--registry", "expired.test"],
    "TLS_EXPIRED",
    "registry",
    6
);
fault!(
    tls_handshake_on_plain_http,
    ["--registry", "plainhttp.test:5000"],
    "TLS_HANDSHAKE",
    "network",
    3
);
fault!(
    not_a_registry,
    ["--registry", "notregistry.test"],
    "NOT_A_REGISTRY",
    "name",
    4
);
fault!(
    auth_required_basic,
    ["--image", "basic.test/single:1"],
    "AUTH_REQUIRED",
    "credentials",
    5
);
fault!(
    auth_required_token,
    ["--image", "token.test/single:1"],
    "AUTH_REQUIRED",
    "credentials",
    5
);
fault!(
    auth_server_unreachable,
    ["--image", "tokengone.test/single:1"],
    "AUTH_SERVER_UNREACHABLE",
    "network",
    3
);
fault!(
    auth_error_500,
    ["--image", "tokenerror.test/single:1"],
    "AUTH_ERROR",
    "registry",
    6
);
fault!(
    auth_error_garbage,
    ["--image", "tokengarbage.test/single:1"],
    "AUTH_ERROR",
    "registry",
    6
);
fault!(
    image_not_found_repository,
    ["--image", "registry.test/nosuch:1"],
    "IMAGE_NOT_FOUND",
    "name",
    4
);
fault!(
    image_not_found_tag,
    ["--image", "registry.test/single:nosuchtag"],
    "IMAGE_NOT_FOUND",
    "name",
    4
);
fault!(
    rate_limited,
    ["--image", "ratelimit.test/single:1"],
    "RATE_LIMITED",
    "registry",
    6,
    hint: "Retry-After"
);
fault!(
    registry_error_503,
    ["--registry", "unavailable.test"],
    "REGISTRY_ERROR",
    "registry",
    6
);
fault!(
    blob_unreachable,
    ["--image", "redirect.test/single:1"],
    "BLOB_UNREACHABLE",
    "network",
    3,
    hint: "served from refused.test"
);
fault!(
    platform_missing,
    [
        "--image",
        "registry.test/armonly:1",
        "--platform",
        "linux/amd64"
    ],
    "PLATFORM_MISSING",
    "name",
    4,
    hint: "it has: linux/arm64"
);
fault!(
    anonymous_registry_ok,
    ["--image", "registry.test/single:1"],
    "OK",
    "ok",
    0
);
fault!(
    plain_http_registry_ok,
    ["--registry", "http://plainhttp.test:5000"],
    "OK",
    "ok",
    0
);

#[test]
fn ok_behind_tls_and_token_auth_with_digest() {
    let Some(w) = support::world() else { return };
    let pw = format!("{}\n", PULLER.1);
    let t = expect(
        w,
        &[
            "--image",
            "token.test/multi:1",
            "--username",
            PULLER.0,
            "--password-stdin",
        ],
        Some(&pw),
        "OK",
        "ok",
        0,
    );
    assert_eq!(t.image.as_deref(), Some("token.test/multi:1"));
    assert_eq!(t.registry, "token.test");
    assert_eq!(t.endpoints[0].url, "https://token.test/v2/");
    let stages: Vec<&str> = t.endpoints[0]
        .stages
        .iter()
        .map(|s| s.stage.as_str())
        .collect();
    for s in [
        "dns", "tcp", "tls", "ping", "auth", "manifest", "platform", "blob",
    ] {
        assert!(stages.contains(&s), "missing stage {s}: {stages:?}");
    }
    let manifest = t.stage("manifest").unwrap();
    assert_eq!(
        manifest.detail["digest"],
        w.content().multi,
        "{}",
        manifest.detail
    );
    assert!(t.message.contains(&w.content().multi), "{}", t.message);
    let auth = t.stage("auth").unwrap();
    assert_eq!(auth.status, "ok");
}

#[test]
fn access_denied_for_a_user_without_pull() {
    let Some(w) = support::world() else { return };
    let pw = format!("{}\n", NO_PULL.1);
    expect(
        w,
        &[
            "--image",
            "token.test/single:1",
            "--username",
            NO_PULL.0,
            "--password-stdin",
        ],
        Some(&pw),
        "ACCESS_DENIED",
        "credentials",
        5,
    );
}

#[test]
fn auth_rejected_token_and_basic() {
    let Some(w) = support::world() else { return };
    for image in ["token.test/single:1", "basic.test/single:1"] {
        expect(
            w,
            &["--image", image, "--username", PULLER.0, "--password-stdin"],
            Some("wrong-password\n"),
            "AUTH_REJECTED",
            "credentials",
            5,
        );
    }
}

#[test]
fn basic_auth_ok_with_credentials_from_a_docker_config() {
    let Some(w) = support::world() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    let auth = base64_encode(&format!("{}:{}", PULLER.0, PULLER.1));
    std::fs::write(
        &cfg,
        format!(r#"{{"auths":{{"basic.test":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let t = expect(
        w,
        &[
            "--image",
            "basic.test/single:1",
            "--docker-config",
            cfg.to_str().unwrap(),
        ],
        None,
        "OK",
        "ok",
        0,
    );
    assert_eq!(
        t.stage("manifest").unwrap().detail["digest"],
        w.content().single
    );
}

#[test]
fn dns_timeout_with_a_silent_resolver() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.nameserver(SILENT_DNS_IP);
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &["--registry", "registry.test", "--timeout", "1s", "--json"],
        None,
    );
    let t = r.target();
    assert_eq!(t.code, "DNS_TIMEOUT", "{}", t.message);
    assert_eq!(r.status, Some(3));
    assert!(r.wall < Duration::from_secs(3), "took {:?}", r.wall);
}

/// Issue 7: a node whose resolver is dead gets one finding that names the
/// resolver, not a name problem per registry.
#[test]
fn a_dead_resolver_is_the_node_finding() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.nameserver(SILENT_DNS_IP);
    let args = [
        "--registry",
        "registry.test",
        "--registry",
        "token.test",
        "--image",
        "basic.test/single:1",
        "--timeout",
        "1s",
        "--json",
    ];
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &args,
        None,
    );
    let report = r.report();
    assert!(
        report.targets.iter().all(|t| t.code == "DNS_TIMEOUT"),
        "{}",
        r.stdout
    );
    let finding = report.node_finding.expect("a node finding");
    assert_eq!(finding.category, "network");
    assert!(
        finding.message.contains("this node reaches no registry"),
        "{}",
        finding.message
    );
    let silent = SILENT_DNS_IP.to_string();
    assert!(finding.hint.contains(&silent), "{}", finding.hint);
    assert!(finding.hint.contains("resolv.conf"), "{}", finding.hint);
    assert_eq!(r.status, Some(3));
    // The human view says it once, before the summary line.
    let human = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &args[..args.len() - 1],
        None,
    );
    assert!(
        human.stdout.contains("node finding (network)"),
        "{}",
        human.stdout
    );
}

/// One registry failing says nothing about the node.
#[test]
fn no_node_finding_when_one_registry_fails() {
    let Some(w) = support::world() else { return };
    let r = run(
        w,
        &[
            "--registry",
            "registry.test",
            "--registry",
            "blackhole.test",
            "--timeout",
            "1s",
            "--json",
        ],
        None,
    );
    let report = r.report();
    let codes: Vec<&str> = report.targets.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(codes, ["OK", "TCP_TIMEOUT"], "{}", r.stdout);
    assert!(report.node_finding.is_none(), "{}", r.stdout);
    // Nor does a single failing target, even at DNS.
    let r = run(
        w,
        &["--registry", "blackhole.test", "--timeout", "1s", "--json"],
        None,
    );
    assert!(r.report().node_finding.is_none(), "{}", r.stdout);
}

/// Issue 7: a registry the runtime's config leaves no endpoint for has a code of its own.
#[test]
fn a_crio_blocked_registry_is_config_blocked() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write("var/run/crio/crio.sock", "");
    root.write(
        "etc/containers/registries.conf",
        "[[registry]]\nlocation = \"registry.test\"\nblocked = true\n",
    );
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &["--image", "registry.test/single:1", "--json"],
        None,
    );
    let t = r.target();
    assert_eq!(
        (t.code.as_str(), t.category.as_str(), t.status.as_str()),
        ("CONFIG_BLOCKED", "config", "fail"),
        "{}",
        r.stdout
    );
    assert_eq!(r.status, Some(7));
    assert!(
        t.message.contains("/etc/containers/registries.conf"),
        "{}",
        t.message
    );
}

/// Issue 3: a blackholed registry gives `TCP_TIMEOUT` in under 3 s with `--timeout 2s`.
#[test]
fn blackholed_registry_times_out_within_the_stage_timeout() {
    let Some(w) = support::world() else { return };
    let r = run(
        w,
        &["--registry", "blackhole.test", "--timeout", "2s", "--json"],
        None,
    );
    let t = r.target();
    assert_eq!(t.code, "TCP_TIMEOUT", "{}", t.message);
    assert_eq!(r.status, Some(3));
    assert!(r.wall < Duration::from_secs(3), "took {:?}", r.wall);
    assert!(r.wall >= Duration::from_millis(1900), "took {:?}", r.wall);
}

#[test]
fn the_deadline_bounds_the_whole_run() {
    let Some(w) = support::world() else { return };
    let r = run(
        w,
        &[
            "--registry",
            "blackhole.test",
            "--timeout",
            "10s",
            "--deadline",
            "1500ms",
            "--json",
        ],
        None,
    );
    assert!(r.wall < Duration::from_millis(2500), "took {:?}", r.wall);
    assert_eq!(r.target().status, "fail");
}

#[test]
fn targets_are_probed_concurrently() {
    let Some(w) = support::world() else { return };
    // Three blackholed probes of 2 s each finish together, not one after the other.
    let r = run(
        w,
        &[
            "--registry",
            "blackhole.test",
            "--registry",
            "blackhole.test:5000",
            "--registry",
            "blackhole.test:6000",
            "--timeout",
            "2s",
            "--json",
        ],
        None,
    );
    let report = r.report();
    assert_eq!(report.targets.len(), 3);
    assert!(report.targets.iter().all(|t| t.code == "TCP_TIMEOUT"));
    assert!(r.wall < Duration::from_millis(3500), "took {:?}", r.wall);
}

#[test]
fn the_worst_category_decides_the_exit_status() {
    let Some(w) = support::world() else { return };
    // config (7: unknown CA) beats name (4: NXDOMAIN) beats ok.
    let r = run(
        w,
        &[
            "--registry",
            "registry.test",
            "--registry",
            "nosuch.test",
            "--registry",
            "unknownca.test",
            "--json",
        ],
        None,
    );
    assert_eq!(r.status, Some(7));
    let report = r.report();
    assert_eq!(report.schema, "regprobe.report/v2");
    assert_eq!(report.status, "fail");
    let codes: Vec<&str> = report.targets.iter().map(|t| t.code.as_str()).collect();
    assert_eq!(codes, ["OK", "DNS_NXDOMAIN", "TLS_UNTRUSTED"]);
}

#[test]
fn a_429_is_reported_at_once() {
    let Some(w) = support::world() else { return };
    let r = run(w, &["--image", "ratelimit.test/single:1", "--json"], None);
    assert_eq!(r.target().code, "RATE_LIMITED");
    assert!(r.wall < Duration::from_secs(3), "took {:?}", r.wall);
}

#[test]
fn docker_hub_user_hint_for_a_host_without_a_dot() {
    let Some(w) = support::world() else { return };
    // No network needed to get the remark right: docker.io does not resolve in the bed.
    let r = run(
        w,
        &[
            "--image",
            "myprivateregistry/my-app",
            "--timeout",
            "1s",
            "--json",
        ],
        None,
    );
    let t = r.target();
    assert_eq!(
        t.image.as_deref(),
        Some("docker.io/myprivateregistry/my-app:latest")
    );
    assert_eq!(t.endpoints[0].url, "https://registry-1.docker.io/v2/");
    let hint = t.hint.unwrap_or_default();
    assert!(hint.contains("Docker Hub"), "{hint}");
}

#[test]
fn an_invalid_reference_is_a_usage_error() {
    let Some(w) = support::world() else { return };
    let r = run(w, &["--image", "Registry.test/UPPER:1"], None);
    assert_eq!(r.status, Some(2));
    assert!(
        r.stderr.contains("lowercase") || r.stderr.contains("invalid"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn human_view_names_every_stage_and_the_verdict() {
    let Some(w) = support::world() else { return };
    let r = run(w, &["--image", "registry.test/single:1"], None);
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    for word in [
        "registry.test/single:1",
        "dns",
        "tcp",
        "tls",
        "ping",
        "manifest",
        "blob",
        "=>",
        "ok",
    ] {
        assert!(
            r.stdout.contains(word),
            "missing {word:?} in:\n{}",
            r.stdout
        );
    }
    // Not a terminal: no colour codes.
    assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
}

/// No secret passed in appears in any output: every credentialed scenario,
/// stdout (human and JSON) and stderr searched for the password, the base64
/// `auth` value and the tokens' telltale prefix.
#[test]
fn secrets_never_leak() {
    let Some(w) = support::world() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    let secret = "S3cret-Pa55-do-not-print";
    let auth = base64_encode(&format!("{}:{secret}", PULLER.0));
    std::fs::write(
        &cfg,
        format!(r#"{{"auths":{{"token.test":{{"auth":"{auth}"}},"basic.test":{{"auth":"{auth}"}},"tokengone.test":{{"auth":"{auth}"}},"tokenerror.test":{{"auth":"{auth}"}},"tokengarbage.test":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let good_auth = base64_encode(&format!("{}:{}", PULLER.0, PULLER.1));
    let images = [
        "token.test/multi:1",
        "basic.test/single:1",
        "tokengone.test/single:1",
        "tokenerror.test/single:1",
        "tokengarbage.test/single:1",
        "token.test/single:1",
    ];
    let mut outputs = Vec::new();
    for image in images {
        for json in [true, false] {
            let mut args = vec!["--image", image, "--docker-config", cfg];
            if json {
                args.push("--json");
            }
            outputs.push(run(w, &args, None));
            let mut args = vec!["--image", image, "--username", PULLER.0, "--password-stdin"];
            if json {
                args.push("--json");
            }
            outputs.push(run(w, &args, Some(&format!("{secret}\n"))));
            outputs.push(run(w, &args, Some(&format!("{}\n", PULLER.1))));
        }
    }
    for r in &outputs {
        for needle in [secret, auth.as_str(), PULLER.1, good_auth.as_str(), "eyJ"] {
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
    // And the runs did authenticate (the test is not vacuous).
    assert!(outputs.iter().any(|r| r.status == Some(0)));
    assert!(outputs.iter().any(|r| r.status == Some(5)));
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
