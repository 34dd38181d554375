//! Fuzz target: the runtime version reader over a binary's bytes
//! (`config::runtime::version`): ELF section and symbol tables, Go build
//! information in both forms, module text and version strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::Runtime;
use regprobe::config::runtime::version::{Version, parse_buildinfo, read_version};

fuzz_target!(|data: &[u8]| {
    for runtime in [Runtime::Containerd, Runtime::Docker, Runtime::Crio] {
        let _ = read_version(data, runtime);
    }
    let _ = parse_buildinfo(data);
    let _ = Version::parse(&String::from_utf8_lossy(data));
});
