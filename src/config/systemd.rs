//! systemd, as far as a daemon's unit goes: where a unit and its drop-ins
//! are found, in which order they apply, and what their `[Service]`
//! `Environment=`, `EnvironmentFile=`, `UnsetEnvironment=` and `ExecStart=`
//! say; the manager's `DefaultEnvironment=`; `EnvironmentFile=` files.
//!
//! One reader for every unit the probe looks at: the runtime's (its proxy
//! environment, [`super::net::proxy::daemon_env`]; dockerd's command line,
//! [`super::runtime::docker`]) and the kubelet's flags
//! ([`super::credentials::kubelet`]). Parsers take `&str` and never touch
//! the disk; [`unit_files`] and [`dropins`] list node files through
//! [`HostRoot`]. Values are [`Secret`]s from parsing on (an `Environment=`
//! may carry a proxy password); no error message quotes one. What the
//! settings mean for a runtime is its caller's business, not this module's.

use crate::config::{Finding, Severity, Source, read_optional};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::Path;

// ---------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------

/// An `Environment=`/`DefaultEnvironment=`/`EnvironmentFile` assignment and
/// its 1-based line. The value is secret (see [`EnvValue`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvAssignment {
    pub key: String,
    pub value: Secret,
    pub line: usize,
}

/// An `EnvironmentFile=` entry: a node path (specifiers not yet expanded),
/// `optional` when written with a leading `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFileRef {
    pub path: String,
    pub optional: bool,
    pub line: usize,
}

/// An `ExecStart=` assignment and its 1-based line: `None` for the empty
/// reset, else the command's words (the `-@:+!` executable prefixes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecStart {
    pub argv: Option<Vec<String>>,
    pub line: usize,
}

/// The `[Service]` settings of one unit file or drop-in that the probe reads
/// (or of a `system.conf` file, where `DefaultEnvironment=` fills
/// `environment`).
///
/// In systemd an empty assignment (`Environment=`) empties the list built so
/// far, including what earlier files added; the `*_reset` flags say this file
/// did so, and the lists hold what came after the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitSettings {
    pub environment_reset: bool,
    pub environment: Vec<EnvAssignment>,
    pub environment_files_reset: bool,
    pub environment_files: Vec<EnvFileRef>,
    pub unset_reset: bool,
    /// `UnsetEnvironment=` words: `NAME` or `NAME=VALUE` (only that exact value).
    pub unset: Vec<String>,
    /// `ExecStart=` assignments in order; the last one is the command.
    pub exec_start: Vec<ExecStart>,
    /// The last `User=` (empty: reset to the default, root).
    pub user: Option<String>,
    /// Problems with their line; never containing values.
    pub errors: Vec<(usize, String)>,
}

/// One environment value and where it was set. Any value may be a
/// credential (a proxy URL's password, a token), so every one is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvValue {
    pub value: Secret,
    pub origin: String,
}

/// A process environment being assembled; later `set`s override earlier ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvMap {
    vars: BTreeMap<String, EnvValue>,
}

impl EnvMap {
    pub fn set(&mut self, key: &str, value: impl Into<Secret>, origin: &str) {
        self.vars.insert(
            key.to_owned(),
            EnvValue {
                value: value.into(),
                origin: origin.to_owned(),
            },
        );
    }

    pub fn unset(&mut self, key: &str) {
        self.vars.remove(key);
    }

    #[must_use]
    pub fn get(&self, key: &str) -> Option<&EnvValue> {
        self.vars.get(key)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &EnvValue)> {
        self.vars.iter()
    }
}

/// The manager's `DefaultEnvironment=` (`/etc/systemd/system.conf`, then
/// its drop-ins), which every system unit starts from.
pub fn manager_environment(root: &HostRoot, kind: &str, sources: &mut Vec<Source>) -> EnvMap {
    let mut env = EnvMap::default();
    // The manager's DefaultEnvironment=: system.conf, then its drop-ins.
    let conf_dirs: Vec<String> = SYSTEM_CONF_DIRS.iter().map(|d| (*d).to_owned()).collect();
    let mut manager_files = vec!["/etc/systemd/system.conf".to_owned()];
    manager_files.extend(dropins(root, &conf_dirs, kind, sources));
    let mut defaults: Vec<(EnvAssignment, String)> = Vec::new();
    for path in manager_files {
        let Some(text) = read_optional(root, &path, kind, sources) else {
            continue;
        };
        let parsed = parse_system_conf(&text);
        if parsed.environment_reset {
            defaults.clear();
        }
        defaults.extend(parsed.environment.into_iter().map(|a| (a, path.clone())));
        sources.push(errors_source(&path, kind, &parsed.errors));
    }
    for (a, path) in &defaults {
        env.set(&a.key, a.value.clone(), &format!("{path}:{}", a.line));
    }

    env
}

