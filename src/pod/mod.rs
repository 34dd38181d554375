//! `probe pod`: what one pod pulls, read from `kubectl get pod/NAME
//! secret/S1 -o json` (a Pod, or a `List` holding one Pod and any Secrets;
//! YAML too). This module turns that text into [`PodInput`]: the pod's
//! images in the kubelet's order, its `imagePullSecrets` as the kubelet
//! would use them, and what the kubelet last said about each container.
//! [`compare`] sets the kubelet's word beside the probe's verdict.
//!
//! It reads a string and nothing else; `pod::run` probes, the renderers
//! print [`PodReport`]. A secret's values are decoded straight into
//! [`DockerConfig`] (whose passwords are [`crate::secret::Secret`]s) and
//! never appear in an error.

pub mod compare;
pub mod run;

use crate::config::Source;
use crate::config::credentials::dockercfg::{self, DockerConfig};
use crate::explain::Explanation;
use base64::Engine as _;
use serde_json::Value;
use std::fmt::Write as _;

pub use compare::{Agreement, Comparison};

/// The most `probe pod` reads: a pod with its secrets is a few kilobytes.
pub const INPUT_LIMIT: u64 = 16 * 1024 * 1024;

/// The kubelet's two pull-secret types and the data key each must hold
/// (`pkg/credentialprovider/secrets/secrets.go` `MakeDockerKeyring`).
const DOCKER_CONFIG_JSON: (&str, &str) = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson");
const DOCKERCFG: (&str, &str) = ("kubernetes.io/dockercfg", ".dockercfg");

/// One pod, as the kubelet sees it for pulling.
#[derive(Debug)]
pub struct PodInput {
    pub namespace: String,
    pub name: String,
    /// `spec.nodeName`: where the kubelet that pulls runs (none before scheduling).
    pub node: Option<String>,
    /// Init containers first, then containers, then ephemeral ones, each in
    /// spec order: the order the kubelet starts (and pulls for) them.
    pub containers: Vec<Container>,
    /// `spec.imagePullSecrets`, in order, each as the input gave it.
    pub pull_secrets: Vec<PullSecret>,
    /// Secrets in the input that the pod does not name: the kubelet does not use them.
    pub unused_secrets: Vec<String>,
}

/// Which list of the pod spec a container comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    Container,
    Ephemeral,
}

impl ContainerKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Init => "init",
            ContainerKind::Container => "container",
            ContainerKind::Ephemeral => "ephemeral",
        }
    }
}

/// One container: its image as the spec writes it and the kubelet's last word.
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub kind: ContainerKind,
    /// `imagePullPolicy`, when the spec sets it.
    pub pull_policy: Option<String>,
    pub kubelet: KubeletState,
}

/// What the pod's status says about a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeletState {
    /// `state.waiting.reason` (`ErrImagePull`, `ImagePullBackOff`, ...).
    pub reason: Option<String>,
    /// `state.waiting.message`: the pull error, when the kubelet kept it.
    pub message: Option<String>,
    /// The container has run or runs (`running` or `terminated` state):
    /// its image was pulled, or was on the node already.
    pub started: bool,
}

/// One entry of `imagePullSecrets` and what the input holds for it.
#[derive(Debug)]
pub struct PullSecret {
    pub name: String,
    pub state: SecretState,
}

