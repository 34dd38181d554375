//! `host[:port]` taken apart: the one place in `config/` that knows IPv6
//! brackets. Every runtime module and the `NO_PROXY` and kubelet keyring
//! matchers split through [`split`]; the two Go rules they port are thin
//! wrappers over it.
//!
//! * [`split`]: an authority as registry configs write it: `host`,
//!   `host:port`, `[v6]`, `[v6]:port`, and a bare IPv6 literal (more than one
//!   `:` and no brackets), which is all host. The port comes back unchecked.
//! * [`split_authority`]: the same with the port read as a number, which is
//!   how containerd (`url.Parse`'s `Hostname`/`Port`), CRI-O, dockerd and k3s
//!   use a registry's authority.
//! * [`go_split_host_port`]: Go's `net.SplitHostPort`, errors included
//!   (a port is required; a bare IPv6 literal has "too many colons").
//!
//! Pure functions on `&str`: no name resolution, no validation of the host
//! beyond its brackets (callers that need a grammar, like `reference.rs`'s
//! `--registry` check, apply their own).

use std::fmt;

/// Why an authority cannot be taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// `[` without a `]`.
    MissingBracket,
    /// Something other than `:port` after `]`.
    AfterBracket,
    /// A `[` or `]` anywhere else.
    StrayBracket,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitError::MissingBracket => "missing ']' in host",
            SplitError::AfterBracket => "only :port may follow ']'",
            SplitError::StrayBracket => "unexpected '[' or ']' in host",
        })
    }
}

/// Split an authority into host (IPv6 without brackets) and the raw port
/// text after the last `:` that belongs to it, if any (`host:` gives
/// `Some("")`). A bare IPv6 literal (`::1`, `fe80::1%eth0`) is all host.
pub fn split(authority: &str) -> Result<(&str, Option<&str>), SplitError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or(SplitError::MissingBracket)?;
        let (host, after) = (&rest[..end], &rest[end + 1..]);
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(SplitError::AfterBracket),
        };
        if host.contains('[') || port.is_some_and(|p| p.contains('[') || p.contains(']')) {
            return Err(SplitError::StrayBracket);
        }
        return Ok((host, port));
    }
    // One-character patterns: memchr, fast on the 200 kB labels the keyring tests feed in.
    if authority.contains('[') || authority.contains(']') {
        return Err(SplitError::StrayBracket);
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => (authority, None),
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// [`split`] with a non-empty host and the port as a number: `""` or no
/// port is `None`, anything but 1 to 5 digits up to 65535 is an error.
pub fn split_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = split(authority).map_err(|e| e.to_string())?;
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("invalid port {p:?}"))?,
        ),
        Some(p) => return Err(format!("invalid port {p:?}")),
    };
    Ok((host.to_owned(), port))
}

/// [`split_authority`] for callers that must go on with something: an
/// authority that does not split is all host, without a port.
#[must_use]
pub fn split_lenient(authority: &str) -> (String, Option<u16>) {
    split_authority(authority).unwrap_or_else(|_| (authority.to_owned(), None))
}

