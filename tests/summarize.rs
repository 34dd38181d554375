//! End to end: `probe summarize` over real agent logs. Each "node" is one
//! round of the real `probe daemon` in the test bed with its own
//! `NODE_NAME` and node root; its stdout line (the report) and its stderr
//! lines (the agent's own events) are prefixed the way `kubectl logs
//! --prefix` prints a DaemonSet pod's, mixed with the garbage such logs
//! carry, and piped into `probe summarize -`.
//!
//! The cluster: four nodes probe `registry.test` (trusted test CA) and
//! `unknownca.test` (a certificate from a CA no node trusts). Every node
//! fails `unknownca.test` with `TLS_UNTRUSTED` (a cluster-wide verdict);
//! `aks-np1-2` has an empty CA bundle and fails `registry.test` too (a
//! one-node verdict).

mod support;

use serde_json::{Value, json};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use support::World;

const TARGETS: &[&str] = &[
    "--registry",
    "registry.test",
    "--registry",
    "unknownca.test",
];

/// One round of the agent on a node: its report line and its own event
/// lines (stderr), as `kubectl logs` merges them.
fn agent_round(w: &World, root: &Path, node: &str, args: &[&str]) -> (Value, Vec<String>) {
    let out = w
        .command(env!("CARGO_BIN_EXE_probe"))
        .env("NODE_NAME", node)
        .arg("daemon")
        .args(args)
        .args([
            "--max-rounds",
            "1",
            "--interval",
            "1s",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--root")
        .arg(root)
        .output()
        .expect("run probe daemon");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one report line per round:\n{stdout}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| {
        panic!(
            "probe daemon for {node}: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(v["node"], node);
    let events: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        events.iter().any(|e| e.contains("regprobe agent started")),
        "the agent's events: {events:?}"
    );
    (v, events)
}

/// The reports of the cluster, generated once per test binary.
struct Cluster {
    /// `(pod, report)` in the order the logs print them.
    reports: Vec<(String, Value)>,
    /// Each report's agent events (stderr), in the same order.
    events: Vec<Vec<String>>,
    /// `probe plan --json` of one node: JSON of the same schema, but no report.
    plan: Value,
}

fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    let w = support::world()?;
    Some(CLUSTER.get_or_init(|| {
        let no_ca = w.new_root();
        no_ca.write(support::root::CA_BUNDLE, "");
        let mut rounds = Vec::new();
        // An older round of aks-np1-1, when its CA was missing: the newer
        // round (later in the log) must win.
        rounds.push((
            "regprobe-b7x2k".to_owned(),
            agent_round(w, no_ca.path(), "aks-np1-1", TARGETS),
        ));
        for (i, pod) in [
            "regprobe-a1f9c",
            "regprobe-b7x2k",
            "regprobe-c3m8q",
            "regprobe-d5z1w",
        ]
        .iter()
        .enumerate()
        {
            let node = format!("aks-np1-{i}");
            let root = if i == 2 { no_ca.path() } else { w.root() };
            rounds.push(((*pod).to_owned(), agent_round(w, root, &node, TARGETS)));
        }
        let (reports, events) = rounds
            .into_iter()
            .map(|(pod, (report, events))| ((pod, report), events))
            .unzip();
        let plan = w
            .command(env!("CARGO_BIN_EXE_probe"))
            .env("NODE_NAME", "aks-np1-0")
            .args(["plan", "--json", "--registry", "registry.test", "--root"])
            .arg(w.root())
            .output()
            .expect("run probe plan");
        let plan: Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
        Cluster {
            reports,
            events,
            plan,
        }
    }))
}

/// `probe summarize ARGS` with `input` on stdin. No network: it runs
/// outside the test bed's namespace.
fn summarize(input: &str, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("summarize")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run probe summarize");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        // The summary may exit before reading everything only on a bug.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    out
}

/// What `kubectl logs -n regprobe -l app=regprobe --prefix --tail=-1` would
/// print for the cluster, with the noise real logs carry. Returns the text
/// and how many lines of each kind of noise it holds.
fn kubectl_logs(c: &Cluster) -> (String, usize, usize, usize) {
    let mut lines = Vec::new();
    let (mut not_json, mut not_a_report, mut too_long) = (0, 0, 0);
    for (n, (pod, report)) in c.reports.iter().enumerate() {
        let prefix = format!("[pod/{pod}/probe] ");
        // The agent's own events (tracing JSON on stderr, merged by kubectl).
        for e in &c.events[n] {
            lines.push(format!("{prefix}{e}"));
            if serde_json::from_str::<Value>(e).is_ok() {
                not_a_report += 1;
            } else {
                not_json += 1;
            }
        }
        lines.push(format!(
            "{prefix}{}",
            serde_json::to_string(report).unwrap()
        ));
        if n == 1 {
            lines.push(format!("{prefix}panic: half a line of something"));
            lines.push(format!(
                "{prefix}{{\"schema\": \"regprobe.report/v2\", \"node\": \"cut"
            ));
            not_json += 2;
        }
    }
    lines.insert(
        0,
        "Found 4 pods, using pod/regprobe-a1f9c (kubectl warning)".to_owned(),
    );
    lines.push("error: container \"probe\" in pod \"regprobe-zzz\" is waiting to start".to_owned());
    not_json += 2;
    lines.push(format!(
        "[pod/regprobe-a1f9c/probe] {}",
        serde_json::to_string(&c.plan).unwrap()
    ));
    not_a_report += 1;
    lines.push(format!(
        "[pod/regprobe-a1f9c/probe] {{\"pad\": \"{}\"}}",
        "x".repeat(1 << 20)
    ));
    too_long += 1;
    (lines.join("\n") + "\n", not_json, not_a_report, too_long)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_matrix_and_both_kinds_of_verdict_from_real_reports() {
    let Some(c) = cluster() else { return };
    // The reports themselves: what the summary will be judged against.
    let code = |i: usize, t: usize| c.reports[i].1["targets"][t]["code"].as_str().unwrap();
    assert_eq!(code(0, 0), "TLS_UNTRUSTED", "the old round of aks-np1-1");
    assert_eq!(code(2, 0), "OK", "aks-np1-1 now");
    assert_eq!(code(3, 0), "TLS_UNTRUSTED", "aks-np1-2");
    for i in 0..5 {
        assert_eq!(code(i, 1), "TLS_UNTRUSTED");
    }

    let (logs, not_json, not_a_report, too_long) = kubectl_logs(c);
    let out = summarize(&logs, &["-"]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a terminal: no colour.
    assert!(!text.contains('\u{1b}'), "{text}");

    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("4 nodes, 2 targets, reports "),
        "{text}"
    );
    let skipped = not_json + not_a_report + too_long;
    assert_eq!(
        lines[1],
        format!(
            "5 reports read, {skipped} lines skipped: {not_json} not JSON, {not_a_report} JSON but not a report, {too_long} too long"
        )
    );
    let matrix: Vec<Vec<&str>> = lines[3..6]
        .iter()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        matrix,
        [
            vec!["NODE", "registry.test", "unknownca.test"],
            vec!["aks-np1-0 (+2)", "OK", "TLS_UNTRUSTED"],
            vec!["aks-np1-2", "TLS_UNTRUSTED", "TLS_UNTRUSTED"],
        ],
        "{text}"
    );
    // The failing cells by code: one heading, both targets with their nodes and hints.
    let by_code = text
        .split("failing, by code:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no failing section:\n{text}"));
    let by_code_lines: Vec<&str> = by_code.lines().collect();
    assert_eq!(by_code_lines[0], "TLS_UNTRUSTED (config)", "{text}");
    assert!(
        by_code.contains("  registry.test on 1/4 nodes: aks-np1-2\n"),
        "{text}"
    );
    assert!(
        by_code.contains(
            "  unknownca.test on 4/4 nodes: aks-np1-0, aks-np1-1, aks-np1-2, aks-np1-3\n"
        ),
        "{text}"
    );
    assert_eq!(
        by_code_lines
            .iter()
            .filter(|l| l.trim_start().starts_with("hint: "))
            .count(),
        2,
        "{text}"
    );
    // Both kinds of cluster verdict.
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains(
            "all 4/4 nodes fail TLS_UNTRUSTED for unknownca.test: the CA is missing on every node"
        ),
        "{text}"
    );
    assert!(
        joined.contains(
            "some 1/4 nodes (aks-np1-2) fail TLS_UNTRUSTED for registry.test: the CA is missing on that node"
        ),
        "{text}"
    );
    assert!(
        lines.last().is_some_and(
            |l| *l == "cluster: FAIL, 4/4 nodes failing (worst: config, exit status 7)"
        ),
        "{text}"
    );

    // --wide: a row per node.
    let wide = stdout(&summarize(&logs, &["--wide"]));
    for node in ["aks-np1-0", "aks-np1-1", "aks-np1-3"] {
        assert!(
            wide.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words == [node, "OK", "TLS_UNTRUSTED"]
            }),
            "{node}:\n{wide}"
        );
    }
}

