//! A world: one network namespace holding a DNS server, registries, fault
//! servers, a proxy and the Azure parts (ACR-like front, IMDS; see
//! `acr.rs`), described as a list of [`Host`]s. The standard
//! world ([`standard`]) is the one every end-to-end test shares; a test
//! that needs one more fault builds its own with [`WorldBuilder`].
//!
//! Addresses live on `lo` inside the namespace (10.77.0.0/16 exists only
//! there); nothing outside the namespace is ever contacted.

use std::collections::HashSet;

use rustls::pki_types::pem::PemObject as _;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::acr::{self, ManagedIdentity};
use super::content::{self, Content};
use super::hostile;
use super::http::{self, Answer, Handler, Reply, Request, Response, Server};
use super::netns::{self, Netns, Proc, tool};
use super::pki::{Cert, Pki};
use super::record::{self, Recorded, Recorder, Secrets};
use super::root::NodeRoot;
use super::token::{self, NO_PULL, PULLER, Signer};

/// dnsmasq, the node's resolver in every world.
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// A resolver address where port 53 is dropped: `DNS_TIMEOUT`.
pub const SILENT_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);
/// uid the proxy runs as; proxy-only addresses accept only it.
const PROXY_UID: &str = "65534";

/// How a host's registry authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    Anonymous,
    /// htpasswd with [`PULLER`] and [`NO_PULL`].
    Htpasswd,
    /// Bearer tokens from `realm`; `service` defaults to the host name.
    Token {
        realm: String,
        service: Option<String>,
    },
}

/// What an in-process server built at start-up gets from its world.
pub struct Kit {
    /// Signs registry tokens the world's registries accept.
    pub signer: Signer,
    /// Writes the server's request log (`logs/<name>.log`).
    pub recorder: Recorder,
    /// Where to register secrets the server hands out.
    pub secrets: Secrets,
}

/// Builds a handler once the world's signer and log exist.
pub type Factory = Arc<dyn Fn(&Kit) -> Handler + Send + Sync>;

/// What listens on a host's address.
#[derive(Clone)]
pub enum Serve {
    /// Nothing: connections are refused.
    Nothing,
    /// The distribution registry (`docker-registry`).
    Registry { tls: Option<Cert>, auth: Auth },
    /// An in-process HTTP server.
    Handler { tls: Option<Cert>, handler: Handler },
    /// The in-process token issuer (`/token`, `/error`, `/garbage`).
    TokenIssuer { tls: Cert },
    /// An in-process server built at start-up with the world's [`Kit`]
    /// (recording servers, token services).
    Built { tls: Option<Cert>, build: Factory },
    /// tinyproxy; it alone can resolve and reach `proxy_only` hosts.
    Proxy,
    /// A TLS server that changes behaviour on demand ([`hostile`]).
    Hostile { tls: Cert, switch: hostile::Switch },
}

/// What the network does to packets for a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Open,
    /// iptables DROP: connects time out.
    Dropped,
    /// An `unreachable` route: connect fails with EHOSTUNREACH.
    Unreachable,
    /// Not in the node's DNS, and dropped unless the proxy connects.
    ProxyOnly,
}

/// What the node's DNS says about a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dns {
    A,
    /// The name exists (a TXT record) but has no A/AAAA.
    NoAddress,
    /// The resolver answers REFUSED (`DNS_SERVFAIL`).
    Refused,
    /// Not in the node's DNS at all: a backend only other servers reach,
    /// or a service found by address (IMDS).
    Hidden,
}

/// One name in a world. Build with a constructor, adjust with the
/// builder methods: `Host::registry("x.test", ip).cert(Cert::Expired)`.
#[derive(Clone)]
pub struct Host {
    pub name: String,
    pub ip: Option<Ipv4Addr>,
    pub port: u16,
    pub serve: Serve,
    pub net: Net,
    pub dns: Dns,
}

impl Host {
    fn new(name: &str, ip: Option<Ipv4Addr>, port: u16, serve: Serve) -> Host {
        Host {
            name: name.to_owned(),
            ip,
            port,
            serve,
            net: Net::Open,
            dns: Dns::A,
        }
    }

    /// An anonymous distribution registry on 443 with a good certificate.
    pub fn registry(name: &str, ip: Ipv4Addr) -> Host {
        let serve = Serve::Registry {
            tls: Some(Cert::Good),
            auth: Auth::Anonymous,
        };
        Host::new(name, Some(ip), 443, serve)
    }

    /// An in-process HTTPS server on 443 answering with `handler`.
    pub fn handler(
        name: &str,
        ip: Ipv4Addr,
        handler: impl Fn(&Request) -> Answer + Send + Sync + 'static,
    ) -> Host {
        let serve = Serve::Handler {
            tls: Some(Cert::Good),
            handler: Arc::new(handler),
        };
        Host::new(name, Some(ip), 443, serve)
    }

