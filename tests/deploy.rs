//! Packaging checks: `daemonset.yaml`, the `Dockerfile`, the
//! node-problem-detector config `deploy/npd/regprobe-monitor.json`, and the
//! static binary that `scripts/static-build` makes.
//!
//! - The manifest is read back into a test-owned mirror of the parts that
//!   matter and each promise of its comments is asserted (host network, the
//!   node's resolver, root without capabilities, read-only mounts of only
//!   what the probe reads, no API access, ...), so a regression fails here.
//!   `scripts/test` also validates it against the Kubernetes schemas
//!   (`kubernetes-validate --strict`).
//! - The NPD config is checked with NPD's own rules, ported from
//!   `pkg/custompluginmonitor/types/config.go` (`ApplyConfiguration`,
//!   `Validate`) with Go's `time.ParseDuration` (`src/time/format.go`), then
//!   with this project's stricter expectations, kept apart.
//! - The static binary (path in `REGPROBE_STATIC_BIN`, set by scripts/test)
//!   is checked for what the Dockerfile's distroless image needs: no
//!   interpreter, no NSS, runs with an empty environment from an empty
//!   directory, and probes a TLS registry on loopback by IP (no DNS). Without
//!   the variable those tests skip loudly, and fail under `CI=true`.
//!
//! Nothing here sends traffic anywhere but 127.0.0.1.

mod common;
#[allow(dead_code)]
#[path = "support/pki.rs"]
mod pki;

