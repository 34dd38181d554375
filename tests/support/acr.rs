//! Azure parts of the bed: an ACR-like registry front, the ACR firewall,
//! and an IMDS emulator, with the identities they know.
//!
//! What they match, and where it comes from:
//! - ACR's token service lives on the registry's own host. `/v2/` answers
//!   401 `Bearer realm="https://<host>/oauth2/token",service="<host>"`;
//!   `POST /oauth2/exchange` (`grant_type=access_token`, or
//!   `access_token_refresh_token` with the AAD token in both
//!   `access_token` and `refresh_token` as acr-credential-provider sends it;
//!   `service`, `tenant`) answers `{"refresh_token"}`; `POST /oauth2/token`
//!   (`grant_type=refresh_token`, `service`, `scope`, `refresh_token`) and
//!   `GET /oauth2/token?service=&scope=` with Basic credentials answer
//!   `{"access_token"}` only (Azure/acr `docs/AAD-OAuth.md`,
//!   `docs/Token-BasicAuth.md`; cloud-provider-azure
//!   `pkg/credentialprovider/azure_acr_helper.go` `performTokenExchange`).
//!   `GET /oauth2/exchange` is 404 (Azure/acr#166). A password grant posted
//!   to `/oauth2/token` is 400 with an empty body (containerd/nerdctl#737;
//!   containerd `core/remotes/docker/authorizer.go` then falls back to GET
//!   with Basic). The null-GUID user `00000000-0000-0000-0000-000000000000`
//!   with an ACR refresh token as password is how the kubelet hands the
//!   provider's answer to containerd (`dockerTokenLoginUsernameGUID`).
//! - A token without the repository's access answers 401 `UNAUTHORIZED`
//!   "authentication required, visit <https://aka.ms/acr/authorization> for
//!   more information." (Azure/acr#506, dotnet/tye#1185).
//! - The firewall answers 403 `DENIED` "client with IP '<ip>' is not allowed
//!   access. Refer <https://aka.ms/acr/firewall> to grant access." with the
//!   quotes as `\u0027`, the way Go's JSON encoder writes them
//!   (docker/build-push-action#1214, Azure/acr#633).
//! - IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&
//!   resource=&client_id=` with `Metadata: true`, else 400 `bad_request_102`
//!   "Required metadata header not specified"; an unknown identity is 400
//!   `invalid_request` "Identity not found"; the answer's numbers are
//!   strings (`MicrosoftDocs` `how-to-use-vm-token.md`; MSAL Go
//!   `apps/managedidentity/managedidentity.go` `createIMDSAuthRequest`;
//!   Azure/aad-pod-identity#778).
//!
//! Not verified against ACR/IMDS, and the bed's own choice: the bodies of a
//! refused exchange (401 `UNAUTHORIZED` "token validation failed", the text
//! ACR gives a refused ARM-audience token at pull), of a wrong `service`
//! (400), of wrong Basic credentials at the token endpoint (401 with
//! `Basic realm="Azure Container Registry"`, what `/v2/` answers them,
//! Azure/acr#651), and IMDS's answers to a missing `api-version` or
//! `resource`. Nothing here logs a secret: requests are recorded through
//! `record::Recorder`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::http::{self, Answer, Handler, Reply, Request};
use super::record::{Recorder, Secrets};
use super::token::{self, Signer, basic_credentials, parse_scope};
use super::world::{Auth, Dns, Host, Kit};

/// The user the kubelet pairs with an ACR refresh token.
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// The directory (AAD tenant) of every identity here.
pub const TENANT_ID: &str = "7e57e57e-0000-4000-8000-000000000001";
pub const SUBSCRIPTION_ID: &str = "5b5c5b5c-0000-4000-8000-000000000002";
/// The node resource group the identities live in.
pub const RESOURCE_GROUP: &str = "MC_rpt-rg_rpt-aks_eastus";
/// The registry's admin user (`az acr update --admin-enabled`).
pub const ADMIN: (&str, &str) = ("acradmin", "acradmin-pw");
/// Where IMDS listens inside the namespace, as on Azure.
pub const IMDS_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The IMDS token path.
pub const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";

/// Which AAD audience a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// `https://containerregistry.azure.net`, what acr-credential-provider
    /// asks for (`AcrAudience` in `azure_credentials.go`).
    Acr,
    /// `https://management.azure.com/`, the ARM audience older providers
    /// used; ACR accepts it unless "authentication as ARM" is disabled.
    Arm,
}

