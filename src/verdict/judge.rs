//! The fault taxonomy: a pure function from stage outcomes to one verdict per
//! target (status, code, category, message, hint), and the node's finding
//! when one cause explains every failing target.
//!
//! This is the only place that decides what a failure *means*. It reads the
//! typed stage results and the target's config, never the network or the
//! disk, never a detail by string key, and is table-tested below.

use crate::code::{Category, Code};
use crate::probe::EndpointOutcome;
use crate::probe::result::{
    AuthDetail, BearerFacts, Detail, DnsDetail, Nameservers, PingDetail, Stage, StageResult,
};
use crate::probe::result::{ServerDate, clock_words};
use crate::target::{CredentialKind, Role, Target};
use crate::verdict::advice::{Case, advice, case};
use std::fmt::Write as _;

/// `ok`, `degraded` (a mirror failed, a later endpoint worked) or `fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetStatus {
    Ok,
    Degraded,
    Fail,
}

impl TargetStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::Ok => "ok",
            TargetStatus::Degraded => "degraded",
            TargetStatus::Fail => "fail",
        }
    }
}

/// One verdict per target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: TargetStatus,
    pub code: Code,
    pub category: Category,
    /// One line a person understands.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The stage whose failure decided, when a stage did.
    pub stage: Option<Stage>,
}

/// The conclusion across targets when one cause explains them all
/// (`CONTRACT.md`, `node_finding`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFinding {
    pub category: Category,
    pub message: String,
    pub hint: String,
}

/// Judge a target from its endpoint outcomes (in the order they were tried).
///
/// The code is the first failing stage's code on the endpoint the runtime
/// would end up using. When every endpoint fails, containerd reports the
/// *first* error it met, except that a 404 from a host only makes it try the
/// next one (`core/remotes/docker/resolver.go`, `Resolve`: `firstErr`, and
/// `continue` on `StatusNotFound`); we pick the same endpoint.
#[must_use]
pub fn judge(target: &Target, all: &[EndpointOutcome]) -> Verdict {
    let v = with_secret_findings(target, judge_outcomes(target, all));
    match target.provider_failures.first() {
        None => v,
        // The kubelet goes on without a provider that fails; a pull that then
        // fails is the provider's doing, and the node's config to fix.
        Some(f) if v.status == TargetStatus::Fail => {
            let more = if target.provider_failures.len() > 1 {
                format!(" (and {} more)", target.provider_failures.len() - 1)
            } else {
                String::new()
            };
            Verdict {
                status: TargetStatus::Fail,
                code: Code::CredentialProviderFailed,
                category: Code::CredentialProviderFailed.category(),
                message: format!(
                    "{target}: kubelet credential provider {} ({}) could not give credentials: {}{more}; without them: {}",
                    f.name, f.path, f.reason, v.message
                ),
                hint: join(vec![
                    format!(
                        "fix the provider the kubelet runs for this image: {} declared in {} (`{}`); the kubelet logs \"Failed getting credential from external registry credential provider\"",
                        f.path, f.config, f.name
                    ),
                    v.hint.unwrap_or_default(),
                ]),
                stage: v.stage,
            }
        }
        Some(f) => Verdict {
            hint: join(vec![
                v.hint.clone().unwrap_or_default(),
                format!(
                    "kubelet credential provider {} ({}) fails ({}), though this pull works without it",
                    f.name, f.path, f.reason
                ),
            ]),
            ..v
        },
    }
}

/// The verdict slot of a planned target: nothing is judged, the message
/// says how many endpoints would be tried and the hint carries the remarks.
#[must_use]
pub fn planned(target: &Target) -> Verdict {
    let n = target.endpoints.len();
    let message = if n == 0 {
        format!("{target}: the node's runtime config leaves no endpoint to pull from")
    } else {
        format!("{target}: {n} endpoint(s) would be tried, in this order")
    };
    Verdict {
        status: TargetStatus::Ok,
        code: Code::Ok,
        category: Category::Ok,
        message,
        hint: (!target.remarks.is_empty()).then(|| target.remarks.join("; ")),
        stage: None,
    }
}

/// An image reference the kubelet cannot parse: it reports
/// `InvalidImageName` and pulls nothing (`pkg/kubelet/images/image_manager.go`
/// `applyDefaultImageTag`), so no stage runs. `reason` says which part is wrong.
#[must_use]
pub fn invalid_reference(image: &str, reason: &str) -> Verdict {
    Verdict {
        status: TargetStatus::Fail,
        code: Code::InvalidReference,
        category: Code::InvalidReference.category(),
        message: format!("the image reference {image:?} cannot be parsed: {reason}"),
        hint: Some(hint_invalid_reference()),
        stage: None,
    }
}

fn hint_invalid_reference() -> String {
    advice(Code::InvalidReference).hint(&|_| None)
}

/// The pod's pull-secret findings in the hint: first when the verdict is
/// about credentials (they are the likely cause), last otherwise.
fn with_secret_findings(target: &Target, v: Verdict) -> Verdict {
    if target.secret_findings.is_empty() {
        return v;
    }
    let mut hints = target.secret_findings.clone();
    let own = v.hint.clone().unwrap_or_default();
    if v.category == Category::Credentials {
        hints.push(own);
    } else {
        hints.insert(0, own);
    }
    Verdict {
        hint: join(hints),
        ..v
    }
}

