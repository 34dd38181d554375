//! What each code means and what to do about it: the one advice table.
//!
//! The verdict (from the probe's stage facts), `probe explain` (from a
//! runtime's message) and `probe summarize` (from a fleet's reports) all
//! word their hints from this table, so the three never drift apart. Each
//! reads its own evidence; the fix for a code is written once, here.
//!
//! Templates name their facts in braces (`{host}`, `{registry}`, ...); the
//! caller fills them with [`fill`] from what it knows. `{fix}` in an
//! `explain` row stands for the code's fix below.

use crate::code::{Category, Code};
use std::fmt::Write as _;

/// The advice for one code, or for one case of a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advice {
    /// What the probe's facts say happened (a clause; the verdict's hint
    /// starts with it). Facts: `{host}`, `{port}`, `{authority}`, `{url}`,
    /// `{registry}`, `{image}`, `{repo}`, `{nameserver}`, `{realm}`,
    /// `{blob_host}`, `{ip}`, `{have}`, `{retry}`, `{identity}`, `{source}`,
    /// `{why}`.
    pub reads: &'static str,
    /// What to do (a clause; follows the reading). Facts as above, plus
    /// `{acr_name}`; `probe explain` fills the same names from a message.
    pub fix: &'static str,
    /// What the code points at when every node that reached its stage fails
    /// it alike (`probe summarize`); `None`: the category says it.
    pub every_node: Option<&'static str>,
    /// ... when only some nodes do (`{node}`, `{nodes'}`, `{s}` for a verb
    /// after one node); `None`: the category says it.
    pub some_nodes: Option<&'static str>,
}

/// A case of a code whose fix differs from the code's own: the facts name
/// another culprit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// `AUTH_REQUIRED`: credentials were configured but not sent (a token
    /// realm that would get them in clear text or on another host).
    CredentialsWithheld,
    /// `AUTH_REJECTED`: the node's instance metadata service does not know the
    /// managed identity.
    ImdsUnknownIdentity,
    /// `AUTH_SERVER_UNREACHABLE`: the instance metadata service does not answer.
    ImdsUnreachable,
    /// `ACCESS_DENIED`: the node's managed identity lacks the pull role.
    NodeIdentityDenied,
    /// `TLS_HANDSHAKE`: the host speaks plain HTTP where HTTPS was spoken.
    PlainHttp,
}

const fn advice_of(reads: &'static str, fix: &'static str) -> Advice {
    Advice {
        reads,
        fix,
        every_node: None,
        some_nodes: None,
    }
}

