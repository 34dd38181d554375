//! `probe summarize`: the cluster view. Reads the report lines the DaemonSet
//! agents log (as `kubectl logs -n regprobe -l app=regprobe --prefix
//! --tail=-1` prints them), keeps the newest report per node, and builds a
//! node x target matrix with cluster-wide verdicts: does every node fail a
//! target the same way (the config, the network path, the name or the
//! registry is the same for all), or only some (those nodes differ)?
//!
//! This module is the model: [`Collector`] takes input lines one at a time
//! (bounded: a line over [`MAX_LINE`] bytes is dropped, never buffered), and
//! [`Collector::finish`] builds the [`Summary`]. It parses `&str`s and never
//! opens a file itself; [`read`] pulls lines from any `BufRead`; the
//! command (`app.rs`) picks stdin or a file. Rendering lives in
//! `report::summary`. Nothing here touches the network or a node's files.
//!
//! # Input
//!
//! - `[pod/<pod>/<container>] <text>`: kubectl's `--prefix` (upstream
//!   `staging/src/k8s.io/kubectl/pkg/cmd/logs/logs.go`, `addPrefixIfNeeded`:
//!   `fmt.Sprintf("[pod/%s/%s] ", ref.Name, containerName)`); lines without
//!   a prefix are accepted too (one node's logs, or report files).
//! - A report is one JSON object of schema `regprobe.report/v2` on one line.
//!   Text before the first `{` is ignored, so `kubectl logs --timestamps`
//!   and stern's prefixes work. A pretty-printed object (`probe --json`
//!   output: a line `{`, indented lines, a line `}`) is read as well, per
//!   prefix, so `cat node-*.json | probe summarize` works (not with
//!   `--timestamps`, which stamps every line of it).
//! - Only the report fields the summary needs are read; unknown fields are
//!   ignored (the report may grow). Codes, categories and statuses must be
//!   the contract's, or the object is not a report.
//! - Skipped and counted: lines that are not JSON (the agent's non-JSON
//!   stderr, kubectl's `error: ...` lines, garbage), JSON that is not a
//!   `regprobe.report/v2` report (the agent's `tracing` events, `probe plan
//!   --json`), lines over [`MAX_LINE`] bytes. Blank lines are ignored.
//! - The newest report per node wins: by `started_at` (RFC 3339, UTC `Z`),
//!   ties (and unparsable times, which lose to any parsable one) by input
//!   order, later wins. `node` names the node; an empty one falls back to
//!   the pod name.
//!
//! # The `--json` output (`regprobe.summary/v1`)
//!
//! ```json
//! {
//!   "schema": "regprobe.summary/v1",
//!   "status": "ok | degraded | fail",
//!   "exit_status": 7,
//!   "nodes": 12,
//!   "reports": 37,
//!   "targets": ["registry.corp", "registry.corp/app:1.2"],
//!   "matrix": [{"node": "aks-np1-0", "pod": "regprobe-x7k2p | null",
//!               "started_at": "2026-11-21T22:33:00Z", "status": "fail",
//!               "cells": {"registry.corp": "OK", "registry.corp/app:1.2": "TLS_UNTRUSTED"},
//!               "node_finding": {"category": "network", "message": "...", "hint": "... | null"} | null}],
//!   "groups": [{"nodes": ["aks-np1-0", "aks-np1-1"], "cells": {"registry.corp": "OK"}}],
//!   "verdicts": [{"target": "registry.corp", "code": "TLS_UNTRUSTED", "category": "config",
//!                 "nodes_failing": 12, "nodes_total": 12, "scope": "all | some",
//!                 "nodes": ["aks-np1-0", "..."],
//!                 "stopped_earlier": [{"node": "aks-np1-9", "code": "DNS_TIMEOUT", "node_finding": true}],
//!                 "message": "12/12 nodes fail TLS_UNTRUSTED for registry.corp: the CA is missing on every node",
//!                 "target_message": "what the probe said on those nodes (the most common)",
//!                 "hint": "the most common hint | null"}],
//!   "node_findings": [{"category": "network", "message": "...", "hint": "... | null", "nodes": ["..."]}],
//!   "skipped_lines": 5,
//!   "skipped": {"not_json": 3, "not_a_report": 2, "too_long": 0}
//! }
//! ```
//!
//! - A target (a column) is its `image` when set, else its `registry`.
//!   A cell is `OK`, `DEGRADED` (counts as ok) or the failing code; a node
//!   whose report lacks the target has no key in `cells` (`-` in the text).
//! - `matrix` has every node, sorted by name (numbers in names compare as
//!   numbers: `np1-2` before `np1-10`); `groups` are the rows with identical
//!   cells, largest first; `--wide` only changes the text view.
//! - One verdict per failing target and code. `nodes_total` counts the nodes
//!   whose check reached the question: those whose report has the target,
//!   minus those stopped at an earlier stage by a fault of their own
//!   (`stopped_earlier`, see [`crate::verdict::cluster::reach`]): a node whose resolver is dead says
//!   nothing about a registry's 503 or about credentials. `scope` is `all`
//!   when every counted node fails the target with this code, else `some`.
//!   The message names the nodes stopped earlier apart ("1 node could not
//!   reach it: `DNS_TIMEOUT` (aks-np1-9), see node findings"). `message` is the cluster-wide
//!   sentence; `target_message` and `hint` are the probe's own words from the
//!   failing nodes (the most common, as they can name node-specific paths).
//! - `exit_status` is the command's: 0 when every cell is ok or degraded,
//!   else the worst failing category's as for `probe` (network 3, name 4,
//!   credentials 5, registry 6, config 7). No report at all is an error
//!   (exit status 2) with no JSON.

