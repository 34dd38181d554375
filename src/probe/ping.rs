//! The ping stage: `GET /v2/` on the dialled connection, as containerd's
//! resolver and every registry client start. It tells a registry from a web
//! page, a redirect or an error answer, and records the `WWW-Authenticate`
//! challenges the auth stage answers.
//!
//! It reads the answer only: no credential is sent here (the endpoint's
//! configured headers are, as containerd sends them on every request).

use super::challenge::{self, Challenge};
use super::client::{Body, ERROR_BODY_LIMIT, Failure, HostClient, Reply, Req, strip_query};
use super::registry_error::{self, parse_errors};
use super::result::{Detail, PingAnswer, PingDetail, Stage, StageResult};
use super::session::Session;
use crate::code::Code;
use crate::target::{Endpoint, Scheme};
use http::header::SERVER;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

/// What the ping stage learnt.
pub struct Ping {
    pub result: StageResult,
    pub challenges: Vec<Challenge>,
}

fn looks_like_html(reply: &Reply) -> bool {
    reply.content_type().is_some_and(|c| c.contains("html"))
        || reply.bytes().is_some_and(|b| {
            let t = String::from_utf8_lossy(&b[..b.len().min(512)])
                .trim_start()
                .to_ascii_lowercase();
            t.starts_with("<!doctype") || t.starts_with("<html")
        })
}

