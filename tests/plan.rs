//! `probe plan` over every fixture in `tests/fixtures` placed where its
//! runtime reads it: the binary prints the endpoints the runtime would use,
//! in its order, and touches no network (issue 4). Runs without root.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn fixture(rel: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").to_owned() + rel;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A node root with `files` (node path, text) in place.
fn root(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (node_path, text) in files {
        let p = dir.path().join(node_path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn plan(root: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let stdout = common::plan(root, &args);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    // A plan has no verdicts: no status or code anywhere, and no stage run.
    assert!(v.get("status").is_none());
    for t in v["targets"].as_array().unwrap() {
        assert!(t.get("status").is_none() && t.get("code").is_none(), "{t}");
        for e in t["endpoints"].as_array().unwrap() {
            assert!(e.get("status").is_none() && e.get("code").is_none(), "{e}");
            assert_eq!(e["stages"], Value::Array(vec![]));
        }
    }
    v
}

/// (url, role) of each endpoint of the target for `name` (image or registry).
fn endpoints<'a>(v: &'a Value, name: &str) -> Vec<(&'a str, &'a str)> {
    target(v, name)["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["url"].as_str().unwrap(), e["role"].as_str().unwrap()))
        .collect()
}

fn target<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["image"] == name || t["registry"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {v:#}"))
}

/// Every config source that is not `ok`, as `"path": message`.
fn errors(v: &Value) -> Vec<String> {
    v["config_sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["severity"] != "ok")
        .map(|s| format!("{}: {}", s["path"], s["message"]))
        .collect()
}

const CONTAINERD_SOCK: (&str, String) = ("/run/containerd/containerd.sock", String::new());
const CRIO_SOCK: (&str, String) = ("/var/run/crio/crio.sock", String::new());

fn config_path_toml() -> (&'static str, String) {
    (
        "/etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n".to_owned(),
    )
}

#[test]
fn containerd_hosts_toml_fixtures() {
    // (fixture, certs.d directory, image, endpoints as (url, role))
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            "containerd/hosts-docs-docker-io-simple.toml",
            "docker.io",
            "nginx",
            &[
                ("https://registry-1.docker.io/v2/", "upstream"),
                ("https://docker.io/v2/", "upstream"),
            ],
        ),
        (
            "containerd/hosts-docs-docker-io-local-mirror.toml",
            "docker.io",
            "nginx",
            &[
                ("https://public-mirror.example.com/v2/", "mirror"),
                ("https://docker-mirror.internal/v2/", "mirror"),
                ("https://registry-1.docker.io/v2/", "upstream"),
            ],
        ),
        (
            "containerd/minikube-insecure-registry-192.168.49.1_5000-hosts.toml",
            "192.168.49.1:5000",
            "192.168.49.1:5000/app",
            &[
                ("https://192.168.49.1:5000/v2/", "upstream"),
                ("http://192.168.49.1:5000/v2/", "upstream"),
            ],
        ),
        (
            "containerd/kind-localhost-5001-hosts.toml",
            "localhost:5001",
            "localhost:5001/app",
            &[
                ("http://kind-registry:5000/v2/", "mirror"),
                ("https://localhost:5001/v2/", "upstream"),
            ],
        ),
        (
            "containerd/aks-mcr.azk8s.cn-hosts.toml",
            "mcr.azk8s.cn",
            "mcr.azk8s.cn/oss/kubernetes/pause:3.6",
            &[
                ("https://mcr.azure.cn/v2/", "mirror"),
                ("https://mcr.azk8s.cn/v2/", "upstream"),
            ],
        ),
    ];
    for (file, dir, image, want) in cases {
        let r = root(&[
            CONTAINERD_SOCK,
            config_path_toml(),
            (
                &format!("/etc/containerd/certs.d/{dir}/hosts.toml"),
                fixture(file),
            ),
        ]);
        let v = plan(r.path(), &["--image", image]);
        assert!(errors(&v).is_empty(), "{file}: {:?}", errors(&v));
        let t = &v["targets"][0];
        let got: Vec<(&str, &str)> = t["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["url"].as_str().unwrap(), e["role"].as_str().unwrap()))
            .collect();
        assert_eq!(&got, want, "{file}");
        // Every endpoint names the file and line it came from, or `default`.
        for e in t["endpoints"].as_array().unwrap() {
            let source = e["plan"]["source"].as_str().unwrap();
            assert!(
                source == "default"
                    || source.starts_with(&format!("/etc/containerd/certs.d/{dir}/hosts.toml:")),
                "{source}"
            );
        }
    }
}

#[test]
fn containerd_hosts_toml_paths_are_re_rooted() {
    let r = root(&[
        CONTAINERD_SOCK,
        config_path_toml(),
        (
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            fixture("containerd/hosts-docs-docker-io-local-mirror.toml"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    let ca = &target(&v, "docker.io/library/nginx:latest")["endpoints"][1]["plan"]["ca_files"][0];
    assert_eq!(
        ca.as_str().unwrap(),
        r.path()
            .join("etc/containerd/certs.d/docker.io/docker-mirror.crt")
            .to_str()
            .unwrap()
    );
}

#[test]
fn containerd_upstream_test_host_file() {
    // containerd's TestParseHostFile `testtoml`: twelve hosts in file order, `server` last.
    let r = root(&[
        CONTAINERD_SOCK,
        config_path_toml(),
        (
            "/etc/containerd/certs.d/test.example.com/hosts.toml",
            fixture("containerd/hosts-test-parsehostfile.toml"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "test.example.com/x"]);
    let eps = endpoints(&v, "test.example.com/x:latest");
    assert_eq!(eps.len(), 12, "{eps:?}");
    assert_eq!(eps[0].0, "https://mirror.registry/v2/");
    assert_eq!(eps[1].0, "https://mirror-bak.registry/us/v2/");
    assert_eq!(eps[2].0, "http://mirror.registry/v2/");
    assert_eq!(
        eps[7].0,
        "https://noncompliantmirror.registry/v2/namespaceprefix/"
    );
    assert_eq!(eps[8].0, "https://noprefixnoncompliant.registry/");
    assert_eq!(eps[11].0, "https://test-default.registry/v2/");
}

#[test]
fn containerd_config_toml_fixtures() {
    let files = [
        "containerd/minikube-kicbase-containerd-config.toml",
        "containerd/aks-containerd-config-v1-template-rendered.toml",
        "containerd/aks-containerd-config-v2-template-rendered.toml",
        "containerd/aks-windows-containerd2-config-v3-template-rendered.toml",
    ];
    for file in files {
        let r = root(&[
            CONTAINERD_SOCK,
            ("/etc/containerd/config.toml", fixture(file)),
        ]);
        let v = plan(r.path(), &["--image", "nginx"]);
        assert_eq!(
            endpoints(&v, "docker.io/library/nginx:latest"),
            [("https://registry-1.docker.io/v2/", "upstream")],
            "{file}"
        );
        assert!(
            v["config_sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["path"] == "/etc/containerd/config.toml"),
            "{file}"
        );
    }
    // The legacy `mirrors` of the v1 docs: containerd appends the default host
    // unless an endpoint's host *is* the registry name (`docker.io` here), so
    // registry-1.docker.io is tried twice, as containerd's CRI plugin does.
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/containerd/config.toml",
            fixture("containerd/config-v1-plugins-cri-registry-mirrors-docs.toml"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    let eps = endpoints(&v, "docker.io/library/nginx:latest");
    assert_eq!(
        eps.iter().map(|e| e.0).collect::<Vec<_>>(),
        [
            "https://registry-1.docker.io/v2/",
            "https://registry-1.docker.io/v2/"
        ]
    );
    // The v3 docs: `mirrors` plus containerd 2.2's default config_path is a contradiction containerd rejects.
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/containerd/config.toml",
            fixture("containerd/config-v3-cri-images-registry-gcr-auth-docs.toml"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "gcr.io/proj/app"]);
    assert!(
        errors(&v).iter().any(|e| e.contains("mirrors")),
        "{:?}",
        errors(&v)
    );
    let gcr = target(&v, "gcr.io/proj/app:latest");
    assert_eq!(gcr["endpoints"][0]["url"], "https://gcr.io/v2/");
    // Its `configs."gcr.io".auth` is the credential: named, never shown.
    let cred = gcr["endpoints"][0]["plan"]["credential"].to_string();
    assert!(cred.contains("/etc/containerd/config.toml"), "{cred}");
    assert!(cred.contains("_json_key"), "the username is shown: {cred}");
    let all = v.to_string();
    assert!(
        !all.contains("paste output from jq"),
        "the password is not: {all}"
    );
}

#[test]
fn crio_registries_conf_fixtures() {
    // containers/image TestPullSourcesFromReference: mirrors, then the rewritten location.
    let r = root(&[
        CRIO_SOCK,
        (
            "/etc/containers/registries.conf",
            fixture("crio/containers-image-testdata-pull-sources-from-reference.conf"),
        ),
    ]);
    let v = plan(
        r.path(),
        &[
            "--image",
            "registry-a.com/foo/image:tag",
            "--image",
            "registry-b.com/foo/image:tag",
        ],
    );
    let a = target(&v, "registry-a.com/foo/image:tag");
    let got: Vec<(&str, &str, &str)> = a["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["url"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
                e["plan"]["repository"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("https://mirror-1.registry-a.com/v2/", "mirror", "image"),
            ("https://mirror-2.registry-a.com/v2/", "mirror", "image"),
            ("https://registry-a.com/v2/", "upstream", "bar/image"),
        ]
    );
    assert_eq!(a["endpoints"][1]["plan"]["skip_verify"], true);
    // mirror-by-digest-only: a tag goes to the location alone.
    assert_eq!(
        endpoints(&v, "registry-b.com/foo/image:tag"),
        [("https://registry-b.com/v2/", "upstream")]
    );

    // containers/image TestFindRegistry: prefix -> location.
    let r = root(&[
        CRIO_SOCK,
        (
            "/etc/containers/registries.conf",
            fixture("crio/containers-image-testdata-find-registry.conf"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "simple-prefix.com/foo/bar"]);
    assert_eq!(
        endpoints(&v, "simple-prefix.com/foo/bar:latest"),
        [("https://registry.com:5000/v2/", "upstream")]
    );

    // The drop-in of TestRegistriesConfDirectory: base.com is blocked.
    let r = root(&[
        CRIO_SOCK,
        (
            "/etc/containers/registries.conf.d/config-2.conf",
            fixture("crio/containers-image-testdata-registries.conf.d-config-2.conf"),
        ),
    ]);
    let v = plan(r.path(), &[]);
    let base = target(&v, "base.com");
    assert_eq!(base["endpoints"], Value::Array(vec![]));
    assert!(base["hint"].as_str().unwrap().contains("blocked"), "{base}");

    // kubespray's drop-in: two mirrors before Docker Hub, the first insecure.
    let r = root(&[
        CRIO_SOCK,
        (
            "/etc/containers/registries.conf.d/10-docker.io.conf",
            fixture("crio/kubespray-registries.conf.d-10-docker.io.conf"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    assert_eq!(
        endpoints(&v, "docker.io/library/nginx:latest"),
        [
            ("https://192.168.100.100:5000/v2/", "mirror"),
            ("https://mirror.gcr.io/v2/", "mirror"),
            ("https://registry-1.docker.io/v2/", "upstream")
        ]
    );

    // Minikube's v1-format file converts without error.
    let r = root(&[
        CRIO_SOCK,
        (
            "/etc/containers/registries.conf",
            fixture("crio/minikube-iso-registries-v1-format.conf"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
}

#[test]
fn docker_daemon_json_fixture() {
    let r = root(&[
        ("/var/run/cri-dockerd.sock", String::new()),
        (
            "/etc/docker/daemon.json",
            fixture("docker/dockerd-docs-daemon-linux-full.json"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    let ep = &target(&v, "docker.io/library/nginx:latest")["endpoints"][0];
    assert_eq!(ep["url"], "https://registry-1.docker.io/v2/");
    // daemon.json `proxies` are dockerd's.
    assert!(
        ep["proxy"]
            .as_str()
            .is_some_and(|p| p.contains("proxy.example.com")),
        "{ep}"
    );
}

#[test]
fn docker_client_config_fixtures_name_the_credential_and_hide_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        fixture("docker/docker-cli-test-config-index-docker-io-auth.json"),
    )
    .unwrap();
    let r = root(&[CONTAINERD_SOCK]);
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["plan", "--image", "nginx", "--docker-config"])
        .arg(&cfg)
        .arg("--root")
        .arg(r.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("joejoe"), "the username is shown: {text}");
    assert!(!text.contains("hello"), "the password is not: {text}");
    assert!(
        !text.contains("am9lam9lOmhlbGxv"),
        "nor the auth field: {text}"
    );
    // The sample config has only credential helpers: it parses, and nothing is found for nginx.
    std::fs::write(&cfg, fixture("docker/docker-cli-docs-sample-config.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["plan", "--image", "nginx", "--docker-config"])
        .arg(&cfg)
        .arg("--root")
        .arg(r.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn k3s_registries_yaml_fixture() {
    let r = root(&[(
        "/etc/rancher/k3s/registries.yaml",
        fixture("k3s/k3s-docs-registries-with-tls-and-auth.yaml"),
    )]);
    let v = plan(r.path(), &[]);
    assert_eq!(
        endpoints(&v, "docker.io"),
        [
            ("https://registry.example.com:5000/v2/", "mirror"),
            ("https://registry-1.docker.io/v2/", "upstream")
        ]
    );
    let ep = &target(&v, "registry.example.com:5000")["endpoints"][0];
    assert_eq!(ep["url"], "https://registry.example.com:5000/v2/");
}

#[test]
fn proxy_fixtures() {
    // kubespray's containerd drop-in.
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            fixture("proxy/kubespray-containerd.service.d-http-proxy.conf"),
        ),
    ]);
    let v = plan(
        r.path(),
        &[
            "--image",
            "nginx",
            "--registry",
            "registry.svc.cluster.local:5000",
        ],
    );
    assert_eq!(
        target(&v, "docker.io/library/nginx:latest")["endpoints"][0]["proxy"],
        "http://proxy.example.com:3128"
    );
    // NO_PROXY's `.cluster.local`.
    assert!(target(&v, "registry.svc.cluster.local:5000")["endpoints"][0]["proxy"].is_null());

    // AKS: DefaultEnvironment= for every unit, mcr.microsoft.com in NO_PROXY.
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/systemd/system.conf.d/proxy.conf",
            fixture("proxy/aks-system.conf.d-proxy.conf"),
        ),
    ]);
    let v = plan(
        r.path(),
        &[
            "--image",
            "nginx",
            "--image",
            "mcr.microsoft.com/oss/kubernetes/pause:3.6",
        ],
    );
    assert_eq!(
        target(&v, "docker.io/library/nginx:latest")["endpoints"][0]["proxy"],
        "http://10.0.0.4:3128"
    );
    assert!(
        target(&v, "mcr.microsoft.com/oss/kubernetes/pause:3.6")["endpoints"][0]["proxy"].is_null()
    );
}

#[test]
fn a_broken_file_is_named_with_its_line_and_the_rest_still_plans() {
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/containerd/config.toml",
            "version = 2\n[plugins\n".to_owned(),
        ),
        (
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            fixture("proxy/kubespray-containerd.service.d-http-proxy.conf"),
        ),
    ]);
    let v = plan(r.path(), &["--image", "nginx"]);
    let errs = errors(&v);
    assert!(
        errs.iter()
            .any(|e| e.contains("/etc/containerd/config.toml") && e.contains("line 2")),
        "{errs:?}"
    );
    // containerd does not start with it: an error, at the line, the path plain.
    assert_eq!(
        findings(&v),
        [(
            "/etc/containerd/config.toml".to_owned(),
            "error".to_owned(),
            Some(2)
        )]
    );
    assert_eq!(
        target(&v, "docker.io/library/nginx:latest")["endpoints"][0]["proxy"],
        "http://proxy.example.com:3128"
    );
}

/// (path, severity, line) of every config source that is not `ok`; an `ok`
/// one has neither line nor message.
fn findings(v: &Value) -> Vec<(String, String, Option<u64>)> {
    let mut out = Vec::new();
    for s in v["config_sources"].as_array().unwrap() {
        let severity = s["severity"].as_str().unwrap();
        if severity == "ok" {
            assert!(s["line"].is_null() && s["message"].is_null(), "{s}");
        } else {
            assert!(s["message"].is_string(), "{s}");
            out.push((
                s["path"].as_str().unwrap().to_owned(),
                severity.to_owned(),
                s["line"].as_u64(),
            ));
        }
    }
    out
}

fn message<'a>(v: &'a Value, path: &str) -> &'a str {
    v["config_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .and_then(|s| s["message"].as_str())
        .unwrap_or_else(|| panic!("no message for {path} in {v:#}"))
}

/// Every file in `tests/fixtures`, placed where its runtime reads it and
/// planned for every registry the node names: no `error` anywhere except in
/// the one file that is broken (the containerd docs sample whose mirrors
/// are `HostIP1:Port1` placeholders), each finding with its line.
#[test]
fn every_fixture_plans_without_errors_but_the_broken_one() {
    /// Fixture, where it goes, the other files of the node, and the findings
    /// expected (path, severity, line).
    struct Case {
        fixture: &'static str,
        at: String,
        node: Vec<(String, String)>,
        want: Vec<(&'static str, &'static str, Option<u64>)>,
    }
    const CONFIG_TOML: &str = "/etc/containerd/config.toml";
    let hosts_toml = |dir: &str| format!("/etc/containerd/certs.d/{dir}/hosts.toml");
    let file = |path: &str, text: &str| (path.to_owned(), text.to_owned());
    let containerd = vec![file(CONTAINERD_SOCK.0, "")];
    let (config_path, config_path_text) = config_path_toml();
    let containerd_certs_d = vec![
        file(CONTAINERD_SOCK.0, ""),
        file(config_path, &config_path_text),
    ];
    let crio = vec![file(CRIO_SOCK.0, "")];
    let kubelet_with = |provider: &str| {
        vec![
            file(CONTAINERD_SOCK.0, ""),
            file(
                "/etc/default/kubelet",
                "KUBELET_FLAGS=--image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider\n",
            ),
            file(
                &format!("/var/lib/kubelet/credential-provider/{provider}"),
                "",
            ),
        ]
    };
    let case = |fixture, at: &str, node: &Vec<(String, String)>, want| Case {
        fixture,
        at: at.to_owned(),
        node: node.clone(),
        want,
    };
    let cases = [
        case(
            "containerd/aks-containerd-config-v1-template-rendered.toml",
            CONFIG_TOML,
            &containerd,
            vec![],
        ),
        case(
            "containerd/aks-containerd-config-v2-template-rendered.toml",
            CONFIG_TOML,
            &containerd,
            vec![],
        ),
        // A Windows config_path: its drive colon is no second entry.
        case(
            "containerd/aks-windows-containerd2-config-v3-template-rendered.toml",
            CONFIG_TOML,
            &containerd,
            vec![],
        ),
        case(
            "containerd/minikube-kicbase-containerd-config.toml",
            CONFIG_TOML,
            &containerd,
            vec![],
        ),
        // The broken one: its mirrors' `HostIP1:Port1` (line 6) and
        // `HostIP2:Port2` (line 8) make containerd fail those pulls.
        case(
            "containerd/config-v1-plugins-cri-registry-mirrors-docs.toml",
            CONFIG_TOML,
            &containerd,
            vec![(CONFIG_TOML, "error", Some(6))],
        ),
        // `mirrors` at version 3: containerd 2.2's default config_path refuses them, 2.0/2.1 do not.
        case(
            "containerd/config-v3-cri-images-registry-gcr-auth-docs.toml",
            CONFIG_TOML,
            &containerd,
            vec![(CONFIG_TOML, "warning", Some(5))],
        ),
        case(
            "containerd/aks-mcr.azk8s.cn-hosts.toml",
            &hosts_toml("mcr.azk8s.cn"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "containerd/hosts-docs-docker-io-local-mirror.toml",
            &hosts_toml("docker.io"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "containerd/hosts-docs-docker-io-simple.toml",
            &hosts_toml("docker.io"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "containerd/hosts-test-parsehostfile.toml",
            &hosts_toml("test-default.registry"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "containerd/kind-localhost-5001-hosts.toml",
            &hosts_toml("localhost:5001"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "containerd/minikube-insecure-registry-192.168.49.1_5000-hosts.toml",
            &hosts_toml("192.168.49.1:5000"),
            &containerd_certs_d,
            vec![],
        ),
        case(
            "crio/containers-image-testdata-find-registry.conf",
            "/etc/containers/registries.conf",
            &crio,
            vec![],
        ),
        case(
            "crio/containers-image-testdata-pull-sources-from-reference.conf",
            "/etc/containers/registries.conf",
            &crio,
            vec![],
        ),
        // It blocks base.com: a policy, not a broken file.
        case(
            "crio/containers-image-testdata-registries.conf.d-config-2.conf",
            "/etc/containers/registries.conf.d/config-2.conf",
            &crio,
            vec![],
        ),
        case(
            "crio/kubespray-registries.conf.d-10-docker.io.conf",
            "/etc/containers/registries.conf.d/10-docker.io.conf",
            &crio,
            vec![],
        ),
        case(
            "crio/minikube-iso-registries-v1-format.conf",
            "/etc/containers/registries.conf",
            &crio,
            vec![],
        ),
        case(
            "docker/dockerd-docs-daemon-linux-full.json",
            "/etc/docker/daemon.json",
            &vec![file("/var/run/cri-dockerd.sock", "")],
            vec![],
        ),
        // credsStore: the kubelet never runs the helper (issue 18).
        case(
            "docker/docker-cli-docs-sample-config.json",
            "/var/lib/kubelet/config.json",
            &containerd,
            vec![("/var/lib/kubelet/config.json", "warning", None)],
        ),
        case(
            "docker/docker-cli-test-config-index-docker-io-auth.json",
            "/var/lib/kubelet/config.json",
            &containerd,
            vec![],
        ),
        case(
            "k3s/k3s-docs-registries-with-tls-and-auth.yaml",
            "/etc/rancher/k3s/registries.yaml",
            &vec![],
            vec![],
        ),
        case(
            "kubelet/aks-credential-provider-config-network-isolated.yaml",
            "/var/lib/kubelet/credential-provider-config.yaml",
            &kubelet_with("acr-credential-provider"),
            vec![],
        ),
        case(
            "kubelet/k8s-docs-ecr-credential-provider-config.yaml",
            "/var/lib/kubelet/credential-provider-config.yaml",
            &kubelet_with("ecr"),
            vec![],
        ),
        case(
            "proxy/aks-system.conf.d-proxy.conf",
            "/etc/systemd/system.conf.d/proxy.conf",
            &containerd,
            vec![],
        ),
        case(
            "proxy/kubespray-containerd.service.d-http-proxy.conf",
            "/etc/systemd/system/containerd.service.d/http-proxy.conf",
            &containerd,
            vec![],
        ),
    ];

    // Every fixture is here: a new one must say what it plans to.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut on_disk: Vec<String> = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                on_disk.push(format!(
                    "{}/{}",
                    sub.file_name().unwrap().to_str().unwrap(),
                    f.file_name().unwrap().to_str().unwrap()
                ));
            }
        }
    }
    on_disk.sort();
    let mut covered: Vec<String> = cases.iter().map(|c| c.fixture.to_owned()).collect();
    covered.sort();
    assert_eq!(covered, on_disk);

    for c in &cases {
        let mut files: Vec<(&str, String)> = c
            .node
            .iter()
            .map(|(p, t)| (p.as_str(), t.clone()))
            .collect();
        files.push((&c.at, fixture(c.fixture)));
        let r = root(&files);
        let v = plan(r.path(), &[]);
        let want: Vec<(String, String, Option<u64>)> = c
            .want
            .iter()
            .map(|(p, s, l)| ((*p).to_owned(), (*s).to_owned(), *l))
            .collect();
        assert_eq!(findings(&v), want, "{}", c.fixture);
        // The fixture itself was read, and is listed once.
        let listed = v["config_sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["path"] == c.at.as_str())
            .count();
        assert_eq!(listed, 1, "{}: {v:#}", c.fixture);
    }
}

/// The broken docs sample: one entry for the file, at the first bad
/// mirror's line, naming both; the placeholders never reach an endpoint.
#[test]
fn the_broken_containerd_docs_sample_is_an_error_with_its_lines() {
    let r = root(&[
        CONTAINERD_SOCK,
        (
            "/etc/containerd/config.toml",
            fixture("containerd/config-v1-plugins-cri-registry-mirrors-docs.toml"),
        ),
    ]);
    let v = plan(r.path(), &[]);
    let why = message(&v, "/etc/containerd/config.toml");
    assert!(
        why.contains("\"https://HostIP1:Port1\"") && why.contains("invalid port \"Port1\""),
        "{why}"
    );
    assert!(why.contains("\"http://HostIP2:Port2\""), "{why}");
    assert!(
        why.contains("containerd fails every pull from test.https-registry.io"),
        "{why}"
    );
    // The registry itself is still probed: containerd's default host comes after the bad mirror.
    assert_eq!(
        endpoints(&v, "test.https-registry.io"),
        [("https://test.https-registry.io/v2/", "upstream")]
    );
}

#[test]
fn kubelet_credential_provider_fixtures() {
    let flags = "KUBELET_FLAGS=--image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml --image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider\n";
    let cases = [
        (
            "kubelet/aks-credential-provider-config-network-isolated.yaml",
            "acr-credential-provider",
            "myreg.azurecr.io/app:1",
            "nginx",
        ),
        (
            "kubelet/k8s-docs-ecr-credential-provider-config.yaml",
            "ecr",
            "123456789.dkr.ecr.us-east-1.amazonaws.com/app:1",
            "nginx",
        ),
    ];
    for (file, provider, matching, other) in cases {
        let r = root(&[
            CONTAINERD_SOCK,
            ("/etc/default/kubelet", flags.to_owned()),
            (
                "/var/lib/kubelet/credential-provider-config.yaml",
                fixture(file),
            ),
            (
                &format!("/var/lib/kubelet/credential-provider/{provider}"),
                String::new(),
            ),
        ]);
        let v = plan(r.path(), &["--image", matching, "--image", other]);
        assert!(errors(&v).is_empty(), "{file}: {:?}", errors(&v));
        let hint = target(&v, matching)["hint"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            hint.contains(&format!("credential provider {provider}")),
            "{file}: {hint}"
        );
        let other_hint = target(&v, "docker.io/library/nginx:latest")["hint"].to_string();
        assert!(
            !other_hint.contains("credential provider"),
            "{file}: {other_hint}"
        );
    }
}

/// Every flag can be set as `PROBE_<FLAG>` (the DaemonSet's way).
#[test]
fn flags_come_from_the_environment_too() {
    let r = root(&[CONTAINERD_SOCK]);
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("plan")
        .env("PROBE_IMAGE", "nginx,registry.test/app:1")
        .env("PROBE_REGISTRY", "reg.example:5000")
        .env("PROBE_JSON", "true")
        .env("PROBE_ROOT", r.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["image"]
                .as_str()
                .unwrap_or_else(|| t["registry"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        names,
        [
            "docker.io/library/nginx:latest",
            "registry.test/app:1",
            "reg.example:5000"
        ]
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("plan")
        .env("PROBE_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