use crate::code::{Category, Code};
use crate::verdict::TargetStatus;
use crate::verdict::cluster::{self, Cell, ClusterVerdict, Probed};
use serde::{Deserialize, Deserializer};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead};
use std::time::SystemTime;

/// The report schema read.
pub const REPORT_SCHEMA: &str = "regprobe.report/v2";

/// The schema of `probe summarize --json`.
pub const SUMMARY_SCHEMA: &str = "regprobe.summary/v1";

/// The longest line (or pretty-printed object) read: a report with dozens of
/// targets is well under 1 MiB; anything longer is skipped, never buffered.
pub const MAX_LINE: usize = 1 << 20;

/// At most this many bytes of unfinished pretty-printed objects are held at
/// once (over all prefixes); a block that would go past it is dropped.
const MAX_PENDING: usize = 16 * MAX_LINE;

// ---------------------------------------------------------------------------
// What is read from a report line: only what the summary needs.

#[derive(Debug, Deserialize)]
struct InReport {
    schema: String,
    #[serde(default)]
    node: String,
    started_at: String,
    #[serde(default)]
    node_finding: Option<InFinding>,
    targets: Vec<InTarget>,
}

#[derive(Debug, Deserialize)]
struct InFinding {
    #[serde(deserialize_with = "category")]
    category: Category,
    message: String,
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InTarget {
    registry: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(deserialize_with = "status")]
    status: TargetStatus,
    #[serde(deserialize_with = "code")]
    code: Code,
    #[serde(deserialize_with = "category")]
    category: Category,
    #[serde(default)]
    message: String,
    #[serde(default)]
    hint: Option<String>,
}

const CATEGORIES: [Category; 6] = [
    Category::Ok,
    Category::Network,
    Category::Name,
    Category::Credentials,
    Category::Registry,
    Category::Config,
];

const STATUSES: [TargetStatus; 3] = [TargetStatus::Ok, TargetStatus::Degraded, TargetStatus::Fail];

/// One of `all` by its contract spelling, or a deserialization error (the
/// object is then not a report).
fn by_name<'de, D, T: Copy>(
    d: D,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown {what} {s:?}")))
}

fn code<'de, D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
    by_name(d, &Code::ALL, Code::as_str, "code")
}

fn category<'de, D: Deserializer<'de>>(d: D) -> Result<Category, D::Error> {
    by_name(d, &CATEGORIES, Category::as_str, "category")
}

fn status<'de, D: Deserializer<'de>>(d: D) -> Result<TargetStatus, D::Error> {
    by_name(d, &STATUSES, TargetStatus::as_str, "status")
}

// ---------------------------------------------------------------------------
// The model.

/// One node's newest report, as the summary keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    pub node: String,
    /// The pod that logged it (from kubectl's prefix), when known.
    pub pod: Option<String>,
    /// As the report wrote it.
    pub started_at: String,
    pub finding: Option<NodeFinding>,
    /// Target key (image, else registry) and result, in report order.
    pub targets: Vec<(String, Cell)>,
}

/// A report's `node_finding`: one cause across its targets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeFinding {
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
}

/// Input lines that were not reports, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not JSON at all (or a JSON object cut short).
    pub not_json: usize,
    /// JSON, but not a `regprobe.report/v2` report.
    pub not_a_report: usize,
    /// Longer than [`MAX_LINE`].
    pub too_long: usize,
}

impl Skipped {
    #[must_use]
    pub fn total(&self) -> usize {
        self.not_json + self.not_a_report + self.too_long
    }
}

/// A row of the matrix: one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub node: String,
    pub pod: Option<String>,
    pub started_at: String,
    /// The worst cell's status.
    pub status: TargetStatus,
    /// One per [`Summary::targets`]; `None` when the node's report lacks it.
    pub cells: Vec<Option<Cell>>,
    pub finding: Option<NodeFinding>,
}

impl Row {
    /// The row as the matrix shows it (what grouping compares).
    #[must_use]
    pub fn labels(&self) -> Vec<Option<&'static str>> {
        self.cells
            .iter()
            .map(|c| c.as_ref().map(Cell::label))
            .collect()
    }
}

/// Rows with identical cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Indices into [`Summary::rows`], in row order.
    pub rows: Vec<usize>,
}

/// Nodes that share one `node_finding`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingGroup {
    pub finding: NodeFinding,
    pub nodes: Vec<String>,
}