    /// An in-process server on `port` (TLS with `tls`, else plain HTTP)
    /// whose handler `build` makes from the world's [`Kit`].
    pub fn built(
        name: &str,
        ip: Ipv4Addr,
        port: u16,
        tls: Option<Cert>,
        build: impl Fn(&Kit) -> Handler + Send + Sync + 'static,
    ) -> Host {
        let serve = Serve::Built {
            tls,
            build: Arc::new(build),
        };
        Host::new(name, Some(ip), port, serve)
    }

    /// A TLS registry on 443 whose hostility `switch` sets ([`hostile`]).
    pub fn hostile(name: &str, ip: Ipv4Addr, switch: hostile::Switch) -> Host {
        let serve = Serve::Hostile {
            tls: Cert::Good,
            switch,
        };
        Host::new(name, Some(ip), 443, serve)
    }

    pub fn token_issuer(name: &str, ip: Ipv4Addr) -> Host {
        Host::new(name, Some(ip), 443, Serve::TokenIssuer { tls: Cert::Good })
    }

    pub fn proxy(name: &str, ip: Ipv4Addr, port: u16) -> Host {
        Host::new(name, Some(ip), port, Serve::Proxy)
    }

    /// A name that resolves to an address where nothing listens on 443.
    pub fn nothing(name: &str, ip: Ipv4Addr) -> Host {
        Host::new(name, Some(ip), 443, Serve::Nothing)
    }

    /// A name with no A/AAAA record.
    pub fn no_address(name: &str) -> Host {
        let mut h = Host::new(name, None, 443, Serve::Nothing);
        h.dns = Dns::NoAddress;
        h
    }

    /// A name whose lookup the resolver refuses.
    pub fn refused_lookup(name: &str) -> Host {
        let mut h = Host::new(name, None, 443, Serve::Nothing);
        h.dns = Dns::Refused;
        h
    }

    /// Serve plain HTTP on `port` instead of TLS.
    #[must_use]
    pub fn plain_http(mut self, port: u16) -> Host {
        self.port = port;
        match &mut self.serve {
            Serve::Registry { tls, .. } | Serve::Handler { tls, .. } | Serve::Built { tls, .. } => {
                *tls = None;
            }
            _ => panic!(
                "{}: only registries and handlers can be plain HTTP",
                self.name
            ),
        }
        self
    }

    #[must_use]
    pub fn cert(mut self, cert: Cert) -> Host {
        match &mut self.serve {
            Serve::Registry { tls, .. } | Serve::Handler { tls, .. } | Serve::Built { tls, .. } => {
                *tls = Some(cert);
            }
            Serve::TokenIssuer { tls } => *tls = cert,
            _ => panic!("{}: has no certificate", self.name),
        }
        self
    }

    #[must_use]
    pub fn auth(mut self, new: Auth) -> Host {
        match &mut self.serve {
            Serve::Registry { auth, .. } => *auth = new,
            _ => panic!("{}: only registries have auth", self.name),
        }
        self
    }

    #[must_use]
    pub fn net(mut self, net: Net) -> Host {
        self.net = net;
        self
    }

    #[must_use]
    pub fn dns(mut self, dns: Dns) -> Host {
        self.dns = dns;
        self
    }

    /// `host:port` as an image reference names it (port omitted for 443).
    pub fn authority(&self) -> String {
        if self.port == 443 {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.port)
        }
    }
}

// The in-process fault servers of the standard world, reusable by others.

/// `/v2/` answers like a registry; everything else is 429 TOOMANYREQUESTS.
pub fn rate_limited(req: &Request) -> Answer {
    if req.path() == "/v2/" {
        return Reply::json(200, &serde_json::json!({}))
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .into();
    }
    Reply::registry_error(
        429,
        "TOOMANYREQUESTS",
        "You have reached your pull rate limit. You may increase the limit by authenticating.",
    )
    // Clients back off on 429 (containers/image: 5 tries from 2 s up);
    // "0" keeps the retries instant so a test sees the error in time.
    .header("Retry-After", "0")
    .into()
}

/// Everything is 503.
pub fn unavailable(_: &Request) -> Answer {
    Reply::new(503)
        .header("Content-Type", "text/plain")
        .body("upstream connect error or disconnect/reset before headers\n")
        .into()
}

/// A web server: a page at `/`, HTML 404 everywhere else (also `/v2/`).
pub fn not_a_registry(req: &Request) -> Answer {
    let page = |status, text: &str| {
        Reply::new(status)
            .header("Content-Type", "text/html")
            .header("Server", "nginx")
            .body(format!("<html><body><h1>{text}</h1></body></html>\n"))
    };
    if req.path() == "/" {
        page(200, "Welcome to nginx!").into()
    } else {
        page(404, "404 Not Found").into()
    }
}

