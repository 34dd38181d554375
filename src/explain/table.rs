//! The pattern table of `probe explain`: which runtime error text means which
//! contract code, read top to bottom, first match wins.
//!
//! Each row names the upstream source its text comes from. The order is the
//! point: what was never contacted (a bad reference, the node's own config)
//! comes first, then the proxy, DNS, TCP and TLS, then the registry's
//! answers. A 401 next to a dial error is a dial error: the 401 came from
//! another host or another attempt, the dial error is why this pull failed.
//!
//! This file is data only: no matching logic (that is `mod.rs`), no I/O.

use crate::code::Code;
use crate::verdict::advice::Case;

/// How a row finds its text in a message (ASCII case-insensitive).
#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// These texts, in this order. The part of the message that decided
    /// starts at the first and runs to the end of that clause.
    Seq(&'static [&'static str]),
    /// An HTTP status in `lo..=hi` written as a number of its own
    /// (`401 Unauthorized`, `503 (Service Unavailable)`, `HTTP 403`), after
    /// `after` (empty: anywhere).
    Status {
        after: &'static str,
        lo: u16,
        hi: u16,
    },
}

/// What a connection failure is about, when a row is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Not a connection failure: an answer, or nothing contacted.
    No,
    /// A host could not be reached (or talked to). When that host is the
    /// token realm the code becomes `AUTH_SERVER_UNREACHABLE`, when it is a
    /// blob store `BLOB_UNREACHABLE`, as the probe's own stages would say.
    Host,
}

/// One row: the text, the code it means, the codes it cannot rule out, what
/// to do, and where upstream the text comes from.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    /// Alternatives, tried in order.
    pub find: &'static [Find],
    pub code: Code,
    pub also: &'static [Code],
    pub reach: Reach,
    /// The case of the code whose fix applies, when not the code's own.
    pub case: Option<Case>,
    /// What the message says, then `{fix}`: the code's (or case's) fix from
    /// the advice table. Placeholders: `{image}`, `{registry}`, `{host}`,
    /// `{addr}`, `{lookup}`, `{ip}`, `{plugin}`, `{part}`, `{probe}`,
    /// `{to_tell}`, and the table's own.
    pub hint: &'static str,
    pub source: &'static str,
}

use Find::{Seq, Status};

const fn s(texts: &'static [&'static str]) -> Find {
    Seq(texts)
}

const TO_TELL: &str = "to tell which, run `{probe} --docker-config <the pull secret's .dockerconfigjson>` on the node: with working credentials a missing repository shows as IMAGE_NOT_FOUND and refused credentials as AUTH_REJECTED";

