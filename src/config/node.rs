//! The node's registry config as its runtime sees it: which runtime runs the
//! pods, that runtime's registry files, and the proxy environment it runs
//! with, folded into one [`NodeConfig`] that turns a registry (or an image)
//! into a [`Target`] whose endpoints are the ones the runtime would try, in
//! its order, with its TLS, proxy, headers and credentials.
//!
//! Which file feeds which runtime: containerd (and an unknown runtime, which
//! gets containerd's defaults) `config.toml` + `certs.d`; k3s/RKE2
//! `registries.yaml` (k3s renders it into [`k3s::HOSTS_DIR`] at start, the
//! same view; that directory is read only when registries.yaml is absent);
//! CRI-O `registries.conf(.d)` + `crio.conf(.d)`; Docker `daemon.json`, its
//! unit flags and `daemon.json` `proxies`. After discovery it talks to the
//! runtime's config only through [`RuntimeConfig`], then applies the
//! daemon's proxy environment and the kubelet's credentials on top.
//!
//! It reads only through [`HostRoot`] (via each format's `discover`) and never
//! touches the network. Problems become [`Source`]s (one per file) or target
//! remarks; a broken file never stops a run.

use super::runtime::backend::RuntimeConfig;
use super::runtime::{self, Runtime};
use super::{
    Source, credentials::kubelet, net::proxy, runtime::containerd, runtime::crio, runtime::docker,
    runtime::k3s, runtime::version,
};
use crate::hostroot::HostRoot;
use crate::reference::DOCKER_HUB;
use crate::reference::Reference;
use crate::target::{CredentialReach, Endpoint, Target};
use std::sync::Arc;

/// The registry config of the runtime the node's kubelet uses.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub runtime: Runtime,
    /// What gave the runtime away ("socket /run/containerd/containerd.sock").
    pub evidence: String,
    /// The runtime's release, read from its binary; unknown means the
    /// newest release's behaviour is assumed.
    pub release: version::Found,
    /// The runtime daemon's proxy environment.
    pub proxy: proxy::ProxyEnv,
    /// Facts a person reading a plan should know (which view of k3s was read).
    pub notes: Vec<String>,
    /// The kubelet's own credential sources (providers, its docker config).
    pub kubelet: kubelet::KubeletCredentials,
    /// The proxy a login shell on the node has (`/etc/environment`,
    /// `/etc/profile.d`), which the runtime does not inherit.
    pub login_proxy: proxy::ProxyEnv,
    /// The runtime's systemd unit and its files, for a proxy drop-in hint
    /// (read only when the login environment names a proxy).
    pub runtime_unit: Option<(String, Vec<String>)>,
    /// The runtime's registry config, behind the one shape all runtimes share.
    backend: Arc<dyn RuntimeConfig>,
}

/// Add sources, one entry per file (see [`super::merge_sources`]).
pub fn push_unique(sources: &mut Vec<Source>, new: impl IntoIterator<Item = Source>) {
    super::merge_sources(sources, new);
}

/// The node path in `runtime::detect`'s evidence, if it names one.
fn evidence_path(evidence: &str) -> Option<String> {
    if let Some(rest) = evidence.strip_prefix("kubelet runtime endpoint ") {
        let file = rest.rsplit_once('(')?.1.trim_end_matches(')');
        return Some(file.to_owned());
    }
    evidence
        .strip_prefix("socket ")
        .or_else(|| evidence.strip_prefix("config "))
        .map(str::to_owned)
}

