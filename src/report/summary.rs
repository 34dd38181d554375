//! The views of `probe summarize`: the human text (a node x target matrix,
//! the failing cells by code with their hints, the cluster-wide verdicts,
//! the node findings) and the `--json` object documented in
//! [`crate::summary`]. Both read a built [`Summary`] and decide nothing.
//!
//! The text stays readable for hundreds of nodes: identical rows are one
//! row (`aks-np1-0 (+57 nodes)`) unless `--wide`, at most [`MAX_ROWS`] rows
//! are shown without it, node lists stop after a few names, and a matrix
//! wider than [`WIDTH`] columns gets short headers (`T1`, `T2`, with a
//! legend) and is split into column blocks. Colour only reaches a terminal
//! (the caller passes an `anstream` writer, which strips styles otherwise).

use crate::summary::{Row, SUMMARY_SCHEMA, Summary};
use crate::verdict::TargetStatus;
use crate::verdict::cluster::{Cell, ClusterVerdict, Scope, name_list};
use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde::ser::SerializeMap as _;
use std::io;

const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// The widest matrix line before headers shorten and columns split.
pub const WIDTH: usize = 100;

/// Rows shown without `--wide` (groups of identical nodes count as one).
pub const MAX_ROWS: usize = 30;

/// Node names listed before "and N more".
const NAMES: usize = 5;

/// What a node whose report lacks a target shows.
const MISSING: &str = "-";

fn status_style(s: TargetStatus) -> Style {
    match s {
        TargetStatus::Ok => GREEN,
        TargetStatus::Degraded => YELLOW,
        TargetStatus::Fail => RED,
    }
}

