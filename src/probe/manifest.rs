//! The manifest and platform stages: resolve the image reference the way
//! containerd's resolver does (`core/remotes/docker/resolver.go`), then pick
//! the node's platform from an index the way `containerd/platforms` `Only`
//! does (`compare.go`, `database.go`).
//!
//! Pulls are counted: Docker Hub counts `GET /v2/<name>/manifests/<ref>` as a
//! pull (up to two GETs make one) and `HEAD` as free. So the resolve is a
//! `HEAD`; a `GET` happens only for what the next stages need (the index, the
//! platform's manifest, or the single manifest for its config digest), and
//! after a 4xx, one `GET` to read the error body HEAD cannot carry.
//!
//! What it must not do: retry a 429; read more than containerd's manifest
//! limit; show the Authorization header.

use super::auth::{self, Session};
use super::challenge::{self, Challenge};
use super::http::{
    Body, ERROR_BODY_LIMIT, HostClient, MANIFEST_LIMIT, Reply, Req, registry_target, snippet,
};
use super::{Context, Stage, StageResult};
use crate::code::Code;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::target::Endpoint;
use bytes::Bytes;
use http::header::ACCEPT;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use tokio::time::Instant;

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// containerd's resolve `Accept` header (`NewResolver`), in its order.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

/// One entry of distribution's error envelope `{"errors":[{code,message,detail}]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryError {
    pub code: String,
    pub message: String,
}

/// Parse distribution's error JSON; `None` for anything else (HTML, garbage,
/// JSON without a non-empty `errors` array).
#[must_use]
pub fn parse_errors(body: &[u8]) -> Option<Vec<RegistryError>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errs = v.get("errors")?.as_array()?;
    let out: Vec<RegistryError> = errs
        .iter()
        .filter_map(|e| {
            let code = e.get("code")?.as_str()?.to_ascii_uppercase();
            let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
            Some(RegistryError {
                code,
                message: snippet(message.as_bytes(), 200),
            })
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: Option<u64>,
    pub platform: Option<Platform>,
}

impl Descriptor {
    fn from_json(v: &Value) -> Option<Self> {
        let platform = v.get("platform").and_then(|p| {
            Some(Platform {
                os: p.get("os")?.as_str()?.to_owned(),
                architecture: p.get("architecture")?.as_str()?.to_owned(),
                variant: p
                    .get("variant")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            })
        });
        Some(Self {
            media_type: v
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            digest: v.get("digest")?.as_str()?.to_owned(),
            size: v.get("size").and_then(Value::as_u64),
            platform,
        })
    }
}

/// The manifest the reference resolved to, fetched.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub digest: String,
    pub media_type: String,
    pub json: Value,
}

impl Resolved {
    #[must_use]
    pub fn is_index(&self) -> bool {
        is_index_type(&self.media_type)
            || (self.media_type.is_empty() && self.json.get("manifests").is_some())
    }

    /// The config descriptor of a single manifest.
    pub fn config(&self) -> Result<Descriptor, String> {
        config_of(&self.json, &self.media_type)
    }
}

fn is_index_type(m: &str) -> bool {
    m == MEDIA_DOCKER_LIST || m == MEDIA_OCI_INDEX
}

fn config_of(json: &Value, media_type: &str) -> Result<Descriptor, String> {
    json.get("config")
        .and_then(Descriptor::from_json)
        .ok_or_else(|| format!("manifest ({media_type}) has no config descriptor"))
}

