//! The probe against the real runtimes (issue 15): for every bed scenario a
//! runtime can pull, containerd (Debian's 1.6.20, driven by `ctr content
//! fetch --hosts-dir`, see `support::containerd`) and skopeo with
//! `--registries-conf` (containers/image, CRI-O's library) pull on the same
//! node config the probe reads with `--root`, and
//!
//! - the runtime's outcome (pulled / failed) equals the probe's (ok or
//!   degraded / fail);
//! - `probe explain` on the message the kubelet would show (both wrappings:
//!   the `Failed to pull image` event and the 1.32+ `Back-off pulling image
//!   ... ErrImagePull:` waiting message) gives the probe's code, or names it
//!   in `also_possible`, with the right category.
//!
//! The world is the standard bed plus two hostile registries (`huge.test`
//! declares a 100 MiB manifest, `norealm.test` sends a Bearer challenge
//! without a realm) and, for the `#[ignore]`d bench (`bench/runtime.sh`), a
//! TLS stall and a hung registry. A full-disk node is containerd's own
//! failure: the probe says OK and explain says `NODE_DISK_FULL`. The
//! root-only hosts.toml scenarios copy the machine's `/usr/bin/containerd`
//! into the node root: the probe reads its release (1.6.20) from the binary
//! and, like that containerd, ignores the file (containerd#10027).
//!
//! The scenarios run concurrently (a blackhole costs containerd its 30 s
//! dial timeout); the whole binary takes about 40 s.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use regprobe::code::Code;
use regprobe::explain::explain;
use support::acr::ADMIN;
use support::containerd::{Containerd, Pull, Pulled};
use support::http::{Answer, Reply, Request};
use support::{Host, NO_PULL, NodeRoot, PULLER, SILENT_DNS_IP, World};

// --- the world: the standard bed plus the hostile registries -------------

/// A manifest larger than containerd's `MaxManifestSize` (the size of the
/// issue's example): `HEAD` declares it with a digest, as a hostile or
/// broken registry would.
const HUGE_MANIFEST: u64 = 104_857_600;

fn huge_manifest(req: &Request) -> Answer {
    if req.path() == "/v2/" {
        return Reply::json(200, &serde_json::json!({}))
            .header("Docker-Distribution-API-Version", "registry/2.0")
            .into();
    }
    if req.path().contains("/manifests/") {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
             Docker-Content-Digest: {digest}\r\nContent-Length: {HUGE_MANIFEST}\r\n\
             Connection: close\r\n\r\n"
        );
        // HEAD: the head alone. A GET would get the same head and a
        // connection closed early: containerd never asks.
        return Answer::Raw(head.into_bytes());
    }
    Reply::registry_error(404, "NAME_UNKNOWN", "repository name not known to registry").into()
}

/// A Bearer challenge without a realm: nobody can fetch a token.
fn no_realm(_: &Request) -> Answer {
    Reply::registry_error(401, "UNAUTHORIZED", "authentication required")
        .header(
            "WWW-Authenticate",
            "Bearer service=\"norealm.test\",scope=\"repository:single:pull\"",
        )
        .into()
}

/// A registry whose TLS works and whose answers never come (the bench's
/// hung registry): `/v2/` answers, a manifest request waits two minutes.
fn hung(req: &Request) -> Answer {
    if req.path() != "/v2/" {
        std::thread::sleep(Duration::from_secs(120));
    }
    Reply::json(200, &serde_json::json!({}))
        .header("Docker-Distribution-API-Version", "registry/2.0")
        .into()
}

/// Where `tlsstall.test` listens: connections are accepted and held, and
/// nothing is ever said (a TLS handshake that stalls).
const TLS_STALL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 62);

/// The world of this binary: the standard bed, `huge.test`, `norealm.test`,
/// and for the bench `tlsstall.test` and `hung.test`.
fn world() -> Option<&'static World> {
    static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    if !support::require(&["containerd", "ctr", "skopeo", "nsenter"]) {
        return None;
    }
    Some(WORLD.get_or_init(|| {
        let w = support::standard()
            .host(Host::nothing("tlsstall.test", TLS_STALL))
            .host(Host::handler(
                "hung.test",
                Ipv4Addr::new(10, 77, 0, 63),
                hung,
            ))
            .host(Host::handler(
                "huge.test",
                Ipv4Addr::new(10, 77, 0, 60),
                huge_manifest,
            ))
            .host(Host::handler(
                "norealm.test",
                Ipv4Addr::new(10, 77, 0, 61),
                no_realm,
            ))
            .build();
        w.run(|| {
            let listener = std::net::TcpListener::bind((TLS_STALL, 443)).expect("bind tlsstall");
            // Threads spawned here stay in the namespace.
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for conn in listener.incoming().flatten() {
                    held.push(conn);
                }
            });
        });
        w
    }))
}

