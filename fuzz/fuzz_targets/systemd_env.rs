//! Fuzz target: systemd `Environment=` values, unit files and drop-ins, `system.conf`,
//! `EnvironmentFile=` files (`config::systemd`) and `/proc/PID/environ` (`config::net::proxy`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::net::proxy::daemon_env;
use regprobe::config::systemd;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = systemd::parse_systemd_environment(&text);
    let _ = systemd::parse_unit_file(&text);
    let _ = systemd::parse_system_conf(&text);
    let _ = systemd::parse_environment_file(&text);
    let _ = daemon_env::parse_proc_environ(data);
});
