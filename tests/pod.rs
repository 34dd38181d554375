//! End to end (issue 11): `probe pod` on the test bed, fed what `kubectl
//! get pod/NAME secret/NAME -o json` prints: the pod's images probed with
//! its own pull secrets, each container's kubelet message set beside the
//! verdict, bad input refused with exit 2. Every output is searched for the
//! secrets' passwords.

mod common;
mod support;

use base64::Engine as _;
use common::{Report, Run, probe};
use serde_json::{Value, json};
use support::{NodeRoot, PULLER, World};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `kubernetes.io/dockerconfigjson` Secret with one entry.
fn pull_secret(name: &str, host: &str, user: &str, password: &str) -> Value {
    let auth = b64(&format!("{user}:{password}"));
    let config = format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#);
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "shop"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(&config)}
    })
}

/// `(kind, name, image, kubelet waiting reason/message)`.
type Spec<'a> = (&'a str, &'a str, &'a str, Option<(&'a str, &'a str)>);

/// A pod on `node`: `(kind, name, image, kubelet waiting reason/message)` per container.
fn pod_json(node: &str, secrets: &[&str], containers: &[Spec]) -> Value {
    let mut spec_init = Vec::new();
    let mut spec_main = Vec::new();
    let mut st_init = Vec::new();
    let mut st_main = Vec::new();
    for (kind, name, image, waiting) in containers {
        let spec = json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent"});
        let state = match waiting {
            Some((reason, message)) => json!({"waiting": {"reason": reason, "message": message}}),
            None => json!({"waiting": {"reason": "PodInitializing"}}),
        };
        let status = json!({"name": name, "image": image, "ready": false, "state": state});
        if *kind == "init" {
            spec_init.push(spec);
            st_init.push(status);
        } else {
            spec_main.push(spec);
            st_main.push(status);
        }
    }
    let refs: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-7d4b9", "namespace": "shop"},
        "spec": {"nodeName": node, "imagePullSecrets": refs,
                 "initContainers": spec_init, "containers": spec_main},
        "status": {"phase": "Pending", "initContainerStatuses": st_init, "containerStatuses": st_main}
    })
}

/// What `kubectl get pod/NAME secret/S -o json` prints: a `List`.
fn list(items: &[Value]) -> String {
    serde_json::to_string_pretty(
        &json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}),
    )
    .unwrap()
}

/// `probe pod - --json` on `node`, the pod on stdin; the human view is
/// produced too and both are checked for the passwords.
fn run_pod(w: &World, root: &NodeRoot, node: &str, input: &str, extra: &[&str]) -> Run {
    let mut args = vec!["pod", "-", "--timeout", "2s"];
    args.extend_from_slice(extra);
    let mut json_args = args.clone();
    json_args.push("--json");
    let cmd = |w: &World| {
        let mut c = w.command(env!("CARGO_BIN_EXE_probe"));
        c.env("NODE_NAME", node);
        c
    };
    let r = probe(cmd(w), root.path(), &json_args, Some(input));
    let human = probe(cmd(w), root.path(), &args, Some(input));
    for out in [&r.stdout, &r.stderr, &human.stdout, &human.stderr] {
        for secret in [PULLER.1, "wrong-pw-1234", "c2VjcmV0"] {
            assert!(!out.contains(secret), "{secret:?} in output:\n{out}");
        }
    }
    assert_eq!(r.status, human.status, "{}\n{}", human.stdout, human.stderr);
    r
}

fn report(r: &Run) -> Report {
    r.report()
}

/// A pod on [`NODE`] without pull secrets and with one container `web`,
/// which the kubelet reports as waiting with `reason` and `message`.
fn one_container(image: &str, reason: &str, message: &str) -> String {
    list(&[pod_json(
        NODE,
        &[],
        &[("container", "web", image, Some((reason, message)))],
    )])
}

fn hint_of(t: &common::Target) -> &str {
    t.hint.as_deref().unwrap_or_default()
}

/// The pull secret `name` of namespace `shop` among the report's sources.
fn secret_source<'a>(rep: &'a Report, name: &str) -> &'a common::ConfigSource {
    let path = format!("secret shop/{name}");
    rep.config_sources
        .iter()
        .find(|s| s.path == path)
        .unwrap_or_else(|| panic!("{path} in config_sources"))
}

const NODE: &str = "aks-np1-0";

