//! Fault injection on the agent itself over a long run (issue 19): `probe
//! daemon` in the bed, every round a registry round, while its node files
//! are replaced by rename (as systemd-resolved and config tools write
//! them), its targets file flips between good and broken, and a registry
//! turns hostile in a new way each round. Each test checks that the agent
//! keeps its cadence (a report line every round, none late past a generous
//! bound), reports each state in the round after it was set, and that its
//! RSS and descriptors stay flat (`/proc/PID/status`, `/proc/PID/fd`; a
//! generous bound on growth between a warm-up cycle and the end).

mod common;
mod support;

use common::Report;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::hostile::{self, Mode};
use support::http::{Reply, request};
use support::{Host, World, WorldBuilder};

/// Intervals of the runs: every round a registry round.
const ARGS: &[&str] = &[
    "--interval",
    "1s",
    "--registry-interval",
    "1s",
    "--timeout",
    "1s",
    "--deadline",
    "4s",
];
/// The longest wait for a round's line: the interval and its jitter (1.2 s),
/// a round cut at its deadline (4 s) and slack for a loaded machine.
const LATE: Duration = Duration::from_secs(10);
/// Growth allowed between the warm-up and the end.
const RSS_GROWTH_KB: u64 = 8 * 1024;
const FD_GROWTH: usize = 8;

/// A running agent inside a world's namespace.
struct Agent {
    child: Child,
    lines: Receiver<(Instant, String)>,
    events: Receiver<String>,
    addr: SocketAddr,
    last: Instant,
}

impl Agent {
    fn start(w: &World, root: &Path, port: u16, args: &[&str]) -> Agent {
        let args: Vec<&str> = ARGS.iter().chain(args).copied().collect();
        let mut child = w
            .daemon(root, port, "aks-np1-7", &args)
            .spawn()
            .expect("start probe daemon");
        let lines = common::forward_lines(child.stdout.take().unwrap(), |l| (Instant::now(), l));
        let events = common::forward_lines(child.stderr.take().unwrap(), |l| l);
        Agent {
            child,
            lines,
            events,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            last: Instant::now(),
        }
    }

    /// The next round's report; its line must come within [`LATE`] of the
    /// last one: the cadence holds whatever the round met.
    fn next(&mut self) -> Report {
        let (at, line) = self
            .lines
            .recv_timeout(LATE)
            .unwrap_or_else(|_| panic!("no report line within {LATE:?}: the cadence broke"));
        let gap = at - self.last;
        assert!(gap <= LATE, "a round line {gap:?} after the last");
        self.last = at;
        let report: Report =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a v2 report ({e}): {line}"));
        assert_eq!(report.schema, "regprobe.report/v2");
        report
    }

    /// `GET path` on the admin server: status and body.
    fn get(&self, w: &World, path: &str) -> (u16, String) {
        let (addr, path) = (self.addr, path.to_owned());
        w.run(move || {
            let r = request(addr, None, "agent", "GET", &path, &[], Vec::new())
                .expect("admin server answers");
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's resident memory, kB.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// Open descriptors between rounds: the fewest of 10 looks (a round in
    /// flight holds a socket per target for a moment).
    fn fds(&self) -> usize {
        (0..10)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(30));
                std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
                    .map_or(usize::MAX, Iterator::count)
            })
            .min()
            .unwrap_or(usize::MAX)
    }

    /// RSS and descriptors now.
    fn footprint(&self) -> (u64, usize) {
        (self.rss_kb(), self.fds())
    }

