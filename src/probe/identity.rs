//! An Azure managed identity turned into an ACR refresh token at probe time,
//! as `acr-credential-provider` does it (kubernetes-sigs/cloud-provider-azure
//! `pkg/credentialprovider/azure_credentials.go` `getFromACR`,
//! `azure_acr_helper.go` `performTokenExchange`):
//!
//! 1. an AAD token from the instance metadata service:
//!    `GET <imds>/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...&client_id=...`
//!    with `Metadata: true`, never through a proxy (IMDS is link-local);
//!    the ACR audience first, then the cloud's ARM audience when the
//!    registry refuses the first in the exchange;
//! 2. `POST <realm scheme>://<realm host>/oauth2/exchange` with
//!    `grant_type=access_token_refresh_token`, `service`, `tenant`,
//!    `access_token` and `refresh_token` (both the AAD token): an ACR refresh token;
//! 3. that refresh token as the password of the null-GUID user, which is how
//!    the kubelet hands it to the runtime; the auth stage then gets the
//!    registry token as containerd would.
//!
//! Each step is reported with its timing; no token ever leaves as text.

use super::challenge::Challenge;
use super::client::{HostClient, Req, TOKEN_BODY_LIMIT};
use super::context::Context;
use super::dial::{DialSpec, url_target};
use super::registry_error::{error_message, snippet};
use super::result::{IdentityFacts, IdentityStep, ServerDate, first_failure};
use crate::code::Code;
use crate::secret::Secret;
use crate::target::{
    AzureIdentity, Credential, CredentialKind, CredentialSecret, Endpoint, TlsSettings,
};
use bytes::Bytes;
use http::Method;
use http::header::HeaderName;
use serde_json::Value;
use tokio::time::Instant;

/// The user the kubelet passes an ACR refresh token with (`dockerTokenLoginUsernameGUID`).
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// What the provider says it is (`userAgent`).
const USER_AGENT: &str = "kubernetes-credentialprovider-acr";

/// What the exchange came to: the credential the runtime would get, and the facts.
pub struct Exchanged {
    pub credential: Credential,
    pub facts: IdentityFacts,
}

/// Why it did not: the code, a summary, and the facts so far.
pub struct NotExchanged {
    pub code: Code,
    pub summary: String,
    pub facts: IdentityFacts,
}

/// One step's record in the making: where it goes, its name, its audience
/// and when it began.
struct StepLog<'a> {
    steps: &'a mut Vec<IdentityStep>,
    name: &'static str,
    audience: &'a str,
    started: Instant,
    date: Option<ServerDate>,
}

impl<'a> StepLog<'a> {
    fn start(steps: &'a mut Vec<IdentityStep>, name: &'static str, audience: &'a str) -> Self {
        StepLog {
            steps,
            name,
            audience,
            started: Instant::now(),
            date: None,
        }
    }

    /// Records the step's outcome and hands back its code and summary.
    fn record(&mut self, code: Code, summary: String) -> (Code, String) {
        self.steps.push(IdentityStep {
            step: self.name.to_owned(),
            audience: self.audience.to_owned(),
            code,
            duration_ms: self.started.elapsed().as_millis() as u64,
            summary: summary.clone(),
            date: self.date.take(),
        });
        (code, summary)
    }
}

/// A non-empty string field of a JSON answer, held as a secret from the start.
fn secret_field(body: Option<&Bytes>, key: &str) -> Option<Secret> {
    body.and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v.get(key)?.as_str().map(Secret::new))
        .filter(|t| !t.is_empty())
}

/// An AAD token for `resource` from IMDS.
async fn aad_token(
    ctx: &Context,
    id: &AzureIdentity,
    resource: &str,
    steps: &mut Vec<IdentityStep>,
) -> Result<Secret, (Code, String)> {
    let mut log = StepLog::start(steps, "imds", resource);
    let (scheme, host, port) = url_target(&id.imds);
    let shown = id.imds.as_str().trim_end_matches('/').to_owned();
    let tls = TlsSettings::default();
    let spec = DialSpec {
        scheme,
        host: &host,
        port,
        tls: &tls,
        proxy: None,
        dial_timeout: None,
    };
    let (stages, client) = HostClient::connect(ctx, spec).await;
    let Some(mut client) = client else {
        let why = first_failure(&stages);
        return Err(log.record(
            Code::AuthServerUnreachable,
            format!("the instance metadata service (IMDS) at {shown} cannot be reached: {why}"),
        ));
    };
    // The serializer is not `Send`: build the query before any await.
    let target = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("api-version", "2018-02-01");
        query.append_pair("resource", resource);
        if let Some(c) = &id.client_id {
            // A resource id names the identity by its ARM path (msi_res_id).
            let key = if c.to_ascii_uppercase().contains("/SUBSCRIPTIONS/") {
                "msi_res_id"
            } else {
                "client_id"
            };
            query.append_pair(key, c);
        }
        format!("/metadata/identity/oauth2/token?{}", query.finish())
    };
    let req = Req::new(Method::GET, target, TOKEN_BODY_LIMIT)
        .header(HeaderName::from_static("metadata"), "true")
        .header(http::header::USER_AGENT, USER_AGENT);
    let reply = match client.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            return Err(log.record(Code::AuthServerUnreachable, format!("IMDS at {shown}: {e}")));
        }
    };
    log.date = client.last_date.take();
    let who = id.client_id.as_deref().map_or_else(
        || "the system-assigned identity".to_owned(),
        |c| format!("identity {c}"),
    );
    if !reply.status.is_success() {
        let msg = reply
            .bytes()
            .and_then(|b| error_message(b, None))
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let code = if reply.status.as_u16() == 400 {
            // "Identity not found": the identity is not assigned to this VM/VMSS.
            Code::AuthRejected
        } else {
            Code::AuthError
        };
        return Err(log.record(
            code,
            format!(
                "IMDS refused a token for {who} ({}){msg}",
                reply.status_line()
            ),
        ));
    }
    let Some(token) = secret_field(reply.bytes(), "access_token") else {
        return Err(log.record(
            Code::AuthError,
            format!(
                "IMDS answered {} without an access_token",
                reply.status_line()
            ),
        ));
    };
    log.record(Code::Ok, format!("AAD token for {who} from IMDS ({shown})"));
    Ok(token)
}