/// The cluster view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Column keys, in order of first appearance over the sorted rows.
    pub targets: Vec<String>,
    /// One per node, sorted by name (numbers compared as numbers).
    pub rows: Vec<Row>,
    /// Identical rows, largest group first.
    pub groups: Vec<Group>,
    /// All-nodes verdicts first, then by number of failing nodes.
    pub verdicts: Vec<ClusterVerdict>,
    pub findings: Vec<FindingGroup>,
    /// Reports read in all (every round of every node).
    pub reports: usize,
    pub skipped: Skipped,
}

impl Summary {
    /// Build the summary from log text (tests, small inputs); [`read`] streams.
    #[must_use]
    pub fn from_text(text: &str) -> Summary {
        let mut c = Collector::default();
        for line in text.lines() {
            c.line(line);
        }
        c.finish()
    }

    /// The worst cell's status over the cluster.
    #[must_use]
    pub fn status(&self) -> TargetStatus {
        self.rows
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(TargetStatus::Ok)
    }

    /// 0 when every cell is ok or degraded, else the worst failing
    /// category's exit status, as `probe` itself would exit.
    #[must_use]
    pub fn exit_status(&self) -> u8 {
        self.rows
            .iter()
            .flat_map(|r| r.cells.iter().flatten())
            .filter(|c| c.fails())
            .map(|c| c.category.exit_status())
            .max()
            .unwrap_or(0)
    }

    /// The earliest and latest `started_at` of the kept reports (as written).
    #[must_use]
    pub fn time_range(&self) -> Option<(&str, &str)> {
        let mut times: Vec<(Option<SystemTime>, &str)> = self
            .rows
            .iter()
            .map(|r| (parse_time(&r.started_at), r.started_at.as_str()))
            .collect();
        times.sort();
        Some((times.first()?.1, times.last()?.1))
    }
}

// ---------------------------------------------------------------------------
// Reading lines.

/// A pretty-printed object being read for one prefix.
#[derive(Debug, Default)]
struct Pending {
    text: String,
    lines: usize,
}

#[derive(Debug)]
struct Kept {
    time: Option<SystemTime>,
    seq: u64,
    report: NodeReport,
}

/// Takes input lines one at a time and keeps the newest report per node.
#[derive(Debug, Default)]
pub struct Collector {
    kept: HashMap<String, Kept>,
    /// Open pretty-printed objects by prefix (`""`: none).
    pending: HashMap<String, Pending>,
    pending_bytes: usize,
    seq: u64,
    reports: usize,
    skipped: Skipped,
}

/// kubectl's `[pod/<pod>/<container>] ` prefix: `(inside brackets, pod, rest)`.
fn split_prefix(line: &str) -> (Option<(&str, &str)>, &str) {
    let Some(inner_and_rest) = line.strip_prefix('[') else {
        return (None, line);
    };
    let Some((inner, rest)) = inner_and_rest.split_once("] ") else {
        return (None, line);
    };
    let mut parts = inner.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(pod), Some(_container), None) if !kind.is_empty() && !pod.is_empty() => {
            (Some((inner, pod)), rest)
        }
        _ => (None, line),
    }
}

/// What one complete JSON text turned out to be.
enum Parsed {
    Report(Box<InReport>),
    NotJson,
    NotAReport,
}

fn parse_object(text: &str) -> Parsed {
    match serde_json::from_str::<InReport>(text) {
        Ok(r) if r.schema == REPORT_SCHEMA => Parsed::Report(Box::new(r)),
        Ok(_) => Parsed::NotAReport,
        Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => Parsed::NotAReport,
        Err(_) => Parsed::NotJson,
    }
}

/// `started_at` as a time; `None` when it is not RFC 3339 in UTC.
fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