/// The advice for `code`.
#[must_use]
#[allow(clippy::too_many_lines)] // one row per code, read as a table
pub const fn advice(code: Code) -> Advice {
    match code {
        Code::Ok => advice_of("", ""),
        Code::DnsNxdomain => advice_of(
            "{host} does not resolve from the node",
            "check the registry host {host:?} for a typo; if it is a private name, the node's DNS ({nameserver}) must know it (private DNS zone linked to the node's network, or a conditional forwarder)",
        ),
        Code::DnsNoAddress => advice_of(
            "{host} exists in DNS but has no A/AAAA record",
            "check the zone (a private endpoint's record missing?)",
        ),
        Code::DnsTimeout => Advice {
            every_node: Some("the resolver every node uses fails (the cluster's DNS path)"),
            some_nodes: Some("{nodes'} DNS resolver"),
            ..advice_of(
                "the node's DNS does not answer",
                "check the node's /etc/resolv.conf ({nameserver}) and UDP/TCP 53 egress from the node",
            )
        },
        Code::DnsServfail => Advice {
            every_node: Some("the resolver every node uses fails (the cluster's DNS path)"),
            some_nodes: Some("{nodes'} DNS resolver"),
            ..advice_of(
                "the node's DNS server ({nameserver}) failed to resolve {host}",
                "check its upstream forwarders and the zone",
            )
        },
        Code::TcpTimeout => advice_of(
            "packets to {host}:{port} are dropped",
            "check firewall/NSG/network-policy egress rules and routes, or set the runtime's HTTPS_PROXY if egress must go through a proxy",
        ),
        Code::TcpRefused => advice_of(
            "nothing listens on {host}:{port}",
            "check the port in the image reference and that the registry is running",
        ),
        Code::TcpUnreachable => advice_of(
            "the node has no route to {host}",
            "check routes, VPN/peering and the node's network",
        ),
        Code::ProxyUnreachable => Advice {
            every_node: Some("the proxy every node is configured with cannot be reached"),
            some_nodes: Some("the proxy {node} use{s}"),
            ..advice_of(
                "the runtime's proxy cannot be reached",
                "check HTTPS_PROXY/HTTP_PROXY in the runtime's environment (systemd drop-in) and that the proxy is up",
            )
        },
        Code::ProxyRejected => advice_of(
            "the proxy refused to connect to {host}",
            "allow it in the proxy's ACL (or give the proxy its credentials), or add {host} to NO_PROXY if the node can reach it directly",
        ),
        Code::TlsUntrusted => Advice {
            every_node: Some("the CA is missing on every node"),
            some_nodes: Some("the CA is missing on {node}"),
            ..advice_of(
                "the CA is not trusted on this node",
                "add the registry's CA to /etc/containerd/certs.d/{authority}/ (hosts.toml `ca`; Docker: /etc/docker/certs.d/{authority}/ca.crt) or to the system CA bundle; if a TLS-inspecting proxy or firewall is in the path, trust its CA",
            )
        },
        Code::TlsNameMismatch => advice_of(
            "the certificate is not valid for {host}",
            "use a name the certificate covers in the image reference, or reissue it with {host} in its SANs",
        ),
        Code::TlsExpired => advice_of(
            "the certificate of {host} is expired or not yet valid",
            "renew it, or fix the node's clock",
        ),
        Code::TlsHandshake => advice_of(
            "TLS with {host}:{port} failed",
            "if it serves plain HTTP, configure it as an http endpoint in the runtime's registry config; otherwise a middlebox may be resetting TLS",
        ),
        Code::NotARegistry => advice_of(
            "{url} did not answer like a registry",
            "check the host and port in the image reference",
        ),
        Code::AuthRequired => advice_of(
            "the registry needs credentials",
            "create an imagePullSecret (`kubectl create secret docker-registry <name> --docker-server={registry} --docker-username=... --docker-password=...`) and reference it in the pod spec (`imagePullSecrets`), or give the node credentials for {registry}",
        ),
        Code::AuthRejected => advice_of(
            "the credentials from {source} were refused",
            "check the username, the password or token (expired?), and recreate the imagePullSecret (`kubectl create secret docker-registry ...`) or fix the node's credentials",
        ),
        Code::AuthServerUnreachable => advice_of(
            "the registry sends clients to {realm} for tokens, and the node cannot reach it",
            "allow egress to that host too (and to the registry itself)",
        ),
        Code::AuthError => advice_of(
            "the registry's token service answered with an error or garbage",
            "registry-side trouble, retry later or contact the registry's operator",
        ),
        Code::IpNotAllowed => Advice {
            every_node: Some("the registry's network rules refuse the cluster's egress address"),
            some_nodes: Some("the registry's network rules refuse {nodes'} egress address"),
            ..advice_of(
                "{registry} refuses this node's egress address {ip}",
                "add it to the registry's network rules (ACR: `az acr network-rule add --name {acr_name} --ip-address {ip}`, or allow the node subnet), or reach the registry through a private endpoint; this is not a credentials problem",
            )
        },
        Code::AccessDenied => advice_of(
            "the credentials are valid but may not pull {repo}",
            "grant pull access (e.g. the AcrPull role, a project membership)",
        ),
        Code::ImageNotFound => Advice {
            every_node: Some(
                "the image reference is wrong everywhere (or the image was never pushed)",
            ),
            ..advice_of(
                "the registry has no {image}",
                "check the repository and tag for typos, and that the tag was pushed to this registry (not only built locally); `kubectl describe pod` shows the image the kubelet asked for",
            )
        },
        Code::RateLimited => advice_of(
            "the registry is rate limiting this node{retry}",
            "authenticate pulls (an imagePullSecret for {registry}), use a pull-through mirror, or wait for the window to reset",
        ),
        Code::RegistryError => advice_of(
            "registry-side trouble",
            "retry later and check the registry's status page",
        ),
        Code::BlobUnreachable => advice_of(
            "the manifest is reachable but the layer data is served from {blob_host}, which the node cannot reach",
            "allow egress to it too (ACR: *.data.azurecr.io / *.blob.core.windows.net; Docker Hub: production.cloudflare.docker.com)",
        ),
        Code::PlatformMissing => Advice {
            every_node: Some("the image has no build for the nodes' platform"),
            ..advice_of(
                "the image has no variant for this node's platform (it has: {have})",
                "push a multi-platform image, or schedule the pod on matching nodes (nodeSelector kubernetes.io/arch)",
            )
        },
        Code::InvalidReference => advice_of(
            "the image reference cannot be parsed",
            "fix the `image:` in the pod spec (upper-case letters, a scheme such as https:// and a trailing colon are not allowed)",
        ),
        Code::MtuBlackhole => advice_of(
            "a path MTU black hole between this node and {far}: large packets are dropped and the ICMP \"fragmentation needed\" that should say so never arrives (a VPN, tunnel or overlay with an MTU below 1500); with a segment size (MSS) of {mss} bytes the same exchange completed",
            "measure the path MTU with `tracepath -n {far}` from the node; then lower the MTU of the node's interface or CNI to it, or clamp the MSS on the tunnel's router (`iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`), and let ICMP type 3 code 4 through",
        ),
        Code::ClockSkew => advice_of(
            "this node's clock is {clock} compared with {host} (its Date header), so a valid certificate looks expired or not yet valid",
            "fix the node's time sync (`timedatectl status`, `chronyc tracking` or systemd-timesyncd, NTP egress on UDP 123), then retry the pull; the registry's certificate is fine",
        ),
        // Only `probe explain` gives these two (the runtime's own pull
        // failed on the node); the probe's stages never do.
        Code::NodeDiskFull => advice_of(
            "the node's disk under the runtime's root (/var/lib/containerd) is full",
            "free space on the node (`crictl rmi --prune`) and let the kubelet's image garbage collection start earlier (imageGCHighThresholdPercent)",
        ),
        Code::PullProgressTimeout => advice_of(
            "the runtime cancelled the pull after no progress for its image_pull_progress_timeout",
            "check the node's path to the registry and its blob store; if the link is merely slow, raise `image_pull_progress_timeout` in containerd's CRI config (plugins.\"io.containerd.grpc.v1.cri\" in 1.7, plugins.\"io.containerd.cri.v1.images\" in 2.x)",
        ),
        Code::ConfigBlocked => advice_of(
            "the node's registry config leaves no host to pull from",
            "check the runtime's registry config (a blocked registry, or mirrors without the upstream; the report's config_sources name the files)",
        ),
        Code::CredentialProviderFailed => advice_of(
            "the kubelet's image credential provider for this image failed",
            "check that the provider binary is in --image-credential-provider-bin-dir and runs on this node, and its entry in --image-credential-provider-config (matchImages, apiVersion)",
        ),
    }
}

