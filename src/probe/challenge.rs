//! `WWW-Authenticate` challenges, parsed exactly as containerd does
//! (`core/remotes/docker/auth/parse.go`, itself a copy of distribution's
//! `registry/client/auth/challenge/authchallenge.go`).
//!
//! The grammar is RFC 2616/7235's token / quoted-string with backslash
//! escapes. Like containerd, each header *value* yields at most one
//! challenge: a proxy that folds `Basic ..., Bearer ...` into one value makes
//! containerd see only the first scheme, and we must see what it sees.
//! Unknown schemes are dropped; the rest are ordered bearer > digest > basic
//! (stable), which is the order containerd's authorizer picks from.
//!
//! This module only parses; it never decides a verdict and never touches the
//! network. Challenge parameters are not secret (realm, service, scope, error).

use super::result::ChallengeFacts;
use std::collections::BTreeMap;

/// The schemes containerd knows, in its priority order (highest last here,
/// as in Go's bit values: basic=1, digest=2, bearer=4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthScheme {
    Basic,
    Digest,
    Bearer,
}

impl AuthScheme {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Basic => "basic",
            AuthScheme::Digest => "digest",
            AuthScheme::Bearer => "bearer",
        }
    }
}

/// One challenge from a `WWW-Authenticate` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: AuthScheme,
    /// Parameter names lower-cased, values unescaped.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    #[must_use]
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// The facts a report may show: scheme, realm, service, scope, error.
    #[must_use]
    pub fn facts(&self) -> ChallengeFacts {
        let p = |k: &str| self.param(k).map(str::to_owned);
        ChallengeFacts {
            scheme: self.scheme.as_str(),
            realm: p("realm"),
            service: p("service"),
            scope: p("scope"),
            error: p("error"),
        }
    }
}

/// Parse every `WWW-Authenticate` value of a response (containerd's
/// `ParseAuthHeader`): one challenge per value, unknown schemes dropped,
/// sorted bearer > digest > basic, stable otherwise.
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = values
        .into_iter()
        .filter_map(|v| {
            let (scheme, params) = parse_value_and_params(v);
            let scheme = match scheme.as_str() {
                "basic" => AuthScheme::Basic,
                "digest" => AuthScheme::Digest,
                "bearer" => AuthScheme::Bearer,
                _ => return None,
            };
            Some(Challenge { scheme, params })
        })
        .collect();
    // `sort_by_key` is stable, as Go's `sort.Stable`.
    out.sort_by_key(|c| std::cmp::Reverse(c.scheme));
    out
}

