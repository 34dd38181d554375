//! The test bed: real registries, real DNS, a real proxy and real faults
//! inside a network namespace the tests create (see `tests/README.md`).
//!
//! Integration tests include it with `mod support;` and start with
//! `let Some(w) = support::world() else { return };`. It never contacts
//! anything outside its own namespaces.

// Each test binary uses a different part of the bed; unused items in one
// binary are used in another.
#![allow(dead_code, unused_imports)]

pub mod acr;
pub mod aks;
pub mod containerd;
pub mod content;
pub mod hostile;
pub mod http;
pub mod netns;
pub mod pki;
pub mod provider;
pub mod record;
pub mod root;
pub mod token;
pub mod world;

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

pub use pki::Cert;
pub use root::NodeRoot;
pub use token::{NO_PULL, PULLER};
pub use world::{
    Auth, DNS_IP, Dns, Host, Kit, Net, SILENT_DNS_IP, Serve, World, WorldBuilder, standard,
};

/// What the bed runs; `scripts/test` installs them.
const TOOLS: &[&str] = &[
    "ip",
    "iptables",
    "setpriv",
    "unshare",
    "timeout",
    "docker-registry",
    "dnsmasq",
    "tinyproxy",
    "htpasswd",
];

/// The standard world, built once per test binary on first use. `None`
/// when end-to-end tests cannot run here and are being skipped (see
/// [`require_netns`]).
pub fn world() -> Option<&'static World> {
    static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
    if !require_netns() {
        return None;
    }
    let built = WORLD.get_or_init(|| {
        catch_unwind(AssertUnwindSafe(|| standard().build())).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        })
    });
    match built {
        Ok(w) => Some(w),
        Err(e) => panic!("building the test world failed: {e}"),
    }
}

/// The skip/fail policy of end-to-end tests: `true` when this machine can
/// run them (root, `ip netns` works, the tools are installed). Otherwise
/// it fails under `CI=true` and prints a loud SKIPPED line elsewhere.
pub fn require_netns() -> bool {
    require(&[])
}

/// [`require_netns`] plus extra tools (e.g. `skopeo`).
pub fn require(extra: &[&str]) -> bool {
    static BASE: OnceLock<Option<String>> = OnceLock::new();
    let reason = BASE.get_or_init(unavailable).clone().or_else(|| {
        let missing: Vec<&str> = extra.iter().copied().filter(|t| !installed(t)).collect();
        (!missing.is_empty()).then(|| format!("missing tools: {}", missing.join(", ")))
    });
    let Some(reason) = reason else {
        return true;
    };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "end-to-end tests cannot run: {reason} (CI=true: not skipping; run scripts/test as root)"
    );
    // Straight to fd 2: libtest captures `eprintln!`, and a skip must show.
    let _ = writeln!(
        std::io::stderr(),
        "*** SKIPPED end-to-end test: {reason} (run scripts/test as root) ***"
    );
    false
}

fn installed(tool: &str) -> bool {
    Path::new(&netns::tool(tool)).is_file()
}

fn unavailable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned();
    if euid != "0" {
        return Some(format!("not root (euid {euid})"));
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !installed(t)).collect();
    if !missing.is_empty() {
        return Some(format!("missing tools: {}", missing.join(", ")));
    }
    let name = format!("{}{}-check", netns::PREFIX, std::process::id());
    let ip = netns::tool("ip");
    let added = Command::new(&ip).args(["netns", "add", &name]).output();
    let _ = Command::new(&ip).args(["netns", "del", &name]).output();
    match added {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`ip netns add` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run ip: {e}")),
    }
}