use regprobe::config::go_duration::parse_nanos;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ---------------------------------------------------------------------------
// daemonset.yaml: a mirror of the fields the checks read
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccount {
    metadata: Meta,
    automount_service_account_token: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct ConfigMap {
    metadata: Meta,
    data: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriorityClass {
    metadata: Meta,
    value: i64,
    global_default: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct DaemonSet {
    metadata: Meta,
    spec: DaemonSetSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DaemonSetSpec {
    selector: Selector,
    update_strategy: UpdateStrategy,
    template: PodTemplate,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateStrategy {
    #[serde(rename = "type")]
    kind: String,
    rolling_update: Option<RollingUpdate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RollingUpdate {
    max_unavailable: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct PodTemplate {
    metadata: Meta,
    spec: PodSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    service_account_name: Option<String>,
    automount_service_account_token: Option<bool>,
    host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    host_ipc: Option<bool>,
    dns_policy: Option<String>,
    priority_class_name: Option<String>,
    termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    tolerations: Vec<BTreeMap<String, serde_yaml_ng::Value>>,
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
    #[serde(default)]
    ports: Vec<NamedPort>,
    liveness_probe: Option<Probe>,
    readiness_probe: Option<Probe>,
    resources: Option<Resources>,
    security_context: Option<SecurityContext>,
    #[serde(default)]
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    value: Option<String>,
    value_from: Option<EnvVarSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvVarSource {
    field_ref: Option<FieldRef>,
    config_map_key_ref: Option<KeyRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldRef {
    field_path: String,
}

#[derive(Debug, Deserialize)]
struct KeyRef {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedPort {
    name: Option<String>,
    container_port: u16,
    host_port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    http_get: Option<HttpGet>,
}

#[derive(Debug, Deserialize)]
struct HttpGet {
    path: String,
    port: serde_yaml_ng::Value,
}

#[derive(Debug, Deserialize)]
struct Resources {
    #[serde(default)]
    requests: BTreeMap<String, String>,
    #[serde(default)]
    limits: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    run_as_user: Option<i64>,
    run_as_non_root: Option<bool>,
    privileged: Option<bool>,
    allow_privilege_escalation: Option<bool>,
    read_only_root_filesystem: Option<bool>,
    capabilities: Option<Capabilities>,
    seccomp_profile: Option<Seccomp>,
}

#[derive(Debug, Deserialize)]
struct Capabilities {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    drop: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Seccomp {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    read_only: Option<bool>,
    recursive_read_only: Option<String>,
    sub_path: Option<String>,
    mount_propagation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    name: String,
    host_path: Option<HostPath>,
    config_map: Option<ConfigMapVolume>,
    /// Any other volume source: there must be none.
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
struct HostPath {
    path: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigMapVolume {
    name: String,
    #[serde(default)]
    items: Vec<KeyToPath>,
}

#[derive(Debug, Deserialize)]
struct KeyToPath {
    key: String,
    path: String,
}

/// The daemon's targets file (`targets.yaml` in the `ConfigMap`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    #[serde(default)]
    registries: Vec<String>,
    #[serde(default)]
    images: Vec<String>,
}

/// Every object of daemonset.yaml, by kind.
struct Manifest {
    kinds: Vec<String>,
    namespace: Meta,
    service_account: ServiceAccount,
    config_map: ConfigMap,
    priority_class: PriorityClass,
    daemon_set: DaemonSet,
}

impl Manifest {
    fn load() -> Manifest {
        let text = read("daemonset.yaml");
        let mut docs: BTreeMap<String, serde_yaml_ng::Value> = BTreeMap::new();
        let mut kinds = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(doc).expect("daemonset.yaml parses");
            if value.is_null() {
                continue;
            }
            let kind = value["kind"]
                .as_str()
                .expect("every object has a kind")
                .to_owned();
            assert!(
                docs.insert(kind.clone(), value).is_none(),
                "one {kind} only"
            );
            kinds.push(kind);
        }
        let mut take = |kind: &str| {
            docs.remove(kind)
                .unwrap_or_else(|| panic!("daemonset.yaml has no {kind}"))
        };
        let ns = take("Namespace");
        Manifest {
            kinds,
            namespace: serde_yaml_ng::from_value(ns["metadata"].clone()).expect("Namespace"),
            service_account: serde_yaml_ng::from_value(take("ServiceAccount"))
                .expect("ServiceAccount"),
            config_map: serde_yaml_ng::from_value(take("ConfigMap")).expect("ConfigMap"),
            priority_class: serde_yaml_ng::from_value(take("PriorityClass"))
                .expect("PriorityClass"),
            daemon_set: serde_yaml_ng::from_value(take("DaemonSet")).expect("DaemonSet"),
        }
    }

    fn pod(&self) -> &PodSpec {
        &self.daemon_set.spec.template.spec
    }

    fn probe(&self) -> &Container {
        let pod = self.pod();
        assert_eq!(pod.containers.len(), 1, "one container");
        assert!(pod.init_containers.is_empty(), "no init container");
        assert_eq!(pod.containers[0].name, "probe");
        &pod.containers[0]
    }

    /// Host path volumes with the mount of each: (host path, type, mount).
    fn host_mounts(&self) -> Vec<(&HostPath, &VolumeMount)> {
        let probe = self.probe();
        self.pod()
            .volumes
            .iter()
            .filter_map(|v| v.host_path.as_ref().map(|h| (v, h)))
            .map(|(v, h)| {
                let mounts: Vec<_> = probe
                    .volume_mounts
                    .iter()
                    .filter(|m| m.name == v.name)
                    .collect();
                assert_eq!(mounts.len(), 1, "volume {} is mounted once", v.name);
                (h, mounts[0])
            })
            .collect()
    }

    /// The value of `--flag` in the container's args.
    fn arg(&self, flag: &str) -> Option<&str> {
        let args = &self.probe().args;
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].as_str())
    }
}

/// Whether `path` is `dir` or lies below it (whole components).
fn under(path: &str, dir: &str) -> bool {
    Path::new(path).starts_with(dir)
}

#[test]
fn manifest_holds_the_five_objects_and_no_rbac() {
    let m = Manifest::load();
    let mut kinds = m.kinds.clone();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "DaemonSet",
            "Namespace",
            "PriorityClass",
            "ServiceAccount"
        ]
    );
    assert_eq!(m.namespace.name, "regprobe");
    assert_eq!(
        m.namespace
            .labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("privileged"),
        "hostNetwork and hostPath need the privileged Pod Security level"
    );
    for meta in [
        &m.service_account.metadata,
        &m.config_map.metadata,
        &m.daemon_set.metadata,
    ] {
        assert_eq!(meta.namespace.as_deref(), Some("regprobe"), "{}", meta.name);
    }
    assert!(
        m.priority_class.metadata.namespace.is_none(),
        "cluster-scoped"
    );
}

#[test]
fn no_api_access() {
    let m = Manifest::load();
    assert_eq!(
        m.service_account.automount_service_account_token,
        Some(false)
    );
    let pod = m.pod();
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(m.service_account.metadata.name.as_str())
    );
}

#[test]
fn pod_uses_the_node_network_and_resolver_but_not_its_processes() {
    let m = Manifest::load();
    let pod = m.pod();
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(pod.dns_policy.as_deref(), Some("Default"));
    assert_ne!(pod.host_pid, Some(true));
    assert_ne!(pod.host_ipc, Some(true));
    assert_eq!(m.arg("--root"), Some("/host"));
}

#[test]
fn container_is_root_without_powers() {
    let m = Manifest::load();
    let sc = m
        .probe()
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(
        sc.run_as_user,
        Some(0),
        "root: credential files are root-only"
    );
    assert_ne!(sc.run_as_non_root, Some(true));
    assert_ne!(sc.privileged, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop, ["ALL"]);
    assert!(caps.add.is_empty(), "no capability added: {:?}", caps.add);
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.kind.as_str()),
        Some("RuntimeDefault")
    );
}

#[test]
fn host_paths_are_read_only_at_the_same_path_under_host() {
    let m = Manifest::load();
    let mounts = m.host_mounts();
    assert!(mounts.len() > 10, "the node's files are mounted");
    for v in &m.pod().volumes {
        let extra: Vec<_> = v.other.keys().collect();
        assert!(
            extra.is_empty(),
            "volume {}: only hostPath and configMap volumes, got {extra:?}",
            v.name
        );
        assert!(
            v.host_path.is_some() ^ v.config_map.is_some(),
            "volume {}",
            v.name
        );
    }
    for (host, mount) in mounts {
        let path = &host.path;
        assert_eq!(mount.read_only, Some(true), "{path} is mounted read-only");
        assert_eq!(
            mount.mount_path,
            format!("/host{path}"),
            "{path} at /host{path}"
        );
        assert!(mount.sub_path.is_none(), "{path}: no subPath");
        assert!(
            mount.mount_propagation.is_none(),
            "{path}: no mount propagation (recursive read-only needs none)"
        );
        let kind = host.kind.as_deref().unwrap_or_else(|| {
            panic!("{path}: an explicit type (unset, a missing file becomes a directory)")
        });
        match kind {
            "Directory" | "DirectoryOrCreate" => assert_eq!(
                mount.recursive_read_only.as_deref(),
                Some("IfPossible"),
                "{path}: mounts below it are read-only too"
            ),
            // Created empty where missing: the kubelet reads an empty one as
            // it reads a missing one (daemonset.yaml says why).
            "FileOrCreate" => assert!(
                under(path, "/var/lib/kubelet") || path == "/etc/environment",
                "{path}: FileOrCreate only for the kubelet's files and pam_env's"
            ),
            // Pod start fails where missing: only files every node has.
            "File" => assert!(
                ["/etc/resolv.conf", "/etc/hosts"].contains(&path.as_str()),
                "{path}: `File` only for files every kubelet node has"
            ),
            other => panic!("{path}: unexpected hostPath type {other}"),
        }
    }
}

/// Node paths the probe reads, each of which some mount must cover.
const READS: &[&str] = &[
    // containerd: config, imports, certs.d
    "/etc/containerd/config.toml",
    "/etc/containerd/conf.d/10-registry.toml",
    "/etc/containerd/certs.d/docker.io/hosts.toml",
    // CRI-O and containers/image
    "/etc/crio/crio.conf",
    "/etc/crio/crio.conf.d/01-override.conf",
    "/etc/containers/registries.conf",
    "/etc/containers/registries.conf.d/10-docker.io.conf",
    "/etc/containers/certs.d/reg:5000/ca.crt",
    // Docker
    "/etc/docker/daemon.json",
    "/etc/docker/certs.d/reg:5000/ca.crt",
    // kubelet: config, flags, docker config, credential providers
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/var/lib/kubelet/config.json",
    "/var/lib/kubelet/credential-provider-config.yaml",
    "/var/lib/kubelet/credential-provider/acr-credential-provider",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
    "/etc/kubernetes/azure.json",
    "/etc/kubernetes/credential-provider-config.yaml",
    // systemd: units, drop-ins, manager environment
    "/etc/systemd/system/containerd.service.d/http-proxy.conf",
    "/etc/systemd/system.conf.d/proxy.conf",
    "/run/systemd/system/containerd.service.d/proxy.conf",
    "/lib/systemd/system/containerd.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/usr/local/lib/systemd/system/containerd.service",
    // CA trees and the targets of their links
    "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt",
    "/usr/local/share/ca-certificates/corp.crt",
    // the resolver
    "/etc/resolv.conf",
    "/etc/hosts",
    // the login shell's proxy (issue 18)
    "/etc/environment",
    "/etc/profile.d/proxy.sh",
];

/// Node paths no mount may cover.
const NEVER: &[&str] = &[
    // runtime sockets: a connection is control of the runtime, read-only or not
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
    "/var/run/docker.sock",
    "/run/cri-dockerd.sock",
    "/run/systemd/private",
    // other processes
    "/proc/1/environ",
    // the node's and the pods' secrets
    "/etc/shadow",
    "/etc/ssh/ssh_host_ed25519_key",
    "/var/lib/kubelet/pods/uid/volumes/kubernetes.io~secret/token",
    "/var/lib/kubelet/pki/kubelet-client-current.pem",
    "/var/lib/kubelet/device-plugins/kubelet.sock",
    "/var/lib/kubelet/plugins/csi.sock",
    "/var/lib/rancher/k3s/server/token",
    // users' homes: SSH keys (their docker logins are found by a run on the node)
    "/home/docker/.ssh/id_ed25519",
    "/root/.ssh/id_ed25519",
];

#[test]
fn host_mounts_cover_what_the_probe_reads_and_nothing_else() {
    use regprobe::config::net::proxy::login_env;
    use regprobe::config::{credentials::kubelet, net::trust, runtime::k3s};
    let m = Manifest::load();
    let paths: Vec<&str> = m
        .host_mounts()
        .iter()
        .map(|(h, _)| h.path.as_str())
        .collect();
    let covered = |p: &str| paths.iter().any(|dir| under(p, dir));

    let mut reads: Vec<String> = READS.iter().map(|p| (*p).to_owned()).collect();
    // The probe's own lists, so that a path added there needs a mount here.
    reads.extend(trust::CERT_FILES.iter().map(|p| (*p).to_owned()));
    reads.extend(
        trust::CERT_DIRECTORIES
            .iter()
            .map(|d| format!("{d}/corp.pem")),
    );
    reads.extend(kubelet::FLAG_FILES.iter().map(|p| (*p).to_owned()));
    reads.push(format!("{}/config.json", kubelet::DEFAULT_ROOT_DIR));
    reads.extend(
        [k3s::REGISTRIES_YAML, k3s::CONFIG_YAML]
            .iter()
            .map(|p| (*p).to_owned()),
    );
    reads.push(format!("{}/10-registry.yaml", k3s::CONFIG_YAML_D));
    reads.push(login_env::ETC_ENVIRONMENT.to_owned());
    reads.push(format!("{}/corp-proxy.sh", login_env::PROFILE_D));

    let missing: Vec<_> = reads.iter().filter(|p| !covered(p)).collect();
    assert!(
        missing.is_empty(),
        "read by the probe but not mounted: {missing:?}"
    );

    let unused: Vec<_> = paths
        .iter()
        .filter(|dir| !reads.iter().any(|p| under(p, dir)))
        .collect();
    assert!(unused.is_empty(), "mounted but never read: {unused:?}");

    let exposed: Vec<_> = NEVER.iter().filter(|p| covered(p)).collect();
    assert!(exposed.is_empty(), "must not be mounted: {exposed:?}");
}

#[test]
fn node_name_comes_from_the_downward_api() {
    let m = Manifest::load();
    let env: Vec<_> = m
        .probe()
        .env
        .iter()
        .filter(|e| e.name == "NODE_NAME")
        .collect();
    assert_eq!(env.len(), 1);
    assert!(env[0].value.is_none());
    let field = env[0]
        .value_from
        .as_ref()
        .and_then(|s| s.field_ref.as_ref())
        .expect("NODE_NAME from a fieldRef");
    assert_eq!(field.field_path, "spec.nodeName");
}

#[test]
fn health_probes_and_metrics_port_agree() {
    let m = Manifest::load();
    let probe = m.probe();
    assert_eq!(probe.ports.len(), 1);
    let port = &probe.ports[0];
    assert_eq!(port.name.as_deref(), Some("metrics"));
    assert_eq!(port.container_port, 9808);
    assert!(
        port.host_port.is_none(),
        "hostNetwork: the container port is the node's"
    );
    assert_eq!(m.arg("--listen"), Some(":9808"));

    for (probe, path) in [
        (&probe.liveness_probe, "/healthz"),
        (&probe.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{path}: an httpGet probe"));
        assert_eq!(get.path, path);
        assert_eq!(
            get.port.as_str(),
            Some("metrics"),
            "{path} on the metrics port"
        );
    }

    let ann = &m.daemon_set.spec.template.metadata.annotations;
    let get = |k: &str| ann.get(k).map(String::as_str);
    assert_eq!(get("prometheus.io/scrape"), Some("true"));
    assert_eq!(get("prometheus.io/port"), Some("9808"));
    assert_eq!(get("prometheus.io/path"), Some("/metrics"));
}

#[test]
fn runs_on_every_node_with_its_priority_class() {
    let m = Manifest::load();
    let pod = m.pod();
    assert_eq!(pod.tolerations.len(), 1);
    let t = &pod.tolerations[0];
    assert_eq!(t.get("operator").and_then(|v| v.as_str()), Some("Exists"));
    assert!(
        !t.contains_key("key") && !t.contains_key("effect"),
        "tolerates every taint: {t:?}"
    );
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some(m.priority_class.metadata.name.as_str())
    );
    let value = m.priority_class.value;
    assert!(
        value > 0 && value <= 1_000_000_000,
        "above ordinary pods, within the user range (system classes start at 2000000000): {value}"
    );
    assert_ne!(m.priority_class.global_default, Some(true));
}

#[test]
fn rolls_out_gradually_and_stops_quickly() {
    let m = Manifest::load();
    let spec = &m.daemon_set.spec;
    assert_eq!(spec.update_strategy.kind, "RollingUpdate");
    let max = spec
        .update_strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.max_unavailable.as_ref())
        .and_then(|v| v.as_str());
    assert_eq!(max, Some("10%"));
    assert_eq!(m.pod().termination_grace_period_seconds, Some(5));
    let labels = &spec.template.metadata.labels;
    for (k, v) in &spec.selector.match_labels {
        assert_eq!(labels.get(k), Some(v), "the selector matches the pods");
    }
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some("regprobe"),
        "`kubectl logs -l app=regprobe` finds the pods"
    );
}

/// A Kubernetes quantity as a number (milli-units for CPU, bytes otherwise).
fn quantity(q: &str) -> u64 {
    let (digits, unit): (String, String) = q.chars().partition(char::is_ascii_digit);
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("quantity {q}"));
    n * match unit.as_str() {
        "m" => 1,
        "" => 1000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unit {other} in {q}"),
    }
}

#[test]
fn resources_are_requested_and_limited() {
    let m = Manifest::load();
    let r = m.probe().resources.as_ref().expect("resources");
    for res in ["cpu", "memory"] {
        let req = quantity(
            r.requests
                .get(res)
                .unwrap_or_else(|| panic!("{res} request")),
        );
        let lim = quantity(r.limits.get(res).unwrap_or_else(|| panic!("{res} limit")));
        assert!(
            req > 0 && req <= lim,
            "{res}: request {req} within limit {lim}"
        );
    }
    assert!(quantity(&r.limits["memory"]) <= 128 << 20, "a small agent");
}

#[test]
fn targets_come_from_the_config_map() {
    let m = Manifest::load();
    let cm = &m.config_map;
    let targets: TargetsFile =
        serde_yaml_ng::from_str(&cm.data["targets.yaml"]).expect("targets.yaml");
    assert!(!targets.registries.is_empty() || !targets.images.is_empty());
    for image in &targets.images {
        let host = image.split('/').next().unwrap_or_default();
        assert!(host.contains('.'), "{image}: fully qualified");
    }

    // --targets names the mounted key.
    let vol = m
        .pod()
        .volumes
        .iter()
        .find(|v| {
            v.config_map
                .as_ref()
                .is_some_and(|c| c.name == cm.metadata.name)
        })
        .expect("the ConfigMap is a volume");
    let mount = m
        .probe()
        .volume_mounts
        .iter()
        .find(|vm| vm.name == vol.name)
        .expect("and is mounted");
    assert!(
        mount.sub_path.is_none(),
        "no subPath: the kubelet updates the file in place"
    );
    let item = vol
        .config_map
        .as_ref()
        .unwrap()
        .items
        .iter()
        .find(|i| i.key == "targets.yaml");
    let path = item.map_or("targets.yaml", |i| i.path.as_str());
    assert_eq!(
        m.arg("--targets").map(PathBuf::from),
        Some(Path::new(&mount.mount_path).join(path))
    );

    // Every configMapKeyRef names a key that exists, holding a count.
    let mut refs = 0;
    for e in &m.probe().env {
        let Some(r) = e
            .value_from
            .as_ref()
            .and_then(|s| s.config_map_key_ref.as_ref())
        else {
            continue;
        };
        refs += 1;
        assert_eq!(r.name, cm.metadata.name, "{}", e.name);
        let v = cm
            .data
            .get(&r.key)
            .unwrap_or_else(|| panic!("{}: key {}", e.name, r.key));
        assert!(v.parse::<u32>().is_ok_and(|n| n > 0), "{}: {v}", e.name);
    }
    assert_eq!(
        refs, 2,
        "PROBE_CLUSTER_SIZE and PROBE_REGISTRY_PROBES_PER_ROUND"
    );
}

#[test]
fn image_tag_and_dockerfile_version_are_the_crate_version() {
    let m = Manifest::load();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        m.probe().image,
        format!("ghcr.io/regprobe/probe:{version}"),
        "the placeholder image follows Cargo.toml's version"
    );
    let docker = Dockerfile::parse(&read("Dockerfile"));
    assert!(
        docker
            .arg_defaults
            .contains(&("VERSION".to_owned(), version.to_owned())),
        "ARG VERSION={version} in the Dockerfile"
    );
}