#[test]
fn the_pods_own_secret_right_is_ok_and_wrong_is_rejected_naming_it() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let image = "basic.test/single:1";
    let p = pod_json(NODE, &["regcred"], &[("container", "web", image, None)]);

    let right = run_pod(
        w,
        &root,
        NODE,
        &list(&[
            p.clone(),
            pull_secret("regcred", "basic.test", PULLER.0, PULLER.1),
        ]),
        &[],
    );
    let rep = report(&right);
    assert_eq!(right.status, Some(0), "{}", right.stdout);
    let t = &rep.targets[0];
    assert_eq!(t.code, "OK", "{}", right.stdout);
    assert_eq!(t.image.as_deref(), Some("basic.test/single:1"));
    assert!(
        t.endpoints[0]
            .credential
            .source
            .contains("pull secret regcred"),
        "{:?}",
        t.endpoints[0].credential
    );
    assert_eq!(t.endpoints[0].credential.user.as_deref(), Some(PULLER.0));
    let pod = rep.pod.as_ref().expect("a pod object");
    assert_eq!(
        (
            pod.namespace.as_str(),
            pod.name.as_str(),
            pod.node.as_deref()
        ),
        ("shop", "web-7d4b9", Some(NODE))
    );
    assert_eq!(pod.containers.len(), 1);
    assert_eq!(pod.containers[0].code, "OK");
    assert_eq!(pod.containers[0].agreement, "no_pull_error");
    assert!(pod.findings.is_empty(), "{:?}", pod.findings);
    let src = secret_source(&rep, "regcred");
    assert_eq!(
        (src.kind.as_str(), src.severity.as_str()),
        ("pull-secret", "ok")
    );

    let wrong = run_pod(
        w,
        &root,
        NODE,
        &list(&[
            p,
            pull_secret("regcred", "basic.test", PULLER.0, "wrong-pw-1234"),
        ]),
        &[],
    );
    let t = &report(&wrong).targets[0];
    assert_eq!(wrong.status, Some(5), "{}", wrong.stdout);
    assert_eq!(t.code, "AUTH_REJECTED", "{}", wrong.stdout);
    let hint = hint_of(t);
    assert!(
        hint.contains("pull secret regcred"),
        "the secret is named: {hint}"
    );
}

#[test]
fn a_missing_secret_is_auth_required_naming_it() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let p = pod_json(
        NODE,
        &["regcred"],
        &[("container", "web", "basic.test/single:1", None)],
    );
    let r = run_pod(w, &root, NODE, &list(std::slice::from_ref(&p)), &[]);
    let rep = report(&r);
    let t = &rep.targets[0];
    assert_eq!(t.code, "AUTH_REQUIRED", "{}", r.stdout);
    let hint = hint_of(t);
    assert!(
        hint.starts_with(
            "pull secret regcred is named in imagePullSecrets but is not in the input"
        ),
        "the missing secret comes first in the hint: {hint}"
    );
    let src = secret_source(&rep, "regcred");
    assert_eq!(src.severity, "error");

    // A secret for another registry: "no entry for basic.test; it has ...".
    let other = pull_secret("regcred", "registry.test", PULLER.0, PULLER.1);
    let r = run_pod(w, &root, NODE, &list(&[p.clone(), other]), &[]);
    let hint = hint_of(&report(&r).targets[0]).to_owned();
    assert!(
        hint.contains("pull secret regcred has no entry for basic.test; it has registry.test"),
        "{hint}"
    );

    // A secret of a type the kubelet skips.
    let mut opaque = pull_secret("regcred", "basic.test", PULLER.0, PULLER.1);
    opaque["type"] = "Opaque".into();
    let r = run_pod(w, &root, NODE, &list(&[p, opaque]), &[]);
    let t = &report(&r).targets[0];
    assert_eq!(t.code, "AUTH_REQUIRED", "{}", r.stdout);
    assert!(
        hint_of(t).contains("pull secret regcred has type Opaque"),
        "{}",
        hint_of(t)
    );
}