fn judge_outcomes(target: &Target, all: &[EndpointOutcome]) -> Verdict {
    // Endpoints the runtime would not use for this target take no part.
    let outcomes: Vec<&EndpointOutcome> = all.iter().filter(|o| o.skipped.is_none()).collect();
    if outcomes.is_empty() {
        if target.endpoints.is_empty() || !all.is_empty() {
            // Nothing usable is left by the node's own config: a config fault
            // (exit 7), though no contract code names it; the remarks say which file.
            let why = target
                .remarks
                .first()
                .map_or_else(String::new, |r| format!(": {r}"));
            let mut hints = vec![advice(Code::ConfigBlocked).fix.to_owned()];
            hints.extend(target.remarks.iter().skip(1).cloned());
            return Verdict {
                status: TargetStatus::Fail,
                code: Code::ConfigBlocked,
                category: Code::ConfigBlocked.category(),
                message: format!(
                    "{target}: the node's runtime config leaves no endpoint to pull from{why}"
                ),
                hint: join(hints),
                stage: None,
            };
        }
        return Verdict {
            status: TargetStatus::Fail,
            code: Code::RegistryError,
            category: Category::Registry,
            message: format!("{target}: not probed, the run's deadline was reached first"),
            hint: Some("raise --deadline, or probe fewer targets at once".to_owned()),
            stage: None,
        };
    }
    if let Some(good) = outcomes.iter().position(|o| o.first_failure().is_none()) {
        let used = outcomes[good];
        let mut message = format!("{target}: ok via {}", used.endpoint.url());
        if let Some(Detail::Manifest(m)) = used.stage(Stage::Manifest).map(|s| &s.detail)
            && let Some(digest) = &m.digest
        {
            let _ = write!(message, " ({digest})");
        }
        let mut hints: Vec<String> = config_hints(used, target);
        if good > 0 {
            let failed: Vec<String> = outcomes[..good]
                .iter()
                .filter_map(|o| {
                    o.first_failure()
                        .map(|f| format!("{} {}", o.endpoint.url(), f.code))
                })
                .collect();
            let _ = write!(
                message,
                "; earlier endpoint(s) failed: {}",
                failed.join(", ")
            );
            hints.insert(
                0,
                "pulls still work but wait for the failing mirror first: fix it or remove it from the runtime's registry config".to_owned(),
            );
            return Verdict {
                status: TargetStatus::Degraded,
                code: Code::Ok,
                category: Category::Ok,
                message,
                hint: join(hints),
                stage: None,
            };
        }
        return Verdict {
            status: TargetStatus::Ok,
            code: Code::Ok,
            category: Category::Ok,
            message,
            hint: join(hints),
            stage: None,
        };
    }
    // Every endpoint failed: containerd's firstErr, skipping not-found answers while a later host remains.
    let chosen = outcomes
        .iter()
        .enumerate()
        .find(|(i, o)| {
            let last = *i + 1 == outcomes.len();
            let not_found = o
                .first_failure()
                .is_some_and(|f| f.code == Code::ImageNotFound);
            last || !not_found
        })
        .map_or(outcomes[0], |(_, o)| *o);
    let failure = chosen.first_failure().expect("every outcome failed");
    let code = failure.code;
    let mut message = format!(
        "{target}: {} failed: {}",
        failure.stage.as_str(),
        failure.summary
    );
    if outcomes.len() > 1 {
        let others: Vec<String> = outcomes
            .iter()
            .filter(|o| !std::ptr::eq(**o, chosen))
            .filter_map(|o| {
                o.first_failure()
                    .map(|f| format!("{} {}", o.endpoint.url(), f.code))
            })
            .collect();
        if !others.is_empty() {
            let _ = write!(message, " (also failed: {})", others.join(", "));
        }
    }
    // Credentials the node has and the kubelet skips replace the generic
    // "create an imagePullSecret": they say why, and list it among the fixes.
    let mut hints: Vec<String> = if code == Code::AuthRequired
        && withheld(chosen).is_none()
        && !target.unread_credentials.is_empty()
    {
        target
            .unread_credentials
            .iter()
            .map(|u| unread_credentials_hint(u, &target.registry))
            .collect()
    } else {
        vec![hint(code, failure, chosen, target)]
    };
    if let Some(lp) = &target.login_proxy
        && matches!(failure.stage, Stage::Dns | Stage::Tcp)
    {
        hints.insert(0, login_proxy_hint(lp));
    }
    if let Some(pe) = private_endpoint(chosen)
        && matches!(failure.stage, Stage::Dns | Stage::Tcp | Stage::Tls)
    {
        hints.push(format!(
            "{} resolves to a private endpoint ({pe}): the node must be in or peered with the endpoint's virtual network, and the private DNS zone ({}) linked to it",
            chosen.endpoint.host,
            pe.split_once(".privatelink.").map_or_else(|| pe.clone(), |(_, zone)| format!("privatelink.{zone}"))
        ));
    }
    hints.extend(config_hints(chosen, target));
    Verdict {
        status: TargetStatus::Fail,
        code,
        category: code.category(),
        message,
        hint: join(hints),
        stage: Some(failure.stage),
    }
}

/// Credentials on the node that the kubelet skips, and the three ways to
/// hand them over. Names the file, never its content. The kubelet reads
/// only the first `config.json` of its search order (kubernetes
/// `pkg/credentialprovider/config.go`, `ReadDockerConfigJSONFile`), so
/// `sudo docker login` helps only when no earlier file exists, and a copy
/// must not overwrite the file it reads.
fn unread_credentials_hint(u: &crate::target::UnreadCredentials, registry: &str) -> String {
    const ROOT_CONFIG: &str = "/root/.docker/config.json";
    let earlier = u
        .kubelet_reads
        .as_deref()
        .filter(|k| *k == u.kubelet_path || *k == "/config.json");
    let login = match earlier {
        Some(k) => format!(
            "`sudo docker login {registry}` as root writes {ROOT_CONFIG}, but the kubelet reads only the first config.json it finds, here {k}: log in elsewhere and put the `auths` entry for {registry} into {k}"
        ),
        None => format!(
            "`sudo docker login {registry}` as root (it writes {ROOT_CONFIG}, which the kubelet reads when there is no {kubelet} or /config.json and its environment has HOME=/root, else copy it to /.docker/config.json; and provided that file has no credsStore and no credHelpers entry for {registry}, so that the credentials land in the file)",
            kubelet = u.kubelet_path,
        ),
    };
    let copy = match (&u.kubelet_reads, u.inline) {
        (None, true) => format!(
            "copy the file to the kubelet's own path (`sudo cp {} {}`)",
            u.path, u.kubelet_path
        ),
        (Some(k), true) => format!(
            "merge its `auths` entry for {registry} into {k}, the file the kubelet reads (a copy over it would drop its other entries)"
        ),
        (reads, false) => format!(
            "write the credentials themselves (an `auths` entry with `auth`, not a helper's name) for {registry} into {}",
            reads.as_deref().unwrap_or(&u.kubelet_path)
        ),
    };
    format!(
        "{path} has credentials for {registry}, but the kubelet never reads them: {why}. Give them to the kubelet one of three ways: {login}; or {copy}; or an imagePullSecret (`kubectl create secret docker-registry <name> --docker-server={registry} ...`, named in the pod's `imagePullSecrets`)",
        path = u.path,
        why = u.why,
    )
}