/// What systemd would start a unit with: its environment and its `User=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitExec {
    pub env: EnvMap,
    /// `User=`, when set (`None`: root, and systemd sets no `HOME`).
    pub user: Option<String>,
}

/// The environment and user systemd gives `unit` (systemd.exec(5)): the
/// manager's `DefaultEnvironment=`, the unit's `Environment=` (unit file,
/// then drop-ins), then its `EnvironmentFile=`s, then
/// `UnsetEnvironment=`. `None` when the unit has no file under the root.
pub fn unit_environment(
    root: &HostRoot,
    unit: &str,
    kind: &str,
    sources: &mut Vec<Source>,
) -> Option<UnitExec> {
    let files = unit_files(root, unit, kind, sources);
    if files.is_empty() {
        return None;
    }
    let mut env = manager_environment(root, kind, sources);
    let user = apply_unit(root, unit, files.into_iter(), &mut env, kind, sources);
    Some(UnitExec { env, user })
}

/// Merge a unit's files in order and apply `Environment=`, then the
/// `EnvironmentFile=`s, then `UnsetEnvironment=` (systemd's exec order).
fn apply_unit(
    root: &HostRoot,
    unit: &str,
    files: impl Iterator<Item = String>,
    env: &mut EnvMap,
    kind: &str,
    sources: &mut Vec<Source>,
) -> Option<String> {
    let mut assigns: Vec<(EnvAssignment, String)> = Vec::new();
    let mut env_files: Vec<(EnvFileRef, String)> = Vec::new();
    let mut unset: Vec<String> = Vec::new();
    let mut user: Option<String> = None;
    for path in files {
        let Some(text) = read_optional(root, &path, kind, sources) else {
            continue;
        };
        let parsed = parse_unit_file(&text);
        if parsed.environment_reset {
            assigns.clear();
        }
        if parsed.environment_files_reset {
            env_files.clear();
        }
        if parsed.unset_reset {
            unset.clear();
        }
        assigns.extend(parsed.environment.into_iter().map(|a| (a, path.clone())));
        env_files.extend(
            parsed
                .environment_files
                .into_iter()
                .map(|f| (f, path.clone())),
        );
        unset.extend(parsed.unset);
        if let Some(u) = parsed.user {
            // `User=` with an empty value resets it to root's default.
            user = Some(u).filter(|u| !u.is_empty());
        }
        sources.push(errors_source(&path, kind, &parsed.errors));
    }
    for (a, path) in &assigns {
        let origin = format!("{path}:{}", a.line);
        // Specifiers are resolved in Environment= values; an unknown one makes
        // systemd drop the assignment.
        if let Some(v) = expand_specifiers(a.value.expose(), unit) {
            env.set(&a.key, v, &origin);
        }
    }
    for (f, unit_path) in &env_files {
        let Some(path) = expand_specifiers(&f.path, unit) else {
            sources.push(Source::finding(
                unit_path.clone(),
                kind,
                Severity::Error,
                Some(f.line),
                format!(
                    "line {}: EnvironmentFile= uses an unknown specifier",
                    f.line
                ),
            ));
            continue;
        };
        match root.read_to_string(&path) {
            Ok(text) => {
                for a in parse_environment_file(&text) {
                    env.set(&a.key, a.value, &format!("{path}:{}", a.line));
                }
                sources.push(Source::ok(path, kind));
            }
            Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let why = if f.optional {
                    format!("cannot read: {e}")
                } else {
                    format!(
                        "cannot read: {e} (required by {unit_path}:{}; the unit fails to start)",
                        f.line
                    )
                };
                sources.push(Source::error(path, kind, why));
            }
        }
    }
    for u in &unset {
        match u.split_once('=') {
            Some((k, v)) => {
                if env.get(k).is_some_and(|cur| cur.value.expose() == v) {
                    env.unset(k);
                }
            }
            None => env.unset(u),
        }
    }
    user
}

