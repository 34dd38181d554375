//! The OCI image-spec vocabulary the stages share: a platform
//! (`os/arch[/variant]`, and the node's own in Go's names), media types,
//! content descriptors and digests.
//!
//! Values and pure functions only: no network, no files, and no decision
//! about what a registry's answer means (that is the stages' and the
//! verdict's job).

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::fmt::{self, Write as _};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Whether a media type names an image index (OCI) or manifest list (Docker).
#[must_use]
pub fn is_index_type(media_type: &str) -> bool {
    media_type == MEDIA_DOCKER_LIST || media_type == MEDIA_OCI_INDEX
}

/// A content descriptor (`mediaType`, `digest`, `size`, `platform`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: Option<u64>,
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// Read a descriptor object; `None` without a string `digest`.
    #[must_use]
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            media_type: v
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            digest: v.get("digest")?.as_str()?.to_owned(),
            size: v.get("size").and_then(Value::as_u64),
            platform: v.get("platform").and_then(Platform::from_json),
        })
    }
}

/// `sha256:<hex>` of `bytes`.
#[must_use]
pub fn sha256_digest(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in h {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `body` matches `digest` (only sha256 is checked; others pass).
#[must_use]
pub fn digest_matches(digest: &str, body: &[u8]) -> bool {
    !digest.starts_with("sha256:") || sha256_digest(body) == digest
}

/// The first 19 characters of a digest (`sha256:` and 12 hex digits), for summaries.
#[must_use]
pub fn short_digest(d: &str) -> &str {
    let end = d.char_indices().nth(19).map_or(d.len(), |(i, _)| i);
    &d[..end]
}

/// An OCI platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `{"os", "architecture", "variant"}` as in an index entry or an image
    /// config; `None` without both strings.
    #[must_use]
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            os: v.get("os")?.as_str()?.to_owned(),
            architecture: v.get("architecture")?.as_str()?.to_owned(),
            variant: v
                .get("variant")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }

    /// The machine the probe runs on, in Go's names (`x86_64` -> `amd64`).
    #[must_use]
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Self {
                    os: (*os).to_owned(),
                    architecture: (*arch).to_owned(),
                    variant: Some((*variant).to_owned()),
                })
            }
            _ => Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn parse_and_display() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(Platform::parse("linux/amd64").unwrap().variant, None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//").is_err());
    }
}
