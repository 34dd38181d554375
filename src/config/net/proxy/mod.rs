//! The container runtime's proxy: which `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`
//! the runtime daemon actually runs with ([`ProxyEnv`]), and Go's rules for
//! applying them to one request URL ([`proxy_for`]).
//!
//! Two halves, one file each:
//!
//! * [`daemon_env`]: where the daemon's environment comes from: systemd's
//!   `DefaultEnvironment=`, the unit's `Environment=`/`EnvironmentFile=`/
//!   `UnsetEnvironment=`, and `/proc/<pid>/environ` of the running daemon.
//!   Its parsers take `&str`/`&[u8]`; its [`discover`] is the only code here
//!   that reads files, through [`crate::hostroot::HostRoot`].
//! * [`httpproxy`]: `golang.org/x/net/http/httpproxy`, which containerd,
//!   CRI-O, dockerd and k3s all use through `net/http`: pick the variable,
//!   parse it, apply `NO_PROXY`. Pure functions, no I/O.
//! * [`login_env`]: the proxy a login shell has (`/etc/environment`,
//!   `/etc/profile.d/*.sh`), to tell when only the shell has one.
//!
//! Proxy values may carry credentials (`http://user:pass@proxy:3128`): every
//! environment value is a [`Secret`] from parsing on, a proxy URL becomes a
//! [`crate::target::ProxyUrl`] (user info secret), and nothing here prints a
//! value unredacted (`Debug` and error messages included). Nothing here opens
//! a connection.

pub mod daemon_env;
pub mod httpproxy;
pub mod login_env;

pub use daemon_env::{EnvMap, discover};
pub use httpproxy::{NoProxy, parse_proxy, proxy_for};

use crate::secret::Secret;
use std::fmt;

/// One proxy variable as the runtime sees it, with where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyVar {
    /// The variable that supplied it, e.g. `HTTPS_PROXY` or `https_proxy`.
    pub name: String,
    /// The value as set. May contain credentials: show [`ProxyVar::display_value`].
    pub value: Secret,
    /// `<node path>:<line>`, `/proc/<pid>/environ` or `<daemon.json path> (proxies)`.
    pub source: String,
}

impl ProxyVar {
    /// The value with any user info replaced, safe for reports and logs.
    #[must_use]
    pub fn display_value(&self) -> String {
        redact_value(self.value.expose())
    }
}

impl fmt::Debug for ProxyVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyVar")
            .field("name", &self.name)
            .field("value", &self.display_value())
            .field("source", &self.source)
            .finish()
    }
}

/// Redact a proxy or `NO_PROXY` value: URLs lose their user info; anything
/// with an `@` that does not parse is hidden whole, since it may be a
/// credential we failed to recognise.
fn redact_value(value: &str) -> String {
    match parse_proxy(value) {
        Some(u) if value.contains('@') => u.redacted(),
        _ if value.contains('@') => "(redacted)".to_owned(),
        _ => value.to_owned(),
    }
}

/// The proxy settings the runtime resolves, after Go's `getEnvAny`
/// (upper-case name first, then lower-case; an empty value counts as unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub http_proxy: Option<ProxyVar>,
    pub https_proxy: Option<ProxyVar>,
    pub no_proxy: Option<ProxyVar>,
}

impl ProxyEnv {
    /// The variable Go's `httpproxy` reads for `scheme`: `HTTPS_PROXY` for
    /// https, `HTTP_PROXY` for http, none for any other.
    #[must_use]
    pub fn var_for(&self, scheme: &str) -> Option<&ProxyVar> {
        match scheme {
            "https" => self.https_proxy.as_ref(),
            "http" => self.http_proxy.as_ref(),
            _ => None,
        }
    }

    /// Resolve from a daemon's environment the way `httpproxy.FromEnvironment` does.
    #[must_use]
    pub fn from_env(env: &EnvMap) -> Self {
        let any = |names: [&str; 2]| {
            names.iter().find_map(|n| {
                env.get(n)
                    .filter(|v| !v.value.is_empty())
                    .map(|v| ProxyVar {
                        name: (*n).to_owned(),
                        value: v.value.clone(),
                        source: v.origin.clone(),
                    })
            })
        };
        Self {
            http_proxy: any(["HTTP_PROXY", "http_proxy"]),
            https_proxy: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
        }
    }

