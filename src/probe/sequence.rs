//! The one sequencer of the staged probe: dns -> tcp -> (proxy) -> tls ->
//! ping -> auth -> manifest -> platform -> blob for one endpoint, stopping
//! at the first failure (the rest are reported `skipped`); the runtime's
//! plain-http fallback; and a target's endpoints in the runtime's order.
//!
//! It only sequences stages, each of which lives in its own module; what a
//! failure means is decided in `verdict/judge.rs`.

use super::auth;
use super::blob;
use super::challenge::Challenge;
use super::client::HostClient;
use super::clock;
use super::context::Context;
use super::dial::{self, DialSpec};
use super::identity;
use super::io::BoxIo;
use super::manifest;
use super::memory::{Backoff, Memory, Warm, WarmKey};
use super::ping::{self, ping};
use super::platform;
use super::result::{
    AuthDetail, Detail, FallbackDetail, PingDetail, SkipReason, Stage, StageResult,
};
use super::session::Session;
use crate::code::Code;
use crate::target::{AzureIdentity, Credential, CredentialSecret, Endpoint, Target};
use std::time::Duration;
use tokio::time::Instant;

/// How far a probe goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Depth {
    /// Every stage: a one-shot run, or an agent's registry round.
    #[default]
    Full,
    /// dns, tcp, proxy and tls only: nothing a registry counts as a request.
    NodeLocal,
}

/// The summary of the HTTP stages a node-local round leaves out.
const NODE_LOCAL_ONLY: &str = "not run: a node-local round checks dns, tcp, proxy and tls only";

/// The stages run against one endpoint.
#[derive(Clone, Debug)]
pub struct EndpointOutcome {
    /// The endpoint actually contacted: the configured one, or its plain-http
    /// fallback when the runtime would have fallen back (its `url` is then `http://`).
    pub endpoint: Endpoint,
    pub stages: Vec<StageResult>,
    /// Why the runtime would not use this endpoint for this target at all.
    pub skipped: Option<String>,
    /// HTTP requests sent to the registry and the hosts it sent us to.
    pub requests: u32,
}

impl EndpointOutcome {
    /// The first failing stage, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.is_fail())
    }

    /// Probed, and every stage passed.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.skipped.is_none() && self.first_failure().is_none()
    }

    /// The stage of that name, if it ran or was skipped.
    #[must_use]
    pub fn stage(&self, stage: Stage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}

/// Probe one endpoint of a target: dial, then the HTTP stages; then, when the
/// runtime would retry this host over plain http, the same over http.
pub async fn probe_endpoint(ctx: &Context, target: &Target, ep: &Endpoint) -> EndpointOutcome {
    probe_endpoint_at(ctx, target, ep, Depth::Full).await
}

/// [`probe_endpoint`] to a depth.
pub async fn probe_endpoint_at(
    ctx: &Context,
    target: &Target,
    ep: &Endpoint,
    depth: Depth,
) -> EndpointOutcome {
    let (stages, requests) = probe_once(ctx, target, ep, depth).await;
    if let (Some(fallback), Some(cause)) = (ep.fallback_endpoint(), fallback_cause(ep, &stages))
        && Instant::now() < ctx.deadline
    {
        let (mut retried, more) = probe_once(ctx, target, &fallback, depth).await;
        let note = fallback_note(ep, &fallback, cause);
        // The tls stage belongs after dns/tcp/proxy and before the HTTP stages.
        let at = retried
            .iter()
            .position(|s| s.stage > Stage::Proxy)
            .unwrap_or(retried.len());
        retried.insert(at, note);
        return EndpointOutcome {
            endpoint: fallback,
            stages: retried,
            skipped: None,
            requests: requests + more,
        };
    }
    EndpointOutcome {
        endpoint: ep.clone(),
        stages,
        skipped: None,
        requests,
    }
}

