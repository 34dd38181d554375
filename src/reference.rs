//! Image references, parsed exactly as kubelet and containerd do
//! (distribution/reference `ParseNormalizedNamed` + `ParseDockerRef`), and
//! `--registry HOST[:PORT]` values.
//!
//! The grammar is ported by hand from github.com/distribution/reference
//! `regexp.go`/`reference.go` (the `Parse` of v0.6, which limits the *path* to
//! 255 characters), normalisation from `normalize.go`, and digest validation
//! from github.com/opencontainers/go-digest `digest.go`/`algorithm.go`. Errors
//! carry the upstream error (so the kind matches what kubelet reports in its
//! `InvalidImageName` event) plus which part of the input is wrong.
//!
//! This module only parses strings: it must not resolve names, read files or
//! decide which endpoints are contacted (that is `config`'s job; [`api_host`]
//! is the one exception every caller needs the same way).

use std::fmt;

/// distribution/reference `RepositoryNameTotalLengthMax`: applies to the path.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Docker Hub's canonical domain (normalize.go `defaultDomain`).
pub const DOCKER_HUB: &str = "docker.io";
/// The legacy Docker Hub domain (normalize.go `legacyDefaultDomain`).
pub const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// normalize.go `officialRepoPrefix`.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// normalize.go `defaultTag`.
const DEFAULT_TAG: &str = "latest";

/// A parsed reference. After [`Reference::parse`] it is fully normalised
/// (`docker.io/library/nginx:latest`) and has exactly one of tag or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry host (`docker.io`, `localhost:5000`, `[::1]:5000`). Empty
    /// only from [`Reference::parse_unnormalized`] for names with no domain.
    pub domain: String,
    /// The repository path (`library/nginx`).
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Which upstream error a reference earns. Names follow distribution's
/// `Err*` variables and go-digest's errors, so the kind is what kubelet says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReferenceErrorKind {
    /// `ErrReferenceInvalidFormat`: "invalid reference format".
    ReferenceInvalidFormat,
    /// `ErrTagInvalidFormat`: "invalid tag format" ([`Reference::with_tag`]).
    TagInvalidFormat,
    /// `ErrDigestInvalidFormat`: "invalid digest format" ([`Reference::with_digest`]).
    DigestInvalidFormat,
    /// `ErrNameContainsUppercase`: "repository name must be lowercase".
    NameContainsUppercase,
    /// `ErrNameEmpty`: "repository name must have at least one component".
    NameEmpty,
    /// `ErrNameTooLong`: "repository name must not be more than 255 characters".
    NameTooLong,
    /// `ErrNameNotCanonical`: "repository name must be canonical" ([`Reference::parse_named`]).
    NameNotCanonical,
    /// go-digest `ErrDigestInvalidFormat` (= `ErrDigestInvalidLength`):
    /// "invalid checksum digest format".
    ChecksumInvalidFormat,
    /// go-digest `ErrDigestUnsupported`: "unsupported digest algorithm".
    DigestUnsupported,
    /// `ParseNormalizedNamed` refuses a bare 64-hex string (it looks like an image ID).
    HexIdentifier,
}

impl ReferenceErrorKind {
    /// The upstream error text, verbatim.
    #[must_use]
    pub fn upstream_message(self) -> &'static str {
        match self {
            Self::ReferenceInvalidFormat => "invalid reference format",
            Self::TagInvalidFormat => "invalid tag format",
            Self::DigestInvalidFormat => "invalid digest format",
            Self::NameContainsUppercase => "repository name must be lowercase",
            Self::NameEmpty => "repository name must have at least one component",
            Self::NameTooLong => "repository name must not be more than 255 characters",
            Self::NameNotCanonical => "repository name must be canonical",
            Self::ChecksumInvalidFormat => "invalid checksum digest format",
            Self::DigestUnsupported => "unsupported digest algorithm",
            Self::HexIdentifier => "cannot specify 64-byte hexadecimal strings",
        }
    }
}

/// The registry an image string names, even when it does not parse: its
/// first component when that looks like a host (`.`, `:` or `localhost`,
/// as `splitDockerDomain` decides), else Docker Hub.
#[must_use]
pub fn registry_guess(input: &str) -> String {
    let input = input.split_once("://").map_or(input, |(_, rest)| rest);
    match input.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "docker.io".to_owned(),
    }
}

/// Why a reference is invalid: the upstream error and the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    /// The upstream message, then which part is wrong, for a person.
    pub reason: String,
    pub kind: ReferenceErrorKind,
}

impl ReferenceError {
    fn new(input: &str, kind: ReferenceErrorKind, detail: Option<String>) -> Self {
        let reason = match detail {
            Some(d) => format!("{}: {d}", kind.upstream_message()),
            None => kind.upstream_message().to_owned(),
        };
        Self {
            input: input.to_owned(),
            reason,
            kind,
        }
    }
}