/// Fronts the plain registry at `upstream`, but answers blob GETs with a
/// 307 to `blob_host`, like registries that hand data to a CDN/storage.
pub fn redirect_blobs(
    upstream: SocketAddr,
    blob_host: &str,
) -> impl Fn(&Request) -> Answer + Send + Sync + 'static {
    let blob_host = blob_host.to_owned();
    move |req: &Request| {
        if req.path().contains("/blobs/sha256:") && req.method == "GET" {
            let digest = req.path().rsplit('/').next().unwrap_or_default();
            let location = format!("https://{blob_host}/storage/{digest}?sig=rpt");
            Reply::new(307).header("Location", &location).into()
        } else {
            Answer::Forward(upstream)
        }
    }
}

const fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, d)
}

/// The address of the plain registry the redirector fronts.
const PLAIN_REGISTRY: SocketAddrV4 = SocketAddrV4::new(ip(14), 5000);

/// The standard world. Each line is one name and what it does; the table
/// in `tests/README.md` mirrors it.
pub fn standard() -> WorldBuilder {
    let realm = |path: &str| Auth::Token {
        realm: format!("https://auth.test/{path}"),
        service: None,
    };
    WorldBuilder::new()
        .host(Host::proxy("proxy.test", ip(5), 3128))
        .host(Host::registry("registry.test", ip(10)))
        .host(Host::registry("basic.test", ip(11)).auth(Auth::Htpasswd))
        .host(Host::registry("token.test", ip(12)).auth(realm("token")))
        .host(Host::token_issuer("auth.test", ip(13)))
        .host(Host::registry("plainhttp.test", ip(14)).plain_http(PLAIN_REGISTRY.port()))
        .host(Host::registry("tokengone.test", ip(15)).auth(Auth::Token {
            realm: "https://gone.test/token".into(),
            service: None,
        }))
        .host(Host::registry("tokenerror.test", ip(16)).auth(realm("error")))
        .host(Host::registry("tokengarbage.test", ip(17)).auth(realm("garbage")))
        .host(Host::registry("expired.test", ip(20)).cert(Cert::Expired))
        .host(Host::registry("wrongname.test", ip(21)).cert(Cert::For("other.test".into())))
        .host(Host::registry("unknownca.test", ip(22)).cert(Cert::UnknownCa))
        .host(Host::handler("ratelimit.test", ip(23), rate_limited))
        .host(Host::handler("unavailable.test", ip(24), unavailable))
        .host(Host::handler("notregistry.test", ip(25), not_a_registry))
        .host(Host::handler(
            "redirect.test",
            ip(26),
            redirect_blobs(PLAIN_REGISTRY.into(), "refused.test"),
        ))
        .host(Host::nothing("blackhole.test", ip(30)).net(Net::Dropped))
        .host(Host::nothing("refused.test", ip(31)))
        .host(Host::nothing("unreachable.test", Ipv4Addr::new(10, 77, 1, 1)).net(Net::Unreachable))
        .host(Host::registry("proxied.test", ip(40)).net(Net::ProxyOnly))
        .host(Host::no_address("noaddr.test"))
        .host(Host::refused_lookup("servfail.test"))
        .hosts(acr::standard_hosts(ip))
        .host(Host::registry("httprealm.test", ip(53)).auth(Auth::Token {
            realm: "http://realm-http.test/token".into(),
            service: None,
        }))
        .host(Host::built(
            "realm-http.test",
            ip(54),
            80,
            None,
            |kit: &Kit| token::plain_realm(kit.signer.clone(), kit.recorder.clone()),
        ))
}

/// Collects hosts, then [`WorldBuilder::build`]s the namespace.
#[derive(Default)]
pub struct WorldBuilder {
    hosts: Vec<Host>,
}

impl WorldBuilder {
    pub fn new() -> WorldBuilder {
        WorldBuilder::default()
    }

    #[must_use]
    pub fn host(mut self, host: Host) -> WorldBuilder {
        self.hosts.push(host);
        self
    }

    #[must_use]
    pub fn hosts(mut self, hosts: impl IntoIterator<Item = Host>) -> WorldBuilder {
        self.hosts.extend(hosts);
        self
    }

