//! The node's runtime version, read from the runtime's binary on the node
//! without running it: containerd (`/usr/bin`, `/usr/local/bin`, the one
//! k3s/RKE2 unpack), CRI-O and dockerd.
//!
//! Two places in a Go binary say which release it is:
//! - the Go build information (the `\xff Go buildinf:` blob that
//!   `go version -m` prints, Go's `debug/buildinfo`): the main module, its
//!   dependencies and, since Go 1.18, the build settings, among them the
//!   `-ldflags` that carry `-X github.com/containerd/containerd/version.Version=1.7.22`
//!   (Go leaves `-ldflags` out of a `-trimpath` build, as Debian's is);
//! - the version variable itself (`github.com/containerd/containerd/version.Version`,
//!   a Go string header) found by its ELF symbol (`.symtab`, or `.dynsym`,
//!   which Debian's position-independent builds export), and the bytes it
//!   points to.
//!
//! The parsers ([`read_version`], [`parse_buildinfo`], [`parse_modinfo`],
//! [`Version::parse`]) work on a [`Bytes`] (a byte slice in tests and the
//! fuzz target, a file read at offsets by [`discover`]) and never open a file.
//! Every read is bounded (section tables, string tables and values have
//! caps; tables are scanned in chunks), so a hostile file yields "unknown",
//! never a panic, a hang or a large allocation. Only [`discover`] touches
//! the disk, through [`HostRoot`]. Nothing here runs the binary.

use crate::config::runtime::Runtime;
use crate::hostroot::HostRoot;
use std::cmp::Ordering;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Random-access reads of a binary: `&[u8]` in tests and fuzzing, a file
/// on the node in [`discover`]. A read past the end is an error.
pub trait Bytes {
    /// The length in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Exactly `len` bytes at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
}

impl Bytes for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(len).ok_or_else(eof)?;
        self.get(start..end).map(<[u8]>::to_vec).ok_or_else(eof)
    }
}

/// A file on the node, read at offsets (`pread`), never whole.
struct NodeFile {
    file: std::fs::File,
    len: u64,
}

impl Bytes for NodeFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(eof());
        }
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end")
}

/// A runtime release as the probe compares it: the upstream numbers, and
/// the upstream text it reports.
///
/// The reported text drops what a distribution adds and keeps what names a
/// fork: a leading `v`, Debian's `~ds1` (a tilde sorts before the release
/// it decorates) and `+...` build metadata go; a `-k3s1` or `-rc.1` suffix
/// stays, since k3s's fork carries patches of its own. Behaviour is decided
/// on the numbers alone: `1.7.23-k3s1` is treated as 1.7.23 (semver would
/// order it before 1.7.23, which k3s's fork is not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// `1.6.20`, `1.7.23-k3s1`, `2.0.0-rc.1`.
    pub text: String,
}

impl Version {
    /// The upstream part of a version as a binary carries it
    /// (`1.6.20~ds1` -> `1.6.20`, `v1.7.23-k3s1` -> `1.7.23-k3s1`); `None`
    /// unless it starts with `MAJOR.MINOR` (a missing patch is 0).
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let raw = raw.strip_prefix('v').unwrap_or(raw);
        let text = raw.split(['~', '+']).next().unwrap_or("");
        let numeric_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let suffix = &text[numeric_end..];
        if !(suffix.is_empty() || suffix.starts_with('-')) || text.len() > 64 {
            return None;
        }
        let mut parts = text[..numeric_end].split('.');
        let mut number = |required: bool| -> Option<u32> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.len() <= 9 => p.parse().ok(),
                None if !required => Some(0),
                _ => None,
            }
        };
        let (major, minor, patch) = (number(true)?, number(true)?, number(false)?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            major,
            minor,
            patch,
            text: text.to_owned(),
        })
    }

    /// Whether this release is `major.minor.patch` or later (numbers only).
    #[must_use]
    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.numbers() >= (major, minor, patch)
    }

    /// Whether this release is in `major.minor.x` with `x >= patch`: it has
    /// a fix backported to that series at `patch`.
    #[must_use]
    pub fn in_series_from(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.major == major && self.minor == minor && self.patch >= patch
    }

    fn numbers(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.numbers().cmp(&other.numbers()))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What was learnt about the runtime's binary: the contract's `runtime`
/// object without its name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The release, when a binary was read and carried one.
    pub version: Option<Version>,
    /// The node path of the binary the version was read from.
    pub source: Option<String>,
    /// Why the version is unknown (no binary, or one without a readable
    /// version), for the plan; `None` when it is known.
    pub unknown_why: Option<String>,
}

/// The Go packages whose `Version` variable holds a runtime's release.
const CONTAINERD_VARS: [&str; 2] = [
    "github.com/containerd/containerd/version.Version",
    "github.com/containerd/containerd/v2/version.Version",
];
const DOCKER_VARS: [&str; 2] = [
    "github.com/docker/docker/dockerversion.Version",
    "github.com/moby/moby/v2/dockerversion.Version",
];
/// CRI-O's version is a constant (no variable to find): its release comes
/// from the main module's version, which Go stamps from the VCS tag.
const CRIO_VARS: [&str; 0] = [];

/// Main modules (and, for k3s's multicall binary, dependencies) whose
/// module version is the runtime's release.
const CONTAINERD_MODULES: [&str; 2] = [
    "github.com/containerd/containerd",
    "github.com/containerd/containerd/v2",
];
const DOCKER_MODULES: [&str; 2] = ["github.com/docker/docker", "github.com/moby/moby/v2"];
const CRIO_MODULES: [&str; 1] = ["github.com/cri-o/cri-o"];