/// `sha256:<hex>` of `bytes`.
#[must_use]
pub fn sha256_digest(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in h {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `body` matches `digest` (only sha256 is checked; others pass).
#[must_use]
pub fn digest_matches(digest: &str, body: &[u8]) -> bool {
    !digest.starts_with("sha256:") || sha256_digest(body) == digest
}

/// The media type of a response as containerd reads it (`getManifestMediaType`):
/// parameters stripped, `text/plain` taken as schema1 (registry.access.redhat.com).
fn media_type(reply: &Reply) -> String {
    match reply.content_type() {
        Some(c) if c == "text/plain" => MEDIA_DOCKER_SCHEMA1.to_owned(),
        Some(c) => c,
        None => String::new(),
    }
}

/// Which code an unsuccessful manifest or blob answer earns.
#[must_use]
pub fn classify(
    status: u16,
    errors: &[RegistryError],
    challenges: &[Challenge],
    credentials_used: bool,
    repo: &str,
    object: &str,
) -> (Code, String) {
    let has = |c: &str| errors.iter().any(|e| e.code == c);
    let quoted = if errors.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let what = if object.contains(':') {
        format!("digest {object}")
    } else {
        format!("tag {object}")
    };
    let insufficient_scope = challenges
        .iter()
        .any(|c| c.param("error") == Some("insufficient_scope"));
    if status == 429 || has("TOOMANYREQUESTS") {
        return (
            Code::RateLimited,
            format!("rate limited reading {repo}{quoted}"),
        );
    }
    if has("NAME_UNKNOWN") {
        return (
            Code::ImageNotFound,
            format!("repository {repo} not found{quoted}"),
        );
    }
    if has("MANIFEST_UNKNOWN") {
        return (
            Code::ImageNotFound,
            format!("{what} not found in repository {repo}{quoted}"),
        );
    }
    if status == 404 {
        return (
            Code::ImageNotFound,
            format!(
                "{repo}: {what} not found (404; the registry did not say whether the repository or the tag is missing){quoted}"
            ),
        );
    }
    if status == 401 || status == 403 || has("DENIED") || has("UNAUTHORIZED") {
        if !credentials_used {
            return (
                Code::AuthRequired,
                format!(
                    "repository {repo} missing or private; with no credentials configured the registry cannot tell us which{quoted}"
                ),
            );
        }
        if status == 403 || has("DENIED") || insufficient_scope {
            return (
                Code::AccessDenied,
                format!(
                    "authenticated, but not allowed to pull {repo} (or it does not exist){quoted}"
                ),
            );
        }
        return (
            Code::AuthRejected,
            format!("the registry refused the credentials for {repo}{quoted}"),
        );
    }
    if (500..600).contains(&status) {
        return (
            Code::RegistryError,
            format!("registry error {status} reading {repo}{quoted}"),
        );
    }
    (
        Code::RegistryError,
        format!("unexpected status {status} reading {repo}{quoted}"),
    )
}

fn manifest_req(
    ep: &Endpoint,
    method: Method,
    target: &str,
    accept: &str,
    session: &Session,
    limit: usize,
) -> Req {
    Req::new(method, target, limit)
        .endpoint_headers(ep)
        .header(ACCEPT, accept)
        .authorization(session.authorization.as_ref())
}

/// A request result reduced to what the stage needs.
enum Got {
    Reply(Reply),
    Failed(Code, String),
}

/// Send a registry request; on a 401 with a challenge and no authorization
/// yet, authorize (as containerd's `retryRequest` -> `AddResponses` does) and
/// send once more. A 401 *with* a token is final here: containerd would fetch
/// one more token merging the challenge's scope (`invalidAuthorization`), but
/// ours already is `repository:<path>:pull`, so the answer would not change.
async fn send_authorized(
    ctx: &Context,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    session: &mut Session,
    scope_path: &str,
    detail: &mut Value,
    build: &(dyn Fn(&Session) -> Req + Sync),
) -> Got {
    let req = build(session);
    let reply = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            return Got::Failed(
                Code::RegistryError,
                format!("{} {}: {e}", req.method, req.target),
            );
        }
    };
    if reply.status != StatusCode::UNAUTHORIZED || session.authorization.is_some() {
        return Got::Reply(reply);
    }
    let challenges = reply.challenges();
    let Some(chosen) = challenge::choose(&challenges, ep.credential.is_some()) else {
        return Got::Reply(reply);
    };
    match auth::authorize(
        ctx,
        ep,
        client,
        chosen,
        &[auth::repository_scope(scope_path)],
    )
    .await
    {
        Ok((s, d, summary)) => {
            detail["auth"] = d;
            detail["auth_summary"] = json!(summary);
            *session = s;
        }
        Err(r) => {
            detail["auth"] = r.detail;
            return Got::Failed(r.code, format!("authorizing {}: {}", req.target, r.summary));
        }
    }
    let req = build(session);
    match client.send(&req).await {
        Ok(r) => Got::Reply(r),
        Err(e) => Got::Failed(
            Code::RegistryError,
            format!("{} {}: {e}", req.method, req.target),
        ),
    }
}

fn reply_facts(reply: &Reply, method: &Method) -> Value {
    json!({
        "method": method.as_str(),
        "status": reply.status.as_u16(),
        "digest": reply.header("docker-content-digest"),
        "media_type": reply.content_type(),
        "size": reply.header("content-length").and_then(|v| v.parse::<u64>().ok()),
        "rate_limit": reply.rate_limit_json(),
    })
}