impl Collector {
    /// One input line (without its line ending).
    pub fn line(&mut self, raw: &str) {
        if raw.len() > MAX_LINE {
            self.too_long();
            return;
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (prefix, text) = split_prefix(raw);
        let key = prefix.map_or("", |(inner, _)| inner);
        let pod = prefix.map(|(_, pod)| pod);
        if self.pending.contains_key(key) {
            if text.starts_with([' ', '\t']) {
                self.extend_pending(key, text);
                return;
            }
            if text.trim_end() == "}" {
                let mut p = self.take_pending(key);
                p.text.push('}');
                p.lines += 1;
                match parse_object(&p.text) {
                    Parsed::Report(r) => self.keep(*r, pod),
                    Parsed::NotAReport => self.skipped.not_a_report += p.lines,
                    Parsed::NotJson => self.skipped.not_json += p.lines,
                }
                return;
            }
            // Anything else ends the block unfinished; the line stands on its own.
            let p = self.take_pending(key);
            self.skipped.not_json += p.lines;
        }
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if text == "{" {
            self.open_pending(key);
            return;
        }
        let Some(start) = text.find('{') else {
            self.skipped.not_json += 1;
            return;
        };
        match parse_object(&text[start..]) {
            Parsed::Report(r) => self.keep(*r, pod),
            Parsed::NotAReport => self.skipped.not_a_report += 1,
            Parsed::NotJson => self.skipped.not_json += 1,
        }
    }

    /// A line longer than [`MAX_LINE`] that the reader dropped unread.
    pub fn too_long(&mut self) {
        self.skipped.too_long += 1;
    }

    fn open_pending(&mut self, key: &str) {
        if self.pending_bytes + 1 > MAX_PENDING {
            self.skipped.too_long += 1;
            return;
        }
        self.pending_bytes += 1;
        self.pending.insert(
            key.to_owned(),
            Pending {
                text: "{".to_owned(),
                lines: 1,
            },
        );
    }

    fn extend_pending(&mut self, key: &str, text: &str) {
        let Some(p) = self.pending.get_mut(key) else {
            return;
        };
        if p.text.len() + text.len() > MAX_LINE || self.pending_bytes + text.len() > MAX_PENDING {
            let p = self.take_pending(key);
            self.skipped.too_long += p.lines + 1;
            return;
        }
        p.text.push_str(text);
        p.lines += 1;
        self.pending_bytes += text.len();
    }

    fn take_pending(&mut self, key: &str) -> Pending {
        let p = self.pending.remove(key).unwrap_or_default();
        self.pending_bytes -= p.text.len();
        p
    }

    fn keep(&mut self, r: InReport, pod: Option<&str>) {
        self.reports += 1;
        self.seq += 1;
        let node = if r.node.trim().is_empty() {
            pod.unwrap_or("(unknown)").to_owned()
        } else {
            r.node.trim().to_owned()
        };
        let time = parse_time(&r.started_at);
        if let Some(k) = self.kept.get(&node) {
            // Later input wins a tie: the same round logged twice, or a
            // clock that did not move.
            if (k.time, k.seq) > (time, self.seq) {
                return;
            }
        }
        let report = NodeReport {
            node: node.clone(),
            pod: pod.map(str::to_owned),
            started_at: r.started_at,
            finding: r.node_finding.map(|f| NodeFinding {
                category: f.category,
                message: f.message,
                hint: f.hint,
            }),
            targets: r
                .targets
                .into_iter()
                .map(|t| {
                    (
                        t.image.filter(|i| !i.is_empty()).unwrap_or(t.registry),
                        Cell {
                            status: t.status,
                            code: t.code,
                            category: t.category,
                            message: t.message,
                            hint: t.hint,
                        },
                    )
                })
                .collect(),
        };
        self.kept.insert(
            node,
            Kept {
                time,
                seq: self.seq,
                report,
            },
        );
    }

    /// Build the summary from the newest report of each node.
    #[must_use]
    pub fn finish(mut self) -> Summary {
        // A pretty-printed object never closed is as unread as garbage.
        self.skipped.not_json += self.pending.values().map(|p| p.lines).sum::<usize>();
        let mut reports: Vec<NodeReport> = self.kept.into_values().map(|k| k.report).collect();
        reports.sort_by(|a, b| natural_cmp(&a.node, &b.node));
        build(reports, self.reports, self.skipped)
    }
}

/// Read lines from `input` into a [`Collector`], at most [`MAX_LINE`] bytes
/// each: the rest of a longer line is read past, never buffered. Lines that
/// are not UTF-8 are read lossily (and are then not reports).
pub fn read(mut input: impl BufRead) -> io::Result<Collector> {
    let mut c = Collector::default();
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if overlong {
                c.too_long();
            } else if !line.is_empty() {
                c.line(&String::from_utf8_lossy(&line));
            }
            return Ok(c);
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        if !overlong {
            if line.len() + part.len() > MAX_LINE {
                overlong = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(part);
            }
        }
        let used = part.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            if overlong {
                c.too_long();
            } else {
                c.line(&String::from_utf8_lossy(&line));
            }
            line.clear();
            overlong = false;
        }
    }
}

// ---------------------------------------------------------------------------
// Building the matrix and the verdicts.

/// Compare names with digit runs as numbers (`np1-2` < `np1-10`).
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = trim_zeros(&a[..da]);
                let nb = trim_zeros(&b[..db]);
                let ord = na
                    .len()
                    .cmp(&nb.len())
                    .then_with(|| na.cmp(nb))
                    .then_with(|| da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

fn build(reports: Vec<NodeReport>, reports_read: usize, skipped: Skipped) -> Summary {
    let mut targets: Vec<String> = Vec::new();
    for r in &reports {
        for (key, _) in &r.targets {
            if !targets.contains(key) {
                targets.push(key.clone());
            }
        }
    }
    let rows: Vec<Row> = reports
        .into_iter()
        .map(|r| {
            let mut cells: Vec<Option<Cell>> = vec![None; targets.len()];
            for (key, cell) in r.targets {
                let i = targets.iter().position(|t| *t == key).unwrap_or_default();
                // A target listed twice in one report shows its worse result.
                if cells[i].as_ref().is_none_or(|c| cell.status > c.status) {
                    cells[i] = Some(cell);
                }
            }
            Row {
                status: cells
                    .iter()
                    .flatten()
                    .map(|c| c.status)
                    .max()
                    .unwrap_or(TargetStatus::Ok),
                node: r.node,
                pod: r.pod,
                started_at: r.started_at,
                cells,
                finding: r.finding,
            }
        })
        .collect();
    let groups = groups(&rows);
    let verdicts = verdicts(&targets, &rows);
    let mut findings: Vec<FindingGroup> = Vec::new();
    let mut finding_index: HashMap<&NodeFinding, usize> = HashMap::new();
    for row in &rows {
        let Some(f) = &row.finding else { continue };
        if let Some(&i) = finding_index.get(f) {
            findings[i].nodes.push(row.node.clone());
        } else {
            finding_index.insert(f, findings.len());
            findings.push(FindingGroup {
                finding: f.clone(),
                nodes: vec![row.node.clone()],
            });
        }
    }
    Summary {
        targets,
        rows,
        groups,
        verdicts,
        findings,
        reports: reports_read,
        skipped,
    }
}

fn groups(rows: &[Row]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<Option<&str>>, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let labels = row.labels();
        if let Some(&g) = index.get(&labels) {
            groups[g].rows.push(i);
        } else {
            index.insert(labels, groups.len());
            groups.push(Group { rows: vec![i] });
        }
    }
    groups.sort_by(|a, b| {
        b.rows
            .len()
            .cmp(&a.rows.len())
            .then(a.rows[0].cmp(&b.rows[0]))
    });
    groups
}

