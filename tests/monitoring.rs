//! The fleet's view (issue 16): `deploy/monitoring/` checked by itself, and
//! end to end with a real Prometheus (Debian's) in the test bed, scraping
//! real `probe daemon` agents, one per test node, each with its own fault:
//!
//! | node | what is wrong |
//! | --- | --- |
//! | `node-ok` | nothing (it has the credentials `basic.test` wants) |
//! | `node-nocreds` | no credentials for `basic.test` |
//! | `node-dns` | its resolver is dead (every lookup times out) |
//! | `node-proxy` | its runtime's proxy is down |
//!
//! and `unavailable.test` (503 everywhere) fails for every node. Prometheus
//! loads the shipped rule file (its `for:` durations scaled down, see
//! [`scaled_rules`]) and the shipped scrape job's relabeling; the test reads
//! which alerts fire through its HTTP API, runs every dashboard query, and
//! checks that each agent's `OpenMetrics` page is ingested (`up`,
//! `scrape_samples_scraped`).

mod support;

use base64::Engine as _;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::http::request;
use support::{NodeRoot, World};

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/monitoring")
        .join(file)
}

fn yaml(file: &str) -> Yaml {
    let text = std::fs::read_to_string(monitoring(file)).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn dashboard() -> Json {
    let text = std::fs::read_to_string(monitoring("regprobe.dashboard.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The alert names of the contract ("Alerts and scrape config").
const ALERTS: [&str; 8] = [
    "RegprobeRegistryUnreachable",
    "RegprobeRegistryDown",
    "RegprobeNodeFinding",
    "RegprobeCertificateExpiring",
    "RegprobeRateLimitLow",
    "RegprobeReadBudgetHigh",
    "RegprobeAgentDown",
    "RegprobeAgentStalled",
];

fn rules(groups: &Yaml) -> Vec<&Yaml> {
    groups
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// The files by themselves.

/// `prometheusrule.yaml` is generated from the rule file (`deploy/monitoring/generate`).
#[test]
fn the_prometheus_rule_holds_the_rule_files_groups() {
    let plain = yaml("regprobe.rules.yaml");
    let wrapped = yaml("prometheusrule.yaml");
    assert_eq!(wrapped["kind"], "PrometheusRule");
    assert_eq!(wrapped["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        wrapped["spec"]["groups"], plain["groups"],
        "prometheusrule.yaml is stale: run deploy/monitoring/generate"
    );
}

/// Every contract alert is there, with the contract's labels in its
/// expression's output (checked for real by `promtool test rules` and the
/// end-to-end test), a severity, and a runbook link into the README.
#[test]
fn every_contract_alert_has_severity_for_and_runbook() {
    let plain = yaml("regprobe.rules.yaml");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let all = rules(&plain["groups"]);
    for name in ALERTS {
        let rule = all
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("no alert {name}"));
        assert!(
            ["critical", "warning", "info"].contains(&rule["labels"]["severity"].as_str().unwrap()),
            "{name}"
        );
        assert!(rule["for"].as_str().is_some(), "{name}: no for:");
        let runbook = rule["annotations"]["runbook_url"].as_str().unwrap();
        let anchor = runbook.split_once("README.md#").expect(runbook).1;
        if !anchor.contains("{{") {
            assert!(
                readme.contains(&format!("<a id=\"{anchor}\"></a>")),
                "{name}: README has no anchor {anchor}"
            );
        }
    }
}

/// The per-code runbook anchors the alerts template (`{{ $labels.code |
/// toLower }}`) exist for every contract code.
#[test]
fn the_readme_has_a_runbook_entry_per_code() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let codes: Vec<String> = regprobe::code::Code::ALL
        .iter()
        .filter(|c| **c != regprobe::code::Code::Ok)
        .map(|c| c.as_str().to_owned())
        .collect();
    for code in codes {
        let anchor = code.to_lowercase();
        assert!(
            readme.contains(&format!("<a id=\"{anchor}\"></a>")),
            "README: no runbook entry for {code}"
        );
    }
}

/// The `PodMonitor` and the plain scrape config select the agents' port by the
/// name daemonset.yaml gives it, and give every series the `node` label.
#[test]
fn the_scrape_configs_find_the_agents_and_label_the_node() {
    let ds = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("daemonset.yaml"))
        .unwrap();
    let daemonset = serde_yaml_ng::Deserializer::from_str(&ds)
        .map(|d| <Yaml as serde::Deserialize>::deserialize(d).unwrap())
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap();
    let pod = &daemonset["spec"]["template"];
    assert_eq!(pod["spec"]["hostNetwork"], true);
    assert_eq!(pod["metadata"]["labels"]["app"], "regprobe");
    let ports = &pod["spec"]["containers"][0]["ports"];
    assert!(
        ports
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == 9808),
        "{ports:?}"
    );

    let pm = yaml("podmonitor.yaml");
    assert_eq!(pm["kind"], "PodMonitor");
    assert_eq!(pm["spec"]["selector"]["matchLabels"]["app"], "regprobe");
    let endpoint = &pm["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], "metrics");
    let relabel = endpoint["relabelings"].as_sequence().unwrap();
    assert!(relabel.iter().any(
        |r| r["sourceLabels"][0] == "__meta_kubernetes_pod_node_name" && r["targetLabel"] == "node"
    ));
    assert!(
        relabel
            .iter()
            .any(|r| r["targetLabel"] == "job" && r["replacement"] == "regprobe")
    );

    let sc = yaml("scrape-config.yaml");
    let job = &sc["scrape_configs"][0];
    assert_eq!(job["job_name"], "regprobe");
    assert_eq!(job["kubernetes_sd_configs"][0]["role"], "pod");
    // Its relabeling runs in a real Prometheus below.
}

/// The inhibition names real alerts and labels they carry.
#[test]
fn the_inhibit_rules_name_the_contract_alerts() {
    let inhibit = yaml("alertmanager-inhibit.yaml");
    for r in inhibit["inhibit_rules"].as_sequence().unwrap() {
        for m in ["source_matchers", "target_matchers"] {
            let matcher = r[m][0].as_str().unwrap();
            let name = matcher.trim_start_matches("alertname=").trim_matches('"');
            assert!(ALERTS.contains(&name), "{matcher}");
        }
    }
}

/// Each panel says what it shows, queries the chosen Prometheus, and uses
/// the registry and node variables where its metric has them.
#[test]
fn every_dashboard_panel_is_described() {
    let d = dashboard();
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "registry", "node"]);
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap();
        assert!(
            p["description"].as_str().is_some_and(|s| s.len() > 40),
            "{title}: no description"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            assert!(
                expr.contains("$node") || expr.contains("$registry"),
                "{title}: {expr}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// End to end.

/// A `probe daemon` inside the bed's namespace, killed on drop.
struct Process {
    child: Child,
    what: String,
}

impl Process {
    fn spawn(w: &World, what: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        // Killed with the test process, whatever ends it.
        let mut cmd = Command::new(support::netns::tool("setpriv"));
        cmd.args(["--pdeathsig", "KILL", "--"])
            .arg(support::netns::tool("ip"))
            .args(["netns", "exec", w.ns(), program])
            .args(args)
            .env_remove("PROBE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for var in [
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        // Drained, so a chatty process never blocks on a full pipe; kept
        // for the failure message.
        let stderr = child.stderr.take().unwrap();
        let name = what.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("level=error") || line.contains("\"ERROR\"") {
                    eprintln!("[{name}] {line}");
                }
            }
        });
        Process {
            child,
            what: what.to_owned(),
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited: {status}", self.what);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node of the fleet: its root, its agent's address, its fault.
struct Node {
    name: &'static str,
    root: NodeRoot,
    /// The agent listens on `<ip>:9808`, as on a host-network pod.
    ip: Ipv4Addr,
    extra: Vec<String>,
}

impl Node {
    fn listen(&self) -> String {
        format!("{}:9808", self.ip)
    }
}

/// Bed addresses of this test's own (on the namespace's `lo`, beside the
/// standard world's 10.77.0.x): the four nodes' agents and Prometheus.
const NODE_IPS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 77, 9, 11),
    Ipv4Addr::new(10, 77, 9, 12),
    Ipv4Addr::new(10, 77, 9, 13),
    Ipv4Addr::new(10, 77, 9, 14),
];
const PROMETHEUS_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 90);

fn add_address(w: &World, ip: Ipv4Addr) {
    let out = w
        .command("ip")
        .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("File exists"),
        "ip addr add {ip}: {err}"
    );
}

fn fleet(w: &World) -> Vec<Node> {
    let ok = w.new_root();
    let (user, password) = support::PULLER;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ok.write(
        "pull-secret.json",
        &format!(r#"{{"auths": {{"basic.test": {{"auth": "{auth}"}}}}}}"#),
    );
    let secret = ok.path().join("pull-secret.json");

    let dns = w.new_root();
    dns.nameserver(support::SILENT_DNS_IP);

    let proxy = w.new_root();
    proxy.write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    proxy.write("run/containerd/containerd.sock", "");
    let dead = w.dead_proxy_url();
    proxy.write(
        "etc/systemd/system/containerd.service.d/http-proxy.conf",
        &format!("[Service]\nEnvironment=\"HTTPS_PROXY={dead}\" \"HTTP_PROXY={dead}\" \"NO_PROXY=localhost\"\n"),
    );

    vec![
        Node {
            name: "node-ok",
            root: ok,
            ip: NODE_IPS[0],
            extra: vec!["--docker-config".into(), secret.display().to_string()],
        },
        Node {
            name: "node-nocreds",
            root: w.new_root(),
            ip: NODE_IPS[1],
            extra: Vec::new(),
        },
        Node {
            name: "node-dns",
            root: dns,
            ip: NODE_IPS[2],
            extra: Vec::new(),
        },
        Node {
            name: "node-proxy",
            root: proxy,
            ip: NODE_IPS[3],
            extra: Vec::new(),
        },
    ]
}

/// The shipped rules with every `for:` divided by 120 (20m -> 10s, 5m ->
/// 2.5s), written as milliseconds: the test runs rounds every second, not
/// every minute, and must see alerts fire within its time. Everything else
/// (expressions, labels, annotations, the 50 % threshold) is as shipped.
fn scaled_rules() -> String {
    let mut plain = yaml("regprobe.rules.yaml");
    for g in plain["groups"].as_sequence_mut().unwrap() {
        for r in g["rules"].as_sequence_mut().unwrap() {
            if let Some(d) = r.get("for").and_then(Yaml::as_str) {
                let d = regprobe::config::go_duration::parse(d).unwrap();
                let scaled = (d / 120).as_millis();
                r["for"] = Yaml::String(format!("{scaled}ms"));
            }
        }
    }
    serde_yaml_ng::to_string(&plain).unwrap()
}

/// The shipped scrape job with static targets in place of Kubernetes
/// discovery: each target carries the `__meta_kubernetes_*` labels
/// discovery would set for the agent's pod, and the job's own
/// `relabel_configs` make the `node` label of them.
fn scrape_config(nodes: &[Node], rules: &Path) -> String {
    let shipped = yaml("scrape-config.yaml");
    let mut job = shipped["scrape_configs"][0].clone();
    let map = job.as_mapping_mut().unwrap();
    map.remove("kubernetes_sd_configs");
    map.insert("scrape_interval".into(), "1s".into());
    map.insert("scrape_timeout".into(), "1s".into());
    let targets: Vec<Yaml> = nodes
        .iter()
        .map(|n| {
            serde_yaml_ng::from_str(&format!(
                "targets: ['{addr}']\nlabels:\n  __meta_kubernetes_pod_node_name: {node}\n  __meta_kubernetes_pod_container_port_name: metrics\n  __meta_kubernetes_pod_phase: Running\n  __meta_kubernetes_namespace: regprobe\n  __meta_kubernetes_pod_name: regprobe-{node}\n",
                addr = n.listen(),
                node = n.name
            ))
            .unwrap()
        })
        .collect();
    map.insert("static_configs".into(), Yaml::Sequence(targets));
    let config: Yaml = serde_yaml_ng::from_str(&format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\n",
        rules.display()
    ))
    .unwrap();
    let mut config = config;
    config
        .as_mapping_mut()
        .unwrap()
        .insert("scrape_configs".into(), Yaml::Sequence(vec![job]));
    serde_yaml_ng::to_string(&config).unwrap()
}

/// Prometheus' HTTP API, from inside the namespace.
struct Api<'w> {
    w: &'w World,
    addr: SocketAddr,
}

