//! Fuzz target: docker `config.json` / `.dockerconfigjson` / `.dockercfg`
//! (`config::credentials::dockercfg::parse`), then kubelet's keyring lookup of each key
//! and of a few images.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::credentials::dockercfg;

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = dockercfg::parse(&String::from_utf8_lossy(data)) else {
        return;
    };
    let keys: Vec<String> = cfg.entries.iter().map(|e| e.key.clone()).collect();
    let images = [
        "docker.io/library/busybox",
        "myreg.azurecr.io/team/app",
        "localhost:5000/a",
    ];
    for name in keys.iter().map(String::as_str).chain(images) {
        let _ = cfg.lookup(name);
        let _ = cfg.remarks(name);
    }
});
