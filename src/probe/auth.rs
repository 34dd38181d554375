//! The auth stage: answer the registry's challenge the way containerd's
//! authorizer does (`core/remotes/docker/authorizer.go`, `auth/fetch.go`).
//!
//! Bearer: with a secret, `POST` the `OAuth2` form (`grant_type=password`, or
//! `refresh_token` for an identity token, `client_id=containerd-client`,
//! `service`, `scope`; no `access_type`, which containerd only sends when it
//! wants a refresh token back), and fall back to `GET` with Basic auth on 400,
//! 401, 404, or 405 with a username. Without a secret, an anonymous `GET
//! realm?service=&scope=`. Basic: the credentials on every request.
//!
//! The realm's host is dialled with `super::dial` using the endpoint's TLS
//! settings and proxy: containerd's authorizer uses the host's own
//! `http.Client` (CRI `registryHosts`: `docker.WithAuthClient(client)`), so
//! the endpoint's CA and `skip_verify` apply to the realm too.
//!
//! What it must not do: show a token, password, Authorization header or token
//! response body in any result; send credentials over plain HTTP to a host
//! other than a plain-HTTP endpoint itself (stricter than containerd, which
//! would; we say so instead).

use super::challenge::{AuthScheme, Challenge, choose};
use super::client::{
    self, Body, ERROR_BODY_LIMIT, Failure, HostClient, Reply, Req, TOKEN_BODY_LIMIT,
};
use super::context::Context;
use super::dial::url_target;
use super::registry_error::error_message;
use super::result::{AuthDetail, BearerFacts, Detail, Grant, Stage, StageResult, first_failure};
use super::session::{DEFAULT_TOKEN_LIFETIME, Session};
use crate::code::Code;
use crate::secret::Secret;
use crate::target::{Credential, Endpoint, Scheme, Target};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

/// The `client_id` containerd sends (`authorizer.go`: "TODO: Allow setting `client_id`").
pub const CLIENT_ID: &str = "containerd-client";

/// A failed authorization: the contract code, a one-line summary, and detail.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub code: Code,
    pub summary: String,
    pub detail: Box<AuthDetail>,
}

/// A granted authorization: the session for later requests, what was done,
/// and a one-line summary.
#[derive(Clone, Debug)]
pub struct Granted {
    pub session: Session,
    pub detail: AuthDetail,
    pub summary: String,
}

/// `repository:<path>:pull` (containerd `RepositoryScope`).
#[must_use]
pub fn repository_scope(path: &str) -> String {
    format!("repository:{path}:pull")
}

/// containerd's `GetTokenScopes`: the challenge's scopes plus ours, sorted, deduplicated.
#[must_use]
pub fn merge_scopes(challenge: Option<&str>, ours: &[String]) -> Vec<String> {
    let mut v: Vec<String> = challenge
        .map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    v.extend(ours.iter().cloned());
    v.sort();
    v.dedup();
    v
}

