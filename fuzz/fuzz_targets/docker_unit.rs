//! Fuzz target: the docker unit's `ExecStart=` (`config::runtime::docker::parse_unit_exec_start`)
//! and the dockerd flags picked from it (`flags_from_args`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::runtime::docker;

fuzz_target!(|data: &[u8]| {
    let args = docker::parse_unit_exec_start(&String::from_utf8_lossy(data));
    let flags = docker::flags_from_args(&args);
    for mirror in &flags.registry_mirrors {
        let _ = docker::validate_mirror(mirror);
    }
});