impl Audience {
    /// The `resource` as IMDS clients send it.
    pub fn resource(self) -> &'static str {
        match self {
            Audience::Acr => "https://containerregistry.azure.net",
            Audience::Arm => "https://management.azure.com/",
        }
    }

    /// The audience of an IMDS `resource`, with or without the trailing
    /// slash (MSAL trims `/.default` from the scope, leaving none).
    pub fn from_resource(resource: &str) -> Option<Audience> {
        match resource.trim_end_matches('/') {
            "https://containerregistry.azure.net" => Some(Audience::Acr),
            "https://management.azure.com" => Some(Audience::Arm),
            _ => None,
        }
    }

    fn short(self) -> &'static str {
        match self {
            Audience::Acr => "acr",
            Audience::Arm => "arm",
        }
    }
}

/// A user-assigned managed identity IMDS knows.
#[derive(Debug, PartialEq, Eq)]
pub struct ManagedIdentity {
    /// How records and reports name it (not a secret).
    pub name: &'static str,
    pub client_id: &'static str,
    pub object_id: &'static str,
    /// Whether it has the `AcrPull` role on the bed's ACR registries.
    pub acr_pull: bool,
}

impl ManagedIdentity {
    /// Its ARM resource id (what `userAssignedIdentityID` may hold too).
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{RESOURCE_GROUP}/providers/\
             Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            self.name
        )
    }

    /// The AAD access token IMDS gives it for `audience`: JWT-shaped,
    /// different for each identity and audience, and recognisable by its
    /// last segment (`rpt-aad-secret-<name>-<aud>`, base64url).
    pub fn aad_token(&self, audience: Audience) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "rpt-aad"});
        let claims = json!({
            "aud": audience.resource(),
            "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
            "appid": self.client_id, "oid": self.object_id, "sub": self.object_id,
            "tid": TENANT_ID, "xms_mirid": self.resource_id(),
            "iat": 1_700_000_000, "nbf": 1_700_000_000, "exp": 4_102_444_800_u64,
        });
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(format!("rpt-aad-secret-{}-{}", self.name, audience.short()))
        )
    }
}

/// The node's kubelet identity with `AcrPull` on `acr.test`.
pub const PULLER_MI: ManagedIdentity = ManagedIdentity {
    name: "puller-mi",
    client_id: "11111111-1111-1111-1111-111111111111",
    object_id: "1111aaaa-1111-4111-8111-11111111aaaa",
    acr_pull: true,
};
/// An identity that authenticates but has no role on the registry.
pub const NO_PULL_MI: ManagedIdentity = ManagedIdentity {
    name: "no-pull-mi",
    client_id: "22222222-2222-2222-2222-222222222222",
    object_id: "2222bbbb-2222-4222-8222-22222222bbbb",
    acr_pull: false,
};
/// Every identity IMDS knows.
pub const IDENTITIES: [&ManagedIdentity; 2] = [&PULLER_MI, &NO_PULL_MI];

/// A service principal (`aadClientId`/`aadClientSecret` in azure.json), as
/// ACR's token endpoint accepts it in Basic credentials.
#[derive(Debug, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub name: &'static str,
    pub client_id: &'static str,
    pub secret: &'static str,
    pub acr_pull: bool,
}

pub const PULLER_SP: ServicePrincipal = ServicePrincipal {
    name: "puller-sp",
    client_id: "33333333-3333-3333-3333-333333333333",
    secret: "rpt-sp-secret-puller-Q8~x",
    acr_pull: true,
};
pub const NO_PULL_SP: ServicePrincipal = ServicePrincipal {
    name: "no-pull-sp",
    client_id: "44444444-4444-4444-4444-444444444444",
    secret: "rpt-sp-secret-nopull-Z3~y",
    acr_pull: false,
};
pub const SERVICE_PRINCIPALS: [&ServicePrincipal; 2] = [&PULLER_SP, &NO_PULL_SP];

/// The fixed secrets of the Azure parts: every AAD token, the service
/// principals' secrets, the admin password. Tokens issued at run time are
/// in `World::issued_secrets`.
pub fn static_secrets() -> Vec<String> {
    let mut all: Vec<String> = IDENTITIES
        .iter()
        .flat_map(|mi| [mi.aad_token(Audience::Acr), mi.aad_token(Audience::Arm)])
        .collect();
    all.extend(SERVICE_PRINCIPALS.iter().map(|sp| sp.secret.to_owned()));
    all.push(ADMIN.1.to_owned());
    all
}

/// Which AAD audiences an ACR front's exchange accepts.
#[derive(Clone, Debug)]
pub struct AcrPolicy {
    pub audiences: Vec<Audience>,
}

