//! Fuzz target: dockerd `daemon.json` (`config::runtime::docker::parse_daemon_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::docker;

fuzz_target!(|data: &[u8]| {
    let _ = docker::parse_daemon_json(&String::from_utf8_lossy(data));
});