#[test]
fn an_init_container_and_a_blackholed_container_are_both_reported() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let p = pod_json(
        NODE,
        &[],
        &[
            ("init", "setup", "registry.test/single:1", None),
            ("container", "web", "blackhole.test/app:1", None),
            ("container", "side", "registry.test/single:1", None),
        ],
    );
    let r = run_pod(w, &root, NODE, &list(&[p]), &[]);
    let rep = report(&r);
    assert_eq!(r.status, Some(3), "network: {}", r.stdout);
    // One target per distinct image, in the kubelet's order.
    let codes: Vec<(&str, &str)> = rep
        .targets
        .iter()
        .map(|t| (t.registry.as_str(), t.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("registry.test", "OK"), ("blackhole.test", "TCP_TIMEOUT")],
        "{}",
        r.stdout
    );
    let pod = rep.pod.unwrap();
    let per: Vec<(&str, &str, &str)> = pod
        .containers
        .iter()
        .map(|c| (c.kind.as_str(), c.name.as_str(), c.code.as_str()))
        .collect();
    assert_eq!(
        per,
        [
            ("init", "setup", "OK"),
            ("container", "web", "TCP_TIMEOUT"),
            ("container", "side", "OK")
        ]
    );
    // Bounded: the blackhole gives its verdict in about the stage timeout.
    assert!(r.wall.as_secs() < 12, "{:?}", r.wall);
}

#[test]
fn a_kubelet_message_that_disagrees_is_shown_as_a_disagreement() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    // What containerd's CRI plugin said when the kubelet pulled on the pod's node.
    let kubelet = "failed to pull and unpack image \"basic.test/single:1\": failed to resolve reference \"basic.test/single:1\": failed to do request: Head \"https://basic.test/v2/single/manifests/1\": dial tcp 10.77.0.11:443: i/o timeout";
    let p = pod_json(
        "aks-np1-3",
        &["regcred"],
        &[(
            "container",
            "web",
            "basic.test/single:1",
            Some(("ErrImagePull", kubelet)),
        )],
    );
    let r = run_pod(
        w,
        &root,
        NODE,
        &list(&[p, pull_secret("regcred", "basic.test", PULLER.0, PULLER.1)]),
        &[],
    );
    let rep = report(&r);
    assert_eq!(r.status, Some(0), "{}", r.stdout);
    let pod = rep.pod.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.kubelet.reason.as_deref(), Some("ErrImagePull"));
    assert_eq!(c.kubelet.explained.as_deref(), Some("TCP_TIMEOUT"));
    assert_eq!(c.code, "OK");
    assert_eq!(c.agreement, "disagree");
    assert_eq!(
        c.statement,
        "the kubelet saw TCP_TIMEOUT, now OK: intermittent, or another node: this pod is on aks-np1-3, the probe runs on aks-np1-0"
    );
    assert!(
        pod.findings
            .iter()
            .any(|f| f.starts_with("this pod is on aks-np1-3, the probe runs on aks-np1-0")),
        "{:?}",
        pod.findings
    );

    // The same account from the pod's own node, where it is still failing: agreement.
    let denied = "failed to pull and unpack image \"blackhole.test/app:1\": failed to resolve reference \"blackhole.test/app:1\": failed to do request: Head \"https://blackhole.test/v2/app/manifests/1\": dial tcp 10.77.0.30:443: i/o timeout";
    let r = run_pod(
        w,
        &root,
        NODE,
        &one_container("blackhole.test/app:1", "ErrImagePull", denied),
        &[],
    );
    let c = &report(&r).pod.unwrap().containers[0];
    assert_eq!(
        (c.code.as_str(), c.agreement.as_str()),
        ("TCP_TIMEOUT", "agree"),
        "{}",
        c.statement
    );

    // The human view says it in words.
    let human = probe(
        {
            let mut c = w.command(env!("CARGO_BIN_EXE_probe"));
            c.env("NODE_NAME", NODE);
            c
        },
        root.path(),
        &["pod", "-", "--timeout", "2s"],
        Some(&list(&[pod_json(
            "aks-np1-3",
            &[],
            &[(
                "container",
                "web",
                "registry.test/single:1",
                Some(("ErrImagePull", kubelet)),
            )],
        )])),
    );
    assert!(
        human
            .stdout
            .contains("pod shop/web-7d4b9 on node aks-np1-3 (the probe runs on aks-np1-0)"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("disagree: the kubelet saw TCP_TIMEOUT, now OK"),
        "{}",
        human.stdout
    );
}