/// The manifest stage: `HEAD` (or `GET` after a 405) the reference, classify
/// failures with the registry's own error body, then `GET` the manifest by
/// digest for the next stages.
pub async fn run(
    ctx: &Context,
    ep: &Endpoint,
    image: &Reference,
    client: &mut HostClient<'_>,
    session: &mut Session,
) -> (StageResult, Option<Resolved>) {
    let started = Instant::now();
    let repo = image.path.as_str();
    let object = image.object().to_owned();
    let target = registry_target(ep, &format!("{repo}/manifests/{object}"));
    let mut detail = json!({"url": format!("{}://{}{}", ep.scheme.as_str(), ep.authority(), target), "accept": ACCEPT_MANIFESTS});
    let fail = |code, summary: String, detail: Value| {
        (
            StageResult::fail(Stage::Manifest, code, started.elapsed(), summary, detail),
            None,
        )
    };

    let mut method = Method::HEAD;
    let mut got = send_authorized(ctx, ep, client, session, repo, &mut detail, &|s| {
        manifest_req(
            ep,
            Method::HEAD,
            &target,
            ACCEPT_MANIFESTS,
            s,
            MANIFEST_LIMIT,
        )
    })
    .await;
    // retryRequest: "registries which have not properly implemented the HEAD method".
    if matches!(&got, Got::Reply(r) if r.status == StatusCode::METHOD_NOT_ALLOWED) {
        method = Method::GET;
        detail["head_status"] = json!(405);
        got = send_authorized(ctx, ep, client, session, repo, &mut detail, &|s| {
            manifest_req(
                ep,
                Method::GET,
                &target,
                ACCEPT_MANIFESTS,
                s,
                MANIFEST_LIMIT,
            )
        })
        .await;
    }
    let reply = match got {
        Got::Reply(r) => r,
        Got::Failed(code, summary) => return fail(code, summary, detail),
    };
    detail["response"] = reply_facts(&reply, &method);
    detail["credentials"] = json!(session.credentials_used);
    if !reply.status.is_success() {
        let status = reply.status.as_u16();
        let challenges = reply.challenges();
        let mut errors = reply
            .bytes()
            .and_then(|b| parse_errors(b))
            .unwrap_or_default();
        // HEAD has no body: one GET tells NAME_UNKNOWN from MANIFEST_UNKNOWN.
        // Not after a 429 (another request would only deepen the hole).
        if method == Method::HEAD && status != 429 && (400..500).contains(&status) {
            let req = manifest_req(
                ep,
                Method::GET,
                &target,
                ACCEPT_MANIFESTS,
                session,
                ERROR_BODY_LIMIT,
            );
            if let Ok(r) = client.send(&req).await {
                detail["error_get_status"] = json!(r.status.as_u16());
                if !r.status.is_success() {
                    errors = r.bytes().and_then(|b| parse_errors(b)).unwrap_or_default();
                }
            }
        }
        detail["errors"] = json!(
            errors
                .iter()
                .map(|e| json!({"code": e.code, "message": e.message}))
                .collect::<Vec<_>>()
        );
        let (code, summary) = classify(
            status,
            &errors,
            &challenges,
            session.credentials_used,
            repo,
            &object,
        );
        return fail(
            code,
            format!(
                "{method} {}: {}: {summary}",
                short(&target),
                reply.status_line()
            ),
            detail,
        );
    }
    let head_digest = reply.header("docker-content-digest").map(str::to_owned);
    let head_size = reply
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let mut mtype = media_type(&reply);
    if method == Method::HEAD && head_size.is_some_and(|n| n > MANIFEST_LIMIT as u64) {
        return fail(
            Code::RegistryError,
            format!(
                "manifest of {} bytes: containerd rejects manifests over {MANIFEST_LIMIT} bytes",
                head_size.unwrap_or(0)
            ),
            detail,
        );
    }
    // GET what the next stages need, by digest when the registry gave one.
    let body_reply = if method == Method::GET {
        reply
    } else {
        let by = head_digest.clone().unwrap_or_else(|| object.clone());
        let t = registry_target(ep, &format!("{repo}/manifests/{by}"));
        let accept = if mtype.is_empty() {
            ACCEPT_MANIFESTS.to_owned()
        } else {
            format!("{mtype}, */*")
        };
        let req = manifest_req(ep, Method::GET, &t, &accept, session, MANIFEST_LIMIT);
        match client.send(&req).await {
            Ok(r) if r.status.is_success() => r,
            Ok(r) => {
                let errors = r.bytes().and_then(|b| parse_errors(b)).unwrap_or_default();
                let (code, summary) = classify(
                    r.status.as_u16(),
                    &errors,
                    &r.challenges(),
                    session.credentials_used,
                    repo,
                    &by,
                );
                return fail(
                    code,
                    format!("GET {}: {}: {summary}", short(&t), r.status_line()),
                    detail,
                );
            }
            Err(e) => {
                return fail(
                    Code::RegistryError,
                    format!("GET {}: {e}", short(&t)),
                    detail,
                );
            }
        }
    };
    let body = match &body_reply.body {
        Body::Complete(b) => b.clone(),
        Body::TooLarge { limit } => {
            return fail(
                Code::RegistryError,
                format!("manifest larger than {limit} bytes: containerd rejects it"),
                detail,
            );
        }
        Body::Broken(e) => {
            return fail(
                Code::RegistryError,
                format!("manifest body cut off: {e}"),
                detail,
            );
        }
    };
    if mtype.is_empty() {
        mtype = media_type(&body_reply);
    }
    let digest = head_digest
        .or_else(|| {
            body_reply
                .header("docker-content-digest")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| sha256_digest(&body));
    if !digest_matches(&digest, &body) {
        detail["computed_digest"] = json!(sha256_digest(&body));
        return fail(
            Code::RegistryError,
            format!("manifest content does not match its digest {digest}"),
            detail,
        );
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            Code::RegistryError,
            format!("manifest is not JSON ({} bytes, {mtype})", body.len()),
            detail,
        );
    };
    if mtype.is_empty() {
        json.get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .clone_into(&mut mtype);
    }
    if mtype == MEDIA_DOCKER_SCHEMA1 || json.get("schemaVersion").and_then(Value::as_u64) == Some(1)
    {
        return fail(
            Code::RegistryError,
            "schema1 manifest: no longer supported since containerd 2.0; the image must be rebuilt"
                .to_owned(),
            detail,
        );
    }
    detail["digest"] = json!(digest);
    detail["media_type"] = json!(mtype);
    detail["size"] = json!(body.len());
    let kind = if is_index_type(&mtype) {
        "index"
    } else {
        "manifest"
    };
    let summary = format!("{repo}:{object} -> {digest} ({kind}, {} bytes)", body.len());
    let resolved = Resolved {
        digest,
        media_type: mtype,
        json,
    };
    (
        StageResult::ok(Stage::Manifest, started.elapsed(), summary, detail),
        Some(resolved),
    )
}