/// The cluster verdicts: each target's cells, judged across the nodes.
fn verdicts(targets: &[String], rows: &[Row]) -> Vec<ClusterVerdict> {
    let mut out = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        let probed: Vec<Probed> = rows
            .iter()
            .filter_map(|r| {
                r.cells[t].as_ref().map(|cell| Probed {
                    node: &r.node,
                    node_finding: r.finding.is_some(),
                    cell,
                })
            })
            .collect();
        out.extend(cluster::verdicts(target, &probed));
    }
    // Stable: within equal keys, column order then code order.
    out.sort_by(|a, b| {
        a.scope
            .cmp(&b.scope)
            .then(b.nodes.len().cmp(&a.nodes.len()))
    });
    out
}

// ---------------------------------------------------------------------------
// The command.

/// Why `probe summarize` could not summarize (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot read {what}: {source}")]
    Read { what: String, source: io::Error },
    #[error(
        "standard input is a terminal: pipe `kubectl logs -n regprobe -l app=regprobe --prefix --tail=-1` into `probe summarize`, or name a FILE"
    )]
    Terminal,
    #[error("no regprobe.report/v2 report in {what} ({})", if .skipped.total() == 0 { "it is empty".to_owned() } else { .skipped.to_string() })]
    NoReport { what: String, skipped: Skipped },
    #[error("cannot write the summary: {0}")]
    Output(io::Error),
}