/// The challenges of a response's headers.
#[must_use]
pub fn from_headers(headers: &http::HeaderMap) -> Vec<Challenge> {
    parse_all(
        headers
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_token(b: u8) -> bool {
    // token = 1*<any CHAR except CTLs or separators> (RFC 2616 2.2).
    b.is_ascii() && b > 31 && b != 127 && !b" \t\"(),/:;<=>?@[]\\{}".contains(&b)
}

fn skip_space(s: &[u8]) -> &[u8] {
    let i = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    &s[i..]
}

fn expect_token(s: &[u8]) -> (&[u8], &[u8]) {
    let i = s.iter().position(|&b| !is_token(b)).unwrap_or(s.len());
    (&s[..i], &s[i..])
}

/// A token or a quoted string with `\` escapes; an unterminated quoted string
/// yields an empty value and nothing left, as in parse.go.
fn expect_token_or_quoted(s: &[u8]) -> (Vec<u8>, &[u8]) {
    let Some(rest) = s.strip_prefix(b"\"") else {
        let (t, r) = expect_token(s);
        return (t.to_vec(), r);
    };
    let mut out = Vec::new();
    let mut escape = false;
    for (i, &b) in rest.iter().enumerate() {
        if escape {
            escape = false;
            out.push(b);
        } else if b == b'\\' {
            escape = true;
        } else if b == b'"' {
            return (out, &rest[i + 1..]);
        } else {
            out.push(b);
        }
    }
    (Vec::new(), &[])
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// parse.go's `parseValueAndParams`: scheme, then `key=value` pairs separated
/// by commas; parsing stops silently at the first thing that does not fit.
fn parse_value_and_params(header: &str) -> (String, BTreeMap<String, String>) {
    let mut params = BTreeMap::new();
    let (value, mut s) = expect_token(header.as_bytes());
    if value.is_empty() {
        return (String::new(), params);
    }
    let value = lossy(value).to_ascii_lowercase();
    loop {
        let (key, rest) = expect_token(skip_space(s));
        if key.is_empty() {
            break;
        }
        let Some(rest) = rest.strip_prefix(b"=") else {
            break;
        };
        let (pvalue, rest) = expect_token_or_quoted(rest);
        params.insert(lossy(key).to_ascii_lowercase(), lossy(&pvalue));
        let rest = skip_space(rest);
        let Some(rest) = rest.strip_prefix(b",") else {
            break;
        };
        s = rest;
    }
    (value, params)
}

/// The challenge containerd's authorizer acts on (`AddResponses`): the first
/// bearer challenge; else basic, but only when credentials are configured.
#[must_use]
pub fn choose(challenges: &[Challenge], have_credentials: bool) -> Option<&Challenge> {
    challenges.iter().find(|c| match c.scheme {
        AuthScheme::Bearer => true,
        AuthScheme::Basic => have_credentials,
        AuthScheme::Digest => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// containerd `parse_test.go` `TestParseAuthHeaderBearer`.
    #[test]
    fn containerd_parse_auth_header_bearer() {
        let table = [
            (
                "SingleScope",
                "https://auth.docker.io/token",
                "registry.docker.io",
                "repository:foo/bar:pull,push",
            ),
            (
                "MultipleScopes",
                "https://auth.docker.io/token",
                "registry.docker.io",
                "repository:foo/bar:pull,push repository:foo/baz:pull repository:foo/foo:push",
            ),
        ];
        for (name, realm, service, scope) in table {
            let h = format!(r#"Bearer realm="{realm}",service="{service}",scope="{scope}""#);
            let got = parse_all([h.as_str()]);
            let want = vec![Challenge {
                scheme: AuthScheme::Bearer,
                params: params(&[("realm", realm), ("service", service), ("scope", scope)]),
            }];
            assert_eq!(got, want, "{name}");
        }
    }

    /// containerd `parse_test.go` `TestParseAuthHeader`: empty quoted values are kept.
    #[test]
    fn containerd_parse_auth_header_empty_value() {
        let v = r#"Bearer realm="https://auth.example.io/token",empty="",service="registry.example.io",scope="repository:library/hello-world:pull,push""#;
        let c = parse_all([v]);
        assert_eq!(c[0].param("empty"), Some(""));
        assert_eq!(c[0].param("service"), Some("registry.example.io"));
    }

    /// distribution `authchallenge_test.go` `TestAuthChallengeParse`:
    /// unquoted values and backslash escapes.
    #[test]
    fn distribution_auth_challenge_parse() {
        let v = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",other=fun,slashed="he\"\l\lo""#;
        let c = parse_all([v]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, AuthScheme::Bearer);
        assert_eq!(c[0].param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(c[0].param("service"), Some("registry.example.com"));
        assert_eq!(c[0].param("other"), Some("fun"));
        assert_eq!(c[0].param("slashed"), Some("he\"llo"));
    }

    /// distribution `authchallenge_test.go` `TestFilteringManager`'s header pair:
    /// two values, two challenges, in order.
    #[test]
    fn distribution_two_bearer_values_keep_order() {
        let c = parse_all([
            r#"Bearer realm="https://auth.example.com/token",service="keep.example.com""#,
            r#"Bearer realm="https://evil.example.net/token",service="drop.example.net""#,
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("service"), Some("keep.example.com"));
        assert_eq!(
            choose(&c, false).unwrap().param("service"),
            Some("keep.example.com")
        );
    }

    #[test]
    fn bearer_sorted_before_basic_and_unknown_dropped() {
        let c = parse_all([
            r#"Basic realm="Registry Realm""#,
            "Negotiate abc",
            r#"Bearer realm="https://a/token""#,
        ]);
        assert_eq!(
            c.iter().map(|c| c.scheme).collect::<Vec<_>>(),
            [AuthScheme::Bearer, AuthScheme::Basic]
        );
        let basic_only = parse_all([r#"Basic realm="x""#]);
        assert!(
            choose(&basic_only, false).is_none(),
            "basic needs credentials"
        );
        assert_eq!(choose(&basic_only, true).unwrap().scheme, AuthScheme::Basic);
    }

    #[test]
    fn scheme_and_keys_case_insensitive_missing_service() {
        let c = parse_all([r#"BEARER Realm="https://r/token""#]);
        assert_eq!(c[0].scheme, AuthScheme::Bearer);
        assert_eq!(c[0].param("realm"), Some("https://r/token"));
        assert_eq!(c[0].param("service"), None);
    }

    #[test]
    fn folded_value_yields_first_challenge_only_like_containerd() {
        let c = parse_all([r#"Basic realm="a", Bearer realm="b""#]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, AuthScheme::Basic);
        assert_eq!(c[0].param("realm"), Some("a"));
    }

    #[test]
    fn malformed_values_do_not_panic() {
        for v in [
            "",
            " ",
            "Bearer",
            "Bearer realm",
            "Bearer realm=\"unterminated",
            "Bearer =x",
            "Bearer realm=\"a\\",
            "\u{e9}\u{e9}",
        ] {
            let _ = parse_all([v]);
        }
        let c = parse_all(["Bearer realm=\"unterminated"]);
        assert_eq!(c[0].param("realm"), Some(""));
        let c = parse_all([r#"Bearer realm="https://r/t",error="insufficient_scope""#]);
        assert_eq!(c[0].facts().error.as_deref(), Some("insufficient_scope"));
    }

    /// Issue 4: no `WWW-Authenticate` value makes the parser panic or take long.
    mod props {
        use super::super::*;
        use proptest::prelude::*;
        use std::time::{Duration, Instant};

        const SEEDS: &[&str] = &[
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:foo/bar:pull,push""#,
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",other=fun,slashed="he\"\l\lo""#,
            r#"Basic realm="Registry Realm", Bearer realm="b""#,
            r#"Bearer realm="https://r/t",error="insufficient_scope",empty="""#,
        ];

        fn exercise(values: &[&str]) {
            let start = Instant::now();
            let all = parse_all(values.iter().copied());
            assert_sorted(&all);
            let _ = choose(&all, true);
            let _ = choose(&all, false);
            for c in &all {
                let _ = c.facts();
            }
            let mut headers = http::HeaderMap::new();
            for v in values {
                if let Ok(v) = http::HeaderValue::from_str(v) {
                    headers.append(http::header::WWW_AUTHENTICATE, v);
                }
            }
            let _ = from_headers(&headers);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "slow on {values:?}"
            );
        }

        fn assert_sorted(all: &[Challenge]) {
            assert!(
                all.windows(2).all(|w| w[0].scheme >= w[1].scheme),
                "{all:?}"
            );
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_values_never_panic(values in prop::collection::vec("(?s).{0,200}", 0..4)) {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                exercise(&values);
            }

            /// The header grammar's own characters, so parsing goes deep.
            #[test]
            fn grammar_shaped_values_never_panic(values in prop::collection::vec(
                "(Bearer|Basic|Digest|bEaReR|x)?[ a-z=,\"\\\\]{0,120}", 0..4)) {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                exercise(&values);
            }

            #[test]
            fn damaged_seeds_never_panic(
                which in 0..SEEDS.len(),
                at in any::<prop::sample::Index>(),
                ch in prop_oneof![any::<char>(), prop::sample::select(vec!['"', '\\', ',', '=', ' '])],
                cut in any::<prop::sample::Index>(),
                repeat in 1usize..500,
            ) {
                let mut chars: Vec<char> = SEEDS[which].chars().collect();
                let i = at.index(chars.len());
                chars[i] = ch;
                let damaged: String = chars.iter().collect();
                chars.truncate(cut.index(chars.len() + 1));
                let cut: String = chars.iter().collect();
                let long = format!("Bearer {}", "a=\"b\\\"\",".repeat(repeat));
                exercise(&[&damaged, &cut, &long]);
            }
        }
    }
}
