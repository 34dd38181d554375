//! `probe plan`: what would be probed, without probing. The human view lists
//! each target's endpoints in the runtime's order with the config behind each
//! (TLS files, fallback, headers, credential source, proxy, `file:line`);
//! `--json` adds a [`JsonPlan`] to every endpoint of the ordinary report.
//!
//! Header values, passwords and tokens never appear: headers show their names
//! only, credentials their source and username, proxies are redacted.

use super::Report;
use crate::target::{Endpoint, ProxyUrl, Target};
use anstyle::{AnsiColor, Style};
use serde::Serialize;
use std::io;

const BOLD: Style = Style::new().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();

/// What a header value is shown as.
pub const REDACTED: &str = "(redacted)";

/// The config facts behind one endpoint (`endpoints[].plan` in `probe plan --json`).
#[derive(Debug, Serialize)]
pub struct JsonPlan {
    /// The runtime whose config produced the endpoint, as detected.
    pub runtime: Option<String>,
    /// `file:line` the endpoint came from, or `default`.
    pub source: String,
    pub scheme: &'static str,
    pub ca_files: Vec<String>,
    pub client_certs: Vec<JsonClientCert>,
    pub skip_verify: bool,
    pub http_fallback: Option<JsonFallback>,
    /// Header names, each value shown as `(redacted)`.
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub credential: Option<JsonCredential>,
    pub capabilities: Vec<&'static str>,
    /// containerd's `?ns=` for mirrors.
    pub ns: Option<String>,
    pub dial_timeout_ms: Option<u64>,
    /// The repository asked for on this endpoint when the config rewrites it.
    pub repository: Option<String>,
}

/// A client certificate pair (paths as read, under `--root`).
#[derive(Debug, Serialize)]
pub struct JsonClientCert {
    pub cert: String,
    pub key: String,
}

/// The plain-http retry of an https endpoint.
#[derive(Debug, Serialize)]
pub struct JsonFallback {
    pub url: String,
    /// `false`: after a TLS handshake failure only (containerd); `true`: after
    /// any failure through the ping (CRI-O, Docker).
    pub on_any_error: bool,
    pub proxy: Option<String>,
}

/// Where a credential comes from; never the secret.
#[derive(Debug, Serialize)]
pub struct JsonCredential {
    pub source: String,
    pub username: String,
}