/// The table, in the order it is read.
pub const PATTERNS: &[Pattern] = &[
    // --- Nothing was contacted: the reference itself ---------------------
    Pattern {
        find: &[
            s(&["invalid reference format"]),
            s(&["repository name must be lowercase"]),
            s(&["failed to apply default image tag"]),
            s(&["couldn't parse image name"]),
            s(&["couldn't parse image reference"]),
            s(&["failed to parse image reference"]),
            s(&["invalidimagename"]),
        ],
        code: Code::InvalidReference,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the image reference {image} cannot be parsed, so nothing was pulled: {part}; {fix}",
        source: "kubernetes pkg/kubelet/images/image_manager.go (applyDefaultImageTag, ErrInvalidImageName), pkg/util/parsers/parsers.go; containerd internal/cri/server/images/image_pull.go; distribution/reference errors",
    },
    // --- The node itself, not the registry ---------------------------------
    // The registry answered and the bytes arrived (or were arriving); the
    // node could not keep them. The probe checks the registry and says OK.
    Pattern {
        find: &[s(&["no space left on device"]), s(&["disk quota exceeded"])],
        code: Code::NodeDiskFull,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the node ran out of disk space (or inodes) where the runtime stores and unpacks images, so {image} could not be written; the registry is not at fault (`df -h /var/lib/containerd` and `df -i` show it): {fix}",
        source: "containerd core/unpack/unpacker.go (\"failed to extract layer (%s %s) to %s as %q: %w\"; 1.6: rootfs/apply.go \"failed to extract layer %s: %w\"), core/content/local/writer.go; the kernel's ENOSPC/EDQUOT text from Go's syscall package",
    },
    Pattern {
        find: &[
            s(&["because of no progress in"]),
            s(&[
                "code = canceled",
                "failed to pull and unpack image",
                "context canceled",
            ]),
        ],
        code: Code::PullProgressTimeout,
        // The request that made no progress may be a layer (the blob store)
        // or the registry's own answer that never comes (the probe's
        // manifest stage times out: REGISTRY_ERROR).
        also: &[Code::BlobUnreachable, Code::RegistryError],
        reach: Reach::No,
        case: None,
        hint: "containerd cancelled the pull of {image} because its requests got no bytes for its image_pull_progress_timeout (default 1m in 1.7, 5m in 2.x): a layer download or the registry's answer stalled (slow link, a middlebox dropping large packets, a slow blob endpoint; `{probe}` on the node shows whether the blob endpoint answers); {fix}",
        source: "containerd pkg/cri/server/image_pull.go (1.7) and internal/cri/server/images/image_pull.go (2.x): pullProgressReporter logs \"cancel pulling image %s because of no progress in %v\" and cancels the pull's context, so the kubelet gets `code = Canceled desc = failed to pull and unpack image %q: context canceled`",
    },
    // --- Nothing was contacted: the node's own config --------------------
    Pattern {
        find: &[
            s(&["failed getting credential from external registry credential provider"]),
            s(&["error execing credential provider plugin"]),
            s(&["error decoding credential provider plugin response"]),
        ],
        code: Code::CredentialProviderFailed,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the kubelet's image credential provider {plugin} failed, so the pull went without its credentials: {fix}; the message holds the error it printed",
        source: "kubernetes pkg/credentialprovider/plugin/plugin.go (runPlugin, getCachedCredentials)",
    },
    Pattern {
        find: &[s(&["is blocked in"])],
        code: Code::ConfigBlocked,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the node's registries.conf blocks this registry (the message names the files; remove `blocked = true` from its [[registry]] table, or pull from an allowed registry): {fix}",
        source: "containers/image docker/docker_client.go (\"registry %s is blocked in %s or %s\")",
    },
    Pattern {
        find: &[s(&["no resolve hosts"]), s(&["no pull hosts"])],
        code: Code::ConfigBlocked,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "containerd's registry config leaves no host to pull {image} from (in certs.d/<host>/hosts.toml give the upstream `server` or a mirror the `resolve` and `pull` capabilities): {fix}",
        source: "containerd core/remotes/docker/resolver.go (\"no resolve hosts\"), fetcher.go (\"no pull hosts\")",
    },
    // --- The proxy --------------------------------------------------------
    Pattern {
        find: &[s(&["proxyconnect tcp"])],
        code: Code::ProxyUnreachable,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the runtime's proxy cannot be reached: {fix}; `{probe}` on the node shows the proxy stage",
        source: "Go net/http transport.go (dialConn wraps a failed proxy dial as Op \"proxyconnect\")",
    },
    Pattern {
        find: &[
            s(&["proxy authentication required"]),
            s(&["\": forbidden"]),
            s(&["\": access violation"]),
        ],
        code: Code::ProxyRejected,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the proxy refused to connect to {host}: {fix}",
        source: "Go net/http transport.go (a CONNECT answered other than 200 fails with the status text alone: `Get \"https://host/v2/\": Forbidden`); tinyproxy's 403 text \"Access violation\" (the probe's test bed)",
    },
    // --- DNS --------------------------------------------------------------
    Pattern {
        find: &[
            s(&["lookup ", "i/o timeout"]),
            s(&["dial tcp: i/o timeout"]),
            s(&["lookup ", "temporary failure in name resolution"]),
        ],
        code: Code::DnsTimeout,
        also: &[Code::DnsServfail],
        reach: Reach::Host,
        case: None,
        hint: "the node's DNS did not answer for {lookup}: {fix}",
        source: "Go net dnsclient_unix.go (a DNSError that timed out: \"lookup NAME on SERVER: ... i/o timeout\"; `dial tcp: i/o timeout` before Go named the lookup, moby/moby#13337); glibc EAI_AGAIN through Go's cgo resolver",
    },
    Pattern {
        find: &[s(&["lookup ", "connection refused"])],
        code: Code::DnsTimeout,
        also: &[Code::DnsServfail],
        reach: Reach::Host,
        case: None,
        hint: "the node's DNS server refuses queries (nothing listens on port 53 there): {fix}",
        source: "Go net dnsclient_unix.go (a DNSError whose read failed: \"lookup NAME on SERVER: read udp ...: connection refused\")",
    },
    Pattern {
        find: &[
            s(&["lookup ", "server misbehaving"]),
            s(&["server misbehaving"]),
        ],
        code: Code::DnsServfail,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "the node's DNS server failed to resolve {lookup} (SERVFAIL or REFUSED): {fix}",
        source: "Go net dnsclient_unix.go (errServerMisbehaving)",
    },
    Pattern {
        find: &[
            s(&["lookup ", "no such host"]),
            s(&["no such host"]),
            s(&["name or service not known"]),
        ],
        code: Code::DnsNxdomain,
        also: &[Code::DnsNoAddress],
        reach: Reach::Host,
        case: None,
        hint: "{lookup} does not resolve from the node: {fix}. Go says \"no such host\" both for a name that does not exist and for one without an address; `{probe}` tells them apart",
        source: "Go net dnsclient_unix.go (errNoSuchHost, for NXDOMAIN and for an answer without A/AAAA records); glibc EAI_NONAME through Go's cgo resolver",
    },
    // --- TCP --------------------------------------------------------------
    Pattern {
        find: &[
            s(&["dial tcp ", "connection refused"]),
            s(&["connection refused"]),
            s(&["actively refused it"]),
        ],
        code: Code::TcpRefused,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "nothing listens at {addr}: {fix}",
        source: "Go net (OpError \"dial tcp ADDR: connect: connection refused\", ECONNREFUSED)",
    },
    Pattern {
        find: &[
            s(&["dial tcp ", "no route to host"]),
            s(&["no route to host"]),
            s(&["dial tcp ", "network is unreachable"]),
            s(&["network is unreachable"]),
        ],
        code: Code::TcpUnreachable,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "the node has no route to {addr}: {fix}",
        source: "Go net (OpError \"connect: no route to host\" EHOSTUNREACH, \"connect: network is unreachable\" ENETUNREACH)",
    },
    Pattern {
        find: &[
            s(&["dial tcp ", "i/o timeout"]),
            s(&["connect: connection timed out"]),
        ],
        code: Code::TcpTimeout,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "packets to {addr} are dropped: {fix}",
        source: "Go net (OpError \"dial tcp ADDR: i/o timeout\": the name was resolved, the connect got no answer; ETIMEDOUT)",
    },
    // --- Issue 18: the node's clock and the path MTU ---------------------
    // Before the TLS rows: these texts are theirs, with one more cause each
    // that the message alone cannot rule out.
    Pattern {
        find: &[
            s(&[
                "certificate has expired or is not yet valid",
                "current time ",
                " is after ",
            ]),
            s(&[
                "certificate has expired or is not yet valid",
                "current time ",
                " is before ",
            ]),
            s(&["certificate has expired or is not yet valid"]),
        ],
        code: Code::TlsExpired,
        also: &[Code::ClockSkew],
        reach: Reach::Host,
        case: None,
        hint: "the certificate of {host} is expired or not yet valid by the node's clock (the \"current time\" in the message is the node's clock when it pulled; if that time is far from when the pull happened, the event's time, the node's clock is wrong: CLOCK_SKEW, fix its time sync with `timedatectl status`, `chronyc tracking`; `{probe}` on the node tells them apart by the registry's own clock, its Date header): {fix}",
        source: "Go crypto/x509 verify.go (CertificateInvalidError{Reason: Expired}: \"x509: certificate has expired or is not yet valid: \" + \"current time %s is after %s\" / \"current time %s is before %s\", Certificate.isValid)",
    },
    Pattern {
        find: &[s(&["net/http: tls handshake timeout"])],
        code: Code::TlsHandshake,
        also: &[Code::MtuBlackhole, Code::TcpTimeout],
        reach: Reach::Host,
        case: None,
        hint: "TCP to {host} connected but its TLS handshake got no answer in time (the server's certificate is the first large packet of a connection, so a path MTU black hole, a VPN, tunnel or overlay with an MTU below 1500 and ICMP \"fragmentation needed\" filtered, looks exactly like this, as does an overloaded server; `{probe}` on the node retries with a small segment size and says MTU_BLACKHOLE when that completes; `tracepath -n {host}` shows the path MTU): {fix}",
        source: "Go net/http transport.go (persistConn.addTLS: tlsHandshakeTimeoutError \"net/http: TLS handshake timeout\", containerd's TLSHandshakeTimeout 10 s in core/remotes/docker/config/hosts.go)",
    },
    Pattern {
        find: &[
            s(&["failed to copy", "connection reset by peer"]),
            s(&["failed to copy", "i/o timeout"]),
            s(&["short read: expected ", " bytes but got ", "unexpected eof"]),
        ],
        code: Code::BlobUnreachable,
        also: &[Code::MtuBlackhole, Code::RegistryError],
        reach: Reach::No,
        case: None,
        hint: "the layer download broke off after the manifest was read (reset, stalled or cut): the blob's host drops or resets large transfers (a path MTU black hole, where small requests pass and full-size packets never arrive, does this, as do a middlebox or the blob storage itself; `{probe} --image {image}` on the node retries a stalled transfer with a small segment size and says MTU_BLACKHOLE when that completes; `tracepath -n <blob host>` shows the path MTU); if the blob's host is not reachable at all: {fix}",
        source: "containerd core/content/helpers.go (content.Copy: \"failed to copy: %w\" around copyWithBuffer's read error of the blob body, \"short read: expected %d bytes but got %d: %w\" io.ErrUnexpectedEOF when the body ends early), Go net (\"read tcp A->B: read: connection reset by peer\" ECONNRESET, \"i/o timeout\"), io.ErrUnexpectedEOF",
    },
    // --- TLS --------------------------------------------------------------
    Pattern {
        find: &[s(&["certificate signed by unknown authority"])],
        code: Code::TlsUntrusted,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "the node does not trust the certificate of {host}: {fix}",
        source: "Go crypto/x509 verify.go (UnknownAuthorityError)",
    },
    Pattern {
        find: &[
            s(&["x509: certificate is valid for "]),
            s(&["x509: certificate is not valid for any names"]),
            s(&[
                "cannot validate certificate for ",
                "doesn't contain any ip sans",
            ]),
            s(&["x509: certificate relies on legacy common name field"]),
        ],
        code: Code::TlsNameMismatch,
        also: &[],
        reach: Reach::Host,
        case: None,
        hint: "the certificate is not valid for {host} (the message lists the names it covers): {fix}",
        source: "Go crypto/x509 verify.go (HostnameError)",
    },
    Pattern {
        find: &[
            s(&["server gave http response to https client"]),
            s(&["first record does not look like a tls handshake"]),
        ],
        code: Code::TlsHandshake,
        also: &[],
        reach: Reach::Host,
        case: Some(Case::PlainHttp),
        hint: "{host} speaks plain HTTP where the runtime spoke HTTPS: {fix}",
        source: "Go net/http client.go (\"http: server gave HTTP response to HTTPS client\"), crypto/tls conn.go (\"tls: first record does not look like a TLS handshake\")",
    },
    Pattern {
        find: &[
            s(&["net/http: tls handshake timeout"]),
            s(&["tls: handshake failure"]),
            s(&["remote error: tls: "]),
            s(&["connection reset by peer"]),
            s(&["\": eof"]),
            s(&["unexpected eof"]),
        ],
        code: Code::TlsHandshake,
        also: &[Code::TcpTimeout, Code::RegistryError],
        reach: Reach::Host,
        case: None,
        hint: "the connection to {host} broke before an answer (TLS handshake failed, reset or closed; `{probe}` on the node shows at which stage): {fix}",
        source: "Go net/http transport.go (\"net/http: TLS handshake timeout\"), crypto/tls alert.go (\"tls: handshake failure\"), io.EOF and ECONNRESET from a closed connection",
    },
    // --- A timeout that does not say where --------------------------------
    Pattern {
        find: &[
            s(&["client.timeout exceeded while awaiting headers"]),
            s(&["request canceled while waiting for connection"]),
            s(&["context deadline exceeded"]),
            s(&["i/o timeout"]),
        ],
        code: Code::TcpTimeout,
        also: &[
            Code::DnsTimeout,
            Code::TlsHandshake,
            Code::BlobUnreachable,
            Code::RegistryError,
        ],
        reach: Reach::Host,
        case: None,
        hint: "the request to {host} timed out without saying at which step (DNS, connect, TLS, the answer, or the layer download; run `{probe}` on the node to see which stage times out); if packets are dropped: {fix}",
        source: "Go net/http client.go (\"Client.Timeout exceeded while awaiting headers\"), context.DeadlineExceeded (\"context deadline exceeded\", also the kubelet's --runtime-request-timeout)",
    },
    // --- The registry answered --------------------------------------------
    Pattern {
        find: &[s(&["client with ip ", "is not allowed access"])],
        code: Code::IpNotAllowed,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "{registry} refuses the node's egress address {ip}: {fix}",
        source: "Azure Container Registry firewall: 403 DENIED \"client with IP '1.2.3.4' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.\" (Azure/acr#633)",
    },
    Pattern {
        find: &[
            s(&["toomanyrequests"]),
            s(&["you have reached your pull rate limit"]),
            s(&["too many requests"]),
            Status {
                after: "",
                lo: 429,
                hi: 429,
            },
        ],
        code: Code::RateLimited,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry is rate limiting pulls from the node's address: {fix}",
        source: "distribution errcode TOOMANYREQUESTS (containerd core/remotes/docker/errdesc.go), Docker Hub's \"You have reached your pull rate limit\", containers/image docker/errors.go ErrTooManyRequests",
    },
    Pattern {
        find: &[
            s(&["no match for platform in manifest"]),
            s(&["no image found in image index for architecture"]),
            s(&["no image found in manifest list for architecture"]),
            s(&["no matching manifest for"]),
        ],
        code: Code::PlatformMissing,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "{image} has no variant for the node's platform (OS/architecture): {fix}",
        source: "containerd core/images/handlers.go (\"no match for platform in manifest\"), containers/image internal/manifest/oci_index.go and docker_schema2_list.go, moby daemon (\"no matching manifest for %s in the manifest list entries\")",
    },
    Pattern {
        find: &[
            s(&["unable to retrieve auth token: invalid username/password"]),
            s(&["incorrect username or password"]),
            Status {
                after: "failed to fetch oauth token",
                lo: 401,
                hi: 401,
            },
        ],
        code: Code::AuthRejected,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry refused the credentials sent for {registry}: {fix}",
        source: "containers/image docker/errors.go (ErrUnauthorizedForCredentials); containerd core/remotes/docker/authorizer.go (\"failed to fetch oauth token\" is the request made with a secret)",
    },
    Pattern {
        find: &[
            s(&["no realm specified for token auth challenge"]),
            s(&["invalid token auth challenge realm"]),
            s(&["no scope specified for token auth challenge"]),
        ],
        code: Code::AuthError,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry asks for a Bearer token but its WWW-Authenticate challenge names no usable token service (realm), so no client can get one, a registry-side misconfiguration or a proxy answering in its place (`{probe}` on the node shows the challenge it got): {fix}",
        source: "containerd core/remotes/docker/auth/fetch.go (GenerateTokenOptions: \"no realm specified for token auth challenge\", \"invalid token auth challenge realm\"; 1.6: remotes/docker/auth/fetch.go), core/remotes/docker/authorizer.go (\"no scope specified for token auth challenge\")",
    },
    Pattern {
        find: &[
            Status {
                after: "failed to fetch oauth token",
                lo: 500,
                hi: 599,
            },
            Status {
                after: "failed to fetch anonymous token",
                lo: 500,
                hi: 599,
            },
            Status {
                after: "requesting bearer token",
                lo: 500,
                hi: 599,
            },
            s(&["unable to decode token response"]),
            s(&["authorization server did not include a token"]),
        ],
        code: Code::AuthError,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry's token service (or a proxy in its place) answered with an error or with something that is not a token: {fix}",
        source: "containerd core/remotes/docker/authorizer.go, auth/fetch.go (ErrUnexpectedStatus, \"unable to decode token response\", ErrNoToken); containers/image docker/docker_client.go (\"Requesting bearer token\")",
    },
    Pattern {
        find: &[Status {
            after: "failed to fetch anonymous token",
            lo: 401,
            hi: 401,
        }],
        code: Code::AuthRequired,
        also: &[Code::ImageNotFound],
        reach: Reach::No,
        case: None,
        hint: "the registry gives no anonymous token for {image}, so it needs credentials (some registries, ACR, answer the same for a repository that does not exist: check the name too): {fix}; {to_tell}",
        source: "containerd core/remotes/docker/authorizer.go (\"failed to fetch anonymous token\": no credentials were configured)",
    },
    Pattern {
        find: &[s(&["no basic auth credentials"])],
        code: Code::AuthRequired,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry asked for a username and password and none was configured for {registry}: {fix}",
        source: "containerd core/remotes/docker/authorizer.go (\"no basic auth credentials\")",
    },
    // Containerd and Docker say in so many words that they cannot tell. The
    // probe, seeing the same refusal without credentials, says
    // AUTH_REQUIRED: so does explain, and the name is the other suspect.
    Pattern {
        find: &[
            s(&["pull access denied"]),
            s(&["requested access to the resource is denied"]),
            s(&["insufficient_scope"]),
        ],
        code: Code::AuthRequired,
        also: &[Code::ImageNotFound, Code::AccessDenied],
        reach: Reach::No,
        case: None,
        hint: "the registry refused {image} without saying whether the repository is missing or private: check the name for typos (a one-word name means Docker Hub's docker.io/library/<name>; an image built locally must be pushed), and if it is private: {fix}; {to_tell}",
        source: "containerd core/remotes/docker/resolver.go (\"pull access denied, repository does not exist or may require authorization\"), moby distribution/errors.go (\"pull access denied for %s, repository does not exist or may require 'docker login'\"), distribution errcode DENIED and the insufficient_scope challenge",
    },
    Pattern {
        find: &[
            Status {
                after: "pinging container registry",
                lo: 404,
                hi: 404,
            },
            s(&["error parsing http 404 response body"]),
        ],
        code: Code::NotARegistry,
        also: &[Code::ImageNotFound],
        reach: Reach::No,
        case: None,
        hint: "{host} answered 404 where a registry answers its API, so it is not a registry at that host and port: {fix}",
        source: "containers/image docker/docker_client.go (the /v2/ ping, \"pinging container registry\"); moby registry (\"error parsing HTTP 404 response body\" for a non-JSON page)",
    },
    Pattern {
        find: &[s(&["rejecting ", " byte manifest for "])],
        code: Code::RegistryError,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry declared a manifest larger than containerd accepts (4 MiB), so containerd refused it; its \": not found\" does not mean the image is missing: the registry (or something in front of it) answers wrongly for {image} (`{probe}` on the node shows the size it declares): {fix}",
        source: "containerd core/remotes/docker/resolver.go (\"rejecting %d byte manifest for %s: %w\" with ErrNotFound, over MaxManifestSize; 1.6: remotes/docker/resolver.go)",
    },
    Pattern {
        find: &[
            s(&["manifest unknown"]),
            s(&["name unknown"]),
            s(&["repository name not known to registry"]),
            s(&["manifest for ", " not found"]),
            s(&["repository ", " not found"]),
        ],
        code: Code::ImageNotFound,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry has no {image}: {fix}",
        source: "distribution errcodes MANIFEST_UNKNOWN and NAME_UNKNOWN; containerd core/remotes/docker/resolver.go (404: \"REF: not found\"); moby distribution/errors.go (\"manifest for %s not found\", \"repository %s not found\"); containers/image (\"reading manifest %s in %s\")",
    },
    // containerd says only "not found" for any 404 on the manifest: it does
    // not ping /v2/ first, so a web server that is not a registry reads the
    // same as a missing tag.
    Pattern {
        find: &[
            s(&["failed to resolve reference", ": not found"]),
            s(&["code = notfound"]),
        ],
        code: Code::ImageNotFound,
        also: &[Code::NotARegistry],
        reach: Reach::No,
        case: None,
        hint: "the registry has no {image} (containerd got a 404 for its manifest; if the host is not a registry at all, a web server answering 404, containerd says the same, and `{probe}` tells them apart): {fix}",
        source: "containerd core/remotes/docker/resolver.go (404 on every host: \"%s: %w\" with ErrNotFound, \"REF: not found\"; 1.6: remotes/docker/resolver.go); the CRI's gRPC NotFound (internal/cri/server/images/image_pull.go)",
    },
    Pattern {
        find: &[
            Status {
                after: "",
                lo: 401,
                hi: 401,
            },
            s(&["authentication required"]),
        ],
        code: Code::AuthRequired,
        also: &[Code::AuthRejected, Code::ImageNotFound],
        reach: Reach::No,
        case: None,
        hint: "the registry answered 401 for {image}: no credentials were sent, or the ones sent were refused, or (ACR) the repository does not exist; {fix}, and check it is current; {to_tell}",
        source: "distribution errcode UNAUTHORIZED (\"authentication required\"); containerd core/remotes/errors/errors.go (\"unexpected status from %s request to %s: 401 Unauthorized\")",
    },
    Pattern {
        find: &[Status {
            after: "",
            lo: 403,
            hi: 403,
        }],
        code: Code::AccessDenied,
        also: &[Code::IpNotAllowed, Code::AuthRequired],
        reach: Reach::No,
        case: None,
        hint: "the registry answered 403 Forbidden: the credentials may not pull {image} ({fix}), or the registry's firewall refuses the node's address; `{probe} --docker-config <the pull secret>` on the node tells which",
        source: "containerd core/remotes/errors/errors.go (\"unexpected status ... 403 Forbidden\"); moby registry (\"error parsing HTTP 403 response body\")",
    },
    Pattern {
        find: &[s(&["invalid character", "looking for beginning of value"])],
        code: Code::AuthError,
        also: &[Code::RegistryError],
        reach: Reach::No,
        case: None,
        hint: "an answer that should have been JSON was not (an HTML page?), most often from the token service or a proxy answering in the registry's place (`{probe}` on the node shows which stage got it): {fix}",
        source: "Go encoding/json SyntaxError (containers/image decoding a token answer; the probe's test bed `tokengarbage.test`)",
    },
    Pattern {
        find: &[
            Status {
                after: "",
                lo: 500,
                hi: 599,
            },
            s(&["service unavailable"]),
        ],
        code: Code::RegistryError,
        also: &[],
        reach: Reach::No,
        case: None,
        hint: "the registry answered with a server error (5xx), registry-side trouble: {fix}",
        source: "containerd core/remotes/errors/errors.go (ErrUnexpectedStatus); containers/image (\"invalid status code from registry %d (%s)\"); distribution errcode UNAVAILABLE",
    },
    // Last: CRI-O wraps a refused connection as RegistryUnavailable and the
    // kubelet rewrites it; any detail it kept has matched above already.
    Pattern {
        find: &[s(&["because the registry is unavailable"])],
        code: Code::TcpRefused,
        also: &[
            Code::TcpTimeout,
            Code::TcpUnreachable,
            Code::DnsNxdomain,
            Code::RegistryError,
        ],
        reach: Reach::No,
        case: None,
        hint: "the runtime only says the registry is unavailable (CRI-O says so for a refused connection; run `{probe}` on the node to see which stage fails): {fix}",
        source: "kubernetes pkg/kubelet/images/image_manager.go (evalCRIPullErr, crierrors.ErrRegistryUnavailable); cri-o server/image_pull.go (ECONNREFUSED wrapped as RegistryUnavailable)",
    },
];