/// The path part of a target, for summaries.
fn short(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

// ---- platform matching: containerd/platforms ----

/// `Normalize` (database.go `normalizeArch`, `normalizeOS`).
#[must_use]
pub fn normalize(p: &Platform) -> Platform {
    let os = match p.os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_owned(),
        o => o.to_owned(),
    };
    let arch = p.architecture.to_ascii_lowercase();
    let variant = p
        .variant
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (arch, variant): (&str, String) = match arch.as_str() {
        "i386" => ("386", String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64",
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "aarch64" | "arm64" => (
            "arm64",
            if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            },
        ),
        "armhf" => ("arm", "v7".to_owned()),
        "armel" => ("arm", "v6".to_owned()),
        "arm" => (
            "arm",
            match variant.as_str() {
                "" | "7" => "v7".to_owned(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            },
        ),
        other => (other, variant),
    };
    let arch = arch.to_owned();
    Platform {
        os,
        architecture: arch,
        variant: (!variant.is_empty()).then_some(variant),
    }
}

fn with_variant(p: &Platform, arch: &str, variant: Option<String>) -> Platform {
    Platform {
        os: p.os.clone(),
        architecture: arch.to_owned(),
        variant,
    }
}

/// compare.go `platformVector`: the platform and the ones it can also run, in preference order.
#[must_use]
pub fn platform_vector(p: &Platform) -> Vec<Platform> {
    let mut v = vec![p.clone()];
    let variant = p.variant.clone().unwrap_or_default();
    let num = |s: &str| s.trim_start_matches('v').parse::<i64>().ok();
    match p.architecture.as_str() {
        "amd64" => {
            if let Some(n) = num(&variant).filter(|n| *n > 1) {
                for k in (1..n).rev() {
                    v.push(with_variant(p, "amd64", Some(format!("v{k}"))));
                }
            }
            v.push(with_variant(p, "386", None));
        }
        "arm" => {
            if let Some(n) = num(&variant).filter(|n| *n > 5) {
                for k in (5..n).rev() {
                    v.push(with_variant(p, "arm", Some(format!("v{k}"))));
                }
            }
        }
        "arm64" => {
            let mut variant = if variant.is_empty() {
                "v8".to_owned()
            } else {
                variant
            };
            let (major_s, minor_s) = variant
                .split_once('.')
                .map_or((variant.as_str(), None), |(a, b)| (a, Some(b)));
            if let Some(mut major) = num(major_s).filter(|m| *m >= 8) {
                let mut minor = 0;
                if variant.len() == 4 {
                    if let Some(m) = minor_s.and_then(|m| m.parse::<i64>().ok()) {
                        minor = m;
                    }
                }
                let name = |major: i64, minor: i64| {
                    if minor == 0 {
                        format!("v{major}")
                    } else {
                        format!("v{major}.{minor}")
                    }
                };
                if major == 9 {
                    for m in (0..minor).rev() {
                        v.push(with_variant(p, "arm64", Some(name(9, m))));
                    }
                    // v9.0 diverged from v8.5: v9.x runs v8.{x+5}.
                    minor += 5;
                    major = 8;
                    v.push(with_variant(p, "arm64", Some(format!("v8.{minor}"))));
                }
                for m in (0..minor).rev() {
                    v.push(with_variant(p, "arm64", Some(name(major, m))));
                }
            }
            if variant.starts_with("v8.") || variant.starts_with("v9.") {
                "v8".clone_into(&mut variant);
            }
            v.extend(platform_vector(&with_variant(p, "arm", Some(variant))));
        }
        _ => {}
    }
    v
}

/// `platforms.Only(want)`: the best candidate in preference order, ties to
/// the earlier entry (containerd sorts with a stable `Less`).
#[must_use]
pub fn select<'a>(want: &Platform, candidates: &'a [Descriptor]) -> Option<&'a Descriptor> {
    let vector: Vec<Platform> = platform_vector(&normalize(want))
        .iter()
        .map(normalize)
        .collect();
    vector.iter().find_map(|v| {
        candidates
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| normalize(p) == *v))
    })
}

