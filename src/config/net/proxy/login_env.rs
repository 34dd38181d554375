//! The proxy a login shell on the node has: `/etc/environment` (`pam_env`)
//! and `/etc/profile.d/*.sh` (sourced by `/etc/profile`), the reason `curl`
//! from an SSH session works while the runtime, started by systemd with
//! its unit's environment only, goes direct and fails.
//!
//! `/etc/environment` is `pam_env`'s `KEY=VALUE` file (`pam_env.c`
//! `_parse_env_file`: comments, a leading `export ` is skipped, quotes
//! around the value removed). The `profile.d` scripts are shell: only the
//! plain lines `export KEY=VALUE` and `KEY=VALUE` at the start of a line are
//! taken, with systemd's environment-file rules for the value
//! ([`crate::config::systemd::parse_environment_file`]); a value that needs
//! the shell (`$VAR`, `` ` ``, `$(...)`) is skipped, never evaluated.
//! Scripts are read in name order, as `/etc/profile`'s glob sources them;
//! a later assignment wins.
//!
//! It reads through [`HostRoot`] only and keeps values [`crate::secret::Secret`]s: a proxy
//! URL's user info never reaches a source, a hint or an error.

use super::{EnvMap, ProxyEnv};
use crate::config::systemd::parse_environment_file;
use crate::config::{Source, read_optional};
use crate::hostroot::HostRoot;

/// `pam_env`'s file, read for every login (and by `su -`, `sudo -i`).
pub const ETC_ENVIRONMENT: &str = "/etc/environment";
/// Sourced by `/etc/profile` for login shells, `*.sh` in name order.
pub const PROFILE_D: &str = "/etc/profile.d";

const KIND: &str = "login-env";

/// The proxy variables a login shell on the node gets, and the files read.
#[must_use]
pub fn discover(root: &HostRoot) -> (ProxyEnv, Vec<Source>) {
    let mut sources = Vec::new();
    let mut env = EnvMap::default();
    if let Some(text) = read_optional(root, ETC_ENVIRONMENT, KIND, &mut sources) {
        apply(&mut env, ETC_ENVIRONMENT, &text);
        sources.push(Source::ok(ETC_ENVIRONMENT, KIND));
    }
    let mut scripts: Vec<String> = root
        .read_dir(PROFILE_D)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        // `/etc/profile`'s `*.sh`: case-sensitive, and no dot files.
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "sh")
        })
        .map(|n| format!("{PROFILE_D}/{n}"))
        .collect();
    scripts.sort();
    for path in scripts {
        if let Some(text) = read_optional(root, &path, KIND, &mut sources) {
            apply(&mut env, &path, &text);
            sources.push(Source::ok(&path, KIND));
        }
    }
    (ProxyEnv::from_env(&env), sources)
}

/// Take the plain assignments of `text` (a `pam_env` file or a shell script).
fn apply(env: &mut EnvMap, path: &str, text: &str) {
    for (n, line) in text.lines().enumerate() {
        let Some((key, value)) = plain_assignment(line) else {
            continue;
        };
        env.set(&key, value, &format!("{path}:{}", n + 1));
    }
}

/// `export KEY=VALUE` or `KEY=VALUE` at the start of a line, with a value the
/// shell would not expand; anything else is `None`.
fn plain_assignment(line: &str) -> Option<(String, crate::secret::Secret)> {
    let line = line.trim_start();
    let line = line
        .strip_prefix("export")
        .filter(|r| r.starts_with([' ', '\t']))
        .map_or(line, str::trim_start);
    let (key, value) = line.split_once('=')?;
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    // Shell expansion (`$HTTP_PROXY`, `$(cat ...)`, backquotes), or a
    // command after the assignment: not a value we can know without a shell.
    if value.contains(['$', '`', ';', '&', '|']) {
        return None;
    }
    let mut parsed = parse_environment_file(&format!("{key}={value}"));
    let a = parsed.pop()?;
    (a.key == key).then_some((a.key, a.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, HostRoot) {
        let d = tempfile::tempdir().unwrap();
        let r = HostRoot::new(d.path());
        (d, r)
    }

    fn put(d: &tempfile::TempDir, rel: &str, text: &str) {
        let p = d.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn plain_lines_only() {
        assert_eq!(
            plain_assignment("export HTTPS_PROXY=http://p:3128")
                .map(|(k, v)| (k, v.expose().to_owned())),
            Some(("HTTPS_PROXY".into(), "http://p:3128".into()))
        );
        assert_eq!(
            plain_assignment("https_proxy=\"http://p:3128\"").map(|(_, v)| v.expose().to_owned()),
            Some("http://p:3128".into())
        );
        for skipped in [
            "export HTTPS_PROXY=$HTTP_PROXY",
            "HTTPS_PROXY=$(cat /etc/proxy)",
            "HTTPS_PROXY=`cat /etc/proxy`",
            "[ -n \"$X\" ] && export HTTPS_PROXY=http://p:1",
            "# export HTTPS_PROXY=http://p:1",
            "if true; then",
        ] {
            assert!(plain_assignment(skipped).is_none(), "{skipped}");
        }
    }

    #[test]
    fn profile_d_wins_over_etc_environment_and_never_shows_a_password() {
        let (d, r) = root();
        put(
            &d,
            "etc/environment",
            "PATH=\"/usr/bin\"\nHTTPS_PROXY=\"http://a:3128\"\n",
        );
        put(
            &d,
            "etc/profile.d/proxy.sh",
            "# corporate proxy\nexport HTTPS_PROXY=http://bob:s3cret@b:3128\nexport NO_PROXY=localhost,.corp\n",
        );
        put(&d, "etc/profile.d/zz.txt", "HTTPS_PROXY=http://ignored:1\n");
        let (env, sources) = discover(&r);
        let https = env.https_proxy.unwrap();
        assert_eq!(https.source, "/etc/profile.d/proxy.sh:2");
        assert_eq!(https.display_value(), "http://redacted@b:3128");
        assert_eq!(env.no_proxy.unwrap().value.expose(), "localhost,.corp");
        assert_eq!(sources.len(), 2, "{sources:?}");
        assert!(!format!("{sources:?}").contains("s3cret"));
    }
}