fn cell_text(c: Option<&Cell>) -> (&'static str, Style) {
    c.map_or((MISSING, DIM), |c| (c.label(), status_style(c.status)))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Render the human view.
pub fn write_text(s: &Summary, wide: bool, out: &mut dyn io::Write) -> io::Result<()> {
    let range = match s.time_range() {
        Some((a, b)) if a == b => format!(", reports at {a}"),
        Some((a, b)) => format!(", reports from {a} to {b}"),
        None => String::new(),
    };
    writeln!(
        out,
        "{BOLD}{}, {}{BOLD:#}{range}",
        plural(s.rows.len(), "node"),
        plural(s.targets.len(), "target")
    )?;
    writeln!(
        out,
        "{DIM}{} read, {}{DIM:#}",
        plural(s.reports, "report"),
        s.skipped
    )?;
    writeln!(out)?;
    matrix(s, wide, out)?;
    failures(s, out)?;
    verdicts(&s.verdicts, out)?;
    findings(s, out)?;
    let status = s.status();
    let style = status_style(status);
    let nodes_failing = s
        .rows
        .iter()
        .filter(|r| r.status == TargetStatus::Fail)
        .count();
    write!(
        out,
        "cluster: {style}{}{style:#}, {nodes_failing}/{} nodes failing",
        status.as_str().to_uppercase(),
        s.rows.len()
    )?;
    let exit = s.exit_status();
    if exit == 0 {
        writeln!(out)
    } else {
        let worst = s
            .verdicts
            .iter()
            .map(|v| v.category)
            .max_by_key(|c| c.exit_status())
            .map(crate::code::Category::as_str)
            .unwrap_or_default();
        writeln!(out, " (worst: {worst}, exit status {exit})")
    }
}

/// The matrix: a row per group of identical nodes (or per node with
/// `--wide`), a column per target.
fn matrix(s: &Summary, wide: bool, out: &mut dyn io::Write) -> io::Result<()> {
    let all: Vec<(String, &Row)> = if wide {
        s.rows.iter().map(|r| (r.node.clone(), r)).collect()
    } else {
        s.groups
            .iter()
            .map(|g| {
                let first = &s.rows[g.rows[0]];
                let label = match g.rows.len() {
                    1 => first.node.clone(),
                    n => format!("{} (+{})", first.node, n - 1),
                };
                (label, first)
            })
            .collect()
    };
    let shown = if wide {
        all.len()
    } else {
        all.len().min(MAX_ROWS)
    };
    let rows = &all[..shown];
    let label_w = rows
        .iter()
        .map(|(l, _)| l.len())
        .chain([4])
        .max()
        .unwrap_or_default();
    let cell_w: Vec<usize> = (0..s.targets.len())
        .map(|t| {
            rows.iter()
                .map(|(_, r)| cell_text(r.cells[t].as_ref()).0.len())
                .max()
                .unwrap_or(MISSING.len())
        })
        .collect();
    let line_width = |headers: &[String]| -> usize {
        label_w
            + headers
                .iter()
                .zip(&cell_w)
                .map(|(h, w)| 2 + h.len().max(*w))
                .sum::<usize>()
    };
    let short = line_width(&s.targets) > WIDTH;
    let headers: Vec<String> = if short {
        (1..=s.targets.len()).map(|i| format!("T{i}")).collect()
    } else {
        s.targets.clone()
    };
    let widths: Vec<usize> = headers
        .iter()
        .zip(&cell_w)
        .map(|(h, w)| h.len().max(*w))
        .collect();
    for (n, block) in column_blocks(label_w, &widths).into_iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        write!(out, "{BOLD}{:<label_w$}{BOLD:#}", "NODE")?;
        for (i, t) in block.clone().enumerate() {
            let last = i + 1 == block.len();
            let h = &headers[t];
            if last {
                write!(out, "  {BOLD}{h}{BOLD:#}")?;
            } else {
                write!(out, "  {BOLD}{h:<w$}{BOLD:#}", w = widths[t])?;
            }
        }
        writeln!(out)?;
        for (label, row) in rows {
            write!(out, "{label:<label_w$}")?;
            for (i, t) in block.clone().enumerate() {
                let (text, style) = cell_text(row.cells[t].as_ref());
                if i + 1 == block.len() {
                    write!(out, "  {style}{text}{style:#}")?;
                } else {
                    write!(out, "  {style}{text:<w$}{style:#}", w = widths[t])?;
                }
            }
            writeln!(out)?;
        }
    }
    if shown < all.len() {
        let hidden: usize = s.groups[shown..].iter().map(|g| g.rows.len()).sum();
        writeln!(
            out,
            "{DIM}... {} more row{} ({}): --wide or --json shows them all{DIM:#}",
            all.len() - shown,
            if all.len() - shown == 1 { "" } else { "s" },
            plural(hidden, "node")
        )?;
    }
    if !wide && s.groups.iter().any(|g| g.rows.len() > 1) {
        writeln!(
            out,
            "{DIM}(+N): N more nodes with the same results; --wide lists every node{DIM:#}"
        )?;
    }
    if short {
        for (h, t) in headers.iter().zip(&s.targets) {
            writeln!(
                out,
                "  {BOLD}{h:<w$}{BOLD:#}  {t}",
                w = headers.last().map_or(2, String::len)
            )?;
        }
    }
    writeln!(out)
}

/// Split columns into blocks that each fit [`WIDTH`] beside the node column
/// (at least one column per block).
fn column_blocks(label_w: usize, widths: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut used = label_w;
    for (i, w) in widths.iter().enumerate() {
        if i > start && used + 2 + w > WIDTH {
            blocks.push(start..i);
            start = i;
            used = label_w;
        }
        used += 2 + w;
    }
    if start < widths.len() || blocks.is_empty() {
        blocks.push(start..widths.len());
    }
    blocks
}

/// The failing cells by code: one entry per code and target, its nodes,
/// the probe's message and hint.
fn failures(s: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
    if s.verdicts.is_empty() {
        return Ok(());
    }
    writeln!(out, "{BOLD}failing, by code:{BOLD:#}")?;
    let mut by_code: Vec<&ClusterVerdict> = s.verdicts.iter().collect();
    let column = |t: &str| s.targets.iter().position(|x| x == t);
    by_code.sort_by_key(|v| (v.code, column(&v.target)));
    let mut current = None;
    for v in by_code {
        if current != Some(v.code) {
            current = Some(v.code);
            writeln!(out, "{RED}{}{RED:#} ({})", v.code, v.category)?;
        }
        let head = format!(
            "  {} on {}/{} nodes: ",
            v.target,
            v.nodes.len(),
            v.nodes_total
        );
        writeln!(
            out,
            "  {BOLD}{}{BOLD:#}{}{}",
            v.target,
            &head[2 + v.target.len()..],
            wrap(&name_list(&v.nodes, NAMES), head.len(), 6)
        )?;
        if !v.target_message.is_empty() {
            writeln!(out, "    {}", wrap(&v.target_message, 4, 4))?;
        }
        if let Some(h) = &v.hint {
            writeln!(out, "    {BOLD}hint:{BOLD:#} {}", wrap(h, 10, 10))?;
        }
    }
    writeln!(out)
}