/// `probe ARGS --help` exits 0 exactly when clap accepts ARGS (values
/// included), without running anything. `None` when the subcommand does not
/// exist (yet).
fn accepts(args: &[String], env: &[(String, String)]) -> Option<bool> {
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(args)
        .arg("--help")
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .expect("run probe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("unrecognized subcommand") {
        return None;
    }
    if !out.status.success() {
        eprintln!("probe {args:?}: {stderr}");
    }
    Some(out.status.success())
}

#[test]
fn daemon_accepts_the_manifest_args_and_env() {
    let m = Manifest::load();
    let probe = m.probe();
    assert!(probe.command.is_empty(), "the image's entrypoint runs");
    assert_eq!(probe.args.first().map(String::as_str), Some("daemon"));
    let env: Vec<(String, String)> = probe
        .env
        .iter()
        .filter(|e| e.name.starts_with("PROBE_"))
        .map(|e| {
            let r = e
                .value_from
                .as_ref()
                .unwrap()
                .config_map_key_ref
                .as_ref()
                .unwrap();
            (e.name.clone(), m.config_map.data[&r.key].clone())
        })
        .collect();
    match accepts(&probe.args, &env) {
        Some(ok) => assert!(ok, "`probe daemon` rejects the manifest's args or env"),
        None => panic!("this probe has no `daemon` subcommand"),
    }
}

