//! Fuzz target: image references (`reference::Reference::parse` and its variants)
//! and `--registry` values (`target::host::registry_host`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::reference::{self, Reference};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(r) = Reference::parse(&input) {
        // A parsed reference reads back as itself.
        assert_eq!(Reference::parse(&r.to_string()).as_ref(), Ok(&r));
        let _ = reference::remarks(&input, &r);
        let _ = r.familiar_name();
    }
    let _ = Reference::parse_unnormalized(&input);
    let _ = Reference::parse_named(&input);
    let _ = regprobe::target::host::registry_host(&input);
});
