//! Config discovery: read the node's files (always through [`HostRoot`]) and
//! turn them into targets and endpoints. Each submodule parses one format
//! from `&str` and never touches the disk itself.
//!
//! Problems are collected as [`Source`]s with path, line and reason; a broken
//! file never stops the run.

pub mod containerd;
pub mod crio;
pub mod docker;
pub mod dockercfg;
pub mod hosts;
pub mod k3s;
pub mod kubelet;
pub mod node;
pub mod proxy;
pub mod resolv;
pub mod runtime;
pub mod trust;

use serde::Serialize;
use std::fmt;

/// The endpoints a runtime would try for one registry, in its order, and the
/// problems it would hit on the way (Docker, k3s; CRI-O's plan adds more).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub endpoints: Vec<crate::target::Endpoint>,
    pub problems: Vec<String>,
}

/// A config file that was consulted, and what went wrong with it, if anything.
/// Serialised as the report's `config_sources` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The node path (as the runtime sees it, not re-rooted), e.g. `/etc/containerd/config.toml`.
    pub path: String,
    /// `containerd`, `hosts.toml`, `crio`, `docker`, `kubelet`, `k3s`, `proxy`, `resolv`, `hosts`, `trust`, `docker-config`, ...
    pub kind: String,
    /// Why the file could not be used, with a line number where there is one.
    pub error: Option<String>,
}

impl Source {
    #[must_use]
    pub fn ok(path: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            error: None,
        }
    }

    #[must_use]
    pub fn error(
        path: impl Into<String>,
        kind: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            error: Some(error.into()),
        }
    }
}

/// A config text that could not be used: where (1-based line, and column
/// where the parser gives one) and why. Every format's `parse` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ParseError {
    /// An error at `line`, or at no particular place when `None`.
    pub(crate) fn new(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            column: None,
            message: message.into(),
        }
    }

    /// An error at a byte offset of `text` (see [`line_of`]).
    pub(crate) fn at(text: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::new(Some(line_of(text, offset)), message)
    }

    /// The toml crate's own syntax error, located by its span.
    pub(crate) fn from_toml(text: &str, err: &toml::de::Error) -> Self {
        let offset = err.span().map_or(0, |s| s.start);
        Self::at(text, offset, err.message().trim().to_owned())
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l} column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// The 1-based line of a byte offset in `text`, for error messages. Counts
/// bytes, so an offset inside a multi-byte character (a span from a damaged
/// file) cannot panic; `\n` is never part of one, so the line is the same.
#[must_use]
pub fn line_of(text: &str, offset: usize) -> usize {
    text.bytes().take(offset).filter(|b| *b == b'\n').count() + 1
}

/// A file of `../shared/fixtures/<dir>/`, for the parsers' tests.
#[cfg(test)]
pub(crate) fn fixture(dir: &str, name: &str) -> String {
    let path = format!(
        "{}/../shared/fixtures/{dir}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Two damaged copies of `text` for robustness tests: cut at `cut`, and with
/// the character at `at` replaced by `ch` (indexes scaled to the text).
#[cfg(test)]
pub(crate) fn damaged(
    text: &str,
    cut: proptest::sample::Index,
    at: proptest::sample::Index,
    ch: char,
) -> [String; 2] {
    let chars: Vec<char> = text.chars().collect();
    let truncated = chars[..cut.index(chars.len() + 1)].iter().collect();
    let mut mutated = chars;
    if !mutated.is_empty() {
        let i = at.index(mutated.len());
        mutated[i] = ch;
    }
    [truncated, mutated.into_iter().collect()]
}
