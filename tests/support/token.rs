//! A token issuer that does what real ones (Docker Hub, Harbor) do:
//! `GET ?service=&scope=` with optional Basic credentials and the `OAuth2`
//! `POST grant_type=password` form, answering `{"token", "access_token"}`
//! with an ES256 JWT that the distribution registry verifies through the
//! `x5c` chain against its `rootcertbundle` (see distribution's
//! `registry/auth/token/token.go`). [`Signer`] mints those JWTs for every
//! token service of the bed (this issuer, the ACR-like front).
//!
//! Besides `/token` it serves two broken realms for the `AUTH_ERROR` faults:
//! `/error` (500) and `/garbage` (200 with a body that is not JSON).
//! [`plain_realm`] is the same issuer for a realm on plain HTTP that records
//! whether a credential reached it and grants anonymous access only.
//!
//! Tokens it hands out are registered as secrets (see `record::Secrets`) so
//! tests can look for them in outputs; nothing here logs a token.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use super::http::{Answer, Handler, Reply, Request};
use super::pki::Leaf;
use super::record::{Recorder, Secrets};

/// The `issuer` every registry of the bed is configured with.
pub const ISSUER: &str = "rpt-issuer";

/// May pull and push everywhere; also in every htpasswd file.
pub const PULLER: (&str, &str) = ("alice", "alice-pw");
/// Valid credentials, but the tokens it gets grant nothing (`access: []`).
pub const NO_PULL: (&str, &str) = ("bob", "bob-pw");

/// Anonymous users may pull repositories under this prefix, and only those.
pub const PUBLIC_PREFIX: &str = "public/";

/// Form fields and query parameters whose values are secrets: recorded by
/// name only.
pub const SECRET_FIELDS: &[&str] = &["password", "refresh_token", "access_token", "client_secret"];

/// Signs registry tokens with the bed's token signing key.
#[derive(Clone)]
pub struct Signer {
    key: Arc<EcdsaKeyPair>,
    x5c: String,
    secrets: Secrets,
}

impl Signer {
    /// A signer with `signer`'s key (chained to the token CA); every token
    /// it signs is added to `secrets`.
    pub fn new(signer: &Leaf, secrets: Secrets) -> Signer {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &signer.key_der,
            &SystemRandom::new(),
        )
        .expect("token signing key");
        Signer {
            key: Arc::new(key),
            x5c: STANDARD.encode(signer.chain_der[0].as_ref()),
            secrets,
        }
    }

    /// A JWT for `subject` with audience `audience` granting `access`
    /// (`[{"type", "name", "actions"}]`), valid for five minutes.
    pub fn sign(&self, subject: &str, audience: &str, access: &[Value]) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = json!({
            "iss": ISSUER, "sub": subject, "aud": audience,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("rpt-{now}-{}", random_hex(8)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("sign token");
        let jwt = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        );
        self.secrets.add(&jwt);
        jwt
    }
}

/// `n` random bytes as hex, for nonces and opaque tokens.
pub fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = vec![0u8; n];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Puller,
    NoPull,
}

/// The issuer's HTTP handler, signing with `signer`.
pub fn issuer(signer: Signer) -> Handler {
    Arc::new(move |req: &Request| -> Answer {
        match req.path() {
            "/token" => token(req, &signer, false),
            "/error" => Reply::new(500).body("internal error\n").into(),
            "/garbage" => Reply::new(200)
                .header("Content-Type", "text/html")
                .body("<html><body>Welcome to our portal</body></html>")
                .into(),
            _ => Reply::new(404).into(),
        }
    })
}

/// A `/token` realm for plain HTTP: it records every request (which
/// `Authorization` scheme, which form fields) and grants what an anonymous
/// user may have whatever credentials arrive, so a pull through it works
/// for `public/*` only and the record alone tells whether a client sent a
/// credential in clear text.
pub fn plain_realm(signer: Signer, recorder: Recorder) -> Handler {
    Arc::new(move |req: &Request| -> Answer {
        let answer = match req.path() {
            "/token" => token(req, &signer, true),
            _ => Reply::new(404).into(),
        };
        recorder.record(req, &answer, None);
        answer
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

/// The `user:password` of an `Authorization: Basic` header.
pub fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.header("Authorization")?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The `scope` values of a token request: repeated parameters, each of
/// which may hold several scopes joined by spaces (`OAuth2`, containerd).
pub fn scopes(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn token(req: &Request, signer: &Signer, anonymous_only: bool) -> Answer {
    let (user, service, scopes) = if req.method == "POST" {
        let form = req.form();
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if get("grant_type").as_deref() != Some("password") && !anonymous_only {
            return Reply::json(400, &json!({"error": "unsupported_grant_type"})).into();
        }
        let user = get("username").zip(get("password"));
        (
            user,
            get("service").unwrap_or_default(),
            self::scopes(&form),
        )
    } else {
        let query = req.query();
        let service = query
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        (basic_credentials(req), service, self::scopes(&query))
    };
    let who = if anonymous_only {
        Who::Anonymous
    } else {
        let Some(who) = who(user) else {
            return Reply::json(401, &json!({"details": "incorrect username or password"}))
                .header("WWW-Authenticate", "Basic realm=\"rpt\"")
                .into();
        };
        who
    };
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|scope| grant(who, scope))
        .collect();
    let subject = match who {
        Who::Anonymous => "",
        Who::Puller => PULLER.0,
        Who::NoPull => NO_PULL.0,
    };
    let jwt = signer.sign(subject, &service, &access);
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
    let (kind, name, wanted) = parse_scope(scope)?;
    let granted: Vec<&str> = match who {
        Who::Puller => wanted,
        Who::Anonymous if name.starts_with(PUBLIC_PREFIX) => {
            wanted.into_iter().filter(|a| *a == "pull").collect()
        }
        Who::Anonymous | Who::NoPull => Vec::new(),
    };
    access_entry(kind, name, &granted)
}

/// `type:name:actions` split into its parts (the name may hold colons,
/// e.g. a registry with a port).
pub fn parse_scope(scope: &str) -> Option<(&str, &str, Vec<&str>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((kind, name, actions.split(',').collect()))
}

/// One `access` claim entry, or `None` when nothing is granted.
pub fn access_entry(kind: &str, name: &str, actions: &[&str]) -> Option<Value> {
    (!actions.is_empty()).then(|| json!({"type": kind, "name": name, "actions": actions}))
}