/// A value split into words by `extract_first_word` with
/// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`, as systemd splits an `ExecStart=`
/// command line (`config_parse_exec`, `src/core/load-fragment.c`) and an
/// `UnsetEnvironment=` list; variables stay literal. At a syntax error the
/// words before it are kept, with the error.
fn words(value: &str) -> (Vec<String>, Option<&'static str>) {
    let mut words = Vec::new();
    let mut rest = value.as_bytes();
    loop {
        match extract_first_word(&mut rest) {
            Ok(Some(w)) => words.push(String::from_utf8_lossy(&w).into_owned()),
            Ok(None) => return (words, None),
            Err(e) => return (words, Some(e)),
        }
    }
}

/// Split an `Environment=` value into assignments, as systemd's
/// `config_parse_environ` does: words by `extract_first_word` with
/// `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE` (`src/basic/extract-word.c`): single
/// and double quotes anywhere in a word, C escapes (`\n`, `\x41`, `\u00e9`,
/// `\101`, `\s`...) in and out of quotes, whitespace separates. Words that
/// are not valid `NAME=VALUE` assignments are skipped; at a syntax error
/// (unbalanced quote, bad escape, trailing backslash) systemd ignores the rest
/// of the line but keeps what it already parsed, and so does this.
#[must_use]
pub fn parse_systemd_environment(value: &str) -> Vec<(String, Secret)> {
    parse_environ_words(value).0
}

fn parse_environ_words(value: &str) -> (Vec<(String, Secret)>, Option<&'static str>) {
    let mut out = Vec::new();
    let mut rest = value.as_bytes();
    loop {
        match extract_first_word(&mut rest) {
            Err(e) => return (out, Some(e)),
            Ok(None) => return (out, None),
            Ok(Some(word)) => {
                // A raw byte from `\x..`/octal that is not UTF-8 fails env_value_is_valid.
                let Ok(word) = String::from_utf8(word) else {
                    continue;
                };
                if let Some((k, v)) = word.split_once('=')
                    && env_name_is_valid(k)
                    && env_value_is_valid(v)
                {
                    out.push((k.to_owned(), Secret::new(v)));
                }
            }
        }
    }
}

const WHITESPACE: &[u8] = b" \t\n\r";

/// `extract_first_word(p, &word, NULL, EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)`.
fn extract_first_word(p: &mut &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let start = p.iter().position(|c| !WHITESPACE.contains(c));
    let Some(start) = start else {
        *p = &[];
        return Ok(None);
    };
    let mut s = &p[start..];
    let mut word = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some((&c, tail)) = s.split_first() else {
            if quote.is_some() {
                return Err("unbalanced quotes");
            }
            *p = &[];
            return Ok(Some(word));
        };
        match (quote, c) {
            (_, b'\\') => {
                if tail.is_empty() {
                    return Err("trailing backslash");
                }
                let (bytes, used) = cunescape_one(tail).ok_or("invalid escape")?;
                word.extend_from_slice(&bytes);
                s = &tail[used..];
            }
            (Some(q), c) if c == q => {
                quote = None;
                s = tail;
            }
            (None, b'\'' | b'"') => {
                quote = Some(c);
                s = tail;
            }
            (None, c) if WHITESPACE.contains(&c) => {
                *p = tail;
                return Ok(Some(word));
            }
            (_, c) => {
                word.push(c);
                s = tail;
            }
        }
    }
}

/// systemd's `cunescape_one` (`src/basic/escape.c`): the bytes one escape
/// (after the backslash) stands for, and how many input bytes it used.
fn cunescape_one(p: &[u8]) -> Option<(Vec<u8>, usize)> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let simple = match p[0] {
        b'a' => Some(7u8),
        b'b' => Some(8),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        b'\'' => Some(b'\''),
        b's' => Some(b' '),
        _ => None,
    };
    if let Some(b) = simple {
        return Some((vec![b], 1));
    }
    match p[0] {
        b'x' => {
            let hi = hex(*p.get(1)?)?;
            let lo = hex(*p.get(2)?)?;
            // systemd refuses NUL bytes.
            if hi == 0 && lo == 0 {
                return None;
            }
            Some((vec![(hi * 16 + lo) as u8], 3))
        }
        b'u' | b'U' => {
            let n = if p[0] == b'u' { 4 } else { 8 };
            let digits = p.get(1..=n)?;
            let mut v = 0u32;
            for d in digits {
                v = v * 16 + hex(*d)?;
            }
            if v == 0 {
                return None;
            }
            let c = char::from_u32(v)?;
            Some((c.to_string().into_bytes(), n + 1))
        }
        b'0'..=b'7' => {
            let oct = |b: u8| (b'0'..=b'7').contains(&b).then(|| u32::from(b - b'0'));
            let mut m = 0u32;
            for d in p.get(..3)? {
                m = (m << 3) | oct(*d)?;
            }
            if m == 0 || m > 255 {
                return None;
            }
            Some((vec![m as u8], 3))
        }
        _ => None,
    }
}