#[test]
fn the_json_view_of_real_reports() {
    let Some(c) = cluster() else { return };
    let (logs, not_json, not_a_report, too_long) = kubectl_logs(c);
    let out = summarize(&logs, &["--json", "-"]);
    assert_eq!(out.status.code(), Some(7));
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(v["schema"], "regprobe.summary/v1");
    assert_eq!(v["status"], "fail");
    assert_eq!(v["exit_status"], 7);
    assert_eq!(v["nodes"], 4);
    assert_eq!(v["reports"], 5);
    assert_eq!(v["targets"], json!(["registry.test", "unknownca.test"]));
    let matrix = v["matrix"].as_array().unwrap();
    let rows: Vec<(&str, &str, &Value)> = matrix
        .iter()
        .map(|r| {
            (
                r["node"].as_str().unwrap(),
                r["pod"].as_str().unwrap(),
                &r["cells"],
            )
        })
        .collect();
    let ok = json!({"registry.test": "OK", "unknownca.test": "TLS_UNTRUSTED"});
    let bad = json!({"registry.test": "TLS_UNTRUSTED", "unknownca.test": "TLS_UNTRUSTED"});
    assert_eq!(
        rows,
        [
            ("aks-np1-0", "regprobe-a1f9c", &ok),
            ("aks-np1-1", "regprobe-b7x2k", &ok),
            ("aks-np1-2", "regprobe-c3m8q", &bad),
            ("aks-np1-3", "regprobe-d5z1w", &ok),
        ]
    );
    // The kept round of aks-np1-1 is its newest.
    assert_eq!(matrix[1]["started_at"], c.reports[2].1["started_at"]);
    assert_eq!(
        v["groups"],
        json!([{"nodes": ["aks-np1-0", "aks-np1-1", "aks-np1-3"], "cells": ok},
               {"nodes": ["aks-np1-2"], "cells": bad}])
    );
    let verdicts = v["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    let all = &verdicts[0];
    assert_eq!(
        (
            &all["target"],
            &all["code"],
            &all["category"],
            &all["scope"],
            &all["nodes_failing"],
            &all["nodes_total"]
        ),
        (
            &json!("unknownca.test"),
            &json!("TLS_UNTRUSTED"),
            &json!("config"),
            &json!("all"),
            &json!(4),
            &json!(4)
        )
    );
    // The probe's own words for that target, taken from a failing node's report.
    assert_eq!(
        all["target_message"],
        c.reports[1].1["targets"][1]["message"]
    );
    assert_eq!(all["hint"], c.reports[1].1["targets"][1]["hint"]);
    let some = &verdicts[1];
    assert_eq!(some["target"], "registry.test");
    assert_eq!(some["scope"], "some");
    assert_eq!(some["nodes"], json!(["aks-np1-2"]));
    assert_eq!(
        some["message"],
        "1/4 nodes (aks-np1-2) fail TLS_UNTRUSTED for registry.test: the CA is missing on that node"
    );
    assert_eq!(some["hint"], c.reports[3].1["targets"][0]["hint"]);
    assert_eq!(
        v["skipped_lines"].as_u64(),
        Some((not_json + not_a_report + too_long) as u64)
    );
    assert_eq!(
        v["skipped"],
        json!({"not_json": not_json, "not_a_report": not_a_report, "too_long": too_long})
    );
}

#[test]
fn an_older_report_later_in_the_logs_does_not_win() {
    let Some(c) = cluster() else { return };
    let (mut logs, ..) = kubectl_logs(c);
    // aks-np1-3's pod logs an old round after the new one (e.g. a second
    // pod of the node during a rollout): the failing, older round loses.
    let mut old = c.reports[3].1.clone();
    old["node"] = json!("aks-np1-3");
    old["started_at"] = json!("2000-01-01T00:00:00Z");
    logs.push_str("[pod/regprobe-old/probe] ");
    logs.push_str(&serde_json::to_string(&old).unwrap());
    logs.push('\n');
    let v: Value = serde_json::from_slice(&summarize(&logs, &["--json"]).stdout).unwrap();
    assert_eq!(v["reports"], 6);
    assert_eq!(v["matrix"][3]["node"], "aks-np1-3");
    assert_eq!(v["matrix"][3]["cells"]["registry.test"], "OK");
    assert_eq!(v["matrix"][3]["pod"], "regprobe-d5z1w");
}

#[test]
fn pretty_reports_collected_from_nodes_read_from_a_file() {
    let Some(c) = cluster() else { return };
    // `probe --json > node-N.json` on each node, then `cat node-*.json`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reports.json");
    let text: String = c.reports[1..]
        .iter()
        .map(|(_, r)| serde_json::to_string_pretty(r).unwrap() + "\n")
        .collect();
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("summarize")
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], 4);
    assert_eq!(v["skipped_lines"], 0);
    assert_eq!(v["matrix"][0]["pod"], Value::Null);
}