/// One exchange's inputs: the registry's challenge, the tenant, and the AAD
/// token with the audience it was asked for.
struct Ask<'a> {
    challenge: &'a Challenge,
    tenant: &'a str,
    aad: &'a Secret,
    resource: &'a str,
}

/// Exchange the AAD token for an ACR refresh token at the realm's host.
/// An error says whether the next audience is worth a try.
async fn exchange(
    ctx: &Context,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    ask: Ask<'_>,
    steps: &mut Vec<IdentityStep>,
) -> Result<Secret, (Code, String, bool)> {
    let Ask {
        challenge,
        tenant,
        aad,
        resource,
    } = ask;
    let mut log = StepLog::start(steps, "exchange", resource);
    let mut fail = |code, summary, try_next: bool| {
        let (code, summary) = log.record(code, summary);
        Err((code, summary, try_next))
    };
    let realm = challenge.param("realm").unwrap_or_default();
    let service = challenge.param("service").unwrap_or_default();
    let Ok(url) = url::Url::parse(realm) else {
        return fail(
            Code::AuthError,
            format!(
                "the registry's challenge names no usable realm ({realm:?}) to exchange a token at"
            ),
            false,
        );
    };
    let (scheme, host, port) = url_target(&url);
    let endpoint = format!(
        "{}://{}/oauth2/exchange",
        url.scheme(),
        super::client::authority(scheme, &host, port)
    );
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "access_token_refresh_token");
        form.append_pair("service", service);
        form.append_pair("tenant", tenant);
        form.append_pair("access_token", aad.expose());
        form.append_pair("refresh_token", aad.expose());
        Bytes::from(form.finish())
    };
    let req = Req::new(Method::POST, "/oauth2/exchange", TOKEN_BODY_LIMIT)
        .header(http::header::USER_AGENT, USER_AGENT)
        .body("application/x-www-form-urlencoded", body);
    let sent = if client.is_for(scheme, &host, port) {
        client.send(&req).await
    } else {
        let (stages, other) = HostClient::connect_other(ctx, ep, scheme, &host, port).await;
        let Some(mut other) = other else {
            return fail(
                Code::AuthServerUnreachable,
                format!("{endpoint} cannot be reached: {}", first_failure(&stages)),
                false,
            );
        };
        let r = other.send(&req).await;
        client.absorb(&mut other);
        r
    };
    let reply = match sent {
        Ok(r) => r,
        Err(e) => return fail(Code::AuthError, format!("{endpoint}: {e}"), false),
    };
    let status = reply.status.as_u16();
    if status != 200 {
        let msg = reply
            .bytes()
            .and_then(|b| error_message(b, None).or_else(|| Some(snippet(b, 160))))
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        // A 401 may be the audience: the caller tries the next one.
        let code = if matches!(status, 401 | 403) {
            Code::AuthRejected
        } else {
            Code::AuthError
        };
        return fail(
            code,
            format!(
                "{endpoint} refused the AAD token ({}){msg}",
                reply.status_line()
            ),
            matches!(status, 400 | 401 | 403),
        );
    }
    let Some(refresh) = secret_field(reply.bytes(), "refresh_token") else {
        return fail(
            Code::AuthError,
            format!("{endpoint} answered 200 without a refresh_token"),
            false,
        );
    };
    log.record(Code::Ok, format!("ACR refresh token from {endpoint}"));
    Ok(refresh)
}

/// The whole exchange for `cred` (an [`AzureIdentity`]) at the registry
/// that sent `challenge`.
pub async fn exchange_identity(
    ctx: &Context,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    challenge: &Challenge,
    cred: &Credential,
    id: &AzureIdentity,
) -> Result<Exchanged, NotExchanged> {
    let mut steps = Vec::new();
    let mut last = (Code::AuthError, "no audience to ask IMDS for".to_owned());
    for resource in &id.resources {
        let aad = match aad_token(ctx, id, resource, &mut steps).await {
            Ok(t) => t,
            Err((code, summary)) => {
                last = (code, summary);
                // IMDS down or the identity unknown: the next audience fares no better.
                break;
            }
        };
        let ask = Ask {
            challenge,
            tenant: &id.tenant_id,
            aad: &aad,
            resource,
        };
        match exchange(ctx, ep, client, ask, &mut steps).await {
            Ok(refresh) => {
                let facts = IdentityFacts {
                    client_id: id.client_id.clone(),
                    audience: Some(resource.clone()),
                    steps,
                };
                let credential = Credential {
                    secret: CredentialSecret::Basic {
                        username: NULL_GUID.to_owned(),
                        password: refresh,
                    },
                    source: cred.source.clone(),
                    kind: CredentialKind::Identity,
                };
                return Ok(Exchanged { credential, facts });
            }
            Err((code, summary, try_next)) => {
                last = (code, summary);
                if !try_next {
                    break;
                }
            }
        }
    }
    Err(NotExchanged {
        code: last.0,
        summary: last.1,
        facts: IdentityFacts {
            client_id: id.client_id.clone(),
            audience: None,
            steps,
        },
    })
}
