//! Registries' own error answers, read in one place: distribution's error
//! envelope (`{"errors":[{code,message,detail}]}`), Docker Hub's `details`,
//! `OAuth2`'s `error`/`error_description`, and which contract code an
//! unsuccessful manifest or blob answer earns.
//!
//! Pure functions over a body and a status: no network, no secret in what
//! they return (a credential echoed by a token service is scrubbed first).

use super::challenge::Challenge;
use super::result::RegistryErrorFacts;
use crate::code::Code;
use crate::target::Credential;
use serde_json::Value;

/// A short, printable excerpt of a (non-secret) body for summaries.
#[must_use]
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > max {
        format!("{}...", one_line.chars().take(max).collect::<String>())
    } else {
        one_line
    }
}

/// One entry of distribution's error envelope `{"errors":[{code,message,detail}]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryError {
    pub code: String,
    pub message: String,
}

impl RegistryError {
    /// As a report shows it.
    #[must_use]
    pub fn facts(&self) -> RegistryErrorFacts {
        RegistryErrorFacts {
            code: self.code.clone(),
            message: self.message.clone(),
        }
    }
}

/// Every error as a report shows it.
#[must_use]
pub fn facts(errors: &[RegistryError]) -> Vec<RegistryErrorFacts> {
    errors.iter().map(RegistryError::facts).collect()
}

/// The client address ACR's firewall names in its refusal (`403 DENIED`
/// "client with IP '203.0.113.7' is not allowed access. Refer
/// <https://aka.ms/acr/firewall> to grant access."), if this is one.
#[must_use]
pub fn ip_not_allowed(errors: &[RegistryError]) -> Option<String> {
    errors.iter().find_map(|e| {
        let rest = e.message.split_once("client with IP '")?.1;
        let (ip, after) = rest.split_once('\'')?;
        after
            .trim_start()
            .starts_with("is not allowed")
            .then(|| ip.to_owned())
    })
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
    if let Some(ip) = ip_not_allowed(errors) {
        return (
            Code::IpNotAllowed,
            format!("the registry refuses this node's address {ip} reading {repo}{quoted}"),
        );
    }
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

/// Replace any occurrence of the credential's secret in text a server sent
/// back, before quoting it (a token service might echo a form field).
#[must_use]
pub fn scrub(text: &str, cred: Option<&Credential>) -> String {
    match cred {
        Some(c) => {
            let (_, s) = c.user_and_secret();
            if s.is_empty() {
                text.to_owned()
            } else {
                text.replace(s.expose(), "(redacted)")
            }
        }
        None => text.to_owned(),
    }
}

/// The message an error body carries: distribution's `errors[]`, Docker Hub's
/// `details`, `OAuth2`'s `error`/`error_description`.
#[must_use]
pub fn error_message(body: &[u8], cred: Option<&Credential>) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let msg = if let Some(errs) = parse_errors(body) {
        errs.iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    } else if let Some(d) = v.get("details").and_then(Value::as_str) {
        d.to_owned()
    } else if let Some(e) = v.get("error").and_then(Value::as_str) {
        match v.get("error_description").and_then(Value::as_str) {
            Some(d) => format!("{e}: {d}"),
            None => e.to_owned(),
        }
    } else {
        return None;
    };
    Some(snippet(scrub(&msg, cred).as_bytes(), 200))
}

#[cfg(test)]
mod tests {
    use super::super::challenge;
    use super::*;

    type Case<'a> = (
        u16,
        Vec<RegistryError>,
        &'a [Challenge],
        bool,
        Code,
        &'a str,
    );

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
    fn acr_firewall_refusal_names_the_address() {
        let errors = parse_errors(
            br#"{"errors":[{"code":"DENIED","message":"client with IP '203.0.113.7' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}"#,
        )
        .unwrap();
        assert_eq!(ip_not_allowed(&errors).as_deref(), Some("203.0.113.7"));
        let (code, summary) = classify(403, &errors, &[], true, "app", "1");
        assert_eq!(code, Code::IpNotAllowed);
        assert!(summary.contains("203.0.113.7"), "{summary}");
        let denied = parse_errors(br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#).unwrap();
        assert_eq!(ip_not_allowed(&denied), None);
    }
}
