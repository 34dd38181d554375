//! The agent's targets file (`--targets`, a mounted ConfigMap):
//! `{registries: [...], images: [...]}` in YAML or JSON. It is re-read each
//! round; a file that does not parse or names a bad reference keeps the last
//! good list, and the round's report says so in `config_sources`, the log
//! and `/readyz`.
//!
//! A list longer than [`MAX_TARGETS`] (flags and file together) is refused
//! the same way: a round's memory grows with the list (probed in waves, but
//! each target's result and report entry live until the round ends;
//! `bench/targets.sh` measures it), so the limit keeps the agent well
//! inside its manifest's memory limit instead of letting the kernel kill it.

use crate::cli::Settings;
use crate::config::{Severity, Source};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The most targets one agent probes: flags and targets file together.
/// `bench/targets.sh` (static binary, every target an image on its own
/// registry name) measured about 6 MiB of base and 50 KiB of peak RSS per
/// target: 500 targets peak near 30 MiB, under half the DaemonSet's 64 Mi
/// limit; 1,000 would come near 55 MiB, too close to an OOM kill.
pub const MAX_TARGETS: usize = 500;

/// The file's shape.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    #[serde(default)]
    pub registries: Vec<String>,
    #[serde(default)]
    pub images: Vec<String>,
}

/// Parse the file's text (YAML, of which JSON is a part).
pub fn parse(text: &str) -> Result<TargetsFile, String> {
    if text.trim().is_empty() {
        return Ok(TargetsFile::default());
    }
    serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("line {}: {e}", l.line()),
        None => e.to_string(),
    })
}

/// The file across rounds: the last good list and what went wrong since.
#[derive(Debug)]
pub struct Targets {
    path: PathBuf,
    last_text: Option<String>,
    last_good: Option<(TargetsFile, u64)>,
    problem: Option<String>,
}

/// What the round probes, and the file's config source.
pub struct Resolved {
    pub settings: Settings,
    pub source: Source,
    /// The list changed since the last round.
    pub changed: bool,
    /// Why the file was refused (the last good list is probed), if it was.
    pub problem: Option<String>,
}

/// Why a list is refused for its length.
#[must_use]
pub fn too_many(count: usize, in_file: usize) -> String {
    format!(
        "{count} targets ({in_file} from the file), more than the agent's limit of {MAX_TARGETS}: split the list across DaemonSets, or drop images whose registry another target already checks"
    )
}