/// Detect the runtime and read its registry and proxy config.
#[must_use]
pub fn discover(root: &HostRoot) -> (NodeConfig, Vec<Source>) {
    let (runtime, evidence) = runtime::detect(root);
    let release = version::discover(root, runtime);
    let mut sources = Vec::new();
    let mut notes = Vec::new();
    // dockerd's daemon.json `proxies` and where they are, applied below.
    let mut docker_proxies = None;
    let backend: Arc<dyn RuntimeConfig> = match runtime {
        Runtime::Containerd | Runtime::Unknown => {
            let (mut cfg, s) = containerd::discover(root);
            push_unique(&mut sources, s);
            cfg.release.clone_from(&release.version);
            Arc::new(cfg)
        }
        Runtime::K3s => {
            let (cfg, s) = k3s::discover(root);
            push_unique(&mut sources, s);
            if root.exists(&cfg.path) {
                if root.exists(k3s::HOSTS_DIR) {
                    notes.push(format!(
                        "k3s renders {} into {} at start; endpoints come from {0} (restart k3s after editing it)",
                        cfg.path,
                        k3s::HOSTS_DIR
                    ));
                }
                Arc::new(cfg)
            } else {
                // No registries.yaml: what k3s's containerd reads is the rendered directory.
                notes.push(format!(
                    "no {}: endpoints come from the hosts.toml files in {}",
                    cfg.path,
                    k3s::HOSTS_DIR
                ));
                let mut c = containerd::ContainerdConfig {
                    version: 2,
                    origin: Some(k3s::HOSTS_DIR.to_owned()),
                    release: release.version.clone(),
                    ..containerd::ContainerdConfig::default()
                };
                k3s::HOSTS_DIR.clone_into(&mut c.registry.config_path);
                Arc::new(c)
            }
        }
        Runtime::Crio => {
            let (cfg, s) = crio::discover(root);
            push_unique(&mut sources, s);
            Arc::new(cfg)
        }
        Runtime::Docker => {
            let (cfg, s) = docker::discover(root);
            push_unique(&mut sources, s);
            let at = cfg
                .proxies_source
                .clone()
                .unwrap_or_else(|| cfg.daemon_json.clone());
            docker_proxies = Some((cfg.proxies.clone(), format!("{at} (proxies)")));
            Arc::new(cfg)
        }
    };
    let daemon = match runtime {
        Runtime::Unknown => "containerd",
        other => other.as_str(),
    };
    let (mut env, s) = proxy::discover(root, daemon);
    push_unique(&mut sources, s);
    let (kubelet, s) = kubelet::discover(root);
    push_unique(&mut sources, s);
    // Listed only when the login environment names a proxy at all.
    let (login_proxy, s) = proxy::login_env::discover(root);
    let login_names_proxy = login_proxy.https_proxy.is_some() || login_proxy.http_proxy.is_some();
    if login_names_proxy {
        push_unique(&mut sources, s);
    }
    // The runtime's unit is named only beside a login proxy (`login_proxy_for`).
    let runtime_unit = if login_names_proxy {
        proxy::daemon_env::runtime_unit(root, daemon).map(|(u, files)| (u.to_owned(), files))
    } else {
        None
    };
    if let Some((path, at)) = &kubelet.provider_config {
        let names: Vec<&str> = kubelet
            .providers
            .iter()
            .map(|p| p.provider.name.as_str())
            .collect();
        notes.push(format!(
            "kubelet credential providers ({path}, set in {at}): {}",
            if names.is_empty() {
                "none usable".to_owned()
            } else {
                names.join(", ")
            }
        ));
    }
    if let Some((path, _)) = &kubelet.docker_config {
        notes.push(format!(
            "kubelet reads node credentials from {path} and passes them with each pull"
        ));
    }
    if let Some((p, at)) = &docker_proxies {
        env = env.with_docker_proxies(
            p.http_proxy.as_ref(),
            p.https_proxy.as_ref(),
            p.no_proxy.as_ref(),
            at,
        );
    }
    // The file or socket the runtime was detected by comes first; a file a
    // parser read keeps that parser's kind (`containerd`, `kubelet`).
    if let Some(path) = evidence_path(&evidence)
        && !sources.iter().any(|s| s.path == path)
    {
        sources.insert(0, Source::ok(path, "runtime"));
    }
    (
        NodeConfig {
            runtime,
            evidence,
            release,
            proxy: env,
            notes,
            kubelet,
            login_proxy,
            runtime_unit,
            backend,
        },
        sources,
    )
}

impl NodeConfig {
    /// A node with no config at all: containerd's defaults, no proxy.
    #[must_use]
    pub fn defaults() -> Self {
        Self {
            runtime: Runtime::Unknown,
            evidence: "no node config read".to_owned(),
            release: version::Found::default(),
            proxy: proxy::ProxyEnv::default(),
            notes: Vec::new(),
            kubelet: kubelet::KubeletCredentials::default(),
            login_proxy: proxy::ProxyEnv::default(),
            runtime_unit: None,
            backend: Arc::new(containerd::ContainerdConfig::default()),
        }
    }

    /// `containerd (socket /run/containerd/containerd.sock)`, for the human views.
    #[must_use]
    pub fn describe_runtime(&self) -> String {
        format!("{} ({})", self.runtime, self.evidence)
    }

    /// Every registry the node's config names, then Docker Hub (the runtime's
    /// default) when it is not among them.
    #[must_use]
    pub fn registries(&self, root: &HostRoot) -> Vec<String> {
        let mut out = self.backend.registries(root);
        if !out.iter().any(|r| r == DOCKER_HUB) {
            out.push(DOCKER_HUB.to_owned());
        }
        out
    }

    /// The target for `registry` (a reference's domain, or `--registry`'s
    /// `host[:port]`) or for `image` on it: endpoints in the runtime's order
    /// with node-config credentials and proxies applied, plus remarks where
    /// the config explains a failure. Sources are the files read on the way.
    #[must_use]
    pub fn target(
        &self,
        root: &HostRoot,
        registry: &str,
        image: Option<&Reference>,
    ) -> (Target, Vec<Source>) {
        let super::runtime::backend::RegistryPlan {
            mut endpoints,
            mut remarks,
            sources,
            // Already a remark; `Target` has no field of its own for it yet.
            blocked: _,
        } = self.backend.plan(root, registry, image);
        for ep in &mut endpoints {
            self.apply_proxy(ep);
        }
        let name = image.map_or_else(|| registry.to_owned(), Reference::name);
        remarks.extend(self.kubelet.remarks(&name));
        let login_proxy = self.login_proxy_for(&endpoints);
        (
            Target {
                unread_credentials: self.kubelet.unread_for(&name),
                login_proxy,
                registry: registry.to_owned(),
                image: image.cloned(),
                endpoints,
                remarks,
                kubelet_credentials: self.kubelet.lookup_all(&name),
                credential_reach: if self.runtime == Runtime::Crio {
                    CredentialReach::SameDomain
                } else {
                    CredentialReach::AllEndpoints
                },
                ..Default::default()
            },
            sources,
        )
    }