/// `env_name_is_valid`: `[A-Za-z_][A-Za-z0-9_]*`.
fn env_name_is_valid(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `env_value_is_valid`: no control characters other than tab and newline.
fn env_value_is_valid(v: &str) -> bool {
    !v.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
}

/// One `key=value` line of a systemd ini file, after continuation joining.
struct IniEntry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// systemd's `config_parse` line handling (`src/shared/conf-parser.c`):
/// `#`/`;` comment lines (skipped even inside a continuation), a trailing
/// odd backslash joins the next line (the backslash becomes a space),
/// `[Section]` headers, `Key=Value` with both sides stripped.
fn parse_ini(text: &str, errors: &mut Vec<(usize, String)>) -> Vec<IniEntry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut continuation: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let raw = if idx == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        if raw
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with(['#', ';'])
        {
            continue;
        }
        let mut joined = match continuation.take() {
            Some(mut c) => {
                c.push_str(raw);
                c
            }
            None => raw.to_owned(),
        };
        let mut escaped = false;
        for b in joined.bytes() {
            escaped = !escaped && b == b'\\';
        }
        if escaped {
            joined.pop();
            joined.push(' ');
            continuation = Some(joined);
            continue;
        }
        let l = joined.trim_matches([' ', '\t', '\n', '\r']);
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) => name.clone_into(&mut section),
                None => errors.push((line_no, "invalid section header".to_owned())),
            }
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            errors.push((line_no, "missing '=', line ignored".to_owned()));
            continue;
        };
        out.push(IniEntry {
            section: section.clone(),
            key: k.trim_matches([' ', '\t', '\n', '\r']).to_owned(),
            value: v.trim_matches([' ', '\t', '\n', '\r']).to_owned(),
            line: line_no,
        });
    }
    if let Some(c) = continuation {
        // systemd parses a dangling continuation at EOF as it stands.
        if let Some((k, v)) = c.trim().split_once('=') {
            out.push(IniEntry {
                section,
                key: k.trim().to_owned(),
                value: v.trim().to_owned(),
                line: text.lines().count(),
            });
        }
    }
    out
}

fn push_environ(env: &mut UnitSettings, directive: &str, value: &str, line: usize) {
    if value.is_empty() {
        env.environment_reset = true;
        env.environment.clear();
        return;
    }
    let (pairs, err) = parse_environ_words(value);
    env.environment
        .extend(
            pairs
                .into_iter()
                .map(|(key, value)| EnvAssignment { key, value, line }),
        );
    if let Some(e) = err {
        env.errors
            .push((line, format!("{directive}=: {e}, rest of the line ignored")));
    }
}

