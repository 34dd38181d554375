//! Fuzz target: containers `registries.conf` (`config::runtime::crio::parse_registries`) and
//! `crio.conf` (`config::runtime::crio::parse_crio_conf`), both TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::crio;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(conf) = crio::parse_registries(&text) {
        for name in [
            "docker.io/library/busybox",
            "localhost:5000/a",
            "example.com",
        ] {
            let _ = crio::find_registry(&conf, name);
        }
    }
    let _ = crio::parse_crio_conf(&text);
});
