//! Test-owned mirror of the JSON report of `CONTRACT.md`, read back with
//! `deny_unknown_fields` (ripgrep's `tests/json.rs`): a field added or renamed
//! by accident fails here, not in a user's script. Plus a runner for the
//! probe inside the test bed.

#![allow(dead_code)]

use serde::Deserialize;
use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema: String,
    pub node: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub status: String,
    pub config_sources: Vec<ConfigSource>,
    /// Required, and `null` unless one cause explains every failing target.
    #[serde(deserialize_with = "Option::deserialize")]
    pub node_finding: Option<NodeFinding>,
    pub runtime: Runtime,
    pub targets: Vec<Target>,
    /// Only in `probe pod --json`.
    #[serde(default)]
    pub pod: Option<Pod>,
}

/// The node's runtime: `name` always, `version` and `source` (the binary
/// it was read from) null when unknown.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// `containerd`, `cri-o`, `docker`, `k3s` or `unknown`.
    pub name: String,
    #[serde(deserialize_with = "Option::deserialize")]
    pub version: Option<String>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub source: Option<String>,
}

/// `probe pod`'s top-level `pod` object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub containers: Vec<PodContainer>,
    pub findings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodContainer {
    pub name: String,
    pub image: String,
    pub kind: String,
    pub kubelet: Kubelet,
    pub code: String,
    pub status: String,
    pub agreement: String,
    pub statement: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubelet {
    pub reason: Option<String>,
    pub message: Option<String>,
    pub explained: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFinding {
    pub category: String,
    pub message: String,
    pub hint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub source: String,
    /// `anonymous`, `basic`, `token`, `identity` or `provider`.
    pub kind: String,
    pub user: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    pub path: String,
    pub line: Option<u64>,
    pub kind: String,
    /// `ok`, `warning` or `error`.
    pub severity: String,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub registry: String,
    pub image: Option<String>,
    pub status: String,
    pub code: String,
    pub category: String,
    pub message: String,
    pub hint: Option<String>,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub url: String,
    pub role: String,
    pub proxy: Option<String>,
    pub credential: Credential,
    pub status: String,
    pub code: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    clippy::struct_field_names,
    reason = "`stage` is the contract's field name"
)]
pub struct Stage {
    pub stage: String,
    pub status: String,
    pub code: String,
    pub duration_ms: u64,
    pub detail: serde_json::Value,
}

impl Target {
    /// The stage of that name on the last endpoint tried.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.endpoints
            .iter()
            .rev()
            .find(|e| !e.stages.is_empty())?
            .stages
            .iter()
            .find(|s| s.stage == name)
    }
}

/// One probe run: exit status, parsed report (with `--json`), raw output, wall time.
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

impl Run {
    pub fn report(&self) -> Report {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "report does not match the contract: {e}\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The only target of a one-target run.
    pub fn target(&self) -> Target {
        let mut r = self.report();
        assert_eq!(r.targets.len(), 1, "{}", self.stdout);
        r.targets.remove(0)
    }
}

/// Run `probe ARGS --root ROOT` in the namespace, feeding `stdin` if given.
pub fn probe(
    mut cmd: std::process::Command,
    root: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Run {
    cmd.args(args)
        .arg("--root")
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn probe");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait probe");
    if std::env::var_os("RPT_SHOW").is_some() {
        // Debugging aid: `RPT_SHOW=1 cargo test --test probe NAME -- --nocapture`.
        eprintln!(
            "probe {args:?}\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
    Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        wall: started.elapsed(),
    }
}

/// `probe plan ARGS --root ROOT`, run here (a plan sends nothing) without
/// the test environment's proxies: its stdout, the exit status being 0.
pub fn plan(root: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("plan")
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One sample of a metrics page.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// Parse a metrics page with Prometheus' own Python client, in its strict
/// `OpenMetrics` mode (`prometheus_client.openmetrics.parser`): a malformed page
/// fails here, as it would fail a scrape.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": float(s.value)})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the metrics page does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
pub fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The lines a child writes to `stream` (its stdout or stderr), each as
/// `f` makes it, as they come; the channel closes with the stream.
pub fn forward_lines<T: Send + 'static>(
    stream: impl std::io::Read + Send + 'static,
    f: fn(String) -> T,
) -> std::sync::mpsc::Receiver<T> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(f(line)).is_err() {
                return;
            }
        }
    });
    rx
}