fn basic_value(user: &str, secret: &Secret) -> Secret {
    let raw = format!("{user}:{}", secret.expose());
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// The auth stage, given the ping's challenges.
pub async fn run(
    ctx: &Context,
    target: &Target,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    challenges: &[Challenge],
) -> (StageResult, Session) {
    let started = Instant::now();
    let cred = ep.credential.as_ref();
    let source = cred.map(|c| c.source.clone());
    let fail = |code, summary: String, detail: AuthDetail| {
        (
            StageResult::fail(
                Stage::Auth,
                code,
                started.elapsed(),
                summary,
                Detail::Auth(Box::new(detail)),
            ),
            Session::default(),
        )
    };
    if challenges.is_empty() {
        let note = if cred.is_some() {
            "; credentials are sent only if the registry asks"
        } else {
            ""
        };
        let summary = format!(
            "no authentication asked at {}/{note}",
            ep.path.trim_end_matches('/')
        );
        let detail = AuthDetail {
            credential_source: source,
            ..AuthDetail::default()
        };
        return (
            StageResult::ok(
                Stage::Auth,
                started.elapsed(),
                summary,
                Detail::Auth(Box::new(detail)),
            ),
            Session::default(),
        );
    }
    let Some(chosen) = choose(challenges, cred.is_some()) else {
        // Only Basic (or Digest) offered and nothing to answer with.
        let detail = AuthDetail {
            challenges: challenges.iter().map(Challenge::facts).collect(),
            ..AuthDetail::default()
        };
        return fail(
            Code::AuthRequired,
            "registry requires Basic authentication and no credentials are configured for this host".to_owned(),
            detail,
        );
    };
    let scopes: Vec<String> = target
        .image
        .iter()
        .map(|r| repository_scope(&r.path))
        .collect();
    let Granted {
        session,
        mut detail,
        summary,
    } = match authorize(ctx, ep, client, chosen, &scopes).await {
        Ok(granted) => granted,
        Err(r) => return fail(r.code, r.summary, *r.detail),
    };
    // Basic credentials can only be checked by using them; a bearer token is
    // checked here only in registry-only mode (with an image, the manifest
    // request is the check, with the right scope).
    if chosen.scheme == AuthScheme::Basic || target.image.is_none() {
        let req = Req::new(
            Method::GET,
            format!("{}/", ep.path.trim_end_matches('/')),
            ERROR_BODY_LIMIT,
        )
        .endpoint_headers(ep)
        .authorization(session.authorization.as_ref());
        match client.send(&req).await {
            Ok(reply) if reply.status.is_success() => {
                detail.recheck_status = Some(reply.status.as_u16());
            }
            Ok(reply) => {
                detail.recheck_status = Some(reply.status.as_u16());
                let line = reply.status_line();
                let (code, summary) = match (reply.status, session.credentials_used) {
                    (StatusCode::UNAUTHORIZED, true) => (
                        Code::AuthRejected,
                        format!(
                            "{line} for GET /v2/ with the credentials from {}",
                            source.as_deref().unwrap_or("?")
                        ),
                    ),
                    (StatusCode::UNAUTHORIZED, false) => (
                        Code::AuthRequired,
                        format!(
                            "{line} for GET /v2/ with an anonymous token; no credentials configured"
                        ),
                    ),
                    (StatusCode::TOO_MANY_REQUESTS, _) => {
                        (Code::RateLimited, format!("{line} for GET /v2/"))
                    }
                    (StatusCode::FORBIDDEN, _) => (
                        Code::AccessDenied,
                        format!("{line} for GET /v2/ after authenticating"),
                    ),
                    _ => (
                        Code::RegistryError,
                        format!("{line} for GET /v2/ after authenticating"),
                    ),
                };
                return fail(code, summary, detail);
            }
            Err(e) => {
                return fail(
                    Code::RegistryError,
                    format!("GET /v2/ with credentials: {e}"),
                    detail,
                );
            }
        }
    }
    (
        StageResult::ok(
            Stage::Auth,
            started.elapsed(),
            summary,
            Detail::Auth(Box::new(detail)),
        ),
        session,
    )
}

/// Obtain an `Authorization` for `challenge` and `scopes` (plus the challenge's
/// own scope).
pub async fn authorize(
    ctx: &Context,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    challenge: &Challenge,
    scopes: &[String],
) -> Result<Granted, Refusal> {
    let cred = ep.credential.as_ref();
    let detail = AuthDetail {
        scheme: Some(challenge.scheme.as_str()),
        credential_source: cred.map(|c| c.source.clone()),
        username: cred.map(|c| c.username().to_owned()),
        ..AuthDetail::default()
    };
    match challenge.scheme {
        AuthScheme::Basic => {
            let Some(c) = cred else {
                return Err(Refusal {
                    code: Code::AuthRequired,
                    summary:
                        "registry requires Basic authentication and no credentials are configured"
                            .to_owned(),
                    detail: Box::new(detail),
                });
            };
            let (user, secret) = c.user_and_secret();
            if user.is_empty() || secret.is_empty() {
                // doBasicAuth: "failed to handle basic auth because missing username or secret".
                return Err(Refusal {
                    code: Code::AuthRejected,
                    summary: format!(
                        "registry asks for Basic auth but the credential from {} has no username/password (an identity token cannot answer Basic)",
                        c.source
                    ),
                    detail: Box::new(detail),
                });
            }
            Ok(Granted {
                session: Session {
                    authorization: Some(basic_value(user, secret)),
                    scheme: Some(AuthScheme::Basic),
                    credentials_used: true,
                    scopes: Vec::new(),
                    expires: None,
                    withheld: false,
                },
                detail: AuthDetail {
                    credentials: true,
                    ..detail
                },
                summary: format!("Basic auth as {user} (credentials from {})", c.source),
            })
        }
        AuthScheme::Bearer => bearer(ctx, ep, client, challenge, scopes, detail).await,
        AuthScheme::Digest => Err(Refusal {
            code: Code::RegistryError,
            summary: "registry offers only Digest auth, which containerd does not support"
                .to_owned(),
            detail: Box::new(detail),
        }),
    }
}

async fn bearer(
    ctx: &Context,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    challenge: &Challenge,
    ours: &[String],
    mut detail: AuthDetail,
) -> Result<Granted, Refusal> {
    let fail = |code, summary: String, detail: AuthDetail, bearer: BearerFacts| {
        Err(Refusal {
            code,
            summary,
            detail: Box::new(AuthDetail {
                bearer: Some(bearer),
                ..detail
            }),
        })
    };
    let Some(realm) = challenge.param("realm").filter(|r| !r.is_empty()) else {
        return Err(Refusal {
            code: Code::AuthError,
            summary: "Bearer challenge without a realm: containerd cannot fetch a token".to_owned(),
            detail: Box::new(detail),
        });
    };
    let service = challenge.param("service").unwrap_or_default().to_owned();
    let scopes = merge_scopes(challenge.param("scope"), ours);
    let mut facts = BearerFacts {
        realm: realm.to_owned(),
        service: service.clone(),
        scope: scopes.join(" "),
        ..BearerFacts::default()
    };
    let url = match url::Url::parse(realm) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            return fail(
                Code::AuthError,
                format!("invalid token realm {realm:?} in the Bearer challenge"),
                detail,
                facts,
            );
        }
    };
    let (scheme, host, port) = url_target(&url);
    let realm_shown = format!(
        "{}://{}{}",
        url.scheme(),
        client::authority(scheme, &host, port),
        url.path()
    );

    let mut cred = ep.credential.as_ref();
    let same_host = client.is_for(scheme, &host, port);
    if cred.is_some() && scheme == Scheme::Http && !(same_host && ep.scheme == Scheme::Http) {
        facts.credentials_withheld = Some(format!(
            "realm {realm_shown} is plain HTTP on another host; credentials not sent (containerd would send them)"
        ));
        cred = None;
    }

    let base_query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let ask = TokenAsk {
        path: url.path(),
        base_query: &base_query,
        service: &service,
        scopes: &scopes,
        cred,
    };
    // Reach the realm: the endpoint connection itself, or a new dial.
    let (reply, grant, post_status) = if same_host {
        ask.fetch(client).await
    } else {
        let (stages, c) = HostClient::connect_other(ctx, ep, scheme, &host, port).await;
        let why = first_failure(&stages);
        facts.realm_stages = Some(stages);
        let Some(mut c) = c else {
            return fail(
                Code::AuthServerUnreachable,
                format!("token service {host}:{port} unreachable: {why}"),
                detail,
                facts,
            );
        };
        let fetched = ask.fetch(&mut c).await;
        client.absorb(&mut c);
        fetched
    };
    facts.post_status = post_status;
    let creds_used = cred.is_some();
    detail.credentials = creds_used;
    facts.grant = Some(grant);
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            let code = match &e {
                Failure::Redial(_) => Code::AuthServerUnreachable,
                _ => Code::AuthError,
            };
            return fail(
                code,
                format!("token service {realm_shown}: {e}"),
                detail,
                facts,
            );
        }
    };
    facts.status = Some(reply.status.as_u16());
    let line = reply.status_line();
    let status = reply.status.as_u16();
    if !(200..400).contains(&status) {
        let msg = reply
            .bytes()
            .and_then(|b| error_message(b, cred))
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let (code, what) = match (status, creds_used) {
            (401 | 403, true) => (
                Code::AuthRejected,
                format!(
                    "token service refused the credentials from {}",
                    cred.map_or("?", |c| c.source.as_str())
                ),
            ),
            (401 | 403, false) if facts.credentials_withheld.is_some() => (
                Code::AuthRequired,
                format!(
                    "token service refused anonymous access; the credentials from {} were withheld from this plain-HTTP realm",
                    ep.credential.as_ref().map_or("?", |c| c.source.as_str())
                ),
            ),
            (401 | 403, false) => (
                Code::AuthRequired,
                "token service refused anonymous access and no credentials are configured"
                    .to_owned(),
            ),
            (429, _) => (
                Code::RateLimited,
                "token service rate limited us".to_owned(),
            ),
            _ => (
                Code::AuthError,
                "token service answered with an error".to_owned(),
            ),
        };
        return fail(
            code,
            format!("{what} ({line} from {realm_shown}){msg}"),
            detail,
            facts,
        );
    }
    let body = match &reply.body {
        Body::Complete(b) => b,
        Body::TooLarge { limit } => {
            return fail(
                Code::AuthError,
                format!("token response from {realm_shown} larger than {limit} bytes; not read"),
                detail,
                facts,
            );
        }
        Body::Broken(e) => {
            return fail(
                Code::AuthError,
                format!("token response from {realm_shown} cut off: {e}"),
                detail,
                facts,
            );
        }
    };
    // Never quote this body: it is (or should be) a token.
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        let ct = reply
            .content_type()
            .unwrap_or_else(|| "no content type".to_owned());
        return fail(
            Code::AuthError,
            format!(
                "token service {realm_shown} answered {line} with non-JSON ({ct}, {} bytes)",
                body.len()
            ),
            detail,
            facts,
        );
    };
    let field = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    // FetchTokenWithOAuth accepts only `access_token`; FetchToken (GET) takes
    // `access_token` over `token`.
    let token = match grant {
        Grant::OAuthPost => field("access_token"),
        _ => field("access_token").or_else(|| field("token")),
    };
    let Some(token) = token else {
        let want = if grant == Grant::OAuthPost {
            "access_token"
        } else {
            "token or access_token"
        };
        return fail(
            Code::AuthError,
            format!("token service {realm_shown} answered {line} without {want}"),
            detail,
            facts,
        );
    };
    // Only numbers and short strings: never a field that could be a token.
    let scalar = |k: &str| {
        json.get(k)
            .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.len() <= 64))
            .cloned()
    };
    facts.expires_in = scalar("expires_in");
    facts.issued_at = scalar("issued_at");
    let lifetime = json
        .get("expires_in")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TOKEN_LIFETIME, std::time::Duration::from_secs);
    let who = match (cred, creds_used) {
        (Some(c), true) => format!(" with credentials from {}", c.source),
        _ => " anonymously".to_owned(),
    };
    let scope_note = if scopes.is_empty() {
        String::new()
    } else {
        format!(" for {}", scopes.join(" "))
    };
    let summary = format!(
        "token from {realm_shown}{scope_note}{who} ({})",
        grant.as_str()
    );
    Ok(Granted {
        session: Session {
            authorization: Some(Secret::new(format!("Bearer {token}"))),
            scheme: Some(AuthScheme::Bearer),
            credentials_used: creds_used,
            scopes,
            expires: Some(Instant::now() + lifetime),
            withheld: facts.credentials_withheld.is_some(),
        },
        detail: AuthDetail {
            bearer: Some(facts),
            ..detail
        },
        summary,
    })
}