/// The advice for a case of a code.
#[must_use]
pub const fn case(case: Case) -> Advice {
    match case {
        Case::CredentialsWithheld => advice_of(
            "credentials from {source} are configured but were not sent: {why}; containerd would send them to {realm} in clear text",
            "serve the token realm over https (or on the registry's own host)",
        ),
        Case::ImdsUnknownIdentity => advice_of(
            "IMDS does not know {identity} on this node",
            "assign the user-assigned identity to the node pool's VMSS (`az vmss identity assign --identities <identity resource id> ...`), or fix userAssignedIdentityID in /etc/kubernetes/azure.json",
        ),
        Case::ImdsUnreachable => advice_of(
            "the node's instance metadata service (IMDS) does not answer, so its managed identity gets no token",
            "IMDS is link-local (169.254.169.254) and only reachable from the node's own network (hostNetwork), with nothing in between; check firewall/NetworkPolicy rules for 169.254.169.254:80 and that no proxy is used for it",
        ),
        Case::NodeIdentityDenied => advice_of(
            "the node's identity {identity} may not pull {repo}",
            "give it the AcrPull role on the registry (`az role assignment create --assignee {identity} --role AcrPull --scope $(az acr show --name {acr_name} --query id -o tsv)`), or attach the registry to the cluster (`az aks update --name <cluster> --resource-group <group> --attach-acr {acr_name}`)",
        ),
        Case::PlainHttp => advice_of(
            "{host} speaks plain HTTP where the runtime spoke HTTPS",
            "declare it an http endpoint (containerd: certs.d/{host}/hosts.toml `server = \"http://{host}\"`; CRI-O: `insecure = true`; Docker: insecure-registries), or serve TLS",
        ),
    }
}