/// A proxy only login shells have: both files, and the drop-in that gives
/// the runtime the same one (user info stays redacted).
fn login_proxy_hint(lp: &crate::target::LoginProxy) -> String {
    let unit_files = if lp.unit_files.is_empty() {
        "no unit file found".to_owned()
    } else {
        lp.unit_files.join(", ")
    };
    let no_proxy = lp.no_proxy.clone().unwrap_or_else(|| {
        "localhost,127.0.0.1,.svc,.cluster.local,<pod and service CIDRs>".to_owned()
    });
    let redacted = if lp.value.contains("redacted@") {
        " (put the proxy's user and password back where it says redacted)"
    } else {
        ""
    };
    format!(
        "a login shell on this node gets {name}={value} from {source}, so `curl` from a shell goes through that proxy; but only a login session reads /etc/environment (pam_env) and only a login shell /etc/profile.d/*.sh (through /etc/profile), and systemd starts {unit} with neither: its unit ({unit_files}) does not set it, so the runtime goes direct. Give the runtime the same proxy with a systemd drop-in /etc/systemd/system/{unit}.d/http-proxy.conf: `[Service]` `Environment=\"HTTPS_PROXY={value}\" \"HTTP_PROXY={value}\" \"NO_PROXY={no_proxy}\"`{redacted}, then `systemctl daemon-reload && systemctl restart {unit}`",
        name = lp.name,
        value = lp.value,
        source = lp.source,
        unit = lp.unit,
    )
}

fn join(hints: Vec<String>) -> Option<String> {
    let hints: Vec<String> = hints.into_iter().filter(|h| !h.is_empty()).collect();
    if hints.is_empty() {
        None
    } else {
        Some(hints.join("; "))
    }
}

/// The auth facts of an outcome: the auth stage's, or those of an
/// authorization the manifest request needed.
fn auth_details(outcome: &EndpointOutcome) -> impl Iterator<Item = &AuthDetail> {
    outcome.stages.iter().filter_map(|s| match &s.detail {
        Detail::Auth(a) => Some(&**a),
        Detail::Manifest(m) => m.auth.as_ref(),
        _ => None,
    })
}

/// The Bearer exchange that withheld configured credentials, if any.
fn withheld(outcome: &EndpointOutcome) -> Option<(&BearerFacts, &str)> {
    auth_details(outcome).find_map(|a| {
        let b = a.bearer.as_ref()?;
        Some((b, b.credentials_withheld.as_deref()?))
    })
}

/// Hints that come from the node's config rather than from the failure itself.
fn config_hints(outcome: &EndpointOutcome, target: &Target) -> Vec<String> {
    let mut hints = Vec::new();
    let ep = &outcome.endpoint;
    if matches!(
        outcome.stage(Stage::Dns).map(|s| &s.detail),
        Some(Detail::Dns(DnsDetail::HostsFile { .. }))
    ) {
        hints.push(format!("{} is pinned in the node's /etc/hosts: DNS is not asked, check that address is still right", ep.host));
    }
    // Certificate checks only matter where TLS is spoken.
    if ep.tls.skip_verify && ep.scheme == crate::target::Scheme::Https {
        let masked = match outcome.stage(Stage::Tls).map(|s| &s.detail) {
            Some(Detail::Tls(t)) => t.masked_error.as_deref(),
            _ => None,
        };
        match masked {
            Some(m) => hints.push(format!(
                "skip_verify is on for {} ({}) and masks a TLS problem: {m}",
                ep.host, ep.source
            )),
            None => hints.push(format!(
                "skip_verify is on for {} ({}): certificate checks are off",
                ep.host, ep.source
            )),
        }
    }
    if ep.role == Role::Mirror
        && !ep.capabilities.resolve
        && target.image.as_ref().is_some_and(|r| r.digest.is_none())
    {
        hints.push(format!(
            "mirror {} lacks the `resolve` capability ({}): containerd will not resolve tags there, only fetch by digest",
            ep.host, ep.source
        ));
    }
    hints.extend(target.remarks.iter().cloned());
    hints
}

/// What to do about a failure: the code's (or its case's) reading and fix
/// from the advice table, filled with this failure's facts.
fn hint(code: Code, failure: &StageResult, outcome: &EndpointOutcome, target: &Target) -> String {
    let ep = &outcome.endpoint;
    let registry = &target.registry;
    let withheld = withheld(outcome);
    let identity = ep
        .credential
        .as_ref()
        .filter(|c| c.kind() == CredentialKind::Identity);
    let advice = match code {
        Code::AuthRequired if withheld.is_some() => case(Case::CredentialsWithheld),
        Code::AuthRejected if imds_failed(failure) => case(Case::ImdsUnknownIdentity),
        Code::AuthServerUnreachable if imds_failed(failure) => case(Case::ImdsUnreachable),
        Code::AccessDenied if identity.is_some() => case(Case::NodeIdentityDenied),
        _ => advice(code),
    };
    let facts = |name: &str| -> Option<String> {
        Some(match name {
            "host" => ep.host.clone(),
            "port" => ep.port.to_string(),
            "authority" => ep.authority(),
            "url" => ep.url(),
            "registry" => registry.clone(),
            "acr_name" => registry.split('.').next().unwrap_or(registry).to_owned(),
            "repo" => target.keyring_name(),
            "image" => target
                .image
                .as_ref()
                .map_or_else(|| registry.clone(), ToString::to_string),
            // The dns stage lists every server asked when none answered.
            "nameserver" => match &failure.detail {
                Detail::Dns(DnsDetail::Lookup(l)) => l.nameserver.joined(),
                _ => "the nameservers in <root>/etc/resolv.conf".to_owned(),
            },
            "source" => ep.credential.as_ref().map_or_else(
                || "the configured credentials".to_owned(),
                |c| c.source.clone(),
            ),
            "identity" => ep
                .credential
                .as_ref()
                .map_or("the identity", |c| c.username())
                .to_owned(),
            "why" => withheld.map(|(_, why)| why.to_owned())?,
            "realm" => match withheld {
                Some((bearer, _)) => bearer.realm.clone(),
                None => match &failure.detail {
                    Detail::Auth(a) => a.bearer.as_ref().map(|b| b.realm.clone()),
                    Detail::Manifest(m) => m
                        .auth
                        .as_ref()
                        .and_then(|a| a.bearer.as_ref())
                        .map(|b| b.realm.clone()),
                    _ => None,
                }
                .unwrap_or_else(|| "the token service".to_owned()),
            },
            "retry" => {
                let rate = match &failure.detail {
                    Detail::Manifest(m) => m.response.as_ref().map(|r| &r.rate_limit),
                    Detail::Ping(PingDetail::Answered(a)) => Some(&a.rate_limit),
                    _ => None,
                };
                rate.and_then(|r| r.retry_after.as_deref())
                    .map(|r| format!(" (Retry-After: {r})"))
                    .unwrap_or_default()
            }
            // The last redirect target dialled is the data endpoint that failed.
            "blob_host" => match &failure.detail {
                Detail::Blob(b) => b.redirect_stages.last().map(|h| h.host.clone()),
                _ => None,
            }
            .unwrap_or_else(|| "the blob storage host".to_owned()),
            "ip" => refused_ip(failure).unwrap_or_else(|| "<node egress IP>".to_owned()),
            // The segment size the MSS retry completed with.
            "mss" => match &failure.detail {
                Detail::Tls(t) => t.mss_retry.as_ref().map(|r| r.mss),
                Detail::Blob(b) => b.mss_retry.as_ref().map(|r| r.mss),
                _ => None,
            }
            .unwrap_or(crate::probe::result::SMALL_MSS)
            .to_string(),
            // The far end of an MTU black hole: the blob host, else the endpoint.
            "far" => match &failure.detail {
                Detail::Blob(b) => b
                    .final_host
                    .clone()
                    .or_else(|| b.redirect_stages.last().map(|h| h.host.clone())),
                _ => None,
            }
            .unwrap_or_else(|| ep.authority()),
            // How far the node's clock is off the registry's Date.
            "clock" => match &failure.detail {
                Detail::Tls(t) => t.clock.as_ref().map(|c| c.date.offset_seconds()),
                _ => None,
            }
            .map_or_else(|| "far off".to_owned(), clock_words),
            "have" => match &failure.detail {
                Detail::Platform(p) => p.present.join(", "),
                _ => String::new(),
            },
            _ => return None,
        })
    };
    advice.hint(&facts)
}

