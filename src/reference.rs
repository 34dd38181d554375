//! Image references, parsed exactly as kubelet and containerd do
//! (distribution/reference `ParseNormalizedNamed` + `ParseDockerRef`).
//!
//! STUB: to be filled in.

use std::fmt;

/// A fully normalised reference: `docker.io/library/nginx:latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry host (`docker.io`, `localhost:5000`).
    pub domain: String,
    /// The repository path (`library/nginx`).
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Why a reference is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

impl Reference {
    /// Parse and normalise as `ParseDockerRef` does.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        Err(ReferenceError { input: input.to_owned(), reason: "not implemented".to_owned() })
    }

    /// `domain/path`.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    #[must_use]
    pub fn object(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
