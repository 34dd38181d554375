//! The `probe` binary: parse, set up logging, run, map the outcome to an exit status.

use clap::Parser as _;
use regprobe::cli::{Args, Command};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    // The agent's operational events are JSON lines on stderr, at info unless
    // PROBE_LOG says otherwise; one-shot commands stay quiet.
    if matches!(args.command, Some(Command::Daemon(_))) {
        let filter =
            EnvFilter::try_from_env("PROBE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::from_env("PROBE_LOG"))
            .with_writer(std::io::stderr)
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