impl Default for AcrPolicy {
    /// Both, as ACR does by default.
    fn default() -> AcrPolicy {
        AcrPolicy {
            audiences: vec![Audience::Acr, Audience::Arm],
        }
    }
}

/// The front of an ACR-like registry called `name` on 443 (test CA),
/// serving `/oauth2/*` itself and relaying `/v2/*` to `backend`, a plain
/// HTTP distribution registry made with [`backend_host`] for the same name.
pub fn front_host(name: &str, ip: Ipv4Addr, backend: SocketAddr, policy: AcrPolicy) -> Host {
    let front_name = name.to_owned();
    let build = move |kit: &Kit| front(&front_name, backend, policy.clone(), kit);
    Host::built(name, ip, 443, Some(super::pki::Cert::Good), build)
}

/// The distribution registry behind the front called `front`: plain HTTP
/// on `port`, token auth with the front's realm and service, not in the
/// node's DNS (only the front talks to it).
pub fn backend_host(name: &str, ip: Ipv4Addr, port: u16, front: &str) -> Host {
    let mut host = Host::registry(name, ip).plain_http(port).auth(Auth::Token {
        realm: format!("https://{front}/oauth2/token"),
        service: Some(front.to_owned()),
    });
    host.dns = Dns::Hidden;
    host
}

/// An ACR with a firewall the caller is not allowed through.
pub fn firewall_host(name: &str, ip: Ipv4Addr) -> Host {
    Host::handler(name, ip, firewall)
}

/// The IMDS emulator, plain HTTP on `port`, not in DNS.
pub fn imds_host(name: &str, ip: Ipv4Addr, port: u16) -> Host {
    let mut host = Host::built(name, ip, port, None, |kit: &Kit| imds(kit.recorder.clone()));
    host.dns = Dns::Hidden;
    host
}

/// 403 DENIED for every request, naming the caller's address.
pub fn firewall(req: &Request) -> Answer {
    let ip = req.peer.map(|p| p.ip().to_string()).unwrap_or_default();
    // Go's encoding/json escapes ' as \u0027: keep ACR's bytes.
    let body = format!(
        "{{\"errors\":[{{\"code\":\"DENIED\",\"message\":\"client with IP \\u0027{ip}\\u0027 is \
         not allowed access. Refer https://aka.ms/acr/firewall to grant access.\"}}]}}\n"
    );
    Reply::new(403)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body)
        .into()
}

/// Who a request at the front was taken for.
#[derive(Clone, Copy, Debug)]
enum Principal {
    Anonymous,
    Admin,
    Identity(&'static ManagedIdentity),
    Sp(&'static ServicePrincipal),
}

impl Principal {
    fn name(self) -> &'static str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Admin => ADMIN.0,
            Principal::Identity(mi) => mi.name,
            Principal::Sp(sp) => sp.name,
        }
    }

    /// The `access` entry for one scope: the admin gets what it asks for,
    /// `AcrPull` holders `pull`, everyone else nothing.
    fn grant(self, scope: &str) -> Option<Value> {
        let (kind, name, wanted) = parse_scope(scope)?;
        let granted: Vec<&str> = match self {
            Principal::Admin => wanted,
            Principal::Identity(ManagedIdentity { acr_pull: true, .. })
            | Principal::Sp(ServicePrincipal { acr_pull: true, .. })
                if kind == "repository" =>
            {
                wanted.into_iter().filter(|a| *a == "pull").collect()
            }
            _ => Vec::new(),
        };
        token::access_entry(kind, name, &granted)
    }
}

struct Front {
    name: String,
    backend: SocketAddr,
    policy: AcrPolicy,
    signer: Signer,
    secrets: Secrets,
    /// ACR refresh tokens handed out, and whose they are.
    refresh: Mutex<HashMap<String, Principal>>,
}

fn front(name: &str, backend: SocketAddr, policy: AcrPolicy, kit: &Kit) -> Handler {
    let front = Arc::new(Front {
        name: name.to_owned(),
        backend,
        policy,
        signer: kit.signer.clone(),
        secrets: kit.secrets.clone(),
        refresh: Mutex::new(HashMap::new()),
    });
    let recorder = kit.recorder.clone();
    Arc::new(move |req: &Request| -> Answer {
        let (answer, who) = front.answer(req);
        recorder.record(req, &answer, who.map(Principal::name));
        answer
    })
}

fn acr_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"errors": [{"code": code, "message": message}]}),
    )
}

const ACR_AUTHORIZATION: &str =
    "authentication required, visit https://aka.ms/acr/authorization for more information.";

