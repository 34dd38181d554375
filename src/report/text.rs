//! The human view: a block per target, one line per stage with its timing and
//! key fact, the verdict last. Colour only when the output is a terminal
//! (the caller passes an `anstream` writer, which strips styles otherwise).

use super::Report;
use crate::config::Severity;
use crate::probe::{StageResult, Status};
use crate::verdict::TargetStatus;
use anstyle::{AnsiColor, Style};
use std::io;

const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

fn status_style(s: TargetStatus) -> Style {
    match s {
        TargetStatus::Ok => GREEN,
        TargetStatus::Degraded => YELLOW,
        TargetStatus::Fail => RED,
    }
}

fn stage_line(out: &mut dyn io::Write, s: &StageResult) -> io::Result<()> {
    let (word, style) = match s.status {
        Status::Ok => ("ok", GREEN),
        Status::Fail => (s.code.as_str(), RED),
        Status::Skipped(_) => ("skipped", DIM),
    };
    let ms = if s.status.is_skipped() {
        String::new()
    } else {
        format!("{}ms", s.duration.as_millis())
    };
    writeln!(
        out,
        "    {:<9} {style}{word:<18}{style:#} {ms:>7}  {}",
        s.stage.as_str(),
        s.summary
    )
}

/// `probe pod`: each container, the kubelet's word then the probe's.
fn write_pod(
    report: &Report,
    pod: &crate::pod::PodReport,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    use crate::pod::Agreement;
    writeln!(
        out,
        "{BOLD}pod {}/{}{BOLD:#} on node {} (the probe runs on {})",
        pod.namespace,
        pod.name,
        pod.node.as_deref().unwrap_or("<not scheduled>"),
        report.node
    )?;
    for c in &pod.containers {
        let v = &report.targets[c.target].verdict;
        let style = status_style(v.status);
        writeln!(
            out,
            "  {} {BOLD}{}{BOLD:#}  {}",
            c.container.kind.as_str(),
            c.container.name,
            c.container.image
        )?;
        let said = match (&c.container.kubelet.reason, &c.explained) {
            (None, _) => "no pull error".to_owned(),
            (Some(r), Some(e)) => format!(
                "{r}, which shows {}",
                e.code.map_or("no known pattern", crate::code::Code::as_str)
            ),
            (Some(r), None) => format!("{r} (no message)"),
        };
        writeln!(out, "    kubelet:   {said}")?;
        writeln!(
            out,
            "    probe now: {style}{}{style:#} ({})",
            v.code,
            v.status.as_str()
        )?;
        let word = match c.comparison.agreement {
            Agreement::Agree => GREEN,
            Agreement::Disagree => YELLOW,
            Agreement::Unknown | Agreement::NoPullError => DIM,
        };
        writeln!(
            out,
            "    {word}{}{word:#}: {}",
            c.comparison.agreement.as_str().replace('_', " "),
            c.comparison.statement
        )?;
    }
    for f in &pod.findings {
        writeln!(out, "  {YELLOW}note:{YELLOW:#} {f}")?;
    }
    writeln!(out)
}

/// Render the human view.
pub fn write(report: &Report, out: &mut impl io::Write) -> io::Result<()> {
    write_dyn(report, out)
}

fn write_dyn(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    if let Some(pod) = report.pod() {
        write_pod(report, pod, out)?;
    }
    for t in &report.targets {
        let v = &t.verdict;
        let style = status_style(v.status);
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}  {style}{}{style:#}  {} ({})",
            t.target,
            v.status.as_str().to_uppercase(),
            v.code,
            v.category
        )?;
        for o in &t.outcomes {
            let proxy = o
                .endpoint
                .proxy
                .as_ref()
                .map(|p| format!(" via proxy {}", p.redacted()))
                .unwrap_or_default();
            writeln!(
                out,
                "  {} ({}){proxy}  {DIM}[{}]{DIM:#}",
                o.endpoint.url(),
                o.endpoint.role.as_str(),
                o.endpoint.source
            )?;
            if let Some(why) = &o.skipped {
                writeln!(out, "    {DIM}skipped: {why}{DIM:#}")?;
            }
            for s in &o.stages {
                stage_line(out, s)?;
            }
        }
        for ep in t.target.endpoints.iter().skip(t.outcomes.len()) {
            writeln!(
                out,
                "  {} ({})  {DIM}not tried{DIM:#}",
                ep.url(),
                ep.role.as_str()
            )?;
        }
        writeln!(out, "  {style}=>{style:#} {}", v.message)?;
        if let Some(h) = &v.hint {
            writeln!(out, "  {BOLD}hint:{BOLD:#} {h}")?;
        }
        writeln!(out)?;
    }
    let problems: Vec<_> = report
        .config_sources
        .iter()
        .filter(|s| s.severity() != Severity::Ok)
        .collect();
    if !problems.is_empty() {
        writeln!(
            out,
            "{YELLOW}config findings{YELLOW:#} (the probe went on past them):"
        )?;
        for s in problems {
            writeln!(
                out,
                "  {} {} ({}): {}",
                s.severity().as_str(),
                s.path,
                s.kind,
                s.message().unwrap_or_default()
            )?;
        }
        writeln!(out)?;
    }
    if let Some(f) = &report.node_finding {
        writeln!(
            out,
            "{RED}node finding{RED:#} ({}): {}",
            f.category, f.message
        )?;
        writeln!(out, "  {BOLD}hint:{BOLD:#} {}", f.hint)?;
        writeln!(out)?;
    }
    if let Some(rt) = &report.runtime {
        writeln!(out, "runtime: {}", rt.line())?;
    }
    let style = status_style(report.status);
    writeln!(
        out,
        "node {}: {style}{}{style:#}, {} target(s) in {}ms",
        report.node,
        report.status.as_str(),
        report.targets.len(),
        report.duration.as_millis()
    )
}