/// Go's `net.SplitHostPort` (`src/net/ipsock.go`): `None` where Go returns
/// an error (no port, too many colons, misplaced brackets). The port is not
/// checked, as in Go.
#[must_use]
pub fn go_split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let (host, port) = split(hostport).ok()?;
    let port = port?;
    // A bare IPv6 literal, or `[a]:b:c`: "too many colons in address".
    if port.contains(':') || (!hostport.starts_with('[') && host.contains(':')) {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split<'a> = Result<(&'a str, Option<&'a str>), SplitError>;

    #[test]
    fn split_table() {
        #[rustfmt::skip]
        let rows: &[(&str, Split)] = &[
            ("registry.test", Ok(("registry.test", None))),
            ("registry.test:5000", Ok(("registry.test", Some("5000")))),
            ("registry.test:", Ok(("registry.test", Some("")))),
            ("[::1]", Ok(("::1", None))),
            ("[::1]:5000", Ok(("::1", Some("5000")))),
            ("[fe80::1%eth0]:80", Ok(("fe80::1%eth0", Some("80")))),
            // A bare IPv6 literal is all host (net.SplitHostPort refuses it).
            ("::1", Ok(("::1", None))),
            ("2001:db8::52:0:1", Ok(("2001:db8::52:0:1", None))),
            ("[::1", Err(SplitError::MissingBracket)),
            ("[::1]x", Err(SplitError::AfterBracket)),
            ("[::1]x:80", Err(SplitError::AfterBracket)),
            ("a]b:1", Err(SplitError::StrayBracket)),
            ("[a[b]:1", Err(SplitError::StrayBracket)),
            ("[ab]:1]", Err(SplitError::StrayBracket)),
            ("", Ok(("", None))),
        ];
        for (input, want) in rows {
            assert_eq!(split(input), *want, "{input:?}");
        }
    }

    #[test]
    fn authority_ports_are_numbers() {
        assert_eq!(
            split_authority("r.test:5000"),
            Ok(("r.test".to_owned(), Some(5000)))
        );
        assert_eq!(split_authority("r.test:"), Ok(("r.test".to_owned(), None)));
        assert_eq!(
            split_authority("[::1]:443"),
            Ok(("::1".to_owned(), Some(443)))
        );
        assert_eq!(split_authority("::1"), Ok(("::1".to_owned(), None)));
        assert_eq!(
            split_authority("r.test:Port1"),
            Err("invalid port \"Port1\"".to_owned())
        );
        assert!(split_authority("r.test:65536").is_err());
        assert!(split_authority("r.test:+1").is_err());
        assert_eq!(split_authority(":5000"), Err("empty host".to_owned()));
        assert_eq!(split_authority("[]:1"), Err("empty host".to_owned()));
        assert_eq!(
            split_authority("[::1"),
            Err("missing ']' in host".to_owned())
        );
        assert_eq!(split_lenient("r.test:x"), ("r.test:x".to_owned(), None));
        assert_eq!(split_lenient("[::1]:80"), ("::1".to_owned(), Some(80)));
    }

    /// Go's `TestSplitHostPort` (`src/net/ip_test.go`), both tables.
    #[test]
    fn go_split_host_port_matches_go() {
        #[rustfmt::skip]
        let good: &[(&str, &str, &str)] = &[
            ("localhost:http", "localhost", "http"),
            ("localhost:80", "localhost", "80"),
            ("localhost%lo0:http", "localhost%lo0", "http"),
            ("localhost%lo0:80", "localhost%lo0", "80"),
            ("127.0.0.1:http", "127.0.0.1", "http"),
            ("127.0.0.1:80", "127.0.0.1", "80"),
            ("[::1]:http", "::1", "http"),
            ("[::1]:80", "::1", "80"),
            ("[::1%lo0]:http", "::1%lo0", "http"),
            ("[::1%lo0]:80", "::1%lo0", "80"),
            (":http", "", "http"),
            (":80", "", "80"),
            ("golang.org:", "golang.org", ""),
            ("127.0.0.1:", "127.0.0.1", ""),
            ("[::1]:", "::1", ""),
            ("golang.org:https%foo", "golang.org", "https%foo"),
        ];
        for (input, host, port) in good {
            assert_eq!(go_split_host_port(input), Some((*host, *port)), "{input:?}");
        }
        for bad in [
            "golang.org",
            "127.0.0.1",
            "[::1]",
            "[fe80::1%lo0]",
            "[localhost%lo0]",
            "localhost%lo0",
            "::1",
            "fe80::1%lo0",
            "fe80::1%lo0:80",
            "[foo:bar]",
            "[foo:bar]baz",
            "[foo]bar:baz",
            "[foo]:[bar]:baz",
            "[foo]:[bar]baz",
            "foo[bar]:baz",
            "foo]bar:baz",
        ] {
            assert_eq!(go_split_host_port(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}", t in "[\\[\\]:a-f0-9.%]{0,20}") {
            for input in [&s, &t] {
                let _ = split_authority(input);
                let _ = go_split_host_port(input);
            }
        }
    }
}
