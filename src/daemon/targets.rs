//! The agent's targets file (`--targets`, a mounted ConfigMap):
//! `{registries: [...], images: [...]}` in YAML or JSON. It is re-read each
//! round; a file that does not parse or names a bad reference keeps the last
//! good list, and the round's report says so in `config_sources`.

use crate::cli::Settings;
use crate::config::{Severity, Source};
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
        Resolved {
            settings,
            source,
            changed,
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
}