/// The stages over one connection, and the HTTP requests they sent.
async fn probe_once(
    ctx: &Context,
    target: &Target,
    ep: &Endpoint,
    depth: Depth,
) -> (Vec<StageResult>, u32) {
    let dialed = dial::dial(ctx, DialSpec::for_endpoint(ep)).await;
    let mut stages = dialed.stages;
    let mut requests = 0;
    // A certificate that fails only on its dates: the registry's clock says
    // whether the node's is the fault. One credential-free `GET /v2/`, in a
    // node-local round too, so both kinds of round tell the same story.
    if let Some(tls) = stages.last_mut().filter(|s| s.code == Code::TlsExpired)
        && Instant::now() < ctx.deadline
    {
        let (check, sent) = clock::check(ctx, ep).await;
        requests += sent;
        if let Some(check) = check {
            clock::apply(tls, check);
        }
    }
    if let Some(io) = dialed.io {
        if depth == Depth::NodeLocal {
            drop(io);
            let mut later = vec![Stage::Ping];
            later.extend_from_slice(later_stages(target));
            stages.extend(node_local_only(&later));
        } else {
            let (http, sent) = http_stages(ctx, target, ep, io).await;
            stages.extend(http);
            requests = sent;
        }
    }
    (stages, requests)
}

/// The https failure after which the runtime retries over http, if any.
/// containerd (`isTLSError`) only retries when the handshake itself failed
/// (the server answered in plain HTTP, or timed out), never on a certificate
/// error; containers/image and moby retry after any failure through the ping.
fn fallback_cause<'a>(ep: &Endpoint, stages: &'a [StageResult]) -> Option<&'a StageResult> {
    let rule = ep.http_fallback.as_ref()?;
    let failure = stages.iter().find(|s| s.is_fail())?;
    let retry = match failure.stage {
        Stage::Tls => rule.on_any_error || failure.code == Code::TlsHandshake,
        Stage::Tcp | Stage::Proxy | Stage::Ping => rule.on_any_error,
        // The name is the same over http; past the ping, https is in use.
        _ => false,
    };
    retry.then_some(failure)
}

/// The https attempt, kept as a skipped tls stage that says why http follows.
fn fallback_note(ep: &Endpoint, fallback: &Endpoint, cause: &StageResult) -> StageResult {
    let why = if cause.stage == Stage::Tls && cause.code == Code::TlsHandshake {
        "server speaks plain HTTP or the handshake failed".to_owned()
    } else {
        format!("https {} failed ({})", cause.stage.as_str(), cause.code)
    };
    let mut note = StageResult::skipped(
        Stage::Tls,
        SkipReason::NotNeeded,
        format!(
            "{why}; falling back to {} as the runtime does (http_fallback: {})",
            fallback.url(),
            ep.source
        ),
    );
    note.detail = Detail::Fallback(FallbackDetail {
        from: ep.url(),
        to: fallback.url(),
        https_stage: cause.stage.as_str(),
        https_code: cause.code,
        https_error: cause.summary.clone(),
    });
    note
}

/// Probe a target's endpoints in the runtime's order, stopping at the first
/// one that works (as the runtime would), or trying them all if none does.
pub async fn probe_target(ctx: &Context, target: &Target) -> Vec<EndpointOutcome> {
    probe_target_at(ctx, target, Depth::Full).await
}

/// [`probe_target`] to a depth.
pub async fn probe_target_at(ctx: &Context, target: &Target, depth: Depth) -> Vec<EndpointOutcome> {
    let mut outcomes = Vec::new();
    let by_tag = target.image.as_ref().is_some_and(|i| i.digest.is_none());
    for ep in &target.endpoints {
        if Instant::now() >= ctx.deadline {
            break;
        }
        // containerd resolves a tag only on hosts with the `resolve`
        // capability (core/remotes/docker/resolver.go `Resolve`:
        // `r.filterHosts(HostCapabilityResolve)`); a pull-only mirror serves
        // content by digest after that, which the probe does not reach.
        if by_tag && !ep.capabilities.resolve {
            outcomes.push(EndpointOutcome {
                endpoint: ep.clone(),
                stages: Vec::new(),
                requests: 0,
                skipped: Some(
                    "no `resolve` capability: the runtime resolves tags elsewhere and uses this host only for content by digest"
                        .to_owned(),
                ),
            });
            continue;
        }
        let outcome = probe_endpoint_at(ctx, target, ep, depth).await;
        let ok = outcome.is_ok();
        outcomes.push(outcome);
        if ok {
            break;
        }
    }
    outcomes
}

/// `skipped` entries of a node-local round: the stages it leaves out.
fn node_local_only(stages: &[Stage]) -> Vec<StageResult> {
    stages
        .iter()
        .map(|s| StageResult::skipped(*s, SkipReason::NodeLocalOnly, NODE_LOCAL_ONLY))
        .collect()
}