// ---------------------------------------------------------------------------
// Dockerfile and .dockerignore
// ---------------------------------------------------------------------------

/// The instructions of a Dockerfile, continuation lines joined.
struct Dockerfile {
    /// (stage base image, instructions of that stage).
    stages: Vec<(String, Vec<(String, String)>)>,
    arg_defaults: Vec<(String, String)>,
}

impl Dockerfile {
    fn parse(text: &str) -> Dockerfile {
        let mut lines: Vec<String> = Vec::new();
        let mut cont = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && !cont) {
                continue;
            }
            let (body, more) = match trimmed.strip_suffix('\\') {
                Some(b) => (b.trim(), true),
                None => (trimmed, false),
            };
            if cont {
                let last = lines.last_mut().unwrap();
                last.push(' ');
                last.push_str(body);
            } else {
                lines.push(body.to_owned());
            }
            cont = more;
        }
        let mut stages: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut arg_defaults = Vec::new();
        for line in lines {
            let (op, rest) = line.split_once(' ').unwrap_or((&line, ""));
            let (op, rest) = (op.to_ascii_uppercase(), rest.trim().to_owned());
            if op == "ARG" {
                if let Some((k, v)) = rest.split_once('=') {
                    arg_defaults.push((k.to_owned(), v.to_owned()));
                }
            }
            if op == "FROM" {
                let image = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                stages.push((image, Vec::new()));
            } else if let Some((_, ops)) = stages.last_mut() {
                ops.push((op, rest));
            }
        }
        Dockerfile {
            stages,
            arg_defaults,
        }
    }

    fn last(&self, stage: usize, op: &str) -> Option<&str> {
        self.stages[stage]
            .1
            .iter()
            .rev()
            .find(|(o, _)| o == op)
            .map(|(_, r)| r.as_str())
    }
}

