//! Config discovery: read the node's files (always through
//! [`crate::hostroot::HostRoot`]) and turn them into targets and endpoints,
//! the way the node's container runtime would.
//!
//! The map, by what each part reads:
//!
//! - [`runtime`]: which runtime runs the pods, its release
//!   ([`runtime::version`], read from its binary), and each runtime's own
//!   files behind one [`runtime::backend::RuntimeConfig`]:
//!   [`runtime::containerd`] (with [`runtime::hosts_toml`] for `certs.d`),
//!   [`runtime::k3s`], [`runtime::crio`], [`runtime::docker`];
//! - [`credentials`]: Docker config files ([`credentials::dockercfg`],
//!   [`credentials::basic_auth`]), the kubelet's ([`credentials::kubelet`],
//!   its providers in [`credentials::credential_provider`]) and the Azure
//!   identity ([`credentials::azure`]);
//! - [`net`]: the resolver ([`net::resolv`]), the CA store ([`net::trust`]),
//!   the runtime's proxy environment ([`net::proxy`]) and `host:port`
//!   ([`net::hostport`]);
//! - [`systemd`]: one reader of units for all three (search path, masking,
//!   drop-ins, `Environment=`, `EnvironmentFile=`, `ExecStart=`);
//!   [`read_optional`] reads an optional node file and records it;
//! - [`node`] folds them into one [`node::NodeConfig`].
//!
//! Each format's `parse` takes `&str` and never touches the disk; nothing
//! here opens a connection or resolves a name. What is wrong or risky in a
//! file is a [`Source`] finding with its [`Severity`] and line (`error`: the
//! runtime fails on the file or ignores it; `warning`: it works, but is
//! risky or version-dependent), one entry per file ([`merge_sources`]); a
//! broken file never stops the run. Secrets stay [`crate::secret::Secret`]s
//! and no finding quotes one.

pub mod credentials;
pub mod go_duration;
pub mod net;
pub mod node;
pub mod runtime;
pub mod systemd;

use crate::hostroot::HostRoot;
use std::fmt;

/// Read an optional node file: its text, or `None` when it does not exist;
/// a file that exists but cannot be read is a `kind` source error, and the
/// rest of discovery goes on.
pub fn read_optional(
    root: &HostRoot,
    path: &str,
    kind: &str,
    sources: &mut Vec<Source>,
) -> Option<String> {
    read_optional_then(root, path, kind, "", sources)
}

/// [`read_optional`], the error saying what the runtime does `then`
/// (`"; k3s fails to start"`).
pub fn read_optional_then(
    root: &HostRoot,
    path: &str,
    kind: &str,
    then: &str,
    sources: &mut Vec<Source>,
) -> Option<String> {
    root.read_optional(path).unwrap_or_else(|e| {
        sources.push(Source::error(path, kind, format!("cannot read: {e}{then}")));
        None
    })
}

/// How bad a config finding is (`CONTRACT.md`: `config_sources[].severity`).
///
/// `Error`: the runtime itself would fail on the file or ignore it (a parse
/// error, a contradiction it rejects); `Warning`: the file works but is risky
/// or version-dependent; `Ok`: nothing to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing worth saying about a config file, at a line where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

/// A config file that was consulted, and what is wrong or risky in it.
/// The report lists each file once (`config_sources`), with its worst
/// finding's severity and line and every finding's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The node path (as the runtime sees it, not re-rooted), e.g. `/etc/containerd/config.toml`.
    pub path: String,
    /// `containerd`, `hosts.toml`, `crio`, `docker`, `kubelet`, `k3s`, `proxy`, `resolv`, `hosts`, `trust`, `docker-config`, ...
    pub kind: String,
    /// Empty when the file was read and nothing is wrong with it.
    pub findings: Vec<Finding>,
}