/// The ping stage: `GET <path>/`. A registry answers 200, or 401 with a
/// challenge; distribution always sends `Docker-Distribution-API-Version`,
/// but some registries (and mirrors) omit it on a 200, so its absence alone
/// does not condemn; an HTML page, a 404 or a redirect does.
pub async fn ping(client: &mut HostClient<'_>, ep: &Endpoint) -> Ping {
    let started = Instant::now();
    let target = format!("{}/", ep.path.trim_end_matches('/'));
    let req = Req::new(Method::GET, target.clone(), ERROR_BODY_LIMIT).endpoint_headers(ep);
    let reply = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            let code = match &e {
                Failure::Redial(stages) => stages
                    .iter()
                    .find(|s| s.is_fail())
                    .map_or(Code::RegistryError, |s| s.code),
                _ => Code::RegistryError,
            };
            let result = StageResult::fail(
                Stage::Ping,
                code,
                started.elapsed(),
                format!("GET {target}: {e}"),
                Detail::Ping(PingDetail::Failed {
                    url: ep.url(),
                    error: e.to_string(),
                }),
            );
            return Ping {
                result,
                challenges: Vec::new(),
            };
        }
    };
    if reply.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        && client.scheme == Scheme::Http
        && client.via_proxy()
    {
        // A forwarded plain-HTTP request: the proxy itself refused it.
        let result = StageResult::fail(
            Stage::Ping,
            Code::ProxyRejected,
            reply.elapsed,
            format!(
                "the proxy refused to forward GET {target}: {}",
                reply.status_line()
            ),
            Detail::Ping(PingDetail::ProxyRefused),
        );
        return Ping {
            result,
            challenges: Vec::new(),
        };
    }
    let challenges = if reply.status == StatusCode::UNAUTHORIZED {
        reply.challenges()
    } else {
        Vec::new()
    };
    let api_version = reply
        .header("docker-distribution-api-version")
        .map(str::to_owned);
    let server = reply.header(SERVER.as_str()).map(str::to_owned);
    let server_note = server
        .as_deref()
        .map(|s| format!(" (server: {s})"))
        .unwrap_or_default();
    let registry_errors = if reply.status.is_success() {
        Vec::new()
    } else {
        reply
            .bytes()
            .and_then(|b| parse_errors(b))
            .unwrap_or_default()
    };
    let detail = Detail::Ping(PingDetail::Answered(PingAnswer {
        url: ep.url(),
        status: reply.status.as_u16(),
        api_version: api_version.clone(),
        server: server.clone(),
        challenges: challenges.iter().map(Challenge::facts).collect(),
        rate_limit: reply.rate_limit(),
        reconnects: client.reconnects,
        registry_errors: registry_error::facts(&registry_errors),
    }));
    let status = reply.status.as_u16();
    let elapsed = started.elapsed();
    let line = reply.status_line();
    let result = match status {
        200..=299 => {
            let body_ok = match &reply.body {
                Body::Complete(b) => {
                    b.iter().all(u8::is_ascii_whitespace)
                        || serde_json::from_slice::<Value>(b).is_ok()
                }
                _ => false,
            };
            if api_version.is_some() || (body_ok && !looks_like_html(&reply)) {
                let note = if api_version.is_some() {
                    ""
                } else {
                    " (no Docker-Distribution-API-Version header)"
                };
                StageResult::ok(
                    Stage::Ping,
                    elapsed,
                    format!("{line}: anonymous access to {target}{note}"),
                    detail,
                )
            } else {
                StageResult::fail(
                    Stage::Ping,
                    Code::NotARegistry,
                    elapsed,
                    format!("{line} with a web page, not a registry API answer{server_note}"),
                    detail,
                )
            }
        }
        401 => match challenge::choose(&challenges, true) {
            Some(c) => {
                let realm = c
                    .param("realm")
                    .map(|r| format!(" realm={r}"))
                    .unwrap_or_default();
                let service = c
                    .param("service")
                    .map(|s| format!(" service={s}"))
                    .unwrap_or_default();
                let summary = format!(
                    "{line}: authentication required ({}{realm}{service})",
                    c.scheme.as_str()
                );
                StageResult::ok(Stage::Ping, elapsed, summary, detail)
            }
            None => StageResult::fail(
                Stage::Ping,
                Code::RegistryError,
                elapsed,
                format!(
                    "{line} without a Basic or Bearer WWW-Authenticate challenge: containerd fails with \"failed to find supported auth scheme\"{server_note}"
                ),
                detail,
            ),
        },
        429 => StageResult::fail(
            Stage::Ping,
            Code::RateLimited,
            elapsed,
            format!("{line}: rate limited at {target}"),
            detail,
        ),
        403 => match registry_errors.first() {
            // ACR's firewall answers /v2/ with 403 DENIED and names the client address.
            Some(_) if registry_error::ip_not_allowed(&registry_errors).is_some() => {
                let ip = registry_error::ip_not_allowed(&registry_errors).unwrap_or_default();
                StageResult::fail(
                    Stage::Ping,
                    Code::IpNotAllowed,
                    elapsed,
                    format!(
                        "{line}: the registry refuses this node's address {ip} (its firewall / network rules)"
                    ),
                    detail,
                )
            }
            Some(e) => StageResult::fail(
                Stage::Ping,
                Code::AccessDenied,
                elapsed,
                format!(
                    "{line}: registry refused this node: {}: {}",
                    e.code, e.message
                ),
                detail,
            ),
            None => StageResult::fail(
                Stage::Ping,
                Code::NotARegistry,
                elapsed,
                format!("{line} at {target}, not a registry answer{server_note}"),
                detail,
            ),
        },
        500..=599 => StageResult::fail(
            Stage::Ping,
            Code::RegistryError,
            elapsed,
            format!("{line} at {target}{server_note}"),
            detail,
        ),
        300..=399 => {
            let to = reply
                .header("location")
                .map(strip_query)
                .unwrap_or_default();
            StageResult::fail(
                Stage::Ping,
                Code::NotARegistry,
                elapsed,
                format!(
                    "{line}: {target} redirects to {to}; a registry answers it directly{server_note}"
                ),
                detail,
            )
        }
        _ => StageResult::fail(
            Stage::Ping,
            Code::NotARegistry,
            elapsed,
            format!("{line} at {target}: does not answer like a registry{server_note}"),
            detail,
        ),
    };
    Ping { result, challenges }
}