/// The private endpoint the dns stage saw in the CNAME chain, if any.
fn private_endpoint(outcome: &EndpointOutcome) -> Option<String> {
    match outcome.stage(Stage::Dns).map(|s| &s.detail) {
        Some(Detail::Dns(DnsDetail::Lookup(l))) => l.private_endpoint().map(str::to_owned),
        _ => None,
    }
}

/// Whether an identity exchange failed at IMDS.
fn imds_failed(failure: &StageResult) -> bool {
    matches!(&failure.detail, Detail::Auth(a) if a.identity.as_ref().is_some_and(|i| {
        i.steps.last().is_some_and(|s| s.step == "imds" && s.code != Code::Ok)
    }))
}

/// The client address a registry's firewall named in its refusal, if any.
fn refused_ip(failure: &StageResult) -> Option<String> {
    let errors = match &failure.detail {
        Detail::Ping(crate::probe::result::PingDetail::Answered(a)) => &a.registry_errors,
        Detail::Manifest(m) => m.errors.as_ref()?,
        _ => return None,
    };
    errors.iter().find_map(|e| {
        let rest = e.message.split_once("client with IP '")?.1;
        Some(rest.split_once('\'')?.0.to_owned())
    })
}

/// What the agent learnt in earlier rounds that bears on the node finding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeEvidence {
    /// Host names this node resolved in an earlier round, and when (RFC 3339).
    pub resolved_before: Vec<(String, String)>,
}

/// How strongly `registries` failing alike point at the node: two is thin
/// evidence (both could be down, or both names wrong), five or more is strong.
fn confidence(registries: usize) -> &'static str {
    match registries {
        0..=2 => "suggests",
        3..=4 => "points to",
        _ => "strongly points to",
    }
}

/// The node's finding: when every target fails and each failure is at the
/// node's own DNS or TCP (or its proxy), with two registries or more, the
/// node's network may explain them. One failing registry says nothing about
/// the node, and the wording says how much the number of registries says.
#[must_use]
pub fn node_finding<'a>(
    targets: impl IntoIterator<Item = (&'a Target, &'a Verdict, &'a [EndpointOutcome])>,
) -> Option<NodeFinding> {
    node_finding_with(targets, &NodeEvidence::default())
}

/// [`node_finding`] with the agent's earlier rounds as evidence.
#[must_use]
pub fn node_finding_with<'a>(
    targets: impl IntoIterator<Item = (&'a Target, &'a Verdict, &'a [EndpointOutcome])>,
    evidence: &NodeEvidence,
) -> Option<NodeFinding> {
    let targets: Vec<_> = targets.into_iter().collect();
    if let Some(f) = clock_finding(&targets) {
        return Some(f);
    }
    let mut registries: Vec<&str> = targets
        .iter()
        .map(|(t, _, _)| t.registry.as_str())
        .collect();
    registries.sort_unstable();
    registries.dedup();
    if registries.len() < 2
        || !targets.iter().all(|(_, v, _)| {
            v.status == TargetStatus::Fail && matches!(v.stage, Some(Stage::Dns | Stage::Tcp))
        })
    {
        return None;
    }
    let r = registries.len();
    let strength = confidence(r);
    let mut codes: Vec<Code> = targets.iter().map(|(_, v, _)| v.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let listed = codes
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let n = targets.len();
    let all_dns = targets.iter().all(|(_, v, _)| v.stage == Some(Stage::Dns));
    let all_proxy = codes == [Code::ProxyUnreachable];
    // The servers the node's resolver asked, from the first lookup that failed.
    let servers = targets.iter().find_map(|(_, _, outcomes)| {
        outcomes
            .iter()
            .find_map(|o| match o.first_failure().map(|f| &f.detail) {
                Some(Detail::Dns(DnsDetail::Lookup(l))) => Some(match &l.nameserver {
                    Nameservers::One(s) => s.to_string(),
                    asked @ Nameservers::Asked(_) => asked.joined(),
                }),
                _ => None,
            })
    });
    let asked = servers.unwrap_or_else(|| "the nameservers of <root>/etc/resolv.conf".to_owned());
    let (message, mut hint) = if all_proxy {
        (
            format!("this node reaches no registry: its proxy cannot be reached from any of the {n} targets ({listed})"),
            "check the proxy named in the runtime's HTTPS_PROXY/HTTP_PROXY (its systemd drop-in): it must be up and reachable from this node".to_owned(),
        )
    } else if all_dns && codes == [Code::DnsNxdomain] {
        nxdomain_finding(&targets, n, &asked, evidence)
    } else if all_dns {
        (
            format!(
                "this node reaches no registry: every one of the {n} targets fails at DNS ({listed}) on the node's resolver {asked}"
            ),
            format!(
                "the resolver does not answer for names of {r} registries, which {strength} the node's resolver rather than the registry names: check <root>/etc/resolv.conf ({asked}), that this DNS server answers, and UDP/TCP 53 egress from the node"
            ),
        )
    } else if targets.iter().all(|(_, v, _)| v.stage == Some(Stage::Tcp)) {
        let thin = if r == 2 {
            "; two registries are thin evidence: both may be down or refuse this node, so probe a registry other nodes pull from to tell"
        } else {
            ""
        };
        (
            format!(
                "this node reaches no registry: every one of the {n} targets fails to connect ({listed})"
            ),
            format!(
                "{r} registries failing to connect alike {strength} the node's egress rather than the registries: check the firewall/NSG/network policy egress rules and routes (UDR) of this node, or set the runtime's HTTPS_PROXY if egress must go through a proxy{thin}"
            ),
        )
    } else {
        (
            format!(
                "this node reaches no registry: every one of the {n} targets fails at DNS or TCP ({listed})"
            ),
            format!(
                "{r} registries failing at DNS or TCP {strength} the node's network rather than the registries: check its resolver (<root>/etc/resolv.conf, UDP/TCP 53 egress) and its egress rules and routes"
            ),
        )
    };
    if let Some(lp) = targets.iter().find_map(|(t, _, _)| t.login_proxy.as_ref()) {
        let _ = write!(
            hint,
            "; a login shell here gets {}={} from {}, which {} does not have: see the targets' hints for the drop-in",
            lp.name, lp.value, lp.source, lp.unit
        );
    }
    Some(NodeFinding {
        category: Category::Network,
        message,
        hint,
    })
}

/// The node's clock against the servers that answered: the median over
/// hosts of each host's last `Date` offset (node minus server), and those hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockReading {
    pub offset_seconds: i64,
    pub hosts: Vec<String>,
}

