//! Registry credentials written as `username`/`password`/`auth`/
//! `identitytoken`, and the one decoder of the `auth` field (base64 of
//! `user:password`) for every place that has one: containerd's and k3s's
//! `configs."<host>".auth`, and the docker config a pull secret or the
//! kubelet's `config.json` holds.
//!
//! Two runtimes read the field, with different rules ([`AuthRules`]):
//!
//! * **containerd** (`ParseAuth` in `internal/cri/server/images/image_pull.go`,
//!   the same since `pkg/cri/server/image_pull.go` in 1.5): Go's
//!   `base64.StdEncoding.Decode` into a buffer of `DecodedLen(len(auth))`
//!   bytes, so padding is required and the buffer's unused tail stays NUL;
//!   `strings.Cut` at the first `:`; `strings.Trim(passwd, "\x00")` drops
//!   those NULs, and any NUL the password itself starts or ends with.
//!   k3s has no decoder of its own: it writes `registries.yaml`'s `auth`
//!   verbatim into containerd's `config.toml` (`pkg/agent/templates`,
//!   `auth = {{ printf "%q" $v.Auth.Auth }}`), so containerd's rules apply.
//! * **the kubelet** (`decodeDockerConfigFieldAuth` in
//!   `pkg/credentialprovider/config.go`): `StdEncoding` when the field, with
//!   surrounding white space trimmed, ends in `=`, else `RawStdEncoding`
//!   (unpadded); split at the first `:`; nothing trimmed.
//!
//! Both: Go's decoder skips `\r` and `\n` anywhere and refuses any other
//! white space; it accepts non-zero trailing bits (its encodings are not
//! `Strict`). Go keeps decoded bytes that are not UTF-8; a [`Secret`] holds
//! text, so such a field is [`AuthFieldError::NotText`] here, the one place
//! where this decoder and the runtimes part.
//!
//! Nothing here reads files, and no error message quotes the field or what
//! it decodes to.

use crate::secret::Secret;
use crate::target::{Credential, CredentialSecret};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::fmt;

/// Whose rules an `auth` field is decoded by (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRules {
    /// containerd's CRI `ParseAuth`, also for k3s's `registries.yaml`.
    Containerd,
    /// The kubelet's `decodeDockerConfigFieldAuth`, for docker configs.
    Kubelet,
}

/// Why an `auth` field gives no credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFieldError {
    /// Not base64 under the runtime's padding rules.
    NotBase64,
    /// Decodes to bytes that are not UTF-8; the runtime would send them, regprobe cannot.
    NotText,
    /// Decodes to text without a `:`.
    NoColon,
}

impl AuthFieldError {
    /// Whether the runtime itself fails on the field (it does not on [`Self::NotText`]).
    #[must_use]
    pub fn runtime_fails(self) -> bool {
        self != AuthFieldError::NotText
    }
}

impl fmt::Display for AuthFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFieldError::NotBase64 => "is not valid base64",
            AuthFieldError::NotText => {
                "decodes to bytes that are not UTF-8 text, which regprobe cannot send"
            }
            AuthFieldError::NoColon => {
                "does not decode to user:password (it must be base64(username:password))"
            }
        })
    }
}

impl std::error::Error for AuthFieldError {}

/// Decode an `auth` field into user and password by `rules`.
pub fn decode(field: &str, rules: AuthRules) -> Result<(String, Secret), AuthFieldError> {
    // Go's base64 decoder skips CR and LF wherever they are.
    let cleaned: Vec<u8> = field
        .bytes()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let padded = match rules {
        AuthRules::Containerd => true,
        AuthRules::Kubelet => field.trim().ends_with('='),
    };
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(if padded {
                DecodePaddingMode::RequireCanonical
            } else {
                DecodePaddingMode::RequireNone
            }),
    );
    let bytes = engine
        .decode(cleaned)
        .map_err(|_| AuthFieldError::NotBase64)?;
    let text = String::from_utf8(bytes).map_err(|_| AuthFieldError::NotText)?;
    let (user, pass) = text.split_once(':').ok_or(AuthFieldError::NoColon)?;
    let pass = match rules {
        AuthRules::Containerd => pass.trim_matches('\0'),
        AuthRules::Kubelet => pass,
    };
    Ok((user.to_owned(), Secret::new(pass)))
}

/// `configs."<host>".auth` as containerd's CRI plugin holds it, from its
/// `config.toml` or from k3s's `registries.yaml`. Every value but the user
/// name is secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: String,
    pub password: Secret,
    /// base64 of `user:password`.
    pub auth: Secret,
    pub identity_token: Secret,
    /// The 1-based line of the `auth` table, where the format gives one.
    pub line: Option<usize>,
}

