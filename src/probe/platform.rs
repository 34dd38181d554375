//! The platform stage: pick the node's platform from an image index the way
//! `containerd/platforms` `Only` does (`compare.go`, `database.go`), or check
//! a single manifest's config the way `images.Manifest` does.
//!
//! Matching is pure (`normalize`, `platform_vector`, `select`); the stage
//! fetches only the chosen platform's manifest, by digest.

use super::client::{HostClient, MANIFEST_LIMIT, registry_target};
use super::context::Context;
use super::manifest::{Resolved, config_of, manifest_req, short};
use super::registry_error::{classify, parse_errors};
use super::result::{ChosenPlatform, Detail, PlatformDetail, SkipReason, Stage, StageResult};
use super::session::Session;
use crate::code::Code;
use crate::oci::{self, Descriptor, Platform};
use crate::reference::Reference;
use crate::target::Endpoint;
use bytes::Bytes;
use http::Method;
use serde_json::Value;
use tokio::time::Instant;

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
    let mut detail = PlatformDetail {
        wanted: want.clone(),
        present: present.clone(),
        index: Some(resolved.digest.clone()),
        chosen: None,
        config: None,
    };
    let fail = |code, summary: String, detail: PlatformDetail| {
        (
            StageResult::fail(
                Stage::Platform,
                code,
                started.elapsed(),
                summary,
                Detail::Platform(detail),
            ),
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
    detail.chosen = Some(ChosenPlatform {
        platform: chosen_platform.clone(),
        digest: chosen.digest.clone(),
        media_type: chosen.media_type.clone(),
    });
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
    if !oci::digest_matches(&chosen.digest, body) {
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
            detail.config = Some(cfg.digest.clone());
            let summary = format!(
                "{want} -> {chosen_platform} {} ({} platforms in index)",
                chosen.digest,
                present.len()
            );
            (
                StageResult::ok(
                    Stage::Platform,
                    started.elapsed(),
                    summary,
                    Detail::Platform(detail),
                ),
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
            SkipReason::NotNeeded,
            "single-platform image; config blob too large to read, platform not checked",
        );
    };
    let parsed = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| Platform::from_json(&v));
    let Some(have) = parsed else {
        return StageResult::skipped(
            Stage::Platform,
            SkipReason::NotNeeded,
            "single-platform image; its config declares no os/architecture",
        );
    };
    let detail = Detail::Platform(PlatformDetail {
        wanted: want.clone(),
        present: vec![have.to_string()],
        index: None,
        chosen: None,
        config: None,
    });
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

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::super::testutil::{probe_image, registry, reply, stage, v2_ok};
    use super::*;
    use crate::oci::{MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, sha256_digest};
    use serde_json::json;

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
        assert!(stage(&out, Stage::Blob).status.is_skipped());
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
        let Detail::Manifest(md) = &m.detail else {
            panic!("{m:?}")
        };
        assert_eq!(
            md.auth
                .as_ref()
                .and_then(|a| a.bearer.as_ref())
                .and_then(|b| b.grant),
            Some(crate::probe::result::Grant::AnonymousGet)
        );
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
}
