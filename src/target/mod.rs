//! Targets and their endpoints: what will be probed, in the order the runtime
//! would try it.
//!
//! A [`Target`] is one registry (or one image on it). Its [`Endpoint`]s are the
//! hosts actually contacted, mirrors first, each with the TLS material, proxy,
//! headers and credential the runtime would use for it. Building endpoints
//! from node config is `config`'s job; this module only holds the values.

pub mod host;

pub use host::{RegistryHost, RegistryHostError, registry_host};

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

/// A proxy URL as the runtime's environment or config names it. Its user
/// info is held as [`Secret`]s from parsing on (`http://user:pass@proxy:3128`):
/// `Display` and `Debug` show `http://redacted@proxy:3128`, never the
/// password, and the value itself only leaves as a `Proxy-Authorization`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The URL without user info.
    url: url::Url,
    /// Percent-decoded user and password, as Go's transport sends them.
    userinfo: Option<(Secret, Secret)>,
}

impl ProxyUrl {
    /// Take a parsed URL apart: its user info becomes secret.
    #[must_use]
    pub fn from_url(mut url: url::Url) -> Self {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let userinfo = (!url.username().is_empty() || url.password().is_some()).then(|| {
            (
                Secret::new(decode(url.username())),
                Secret::new(decode(url.password().unwrap_or_default())),
            )
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Self { url, userinfo }
    }

    /// Parse an absolute URL (tests, and config values already known to be URLs).
    pub fn parse(value: &str) -> Result<Self, url::ParseError> {
        url::Url::parse(value).map(Self::from_url)
    }

    #[must_use]
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The proxy's host as the resolver wants it (IPv6 without brackets).
    #[must_use]
    pub fn host(&self) -> String {
        self.url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }

    /// The port, or the scheme's default, or 3128 for an unknown scheme.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(3128)
    }

    /// Whether the URL carries user info.
    #[must_use]
    pub fn has_credentials(&self) -> bool {
        self.userinfo.is_some()
    }

    /// The URL without user info, e.g. `http://10.0.0.4:3128/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// For reports: user info replaced by `redacted`, no trailing slash.
    #[must_use]
    pub fn redacted(&self) -> String {
        let mut u = self.url.clone();
        if self.userinfo.is_some() {
            let _ = u.set_username("redacted");
        }
        u.to_string().trim_end_matches('/').to_owned()
    }

    /// `Basic ...` for `Proxy-Authorization`, as Go's transport sends it when
    /// the proxy URL has user info.
    #[must_use]
    pub fn basic_authorization(&self) -> Option<Secret> {
        use base64::Engine as _;
        let (user, pass) = self.userinfo.as_ref()?;
        if user.is_empty() {
            return None;
        }
        let raw = format!("{}:{}", user.expose(), pass.expose());
        Some(Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )))
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
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
    /// The files' contents, read by discovery before the probe
    /// (`config::net::trust::load_endpoint_files`): the tls stage reads no file.
    pub material: TlsMaterial,
}

/// The contents of an endpoint's TLS files, as read under `--root`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// One per `ca_files` entry, in order.
    pub ca_files: Vec<LoadedFile>,
    /// One per `client_certs` entry, in order.
    pub client_certs: Vec<LoadedClientCert>,
}

/// A file's bytes, or why it could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub bytes: Result<Vec<u8>, String>,
}

/// A client certificate file and its private key (a secret), as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedClientCert {
    pub cert: LoadedFile,
    /// The key's path (the certificate's own when the key is in it).
    pub key_path: PathBuf,
    pub key: Result<Secret, String>,
}

/// The secret part of a credential: the two forms a registry accepts, or
/// a cloud identity the auth stage exchanges for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSecret {
    /// Username and password (Basic, OAuth2 password grant, token GET).
    Basic { username: String, password: Secret },
    /// An identity (refresh) token, as `docker login` stores for ACR and others.
    IdentityToken { username: String, token: Secret },
    /// An Azure managed identity, exchanged at probe time for an ACR refresh
    /// token as `acr-credential-provider` does.
    AzureIdentity(AzureIdentity),
}

/// An Azure managed identity and where to ask for its tokens
/// (`/etc/kubernetes/azure.json`, as cloud-provider-azure reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureIdentity {
    /// The user-assigned identity's client id; `None` for the VM's system-assigned one.
    pub client_id: Option<String>,
    pub tenant_id: String,
    /// The instance metadata service (`--imds-endpoint`); never reached through a proxy.
    pub imds: url::Url,
    /// The ACR audience first, then the ARM one (the cloud's, from `cloud`).
    pub resources: Vec<String>,
}

