//! Fuzz target: the agent's targets file (`daemon::targets::parse`), then
//! its names checked as the agent checks them (`Settings::with_targets`).
#![no_main]

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;
use regprobe::cli::{Args, Settings};
use std::sync::OnceLock;

fn base() -> &'static Settings {
    static BASE: OnceLock<Settings> = OnceLock::new();
    BASE.get_or_init(|| {
        let args = Args::try_parse_from(["probe", "daemon"]).expect("daemon args");
        Settings::from_args(&args, &mut std::io::empty()).expect("daemon settings")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = regprobe::daemon::targets::parse(&String::from_utf8_lossy(data)) {
        let _ = base().with_targets(&file.registries, &file.images);
    }
});