/// "5 lines skipped: 3 not JSON, 2 JSON but not a report".
impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return f.write_str("no line skipped");
        }
        let mut parts = Vec::new();
        for (n, what) in [
            (self.not_json, "not JSON"),
            (self.not_a_report, "JSON but not a report"),
            (self.too_long, "too long"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        write!(
            f,
            "{} line{} skipped: {}",
            self.total(),
            if self.total() == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::cluster::*;
    use serde_json::json;

    /// One report line as the agent logs it.
    fn report(node: &str, at: &str, targets: &[(&str, &str)]) -> String {
        let targets: Vec<_> = targets
            .iter()
            .map(|(target, code)| {
                let (registry, image) = match target.split_once('/') {
                    Some((host, _)) => (host.to_owned(), Some((*target).to_owned())),
                    None => ((*target).to_owned(), None),
                };
                let (status, code, category) = match *code {
                    "OK" => ("ok", "OK".to_owned(), "ok"),
                    "DEGRADED" => ("degraded", "OK".to_owned(), "ok"),
                    c => {
                        let code = Code::ALL.iter().find(|k| k.as_str() == c).unwrap();
                        ("fail", c.to_owned(), code.category().as_str())
                    }
                };
                json!({"registry": registry, "image": image, "status": status, "code": code,
                       "category": category, "message": format!("{code} on {node}"),
                       "hint": (status == "fail").then(|| format!("fix {code}")),
                       "endpoints": [{"url": "https://x/v2/", "stages": []}]})
            })
            .collect();
        json!({"schema": REPORT_SCHEMA, "node": node, "started_at": at, "duration_ms": 5,
               "status": "ok", "config_sources": [], "node_finding": null, "targets": targets})
        .to_string()
    }

    fn prefixed(pod: &str, line: &str) -> String {
        format!("[pod/{pod}/probe] {line}")
    }

    const T0: &str = "2026-11-21T22:33:00Z";
    const T1: &str = "2026-11-21T22:34:00Z";

    #[test]
    fn prefix_is_split_like_kubectl_writes_it() {
        assert_eq!(
            split_prefix("[pod/regprobe-abc12/probe] {\"a\":1}"),
            (
                Some(("pod/regprobe-abc12/probe", "regprobe-abc12")),
                "{\"a\":1}"
            )
        );
        assert_eq!(split_prefix("{\"a\":1}"), (None, "{\"a\":1}"));
        // Not kubectl's shape: left alone.
        assert_eq!(split_prefix("[INFO] started"), (None, "[INFO] started"));
        assert_eq!(split_prefix("[pod/x] y"), (None, "[pod/x] y"));
    }

    #[test]
    fn garbage_is_skipped_and_counted_by_reason() {
        let text = [
            prefixed("regprobe-a", &report("node-a", T0, &[("reg.corp", "OK")])),
            "W1121 22:33:01 warning from kubectl".to_owned(),
            "error: container probe is terminated".to_owned(),
            prefixed("regprobe-a", r#"{"level":"INFO","message":"round done"}"#),
            prefixed(
                "regprobe-a",
                r#"{"schema":"regprobe.report/v1","node":"x"}"#,
            ),
            // A v2 report with a code the contract does not have is not a report.
            prefixed(
                "regprobe-a",
                &report("node-z", T0, &[("reg.corp", "OK")]).replace("\"OK\"", "\"NOPE\""),
            ),
            prefixed(
                "regprobe-a",
                r#"{"schema": "regprobe.report/v2", "node": "cut"#,
            ),
            String::new(),
            "   ".to_owned(),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].node, "node-a");
        assert_eq!(s.rows[0].pod.as_deref(), Some("regprobe-a"));
        assert_eq!(
            s.skipped,
            Skipped {
                not_json: 3,
                not_a_report: 3,
                too_long: 0
            }
        );
        assert_eq!(s.skipped.total(), 6);
        assert_eq!(s.reports, 1);
    }

    #[test]
    fn unknown_fields_are_ignored_and_lines_without_prefix_read() {
        let mut v: serde_json::Value =
            serde_json::from_str(&report("n1", T0, &[("reg.corp", "TCP_TIMEOUT")])).unwrap();
        v["future_field"] = json!({"x": [1, 2]});
        v["targets"][0]["future"] = json!(true);
        let s = Summary::from_text(&v.to_string());
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].cells[0].as_ref().unwrap().code, Code::TcpTimeout);
        assert_eq!(s.rows[0].pod, None);
    }

    #[test]
    fn timestamps_and_other_prefixes_before_the_object_are_ignored() {
        let line = format!(
            "[pod/p/probe] 2026-11-21T22:33:00.123456789Z {}",
            report("n1", T0, &[("reg.corp", "OK")])
        );
        let s = Summary::from_text(&line);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.skipped.total(), 0);
    }

    #[test]
    fn newest_report_per_node_wins_ties_by_input_order() {
        let text = [
            report("n1", T1, &[("reg.corp", "OK")]),
            // Older, later in the input (another pod's logs): loses.
            report("n1", T0, &[("reg.corp", "TCP_TIMEOUT")]),
            report("n2", T0, &[("reg.corp", "TCP_TIMEOUT")]),
            // Same time, later in the input: wins.
            report("n2", T0, &[("reg.corp", "DNS_TIMEOUT")]),
            report("n3", "not a time", &[("reg.corp", "TCP_REFUSED")]),
            report("n3", T0, &[("reg.corp", "OK")]),
            // An unparsable time loses to any real one.
            report("n3", "later?", &[("reg.corp", "TCP_REFUSED")]),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        assert_eq!(s.reports, 7);
        let cells: Vec<(&str, &str, &str)> = s
            .rows
            .iter()
            .map(|r| {
                (
                    r.node.as_str(),
                    r.started_at.as_str(),
                    r.cells[0].as_ref().unwrap().label(),
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("n1", T1, "OK"),
                ("n2", T0, "DNS_TIMEOUT"),
                ("n3", T0, "OK")
            ]
        );
    }

    #[test]
    fn empty_node_name_falls_back_to_the_pod() {
        let s = Summary::from_text(&prefixed("regprobe-q", &report("", T0, &[("r", "OK")])));
        assert_eq!(s.rows[0].node, "regprobe-q");
    }

    #[test]
    fn pretty_printed_reports_are_read_per_prefix() {
        let pretty = |node: &str, code: &str| {
            let v: serde_json::Value =
                serde_json::from_str(&report(node, T0, &[("reg.corp", code)])).unwrap();
            serde_json::to_string_pretty(&v).unwrap()
        };
        // Two files concatenated, and one pod's pretty output interleaved with another's.
        let mut text = format!("{}\n{}\n", pretty("n1", "OK"), pretty("n2", "TCP_TIMEOUT"));
        let a: Vec<String> = pretty("n3", "OK")
            .lines()
            .map(|l| prefixed("pa", l))
            .collect();
        let b: Vec<String> = pretty("n4", "OK")
            .lines()
            .map(|l| prefixed("pb", l))
            .collect();
        for (x, y) in a.iter().zip(&b) {
            text.push_str(x);
            text.push('\n');
            text.push_str(y);
            text.push('\n');
        }
        for extra in &a[b.len()..] {
            text.push_str(extra);
            text.push('\n');
        }
        for extra in &b[a.len().min(b.len())..] {
            text.push_str(extra);
            text.push('\n');
        }
        // A block cut off by garbage: its lines are skipped, the garbage too.
        text.push_str("{\n  \"schema\": \"regprobe.report/v2\",\ngarbage\n");
        let s = Summary::from_text(&text);
        let nodes: Vec<&str> = s.rows.iter().map(|r| r.node.as_str()).collect();
        assert_eq!(nodes, ["n1", "n2", "n3", "n4"]);
        assert_eq!(s.skipped.not_json, 3);
        assert_eq!(s.rows[3].pod.as_deref(), Some("pb"));
    }

    #[test]
    fn lines_over_the_limit_are_skipped_by_the_reader() {
        let long = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_LINE + 10));
        let input = format!(
            "{}\n{long}\n{}",
            report("n1", T0, &[("r", "OK")]),
            report("n2", T0, &[("r", "OK")]) // no final newline
        );
        let c = read(io::Cursor::new(input.into_bytes())).unwrap();
        let s = c.finish();
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.skipped.too_long, 1);
        assert_eq!(s.skipped.total(), 1);
        // The same through the &str path.
        assert_eq!(Summary::from_text(&long).skipped.too_long, 1);
        // Not UTF-8: read lossily, then not a report.
        let c = read(io::Cursor::new(b"\xff\xfe garbage\n".to_vec())).unwrap();
        assert_eq!(c.finish().skipped.not_json, 1);
    }

    #[test]
    fn rows_sort_naturally_and_identical_rows_group() {
        let mut lines = Vec::new();
        for i in [10, 2, 1, 0, 3] {
            let code = if i == 3 { "TCP_TIMEOUT" } else { "OK" };
            lines.push(report(
                &format!("aks-np1-{i}"),
                T0,
                &[("reg.corp", code), ("reg.corp/app:1", "OK")],
            ));
        }
        let s = Summary::from_text(&lines.join("\n"));
        let nodes: Vec<&str> = s.rows.iter().map(|r| r.node.as_str()).collect();
        assert_eq!(
            nodes,
            [
                "aks-np1-0",
                "aks-np1-1",
                "aks-np1-2",
                "aks-np1-3",
                "aks-np1-10"
            ]
        );
        assert_eq!(s.targets, ["reg.corp", "reg.corp/app:1"]);
        assert_eq!(
            s.groups,
            [
                Group {
                    rows: vec![0, 1, 2, 4]
                },
                Group { rows: vec![3] }
            ]
        );
        assert_eq!(natural_cmp("n007", "n7"), Ordering::Greater);
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }

    #[test]
    fn all_nodes_failing_alike_is_a_cluster_verdict_and_a_subset_names_its_nodes() {
        let mut lines = Vec::new();
        for i in 0..12 {
            let other = if i == 3 { "TCP_TIMEOUT" } else { "OK" };
            lines.push(report(
                &format!("aks-np1-{i}"),
                T0,
                &[("registry.corp", "TLS_UNTRUSTED"), ("other.corp", other)],
            ));
        }
        let s = Summary::from_text(&lines.join("\n"));
        assert_eq!(s.verdicts.len(), 2);
        let all = &s.verdicts[0];
        assert_eq!(
            (all.target.as_str(), all.code, all.scope),
            ("registry.corp", Code::TlsUntrusted, Scope::All)
        );
        assert_eq!((all.nodes.len(), all.nodes_total), (12, 12));
        assert_eq!(
            all.message,
            "12/12 nodes fail TLS_UNTRUSTED for registry.corp: the CA is missing on every node"
        );
        assert_eq!(all.hint.as_deref(), Some("fix TLS_UNTRUSTED"));
        let some = &s.verdicts[1];
        assert_eq!(some.scope, Scope::Some);
        assert_eq!(some.nodes, ["aks-np1-3"]);
        assert_eq!(
            some.message,
            "1/12 nodes (aks-np1-3) fail TCP_TIMEOUT for other.corp: that node's egress (subnet, firewall, route, DNS)"
        );
        assert_eq!(some.target_message, "TCP_TIMEOUT on aks-np1-3");
        // Config (7) is worse than network (3).
        assert_eq!(s.exit_status(), 7);
        assert_eq!(s.status(), TargetStatus::Fail);
    }

    #[test]
    fn a_subset_names_a_few_nodes_then_counts() {
        let mut lines = Vec::new();
        for i in 0..10 {
            let code = if i < 6 { "RATE_LIMITED" } else { "OK" };
            lines.push(report(&format!("n{i}"), T0, &[("reg.corp", code)]));
        }
        let s = Summary::from_text(&lines.join("\n"));
        assert_eq!(
            s.verdicts[0].message,
            "6/10 nodes (n0, n1, n2 and 3 more) fail RATE_LIMITED for reg.corp: registry-side, seen from only some nodes (throttling or a flaky backend)"
        );
        assert_eq!(s.exit_status(), 6);
    }

    #[test]
    fn degraded_and_ok_exit_zero_and_missing_cells_are_not_failures() {
        let text = [
            report("n1", T0, &[("a.corp", "DEGRADED"), ("b.corp", "OK")]),
            report("n2", T0, &[("a.corp", "OK")]),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        assert_eq!(s.exit_status(), 0);
        assert_eq!(s.status(), TargetStatus::Degraded);
        assert!(s.verdicts.is_empty());
        assert_eq!(s.rows[1].cells[1], None);
        assert_eq!(s.rows[0].labels(), [Some("DEGRADED"), Some("OK")]);
    }

    #[test]
    fn verdict_total_counts_only_nodes_that_probe_the_target() {
        let text = [
            report("n1", T0, &[("a.corp", "OK"), ("only.corp", "DNS_NXDOMAIN")]),
            report("n2", T0, &[("a.corp", "OK")]),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        let v = &s.verdicts[0];
        assert_eq!((v.nodes.len(), v.nodes_total, v.scope), (1, 1, Scope::All));
        assert_eq!(s.exit_status(), 4);
    }

    /// Issue 16: two healthy nodes and one with a dead resolver probe a
    /// registry that answers 503 and an image that needs credentials. The
    /// third node never reached either: the verdicts are 2/2, not 2/3, and
    /// name it apart.
    #[test]
    fn verdicts_count_only_the_nodes_that_reached_the_question() {
        let dead = {
            let mut v: serde_json::Value = serde_json::from_str(&report(
                "n3",
                T0,
                &[
                    ("broken.test", "DNS_TIMEOUT"),
                    ("basic.test/app:1", "DNS_TIMEOUT"),
                ],
            ))
            .unwrap();
            v["node_finding"] = json!({"category": "network", "message": "this node reaches no registry", "hint": null});
            v.to_string()
        };
        let healthy = |node| {
            report(
                node,
                T0,
                &[
                    ("broken.test", "REGISTRY_ERROR"),
                    ("basic.test/app:1", "AUTH_REQUIRED"),
                ],
            )
        };
        let s = Summary::from_text(&[healthy("n1"), healthy("n2"), dead].join("\n"));
        let v = |code: Code| s.verdicts.iter().find(|v| v.code == code).unwrap();

        let registry = v(Code::RegistryError);
        assert_eq!(
            (registry.nodes.len(), registry.nodes_total, registry.scope),
            (2, 2, Scope::All)
        );
        assert_eq!(
            registry.message,
            "2/2 nodes fail REGISTRY_ERROR for broken.test: registry-side: every node gets the same answer; \
             1 node could not reach it: DNS_TIMEOUT (n3), see node findings"
        );
        assert_eq!(
            registry.stopped_earlier,
            [StoppedEarlier {
                node: "n3".into(),
                code: Code::DnsTimeout,
                node_finding: true
            }]
        );
        let creds = v(Code::AuthRequired);
        assert_eq!((creds.nodes_total, creds.scope), (2, Scope::All));
        assert!(
            creds
                .message
                .starts_with("2/2 nodes fail AUTH_REQUIRED for basic.test/app:1: the credentials are the same (missing or wrong) on every node; 1 node could not reach it"),
            "{}",
            creds.message
        );
        // The DNS verdict itself counts every node: n3 reached DNS.
        let dns = s
            .verdicts
            .iter()
            .find(|v| v.code == Code::DnsTimeout && v.target == "broken.test")
            .unwrap();
        assert_eq!((dns.nodes_total, dns.scope), (3, Scope::Some));
        assert!(dns.stopped_earlier.is_empty());
    }

    /// A node stopped at its own CA (no node finding) is apart too; one that
    /// got a registry-side failure earlier (an expired certificate: the
    /// registry's) still counts against the registry, and a node that got
    /// further (OK) counts as reached.
    #[test]
    fn a_registry_side_failure_earlier_still_counts() {
        let text = [
            report("n1", T0, &[("r.test", "REGISTRY_ERROR")]),
            report("n2", T0, &[("r.test", "TLS_UNTRUSTED")]),
            report("n3", T0, &[("r.test", "TLS_EXPIRED")]),
            report("n4", T0, &[("r.test", "OK")]),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        let v = s
            .verdicts
            .iter()
            .find(|v| v.code == Code::RegistryError)
            .unwrap();
        assert_eq!((v.nodes.len(), v.nodes_total, v.scope), (1, 3, Scope::Some));
        assert!(
            v.message
                .ends_with("; 1 node could not reach it: TLS_UNTRUSTED (n2)"),
            "{}",
            v.message
        );
    }

    #[test]
    fn node_findings_are_grouped() {
        let finding = |node: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(&report(node, T0, &[("a.corp", "TCP_TIMEOUT")])).unwrap();
            v["node_finding"] = json!({"category": "network", "message": "this node reaches no registry", "hint": null});
            v.to_string()
        };
        let text = [
            finding("n1"),
            report("n2", T0, &[("a.corp", "OK")]),
            finding("n3"),
        ]
        .join("\n");
        let s = Summary::from_text(&text);
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].nodes, ["n1", "n3"]);
        assert_eq!(s.findings[0].finding.category, Category::Network);
        assert_eq!(s.rows[1].finding, None);
    }

    #[test]
    fn no_report_at_all_is_an_empty_summary() {
        let s = Summary::from_text("garbage\n{\"a\": 1}\n");
        assert!(s.rows.is_empty());
        assert_eq!(s.skipped.total(), 2);
        assert_eq!(
            s.skipped.to_string(),
            "2 lines skipped: 1 not JSON, 1 JSON but not a report"
        );
    }
}