/// The `[Service]` environment directives of a unit file or drop-in:
/// `Environment=`, `EnvironmentFile=` (`-` prefix: optional; the value is a
/// path, not word-split) and `UnsetEnvironment=`.
#[must_use]
pub fn parse_unit_file(text: &str) -> UnitSettings {
    let mut env = UnitSettings::default();
    let entries = parse_ini(text, &mut env.errors);
    for e in entries.into_iter().filter(|e| e.section == "Service") {
        match e.key.as_str() {
            "Environment" => push_environ(&mut env, "Environment", &e.value, e.line),
            "EnvironmentFile" => {
                if e.value.is_empty() {
                    env.environment_files_reset = true;
                    env.environment_files.clear();
                    continue;
                }
                let (optional, path) = match e.value.strip_prefix('-') {
                    Some(p) => (true, p),
                    None => (false, e.value.as_str()),
                };
                if path.starts_with('/') || path.starts_with('%') {
                    env.environment_files.push(EnvFileRef {
                        path: path.to_owned(),
                        optional,
                        line: e.line,
                    });
                } else {
                    env.errors.push((
                        e.line,
                        "EnvironmentFile= path is not absolute, ignored".to_owned(),
                    ));
                }
            }
            "ExecStart" => {
                if e.value.is_empty() {
                    env.exec_start.push(ExecStart {
                        argv: None,
                        line: e.line,
                    });
                    continue;
                }
                let (mut argv, err) = words(&e.value);
                if let Some(first) = argv.first_mut() {
                    *first = first
                        .trim_start_matches(['-', '@', ':', '+', '!'])
                        .to_owned();
                }
                if let Some(err) = err {
                    env.errors.push((
                        e.line,
                        format!("ExecStart=: {err}, rest of the line ignored"),
                    ));
                }
                env.exec_start.push(ExecStart {
                    argv: Some(argv),
                    line: e.line,
                });
            }
            "User" => env.user = Some(e.value.clone()),
            "UnsetEnvironment" => {
                if e.value.is_empty() {
                    env.unset_reset = true;
                    env.unset.clear();
                    continue;
                }
                let (names, err) = words(&e.value);
                env.unset.extend(names);
                if let Some(err) = err {
                    env.errors.push((
                        e.line,
                        format!("UnsetEnvironment=: {err}, rest of the line ignored"),
                    ));
                }
            }
            _ => {}
        }
    }
    env.errors.sort_by_key(|e| e.0);
    env
}

/// `DefaultEnvironment=` of `[Manager]` in `system.conf` or a
/// `system.conf.d/*.conf` drop-in (same syntax as `Environment=`).
#[must_use]
pub fn parse_system_conf(text: &str) -> UnitSettings {
    let mut env = UnitSettings::default();
    let entries = parse_ini(text, &mut env.errors);
    for e in entries
        .into_iter()
        .filter(|e| e.section == "Manager" && e.key == "DefaultEnvironment")
    {
        push_environ(&mut env, "DefaultEnvironment", &e.value, e.line);
    }
    env
}

/// An `EnvironmentFile=` file, per systemd's `parse_env_file_internal`
/// (`src/basic/env-file.c`): `KEY=VALUE` lines, `#`/`;` comments at line
/// start, single quotes (literal), double quotes (backslash escapes only
/// `"` `\` `` ` `` `$`), unquoted values with backslash escapes and trailing
/// whitespace trimmed, backslash-newline continuations. Keys that are not
/// valid names (so `export FOO=bar`, whose key is `export FOO`) are dropped,
/// as `strv_env_clean` does: there is no `export` support.
#[must_use]
pub fn parse_environment_file(text: &str) -> Vec<EnvAssignment> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum St {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }
    let mut out = Vec::new();
    let mut st = St::PreKey;
    let mut key = String::new();
    let mut value = String::new();
    let mut last_key_ws: Option<usize> = None;
    let mut last_value_ws: Option<usize> = None;
    let mut line = 1usize;
    let mut key_line = 1usize;
    let push = |out: &mut Vec<EnvAssignment>, key: &str, value: &str, line: usize| {
        if env_name_is_valid(key) && env_value_is_valid(value) {
            out.push(EnvAssignment {
                key: key.to_owned(),
                value: Secret::new(value),
                line,
            });
        }
    };
    let is_nl = |c: char| c == '\n' || c == '\r';
    let is_ws = |c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r';
    for c in text.chars() {
        match st {
            St::PreKey => {
                if c == '#' || c == ';' {
                    st = St::Comment;
                } else if !is_ws(c) {
                    st = St::Key;
                    last_key_ws = None;
                    key_line = line;
                    key.push(c);
                } else if is_nl(c) {
                    line += 1;
                }
            }
            St::Key => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    key.clear();
                } else if c == '=' {
                    st = St::PreValue;
                    last_value_ws = None;
                } else {
                    if !is_ws(c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            St::PreValue => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    if let Some(n) = last_key_ws {
                        key.truncate(n);
                    }
                    push(&mut out, &key, &value, key_line);
                    key.clear();
                    value.clear();
                } else if c == '\'' {
                    st = St::SingleQuote;
                } else if c == '"' {
                    st = St::DoubleQuote;
                } else if c == '\\' {
                    st = St::ValueEscape;
                } else if !is_ws(c) {
                    st = St::Value;
                    value.push(c);
                }
            }
            St::Value => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                    if let Some(n) = last_value_ws {
                        value.truncate(n);
                    }
                    if let Some(n) = last_key_ws {
                        key.truncate(n);
                    }
                    push(&mut out, &key, &value, key_line);
                    key.clear();
                    value.clear();
                } else if c == '\\' {
                    st = St::ValueEscape;
                    last_value_ws = None;
                } else {
                    if !is_ws(c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            St::ValueEscape => {
                st = St::Value;
                if is_nl(c) {
                    line += 1;
                } else {
                    value.push(c);
                }
            }
            St::SingleQuote => {
                if c == '\'' {
                    st = St::PreValue;
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    value.push(c);
                }
            }
            St::DoubleQuote => {
                if c == '"' {
                    st = St::PreValue;
                } else if c == '\\' {
                    st = St::DoubleQuoteEscape;
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    value.push(c);
                }
            }
            St::DoubleQuoteEscape => {
                st = St::DoubleQuote;
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push(c);
                } else if c == '\n' {
                    line += 1;
                } else {
                    // Like the shell, keep the backslash before other characters.
                    value.push('\\');
                    value.push(c);
                }
            }
            St::Comment => {
                if c == '\\' {
                    st = St::CommentEscape;
                } else if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                }
            }
            St::CommentEscape => {
                if is_nl(c) {
                    st = St::PreKey;
                    line += 1;
                } else {
                    st = St::Comment;
                }
            }
        }
    }
    if matches!(
        st,
        St::PreValue
            | St::Value
            | St::ValueEscape
            | St::SingleQuote
            | St::DoubleQuote
            | St::DoubleQuoteEscape
    ) {
        if st == St::Value
            && let Some(n) = last_value_ws
        {
            value.truncate(n);
        }
        if let Some(n) = last_key_ws {
            key.truncate(n);
        }
        push(&mut out, &key, &value, key_line);
    }
    out
}

