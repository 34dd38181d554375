//! Fuzz target: containerd `hosts.toml` (`config::runtime::hosts_toml::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::hosts_toml;

fuzz_target!(|data: &[u8]| {
    let _ = hosts_toml::parse(&String::from_utf8_lossy(data));
});