impl Reference {
    /// Parse and normalise as `ParseDockerRef` does (what kubelet and the CRI
    /// plugin use): `nginx` -> `docker.io/library/nginx:latest`; with both a
    /// tag and a digest, the tag is dropped.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_normalized(input)?;
        // normalize.go ParseDockerRef: namedTaggedDigested -> WithDigest(WithName(name)),
        // otherwise TagNameOnly.
        if r.digest.is_some() {
            r.tag = None;
        } else if r.tag.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// `ParseNormalizedNamed`: the domain and `library/` are filled in, but tag
    /// and digest are kept as written (both, one or neither).
    pub fn parse_normalized(input: &str) -> Result<Self, ReferenceError> {
        if is_identifier(input) {
            return Err(ReferenceError {
                input: input.to_owned(),
                reason: format!(
                    "invalid repository name ({input}), cannot specify 64-byte hexadecimal strings"
                ),
                kind: ReferenceErrorKind::HexIdentifier,
            });
        }
        let (domain, remainder) = split_docker_domain(input);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError {
                input: input.to_owned(),
                reason: format!(
                    "invalid reference format: repository name ({remote}) must be lowercase"
                ),
                kind: ReferenceErrorKind::NameContainsUppercase,
            });
        }
        if input.is_empty() {
            // Upstream parses "docker.io/library/" here and says only "invalid
            // reference format"; say why.
            return Err(ReferenceError::new(
                input,
                ReferenceErrorKind::ReferenceInvalidFormat,
                Some("the image reference is empty".to_owned()),
            ));
        }
        Self::parse_unnormalized(&format!("{domain}/{remainder}")).map_err(|mut e| {
            input.clone_into(&mut e.input);
            e
        })
    }

    /// distribution/reference `Parse`: the grammar only, no normalisation. A
    /// first component that can be a domain is taken as one (`foo/bar` has
    /// domain `foo`); `domain` is empty when there is none.
    pub fn parse_unnormalized(input: &str) -> Result<Self, ReferenceError> {
        use ReferenceErrorKind as K;
        if input.is_empty() {
            return Err(ReferenceError::new(input, K::NameEmpty, None));
        }
        let Some((name, tag, digest)) = match_reference(input) else {
            let lower = input.to_lowercase();
            if lower != input && match_reference(&lower).is_some() {
                return Err(ReferenceError::new(input, K::NameContainsUppercase, None));
            }
            return Err(ReferenceError::new(
                input,
                K::ReferenceInvalidFormat,
                Some(explain_format(input)),
            ));
        };
        let (domain, path) = split_domain(name).unwrap_or(("", name));
        if path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::new(
                input,
                K::NameTooLong,
                Some(format!("the path {path:?} has {} characters", path.len())),
            ));
        }
        if let Some(d) = digest {
            validate_digest(d).map_err(|kind| {
                ReferenceError::new(
                    input,
                    kind,
                    Some(format!("digest {d:?}: {}", explain_digest(d))),
                )
            })?;
        }
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// `ParseNamed`: like [`Self::parse_normalized`], but the input must
    /// already be in canonical form (`docker.io/library/foo`, not `foo`).
    pub fn parse_named(input: &str) -> Result<Self, ReferenceError> {
        let r = Self::parse_normalized(input)?;
        if r.to_string() != input {
            return Err(ReferenceError::new(
                input,
                ReferenceErrorKind::NameNotCanonical,
                Some(format!("write it as {r}")),
            ));
        }
        Ok(r)
    }

    /// `WithTag`: this name with `tag` (the digest, if any, is kept).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        checked(
            tag,
            is_tag,
            ReferenceErrorKind::TagInvalidFormat,
            explain_tag,
        )?;
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// `WithDigest`: this name with `digest` (the tag, if any, is kept).
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        checked(
            digest,
            is_digest_grammar,
            ReferenceErrorKind::DigestInvalidFormat,
            explain_digest,
        )?;
        Ok(Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// `domain/path` (just `path` when there is no domain).
    #[must_use]
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The short form Docker's UI shows (`FamiliarName`): `nginx`, `user/app`.
    #[must_use]
    pub fn familiar_name(&self) -> String {
        if self.domain != DOCKER_HUB {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    #[must_use]
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
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

/// The host a registry domain is actually contacted at: Docker Hub's
/// `docker.io` is served by `registry-1.docker.io` (containerd
/// core/remotes/docker/config/hosts.go `ConfigureHosts`, and distribution's
/// normalize.go comment on `defaultDomain`); every other domain as is.
#[must_use]
pub fn api_host(domain: &str) -> &str {
    if domain == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// A registry host the node or the pod has credentials or config for, and
/// what names it (`pull secret regcred`, `/etc/containerd/certs.d`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHost {
    pub host: String,
    pub from: String,
}

/// `(first, rest)` of `input` when it is written without a registry (so it
/// is Docker Hub's) and its first component could be a registry host's
/// first label: the only names [`meant_reference`] can read another in.
#[must_use]
pub fn host_like_hub_name<'a>(input: &'a str, parsed: &Reference) -> Option<(&'a str, &'a str)> {
    if parsed.domain != DOCKER_HUB {
        return None;
    }
    let (first, rest) = input.split_once('/')?;
    if first.contains(['.', ':']) || first == "localhost" || first == "library" {
        return None;
    }
    Some((first, rest))
}

/// The image `input` most likely meant, when it was written without a
/// registry (so it is Docker Hub's) and its first path component is the
/// first label of a registry host the node or the pod knows:
/// `myprivateregistry/my-app:1.0` with a pull secret for
/// `myprivateregistry.com` meant `myprivateregistry.com/my-app:1.0` (tag
/// and digest kept as written). Returns the reference and the host it came from.
#[must_use]
pub fn meant_reference<'a>(
    input: &str,
    parsed: &Reference,
    known: &'a [KnownHost],
) -> Option<(String, &'a KnownHost)> {
    let (first, rest) = host_like_hub_name(input, parsed)?;
    known.iter().find_map(|k| {
        let host = k.host.as_str();
        let label = host.split(['.', ':']).next().unwrap_or(host);
        let is_hub =
            host == DOCKER_HUB || host == LEGACY_DOCKER_HUB || host.ends_with(".docker.io");
        (label == first && host.contains(['.', ':']) && !is_hub)
            .then(|| (format!("{host}/{rest}"), k))
    })
}

/// Notes for a person when `input` is valid but probably not what was meant.
/// `parsed` is the result of [`Reference::parse`] on `input`.
#[must_use]
pub fn remarks(input: &str, parsed: &Reference) -> Vec<String> {
    remarks_with_known(input, parsed, &[])
}

/// [`remarks`], naming the image most likely meant when a Docker Hub name's
/// first component is a registry host in `known` ([`meant_reference`]).
#[must_use]
pub fn remarks_with_known(input: &str, parsed: &Reference, known: &[KnownHost]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((meant, k)) = meant_reference(input, parsed, known) {
        let first = domain_part(input);
        out.push(format!(
            "`{input}` has no registry host, so it is Docker Hub's `{parsed}`; but {from} has credentials or config for `{host}`, whose first label is `{first}`: the image most likely meant is `{meant}`",
            from = k.from,
            host = k.host,
        ));
    }
    let meant = !out.is_empty();
    let Ok(written) = Reference::parse_normalized(input) else {
        return out;
    };
    match input.split_once('/').map(|(first, _)| first) {
        None => out.push(format!(
            "`{input}` is short for `{parsed}`, an official image on Docker Hub (`library/` is added to one-word names)"
        )),
        Some(LEGACY_DOCKER_HUB) => {
            out.push(format!("`{LEGACY_DOCKER_HUB}` is Docker Hub's legacy name; it is read as `{DOCKER_HUB}`"));
        }
        Some(first)
            if !meant
                && first != "localhost"
                && first != "library"
                && !first.contains(['.', ':'])
                && first.to_lowercase() == first =>
        {
            let rest = parsed.path.split_once('/').map_or(parsed.path.as_str(), |(_, r)| r);
            out.push(format!(
                "`{path}` is Docker Hub's `{DOCKER_HUB}/{path}`; if `{first}` is meant to be a registry host, \
                 write its full name, e.g. `{first}.example.com/{rest}` or `{first}.azurecr.io/{rest}`",
                path = parsed.path,
            ));
        }
        Some(_) => {}
    }
    match (&written.tag, &written.digest) {
        (None, None) => out.push(
            "no tag or digest given, so `:latest` is pulled (and kubelet's default imagePullPolicy for `:latest` is Always)"
                .to_owned(),
        ),
        (Some(tag), Some(_)) => out.push(format!(
            "both the tag `{tag}` and a digest are given: the tag is ignored and `{parsed}` is pulled"
        )),
        _ => {}
    }
    out
}

/// A DNS host name as a URL would accept it: labels of 1-63 letters, digits
/// and inner hyphens (regexp.go `domainNameComponent`), at most 253 in all.
pub(crate) fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.')
            .all(|l| l.len() <= 63 && is_domain_component(l))
}