#[test]
fn dockerfile_builds_the_ci_binary_onto_distroless_as_non_root() {
    let d = Dockerfile::parse(&read("Dockerfile"));
    assert_eq!(d.stages.len(), 2, "build and runtime stages");
    let build = d.last(0, "RUN").expect("the build stage runs the build");
    assert!(
        build.contains("scripts/static-build"),
        "the same build as CI: {build}"
    );
    let (base, _) = &d.stages[1];
    assert!(
        base.starts_with("gcr.io/distroless/static-debian12:"),
        "distroless/static, pinned: {base}"
    );
    assert!(!base.ends_with(":latest"));
    let user = d.last(1, "USER").expect("USER");
    assert!(user.starts_with("65532"), "non-root by default: {user}");
    let copy = d.last(1, "COPY").expect("COPY");
    let dest = copy.split_whitespace().last().unwrap();
    let entrypoint: Vec<String> =
        serde_json::from_str(d.last(1, "ENTRYPOINT").expect("ENTRYPOINT")).expect("exec form");
    assert_eq!(entrypoint, [dest], "the entrypoint is the binary copied in");
    assert!(
        dest.starts_with("/usr/local/bin/"),
        "on PATH, for `kubectl debug node ... -- probe`"
    );
    let cmd: Vec<String> = serde_json::from_str(d.last(1, "CMD").expect("CMD")).expect("exec form");
    assert_eq!(cmd, ["daemon"]);
    assert_eq!(d.last(1, "EXPOSE"), Some("9808"));
}

#[test]
fn dockerignore_lets_in_what_the_build_needs() {
    let lines: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.first().map(String::as_str), Some("*"), "an allowlist");
    for needed in [
        "!Cargo.toml",
        "!Cargo.lock",
        "!src/",
        "!scripts/static-build",
    ] {
        assert!(lines.iter().any(|l| l == needed), "{needed}");
    }
}

// ---------------------------------------------------------------------------
// node-problem-detector's custom plugin monitor config
// (pkg/custompluginmonitor/types/config.go and types.go)
// ---------------------------------------------------------------------------

/// `CustomPluginConfig`. Unknown keys are rejected here, where Go's
/// encoding/json would silently drop them: a misspelt key in our file would
/// otherwise quietly fall back to NPD's default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NpdConfig {
    #[serde(default)]
    plugin: String,
    #[serde(rename = "pluginConfig", default)]
    plugin_config: NpdGlobal,
    #[serde(default)]
    source: String,
    #[serde(rename = "conditions", default)]
    default_conditions: Vec<NpdCondition>,
    #[serde(default)]
    rules: Vec<NpdRule>,
    #[serde(rename = "metricsReporting")]
    metrics_reporting: Option<bool>,
}

/// `pluginGlobalConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NpdGlobal {
    invoke_interval: Option<String>,
    timeout: Option<String>,
    max_output_length: Option<i64>,
    concurrency: Option<i64>,
    enable_message_change_based_condition_update: Option<bool>,
    #[expect(
        dead_code,
        reason = "mirrored so that NPD's key is not an unknown field"
    )]
    skip_initial_status: Option<bool>,
}

/// `types.Condition` as a config file gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NpdCondition {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

/// `CustomRule`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NpdRule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    args: Vec<String>,
    timeout: Option<String>,
    invoke_interval: Option<String>,
}

/// The config after `ApplyConfiguration`: defaults filled in, durations parsed.
#[derive(Debug)]
struct NpdApplied {
    timeout: i64,
    invoke_interval: i64,
    max_output_length: i64,
    concurrency: i64,
    message_change_update: bool,
    metrics_reporting: bool,
    /// Per rule: (timeout, invoke interval), when set.
    rules: Vec<(Option<i64>, Option<i64>)>,
}