/// What a connection failure becomes when the host that failed is not the
/// registry's API but a host it sends clients to.
pub struct Refinement {
    pub code: Code,
    /// What happened (placeholders as in [`Pattern::hint`]); the original
    /// code and the matched text follow in parentheses, then the code's fix.
    pub what: &'static str,
}

/// The failing request was for a token: the probe's auth stage reports the
/// realm's host (distribution's token spec; containerd
/// core/remotes/docker/auth/fetch.go, containers/image `docker_client.go`).
pub const TOKEN_REALM: Refinement = Refinement {
    code: Code::AuthServerUnreachable,
    what: "the registry sends clients to {host} for a token, and the node cannot reach it",
};

/// The failing request was for layer data (a `/blobs/` path, or a
/// digest-addressed object a registry redirected to): the probe's blob stage.
pub const BLOB_STORE: Refinement = Refinement {
    code: Code::BlobUnreachable,
    what: "the layer data is served from {host}, and the node cannot reach it",
};

/// What a message without a known cause may still say, for a better hint
/// than "run the probe". `code` stays null for these.
pub struct Quiet {
    pub find: &'static [&'static str],
    pub hint: &'static str,
    pub source: &'static str,
}

pub const QUIET: &[Quiet] = &[
    Quiet {
        find: &["is not present with pull policy of never"],
        hint: "imagePullPolicy is Never and {image} is not on this node, so nothing was pulled: load the image onto the node, or change the policy",
        source: "kubernetes pkg/kubelet/images/image_manager.go (ErrImageNeverPull)",
    },
    Quiet {
        find: &["back-off pulling image", "imagepullbackoff", "errimagepull"],
        hint: "this says that the pull failed, not why: explain the \"Failed to pull image\" event of `kubectl describe pod` (or, Kubernetes 1.32 and later, the container's `state.waiting.message`), or run `{probe}` on the pod's node",
        source: "kubernetes pkg/kubelet/images/image_manager.go (\"Back-off pulling image %q\", ErrImagePullBackOff, ErrImagePull)",
    },
    Quiet {
        find: &[
            "already present on machine",
            "successfully pulled image",
            "pulling image",
        ],
        hint: "this reports no failure: the kubelet pulled, or is pulling, the image",
        source: "kubernetes pkg/kubelet/images/image_manager.go (the PulledImage and PullingImage events)",
    },
];

/// The hint when nothing is known about the message.
pub const UNKNOWN_HINT: &str = "no known pull error in this message: run `{probe}` on the pod's node (with its pull secret: `--docker-config <file>`) to see which stage fails";

/// The `{to_tell}` placeholder: how to tell a missing repository from missing credentials.
pub const TO_TELL_HINT: &str = TO_TELL;