/// One token request's parameters.
struct TokenAsk<'a> {
    path: &'a str,
    base_query: &'a [(String, String)],
    service: &'a str,
    scopes: &'a [String],
    cred: Option<&'a Credential>,
}

impl TokenAsk<'_> {
    /// containerd's `doBearerAuth`: POST with a secret (GET fallback), else an
    /// anonymous GET. Returns the reply, how it was asked, and the POST status
    /// when it fell back.
    async fn fetch(
        &self,
        client: &mut HostClient<'_>,
    ) -> (Result<Reply, Failure>, Grant, Option<u16>) {
        let Some(c) = self.cred else {
            return (self.get(client, None).await, Grant::AnonymousGet, None);
        };
        let (user, secret) = c.user_and_secret();
        match self.post(client, user, secret).await {
            Ok(r) if fallback_to_get(r.status, user) => {
                let status = r.status.as_u16();
                let r = self.get(client, Some((user, secret))).await;
                (r, Grant::GetWithBasic, Some(status))
            }
            other => (other, Grant::OAuthPost, None),
        }
    }

    /// The OAuth2 `POST` (password or refresh-token grant).
    async fn post(
        &self,
        client: &mut HostClient<'_>,
        user: &str,
        secret: &Secret,
    ) -> Result<Reply, Failure> {
        // The serializer is not `Send`: build the body before any await.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            if !self.scopes.is_empty() {
                form.append_pair("scope", &self.scopes.join(" "));
            }
            form.append_pair("service", self.service);
            form.append_pair("client_id", CLIENT_ID);
            if user.is_empty() {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", secret.expose());
            } else {
                form.append_pair("grant_type", "password");
                form.append_pair("username", user);
                form.append_pair("password", secret.expose());
            }
            Bytes::from(form.finish())
        };
        let req = Req::new(
            Method::POST,
            target_with_query(self.path, self.base_query),
            TOKEN_BODY_LIMIT,
        )
        .body("application/x-www-form-urlencoded; charset=utf-8", body);
        client.send(&req).await
    }

    /// The token `GET`, with basic auth when there is a secret.
    async fn get(
        &self,
        client: &mut HostClient<'_>,
        basic: Option<(&str, &Secret)>,
    ) -> Result<Reply, Failure> {
        let mut pairs = self.base_query.to_vec();
        if !self.service.is_empty() {
            pairs.push(("service".to_owned(), self.service.to_owned()));
        }
        pairs.extend(self.scopes.iter().map(|s| ("scope".to_owned(), s.clone())));
        let mut req = Req::new(
            Method::GET,
            target_with_query(self.path, &pairs),
            TOKEN_BODY_LIMIT,
        );
        if let Some((user, secret)) = basic.filter(|(_, s)| !s.is_empty()) {
            req = req.authorization(Some(&basic_value(user, secret)));
        }
        client.send(&req).await
    }
}