// ---- the grammar of regexp.go, by hand -------------------------------------

/// normalize.go `splitDockerDomain` (on the whole input, tag and digest included).
fn split_docker_domain(name: &str) -> (String, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        // Familiar single-component names ("ubuntu", "ubuntu:latest").
        return (
            DOCKER_HUB.to_owned(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    // Order matters: the legacy Hub name contains a `.` too.
    let (domain, mut remote) = if maybe_domain == LEGACY_DOCKER_HUB {
        (DOCKER_HUB, maybe_remote.to_owned())
    } else if maybe_domain == "localhost" || maybe_domain.contains(['.', ':']) {
        (maybe_domain, maybe_remote.to_owned())
    } else if maybe_domain.to_lowercase() != maybe_domain {
        // Upper case is not allowed in a namespace, so upstream takes it as a domain.
        (maybe_domain, maybe_remote.to_owned())
    } else {
        (DOCKER_HUB, name.to_owned())
    };
    if domain == DOCKER_HUB && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain.to_owned(), remote)
}

/// `ReferenceRegexp`: name, optional tag, optional digest, or `None`.
fn match_reference(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest_grammar(d)) {
        return None;
    }
    let (name, tag) = split_tag(left);
    if tag.is_some_and(|t| !is_tag(t)) || split_domain(name).is_none() {
        return None;
    }
    Some((name, tag, digest))
}

/// The tag starts at the first `:` after the last `/`: a path component has
/// no `:` and a tag has no `/`, while a domain may have both `:` and `[...]`.
#[must_use]
pub fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last = s.rfind('/').map_or(0, |i| i + 1);
    match s[last..].find(':') {
        Some(i) => (&s[..last + i], Some(&s[last + i + 1..])),
        None => (s, None),
    }
}

/// The name of a reference string, read lexically as `ref.Name()` would
/// give it: `@digest` and `:tag` dropped. For strings that are not whole
/// references (CRI-O's prefixes and locations, `*.example.com/team`).
#[must_use]
pub fn name_part(s: &str) -> &str {
    split_tag(s.split_once('@').map_or(s, |(n, _)| n)).0
}

/// The domain of a reference or location string: everything before the
/// first `/`, read lexically.
#[must_use]
pub fn domain_part(s: &str) -> &str {
    s.split_once('/').map_or(s, |(d, _)| d)
}

/// `anchoredNameRegexp`: `(domain, path)`, the domain empty when the first
/// component cannot be one. Leftmost-first like the Go regexp: a first
/// component that is a valid domain is always taken as the domain.
fn split_domain(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && is_domain_and_port(first)
        && is_remote_name(rest)
    {
        return Some((first, rest));
    }
    is_remote_name(name).then_some(("", name))
}