impl Targets {
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            last_text: None,
            last_good: None,
            problem: None,
        }
    }

    /// The settings for round `round`: the flags' targets plus the file's.
    pub fn resolve(&mut self, base: &Settings, round: u64) -> Resolved {
        let shown = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path);
        let mut changed = false;
        match &text {
            Ok(t) if self.last_text.as_deref() == Some(t.as_str()) => {}
            Ok(t) => {
                self.last_text = Some(t.clone());
                match parse(t).and_then(|f| {
                    let count = base.registries.len()
                        + base.image_inputs.len()
                        + f.registries.len()
                        + f.images.len();
                    if count > MAX_TARGETS {
                        return Err(too_many(count, f.registries.len() + f.images.len()));
                    }
                    let mut registries: Vec<String> = base
                        .registries
                        .iter()
                        .map(crate::target::RegistryHost::domain)
                        .collect();
                    registries.extend(f.registries.iter().cloned());
                    let mut images = base.image_inputs.clone();
                    images.extend(f.images.iter().cloned());
                    base.with_targets(&registries, &images)
                        .map(|_| f)
                        .map_err(|e| e.0)
                }) {
                    Ok(f) => {
                        changed = self.last_good.as_ref().is_none_or(|(old, _)| *old != f);
                        if changed {
                            tracing::info!(
                                event = "targets",
                                path = %shown,
                                registries = f.registries.len(),
                                images = f.images.len(),
                                "targets file read"
                            );
                        }
                        self.last_good = Some((f, round));
                        self.problem = None;
                    }
                    Err(e) => {
                        tracing::error!(event = "targets", path = %shown, error = %e, "targets file rejected; keeping the last good list");
                        self.problem = Some(e);
                    }
                }
            }
            Err(e) => {
                let e = format!("cannot read: {e}");
                if self.problem.as_deref() != Some(e.as_str()) {
                    tracing::error!(event = "targets", path = %shown, error = %e, "targets file unreadable; keeping the last good list");
                }
                self.last_text = None;
                self.problem = Some(e);
            }
        }
        let file = self
            .last_good
            .as_ref()
            .map(|(f, _)| f.clone())
            .unwrap_or_default();
        let mut registries: Vec<String> = base
            .registries
            .iter()
            .map(crate::target::RegistryHost::domain)
            .collect();
        registries.extend(file.registries);
        let mut images = base.image_inputs.clone();
        images.extend(file.images);
        // Validated when it was accepted; the flags were validated at start.
        let settings = base
            .with_targets(&registries, &images)
            .unwrap_or_else(|_| base.clone());
        let source = match (&self.problem, &self.last_good) {
            (None, _) => Source::ok(&shown, "targets"),
            (Some(p), Some((_, at))) => Source::finding(
                &shown,
                "targets",
                Severity::Error,
                None,
                format!("{p}; keeping the targets read in round {at}"),
            ),
            (Some(p), None) => Source::finding(
                &shown,
                "targets",
                Severity::Error,
                None,
                format!(
                    "{p}; no good list yet: probing only the flags' targets and the node's config"
                ),
            ),
        };
        let problem = self.problem.as_ref().map(|p| match &self.last_good {
            Some((_, at)) => {
                format!("targets file {shown} refused: {p}; keeping the targets read in round {at}")
            }
            None => format!("targets file {shown} refused: {p}; no good list yet"),
        });
        Resolved {
            settings,
            source,
            changed,
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_both_parse() {
        let y = parse("registries:\n  - myregistry.azurecr.io\nimages: [nginx]\n").unwrap();
        assert_eq!(y.registries, ["myregistry.azurecr.io"]);
        assert_eq!(y.images, ["nginx"]);
        let j = parse(r#"{"registries": ["a.test"], "images": []}"#).unwrap();
        assert_eq!(j.registries, ["a.test"]);
        assert_eq!(parse("").unwrap(), TargetsFile::default());
        let e = parse("registries: [a\nimages: {").unwrap_err();
        assert!(e.starts_with("line "), "{e}");
        assert!(
            parse("registry: [a.test]").is_err(),
            "unknown keys are typos"
        );
    }

    fn settings() -> Settings {
        use clap::Parser as _;
        let args = crate::cli::Args::try_parse_from(["probe", "daemon"]).unwrap();
        Settings::from_args(&args, &mut std::io::empty()).unwrap()
    }

    /// Issue 19: a list over the limit is refused with the count and the
    /// limit; the last good list stays, and the problem is said for `/readyz`.
    #[test]
    fn a_list_over_the_limit_is_refused_and_the_last_good_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("targets.yaml");
        std::fs::write(&path, "registries: [a.test, b.test]\n").unwrap();
        let mut t = Targets::new(&path);
        let base = settings();
        let r = t.resolve(&base, 1);
        assert_eq!(r.problem, None);
        assert_eq!(r.settings.registries.len(), 2);
        let long: String = (0..=MAX_TARGETS).fold(String::new(), |mut out, i| {
            use std::fmt::Write as _;
            let _ = writeln!(out, "  - r{i}.test");
            out
        });
        std::fs::write(&path, format!("registries:\n{long}")).unwrap();
        let r = t.resolve(&base, 2);
        let why = r.problem.expect("refused");
        assert!(
            why.contains(&format!("{} targets", MAX_TARGETS + 1))
                && why.contains(&format!("limit of {MAX_TARGETS}"))
                && why.contains("keeping the targets read in round 1"),
            "{why}"
        );
        assert_eq!(r.settings.registries.len(), 2, "the last good list");
        assert_eq!(r.source.findings[0].severity, Severity::Error);
        // Back under the limit: accepted again.
        std::fs::write(&path, "registries: [c.test]\n").unwrap();
        let r = t.resolve(&base, 3);
        assert_eq!(r.problem, None);
        assert_eq!(r.settings.registries.len(), 1);
    }
}
