//! Fuzz target: containerd `config.toml` (`config::runtime::containerd::parse`), then the
//! questions discovery asks of the parsed value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::containerd;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(cfg) = containerd::parse(&text) {
        let _ = containerd::effective_config_path(&cfg);
    }
});