impl AuthConfig {
    /// containerd's `ParseAuth` order: username and password, else the
    /// identity token, else the `auth` field; `None` when all are empty.
    pub fn credential(&self, source: String) -> Result<Option<Credential>, AuthFieldError> {
        let secret = if !self.username.is_empty() {
            CredentialSecret::Basic {
                username: self.username.clone(),
                password: self.password.clone(),
            }
        } else if !self.identity_token.is_empty() {
            CredentialSecret::IdentityToken {
                username: String::new(),
                token: self.identity_token.clone(),
            }
        } else if !self.auth.is_empty() {
            let (username, password) = decode(self.auth.expose(), AuthRules::Containerd)?;
            CredentialSecret::Basic { username, password }
        } else {
            return Ok(None);
        };
        Ok(Some(Credential::new(secret, source)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(field: &str, rules: AuthRules) -> (String, String) {
        let (u, p) = decode(field, rules).unwrap_or_else(|e| panic!("{field:?}: {e}"));
        (u, p.expose().to_owned())
    }

    fn s(u: &str, p: &str) -> (String, String) {
        (u.to_owned(), p.to_owned())
    }

    #[test]
    fn both_runtimes_agree_on_plain_fields() {
        for rules in [AuthRules::Containerd, AuthRules::Kubelet] {
            // "joejoe:hello", "foo:bar", and a password holding a colon.
            assert_eq!(ok("am9lam9lOmhlbGxv", rules), s("joejoe", "hello"));
            assert_eq!(ok("Zm9vOmJhcg==", rules), s("foo", "bar"));
            assert_eq!(ok("dTpwOnE=", rules), s("u", "p:q"));
            // Go skips CR and LF anywhere, also in a YAML block scalar's last line.
            assert_eq!(ok("Zm9vOmJh\r\ncg==\n", rules), s("foo", "bar"));
            // Non-zero trailing bits: Go's non-strict decoder takes them.
            assert_eq!(ok("Zm9vOmJhch==", rules), s("foo", "bar"));
            for bad in ["!!!", "Zm9v OmJhcg==", " Zm9vOmJhcg==", "Zm9vOmJhcg==x"] {
                assert_eq!(
                    decode(bad, rules),
                    Err(AuthFieldError::NotBase64),
                    "{bad:?}"
                );
            }
            // "secret-no-colon"
            assert_eq!(
                decode("c2VjcmV0LW5vLWNvbG9u", rules),
                Err(AuthFieldError::NoColon)
            );
            // "u:" + 0xff
            assert_eq!(decode("dTr/", rules), Err(AuthFieldError::NotText));
        }
    }

    /// Where the two decoders differ.
    #[test]
    fn padding_and_nul_rules_differ() {
        // Unpadded "u:p:q": the kubelet takes it (RawStdEncoding), containerd refuses it.
        assert_eq!(ok("dTpwOnE", AuthRules::Kubelet), s("u", "p:q"));
        assert_eq!(
            decode("dTpwOnE", AuthRules::Containerd),
            Err(AuthFieldError::NotBase64)
        );
        // Padding with trailing white space: the kubelet picks StdEncoding
        // from the trimmed field but decodes the untrimmed one, and fails.
        assert_eq!(
            decode("Zm9vOmJhcg== ", AuthRules::Kubelet),
            Err(AuthFieldError::NotBase64)
        );
        // "u:\0pass\0": containerd trims NULs off the password's ends, the kubelet keeps them.
        assert_eq!(ok("dToAcGFzcwA=", AuthRules::Containerd), s("u", "pass"));
        assert_eq!(ok("dToAcGFzcwA=", AuthRules::Kubelet), s("u", "\0pass\0"));
        // "u\0:p": a NUL in the user name stays for both.
        assert_eq!(ok("dQA6cA==", AuthRules::Containerd), s("u\0", "p"));
    }

    #[test]
    fn errors_never_quote_the_field() {
        for e in [
            AuthFieldError::NotBase64,
            AuthFieldError::NotText,
            AuthFieldError::NoColon,
        ] {
            let m = e.to_string();
            assert!(!m.contains("c2Vj") && !m.contains("secret"), "{m}");
        }
        assert!(!AuthFieldError::NotText.runtime_fails());
        assert!(AuthFieldError::NoColon.runtime_fails());
    }

    #[test]
    fn parse_auth_order() {
        let source = || "f (configs.\"r\".auth)".to_owned();
        let all = AuthConfig {
            username: "user".into(),
            password: Secret::new("pw"),
            auth: Secret::new("Zm9vOmJhcg=="),
            identity_token: Secret::new("tok"),
            line: None,
        };
        let c = all.credential(source()).unwrap().unwrap();
        assert_eq!(c.username(), "user");
        let token = AuthConfig {
            username: String::new(),
            ..all.clone()
        };
        assert!(matches!(
            token.credential(source()).unwrap().unwrap().secret,
            CredentialSecret::IdentityToken { .. }
        ));
        let field = AuthConfig {
            identity_token: Secret::default(),
            ..token
        };
        let c = field.credential(source()).unwrap().unwrap();
        assert_eq!(
            (c.username(), c.source.as_str()),
            ("foo", "f (configs.\"r\".auth)")
        );
        assert_eq!(AuthConfig::default().credential(source()), Ok(None));
        let bad = AuthConfig {
            auth: Secret::new("!!"),
            ..AuthConfig::default()
        };
        assert_eq!(bad.credential(source()), Err(AuthFieldError::NotBase64));
    }
}
