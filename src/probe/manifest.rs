//! The manifest stage: resolve the image reference the way containerd's
//! resolver does (`core/remotes/docker/resolver.go`).
//!
//! Pulls are counted: Docker Hub counts `GET /v2/<name>/manifests/<ref>` as a
//! pull (up to two GETs make one) and `HEAD` as free. So the resolve is a
//! `HEAD`; a `GET` happens only for what the next stages need (the index, or
//! the single manifest for its config digest), and after a 4xx, one `GET` to
//! read the error body HEAD cannot carry.
//!
//! What it must not do: retry a 429; read more than containerd's manifest
//! limit; show the Authorization header.

use super::auth::{self, Granted};
use super::challenge;
use super::client::{
    Body, ERROR_BODY_LIMIT, HostClient, MANIFEST_LIMIT, Reply, Req, registry_target,
};
use super::context::Context;
use super::registry_error::{self, classify, parse_errors};
use super::result::{Detail, ManifestDetail, ResponseFacts, Stage, StageResult};
use super::session::Session;
use crate::code::Code;
use crate::oci::{self, Descriptor, MEDIA_DOCKER_SCHEMA1};
use crate::reference::Reference;
use crate::target::Endpoint;
use http::header::ACCEPT;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

/// containerd's resolve `Accept` header (`NewResolver`), in its order.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

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
        oci::is_index_type(&self.media_type)
            || (self.media_type.is_empty() && self.json.get("manifests").is_some())
    }

    /// The config descriptor of a single manifest.
    pub fn config(&self) -> Result<Descriptor, String> {
        config_of(&self.json, &self.media_type)
    }
}

pub fn config_of(json: &Value, media_type: &str) -> Result<Descriptor, String> {
    json.get("config")
        .and_then(Descriptor::from_json)
        .ok_or_else(|| format!("manifest ({media_type}) has no config descriptor"))
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

/// Used by blob.rs: the Accept containerd's fetcher sends for a descriptor (`setMediaType`).
#[must_use]
pub fn accept_for(media_type: &str) -> String {
    if media_type.is_empty() {
        "*/*".to_owned()
    } else {
        format!("{media_type}, */*")
    }
}

pub fn manifest_req(
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
    detail: &mut ManifestDetail,
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
        Ok(Granted {
            session: s,
            detail: d,
            summary,
        }) => {
            detail.auth = Some(d);
            detail.auth_summary = Some(summary);
            *session = s;
        }
        Err(r) => {
            detail.auth = Some(*r.detail);
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

fn response_facts(reply: &Reply, method: &Method) -> ResponseFacts {
    ResponseFacts {
        method: if *method == Method::HEAD {
            "HEAD"
        } else {
            "GET"
        },
        status: reply.status.as_u16(),
        digest: reply.header("docker-content-digest").map(str::to_owned),
        media_type: reply.content_type(),
        size: reply
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok()),
        rate_limit: reply.rate_limit(),
    }
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
    let mut detail = ManifestDetail {
        url: format!("{}://{}{}", ep.scheme.as_str(), ep.authority(), target),
        accept: ACCEPT_MANIFESTS,
        ..ManifestDetail::default()
    };
    let fail = |code, summary: String, detail: ManifestDetail| {
        (
            StageResult::fail(
                Stage::Manifest,
                code,
                started.elapsed(),
                summary,
                Detail::Manifest(Box::new(detail)),
            ),
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
        detail.head_status = Some(405);
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
    detail.response = Some(response_facts(&reply, &method));
    detail.credentials = Some(session.credentials_used);
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
                detail.error_get_status = Some(r.status.as_u16());
                if !r.status.is_success() {
                    errors = r.bytes().and_then(|b| parse_errors(b)).unwrap_or_default();
                }
            }
        }
        detail.errors = Some(registry_error::facts(&errors));
        let (code, mut summary) = classify(
            status,
            &errors,
            &challenges,
            session.credentials_used,
            repo,
            &object,
        );
        if session.withheld {
            summary = summary.replace(
                "with no credentials configured the registry cannot tell us which",
                "the configured credentials were withheld from the plain-HTTP token realm, so the registry saw an anonymous pull",
            );
        }
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
        .unwrap_or_else(|| oci::sha256_digest(&body));
    if !oci::digest_matches(&digest, &body) {
        detail.computed_digest = Some(oci::sha256_digest(&body));
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
    detail.digest = Some(digest.clone());
    detail.media_type = Some(mtype.clone());
    detail.size = Some(body.len() as u64);
    let kind = if oci::is_index_type(&mtype) {
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
        StageResult::ok(
            Stage::Manifest,
            started.elapsed(),
            summary,
            Detail::Manifest(Box::new(detail)),
        ),
        Some(resolved),
    )
}

/// The path part of a target, for summaries.
#[must_use]
pub fn short(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

/// An agent's warm round: `HEAD` the reference with the remembered
/// authorization. The manifest stage and the digest the registry sent, when
/// it answered 200 with one; `None` otherwise (the caller falls back to a
/// full pass, which classifies whatever it was).
pub async fn warm_head(
    ep: &Endpoint,
    image: &Reference,
    client: &mut HostClient<'_>,
    session: &Session,
) -> Option<(StageResult, String)> {
    let started = Instant::now();
    let repo = image.path.as_str();
    let object = image.object().to_owned();
    let target = registry_target(ep, &format!("{repo}/manifests/{object}"));
    let req = manifest_req(
        ep,
        Method::HEAD,
        &target,
        ACCEPT_MANIFESTS,
        session,
        MANIFEST_LIMIT,
    );
    let reply = client.send(&req).await.ok()?;
    if !reply.status.is_success() {
        return None;
    }
    let digest = reply.header("docker-content-digest")?.to_owned();
    let mtype = media_type(&reply);
    let detail = ManifestDetail {
        url: format!("{}://{}{}", ep.scheme.as_str(), ep.authority(), target),
        accept: ACCEPT_MANIFESTS,
        response: Some(response_facts(&reply, &Method::HEAD)),
        credentials: Some(session.credentials_used),
        digest: Some(digest.clone()),
        media_type: Some(mtype.clone()),
        size: reply
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok()),
        ..ManifestDetail::default()
    };
    let summary = format!("{repo}:{object} -> {digest} (HEAD, digest unchanged)");
    Some((
        StageResult::ok(
            Stage::Manifest,
            started.elapsed(),
            summary,
            Detail::Manifest(Box::new(detail)),
        ),
        digest,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::super::testutil::{probe_image, registry, reply, stage, v2_ok};
    use super::*;
    use crate::oci::{
        MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
    };
    use serde_json::json;

    fn manifest_detail(s: &StageResult) -> &ManifestDetail {
        match &s.detail {
            Detail::Manifest(d) => d,
            other => panic!("{other:?}"),
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
        assert!(stage(&out, Stage::Blob).status.is_skipped());
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
        let rate = &manifest_detail(m).response.as_ref().unwrap().rate_limit;
        assert_eq!(rate.remaining.as_deref(), Some("0;w=21600"));
        assert_eq!(rate.remaining_count(), Some(0.0));
        assert_eq!(
            server.seen().len(),
            2,
            "no retry and no error GET after 429"
        );
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
        assert_eq!(manifest_detail(m).head_status, Some(405));
        let b = stage(&out, Stage::Blob);
        assert_eq!(b.code, Code::RegistryError);
        assert!(b.summary.contains("missing blob"), "{}", b.summary);
        assert!(stage(&out, Stage::Platform).status.is_skipped());
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
