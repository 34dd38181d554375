//! Fuzz target: the Pod / List / Secret JSON or YAML `probe pod` reads
//! (`kubectl get pod -o json|yaml`, `pod::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = regprobe::pod::parse(&String::from_utf8_lossy(data), "fuzz");
});