/// Every `Date` a set of endpoint outcomes read: each stage's, the clock
/// check's and IMDS's.
fn server_dates<'a>(
    outcomes: impl IntoIterator<Item = &'a EndpointOutcome>,
) -> impl Iterator<Item = &'a ServerDate> {
    outcomes.into_iter().flat_map(|o| &o.stages).flat_map(|s| {
        let steps = match &s.detail {
            Detail::Auth(a) => a.identity.as_ref().map(|i| i.steps.as_slice()),
            _ => None,
        };
        s.server_date.iter().chain(
            steps
                .into_iter()
                .flatten()
                .filter_map(|st| st.date.as_ref()),
        )
    })
}

/// [`ClockReading`] over `outcomes`, or `None` when no server sent a `Date`.
#[must_use]
pub fn clock_reading<'a>(
    outcomes: impl IntoIterator<Item = &'a EndpointOutcome>,
) -> Option<ClockReading> {
    let mut last: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for d in server_dates(outcomes) {
        last.insert(d.host.as_str(), d.offset_seconds());
    }
    let mut offsets: Vec<i64> = last.values().copied().collect();
    offsets.sort_unstable();
    let n = offsets.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => offsets[n / 2],
        _ => (offsets[n / 2 - 1] + offsets[n / 2]) / 2,
    };
    Some(ClockReading {
        offset_seconds: median,
        hosts: last.keys().map(|h| (*h).to_owned()).collect(),
    })
}

/// When a certificate failed only because of the node's clock
/// (`CLOCK_SKEW`), that is the node's finding: the offset, and on whose
/// word (the hosts whose `Date` was read; one registry is weaker evidence
/// than several, so the message says how many).
fn clock_finding(targets: &[(&Target, &Verdict, &[EndpointOutcome])]) -> Option<NodeFinding> {
    let skewed: Vec<&str> = targets
        .iter()
        .filter(|(_, v, _)| v.code == Code::ClockSkew)
        .map(|(t, _, _)| t.registry.as_str())
        .collect();
    if skewed.is_empty() {
        return None;
    }
    let reading = clock_reading(targets.iter().flat_map(|(_, _, o)| o.iter()))?;
    let n = reading.hosts.len();
    let word = if n == 1 {
        format!("the Date header of {}", reading.hosts[0])
    } else {
        format!(
            "the Date headers of {n} hosts ({})",
            reading.hosts.join(", ")
        )
    };
    Some(NodeFinding {
        category: Category::Config,
        message: format!(
            "this node's clock is {} ({:+} s by {word}): certificates valid by the registry's clock look expired or not yet valid here ({})",
            clock_words(reading.offset_seconds),
            reading.offset_seconds,
            skewed.join(", ")
        ),
        hint: "fix the node's time sync: `timedatectl status` (\"System clock synchronized: no\"?), `chronyc tracking` or `systemctl status systemd-timesyncd`, and NTP egress (UDP 123); pulls work again once the clock is right, nothing needs to change at the registry".to_owned(),
    })
}

