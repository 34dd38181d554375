//! Fuzz target: `WWW-Authenticate` values (`probe::challenge::parse_all`); each line
//! of the input is one header value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::probe::challenge;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let all = challenge::parse_all(text.split('\n'));
    let _ = challenge::choose(&all, true);
    for c in &all {
        let _ = c.facts();
    }
});