/// `skipped` entries for the stages a failure kept us from.
fn not_reached(stages: &[Stage], why: &str) -> Vec<StageResult> {
    stages
        .iter()
        .map(|s| StageResult::skipped(*s, SkipReason::NotReached, format!("not reached: {why}")))
        .collect()
}

/// Run ping -> auth -> manifest -> platform -> blob for `target` on `ep` over
/// `io`, stopping at the first failure (the rest are reported `skipped`). In
/// registry-only mode (no image) it stops after auth. Returns the stages and
/// how many HTTP requests they sent.
pub async fn http_stages(
    ctx: &Context,
    target: &Target,
    ep: &Endpoint,
    io: BoxIo,
) -> (Vec<StageResult>, u32) {
    // A CRI-O `prefix`/`location` or k3s `rewrite` changes the repository asked
    // for on this endpoint: scope, manifest and blob paths all use it.
    let rewritten;
    let target = match (&ep.repository, &target.image) {
        (Some(repo), Some(image)) if *repo != image.path => {
            let mut t = target.clone();
            if let Some(i) = t.image.as_mut() {
                i.path.clone_from(repo);
            }
            rewritten = t;
            &rewritten
        }
        _ => target,
    };
    let mut client = HostClient::over(ctx, DialSpec::for_endpoint(ep), io);
    let stages = if let Some(memory) = &ctx.memory {
        remembered(ctx, memory, target, ep, &mut client).await
    } else {
        let mut pass = Pass::default();
        full_pass(ctx, target, ep, &mut client, None, &mut pass).await;
        pass.stages
    };
    (stages, client.requests)
}

/// The HTTP stages of an agent's round: nothing sent to a registry that
/// asked to be left alone; one request when a warm authorization and digest
/// are remembered and still hold; otherwise a full pass, whose outcome is
/// remembered.
async fn remembered(
    ctx: &Context,
    memory: &Memory,
    target: &Target,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
) -> Vec<StageResult> {
    let host = ep.authority();
    if let Some(b) = memory.backoff(&host) {
        return backed_off(target, &b);
    }
    let key = WarmKey {
        endpoint: ep.url(),
        image: target
            .image
            .as_ref()
            .map(|i| format!("{}{}", i.path, object_suffix(i)))
            .unwrap_or_default(),
        credential: ep.credential.as_ref().map(|c| c.source.clone()),
    };
    if let Some(warm) = memory.warm(&key) {
        if let Some(stages) = warm_round(ep, target, client, &warm).await {
            return stages;
        }
        memory.forget(&key);
    }
    let known = memory.known(&key);
    let mut pass = Pass::default();
    full_pass(ctx, target, ep, client, known.as_ref(), &mut pass).await;
    if let Some(limited) = pass.stages.iter().find(|s| s.code == Code::RateLimited) {
        memory.rate_limited(&host, retry_after(limited).as_deref());
    }
    let all_ok = pass.stages.iter().all(|s| !s.is_fail());
    if all_ok && (target.image.is_none() || pass.digest.is_some()) {
        // Reused platform and blob results keep the round that checked them.
        let (later, at) = match known.filter(|_| pass.reused) {
            Some(k) => (k.later, k.at),
            None => (
                pass.stages
                    .iter()
                    .filter(|s| matches!(s.stage, Stage::Platform | Stage::Blob))
                    .cloned()
                    .collect(),
                std::time::SystemTime::now(),
            ),
        };
        memory.remember(
            key,
            Warm {
                session: pass.session,
                digest: pass.digest.unwrap_or_default(),
                later,
                at,
            },
        );
    }
    pass.stages
}

/// An agent round's ping of `ep`: the first target on the endpoint sends
/// it, the round's others reuse its answer (the same URL, TLS, proxy and
/// headers get the same answer; nothing of the target goes into a ping).
async fn shared_ping(memory: &Memory, client: &mut HostClient<'_>, ep: &Endpoint) -> ping::Ping {
    let cell = memory.round_ping(&ping_key(ep));
    let mut sent = false;
    let (mut result, challenges) = cell
        .get_or_init(|| async {
            sent = true;
            let p = ping(client, ep).await;
            (dated(p.result, client), p.challenges)
        })
        .await
        .clone();
    if !sent {
        result.summary = format!(
            "{} (this round's answer, shared by its targets on this endpoint)",
            result.summary
        );
    }
    ping::Ping { result, challenges }
}