    /// The first stderr event from now on (within 5 s) that `matches`.
    fn event(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        let until = Instant::now() + Duration::from_secs(5);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(line) if matches(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flat: RSS and descriptors at the end within the bounds of the warm-up's.
fn assert_flat(what: &str, warm: (u64, usize), end: (u64, usize)) {
    assert!(
        end.0 <= warm.0 + RSS_GROWTH_KB,
        "{what}: RSS grew from {} kB to {} kB",
        warm.0,
        end.0
    );
    assert!(
        end.1 <= warm.1 + FD_GROWTH,
        "{what}: descriptors grew from {} to {}",
        warm.1,
        end.1
    );
}

/// Replace `relative` under `root` the way systemd-resolved and config
/// tools do: a new file beside it, renamed over it (a new inode).
fn replace(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_file_name(format!(
        ".#{}.{}",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn target<'a>(r: &'a Report, name: &str) -> &'a common::Target {
    r.targets
        .iter()
        .find(|t| t.image.as_deref() == Some(name) || t.registry == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

fn source<'a>(r: &'a Report, kind: &str) -> Option<&'a common::ConfigSource> {
    r.config_sources.iter().find(|s| s.kind == kind)
}

/// resolv.conf, the CA bundle and containerd's hosts.toml replaced by
/// rename, round after round: each round after a change reports it, each
/// round after the restore is OK again.
#[test]
fn node_files_replaced_by_rename_mid_run() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    root.write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    root.write("run/containerd/containerd.sock", "");
    let r = root.path();
    let resolv = root.read("etc/resolv.conf").unwrap();
    let ca = root.read(support::root::CA_BUNDLE).unwrap();
    let hosts = "etc/containerd/certs.d/registry.test/hosts.toml";
    let plain = "server = \"https://registry.test\"\n";
    replace(r, hosts, plain);
    let image = "registry.test/single:1";
    let mut agent = Agent::start(w, r, 19811, &["--image", image]);
    let ok = |rep: &Report| {
        let t = target(rep, image);
        assert_eq!((t.status.as_str(), t.code.as_str()), ("ok", "OK"), "{t:?}");
    };
    ok(&agent.next());
    let mut warm = None;
    for cycle in 0..3 {
        // The resolver: a name server that never answers.
        replace(
            r,
            "etc/resolv.conf",
            &format!(
                "nameserver {}\noptions timeout:1 attempts:1\n",
                support::SILENT_DNS_IP
            ),
        );
        let t = agent.next();
        assert_eq!(target(&t, image).code, "DNS_TIMEOUT", "cycle {cycle}");
        replace(r, "etc/resolv.conf", &resolv);
        ok(&agent.next());

        // The CA bundle without the registry's CA.
        replace(r, support::root::CA_BUNDLE, "");
        let t = agent.next();
        assert_eq!(target(&t, image).code, "TLS_UNTRUSTED", "cycle {cycle}");
        replace(r, support::root::CA_BUNDLE, &ca);
        ok(&agent.next());

        // The runtime's registry config: a dead mirror first.
        replace(
            r,
            hosts,
            "server = \"https://registry.test\"\n\n[host.\"https://refused.test\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        );
        let rep = agent.next();
        let t = target(&rep, image);
        assert_eq!(
            (t.status.as_str(), t.code.as_str()),
            ("degraded", "OK"),
            "cycle {cycle}: {t:?}"
        );
        assert_eq!(t.endpoints[0].code, "TCP_REFUSED");
        replace(r, hosts, plain);
        let rep = agent.next();
        ok(&rep);
        assert_eq!(target(&rep, image).endpoints.len(), 1);
        if cycle == 0 {
            warm = Some(agent.footprint());
        }
    }
    assert_flat("node files", warm.unwrap(), agent.footprint());
    assert_eq!(agent.get(w, "/healthz").0, 200);
}

/// The targets file flips between a good list, broken YAML, another good
/// list, and a list over the agent's limit: a broken or refused file keeps
/// the last good list, says so in the report, in the log and in `/readyz`
/// (503), and the next good file is taken at once.
#[test]
fn a_targets_file_that_flips_between_good_and_broken() {
    let Some(w) = support::world() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yaml");
    let one = "images:\n  - registry.test/single:1\n";
    let two = "images:\n  - registry.test/single:1\nregistries:\n  - unknownca.test\n";
    let too_many: String = (0..=500).fold("registries:\n".to_owned(), |mut s, i| {
        let _ = writeln!(s, "  - r{i}.test");
        s
    });
    replace(dir.path(), "targets.yaml", one);
    let mut agent = Agent::start(w, w.root(), 19812, &["--targets", file.to_str().unwrap()]);
    let r = agent.next();
    assert_eq!(r.targets.len(), 1);
    assert_eq!(agent.get(w, "/readyz").0, 200);
    let refused = |agent: &mut Agent, r: &Report, expected: usize, why: &str| {
        assert_eq!(r.targets.len(), expected, "the last good list stays");
        let s = source(r, "targets").expect("the targets file as a source");
        assert_eq!(s.severity, "error", "{s:?}");
        let message = s.message.as_deref().unwrap_or_default();
        assert!(message.contains(why), "{message}");
        assert!(message.contains("keeping the targets"), "{message}");
        let (status, body) = agent.get(w, "/readyz");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("refused") && body.contains(why), "{body}");
    };
    let mut warm = None;
    for cycle in 0..3 {
        replace(
            dir.path(),
            "targets.yaml",
            "images: [registry.test/single:1\n",
        );
        let r = agent.next();
        refused(&mut agent, &r, 1, "line ");

        replace(dir.path(), "targets.yaml", two);
        let r = agent.next();
        assert_eq!(r.targets.len(), 2, "cycle {cycle}");
        assert_eq!(target(&r, "unknownca.test").code, "TLS_UNTRUSTED");
        assert_eq!(source(&r, "targets").unwrap().severity, "ok");
        assert_eq!(agent.get(w, "/readyz").0, 200);

        replace(dir.path(), "targets.yaml", &too_many);
        let r = agent.next();
        refused(
            &mut agent,
            &r,
            2,
            "501 targets (501 from the file), more than the agent's limit of 500",
        );
        let logged =
            agent.event(|l| l.contains("targets file rejected") && l.contains("limit of 500"));
        assert!(
            logged.is_some(),
            "no log line says why the list was refused"
        );

        replace(dir.path(), "targets.yaml", one);
        let r = agent.next();
        assert_eq!(r.targets.len(), 1);
        assert_eq!(target(&r, "registry.test/single:1").code, "OK");
        assert_eq!(agent.get(w, "/readyz").0, 200);
        if cycle == 0 {
            warm = Some(agent.footprint());
        }
    }
    assert_flat("targets file", warm.unwrap(), agent.footprint());
}

/// A registry hostile in a new way each round (slowloris, TLS stall, 429,
/// garbage, then healthy again), beside a steady one: every round reports
/// the hostile registry's state of that round, the steady one stays OK, and
/// no round runs late.
#[test]
fn a_registry_that_changes_its_hostility_every_round() {
    if !support::require_netns() {
        return;
    }
    let switch = hostile::Switch::default();
    let w = WorldBuilder::new()
        .host(Host::hostile(
            "hostile.test",
            Ipv4Addr::new(10, 77, 0, 61),
            switch.clone(),
        ))
        .host(Host::handler(
            "steady.test",
            Ipv4Addr::new(10, 77, 0, 62),
            |_| {
                Reply::new(200)
                    .header("Docker-Distribution-API-Version", "registry/2.0")
                    .body("{}")
                    .into()
            },
        ))
        .build();
    let mut agent = Agent::start(
        &w,
        w.root(),
        19813,
        &["--registry", "hostile.test", "--registry", "steady.test"],
    );
    let expected = |mode: Mode| match mode {
        Mode::Healthy => "OK",
        Mode::Slowloris | Mode::Garbage => "REGISTRY_ERROR",
        Mode::TlsStall => "TLS_HANDSHAKE",
        Mode::RateLimited => "RATE_LIMITED",
    };
    let r = agent.next();
    assert_eq!(target(&r, "hostile.test").code, "OK");
    let mut warm = None;
    for cycle in 0..3 {
        for mode in Mode::ALL.into_iter().skip(1).chain([Mode::Healthy]) {
            switch.set(mode);
            let r = agent.next();
            let t = target(&r, "hostile.test");
            assert_eq!(
                t.code,
                expected(mode),
                "cycle {cycle}, {mode:?}: {}",
                t.message
            );
            assert_eq!(target(&r, "steady.test").code, "OK", "{mode:?}");
            assert!(
                r.duration_ms < 6000,
                "{mode:?}: the round took {} ms",
                r.duration_ms
            );
        }
        if cycle == 0 {
            warm = Some(agent.footprint());
        }
    }
    assert_flat("hostile registry", warm.unwrap(), agent.footprint());
    assert_eq!(agent.get(&w, "/healthz").0, 200);
    assert!(switch.connections() > 15);
}
