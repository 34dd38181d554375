//! A token issuer that does what real ones (Docker Hub, Harbor, ACR) do:
//! `GET ?service=&scope=` with optional Basic credentials and the `OAuth2`
//! `POST grant_type=password` form, answering `{"token", "access_token"}`
//! with an ES256 JWT that the distribution registry verifies through the
//! `x5c` chain against its `rootcertbundle` (see distribution's
//! `registry/auth/token/token.go`).
//!
//! Besides `/token` it serves two broken realms for the `AUTH_ERROR` faults:
//! `/error` (500) and `/garbage` (200 with a body that is not JSON).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use super::http::{Answer, Handler, Reply, Request};
use super::pki::Leaf;

/// The `issuer` every registry of the bed is configured with.
pub const ISSUER: &str = "rpt-issuer";

/// May pull and push everywhere; also in every htpasswd file.
pub const PULLER: (&str, &str) = ("alice", "alice-pw");
/// Valid credentials, but the tokens it gets grant nothing (`access: []`).
pub const NO_PULL: (&str, &str) = ("bob", "bob-pw");

/// Anonymous users may pull repositories under this prefix, and only those.
pub const PUBLIC_PREFIX: &str = "public/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Puller,
    NoPull,
}

/// The issuer's HTTP handler, signing with `signer` (chained to the token CA).
pub fn issuer(signer: &Leaf) -> Handler {
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &signer.key_der,
        &SystemRandom::new(),
    )
    .expect("token signing key");
    let x5c = STANDARD.encode(signer.chain_der[0].as_ref());
    let key = Arc::new(key);
    Arc::new(move |req: &Request| -> Answer {
        match req.path() {
            "/token" => token(req, &key, &x5c),
            "/error" => Reply::new(500).body("internal error\n").into(),
            "/garbage" => Reply::new(200)
                .header("Content-Type", "text/html")
                .body("<html><body>Welcome to our portal</body></html>")
                .into(),
            _ => Reply::new(404).into(),
        }
    })
}

fn who(user: Option<(String, String)>) -> Option<Who> {
    match user {
        None => Some(Who::Anonymous),
        Some((u, p)) if (u.as_str(), p.as_str()) == PULLER => Some(Who::Puller),
        Some((u, p)) if (u.as_str(), p.as_str()) == NO_PULL => Some(Who::NoPull),
        Some(_) => None,
    }
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.header("Authorization")?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn token(req: &Request, key: &EcdsaKeyPair, x5c: &str) -> Answer {
    let (user, service, scopes) = if req.method == "POST" {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() != Some("password") {
            return Reply::json(400, &json!({"error": "unsupported_grant_type"})).into();
        }
        let user = get("username").zip(get("password"));
        // OAuth2 joins several scopes with spaces.
        let scopes = get("scope")
            .map(|s| s.split(' ').map(str::to_owned).collect())
            .unwrap_or_default();
        (user, get("service").unwrap_or_default(), scopes)
    } else {
        let query = req.query();
        let scopes: Vec<String> = query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect();
        let service = query
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        (basic_credentials(req), service, scopes)
    };
    let Some(who) = who(user) else {
        return Reply::json(401, &json!({"details": "incorrect username or password"}))
            .header("WWW-Authenticate", "Basic realm=\"rpt\"")
            .into();
    };
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|scope| grant(who, scope))
        .collect();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let subject = match who {
        Who::Anonymous => "",
        Who::Puller => PULLER.0,
        Who::NoPull => NO_PULL.0,
    };
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": service,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("rpt-{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .expect("sign token");
    let jwt = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    let issued_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format time");
    Reply::json(
        200,
        &json!({"token": jwt, "access_token": jwt, "expires_in": 300, "issued_at": issued_at}),
    )
    .into()
}

/// What `who` gets for one `type:name:actions` scope.
fn grant(who: Who, scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let wanted: Vec<&str> = actions.split(',').collect();
    let granted: Vec<&str> = match who {
        Who::Puller => wanted,
        Who::Anonymous if name.starts_with(PUBLIC_PREFIX) => {
            wanted.into_iter().filter(|a| *a == "pull").collect()
        }
        Who::Anonymous | Who::NoPull => Vec::new(),
    };
    (!granted.is_empty()).then(|| json!({"type": kind, "name": name, "actions": granted}))
}