impl Api<'_> {
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let (addr, path) = (self.addr, path.to_owned());
        self.w.run(move || {
            request(addr, None, "prometheus", "GET", &path, &[], Vec::new())
                .ok()
                .map(|r| {
                    let chunked = r.headers.iter().any(|(k, v)| {
                        k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")
                    });
                    let body = if chunked { dechunk(&r.body) } else { r.body };
                    (r.status, String::from_utf8_lossy(&body).into_owned())
                })
        })
    }

    fn json(&self, path: &str) -> Json {
        let (status, body) = self.get(path).expect("Prometheus answers");
        assert_eq!(status, 200, "{path}: {body}");
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{path}: {body}");
        v["data"].clone()
    }

    /// An instant query's result vector.
    fn query(&self, promql: &str) -> Vec<Json> {
        let q: String =
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let data = self.json(&format!("/api/v1/query?query={q}"));
        match &data["result"] {
            Json::Array(v) => v.clone(),
            // A scalar: one value.
            other => vec![other.clone()],
        }
    }

    /// The alerts in `state` (firing, pending), as (name, labels) sorted.
    fn alerts(&self, state: &str) -> BTreeSet<String> {
        self.json("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == state)
            .map(alert_text)
            .collect()
    }
}

/// A chunked body's data (the bed's client does not de-chunk; Prometheus
/// chunks its larger answers).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&raw[..eol]).unwrap_or("0");
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = raw.get(eol + 4 + size..).unwrap_or_default();
    }
}