impl Advice {
    /// The reading and the fix as one hint.
    #[must_use]
    pub fn hint(&self, facts: &dyn Fn(&str) -> Option<String>) -> String {
        match (self.reads.is_empty(), self.fix.is_empty()) {
            (_, true) => fill(self.reads, facts),
            (true, false) => fill(self.fix, facts),
            (false, false) => format!("{}: {}", fill(self.reads, facts), fill(self.fix, facts)),
        }
    }
}

/// What a failure shared by every node that reached it, or by only some of
/// them, points at (`probe summarize`).
#[must_use]
pub fn fleet_cause(code: Code, every_node: bool, failing: usize) -> String {
    let one = failing == 1;
    let a = advice(code);
    let (node, nodes_) = if one {
        ("that node", "that node's")
    } else {
        ("those nodes", "those nodes'")
    };
    let verb_s = if one { "s" } else { "" };
    let own = if every_node {
        a.every_node
    } else {
        a.some_nodes
    };
    if let Some(text) = own {
        return text
            .replace("{nodes'}", nodes_)
            .replace("{node}", node)
            .replace("{s}", verb_s);
    }
    match (every_node, code.category()) {
        (true, Category::Network) => {
            "the network path from every node (egress, firewall, DNS)".to_owned()
        }
        (true, Category::Name) => "the name is wrong everywhere".to_owned(),
        (true, Category::Credentials) => {
            "the credentials are the same (missing or wrong) on every node".to_owned()
        }
        (true, Category::Registry) => "registry-side: every node gets the same answer".to_owned(),
        (true, Category::Config | Category::Ok) => {
            "the node config (CA/proxy/mirror) is the same on every node".to_owned()
        }
        (false, Category::Network) => format!("{nodes_} egress (subnet, firewall, route, DNS)"),
        (false, Category::Name) => format!(
            "{node} resolve{verb_s} or name{verb_s} it differently (DNS, /etc/hosts, mirror config)"
        ),
        (false, Category::Credentials) => format!(
            "{nodes_} credentials (kubelet config.json, credential provider) differ from the others'"
        ),
        (false, Category::Registry) => {
            "registry-side, seen from only some nodes (throttling or a flaky backend)".to_owned()
        }
        (false, Category::Config | Category::Ok) => {
            format!("{nodes_} config (CA/proxy/mirror) differs from the others'")
        }
    }
}