/// `ApplyConfiguration`: NPD's defaults (`defaultGlobalTimeout` 5s,
/// `defaultInvokeInterval` 30s, `defaultMaxOutputLength` 80,
/// `defaultConcurrency` 3, message-change updates off, metrics on) and the
/// duration parsing, with its errors.
fn npd_apply(c: &NpdConfig) -> Result<NpdApplied, String> {
    let g = &c.plugin_config;
    let timeout_s = g.timeout.as_deref().unwrap_or("5s");
    let timeout = parse_nanos(timeout_s)
        .map_err(|e| format!("error in parsing global timeout {timeout_s:?}: {e}"))?;
    let interval_s = g.invoke_interval.as_deref().unwrap_or("30s");
    let invoke_interval = parse_nanos(interval_s)
        .map_err(|e| format!("error in parsing invoke interval {interval_s:?}: {e}"))?;
    let mut rules = Vec::new();
    for r in &c.rules {
        let t = r
            .timeout
            .as_deref()
            .map(parse_nanos)
            .transpose()
            .map_err(|e| format!("error in parsing rule timeout {r:?}: {e}"))?;
        let i = r
            .invoke_interval
            .as_deref()
            .map(parse_nanos)
            .transpose()
            .map_err(|e| format!("error in parsing rule invoke interval {r:?}: {e}"))?;
        rules.push((t, i));
    }
    Ok(NpdApplied {
        timeout,
        invoke_interval,
        max_output_length: g.max_output_length.unwrap_or(80),
        concurrency: g.concurrency.unwrap_or(3),
        message_change_update: g
            .enable_message_change_based_condition_update
            .unwrap_or(false),
        metrics_reporting: c.metrics_reporting.unwrap_or(true),
        rules,
    })
}

/// `Validate`, in its order. `exists` stands for its `os.Stat(rule.Path)`
/// in NPD's container.
fn npd_validate(
    c: &NpdConfig,
    a: &NpdApplied,
    exists: impl Fn(&str) -> bool,
) -> Result<(), String> {
    if c.plugin != "custom" {
        return Err(format!(
            "NPD does not support {:?} plugin for now. Only support \"custom\"",
            c.plugin
        ));
    }
    if a.invoke_interval <= 0 {
        return Err(format!(
            "global invoke interval must be greater than zero: {}",
            a.invoke_interval
        ));
    }
    for (r, (timeout, interval)) in c.rules.iter().zip(&a.rules) {
        if interval.is_some_and(|i| i <= 0) {
            return Err(format!(
                "rule invoke interval must be greater than zero. Rule: {r:?}"
            ));
        }
        if timeout.is_some_and(|t| t > a.timeout) {
            return Err(format!(
                "plugin timeout is greater than global timeout. Rule: {r:?}. Global timeout: {}",
                a.timeout
            ));
        }
    }
    for r in &c.rules {
        if !exists(&r.path) {
            return Err(format!(
                "rule path {:?} does not exist. Rule: {r:?}",
                r.path
            ));
        }
    }
    for r in c.rules.iter().filter(|r| r.kind == "permanent") {
        if !c.default_conditions.iter().any(|d| d.kind == r.condition) {
            return Err(format!(
                "permanent problem {} does not have preset default condition",
                r.condition
            ));
        }
    }
    Ok(())
}

/// What this project expects beyond NPD's own checks, each a way the config
/// would load and still not work.
fn regprobe_npd_checks(c: &NpdConfig, a: &NpdApplied) -> Result<(), String> {
    if a.timeout <= 0 {
        return Err("global timeout must be positive: every run would time out".into());
    }
    if a.concurrency < 1 {
        // make(chan struct{}, 0): runRules blocks on its first send forever.
        return Err(format!("concurrency {} runs no plugin", a.concurrency));
    }
    if a.max_output_length != 80 {
        return Err(format!(
            "max_output_length {}: `probe npd` prints at most 80 bytes (CONTRACT)",
            a.max_output_length
        ));
    }
    if !a.metrics_reporting {
        return Err("metricsReporting: the README promises NPD's problem metrics".into());
    }
    if !a.message_change_update {
        return Err(
            "enable_message_change_based_condition_update: a new code must update the condition"
                .into(),
        );
    }
    if c.source.is_empty() {
        return Err("a source names the monitor in events and conditions".into());
    }
    for d in &c.default_conditions {
        if d.reason.is_empty() || d.message.is_empty() {
            return Err(format!(
                "condition {}: the reason and message NPD restores when the problem clears",
                d.kind
            ));
        }
    }
    if c.rules.is_empty() {
        return Err("no rule".into());
    }
    for (r, (timeout, interval)) in c.rules.iter().zip(&a.rules) {
        if r.kind != "permanent" && r.kind != "temporary" {
            // NPD treats any other type as permanent but skips the condition check.
            return Err(format!("rule type {:?}", r.kind));
        }
        if !r.path.starts_with('/') {
            return Err(format!("{}: relative to NPD's working directory", r.path));
        }
        let effective = timeout.map_or(a.timeout, |t| t.min(a.timeout));
        if effective <= 0 {
            return Err(format!("{}: timeout must be positive", r.reason));
        }
        if interval.unwrap_or(a.invoke_interval) < effective {
            return Err(format!("{}: invoked more often than it may take", r.reason));
        }
        if r.args.first().map(String::as_str) != Some("npd") {
            return Err(format!(
                "{}: args must start with `npd`: {:?}",
                r.reason, r.args
            ));
        }
        let flag = |name: &str| {
            r.args
                .iter()
                .position(|x| x == name)
                .and_then(|i| r.args.get(i + 1))
        };
        if flag("--root").map(String::as_str) != Some("/host") {
            return Err(format!("{}: --root /host", r.reason));
        }
        let deadline = flag("--deadline")
            .ok_or_else(|| format!("{}: --deadline", r.reason))
            .and_then(|d| parse_nanos(d))?;
        if deadline >= effective {
            return Err(format!(
                "{}: --deadline must end the run before NPD's timeout kills it",
                r.reason
            ));
        }
    }
    Ok(())
}

/// Where the documented NPD image puts the probe (deploy/npd/README.md).
const NPD_PROBE_PATH: &str = "/opt/regprobe/probe";

fn npd_shipped() -> NpdConfig {
    serde_json::from_str(&read("deploy/npd/regprobe-monitor.json")).expect("regprobe-monitor.json")
}

/// Parse JSON text into the config and run every check.
fn npd_check_all(text: &str) -> Result<(), String> {
    let c: NpdConfig = serde_json::from_str(text).map_err(|e| format!("parse: {e}"))?;
    let a = npd_apply(&c)?;
    npd_validate(&c, &a, |p| p == NPD_PROBE_PATH)?;
    regprobe_npd_checks(&c, &a)
}

