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
    pub targets: Vec<Target>,
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