    /// Builds the world: a few seconds. Panics with the failing server's
    /// log if something does not come up; whatever was started is torn
    /// down again.
    pub fn build(self) -> World {
        static WORLDS: AtomicUsize = AtomicUsize::new(0);
        netns::sweep_stale();
        let ns = Netns::create(WORLDS.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(ns.name());
        let _ = fs::remove_dir_all(&dir);
        for sub in ["logs", "storage", "tls"] {
            fs::create_dir_all(dir.join(sub)).expect("create world dir");
        }
        let watchdog = netns::watchdog(ns.name(), &dir);
        let pki = Pki::new();
        let mut world = World {
            root: NodeRoot::create(&dir.join("root"), DNS_IP, pki.ca_pem()),
            ns,
            dir,
            hosts: self.hosts,
            content: Content::default(),
            procs: Vec::new(),
            servers: Vec::new(),
            secrets: Secrets::default(),
            watchdog: Some(watchdog),
        };
        world.setup(&pki);
        world
    }
}

/// A running world; dropping it tears everything down. The shared
/// standard world is never dropped: the watchdog and pdeathsig end it.
pub struct World {
    ns: Netns,
    dir: PathBuf,
    hosts: Vec<Host>,
    root: NodeRoot,
    content: Content,
    procs: Vec<Proc>,
    servers: Vec<Server>,
    secrets: Secrets,
    watchdog: Option<Proc>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.servers.clear();
        self.procs.clear();
        if let Some(w) = self.watchdog.take() {
            w.terminate();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl World {
    /// Name of the namespace (`rpt-<pid>-<n>`).
    pub fn ns(&self) -> &str {
        self.ns.name()
    }

    /// The world's temp dir (logs, certificates, registry storage).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default node root: resolv.conf -> dnsmasq, CA bundle with the
    /// test CA. Shared by all tests: use [`World::new_root`] to change it.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A fresh node root like the default one, for a test to modify.
    pub fn new_root(&self) -> NodeRoot {
        let dir = tempfile::Builder::new()
            .prefix("root-")
            .tempdir_in(&self.dir)
            .expect("temp node root");
        NodeRoot::owned(
            dir,
            DNS_IP,
            &fs::read_to_string(self.ca_pem_path()).expect("ca"),
        )
    }

    /// PEM of the test CA (the one the node trusts).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    /// A directory with `ca.crt`, for `skopeo --cert-dir` / `certs.d`.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("tls/certs.d")
    }

    /// The host called `name`; panics if the world has none.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in this world"))
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        let h = self.host(name);
        SocketAddr::new(h.ip.expect("host has an address").into(), h.port)
    }

    /// `http://ip:port` of the world's proxy.
    pub fn proxy_url(&self) -> String {
        let h = self.proxy_host();
        format!("http://{}:{}", h.ip.expect("proxy ip"), h.port)
    }

    /// A proxy URL where nothing listens (`PROXY_UNREACHABLE`).
    pub fn dead_proxy_url(&self) -> String {
        let h = self.proxy_host();
        format!("http://{}:{}", h.ip.expect("proxy ip"), h.port + 1)
    }

    fn proxy_host(&self) -> &Host {
        self.hosts
            .iter()
            .find(|h| matches!(h.serve, Serve::Proxy))
            .expect("this world has no proxy")
    }

    /// `(user, password)` pairs valid on htpasswd and token registries:
    /// the first may pull, the second is refused pull access.
    #[expect(clippy::unused_self, reason = "reads as part of the world's API")]
    pub fn users(&self) -> [(&'static str, &'static str); 2] {
        [PULLER, NO_PULL]
    }

    /// Digests of the pushed images.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// A command running `program` in the namespace (see [`Netns::command`]).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.ns.command(program)
    }