/// An agent's warm round for a registry-only target: `GET /v2/` with the
/// remembered authorization. The ping stage when it answers 200; `None`
/// otherwise (the caller falls back to a full pass).
pub async fn authorized_ping(
    client: &mut HostClient<'_>,
    ep: &Endpoint,
    session: &Session,
) -> Option<StageResult> {
    let started = Instant::now();
    let target = format!("{}/", ep.path.trim_end_matches('/'));
    let req = Req::new(Method::GET, target.clone(), ERROR_BODY_LIMIT)
        .endpoint_headers(ep)
        .authorization(session.authorization.as_ref());
    let reply = client.send(&req).await.ok()?;
    if !reply.status.is_success() {
        return None;
    }
    let line = reply.status_line();
    let detail = Detail::Ping(PingDetail::Answered(PingAnswer {
        url: ep.url(),
        status: reply.status.as_u16(),
        api_version: reply
            .header("docker-distribution-api-version")
            .map(str::to_owned),
        server: reply.header(SERVER.as_str()).map(str::to_owned),
        challenges: Vec::new(),
        rate_limit: reply.rate_limit(),
        reconnects: client.reconnects,
        registry_errors: Vec::new(),
    }));
    Some(StageResult::ok(
        Stage::Ping,
        started.elapsed(),
        format!("{line}: {target} with the remembered authorization"),
        detail,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::context::Context;
    use super::super::dial::{self, DialSpec};
    use super::super::testutil::{Answer, context, endpoint, reply, serve};
    use super::*;
    use crate::probe::result::Status;
    use std::time::Duration;

    async fn ping_against(answer: impl Fn() -> Answer + Send + Sync + 'static) -> Ping {
        let server = serve(move |_| answer()).await;
        let (ctx, ()) = context(Duration::from_secs(2));
        let ctx: &'static Context = Box::leak(Box::new(ctx));
        let ep = endpoint(server.port);
        let dialed = dial::dial(ctx, DialSpec::for_endpoint(&ep)).await;
        let mut client = HostClient::over(ctx, DialSpec::for_endpoint(&ep), dialed.io.unwrap());
        ping(&mut client, &ep).await
    }

    fn answer(p: &Ping) -> &PingAnswer {
        match &p.result.detail {
            Detail::Ping(PingDetail::Answered(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn ping_200_is_ok_and_401_bearer_records_challenge() {
        let p = ping_against(|| {
            reply(
                200,
                &[("Docker-Distribution-API-Version", "registry/2.0")],
                "{}",
            )
        })
        .await;
        assert_eq!(p.result.status, Status::Ok, "{}", p.result.summary);
        assert_eq!(answer(&p).api_version.as_deref(), Some("registry/2.0"));

        let p = ping_against(|| {
            reply(
                401,
                &[(
                    "WWW-Authenticate",
                    r#"Bearer realm="https://auth.test/token",service="reg.test""#,
                )],
                "",
            )
        })
        .await;
        assert_eq!(p.result.status, Status::Ok);
        assert_eq!(p.challenges.len(), 1);
        assert_eq!(
            answer(&p).challenges[0].realm.as_deref(),
            Some("https://auth.test/token")
        );
        assert!(
            p.result.summary.contains("service=reg.test"),
            "{}",
            p.result.summary
        );
    }

    #[tokio::test]
    async fn ping_classifies_non_registries() {
        let p = ping_against(|| reply(404, &[("Server", "nginx/1.25")], "<html>nope</html>")).await;
        assert_eq!(p.result.code, Code::NotARegistry);
        assert!(
            p.result.summary.contains("404") && p.result.summary.contains("nginx/1.25"),
            "{}",
            p.result.summary
        );

        let p = ping_against(|| {
            reply(
                200,
                &[("Content-Type", "text/html")],
                "<!DOCTYPE html><html>portal</html>",
            )
        })
        .await;
        assert_eq!(p.result.code, Code::NotARegistry);

        // Some registries omit the version header on a 200 with a JSON body.
        let p = ping_against(|| reply(200, &[("Content-Type", "application/json")], "{}")).await;
        assert_eq!(p.result.status, Status::Ok);

        let p = ping_against(|| reply(429, &[("Retry-After", "30")], "")).await;
        assert_eq!(p.result.code, Code::RateLimited);
        assert_eq!(answer(&p).rate_limit.retry_after.as_deref(), Some("30"));

        let p = ping_against(|| reply(503, &[], "")).await;
        assert_eq!(p.result.code, Code::RegistryError);

        let p = ping_against(|| reply(401, &[], "")).await;
        assert_eq!(p.result.code, Code::RegistryError, "401 without challenge");

        let p = ping_against(|| reply(302, &[("Location", "https://login.test/?session=abc")], ""))
            .await;
        assert_eq!(p.result.code, Code::NotARegistry);
        assert!(
            !p.result.summary.contains("session=abc"),
            "{}",
            p.result.summary
        );

        let body = r#"{"errors":[{"code":"DENIED","message":"client with IP '10.1.2.3' is not allowed access"}]}"#;
        let p = ping_against(move || reply(403, &[], body)).await;
        assert_eq!(p.result.code, Code::IpNotAllowed);
        assert!(
            p.result.summary.contains("10.1.2.3"),
            "{}",
            p.result.summary
        );
    }
}
