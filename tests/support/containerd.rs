//! containerd as the bed's second reference client, beside skopeo: Debian's
//! `containerd` daemon with its own root, state dir and socket under the
//! world's temp dir, driven with `ctr images pull --hosts-dir` (the
//! resolver and hosts.toml code the CRI plugin uses with `config_path`).
//!
//! In containerd 1.6 the registry traffic of `ctr images pull` happens in
//! the `ctr` process (the client-side resolver: `cmd/ctr/commands/images/
//! pull.go` -> `content.Fetch` -> `client.Fetch`), which writes what it
//! fetched through the daemon's content service, then asks the daemon to
//! unpack. So the node's view (its `resolv.conf`, `hosts`, `/etc/containerd`,
//! CA bundle and proxy environment) is given to `ctr`; the daemon only
//! stores and unpacks (checked by the bed: a registry reachable only
//! through the proxy pulls with `HTTPS_PROXY` in `ctr`'s environment alone). Each pull gets its own containerd namespace, and the
//! metadata plugin's `content_sharing_policy = "isolated"` keeps one pull
//! from reusing another's blobs.
//!
//! Nothing here contacts anything outside the world's namespace.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::netns::{self, Proc, tool};
use super::world::World;

/// A running containerd daemon; dropping it stops it.
pub struct Containerd {
    dir: PathBuf,
    socket: PathBuf,
    proc: Proc,
    pulls: AtomicUsize,
}

/// One pull as the node would make it.
#[derive(Clone, Debug)]
pub struct Pull {
    pub image: String,
    /// The node root: its `etc/resolv.conf`, `etc/hosts` and CA bundle
    /// are what `ctr` sees.
    pub root: PathBuf,
    /// The hosts.toml directory (`config_path`) as the node names it (the
    /// root's `etc/containerd` is mounted over `/etc/containerd`, so paths
    /// inside hosts.toml resolve on the node); `None`: no `--hosts-dir`.
    pub hosts_dir: Option<PathBuf>,
    /// `--user user:password`.
    pub user: Option<(String, String)>,
    /// The runtime's environment (e.g. `HTTPS_PROXY`).
    pub env: Vec<(String, String)>,
    /// `ctr --timeout`: the whole pull's context deadline.
    pub timeout: Duration,
    /// `--platform` (default: `linux/amd64`, the probe's default here).
    pub platform: String,
}

impl Pull {
    /// A pull of `image` on the node at `root`, with its
    /// `/etc/containerd/certs.d` as the hosts directory.
    pub fn new(image: &str, root: &Path) -> Pull {
        Pull {
            image: image.to_owned(),
            root: root.to_owned(),
            hosts_dir: Some(PathBuf::from("/etc/containerd/certs.d")),
            user: None,
            env: Vec::new(),
            timeout: Duration::from_secs(45),
            platform: "linux/amd64".to_owned(),
        }
    }