    /// The login shell's proxy for the target's upstream endpoint, when the
    /// runtime reaches none of its endpoints through a proxy: the case where
    /// `curl` in a shell works and the runtime's pull does not.
    fn login_proxy_for(&self, endpoints: &[Endpoint]) -> Option<crate::target::LoginProxy> {
        if endpoints.iter().any(|e| e.proxy.is_some()) {
            return None;
        }
        let ep = endpoints
            .iter()
            .find(|e| e.role == crate::target::Role::Upstream)
            .or(endpoints.first())?;
        proxy::proxy_for(&self.login_proxy, ep.scheme.as_str(), &ep.host, ep.port)?;
        let var = self.login_proxy.var_for(ep.scheme.as_str())?;
        let (unit, unit_files) = self
            .runtime_unit
            .clone()
            .unwrap_or_else(|| (format!("{}.service", self.runtime), Vec::new()));
        Some(crate::target::LoginProxy {
            name: var.name.clone(),
            value: var.display_value(),
            source: var.source.clone(),
            no_proxy: self
                .login_proxy
                .no_proxy
                .as_ref()
                .map(proxy::ProxyVar::display_value),
            unit,
            unit_files,
        })
    }

    /// The proxy Go's `ProxyFromEnvironment` picks for the endpoint and for
    /// its http fallback; a per-registry proxy (CRI-O `proxy`) wins over both.
    fn apply_proxy(&self, ep: &mut Endpoint) {
        let configured = ep.proxy.clone();
        if configured.is_none() {
            ep.proxy = proxy::proxy_for(&self.proxy, ep.scheme.as_str(), &ep.host, ep.port);
        }
        let host = ep.host.clone();
        if let Some(fb) = &mut ep.http_fallback {
            fb.proxy = configured.or_else(|| proxy::proxy_for(&self.proxy, "http", &host, fb.port));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Credential, ProxyUrl, Role, Scheme};
    use std::path::PathBuf;

    /// A node root in a temp dir, built from the shared fixtures.
    struct Node {
        dir: tempfile::TempDir,
    }

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{rel}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    impl Node {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn put(&self, node_path: &str, text: &str) -> &Self {
            let p = self.dir.path().join(node_path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
            self
        }
        fn root(&self) -> HostRoot {
            HostRoot::new(self.dir.path())
        }
        fn rooted(&self, node_path: &str) -> PathBuf {
            self.root().resolve(node_path)
        }
        /// A containerd node: the socket and a `config.toml` naming `config_path`.
        fn containerd(config: &str) -> Self {
            let n = Self::new();
            n.put("/run/containerd/containerd.sock", "")
                .put("/etc/containerd/config.toml", config);
            n
        }
        fn plan(&self, registry: &str, image: Option<&str>) -> (Target, Vec<Source>) {
            let root = self.root();
            let (node, mut sources) = discover(&root);
            let image = image.map(|i| Reference::parse(i).unwrap());
            let (t, s) = node.target(&root, registry, image.as_ref());
            push_unique(&mut sources, s);
            (t, sources)
        }
    }

    const CONFIG_PATH: &str = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n";

    fn urls(t: &Target) -> Vec<(String, Role)> {
        t.endpoints.iter().map(|e| (e.url(), e.role)).collect()
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn containerd_local_mirror_hosts_toml() {
        let n = Node::containerd(&fixture(
            "containerd/aks-containerd-config-v1-template-rendered.toml",
        ));
        let file = "/etc/containerd/certs.d/docker.io/hosts.toml";
        n.put(
            file,
            &fixture("containerd/hosts-docs-docker-io-local-mirror.toml"),
        )
        .put("/etc/containerd/certs.d/docker.io/docker-mirror.crt", "x");
        let (t, sources) = n.plan("docker.io", Some("nginx"));
        assert_eq!(
            urls(&t),
            [
                (s("https://public-mirror.example.com/v2/"), Role::Mirror),
                (s("https://docker-mirror.internal/v2/"), Role::Mirror),
                (s("https://registry-1.docker.io/v2/"), Role::Upstream),
            ]
        );
        assert!(!t.endpoints[0].capabilities.resolve);
        assert_eq!(
            t.endpoints[1].tls.ca_files,
            [n.rooted("/etc/containerd/certs.d/docker.io/docker-mirror.crt")]
        );
        assert!(t.endpoints[0].source.starts_with(&format!("{file}:")));
        assert_eq!(t.endpoints[0].ns_param.as_deref(), Some("docker.io"));
        // The CRI plugin's global header is sent to every host.
        assert!(
            t.endpoints
                .iter()
                .all(|e| e.headers.iter().any(|(k, _)| k == "X-Meta-Source-Client"))
        );
        assert!(t.endpoints.iter().all(|e| e.proxy.is_none()));
        assert!(
            sources
                .iter()
                .any(|s| s.path == file && s.message().is_none())
        );
        assert!(
            sources
                .iter()
                .any(|s| s.kind == "runtime" && s.path == "/run/containerd/containerd.sock")
        );
    }

    #[test]
    fn containerd_simple_and_aks_mcr_hosts() {
        let n = Node::containerd(&fixture(
            "containerd/aks-containerd-config-v2-template-rendered.toml",
        ));
        n.put(
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            &fixture("containerd/hosts-docs-docker-io-simple.toml"),
        )
        .put(
            "/etc/containerd/certs.d/mcr.azk8s.cn/hosts.toml",
            &fixture("containerd/aks-mcr.azk8s.cn-hosts.toml"),
        );
        let (t, _) = n.plan("docker.io", None);
        assert_eq!(
            urls(&t),
            [
                (s("https://registry-1.docker.io/v2/"), Role::Upstream),
                (s("https://docker.io/v2/"), Role::Upstream),
            ]
        );
        let (t, _) = n.plan("mcr.azk8s.cn", None);
        assert_eq!(
            urls(&t),
            [
                (s("https://mcr.azure.cn/v2/"), Role::Mirror),
                (s("https://mcr.azk8s.cn/v2/"), Role::Upstream),
            ]
        );
        assert!(
            t.endpoints[0]
                .headers
                .iter()
                .any(|(k, _)| k == "X-Forwarded-For")
        );
        let root = n.root();
        let regs = discover(&root).0.registries(&root);
        assert!(
            regs.contains(&s("mcr.azk8s.cn")) && regs.contains(&s("docker.io")),
            "{regs:?}"
        );
    }

    #[test]
    fn containerd_parse_host_file_fixture() {
        let n = Node::containerd(CONFIG_PATH);
        n.put(
            "/etc/containerd/certs.d/test-default.registry/hosts.toml",
            &fixture("containerd/hosts-test-parsehostfile.toml"),
        );
        let (t, _) = n.plan("test-default.registry", None);
        let got: Vec<String> = t.endpoints.iter().map(Endpoint::url).collect();
        assert_eq!(
            got.first().map(String::as_str),
            Some("https://mirror.registry/v2/")
        );
        // Without override_path containerd appends /v2 to a host's path.
        assert_eq!(got[1], "https://mirror-bak.registry/us/v2/");
        assert_eq!(got[2], "http://mirror.registry/v2/");
        assert_eq!(
            got.last().map(String::as_str),
            Some("https://test-default.registry/v2/")
        );
        assert_eq!(
            t.endpoints[0].tls.ca_files,
            [n.rooted("/etc/certs/mirror.pem")]
        );
        assert!(t.endpoints[1].tls.skip_verify);
        // A port-less http host stays http: no fallback.
        assert_eq!(t.endpoints[2].http_fallback, None);
        let last = t.endpoints.last().unwrap();
        assert_eq!(last.tls.ca_files, [n.rooted("/etc/path/default")]);
        assert_eq!(last.role, Role::Upstream);
    }

    #[test]
    fn containerd_localhost_and_insecure_hosts_fall_back_to_http() {
        let n = Node::containerd(&fixture(
            "containerd/minikube-kicbase-containerd-config.toml",
        ));
        n.put(
            "/etc/containerd/certs.d/localhost:5001/hosts.toml",
            &fixture("containerd/kind-localhost-5001-hosts.toml"),
        )
        .put(
            "/etc/containerd/certs.d/192.168.49.1:5000/hosts.toml",
            &fixture("containerd/minikube-insecure-registry-192.168.49.1_5000-hosts.toml"),
        );
        let (t, _) = n.plan("localhost:5001", None);
        assert_eq!(
            urls(&t),
            [
                (s("http://kind-registry:5000/v2/"), Role::Mirror),
                (s("https://localhost:5001/v2/"), Role::Upstream),
            ]
        );
        let fb = t.endpoints[1].http_fallback.as_ref().unwrap();
        assert_eq!((fb.port, fb.on_any_error), (5001, false));
        assert_eq!(
            t.endpoints[1].fallback_endpoint().unwrap().url(),
            "http://localhost:5001/v2/"
        );
        let (t, _) = n.plan("192.168.49.1:5000", None);
        assert_eq!(t.endpoints[0].url(), "https://192.168.49.1:5000/v2/");
        assert!(t.endpoints[0].tls.skip_verify);
        assert_eq!(
            t.endpoints[0].http_fallback.as_ref().map(|f| f.port),
            Some(5000)
        );
        assert_eq!(
            t.endpoints.last().unwrap().url(),
            "http://192.168.49.1:5000/v2/"
        );
    }

    #[test]
    fn containerd_legacy_mirrors_and_config_auth() {
        let n = Node::containerd(&fixture(
            "containerd/config-v1-plugins-cri-registry-mirrors-docs.toml",
        ));
        let (t, sources) = n.plan("test.https-registry.io", None);
        // `https://HostIP1:Port1` is not a URL: containerd fails the pull, we probe the rest.
        assert_eq!(
            urls(&t),
            [(s("https://test.https-registry.io/v2/"), Role::Upstream)]
        );
        assert!(sources.iter().any(|s| {
            s.message()
                .as_deref()
                .is_some_and(|e| e.contains("HostIP1"))
        }));
        let root = n.root();
        let regs = discover(&root).0.registries(&root);
        assert_eq!(
            regs,
            [
                "docker.io",
                "test.https-registry.io",
                "test.http-registry.io"
            ]
        );

        let n = Node::containerd(&fixture(
            "containerd/config-v3-cri-images-registry-gcr-auth-docs.toml",
        ));
        let (t, sources) = n.plan("gcr.io", Some("gcr.io/project/app:1"));
        assert_eq!(urls(&t), [(s("https://gcr.io/v2/"), Role::Upstream)]);
        let cred = t.endpoints[0].credential.as_ref().unwrap();
        assert_eq!(cred.username(), "_json_key");
        assert!(
            cred.source.contains("configs.\"gcr.io\".auth"),
            "{}",
            cred.source
        );
        // version 3 + mirrors: containerd 2.2+ refuses them; reported once.
        let warnings = sources
            .iter()
            .filter(|s| s.message().as_deref().is_some_and(|e| e.contains("2.2+")))
            .count();
        assert_eq!(warnings, 1);

        let n = Node::containerd(&fixture(
            "containerd/aks-windows-containerd2-config-v3-template-rendered.toml",
        ));
        let (t, _) = n.plan("docker.io", None);
        assert_eq!(
            urls(&t),
            [(s("https://registry-1.docker.io/v2/"), Role::Upstream)]
        );
    }

    #[test]
    fn proxy_drop_ins_apply_per_endpoint() {
        let n = Node::containerd(CONFIG_PATH);
        n.put(
            "/etc/systemd/system.conf.d/proxy.conf",
            &fixture("proxy/aks-system.conf.d-proxy.conf"),
        );
        let (t, sources) = n.plan("docker.io", None);
        assert_eq!(
            t.endpoints[0].proxy.as_ref().map(ProxyUrl::as_str),
            Some("http://10.0.0.4:3128/")
        );
        assert!(sources.iter().any(|s| s.kind == "proxy"));
        // NO_PROXY names mcr.microsoft.com.
        let (t, _) = n.plan("mcr.microsoft.com", None);
        assert_eq!(t.endpoints[0].proxy, None);

        let n = Node::containerd(CONFIG_PATH);
        n.put(
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            &fixture("proxy/kubespray-containerd.service.d-http-proxy.conf"),
        )
        .put(
            "/etc/containerd/certs.d/192.168.49.1:5000/hosts.toml",
            &fixture("containerd/minikube-insecure-registry-192.168.49.1_5000-hosts.toml"),
        );
        let (t, _) = n.plan("quay.io", None);
        assert_eq!(
            t.endpoints[0].proxy.as_ref().map(ProxyUrl::host).as_deref(),
            Some("proxy.example.com")
        );
        // The http fallback gets HTTP_PROXY, decided for http and its port.
        let (t, _) = n.plan("192.168.49.1:5000", None);
        let fb = t.endpoints[0].http_fallback.as_ref().unwrap();
        assert_eq!(
            fb.proxy.as_ref().map(ProxyUrl::host).as_deref(),
            Some("proxy.example.com")
        );
    }

    fn crio_node(conf: &str) -> Node {
        let n = Node::new();
        n.put("/var/run/crio/crio.sock", "")
            .put("/etc/containers/registries.conf", conf);
        n
    }

    #[test]
    fn crio_mirrors_insecure_and_rewrites() {
        let n = crio_node(&fixture("crio/minikube-iso-registries-v1-format.conf"));
        n.put(
            "/etc/containers/registries.conf.d/10-docker.io.conf",
            &fixture("crio/kubespray-registries.conf.d-10-docker.io.conf"),
        );
        let (t, sources) = n.plan("docker.io", Some("nginx"));
        assert_eq!(
            urls(&t),
            [
                (s("https://192.168.100.100:5000/v2/"), Role::Mirror),
                (s("https://mirror.gcr.io/v2/"), Role::Mirror),
                (s("https://registry-1.docker.io/v2/"), Role::Upstream),
            ]
        );
        let insecure = &t.endpoints[0];
        assert!(insecure.tls.skip_verify);
        let fb = insecure.http_fallback.as_ref().unwrap();
        assert_eq!((fb.port, fb.on_any_error), (5000, true));
        assert!(
            insecure
                .source
                .starts_with("/etc/containers/registries.conf.d/10-docker.io.conf:")
        );
        assert!(
            sources
                .iter()
                .any(|s| s.kind == "runtime" && s.path == "/var/run/crio/crio.sock")
        );

        let n = crio_node(&fixture(
            "crio/containers-image-testdata-pull-sources-from-reference.conf",
        ));
        let (t, _) = n.plan("registry-a.com", Some("registry-a.com/foo/image:aaa"));
        let got: Vec<(String, Option<&str>)> = t
            .endpoints
            .iter()
            .map(|e| (e.url(), e.repository.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (s("https://mirror-1.registry-a.com/v2/"), Some("image")),
                (s("https://mirror-2.registry-a.com/v2/"), Some("image")),
                (s("https://registry-a.com/v2/"), Some("bar/image")),
            ]
        );
        assert_eq!(
            t.endpoints[1].http_fallback.as_ref().map(|f| f.port),
            Some(80)
        );

        let n = crio_node(&fixture(
            "crio/containers-image-testdata-find-registry.conf",
        ));
        let (t, _) = n.plan("simple-prefix.com", Some("simple-prefix.com/foo:1"));
        assert_eq!(t.endpoints[0].url(), "https://registry.com:5000/v2/");
        // A host-only prefix keeps the repository path.
        assert_eq!(t.endpoints[0].repository, None);
        let (t, _) = n.plan(
            "complex-prefix.com:4000",
            Some("complex-prefix.com:4000/with/path/app:1"),
        );
        assert_eq!(
            t.endpoints[0].url(),
            "https://another-registry.com:5000/v2/"
        );
        assert_eq!(t.endpoints[0].repository.as_deref(), Some("app"));
    }

    #[test]
    fn crio_blocked_registry_has_no_endpoint_and_says_where() {
        let n = crio_node("");
        n.put(
            "/etc/containers/registries.conf.d/config-2.conf",
            &fixture("crio/containers-image-testdata-registries.conf.d-config-2.conf"),
        )
        .put(
            "/etc/crio/crio.conf",
            "[crio.image]\ninsecure_registries = [\"1.com\"]\n",
        );
        let (t, _) = n.plan("base.com", Some("base.com/app:1"));
        assert!(t.endpoints.is_empty());
        assert!(
            t.remarks[0].contains("/etc/containers/registries.conf.d/config-2.conf:"),
            "{:?}",
            t.remarks
        );
        let v = crate::verdict::judge(&t, &[]);
        assert_eq!(crate::verdict::exit_status([&v]), 7);
        // crio.conf insecure_registries: ignored by CRI-O 1.35+.
        let (t, _) = n.plan("1.com", None);
        assert!(
            t.remarks
                .iter()
                .any(|r| r.contains("1.35") && r.contains("/etc/crio/crio.conf:2")),
            "{:?}",
            t.remarks
        );
    }

    #[test]
    fn docker_daemon_json_proxies_and_insecure_registry() {
        let n = Node::new();
        n.put("/var/run/cri-dockerd.sock", "").put(
            "/etc/docker/daemon.json",
            &fixture("docker/dockerd-docs-daemon-linux-full.json"),
        );
        let (t, sources) = n.plan("docker.io", None);
        assert_eq!(
            urls(&t),
            [(s("https://registry-1.docker.io/v2/"), Role::Upstream)]
        );
        assert_eq!(
            t.endpoints[0].proxy.as_ref().map(ProxyUrl::as_str),
            Some("https://proxy.example.com/")
        );
        assert!(
            sources
                .iter()
                .any(|s| s.path == "/etc/docker/daemon.json" && s.message().is_none())
        );
        let (t, _) = n.plan("reg.example.org", None);
        assert_eq!(t.endpoints[0].proxy, None, "no-proxy .example.org");

        let n = Node::new();
        n.put("/var/run/cri-dockerd.sock", "").put(
            "/etc/docker/daemon.json",
            "{\"insecure-registries\": [\"myreg:5000\"]}",
        );
        let (t, _) = n.plan("myreg:5000", None);
        assert_eq!(urls(&t), [(s("https://myreg:5000/v2/"), Role::Upstream)]);
        assert!(t.endpoints[0].tls.skip_verify);
        assert!(
            t.endpoints[0]
                .http_fallback
                .as_ref()
                .is_some_and(|f| f.on_any_error)
        );
    }

    #[test]
    fn k3s_registries_yaml_mirror_with_auth() {
        let n = Node::new();
        n.put("/run/k3s/containerd/containerd.sock", "").put(
            "/etc/rancher/k3s/registries.yaml",
            &fixture("k3s/k3s-docs-registries-with-tls-and-auth.yaml"),
        );
        let (t, sources) = n.plan("docker.io", Some("rancher/k3s:v1"));
        assert_eq!(
            urls(&t),
            [
                (s("https://registry.example.com:5000/v2/"), Role::Mirror),
                (s("https://registry-1.docker.io/v2/"), Role::Upstream),
            ]
        );
        let cred = t.endpoints[0].credential.as_ref().unwrap();
        assert_eq!(cred.username(), "xxxxxx");
        assert!(cred.source.starts_with("/etc/rancher/k3s/registries.yaml"));
        assert!(t.endpoints[1].credential.is_none());
        assert!(
            sources
                .iter()
                .any(|s| s.path == "/etc/rancher/k3s/registries.yaml")
        );

        // A documented rewrite rule moves the repository on mirrors only.
        let n = Node::new();
        n.put("/run/k3s/containerd/containerd.sock", "").put(
            "/etc/rancher/k3s/registries.yaml",
            "mirrors:\n  docker.io:\n    endpoint: [\"https://mirror.test\"]\n    rewrite:\n      \"^rancher/(.*)\": \"mirrorproject/rancher-images/$1\"\n",
        );
        let (t, _) = n.plan("docker.io", Some("rancher/k3s:v1"));
        assert_eq!(
            t.endpoints[0].repository.as_deref(),
            Some("mirrorproject/rancher-images/k3s")
        );
        assert_eq!(t.endpoints[1].repository, None);
    }

    #[test]
    fn default_dir_shadowing_and_transfer_service_remarks() {
        let n = Node::containerd(CONFIG_PATH);
        n.put(
            "/etc/containerd/certs.d/_default/hosts.toml",
            "[host.\"https://mirror.test\"]\n",
        )
        .put("/etc/docker/certs.d/myreg.test/ca.crt", "x");
        let (t, _) = n.plan("myreg.test", None);
        assert_eq!(t.endpoints[0].url(), "https://mirror.test/v2/");
        assert!(
            t.remarks
                .iter()
                .any(|r| r.contains("shadows /etc/docker/certs.d/myreg.test")),
            "{:?}",
            t.remarks
        );

        let n = Node::containerd(
            "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\"\n",
        );
        n.put(
            "/etc/docker/certs.d/myreg.test/hosts.toml",
            "server = \"https://myreg.test\"\n",
        );
        let (t, _) = n.plan("myreg.test", None);
        assert!(
            t.remarks
                .iter()
                .any(|r| r.contains("a later entry") && r.contains("12415")),
            "{:?}",
            t.remarks
        );
    }

    #[test]
    fn broken_config_toml_is_reported_and_the_rest_still_works() {
        let n = Node::containerd("version = 2\n[plugins\nconfig_path = 3\n");
        n.put(
            "/etc/systemd/system.conf.d/proxy.conf",
            &fixture("proxy/aks-system.conf.d-proxy.conf"),
        );
        let (t, sources) = n.plan("docker.io", None);
        let broken = sources
            .iter()
            .find(|s| s.path == "/etc/containerd/config.toml")
            .unwrap();
        let why = broken.message().unwrap();
        assert!(why.contains("line 2"), "{why}");
        assert_eq!(
            (broken.severity(), broken.line()),
            (crate::config::Severity::Error, Some(2))
        );
        assert_eq!(
            sources
                .iter()
                .filter(|s| s.path == "/etc/containerd/config.toml")
                .count(),
            1
        );
        assert_eq!(
            urls(&t),
            [(s("https://registry-1.docker.io/v2/"), Role::Upstream)]
        );
        assert!(
            t.endpoints[0].proxy.is_some(),
            "the proxy drop-in still applies"
        );
    }

    /// Detected by its config file alone (no socket under the root): the
    /// file is listed once, with its parser's kind, first.
    #[test]
    fn the_detecting_config_file_keeps_its_parsers_kind() {
        let n = Node::new();
        n.put("/etc/containerd/config.toml", CONFIG_PATH);
        let (_, sources) = n.plan("reg.test", None);
        let listed: Vec<_> = sources
            .iter()
            .filter(|s| s.path == "/etc/containerd/config.toml")
            .map(|s| s.kind.as_str())
            .collect();
        assert_eq!(listed, ["containerd"]);
        assert_eq!(sources[0].path, "/etc/containerd/config.toml");
        assert!(sources.iter().all(|s| s.kind != "runtime"));
    }

    #[test]
    fn unknown_runtime_gets_containerd_defaults() {
        let n = Node::new();
        let (t, sources) = n.plan("localhost:5000", None);
        // No config.toml: containerd's legacy defaults, plain http for localhost.
        assert_eq!(t.endpoints[0].url(), "http://localhost:5000/v2/");
        assert_eq!(t.endpoints[0].scheme, Scheme::Http);
        assert!(sources.iter().all(|s| s.kind != "runtime"));
        let (t, _) = n.plan("docker.io", None);
        assert_eq!(
            urls(&t),
            [(s("https://registry-1.docker.io/v2/"), Role::Upstream)]
        );
    }

    /// An AKS node: the ACR credential provider set in /etc/default/kubelet,
    /// and a kubelet config.json entry that wins over containerd's own auth.
    #[test]
    fn kubelet_credential_provider_and_config_json() {
        use crate::cli::{Args, Settings};
        use clap::Parser as _;
        let n = Node::containerd(
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"myreg.azurecr.io\".auth]\n  username = \"runtime-user\"\n  password = \"runtime-s3cret\"\n",
        );
        n.put(
            "/etc/default/kubelet",
            "KUBELET_FLAGS=--node-labels=x --image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider\n",
        )
        .put(
            "/var/lib/kubelet/credential-provider-config.yaml",
            &fixture("kubelet/aks-credential-provider-config-network-isolated.yaml"),
        )
        .put(
            "/var/lib/kubelet/credential-provider/acr-credential-provider",
            "",
        );
        let (t, sources) = n.plan("myreg.azurecr.io", Some("myreg.azurecr.io/app:1"));
        assert!(t.kubelet_credentials.is_empty(), "no config.json yet");
        assert_eq!(
            t.endpoints[0].credential.as_ref().map(Credential::username),
            Some("runtime-user")
        );
        assert!(sources.iter().any(|s| s.kind == "kubelet"
            && s.path == "/var/lib/kubelet/credential-provider-config.yaml"
            && s.message().is_none()));

        // The kubelet's config.json wins over containerd's configs.auth.
        n.put(
            "/var/lib/kubelet/config.json",
            r#"{"auths": {"myreg.azurecr.io": {"auth": "a3ViZWxldC11c2VyOmt1YmVsZXQtczNjcmV0"}}}"#,
        );
        let (t, _) = n.plan("myreg.azurecr.io", Some("myreg.azurecr.io/app:1"));
        let c = t.credential_for(&t.endpoints[0]).unwrap();
        assert_eq!(c.username(), "kubelet-user");
        assert_eq!(
            c.source,
            "kubelet config.json /var/lib/kubelet/config.json (key \"myreg.azurecr.io\")"
        );
        assert_eq!(
            t.endpoints[0].credential.as_ref().map(Credential::username),
            Some("runtime-user"),
            "the runtime's own stays for when the kubelet passes none"
        );

        // `probe plan` shows the source, never a secret; --username beats the kubelet.
        let root = n.dir.path().to_str().unwrap();
        let render = |extra: &[&str], stdin: &[u8]| -> String {
            let mut argv = vec![
                "probe",
                "plan",
                "--root",
                root,
                "--image",
                "myreg.azurecr.io/app:1",
            ];
            argv.extend_from_slice(extra);
            let parsed = Args::try_parse_from(argv).unwrap();
            let settings = Settings::from_args(&parsed, &mut &stdin[..]).unwrap();
            let report = tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(crate::run::plan(&settings))
                .unwrap();
            let mut text = Vec::new();
            crate::report::plan::write(&report, &mut text).unwrap();
            let mut json = Vec::new();
            crate::report::json::write(&report, true, &mut json).unwrap();
            let out = format!(
                "{}\n{}",
                String::from_utf8(text).unwrap(),
                String::from_utf8(json).unwrap()
            );
            for secret in [
                "kubelet-s3cret",
                "runtime-s3cret",
                "a3ViZWxldC11c2Vy",
                "flag-s3cret",
            ] {
                assert!(!out.contains(secret), "{secret} leaked:\n{out}");
            }
            out
        };
        let out = render(&[], b"");
        assert!(
            out.contains("credential    user \"kubelet-user\" from kubelet config.json /var/lib/kubelet/config.json (key \"myreg.azurecr.io\")"),
            "{out}"
        );
        assert!(out.contains("the kubelet asks credential provider acr-credential-provider (/var/lib/kubelet/credential-provider-config.yaml) for myreg.azurecr.io/app; the probe runs it (a plan does not)"), "{out}");
        assert!(
            out.contains("/var/lib/kubelet/config.json (kubelet)"),
            "{out}"
        );
        let out = render(
            &["--username", "flag-user", "--password-stdin"],
            b"flag-s3cret\n",
        );
        assert!(
            out.contains("user \"flag-user\" from --username/--password-stdin"),
            "{out}"
        );
    }

    /// What `probe plan` prints, through the same functions it calls.
    #[test]
    fn plan_run_renders_sources_and_redacts_secrets() {
        use crate::cli::{Args, Settings};
        use clap::Parser as _;
        let n = Node::containerd(CONFIG_PATH);
        n.put(
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            "[host.\"https://mirror.test\"]\n  capabilities = [\"pull\", \"resolve\"]\n  [host.\"https://mirror.test\".header]\n    Authorization = \"Bearer hunter2\"\n",
        )
        .put(
            "/etc/systemd/system/containerd.service.d/proxy.conf",
            "[Service]\nEnvironment=\"HTTPS_PROXY=http://bob:pr0xy-s3cret@proxy.test:3128\"\n",
        );
        let cfg = n.dir.path().join("pull-secret.json");
        std::fs::write(
            &cfg,
            fixture("docker/docker-cli-test-config-index-docker-io-auth.json"),
        )
        .unwrap();
        let root = n.dir.path().to_str().unwrap();
        let args = Args::try_parse_from([
            "probe",
            "plan",
            "--root",
            root,
            "--image",
            "nginx",
            "--docker-config",
            cfg.to_str().unwrap(),
        ])
        .unwrap();
        let settings = Settings::from_args(&args, &mut &b""[..]).unwrap();
        let report = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(crate::run::plan(&settings))
            .unwrap();
        let mut text = Vec::new();
        crate::report::plan::write(&report, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("/etc/containerd/certs.d/docker.io/hosts.toml:1"),
            "{text}"
        );
        assert!(text.contains("Authorization: (redacted)"), "{text}");
        assert!(
            text.contains("containerd, version unknown (socket /run/containerd/containerd.sock)"),
            "{text}"
        );
        assert!(
            text.contains("runtime version unknown (no containerd binary found under the node root): the probe assumes the newest release's behaviour"),
            "{text}"
        );
        // The pull secret (kubelet's AuthConfig) wins on every endpoint; its secret never shows.
        assert!(text.contains("user \"joejoe\""), "{text}");
        for secret in ["hunter2", "hello", "am9lam9lOmhlbGxv", "pr0xy-s3cret"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        let mut json = Vec::new();
        crate::report::json::write(&report, true, &mut json).unwrap();
        let json = String::from_utf8(json).unwrap();
        for secret in ["hunter2", "hello", "am9lam9lOmhlbGxv", "pr0xy-s3cret"] {
            assert!(!json.contains(secret), "{secret} leaked:\n{json}");
        }
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v.get("status").is_none());
        let t = &v["targets"][0];
        assert!(
            t.get("status").is_none() && t.get("code").is_none() && t.get("category").is_none()
        );
        let ep = &t["endpoints"][0];
        assert!(ep.get("status").is_none() && ep.get("code").is_none());
        assert_eq!(ep["stages"], serde_json::json!([]));
        assert_eq!(ep["plan"]["headers"]["Authorization"], "(redacted)");
        assert_eq!(
            ep["plan"]["source"],
            "/etc/containerd/certs.d/docker.io/hosts.toml:1"
        );
        assert_eq!(ep["plan"]["credential"]["username"], "joejoe");
        assert_eq!(t["endpoints"][1]["url"], "https://registry-1.docker.io/v2/");
    }
}
