//! Fuzz target: `/etc/resolv.conf` (`config::net::resolv::parse`) and `/etc/hosts`
//! (`config::net::resolv::parse_hosts`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::net::resolv;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let conf = resolv::parse(&text);
    let _ = conf.error_summary();
    let hosts = resolv::parse_hosts(&text);
    for word in text.split_whitespace().take(16) {
        let _ = hosts.value.lookup(word);
    }
});