/// `remoteName`: path components separated by single `/`.
fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `pathComponent`: `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `domainAndPort`: (domain name | `[` IPv6 chars `]`) with an optional `:digits`.
fn is_domain_and_port(s: &str) -> bool {
    let (host, port) = if let Some(after) = s.strip_prefix('[') {
        let Some((inside, tail)) = after.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match tail {
            "" => return true,
            t => (None, t.strip_prefix(':')),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(h) = host
        && !h.split('.').all(is_domain_component)
    {
        return false;
    }
    match port {
        Some(p) => !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()),
        None => host.is_some(),
    }
}

/// `domainNameComponent`: `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `tag`: `[\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    (1..=128).contains(&b.len())
        && word(b[0])
        && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `digestPat`: `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`.
fn is_digest_grammar(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let component = |c: &str| {
        c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && c.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    alg.split(['-', '_', '+', '.']).all(component)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `identifier` anchored: a 64-hex image ID.
fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// go-digest `Digest.Validate` with the algorithms of algorithm.go.
fn validate_digest(d: &str) -> Result<(), ReferenceErrorKind> {
    let Some((alg, enc)) = d
        .split_once(':')
        .filter(|(a, e)| !a.is_empty() && !e.is_empty())
    else {
        return Err(ReferenceErrorKind::ChecksumInvalidFormat);
    };
    let Some(len) = digest_hex_len(alg) else {
        // digest.go DigestRegexp: [a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+
        let alg_ok = alg.split(['.', '+', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        let enc_ok = enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
        return Err(if alg_ok && enc_ok {
            ReferenceErrorKind::DigestUnsupported
        } else {
            ReferenceErrorKind::ChecksumInvalidFormat
        });
    };
    if enc.len() == len
        && enc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ReferenceErrorKind::ChecksumInvalidFormat)
    }
}

/// Hex length of the algorithms go-digest knows (sha256, sha384, sha512).
fn digest_hex_len(alg: &str) -> Option<usize> {
    match alg {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

// ---- which part is wrong, for a person -------------------------------------

/// `value` when `valid` says so, else a `kind` error that explains it.
fn checked(
    value: &str,
    valid: fn(&str) -> bool,
    kind: ReferenceErrorKind,
    explain: fn(&str) -> String,
) -> Result<(), ReferenceError> {
    if valid(value) {
        Ok(())
    } else {
        Err(ReferenceError::new(value, kind, Some(explain(value))))
    }
}

fn explain_tag(tag: &str) -> String {
    format!(
        "the tag {tag:?} must be 1 to 128 letters, digits, `_`, `.` or `-`, and not start with `.` or `-`"
    )
}

fn explain_digest(d: &str) -> String {
    match d.split_once(':') {
        None => "a digest is ALGORITHM:HEX, e.g. sha256: and 64 hex digits".to_owned(),
        Some((alg, hex)) => match digest_hex_len(alg) {
            Some(n) if hex.len() != n => format!("{alg} needs {n} hex digits, this has {}", hex.len()),
            Some(_) => format!("{alg} needs lower-case hex digits"),
            None if is_digest_grammar(d) => format!("{alg:?} is not sha256, sha384 or sha512"),
            None => "a digest is ALGORITHM:HEX with at least 32 hex digits, e.g. sha256: and 64 hex digits".to_owned(),
        },
    }
}

/// Say which part of an input that failed `ReferenceRegexp` is wrong.
fn explain_format(s: &str) -> String {
    let (left, digest) = match s.split_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if d.contains('@') {
            return "more than one `@`".to_owned();
        }
        if !is_digest_grammar(d) {
            return format!("the digest {d:?} is malformed: {}", explain_digest(d));
        }
    }
    let (name, tag) = split_tag(left);
    if let Some(t) = tag
        && !is_tag(t)
    {
        return explain_tag(t);
    }
    if name.is_empty() {
        return "the repository name is missing".to_owned();
    }
    if let Some((first, rest)) = name.split_once('/')
        && is_domain_and_port(first)
    {
        if let Some(bad) = rest.split('/').find(|c| !is_path_component(c)) {
            return explain_component(bad);
        }
    } else if let Some(bad) = name.split('/').find(|c| !is_path_component(c)) {
        if name.contains('/')
            && name.split_once('/').is_some_and(|(f, _)| f == bad)
            && bad.contains(['[', ':'])
        {
            return format!(
                "{bad:?} is not a valid registry host (IPv6 addresses go in brackets, without a zone)"
            );
        }
        return explain_component(bad);
    }
    "the name does not follow the reference grammar".to_owned()
}

fn explain_component(c: &str) -> String {
    if c.is_empty() {
        return "the repository path has an empty component (`//` or a trailing `/`)".to_owned();
    }
    format!(
        "the path component {c:?} must be lower-case letters and digits, separated by one `.`, one or two `_`, or `-`s"
    )
}

#[cfg(test)]
mod tests {
    use super::ReferenceErrorKind as K;
    use super::*;

