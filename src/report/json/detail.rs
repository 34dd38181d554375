//! Each stage's typed detail as the report's `detail` object. The only place
//! that knows those JSON keys; they are the ones reports have always had.
//!
//! Nothing secret can reach here: details are built without secrets.

use crate::probe::result::{
    AttemptOutcome, AuthDetail, BearerFacts, BlobDetail, Certificate, ChallengeFacts, Detail,
    DnsDetail, DnsLookup, DnsQuery, FallbackDetail, Grant, ManifestDetail, MssRetry, Nameservers,
    PingDetail, PlatformDetail, ProxyBlame, ProxyDetail, RateLimit, RegistryErrorFacts,
    ResponseFacts, ServerDate, StageResult, TcpDetail, TlsDetail,
};
use serde_json::{Map, Value, json};

/// The `detail` object of a stage: its typed facts, the proxy it blamed,
/// and its one-line `summary`.
#[must_use]
pub fn stage_detail(s: &StageResult) -> Value {
    let mut detail = match &s.detail {
        Detail::None => Value::Object(Map::new()),
        Detail::Dns(d) => dns(d),
        Detail::Tcp(d) => tcp(d),
        Detail::Proxy(d) => proxy(d),
        Detail::Tls(d) => tls(d),
        Detail::Fallback(d) => fallback(d),
        Detail::Ping(d) => ping(d),
        Detail::Auth(d) => auth(d),
        Detail::Manifest(d) => manifest(d),
        Detail::Platform(d) => platform(d),
        Detail::Blob(d) => blob(d),
    };
    if let Value::Object(map) = &mut detail {
        if let Some(ProxyBlame { cause, proxy_host }) = &s.proxy_blame {
            map.insert("cause".to_owned(), json!(cause.as_str()));
            map.insert("proxy_host".to_owned(), json!(proxy_host));
        }
        if let Some(d) = &s.server_date {
            map.insert("date".to_owned(), server_date(d));
        }
        map.entry("summary")
            .or_insert_with(|| Value::String(s.summary.clone()));
    }
    detail
}

/// `v[key] = value` when there is a value: an absent fact is no key.
fn put(v: &mut Value, key: &str, value: Option<impl serde::Serialize>) {
    if let Some(x) = value {
        v[key] = json!(x);
    }
}

/// Stages reached on another host (a token realm, a blob redirect), briefly.
fn brief_stages(stages: &[StageResult]) -> Value {
    stages
        .iter()
        .map(|s| {
            json!({
                "stage": s.stage.as_str(),
                "status": s.status.as_str(),
                "code": s.code.as_str(),
                "summary": s.summary,
            })
        })
        .collect()
}

fn strings<T: ToString>(items: &[T]) -> Value {
    items.iter().map(|i| Value::String(i.to_string())).collect()
}

fn dns(d: &DnsDetail) -> Value {
    match d {
        DnsDetail::Literal { address } => {
            json!({"addresses": [address.to_string()], "source": "literal"})
        }
        DnsDetail::HostsFile {
            query_name,
            addresses,
        } => {
            json!({"source": "/etc/hosts", "addresses": strings(addresses), "query_name": query_name})
        }
        DnsDetail::Lookup(l) => lookup(l),
    }
}

fn lookup(l: &DnsLookup) -> Value {
    let nameserver = match &l.nameserver {
        Nameservers::One(s) => json!(s.to_string()),
        Nameservers::Asked(all) => strings(all),
    };
    let mut v = json!({
        "addresses": strings(&l.addresses),
        "cname_chain": l.cname_chain,
        "nameserver": nameserver,
        "rcode": l.rcode,
        "query_name": l.query_name,
    });
    put(&mut v, "private_endpoint", l.private_endpoint());
    put(&mut v, "names_tried", l.names_tried.as_ref());
    if let Some(queries) = &l.queries {
        v["queries"] = queries.iter().map(query).collect();
    }
    v
}

fn query(q: &DnsQuery) -> Value {
    let mut v = json!({"name": q.name, "result": q.result});
    put(&mut v, "type", q.qtype.as_ref());
    put(&mut v, "server", q.server.as_ref().map(ToString::to_string));
    put(&mut v, "duration_ms", q.duration_ms);
    v
}

fn tcp(d: &TcpDetail) -> Value {
    let attempts: Vec<Value> = d
        .attempts
        .iter()
        .map(|a| {
            let address = a.address.to_string();
            match &a.outcome {
                AttemptOutcome::Connected { duration_ms } => {
                    json!({"address": address, "result": "ok", "duration_ms": duration_ms})
                }
                AttemptOutcome::Failed {
                    code,
                    error,
                    duration_ms,
                } => {
                    json!({"address": address, "result": code.as_str(), "error": error, "duration_ms": duration_ms})
                }
                AttemptOutcome::Skipped { reason } => {
                    json!({"address": address, "result": "skipped", "reason": reason})
                }
                AttemptOutcome::Abandoned { reason } => {
                    json!({"address": address, "result": "abandoned", "reason": reason})
                }
            }
        })
        .collect();
    match d.address {
        Some(a) => json!({"address": a.to_string(), "attempts": attempts}),
        None => json!({"attempts": attempts}),
    }
}