/// `Name{label="value",...}` without severity (sorted labels).
fn alert_text(a: &Json) -> String {
    let labels = a["labels"].as_object().unwrap();
    let name = labels["alertname"].as_str().unwrap();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap()))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

#[test]
fn a_real_prometheus_fires_the_expected_alerts() {
    if !support::require(&["prometheus", "promtool"]) {
        return;
    }
    let Some(w) = support::world() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.yaml");
    std::fs::write(
        &targets,
        "registries:\n  - registry.test\n  - unavailable.test\nimages:\n  - basic.test/single:1\n",
    )
    .unwrap();
    let nodes = fleet(w);
    let mut agents: Vec<Process> = nodes
        .iter()
        .map(|n| {
            add_address(w, n.ip);
            let listen = n.listen();
            let mut args: Vec<&str> = vec![
                "daemon",
                "--root",
                n.root.path().to_str().unwrap(),
                "--listen",
                &listen,
                "--interval",
                "1s",
                "--registry-interval",
                "1s",
                "--timeout",
                "2s",
                "--targets",
                targets.to_str().unwrap(),
            ];
            args.extend(n.extra.iter().map(String::as_str));
            Process::spawn(
                w,
                n.name,
                env!("CARGO_BIN_EXE_probe"),
                &args,
                &[("NODE_NAME", n.name)],
            )
        })
        .collect();

    let rules = dir.path().join("regprobe.rules.yaml");
    std::fs::write(&rules, scaled_rules()).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, scrape_config(&nodes, &rules)).unwrap();
    let check = Command::new(support::netns::tool("promtool"))
        .args(["check", "config"])
        .arg(&config)
        .output()
        .expect("promtool");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let storage = dir.path().join("data");
    add_address(w, PROMETHEUS_IP);
    let addr = SocketAddr::from((PROMETHEUS_IP, 9090));
    let mut prometheus = Process::spawn(
        w,
        "prometheus",
        &support::netns::tool("prometheus"),
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", storage.display()),
            &format!("--web.listen-address={addr}"),
            "--log.level=warn",
        ],
        &[],
    );
    let api = Api { w, addr };
    let ready = Instant::now();
    while api.get("/-/ready").is_none_or(|(s, _)| s != 200) {
        prometheus.assert_running();
        assert!(
            ready.elapsed() < Duration::from_secs(30),
            "Prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // What must fire, exactly: one registry alert for unavailable.test (not
    // one per node: node-dns and node-proxy never reached it and are not
    // counted), a node finding each for the two nodes whose own network
    // fails (not a per-target alert), and node-nocreds' own credentials
    // problem (1 of the 2 nodes that reached basic.test).
    let expected: BTreeSet<String> = [
        r#"RegprobeNodeFinding{category="network",instance="10.77.9.13:9808",job="regprobe",namespace="regprobe",node="node-dns",pod="regprobe-node-dns"}"#,
        r#"RegprobeNodeFinding{category="network",instance="10.77.9.14:9808",job="regprobe",namespace="regprobe",node="node-proxy",pod="regprobe-node-proxy"}"#,
        r#"RegprobeRegistryDown{category="registry",code="REGISTRY_ERROR",registry="unavailable.test"}"#,
        r#"RegprobeRegistryUnreachable{category="credentials",code="AUTH_REQUIRED",image="basic.test/single:1",instance="10.77.9.12:9808",job="regprobe",namespace="regprobe",node="node-nocreds",pod="regprobe-node-nocreds",registry="basic.test"}"#,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut firing = BTreeSet::new();
    while Instant::now() < deadline {
        for a in &mut agents {
            a.assert_running();
        }
        prometheus.assert_running();
        firing = api.alerts("firing");
        if firing == expected {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("alerts firing after {:?}:", started.elapsed());
    for a in &firing {
        eprintln!("  {a}");
    }
    assert_eq!(firing, expected);
    // Held: a few more evaluations change nothing, and nothing else is on
    // its way (pending), least of all for the healthy targets.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(api.alerts("firing"), expected);
    let pending = api.alerts("pending");
    assert!(pending.is_empty(), "pending: {pending:?}");

    // Every agent's OpenMetrics page is ingested, and the shipped
    // relabeling gave its series the node label.
    let up = api.query(r#"up{job="regprobe"}"#);
    let mut seen: Vec<(&str, &str)> = up
        .iter()
        .map(|s| {
            (
                s["metric"]["node"].as_str().unwrap(),
                s["value"][1].as_str().unwrap(),
            )
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            ("node-dns", "1"),
            ("node-nocreds", "1"),
            ("node-ok", "1"),
            ("node-proxy", "1")
        ]
    );
    let scraped = api.query(r#"scrape_samples_scraped{job="regprobe"}"#);
    assert_eq!(scraped.len(), 4);
    for s in &scraped {
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert!(n > 0.0, "{s}");
    }
    assert_eq!(
        api.query(r#"probe_success{node="node-ok",registry="registry.test"}"#)[0]["value"][1],
        "1"
    );

    // Every dashboard query, with the variables at "All" and at real
    // values (two nodes chosen, as Grafana writes a multi-value choice),
    // returns data.
    let d = dashboard();
    for (registry, node) in [(".*", ".*"), ("unavailable.test", "(node-ok|node-dns)")] {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$registry", registry)
                    .replace("$node", node)
                    .replace("$__rate_interval", "10s");
                let result = api.query(&expr);
                assert!(
                    !result.is_empty(),
                    "panel {:?}: no data for {expr}",
                    p["title"]
                );
            }
        }
    }
    eprintln!("done in {:?}", started.elapsed());
}
