//! Fuzz target: containerd `hosts.toml` (`config::hosts::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::hosts;

fuzz_target!(|data: &[u8]| {
    let _ = hosts::parse(&String::from_utf8_lossy(data));
});