/// What kind of credential the runtime presents (`CONTRACT.md`,
/// `endpoints[].credential.kind`; no credential at all is `anonymous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A username and password (a pull secret, a config.json `auth`).
    Basic,
    /// An identity or refresh token.
    Token,
    /// A cloud identity exchanged for a registry token (ACR managed identity).
    Identity,
    /// What a kubelet image credential provider answered.
    Provider,
}

impl CredentialKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Basic => "basic",
            CredentialKind::Token => "token",
            CredentialKind::Identity => "identity",
            CredentialKind::Provider => "provider",
        }
    }
}

/// A credential and its provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub secret: CredentialSecret,
    /// Where it came from, e.g. `--docker-config /tmp/cfg.json (auths."myreg.io")`.
    pub source: String,
    /// What produced it, for reports (`basic` and `token` follow from the
    /// form; `provider` and `identity` from where it came from).
    pub kind: CredentialKind,
}

impl Credential {
    /// A credential whose kind follows from its form: `basic` or `token`.
    #[must_use]
    pub fn new(secret: CredentialSecret, source: impl Into<String>) -> Self {
        let kind = match secret {
            CredentialSecret::Basic { .. } => CredentialKind::Basic,
            CredentialSecret::IdentityToken { .. } => CredentialKind::Token,
            CredentialSecret::AzureIdentity(_) => CredentialKind::Identity,
        };
        Self {
            secret,
            source: source.into(),
            kind,
        }
    }

    /// The same credential, of another kind (what a provider answered).
    #[must_use]
    pub fn of_kind(mut self, kind: CredentialKind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of credential this is, for reports.
    #[must_use]
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// The username and secret containerd's credential callback returns: an
    /// identity token comes back as `("", token)`, which selects the
    /// `refresh_token` grant (`core/remotes/docker/authorizer.go`).
    ///
    /// An Azure identity has no secret of its own until it is exchanged:
    /// `("", "")`, which answers no challenge.
    #[must_use]
    pub fn user_and_secret(&self) -> (&str, &Secret) {
        static NONE: std::sync::OnceLock<Secret> = std::sync::OnceLock::new();
        match &self.secret {
            CredentialSecret::Basic { username, password } => (username.as_str(), password),
            CredentialSecret::IdentityToken { token, .. } => ("", token),
            CredentialSecret::AzureIdentity(_) => ("", NONE.get_or_init(Secret::default)),
        }
    }

    /// The username, which is not secret, for reports.
    #[must_use]
    pub fn username(&self) -> &str {
        match &self.secret {
            CredentialSecret::Basic { username, .. }
            | CredentialSecret::IdentityToken { username, .. } => username,
            CredentialSecret::AzureIdentity(id) => {
                id.client_id.as_deref().unwrap_or("system-assigned")
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
    pub proxy: Option<ProxyUrl>,
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
    pub proxy: Option<ProxyUrl>,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The reference's host (`docker.io`) or the `--registry` value.
    pub registry: String,
    pub image: Option<Reference>,
    /// Endpoints in the runtime's order.
    pub endpoints: Vec<Endpoint>,
    /// Remarks from reference parsing and config (e.g. "`myprivateregistry` is a Docker Hub user").
    pub remarks: Vec<String>,
    /// The credentials the kubelet hands the runtime for this image, in the
    /// order it tries them (pull secrets, then the node's keyring: its
    /// `config.json`, its credential providers); empty when it has none and
    /// the runtime's own config (each endpoint's `credential`) applies.
    pub kubelet_credentials: Vec<Credential>,
    /// Kubelet credential providers that match this image and could not answer.
    pub provider_failures: Vec<ProviderFailure>,
    /// Which endpoints the runtime sends the kubelet's credential to.
    pub credential_reach: CredentialReach,
    /// What is wrong with the pod's pull secrets for this image (`probe
    /// pod`): a secret missing, of a type the kubelet skips, or without an
    /// entry for this registry. First in a credentials verdict's hint.
    pub secret_findings: Vec<String>,
    /// Node files with credentials for this registry that the kubelet never
    /// reads (a user's home, a credential helper): named in an
    /// `AUTH_REQUIRED` hint.
    pub unread_credentials: Vec<UnreadCredentials>,
    /// A proxy the node's login environment sets for this registry and the
    /// runtime does not use: named when the target fails on the network.
    pub login_proxy: Option<LoginProxy>,
}

/// A node file that holds credentials for a registry which the kubelet
/// never hands to the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadCredentials {
    /// The node path, e.g. `/home/docker/.docker/config.json`.
    pub path: String,
    /// Why the kubelet skips it, in a person's words (no secret).
    pub why: String,
    /// The kubelet's preferred path, where a copy of the file would be used
    /// (`<root-dir>/config.json`).
    pub kubelet_path: String,
    /// The file holds the credentials themselves (not a helper's name): a
    /// copy of it gives them to the kubelet.
    pub inline: bool,
    /// The `config.json` the kubelet reads now, if any: it uses the first
    /// one it finds, so a file later in its search order is not read.
    pub kubelet_reads: Option<String>,
}

/// A proxy set for login shells (`/etc/environment`, `/etc/profile.d/*.sh`)
/// that the runtime's own environment lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginProxy {
    /// The variable, e.g. `HTTPS_PROXY`.
    pub name: String,
    /// The proxy URL with any user info redacted.
    pub value: String,
    /// `<node path>:<line>` that sets it.
    pub source: String,
    /// The login environment's `NO_PROXY`, if any (redacted like the proxy).
    pub no_proxy: Option<String>,
    /// The runtime's systemd unit, e.g. `containerd.service`.
    pub unit: String,
    /// The unit's files that were read (unit file, drop-ins); empty when it has none.
    pub unit_files: Vec<String>,
}

/// Which endpoints a runtime sends the kubelet's credential to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialReach {
    /// Every endpoint, mirrors included: containerd's CRI `ParseAuth` hands
    /// the pull's `AuthConfig` to every host, since the kubelet sends no
    /// `ServerAddress` (`internal/cri/server/images/image_pull.go`).
    #[default]
    AllEndpoints,
    /// Only endpoints in the registry's own domain: CRI-O's mirrors of
    /// another domain get their own credentials (containers/image looks
    /// them up per mirror).
    SameDomain,
}

impl Target {
    /// The name the kubelet's keyring and credential providers match: the
    /// image's `registry/repository`, or the registry alone.
    #[must_use]
    pub fn keyring_name(&self) -> String {
        self.image
            .as_ref()
            .map_or_else(|| self.registry.clone(), crate::reference::Reference::name)
    }

