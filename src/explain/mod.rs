//! `probe explain`: map a pull error message, as the kubelet, containerd,
//! CRI-O or Docker wrote it, to a contract code, category and hint.
//!
//! The input is what `kubectl describe pod` shows in Events (`Failed to pull
//! image "x": rpc error: ...`) or what `kubectl get pod -o json` shows in
//! `state.waiting.message` (since Kubernetes 1.32 also `Back-off pulling
//! image "x": ErrImagePull: <error>`), pasted whole or in part. The texts
//! that decide are in `table.rs`, each row citing where upstream it comes
//! from; this module finds them, names what the message names (the image,
//! the host, the address) and fills the hint.
//!
//! This module reads a string and nothing else: no network, no node files,
//! no JSON shape (that is `report::explain`). When a message cannot tell two
//! causes apart, it says so in `also_possible` rather than guessing quietly.

mod table;

use crate::code::{Category, Code};
use crate::reference::{Reference, ReferenceErrorKind, split_tag};
use crate::verdict::advice::{self, Advice};
use std::io::{self, Read};
use table::{Find, PATTERNS, Pattern, QUIET, Reach};

/// What a message shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The contract code the message shows; `None` when no known pattern matches.
    pub code: Option<Code>,
    pub category: Option<Category>,
    /// Codes the message cannot rule out (never `code` itself).
    pub also_possible: Vec<Code>,
    /// The part of the message that decided.
    pub matched: Option<String>,
    /// What to do, or how to find out.
    pub hint: String,
    /// The image the message names, as it names it.
    pub image: Option<String>,
    /// Where upstream the deciding text comes from (the table row's citation).
    pub source: Option<&'static str>,
}

impl Explanation {
    /// The exit status of `probe explain`: as `probe`'s by category, 1 when
    /// no known pattern matched.
    #[must_use]
    pub fn exit_status(&self) -> u8 {
        self.category.map_or(1, Category::exit_status)
    }
}

/// The most `probe explain -` reads from standard input.
const STDIN_LIMIT: u64 = 1024 * 1024;

/// The message to explain: the argument itself, or standard input for `-`.
pub fn read_message(arg: &str, stdin: &mut dyn Read) -> io::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut buf = Vec::new();
    stdin.take(STDIN_LIMIT).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Explain one message (any number of lines).
#[must_use]
pub fn explain(message: &str) -> Explanation {
    let text = unescape(message);
    let mut e = explain_text(&text);
    if let Some(meant) = meant_in_message(&text, e.image.as_deref()) {
        e.hint = format!("{meant}; {}", e.hint);
    }
    e
}

/// The name the user meant, only when the message itself shows both: a
/// Docker Hub image written without a registry (`myprivateregistry/my-app`)
/// and a registry host whose first label is its first component
/// (`myprivateregistry.com`). A message alone knows no pull secret or node
/// config, so without the host in it nothing is claimed.
fn meant_in_message(text: &str, image: Option<&str>) -> Option<String> {
    let image = image?;
    let parsed = Reference::parse(image).ok()?;
    let known: Vec<crate::reference::KnownHost> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '/')))
        .filter_map(|word| {
            // A host as it stands in a URL, a reference or a lookup.
            let word = word
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let host = crate::reference::domain_part(word).trim_end_matches([':', '.']);
            (host.contains('.') && crate::reference::is_dns_name(host.split(':').next()?)).then(
                || crate::reference::KnownHost {
                    host: host.to_owned(),
                    from: "the message".to_owned(),
                },
            )
        })
        .collect();
    let (meant, k) = crate::reference::meant_reference(image, &parsed, &known)?;
    Some(format!(
        "`{image}` has no registry host, so it is Docker Hub's `{parsed}`, yet the message also names `{}`: the image most likely meant is `{meant}` (`probe pod` checks this against the pod's pull secrets)",
        k.host
    ))
}