/// authorizer.go: fall back from POST to GET on 405 (only with a username),
/// 404 (GCR), 401 (Artifactory) and 400 (ACR).
#[must_use]
pub fn fallback_to_get(status: StatusCode, username: &str) -> bool {
    matches!(status.as_u16(), 404 | 401 | 400)
        || (status == StatusCode::METHOD_NOT_ALLOWED && !username.is_empty())
}

fn target_with_query(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{q}")
}

#[cfg(test)]
mod tests {
    use super::super::dial::{self, DialSpec};
    use super::super::ping::ping;
    use super::super::result::Status;
    use super::super::testutil::{Seen, context, endpoint, reply, serve};
    use super::*;
    use crate::reference::Reference;
    use crate::target::CredentialSecret;
    use std::time::Duration;

    fn cred() -> Credential {
        Credential::new(
            CredentialSecret::Basic {
                username: "alice".to_owned(),
                password: Secret::new("hunter2-very-secret"),
            },
            "--docker-config /tmp/c.json",
        )
    }

    fn image(path: &str) -> Reference {
        Reference {
            domain: "reg.test".to_owned(),
            path: path.to_owned(),
            tag: Some("1".to_owned()),
            digest: None,
        }
    }

    /// The target a test probes: `registry` with `ep` as its only endpoint.
    fn target_of(ep: &Endpoint, registry: String, image: Option<Reference>) -> Target {
        Target {
            registry,
            image,
            endpoints: vec![ep.clone()],
            remarks: vec![],
            ..Default::default()
        }
    }