/// What makes two endpoints' pings the same request, hashed (header values
/// may be secrets). The TLS files count by path: their contents were read
/// from those paths at discovery, and formatting them (a CA bundle's every
/// byte) for each target of a round would cost more than the ping saves.
fn ping_key(ep: &Endpoint) -> String {
    use sha2::{Digest as _, Sha256};
    use std::io::Write as _;
    let crate::target::TlsSettings {
        ca_files,
        client_certs,
        skip_verify,
        material: _,
    } = &ep.tls;
    let mut h = Sha256::new();
    h.update(ep.url());
    let _ = write!(
        h,
        "{:?}|{ca_files:?}|{client_certs:?}|{skip_verify}|{:?}",
        ep.proxy, ep.ns_param
    );
    for (name, value) in &ep.headers {
        h.update([0]);
        h.update(name);
        h.update([0]);
        h.update(value.expose());
    }
    format!("{:x}", h.finalize())
}

/// The cloud identity on `ep`, with the Bearer challenge to exchange it at,
/// when the registry asked for one.
fn identity_for<'a>(
    ep: &'a Endpoint,
    challenges: &'a [Challenge],
) -> Option<(&'a Credential, &'a AzureIdentity, &'a Challenge)> {
    let cred = ep.credential.as_ref()?;
    let CredentialSecret::AzureIdentity(id) = &cred.secret else {
        return None;
    };
    let bearer = challenges
        .iter()
        .find(|c| c.scheme == super::challenge::AuthScheme::Bearer)?;
    Some((cred, id, bearer))
}

/// `:tag` or `@digest` of a reference.
fn object_suffix(r: &crate::reference::Reference) -> String {
    match (&r.digest, &r.tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => String::new(),
    }
}

/// The `Retry-After` a rate-limited stage saw, if the registry sent one.
fn retry_after(stage: &StageResult) -> Option<String> {
    let rate = match &stage.detail {
        Detail::Ping(PingDetail::Answered(a)) => Some(&a.rate_limit),
        Detail::Manifest(m) => m.response.as_ref().map(|r| &r.rate_limit),
        _ => None,
    };
    rate.and_then(|r| r.retry_after.clone())
}

/// A round while the registry's `Retry-After` holds: nothing is sent.
fn backed_off(target: &Target, b: &Backoff) -> Vec<StageResult> {
    let left = b
        .until
        .saturating_duration_since(tokio::time::Instant::now());
    let after = b
        .retry_after
        .as_deref()
        .map(|r| format!(" (Retry-After: {r})"))
        .unwrap_or_default();
    let mut out = vec![StageResult::fail(
        Stage::Ping,
        Code::RateLimited,
        Duration::ZERO,
        format!(
            "the registry answered 429 in an earlier round{after}: left alone for {} more; nothing sent this round",
            humantime::format_duration(Duration::from_secs(left.as_secs()))
        ),
        Detail::None,
    )];
    out.extend(not_reached(
        later_stages(target),
        "the registry asked to be left alone",
    ));
    out
}

fn later_stages(target: &Target) -> &'static [Stage] {
    if target.image.is_some() {
        &[Stage::Auth, Stage::Manifest, Stage::Platform, Stage::Blob]
    } else {
        &[Stage::Auth]
    }
}

/// One request with a remembered authorization: a manifest `HEAD` whose
/// digest must be the one remembered (then platform and blob hold as they
/// did), or for a registry-only target an authorized `GET /v2/`. `None`
/// when the answer differs: a full pass follows on the same connection.
async fn warm_round(
    ep: &Endpoint,
    target: &Target,
    client: &mut HostClient<'_>,
    warm: &Warm,
) -> Option<Vec<StageResult>> {
    let since = humantime::format_rfc3339_seconds(warm.at);
    let token_note = match warm.session.expires {
        Some(e) => format!(
            "remembered authorization from the round at {since}, valid for {} more",
            humantime::format_duration(Duration::from_secs(
                e.saturating_duration_since(tokio::time::Instant::now())
                    .as_secs()
            ))
        ),
        None if warm.session.authorization.is_some() => {
            format!("remembered Basic authorization from the round at {since}")
        }
        None => format!("no authorization needed at the round at {since}"),
    };
    let Some(image) = &target.image else {
        let ping = ping::authorized_ping(client, ep, &warm.session).await?;
        return Some(vec![
            ping,
            StageResult::skipped(
                Stage::Auth,
                SkipReason::NotNeeded,
                format!("not asked again: {token_note}"),
            ),
        ]);
    };
    let (head, digest) = manifest::warm_head(ep, image, client, &warm.session).await?;
    if digest != warm.digest {
        return None;
    }
    let mut out = vec![
        StageResult::skipped(
            Stage::Ping,
            SkipReason::NotNeeded,
            "not asked again: the registry answered with a remembered authorization",
        ),
        StageResult::skipped(
            Stage::Auth,
            SkipReason::NotNeeded,
            format!("not asked again: {token_note}"),
        ),
        head,
    ];
    out.extend(unchanged_since(warm));
    Some(out)
}

