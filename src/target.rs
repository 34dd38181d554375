//! Targets and their endpoints: what will be probed, in the order the runtime
//! would try it.
//!
//! A [`Target`] is one registry (or one image on it). Its [`Endpoint`]s are the
//! hosts actually contacted, mirrors first, each with the TLS material, proxy,
//! headers and credential the runtime would use for it. Building endpoints
//! from node config is `config`'s job; this module only holds the values.

use crate::reference::Reference;
use crate::secret::Secret;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Whether an endpoint is a mirror or the registry itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Mirror,
    Upstream,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mirror => "mirror",
            Role::Upstream => "upstream",
        }
    }
}

/// A client certificate and its key, as node paths already re-rooted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Per-endpoint TLS material from runtime config (hosts.toml `ca`, `client`,
/// `skip_verify`; certs.d `*.crt`, `*.cert`/`*.key`). Paths are re-rooted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Extra CA files trusted for this endpoint on top of the node's store.
    pub ca_files: Vec<PathBuf>,
    pub client_certs: Vec<ClientCert>,
    pub skip_verify: bool,
}

/// A credential for one endpoint host, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secretish {
    /// Username and password (Basic, OAuth2 password grant, token GET).
    Basic { username: String, password: Secret },
    /// An identity (refresh) token, as `docker login` stores for ACR and others.
    IdentityToken { username: String, token: Secret },
}

/// A credential and its provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub secret: Secretish,
    /// Where it came from, e.g. `--docker-config /tmp/cfg.json (auths."myreg.io")`.
    pub source: String,
}

impl Credential {
    /// The username, which is not secret, for reports.
    #[must_use]
    pub fn username(&self) -> &str {
        match &self.secret {
            Secretish::Basic { username, .. } | Secretish::IdentityToken { username, .. } => {
                username
            }
        }
    }
}

/// What a host may be used for (containerd `capabilities`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub pull: bool,
    pub resolve: bool,
    pub push: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            pull: true,
            resolve: true,
            push: true,
        }
    }
}

/// How a runtime retries an `https` endpoint over plain `http`.
///
/// containerd wraps such a host's transport in `docker.NewHTTPFallback`
/// (`core/remotes/docker/resolver.go`): it retries over http on the same
/// `host:port` when the TLS handshake fails because the server answered in
/// plain HTTP (`tls.RecordHeaderError` "HTTP/") or timed out. containers/image
/// (`docker/docker_client.go`, `detectPropertiesHelper`) and moby
/// (`registry/service_v2.go`, `lookupV2Endpoints`) ping `https` first and `http`
/// second for an insecure registry, after *any* failure of the https ping, on
/// each scheme's default port when the registry names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpFallback {
    /// The port the plain-http retry dials.
    pub port: u16,
    /// `false`: only a TLS handshake failure triggers it (containerd);
    /// `true`: any failure through the `/v2/` ping does (CRI-O, Docker).
    pub on_any_error: bool,
    /// The proxy for the http retry (`HTTP_PROXY`, not `HTTPS_PROXY`), set
    /// with the endpoint's own proxy by node discovery.
    pub proxy: Option<url::Url>,
}

/// One host the runtime would contact for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// The API path prefix, normally `/v2` (containerd `override_path` may change it).
    pub path: String,
    pub role: Role,
    pub tls: TlsSettings,
    /// The proxy to reach this endpoint through, if the runtime's environment names one.
    pub proxy: Option<url::Url>,
    /// Extra request headers (containerd `header`); values may be secret.
    pub headers: Vec<(String, Secret)>,
    pub capabilities: Capabilities,
    pub credential: Option<Credential>,
    /// containerd appends `?ns=<registry>` to requests sent to a mirror.
    pub ns_param: Option<String>,
    /// Where this endpoint came from (`file:line`), or `default`.
    pub source: String,
    /// Whether and how the runtime retries this https endpoint over http.
    pub http_fallback: Option<HttpFallback>,
    /// hosts.toml `dial_timeout`: the TCP connect limit instead of `--timeout`.
    pub dial_timeout: Option<Duration>,
    /// The repository asked for on this endpoint when the config rewrites it
    /// (CRI-O `prefix` -> `location`, k3s `rewrite`), e.g. `mirror/library/nginx`
    /// for `docker.io/library/nginx`; `None` means the image's own path.
    pub repository: Option<String>,
}

impl Endpoint {
    /// A plain HTTPS upstream endpoint with no extra config.
    #[must_use]
    pub fn https(host: &str, port: u16) -> Self {
        Self {
            scheme: Scheme::Https,
            host: host.to_owned(),
            port,
            path: "/v2".to_owned(),
            role: Role::Upstream,
            tls: TlsSettings::default(),
            proxy: None,
            headers: Vec::new(),
            capabilities: Capabilities::default(),
            credential: None,
            ns_param: None,
            source: "default".to_owned(),
            http_fallback: None,
            dial_timeout: None,
            repository: None,
        }
    }

    /// The plain-http endpoint the runtime falls back to, if it would.
    #[must_use]
    pub fn fallback_endpoint(&self) -> Option<Endpoint> {
        let fb = self.http_fallback.as_ref()?;
        let mut ep = self.clone();
        ep.scheme = Scheme::Http;
        ep.port = fb.port;
        ep.tls = TlsSettings::default();
        ep.proxy.clone_from(&fb.proxy);
        Some(ep)
    }

    /// `host[:port]` as it appears in a URL authority (IPv6 bracketed, default port omitted).
    #[must_use]
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The base URL contacted, e.g. `https://registry-1.docker.io/v2/`.
    #[must_use]
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}/",
            self.scheme.as_str(),
            self.authority(),
            self.path.trim_end_matches('/')
        )
    }
}

/// A registry or image to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The reference's host (`docker.io`) or the `--registry` value.
    pub registry: String,
    pub image: Option<Reference>,
    /// Endpoints in the runtime's order.
    pub endpoints: Vec<Endpoint>,
    /// Remarks from reference parsing and config (e.g. "`myprivateregistry` is a Docker Hub user").
    pub remarks: Vec<String>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.image {
            Some(r) => write!(f, "{r}"),
            None => f.write_str(&self.registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_omits_default_port_and_brackets_v6() {
        assert_eq!(
            Endpoint::https("registry-1.docker.io", 443).url(),
            "https://registry-1.docker.io/v2/"
        );
        assert_eq!(
            Endpoint::https("reg.test", 5000).url(),
            "https://reg.test:5000/v2/"
        );
        assert_eq!(Endpoint::https("::1", 5000).url(), "https://[::1]:5000/v2/");
    }
}