/// Every target NXDOMAIN: the names are wrong, or the resolver lacks their
/// zone (a private DNS zone not linked to the node's network, split
/// horizon). Only a name that must exist failing too (the runtime's default
/// registry), or names that resolved in earlier rounds, tell them apart.
fn nxdomain_finding(
    targets: &[(&Target, &Verdict, &[EndpointOutcome])],
    n: usize,
    asked: &str,
    evidence: &NodeEvidence,
) -> (String, String) {
    let mut failed: Vec<&str> = targets
        .iter()
        .flat_map(|(_, _, outcomes)| outcomes.iter())
        .filter(|o| o.first_failure().is_some_and(|f| f.stage == Stage::Dns))
        .map(|o| o.endpoint.host.as_str())
        .collect();
    failed.sort_unstable();
    failed.dedup();
    let message = format!(
        "no registry name resolves on this node: every one of the {n} targets fails at DNS with NXDOMAIN on the resolver {asked}; either the names are wrong, or this resolver lacks their zone"
    );
    let resolved: Vec<&(String, String)> = evidence
        .resolved_before
        .iter()
        .filter(|(h, _)| failed.contains(&h.as_str()))
        .collect();
    let earlier: Vec<String> = resolved
        .iter()
        .map(|(h, at)| format!("{h} (at {at})"))
        .collect();
    let others: Vec<&str> = failed
        .iter()
        .copied()
        .filter(|f| !resolved.iter().any(|(h, _)| h == f))
        .collect();
    // Docker Hub's own names (not a mirror configured for it, which may be
    // a typo itself) exist: their NXDOMAIN is the resolver's.
    let hub = [
        crate::reference::api_host(crate::reference::DOCKER_HUB),
        crate::reference::DOCKER_HUB,
        crate::reference::LEGACY_DOCKER_HUB,
    ];
    let hub_failed = failed.iter().copied().find(|h| hub.contains(h));
    let hint = if !earlier.is_empty() {
        let rest = if others.is_empty() {
            String::new()
        } else {
            format!(
                "; the others ({}) never resolved here and may still be wrong",
                others.join(", ")
            )
        };
        format!(
            "this node resolved {} in an earlier round, so {} right and the resolver ({asked}) lost their zone: check its forwarders, a private DNS zone's link to the node's network, split-horizon DNS, and recent changes to <root>/etc/resolv.conf{rest}",
            earlier.join(", "),
            if resolved.len() == 1 {
                "that name is"
            } else {
                "those names are"
            },
        )
    } else if let Some(hub_host) = hub_failed {
        format!(
            "{hub_host} is the runtime's default registry ({}) and exists, yet it fails too: the resolver ({asked}) is the likely cause, unless this node is air-gapped by design; check <root>/etc/resolv.conf, the DNS server's forwarders, and that private zones are linked to the node's network",
            crate::reference::DOCKER_HUB
        )
    } else {
        format!(
            "nothing here tells the two apart: check each name ({}) for a typo; if they are private names, the resolver ({asked}) must know their zone (a private DNS zone linked to the node's network, a conditional forwarder, split-horizon DNS); resolving a name that must exist from the node (`nslookup registry-1.docker.io`) tells which",
            failed.join(", ")
        )
    };
    (message, hint)
}

/// The worst status over targets, for the report's top-level `status`.
#[must_use]
pub fn overall(statuses: impl IntoIterator<Item = TargetStatus>) -> TargetStatus {
    statuses.into_iter().max().unwrap_or(TargetStatus::Ok)
}