// ---------------------------------------------------------------------------
// Where a unit's files are
// ---------------------------------------------------------------------------

/// systemd's system unit search path, highest priority first (systemd.unit(5)).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// `system.conf` drop-in directories, highest priority first (systemd-system.conf(5)).
pub const SYSTEM_CONF_DIRS: &[&str] = &[
    "/etc/systemd/system.conf.d",
    "/run/systemd/system.conf.d",
    "/usr/local/lib/systemd/system.conf.d",
    "/usr/lib/systemd/system.conf.d",
];

/// `.conf` files of the given node directories, one per file name (the
/// higher-priority directory wins), in lexical order of file name.
pub fn dropins(
    root: &HostRoot,
    dirs: &[String],
    kind: &str,
    sources: &mut Vec<Source>,
) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in dirs {
        match root.read_dir(dir) {
            Ok(entries) => {
                for p in entries {
                    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                        continue;
                    };
                    // systemd's conf_files_list matches the suffix case-sensitively too.
                    if Path::new(name).extension().is_some_and(|e| e == "conf") {
                        by_name
                            .entry(name.to_owned())
                            .or_insert_with(|| p.to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) => sources.push(Source::error(
                dir.clone(),
                kind,
                format!("cannot list directory: {e}"),
            )),
        }
    }
    by_name.into_values().collect()
}

/// The files of system unit `unit` (`containerd.service`) in the order
/// systemd applies them: the unit file (the first on the search path), then
/// its drop-ins by file name, a name in a higher-priority directory masking
/// the same name below it. Drop-in directories are `<unit>.d`, the prefix
/// ones (`k3s-.service.d` for `k3s-agent.service`) and the type-wide
/// `service.d` (systemd >= 246), in every directory of the search path
/// (systemd.unit(5)). Empty when the unit has no file at all. A directory
/// that cannot be listed is a `kind` source error.
#[must_use]
pub fn unit_files(
    root: &HostRoot,
    unit: &str,
    kind: &str,
    sources: &mut Vec<Source>,
) -> Vec<String> {
    let unit_file = UNIT_DIRS
        .iter()
        .map(|d| format!("{d}/{unit}"))
        .find(|p| root.resolve(p).is_file());
    let (stem, suffix) = unit.rsplit_once('.').unwrap_or((unit, "service"));
    let mut dirs = Vec::new();
    for d in UNIT_DIRS {
        dirs.push(format!("{d}/{unit}.d"));
        let mut cut = stem;
        while let Some((head, _)) = cut.rsplit_once('-') {
            dirs.push(format!("{d}/{head}-.{suffix}.d"));
            cut = head;
        }
        dirs.push(format!("{d}/{suffix}.d"));
    }
    unit_file
        .into_iter()
        .chain(dropins(root, &dirs, kind, sources))
        .collect()
}

/// A unit or `system.conf` file and the lines systemd ignores in it (an
/// error each: the setting on that line does not apply).
#[must_use]
pub fn errors_source(path: &str, kind: &str, errors: &[(usize, String)]) -> Source {
    Source {
        path: path.to_owned(),
        kind: kind.to_owned(),
        findings: errors
            .iter()
            .map(|(l, m)| Finding {
                line: Some(*l),
                severity: Severity::Error,
                message: format!("line {l}: {m}"),
            })
            .collect(),
    }
}

/// systemd specifiers that can appear in these paths and values (systemd.unit(5)
/// "Specifiers"); `None` for one we do not know, which systemd would resolve
/// from the running system.
#[must_use]
pub fn expand_specifiers(s: &str, unit: &str) -> Option<String> {
    let full = unit;
    let stem = unit.rsplit_once('.').map_or(unit, |(a, _)| a);
    let (prefix, instance) = stem.split_once('@').unwrap_or((stem, ""));
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let rep = match chars.next()? {
            '%' => "%",
            'n' => full,
            'N' => stem,
            'p' => prefix,
            'i' | 'I' => instance,
            't' => "/run",
            'E' => "/etc",
            'S' => "/var/lib",
            'C' => "/var/cache",
            'L' => "/var/log",
            'T' => "/tmp",
            'V' => "/var/tmp",
            _ => return None,
        };
        out.push_str(rep);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{exposed, pairs};

    fn fixture(name: &str) -> String {
        crate::config::fixture("proxy", name)
    }

    #[test]
    fn systemd_environment_quoting() {
        #[rustfmt::skip]
        let table: &[(&str, &[(&str, &str)])] = &[
            // systemd.exec(5)'s own example.
            ("VAR1=word1 VAR2=word2 VAR3=$word 5 6", &[("VAR1", "word1"), ("VAR2", "word2"), ("VAR3", "$word")]),
            (r#""VAR1=word1 word2" VAR2=word3 "VAR3=word 5 6""#, &[("VAR1", "word1 word2"), ("VAR2", "word3"), ("VAR3", "word 5 6")]),
            (r#"A='single "kept"' B="double 'kept'""#, &[("A", r#"single "kept""#), ("B", "double 'kept'")]),
            (r#"A=x\sy B="tab\there" C=\x41\101\u00e9"#, &[("A", "x y"), ("B", "tab\there"), ("C", "AAé")]),
            // `\ ` is not one of systemd's escapes (`\s` is): the line is rejected.
            (r"A=one\ word", &[]),
            ("  \tA=1\t\tB=2  ", &[("A", "1"), ("B", "2")]),
            ("A=", &[("A", "")]),
            // Not assignments, or invalid names: skipped, the rest still counts.
            ("novalue 1BAD=x BAD-NAME=y =z GOOD=ok", &[("GOOD", "ok")]),
            // Syntax errors: what came before stays, the rest is ignored.
            (r#"A=1 "B=unterminated C=3"#, &[("A", "1")]),
            (r"A=1 B=\q C=3", &[("A", "1")]),
            (r"A=1 B=trailing\", &[("A", "1")]),
            (r"A=\x00", &[]),
            // A raw non-UTF-8 byte makes the value invalid.
            (r"A=\xff B=2", &[("B", "2")]),
            ("", &[]),
        ];
        for (input, want) in table {
            assert_eq!(
                exposed(parse_systemd_environment(input)),
                pairs(want),
                "{input:?}"
            );
        }
    }

    #[test]
    fn unit_file_sections_resets_and_files() {
        let text = "# comment\n[Unit]\nEnvironment=IGNORED=1\n[Service]\nEnvironment=A=1\nEnvironment=B=2 \\\n  C=3\n; c\nEnvironment=\nEnvironment=D=4\nEnvironmentFile=-/etc/default/%N\nEnvironmentFile=/etc/environment\nEnvironmentFile=relative\nUnsetEnvironment=X Y=1\nbroken line\n";
        let u = parse_unit_file(text);
        assert!(u.environment_reset);
        assert_eq!(
            u.environment,
            vec![EnvAssignment {
                key: "D".into(),
                value: "4".into(),
                line: 10
            }]
        );
        assert_eq!(
            u.environment_files,
            vec![
                EnvFileRef {
                    path: "/etc/default/%N".into(),
                    optional: true,
                    line: 11
                },
                EnvFileRef {
                    path: "/etc/environment".into(),
                    optional: false,
                    line: 12
                }
            ]
        );
        assert_eq!(u.unset, vec!["X".to_owned(), "Y=1".to_owned()]);
        let lines: Vec<usize> = u.errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![13, 15]);

        let u = parse_unit_file("[Service]\nEnvironment=B=2 \\\n# skipped\n  C=3\n");
        let got: Vec<(&str, &str, usize)> = u
            .environment
            .iter()
            .map(|a| (a.key.as_str(), a.value.expose(), a.line))
            .collect();
        assert_eq!(
            got,
            vec![("B", "2", 4), ("C", "3", 4)],
            "continuations skip comment lines"
        );
    }

    #[test]
    fn environment_file_rules() {
        let text = "# comment\n; also\nPLAIN=value   \nexport EXPORTED=no\nSQ='a \"b\" $c'\nDQ=\"x \\\"y\\\" \\$z \\n\"\n  SPACED = v w  \nCONT=one\\\ntwo\nEMPTY=\nnoequals\nESC=a\\ b\n1BAD=x\n";
        let got: Vec<(String, String, usize)> = parse_environment_file(text)
            .into_iter()
            .map(|a| (a.key, a.value.expose().to_owned(), a.line))
            .collect();
        let want: Vec<(String, String, usize)> = [
            ("PLAIN", "value", 3),
            ("SQ", "a \"b\" $c", 5),
            ("DQ", "x \"y\" $z \\n", 6),
            ("SPACED", "v w", 7),
            ("CONT", "onetwo", 8),
            ("EMPTY", "", 10),
            ("ESC", "a b", 12),
        ]
        .iter()
        .map(|(k, v, l)| ((*k).to_owned(), (*v).to_owned(), *l))
        .collect();
        assert_eq!(got, want);
        // No trailing newline, quoted value at EOF.
        assert_eq!(parse_environment_file("A=\"x y\"").len(), 1);
    }

    #[test]
    fn fixture_kubespray_containerd_dropin() {
        let u = parse_unit_file(&fixture("kubespray-containerd.service.d-http-proxy.conf"));
        assert!(u.errors.is_empty(), "{:?}", u.errors);
        let got: Vec<(&str, &str, usize)> = u
            .environment
            .iter()
            .map(|a| (a.key.as_str(), a.value.expose(), a.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("HTTP_PROXY", "http://proxy.example.com:3128", 2),
                ("HTTPS_PROXY", "http://proxy.example.com:3128", 2),
                (
                    "NO_PROXY",
                    "localhost,127.0.0.1,10.233.0.0/18,10.233.64.0/18,.svc,.cluster.local",
                    2
                ),
            ]
        );
    }

    #[test]
    fn fixture_aks_system_conf_d() {
        let u = parse_system_conf(&fixture("aks-system.conf.d-proxy.conf"));
        assert!(u.errors.is_empty());
        assert_eq!(u.environment.len(), 6);
        assert_eq!(u.environment[2].key, "HTTPS_PROXY");
        assert_eq!(
            (u.environment[2].value.expose(), u.environment[2].line),
            ("http://10.0.0.4:3128/", 4)
        );
        // A unit parser must not take DefaultEnvironment= from [Manager].
        assert!(
            parse_unit_file(&fixture("aks-system.conf.d-proxy.conf"))
                .environment
                .is_empty()
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        proptest! {
            #[test]
            fn systemd_parsers_never_panic(s in "(?s).{0,300}", q in "[A-Z_=\"'\\\\ a-z0-9xuU\n#;\\[\\]-]{0,200}") {
                let t = Instant::now();
                for text in [&s, &q] {
                    let _ = parse_systemd_environment(text);
                    let _ = parse_unit_file(text);
                    let _ = parse_unit_file(&format!("[Service]\nExecStart={text}"));
                    let _ = parse_system_conf(text);
                    let _ = parse_environment_file(text);
                    let _ = expand_specifiers(text, "k3s-agent.service");
                }
                prop_assert!(t.elapsed() < Duration::from_secs(1));
            }
        }
    }
}
