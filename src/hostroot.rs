//! The node's file system as seen from the probe: every node path goes through
//! a [`HostRoot`], which maps `/etc/...` to `<--root>/etc/...`.
//!
//! Only config discovery reads files, and always through this type; parsers
//! take `&str`. Paths found *inside* config files are absolute node paths and
//! are re-rooted with [`HostRoot::resolve`] too.

use std::io;
use std::path::{Component, Path, PathBuf};

/// The node root (`--root`, default `/`; the DaemonSet mounts the host at `/host`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRoot {
    root: PathBuf,
}

impl HostRoot {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Map a node path (absolute or relative to the node's `/`) into the root.
    /// `..` components cannot climb above the root.
    #[must_use]
    pub fn resolve(&self, node_path: impl AsRef<Path>) -> PathBuf {
        let mut out = self.root.clone();
        let mut depth = 0usize;
        for comp in node_path.as_ref().components() {
            match comp {
                Component::Normal(part) => {
                    out.push(part);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.pop();
                    depth -= 1;
                }
                Component::ParentDir | Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        out
    }

    /// Read a node file as text. `NotFound` is an ordinary outcome for callers
    /// that probe for optional files.
    pub fn read_to_string(&self, node_path: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.resolve(node_path))
    }

    /// Read a node file as bytes.
    pub fn read(&self, node_path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(node_path))
    }

    /// Whether a node path exists (file, directory or socket).
    #[must_use]
    pub fn exists(&self, node_path: impl AsRef<Path>) -> bool {
        self.resolve(node_path).exists()
    }

    /// The entries of a node directory, as node paths, sorted by name.
    /// A missing directory yields an empty list.
    pub fn read_dir(&self, node_path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let node_path = node_path.as_ref();
        let dir = match std::fs::read_dir(self.resolve(node_path)) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<PathBuf> = dir
            .filter_map(Result::ok)
            .map(|e| node_path.join(e.file_name()))
            .collect();
        names.sort();
        Ok(names)
    }
}

impl Default for HostRoot {
    fn default() -> Self {
        Self::new("/")
    }
}

#[cfg(test)]
mod tests {
    use super::HostRoot;
    use std::path::PathBuf;

    #[test]
    fn resolve_stays_under_root() {
        let r = HostRoot::new("/host");
        assert_eq!(r.resolve("/etc/resolv.conf"), PathBuf::from("/host/etc/resolv.conf"));
        assert_eq!(r.resolve("etc/hosts"), PathBuf::from("/host/etc/hosts"));
        assert_eq!(r.resolve("/../../etc/x"), PathBuf::from("/host/etc/x"));
        assert_eq!(r.resolve("/etc/a/../b"), PathBuf::from("/host/etc/b"));
        assert_eq!(HostRoot::default().resolve("/etc/hosts"), PathBuf::from("/etc/hosts"));
    }
}