fn vars_and_modules(runtime: Runtime) -> (&'static [&'static str], &'static [&'static str]) {
    match runtime {
        Runtime::Containerd | Runtime::K3s | Runtime::Unknown => {
            (&CONTAINERD_VARS, &CONTAINERD_MODULES)
        }
        Runtime::Docker => (&DOCKER_VARS, &DOCKER_MODULES),
        Runtime::Crio => (&CRIO_VARS, &CRIO_MODULES),
    }
}

/// Caps on what is read from a binary.
const MAX_SECTIONS: u64 = 1 << 16;
const MAX_SHSTRTAB: u64 = 1 << 20;
/// The build info blob: header, Go version and module list (a few tens of KiB).
const MAX_BUILDINFO: u64 = 1 << 20;
/// A symbol or string table scanned in chunks, at most this much of it.
const MAX_TABLE: u64 = 256 << 20;
/// How much of a file is scanned for the build info when no section names it.
const MAX_SCAN: u64 = 512 << 20;
const CHUNK: usize = 64 << 10;
/// A version string longer than this is not one.
const MAX_VALUE: u64 = 128;

/// The release of the `runtime` whose binary `bin` is, or why there is none.
pub fn read_version<B: Bytes + ?Sized>(bin: &B, runtime: Runtime) -> Result<Version, String> {
    let (vars, modules) = vars_and_modules(runtime);
    let elf = Elf::parse(bin).ok();
    let info = match &elf {
        Some(elf) => elf.buildinfo(bin),
        None => scan_buildinfo(bin),
    };
    let mut why = Vec::new();
    if let Some(info) = &info
        && let Some(v) = info.ldflag_var(vars).and_then(|v| Version::parse(&v))
    {
        return Ok(v);
    }
    if let Some(elf) = &elf {
        for var in vars {
            match elf.string_var(bin, var) {
                Ok(Some(s)) => {
                    if let Some(v) = Version::parse(&s) {
                        return Ok(v);
                    }
                    why.push(format!("{var} is {s:?}, not a version"));
                }
                Ok(None) => {}
                Err(e) => why.push(e),
            }
        }
    } else {
        why.push("not an ELF file".to_owned());
    }
    if let Some(info) = &info {
        if let Some(v) = info
            .module_version(modules)
            .and_then(|v| Version::parse(&v))
        {
            return Ok(v);
        }
        why.push("its Go build information names no release".to_owned());
    } else {
        why.push("no Go build information".to_owned());
    }
    Err(why.join("; "))
}

/// Go's build information: the toolchain and the module text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.19.8`.
    pub go: String,
    pub modinfo: ModInfo,
}

/// `runtime/debug.BuildInfo`, the parts read here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// The main package's path (`path` line).
    pub path: String,
    /// The main module (`mod` line): path and version, `(devel)` for a local build.
    pub main: Option<(String, String)>,
    /// Dependencies (`dep` lines), each with its replacement's version when
    /// replaced (`=>` line): k3s replaces containerd with its fork.
    pub deps: Vec<(String, String)>,
    /// Build settings (`build` lines), values unquoted.
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// The value `-X VAR=value` in the recorded `-ldflags` gives one of `vars`.
    #[must_use]
    pub fn ldflag_var(&self, vars: &[&str]) -> Option<String> {
        let (_, flags) = self
            .modinfo
            .settings
            .iter()
            .find(|(k, _)| k == "-ldflags")?;
        let words = split_flags(flags);
        let mut words = words.iter();
        while let Some(w) = words.next() {
            let assignment = match w.strip_prefix("-X") {
                Some("") => words.next().map(String::as_str),
                Some(rest) => rest.strip_prefix('=').or(Some(rest)),
                None => w.strip_prefix("--X="),
            };
            if let Some((name, value)) = assignment.and_then(|a| a.split_once('='))
                && vars.contains(&name)
            {
                return Some(value.to_owned());
            }
        }
        None
    }

    /// The version of the main module or a dependency named in `modules`,
    /// unless it is a local build (`(devel)`) or a pseudo-version.
    #[must_use]
    pub fn module_version(&self, modules: &[&str]) -> Option<String> {
        let m = &self.modinfo;
        m.main
            .iter()
            .chain(m.deps.iter())
            .find(|(path, v)| modules.contains(&path.as_str()) && is_release(v))
            .map(|(_, v)| v.clone())
    }
}

/// A module version that names a release: not `(devel)`, not a Go
/// pseudo-version (`v0.0.0-20240101120000-abcdef123456`).
fn is_release(v: &str) -> bool {
    if !v.starts_with('v') {
        return false;
    }
    let pseudo = v
        .rsplit('-')
        .next()
        .is_some_and(|last| last.len() == 12 && last.bytes().all(|b| b.is_ascii_hexdigit()))
        && v.split(['-', '.'])
            .any(|p| p.len() == 14 && p.bytes().all(|b| b.is_ascii_digit()));
    !pseudo
}