/// The platform stage for an index: choose the node's entry and `GET` its
/// manifest (by digest) for the config descriptor.
pub async fn platform_from_index(
    ctx: &Context,
    ep: &Endpoint,
    image: &Reference,
    client: &mut HostClient<'_>,
    session: &Session,
    resolved: &Resolved,
) -> (StageResult, Option<Descriptor>) {
    let started = Instant::now();
    let want = &ctx.platform;
    let descs: Vec<Descriptor> = resolved
        .json
        .get("manifests")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Descriptor::from_json).collect())
        .unwrap_or_default();
    let present: Vec<String> = descs
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(ToString::to_string)
        .collect();
    let mut detail =
        json!({"wanted": want.to_string(), "present": present, "index": resolved.digest});
    let fail = |code, summary: String, detail: Value| {
        (
            StageResult::fail(Stage::Platform, code, started.elapsed(), summary, detail),
            None,
        )
    };
    let Some(chosen) = select(want, &descs) else {
        let list = if present.is_empty() {
            "none".to_owned()
        } else {
            present.join(", ")
        };
        return fail(
            Code::PlatformMissing,
            format!("no {want} image in the index; it has: {list}"),
            detail,
        );
    };
    let chosen_platform = chosen
        .platform
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    detail["chosen"] = json!({"platform": chosen_platform, "digest": chosen.digest, "media_type": chosen.media_type});
    let t = registry_target(ep, &format!("{}/manifests/{}", image.path, chosen.digest));
    let accept = if chosen.media_type.is_empty() {
        "*/*".to_owned()
    } else {
        format!("{}, */*", chosen.media_type)
    };
    let req = manifest_req(ep, Method::GET, &t, &accept, session, MANIFEST_LIMIT);
    let reply = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            return fail(
                Code::RegistryError,
                format!("GET {}: {e}", short(&t)),
                detail,
            );
        }
    };
    if !reply.status.is_success() {
        let errors = reply
            .bytes()
            .and_then(|b| parse_errors(b))
            .unwrap_or_default();
        let (code, summary) = classify(
            reply.status.as_u16(),
            &errors,
            &reply.challenges(),
            session.credentials_used,
            &image.path,
            &chosen.digest,
        );
        return fail(
            code,
            format!(
                "GET {} manifest: {}: {summary}",
                chosen_platform,
                reply.status_line()
            ),
            detail,
        );
    }
    let Some(body) = reply.bytes() else {
        return fail(
            Code::RegistryError,
            format!("{chosen_platform} manifest too large or cut off"),
            detail,
        );
    };
    if !digest_matches(&chosen.digest, body) {
        return fail(
            Code::RegistryError,
            format!(
                "{chosen_platform} manifest does not match its digest {}",
                chosen.digest
            ),
            detail,
        );
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return fail(
            Code::RegistryError,
            format!("{chosen_platform} manifest is not JSON"),
            detail,
        );
    };
    match config_of(&json, &chosen.media_type) {
        Ok(cfg) => {
            detail["config"] = json!(cfg.digest);
            let summary = format!(
                "{want} -> {chosen_platform} {} ({} platforms in index)",
                chosen.digest,
                present.len()
            );
            (
                StageResult::ok(Stage::Platform, started.elapsed(), summary, detail),
                Some(cfg),
            )
        }
        Err(e) => fail(Code::RegistryError, e, detail),
    }
}

