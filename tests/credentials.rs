//! End to end (issue 8): the credentials the node really uses, on the test
//! bed's ACR-like registry, IMDS emulator, credential provider scripts and
//! AKS node roots (`tests/support/{acr,aks,provider}.rs`). Every output of
//! every scenario is searched for every secret the bed handed out.

mod common;
mod support;

use common::{Run, probe};
use std::sync::Mutex;
use std::time::Duration;
use support::acr::{ADMIN, NO_PULL_MI, PULLER_MI};
use support::aks::AksNode;
use support::{NodeRoot, World, provider};

/// Every output of this binary's scenarios, searched for secrets at the end
/// of each test that adds to it.
static OUTPUTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn run(w: &World, root: &NodeRoot, args: &[&str]) -> Run {
    run_in(w, root.path(), args, None)
}

fn run_in(w: &World, root: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut full = args.to_vec();
    full.push("--json");
    let r = probe(w.command(env!("CARGO_BIN_EXE_probe")), root, &full, stdin);
    // The human view too: it must be as clean as the JSON.
    let human = probe(w.command(env!("CARGO_BIN_EXE_probe")), root, args, stdin);
    OUTPUTS.lock().unwrap().extend([
        r.stdout.clone(),
        r.stderr.clone(),
        human.stdout,
        human.stderr,
    ]);
    r
}

/// No secret of the bed (passwords, AAD, refresh and access tokens,
/// provider answers) in anything printed so far.
fn assert_no_secret(w: &World, extra: &[&str]) {
    let outputs = OUTPUTS.lock().unwrap();
    let mut secrets = w.secrets();
    secrets.extend(extra.iter().map(|s| (*s).to_owned()));
    for out in outputs.iter() {
        for s in &secrets {
            if s.len() >= 6 {
                assert!(!out.contains(s.as_str()), "secret {s:?} in output:\n{out}");
            }
        }
        assert!(!out.contains("eyJ"), "a token in output:\n{out}");
    }
}

fn aks_root(w: &World, node: &AksNode) -> NodeRoot {
    let root = w.new_root();
    node.write(&root);
    root
}

fn auth_detail(t: &common::Target) -> serde_json::Value {
    t.stage("auth")
        .map(|s| s.detail.clone())
        .unwrap_or_default()
}