/// `cmd/internal/quoted.Split`: words separated by spaces, each maybe in
/// single or double quotes (no escapes inside).
fn split_flags(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        let Some(first) = rest.chars().next() else {
            return out;
        };
        if first == '"' || first == '\'' {
            let body = &rest[1..];
            let end = body.find(first).unwrap_or(body.len());
            out.push(body[..end].to_owned());
            rest = body.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find([' ', '\t', '\n', '\r']).unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
}

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// The build info blob, starting at its magic: the inline form of Go 1.18+
/// (flags bit 2). The older form holds pointers into the binary and needs
/// its sections: see `Elf::buildinfo`.
pub fn parse_buildinfo(blob: &[u8]) -> Result<BuildInfo, String> {
    if blob.len() < 32 || &blob[..14] != MAGIC {
        return Err("no build info header".to_owned());
    }
    if blob[15] & 2 == 0 {
        return Err("build info in the pre-Go-1.18 pointer form".to_owned());
    }
    let (go, rest) = uvarint_string(&blob[32..]).ok_or("truncated Go version")?;
    let (modinfo, _) = uvarint_string(rest).ok_or("truncated module information")?;
    Ok(BuildInfo {
        go: String::from_utf8_lossy(go).into_owned(),
        modinfo: parse_modinfo(&String::from_utf8_lossy(strip_framing(modinfo))),
    })
}

/// The module text loses the 16-byte sentinels Go wraps it in
/// (`debug/buildinfo`: kept only when the byte before the end one is `\n`).
fn strip_framing(m: &[u8]) -> &[u8] {
    if m.len() >= 33 && m[m.len() - 17] == b'\n' {
        &m[16..m.len() - 16]
    } else {
        &[]
    }
}

/// A length-prefixed string (`binary.Uvarint` length), and what follows.
fn uvarint_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut n: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(n).ok()?)?;
            return Some((b.get(start..end)?, &b[end..]));
        }
    }
    None
}

/// `runtime/debug.ParseBuildInfo`, the lines read here; anything it does
/// not know is skipped.
#[must_use]
pub fn parse_modinfo(text: &str) -> ModInfo {
    let mut out = ModInfo::default();
    for line in text.lines() {
        let mut fields = line.split('\t');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("path"), Some(p), _) => p.clone_into(&mut out.path),
            (Some("mod"), Some(p), Some(v)) => out.main = Some((p.to_owned(), v.to_owned())),
            (Some("dep"), Some(p), Some(v)) => out.deps.push((p.to_owned(), v.to_owned())),
            (Some("=>"), Some(_), Some(v)) => {
                if let Some(last) = out.deps.last_mut() {
                    v.clone_into(&mut last.1);
                } else if let Some(main) = &mut out.main {
                    v.clone_into(&mut main.1);
                }
            }
            (Some("build"), Some(kv), None) => {
                if let Some((k, v)) = split_setting(kv) {
                    out.settings.push((k, v));
                }
            }
            _ => {}
        }
    }
    out
}

/// A `build` line's `key=value`, the key or value maybe Go-quoted.
fn split_setting(kv: &str) -> Option<(String, String)> {
    let (key, rest) = if kv.starts_with('"') {
        let (k, rest) = unquote_prefix(kv)?;
        (k, rest.strip_prefix('=')?)
    } else {
        let (k, v) = kv.split_once('=')?;
        (k.to_owned(), v)
    };
    let value = if rest.starts_with('"') {
        unquote_prefix(rest)?.0
    } else {
        rest.to_owned()
    };
    Some((key, value))
}