#[test]
fn input_without_a_report_is_exit_status_2() {
    let out = summarize("garbage\n{\"level\": \"INFO\"}\n", &["-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "probe: no regprobe.report/v2 report in standard input (2 lines skipped: 1 not JSON, 1 JSON but not a report)"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["summarize", "/nonexistent/logs.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/logs.txt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 16, item 4: two healthy nodes and one whose resolver is dead probe
/// a registry that answers 503 and an image that needs credentials (no node
/// has them). The dead-resolver node reached neither: the registry verdict
/// and the credentials verdict count 2/2 nodes (not 2/3, which read as
/// "seen from only some nodes" and "those nodes' credentials differ"), and
/// the third node is named apart with its code and its node finding.
#[test]
fn a_node_with_a_dead_resolver_is_not_counted_against_the_registry() {
    let Some(w) = support::world() else { return };
    let dead = w.new_root();
    dead.nameserver(support::SILENT_DNS_IP);
    let targets = [
        "--registry",
        "unavailable.test",
        "--image",
        "basic.test/single:1",
        "--timeout",
        "2s",
    ];
    let mut lines = Vec::new();
    for (node, root) in [
        ("aks-np2-0", w.root()),
        ("aks-np2-1", w.root()),
        ("aks-np2-2", dead.path()),
    ] {
        let (report, _) = agent_round(w, root, node, &targets);
        lines.push(format!(
            "[pod/regprobe-{node}/probe] {}",
            serde_json::to_string(&report).unwrap()
        ));
    }
    let input = lines.join("\n") + "\n";

    let out = summarize(&input, &["--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let verdict = |code: &str| {
        v["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["code"] == code)
            .unwrap_or_else(|| panic!("no {code} verdict: {v:#}"))
            .clone()
    };
    let apart = json!([{"node": "aks-np2-2", "code": "DNS_TIMEOUT", "node_finding": true}]);
    let registry = verdict("REGISTRY_ERROR");
    assert_eq!(registry["target"], "unavailable.test");
    assert_eq!(
        (
            &registry["nodes_failing"],
            &registry["nodes_total"],
            &registry["scope"]
        ),
        (&json!(2), &json!(2), &json!("all"))
    );
    assert_eq!(registry["stopped_earlier"], apart);
    assert_eq!(
        registry["message"],
        "2/2 nodes fail REGISTRY_ERROR for unavailable.test: registry-side: every node gets the same answer; \
         1 node could not reach it: DNS_TIMEOUT (aks-np2-2), see node findings"
    );
    let creds = verdict("AUTH_REQUIRED");
    assert_eq!(creds["target"], "basic.test/single:1");
    assert_eq!(
        (&creds["nodes_total"], &creds["scope"]),
        (&json!(2), &json!("all"))
    );
    assert_eq!(creds["stopped_earlier"], apart);
    assert!(
        !creds["message"].as_str().unwrap().contains("differ"),
        "{}",
        creds["message"]
    );
    assert_eq!(v["node_findings"][0]["nodes"], json!(["aks-np2-2"]));

    // The text view says the same.
    let text = stdout(&summarize(&input, &[]));
    // Words as the view wraps them, joined again.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("1 node could not reach it: DNS_TIMEOUT (aks-np2-2), see node findings"),
        "{text}"
    );
    assert!(!text.contains("2/3 nodes"), "{text}");
}