    /// Apply Docker's `daemon.json` `proxies` (`http-proxy`, `https-proxy`,
    /// `no-proxy`), parsed elsewhere. dockerd's `configureProxyEnv`
    /// (moby `cmd/dockerd/daemon.go`) sets both spellings of each variable
    /// from a non-empty value, overriding the process environment, so the
    /// file wins even over `/proc/<pid>/environ`.
    #[must_use]
    pub fn with_docker_proxies(
        mut self,
        http: Option<&Secret>,
        https: Option<&Secret>,
        no: Option<&Secret>,
        source: &str,
    ) -> Self {
        let set = |slot: &mut Option<ProxyVar>, name: &str, value: Option<&Secret>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                *slot = Some(ProxyVar {
                    name: name.to_owned(),
                    value: v.clone(),
                    source: source.to_owned(),
                });
            }
        };
        set(&mut self.http_proxy, "HTTP_PROXY", http);
        set(&mut self.https_proxy, "HTTPS_PROXY", https);
        set(&mut self.no_proxy, "NO_PROXY", no);
        self
    }

    /// No proxy variable at all: every endpoint is direct.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.http_proxy.is_none() && self.https_proxy.is_none() && self.no_proxy.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::systemd::{parse_systemd_environment, parse_unit_file};

    pub(crate) fn var(name: &str, value: &str) -> ProxyVar {
        ProxyVar {
            name: name.to_owned(),
            value: Secret::new(value),
            source: "test".to_owned(),
        }
    }

    pub(crate) fn env3(http: &str, https: &str, no: &str) -> ProxyEnv {
        let opt = |n: &str, v: &str| if v.is_empty() { None } else { Some(var(n, v)) };
        ProxyEnv {
            http_proxy: opt("HTTP_PROXY", http),
            https_proxy: opt("HTTPS_PROXY", https),
            no_proxy: opt("NO_PROXY", no),
        }
    }

    /// `proxy_test.go` `TestFromEnvironment`/`...LowerCase`, plus `getEnvAny`'s
    /// "empty counts as unset" and the upper-case-first order.
    #[test]
    fn from_env_prefers_upper_case_and_skips_empty() {
        let mut e = EnvMap::default();
        e.set("HTTP_PROXY", "httpproxy", "a:1");
        e.set("HTTPS_PROXY", "httpsproxy", "a:2");
        e.set("NO_PROXY", "noproxy", "a:3");
        let p = ProxyEnv::from_env(&e);
        assert_eq!(p.http_proxy.as_ref().unwrap().value.expose(), "httpproxy");
        assert_eq!(p.https_proxy.as_ref().unwrap().source, "a:2");
        assert_eq!(p.no_proxy.as_ref().unwrap().value.expose(), "noproxy");

        let mut e = EnvMap::default();
        e.set("http_proxy", "lower", "b:1");
        e.set("HTTPS_PROXY", "", "b:2");
        e.set("https_proxy", "lower-s", "b:3");
        e.set("HTTP_PROXY", "UPPER", "b:4");
        let p = ProxyEnv::from_env(&e);
        assert_eq!(p.http_proxy.unwrap().name, "HTTP_PROXY");
        let s = p.https_proxy.unwrap();
        assert_eq!(
            (s.name.as_str(), s.value.expose()),
            ("https_proxy", "lower-s")
        );
        assert!(p.no_proxy.is_none());
    }

    #[test]
    fn docker_daemon_json_overrides() {
        let env = env3("http://env:1", "http://env:2", "a.example").with_docker_proxies(
            None,
            Some(&Secret::new("http://json:3128")),
            Some(&Secret::default()),
            "/etc/docker/daemon.json (proxies)",
        );
        assert_eq!(env.http_proxy.unwrap().value.expose(), "http://env:1");
        let https = env.https_proxy.unwrap();
        assert_eq!(
            (https.value.expose(), https.source.as_str()),
            ("http://json:3128", "/etc/docker/daemon.json (proxies)")
        );
        assert_eq!(
            env.no_proxy.unwrap().value.expose(),
            "a.example",
            "an empty no-proxy leaves the environment alone"
        );
    }

    #[test]
    fn debug_never_shows_proxy_credentials() {
        let env = env3("http://bob:s3cret@proxy:3128", "bob:s3cret@proxy:3128", "");
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("bob"),
            "{shown}"
        );
        assert!(shown.contains("proxy:3128"), "{shown}");
        let mut m = EnvMap::default();
        m.set("HTTPS_PROXY", "http://u:hunter2@p:1", "x:1");
        assert!(!format!("{m:?}").contains("hunter2"));
        let a = parse_systemd_environment("HTTPS_PROXY=http://u:hunter2@p:1");
        assert_eq!(a[0].1.expose(), "http://u:hunter2@p:1");
        let u = parse_unit_file("[Service]\nEnvironment=HTTPS_PROXY=http://u:hunter2@p:1 \"BROKEN");
        assert!(!format!("{u:?}").contains("hunter2"));
    }
}
