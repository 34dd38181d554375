//! Fuzz target: `probe summarize`'s input, the agents' log lines
//! (`summary::read`, then the matrix and verdicts built from them).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(collector) = regprobe::summary::read(data) {
        let _ = collector.finish();
    }
});