/// [`explain`] of the message's unescaped text.
fn explain_text(text: &str) -> Explanation {
    let lower = text.to_ascii_lowercase();
    let facts = Facts::of(text, &lower);
    for pattern in PATTERNS {
        let Some((start, end)) = pattern.find.iter().find_map(|f| find(&lower, *f)) else {
            continue;
        };
        let end = clause_end(text, end);
        return judged(pattern, text, &lower, start, end, facts);
    }
    let quiet = QUIET
        .iter()
        .find(|q| q.find.iter().any(|f| lower.contains(f)));
    Explanation {
        code: None,
        category: None,
        also_possible: Vec::new(),
        matched: None,
        hint: fill(quiet.map_or(table::UNKNOWN_HINT, |q| q.hint), &facts, None),
        image: facts.image,
        source: quiet.map(|q| q.source),
    }
}

/// The code and hint `explain` gives for each row's own text, and for a
/// connection failure on a token realm and on a blob store: what the advice
/// table's walk checks.
#[cfg(test)]
pub(crate) fn codes_and_hints() -> Vec<(Code, String, Vec<Code>)> {
    let mut messages: Vec<String> = PATTERNS
        .iter()
        .flat_map(|p| p.find.iter())
        .map(|f| match f {
            Find::Seq(texts) => texts.join(" x "),
            Find::Status { after, lo, .. } => format!("{after} x {lo} x"),
        })
        .collect();
    messages.push(r#"Get "https://auth.test/token?scope=x": dial tcp 10.0.0.1:443: connect: connection refused"#.to_owned());
    messages.push(r#"Get "https://data.test/v2/a/blobs/sha256:00": dial tcp 10.0.0.1:443: connect: connection refused"#.to_owned());
    messages
        .iter()
        .filter_map(|m| {
            let e = explain(m);
            Some((e.code?, e.hint, e.also_possible))
        })
        .collect()
}

/// The explanation of a matched row, with the host it failed on taken into
/// account: a connection failure on the token realm or on a blob store is
/// what the probe's auth or blob stage would report.
fn judged(
    pattern: &Pattern,
    text: &str,
    lower: &str,
    start: usize,
    end: usize,
    mut facts: Facts,
) -> Explanation {
    let matched = tidy(&text[start..end]).to_owned();
    facts.url = last_url(text, start);
    // The lookup or dial of the clause that decided, not of another error in the message.
    let clause_lower = matched.to_ascii_lowercase();
    if let Some(name) = after(&matched, &clause_lower, "lookup ", LOOKUP_ENDS) {
        facts.lookup = Some(name);
    }
    if let Some(addr) = after(&matched, &clause_lower, "dial tcp ", DIAL_ENDS) {
        facts.addr = Some(addr);
    }
    facts.clause = Some(matched.clone());
    let mut code = pattern.code;
    let mut also: Vec<Code> = pattern.also.to_vec();
    let own = pattern
        .case
        .map_or_else(|| advice::advice(code), advice::case);
    let mut hint = fill(pattern.hint, &facts, Some(own));
    if pattern.reach == Reach::Host {
        let refinement = if facts.url.as_ref().is_some_and(Url::is_token_realm)
            || token_context(&lower[..start])
        {
            Some(&table::TOKEN_REALM)
        } else if facts.url.as_ref().is_some_and(Url::is_blob) {
            Some(&table::BLOB_STORE)
        } else {
            None
        };
        if let Some(r) = refinement {
            let fix = fill("{fix}", &facts, Some(advice::advice(r.code)));
            hint = format!("{} ({code}: {matched}): {fix}", fill(r.what, &facts, None));
            code = r.code;
            also.clear();
        }
    }
    also.retain(|c| *c != code);
    Explanation {
        code: Some(code),
        category: Some(code.category()),
        also_possible: also,
        matched: Some(matched),
        hint,
        image: facts.image,
        source: Some(pattern.source),
    }
}

/// The matched text without the punctuation of the clause around it: the
/// `": ` that ends a quoted URL, a `)` whose `(` was left out.
fn tidy(matched: &str) -> &str {
    let t = matched.trim().trim_start_matches(['"', ':', ' ']);
    if t.ends_with(')') && !t.contains('(') {
        t[..t.len() - 1].trim_end()
    } else {
        t
    }
}

/// Whether the failing request was for a token: containerd and
/// containers/image say so just before the error they wrap.
fn token_context(before: &str) -> bool {
    let mut from = before.len().saturating_sub(200);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    let tail = &before[from..];
    [
        "failed to fetch anonymous token",
        "failed to fetch oauth token",
        "requesting bearer token",
    ]
    .iter()
    .any(|t| tail.contains(t))
}

/// Where a row's text is, as a byte range of the lower-cased message.
fn find(lower: &str, f: Find) -> Option<(usize, usize)> {
    match f {
        Find::Seq(texts) => find_seq(lower, texts),
        Find::Status { after, lo, hi } => {
            let from = if after.is_empty() {
                0
            } else {
                lower.find(after)?
            };
            let (at, end) = find_status(lower, from + after.len(), lo, hi)?;
            Some((if after.is_empty() { at } else { from }, end))
        }
    }
}

/// The tightest span holding `texts` in order: the leftmost occurrence of
/// the last text that has all the others before it, each taken as late as
/// possible.
fn find_seq(lower: &str, texts: &[&str]) -> Option<(usize, usize)> {
    let (last, earlier) = texts.split_last()?;
    let mut from = 0;
    while let Some(offset) = lower[from..].find(last) {
        let at = from + offset;
        let mut start = at;
        let all_before = earlier.iter().rev().all(|t| match lower[..start].rfind(t) {
            Some(p) => {
                start = p;
                true
            }
            None => false,
        });
        if all_before {
            return Some((start, at + last.len()));
        }
        from = at + last.len();
    }
    None
}

/// An HTTP status written as a word of its own: three digits after a space
/// or `(`, followed by the end, a space, `)`, `,` or `:`.
fn find_status(lower: &str, from: usize, lo: u16, hi: u16) -> Option<(usize, usize)> {
    let bytes = lower.as_bytes();
    (from..bytes.len().saturating_sub(2)).find_map(|i| {
        let digits = &bytes[i..i + 3];
        let before_ok = i > 0 && matches!(bytes[i - 1], b' ' | b'(');
        let after_ok = bytes
            .get(i + 3)
            .is_none_or(|b| matches!(b, b' ' | b')' | b',' | b':' | b'\n'));
        if !(before_ok && after_ok && digits.iter().all(u8::is_ascii_digit)) {
            return None;
        }
        let status: u16 = lower[i..i + 3].parse().ok()?;
        (lo..=hi).contains(&status).then_some((i, i + 3))
    })
}

/// The end of the clause a match sits in: the line, up to a closing quote or
/// the next gRPC error of a list, at most 300 bytes on.
fn clause_end(text: &str, end: usize) -> usize {
    let rest = &text[end..];
    let mut stop = rest.len();
    for marker in ["\n", "\"", ", rpc error", "\\n"] {
        if let Some(p) = rest.find(marker) {
            stop = stop.min(p);
        }
    }
    let mut stop = stop.min(300);
    while !rest.is_char_boundary(stop) {
        stop -= 1;
    }
    // kubectl's table borders are not part of the message.
    end + rest[..stop]
        .trim_end_matches(|c: char| c.is_whitespace() || c == '│')
        .len()
}

/// A message copied out of JSON or a Go log line keeps its escapes.
fn unescape(message: &str) -> String {
    message
        .replace("\\\"", "\"")
        .replace("\\u0027", "'")
        .replace("\\n", "\n")
}

/// A URL the message names, as far as the hints need it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    /// `host[:port]`.
    authority: String,
    /// Path and query.
    rest: String,
}

impl Url {
    /// A distribution token realm: its query asks for a `scope`/`service`,
    /// or its path is a token endpoint (`/token`, ACR's `/oauth2/token`).
    fn is_token_realm(&self) -> bool {
        let (path, query) = self.rest.split_once('?').unwrap_or((&self.rest, ""));
        query.contains("scope=") || query.contains("service=") || path.ends_with("/token")
    }

    /// A blob (or a blob store a registry redirects to): digest-addressed
    /// content that is not a manifest.
    fn is_blob(&self) -> bool {
        let path = self.rest.split('?').next().unwrap_or_default();
        path.contains("/blobs/") || (path.contains("sha256") && !path.contains("/manifests/"))
    }
}

/// The last `http(s)://` URL that starts before `before`: the request that
/// failed, in a Go error chain (`Get "https://...": dial tcp ...`).
fn last_url(text: &str, before: usize) -> Option<Url> {
    let head = &text[..before];
    let lower = head.to_ascii_lowercase();
    let at = lower.rfind("https://").max(lower.rfind("http://"))?;
    let url = head[at..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .next()?;
    let url = url.trim_end_matches([':', ',', ')', ']']);
    let after_scheme = &url[url.find("://")? + 3..];
    let (authority, rest) = match after_scheme.find(['/', '?']) {
        Some(p) => (&after_scheme[..p], &after_scheme[p..]),
        None => (after_scheme, ""),
    };
    (!authority.is_empty()).then(|| Url {
        authority: authority.to_owned(),
        rest: rest.to_owned(),
    })
}

/// Go's `DNSError`: "lookup NAME on SERVER: ERR" (or "lookup NAME: ERR").
const LOOKUP_ENDS: &[&str] = &[" on ", ": ", "\""];
/// Go's `OpError`: "dial tcp ADDR: ERR".
const DIAL_ENDS: &[&str] = &[": "];

/// What the message names, for the hints.
#[derive(Clone, Debug, Default)]
struct Facts {
    image: Option<String>,
    /// The image's registry host (`docker.io` for `nginx`).
    registry: Option<String>,
    url: Option<Url>,
    /// The name a failed DNS lookup asked for.
    lookup: Option<String>,
    /// The address a failed connect dialled.
    addr: Option<String>,
    /// The address ACR's firewall refused.
    ip: Option<String>,
    plugin: Option<String>,
    /// The matched clause, once there is one.
    clause: Option<String>,
}

impl Facts {
    fn of(text: &str, lower: &str) -> Facts {
        let image = image_of(text, lower);
        let registry = image
            .as_deref()
            .and_then(|i| Reference::parse(i).ok())
            .map(|r| r.domain);
        Facts {
            registry,
            lookup: after(text, lower, "lookup ", LOOKUP_ENDS),
            addr: after(text, lower, "dial tcp ", DIAL_ENDS),
            ip: after(text, lower, "client with ip ", &[" is not"]).map(|ip| {
                ip.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                    .to_owned()
            }),
            plugin: after(text, lower, "credential provider plugin ", &[" for image"]),
            image,
            url: None,
            clause: None,
        }
    }

    /// The host the failing clause is about.
    fn host(&self) -> Option<String> {
        if let Some(clause) = &self.clause {
            // Go's HostnameError ends with the name that was wanted.
            if let Some((_, wanted)) = clause.rsplit_once(", not ") {
                return Some(wanted.trim().to_owned());
            }
            if let Some((_, wanted)) = clause.split_once("but wanted to match ") {
                return Some(wanted.trim().to_owned());
            }
            let lower = clause.to_ascii_lowercase();
            if let Some(ip) = after(clause, &lower, "validate certificate for ", &[" because"]) {
                return Some(ip);
            }
        }
        self.url
            .as_ref()
            .map(|u| u.authority.clone())
            .or_else(|| self.registry.clone())
    }

    fn probe_command(&self) -> String {
        match (&self.image, self.host()) {
            (Some(image), _) => format!("probe --image {image}"),
            (None, Some(host)) => format!("probe --registry {host}"),
            (None, None) => "probe --image <image>".to_owned(),
        }
    }
}

/// The text after `marker` (case-insensitive), up to the first of `ends`.
fn after(text: &str, lower: &str, marker: &str, ends: &[&str]) -> Option<String> {
    let at = lower.find(marker)? + marker.len();
    let rest = &text[at..];
    let stop = ends
        .iter()
        .filter_map(|e| rest.find(e))
        .min()
        .unwrap_or(rest.len())
        .min(rest.find('\n').unwrap_or(rest.len()));
    let found = rest[..stop].trim();
    (!found.is_empty()).then(|| found.to_owned())
}

/// The image a message names, from the wrappers the kubelet and the
/// runtimes put around their errors, first found first.
fn image_of(text: &str, lower: &str) -> Option<String> {
    // Quoted by the kubelet (image_manager.go), containerd (image_pull.go,
    // client/pull.go) and skopeo.
    for marker in [
        "failed to pull image \"",
        "back-off pulling image \"",
        "failed to apply default image tag \"",
        "couldn't parse image name \"",
        "couldn't parse image reference \"",
        "failed to pull and unpack image \"",
        "failed to resolve reference \"",
        "container image \"",
        "pulling image \"",
        "error parsing image name \"",
    ] {
        if let Some(image) = after(text, lower, marker, &["\""]) {
            return Some(image.trim_start_matches("docker://").to_owned());
        }
    }
    // Unquoted: the kubelet's RegistryUnavailable rewrite, containers/image,
    // Docker's notFoundError, the credential provider plugin.
    if let Some(image) = after(text, lower, "image pull failed for ", &[" because"]) {
        return Some(image);
    }
    if let Some(source) = after(text, lower, "initializing source docker://", &[": "]) {
        return Some(source);
    }
    if let Some(spec) = after(text, lower, "reading manifest ", &[": "]) {
        if let Some((object, name)) = spec.split_once(" in ") {
            let sep = if object.contains(':') { '@' } else { ':' };
            return Some(format!("{name}{sep}{object}"));
        }
    }
    [
        ("pull access denied for ", &[",", ":"][..]),
        ("manifest for ", &[" not found"][..]),
        // The credential provider plugin: "plugin NAME for image IMAGE: ...".
        (" for image ", &[": "][..]),
    ]
    .into_iter()
    .find_map(|(marker, ends)| after(text, lower, marker, ends))
}

/// Why `image` is not a reference, naming the part at fault the way a
/// person would fix it.
fn offending_part(image: Option<&str>) -> String {
    let Some(image) = image else {
        return "check it for upper-case letters, a scheme (https://), a trailing colon or a name written twice".to_owned();
    };
    if let Some((scheme, _)) = image.split_once("://") {
        return format!(
            "it starts with the scheme `{scheme}://`, and an image reference has none: write `{}`",
            &image[scheme.len() + 3..]
        );
    }
    if image.ends_with(':') || image.ends_with('@') {
        let last = &image[image.len() - 1..];
        return format!(
            "it ends with `{last}` and nothing after it: add the {} or drop the `{last}`",
            if last == ":" { "tag" } else { "digest" }
        );
    }
    if image.starts_with('/') {
        return "it starts with `/`: a reference begins with the registry host or the repository name".to_owned();
    }
    match Reference::parse(image) {
        Err(e) if e.kind == ReferenceErrorKind::NameContainsUppercase => {
            let path = image.split(['@']).next().unwrap_or(image);
            let (name, _) = split_tag(path);
            // A first component with a `.` or `:` is the host, which may be upper case.
            let path = match name.split_once('/') {
                Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
                _ => name,
            };
            let upper: Vec<&str> = path
                .split('/')
                .filter(|c| c.chars().any(|ch| ch.is_ascii_uppercase()))
                .collect();
            let shown = if upper.is_empty() {
                path.to_owned()
            } else {
                upper.join("`, `")
            };
            format!("`{shown}` has upper-case letters, and repository names must be lower case")
        }
        Err(e) => e.reason,
        Ok(_) => format!("the kubelet could not parse `{image}` (the message says why)"),
    }
}

/// A hint template with the message's facts filled in; `{fix}` is the
/// fix the advice table gives for `advice`'s code (none for a message
/// without a known cause).
fn fill(template: &str, facts: &Facts, advice: Option<Advice>) -> String {
    let image = facts
        .image
        .as_deref()
        .map_or_else(|| "the image".to_owned(), |i| format!("`{i}`"));
    let host = facts.host();
    let host_text = host.clone().unwrap_or_else(|| "the registry".to_owned());
    let registry = facts
        .registry
        .clone()
        .or(host)
        .unwrap_or_else(|| "the registry".to_owned());
    let fact = |name: &str| -> Option<String> {
        Some(match name {
            "image" | "repo" => image.clone(),
            "registry" => registry.clone(),
            "acr_name" => "<registry>".to_owned(),
            "host" | "authority" => host_text.clone(),
            "addr" => facts.addr.clone().unwrap_or_else(|| host_text.clone()),
            "lookup" => facts.lookup.clone().unwrap_or_else(|| host_text.clone()),
            "nameserver" => "the message names the one asked".to_owned(),
            "ip" => facts
                .ip
                .clone()
                .unwrap_or_else(|| "the node's egress address".to_owned()),
            "plugin" => facts
                .plugin
                .as_deref()
                .map_or_else(|| "for this image".to_owned(), |p| format!("`{p}`")),
            "part" => offending_part(facts.image.as_deref()),
            "probe" => facts.probe_command(),
            _ => return None,
        })
    };
    let fix = advice.map(|a| advice::fill(a.fix, &fact));
    let to_tell = advice::fill(table::TO_TELL_HINT, &fact);
    advice::fill(template, &|name| match name {
        "fix" => fix.clone(),
        "to_tell" => Some(to_tell.clone()),
        _ => fact(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_is_found_in_order_and_as_tight_as_it_goes() {
        let lower = "lookup a on b: no such host; lookup c on d: no such host";
        assert_eq!(find_seq(lower, &["lookup ", "no such host"]), Some((0, 27)));
        assert_eq!(
            find_seq("no such host, lookup x", &["lookup ", "no such host"]),
            None
        );
        // The earlier text is taken as late as possible before the last one.
        assert_eq!(
            find_seq("dial tcp dial tcp x: refused", &["dial tcp ", "refused"]),
            Some((9, 28))
        );
    }

    #[test]
    fn a_status_is_a_number_of_its_own() {
        let at = |s: &str, lo, hi| find_status(s, 0, lo, hi).map(|(a, _)| a);
        assert_eq!(at("x: 401 Unauthorized", 401, 401), Some(3));
        assert_eq!(at("registry 503 (Service Unavailable)", 500, 599), Some(9));
        assert_eq!(
            at("error parsing HTTP 403 response body", 403, 403),
            Some(19)
        );
        // Not a port, not part of an address, a digest or a duration.
        assert_eq!(at("dial tcp 10.0.0.1:401: refused", 401, 401), None);
        assert_eq!(at("sha256:5034019a", 401, 401), None);
        assert_eq!(at("took 401ms", 401, 401), None);
        assert_eq!(at("x 4011 y", 401, 401), None);
    }

    #[test]
    fn the_image_comes_from_any_wrapper() {
        let cases = [
            ("Failed to pull image \"nginx:1.2\": rpc error", "nginx:1.2"),
            (
                "Back-off pulling image \"reg.io/a/b:1\": ErrImagePull: x",
                "reg.io/a/b:1",
            ),
            (
                "Failed to apply default image tag \"https://h/a:1\": couldn't parse",
                "https://h/a:1",
            ),
            (
                "image pull failed for reg.io/a:1 because the registry is unavailable",
                "reg.io/a:1",
            ),
            (
                "Error parsing image name \"docker://token.test/single:1\": reading",
                "token.test/single:1",
            ),
            (
                "reading manifest nope in registry.test/multi: manifest unknown",
                "registry.test/multi:nope",
            ),
            (
                "reading manifest sha256:abc in quay.io/x/y: manifest unknown",
                "quay.io/x/y@sha256:abc",
            ),
            (
                "Error response from daemon: pull access denied for foo/bar, repository",
                "foo/bar",
            ),
            (
                "error execing credential provider plugin ecr for image 1.dkr.ecr.x.amazonaws.com/app: exit status 1",
                "1.dkr.ecr.x.amazonaws.com/app",
            ),
        ];
        for (message, image) in cases {
            assert_eq!(explain(message).image.as_deref(), Some(image), "{message}");
        }
        assert_eq!(explain("no image here").image, None);
    }

    #[test]
    fn the_failing_url_decides_token_realm_and_blob_store() {
        let url = |s: &str| last_url(s, s.len()).unwrap();
        let u = url("Get \"https://gone.test/token?scope=repository%3Aa%3Apull&service=x\": dial");
        assert_eq!(u.authority, "gone.test");
        assert!(u.is_token_realm() && !u.is_blob());
        let u = url("Get https://auth.docker.io/token?scope=x&service=y: net/http");
        assert!(u.is_token_realm());
        let u = url(
            "Get \"https://acr.blob.core.windows.net/x/docker/registry/v2/blobs/sha256/fd/d/data?se=1\": EOF",
        );
        assert!(u.is_blob() && !u.is_token_realm());
        let u = url("Head \"https://reg.io:5000/v2/a/manifests/sha256:abc\": EOF");
        assert!(!u.is_blob());
        assert_eq!(u.authority, "reg.io:5000");
        assert!(!url("Get https://10.78.0.228:5000/v1/_ping: x509").is_blob());
    }

    #[test]
    fn the_offending_part_of_an_invalid_reference_is_named() {
        let part = |s: &str| offending_part(Some(s));
        assert!(part("https://harbor.example/release/name:1.1.0").contains("`https://`"));
        assert!(
            part("https://harbor.example/release/name:1.1.0")
                .contains("`harbor.example/release/name:1.1.0`")
        );
        assert!(part("nginx:").contains("ends with `:`"));
        assert!(
            part("None:None").contains("`None` has upper-case"),
            "{}",
            part("None:None")
        );
        assert!(
            part("reg.io/Team/app:1").contains("`Team`"),
            "{}",
            part("reg.io/Team/app:1")
        );
        assert!(part("/cloudfoundry/x:1").contains("starts with `/`"));
        assert!(
            part("a b").contains("invalid reference format"),
            "{}",
            part("a b")
        );
    }

    #[test]
    fn json_escapes_are_read_through() {
        let e = explain(
            r#"Back-off pulling image \"reg.io/a:1\": ErrImagePull: denied: client with IP \u00271.2.3.4\u0027 is not allowed access"#,
        );
        assert_eq!(e.code, Some(Code::IpNotAllowed));
        assert_eq!(e.image.as_deref(), Some("reg.io/a:1"));
        assert!(e.hint.contains("--ip-address 1.2.3.4"), "{}", e.hint);
    }

    #[test]
    fn nothing_known_is_null_with_a_probe_to_run() {
        for message in [
            "",
            "hello world",
            "Container image \"nginx\" already present on machine",
        ] {
            let e = explain(message);
            assert_eq!(
                (e.code, e.category, e.matched.as_deref()),
                (None, None, None)
            );
            assert_eq!(e.exit_status(), 1);
            assert!(!e.hint.is_empty());
        }
        let e = explain("Back-off pulling image \"reg.io/a:1\"");
        assert!(e.hint.contains("probe --image reg.io/a:1"), "{}", e.hint);
    }

    /// Where a dial timed out decides: in the lookup (no address yet) or in
    /// the connect (an address); a timeout that names neither could be either.
    #[test]
    fn an_io_timeout_is_placed_by_what_it_names() {
        let dns = explain(
            "dial tcp: lookup reg.example on 10.0.0.10:53: read udp 10.244.1.5:4567->10.0.0.10:53: i/o timeout",
        );
        assert_eq!(dns.code, Some(Code::DnsTimeout));
        assert!(dns.hint.contains("reg.example"), "{}", dns.hint);
        let tcp = explain("dial tcp 1.2.3.4:443: i/o timeout");
        assert_eq!(
            (tcp.code, tcp.also_possible.as_slice()),
            (Some(Code::TcpTimeout), &[][..])
        );
        assert!(
            tcp.hint.contains("packets to 1.2.3.4:443 are dropped"),
            "{}",
            tcp.hint
        );
        let neither = explain("Get \"https://reg.example/v2/\": context deadline exceeded");
        assert_eq!(neither.code, Some(Code::TcpTimeout));
        assert!(neither.also_possible.contains(&Code::DnsTimeout));
    }

    /// A dial error next to a 401 is a dial error, whichever comes first.
    #[test]
    fn network_before_answers() {
        let e = explain(
            "unexpected status from HEAD request to https://a/v2/x/manifests/1: 401 Unauthorized; then: dial tcp 10.0.0.1:443: connect: connection refused",
        );
        assert_eq!(e.code, Some(Code::TcpRefused));
    }

    /// Non-ASCII text (kubectl's box drawing, other languages) is sliced
    /// only at character boundaries.
    #[test]
    fn non_ascii_text_is_safe() {
        let e = explain(
            "│ Warning  Failed  9s  kubelet  Failed to pull image \"ünïcode/app:1\": 失败 dial tcp 10.0.0.1:443: connect: connection refused │",
        );
        assert_eq!(e.code, Some(Code::TcpRefused));
        assert_eq!(
            e.matched.as_deref(),
            Some("dial tcp 10.0.0.1:443: connect: connection refused")
        );
        let long = format!(
            "{}failed to fetch anonymous token: Get \"https://a/token?scope=x\": dial tcp: lookup a: no such host",
            "é".repeat(150)
        );
        assert_eq!(explain(&long).code, Some(Code::AuthServerUnreachable));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Pieces of real messages, so the matcher goes deep.
        const PIECES: &[&str] = &[
            "Failed to pull image \"",
            "\": ",
            "dial tcp ",
            "lookup ",
            " on 10.0.0.10:53: ",
            "i/o timeout",
            "no such host",
            "connection refused",
            "Get \"https://r.example/v2/",
            "token?scope=x&service=y",
            "/blobs/sha256:ab",
            "x509: certificate is valid for a, not b",
            "401 Unauthorized",
            " 503 ",
            "failed to fetch oauth token",
            "requesting bearer token",
            "client with IP '",
            "' is not allowed access",
            "pull access denied",
            "invalid reference format",
            "\\\"",
            "\\u0027",
            "é",
            "│",
            "\n",
        ];

        fn check(message: &str) {
            let e = explain(message);
            assert_eq!(e.category, e.code.map(Code::category));
            assert_eq!(e.matched.is_some(), e.code.is_some());
            assert!(!e.hint.is_empty());
            if let (Some(code), Some(matched)) = (e.code, &e.matched) {
                assert!(
                    unescape(message).contains(matched.as_str()),
                    "{matched:?} not in {message:?}"
                );
                assert!(!e.also_possible.contains(&code));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_text_never_panics(message in "(?s).{0,300}") {
                check(&message);
            }

            #[test]
            fn message_shaped_text_never_panics(parts in prop::collection::vec(
                prop_oneof![prop::sample::select(PIECES).prop_map(str::to_owned), "[ -~]{0,12}"],
                0..16,
            )) {
                check(&parts.concat());
            }
        }
    }

    #[test]
    fn stdin_is_read_for_a_dash() {
        let mut input = "from stdin".as_bytes();
        assert_eq!(read_message("-", &mut input).unwrap(), "from stdin");
        assert_eq!(read_message("given", &mut "x".as_bytes()).unwrap(), "given");
    }

    /// Every row's texts are lower case (the message is matched lower-cased),
    /// non-empty, and every row cites its source.
    #[test]
    fn the_table_is_well_formed() {
        for p in PATTERNS {
            assert!(!p.source.is_empty() && !p.hint.is_empty());
            assert!(!p.also.contains(&p.code), "{}", p.code);
            for f in p.find {
                let texts: &[&str] = match f {
                    Find::Seq(t) => t,
                    Find::Status { after, .. } => std::slice::from_ref(after),
                };
                for t in texts {
                    assert_eq!(*t, t.to_ascii_lowercase(), "{t}");
                }
            }
        }
    }
}
