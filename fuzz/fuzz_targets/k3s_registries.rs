//! Fuzz target: k3s `registries.yaml` (`config::runtime::k3s::parse`) and `config.yaml`
//! (`config::runtime::k3s::parse_k3s_config`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::k3s;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = k3s::parse(&text);
    let _ = k3s::parse_k3s_config(&text);
});