    /// Whether the runtime sends the kubelet's credential to `ep`.
    #[must_use]
    pub fn kubelet_credential_reaches(&self, ep: &Endpoint) -> bool {
        let domain = self.registry.split(':').next().unwrap_or(&self.registry);
        match self.credential_reach {
            CredentialReach::AllEndpoints => true,
            CredentialReach::SameDomain => {
                ep.role == Role::Upstream || ep.host.eq_ignore_ascii_case(domain)
            }
        }
    }

    /// The credential the runtime would send to `ep` first: the kubelet's
    /// first, when it reaches `ep`, else the runtime config's own.
    #[must_use]
    pub fn credential_for<'a>(&'a self, ep: &'a Endpoint) -> Option<&'a Credential> {
        match self.kubelet_credentials.first() {
            Some(c) if self.kubelet_credential_reaches(ep) => Some(c),
            _ => ep.credential.as_ref(),
        }
    }

    /// The target as the runtime sees it when the kubelet hands it `c`: the
    /// credential on the endpoints it reaches ([`CredentialReach`]).
    #[must_use]
    pub fn with_kubelet_credential(&self, c: &Credential) -> Target {
        let mut t = self.clone();
        for ep in &mut t.endpoints {
            if self.kubelet_credential_reaches(ep) {
                ep.credential = Some(c.clone());
            }
        }
        t
    }
}

/// A kubelet image credential provider that could not give credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderFailure {
    /// The provider's name (its binary's name).
    pub name: String,
    /// The binary, as the node names it.
    pub path: String,
    /// The config file that declares it.
    pub config: String,
    /// What went wrong: missing, exit status, timeout, garbage; with the
    /// last line of its stderr (never its stdout, which holds secrets).
    pub reason: String,
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
    fn proxy_url_keeps_its_password_secret() {
        use base64::Engine as _;
        let p = ProxyUrl::parse("http://bob:s%33cret@proxy.test:3128").unwrap();
        for shown in [
            p.to_string(),
            format!("{p:?}"),
            p.redacted(),
            p.as_str().to_owned(),
        ] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("s%33cret"),
                "{shown}"
            );
            assert!(!shown.contains("bob"), "{shown}");
        }
        assert_eq!(p.redacted(), "http://redacted@proxy.test:3128");
        assert_eq!(p.as_str(), "http://proxy.test:3128/");
        let want = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        assert_eq!(
            p.basic_authorization().unwrap().expose(),
            format!("Basic {want}")
        );
        let plain = ProxyUrl::parse("http://proxy.test:3128/").unwrap();
        assert_eq!(plain.redacted(), "http://proxy.test:3128");
        assert!(plain.basic_authorization().is_none());
        assert_eq!(ProxyUrl::parse("http://[::1]").unwrap().host(), "::1");
        assert_eq!(ProxyUrl::parse("http://[::1]").unwrap().port(), 80);
    }

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
