//! A temporary node root: the files the probe reads with `--root`
//! (`etc/resolv.conf`, `etc/hosts`, the CA bundle, runtime configs).
//!
//! The default root of a world is shared by every test; a test that needs
//! other files takes its own with `World::new_root()` and writes into it.
//! `aks::AksNode` and `provider` write the files of issue 8's scenarios.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// Where Debian keeps the system CA bundle (what the probe reads).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// A node root directory.
#[derive(Debug)]
pub struct NodeRoot {
    path: PathBuf,
    // Removes an owned root when the test is done with it.
    _owned: Option<TempDir>,
}

impl NodeRoot {
    /// Fills `path` with the minimal node: resolver, hosts, CA bundle.
    pub fn create(path: &Path, nameserver: Ipv4Addr, ca_pem: &str) -> NodeRoot {
        let root = NodeRoot {
            path: path.to_owned(),
            _owned: None,
        };
        root.fill(nameserver, ca_pem);
        root
    }

    /// Like [`NodeRoot::create`] in a temp dir removed on drop.
    pub fn owned(dir: TempDir, nameserver: Ipv4Addr, ca_pem: &str) -> NodeRoot {
        let root = NodeRoot {
            path: dir.path().to_owned(),
            _owned: Some(dir),
        };
        root.fill(nameserver, ca_pem);
        root
    }

    fn fill(&self, nameserver: Ipv4Addr, ca_pem: &str) {
        self.nameserver(nameserver);
        self.write(
            "etc/hosts",
            "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
        );
        self.write(CA_BUNDLE, ca_pem);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `relative` (e.g. `etc/containerd/config.toml`),
    /// creating parent directories.
    pub fn write(&self, relative: &str, text: &str) -> &NodeRoot {
        let file = self.path.join(relative.trim_start_matches('/'));
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).expect("create node root dir");
        }
        fs::write(&file, text).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        self
    }

    /// Writes `text` to `relative` like [`NodeRoot::write`], mode 0755: a
    /// credential provider or another program the probe runs from the
    /// node root.
    pub fn exec_file(&self, relative: &str, text: &str) -> &NodeRoot {
        use std::os::unix::fs::PermissionsExt as _;
        self.write(relative, text);
        let file = self.path.join(relative.trim_start_matches('/'));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", file.display()));
        self
    }

    /// The text of `relative`, if it exists (e.g. what a provider script
    /// recorded).
    pub fn read(&self, relative: &str) -> Option<String> {
        fs::read_to_string(self.path.join(relative.trim_start_matches('/'))).ok()
    }

    /// Points `etc/resolv.conf` at `ip` (e.g. the silent resolver).
    pub fn nameserver(&self, ip: Ipv4Addr) -> &NodeRoot {
        self.write(
            "etc/resolv.conf",
            &format!("nameserver {ip}\noptions timeout:1 attempts:1\n"),
        )
    }
}