fn proxy(d: &ProxyDetail) -> Value {
    match d {
        ProxyDetail::Connect {
            proxy,
            authority,
            status,
        } => json!({"proxy": proxy, "connect": authority, "status": status}),
        ProxyDetail::Forward { proxy } => json!({"proxy": proxy, "forward": true}),
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A certificate: `subject`, `issuer`, `dns_names`, `ip_addresses`,
/// `not_before`, `not_after` (RFC 3339), `serial` (hex), `sha256`, `is_ca`;
/// or `{"sha256", "error"}` when the DER does not parse.
#[must_use]
pub fn certificate(c: &Certificate) -> Value {
    match &c.facts {
        Ok(f) => json!({
            "subject": f.subject,
            "issuer": f.issuer,
            "dns_names": f.dns_names,
            "ip_addresses": f.ip_addresses,
            "not_before": rfc3339(f.not_before),
            "not_after": rfc3339(f.not_after),
            "serial": f.serial,
            "sha256": c.sha256,
            "is_ca": f.is_ca,
        }),
        Err(e) => json!({"sha256": c.sha256, "error": e}),
    }
}

fn tls(d: &TlsDetail) -> Value {
    let mut v = json!({
        "server_name": d.server_name,
        "version": d.version,
        "alpn": d.alpn,
        "cipher_suite": d.cipher_suite,
        "chain": d.chain.iter().map(certificate).collect::<Vec<_>>(),
        "verified_with": d.verified_with.map(crate::probe::result::TrustedBy::as_str),
        "skip_verify": d.skip_verify,
        "masked_error": d.masked_error,
        "ca_files": d.ca_files.iter().map(|f| json!({"path": f.path, "certificates": f.certificates, "error": f.error})).collect::<Vec<_>>(),
        "client_certificate": {
            "configured": d.client_certificate.configured,
            "cert": d.client_certificate.cert,
            "requested": d.client_certificate.requested,
            "sent": d.client_certificate.sent,
            "errors": d.client_certificate.errors,
        },
        "trust_store_certificates": d.trust_store_certificates,
    });
    put(&mut v, "error", d.error.as_ref());
    if d.stalled {
        v["stalled"] = json!(true);
    }
    put(&mut v, "mss_retry", d.mss_retry.as_ref().map(mss_retry));
    if let Some(c) = &d.clock {
        v["clock"] = json!({
            "registry_date": server_date(&c.date),
            "valid_by_registry_clock": c.valid_by_server_clock,
            "error": c.error,
        });
    }
    v
}

fn mss_retry(r: &MssRetry) -> Value {
    json!({
        "address": r.address.map(|a| a.to_string()),
        "mss": r.mss,
        "completed": r.completed,
        "duration_ms": r.duration_ms,
        "summary": r.summary,
    })
}

/// A `Date` header beside the node's clock: both as RFC 3339, and the
/// node's clock minus the server's in seconds.
fn server_date(d: &ServerDate) -> Value {
    json!({
        "host": d.host,
        "server": super::rfc3339(d.server),
        "node": super::rfc3339(d.node),
        "offset_seconds": d.offset_seconds(),
    })
}

fn fallback(d: &FallbackDetail) -> Value {
    json!({
        "fallback_from": d.from,
        "fallback_to": d.to,
        "https_stage": d.https_stage,
        "https_code": d.https_code.as_str(),
        "https_error": d.https_error,
    })
}

fn challenge(c: &ChallengeFacts) -> Value {
    json!({
        "scheme": c.scheme,
        "realm": c.realm,
        "service": c.service,
        "scope": c.scope,
        "error": c.error,
    })
}

/// Rate-limit headers by their names, only those sent.
fn rate_limit(r: &RateLimit) -> Value {
    let mut m = Map::new();
    for (name, value) in [
        ("ratelimit-limit", &r.limit),
        ("ratelimit-remaining", &r.remaining),
        ("docker-ratelimit-source", &r.source),
        ("retry-after", &r.retry_after),
    ] {
        if let Some(v) = value {
            m.insert(name.to_owned(), json!(v));
        }
    }
    Value::Object(m)
}

fn registry_errors(errors: &[RegistryErrorFacts]) -> Value {
    errors
        .iter()
        .map(|e| json!({"code": e.code, "message": e.message}))
        .collect()
}

fn ping(d: &PingDetail) -> Value {
    match d {
        PingDetail::Failed { url, error } => json!({"url": url, "error": error}),
        PingDetail::ProxyRefused => json!({"status": 407, "forwarded_by_proxy": true}),
        PingDetail::Answered(a) => {
            let mut v = json!({
                "url": a.url,
                "status": a.status,
                "docker_distribution_api_version": a.api_version,
                "server": a.server,
                "challenges": a.challenges.iter().map(challenge).collect::<Vec<_>>(),
            });
            if !a.rate_limit.is_empty() {
                v["rate_limit"] = rate_limit(&a.rate_limit);
            }
            if a.reconnects > 0 {
                v["reconnects"] = json!(a.reconnects);
            }
            if !a.registry_errors.is_empty() {
                v["errors"] = registry_errors(&a.registry_errors);
            }
            v
        }
    }
}

fn auth(d: &AuthDetail) -> Value {
    let mut v = json!({
        "scheme": d.scheme,
        "credentials": d.credentials,
        "credential_source": d.credential_source,
    });
    if !d.challenges.is_empty() {
        v["challenges"] = d.challenges.iter().map(challenge).collect();
    }
    if d.scheme.is_some() {
        v["username"] = json!(d.username);
    }
    if let Some(b) = &d.bearer {
        bearer(&mut v, b);
    }
    put(&mut v, "recheck_status", d.recheck_status);
    if let Some(i) = &d.identity {
        v["identity"] = json!({
            "client_id": i.client_id,
            "audience": i.audience,
            "steps": i.steps.iter().map(|s| {
                let mut step = json!({
                    "step": s.step,
                    "audience": s.audience,
                    "code": s.code.as_str(),
                    "duration_ms": s.duration_ms,
                    "summary": s.summary,
                });
                if let Some(d) = &s.date {
                    step["date"] = server_date(d);
                }
                step
            }).collect::<Vec<_>>(),
        });
    }
    if !d.candidates.is_empty() {
        v["candidates"] = d
            .candidates
            .iter()
            .map(|c| json!({"source": c.source, "kind": c.kind, "user": c.user, "code": c.code.as_str(), "message": c.summary}))
            .collect();
    }
    v
}

fn bearer(v: &mut Value, b: &BearerFacts) {
    v["realm"] = json!(b.realm);
    v["service"] = json!(b.service);
    v["scope"] = json!(b.scope);
    put(v, "credentials_withheld", b.credentials_withheld.as_ref());
    put(
        v,
        "realm_stages",
        b.realm_stages.as_deref().map(brief_stages),
    );
    put(v, "post_status", b.post_status);
    put(v, "grant", b.grant.map(Grant::as_str));
    put(v, "status", b.status);
    if b.grant.is_some() && b.status.is_some_and(|s| (200..400).contains(&s)) {
        v["expires_in"] = b.expires_in.clone().unwrap_or(Value::Null);
        v["issued_at"] = b.issued_at.clone().unwrap_or(Value::Null);
    }
}

fn response(r: &ResponseFacts) -> Value {
    json!({
        "method": r.method,
        "status": r.status,
        "digest": r.digest,
        "media_type": r.media_type,
        "size": r.size,
        "rate_limit": rate_limit(&r.rate_limit),
    })
}

fn manifest(d: &ManifestDetail) -> Value {
    let mut v = json!({"url": d.url, "accept": d.accept});
    put(&mut v, "auth", d.auth.as_ref().map(auth));
    put(&mut v, "auth_summary", d.auth_summary.as_ref());
    put(&mut v, "head_status", d.head_status);
    put(&mut v, "response", d.response.as_ref().map(response));
    put(&mut v, "credentials", d.credentials);
    put(&mut v, "error_get_status", d.error_get_status);
    put(&mut v, "errors", d.errors.as_deref().map(registry_errors));
    put(&mut v, "computed_digest", d.computed_digest.as_ref());
    if let Some(digest) = &d.digest {
        v["digest"] = json!(digest);
        v["media_type"] = json!(d.media_type);
        v["size"] = json!(d.size);
    }
    v
}

fn platform(d: &PlatformDetail) -> Value {
    let mut v = json!({"wanted": d.wanted.to_string(), "present": d.present});
    put(&mut v, "index", d.index.as_ref());
    if let Some(c) = &d.chosen {
        v["chosen"] =
            json!({"platform": c.platform, "digest": c.digest, "media_type": c.media_type});
    }
    put(&mut v, "config", d.config.as_ref());
    v
}

fn blob(d: &BlobDetail) -> Value {
    let mut v = json!({
        "digest": d.digest,
        "url": d.url,
        "redirects": d.redirects.iter().map(|h| json!({"status": h.status, "to": h.to, "cross_host": h.cross_host})).collect::<Vec<_>>(),
        "redirect_stages": d.redirect_stages.iter().map(|h| json!({"host": h.host, "stages": brief_stages(&h.stages)})).collect::<Vec<_>>(),
    });
    put(&mut v, "final_host", d.final_host.as_ref());
    put(&mut v, "status", d.status);
    put(&mut v, "mss_retry", d.mss_retry.as_ref().map(mss_retry));
    v
}
