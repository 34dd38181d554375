//! Network namespaces and the processes that live in them.
//!
//! A namespace is named `rpt-<pid>-<n>` so a later run can tell whether its
//! owner is still alive. Every server process is started from one long-lived
//! spawner thread with `setpriv --pdeathsig KILL`: the kernel sends the signal
//! when the *thread* that forked the child exits, and libtest runs each test
//! on a thread of its own, so spawning from a test thread would kill a shared
//! world as soon as the first test returned. A watchdog (also spawned there)
//! deletes the namespace when the test process dies, however it dies.
//!
//! Nothing here touches anything outside the namespaces it creates, except
//! `/etc/netns/<ns>/` (which `ip netns exec` bind-mounts over `/etc`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{LazyLock, Mutex};
use std::thread;

use nix::sched::{CloneFlags, setns};

/// Prefix of every namespace, temp dir and `/etc/netns` entry of the bed.
pub const PREFIX: &str = "rpt-";

/// A namespace created with `ip netns add`; dropping it deletes it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `rpt-<pid>-<n>` with `lo` up.
    pub fn create(n: usize) -> Netns {
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        run_host(&tool("ip"), &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS` inside the namespace and panics if it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        run_host(&tool("ip"), &all);
    }

    /// Appends one iptables rule (`-A CHAIN ...`) inside the namespace.
    pub fn iptables(&self, rule: &[&str]) {
        let iptables = tool("iptables");
        let mut all = vec!["netns", "exec", &self.name, &iptables, "-w", "-A"];
        all.extend_from_slice(rule);
        run_host(&tool("ip"), &all);
    }

    /// A command that runs `program` inside the namespace, through
    /// `ip netns exec` so `/etc/netns/<ns>/resolv.conf` is in place, bounded
    /// by `timeout` so a hung client fails its test instead of the suite.
    /// Proxy variables of the test environment are removed: the world
    /// decides which proxy a client uses.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("timeout");
        // --foreground keeps the child in our process group, so Ctrl-C
        // reaches it too.
        cmd.args(["--foreground", "--kill-after=5", "120"]);
        cmd.arg(tool("ip"))
            .args(["netns", "exec", &self.name])
            .arg(program);
        for var in [
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The argv of a long-running server inside the namespace (for
    /// [`spawn_tied`]; no timeout).
    pub fn server_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(tool("ip"));
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `f` on a fresh thread that has joined the namespace; sockets it
    /// binds or connects stay in the namespace, and so do threads it spawns.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f)
            .join()
            .expect("thread inside the namespace panicked")
    }

    /// Like [`Netns::run`] without waiting: for accept loops.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let path = PathBuf::from("/run/netns").join(&self.name);
        thread::spawn(move || {
            let fd = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_namespace(&self.name);
    }
}

/// Kills whatever runs in `name`, deletes it and its `/etc/netns` entry.
pub fn delete_namespace(name: &str) {
    if let Ok(out) = Command::new(tool("ip"))
        .args(["netns", "pids", name])
        .output()
    {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
    let _ = Command::new(tool("ip"))
        .args(["netns", "del", name])
        .stderr(Stdio::null())
        .status();
    let _ = fs::remove_dir_all(Path::new("/etc/netns").join(name));
}

/// Removes namespaces and temp dirs left by test processes that are gone
/// (a run killed with SIGKILL, a crashed watchdog). Live owners are left
/// alone, so parallel test binaries do not disturb each other.
pub fn sweep_stale() {
    let dead = |name: &str| {
        name.strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
    };
    if let Ok(out) = Command::new(tool("ip")).args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if dead(name) {
                delete_namespace(name);
            }
        }
    }
    for parent in [Path::new("/etc/netns").to_path_buf(), std::env::temp_dir()] {
        let Ok(entries) = fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            if dead(&entry.file_name().to_string_lossy()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A server process; dropping it kills it.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Whether the process has exited (for "did it start" checks).
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits, so a watchdog can run its trap.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

/// The thread that forks every server. It never exits while the process
/// lives, so `--pdeathsig` fires exactly when the test process dies.
static SPAWNER: LazyLock<Mutex<Sender<SpawnRequest>>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<SpawnRequest>();
    thread::Builder::new()
        .name("rpt-spawner".into())
        .spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        })
        .expect("spawn the spawner thread");
    Mutex::new(tx)
});

/// Starts `argv` under `setpriv --pdeathsig SIG` from the spawner thread,
/// stdout and stderr appended to `log`.
pub fn spawn_tied(name: &str, signal: &str, mut inner: Command, log: &Path) -> Proc {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", signal, "--"])
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone log fd"))
        .stderr(out);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    // `inner` only carried the argv; it is never spawned itself.
    inner.stdin(Stdio::null());
    let (tx, rx) = mpsc::channel();
    SPAWNER
        .lock()
        .expect("spawner lock")
        .send((cmd, tx))
        .expect("spawner thread is gone");
    let child = rx
        .recv()
        .expect("spawner answered")
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Proc {
        name: name.to_owned(),
        log: log.to_owned(),
        child,
    }
}

/// Starts the watchdog that cleans up `ns` and `dir` when this process
/// dies (SIGTERM from pdeathsig) or is interrupted (SIGINT to the group).
pub fn watchdog(ns: &str, dir: &Path) -> Proc {
    let script = r#"
PATH=$PATH:/usr/sbin:/sbin
ns=$1; dir=$2
clean() {
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
  rm -rf "/etc/netns/$ns" "$dir"
  kill "$sleeper" 2>/dev/null
  exit 0
}
trap clean TERM INT HUP
while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
"#;
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script, "rpt-watchdog", ns]).arg(dir);
    let log = std::env::temp_dir().join(format!("{ns}-watchdog.log"));
    let proc = spawn_tied("watchdog", "TERM", cmd, &log);
    // The log sits outside `dir` so the watchdog can write while cleaning;
    // it is tiny and removed by the next sweep.
    let _ = fs::remove_file(&log);
    proc
}

/// The absolute path of a tool: `cargo test` may run without `/usr/sbin`
/// in `PATH`, where Debian keeps `ip`, `iptables` and `dnsmasq`.
pub fn tool(name: &str) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .map_or_else(|| name.to_owned(), |p| p.to_string_lossy().into_owned())
}

/// Runs a host command (not in any namespace) and panics with its stderr
/// if it fails: world setup has no useful way to go on.
pub fn run_host(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