    /// Dial `ep`, ping it, and run the auth stage on the challenges it answered with.
    async fn ping_then_auth(
        ctx: &Context,
        target: &Target,
        ep: &Endpoint,
    ) -> (StageResult, Session) {
        let dialed = dial::dial(ctx, DialSpec::for_endpoint(ep)).await;
        let mut client = HostClient::over(ctx, DialSpec::for_endpoint(ep), dialed.io.unwrap());
        let p = ping(&mut client, ep).await;
        run(ctx, target, ep, &mut client, &p.challenges).await
    }

    /// The auth stage of a whole-endpoint probe.
    fn auth_stage(out: &crate::probe::EndpointOutcome) -> &StageResult {
        out.stages.iter().find(|s| s.stage == Stage::Auth).unwrap()
    }

    /// The stage's typed detail.
    fn detail(r: &StageResult) -> &AuthDetail {
        match &r.detail {
            Detail::Auth(d) => d,
            other => panic!("{other:?}"),
        }
    }

    /// The Bearer facts of the stage.
    fn bearer_of(r: &StageResult) -> &BearerFacts {
        detail(r).bearer.as_ref().expect("a bearer exchange")
    }

    /// Run ping + auth against a plain-HTTP registry whose token realm is
    /// `/token` on the same host (so credentials may be sent over plain HTTP).
    /// Returns the stage, the session, and the token and registry requests.
    async fn auth_against(
        token: impl Fn(&Seen) -> super::super::testutil::Answer + Send + Sync + 'static,
        credential: Option<Credential>,
        with_image: bool,
    ) -> (StageResult, Session, Vec<Seen>, Vec<Seen>) {
        let server = serve(move |s: &Seen| {
            if s.path() == "/token" {
                return token(s);
            }
            if s.header("authorization") == Some("Bearer tok-123") {
                reply(
                    200,
                    &[("Docker-Distribution-API-Version", "registry/2.0")],
                    "{}",
                )
            } else {
                let c = format!(
                    r#"Bearer realm="http://{}/token",service="reg.test""#,
                    s.header("host").unwrap_or_default()
                );
                reply(
                    401,
                    &[("WWW-Authenticate", c.as_str())],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                )
            }
        })
        .await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = endpoint(server.port);
        ep.credential = credential;
        let target = target_of(&ep, server.addr(), with_image.then(|| image("team/app")));
        let (r, s) = ping_then_auth(&ctx, &target, &ep).await;
        let (token_seen, reg_seen) = server
            .seen()
            .into_iter()
            .partition(|s| s.path() == "/token");
        (r, s, token_seen, reg_seen)
    }