/// The exit status of a run: 0 when every target is ok or degraded, else the
/// worst failing target's category (`CONTRACT.md`, "Exit status").
#[must_use]
pub fn exit_status<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> u8 {
    verdicts
        .into_iter()
        .filter(|v| v.status == TargetStatus::Fail)
        .map(|v| v.category.exit_status())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Status;
    use crate::probe::result::DnsLookup;
    use crate::target::Endpoint;
    use std::time::Duration;

    fn ok(stage: Stage) -> StageResult {
        StageResult::ok(stage, Duration::from_millis(1), "fine", Detail::None)
    }

    fn fail(stage: Stage, code: Code) -> StageResult {
        StageResult::fail(
            stage,
            code,
            Duration::from_millis(1),
            "broken",
            Detail::None,
        )
    }

    fn outcome(host: &str, role: Role, stages: Vec<StageResult>) -> EndpointOutcome {
        let mut endpoint = Endpoint::https(host, 443);
        endpoint.role = role;
        EndpointOutcome {
            endpoint,
            stages,
            skipped: None,
            requests: 0,
        }
    }

    fn target() -> Target {
        Target {
            registry: "reg.test".into(),
            image: None,
            endpoints: vec![Endpoint::https("reg.test", 443)],
            remarks: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn every_failing_code_gets_its_category_and_a_hint() {
        for code in Code::ALL.into_iter().filter(|c| *c != Code::Ok) {
            let o = outcome(
                "reg.test",
                Role::Upstream,
                vec![ok(Stage::Dns), fail(Stage::Tcp, code)],
            );
            let v = judge(&target(), &[o]);
            assert_eq!(v.status, TargetStatus::Fail);
            assert_eq!(v.code, code);
            assert_eq!(v.category, code.category());
            assert!(
                v.hint.as_deref().is_some_and(|h| !h.is_empty()),
                "{code} has no hint"
            );
            assert!(v.message.contains("broken"), "{}", v.message);
        }
    }

    /// (stages per endpoint, expected status, expected code)
    #[test]
    fn endpoint_order_table() {
        let up = |s: Vec<StageResult>| outcome("reg.test", Role::Upstream, s);
        let mirror = |s: Vec<StageResult>| outcome("mirror.test", Role::Mirror, s);
        let cases: Vec<(Vec<EndpointOutcome>, TargetStatus, Code)> = vec![
            (
                vec![up(vec![ok(Stage::Dns), ok(Stage::Ping)])],
                TargetStatus::Ok,
                Code::Ok,
            ),
            (
                vec![
                    mirror(vec![fail(Stage::Tcp, Code::TcpTimeout)]),
                    up(vec![ok(Stage::Ping)]),
                ],
                TargetStatus::Degraded,
                Code::Ok,
            ),
            // All fail: the first error wins, as containerd's firstErr.
            (
                vec![
                    mirror(vec![fail(Stage::Tcp, Code::TcpRefused)]),
                    up(vec![fail(Stage::Dns, Code::DnsNxdomain)]),
                ],
                TargetStatus::Fail,
                Code::TcpRefused,
            ),
            // ...except a not-found on a mirror, after which containerd tries the next host.
            (
                vec![
                    mirror(vec![fail(Stage::Manifest, Code::ImageNotFound)]),
                    up(vec![fail(Stage::Auth, Code::AuthRequired)]),
                ],
                TargetStatus::Fail,
                Code::AuthRequired,
            ),
            (
                vec![up(vec![fail(Stage::Manifest, Code::ImageNotFound)])],
                TargetStatus::Fail,
                Code::ImageNotFound,
            ),
        ];
        for (i, (outcomes, status, code)) in cases.into_iter().enumerate() {
            let v = judge(&target(), &outcomes);
            assert_eq!(
                (v.status, v.code),
                (status, code),
                "case {i}: {}",
                v.message
            );
        }
    }

    #[test]
    fn skipped_endpoints_take_no_part() {
        let mut skipped = outcome("mirror.test", Role::Mirror, vec![]);
        skipped.skipped = Some("no resolve".into());
        let good = outcome("reg.test", Role::Upstream, vec![ok(Stage::Ping)]);
        let v = judge(&target(), &[skipped.clone(), good]);
        // Not degraded: the runtime never tried the pull-only mirror.
        assert_eq!((v.status, v.code), (TargetStatus::Ok, Code::Ok));
        let bad = outcome(
            "reg.test",
            Role::Upstream,
            vec![fail(Stage::Tcp, Code::TcpRefused)],
        );
        assert_eq!(
            judge(&target(), &[skipped.clone(), bad]).code,
            Code::TcpRefused
        );
        let v = judge(&target(), &[skipped]);
        assert_eq!(
            (v.status, v.category),
            (TargetStatus::Fail, Category::Config)
        );
    }

    #[test]
    fn skipped_stages_are_not_failures() {
        let mut s = ok(Stage::Blob);
        s.status = Status::Skipped(crate::probe::result::SkipReason::NotReached);
        let v = judge(
            &target(),
            &[outcome(
                "reg.test",
                Role::Upstream,
                vec![ok(Stage::Ping), s],
            )],
        );
        assert_eq!(v.status, TargetStatus::Ok);
    }

    #[test]
    fn config_hints_name_hosts_pin_and_skip_verify() {
        let mut o = outcome(
            "reg.test",
            Role::Upstream,
            vec![
                StageResult::ok(
                    Stage::Dns,
                    Duration::ZERO,
                    "pinned",
                    Detail::Dns(DnsDetail::HostsFile {
                        query_name: "reg.test".into(),
                        addresses: vec![[10, 0, 0, 5].into()],
                    }),
                ),
                ok(Stage::Ping),
            ],
        );
        o.endpoint.tls.skip_verify = true;
        let v = judge(&target(), &[o]);
        let hint = v.hint.unwrap();
        assert!(hint.contains("/etc/hosts"), "{hint}");
        assert!(hint.contains("skip_verify"), "{hint}");
    }

    #[test]
    fn a_list_of_nameservers_reads_as_a_list() {
        let stage = StageResult::fail(
            Stage::Dns,
            Code::DnsTimeout,
            Duration::ZERO,
            "no answer",
            Detail::Dns(DnsDetail::Lookup(DnsLookup {
                addresses: vec![],
                cname_chain: vec![],
                nameserver: Nameservers::Asked(vec![
                    "10.0.0.10:53".parse().unwrap(),
                    "10.0.0.11:53".parse().unwrap(),
                ]),
                rcode: None,
                query_name: None,
                names_tried: None,
                queries: None,
            })),
        );
        let v = judge(
            &target(),
            &[outcome("reg.test", Role::Upstream, vec![stage])],
        );
        let hint = v.hint.unwrap();
        assert!(hint.contains("(10.0.0.10:53, 10.0.0.11:53)"), "{hint}");
    }

    #[test]
    fn a_private_endpoint_in_the_chain_is_named() {
        let stage = StageResult::fail(
            Stage::Dns,
            Code::DnsNxdomain,
            Duration::ZERO,
            "NXDOMAIN",
            Detail::Dns(DnsDetail::Lookup(DnsLookup {
                addresses: vec![],
                cname_chain: vec!["myreg.privatelink.azurecr.io".into()],
                nameserver: Nameservers::One("10.0.0.10:53".parse().unwrap()),
                rcode: Some("NXDOMAIN".into()),
                query_name: Some("myreg.azurecr.io".into()),
                names_tried: None,
                queries: None,
            })),
        );
        let v = judge(
            &target(),
            &[outcome("myreg.azurecr.io", Role::Upstream, vec![stage])],
        );
        let hint = v.hint.unwrap();
        assert!(
            hint.contains("private endpoint (myreg.privatelink.azurecr.io)")
                && hint.contains("private DNS zone (privatelink.azurecr.io)"),
            "{hint}"
        );
    }

    #[test]
    fn no_outcome_is_a_failure() {
        let mut t = target();
        t.endpoints.clear();
        t.remarks
            .push("registry reg.test is blocked in /etc/containers/registries.conf:3".into());
        let v = judge(&t, &[]);
        assert_eq!(v.status, TargetStatus::Fail);
        assert_eq!(v.category, Category::Config);
        assert!(v.message.contains("registries.conf:3"), "{}", v.message);
        assert_eq!(exit_status([&v]), 7);
    }

    #[test]
    fn exit_status_is_the_worst_failure() {
        let v = |status, code: Code| Verdict {
            status,
            code,
            category: code.category(),
            message: String::new(),
            hint: None,
            stage: None,
        };
        assert_eq!(
            exit_status(&[
                v(TargetStatus::Ok, Code::Ok),
                v(TargetStatus::Degraded, Code::Ok)
            ]),
            0
        );
        assert_eq!(
            exit_status(&[
                v(TargetStatus::Fail, Code::TcpTimeout),
                v(TargetStatus::Fail, Code::TlsUntrusted)
            ]),
            7
        );
        assert_eq!(
            exit_status(&[v(TargetStatus::Fail, Code::ImageNotFound)]),
            4
        );
    }

    #[test]
    fn the_clock_reading_is_the_median_of_each_hosts_last_date() {
        use crate::probe::result::ServerDate;
        use std::time::UNIX_EPOCH;
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let dated = |host: &str, offset: u64| {
            let mut s = ok(Stage::Ping);
            s.server_date = Some(ServerDate {
                host: host.into(),
                server: at(1_000_000),
                node: at(1_000_000 - offset),
            });
            s
        };
        let outcome = |stages: Vec<StageResult>| outcome("a.test", Role::Upstream, stages);
        // a.test read twice (the last counts), b.test and c.test once.
        let outcomes = [
            outcome(vec![dated("a.test", 5), dated("a.test", 172_800)]),
            outcome(vec![dated("b.test", 172_790)]),
            outcome(vec![dated("c.test", 172_810), ok(Stage::Dns)]),
        ];
        let r = clock_reading(&outcomes).expect("a reading");
        assert_eq!(r.offset_seconds, -172_800);
        assert_eq!(r.hosts, ["a.test", "b.test", "c.test"]);
        assert_eq!(clock_reading(&[outcome(vec![ok(Stage::Dns)])]), None);
    }

    fn nxdomain(host: &str) -> EndpointOutcome {
        outcome(
            host,
            Role::Upstream,
            vec![StageResult::fail(
                Stage::Dns,
                Code::DnsNxdomain,
                Duration::ZERO,
                "NXDOMAIN",
                Detail::Dns(DnsDetail::Lookup(DnsLookup {
                    addresses: vec![],
                    cname_chain: vec![],
                    nameserver: Nameservers::One("10.0.0.10:53".parse().unwrap()),
                    rcode: Some("NXDOMAIN".into()),
                    query_name: Some(host.into()),
                    names_tried: None,
                    queries: None,
                })),
            )],
        )
    }

    fn judged(registry: &str, o: EndpointOutcome) -> (Target, Verdict, Vec<EndpointOutcome>) {
        let mut t = target();
        t.registry = registry.into();
        let v = judge(&t, std::slice::from_ref(&o));
        (t, v, vec![o])
    }

    fn finding(
        cases: &[(Target, Verdict, Vec<EndpointOutcome>)],
        evidence: &NodeEvidence,
    ) -> Option<NodeFinding> {
        node_finding_with(cases.iter().map(|(t, v, o)| (t, v, o.as_slice())), evidence)
    }

    /// Issue 18: every target NXDOMAIN is "names wrong or zone missing";
    /// only the default registry failing too, or names resolved in earlier
    /// rounds, tell which.
    #[test]
    fn all_nxdomain_says_names_or_zone_and_weighs_the_evidence() {
        let typos = vec![
            judged("regsitry.example", nxdomain("regsitry.example")),
            judged("basci.example", nxdomain("basci.example")),
        ];
        let f = finding(&typos, &NodeEvidence::default()).unwrap();
        assert!(
            f.message
                .contains("either the names are wrong, or this resolver lacks their zone"),
            "{}",
            f.message
        );
        assert!(
            f.hint.starts_with("nothing here tells the two apart"),
            "{}",
            f.hint
        );
        assert!(!f.hint.contains("not the registry names"), "{}", f.hint);

        let with_hub = vec![
            judged("regsitry.example", nxdomain("regsitry.example")),
            judged("docker.io", nxdomain("registry-1.docker.io")),
        ];
        let f = finding(&with_hub, &NodeEvidence::default()).unwrap();
        assert!(
            f.hint
                .starts_with("registry-1.docker.io is the runtime's default registry (docker.io)"),
            "{}",
            f.hint
        );

        let before = NodeEvidence {
            resolved_before: vec![
                ("basci.example".into(), "2026-12-05T08:00:00Z".into()),
                ("elsewhere.example".into(), "2026-12-05T08:00:00Z".into()),
            ],
        };
        let f = finding(&typos, &before).unwrap();
        assert!(
            f.hint.starts_with(
                "this node resolved basci.example (at 2026-12-05T08:00:00Z) in an earlier round, so that name is right"
            ) && f.hint.contains("the others (regsitry.example) never resolved here and may still be wrong")
                && !f.hint.contains("elsewhere"),
            "{}",
            f.hint
        );

        // A mirror configured for Docker Hub is not a name that must exist.
        let mirror = vec![
            judged("regsitry.example", nxdomain("regsitry.example")),
            judged("docker.io", nxdomain("hub-mirror.example")),
        ];
        let f = finding(&mirror, &NodeEvidence::default()).unwrap();
        assert!(
            f.hint.starts_with("nothing here tells the two apart"),
            "{}",
            f.hint
        );
    }

    #[test]
    fn fewer_registries_are_weaker_evidence() {
        let refused = |host: &str| {
            outcome(
                host,
                Role::Upstream,
                vec![ok(Stage::Dns), fail(Stage::Tcp, Code::TcpRefused)],
            )
        };
        let two: Vec<_> = ["a.example", "b.example"]
            .iter()
            .map(|h| judged(h, refused(h)))
            .collect();
        let f = finding(&two, &NodeEvidence::default()).unwrap();
        assert!(
            f.hint
                .starts_with("2 registries failing to connect alike suggests"),
            "{}",
            f.hint
        );
        assert!(f.hint.contains("thin evidence"), "{}", f.hint);
        let ten: Vec<_> = (0..10)
            .map(|i| format!("r{i}.example"))
            .map(|h| judged(&h, refused(&h)))
            .collect();
        let f = finding(&ten, &NodeEvidence::default()).unwrap();
        assert!(
            f.hint
                .starts_with("10 registries failing to connect alike strongly points to"),
            "{}",
            f.hint
        );
        assert!(!f.hint.contains("thin evidence"), "{}", f.hint);
    }

    /// The login shell's proxy is named for network failures only, and the
    /// unread credentials for `AUTH_REQUIRED` only.
    #[test]
    fn node_file_hints_only_where_they_explain_the_failure() {
        let mut t = target();
        t.login_proxy = Some(crate::target::LoginProxy {
            name: "HTTPS_PROXY".into(),
            value: "http://redacted@proxy.example:3128".into(),
            source: "/etc/environment:3".into(),
            no_proxy: None,
            unit: "containerd.service".into(),
            unit_files: vec![],
        });
        t.unread_credentials = vec![crate::target::UnreadCredentials {
            path: "/home/docker/.docker/config.json".into(),
            why: "it is in a user's home".into(),
            kubelet_path: "/var/lib/kubelet/config.json".into(),
            inline: true,
            kubelet_reads: None,
        }];
        let net = judge(
            &t,
            &[outcome(
                "reg.test",
                Role::Upstream,
                vec![fail(Stage::Tcp, Code::TcpTimeout)],
            )],
        );
        let h = net.hint.unwrap();
        assert!(h.starts_with("a login shell on this node gets HTTPS_PROXY=http://redacted@proxy.example:3128 from /etc/environment:3"), "{h}");
        assert!(
            h.contains("no unit file found")
                && h.contains("/etc/systemd/system/containerd.service.d/http-proxy.conf"),
            "{h}"
        );
        assert!(!h.contains("/home/docker"), "{h}");
        let auth = judge(
            &t,
            &[outcome(
                "reg.test",
                Role::Upstream,
                vec![ok(Stage::Tcp), fail(Stage::Auth, Code::AuthRequired)],
            )],
        );
        let h = auth.hint.unwrap();
        assert!(
            h.starts_with("/home/docker/.docker/config.json has credentials for reg.test"),
            "{h}"
        );
        assert!(!h.contains("login shell"), "{h}");
        let tls = judge(
            &t,
            &[outcome(
                "reg.test",
                Role::Upstream,
                vec![ok(Stage::Tcp), fail(Stage::Tls, Code::TlsUntrusted)],
            )],
        );
        let h = tls.hint.unwrap();
        assert!(
            !h.contains("login shell") && !h.contains("/home/docker"),
            "{h}"
        );
    }
}