impl Front {
    fn answer(&self, req: &Request) -> (Answer, Option<Principal>) {
        let path = req.path();
        match (req.method.as_str(), path) {
            ("POST", "/oauth2/exchange") => self.exchange(req),
            (_, "/oauth2/exchange") => (Reply::new(404).into(), None),
            ("POST", "/oauth2/token") => self.token_post(req),
            ("GET", "/oauth2/token") => self.token_get(req),
            (_, p) if p == "/v2" || p.starts_with("/v2/") => (self.registry(req), None),
            _ => (Reply::new(404).into(), None),
        }
    }

    fn wrong_service(&self, service: Option<&str>) -> Option<Answer> {
        (service != Some(self.name.as_str())).then(|| {
            acr_error(
                400,
                "BAD_REQUEST",
                "the service does not name this registry",
            )
            .into()
        })
    }

    fn exchange(&self, req: &Request) -> (Answer, Option<Principal>) {
        let form = req.form();
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(bad) = self.wrong_service(get("service")) {
            return (bad, None);
        }
        let aad = match get("grant_type") {
            Some("access_token" | "access_token_refresh_token") => get("access_token"),
            // An AAD refresh token: the bed hands none out.
            Some("refresh_token") => None,
            _ => {
                return (
                    acr_error(400, "UNSUPPORTED", "unsupported grant type").into(),
                    None,
                );
            }
        };
        let found = aad.and_then(|token| {
            IDENTITIES.iter().find_map(|mi| {
                [Audience::Acr, Audience::Arm]
                    .into_iter()
                    .find(|aud| mi.aad_token(*aud) == token)
                    .map(|aud| (*mi, aud))
            })
        });
        match found {
            Some((mi, aud)) if self.policy.audiences.contains(&aud) => {
                let who = Principal::Identity(mi);
                let refresh = format!("rpt-acr-refresh-{}-{}", mi.name, token::random_hex(12));
                self.secrets.add(&refresh);
                self.refresh
                    .lock()
                    .expect("refresh lock")
                    .insert(refresh.clone(), who);
                (
                    Reply::json(200, &json!({"refresh_token": refresh})).into(),
                    Some(who),
                )
            }
            found => (
                acr_error(401, "UNAUTHORIZED", "token validation failed").into(),
                found.map(|(mi, _)| Principal::Identity(mi)),
            ),
        }
    }

    fn access_token(&self, who: Principal, scopes: &[String]) -> Answer {
        let access: Vec<Value> = scopes.iter().filter_map(|s| who.grant(s)).collect();
        let jwt = self.signer.sign(who.name(), &self.name, &access);
        Reply::json(200, &json!({"access_token": jwt})).into()
    }

    fn token_post(&self, req: &Request) -> (Answer, Option<Principal>) {
        let form = req.form();
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if get("grant_type") != Some("refresh_token") {
            // ACR has no password grant: 400, empty body.
            return (Reply::new(400).into(), None);
        }
        if let Some(bad) = self.wrong_service(get("service")) {
            return (bad, None);
        }
        let who = get("refresh_token").and_then(|t| self.refresh_owner(t));
        match who {
            Some(who) => (self.access_token(who, &token::scopes(&form)), Some(who)),
            None => (
                acr_error(401, "UNAUTHORIZED", ACR_AUTHORIZATION).into(),
                None,
            ),
        }
    }