    #[tokio::test]
    async fn credentials_withheld_from_plain_http_realm_on_another_host() {
        let token = serve(|_| reply(200, &[], r#"{"token":"tok-123"}"#)).await;
        let realm = format!("http://127.0.0.1:{}/token", token.port);
        let registry = serve(move |_| {
            let c = format!(r#"Bearer realm="{realm}",service="reg.test""#);
            reply(401, &[("WWW-Authenticate", c.as_str())], "")
        })
        .await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = endpoint(registry.port);
        ep.credential = Some(cred());
        let target = target_of(&ep, registry.addr(), Some(image("a")));
        let (r, s) = ping_then_auth(&ctx, &target, &ep).await;
        assert_eq!(r.status, Status::Ok, "{}", r.summary);
        assert!(!s.credentials_used);
        assert!(
            bearer_of(&r)
                .credentials_withheld
                .as_deref()
                .unwrap()
                .contains("plain HTTP")
        );
        let seen = token.seen();
        assert_eq!(seen[0].method, "GET");
        assert!(seen[0].header("authorization").is_none());
        assert_eq!(
            bearer_of(&r).realm_stages.as_ref().unwrap()[1].stage,
            Stage::Tcp
        );
    }

    fn assert_no_secret(r: &StageResult) {
        let all = format!("{} {r:?}", r.summary);
        for s in ["hunter2-very-secret", "tok-123", "aHVudGVy", "YWxpY2U6"] {
            assert!(!all.contains(s), "secret {s} leaked: {all}");
        }
    }

    #[tokio::test]
    async fn anonymous_get_token_registry_only_rechecks_v2() {
        let (r, s, token_seen, reg_seen) = auth_against(
            |_| {
                reply(
                    200,
                    &[("Content-Type", "application/json")],
                    r#"{"token":"tok-123","expires_in":300}"#,
                )
            },
            None,
            false,
        )
        .await;
        assert_eq!(r.status, Status::Ok, "{}", r.summary);
        assert_eq!(bearer_of(&r).grant, Some(Grant::AnonymousGet));
        assert_eq!(bearer_of(&r).expires_in, Some(serde_json::json!(300)));
        assert_eq!(bearer_of(&r).scope, "");
        assert_eq!(detail(&r).recheck_status, Some(200));
        assert!(s.authorization.is_some());
        assert_eq!(token_seen.len(), 1);
        assert_eq!(token_seen[0].method, "GET");
        assert_eq!(token_seen[0].target, "/token?service=reg.test");
        assert!(token_seen[0].header("authorization").is_none());
        assert_eq!(
            reg_seen.last().unwrap().header("authorization"),
            Some("Bearer tok-123")
        );
        assert_no_secret(&r);
    }

    #[tokio::test]
    async fn credentials_post_form_like_containerd() {
        let (r, s, token_seen, _) = auth_against(
            |_| reply(200, &[], r#"{"access_token":"tok-123","expires_in":60}"#),
            Some(cred()),
            true,
        )
        .await;
        assert_eq!(r.status, Status::Ok, "{}", r.summary);
        assert!(s.credentials_used);
        assert_eq!(bearer_of(&r).grant, Some(Grant::OAuthPost));
        assert_eq!(
            detail(&r).credential_source.as_deref(),
            Some("--docker-config /tmp/c.json")
        );
        let post = &token_seen[0];
        assert_eq!(post.method, "POST");
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&post.body)
                .into_owned()
                .collect();
        assert_eq!(form["grant_type"], "password");
        assert_eq!(form["client_id"], "containerd-client");
        assert_eq!(form["service"], "reg.test");
        assert_eq!(form["scope"], "repository:team/app:pull");
        assert_eq!(form["username"], "alice");
        assert!(!form.contains_key("access_type"));
        assert_eq!(
            post.header("content-type"),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        assert_no_secret(&r);
    }

    #[tokio::test]
    async fn post_405_falls_back_to_get_with_basic() {
        let (r, _, token_seen, _) = auth_against(
            |s| {
                if s.method == "POST" {
                    reply(405, &[], "")
                } else {
                    reply(200, &[], r#"{"token":"tok-123"}"#)
                }
            },
            Some(cred()),
            true,
        )
        .await;
        assert_eq!(r.status, Status::Ok, "{}", r.summary);
        assert_eq!(bearer_of(&r).grant, Some(Grant::GetWithBasic));
        assert_eq!(bearer_of(&r).post_status, Some(405));
        let get = &token_seen[1];
        assert_eq!(get.method, "GET");
        assert_eq!(
            get.target,
            "/token?service=reg.test&scope=repository%3Ateam%2Fapp%3Apull"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:hunter2-very-secret");
        assert_eq!(
            get.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
    }

    #[tokio::test]
    async fn refused_credentials_are_auth_rejected() {
        let (r, s, _, _) = auth_against(
            |_| reply(401, &[], r#"{"details":"incorrect username or password"}"#),
            Some(cred()),
            true,
        )
        .await;
        assert_eq!(r.code, Code::AuthRejected, "{}", r.summary);
        assert!(
            r.summary.contains("incorrect username or password"),
            "{}",
            r.summary
        );
        assert!(s.authorization.is_none());
        assert_no_secret(&r);
    }

    #[tokio::test]
    async fn anonymous_refused_is_auth_required() {
        let (r, _, _, _) = auth_against(|_| reply(401, &[], ""), None, true).await;
        assert_eq!(r.code, Code::AuthRequired, "{}", r.summary);
    }

    #[tokio::test]
    async fn garbage_and_tokenless_answers_are_auth_error() {
        let (r, _, _, _) = auth_against(
            |_| {
                reply(
                    200,
                    &[("Content-Type", "text/html")],
                    "<html>tok-123</html>",
                )
            },
            None,
            true,
        )
        .await;
        assert_eq!(r.code, Code::AuthError, "{}", r.summary);
        assert!(r.summary.contains("non-JSON"), "{}", r.summary);
        assert_no_secret(&r);
        let (r, _, _, _) =
            auth_against(|_| reply(200, &[], r#"{"expires_in":60}"#), None, true).await;
        assert_eq!(r.code, Code::AuthError);
        assert!(r.summary.contains("without token"), "{}", r.summary);
        let (r, _, _, _) = auth_against(|_| reply(503, &[], "busy"), None, true).await;
        assert_eq!(r.code, Code::AuthError);
        // containerd's POST path wants access_token, not token.
        let (r, _, _, _) = auth_against(
            |_| reply(200, &[], r#"{"token":"tok-123"}"#),
            Some(cred()),
            true,
        )
        .await;
        assert_eq!(r.code, Code::AuthError, "{}", r.summary);
        assert!(r.summary.contains("access_token"), "{}", r.summary);
    }

    #[tokio::test]
    async fn huge_token_body_fails_fast_without_reading_it() {
        let started = std::time::Instant::now();
        let big = vec![b' '; 10 * 1024 * 1024];
        let (r, _, _, _) = auth_against(move |_| reply(200, &[], big.clone()), None, true).await;
        assert_eq!(r.code, Code::AuthError, "{}", r.summary);
        assert!(r.summary.contains("larger than"), "{}", r.summary);
        assert!(started.elapsed() < Duration::from_secs(2));
        // Without Content-Length: a chunked body that never ends.
        let (r, _, _, _) = auth_against(
            |_| super::super::testutil::Answer::Endless {
                status: 200,
                headers: vec![],
            },
            None,
            true,
        )
        .await;
        assert_eq!(r.code, Code::AuthError, "{}", r.summary);
        assert!(r.summary.contains("larger than"), "{}", r.summary);
    }

    #[tokio::test]
    async fn unreachable_realm_is_auth_server_unreachable_with_its_stages() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = l.local_addr().unwrap().port();
        drop(l);
        let registry = serve(move |_| {
            let c = format!(r#"Bearer realm="http://127.0.0.2:{closed}/token",service="reg.test""#);
            reply(401, &[("WWW-Authenticate", c.as_str())], "")
        })
        .await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let ep = endpoint(registry.port);
        let target = target_of(&ep, registry.addr(), Some(image("a")));
        let out = crate::probe::probe_endpoint(&ctx, &target, &ep).await;
        let auth = auth_stage(&out);
        assert_eq!(auth.code, Code::AuthServerUnreachable, "{}", auth.summary);
        assert!(auth.summary.contains("127.0.0.2"), "{}", auth.summary);
        assert_eq!(
            bearer_of(auth).realm_stages.as_ref().unwrap()[1].code,
            Code::TcpRefused
        );
        assert_eq!(
            out.stages.iter().filter(|s| s.status.is_skipped()).count(),
            3
        );
    }

    #[tokio::test]
    async fn basic_challenge_uses_credentials_and_detects_rejection() {
        // This registry refuses every credential.
        let registry =
            serve(|_| reply(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], "")).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = endpoint(registry.port);
        ep.credential = Some(cred());
        let target = target_of(&ep, registry.addr(), None);
        let out = crate::probe::probe_endpoint(&ctx, &target, &ep).await;
        let auth = auth_stage(&out);
        assert_eq!(auth.code, Code::AuthRejected, "{}", auth.summary);
        assert_no_secret(auth);
        assert!(
            registry.seen()[1]
                .header("authorization")
                .unwrap()
                .starts_with("Basic ")
        );

        ep.credential = None;
        let out = crate::probe::probe_endpoint(&ctx, &target, &ep).await;
        let auth = auth_stage(&out);
        assert_eq!(auth.code, Code::AuthRequired, "{}", auth.summary);
    }

    #[test]
    fn scopes_merge_like_get_token_scopes() {
        let ours = vec![repository_scope("foo/bar")];
        assert_eq!(
            merge_scopes(Some("repository:foo/bar:pull"), &ours),
            ["repository:foo/bar:pull"]
        );
        assert_eq!(
            merge_scopes(Some("repository:a:pull registry:catalog:*"), &ours),
            [
                "registry:catalog:*",
                "repository:a:pull",
                "repository:foo/bar:pull"
            ]
        );
        assert!(merge_scopes(None, &[]).is_empty());
    }

    #[test]
    fn post_fallback_statuses() {
        assert!(fallback_to_get(StatusCode::NOT_FOUND, ""));
        assert!(fallback_to_get(StatusCode::BAD_REQUEST, "u"));
        assert!(fallback_to_get(StatusCode::UNAUTHORIZED, "u"));
        assert!(fallback_to_get(StatusCode::METHOD_NOT_ALLOWED, "u"));
        assert!(
            !fallback_to_get(StatusCode::METHOD_NOT_ALLOWED, ""),
            "identity token: no fallback on 405"
        );
        assert!(!fallback_to_get(StatusCode::FORBIDDEN, "u"));
        assert!(!fallback_to_get(StatusCode::INTERNAL_SERVER_ERROR, "u"));
    }
}