/// An AKS node with a user-assigned identity that has `AcrPull`: OK, the
/// credential named, the audience that worked reported. The provider binary
/// is not in the root (the agent's container often cannot run the node's),
/// so the identity is exchanged natively.
#[test]
fn aks_identity_with_pull_rights_is_ok() {
    let Some(w) = support::world() else { return };
    let root = aks_root(w, &AksNode::bed(&PULLER_MI));
    let r = run(w, &root, &["--image", "acr.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}\n{}", t.message, r.stdout);
    let ep = &t.endpoints[0];
    assert_eq!(ep.credential.kind, "identity");
    assert_eq!(ep.credential.user.as_deref(), Some(PULLER_MI.client_id));
    assert!(
        ep.credential.source.contains("/etc/kubernetes/azure.json"),
        "{:?}",
        ep.credential
    );
    let auth = auth_detail(&t);
    assert_eq!(
        auth["identity"]["audience"],
        "https://containerregistry.azure.net"
    );
    let steps: Vec<&str> = auth["identity"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["imds", "exchange"]);
    assert!(
        t.hint
            .as_deref()
            .unwrap_or_default()
            .contains("acr-credential-provider could not run here"),
        "{:?}",
        t.hint
    );
    // What reached the bed: IMDS with Metadata: true, the exchange, no secret in the clear.
    let imds = w.imds_log();
    assert!(imds.iter().any(|r| r.header("metadata") == Some("true")));
    assert!(w.acr_log().iter().any(|r| r.path == "/oauth2/exchange"));
    assert_no_secret(w, &[]);
}

/// An identity without `AcrPull`: `ACCESS_DENIED`, and the hint says how to grant it.
#[test]
fn aks_identity_without_pull_is_access_denied_with_the_role_assignment() {
    let Some(w) = support::world() else { return };
    let root = aks_root(w, &AksNode::bed(&NO_PULL_MI));
    let r = run(w, &root, &["--image", "acr.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "ACCESS_DENIED", "{}\n{}", t.message, r.stdout);
    assert_eq!(r.status, Some(5));
    let hint = t.hint.as_deref().unwrap();
    assert!(
        hint.contains(&format!(
            "az role assignment create --assignee {}",
            NO_PULL_MI.client_id
        )),
        "{hint}"
    );
    assert!(
        hint.contains("--role AcrPull") && hint.contains("--attach-acr"),
        "{hint}"
    );
    assert_no_secret(w, &[]);
}

/// IMDS down: `AUTH_SERVER_UNREACHABLE`, and IMDS is named.
#[test]
fn imds_down_is_auth_server_unreachable_naming_imds() {
    let Some(w) = support::world() else { return };
    let root = aks_root(w, &AksNode::bed(&PULLER_MI));
    let imds = w.imds_down_url();
    let r = run(
        w,
        &root,
        &[
            "--image",
            "acr.test/single:1",
            "--imds-endpoint",
            &imds,
            "--timeout",
            "2s",
        ],
    );
    let t = r.target();
    assert_eq!(
        t.code, "AUTH_SERVER_UNREACHABLE",
        "{}\n{}",
        t.message, r.stdout
    );
    assert!(
        t.message.contains("instance metadata service (IMDS)"),
        "{}",
        t.message
    );
    assert!(t.hint.as_deref().unwrap().contains("IMDS"), "{:?}", t.hint);
    assert_eq!(r.status, Some(3));
}

/// The kubelet's flags in /etc/default/kubelet name a provider config and
/// bin dir; the provider there answers working credentials for basic.test.
#[test]
fn an_exec_provider_found_through_etc_default_kubelet_supplies_credentials() {
    let Some(w) = support::world() else { return };
    let root = aks_root(
        w,
        &AksNode::managed_identity(PULLER_MI.client_id, &["basic.test"]),
    );
    let (user, password) = support::PULLER;
    root.exec_file(
        &provider::path(provider::ACR_PROVIDER),
        &provider::responds(&[("basic.test", user, password)]),
    );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}\n{}", t.message, r.stdout);
    let c = &t.endpoints[0].credential;
    assert_eq!(c.kind, "provider");
    assert_eq!(c.user.as_deref(), Some(user));
    assert!(c.source.contains("acr-credential-provider"), "{c:?}");
    // The provider got the kubelet's request on stdin, re-rooted arguments.
    let request: serde_json::Value = serde_json::from_str(
        &root
            .read(&format!("{}.stdin", provider::path(provider::ACR_PROVIDER)))
            .expect("the provider recorded its request"),
    )
    .unwrap();
    assert_eq!(request["kind"], "CredentialProviderRequest");
    assert_eq!(request["apiVersion"], provider::API_VERSION);
    assert_eq!(request["image"], "basic.test/single");
    let args = root
        .read(&format!("{}.args", provider::path(provider::ACR_PROVIDER)))
        .unwrap_or_default();
    let azure = root.path().join("etc/kubernetes/azure.json");
    assert!(
        args.contains(azure.to_str().unwrap()),
        "args not re-rooted: {args}"
    );
    assert_no_secret(w, &[password]);
}

/// The agent keeps a provider's answer as the kubelet does: for its
/// `cacheDuration`, so three rounds run it once; with `0s`, every round.
#[test]
fn the_agent_runs_a_provider_as_often_as_the_kubelet_would() {
    let Some(w) = support::world() else { return };
    let (user, password) = support::PULLER;
    for (duration, runs) in [("10m0s", 1), ("0s", 3)] {
        let root = aks_root(
            w,
            &AksNode::managed_identity(PULLER_MI.client_id, &["basic.test"]),
        );
        let script = provider::prints(&provider::response_with(
            &[("basic.test", user, password)],
            "Registry",
            Some(duration),
        ))
        .replacen("#!/bin/sh\n", "#!/bin/sh\necho run >> \"$0.count\"\n", 1);
        root.exec_file(&provider::path(provider::ACR_PROVIDER), &script);
        let out = w
            .command(env!("CARGO_BIN_EXE_probe"))
            .env("NODE_NAME", "aks-np1-0")
            .args([
                "daemon",
                "--image",
                "basic.test/single:1",
                "--max-rounds",
                "3",
            ])
            .args(["--interval", "1s", "--listen", "127.0.0.1:0", "--root"])
            .arg(root.path())
            .output()
            .expect("run probe daemon");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        OUTPUTS.lock().unwrap().extend([
            stdout.clone(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ]);
        let codes: Vec<String> = stdout
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a report line");
                v["targets"][0]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(codes, ["OK", "OK", "OK"], "{stdout}");
        let count = root
            .read(&format!("{}.count", provider::path(provider::ACR_PROVIDER)))
            .unwrap_or_default();
        assert_eq!(count.lines().count(), runs, "cacheDuration {duration}");
    }
    assert_no_secret(w, &[password]);
}

/// A provider that exits 1, one that hangs, one that prints garbage, and
/// one whose binary is missing: `CREDENTIAL_PROVIDER_FAILED`, within the bound.
#[test]
fn each_broken_provider_is_credential_provider_failed_within_its_bound() {
    let Some(w) = support::world() else { return };
    let name = "ecr-like-provider";
    let config = |name: &str| {
        format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: {name}\n    matchImages:\n      - \"basic.test\"\n    defaultCacheDuration: \"10m\"\n    apiVersion: {}\n",
            provider::API_VERSION
        )
    };
    let cases: [(&str, Option<String>, &str); 4] = [
        (
            "exit",
            Some(provider::exits(
                1,
                "first line\nerror: the node has no role to assume",
            )),
            "the node has no role to assume",
        ),
        ("hang", Some(provider::sleeps(60)), "no answer within"),
        ("garbage", Some(provider::garbage()), "not JSON"),
        ("missing", None, "is not there"),
    ];
    for (case, script, why) in cases {
        let root = w.new_root();
        root.write(
            "etc/default/kubelet",
            &format!(
                "KUBELET_FLAGS=--image-credential-provider-config=/{} --image-credential-provider-bin-dir=/{}\n",
                provider::CONFIG,
                provider::BIN_DIR
            ),
        )
        .write(provider::CONFIG, &config(name))
        .write("etc/containerd/config.toml", "version = 2\n");
        if let Some(s) = &script {
            root.exec_file(&provider::path(name), s);
        } else {
            root.write(&format!("{}/.keep", provider::BIN_DIR), "");
        }
        let r = run(
            w,
            &root,
            &[
                "--image",
                "basic.test/single:1",
                "--deadline",
                "4s",
                "--timeout",
                "2s",
            ],
        );
        let t = r.target();
        assert_eq!(
            t.code, "CREDENTIAL_PROVIDER_FAILED",
            "{case}: {}\n{}",
            t.message, r.stdout
        );
        assert_eq!(t.category, "config");
        assert_eq!(r.status, Some(7), "{case}");
        assert!(t.message.contains(name), "{case}: {}", t.message);
        assert!(t.message.contains(why), "{case}: {}", t.message);
        assert!(
            t.message
                .contains(&format!("/{}/{name}", provider::BIN_DIR)),
            "{case}: the path: {}",
            t.message
        );
        assert!(r.wall < Duration::from_secs(6), "{case}: took {:?}", r.wall);
    }
    assert_no_secret(w, &[]);
}

/// ACR's firewall: `IP_NOT_ALLOWED`, naming the node's address and the network rules.
#[test]
fn the_acr_firewall_is_ip_not_allowed_naming_the_ip() {
    let Some(w) = support::world() else { return };
    let r = run_in(w, w.root(), &["--registry", "acrfw.test"], None);
    let t = r.target();
    assert_eq!(t.code, "IP_NOT_ALLOWED", "{}\n{}", t.message, r.stdout);
    assert_eq!(t.category, "network");
    let hint = t.hint.as_deref().unwrap();
    assert!(hint.contains("az acr network-rule add"), "{hint}");
    assert!(
        t.message.contains("10.77.") && hint.contains("10.77."),
        "the caller's address: {}\n{hint}",
        t.message
    );
}

/// The ACR admin user in a pull secret gives OK.
#[test]
fn the_acr_admin_user_in_a_pull_secret_is_ok() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let auth = base64(&format!("{}:{}", ADMIN.0, ADMIN.1));
    root.write(
        "pull-secret.json",
        &format!(r#"{{"auths": {{"acr.test": {{"auth": "{auth}"}}}}}}"#),
    );
    let cfg = root.path().join("pull-secret.json");
    let r = run(
        w,
        &root,
        &[
            "--image",
            "acr.test/single:1",
            "--docker-config",
            cfg.to_str().unwrap(),
        ],
    );
    let t = r.target();
    assert_eq!(t.code, "OK", "{}\n{}", t.message, r.stdout);
    assert_eq!(t.endpoints[0].credential.user.as_deref(), Some(ADMIN.0));
    assert_eq!(t.endpoints[0].credential.kind, "basic");
    assert_no_secret(w, &[&auth]);
}

/// CRI-O reads its auth file when the kubelet passes no credential.
#[test]
fn crio_auth_json_works() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let (user, password) = support::PULLER;
    let auth = base64(&format!("{user}:{password}"));
    root.write("var/run/crio/crio.sock", "")
        .write(
            "etc/crio/crio.conf",
            "[crio.image]\nglobal_auth_file = \"/etc/crio/auth.json\"\n",
        )
        .write(
            "etc/crio/auth.json",
            &format!(r#"{{"auths": {{"basic.test": {{"auth": "{auth}"}}}}}}"#),
        );
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    let t = r.target();
    assert_eq!(t.code, "OK", "{}\n{}", t.message, r.stdout);
    assert!(
        t.endpoints[0]
            .credential
            .source
            .contains("/etc/crio/auth.json"),
        "{:?}",
        t.endpoints[0].credential
    );
    // Without it: the registry wants credentials.
    root.write("etc/crio/auth.json", r#"{"auths": {}}"#);
    let r = run(w, &root, &["--image", "basic.test/single:1"]);
    assert_eq!(r.target().code, "AUTH_REQUIRED", "{}", r.stdout);
    assert_no_secret(w, &[&auth]);
}

/// A plain-HTTP realm on another host receives no credential, and the
/// verdict says the credential was withheld, not that there is none.
#[test]
fn a_plain_http_realm_on_another_host_gets_no_credential() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let (user, password) = support::PULLER;
    let auth = base64(&format!("{user}:{password}"));
    root.write(
        "pull-secret.json",
        &format!(r#"{{"auths": {{"httprealm.test": {{"auth": "{auth}"}}}}}}"#),
    );
    let cfg = root.path().join("pull-secret.json");
    let before = w.realm_log().len();
    let r = run(
        w,
        &root,
        &[
            "--image",
            "httprealm.test/single:1",
            "--docker-config",
            cfg.to_str().unwrap(),
        ],
    );
    let t = r.target();
    assert_eq!(t.code, "AUTH_REQUIRED", "{}\n{}", t.message, r.stdout);
    let seen = w.realm_log();
    assert!(seen.len() > before, "the realm was asked");
    assert!(
        seen[before..].iter().all(|r| !r.carries_credential()),
        "a credential reached the plain-HTTP realm: {:?}",
        &seen[before..]
    );
    let hint = t.hint.as_deref().unwrap();
    assert!(
        hint.contains("were not sent") && hint.contains("clear text"),
        "{hint}"
    );
    assert!(
        !t.message.contains("no credentials configured"),
        "{}",
        t.message
    );
    assert_no_secret(w, &[&auth, password]);
}

/// `probe plan` names the provider that would run, without running it.
#[test]
fn plan_names_the_provider_without_running_it() {
    let Some(w) = support::world() else { return };
    let root = aks_root(
        w,
        &AksNode::managed_identity(PULLER_MI.client_id, &["basic.test"]),
    );
    root.exec_file(
        &provider::path(provider::ACR_PROVIDER),
        &provider::responds(&[]),
    );
    let out = w.probe(root.path(), &["plan", "--image", "basic.test/single:1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("the kubelet asks credential provider acr-credential-provider"),
        "{text}"
    );
    assert!(
        !root
            .path()
            .join(format!("{}.stdin", provider::path(provider::ACR_PROVIDER)))
            .exists(),
        "plan ran the provider"
    );
}

fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
