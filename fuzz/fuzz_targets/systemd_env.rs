//! Fuzz target: systemd `Environment=` values, unit files and drop-ins, `system.conf`,
//! `EnvironmentFile=` files and `/proc/PID/environ` (`config::proxy::daemon_env`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use regprobe::config::proxy::daemon_env;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = daemon_env::parse_systemd_environment(&text);
    let _ = daemon_env::parse_unit_file(&text);
    let _ = daemon_env::parse_system_conf(&text);
    let _ = daemon_env::parse_environment_file(&text);
    let _ = daemon_env::parse_proc_environ(data);
});