/// The platform and blob results of the round that learnt `warm`'s digest,
/// standing while the digest is unchanged.
fn unchanged_since(warm: &Warm) -> Vec<StageResult> {
    let since = humantime::format_rfc3339_seconds(warm.at);
    warm.later
        .iter()
        .map(|s| {
            StageResult::skipped(
                s.stage,
                SkipReason::NotNeeded,
                format!(
                    "digest unchanged since the round at {since}, which said: {}",
                    s.summary
                ),
            )
        })
        .collect()
}

/// What a full pass learnt: its stages, the authorization it ended with,
/// and the digest the reference resolved to.
#[derive(Default)]
struct Pass {
    stages: Vec<StageResult>,
    session: Session,
    digest: Option<String>,
    /// The digest was the known one: platform and blob were not asked again.
    reused: bool,
}

/// `stage` with the `Date` of the last answer it read.
fn dated(mut stage: StageResult, client: &mut HostClient<'_>) -> StageResult {
    stage.server_date = client.last_date.take();
    stage
}

/// The stages of a full pass into `pass`, which also learns the session,
/// the digest and whether it was the known one; a failing stage ends it.
async fn full_pass(
    ctx: &Context,
    target: &Target,
    ep: &Endpoint,
    client: &mut HostClient<'_>,
    known: Option<&Warm>,
    pass: &mut Pass,
) {
    let Pass {
        stages: out,
        session: session_out,
        digest: digest_out,
        reused: reused_out,
    } = pass;
    let later: &[Stage] = if target.image.is_some() {
        &[Stage::Auth, Stage::Manifest, Stage::Platform, Stage::Blob]
    } else {
        &[Stage::Auth]
    };
    let mut p = match &ctx.memory {
        Some(memory) => shared_ping(memory, client, ep).await,
        None => ping(client, ep).await,
    };
    // The Date of this client's own request; a ping shared from another
    // target keeps the one its sender read (dated in `shared_ping`).
    if p.result.server_date.is_none() {
        p.result.server_date = client.last_date.take();
    }
    if p.result.is_fail() {
        let why = format!("ping failed ({})", p.result.code);
        out.push(p.result);
        out.extend(not_reached(later, &why));
        return;
    }
    out.push(p.result);
    // A cloud identity is exchanged for the credential the kubelet would pass
    // (acr-credential-provider's work), then answers the challenge as usual.
    let exchanged_ep;
    let mut identity_facts = None;
    let ep = match identity_for(ep, &p.challenges) {
        None => ep,
        Some((cred, id, challenge)) => {
            let started = tokio::time::Instant::now();
            match identity::exchange_identity(ctx, ep, client, challenge, cred, id).await {
                Ok(x) => {
                    let mut e = ep.clone();
                    e.credential = Some(x.credential);
                    exchanged_ep = e;
                    identity_facts = Some(x.facts);
                    &exchanged_ep
                }
                Err(no) => {
                    let detail = AuthDetail {
                        scheme: Some(challenge.scheme.as_str()),
                        credential_source: Some(cred.source.clone()),
                        username: Some(cred.username().to_owned()),
                        identity: Some(no.facts),
                        ..AuthDetail::default()
                    };
                    out.push(StageResult::fail(
                        Stage::Auth,
                        no.code,
                        started.elapsed(),
                        no.summary,
                        Detail::Auth(Box::new(detail)),
                    ));
                    out.extend(not_reached(
                        &later[1..],
                        &format!("auth failed ({})", no.code),
                    ));
                    return;
                }
            }
        }
    };
    let (auth_result, mut session) = auth::run(ctx, target, ep, client, &p.challenges).await;
    let mut auth_result = dated(auth_result, client);
    if let (Some(facts), Detail::Auth(d)) = (identity_facts, &mut auth_result.detail) {
        d.identity = Some(facts);
    }
    let failed = auth_result.is_fail().then_some(auth_result.code);
    out.push(auth_result);
    if let Some(code) = failed {
        out.extend(not_reached(&later[1..], &format!("auth failed ({code})")));
        return;
    }
    *session_out = session.clone();
    let Some(image) = &target.image else {
        return;
    };
    // The digest an earlier round resolved, with a fresh authorization: one
    // `HEAD`, and while it holds the manifest and blob `GET`s are spared.
    if let Some(k) = known {
        if let Some((head, digest)) = manifest::warm_head(ep, image, client, &session).await {
            if digest == k.digest {
                *digest_out = Some(digest);
                *reused_out = true;
                out.push(dated(head, client));
                out.extend(unchanged_since(k));
                return;
            }
        }
    }

    let (m, resolved) = manifest::run(ctx, ep, image, client, &mut session).await;
    out.push(dated(m, client));
    session_out.clone_from(&session);
    let Some(resolved) = resolved else {
        let code = out.last().map_or(Code::RegistryError, |s| s.code);
        out.extend(not_reached(
            &[Stage::Platform, Stage::Blob],
            &format!("manifest failed ({code})"),
        ));
        return;
    };
    *digest_out = Some(resolved.digest.clone());
    // An index names platforms itself: choose before touching blobs. A single
    // manifest only says its platform in the config blob, so the platform
    // stage comes after the blob stage has fetched that config.
    let config = if resolved.is_index() {
        let (p, cfg) =
            platform::platform_from_index(ctx, ep, image, client, &session, &resolved).await;
        out.push(dated(p, client));
        let Some(c) = cfg else {
            let code = out.last().map_or(Code::RegistryError, |s| s.code);
            out.extend(not_reached(
                &[Stage::Blob],
                &format!("platform failed ({code})"),
            ));
            return;
        };
        c
    } else {
        match resolved.config() {
            Ok(c) => c,
            Err(why) => {
                out.push(StageResult::fail(
                    Stage::Platform,
                    Code::RegistryError,
                    Duration::ZERO,
                    why,
                    Detail::None,
                ));
                out.extend(not_reached(
                    &[Stage::Blob],
                    "manifest has no usable config descriptor",
                ));
                return;
            }
        }
    };
    let (b, config_bytes) = blob::run(ctx, ep, image, client, &session, &config).await;
    let blob_failed = b.is_fail().then_some(b.code);
    out.push(dated(b, client));
    if !resolved.is_index() {
        match (blob_failed, config_bytes) {
            (Some(code), _) => out.extend(not_reached(
                &[Stage::Platform],
                &format!("config blob not fetched ({code})"),
            )),
            (None, bytes) => out.push(platform::platform_from_config(ctx, bytes.as_ref())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::result::Status;
    use super::super::testutil::{Answer, context, endpoint, reply, serve};
    use super::*;
    use crate::target::HttpFallback;

    fn target() -> Target {
        Target {
            registry: "127.0.0.1".into(),
            image: None,
            endpoints: Vec::new(),
            remarks: Vec::new(),
            ..Default::default()
        }
    }

    /// A token registry whose tokens live one second (less than the
    /// memory's margin, so never reused): the second round pings, gets a
    /// token and sends one `HEAD`; the manifest and blob `GET`s are spared
    /// while the digest holds.
    #[tokio::test]
    async fn an_expired_token_keeps_the_digest() {
        use sha2::{Digest as _, Sha256};
        async fn round(ctx: &Context, t: &Target, ep: &Endpoint) -> (Vec<StageResult>, u32) {
            let dialed = super::super::dial::dial(ctx, DialSpec::for_endpoint(ep)).await;
            http_stages(ctx, t, ep, dialed.io.unwrap()).await
        }
        let hex = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
            hex(&config),
            config.len()
        );
        let digest = hex(manifest.as_bytes());
        let (body, sent_digest, blob) = (manifest.clone(), digest.clone(), config.clone());
        let server = serve(move |s| {
            let authed = s.header("authorization") == Some("Bearer tok");
            let host = s.header("host").unwrap_or_default().to_owned();
            match (s.method.as_str(), s.path()) {
                (_, "/token") => reply(200, &[], r#"{"token":"tok","expires_in":1}"#),
                (_, "/v2/") if !authed => reply(
                    401,
                    &[(
                        "WWW-Authenticate",
                        &format!(r#"Bearer realm="http://{host}/token",service="reg""#),
                    )],
                    "{}",
                ),
                (_, "/v2/") => registry_answer(),
                (method, p) if authed && p.starts_with("/v2/team/app/manifests/") => reply(
                    200,
                    &[
                        ("Docker-Content-Digest", sent_digest.as_str()),
                        ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                    ],
                    if method == "HEAD" {
                        Vec::new()
                    } else {
                        body.clone().into_bytes()
                    },
                ),
                (_, p) if authed && p.starts_with("/v2/team/app/blobs/") => {
                    reply(200, &[], blob.clone())
                }
                _ => reply(401, &[], "{}"),
            }
        })
        .await;
        let (mut ctx, ()) = context(Duration::from_secs(2));
        ctx.memory = Some(std::sync::Arc::new(Memory::default()));
        let ep = endpoint(server.port);
        let image = crate::reference::Reference {
            domain: format!("127.0.0.1:{}", server.port),
            path: "team/app".to_owned(),
            tag: Some("1".to_owned()),
            digest: None,
        };
        let t = Target {
            registry: image.domain.clone(),
            image: Some(image),
            endpoints: vec![ep.clone()],
            ..Default::default()
        };
        let (first, sent) = round(&ctx, &t, &ep).await;
        assert!(first.iter().all(|s| !s.is_fail()), "{first:?}");
        let asked = |from: usize| -> Vec<String> {
            server.seen()[from..]
                .iter()
                .map(|s| format!("{} {}", s.method, s.path()))
                .collect()
        };
        assert!(
            sent >= 5,
            "a cold round: ping, token, manifest, blob: {:?}",
            asked(0)
        );
        let before = server.seen().len();
        ctx.memory.as_ref().unwrap().new_round();
        let (second, sent) = round(&ctx, &t, &ep).await;
        assert_eq!(
            asked(before),
            ["GET /v2/", "GET /token", "HEAD /v2/team/app/manifests/1"],
            "{second:?}"
        );
        assert_eq!(sent, 3);
        for s in [Stage::Platform, Stage::Blob] {
            let r = second.iter().find(|r| r.stage == s).unwrap();
            assert_eq!(r.status, Status::Skipped(SkipReason::NotNeeded));
            assert!(
                r.summary.starts_with("digest unchanged since the round at"),
                "{}",
                r.summary
            );
        }
    }

    /// Issue 19: in an agent's round, the targets on one endpoint share
    /// one `/v2/` ping (the first sends it, the others reuse its answer);
    /// the next round pings again; a one-shot run pings per target.
    #[tokio::test]
    async fn a_round_pings_an_endpoint_once_whatever_its_targets() {
        let server = serve(|s| match s.path() {
            "/v2/" => reply(
                200,
                &[
                    ("Docker-Distribution-API-Version", "registry/2.0"),
                    ("Date", "Sat, 05 Dec 2026 12:00:00 GMT"),
                ],
                "{}",
            ),
            _ => reply(
                404,
                &[],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#,
            ),
        })
        .await;
        let (mut ctx, ()) = context(Duration::from_secs(2));
        let ep = endpoint(server.port);
        let image = |n: usize| Target {
            registry: format!("127.0.0.1:{}", server.port),
            image: Some(crate::reference::Reference {
                domain: format!("127.0.0.1:{}", server.port),
                path: format!("team/app{n}"),
                tag: Some("1".to_owned()),
                digest: None,
            }),
            endpoints: vec![ep.clone()],
            ..Default::default()
        };
        let pings = |from: usize| {
            server.seen()[from..]
                .iter()
                .filter(|s| s.path() == "/v2/")
                .count()
        };
        let round = |ctx: Context| async move {
            let ctx = std::sync::Arc::new(ctx);
            let all = futures::future::join_all((0..5).map(|n| {
                let ctx = std::sync::Arc::clone(&ctx);
                let t = image(n);
                async move { probe_target(&ctx, &t).await }
            }))
            .await;
            for outcomes in &all {
                let ping = outcomes[0].stage(Stage::Ping).unwrap();
                assert_eq!(ping.status, Status::Ok, "{ping:?}");
                // A shared answer keeps the Date its sender read.
                assert!(ping.server_date.is_some(), "{ping:?}");
                let manifest = outcomes[0].stage(Stage::Manifest).unwrap();
                assert_eq!(manifest.code, Code::ImageNotFound, "{manifest:?}");
            }
            std::sync::Arc::into_inner(ctx).unwrap()
        };
        // One-shot: every target pings.
        let ctx1 = round(ctx).await;
        assert_eq!(pings(0), 5);
        // An agent's round: one ping; the next round one more.
        ctx = ctx1;
        let memory = std::sync::Arc::new(Memory::default());
        ctx.memory = Some(std::sync::Arc::clone(&memory));
        memory.new_round();
        let before = server.seen().len();
        let mut ctx = round(ctx).await;
        assert_eq!(pings(before), 1, "one ping for five images");
        memory.new_round();
        let before = server.seen().len();
        ctx = round(ctx).await;
        assert_eq!(pings(before), 1, "the next round pings again");
        drop(ctx);
    }

    fn registry_answer() -> Answer {
        reply(
            200,
            &[("Docker-Distribution-API-Version", "registry/2.0")],
            "{}",
        )
    }

    /// A closed loopback port: connecting is refused.
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn plain_http_server_behind_an_https_fallback_endpoint() {
        let server = serve(|_| registry_answer()).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = Endpoint::https("127.0.0.1", server.port);
        ep.tls.skip_verify = true;
        ep.http_fallback = Some(HttpFallback {
            port: server.port,
            on_any_error: false,
            proxy: None,
        });
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(
            out.endpoint.url(),
            format!("http://127.0.0.1:{}/v2/", server.port)
        );
        assert!(out.first_failure().is_none(), "{:?}", out.stages);
        let tls = out.stages.iter().find(|s| s.stage == Stage::Tls).unwrap();
        assert_eq!(tls.status, Status::Skipped(SkipReason::NotNeeded));
        assert!(tls.summary.contains("falling back"), "{}", tls.summary);
        assert!(matches!(
            &tls.detail,
            Detail::Fallback(f) if f.https_code == Code::TlsHandshake
        ));
        let order: Vec<Stage> = out.stages.iter().map(|s| s.stage).collect();
        assert_eq!(
            order[..4],
            [Stage::Dns, Stage::Tcp, Stage::Tls, Stage::Ping]
        );

        // Without the fallback the same server is a TLS failure.
        ep.http_fallback = None;
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(
            out.first_failure().map(|f| f.code),
            Some(Code::TlsHandshake)
        );
        assert!(out.endpoint.url().starts_with("https://"));
    }

    #[tokio::test]
    async fn any_error_fallback_moves_to_the_http_port() {
        let server = serve(|_| registry_answer()).await;
        let (ctx, _dir) = context(Duration::from_secs(2));
        let mut ep = Endpoint::https("127.0.0.1", closed_port());
        ep.http_fallback = Some(HttpFallback {
            port: server.port,
            on_any_error: true,
            proxy: None,
        });
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert!(out.first_failure().is_none(), "{:?}", out.stages);
        assert_eq!(out.endpoint.port, server.port);
        // containerd does not retry a refused connect on an explicit port.
        ep.http_fallback.as_mut().unwrap().on_any_error = false;
        let out = probe_endpoint(&ctx, &target(), &ep).await;
        assert_eq!(out.first_failure().map(|f| f.code), Some(Code::TcpRefused));
    }

    #[tokio::test]
    async fn silent_server_is_bounded_by_the_stage_timeout() {
        let server = serve(|_| Answer::Silence).await;
        let (ctx, _dir) = context(Duration::from_millis(300));
        let ep = endpoint(server.port);
        let target = Target {
            registry: server.addr(),
            image: None,
            endpoints: vec![ep.clone()],
            remarks: vec![],
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let out = probe_endpoint(&ctx, &target, &ep).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let ping = out.stages.iter().find(|s| s.stage == Stage::Ping).unwrap();
        assert_eq!(ping.code, Code::RegistryError);
        assert!(ping.summary.contains("no answer"), "{}", ping.summary);
        let auth = out.stages.iter().find(|s| s.stage == Stage::Auth).unwrap();
        assert_eq!(auth.status, Status::Skipped(SkipReason::NotReached));
    }
}