fn verdicts(verdicts: &[ClusterVerdict], out: &mut dyn io::Write) -> io::Result<()> {
    if verdicts.is_empty() {
        return Ok(());
    }
    writeln!(out, "{BOLD}cluster verdicts:{BOLD:#}")?;
    for v in verdicts {
        let (word, style) = match v.scope {
            Scope::All => ("all ", RED),
            Scope::Some => ("some", YELLOW),
        };
        writeln!(out, "  {style}{word}{style:#}  {}", wrap(&v.message, 8, 8))?;
    }
    writeln!(out)
}

fn findings(s: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
    if s.findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "{BOLD}node findings:{BOLD:#}")?;
    for g in &s.findings {
        let head = format!(
            "  {} on {}/{} nodes: ",
            g.finding.category,
            g.nodes.len(),
            s.rows.len()
        );
        writeln!(
            out,
            "  {YELLOW}{}{YELLOW:#}{}{}",
            g.finding.category,
            &head[2 + g.finding.category.as_str().len()..],
            wrap(&name_list(&g.nodes, NAMES), head.len(), 6)
        )?;
        writeln!(out, "    {}", wrap(&g.finding.message, 4, 4))?;
        if let Some(h) = &g.finding.hint {
            writeln!(out, "    {BOLD}hint:{BOLD:#} {}", wrap(h, 10, 10))?;
        }
    }
    writeln!(out)
}

/// `text` with its words wrapped at [`WIDTH`]: the first line starts at
/// column `used`, the next ones at `indent`. A word longer than a line
/// stays whole (a URL, a path).
fn wrap(text: &str, used: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut col = used;
    for (i, word) in text.split_whitespace().enumerate() {
        let len = word.chars().count();
        if i > 0 {
            if col + 1 + len > WIDTH {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(word);
        col += len;
    }
    out
}

// ---------------------------------------------------------------------------
// `--json`

/// A row's cells as a JSON object in column order (a target the node did
/// not probe has no key).
struct Cells<'a> {
    targets: &'a [String],
    cells: &'a [Option<Cell>],
}

impl Serialize for Cells<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let present = self.cells.iter().flatten().count();
        let mut map = ser.serialize_map(Some(present))?;
        for (t, c) in self.targets.iter().zip(self.cells) {
            if let Some(c) = c {
                map.serialize_entry(t, c.label())?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    schema: &'static str,
    status: &'static str,
    exit_status: u8,
    nodes: usize,
    reports: usize,
    targets: &'a [String],
    matrix: Vec<JsonRow<'a>>,
    groups: Vec<JsonGroup<'a>>,
    verdicts: Vec<JsonVerdict<'a>>,
    node_findings: Vec<JsonFindingGroup<'a>>,
    skipped_lines: usize,
    skipped: JsonSkipped,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    node: &'a str,
    pod: Option<&'a str>,
    started_at: &'a str,
    status: &'static str,
    cells: Cells<'a>,
    node_finding: Option<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    category: &'static str,
    message: &'a str,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    nodes: Vec<&'a str>,
    cells: Cells<'a>,
}

#[derive(Serialize)]
struct JsonVerdict<'a> {
    target: &'a str,
    code: &'static str,
    category: &'static str,
    nodes_failing: usize,
    nodes_total: usize,
    scope: &'static str,
    nodes: &'a [String],
    stopped_earlier: Vec<JsonStopped<'a>>,
    message: &'a str,
    target_message: &'a str,
    hint: Option<&'a str>,
}

/// A node left out of a verdict: its own fault stopped it earlier.
#[derive(Serialize)]
struct JsonStopped<'a> {
    node: &'a str,
    code: &'static str,
    node_finding: bool,
}