// --- scenarios ---------------------------------------------------------------

/// What the node looks like, beyond the bed's default root.
#[derive(Clone)]
enum Node {
    /// containerd with `config_path = "/etc/containerd/certs.d"` and nothing in it.
    Plain,
    /// Plus `certs.d/<host>/hosts.toml` files.
    Hosts(Vec<(&'static str, String)>),
    /// Plus the CA bundle emptied of the test CA (a private CA the system
    /// does not trust), and hosts.toml files.
    PrivateCa(Vec<(&'static str, String)>),
    /// Plus the real `/usr/bin/containerd` at `usr/bin/containerd`, so the
    /// probe can read the node's containerd version, and hosts.toml files.
    WithBinary(Vec<(&'static str, String)>),
    /// [`Node::PrivateCa`] and [`Node::WithBinary`] together.
    PrivateCaWithBinary(Vec<(&'static str, String)>),
    /// The node's resolver drops queries.
    SilentDns,
    /// The runtime runs with `HTTPS_PROXY` (the live proxy or a dead one).
    Proxy(bool),
}

/// One scenario: a pull, the node, and what the probe must say.
struct Scenario {
    name: &'static str,
    image: &'static str,
    node: Node,
    creds: Option<(&'static str, &'static str)>,
    /// The probe's code (`OK` also for degraded).
    code: &'static str,
}

const fn sc(name: &'static str, image: &'static str, code: &'static str) -> Scenario {
    Scenario {
        name,
        image,
        node: Node::Plain,
        creds: None,
        code,
    }
}

const WRONG: (&str, &str) = ("alice", "wrong-password");

fn hosts(host: &'static str, toml: &str) -> Vec<(&'static str, String)> {
    vec![(host, toml.to_owned())]
}

/// A mirror in front of `upstream`: `server` first, then `[host]` mirrors.
fn mirrored(upstream: &str, mirrors: &[&str]) -> String {
    let mut t = format!("server = \"https://{upstream}\"\n");
    for m in mirrors {
        let _ = write!(
            t,
            "\n[host.\"{m}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
    }
    t
}

fn containerd_scenarios() -> Vec<Scenario> {
    vec![
        // Healthy, and the registry's own answers.
        sc("anonymous ok", "registry.test/single:1", "OK"),
        sc("index ok", "registry.test/multi:1", "OK"),
        sc(
            "missing tag",
            "registry.test/single:nosuchtag",
            "IMAGE_NOT_FOUND",
        ),
        sc(
            "missing repository",
            "registry.test/nosuch:1",
            "IMAGE_NOT_FOUND",
        ),
        sc(
            "platform missing",
            "registry.test/armonly:1",
            "PLATFORM_MISSING",
        ),
        // DNS.
        sc("dns nxdomain", "nosuch.test/single:1", "DNS_NXDOMAIN"),
        sc("dns no address", "noaddr.test/single:1", "DNS_NO_ADDRESS"),
        sc("dns servfail", "servfail.test/single:1", "DNS_SERVFAIL"),
        Scenario {
            node: Node::SilentDns,
            ..sc("dns timeout", "registry.test/single:1", "DNS_TIMEOUT")
        },
        // TCP.
        sc("tcp refused", "refused.test/single:1", "TCP_REFUSED"),
        sc("tcp timeout", "blackhole.test/single:1", "TCP_TIMEOUT"),
        sc(
            "tcp unreachable",
            "unreachable.test/single:1",
            "TCP_UNREACHABLE",
        ),
        // TLS.
        sc("tls expired", "expired.test/single:1", "TLS_EXPIRED"),
        sc(
            "tls wrong name",
            "wrongname.test/single:1",
            "TLS_NAME_MISMATCH",
        ),
        sc("tls unknown ca", "unknownca.test/single:1", "TLS_UNTRUSTED"),
        sc(
            "plain http spoken to as https",
            "plainhttp.test:5000/single:1",
            "TLS_HANDSHAKE",
        ),
        // The registry's faults.
        sc(
            "not a registry",
            "notregistry.test/single:1",
            "NOT_A_REGISTRY",
        ),
        sc("429", "ratelimit.test/single:1", "RATE_LIMITED"),
        sc("503", "unavailable.test/single:1", "REGISTRY_ERROR"),
        sc(
            "token realm gone",
            "tokengone.test/single:1",
            "AUTH_SERVER_UNREACHABLE",
        ),
        sc("token realm 500", "tokenerror.test/single:1", "AUTH_ERROR"),
        Scenario {
            creds: Some(PULLER),
            ..sc(
                "token realm garbage",
                "tokengarbage.test/single:1",
                "AUTH_ERROR",
            )
        },
        sc(
            "blob redirected to a refused host",
            "redirect.test/single:1",
            "BLOB_UNREACHABLE",
        ),
        sc("acr firewall", "acrfw.test/single:1", "IP_NOT_ALLOWED"),
        // Hostile registries.
        sc("oversized manifest", "huge.test/single:1", "REGISTRY_ERROR"),
        sc(
            "bearer challenge without realm",
            "norealm.test/single:1",
            "AUTH_ERROR",
        ),
        // Credentials.
        sc("basic, anonymous", "basic.test/single:1", "AUTH_REQUIRED"),
        Scenario {
            creds: Some(PULLER),
            ..sc("basic, puller", "basic.test/single:1", "OK")
        },
        Scenario {
            creds: Some(WRONG),
            ..sc(
                "basic, wrong password",
                "basic.test/single:1",
                "AUTH_REJECTED",
            )
        },
        sc("token, anonymous", "token.test/single:1", "AUTH_REQUIRED"),
        sc(
            "token, anonymous public",
            "token.test/public/single:1",
            "OK",
        ),
        Scenario {
            creds: Some(PULLER),
            ..sc("token, puller", "token.test/single:1", "OK")
        },
        Scenario {
            creds: Some(WRONG),
            ..sc(
                "token, wrong password",
                "token.test/single:1",
                "AUTH_REJECTED",
            )
        },
        Scenario {
            creds: Some(NO_PULL),
            ..sc(
                "token, no-pull user",
                "token.test/single:1",
                "ACCESS_DENIED",
            )
        },
        Scenario {
            creds: Some(ADMIN),
            ..sc("acr, admin user", "acr.test/single:1", "OK")
        },
        sc(
            "plain-HTTP realm, anonymous public",
            "httprealm.test/public/single:1",
            "OK",
        ),
        // Mirrors (hosts.toml).
        Scenario {
            node: Node::Hosts(hosts(
                "registry.test",
                &mirrored("registry.test", &["https://refused.test"]),
            )),
            ..sc(
                "dead mirror before a good upstream",
                "registry.test/single:1",
                "OK",
            )
        },
        Scenario {
            node: Node::Hosts(hosts(
                "refused.test",
                &mirrored("refused.test", &["https://registry.test"]),
            )),
            ..sc(
                "good mirror before a dead upstream",
                "refused.test/single:1",
                "OK",
            )
        },
        Scenario {
            node: Node::Hosts(hosts(
                "refused.test",
                &mirrored("refused.test", &["https://unreachable.test"]),
            )),
            ..sc(
                "dead mirror, dead upstream: the first error",
                "refused.test/single:1",
                "TCP_UNREACHABLE",
            )
        },
        // containerd 1.6 and 1.7 report the first failing host's error; a
        // 404 only moves on (core/remotes/docker/resolver.go). From 2.0
        // (containerd b4814a29d) the most relevant error wins instead.
        Scenario {
            node: Node::Hosts(hosts(
                "registry.test",
                &mirrored("registry.test", &["https://refused.test"]),
            )),
            ..sc(
                "dead mirror, upstream 404: the mirror's error",
                "registry.test/single:nosuchtag",
                "TCP_REFUSED",
            )
        },
        Scenario {
            node: Node::Hosts(hosts(
                "registry.test",
                &mirrored("registry.test", &["https://unavailable.test"]),
            )),
            ..sc(
                "503 mirror, upstream 404: the mirror's error",
                "registry.test/single:nosuchtag",
                "REGISTRY_ERROR",
            )
        },
        Scenario {
            node: Node::Hosts(hosts(
                "refused.test",
                "server = \"https://refused.test\"\n\n[host.\"https://registry.test\"]\n  capabilities = [\"pull\"]\n",
            )),
            ..sc(
                "pull-only mirror cannot resolve",
                "refused.test/single:1",
                "TCP_REFUSED",
            )
        },
        Scenario {
            node: Node::Hosts(hosts(
                "registry.test",
                &mirrored("registry.test", &["http://plainhttp.test:5000"]),
            )),
            ..sc("plain-HTTP mirror", "registry.test/single:1", "OK")
        },
        // hosts.toml variants.
        Scenario {
            node: Node::Hosts(hosts(
                "plainhttp.test:5000",
                "server = \"http://plainhttp.test:5000\"\n\n[host.\"http://plainhttp.test:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            )),
            ..sc("plain http declared", "plainhttp.test:5000/single:1", "OK")
        },
        Scenario {
            node: Node::Hosts(hosts(
                "expired.test",
                "server = \"https://expired.test\"\n\n[host.\"https://expired.test\"]\n  skip_verify = true\n",
            )),
            ..sc(
                "skip_verify on an expired certificate",
                "expired.test/single:1",
                "OK",
            )
        },
        Scenario {
            node: Node::PrivateCa(hosts(
                "registry.test",
                "server = \"https://registry.test\"\n\n[host.\"https://registry.test\"]\n  ca = \"/etc/containerd/private/ca.pem\"\n",
            )),
            ..sc("private CA in [host]", "registry.test/single:1", "OK")
        },
        Scenario {
            node: Node::PrivateCa(Vec::new()),
            ..sc(
                "private CA not configured",
                "registry.test/single:1",
                "TLS_UNTRUSTED",
            )
        },
        // containerd 1.6 ignores a hosts.toml with only root-level fields
        // and no [host."..."] table (containerd#10027; fixed by #10028 in
        // 1.7.32 only, 2.x reads it), and pulls https://plainhttp.test:5000
        // with the system CA, which fails. The probe reads the node's
        // containerd version from usr/bin/containerd (the real Debian
        // binary) and predicts that (`hosts_toml::ignores_root_only`).
        Scenario {
            node: Node::WithBinary(hosts(
                "plainhttp.test:5000",
                "server = \"http://plainhttp.test:5000\"\n",
            )),
            ..sc(
                "root-only hosts.toml on containerd 1.6",
                "plainhttp.test:5000/single:1",
                "TLS_HANDSHAKE",
            )
        },
        // As above, `server` and `ca` at the root of hosts.toml, no [host]
        // table: containerd 1.6 ignores the file and verifies registry.test
        // with the system CA bundle, which lacks the private CA.
        Scenario {
            node: Node::PrivateCaWithBinary(hosts(
                "registry.test",
                "server = \"https://registry.test\"\nca = \"/etc/containerd/private/ca.pem\"\n",
            )),
            ..sc(
                "root-only hosts.toml with ca on containerd 1.6",
                "registry.test/single:1",
                "TLS_UNTRUSTED",
            )
        },
        // Proxy (the runtime's own environment).
        Scenario {
            node: Node::Proxy(true),
            ..sc("through the proxy", "proxied.test/single:1", "OK")
        },
        Scenario {
            node: Node::Proxy(false),
            ..sc("dead proxy", "registry.test/single:1", "PROXY_UNREACHABLE")
        },
        Scenario {
            node: Node::Proxy(true),
            ..sc(
                "proxy refuses the port",
                "registry.test:5000/single:1",
                "PROXY_REJECTED",
            )
        },
    ]
}

/// The containerd part of a node root: the CRI plugin's `config_path`, the
/// socket (so the probe detects containerd), and whatever `node` adds.
/// Returns the runtime's environment.
fn containerd_root(w: &World, node: &Node) -> (NodeRoot, Vec<(String, String)>) {
    let root = w.new_root();
    root.write(
        "etc/containerd/config.toml",
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
    );
    root.write("run/containerd/containerd.sock", "");
    let write_hosts = |files: &[(&str, String)]| {
        for (host, toml) in files {
            root.write(&format!("etc/containerd/certs.d/{host}/hosts.toml"), toml);
        }
    };
    let mut env = Vec::new();
    match node {
        Node::Plain => {}
        Node::Hosts(files) => write_hosts(files),
        Node::PrivateCa(files) | Node::PrivateCaWithBinary(files) => {
            if matches!(node, Node::PrivateCaWithBinary(_)) {
                copy_containerd_binary(&root);
            }
            let ca = std::fs::read_to_string(w.ca_pem_path()).expect("ca");
            // Outside certs.d/<host>/, where containerd would load any
            // `*.crt` as a CA without hosts.toml (the Docker-style fallback).
            root.write("etc/containerd/private/ca.pem", &ca);
            // A bundle without the test CA: the registry's CA is private.
            root.write(support::root::CA_BUNDLE, "");
            write_hosts(files);
        }
        Node::WithBinary(files) => {
            copy_containerd_binary(&root);
            write_hosts(files);
        }
        Node::SilentDns => {
            root.nameserver(SILENT_DNS_IP);
        }
        Node::Proxy(live) => {
            let proxy = if *live {
                w.proxy_url()
            } else {
                w.dead_proxy_url()
            };
            root.write(
                "etc/systemd/system/containerd.service.d/http-proxy.conf",
                &format!("[Service]\nEnvironment=\"HTTPS_PROXY={proxy}\" \"NO_PROXY=localhost\"\n"),
            );
            env.push(("HTTPS_PROXY".to_owned(), proxy));
            env.push(("NO_PROXY".to_owned(), "localhost".to_owned()));
        }
    }
    (root, env)
}

/// The upstream part of what the bed's `containerd --version` prints
/// (`containerd github.com/containerd/containerd 1.6.20~ds1 <commit>`:
/// `1.6.20`).
fn bed_containerd_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let out = std::process::Command::new("/usr/bin/containerd")
            .arg("--version")
            .output()
            .expect("containerd --version");
        let text = String::from_utf8_lossy(&out.stdout);
        let printed = text.split_whitespace().nth(2).unwrap_or_default();
        let upstream = printed.trim_start_matches('v');
        let end = upstream
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(upstream.len());
        assert!(end > 0, "containerd --version printed {text:?}");
        upstream[..end].to_owned()
    })
}

/// The real Debian containerd binary at the node root's `usr/bin/containerd`.
fn copy_containerd_binary(root: &NodeRoot) {
    let dest = root.path().join("usr/bin/containerd");
    std::fs::create_dir_all(dest.parent().expect("usr/bin")).expect("usr/bin");
    std::fs::copy("/usr/bin/containerd", &dest).expect("copy /usr/bin/containerd");
}

// --- the probe's side ----------------------------------------------------------

/// The probe's verdict on one target.
#[derive(Clone, Debug)]
struct Verdict {
    status: String,
    code: String,
    category: String,
    message: String,
    elapsed: Duration,
    /// The report's `runtime.version` (the node's containerd release).
    runtime_version: Option<String>,
}

/// The stage timeout of the differential: short, the verdicts do not
/// depend on it.
const STAGE_TIMEOUT: &str = "2s";

fn probe_verdict(w: &World, root: &Path, image: &str, creds: Option<(&str, &str)>) -> Verdict {
    probe_verdict_with(w, root, image, creds, STAGE_TIMEOUT)
}

fn probe_verdict_with(
    w: &World,
    root: &Path,
    image: &str,
    creds: Option<(&str, &str)>,
    timeout: &str,
) -> Verdict {
    let started = std::time::Instant::now();
    let mut cmd = w.command(env!("CARGO_BIN_EXE_probe"));
    cmd.args(["--image", image, "--timeout", timeout, "--json", "--root"])
        .arg(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some((user, _)) = creds {
        cmd.args(["--username", user, "--password-stdin"]);
    }
    let mut child = cmd.spawn().expect("spawn probe");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some((_, password)) = creds {
            writeln!(stdin, "{password}").expect("password");
        }
    }
    let out = child.wait_with_output().expect("probe");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe --json for {image}: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let t = &json["targets"][0];
    let field = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
    Verdict {
        status: field("status"),
        code: field("code"),
        category: field("category"),
        message: field("message"),
        elapsed: started.elapsed(),
        runtime_version: json["runtime"]["version"].as_str().map(str::to_owned),
    }
}

/// How `probe explain` on `message` relates to the probe's verdict; `None`
/// when they agree.
fn explain_disagrees(message: &str, v: &Verdict) -> Option<String> {
    let e = explain(message);
    let code = e.code.map_or("null", Code::as_str);
    let category = e.category.map_or("null", |c| c.as_str());
    let same = code == v.code && category == v.category;
    let also = e.also_possible.iter().any(|c| c.as_str() == v.code);
    (!(same || also)).then(|| {
        format!(
            "explain says {code}/{category} (also {:?}, matched {:?})",
            e.also_possible
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            e.matched
        )
    })
}

/// A scenario's work, run on a thread of [`concurrently`].
type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// Runs `jobs` on up to `width` threads, in the order given; the results in
/// that order.
fn concurrently<T: Send>(width: usize, jobs: Vec<Job<'_, T>>) -> Vec<T> {
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..width {
            s.spawn(|| {
                loop {
                    let next = {
                        let mut q = queue.lock().expect("queue");
                        if q.is_empty() {
                            None
                        } else {
                            Some(q.remove(0))
                        }
                    };
                    let Some((i, job)) = next else { break };
                    let r = job();
                    results.lock().expect("results").insert(i, r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results")
        .into_values()
        .collect()
}

/// One scenario's outcome on both sides.
struct Outcome {
    name: &'static str,
    image: &'static str,
    pulled: Pulled,
    verdict: Verdict,
}

fn run_containerd(w: &'static World, ctd: &Containerd, s: &Scenario) -> Outcome {
    let (root, env) = containerd_root(w, &s.node);
    let mut pull = Pull::new(s.image, root.path()).timeout(Duration::from_secs(40));
    if let Some((u, p)) = s.creds {
        pull = pull.user(u, p);
    }
    for (k, v) in &env {
        pull = pull.env(k, v);
    }
    let pulled = ctd.pull(w, &pull);
    let verdict = probe_verdict(w, root.path(), s.image, s.creds);
    Outcome {
        name: s.name,
        image: s.image,
        pulled,
        verdict,
    }
}

/// Every containerd scenario: outcome equal, explain agrees, in both
/// wrappings of the kubelet.
#[test]
fn containerd_agrees_with_the_probe() {
    let Some(w) = world() else { return };
    let ctd = Containerd::start(w);
    let scenarios = containerd_scenarios();
    // The slow ones (containerd's 30 s dial timeout) first.
    let mut order: Vec<&Scenario> = scenarios.iter().collect();
    order.sort_by_key(|s| !matches!(s.code, "TCP_TIMEOUT" | "DNS_TIMEOUT"));
    let jobs: Vec<Job<'_, Outcome>> = order
        .iter()
        .map(|s| {
            let ctd = &ctd;
            Box::new(move || run_containerd(w, ctd, s)) as Job<'_, _>
        })
        .collect();
    let outcomes = concurrently(8, jobs);
    let mut failures = Vec::new();
    let mut report = String::new();
    for (s, o) in order.iter().zip(&outcomes) {
        let v = &o.verdict;
        let _ = writeln!(
            report,
            "{:<45} containerd {:>6.1}s {:<7} probe {:<9} {:<24} | {}",
            o.name,
            o.pulled.elapsed.as_secs_f64(),
            if o.pulled.ok { "pulled" } else { "failed" },
            v.status,
            v.code,
            o.pulled.error
        );
        let mut why = Vec::new();
        if v.code != s.code {
            why.push(format!(
                "the probe says {} ({}), expected {}",
                v.code, v.message, s.code
            ));
        }
        // With the node's binary in its root, the probe decides by the
        // release it reads there: the one the bed's containerd is.
        if matches!(s.node, Node::WithBinary(_) | Node::PrivateCaWithBinary(_))
            && v.runtime_version.as_deref() != Some(bed_containerd_version())
        {
            why.push(format!(
                "the probe read containerd {:?} from the node's binary, the bed runs {}",
                v.runtime_version,
                bed_containerd_version()
            ));
        }
        let probe_pulls = matches!(v.status.as_str(), "ok" | "degraded");
        if o.pulled.ok != probe_pulls {
            why.push(format!(
                "containerd {}, the probe {} ({}: {})",
                if o.pulled.ok { "pulled" } else { "failed" },
                v.status,
                v.code,
                v.message
            ));
        }
        if !o.pulled.ok && !probe_pulls {
            assert!(
                !o.pulled.error.is_empty(),
                "{}: no error from ctr: {}",
                o.name,
                o.pulled.stderr
            );
            for message in [
                o.pulled.kubelet_event(o.image),
                o.pulled.kubelet_backoff(o.image),
            ] {
                if let Some(d) = explain_disagrees(&message, v) {
                    why.push(format!("{d}; the probe says {}\n    {message}", v.code));
                }
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", o.name, why.join("; ")));
        }
    }
    eprintln!("{report}");
    assert!(scenarios.len() >= 45, "{} scenarios", scenarios.len());
    assert!(failures.is_empty(), "{}\n\n{report}", failures.join("\n"));
}

/// A node whose containerd disk is full: the registry is fine (the probe
/// says OK), the pull fails while unpacking, and `probe explain` says the
/// node is out of disk, not the registry.
#[test]
fn a_full_disk_is_the_node_not_the_registry() {
    let Some(w) = world() else { return };
    let ctd = Containerd::start_with_full_disk(w);
    let (root, _) = containerd_root(w, &Node::Plain);
    let warm = ctd.pull(w, &Pull::new("registry.test/multi:1", root.path()));
    assert!(warm.ok, "{}", warm.stderr);
    ctd.fill_disk();
    let image = "registry.test/single:1";
    let pulled = ctd.pull(w, &Pull::new(image, root.path()));
    assert!(!pulled.ok, "pulled onto a full disk");
    assert!(
        pulled.error.contains("no space left on device"),
        "{}",
        pulled.stderr
    );
    let v = probe_verdict(w, root.path(), image, None);
    assert_eq!(v.code, "OK", "{}", v.message);
    for message in [pulled.kubelet_event(image), pulled.kubelet_backoff(image)] {
        let e = explain(&message);
        eprintln!("{message}\n  -> {:?} {:?}", e.code, e.matched);
        assert_eq!(
            e.code.map(Code::as_str),
            Some("NODE_DISK_FULL"),
            "{message}"
        );
        assert_eq!(
            e.category.map(regprobe::code::Category::as_str),
            Some("config")
        );
    }
}

// --- CRI-O semantics: skopeo with the node's registries.conf ------------------

/// One CRI-O scenario: the node's `registries.conf`, a pull, the probe's code.
struct Crio {
    name: &'static str,
    image: &'static str,
    conf: &'static str,
    code: &'static str,
}

const fn crio(
    name: &'static str,
    image: &'static str,
    conf: &'static str,
    code: &'static str,
) -> Crio {
    Crio {
        name,
        image,
        conf,
        code,
    }
}

fn crio_scenarios() -> Vec<Crio> {
    vec![
        crio(
            "mirror before a dead upstream",
            "refused.test/single:1",
            "[[registry]]\nlocation = \"refused.test\"\n[[registry.mirror]]\nlocation = \"registry.test\"\n",
            "OK",
        ),
        crio(
            "dead mirror before a good upstream",
            "registry.test/single:1",
            "[[registry]]\nlocation = \"registry.test\"\n[[registry.mirror]]\nlocation = \"refused.test\"\n",
            "OK",
        ),
        crio(
            "digest-only mirror skipped for a tag",
            "refused.test/single:1",
            "[[registry]]\nlocation = \"refused.test\"\n[[registry.mirror]]\nlocation = \"registry.test\"\npull-from-mirror = \"digest-only\"\n",
            "TCP_REFUSED",
        ),
        crio(
            "blocked",
            "registry.test/single:1",
            "[[registry]]\nlocation = \"registry.test\"\nblocked = true\n",
            "CONFIG_BLOCKED",
        ),
        crio(
            "insecure plain HTTP",
            "plainhttp.test:5000/single:1",
            "[[registry]]\nlocation = \"plainhttp.test:5000\"\ninsecure = true\n",
            "OK",
        ),
        crio(
            "plain HTTP not declared insecure",
            "plainhttp.test:5000/single:1",
            "unqualified-search-registries = []\n",
            "TLS_HANDSHAKE",
        ),
        crio(
            "insecure skips an expired certificate",
            "expired.test/single:1",
            "[[registry]]\nlocation = \"expired.test\"\ninsecure = true\n",
            "OK",
        ),
        crio(
            "expired certificate, secure",
            "expired.test/single:1",
            "unqualified-search-registries = []\n",
            "TLS_EXPIRED",
        ),
        // A short name is docker.io/library/<name> (the kubelet and
        // containers/image normalise it); a prefix rule sends it to the bed.
        crio(
            "short name through a prefix rule",
            "single:1",
            "[[registry]]\nprefix = \"docker.io/library/single\"\nlocation = \"registry.test/single\"\n",
            "OK",
        ),
        crio(
            "short name, prefix rule to a missing repository",
            "single:1",
            "[[registry]]\nprefix = \"docker.io/library/single\"\nlocation = \"registry.test/nosuch\"\n",
            "IMAGE_NOT_FOUND",
        ),
    ]
}

/// skopeo (containers/image, CRI-O's library) inspecting `image` on the node
/// at `root` with its `registries.conf`: `Ok(())` or `Err(its message)`.
fn skopeo_pull(w: &World, root: &Path, image: &str) -> Result<(), String> {
    let conf = root.join("etc/containers/registries.conf");
    let view = r#"r=$1; shift
mount --bind "$r/etc/resolv.conf" /etc/resolv.conf &&
mount --bind "$r/etc/hosts" /etc/hosts && exec "$@""#;
    let out = w
        .command("unshare")
        .args(["-m", "--", "sh", "-c", view, "sh"])
        .arg(root)
        .arg("skopeo")
        .arg("--registries-conf")
        .arg(&conf)
        .args([
            "--command-timeout",
            "20s",
            "inspect",
            "--no-tags",
            "--retry-times",
            "0",
        ])
        .arg(format!("docker://{image}"))
        .env(
            "SSL_CERT_FILE",
            root.join(support::root::CA_BUNDLE.trim_start_matches('/')),
        )
        .output()
        .expect("run skopeo");
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `level=fatal msg="..."`: the message, unescaped.
    let msg = stderr
        .split_once("msg=\"")
        .map_or(stderr.as_ref(), |(_, m)| m.trim_end().trim_end_matches('"'))
        .replace("\\\"", "\"");
    Err(msg)
}

/// Every CRI-O scenario: skopeo's outcome with the node's registries.conf
/// equals the probe's on the same root, and explain on skopeo's message,
/// wrapped as the kubelet shows it, agrees with the probe's code.
#[test]
fn crio_registries_conf_agrees_with_skopeo() {
    let Some(w) = world() else { return };
    let scenarios = crio_scenarios();
    let jobs: Vec<Job<'_, (Result<(), String>, Verdict)>> = scenarios
        .iter()
        .map(|c| {
            Box::new(move || {
                let root = w.new_root();
                root.write("var/run/crio/crio.sock", "");
                root.write("etc/containers/registries.conf", c.conf);
                let pulled = skopeo_pull(w, root.path(), c.image);
                let verdict = probe_verdict(w, root.path(), c.image, None);
                (pulled, verdict)
            }) as Job<'_, _>
        })
        .collect();
    let outcomes = concurrently(6, jobs);
    let mut failures = Vec::new();
    let mut report = String::new();
    for (c, (pulled, v)) in scenarios.iter().zip(&outcomes) {
        let _ = writeln!(
            report,
            "{:<50} skopeo {:<7} probe {:<9} {:<18} | {}",
            c.name,
            if pulled.is_ok() { "pulled" } else { "failed" },
            v.status,
            v.code,
            pulled.as_ref().err().map_or("", String::as_str)
        );
        let mut why = Vec::new();
        if v.code != c.code {
            why.push(format!(
                "the probe says {} ({}), expected {}",
                v.code, v.message, c.code
            ));
        }
        let probe_pulls = matches!(v.status.as_str(), "ok" | "degraded");
        if pulled.is_ok() != probe_pulls {
            why.push(format!(
                "skopeo {:?}, the probe {} ({})",
                pulled, v.status, v.code
            ));
        }
        if let (Err(error), false) = (pulled, probe_pulls) {
            for message in [
                format!(
                    "Failed to pull image \"{}\": rpc error: code = Unknown desc = {error}",
                    c.image
                ),
                format!(
                    "Back-off pulling image \"{}\": ErrImagePull: rpc error: code = Unknown desc = {error}",
                    c.image
                ),
            ] {
                if let Some(d) = explain_disagrees(&message, v) {
                    why.push(format!("{d}\n    {message}"));
                }
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", c.name, why.join("; ")));
        }
    }
    eprintln!("{report}");
    assert!(failures.is_empty(), "{}\n\n{report}", failures.join("\n"));
}

// --- the bench (bench/runtime.sh) ------------------------------------------------

/// How long containerd takes to fail, beside the probe with its default
/// stage timeout, for every failing scenario plus a TLS stall and a hung
/// registry; prints a Markdown table. `bench/runtime.sh` runs it (release
/// build); ignored in the test suite, which checks outcomes, not times.
#[test]
#[ignore = "a bench: bench/runtime.sh"]
fn bench_containerd_and_probe_times() {
    let Some(w) = world() else { return };
    let ctd = Containerd::start(w);
    let mut scenarios: Vec<Scenario> = vec![
        sc(
            "TLS stall (TCP up, no handshake)",
            "tlsstall.test/single:1",
            "TLS_HANDSHAKE",
        ),
        sc(
            "hung registry (TLS up, no answer)",
            "hung.test/single:1",
            "TCP_TIMEOUT",
        ),
    ];
    scenarios.extend(
        containerd_scenarios()
            .into_iter()
            .filter(|s| s.code != "OK"),
    );
    // The ctr deadline stands in for the kubelet, which sets none on a pull.
    let deadline = Duration::from_secs(75);
    let jobs: Vec<Job<'_, (Pulled, Verdict)>> = scenarios
        .iter()
        .map(|s| {
            let ctd = &ctd;
            Box::new(move || {
                let (root, env) = containerd_root(w, &s.node);
                let mut pull = Pull::new(s.image, root.path()).timeout(deadline);
                if let Some((u, p)) = s.creds {
                    pull = pull.user(u, p);
                }
                for (k, v) in &env {
                    pull = pull.env(k, v);
                }
                let pulled = ctd.pull(w, &pull);
                // The probe's default stage timeout (5s).
                let verdict = probe_verdict_with(w, root.path(), s.image, s.creds, "5s");
                (pulled, verdict)
            }) as Job<'_, _>
        })
        .collect();
    let outcomes = concurrently(8, jobs);
    let mut table = String::from(
        "| scenario | containerd 1.6.20 | containerd says | probe | probe says | explain on containerd's message |\n\
         | --- | ---: | --- | ---: | --- | --- |\n",
    );
    for (s, (pulled, v)) in scenarios.iter().zip(&outcomes) {
        let said = if pulled.ok {
            "pulled".to_owned()
        } else if pulled.error.is_empty() {
            "(killed at the deadline)".to_owned()
        } else {
            // The reference is in the scenario column already.
            pulled
                .error
                .split_once("\": ")
                .filter(|_| pulled.error.starts_with("failed to resolve reference"))
                .map_or(pulled.error.clone(), |(_, rest)| rest.to_owned())
        };
        let e = explain(&pulled.kubelet_event(s.image));
        let mut explained = e.code.map_or("null", Code::as_str).to_owned();
        if !e.also_possible.is_empty() {
            let also: Vec<&str> = e.also_possible.iter().map(|c| c.as_str()).collect();
            let _ = write!(explained, " (also {})", also.join(", "));
        }
        let containerd_time = if pulled.elapsed >= deadline {
            format!(">{:.0} s", deadline.as_secs_f64())
        } else {
            format!("{:.1} s", pulled.elapsed.as_secs_f64())
        };
        let _ = writeln!(
            table,
            "| {} (`{}`) | {containerd_time} | {} | {:.1} s | {} | {explained} |",
            s.name,
            s.image,
            said.replace('|', "\\|"),
            v.elapsed.as_secs_f64(),
            v.code,
        );
    }
    println!("{table}");
}
