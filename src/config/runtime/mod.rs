//! Which container runtime the node's kubelet uses, and why we think so.
//!
//! Evidence in order of strength: the kubelet's own `containerRuntimeEndpoint`
//! (`/var/lib/kubelet/config.yaml`) or `--container-runtime-endpoint` flag
//! (kubeadm's `kubeadm-flags.env`, AKS's `/etc/default/kubelet`); then the
//! runtime sockets present under the root; then which runtime config exists.
//! Reads only through `HostRoot`; never connects to a socket.

pub mod backend;
pub mod containerd;
pub mod crio;
pub mod docker;
pub mod hosts_toml;
pub mod k3s;
pub mod version;

use crate::hostroot::HostRoot;
use std::fmt;

/// A node runtime whose registry config we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Containerd,
    /// k3s/rke2's embedded containerd, configured by `registries.yaml`.
    K3s,
    Crio,
    /// dockerd behind cri-dockerd (Minikube's docker runtime).
    Docker,
    Unknown,
}

impl Runtime {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::K3s => "k3s",
            Runtime::Crio => "crio",
            Runtime::Docker => "docker",
            Runtime::Unknown => "unknown",
        }
    }

    /// The name the report's `runtime.name` uses (`CONTRACT.md`): CRI-O is `cri-o`.
    #[must_use]
    pub fn contract_name(self) -> &'static str {
        match self {
            Runtime::Crio => "cri-o",
            other => other.as_str(),
        }
    }

    /// The runtime a CRI socket path belongs to.
    #[must_use]
    pub fn from_socket(path: &str) -> Option<Self> {
        if path.contains("crio") {
            Some(Runtime::Crio)
        } else if path.contains("cri-dockerd") || path.contains("dockershim") {
            Some(Runtime::Docker)
        } else if path.contains("k3s") || path.contains("rke2") {
            Some(Runtime::K3s)
        } else if path.contains("containerd") {
            Some(Runtime::Containerd)
        } else {
            None
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of the kubelet's runtime endpoint in a config or flags file.
#[must_use]
pub fn kubelet_endpoint(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for key in ["containerRuntimeEndpoint:", "--container-runtime-endpoint="] {
            if let Some(pos) = line.find(key) {
                let rest = line[pos + key.len()..].trim_start();
                let value: String = rest
                    .trim_start_matches(['"', '\''])
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                    .collect();
                if !value.is_empty() {
                    return Some(value);
                }
            }
        }
    }
    None
}

/// Files where the kubelet's runtime endpoint is set.
const KUBELET_FILES: [&str; 4] = [
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
];

/// Runtime sockets, checked in this order.
const SOCKETS: [(&str, Runtime); 6] = [
    ("/var/run/cri-dockerd.sock", Runtime::Docker),
    ("/run/cri-dockerd.sock", Runtime::Docker),
    ("/var/run/crio/crio.sock", Runtime::Crio),
    ("/run/k3s/containerd/containerd.sock", Runtime::K3s),
    ("/run/containerd/containerd.sock", Runtime::Containerd),
    ("/var/run/docker.sock", Runtime::Docker),
];

/// Config files that betray a runtime when nothing else does.
const CONFIGS: [(&str, Runtime); 5] = [
    ("/etc/rancher/k3s/registries.yaml", Runtime::K3s),
    ("/etc/crio/crio.conf", Runtime::Crio),
    ("/etc/containers/registries.conf", Runtime::Crio),
    ("/etc/containerd/config.toml", Runtime::Containerd),
    ("/etc/docker/daemon.json", Runtime::Docker),
];

/// Runtime binaries, the weakest evidence: a node with neither socket nor
/// config under the root (the probe run against a copy of `/usr`).
const BINARIES: [(&str, Runtime); 4] = [
    ("/usr/bin/containerd", Runtime::Containerd),
    ("/usr/local/bin/containerd", Runtime::Containerd),
    ("/usr/bin/crio", Runtime::Crio),
    ("/usr/local/bin/crio", Runtime::Crio),
];

/// Detect the active runtime; the string says what gave it away.
#[must_use]
pub fn detect(root: &HostRoot) -> (Runtime, String) {
    for file in KUBELET_FILES {
        if let Ok(text) = root.read_to_string(file) {
            if let Some(ep) = kubelet_endpoint(&text) {
                if let Some(rt) = Runtime::from_socket(&ep) {
                    return (rt, format!("kubelet runtime endpoint {ep} ({file})"));
                }
            }
        }
    }
    for (sock, rt) in SOCKETS {
        if root.exists(sock) {
            return (rt, format!("socket {sock}"));
        }
    }
    for (file, rt) in CONFIGS {
        if root.exists(file) {
            return (rt, format!("config {file}"));
        }
    }
    for (file, rt) in BINARIES {
        if root.exists(file) {
            return (rt, format!("binary {file}"));
        }
    }
    (
        Runtime::Unknown,
        "no runtime socket or config found; assuming containerd defaults".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_endpoint_forms() {
        assert_eq!(
            kubelet_endpoint("kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n").as_deref(),
            Some("unix:///run/containerd/containerd.sock")
        );
        assert_eq!(
            kubelet_endpoint("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/crio/crio.sock --pod-infra-container-image=x\"").as_deref(),
            Some("unix:///var/run/crio/crio.sock")
        );
        assert_eq!(kubelet_endpoint("# containerRuntimeEndpoint: x\n"), None);
    }

    #[test]
    fn detect_prefers_kubelet_then_sockets_then_configs() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        assert_eq!(detect(&root).0, Runtime::Unknown);
        std::fs::create_dir_all(dir.path().join("etc/containerd")).unwrap();
        std::fs::write(dir.path().join("etc/containerd/config.toml"), "").unwrap();
        assert_eq!(detect(&root).0, Runtime::Containerd);
        std::fs::create_dir_all(dir.path().join("var/run/crio")).unwrap();
        std::fs::write(dir.path().join("var/run/crio/crio.sock"), "").unwrap();
        assert_eq!(detect(&root).0, Runtime::Crio);
        std::fs::create_dir_all(dir.path().join("var/lib/kubelet")).unwrap();
        std::fs::write(
            dir.path().join("var/lib/kubelet/kubeadm-flags.env"),
            "X=\"--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock\"",
        )
        .unwrap();
        let (rt, why) = detect(&root);
        assert_eq!(rt, Runtime::Docker);
        assert!(why.contains("kubeadm-flags.env"), "{why}");
    }

    #[test]
    fn a_binary_alone_names_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path());
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::fs::write(dir.path().join("usr/bin/crio"), "").unwrap();
        assert_eq!(
            detect(&root),
            (Runtime::Crio, "binary /usr/bin/crio".to_owned())
        );
        std::fs::write(dir.path().join("usr/bin/containerd"), "").unwrap();
        assert_eq!(detect(&root).0, Runtime::Containerd);
    }
}