#[derive(Serialize)]
struct JsonFindingGroup<'a> {
    category: &'static str,
    message: &'a str,
    hint: Option<&'a str>,
    nodes: &'a [String],
}

#[derive(Serialize)]
struct JsonSkipped {
    not_json: usize,
    not_a_report: usize,
    too_long: usize,
}

fn cells<'a>(s: &'a Summary, r: &'a Row) -> Cells<'a> {
    Cells {
        targets: &s.targets,
        cells: &r.cells,
    }
}

/// Render `--json`: one pretty object (see [`crate::summary`] for its shape).
pub fn write_json(s: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
    let j = JsonSummary {
        schema: SUMMARY_SCHEMA,
        status: s.status().as_str(),
        exit_status: s.exit_status(),
        nodes: s.rows.len(),
        reports: s.reports,
        targets: &s.targets,
        matrix: s
            .rows
            .iter()
            .map(|r| JsonRow {
                node: &r.node,
                pod: r.pod.as_deref(),
                started_at: &r.started_at,
                status: r.status.as_str(),
                cells: cells(s, r),
                node_finding: r.finding.as_ref().map(|f| JsonFinding {
                    category: f.category.as_str(),
                    message: &f.message,
                    hint: f.hint.as_deref(),
                }),
            })
            .collect(),
        groups: s
            .groups
            .iter()
            .map(|g| JsonGroup {
                nodes: g.rows.iter().map(|&i| s.rows[i].node.as_str()).collect(),
                cells: cells(s, &s.rows[g.rows[0]]),
            })
            .collect(),
        verdicts: s
            .verdicts
            .iter()
            .map(|v| JsonVerdict {
                target: &v.target,
                code: v.code.as_str(),
                category: v.category.as_str(),
                nodes_failing: v.nodes.len(),
                nodes_total: v.nodes_total,
                scope: v.scope.as_str(),
                nodes: &v.nodes,
                stopped_earlier: v
                    .stopped_earlier
                    .iter()
                    .map(|e| JsonStopped {
                        node: &e.node,
                        code: e.code.as_str(),
                        node_finding: e.node_finding,
                    })
                    .collect(),
                message: &v.message,
                target_message: &v.target_message,
                hint: v.hint.as_deref(),
            })
            .collect(),
        node_findings: s
            .findings
            .iter()
            .map(|g| JsonFindingGroup {
                category: g.finding.category.as_str(),
                message: &g.finding.message,
                hint: g.finding.hint.as_deref(),
                nodes: &g.nodes,
            })
            .collect(),
        skipped_lines: s.skipped.total(),
        skipped: JsonSkipped {
            not_json: s.skipped.not_json,
            not_a_report: s.skipped.not_a_report,
            too_long: s.skipped.too_long,
        },
    };
    serde_json::to_writer_pretty(&mut *out, &j)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn line(node: &str, targets: &[(&str, &str)]) -> String {
        let targets: Vec<Value> = targets
            .iter()
            .map(|(t, code)| {
                let status = match *code {
                    "OK" => "ok",
                    "DEGRADED" => "degraded",
                    _ => "fail",
                };
                let category = match *code {
                    "OK" | "DEGRADED" => "ok",
                    "TLS_UNTRUSTED" => "config",
                    _ => "network",
                };
                let code = if status == "fail" { *code } else { "OK" };
                json!({"registry": t, "image": null, "status": status, "code": code,
                       "category": category, "message": format!("{code} here"),
                       "hint": (status == "fail").then_some("do the thing"), "endpoints": []})
            })
            .collect();
        format!(
            "[pod/regprobe-{node}/probe] {}",
            json!({"schema": "regprobe.report/v2", "node": node,
                   "started_at": "2026-11-21T22:33:00Z", "status": "ok",
                   "config_sources": [], "node_finding": null, "targets": targets})
        )
    }

    fn text(s: &Summary, wide: bool) -> String {
        let mut out = Vec::new();
        write_text(s, wide, &mut out).unwrap();
        anstream::adapter::strip_str(&String::from_utf8(out).unwrap()).to_string()
    }

    /// `n` nodes: all fail `a.corp` alike; every 50th fails `b.corp` too.
    fn cluster(n: usize) -> Summary {
        let lines: Vec<String> = (0..n)
            .map(|i| {
                let b = if i % 50 == 7 { "TCP_TIMEOUT" } else { "OK" };
                line(
                    &format!("aks-np1-{i}"),
                    &[("a.corp", "TLS_UNTRUSTED"), ("b.corp", b)],
                )
            })
            .collect();
        Summary::from_text(&format!("garbage\n{}", lines.join("\n")))
    }

    #[test]
    fn the_text_view_has_matrix_failures_and_both_verdicts() {
        let t = text(&cluster(12), false);
        let expected = "\
12 nodes, 2 targets, reports at 2026-11-21T22:33:00Z
12 reports read, 1 line skipped: 1 not JSON

NODE             a.corp         b.corp
aks-np1-0 (+10)  TLS_UNTRUSTED  OK
aks-np1-7        TLS_UNTRUSTED  TCP_TIMEOUT
(+N): N more nodes with the same results; --wide lists every node

failing, by code:
TCP_TIMEOUT (network)
  b.corp on 1/12 nodes: aks-np1-7
    TCP_TIMEOUT here
    hint: do the thing
TLS_UNTRUSTED (config)
  a.corp on 12/12 nodes: aks-np1-0, aks-np1-1, aks-np1-2, aks-np1-3, aks-np1-4 and 7 more
    TLS_UNTRUSTED here
    hint: do the thing

cluster verdicts:
  all   12/12 nodes fail TLS_UNTRUSTED for a.corp: the CA is missing on every node
  some  1/12 nodes (aks-np1-7) fail TCP_TIMEOUT for b.corp: that node's egress (subnet, firewall,
        route, DNS)

cluster: FAIL, 12/12 nodes failing (worst: config, exit status 7)
";
        assert_eq!(t, expected);
    }

    #[test]
    fn colour_marks_ok_and_failing_cells() {
        let mut out = Vec::new();
        write_text(&cluster(2), false, &mut out).unwrap();
        let raw = String::from_utf8(out).unwrap();
        assert!(raw.contains(&format!("{GREEN}OK{GREEN:#}")), "{raw}");
        assert!(raw.contains(&format!("{RED}TLS_UNTRUSTED")), "{raw}");
    }

    #[test]
    fn wide_prints_every_node() {
        let t = text(&cluster(12), true);
        for i in 0..12 {
            assert!(
                t.lines().any(|l| l.starts_with(&format!("aks-np1-{i} "))),
                "aks-np1-{i} missing:\n{t}"
            );
        }
        assert!(!t.contains("(+"));
    }

    #[test]
    fn three_hundred_nodes_stay_short_without_wide() {
        let s = cluster(300);
        let t = text(&s, false);
        assert!(t.lines().count() < 30, "{t}");
        assert!(t.contains("aks-np1-0 (+293)"), "{t}");
        assert!(
            t.contains("300/300 nodes fail TLS_UNTRUSTED for a.corp"),
            "{t}"
        );
        assert!(
            t.contains(
                "6/300 nodes (aks-np1-7, aks-np1-57, aks-np1-107 and 3 more) fail TCP_TIMEOUT"
            ),
            "{t}"
        );
        assert!(t.lines().all(|l| l.len() <= WIDTH), "{t}");
        // --wide: one line per node.
        assert!(text(&s, true).lines().count() > 300);
    }

    #[test]
    fn rows_past_the_limit_are_counted() {
        // Every node different: no grouping helps.
        let lines: Vec<String> = (0..40)
            .map(|i| {
                let targets: Vec<(String, &str)> = (0..6)
                    .map(|b| {
                        let bit = (i >> b) & 1 == 1;
                        (format!("r{b}.corp"), if bit { "TCP_TIMEOUT" } else { "OK" })
                    })
                    .collect();
                let targets: Vec<(&str, &str)> =
                    targets.iter().map(|(t, c)| (t.as_str(), *c)).collect();
                line(&format!("n{i}"), &targets)
            })
            .collect();
        let s = Summary::from_text(&lines.join("\n"));
        assert_eq!(s.groups.len(), 40);
        let t = text(&s, false);
        assert!(
            t.contains("... 10 more rows (10 nodes): --wide or --json shows them all"),
            "{t}"
        );
    }

    #[test]
    fn long_target_names_get_short_headers_and_fit_the_width() {
        let targets: Vec<String> = (0..6)
            .map(|i| format!("myregistry{i}.azurecr.io/team/platform/service-{i}:1.2.3"))
            .collect();
        let row: Vec<(&str, &str)> = targets
            .iter()
            .map(|t| (t.as_str(), "TLS_UNTRUSTED"))
            .collect();
        let s = Summary::from_text(
            &[
                line("aks-nodepool1-12345-vmss000000", &row),
                line("aks-nodepool1-12345-vmss000001", &row),
            ]
            .join("\n"),
        );
        let t = text(&s, false);
        let matrix: Vec<&str> = t
            .lines()
            .skip(3)
            .take_while(|l| !l.starts_with("(+N)"))
            .collect();
        assert!(matrix[0].starts_with("NODE"), "{t}");
        assert!(matrix[0].contains("T1") && t.contains("T6"), "{t}");
        assert!(matrix.iter().all(|l| l.len() <= WIDTH), "{t}");
        // Six 13-wide columns beside a 34-wide node column do not fit in 100: two blocks.
        assert_eq!(
            matrix.iter().filter(|l| l.starts_with("NODE")).count(),
            2,
            "{t}"
        );
        assert!(t.contains(&format!("  T1  {}", targets[0])), "{t}");
        assert!(t.contains(&format!("  T6  {}", targets[5])), "{t}");
    }

    #[test]
    fn missing_cells_show_a_dash() {
        let s = Summary::from_text(
            &[
                line("n1", &[("a.corp", "OK"), ("b.corp", "OK")]),
                line("n2", &[("a.corp", "DEGRADED")]),
            ]
            .join("\n"),
        );
        let t = text(&s, false);
        assert!(t.contains("n2    DEGRADED  -\n"), "{t}");
        assert!(t.ends_with("cluster: DEGRADED, 0/2 nodes failing\n"), "{t}");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut out = Vec::new();
        write_json(&cluster(12), &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["schema"], "regprobe.summary/v1");
        assert_eq!(v["status"], "fail");
        assert_eq!(v["exit_status"], 7);
        assert_eq!(v["nodes"], 12);
        assert_eq!(v["targets"], json!(["a.corp", "b.corp"]));
        assert_eq!(v["matrix"].as_array().unwrap().len(), 12);
        assert_eq!(
            v["matrix"][7],
            json!({"node": "aks-np1-7", "pod": "regprobe-aks-np1-7",
                   "started_at": "2026-11-21T22:33:00Z", "status": "fail",
                   "cells": {"a.corp": "TLS_UNTRUSTED", "b.corp": "TCP_TIMEOUT"},
                   "node_finding": null})
        );
        assert_eq!(v["groups"][0]["nodes"].as_array().unwrap().len(), 11);
        assert_eq!(
            v["groups"][1],
            json!({"nodes": ["aks-np1-7"],
            "cells": {"a.corp": "TLS_UNTRUSTED", "b.corp": "TCP_TIMEOUT"}})
        );
        assert_eq!(
            v["verdicts"][1],
            json!({"target": "b.corp", "code": "TCP_TIMEOUT", "category": "network",
                   "nodes_failing": 1, "nodes_total": 12, "scope": "some",
                   "nodes": ["aks-np1-7"], "stopped_earlier": [],
                   "message": "1/12 nodes (aks-np1-7) fail TCP_TIMEOUT for b.corp: that node's egress (subnet, firewall, route, DNS)",
                   "target_message": "TCP_TIMEOUT here", "hint": "do the thing"})
        );
        assert_eq!(v["verdicts"][0]["scope"], "all");
        assert_eq!(v["node_findings"], json!([]));
        assert_eq!(v["skipped_lines"], 1);
        assert_eq!(
            v["skipped"],
            json!({"not_json": 1, "not_a_report": 0, "too_long": 0})
        );
    }
}