#[test]
fn an_invalid_image_name_is_invalid_reference_without_a_request() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let msg = "Failed to apply default image tag \"registry.test/Single:1\": couldn't parse image name \"registry.test/Single:1\": invalid reference format: repository name (library/Single) must be lowercase";
    let r = run_pod(
        w,
        &root,
        NODE,
        &one_container("registry.test/Single:1", "InvalidImageName", msg),
        &[],
    );
    let rep = report(&r);
    assert_eq!(r.status, Some(4), "name: {}", r.stdout);
    assert_eq!(rep.targets[0].code, "INVALID_REFERENCE");
    assert!(
        rep.targets[0].message.contains("must be lowercase"),
        "{}",
        rep.targets[0].message
    );
    let c = &rep.pod.unwrap().containers[0];
    assert_eq!(
        (c.kubelet.explained.as_deref(), c.agreement.as_str()),
        (Some("INVALID_REFERENCE"), "agree")
    );
    assert!(
        rep.targets[0].endpoints.is_empty(),
        "nothing is asked: {}",
        r.stdout
    );
}

#[test]
fn bad_input_is_exit_2_naming_what_is_wrong() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let p = pod_json(
        NODE,
        &["regcred", "other"],
        &[("container", "web", "basic.test/single:1", None)],
    );
    let mut broken = pull_secret("regcred", "basic.test", PULLER.0, PULLER.1);
    broken["data"][".dockerconfigjson"] = "c2VjcmV0!!!".into();
    let mut bad_json = pull_secret("other", "basic.test", PULLER.0, PULLER.1);
    bad_json["data"][".dockerconfigjson"] = b64("{\"auths\": ").into();
    for (input, want) in [
        (
            "this is not json".to_owned(),
            vec!["standard input: not a JSON (or YAML) document"],
        ),
        (
            list(&[pull_secret("regcred", "basic.test", "u", "p")]),
            vec!["no Pod in the input (it holds Secret)"],
        ),
        (
            list(&[p, broken, bad_json]),
            vec![
                "secret regcred: data[\".dockerconfigjson\"] is not valid base64",
                "secret other: .dockerconfigjson is not a docker config",
            ],
        ),
    ] {
        let r = run_pod(w, &root, NODE, &input, &[]);
        assert_eq!(r.status, Some(2), "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.is_empty(), "no report: {}", r.stdout);
        for want in want {
            assert!(r.stderr.contains(want), "{want:?} not in {}", r.stderr);
        }
    }
    // A file that does not exist, and flags that do not apply.
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &["pod", "/nonexistent/pod.json"],
        None,
    );
    assert_eq!(r.status, Some(2));
    assert!(
        r.stderr
            .contains("/nonexistent/pod.json: cannot read the pod"),
        "{}",
        r.stderr
    );
    let r = probe(
        w.command(env!("CARGO_BIN_EXE_probe")),
        root.path(),
        &["pod", "--image", "nginx"],
        None,
    );
    assert_eq!(r.status, Some(2));
    assert!(
        r.stderr.contains("--image and --registry do not apply"),
        "{}",
        r.stderr
    );
}

/// Issue 18 (seed 000's second example): the image written without its
/// registry host is Docker Hub's, and the pod's pull secret is for the
/// registry the user meant; the hint names the full reference.
#[test]
fn a_pull_secret_for_the_namespace_host_names_the_image_meant() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let image = "basic/single:1";
    let p = pod_json(
        NODE,
        &["regcred"],
        &[(
            "container",
            "web",
            image,
            Some((
                "ErrImagePull",
                "failed to pull and unpack image \"docker.io/basic/single:1\": failed to resolve reference \"docker.io/basic/single:1\": pull access denied, repository does not exist or may require authorization",
            )),
        )],
    );
    let r = run_pod(
        w,
        &root,
        NODE,
        &list(&[
            p.clone(),
            pull_secret("regcred", "basic.test", PULLER.0, PULLER.1),
        ]),
        &[],
    );
    let rep = report(&r);
    let t = &rep.targets[0];
    assert_eq!(t.registry, "docker.io", "{}", r.stdout);
    let hint = hint_of(t);
    assert!(
        hint.contains("pull secret regcred has credentials or config for `basic.test`")
            && hint.contains("the image most likely meant is `basic.test/single:1`"),
        "{hint}"
    );

    // Negative: a secret for a host whose first label is not the namespace.
    let r = run_pod(
        w,
        &root,
        NODE,
        &list(&[
            p,
            pull_secret("regcred", "registry.test", PULLER.0, PULLER.1),
        ]),
        &[],
    );
    let hint = hint_of(&report(&r).targets[0]).to_owned();
    assert!(!hint.contains("most likely meant"), "{hint}");
}
