//! Fuzz target: `probe explain`'s input, a kubelet event or pod status
//! message (`explain::explain`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = regprobe::explain::explain(&String::from_utf8_lossy(data));
});