/// The platform stage for a single manifest, from its config blob: containerd
/// checks the config's platform (`images.Manifest`, `ConfigPlatform`) and
/// fails "no match for platform in manifest".
#[must_use]
pub fn platform_from_config(ctx: &Context, config: Option<&Bytes>) -> StageResult {
    let want = &ctx.platform;
    let Some(bytes) = config else {
        return StageResult::skipped(
            Stage::Platform,
            "single-platform image; config blob too large to read, platform not checked",
        );
    };
    let parsed = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| {
        Some(Platform {
            os: v.get("os")?.as_str()?.to_owned(),
            architecture: v.get("architecture")?.as_str()?.to_owned(),
            variant: v
                .get("variant")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    });
    let Some(have) = parsed else {
        return StageResult::skipped(
            Stage::Platform,
            "single-platform image; its config declares no os/architecture",
        );
    };
    let detail = json!({"wanted": want.to_string(), "present": [have.to_string()]});
    let d = [Descriptor {
        media_type: String::new(),
        digest: String::new(),
        size: None,
        platform: Some(have.clone()),
    }];
    if select(want, &d).is_some() {
        StageResult::ok(
            Stage::Platform,
            std::time::Duration::ZERO,
            format!("single-platform image for {have}"),
            detail,
        )
    } else {
        StageResult::fail(
            Stage::Platform,
            Code::PlatformMissing,
            std::time::Duration::ZERO,
            format!("single-platform image built for {have}; this node is {want}"),
            detail,
        )
    }
}

/// Used by blob.rs: the Accept containerd's fetcher sends for a descriptor (`setMediaType`).
#[must_use]
pub fn accept_for(media_type: &str) -> String {
    if media_type.is_empty() {
        "*/*".to_owned()
    } else {
        format!("{media_type}, */*")
    }
}

#[cfg(test)]
mod tests {
    use super::super::http::testutil::{Seen, context, endpoint, reply, serve};
    use super::*;
    use crate::probe::{DialSpec, Status};
    use crate::target::Target;
    use std::time::Duration;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    fn desc(plat: &str) -> Descriptor {
        Descriptor {
            media_type: String::new(),
            digest: format!("sha256:{plat}"),
            size: None,
            platform: Some(p(plat)),
        }
    }

    #[test]
    fn accept_list_is_containerds() {
        let parts: Vec<&str> = ACCEPT_MANIFESTS.split(", ").collect();
        assert_eq!(
            parts,
            [
                MEDIA_DOCKER_MANIFEST,
                MEDIA_DOCKER_LIST,
                MEDIA_OCI_MANIFEST,
                MEDIA_OCI_INDEX,
                "*/*"
            ]
        );
        assert_eq!(
            accept_for(MEDIA_OCI_MANIFEST),
            "application/vnd.oci.image.manifest.v1+json, */*"
        );
    }

    #[test]
    fn error_bodies() {
        let e = parse_errors(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#).unwrap();
        assert_eq!(
            e,
            [RegistryError {
                code: "MANIFEST_UNKNOWN".to_owned(),
                message: "manifest unknown".to_owned()
            }]
        );
        assert!(parse_errors(b"<html>502 Bad Gateway</html>").is_none());
        assert!(parse_errors(br#"{"errors":[]}"#).is_none());
        assert!(parse_errors(br#"{"errors":"nope"}"#).is_none());
        assert!(parse_errors(&[0xff, 0xfe, 0x00]).is_none());
        let long = format!(
            r#"{{"errors":[{{"code":"denied","message":"{}"}}]}}"#,
            "x".repeat(5000)
        );
        let e = parse_errors(long.as_bytes()).unwrap();
        assert_eq!(e[0].code, "DENIED");
        assert!(e[0].message.len() < 300);
    }

    type Case<'a> = (
        u16,
        Vec<RegistryError>,
        &'a [Challenge],
        bool,
        Code,
        &'a str,
    );

    #[test]
    fn classify_table() {
        let err = |c: &str| {
            vec![RegistryError {
                code: c.to_owned(),
                message: "m".to_owned(),
            }]
        };
        let scope = challenge::parse_all([r#"Bearer realm="r",error="insufficient_scope""#]);
        let cases: Vec<Case> = vec![
            (
                404,
                err("NAME_UNKNOWN"),
                &[],
                false,
                Code::ImageNotFound,
                "repository team/app not found",
            ),
            (
                404,
                err("MANIFEST_UNKNOWN"),
                &[],
                false,
                Code::ImageNotFound,
                "tag 1.0 not found in repository",
            ),
            (404, vec![], &[], true, Code::ImageNotFound, "did not say"),
            (
                401,
                err("UNAUTHORIZED"),
                &scope,
                false,
                Code::AuthRequired,
                "missing or private",
            ),
            (
                401,
                err("UNAUTHORIZED"),
                &scope,
                true,
                Code::AccessDenied,
                "not allowed",
            ),
            (
                401,
                vec![],
                &[],
                true,
                Code::AuthRejected,
                "refused the credentials",
            ),
            (
                403,
                err("DENIED"),
                &[],
                true,
                Code::AccessDenied,
                "not allowed",
            ),
            (429, vec![], &[], false, Code::RateLimited, "rate limited"),
            (
                200,
                err("TOOMANYREQUESTS"),
                &[],
                false,
                Code::RateLimited,
                "rate limited",
            ),
            (502, vec![], &[], false, Code::RegistryError, "502"),
            (
                418,
                vec![],
                &[],
                false,
                Code::RegistryError,
                "unexpected status 418",
            ),
        ];
        for (status, errors, ch, creds, code, needle) in cases {
            let (c, s) = classify(status, &errors, ch, creds, "team/app", "1.0");
            assert_eq!(c, code, "{status} {errors:?}: {s}");
            assert!(s.contains(needle), "{s} should contain {needle}");
        }
    }

    #[test]
    fn normalize_like_containerd() {
        assert_eq!(normalize(&p("linux/x86_64")), p("linux/amd64"));
        assert_eq!(normalize(&p("linux/aarch64/v8")), p("linux/arm64"));
        assert_eq!(normalize(&p("linux/arm")), p("linux/arm/v7"));
        assert_eq!(normalize(&p("linux/armhf")), p("linux/arm/v7"));
        assert_eq!(normalize(&p("linux/amd64/v1")), p("linux/amd64"));
        assert_eq!(normalize(&p("Linux/i386")), p("linux/386"));
    }

    #[test]
    fn vectors_like_compare_go() {
        let names = |v: Vec<Platform>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            names(platform_vector(&p("linux/amd64"))),
            ["linux/amd64", "linux/386"]
        );
        assert_eq!(
            names(platform_vector(&p("linux/amd64/v3"))),
            [
                "linux/amd64/v3",
                "linux/amd64/v2",
                "linux/amd64/v1",
                "linux/386"
            ]
        );
        assert_eq!(
            names(platform_vector(&normalize(&p("linux/arm64/v8")))),
            [
                "linux/arm64",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
        assert_eq!(
            names(platform_vector(&p("linux/arm/v7"))),
            ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
        );
        assert_eq!(
            names(platform_vector(&p("linux/arm64/v9.1"))),
            [
                "linux/arm64/v9.1",
                "linux/arm64/v9",
                "linux/arm64/v8.6",
                "linux/arm64/v8.5",
                "linux/arm64/v8.4",
                "linux/arm64/v8.3",
                "linux/arm64/v8.2",
                "linux/arm64/v8.1",
                "linux/arm64/v8",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
    }

    #[test]
    fn select_prefers_exact_then_compatible() {
        let idx = [
            desc("linux/arm/v7"),
            desc("linux/arm64/v8"),
            desc("linux/amd64"),
            desc("linux/386"),
        ];
        assert_eq!(
            select(&p("linux/amd64"), &idx).unwrap().digest,
            "sha256:linux/amd64"
        );
        assert_eq!(
            select(&p("linux/arm64/v8"), &idx).unwrap().digest,
            "sha256:linux/arm64/v8"
        );
        assert_eq!(
            select(&p("linux/arm64"), &idx).unwrap().digest,
            "sha256:linux/arm64/v8"
        );
        let only386 = [desc("linux/386")];
        assert!(
            select(&p("linux/amd64"), &only386).is_some(),
            "amd64 runs 386"
        );
        let arm7 = [desc("linux/arm/v7")];
        assert!(
            select(&p("linux/arm64"), &arm7).is_some(),
            "arm64 runs arm/v7"
        );
        let v2 = [desc("linux/amd64/v2")];
        assert!(
            select(&p("linux/amd64"), &v2).is_none(),
            "plain amd64 does not take amd64/v2"
        );
        assert!(
            select(
                &p("linux/amd64"),
                &[desc("windows/amd64"), desc("linux/arm64")]
            )
            .is_none()
        );
    }

    // ---- end to end against a loopback registry ----

    fn registry(
        handler: impl Fn(&Seen) -> super::super::http::testutil::Answer + Send + Sync + 'static,
    ) -> impl std::future::Future<Output = super::super::http::testutil::Server> {
        serve(handler)
    }

    async fn probe_image(port: u16, tag: &str) -> Vec<StageResult> {
        let (ctx, _dir) = context(Duration::from_secs(2));
        let ep = endpoint(port);
        let image = Reference {
            domain: format!("127.0.0.1:{port}"),
            path: "team/app".to_owned(),
            tag: Some(tag.to_owned()),
            digest: None,
        };
        let target = Target {
            registry: image.domain.clone(),
            image: Some(image),
            endpoints: vec![ep.clone()],
            remarks: vec![],
        };
        let dialed = super::super::dial(&ctx, DialSpec::for_endpoint(&ep)).await;
        super::super::http::run(&ctx, &target, &ep, dialed.io.unwrap()).await
    }

    fn stage(out: &[StageResult], s: Stage) -> &StageResult {
        out.iter()
            .find(|r| r.stage == s)
            .unwrap_or_else(|| panic!("no {s:?} in {out:?}"))
    }

    fn v2_ok(s: &Seen) -> Option<super::super::http::testutil::Answer> {
        (s.path() == "/v2/").then(|| {
            reply(
                200,
                &[("Docker-Distribution-API-Version", "registry/2.0")],
                "{}",
            )
        })
    }

    #[tokio::test]
    async fn name_unknown_vs_manifest_unknown() {
        let server = registry(|s| {
            v2_ok(s).unwrap_or_else(|| {
                let body = if s.path().ends_with("/missing-tag") {
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                } else {
                    r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#
                };
                reply(404, &[("Content-Type", "application/json")], body)
            })
        })
        .await;
        let out = probe_image(server.port, "missing-tag").await;
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.code, Code::ImageNotFound);
        assert!(
            m.summary
                .contains("tag missing-tag not found in repository team/app"),
            "{}",
            m.summary
        );
        assert_eq!(stage(&out, Stage::Blob).status, Status::Skipped);
        let methods: Vec<String> = server.seen().iter().map(|s| s.method.clone()).collect();
        assert_eq!(
            methods,
            ["GET", "HEAD", "GET"],
            "ping, HEAD, one GET for the error body"
        );
        assert_eq!(server.seen()[1].header("accept"), Some(ACCEPT_MANIFESTS));

        let out = probe_image(server.port, "1.0").await;
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.code, Code::ImageNotFound);
        assert!(
            m.summary.contains("repository team/app not found"),
            "{}",
            m.summary
        );
    }

    #[tokio::test]
    async fn rate_limited_manifest_is_reported_at_once() {
        let server = registry(|s| {
            v2_ok(s).unwrap_or_else(|| {
                reply(
                    429,
                    &[
                        ("ratelimit-limit", "100;w=21600"),
                        ("ratelimit-remaining", "0;w=21600"),
                        ("docker-ratelimit-source", "10.0.0.1"),
                    ],
                    "",
                )
            })
        })
        .await;
        let out = probe_image(server.port, "1.0").await;
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.code, Code::RateLimited, "{}", m.summary);
        assert_eq!(
            m.detail["response"]["rate_limit"]["ratelimit-remaining"],
            "0;w=21600"
        );
        assert_eq!(
            server.seen().len(),
            2,
            "no retry and no error GET after 429"
        );
    }

    #[tokio::test]
    async fn index_without_node_platform_is_platform_missing() {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": [
                {"mediaType": MEDIA_OCI_MANIFEST, "digest": "sha256:aaaa", "size": 10, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": MEDIA_OCI_MANIFEST, "digest": "sha256:bbbb", "size": 10, "platform": {"os": "linux", "architecture": "s390x"}},
                {"mediaType": MEDIA_OCI_MANIFEST, "digest": "sha256:cccc", "size": 10, "platform": {"os": "unknown", "architecture": "unknown"}}
            ]
        })
        .to_string();
        let digest = sha256_digest(index.as_bytes());
        let want_path = format!("/v2/team/app/manifests/{digest}");
        let server = registry(move |s| {
            v2_ok(s).unwrap_or_else(|| {
                reply(
                    200,
                    &[
                        ("Content-Type", MEDIA_OCI_INDEX),
                        ("Docker-Content-Digest", digest.as_str()),
                    ],
                    index.clone(),
                )
            })
        })
        .await;
        let out = probe_image(server.port, "1.0").await;
        assert_eq!(
            stage(&out, Stage::Manifest).status,
            Status::Ok,
            "{}",
            stage(&out, Stage::Manifest).summary
        );
        let p = stage(&out, Stage::Platform);
        assert_eq!(p.code, Code::PlatformMissing);
        assert_eq!(
            p.summary,
            "no linux/amd64 image in the index; it has: linux/arm64/v8, linux/s390x"
        );
        assert_eq!(stage(&out, Stage::Blob).status, Status::Skipped);
        let seen = server.seen();
        assert_eq!(seen[1].method, "HEAD");
        assert_eq!(seen[2].method, "GET");
        assert_eq!(seen[2].path(), want_path, "the index is fetched by digest");
        assert_eq!(
            seen.len(),
            3,
            "no manifest GET for a platform that is not there"
        );
    }

    /// The whole chain, bearer-protected repository on a registry whose
    /// `/v2/` is open: the manifest's 401 triggers the token fetch.
    #[tokio::test]
    async fn index_to_platform_to_blob_happy_path() {
        let config = br#"{"os":"linux","architecture":"amd64"}"#.to_vec();
        let cfg_digest = sha256_digest(&config);
        let manifest = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": config.len()}, "layers": []})
        .to_string();
        let m_digest = sha256_digest(manifest.as_bytes());
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": [
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": "sha256:arm", "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": MEDIA_OCI_MANIFEST, "digest": m_digest, "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}}
        ]})
        .to_string();
        let i_digest = sha256_digest(index.as_bytes());
        let server = registry(move |s| {
            let p = s.path();
            if p == "/v2/" {
                return reply(200, &[], "{}");
            }
            if p == "/token" {
                return reply(200, &[], r#"{"token":"t0k"}"#);
            }
            if s.header("authorization") != Some("Bearer t0k") {
                let c = format!(r#"Bearer realm="http://{}/token",service="reg",scope="repository:team/app:pull""#, s.header("host").unwrap_or_default());
                return reply(401, &[("WWW-Authenticate", c.as_str())], "");
            }
            if p.ends_with("/manifests/1.0") || p.ends_with(&format!("/manifests/{i_digest}")) {
                reply(200, &[("Content-Type", MEDIA_OCI_INDEX), ("Docker-Content-Digest", i_digest.as_str())], index.clone())
            } else if p.ends_with(&format!("/manifests/{m_digest}")) {
                reply(200, &[("Content-Type", MEDIA_OCI_MANIFEST)], manifest.clone())
            } else if p.ends_with(&format!("/blobs/{cfg_digest}")) {
                reply(200, &[], config.clone())
            } else {
                reply(404, &[], "")
            }
        })
        .await;
        let out = probe_image(server.port, "1.0").await;
        assert!(out.iter().all(|s| s.status == Status::Ok), "{out:#?}");
        let order: Vec<Stage> = out.iter().map(|s| s.stage).collect();
        assert_eq!(
            order,
            [
                Stage::Ping,
                Stage::Auth,
                Stage::Manifest,
                Stage::Platform,
                Stage::Blob
            ]
        );
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.detail["auth"]["grant"], "anonymous GET");
        assert!(stage(&out, Stage::Platform).summary.contains("linux/amd64"));
        let gets: Vec<String> = server
            .seen()
            .iter()
            .filter(|s| s.method == "GET" && s.path().contains("/manifests/"))
            .map(|s| s.path().to_owned())
            .collect();
        assert_eq!(
            gets.len(),
            2,
            "index and platform manifest, both by digest: {gets:?}"
        );
        assert!(gets.iter().all(|g| g.contains("sha256:")), "{gets:?}");
        assert!(!format!("{out:?}").contains("t0k"));
    }

    #[tokio::test]
    async fn head_405_falls_back_to_get() {
        let manifest = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:00", "size": 2}, "layers": []}).to_string();
        let server = registry(move |s| {
            v2_ok(s).unwrap_or_else(|| {
                if s.method == "HEAD" {
                    reply(405, &[], "")
                } else if s.path().contains("/blobs/") {
                    reply(
                        404,
                        &[],
                        r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#,
                    )
                } else {
                    reply(
                        200,
                        &[("Content-Type", MEDIA_OCI_MANIFEST)],
                        manifest.clone(),
                    )
                }
            })
        })
        .await;
        let out = probe_image(server.port, "1.0").await;
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.status, Status::Ok, "{}", m.summary);
        assert_eq!(m.detail["head_status"], 405);
        let b = stage(&out, Stage::Blob);
        assert_eq!(b.code, Code::RegistryError);
        assert!(b.summary.contains("missing blob"), "{}", b.summary);
        assert_eq!(stage(&out, Stage::Platform).status, Status::Skipped);
    }

    #[tokio::test]
    async fn anonymous_401_insufficient_scope_is_auth_required_with_both_readings() {
        let server = registry(|s| {
            if s.path() == "/v2/" {
                return reply(200, &[], "{}");
            }
            reply(
                401,
                &[(
                    "WWW-Authenticate",
                    r#"Basic realm="r",error="insufficient_scope""#,
                )],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
        })
        .await;
        let out = probe_image(server.port, "1.0").await;
        let m = stage(&out, Stage::Manifest);
        assert_eq!(m.code, Code::AuthRequired, "{}", m.summary);
        assert!(m.summary.contains("missing or private"), "{}", m.summary);
    }
}
