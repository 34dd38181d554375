//! The node's file system as seen from the probe: every node path goes through
//! a [`HostRoot`], which maps `/etc/...` to `<--root>/etc/...`.
//!
//! Only config discovery reads files, and always through this type; parsers
//! take `&str`. Paths found *inside* config files are absolute node paths and
//! are re-rooted with [`HostRoot::resolve`] too.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Linux's limit on links followed in one lookup (`MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

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
                Component::ParentDir
                | Component::RootDir
                | Component::CurDir
                | Component::Prefix(_) => {}
            }
        }
        out
    }

    /// Map a node path into the root, following symbolic links *inside* the
    /// root: an absolute link target (Debian's `/etc/ssl/certs/*.pem` ->
    /// `/usr/share/ca-certificates/...`) is a node path, and must not be
    /// followed on the probe's own file system.
    pub fn real_path(&self, node_path: impl AsRef<Path>) -> io::Result<PathBuf> {
        // `resolved` is a node path without symlinks; `pending` the components left.
        let mut resolved = PathBuf::from("/");
        let mut pending: Vec<PathBuf> = node_path
            .as_ref()
            .components()
            .rev()
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            match Path::new(&part).components().next() {
                Some(Component::Normal(name)) => {
                    let candidate = resolved.join(name);
                    let host = self.resolve(&candidate);
                    match std::fs::symlink_metadata(&host) {
                        Ok(m) if m.file_type().is_symlink() => {
                            links += 1;
                            if links > MAX_SYMLINKS {
                                return Err(io::Error::other("too many levels of symbolic links"));
                            }
                            let target = std::fs::read_link(&host)?;
                            if target.is_absolute() {
                                resolved = PathBuf::from("/");
                            }
                            pending.extend(
                                target
                                    .components()
                                    .rev()
                                    .map(|c| PathBuf::from(c.as_os_str())),
                            );
                        }
                        // A missing component surfaces as NotFound when the caller reads.
                        Ok(_) | Err(_) => resolved = candidate,
                    }
                }
                Some(Component::ParentDir) => {
                    resolved.pop();
                }
                _ => {}
            }
        }
        Ok(self.resolve(&resolved))
    }

    /// Read a node file as text when it exists: `Ok(None)` when it does not
    /// (an ordinary outcome for optional config files), `Err` when it exists
    /// but cannot be read.
    pub fn read_optional(&self, node_path: impl AsRef<Path>) -> io::Result<Option<String>> {
        match self.read_to_string(node_path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read a node file as text. `NotFound` is an ordinary outcome for callers
    /// that probe for optional files.
    pub fn read_to_string(&self, node_path: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.real_path(node_path)?)
    }

    /// Read a node file as bytes.
    pub fn read(&self, node_path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        std::fs::read(self.real_path(node_path)?)
    }

    /// Whether a node path exists (file, directory or socket).
    #[must_use]
    pub fn exists(&self, node_path: impl AsRef<Path>) -> bool {
        self.real_path(node_path).is_ok_and(|p| p.exists())
    }

    /// The entries of a node directory, as node paths, sorted by name.
    /// A missing directory yields an empty list.
    pub fn read_dir(&self, node_path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let node_path = node_path.as_ref();
        let dir = match std::fs::read_dir(self.real_path(node_path)?) {
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
    fn absolute_links_are_followed_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("usr/share/ca")).unwrap();
        std::fs::create_dir_all(base.join("etc/ssl/certs")).unwrap();
        std::fs::write(base.join("usr/share/ca/a.crt"), "inside").unwrap();
        std::os::unix::fs::symlink("/usr/share/ca/a.crt", base.join("etc/ssl/certs/a.pem"))
            .unwrap();
        std::os::unix::fs::symlink(
            "../../../usr/share/ca/a.crt",
            base.join("etc/ssl/certs/b.pem"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/loop", base.join("etc/loop")).unwrap();
        let root = HostRoot::new(base);
        assert_eq!(
            root.read_to_string("/etc/ssl/certs/a.pem").unwrap(),
            "inside"
        );
        assert_eq!(
            root.read_to_string("/etc/ssl/certs/b.pem").unwrap(),
            "inside"
        );
        assert!(root.read_to_string("/etc/loop").is_err());
        assert!(root.exists("/etc/ssl/certs/a.pem"));
        assert!(!root.exists("/etc/nothing"));
    }

    #[test]
    fn resolve_stays_under_root() {
        let r = HostRoot::new("/host");
        assert_eq!(
            r.resolve("/etc/resolv.conf"),
            PathBuf::from("/host/etc/resolv.conf")
        );
        assert_eq!(r.resolve("etc/hosts"), PathBuf::from("/host/etc/hosts"));
        assert_eq!(r.resolve("/../../etc/x"), PathBuf::from("/host/etc/x"));
        assert_eq!(r.resolve("/etc/a/../b"), PathBuf::from("/host/etc/b"));
        assert_eq!(
            HostRoot::default().resolve("/etc/hosts"),
            PathBuf::from("/etc/hosts")
        );
    }
}