    #[must_use]
    pub fn user(mut self, user: &str, password: &str) -> Pull {
        self.user = Some((user.to_owned(), password.to_owned()));
        self
    }

    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Pull {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Pull {
        self.timeout = timeout;
        self
    }
}

/// What came of a pull.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub ok: bool,
    /// containerd's error, without `ctr: ` (empty when pulled).
    pub error: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Pulled {
    /// The error as the kubelet's event shows it for a CRI pull
    /// (`pkg/kubelet/images/image_manager.go` around containerd's
    /// `pkg/cri/server/image_pull.go`: "failed to pull and unpack image").
    pub fn kubelet_event(&self, image: &str) -> String {
        format!(
            "Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{}\": {}",
            canonical(image),
            self.error
        )
    }

    /// The container's `state.waiting.message` since Kubernetes 1.32
    /// (`Back-off pulling image "R": ErrImagePull: <the pull error>`).
    pub fn kubelet_backoff(&self, image: &str) -> String {
        format!(
            "Back-off pulling image \"{image}\": ErrImagePull: rpc error: code = Unknown desc = failed to pull and unpack image \"{}\": {}",
            canonical(image),
            self.error
        )
    }
}

/// `host/repo:tag` as containerd's CRI names it (`docker.io/library/` for
/// short names; the bed's references all have a host).
fn canonical(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_host =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_host {
        image.to_owned()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || full.contains('@') {
        full
    } else {
        format!("{full}:latest")
    }
}

/// The node's view for `ctr`: `$1` is the node root; the rest is the
/// command. Mounts live in `unshare -m`'s private namespace only.
const NODE_VIEW: &str = r#"r=$1; shift
mount --bind "$r/etc/resolv.conf" /etc/resolv.conf &&
mount --bind "$r/etc/hosts" /etc/hosts || exit 125
if [ -d "$r/etc/containerd" ]; then
  mkdir -p /etc/containerd && mount --bind "$r/etc/containerd" /etc/containerd || exit 125
fi
exec "$@""#;

/// `$1`: a directory to mount a small tmpfs on; the rest: the daemon.
const FULL_DISK: &str = r#"d=$1; shift
mkdir -p "$d" && mount -t tmpfs -o size=1m tmpfs "$d" || exit 125
exec "$@""#;

/// What the daemon needs and nothing more: no CRI, no runtimes, no tasks,
/// no snapshotters that need a special filesystem.
const DISABLED: &[&str] = &[
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.restart",
    "io.containerd.monitor.v1.cgroups",
    "io.containerd.runtime.v1.linux",
    "io.containerd.runtime.v2.task",
    "io.containerd.service.v1.tasks-service",
    "io.containerd.grpc.v1.tasks",
];

impl Containerd {
    /// Starts a daemon for `w` (inside its namespace) and waits for its
    /// socket to answer.
    pub fn start(w: &World) -> Containerd {
        Containerd::start_with(w, false)
    }

    /// A daemon whose snapshot directory is a full filesystem (a tmpfs
    /// filled to the last byte, mounted in the daemon's own mount
    /// namespace, see [`Containerd::fill_disk`]): content is fetched,
    /// unpacking fails with ENOSPC, as on a node whose `/var/lib/containerd`
    /// is full.
    pub fn start_with_full_disk(w: &World) -> Containerd {
        Containerd::start_with(w, true)
    }

    fn start_with(w: &World, full_disk: bool) -> Containerd {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = w.dir().join(format!(
            "containerd-{}",
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("containerd dir");
        let socket = dir.join("c.sock");
        let mut config = String::from("version = 2\n");
        let _ = writeln!(config, "root = \"{}\"", dir.join("root").display());
        let _ = writeln!(config, "state = \"{}\"", dir.join("state").display());
        let disabled: Vec<String> = DISABLED.iter().map(|p| format!("\"{p}\"")).collect();
        let _ = writeln!(config, "disabled_plugins = [{}]", disabled.join(", "));
        let _ = write!(
            config,
            "[grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.metadata.v1.bolt\"]\n  content_sharing_policy = \"isolated\"\n",
            socket.display(),
            socket.display()
        );
        let config_path = dir.join("config.toml");
        fs::write(&config_path, config).expect("containerd config");
        let mut cmd = std::process::Command::new(tool("ip"));
        cmd.args(["netns", "exec", w.ns()]);
        if full_disk {
            let snapshots = dir.join("root/io.containerd.snapshotter.v1.native");
            cmd.args(["unshare", "-m", "--", "sh", "-c", FULL_DISK, "sh"])
                .arg(snapshots);
        }
        cmd.args(["containerd", "--config"]).arg(&config_path);
        let log = w.dir().join("logs/containerd.log");
        let proc = netns::spawn_tied("containerd", "KILL", cmd, &log);
        let c = Containerd {
            dir,
            socket,
            proc,
            pulls: AtomicUsize::new(0),
        };
        c.wait_ready(w);
        c
    }

    fn wait_ready(&self, w: &World) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = w
                .command("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["--timeout", "2s", "version"])
                .output()
                .expect("run ctr");
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer in 20s: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                w.log("containerd")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fills the snapshot filesystem of a [`Containerd::start_with_full_disk`]
    /// daemon to its last page. Call it after one pull, so the snapshotter's
    /// database exists and what fails is writing a layer's files.
    pub fn fill_disk(&self) {
        // In the daemon's mount namespace (`unshare -m` execs it, so the pid
        // is the daemon's).
        let snapshots = self.dir.join("root/io.containerd.snapshotter.v1.native");
        let fill = format!(
            "dd if=/dev/zero of={}/.fill bs=4k; true",
            snapshots.display()
        );
        let out = std::process::Command::new("nsenter")
            .args(["-t", &self.proc.pid().to_string(), "-m", "sh", "-c", &fill])
            .output()
            .expect("run nsenter");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No space left on device"),
            "filling the snapshot tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The daemon's directory (root, state, socket, config).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ctr images pull` (fetch, then unpack with the native snapshotter,
    /// as the CRI plugin's pull does) of `p.image` as the node at `p.root`
    /// would: inside the world's namespace, with the root's `resolv.conf`,
    /// `hosts` and `etc/containerd` mounted over `/etc` (a private mount
    /// namespace), `SSL_CERT_FILE` at the root's CA bundle, the runtime's
    /// environment, in a containerd namespace of its own.
    pub fn pull(&self, w: &World, p: &Pull) -> Pulled {
        let n = self.pulls.fetch_add(1, Ordering::Relaxed);
        let mut cmd = w.command("unshare");
        cmd.args(["-m", "--", "sh", "-c", NODE_VIEW, "sh"])
            .arg(&p.root)
            .arg("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", &format!("pull-{n}")])
            .arg("--timeout")
            .arg(format!("{}ms", p.timeout.as_millis()))
            .args(["images", "pull", "--snapshotter", "native"])
            .args(["--platform", &p.platform]);
        if let Some(dir) = &p.hosts_dir {
            cmd.arg("--hosts-dir").arg(dir);
        }
        if let Some((user, password)) = &p.user {
            cmd.args(["--user", &format!("{user}:{password}")]);
        }
        cmd.arg(&p.image);
        cmd.env(
            "SSL_CERT_FILE",
            p.root.join(super::root::CA_BUNDLE.trim_start_matches('/')),
        );
        for (k, v) in &p.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.output().expect("run ctr");
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let error = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ctr: "))
            .unwrap_or_default()
            .trim()
            .to_owned();
        Pulled {
            ok: out.status.success(),
            error,
            stderr,
            elapsed,
        }
    }
}