#[test]
fn npd_config_passes_npd_validation_and_ours() {
    let text = read("deploy/npd/regprobe-monitor.json");
    assert_eq!(npd_check_all(&text), Ok(()));
    let c = npd_shipped();
    assert!(read("deploy/npd/README.md").contains(NPD_PROBE_PATH));
    assert!(
        c.rules
            .iter()
            .any(|r| r.kind == "permanent" && r.condition == "RegistryUnreachable"),
        "the RegistryUnreachable condition"
    );
}

/// The shipped config as JSON, changed by `f`, then checked.
fn npd_mutated(f: impl FnOnce(&mut serde_json::Value)) -> Result<(), String> {
    let mut v: serde_json::Value =
        serde_json::from_str(&read("deploy/npd/regprobe-monitor.json")).unwrap();
    f(&mut v);
    npd_check_all(&v.to_string())
}

fn assert_rejected(result: Result<(), String>, why: &str) {
    match result {
        Ok(()) => panic!("accepted, but should fail with {why:?}"),
        Err(e) => assert!(e.contains(why), "{e:?} does not say {why:?}"),
    }
}

#[test]
fn npd_validation_rejects_broken_configs() {
    use serde_json::json;
    let rule0 = |v: &mut serde_json::Value| v["rules"][0].take();
    assert_rejected(
        npd_mutated(|v| v["plugin"] = json!("journald")),
        "does not support \"journald\" plugin",
    );
    assert_rejected(
        npd_mutated(|v| v["pluginConfig"]["invoke_interval"] = json!("0s")),
        "global invoke interval must be greater than zero",
    );
    assert_rejected(
        npd_mutated(|v| v["pluginConfig"]["invoke_interval"] = json!("-1m")),
        "global invoke interval must be greater than zero",
    );
    assert_rejected(
        npd_mutated(|v| v["pluginConfig"]["invoke_interval"] = json!("5 minutes")),
        "error in parsing invoke interval",
    );
    assert_rejected(
        npd_mutated(|v| v["pluginConfig"]["timeout"] = json!("30")),
        "error in parsing global timeout",
    );
    assert_rejected(
        npd_mutated(|v| v["rules"][0]["timeout"] = json!("31s")),
        "plugin timeout is greater than global timeout",
    );
    assert_rejected(
        npd_mutated(|v| v["rules"][0]["timeout"] = json!("1d")),
        "error in parsing rule timeout",
    );
    assert_rejected(
        npd_mutated(|v| v["rules"][0]["invoke_interval"] = json!("0s")),
        "rule invoke interval must be greater than zero",
    );
    assert_rejected(
        npd_mutated(|v| v["rules"][0]["path"] = json!("/probe")),
        "rule path \"/probe\" does not exist",
    );
    assert_rejected(
        npd_mutated(|v| v["rules"][0]["condition"] = json!("RegistryDown")),
        "permanent problem RegistryDown does not have preset default condition",
    );
    assert_rejected(
        npd_mutated(|v| v["conditions"] = json!([])),
        "does not have preset default condition",
    );
    // ApplyConfiguration's default global timeout (5s) is below the rule's 30s.
    assert_rejected(
        npd_mutated(|v| {
            v["pluginConfig"].as_object_mut().unwrap().remove("timeout");
        }),
        "plugin timeout is greater than global timeout",
    );
    // A temporary rule needs no declared condition.
    assert_eq!(
        npd_mutated(|v| {
            let mut r = rule0(v);
            r["type"] = json!("temporary");
            r["condition"] = json!("Undeclared");
            v["rules"] = json!([r]);
        }),
        Ok(())
    );
}

#[test]
fn our_checks_catch_what_npd_accepts() {
    use serde_json::json;
    // Each of these loads in NPD (its Validate passes) and still fails.
    let cases: &[(&str, serde_json::Value, &str)] = &[
        ("/pluginConfig/concurrency", json!(0), "runs no plugin"),
        (
            "/pluginConfig/max_output_length",
            json!(60),
            "at most 80 bytes",
        ),
        ("/rules/0/type", json!("permanant"), "rule type"),
        (
            "/rules/0/args/0",
            json!("daemon"),
            "args must start with `npd`",
        ),
        ("/rules/0/args/2", json!("/"), "--root /host"),
        (
            "/rules/0/args/8",
            json!("30s"),
            "before NPD's timeout kills it",
        ),
        ("/conditions/0/message", json!(""), "reason and message"),
        (
            "/pluginConfig/enable_message_change_based_condition_update",
            json!(false),
            "a new code must update the condition",
        ),
    ];
    for (pointer, value, why) in cases {
        let mut v: serde_json::Value =
            serde_json::from_str(&read("deploy/npd/regprobe-monitor.json")).unwrap();
        if *pointer == "/rules/0/args/2" {
            assert_eq!(
                v.pointer("/rules/0/args/1"),
                Some(&json!("--root")),
                "the args' layout"
            );
        }
        if *pointer == "/rules/0/args/8" {
            assert_eq!(
                v.pointer("/rules/0/args/7"),
                Some(&json!("--deadline")),
                "the args' layout"
            );
        }
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        let c: NpdConfig = serde_json::from_value(v).unwrap();
        let a = npd_apply(&c).unwrap();
        assert_eq!(
            npd_validate(&c, &a, |p| p == NPD_PROBE_PATH),
            Ok(()),
            "{pointer}: NPD accepts it"
        );
        assert_rejected(regprobe_npd_checks(&c, &a), why);
    }
    // A zero global timeout, with no rule timeout for NPD to compare.
    let mut v: serde_json::Value =
        serde_json::from_str(&read("deploy/npd/regprobe-monitor.json")).unwrap();
    v["pluginConfig"]["timeout"] = json!("0s");
    v["rules"][0].as_object_mut().unwrap().remove("timeout");
    let c: NpdConfig = serde_json::from_value(v).unwrap();
    let a = npd_apply(&c).unwrap();
    assert_eq!(npd_validate(&c, &a, |p| p == NPD_PROBE_PATH), Ok(()));
    assert_rejected(
        regprobe_npd_checks(&c, &a),
        "global timeout must be positive",
    );
    // A misspelt key: NPD would ignore it and use its default.
    assert_rejected(
        npd_mutated(|v| {
            v["pluginConfig"]["invoke_intervall"] = json!("5m");
        }),
        "unknown field `invoke_intervall`",
    );
}