    fn token_get(&self, req: &Request) -> (Answer, Option<Principal>) {
        let query = req.query();
        let service = query
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.as_str());
        if let Some(bad) = self.wrong_service(service) {
            return (bad, None);
        }
        let who = match basic_credentials(req) {
            None if req.header("Authorization").is_none() => Some(Principal::Anonymous),
            None => None,
            Some((user, password)) => self.basic_principal(&user, &password),
        };
        match who {
            Some(who) => (self.access_token(who, &token::scopes(&query)), Some(who)),
            None => (
                acr_error(401, "UNAUTHORIZED", ACR_AUTHORIZATION)
                    .header(
                        "WWW-Authenticate",
                        "Basic realm=\"Azure Container Registry\"",
                    )
                    .into(),
                None,
            ),
        }
    }

    fn basic_principal(&self, user: &str, password: &str) -> Option<Principal> {
        if user == NULL_GUID {
            return self.refresh_owner(password);
        }
        if (user, password) == ADMIN {
            return Some(Principal::Admin);
        }
        SERVICE_PRINCIPALS
            .iter()
            .find(|sp| sp.client_id == user && sp.secret == password)
            .map(|sp| Principal::Sp(sp))
    }

    fn refresh_owner(&self, refresh: &str) -> Option<Principal> {
        self.refresh
            .lock()
            .expect("refresh lock")
            .get(refresh)
            .copied()
    }

    /// Relays to the backend; a refused Bearer token gets ACR's message.
    fn registry(&self, req: &Request) -> Answer {
        let raw = match http::relay(self.backend, req) {
            Ok(raw) => raw,
            Err(e) => {
                return Reply::new(502)
                    .body(format!("backend {}: {e}\n", self.backend))
                    .into();
            }
        };
        let bearer = req
            .header("Authorization")
            .is_some_and(|v| v.starts_with("Bearer "));
        let Ok(resp) = http::parse_response(&raw) else {
            return Answer::Raw(raw);
        };
        if resp.status != 401 || !bearer || resp.body.is_empty() {
            return Answer::Raw(raw);
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&resp.body) else {
            return Answer::Raw(raw);
        };
        if let Some(errors) = body["errors"].as_array_mut() {
            for e in errors {
                if e["code"] == "UNAUTHORIZED" {
                    e["message"] = ACR_AUTHORIZATION.into();
                }
            }
        }
        let mut reply = Reply::new(401).body(body.to_string());
        for (k, v) in resp.headers {
            let lower = k.to_ascii_lowercase();
            if lower != "content-length" && lower != "connection" {
                reply = reply.header(&k, &v);
            }
        }
        reply.into()
    }
}

fn imds_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// The IMDS identity endpoint for [`IDENTITIES`] (no system-assigned
/// identity), recording each request.
pub fn imds(recorder: Recorder) -> Handler {
    Arc::new(move |req: &Request| -> Answer {
        let (reply, who) = imds_answer(req);
        let answer = Answer::Reply(reply);
        recorder.record(req, &answer, who);
        answer
    })
}

fn imds_answer(req: &Request) -> (Reply, Option<&'static str>) {
    if req.path() != IMDS_TOKEN_PATH {
        return (imds_error(404, "not_found", "Not found"), None);
    }
    if req.header("Metadata") != Some("true") {
        return (
            imds_error(
                400,
                "bad_request_102",
                "Required metadata header not specified",
            ),
            None,
        );
    }
    if req.method != "GET" {
        return (
            imds_error(405, "method_not_allowed", "Method not allowed"),
            None,
        );
    }
    let query = req.query();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("api-version").is_none() {
        return (
            imds_error(
                400,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            ),
            None,
        );
    }
    let Some(resource) = get("resource") else {
        return (
            imds_error(
                400,
                "invalid_request",
                "Required query variable 'resource' is missing",
            ),
            None,
        );
    };
    let Some(audience) = Audience::from_resource(resource) else {
        let text = format!(
            "AADSTS500011: The resource principal named {resource} was not found in the tenant \
             named {TENANT_ID}."
        );
        return (imds_error(400, "invalid_resource", &text), None);
    };
    let mi = if let Some(id) = get("client_id") {
        IDENTITIES
            .iter()
            .find(|mi| mi.client_id.eq_ignore_ascii_case(id))
    } else if let Some(id) = get("object_id") {
        IDENTITIES
            .iter()
            .find(|mi| mi.object_id.eq_ignore_ascii_case(id))
    } else if let Some(id) = get("msi_res_id").or(get("mi_res_id")) {
        IDENTITIES
            .iter()
            .find(|mi| mi.resource_id().eq_ignore_ascii_case(id))
    } else {
        // No system-assigned identity on this "VM".
        None
    };
    let Some(mi) = mi else {
        return (
            imds_error(400, "invalid_request", "Identity not found"),
            None,
        );
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({
        "access_token": mi.aad_token(audience),
        "client_id": mi.client_id,
        "expires_in": "86399",
        "expires_on": (now + 86_399).to_string(),
        "ext_expires_in": "86399",
        "not_before": (now - 300).to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    (Reply::json(200, &body), Some(mi.name))
}

/// The standard world's Azure hosts; `ip` maps a last octet to 10.77.0.x.
pub fn standard_hosts(ip: fn(u8) -> Ipv4Addr) -> Vec<Host> {
    let backend = SocketAddr::new(ip(52).into(), 5000);
    let mut imds_down = Host::nothing("imds-down", ip(55));
    imds_down.port = 80;
    imds_down.dns = Dns::Hidden;
    vec![
        front_host("acr.test", ip(50), backend, AcrPolicy::default()),
        backend_host("acr-backend.test", ip(52), backend.port(), "acr.test"),
        firewall_host("acrfw.test", ip(51)),
        imds_host("imds", IMDS_IP, 80),
        imds_down,
    ]
}
