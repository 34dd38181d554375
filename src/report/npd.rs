//! `probe npd`: one round as node-problem-detector's custom plugin monitor
//! reads it (`pkg/custompluginmonitor/plugin/plugin.go`): exit 0 OK, 1 a
//! problem, 2 unknown, and one line on stdout that NPD copies into the node
//! condition's message, at most [`MAX_LINE`] characters (NPD truncates at
//! `max_output_length`; we never make it cut a word).

use super::Report;
use crate::verdict::TargetStatus;
use std::io;

/// NPD's `max_output_length` in the shipped config.
pub const MAX_LINE: usize = 80;
/// NPD's status codes (`pkg/custompluginmonitor/types/types.go`: `OK`, `NonOK`, `Unknown`).
pub const OK: u8 = 0;
pub const NON_OK: u8 = 1;
pub const UNKNOWN: u8 = 2;

/// Cut `s` to at most [`MAX_LINE`] characters, marking the cut.
#[must_use]
pub fn fit(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.chars().count() <= MAX_LINE {
        return s;
    }
    let mut out: String = s.chars().take(MAX_LINE - 3).collect();
    out.push_str("...");
    out
}

/// The line and the status for a round's report.
#[must_use]
pub fn line(report: &Report) -> (String, u8) {
    let failing: Vec<_> = report
        .targets
        .iter()
        .filter(|t| t.verdict.status == TargetStatus::Fail)
        .collect();
    let Some(first) = failing.first() else {
        let degraded = report
            .targets
            .iter()
            .filter(|t| t.verdict.status == TargetStatus::Degraded)
            .count();
        let n = report.targets.len();
        let note = if degraded > 0 {
            format!(" ({degraded} through a later endpoint)")
        } else {
            String::new()
        };
        return (
            fit(&format!("ok: {n} registry target(s) reachable{note}")),
            OK,
        );
    };
    let more = if failing.len() > 1 {
        format!(" +{} more", failing.len() - 1)
    } else {
        String::new()
    };
    let text = format!(
        "{}: {} ({}){more}",
        first.target, first.verdict.code, first.verdict.category
    );
    // Keep the code and the count whole: shorten the target name instead.
    if text.chars().count() > MAX_LINE {
        let tail = format!(
            ": {} ({}){more}",
            first.verdict.code, first.verdict.category
        );
        let room = MAX_LINE.saturating_sub(tail.chars().count() + 3);
        let name: String = first.target.to_string().chars().take(room).collect();
        return (format!("{name}...{tail}"), NON_OK);
    }
    (text, NON_OK)
}

/// Write the line of a round.
pub fn write(report: &Report, out: &mut impl io::Write) -> io::Result<u8> {
    let (text, status) = line(report);
    writeln!(out, "{text}")?;
    Ok(status)
}

/// Write the line for a round that could not run.
pub fn write_unknown(why: &str, out: &mut impl io::Write) -> io::Result<u8> {
    writeln!(out, "{}", fit(&format!("unknown: {why}")))?;
    Ok(UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_at_80_characters() {
        let long = "x".repeat(200);
        assert_eq!(fit(&long).chars().count(), MAX_LINE);
        assert!(fit(&long).ends_with("..."));
        assert_eq!(fit("short"), "short");
        assert_eq!(fit("a\nb"), "a b");
        let wide = "é".repeat(100);
        assert_eq!(fit(&wide).chars().count(), MAX_LINE);
    }
}