    const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    fn parse_ok(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// distribution/reference `reference_test.go` `TestReferenceParse` (v0.6 table):
    /// (input, Err kind | (domain, name, tag, digest)).
    #[test]
    fn reference_parse_table() {
        type Ok4 = (&'static str, String, &'static str, String);
        let a127 = "a/".repeat(127) + "a";
        let sha512 = format!("sha512:{}", "f".repeat(128));
        let ok: Vec<(String, Ok4)> = vec![
            (
                "test_com".into(),
                ("", "test_com".into(), "", String::new()),
            ),
            (
                "test.com:tag".into(),
                ("", "test.com".into(), "tag", String::new()),
            ),
            (
                "test.com:5000".into(),
                ("", "test.com".into(), "5000", String::new()),
            ),
            (
                "test.com/repo:tag".into(),
                ("test.com", "test.com/repo".into(), "tag", String::new()),
            ),
            (
                "test:5000/repo".into(),
                ("test:5000", "test:5000/repo".into(), "", String::new()),
            ),
            (
                "test:5000/repo:tag".into(),
                ("test:5000", "test:5000/repo".into(), "tag", String::new()),
            ),
            (
                format!("test:5000/repo@sha256:{F64}"),
                (
                    "test:5000",
                    "test:5000/repo".into(),
                    "",
                    format!("sha256:{F64}"),
                ),
            ),
            (
                format!("test:5000/repo:tag@sha256:{F64}"),
                (
                    "test:5000",
                    "test:5000/repo".into(),
                    "tag",
                    format!("sha256:{F64}"),
                ),
            ),
            (
                "lowercase:Uppercase".into(),
                ("", "lowercase".into(), "Uppercase", String::new()),
            ),
            (
                a127.clone() + ":tag-puts-this-over-max",
                ("a", a127.clone(), "tag-puts-this-over-max", String::new()),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux".into(),
                (
                    "sub-dom1.foo.com",
                    "sub-dom1.foo.com/bar/baz/quux".into(),
                    "",
                    String::new(),
                ),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                (
                    "sub-dom1.foo.com",
                    "sub-dom1.foo.com/bar/baz/quux".into(),
                    "some-long-tag",
                    String::new(),
                ),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                (
                    "b.gcr.io",
                    "b.gcr.io/test.example.com/my-app".into(),
                    "test.example.com",
                    String::new(),
                ),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                (
                    "xn--n3h.com",
                    "xn--n3h.com/myimage".into(),
                    "xn--n3h.com",
                    String::new(),
                ),
            ),
            (
                format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
                (
                    "xn--7o8h.com",
                    "xn--7o8h.com/myimage".into(),
                    "xn--7o8h.com",
                    sha512.clone(),
                ),
            ),
            (
                "foo_bar.com:8080".into(),
                ("", "foo_bar.com".into(), "8080", String::new()),
            ),
            (
                "foo/foo_bar.com:8080".into(),
                ("foo", "foo/foo_bar.com".into(), "8080", String::new()),
            ),
            (
                "192.168.1.1".into(),
                ("", "192.168.1.1".into(), "", String::new()),
            ),
            (
                "192.168.1.1:tag".into(),
                ("", "192.168.1.1".into(), "tag", String::new()),
            ),
            (
                "192.168.1.1:5000".into(),
                ("", "192.168.1.1".into(), "5000", String::new()),
            ),
            (
                "192.168.1.1/repo".into(),
                ("192.168.1.1", "192.168.1.1/repo".into(), "", String::new()),
            ),
            (
                "192.168.1.1:5000/repo".into(),
                (
                    "192.168.1.1:5000",
                    "192.168.1.1:5000/repo".into(),
                    "",
                    String::new(),
                ),
            ),
            (
                "192.168.1.1:5000/repo:5050".into(),
                (
                    "192.168.1.1:5000",
                    "192.168.1.1:5000/repo".into(),
                    "5050",
                    String::new(),
                ),
            ),
            (
                "[2001:db8::1]/repo".into(),
                (
                    "[2001:db8::1]",
                    "[2001:db8::1]/repo".into(),
                    "",
                    String::new(),
                ),
            ),
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                (
                    "[2001:db8:1:2:3:4:5:6]",
                    "[2001:db8:1:2:3:4:5:6]/repo".into(),
                    "tag",
                    String::new(),
                ),
            ),
            (
                "[2001:db8::1]:5000/repo".into(),
                (
                    "[2001:db8::1]:5000",
                    "[2001:db8::1]:5000/repo".into(),
                    "",
                    String::new(),
                ),
            ),
            (
                "[2001:db8::1]:5000/repo:tag".into(),
                (
                    "[2001:db8::1]:5000",
                    "[2001:db8::1]:5000/repo".into(),
                    "tag",
                    String::new(),
                ),
            ),
            (
                format!("[2001:db8::1]:5000/repo@sha256:{F64}"),
                (
                    "[2001:db8::1]:5000",
                    "[2001:db8::1]:5000/repo".into(),
                    "",
                    format!("sha256:{F64}"),
                ),
            ),
            (
                format!("[2001:db8::1]:5000/repo:tag@sha256:{F64}"),
                (
                    "[2001:db8::1]:5000",
                    "[2001:db8::1]:5000/repo".into(),
                    "tag",
                    format!("sha256:{F64}"),
                ),
            ),
            (
                "[2001:db8::]:5000/repo".into(),
                (
                    "[2001:db8::]:5000",
                    "[2001:db8::]:5000/repo".into(),
                    "",
                    String::new(),
                ),
            ),
            (
                "[::1]:5000/repo".into(),
                ("[::1]:5000", "[::1]:5000/repo".into(), "", String::new()),
            ),
            (
                format!("example.com/{}:tag", "a".repeat(255)),
                (
                    "example.com",
                    format!("example.com/{}", "a".repeat(255)),
                    "tag",
                    String::new(),
                ),
            ),
        ];
        for (input, (domain, name, tag, digest)) in ok {
            let r =
                Reference::parse_unnormalized(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), input, "round trip");
            assert_eq!(r.domain, domain, "{input}");
            assert_eq!(r.name(), name, "{input}");
            assert_eq!(r.tag.as_deref().unwrap_or(""), tag, "{input}");
            assert_eq!(r.digest.clone().unwrap_or_default(), digest, "{input}");
        }
        let err: Vec<(String, K)> = vec![
            (String::new(), K::NameEmpty),
            (":justtag".into(), K::ReferenceInvalidFormat),
            (format!("@sha256:{F64}"), K::ReferenceInvalidFormat),
            (
                format!("repo@sha256:{}", "f".repeat(34)),
                K::ChecksumInvalidFormat,
            ),
            (
                format!("validname@invaliddigest:{F64}"),
                K::DigestUnsupported,
            ),
            ("Uppercase:tag".into(), K::NameContainsUppercase),
            (
                "test:5000/Uppercase/lowercase:tag".into(),
                K::NameContainsUppercase,
            ),
            (format!("domain/{}:tag", "a".repeat(256)), K::NameTooLong),
            ("aa/asdf$$^/aa".into(), K::ReferenceInvalidFormat),
            ("[2001:db8::1]".into(), K::ReferenceInvalidFormat),
            ("[2001:db8::1]:5000".into(), K::ReferenceInvalidFormat),
            ("[2001:db8::1]:tag".into(), K::ReferenceInvalidFormat),
            ("[fe80::1%eth0]:5000/repo".into(), K::ReferenceInvalidFormat),
            (
                "[fe80::1%@invalidzone]:5000/repo".into(),
                K::ReferenceInvalidFormat,
            ),
        ];
        for (input, kind) in err {
            let e = Reference::parse_unnormalized(&input).expect_err(&input);
            assert_eq!(e.kind, kind, "{input}: {e}");
            assert!(e.reason.starts_with(kind.upstream_message()), "{e}");
        }
    }

    /// `reference_test.go` `TestDomainAndPath` (`WithName` cases) via the unnormalised parser.
    #[test]
    fn domain_and_path() {
        for (input, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "", "test_com/foo"),
            ("test:8080/foo", "test:8080", "foo"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ] {
            let r = Reference::parse_unnormalized(input).unwrap();
            assert_eq!(
                (r.domain.as_str(), r.path.as_str()),
                (domain, path),
                "{input}"
            );
        }
    }

    /// `normalize_test.go` `TestValidateReferenceName`.
    #[test]
    fn validate_reference_name() {
        let valid = [
            "docker/docker",
            "library/debian",
            "debian",
            "docker.io/docker/docker",
            "docker.io/library/debian",
            "docker.io/debian",
            "index.docker.io/docker/docker",
            "index.docker.io/library/debian",
            "index.docker.io/debian",
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "192.168.0.2:25000/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "Docker/docker",
            "DOCKER/docker",
        ];
        let invalid = [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        ];
        for s in valid {
            assert!(
                Reference::parse_normalized(s).is_ok(),
                "{s} should be valid"
            );
        }
        for s in invalid {
            assert!(
                Reference::parse_normalized(s).is_err(),
                "{s} should be invalid"
            );
        }
    }

    /// `normalize_test.go` `TestValidateRemoteName`.
    #[test]
    fn validate_remote_name() {
        for s in [
            "docker/docker",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
        ] {
            assert!(Reference::parse_normalized(s).is_ok(), "{s}");
        }
        let long = "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker";
        for s in [
            "docker/Docker",
            "docker///docker",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "-docker/docker",
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            long,
        ] {
            assert!(Reference::parse_normalized(s).is_err(), "{s}");
        }
        assert_eq!(
            Reference::parse_normalized(long).unwrap_err().kind,
            K::NameTooLong
        );
    }

    /// `normalize_test.go` `TestParseRepositoryInfo`: (path, familiar, full, ambiguous, domain).
    #[test]
    fn parse_repository_info() {
        let table = [
            (
                "fooo/bar",
                "fooo/bar",
                "docker.io/fooo/bar",
                "index.docker.io/fooo/bar",
                "docker.io",
            ),
            (
                "library/ubuntu",
                "ubuntu",
                "docker.io/library/ubuntu",
                "library/ubuntu",
                "docker.io",
            ),
            (
                "nonlibrary/ubuntu",
                "nonlibrary/ubuntu",
                "docker.io/nonlibrary/ubuntu",
                "",
                "docker.io",
            ),
            (
                "other/library",
                "other/library",
                "docker.io/other/library",
                "",
                "docker.io",
            ),
            (
                "private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "127.0.0.1:8000/private/moonbase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "privatebase",
                "127.0.0.1:8000/privatebase",
                "127.0.0.1:8000/privatebase",
                "",
                "127.0.0.1:8000",
            ),
            (
                "private/moonbase",
                "example.com/private/moonbase",
                "example.com/private/moonbase",
                "",
                "example.com",
            ),
            (
                "privatebase",
                "example.com/privatebase",
                "example.com/privatebase",
                "",
                "example.com",
            ),
            (
                "private/moonbase",
                "example.com:8000/private/moonbase",
                "example.com:8000/private/moonbase",
                "",
                "example.com:8000",
            ),
            (
                "privatebasee",
                "example.com:8000/privatebasee",
                "example.com:8000/privatebasee",
                "",
                "example.com:8000",
            ),
            (
                "library/ubuntu-12.04-base",
                "ubuntu-12.04-base",
                "docker.io/library/ubuntu-12.04-base",
                "index.docker.io/library/ubuntu-12.04-base",
                "docker.io",
            ),
            (
                "library/foo",
                "foo",
                "docker.io/library/foo",
                "docker.io/foo",
                "docker.io",
            ),
            (
                "library/foo/bar",
                "library/foo/bar",
                "docker.io/library/foo/bar",
                "",
                "docker.io",
            ),
            (
                "store/foo/bar",
                "store/foo/bar",
                "docker.io/store/foo/bar",
                "",
                "docker.io",
            ),
            ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
            ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
        ];
        for (path, familiar, full, ambiguous, domain) in table {
            for input in [familiar, full, ambiguous]
                .into_iter()
                .filter(|s| !s.is_empty())
            {
                let r = Reference::parse_normalized(input).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.familiar_name(), familiar, "{input}");
                assert_eq!(r.to_string(), full, "{input}");
                assert_eq!(r.domain, domain, "{input}");
                assert_eq!(r.path, path, "{input}");
            }
        }
    }

    /// `normalize_test.go` `TestParseReferenceWithTagAndDigest` and `TestInvalidReferenceComponents`.
    #[test]
    fn tag_and_digest_and_components() {
        let short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
        let r = Reference::parse_normalized(short).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/{short}"));
        assert!(r.tag.is_some() && r.digest.is_some());

        assert!(Reference::parse_normalized("-foo").is_err());
        let busybox = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(
            busybox.with_tag("-foo").unwrap_err().kind,
            K::TagInvalidFormat
        );
        assert_eq!(
            busybox.with_digest("foo").unwrap_err().kind,
            K::DigestInvalidFormat
        );
        // reference_test.go TestWithTag / TestWithDigest.
        let named = Reference::parse_unnormalized("test.com:8000/foo").unwrap();
        let d = "sha256:1234567890098765432112345667890098765";
        assert_eq!(
            named
                .with_digest(d)
                .unwrap()
                .with_tag("TAG5")
                .unwrap()
                .to_string(),
            format!("test.com:8000/foo:TAG5@{d}")
        );
        assert_eq!(
            named
                .with_tag("latest")
                .unwrap()
                .with_digest(d)
                .unwrap()
                .to_string(),
            format!("test.com:8000/foo:latest@{d}")
        );
    }

    /// `normalize_test.go` `TestNormalizedSplitHostname`.
    #[test]
    fn normalized_split_hostname() {
        for (input, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "docker.io", "test_com/foo"),
            ("docker/migrator", "docker.io", "docker/migrator"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("foo", "docker.io", "library/foo"),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
            ("docker.io/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ] {
            let r = Reference::parse_normalized(input).unwrap();
            assert_eq!(
                (r.domain.as_str(), r.path.as_str()),
                (domain, path),
                "{input}"
            );
        }
    }

    /// `reference_test.go` `TestParseNamed`.
    #[test]
    fn parse_named_requires_canonical() {
        for (input, ok) in [
            ("test.com/foo", true),
            ("test:8080/foo", true),
            ("test_com/foo", false),
            ("test.com", false),
            ("foo", false),
            ("library/foo", false),
            ("docker.io/library/foo", true),
            ("docker.io/foo", false),
        ] {
            match Reference::parse_named(input) {
                Ok(_) => assert!(ok, "{input}"),
                Err(e) => {
                    assert!(!ok, "{input}: {e}");
                    assert_eq!(e.kind, K::NameNotCanonical, "{input}");
                }
            }
        }
    }

    /// `normalize_test.go` `TestParseDockerRef`, plus the normalised form of `TestParseAnyReference`.
    #[test]
    fn parse_docker_ref() {
        let d = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
        for (input, expected) in [
            (
                "busybox".to_owned(),
                "docker.io/library/busybox:latest".to_owned(),
            ),
            (
                "busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                format!("busybox@{d}"),
                format!("docker.io/library/busybox@{d}"),
            ),
            (
                "library/busybox".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "docker.io/busybox".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "docker.io/library/busybox".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "docker.io/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "library/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "gcr.io/library/busybox".into(),
                "gcr.io/library/busybox:latest".into(),
            ),
            (
                format!("gcr.io/library/busybox:latest@{d}"),
                format!("gcr.io/library/busybox@{d}"),
            ),
            (
                "dmcgowan/myapp".into(),
                "docker.io/dmcgowan/myapp:latest".into(),
            ),
            (
                "index.docker.io/library/redis:7".into(),
                "docker.io/library/redis:7".into(),
            ),
            ("localhost/app".into(), "localhost/app:latest".into()),
            ("localhost:5000/app:1".into(), "localhost:5000/app:1".into()),
            ("dbcc1".into(), "docker.io/library/dbcc1:latest".into()),
        ] {
            let r = parse_ok(&input);
            assert_eq!(r.to_string(), expected, "{input}");
            // The output must itself be a valid reference.
            assert!(Reference::parse_unnormalized(&expected).is_ok());
        }
        let r = parse_ok("nginx");
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.object()),
            ("docker.io", "library/nginx", "latest")
        );
    }

    #[test]
    fn normalized_errors_say_what_is_wrong() {
        let e = Reference::parse("Nginx").unwrap_err();
        assert_eq!(e.kind, K::NameContainsUppercase);
        assert_eq!(
            e.to_string(),
            "invalid image reference \"Nginx\": invalid reference format: repository name (library/Nginx) must be lowercase"
        );
        let e =
            Reference::parse("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a")
                .unwrap_err();
        assert_eq!(e.kind, K::HexIdentifier);
        let e = Reference::parse("nginx:-bad").unwrap_err();
        assert_eq!(e.kind, K::ReferenceInvalidFormat);
        assert!(e.reason.contains("the tag \"-bad\""), "{e}");
        let e = Reference::parse("nginx@sha256:abc").unwrap_err();
        assert!(e.reason.contains("digest"), "{e}");
        let e = Reference::parse(&format!("nginx@sha256:{}", "F".repeat(64))).unwrap_err();
        assert_eq!(e.kind, K::ChecksumInvalidFormat);
        assert!(e.reason.contains("lower-case"), "{e}");
        let e = Reference::parse("my_reg.io/app//x").unwrap_err();
        assert!(e.reason.contains("empty component"), "{e}");
        let e = Reference::parse("").unwrap_err();
        assert!(e.reason.contains("empty"), "{e}");
        let e = Reference::parse(&format!("example.com/{}", "a".repeat(256))).unwrap_err();
        assert_eq!(e.kind, K::NameTooLong);
        assert!(
            e.reason
                .starts_with("repository name must not be more than 255 characters")
        );
    }

    /// Issue 18 (seed 000): the name the user meant, tag and digest kept.
    #[test]
    fn the_meant_reference_comes_from_a_known_host() {
        let known = |hosts: &[&str]| -> Vec<KnownHost> {
            hosts
                .iter()
                .map(|h| KnownHost {
                    host: (*h).to_owned(),
                    from: "pull secret regcred".to_owned(),
                })
                .collect()
        };
        let k = known(&["docker.io", "other.io", "myprivateregistry.com"]);
        let meant = |input: &str, k: &[KnownHost]| {
            meant_reference(input, &parse_ok(input), k).map(|(m, _)| m)
        };
        assert_eq!(
            meant("myprivateregistry/my-app", &k).as_deref(),
            Some("myprivateregistry.com/my-app")
        );
        assert_eq!(
            meant("myprivateregistry/team/my-app:1.0", &k).as_deref(),
            Some("myprivateregistry.com/team/my-app:1.0")
        );
        let digest = format!("myprivateregistry/my-app@sha256:{F64}");
        assert_eq!(
            meant(&digest, &k),
            Some(format!("myprivateregistry.com/my-app@sha256:{F64}"))
        );
        let port = known(&["myreg:5000"]);
        assert_eq!(
            meant("myreg/app:1", &port).as_deref(),
            Some("myreg:5000/app:1")
        );
        // Not a Docker Hub name written short, or no host with that label.
        for input in [
            "docker.io/myprivateregistry/my-app",
            "myprivateregistry.com/my-app",
            "nginx",
            "library/nginx",
            "someone/my-app",
        ] {
            assert_eq!(meant(input, &k), None, "{input}");
        }
        // Docker Hub's own hosts are never "meant".
        assert_eq!(
            meant("registry-1/app", &known(&["registry-1.docker.io"])),
            None
        );
        let r = remarks_with_known(
            "myprivateregistry/my-app:1.0",
            &parse_ok("myprivateregistry/my-app:1.0"),
            &k,
        );
        assert_eq!(r.len(), 1, "the generic remark gives way: {r:?}");
        assert!(
            r[0].contains(
                "pull secret regcred has credentials or config for `myprivateregistry.com`"
            ) && r[0]
                .ends_with("the image most likely meant is `myprivateregistry.com/my-app:1.0`"),
            "{r:?}"
        );
    }

    #[test]
    fn remarks_for_likely_mistakes() {
        let input = "myprivateregistry/my-app";
        let r = remarks(input, &parse_ok(input));
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            r[0],
            "`myprivateregistry/my-app` is Docker Hub's `docker.io/myprivateregistry/my-app`; if `myprivateregistry` is meant to be a registry host, write its full name, e.g. `myprivateregistry.example.com/my-app` or `myprivateregistry.azurecr.io/my-app`"
        );
        assert!(r[1].contains("`:latest` is pulled"));

        let r = remarks("nginx", &parse_ok("nginx"));
        assert!(
            r[0].contains("`nginx` is short for `docker.io/library/nginx:latest`"),
            "{r:?}"
        );
        let r = remarks("nginx:1.25", &parse_ok("nginx:1.25"));
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("`docker.io/library/nginx:1.25`"));

        assert!(
            remarks(
                "myreg.azurecr.io/app:1",
                &parse_ok("myreg.azurecr.io/app:1")
            )
            .is_empty()
        );
        assert!(remarks("localhost/app:1", &parse_ok("localhost/app:1")).is_empty());
        assert!(remarks("library/nginx:1", &parse_ok("library/nginx:1")).is_empty());

        let both = format!("gcr.io/a/b:v1@sha256:{F64}");
        let r = remarks(&both, &parse_ok(&both));
        assert_eq!(
            r,
            vec![format!(
                "both the tag `v1` and a digest are given: the tag is ignored and `gcr.io/a/b@sha256:{F64}` is pulled"
            )]
        );
        assert!(remarks("Not Valid", &parse_ok("nginx")).is_empty());
    }

    #[test]
    fn api_host_maps_docker_hub_only() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "index.docker.io");
        assert_eq!(api_host("myreg.azurecr.io"), "myreg.azurecr.io");
        assert_eq!(api_host(&parse_ok("nginx").domain), "registry-1.docker.io");
    }

    /// Issue 4: no string makes the reference or `--registry` parsers panic or
    /// take long, and a parsed reference reads back as itself.
    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        const SEEDS: &[&str] = &[
            "nginx",
            "docker.io/library/nginx:1.27@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "localhost:5000/a/b__c.d-e---f:v1.2_3",
            "[2001:db8::1]:5000/team/app@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "Reg.Example.COM:5000/Upper/app:Tag",
            "https://index.docker.io/v1/",
            "myreg.azurecr.io/app@md5:0123456789abcdef0123456789abcdef",
        ];

        fn exercise(input: &str) {
            let start = Instant::now();
            if let Ok(r) = Reference::parse(input) {
                let again = Reference::parse(&r.to_string());
                assert_eq!(again.as_ref(), Ok(&r), "{input:?} -> {r}");
                let _ = (r.familiar_name(), r.object(), api_host(&r.domain));
                let _ = remarks(input, &r);
                let _ = r.with_tag(input);
                let _ = r.with_digest(input);
            }
            let _ = Reference::parse_unnormalized(input);
            let _ = Reference::parse_named(input);
            if let Ok(h) = crate::target::registry_host(input) {
                assert_eq!(
                    crate::target::registry_host(&h.to_string()).as_ref(),
                    Ok(&h),
                    "{input:?}"
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "slow on {input:?}"
            );
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_text_never_panics(input in "(?s).{0,300}") {
                exercise(&input);
            }

            /// The reference alphabet, so most inputs reach the grammar's depths.
            #[test]
            fn reference_alphabet_never_panics(input in "(https?://)?[a-zA-Z0-9._:/@\\[\\]+-]{0,300}") {
                exercise(&input);
            }

            #[test]
            fn damaged_seeds_never_panic(
                which in 0..SEEDS.len(),
                at in any::<prop::sample::Index>(),
                ch in prop_oneof![any::<char>(), prop::sample::select(vec!['/', ':', '@', '.', '_', '-', '[', ']', 'A'])],
                cut in any::<prop::sample::Index>(),
                repeat in 1usize..200,
            ) {
                let mut chars: Vec<char> = SEEDS[which].chars().collect();
                let i = at.index(chars.len());
                chars[i] = ch;
                exercise(&chars.iter().collect::<String>());
                chars.truncate(cut.index(chars.len() + 1));
                exercise(&chars.iter().collect::<String>());
                // A long run of one component, as a repeated path or label.
                let s: String = chars.iter().collect();
                exercise(&s.repeat(repeat));
            }
        }
    }
}
