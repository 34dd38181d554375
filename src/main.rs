//! The `probe` binary: parse, set up logging, run, map the outcome to an exit status.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = regprobe::cli::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PROBE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match regprobe::app::main_with(&args) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("probe: {e}");
            ExitCode::from(2)
        }
    }
}