/// A Go double-quoted string at the start of `s` (`strconv.Quote`'s escapes),
/// and what follows it.
fn unquote_prefix(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.strip_prefix('"')?.char_indices();
    let body = &s[1..];
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| -> Option<u32> {
                    let mut v = 0;
                    for _ in 0..n {
                        v = v * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    Some(v)
                };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' => out.push(char::from_u32(hex(&mut chars, 2)?).unwrap_or('\u{fffd}')),
                    'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
                    'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Find the build info blob by its magic at a 16-byte boundary (where Go's
/// linker puts it), scanning at most [`MAX_SCAN`] bytes in chunks: for a
/// file without section headers.
fn scan_buildinfo<B: Bytes + ?Sized>(bin: &B) -> Option<BuildInfo> {
    let end = bin.len().min(MAX_SCAN);
    let mut offset = 0u64;
    while offset < end {
        let n = (end - offset).min(CHUNK as u64) as usize;
        let chunk = bin.read_at(offset, n).ok()?;
        for at in (0..chunk.len()).step_by(16) {
            // A chunk is a multiple of 16 long, so a magic at a boundary never straddles two.
            if chunk[at..].starts_with(MAGIC) {
                let start = offset + at as u64;
                let len = (bin.len() - start).min(MAX_BUILDINFO) as usize;
                if let Ok(blob) = bin.read_at(start, len)
                    && let Ok(info) = parse_buildinfo(&blob)
                {
                    return Some(info);
                }
            }
        }
        offset += n as u64;
    }
    None
}

/// The parts of an ELF file read here: its byte order, word size and
/// section headers.
struct Elf {
    little: bool,
    wide: bool,
    sections: Vec<Section>,
}

#[derive(Clone, Debug)]
struct Section {
    name: String,
    kind: u32,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

const SHT_SYMTAB: u32 = 2;
const SHT_NOBITS: u32 = 8;
const SHT_DYNSYM: u32 = 11;

impl Elf {
    fn parse<B: Bytes + ?Sized>(bin: &B) -> Result<Self, String> {
        let ident = bin.read_at(0, 64).map_err(|_| "too short for ELF")?;
        if &ident[..4] != b"\x7fELF" {
            return Err("not an ELF file".to_owned());
        }
        let wide = match ident[4] {
            1 => false,
            2 => true,
            _ => return Err("unknown ELF class".to_owned()),
        };
        let little = match ident[5] {
            1 => true,
            2 => false,
            _ => return Err("unknown ELF byte order".to_owned()),
        };
        let mut elf = Self {
            little,
            wide,
            sections: Vec::new(),
        };
        let (shoff, shentsize, shnum, shstrndx) = if wide {
            (
                elf.u64(&ident, 0x28),
                elf.u16(&ident, 0x3a),
                elf.u16(&ident, 0x3c),
                elf.u16(&ident, 0x3e),
            )
        } else {
            (
                elf.u32(&ident, 0x20),
                elf.u16(&ident, 0x2e),
                elf.u16(&ident, 0x30),
                elf.u16(&ident, 0x32),
            )
        };
        let min_entry = if wide { 64 } else { 40 };
        if shentsize < min_entry || shnum == 0 || shnum > MAX_SECTIONS {
            return Err("no usable section headers".to_owned());
        }
        let table = bin
            .read_at(shoff, (shentsize * shnum) as usize)
            .map_err(|_| "section headers past the end")?;
        let mut raw = Vec::new();
        for i in 0..shnum as usize {
            let h = &table[i * shentsize as usize..];
            let field = |n64: usize, n32: usize| {
                if wide {
                    elf.u64(h, n64)
                } else {
                    elf.u32(h, n32)
                }
            };
            raw.push((
                elf.u32(h, 0) as u32,
                Section {
                    name: String::new(),
                    kind: elf.u32(h, 4) as u32,
                    addr: field(16, 12),
                    offset: field(24, 16),
                    size: field(32, 20),
                    link: if wide { elf.u32(h, 40) } else { elf.u32(h, 24) } as u32,
                    entsize: field(56, 36),
                },
            ));
        }
        let names = raw
            .get(shstrndx as usize)
            .filter(|(_, s)| s.size <= MAX_SHSTRTAB)
            .and_then(|(_, s)| bin.read_at(s.offset, s.size as usize).ok())
            .unwrap_or_default();
        elf.sections = raw
            .into_iter()
            .map(|(name_at, mut s)| {
                s.name = cstr(&names, name_at as usize);
                s
            })
            .collect();
        Ok(elf)
    }

    /// The `N` bytes at `at`, little-endian first (zeros past the end).
    fn le_bytes<const N: usize>(&self, b: &[u8], at: usize) -> [u8; N] {
        let mut v: [u8; N] = b
            .get(at..at.saturating_add(N))
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; N]);
        if !self.little {
            v.reverse();
        }
        v
    }

    fn u16(&self, b: &[u8], at: usize) -> u64 {
        u64::from(u16::from_le_bytes(self.le_bytes(b, at)))
    }

    fn u32(&self, b: &[u8], at: usize) -> u64 {
        u64::from(u32::from_le_bytes(self.le_bytes(b, at)))
    }

    fn u64(&self, b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(self.le_bytes(b, at))
    }

    fn ptr(&self, b: &[u8], at: usize) -> u64 {
        if self.wide {
            self.u64(b, at)
        } else {
            self.u32(b, at)
        }
    }

    /// `len` bytes at virtual address `addr`, from the section holding them.
    fn read_addr<B: Bytes + ?Sized>(&self, bin: &B, addr: u64, len: u64) -> Option<Vec<u8>> {
        let s = self.sections.iter().find(|s| {
            s.kind != SHT_NOBITS
                && s.addr != 0
                && addr >= s.addr
                && addr
                    .checked_add(len)
                    .is_some_and(|end| s.addr.checked_add(s.size).is_some_and(|top| end <= top))
        })?;
        bin.read_at(s.offset.checked_add(addr - s.addr)?, len as usize)
            .ok()
    }

    /// The `.go.buildinfo` section's blob, in either form; without the
    /// section, a scan of the file.
    fn buildinfo<B: Bytes + ?Sized>(&self, bin: &B) -> Option<BuildInfo> {
        let Some(s) = self.sections.iter().find(|s| s.name == ".go.buildinfo") else {
            return scan_buildinfo(bin);
        };
        let len = s
            .size
            .min(MAX_BUILDINFO)
            .min(bin.len().saturating_sub(s.offset));
        let blob = bin.read_at(s.offset, len as usize).ok()?;
        if blob.len() >= 32 && &blob[..14] == MAGIC && blob[15] & 2 == 0 {
            return self.pointer_buildinfo(bin, &blob);
        }
        parse_buildinfo(&blob).ok()
    }

    /// The pre-Go-1.18 form: two pointers to Go string headers.
    fn pointer_buildinfo<B: Bytes + ?Sized>(&self, bin: &B, blob: &[u8]) -> Option<BuildInfo> {
        let size = usize::from(blob[14]);
        if (size != 4 && size != 8) || blob.len() < 16 + 2 * size {
            return None;
        }
        let ptr = |b: &[u8], at: usize| {
            let le = blob[15] & 1 == 0;
            let mut v = 0u64;
            for i in 0..size {
                let byte = u64::from(b[at + if le { size - 1 - i } else { i }]);
                v = (v << 8) | byte;
            }
            v
        };
        let string_at = |addr: u64| -> Option<Vec<u8>> {
            let hdr = self.read_addr(bin, addr, 2 * size as u64)?;
            let (data, len) = (ptr(&hdr, 0), ptr(&hdr, size));
            if len > MAX_BUILDINFO {
                return None;
            }
            self.read_addr(bin, data, len)
        };
        let go = string_at(ptr(blob, 16))?;
        let modinfo = string_at(ptr(blob, 16 + size))?;
        Some(BuildInfo {
            go: String::from_utf8_lossy(&go).into_owned(),
            modinfo: parse_modinfo(&String::from_utf8_lossy(strip_framing(&modinfo))),
        })
    }

    /// The value of the Go string variable `name`, found by its symbol in
    /// `.symtab` or `.dynsym`: its string header, then the bytes it points to.
    fn string_var<B: Bytes + ?Sized>(&self, bin: &B, name: &str) -> Result<Option<String>, String> {
        for table in self
            .sections
            .iter()
            .filter(|s| s.kind == SHT_SYMTAB || s.kind == SHT_DYNSYM)
        {
            let Some(strtab) = self.sections.get(table.link as usize) else {
                continue;
            };
            let Some(name_at) = find_name(bin, strtab, name) else {
                continue;
            };
            let Some(addr) = self.symbol_value(bin, table, name_at) else {
                continue;
            };
            let word = if self.wide { 8 } else { 4 };
            let hdr = self
                .read_addr(bin, addr, 2 * word)
                .ok_or_else(|| format!("{name}: its address is in no section"))?;
            let (data, len) = (self.ptr(&hdr, 0), self.ptr(&hdr, word as usize));
            if len == 0 {
                return Ok(None);
            }
            if len > MAX_VALUE {
                return Err(format!("{name}: a {len}-byte value is no version"));
            }
            let bytes = self
                .read_addr(bin, data, len)
                .ok_or_else(|| format!("{name}: its value is in no section"))?;
            return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
        }
        Ok(None)
    }

    /// The value of the symbol whose name is at `name_at` in its string table.
    fn symbol_value<B: Bytes + ?Sized>(
        &self,
        bin: &B,
        table: &Section,
        name_at: u64,
    ) -> Option<u64> {
        let entry = if self.wide { 24 } else { 16 };
        if table.entsize != entry || table.size > MAX_TABLE {
            return None;
        }
        let per_chunk = (CHUNK as u64 / entry) * entry;
        let mut done = 0;
        while done < table.size {
            let n = (table.size - done).min(per_chunk);
            let n = n - n % entry;
            if n == 0 {
                break;
            }
            let chunk = bin
                .read_at(table.offset.checked_add(done)?, n as usize)
                .ok()?;
            for sym in chunk.chunks_exact(entry as usize) {
                if self.u32(sym, 0) == name_at {
                    return Some(if self.wide {
                        self.u64(sym, 8)
                    } else {
                        self.u32(sym, 4)
                    });
                }
            }
            done += n;
        }
        None
    }
}

/// The NUL-terminated name at `at` in a string table.
fn cstr(table: &[u8], at: usize) -> String {
    let Some(rest) = table.get(at..) else {
        return String::new();
    };
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

/// The offset of `name` (a whole, NUL-terminated entry) in a string table,
/// scanned in overlapping chunks.
fn find_name<B: Bytes + ?Sized>(bin: &B, strtab: &Section, name: &str) -> Option<u64> {
    if strtab.size > MAX_TABLE || strtab.kind == SHT_NOBITS {
        return None;
    }
    let mut needle = Vec::with_capacity(name.len() + 2);
    needle.push(0);
    needle.extend_from_slice(name.as_bytes());
    needle.push(0);
    let step = CHUNK as u64;
    let mut done = 0u64;
    while done < strtab.size {
        let n = (strtab.size - done).min(step + needle.len() as u64);
        let chunk = bin
            .read_at(strtab.offset.checked_add(done)?, n as usize)
            .ok()?;
        if let Some(i) = chunk.windows(needle.len()).position(|w| w == needle) {
            return Some(done + i as u64 + 1);
        }
        done += step;
    }
    None
}

/// Where each runtime's binary is, in the order tried.
fn candidates(root: &HostRoot, runtime: Runtime) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let (unit, names): (&str, &[&str]) = match runtime {
        Runtime::Containerd | Runtime::Unknown => ("containerd.service", &["containerd"]),
        Runtime::K3s => ("k3s.service", &[]),
        Runtime::Crio => ("crio.service", &["crio"]),
        Runtime::Docker => ("docker.service", &["dockerd"]),
    };
    // The daemon the unit runs, when its unit says (an upstream tarball in
    // /usr/local/bin beside a distribution's /usr/bin one).
    for dir in [
        "/etc/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ] {
        if let Ok(text) = root.read_to_string(Path::new(dir).join(unit))
            && let Some(bin) = exec_start(&text)
            && names
                .iter()
                .any(|n| bin.file_name().is_some_and(|f| f == *n))
        {
            out.push(bin);
        }
    }
    for name in names {
        for dir in [
            "/usr/local/bin",
            "/usr/bin",
            "/usr/local/sbin",
            "/usr/sbin",
            "/opt/bin",
            "/bin",
        ] {
            out.push(Path::new(dir).join(name));
        }
    }
    if runtime == Runtime::K3s {
        // k3s unpacks its binaries into data/<hash>/bin (`current` points
        // to the running one since v1.26); RKE2 into data/<version>/bin.
        for data in ["/var/lib/rancher/k3s/data", "/var/lib/rancher/rke2/data"] {
            out.push(Path::new(data).join("current/bin/containerd"));
            let mut dirs = root.read_dir(data).unwrap_or_default();
            // Newest first: a node keeps the previous release's data beside it.
            dirs.sort_by_key(|d| {
                std::cmp::Reverse(
                    std::fs::metadata(root.resolve(d))
                        .and_then(|m| m.modified())
                        .ok(),
                )
            });
            out.extend(dirs.into_iter().map(|d| d.join("bin/containerd")));
        }
        out.push(PathBuf::from("/var/lib/rancher/rke2/bin/containerd"));
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    out
}

/// The program of a unit's last `ExecStart=` (systemd's prefixes `-@:+!` dropped).
fn exec_start(unit: &str) -> Option<PathBuf> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .filter_map(|v| {
            let v = v.trim_start_matches(['-', '@', ':', '+', '!']);
            v.split_whitespace().next().filter(|p| p.starts_with('/'))
        })
        .next_back()
        .map(PathBuf::from)
}

/// The last binary read and what it gave: the agent reads the node every
/// round, and a binary is read again only when its size or time changed.
type Read = (
    PathBuf,
    u64,
    Option<std::time::SystemTime>,
    Runtime,
    Result<Version, String>,
);
static LAST_READ: std::sync::Mutex<Option<Read>> = std::sync::Mutex::new(None);

fn read_cached(
    real: &Path,
    meta: &std::fs::Metadata,
    file: std::fs::File,
    runtime: Runtime,
) -> Result<Version, String> {
    let modified = meta.modified().ok();
    let mut last = LAST_READ
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((p, len, m, rt, result)) = last.as_ref()
        && p == real
        && *len == meta.len()
        && *m == modified
        && *rt == runtime
    {
        return result.clone();
    }
    let bin = NodeFile {
        file,
        len: meta.len(),
    };
    let result = read_version(&bin, runtime);
    *last = Some((
        real.to_owned(),
        meta.len(),
        modified,
        runtime,
        result.clone(),
    ));
    result
}

/// Read the release of `runtime` from its binary under `root`: the first
/// candidate that exists decides (a broken one is not skipped for an older
/// copy elsewhere, which would not be the one running).
#[must_use]
pub fn discover(root: &HostRoot, runtime: Runtime) -> Found {
    for path in candidates(root, runtime) {
        let Ok(real) = root.real_path(&path) else {
            continue;
        };
        let Ok(file) = std::fs::File::open(&real) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let shown = path.display().to_string();
        return match read_cached(&real, &meta, file, runtime) {
            Ok(v) => Found {
                version: Some(v),
                source: Some(shown),
                unknown_why: None,
            },
            Err(why) => Found {
                version: None,
                source: None,
                unknown_why: Some(format!("{shown}: {why}")),
            },
        };
    }
    Found {
        version: None,
        source: None,
        unknown_why: Some(format!(
            "no {} binary found under the node root",
            match runtime {
                Runtime::Unknown | Runtime::K3s => "containerd",
                other => other.as_str(),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section whose address plus size overflows (found by
    /// `scripts/fuzz`): no panic, no version.
    #[test]
    fn a_section_end_past_u64_is_no_panic() {
        let crash: &[u8] =
            include_bytes!("../../../fuzz/seeds/runtime_binary/overflowing-section-end");
        for runtime in [Runtime::Containerd, Runtime::Docker, Runtime::Crio] {
            let _ = read_version(crash, runtime);
        }
    }

    /// A Go 1.18+ build info blob with this module text.
    pub(crate) fn blob(go: &str, modinfo: &str) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.push(8);
        b.push(2);
        b.resize(32, 0);
        push_string(&mut b, go.as_bytes());
        let mut framed = vec![0x30; 16];
        framed.extend_from_slice(modinfo.as_bytes());
        framed.extend_from_slice(&[0x31; 16]);
        push_string(&mut b, &framed);
        b
    }

    fn push_string(b: &mut Vec<u8>, s: &[u8]) {
        let mut n = s.len();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                b.push(byte);
                break;
            }
            b.push(byte | 0x80);
        }
        b.extend_from_slice(s);
    }

    #[test]
    fn upstream_part_of_versions() {
        for (raw, text, nums) in [
            ("1.6.20~ds1", "1.6.20", (1, 6, 20)),
            ("v1.7.23-k3s1", "1.7.23-k3s1", (1, 7, 23)),
            (
                "v2.0.0-rc.0-71-g831795901",
                "2.0.0-rc.0-71-g831795901",
                (2, 0, 0),
            ),
            ("1.7.12+dfsg", "1.7.12", (1, 7, 12)),
            ("2.1", "2.1", (2, 1, 0)),
            ("v1.30.4", "1.30.4", (1, 30, 4)),
        ] {
            let v = Version::parse(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!((v.text.as_str(), v.numbers()), (text, nums), "{raw}");
        }
        for bad in [
            "",
            "v",
            "1",
            "x1.2.3",
            "1.2.3.4",
            "1..2",
            "1.2x",
            "99999999999.1.1",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        let k3s = Version::parse("1.7.23-k3s1").unwrap();
        assert!(k3s.at_least(1, 7, 23) && !k3s.at_least(1, 7, 24));
        assert!(k3s.in_series_from(1, 7, 0) && !k3s.at_least(1, 7, 32));
        assert!(Version::parse("1.7.32").unwrap() > k3s);
    }

    #[test]
    fn ldflags_version_from_inline_buildinfo() {
        let info = parse_buildinfo(&blob(
            "go1.22.8",
            "path\tgithub.com/containerd/containerd/cmd/containerd\n\
             mod\tgithub.com/containerd/containerd\t(devel)\t\n\
             dep\tgithub.com/pelletier/go-toml\tv1.9.5\th1:x=\n\
             build\t-buildmode=pie\n\
             build\t-ldflags=\"-X github.com/containerd/containerd/version.Version=v1.7.22 -X 'github.com/containerd/containerd/version.Package=github.com/containerd/containerd' -s\"\n\
             build\tCGO_ENABLED=1\n",
        ))
        .unwrap();
        assert_eq!(info.go, "go1.22.8");
        assert_eq!(
            info.modinfo.main,
            Some(("github.com/containerd/containerd".into(), "(devel)".into()))
        );
        assert_eq!(
            info.ldflag_var(&CONTAINERD_VARS).as_deref(),
            Some("v1.7.22")
        );
        assert_eq!(
            info.module_version(&CONTAINERD_MODULES),
            None,
            "(devel) is no release"
        );
    }

    #[test]
    fn k3s_multicall_binary_names_its_fork() {
        // k3s's scripts/build: -X ${PKG_CONTAINERD}/version.Version=${VERSION_CONTAINERD};
        // go.mod replaces containerd with k3s-io/containerd.
        let modinfo = "path\tgithub.com/k3s-io/k3s/cmd/server\n\
             mod\tgithub.com/k3s-io/k3s\t(devel)\t\n\
             dep\tgithub.com/containerd/containerd\tv1.7.22\t\n\
             =>\tgithub.com/k3s-io/containerd\tv1.7.23-k3s2\th1:y=\n\
             build\t-ldflags=\"-X github.com/containerd/containerd/version.Version=v1.7.23-k3s2 -w -s\"\n";
        let v = read_version(&blob("go1.23.6", modinfo)[..], Runtime::K3s).unwrap();
        assert_eq!(v.text, "1.7.23-k3s2");
        // Without -ldflags (a -trimpath build) the replaced dependency still says it.
        let no_flags = modinfo
            .lines()
            .filter(|l| !l.starts_with("build"))
            .fold(String::new(), |acc, l| acc + l + "\n");
        let v = read_version(&blob("go1.23.6", &no_flags)[..], Runtime::K3s).unwrap();
        assert_eq!(v.text, "1.7.23-k3s2");
    }

    #[test]
    fn setting_forms_and_flag_words() {
        assert_eq!(
            split_setting("\"-ldflags\"=\"-X a.V=1\\x41 \\\"q\\\"\""),
            Some(("-ldflags".into(), "-X a.V=1A \"q\"".into()))
        );
        assert_eq!(
            split_setting("GOOS=linux"),
            Some(("GOOS".into(), "linux".into()))
        );
        assert_eq!(
            split_flags(" -X a=b  -X='c=d e' \"-s\" -X"),
            ["-X", "a=b", "-X='c=d", "e'", "-s", "-X"]
        );
        let info = BuildInfo {
            modinfo: ModInfo {
                settings: vec![("-ldflags".into(), "-X=p.Version=2.0.1 -X".into())],
                ..ModInfo::default()
            },
            ..BuildInfo::default()
        };
        assert_eq!(info.ldflag_var(&["p.Version"]).as_deref(), Some("2.0.1"));
        assert!(!is_release("v0.0.0-20240312041847-bd1bb6e8c3fe"));
        assert!(is_release("v1.30.0") && !is_release("(devel)"));
    }

    #[test]
    fn truncated_and_hostile_blobs_are_refused() {
        let good = blob(
            "go1.21.0",
            "path\tx\nbuild\t-ldflags=\"-X github.com/containerd/containerd/version.Version=1.6.30\"\n",
        );
        for cut in 0..good.len() {
            // Never a panic; a cut blob either parses (a shorter module text) or is refused.
            let _ = parse_buildinfo(&good[..cut]);
            let _ = read_version(&good[..cut], Runtime::Containerd);
        }
        assert!(parse_buildinfo(&good[..40]).is_err());
        // A length prefix claiming more than there is.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[8, 2]);
        huge.resize(32, 0);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(parse_buildinfo(&huge).is_err());
        // The old pointer form is not parsed without sections.
        let mut old = good.clone();
        old[15] = 0;
        assert!(parse_buildinfo(&old).is_err());
        assert_eq!(
            read_version(&good[..], Runtime::Containerd).unwrap().text,
            "1.6.30",
            "found by scanning when the file is no ELF"
        );
        // An unaligned magic is not Go's.
        let mut shifted = vec![0u8; 3];
        shifted.extend_from_slice(&good);
        assert!(read_version(&shifted[..], Runtime::Containerd).is_err());
    }

    /// A minimal little-endian ELF64: `.data` at 0x1000 holding a Go string
    /// header for `name`, `.rodata` with its bytes, and a symbol table.
    fn elf_with_symbol(name: &str, value: &str) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        // Contents after the header.
        let rodata_off = f.len() as u64;
        f.extend_from_slice(value.as_bytes());
        let data_off = f.len() as u64;
        let rodata_addr = 0x2000 + rodata_off;
        f.extend_from_slice(&rodata_addr.to_le_bytes());
        f.extend_from_slice(&(value.len() as u64).to_le_bytes());
        let strtab_off = f.len() as u64;
        let strtab = format!("\0{name}\0");
        f.extend_from_slice(strtab.as_bytes());
        let symtab_off = f.len() as u64;
        f.extend_from_slice(&[0u8; 24]);
        let mut sym = [0u8; 24];
        sym[..4].copy_from_slice(&1u32.to_le_bytes());
        sym[8..16].copy_from_slice(&(0x1000u64).to_le_bytes());
        sym[16..24].copy_from_slice(&16u64.to_le_bytes());
        f.extend_from_slice(&sym);
        let shstr = b"\0.rodata\0.data\0.strtab\0.symtab\0.shstrtab\0";
        let shstr_off = f.len() as u64;
        f.extend_from_slice(shstr);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len() as u64;
        let mut sh = |name: u32, kind: u32, addr: u64, off: u64, size: u64, link: u32, ent: u64| {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[16..24].copy_from_slice(&addr.to_le_bytes());
            h[24..32].copy_from_slice(&off.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            h[40..44].copy_from_slice(&link.to_le_bytes());
            h[56..64].copy_from_slice(&ent.to_le_bytes());
            f.extend_from_slice(&h);
        };
        sh(0, 0, 0, 0, 0, 0, 0);
        sh(1, 1, rodata_addr, rodata_off, value.len() as u64, 0, 0);
        sh(9, 1, 0x1000, data_off, 16, 0, 0);
        sh(15, 3, 0, strtab_off, strtab.len() as u64, 0, 0);
        sh(23, SHT_SYMTAB, 0, symtab_off, 48, 3, 24);
        sh(31, 3, 0, shstr_off, shstr.len() as u64, 0, 0);
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&6u16.to_le_bytes());
        f[0x3e..0x40].copy_from_slice(&5u16.to_le_bytes());
        f
    }

    #[test]
    fn version_variable_found_by_its_symbol() {
        let f = elf_with_symbol(CONTAINERD_VARS[0], "1.6.20~ds1");
        let v = read_version(&f[..], Runtime::Containerd).unwrap();
        assert_eq!(v.text, "1.6.20");
        // Another runtime's variable is not containerd's.
        let err = read_version(&f[..], Runtime::Docker).unwrap_err();
        assert!(err.contains("no Go build information"), "{err}");
        // Every truncation and every single-byte corruption: an answer, no panic.
        for cut in 0..f.len() {
            let _ = read_version(&f[..cut], Runtime::Containerd);
        }
        for at in 0..f.len() {
            let mut g = f.clone();
            g[at] ^= 0xff;
            let _ = read_version(&g[..], Runtime::Containerd);
        }
    }

    #[test]
    fn unit_exec_start_names_the_binary() {
        assert_eq!(
            exec_start(
                "[Service]\nExecStartPre=-/sbin/modprobe overlay\nExecStart=/usr/local/bin/containerd\n"
            ),
            Some(PathBuf::from("/usr/local/bin/containerd"))
        );
        assert_eq!(
            exec_start("ExecStart=-/usr/bin/dockerd -H fd://"),
            Some(PathBuf::from("/usr/bin/dockerd"))
        );
        assert_eq!(exec_start("ExecStart=containerd"), None);
    }

    #[test]
    fn discover_prefers_the_unit_then_the_usual_places() {
        let dir = tempfile::tempdir().unwrap();
        let put = |p: &str, b: &[u8]| {
            let p = dir.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b).unwrap();
        };
        let root = HostRoot::new(dir.path());
        let found = discover(&root, Runtime::Containerd);
        assert_eq!(found.version, None);
        assert!(found.unknown_why.unwrap().contains("no containerd binary"));
        let v = |s: &str| {
            blob(
                "go1.22.0",
                &format!(
                    "build\t-ldflags=\"-X github.com/containerd/containerd/version.Version={s}\"\n"
                ),
            )
        };
        put("/usr/bin/containerd", &v("1.6.20~ds1"));
        let found = discover(&root, Runtime::Containerd);
        assert_eq!(found.version.unwrap().text, "1.6.20");
        assert_eq!(found.source.as_deref(), Some("/usr/bin/containerd"));
        put("/usr/local/bin/containerd", &v("v1.7.22"));
        assert_eq!(
            discover(&root, Runtime::Containerd).version.unwrap().text,
            "1.7.22"
        );
        put(
            "/lib/systemd/system/containerd.service",
            b"[Service]\nExecStart=/usr/bin/containerd\n",
        );
        assert_eq!(
            discover(&root, Runtime::Containerd).version.unwrap().text,
            "1.6.20"
        );
        // k3s: the data directory's bundled containerd.
        put(
            "/var/lib/rancher/k3s/data/abc123/bin/containerd",
            &v("v1.7.23-k3s1"),
        );
        let found = discover(&root, Runtime::K3s);
        assert_eq!(found.version.unwrap().text, "1.7.23-k3s1");
        assert_eq!(
            found.source.as_deref(),
            Some("/var/lib/rancher/k3s/data/abc123/bin/containerd")
        );
        // A binary without a version: unknown, and why.
        put("/usr/bin/crio", b"\x7fELF garbage");
        let found = discover(&root, Runtime::Crio);
        assert_eq!((found.version, found.source), (None, None));
        assert!(found.unknown_why.unwrap().starts_with("/usr/bin/crio: "));
    }
}