/// A template with its facts filled in: `{name}` becomes `facts(name)`,
/// `{name:?}` its quoted form. A fact the caller does not know stays
/// visible as `<name>`, never as a brace.
#[must_use]
pub fn fill(template: &str, facts: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        let (name, quoted) = key.strip_suffix(":?").map_or((key, false), |n| (n, true));
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            // Not a fact: literal braces (a TOML table in a fix, say).
            out.push('{');
            rest = after;
            continue;
        }
        let value = facts(name).unwrap_or_else(|| format!("<{name}>"));
        if quoted {
            let _ = write!(out, "{value:?}");
        } else {
            out.push_str(&value);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_filled_and_unknown_ones_stay_visible() {
        let facts = |name: &str| (name == "host").then(|| "reg.example".to_owned());
        assert_eq!(
            fill("{host} and {host:?} via {realm}", &facts),
            "reg.example and \"reg.example\" via <realm>"
        );
        assert_eq!(fill("a { b } {", &facts), "a { b } {");
    }

    #[test]
    fn every_failing_code_has_a_reading_and_a_fix() {
        for code in Code::ALL {
            let a = advice(code);
            if code == Code::Ok {
                assert!(a.reads.is_empty() && a.fix.is_empty());
                continue;
            }
            assert!(!a.reads.is_empty() && !a.fix.is_empty(), "{code}");
            for every in [true, false] {
                let cause = fleet_cause(code, every, 2);
                assert!(!cause.is_empty() && !cause.contains('{'), "{code}: {cause}");
            }
        }
    }

    /// The text of a template before its first fact: what every use of it
    /// shows, whatever the facts.
    fn fixed_part(template: &str) -> &str {
        template.split('{').next().unwrap_or("").trim_end()
    }

    /// Every code's advice reaches the verdict's hint, `probe explain`'s hint
    /// and `probe summarize`'s cluster verdict from this table.
    #[test]
    fn every_code_is_advised_from_the_table_in_all_three() {
        use crate::probe::EndpointOutcome;
        use crate::probe::result::{Detail, Stage, StageResult};
        use crate::target::{Endpoint, Target};
        use std::time::Duration;

        let explained = crate::explain::codes_and_hints();
        for code in Code::ALL.into_iter().filter(|c| *c != Code::Ok) {
            let fix = fixed_part(advice(code).fix);
            assert!(fix.len() > 10, "{code}: the fix starts with a fact: {fix}");

            // The verdict.
            let target = Target {
                registry: "reg.test".into(),
                endpoints: vec![Endpoint::https("reg.test", 443)],
                ..Default::default()
            };
            let outcome = EndpointOutcome {
                endpoint: Endpoint::https("reg.test", 443),
                stages: vec![StageResult::fail(
                    Stage::Manifest,
                    code,
                    Duration::from_millis(1),
                    "broken",
                    Detail::None,
                )],
                skipped: None,
                requests: 0,
            };
            let hint = crate::verdict::judge(&target, &[outcome]).hint.unwrap();
            assert!(hint.contains(fix), "verdict {code}: {hint}");

            // explain: every row of the code, and the code reached at all
            // (some only as a cause the message cannot rule out).
            let rows: Vec<&String> = explained
                .iter()
                .filter(|(c, _, _)| *c == code)
                .map(|(_, h, _)| h)
                .collect();
            assert!(
                !rows.is_empty() || explained.iter().any(|(_, _, also)| also.contains(&code)),
                "explain never says {code}"
            );
            for hint in rows {
                let own = fixed_part(advice(code).fix);
                let cased = [Case::PlainHttp].map(|c| fixed_part(case(c).fix));
                assert!(
                    hint.contains(own) || cased.iter().any(|c| hint.contains(c)),
                    "explain {code}: {hint}"
                );
            }

            // summarize: two nodes alike, then one of two.
            for failing in [2, 1] {
                let lines: Vec<String> = (0..2)
                    .map(|i| {
                        let code_here = if i < failing { code.as_str() } else { "OK" };
                        let status = if i < failing { "fail" } else { "ok" };
                        let category = if i < failing {
                            code.category().as_str()
                        } else {
                            "ok"
                        };
                        serde_json::json!({"schema": crate::summary::REPORT_SCHEMA,
                            "node": format!("n{i}"), "started_at": "2026-12-05T09:00:00Z",
                            "duration_ms": 5, "status": status, "config_sources": [],
                            "node_finding": null, "targets": [{"registry": "reg.test",
                            "image": null, "status": status, "code": code_here,
                            "category": category, "message": "m", "hint": hint,
                            "endpoints": [{"url": "https://reg.test/v2/", "stages": []}]}]})
                        .to_string()
                    })
                    .collect();
                let s = crate::summary::Summary::from_text(&lines.join("\n"));
                let v = &s.verdicts[0];
                let cause = fleet_cause(code, failing == 2, failing);
                assert!(
                    v.message.ends_with(&cause),
                    "summarize {code}: {}",
                    v.message
                );
                assert_eq!(v.hint.as_deref(), Some(hint.as_str()));
            }
        }
    }
}
