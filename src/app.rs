//! What the command line does: validated settings -> the library call
//! ([`crate::run`]) -> a renderer on stdout -> the exit status of
//! `CONTRACT.md`. The only module that reads stdin or writes stdout.

use crate::cli::{Args, Command, Mode, Settings, UsageError};
use crate::report::{self, Report};
use crate::run::{self, RunError};
use crate::summary::{self, SummaryError};
use crate::verdict;
use std::io::{self, IsTerminal as _, Write as _};
use std::path::Path;

/// Run the command line's request; the exit status, or why nothing ran.
pub fn main_with(args: &Args) -> Result<u8, RunError> {
    match &args.command {
        Some(Command::Summarize { file, wide }) => {
            return Ok(summarize(file.as_deref(), *wide, args.json)?);
        }
        // No settings, no node, no network.
        Some(Command::Explain { message }) => {
            let message = crate::explain::read_message(message, &mut io::stdin().lock())
                .map_err(|e| UsageError(format!("explain: cannot read standard input: {e}")))?;
            let explanation = crate::explain::explain(&message);
            let mut stdout = anstream::stdout();
            report::explain::write(&explanation, args.json, &mut stdout)
                .map_err(RunError::Output)?;
            stdout.flush().map_err(RunError::Output)?;
            return Ok(explanation.exit_status());
        }
        // node-problem-detector reads any failure to run as "unknown" (2), with its line.
        Some(Command::Npd) => {
            let result = Settings::from_args(args, &mut io::stdin().lock())
                .map_err(RunError::from)
                .and_then(|s| {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()
                        .map_err(RunError::Runtime)?;
                    runtime.block_on(run::probe(&s))
                });
            let mut stdout = anstream::stdout();
            let status = match result {
                Ok(report) => report::npd::write(&report, &mut stdout),
                Err(e) => report::npd::write_unknown(&e.to_string(), &mut stdout),
            }
            .map_err(RunError::Output)?;
            stdout.flush().map_err(RunError::Output)?;
            return Ok(status);
        }
        _ => {}
    }
    let settings = Settings::from_args(args, &mut io::stdin().lock())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    let report = match settings.mode {
        Mode::Plan => runtime.block_on(run::plan(&settings))?,
        Mode::Probe => runtime.block_on(run::probe(&settings))?,
        Mode::Daemon => {
            runtime.block_on(async {
                let shutdown = on_signal();
                crate::daemon::run(settings, shutdown, &mut io::stdout()).await
            })?;
            return Ok(0);
        }
        Mode::Npd => unreachable!("answered above"),
        Mode::Pod => {
            let Some(Command::Pod { file }) = &args.command else {
                unreachable!("Mode::Pod comes from Command::Pod")
            };
            let input = read_pod(file.as_deref())?;
            runtime.block_on(crate::pod::run::run(&settings, input))?
        }
    };
    let mut stdout = anstream::stdout();
    render(&report, settings.json, &mut stdout).map_err(RunError::Output)?;
    stdout.flush().map_err(RunError::Output)?;
    Ok(exit_status(&report))
}

/// The pod for `probe pod`: a file, or standard input for `-` or nothing.
fn read_pod(file: Option<&std::path::Path>) -> Result<crate::pod::PodInput, RunError> {
    use std::io::Read as _;
    let limit = crate::pod::INPUT_LIMIT;
    let (origin, mut reader): (String, Box<dyn io::Read>) = match file {
        None => ("standard input".to_owned(), Box::new(io::stdin().lock())),
        Some(f) if f.as_os_str() == "-" => {
            ("standard input".to_owned(), Box::new(io::stdin().lock()))
        }
        Some(f) => {
            let shown = f.display().to_string();
            let opened = std::fs::File::open(f).map_err(|e| RunError::Config {
                path: shown.clone(),
                reason: format!("cannot read the pod: {e}"),
            })?;
            (shown, Box::new(opened))
        }
    };
    let mut buf = Vec::new();
    (&mut reader)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| RunError::Config {
            path: origin.clone(),
            reason: format!("cannot read the pod: {e}"),
        })?;
    if buf.len() as u64 > limit {
        return Err(RunError::Config {
            path: origin,
            reason: format!(
                "more than {} MiB: give one pod and its secrets",
                limit >> 20
            ),
        });
    }
    let text = String::from_utf8_lossy(&buf);
    crate::pod::parse(&text, &origin).map_err(|e| RunError::Config {
        path: e.origin,
        reason: e.problems.join("; "),
    })
}

/// A channel that turns true on SIGTERM or SIGINT (kubelet stops pods with
/// SIGTERM; a person with Ctrl-C).
fn on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    });
    rx
}

/// The report as the settings ask: JSON, a plan, or the human view.
pub fn render(report: &Report, json: bool, out: &mut impl io::Write) -> io::Result<()> {
    if json {
        report::json::write(report, true, out)
    } else if report.is_plan() {
        report::plan::write(report, out)
    } else {
        report::text::write(report, out)
    }
}

/// 0 when every target is ok or degraded (and for a plan), else the worst
/// failing target's category.
#[must_use]
pub fn exit_status(report: &Report) -> u8 {
    if report.is_plan() {
        return 0;
    }
    verdict::exit_status(report.targets.iter().map(|t| &t.verdict))
}

/// `probe summarize [FILE|-]`: read the agents' report lines, summarize,
/// render to stdout (colour only on a terminal), return the exit status.
fn summarize(file: Option<&Path>, wide: bool, json: bool) -> Result<u8, SummaryError> {
    let path = file.filter(|f| *f != Path::new("-"));
    let what = path.map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
    let collector = match path {
        None if file.is_none() && io::stdin().is_terminal() => return Err(SummaryError::Terminal),
        None => summary::read(io::stdin().lock()),
        Some(p) => std::fs::File::open(p).and_then(|f| summary::read(io::BufReader::new(f))),
    }
    .map_err(|source| SummaryError::Read {
        what: what.clone(),
        source,
    })?;
    let summary = collector.finish();
    if summary.rows.is_empty() {
        return Err(SummaryError::NoReport {
            what,
            skipped: summary.skipped,
        });
    }
    let mut out = anstream::stdout();
    let written = if json {
        report::summary::write_json(&summary, &mut out)
    } else {
        report::summary::write_text(&summary, wide, &mut out)
    }
    .and_then(|()| out.flush());
    match written {
        // `probe summarize | head`: the reader has seen enough.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(SummaryError::Output(e)),
        _ => Ok(summary.exit_status()),
    }
}