/// How the kubelet can use a named pull secret.
#[derive(Debug)]
pub enum SecretState {
    /// A docker config the kubelet adds to the pod's keyring.
    Usable(DockerConfig),
    /// Not in the input: missing in the cluster, or not passed to the probe.
    NotInInput,
    /// In the input, but in another namespace than the pod's.
    OtherNamespace(String),
    /// A type the kubelet skips (`Opaque`, ...).
    WrongType(String),
    /// The right type without its data key (or with it empty): skipped too.
    NoData(&'static str),
}

/// Why the input cannot be read as a pod: every problem found, for exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {}", problems.join("; "))]
pub struct InputError {
    pub origin: String,
    pub problems: Vec<String>,
}

/// `probe pod`'s result beside the report: the pod, each container with the
/// kubelet's word and the probe's, and what is wrong with its pull secrets.
#[derive(Clone, Debug)]
pub struct PodReport {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub containers: Vec<ContainerReport>,
    /// Findings about the pod's pull secrets and input, for a person.
    pub findings: Vec<String>,
}

/// One container of the pod in the report.
#[derive(Clone, Debug)]
pub struct ContainerReport {
    pub container: Container,
    /// The kubelet's message, explained (`None` when there is no message).
    pub explained: Option<Explanation>,
    /// Index of the container's image in the report's targets.
    pub target: usize,
    pub comparison: Comparison,
}

impl PodInput {
    /// The pod's usable pull secrets, in `imagePullSecrets` order: the
    /// keyring the kubelet puts before the node's own.
    #[must_use]
    pub fn keyring(&self) -> Vec<DockerConfig> {
        self.pull_secrets
            .iter()
            .filter_map(|s| match &s.state {
                SecretState::Usable(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// What is wrong with the pull secrets for `image` (a repository name,
    /// [`crate::reference::Reference::name`]), in words for a hint.
    #[must_use]
    pub fn secret_findings(&self, image: &str, registry: &str) -> Vec<String> {
        let ns = &self.namespace;
        let mut out = Vec::new();
        for s in &self.pull_secrets {
            let name = &s.name;
            match &s.state {
                SecretState::Usable(c) if c.lookup_all(image).is_empty() => {
                    let has = c.registries();
                    let has = if has.is_empty() {
                        "it has no usable entry".to_owned()
                    } else {
                        format!("it has {}", has.join(", "))
                    };
                    out.push(format!(
                        "pull secret {name} has no entry for {registry}; {has}"
                    ));
                }
                SecretState::Usable(_) => {}
                SecretState::NotInInput => out.push(format!(
                    "pull secret {name} is named in imagePullSecrets but is not in the input, so the probe ran without it: if it does not exist in namespace {ns}, the kubelet pulls without it too (it logs \"Unable to retrieve pull secret {ns}/{name}\"): create it; if it exists, pass it too (`kubectl get pod/{} secret/{name} -o json | probe pod -`)",
                    self.name
                )),
                SecretState::OtherNamespace(other) => out.push(format!(
                    "pull secret {name} in the input is from namespace {other}, the pod's is {ns}: the kubelet reads pull secrets from the pod's namespace only"
                )),
                SecretState::WrongType(t) => out.push(format!(
                    "pull secret {name} has type {t}: the kubelet uses only {} and {} secrets and skips it (`kubectl create secret docker-registry` makes the right kind)",
                    DOCKER_CONFIG_JSON.0, DOCKERCFG.0
                )),
                SecretState::NoData(key) => out.push(format!(
                    "pull secret {name} has no {key} data: the kubelet skips it"
                )),
            }
        }
        if self.pull_secrets.is_empty() && !self.unused_secrets.is_empty() {
            out.push(format!(
                "the pod names no imagePullSecrets, so the kubelet does not use secret {} from the input: add it to the pod spec (or its service account)",
                self.unused_secrets.join(", ")
            ));
        }
        out
    }

    /// Each pull secret as a source of the report's `config_sources`
    /// (`secret NAMESPACE/NAME`, kind `pull-secret`): what the kubelet can
    /// use of it.
    #[must_use]
    pub fn sources(&self) -> Vec<Source> {
        let mut out = Vec::new();
        for s in &self.pull_secrets {
            let path = format!("secret {}/{}", self.namespace, s.name);
            out.push(match &s.state {
                SecretState::Usable(c) if c.registries().is_empty() => Source::warning(
                    path,
                    KIND,
                    "no entry the kubelet can use (keys that are not registry URLs are ignored)",
                ),
                SecretState::Usable(_) => Source::ok(path, KIND),
                SecretState::NotInInput => Source::error(
                    path,
                    KIND,
                    "named in imagePullSecrets, not in the input: missing in the cluster, or not passed to the probe",
                ),
                SecretState::OtherNamespace(ns) => Source::error(
                    path,
                    KIND,
                    format!("the input has it from namespace {ns}, not the pod's"),
                ),
                SecretState::WrongType(t) => Source::warning(
                    path,
                    KIND,
                    format!("type {t}: the kubelet skips it"),
                ),
                SecretState::NoData(k) => Source::warning(
                    path,
                    KIND,
                    format!("no {k} data: the kubelet skips it"),
                ),
            });
        }
        for name in &self.unused_secrets {
            out.push(Source::warning(
                format!("secret {}/{name}", self.namespace),
                KIND,
                "in the input, not in the pod's imagePullSecrets: the kubelet does not use it",
            ));
        }
        out
    }
}

/// The `config_sources` kind of a pull secret.
const KIND: &str = "pull-secret";

/// Read `kubectl get pod/NAME [secret/S ...] -o json|yaml` output.
/// `origin` names the input in errors (a file name or "standard input").
pub fn parse(text: &str, origin: &str) -> Result<PodInput, InputError> {
    let fail = |problems: Vec<String>| InputError {
        origin: origin.to_owned(),
        problems,
    };
    let doc = parse_document(text).map_err(|e| fail(vec![e]))?;
    let mut items = Vec::new();
    collect_items(&doc, &mut items);
    let pods: Vec<&Value> = items.iter().copied().filter(|i| kind(i) == "Pod").collect();
    let secrets: Vec<&Value> = items
        .iter()
        .copied()
        .filter(|i| kind(i) == "Secret")
        .collect();
    let pod = match pods.as_slice() {
        [] => {
            let kinds: Vec<&str> = items.iter().map(|i| kind(i)).collect();
            let saw = if kinds.is_empty() {
                format!("a {}", kind(&doc).if_empty("document without a kind"))
            } else {
                kinds.join(", ")
            };
            return Err(fail(vec![format!(
                "no Pod in the input (it holds {saw}): give `kubectl get pod/NAME [secret/NAME ...] -o json`"
            )]));
        }
        [one] => *one,
        many => {
            let names: Vec<String> = many.iter().map(|p| meta(p, "name")).collect();
            return Err(fail(vec![format!(
                "{} pods in the input ({}): give one, `kubectl get pod/NAME [secret/NAME ...] -o json`",
                many.len(),
                names.join(", ")
            )]));
        }
    };
    let mut problems = Vec::new();
    let name = meta(pod, "name");
    let namespace = Some(meta(pod, "namespace"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    if name.is_empty() {
        problems.push("the Pod has no metadata.name".to_owned());
    }
    let containers = containers(pod, &mut problems);
    let names: Vec<String> = pod["spec"]["imagePullSecrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["name"].as_str())
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut pull_secrets = Vec::new();
    for n in &names {
        // The last Secret of that name in the pod's namespace wins; one in
        // another namespace is only reported.
        let same: Vec<&&Value> = secrets.iter().filter(|s| meta(s, "name") == *n).collect();
        let here = same.iter().rev().find(|s| {
            let ns = meta(s, "namespace");
            ns.is_empty() || ns == namespace
        });
        let state = match (here, same.last()) {
            (Some(s), _) => secret_state(s, n, &mut problems),
            (None, Some(s)) => SecretState::OtherNamespace(meta(s, "namespace")),
            (None, None) => SecretState::NotInInput,
        };
        pull_secrets.push(PullSecret {
            name: n.clone(),
            state,
        });
    }
    let mut unused_secrets: Vec<String> = secrets
        .iter()
        .map(|s| meta(s, "name"))
        .filter(|s| !names.contains(s))
        .collect();
    unused_secrets.dedup();
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(PodInput {
        namespace,
        name,
        node: pod["spec"]["nodeName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        containers,
        pull_secrets,
        unused_secrets,
    })
}

/// JSON, else YAML (`kubectl get -o yaml`); a position with the error.
fn parse_document(text: &str) -> Result<Value, String> {
    let json_err = match serde_json::from_str::<Value>(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("the input is empty: give `kubectl get pod/NAME -o json` output".to_owned());
    }
    if !trimmed.starts_with(['{', '[']) {
        if let Ok(v) = serde_yaml_ng::from_str::<Value>(text) {
            if v.is_object() {
                return Ok(v);
            }
        }
    }
    // serde_json's messages never quote the input.
    Err(format!(
        "not a JSON (or YAML) document: line {}, column {}: {}",
        json_err.line(),
        json_err.column(),
        json_err
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
    ))
}

/// The document itself, or the items of a `List` (nested lists too).
fn collect_items<'a>(doc: &'a Value, out: &mut Vec<&'a Value>) {
    match doc["items"].as_array() {
        Some(items) if kind(doc).ends_with("List") || kind(doc).is_empty() => {
            for i in items {
                collect_items(i, out);
            }
        }
        _ => out.push(doc),
    }
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn meta(v: &Value, field: &str) -> String {
    v["metadata"][field].as_str().unwrap_or_default().to_owned()
}

trait IfEmpty {
    fn if_empty<'a>(&'a self, other: &'a str) -> &'a str;
}

impl IfEmpty for str {
    fn if_empty<'a>(&'a self, other: &'a str) -> &'a str {
        if self.is_empty() { other } else { self }
    }
}

/// Every container in the kubelet's order, each with its status.
fn containers(pod: &Value, problems: &mut Vec<String>) -> Vec<Container> {
    let lists = [
        (
            "initContainers",
            "initContainerStatuses",
            ContainerKind::Init,
        ),
        ("containers", "containerStatuses", ContainerKind::Container),
        (
            "ephemeralContainers",
            "ephemeralContainerStatuses",
            ContainerKind::Ephemeral,
        ),
    ];
    let mut out = Vec::new();
    for (spec_key, status_key, kind) in lists {
        let statuses = pod["status"][status_key].as_array();
        for c in pod["spec"][spec_key].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or_default().to_owned();
            let Some(image) = c["image"].as_str().filter(|i| !i.trim().is_empty()) else {
                problems.push(format!("{} {:?} has no image", kind.as_str(), name));
                continue;
            };
            let status =
                statuses.and_then(|s| s.iter().find(|s| s["name"].as_str() == Some(name.as_str())));
            out.push(Container {
                image: image.to_owned(),
                kind,
                pull_policy: c["imagePullPolicy"].as_str().map(str::to_owned),
                kubelet: status.map(kubelet_state).unwrap_or_default(),
                name,
            });
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push("the Pod has no containers (spec.containers is empty)".to_owned());
    }
    out
}

fn kubelet_state(status: &Value) -> KubeletState {
    let waiting = &status["state"]["waiting"];
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    KubeletState {
        reason: text(&waiting["reason"]),
        message: text(&waiting["message"]).map(|m| redact_urls(&m)),
        started: status["state"]["running"].is_object()
            || status["state"]["terminated"].is_object()
            || status["lastState"]["terminated"].is_object(),
    }
}

/// A kubelet message with every URL's query and user info cut: a blob
/// fetch's error quotes the signed redirect URL (`?sig=...`), and a proxy
/// URL may carry a password.
#[must_use]
pub fn redact_urls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = ["https://", "http://"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        out.push_str(&rest[..at]);
        let url_end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |e| at + e);
        let url = &rest[at..url_end];
        let (scheme, after) = url.split_at(url.find("//").map_or(0, |i| i + 2));
        let (authority, path) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
        out.push_str(scheme);
        match authority.rsplit_once('@') {
            Some((_, host)) => {
                out.push_str("<redacted>@");
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        match path.find(['?', '#']) {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?<redacted>");
            }
            None => out.push_str(path),
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

/// A named secret as the kubelet would use it; broken data is a problem of the input.
fn secret_state(secret: &Value, name: &str, problems: &mut Vec<String>) -> SecretState {
    let ty = secret["type"].as_str().unwrap_or("Opaque");
    let key = match ty {
        t if t == DOCKER_CONFIG_JSON.0 => DOCKER_CONFIG_JSON.1,
        t if t == DOCKERCFG.0 => DOCKERCFG.1,
        other => return SecretState::WrongType(other.to_owned()),
    };
    // `stringData` (a manifest not yet applied) is written over `data`, as the API server does.
    let raw = if let Some(s) = secret["stringData"][key].as_str() {
        s.as_bytes().to_vec()
    } else if let Some(b64) = secret["data"][key].as_str() {
        let cleaned: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match base64::engine::general_purpose::STANDARD.decode(cleaned) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!(
                    "secret {name}: data[{key:?}] is not valid base64 ({e})"
                ));
                return SecretState::NoData(key);
            }
        }
    } else {
        return SecretState::NoData(key);
    };
    if raw.is_empty() {
        return SecretState::NoData(key);
    }
    let Ok(text) = String::from_utf8(raw) else {
        problems.push(format!("secret {name}: {key} is not UTF-8 text"));
        return SecretState::NoData(key);
    };
    match dockercfg::parse(&text) {
        Ok(c) => SecretState::Usable(c.with_label(format!("pull secret {name}"))),
        Err(e) => {
            let mut msg = format!("secret {name}: {key} is not a docker config: {e}");
            let _ = write!(
                msg,
                " (the kubelet fails every pull of the pod on it: MakeDockerKeyring returns the error)"
            );
            problems.push(msg);
            SecretState::NoData(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn dockerconfigjson(host: &str, user: &str, pw: &str) -> String {
        let auth = b64(&format!("{user}:{pw}"));
        b64(&format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#))
    }

    fn list(pod: &Value, secrets: &[Value]) -> String {
        let mut items = vec![pod.clone()];
        items.extend(secrets.iter().cloned());
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
    }

    fn pod(secrets: &[&str]) -> Value {
        let refs: Vec<Value> = secrets
            .iter()
            .map(|s| serde_json::json!({"name": s}))
            .collect();
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "nodeName": "aks-np1-3",
                "imagePullSecrets": refs,
                "initContainers": [{"name": "setup", "image": "reg.test/setup:1"}],
                "containers": [
                    {"name": "web", "image": "reg.test/web:1.2", "imagePullPolicy": "Always"},
                    {"name": "side", "image": "nginx"}
                ]
            },
            "status": {
                "initContainerStatuses": [{"name": "setup", "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [
                    {"name": "web", "state": {"waiting": {"reason": "ErrImagePull",
                        "message": "failed to pull and unpack image \"reg.test/web:1.2\": 401 Unauthorized"}}},
                    {"name": "side", "state": {"running": {}}}
                ]
            }
        })
    }

    fn secret(name: &str, ty: &str, data: &Value) -> Value {
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "shop"}, "type": ty, "data": data.clone()})
    }

    #[test]
    fn a_list_gives_containers_in_the_kubelets_order_and_secrets_in_pod_order() {
        let text = list(
            &pod(&["b", "a"]),
            &[
                secret(
                    "a",
                    DOCKER_CONFIG_JSON.0,
                    &serde_json::json!({".dockerconfigjson": dockerconfigjson("reg.test", "ua", "pa-123456")}),
                ),
                secret(
                    "b",
                    DOCKER_CONFIG_JSON.0,
                    &serde_json::json!({".dockerconfigjson": dockerconfigjson("reg.test", "ub", "pb-123456")}),
                ),
            ],
        );
        let p = parse(&text, "in").unwrap();
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("shop", "web"));
        assert_eq!(p.node.as_deref(), Some("aks-np1-3"));
        let order: Vec<(&str, ContainerKind)> = p
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            order,
            [
                ("setup", ContainerKind::Init),
                ("web", ContainerKind::Container),
                ("side", ContainerKind::Container)
            ]
        );
        assert_eq!(
            p.containers[1].kubelet.reason.as_deref(),
            Some("ErrImagePull")
        );
        assert!(p.containers[0].kubelet.started && p.containers[2].kubelet.started);
        assert_eq!(p.containers[1].pull_policy.as_deref(), Some("Always"));
        // The kubelet's keyring: secret order within a key.
        let users: Vec<String> = dockercfg::keyring_lookup(&p.keyring(), "reg.test/web")
            .iter()
            .map(|c| c.username().to_owned())
            .collect();
        assert_eq!(users, ["ub", "ua"]);
        assert!(!format!("{p:?}").contains("pa-123456"));
    }

    #[test]
    fn missing_wrong_type_and_empty_secrets_are_findings_not_errors() {
        let text = list(
            &pod(&["gone", "opaque", "empty", "other"]),
            &[
                secret("opaque", "Opaque", &serde_json::json!({"x": b64("y")})),
                secret("empty", DOCKER_CONFIG_JSON.0, &serde_json::json!({})),
                secret(
                    "other",
                    DOCKER_CONFIG_JSON.0,
                    &serde_json::json!({".dockerconfigjson": dockerconfigjson("docker.io", "u", "p")}),
                ),
                secret("extra", "Opaque", &serde_json::json!({})),
            ],
        );
        let p = parse(&text, "in").unwrap();
        let f = p.secret_findings("reg.test/web", "reg.test").join("\n");
        assert!(
            f.contains("pull secret gone is named in imagePullSecrets but is not in the input"),
            "{f}"
        );
        assert!(f.contains("pull secret opaque has type Opaque"), "{f}");
        assert!(
            f.contains("pull secret empty has no .dockerconfigjson data"),
            "{f}"
        );
        assert!(
            f.contains("pull secret other has no entry for reg.test; it has docker.io"),
            "{f}"
        );
        assert_eq!(p.unused_secrets, ["extra"]);
        assert!(
            p.secret_findings("docker.io/library/nginx", "docker.io")
                .iter()
                .all(|f| !f.contains("other has no entry"))
        );
    }

    #[test]
    fn a_secret_from_another_namespace_is_not_the_pods() {
        let mut s = secret(
            "regcred",
            DOCKER_CONFIG_JSON.0,
            &serde_json::json!({".dockerconfigjson": dockerconfigjson("reg.test", "u", "p")}),
        );
        s["metadata"]["namespace"] = "default".into();
        let p = parse(&list(&pod(&["regcred"]), &[s]), "in").unwrap();
        assert!(
            matches!(&p.pull_secrets[0].state, SecretState::OtherNamespace(n) if n == "default")
        );
    }

    #[test]
    fn bad_input_names_every_problem_and_no_secret() {
        for (text, want) in [
            ("", "the input is empty"),
            ("{not json", "not a JSON (or YAML) document: line 1"),
            (
                r#"{"kind":"Secret","metadata":{"name":"x"}}"#,
                "no Pod in the input (it holds Secret)",
            ),
            (
                r#"{"kind":"List","items":[]}"#,
                "no Pod in the input (it holds a List)",
            ),
        ] {
            let e = parse(text, "pod.json").unwrap_err().to_string();
            assert!(e.starts_with("pod.json: "), "{e}");
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let two = list(&pod(&[]), &[pod(&[])]);
        assert!(
            parse(&two, "in")
                .unwrap_err()
                .to_string()
                .contains("2 pods in the input (web, web)")
        );
        let broken = list(
            &pod(&["a", "b"]),
            &[
                secret(
                    "a",
                    DOCKER_CONFIG_JSON.0,
                    &serde_json::json!({".dockerconfigjson": "!!!notbase64-secretvalue"}),
                ),
                secret(
                    "b",
                    DOCKER_CONFIG_JSON.0,
                    &serde_json::json!({".dockerconfigjson": b64("{\"auths\": [1]} hunter2")}),
                ),
            ],
        );
        let e = parse(&broken, "in").unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
        let e = e.to_string();
        assert!(
            e.contains("secret a: data[\".dockerconfigjson\"] is not valid base64"),
            "{e}"
        );
        assert!(
            e.contains("secret b: .dockerconfigjson is not a docker config"),
            "{e}"
        );
        assert!(!e.contains("secretvalue") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn kubelet_messages_lose_url_queries_and_passwords() {
        let m = r#"failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://reg.blob.core.windows.net/x/data?se=2026&sig=SIGNATURE": dial tcp: i/o timeout; proxyconnect tcp http://u:PASSWORD@proxy:3128/ refused"#;
        let r = redact_urls(m);
        assert!(!r.contains("SIGNATURE") && !r.contains("PASSWORD"), "{r}");
        assert!(r.contains(r#"Get "https://reg.blob.core.windows.net/x/data?<redacted>": dial tcp: i/o timeout"#), "{r}");
        assert!(r.contains("http://<redacted>@proxy:3128/ refused"), "{r}");
        assert_eq!(redact_urls("no url here"), "no url here");
        // The explanation still reads the redacted message.
        assert_eq!(
            crate::explain::explain(&r).code,
            Some(crate::code::Code::ProxyUnreachable)
        );
    }

    #[test]
    fn yaml_and_a_bare_pod_are_read_too() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\nspec:\n  containers:\n  - name: c\n    image: reg.test/a:1\n";
        let p = parse(yaml, "in").unwrap();
        assert_eq!(p.namespace, "default");
        assert_eq!(p.containers[0].image, "reg.test/a:1");
        assert!(p.pull_secrets.is_empty());
    }
}
