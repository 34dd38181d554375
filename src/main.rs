//! The `probe` binary: parse, set up logging, run, map the outcome to an exit status.

use clap::Parser as _;
use regprobe::cli::{Args, Command};
use std::process::ExitCode;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// `PROBE_LOG` as `target=level,level` directives (`warn`, `regprobe::daemon=debug`);
/// unset or unreadable, `default`. `Targets` rather than `EnvFilter`: the same
/// syntax without span filters, and without a regex engine in the agent's memory.
fn log_filter(default: LevelFilter) -> Targets {
    std::env::var("PROBE_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default))
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The agent's operational events are JSON lines on stderr, at info unless
    // PROBE_LOG says otherwise; one-shot commands stay quiet but for errors.
    let daemon = matches!(args.command, Some(Command::Daemon(_)));
    let filter = log_filter(if daemon {
        LevelFilter::INFO
    } else {
        LevelFilter::ERROR
    });
    let events = fmt::layer().with_writer(std::io::stderr);
    if daemon {
        tracing_subscriber::registry()
            .with(events.json().with_filter(filter))
            .init();
    } else {
        tracing_subscriber::registry()
            .with(events.with_filter(filter))
            .init();
    }
    match regprobe::app::main_with(&args) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("probe: {e}");
            ExitCode::from(2)
        }
    }
}
