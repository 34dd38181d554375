//! A `--registry` value: `HOST[:PORT]`, optionally written with `http://`
//! or `https://`, validated with the host grammar image references use
//! ([`crate::reference`]). What the user asked to probe, before any config
//! says how.

use super::Scheme;
use crate::reference::is_dns_name;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A validated `--registry` value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistryHost {
    /// Set only when the value was written with `http://` or `https://`.
    pub scheme: Option<Scheme>,
    /// Host name (lower-cased) or IP literal, IPv6 without brackets.
    pub host: String,
    pub port: Option<u16>,
}

impl RegistryHost {
    /// `host[:port]` as in an image reference's domain (IPv6 bracketed).
    #[must_use]
    pub fn domain(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }
}

impl fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.scheme {
            write!(f, "{}://", s.as_str())?;
        }
        f.write_str(&self.domain())
    }
}

/// Why a `--registry` value is not a `HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid registry {input:?}: {reason}")]
pub struct RegistryHostError {
    pub input: String,
    pub reason: String,
}

/// Validate a `--registry HOST[:PORT]` value: a DNS name, an IPv4 address or
/// a bracketed IPv6 address, an optional port 1-65535, and optionally an
/// `http://`/`https://` prefix. No path (a single trailing `/` is tolerated).
pub fn registry_host(s: &str) -> Result<RegistryHost, RegistryHostError> {
    let err = |reason: String| RegistryHostError {
        input: s.to_owned(),
        reason,
    };
    let lower = s.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        (Some(Scheme::Https), &s[8..])
    } else if lower.starts_with("http://") {
        (Some(Scheme::Http), &s[7..])
    } else if let Some((scheme, _)) = s.split_once("://") {
        return Err(err(format!("the scheme {scheme:?} is not http or https")));
    } else {
        (None, s)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if let Some((authority, path)) = rest.split_once('/') {
        return Err(err(format!(
            "a registry is HOST[:PORT], without a path: drop `/{path}` (to probe an image, use --image {authority}/{path})"
        )));
    }
    if rest.contains(['@', '?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(err(
            "a registry is HOST[:PORT]: no user, query, fragment or spaces".to_owned(),
        ));
    }
    let (host, port) = if let Some(after) = rest.strip_prefix('[') {
        let Some((inside, tail)) = after.split_once(']') else {
            return Err(err("missing `]` after the IPv6 address".to_owned()));
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(err(format!("{inside:?} is not an IPv6 address")));
        }
        let port = match tail {
            "" => None,
            t => match t.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err(err(format!("unexpected {t:?} after `]`"))),
            },
        };
        (inside.to_ascii_lowercase(), port)
    } else {
        match rest.matches(':').count() {
            0 => (rest.to_ascii_lowercase(), None),
            1 => {
                let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
                (h.to_ascii_lowercase(), Some(p))
            }
            _ if rest.parse::<Ipv6Addr>().is_ok() => {
                return Err(err(format!("write an IPv6 address in brackets: [{rest}]")));
            }
            _ => return Err(err("too many `:`".to_owned())),
        }
    };
    if host.is_empty() {
        return Err(err("the host is empty".to_owned()));
    }
    if !host.contains(':') && host.parse::<Ipv4Addr>().is_err() && !is_dns_name(&host) {
        return Err(err(format!(
            "{host:?} is not a host name: labels of letters, digits and inner `-`, separated by `.`"
        )));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(err(format!(
                    "the port {p:?} is not a number from 1 to 65535"
                )));
            }
        },
    };
    Ok(RegistryHost { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_host_values() {
        let ok = |s: &str| registry_host(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok("myreg.azurecr.io"),
            RegistryHost {
                scheme: None,
                host: "myreg.azurecr.io".into(),
                port: None
            }
        );
        assert_eq!(
            ok("Reg.Example.COM:5000").to_string(),
            "reg.example.com:5000"
        );
        assert_eq!(ok("https://reg.test/").scheme, Some(Scheme::Https));
        assert_eq!(
            ok("HTTP://localhost:5000"),
            RegistryHost {
                scheme: Some(Scheme::Http),
                host: "localhost".into(),
                port: Some(5000)
            }
        );
        assert_eq!(ok("10.0.0.1:443").port, Some(443));
        let v6 = ok("[2001:db8::1]:5000");
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", Some(5000)));
        assert_eq!(v6.domain(), "[2001:db8::1]:5000");
        assert_eq!(ok("[::1]").port, None);

        for (bad, why) in [
            ("", "empty"),
            ("reg.test:0", "port"),
            ("reg.test:65536", "port"),
            ("reg.test:+80", "port"),
            ("reg.test:", "port"),
            ("https://index.docker.io/v1/", "without a path"),
            ("myreg.io/app", "--image myreg.io/app"),
            ("ftp://reg.test", "scheme"),
            ("2001:db8::1", "brackets"),
            ("[2001:db8::zz]:5000", "IPv6"),
            ("[::1", "]"),
            ("reg_underscore.test", "not a host name"),
            ("-reg.test", "not a host name"),
            ("user@reg.test", "no user"),
        ] {
            let e = registry_host(bad).expect_err(bad);
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }
}