impl Source {
    /// A file read without a finding.
    #[must_use]
    pub fn ok(path: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            findings: Vec::new(),
        }
    }

    /// A file with one finding.
    #[must_use]
    pub fn finding(
        path: impl Into<String>,
        kind: impl Into<String>,
        severity: Severity,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            kind: kind.into(),
            findings: vec![Finding {
                line,
                severity,
                message: message.into(),
            }],
        }
    }

    /// A file the runtime would fail on or ignore.
    #[must_use]
    pub fn error(
        path: impl Into<String>,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::finding(path, kind, Severity::Error, None, message)
    }

    /// A file that works but is risky or version-dependent.
    #[must_use]
    pub fn warning(
        path: impl Into<String>,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::finding(path, kind, Severity::Warning, None, message)
    }

    /// A file that does not parse: an error at the parser's line.
    #[must_use]
    pub fn parse_error(
        path: impl Into<String>,
        kind: impl Into<String>,
        error: &ParseError,
    ) -> Self {
        Self::finding(path, kind, Severity::Error, error.line, error.to_string())
    }

    /// The same source with its (last) finding placed at `line`.
    #[must_use]
    pub fn at_line(mut self, line: usize) -> Self {
        if let Some(f) = self.findings.last_mut() {
            f.line = Some(line);
        }
        self
    }

    /// The worst finding's severity; `Ok` without findings.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }

    /// The line of the worst finding (the first of equals), if it has one.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        let worst = self.severity();
        self.findings
            .iter()
            .find(|f| f.severity == worst)
            .and_then(|f| f.line)
    }

    /// Every finding's message, worst first, joined; `None` without findings.
    #[must_use]
    pub fn message(&self) -> Option<String> {
        if self.findings.is_empty() {
            return None;
        }
        let mut sorted: Vec<&Finding> = self.findings.iter().collect();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Some(
            sorted
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The message when the worst finding is an error.
    #[must_use]
    pub fn error_message(&self) -> Option<String> {
        (self.severity() == Severity::Error)
            .then(|| self.message())
            .flatten()
    }
}

/// Add sources to a list, one entry per file: a path seen again adds only
/// the findings not already recorded, and keeps the kind it was first
/// listed with (a docker.service drop-in is read for dockerd's flags and for
/// its proxy environment; it is one file). Per-registry builders repeat
/// file-wide findings for every registry.
pub fn merge_sources(sources: &mut Vec<Source>, new: impl IntoIterator<Item = Source>) {
    for s in new {
        match sources.iter_mut().find(|o| o.path == s.path) {
            Some(existing) => {
                for f in s.findings {
                    if !existing.findings.contains(&f) {
                        existing.findings.push(f);
                    }
                }
            }
            None => sources.push(s),
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

    /// The same error with what the runtime does about it appended to the
    /// message ("...; containerd fails to start with this file").
    #[must_use]
    pub(crate) fn with_consequence(mut self, consequence: &str) -> Self {
        self.message = format!("{}; {consequence}", self.message);
        self
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

/// A URL (or a schemeless `host[:port][/path]`) as written in a config, for
/// a message: user info in its authority (`user:pass@`) is cut out, since
/// a finding must never quote a password.
#[must_use]
pub(crate) fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return url.to_owned();
    };
    let kept = &rest[at + 1..];
    scheme.map_or_else(|| kept.to_owned(), |s| format!("{s}://{kept}"))
}

/// The 1-based line of a byte offset in `text`, for error messages. Counts
/// bytes, so an offset inside a multi-byte character (a span from a damaged
/// file) cannot panic; `\n` is never part of one, so the line is the same.
#[must_use]
pub fn line_of(text: &str, offset: usize) -> usize {
    text.bytes().take(offset).filter(|b| *b == b'\n').count() + 1
}

/// A file of `tests/fixtures/<dir>/`, for the parsers' tests.
#[cfg(test)]
pub(crate) fn fixture(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Secret environment values exposed, for tests' comparisons.
#[cfg(test)]
pub(crate) fn exposed(v: Vec<(String, crate::secret::Secret)>) -> Vec<(String, String)> {
    v.into_iter()
        .map(|(k, v)| (k, v.expose().to_owned()))
        .collect()
}

/// `(&str, &str)` pairs as owned strings, for tests' expectations.
#[cfg(test)]
pub(crate) fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_file_with_its_worst_finding() {
        let unit = "/etc/systemd/system/docker.service.d/http-proxy.conf";
        let mut sources = vec![Source::ok(unit, "docker")];
        merge_sources(
            &mut sources,
            [
                Source::ok(unit, "proxy"),
                Source::warning("/etc/containerd/config.toml", "containerd", "risky").at_line(3),
                Source::error("/etc/containerd/config.toml", "containerd", "broken").at_line(7),
                Source::warning("/etc/containerd/config.toml", "containerd", "risky").at_line(3),
            ],
        );
        assert_eq!(sources.len(), 2);
        assert_eq!(
            (sources[0].kind.as_str(), sources[0].severity()),
            ("docker", Severity::Ok)
        );
        let toml = &sources[1];
        assert_eq!(toml.findings.len(), 2, "the repeated warning is kept once");
        assert_eq!((toml.severity(), toml.line()), (Severity::Error, Some(7)));
        assert_eq!(toml.message().as_deref(), Some("broken; risky"));
        assert_eq!(toml.error_message().as_deref(), Some("broken; risky"));
    }

    #[test]
    fn urls_in_messages_lose_their_user_info() {
        for (input, want) in [
            (
                "https://u:pw@mirror.test:5000/v2?x",
                "https://mirror.test:5000/v2?x",
            ),
            ("u:pw@mirror.test/x", "mirror.test/x"),
            ("https://mirror.test/a@b", "https://mirror.test/a@b"),
            ("https://HostIP1:Port1", "https://HostIP1:Port1"),
            ("", ""),
        ] {
            assert_eq!(without_userinfo(input), want, "{input}");
        }
    }

    #[test]
    fn parse_errors_keep_their_line_and_consequence() {
        let e = ParseError::at("a\nb = [\n", 4, "unclosed array").with_consequence("it fails");
        let s = Source::parse_error("/f", "k", &e);
        assert_eq!((s.severity(), s.line()), (Severity::Error, Some(2)));
        assert_eq!(
            s.message().as_deref(),
            Some("line 2: unclosed array; it fails")
        );
    }
}