impl JsonPlan {
    #[must_use]
    pub fn new(target: &Target, ep: &Endpoint, runtime: Option<&str>) -> Self {
        let mut headers = serde_json::Map::new();
        for (name, _) in &ep.headers {
            headers.insert(name.clone(), serde_json::Value::from(REDACTED));
        }
        let caps = ep.capabilities;
        Self {
            runtime: runtime.map(str::to_owned),
            source: ep.source.clone(),
            scheme: ep.scheme.as_str(),
            ca_files: ep
                .tls
                .ca_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            client_certs: ep
                .tls
                .client_certs
                .iter()
                .map(|c| JsonClientCert {
                    cert: c.cert.display().to_string(),
                    key: c.key.display().to_string(),
                })
                .collect(),
            skip_verify: ep.tls.skip_verify,
            http_fallback: ep.http_fallback.as_ref().and_then(|f| {
                ep.fallback_endpoint().map(|fb| JsonFallback {
                    url: fb.url(),
                    on_any_error: f.on_any_error,
                    proxy: f.proxy.as_ref().map(ProxyUrl::redacted),
                })
            }),
            headers,
            credential: target.credential_for(ep).map(|c| JsonCredential {
                source: c.source.clone(),
                username: c.username().to_owned(),
            }),
            capabilities: [
                (caps.pull, "pull"),
                (caps.resolve, "resolve"),
                (caps.push, "push"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect(),
            ns: ep.ns_param.clone(),
            dial_timeout_ms: ep.dial_timeout.map(|d| d.as_millis() as u64),
            repository: ep.repository.clone(),
        }
    }
}

/// Render the human view of a plan.
pub fn write(report: &Report, out: &mut impl io::Write) -> io::Result<()> {
    write_dyn(report, out)
}

fn write_dyn(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    if let Some(rt) = &report.runtime {
        writeln!(out, "{BOLD}runtime:{BOLD:#} {}", rt.line())?;
        if let Some(a) = rt.assumption() {
            writeln!(out, "  {DIM}{a}{DIM:#}")?;
        }
    }
    for note in &report.notes {
        writeln!(out, "  {DIM}{note}{DIM:#}")?;
    }
    writeln!(out)?;
    for t in &report.targets {
        writeln!(out, "{BOLD}{}{BOLD:#}", t.target)?;
        if t.target.endpoints.is_empty() {
            writeln!(out, "  no endpoint")?;
        }
        for (i, ep) in t.target.endpoints.iter().enumerate() {
            endpoint(out, i + 1, &t.target, ep)?;
        }
        if t.target.kubelet_credentials.len() > 1 {
            writeln!(out, "  {BOLD}the kubelet tries, in order:{BOLD:#}")?;
            for (i, c) in t.target.kubelet_credentials.iter().enumerate() {
                writeln!(out, "    {}. {} ({})", i + 1, c.source, c.kind().as_str())?;
            }
        }
        for r in &t.target.remarks {
            writeln!(out, "  {BOLD}note:{BOLD:#} {r}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{BOLD}config sources{BOLD:#}")?;
    for s in &report.config_sources {
        match s.message() {
            None => writeln!(out, "  {} ({})", s.path, s.kind)?,
            Some(m) => writeln!(
                out,
                "  {YELLOW}{} {} ({}): {m}{YELLOW:#}",
                s.severity().as_str(),
                s.path,
                s.kind
            )?,
        }
    }
    Ok(())
}

fn endpoint(out: &mut dyn io::Write, n: usize, target: &Target, ep: &Endpoint) -> io::Result<()> {
    writeln!(
        out,
        "  {n}. {} ({})  {DIM}[{}]{DIM:#}",
        ep.url(),
        ep.role.as_str(),
        ep.source
    )?;
    let field = |out: &mut dyn io::Write, name: &str, value: &str| {
        writeln!(out, "       {name:<13} {value}")
    };
    for ca in &ep.tls.ca_files {
        field(out, "ca", &ca.display().to_string())?;
    }
    for c in &ep.tls.client_certs {
        field(
            out,
            "client cert",
            &format!("{} (key {})", c.cert.display(), c.key.display()),
        )?;
    }
    if ep.tls.skip_verify {
        field(out, "skip_verify", "true (certificates are not checked)")?;
    }
    if let (Some(fb), Some(fb_ep)) = (&ep.http_fallback, ep.fallback_endpoint()) {
        let when = if fb.on_any_error {
            "after any https failure through the ping"
        } else {
            "after a TLS handshake failure"
        };
        field(out, "http_fallback", &format!("{} {when}", fb_ep.url()))?;
    }
    if let Some(d) = ep.dial_timeout {
        field(
            out,
            "dial_timeout",
            &humantime::format_duration(d).to_string(),
        )?;
    }
    for (name, _) in &ep.headers {
        field(out, "header", &format!("{name}: {REDACTED}"))?;
    }
    match target.credential_for(ep) {
        Some(c) if c.username().is_empty() => {
            field(out, "credential", &format!("token from {}", c.source))?;
        }
        Some(c) => field(
            out,
            "credential",
            &format!("user {:?} from {}", c.username(), c.source),
        )?,
        None => field(out, "credential", "none (anonymous)")?,
    }
    let proxy = ep
        .proxy
        .as_ref()
        .map_or_else(|| "direct".to_owned(), ProxyUrl::redacted);
    field(out, "proxy", &proxy)?;
    if let Some(fb_proxy) = ep.http_fallback.as_ref().and_then(|f| f.proxy.as_ref()) {
        field(out, "http proxy", &fb_proxy.redacted())?;
    }
    let caps = ep.capabilities;
    if !caps.resolve || !caps.pull {
        let list: Vec<&str> = [(caps.pull, "pull"), (caps.resolve, "resolve")]
            .into_iter()
            .filter_map(|(on, n)| on.then_some(n))
            .collect();
        field(out, "capabilities", &list.join(", "))?;
    }
    if let Some(ns) = &ep.ns_param {
        field(out, "ns", &format!("?ns={ns}"))?;
    }
    if let Some(repo) = &ep.repository {
        field(out, "repository", repo)?;
    }
    Ok(())
}