    /// Runs `f` on a thread inside the namespace (raw sockets, DNS queries).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.ns.run(f)
    }

    /// Runs `program args` in the namespace and returns its output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// Runs `program args` in the namespace with `root`'s `etc/resolv.conf`
    /// and `etc/hosts` mounted over `/etc`: a reference client then sees
    /// the same node the probe reads with `--root`.
    pub fn exec_on(&self, root: &Path, program: &str, args: &[&str]) -> Output {
        let script = r#"r=$1; shift
mount --bind "$r/etc/resolv.conf" /etc/resolv.conf &&
mount --bind "$r/etc/hosts" /etc/hosts && exec "$@""#;
        self.command("unshare")
            .args(["-m", "--", "sh", "-c", script, "sh"])
            .arg(root)
            .arg(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    /// Runs the probe binary in the namespace: `probe ARGS --root ROOT`.
    pub fn probe(&self, root: &Path, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_probe"))
            .args(args)
            .arg("--root")
            .arg(root)
            .output()
            .expect("run probe")
    }

    /// `probe daemon` on `root` in the namespace as node `node`, its admin
    /// server on `127.0.0.1:port`: stdin closed, stdout (report lines) and
    /// stderr (events) piped, `PROBE_LOG` unset. No timeout wraps it, so the
    /// child's pid is the agent's (its RSS, its descriptors, its SIGTERM).
    pub fn daemon(&self, root: &Path, port: u16, node: &str, args: &[&str]) -> Command {
        let mut cmd = self.ns.server_command(env!("CARGO_BIN_EXE_probe"));
        cmd.arg("daemon")
            .arg("--root")
            .arg(root)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("NODE_NAME", node)
            .env_remove("PROBE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// A path MTU black hole in front of host `name`: its packets longer
    /// than `max_len` bytes are dropped (`iptables -m length`) and no ICMP
    /// says so. Every host of this world then sends one packet per TCP
    /// segment (`gso_max_segs 1` on `lo`): otherwise the kernel hands
    /// netfilter one super-packet of many segments, and a small MSS would
    /// not make the packets small. Use it in a world of your own.
    pub fn drop_packets_above(&self, name: &str, max_len: u16) {
        let addr = self.addr(name);
        self.ns
            .ip(&["link", "set", "dev", "lo", "gso_max_segs", "1"]);
        let (ip, port, above) = (
            addr.ip().to_string(),
            addr.port().to_string(),
            format!("{}:65535", max_len + 1),
        );
        self.ns.iptables(&[
            "OUTPUT", "-s", &ip, "-p", "tcp", "--sport", &port, "-m", "length", "--length", &above,
            "-j", "DROP",
        ]);
    }

    /// Pushes `repo:tag` with a config blob of about `config_size` bytes to
    /// the world's first open anonymous registry (see [`content::push_large_config`]);
    /// returns the config's digest.
    pub fn push_large_config(
        &self,
        registry: &str,
        repo: &str,
        tag: &str,
        config_size: usize,
    ) -> String {
        let host = self.host(registry);
        let tls = match &host.serve {
            Serve::Registry { tls: Some(_), .. } => Some(self.client_tls()),
            _ => None,
        };
        let target = content::Target {
            addr: self.addr(registry),
            host: host.authority(),
            tls,
        };
        let (repo, tag) = (repo.to_owned(), tag.to_owned());
        self.run(move || content::push_large_config(&target, &repo, &tag, config_size))
    }

    /// The log of server `name` (a host name, `dnsmasq` or `tinyproxy`).
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join("logs").join(format!("{name}.log"))).unwrap_or_default()
    }

    /// `http://169.254.169.254`: IMDS as the node finds it (the probe's
    /// default `--imds-endpoint`).
    pub fn imds_url(&self) -> String {
        self.url("imds")
    }

    /// An IMDS address where nothing listens (connection refused): "IMDS
    /// down" for `--imds-endpoint`.
    pub fn imds_down_url(&self) -> String {
        self.url("imds-down")
    }

    /// `http://ip[:port]` of a plain-HTTP host.
    pub fn url(&self, name: &str) -> String {
        let addr = self.addr(name);
        if addr.port() == 80 {
            format!("http://{}", addr.ip())
        } else {
            format!("http://{addr}")
        }
    }

    /// What recording server `name` (`acr.test`, `imds`, `realm-http.test`)
    /// has seen so far, in order. Shared by every test of the binary:
    /// filter by what your test asked for (a repository, an identity).
    pub fn requests(&self, name: &str) -> Vec<Recorded> {
        record::read(&self.dir.join("logs").join(format!("{name}.log")))
    }

    /// [`World::requests`] of `acr.test`.
    pub fn acr_log(&self) -> Vec<Recorded> {
        self.requests("acr.test")
    }

    /// [`World::requests`] of IMDS.
    pub fn imds_log(&self) -> Vec<Recorded> {
        self.requests("imds")
    }

    /// [`World::requests`] of `realm-http.test`.
    pub fn realm_log(&self) -> Vec<Recorded> {
        self.requests("realm-http.test")
    }

    /// Every secret of the bed a test may find leaked: the fixed ones
    /// (passwords, AAD tokens, service principal secrets) and every token
    /// the world's servers issued so far.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = acr::static_secrets();
        all.extend([PULLER.1, NO_PULL.1].map(str::to_owned));
        all.extend(self.secrets.all());
        all
    }

    /// A TLS client configuration trusting the test CA.
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        let pem = fs::read(self.ca_pem_path()).expect("read ca.pem");
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).expect("ca pem");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("add test CA");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(config)
    }

    /// One HTTP request from inside the namespace to host `name` (TLS when
    /// the host serves TLS), `Host` set to the name.
    pub fn call(
        &self,
        name: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let host = self.host(name);
        let tls = match &host.serve {
            Serve::Registry { tls: Some(_), .. }
            | Serve::Handler { tls: Some(_), .. }
            | Serve::Built { tls: Some(_), .. }
            | Serve::TokenIssuer { .. } => Some(self.client_tls()),
            _ => None,
        };
        let addr = self.addr(name);
        let host_header = host.authority();
        let (method, target, body) = (method.to_owned(), target.to_owned(), body.to_vec());
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.run(move || {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            http::request(addr, tls, &host_header, &method, &target, &headers, body)
        })
    }

    /// The AAD token IMDS gives `mi` for `audience`, fetched from IMDS.
    pub fn imds_token(&self, mi: &ManagedIdentity, audience: acr::Audience) -> String {
        let target = format!(
            "{}?api-version=2018-02-01&resource={}&client_id={}",
            acr::IMDS_TOKEN_PATH,
            url::form_urlencoded::byte_serialize(audience.resource().as_bytes())
                .collect::<String>(),
            mi.client_id
        );
        let resp = self
            .call("imds", "GET", &target, &[("Metadata", "true")], b"")
            .expect("IMDS answers");
        assert_eq!(resp.status, 200, "IMDS token for {}", mi.name);
        json_field(&resp, "access_token")
    }

    /// An ACR refresh token for `mi` from `registry` (an ACR front), the
    /// way acr-credential-provider gets one: IMDS, then `/oauth2/exchange`.
    /// What the kubelet hands containerd as the null-GUID user's password.
    pub fn acr_refresh_token(&self, registry: &str, mi: &ManagedIdentity) -> String {
        let aad = self.imds_token(mi, acr::Audience::Acr);
        let form = form_body(&[
            ("grant_type", "access_token"),
            ("service", registry),
            ("tenant", acr::TENANT_ID),
            ("access_token", &aad),
        ]);
        let resp = self
            .call(registry, "POST", "/oauth2/exchange", FORM, &form)
            .expect("exchange answers");
        assert_eq!(resp.status, 200, "exchange for {}", mi.name);
        json_field(&resp, "refresh_token")
    }

    /// An ACR access token for `scope` (e.g. `repository:multi:pull`) from
    /// a refresh token, through `POST /oauth2/token`.
    pub fn acr_access_token(&self, registry: &str, refresh: &str, scope: &str) -> String {
        let form = form_body(&[
            ("grant_type", "refresh_token"),
            ("service", registry),
            ("scope", scope),
            ("refresh_token", refresh),
        ]);
        let resp = self
            .call(registry, "POST", "/oauth2/token", FORM, &form)
            .expect("token endpoint answers");
        assert_eq!(resp.status, 200, "access token for {scope}");
        json_field(&resp, "access_token")
    }

    fn setup(&mut self, pki: &Pki) {
        self.network();
        self.files(pki);
        self.start_dns();
        let signer = Signer::new(&pki.token_signer(), self.secrets.clone());
        let mut waits = vec![SocketAddr::from((DNS_IP, 53))];
        for host in self.hosts.clone() {
            let addr = self.start(&host, pki, &signer);
            // Only the proxy may connect to a proxy-only host; its registry
            // starts as fast as the others, which are waited for.
            if let (Some(addr), false) = (addr, host.net == Net::ProxyOnly) {
                waits.push(addr);
            }
        }
        self.wait_listening(&waits);
        self.push_content(pki);
    }

    fn network(&self) {
        let mut seen = HashSet::new();
        let ips = self.hosts.iter().filter_map(|h| h.ip.map(|ip| (ip, h.net)));
        for (ip, net) in [(DNS_IP, Net::Open), (SILENT_DNS_IP, Net::Open)]
            .into_iter()
            .chain(ips)
        {
            if !seen.insert(ip) {
                continue;
            }
            let cidr = format!("{ip}/32");
            match net {
                Net::Unreachable => self.ns.ip(&["route", "add", "unreachable", &cidr]),
                _ => self.ns.ip(&["addr", "add", &cidr, "dev", "lo"]),
            }
        }
        let silent = SILENT_DNS_IP.to_string();
        for proto in ["udp", "tcp"] {
            self.ns.iptables(&[
                "INPUT", "-d", &silent, "-p", proto, "--dport", "53", "-j", "DROP",
            ]);
        }
        for h in &self.hosts {
            let Some(ip) = h.ip.map(|ip| ip.to_string()) else {
                continue;
            };
            match h.net {
                Net::Dropped => self.ns.iptables(&["INPUT", "-d", &ip, "-j", "DROP"]),
                // Only new connections (--syn): answers of the registry
                // go back to the same local address and must pass.
                Net::ProxyOnly => self.ns.iptables(&[
                    "OUTPUT",
                    "-d",
                    &ip,
                    "-p",
                    "tcp",
                    "--syn",
                    "-m",
                    "owner",
                    "!",
                    "--uid-owner",
                    PROXY_UID,
                    "-j",
                    "DROP",
                ]),
                Net::Open | Net::Unreachable => {}
            }
        }
    }

    fn files(&self, pki: &Pki) {
        let etc = Path::new("/etc/netns").join(self.ns.name());
        fs::create_dir_all(&etc).expect("create /etc/netns entry");
        fs::write(etc.join("resolv.conf"), format!("nameserver {DNS_IP}\n")).expect("resolv");
        fs::write(etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n").expect("hosts");
        let tls = self.dir.join("tls");
        fs::write(tls.join("ca.pem"), pki.ca_pem()).expect("ca.pem");
        fs::write(tls.join("token-ca.pem"), pki.token_ca_pem()).expect("token-ca.pem");
        fs::create_dir_all(tls.join("certs.d")).expect("certs.d");
        fs::write(tls.join("certs.d/ca.crt"), pki.ca_pem()).expect("ca.crt");
        let mut htpasswd = String::new();
        for (user, password) in [PULLER, NO_PULL] {
            let out = netns::run_host("htpasswd", &["-Bbn", user, password]);
            htpasswd.push_str(String::from_utf8_lossy(&out.stdout).trim());
            htpasswd.push('\n');
        }
        fs::write(self.dir.join("htpasswd"), htpasswd).expect("htpasswd");
    }

    fn start_dns(&mut self) {
        let mut cmd = self.ns.server_command(tool("dnsmasq"));
        cmd.args([
            "-C",
            "/dev/null",
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
        ])
        // Staying root keeps pdeathsig (a uid change clears it).
        .args([
            "--user=root",
            "--group=root",
            "--pid-file=",
            "--bind-interfaces",
        ])
        .arg(format!("--listen-address={DNS_IP}"))
        .arg(format!(
            "--log-facility={}",
            self.dir.join("logs/dnsmasq.log").display()
        ))
        .args(["--log-queries", "--local=/test/"]);
        for h in &self.hosts {
            match (h.dns, h.ip, h.net) {
                (_, _, Net::ProxyOnly) | (Dns::Hidden, ..) => {}
                (Dns::A, Some(ip), _) => {
                    cmd.arg(format!("--host-record={},{ip}", h.name));
                }
                (Dns::NoAddress, ..) => {
                    cmd.arg(format!("--txt-record={},exists without address", h.name));
                }
                // "#" = the default servers, of which there are none.
                (Dns::Refused, ..) => {
                    cmd.arg(format!("--server=/{}/#", h.name));
                }
                (Dns::A, None, _) => panic!("{}: an A record needs an ip", h.name),
            }
        }
        let log = self.dir.join("logs/dnsmasq.out");
        self.procs
            .push(netns::spawn_tied("dnsmasq", "KILL", cmd, &log));
    }

    /// Starts what `host` serves; returns the address to wait for.
    fn start(&mut self, host: &Host, pki: &Pki, signer: &Signer) -> Option<SocketAddr> {
        let ip = host.ip?;
        let addr = SocketAddr::new(ip.into(), host.port);
        let log = self.dir.join("logs").join(format!("{}.log", host.name));
        match &host.serve {
            Serve::Nothing => return None,
            Serve::Registry { tls, auth } => {
                let config = self.registry_config(host, tls.as_ref(), auth, pki);
                let path = self.dir.join(format!("{}.yml", host.name));
                fs::write(&path, config).expect("registry config");
                let mut cmd = self.ns.server_command("docker-registry");
                cmd.arg("serve").arg(path);
                self.procs
                    .push(netns::spawn_tied(&host.name, "KILL", cmd, &log));
            }
            Serve::Handler { tls, handler } => {
                let tls = tls.as_ref().map(|c| server_tls(pki, &host.name, c));
                self.serve_in_process(addr, tls, handler.clone());
            }
            Serve::TokenIssuer { tls } => {
                let tls = server_tls(pki, &host.name, tls);
                self.serve_in_process(addr, Some(tls), token::issuer(signer.clone()));
            }
            Serve::Built { tls, build } => {
                let tls = tls.as_ref().map(|c| server_tls(pki, &host.name, c));
                let kit = Kit {
                    signer: signer.clone(),
                    recorder: Recorder::create(&log),
                    secrets: self.secrets.clone(),
                };
                self.serve_in_process(addr, tls, build(&kit));
            }
            Serve::Proxy => self.start_proxy(host, &log),
            Serve::Hostile { tls, switch } => {
                let (tls, switch) = (server_tls(pki, &host.name, tls), switch.clone());
                let server = self.ns.run(move || {
                    let listener = TcpListener::bind(addr)
                        .unwrap_or_else(|e| panic!("bind {addr} in netns: {e}"));
                    hostile::serve(listener, tls, switch)
                });
                self.servers.push(server);
            }
        }
        Some(addr)
    }

    fn serve_in_process(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Handler,
    ) {
        let server = self.ns.run(move || {
            let listener =
                TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in netns: {e}"));
            http::serve(listener, tls, handler)
        });
        self.servers.push(server);
    }

    fn registry_config(&self, host: &Host, tls: Option<&Cert>, auth: &Auth, pki: &Pki) -> String {
        let d = &self.dir;
        let mut y = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: {}:{}\n  secret: rpt-shared-secret\n",
            d.join("storage").display(),
            host.ip.expect("registry ip"),
            host.port
        );
        if let Some(cert) = tls {
            let leaf = pki.leaf(&host.name, cert);
            let (crt, key) = (
                d.join(format!("tls/{}.crt", host.name)),
                d.join(format!("tls/{}.key", host.name)),
            );
            fs::write(&crt, &leaf.chain_pem).expect("write cert");
            fs::write(&key, &leaf.key_pem).expect("write key");
            let _ = write!(
                y,
                "  tls:\n    certificate: {}\n    key: {}\n",
                crt.display(),
                key.display()
            );
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Htpasswd => {
                let _ = write!(
                    y,
                    "auth:\n  htpasswd:\n    realm: rpt-basic\n    path: {}\n",
                    d.join("htpasswd").display()
                );
            }
            Auth::Token { realm, service } => {
                let _ = write!(
                    y,
                    "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    service.as_deref().unwrap_or(&host.name),
                    token::ISSUER,
                    d.join("tls/token-ca.pem").display()
                );
            }
        }
        y
    }

    fn start_proxy(&mut self, host: &Host, log: &Path) {
        let ip = host.ip.expect("proxy ip");
        // Only 443 may be CONNECTed to: CONNECT to any other port is the
        // 403 of PROXY_REJECTED.
        let conf = format!(
            "User nobody\nGroup nogroup\nPort {}\nListen {ip}\nTimeout 30\nLogLevel Info\n\
             MaxClients 100\nConnectPort 443\n",
            host.port
        );
        let conf_path = self.dir.join("tinyproxy.conf");
        fs::write(&conf_path, conf).expect("tinyproxy.conf");
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for h in self.hosts.iter().filter(|h| h.net == Net::ProxyOnly) {
            let _ = writeln!(hosts, "{} {}", h.ip.expect("proxy-only ip"), h.name);
        }
        let hosts_path = self.dir.join("proxy-hosts");
        fs::write(&hosts_path, hosts).expect("proxy hosts");
        // The proxy gets its own /etc/hosts (a private mount namespace), so
        // it alone resolves the proxy-only names.
        let mut cmd = self.ns.server_command("unshare");
        cmd.args(["-m", "--", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/hosts && exec tinyproxy -d -c "$1""#)
            .arg(hosts_path)
            .arg(conf_path);
        self.procs
            .push(netns::spawn_tied("tinyproxy", "KILL", cmd, log));
    }

    fn wait_listening(&mut self, addrs: &[SocketAddr]) {
        let pending = addrs.to_vec();
        let missing = self.ns.run(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            pending
                .into_iter()
                .filter(|addr| {
                    loop {
                        if TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok() {
                            break false;
                        }
                        if Instant::now() > deadline {
                            break true;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
                .collect::<Vec<_>>()
        });
        if missing.is_empty() {
            return;
        }
        let mut why = String::new();
        for p in &mut self.procs {
            if p.exited() {
                let log = fs::read_to_string(&p.log).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                let _ = write!(why, "\n  {} exited: {tail}", p.name);
            }
        }
        panic!("not listening after 20s: {missing:?}{why}");
    }

    fn push_content(&mut self, pki: &Pki) {
        let Some(host) = self.hosts.iter().find(|h| {
            matches!(
                &h.serve,
                Serve::Registry {
                    tls: None | Some(Cert::Good),
                    auth: Auth::Anonymous
                }
            ) && h.net == Net::Open
        }) else {
            return;
        };
        let tls = match &host.serve {
            Serve::Registry { tls: Some(_), .. } => Some(client_tls(pki)),
            _ => None,
        };
        let target = content::Target {
            addr: SocketAddr::new(host.ip.expect("registry ip").into(), host.port),
            host: host.authority(),
            tls,
        };
        self.content = self.ns.run(move || content::push(&target));
    }
}

fn server_tls(pki: &Pki, name: &str, cert: &Cert) -> Arc<rustls::ServerConfig> {
    let leaf = pki.leaf(name, cert);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_no_client_auth()
    .with_single_cert(leaf.chain_der.clone(), leaf.key())
    .expect("server tls config");
    Arc::new(config)
}

fn client_tls(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der()).expect("add test CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

const FORM: &[(&str, &str)] = &[("Content-Type", "application/x-www-form-urlencoded")];

fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn json_field(resp: &Response, field: &str) -> String {
    let json: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON answer");
    json[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in the answer"))
        .to_owned()
}