#[test]
fn npd_rule_args_are_accepted_by_probe_npd() {
    let c = npd_shipped();
    for r in &c.rules {
        match accepts(&r.args, &[]) {
            Some(ok) => assert!(ok, "`probe` rejects the NPD rule's args {:?}", r.args),
            None => panic!("this probe has no `npd` subcommand"),
        }
    }
}

// ---------------------------------------------------------------------------
// The static binary (scripts/static-build; REGPROBE_STATIC_BIN)
// ---------------------------------------------------------------------------

/// The static binary to check, or `None` (skipped; a failure under CI=true).
fn static_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REGPROBE_STATIC_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "REGPROBE_STATIC_BIN={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let reason =
        "REGPROBE_STATIC_BIN is not set (scripts/test builds it with scripts/static-build)";
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
        "static binary tests cannot run: {reason}"
    );
    eprintln!("SKIPPED: {reason}");
    None
}

/// A command for the binary with an empty environment, in an empty directory.
fn bare(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear().current_dir(cwd);
    cmd
}

#[test]
fn static_binary_needs_no_loader_and_no_nss() {
    const PT_INTERP: u32 = 3;
    let Some(bin) = static_bin() else { return };
    let elf = std::fs::read(&bin).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    assert_eq!(elf[5], 1, "little-endian");
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let phoff = usize::try_from(u64::from_le_bytes(elf[32..40].try_into().unwrap())).unwrap();
    let (phentsize, phnum) = (usize::from(u16_at(54)), usize::from(u16_at(56)));
    let interp = (0..phnum).any(|i| u32_at(phoff + i * phentsize) == PT_INTERP);
    assert!(
        !interp,
        "a PT_INTERP header: the binary needs a dynamic loader"
    );
    // glibc links its NSS loader only when getaddrinfo, getpwnam & co. are
    // called; it would dlopen libnss_*.so, which distroless/static lacks.
    for needle in [&b"nsswitch.conf"[..], b"libnss_"] {
        assert!(
            !elf.windows(needle.len()).any(|w| w == needle),
            "{}: glibc's NSS is linked in",
            String::from_utf8_lossy(needle)
        );
    }
    assert!(
        elf.len() <= 12 << 20,
        "{} bytes: the image (binary + 2 MB of distroless) must stay within 15 MB",
        elf.len()
    );
}

#[test]
fn static_binary_runs_with_an_empty_environment() {
    let Some(bin) = static_bin() else { return };
    let cwd = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();

    let out = bare(&bin, cwd.path()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("probe {}", env!("CARGO_PKG_VERSION"))
    );

    let out = bare(&bin, cwd.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: probe"));

    let out = bare(&bin, cwd.path())
        .args(["plan", "--registry", "x.test", "--json", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    assert_eq!(plan["schema"], "regprobe.report/v2");
    assert_eq!(plan["targets"][0]["registry"], "x.test");
    assert_eq!(
        plan["targets"][0]["endpoints"][0]["url"],
        "https://x.test/v2/"
    );
}

/// A registry's `/v2/` on 127.0.0.1 over TLS: 200 to every request.
fn loopback_registry(leaf: &pki::Leaf) -> std::net::SocketAddr {
    use std::io::{BufRead as _, BufReader, Write as _};
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(leaf.chain_der.clone(), leaf.key())
    .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
                loop {
                    let mut line = String::new();
                    // Request line and headers, up to the blank line.
                    loop {
                        line.clear();
                        match tls.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let body = "{}";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n\
                         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.get_mut().write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn static_binary_probes_a_tls_registry_without_dns() {
    let Some(bin) = static_bin() else { return };
    let pki = pki::Pki::new();
    let addr = loopback_registry(&pki.leaf("127.0.0.1", &pki::Cert::Good));
    let cwd = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let registry = addr.to_string();
    // containerd would use plain HTTP and skip verification for a loopback
    // registry by default (docker.IsLocalhost); a hosts.toml naming the
    // https server makes the probe verify the chain against the node's CAs.
    let write = |rel: &str, text: &str| {
        let path = root.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("etc/ssl/certs/ca-certificates.crt", pki.ca_pem());
    write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    write(
        &format!("etc/containerd/certs.d/{registry}/hosts.toml"),
        &format!("server = \"https://{registry}\"\n"),
    );

    let run = common::probe(
        bare(&bin, cwd.path()),
        root.path(),
        &[
            "--registry",
            &registry,
            "--json",
            "--timeout",
            "5s",
            "--deadline",
            "20s",
        ],
        None,
    );
    let target = run.target();
    assert_eq!(target.code, "OK", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        target.endpoints.last().unwrap().url,
        format!("https://{registry}/v2/")
    );
    assert_eq!(run.status, Some(0));
    let tls = target.stage("tls").expect("a tls stage");
    assert_eq!(
        tls.status, "ok",
        "rustls and ring verify the chain in the static binary"
    );
}

/// A node that has none of the optional files, as the DaemonSet's pod sees
/// it: each `FileOrCreate` path an empty file, each `DirectoryOrCreate` path
/// an empty directory. The probe must read them as the kubelet does, as
/// absent, and report no problem the mounts themselves made.
#[test]
fn created_mount_points_read_as_absent() {
    let m = Manifest::load();
    let root = tempfile::tempdir().unwrap();
    for (host, _) in m.host_mounts() {
        let path = root.path().join(host.path.trim_start_matches('/'));
        match host.kind.as_deref() {
            Some("FileOrCreate") => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, "").unwrap();
            }
            Some("DirectoryOrCreate") => std::fs::create_dir_all(&path).unwrap(),
            _ => {}
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["plan", "--registry", "x.test", "--json", "--root"])
        .arg(root.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<_> = plan["config_sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["severity"] != "ok")
        .collect();
    assert!(
        problems.is_empty(),
        "made by the mounts, not by the node: {problems:?}"
    );
}
