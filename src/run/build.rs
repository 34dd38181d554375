//! Targets from the settings and the node's config: each image or registry
//! asked for (or every registry the node's config names), with its
//! endpoints in the runtime's order, the keyring's credentials first, the
//! scheme a `--registry http://` asks for, and remarks for a person.

use super::keyring::Keyring;
use crate::cli::{Mode, Settings};
use crate::config::node::NodeConfig;
use crate::config::{self, Source};
use crate::hostroot::HostRoot;
use crate::target::{Role, Scheme, Target};

/// Build targets from the settings (and, with no target flags, from every
/// registry the node's config names), with endpoints from the node's config.
///
/// Credentials given to the probe (`--username`, `--docker-config`) stand for
/// the kubelet's `AuthConfig` (an imagePullSecret): containerd's CRI
/// `credentials()` uses it when present and the config's `configs.<host>.auth`
/// otherwise, and `ParseAuth` hands it to every host contacted, mirrors
/// included, because the kubelet sends no `ServerAddress`
/// (`internal/cri/server/images/image_pull.go`). They replace the kubelet's
/// own docker config credential that `NodeConfig::target` set, as a pull
/// secret comes before the node's keyring: flags > kubelet config.json >
/// runtime config auth.
pub fn targets(
    settings: &Settings,
    root: &HostRoot,
    node: &NodeConfig,
    creds: &Keyring,
    sources: &mut Vec<Source>,
) -> Vec<Target> {
    let mut out = Vec::new();
    // The hosts the node knows name the image meant, for Docker Hub names
    // only; read (certs.d included) only when there is such a name.
    let may_mean_another = settings
        .images
        .iter()
        .zip(&settings.image_inputs)
        .any(|(r, input)| crate::reference::host_like_hub_name(input, r).is_some());
    let known = if may_mean_another {
        known_hosts(root, node, creds)
    } else {
        Vec::new()
    };
    for (reference, input) in settings.images.iter().zip(&settings.image_inputs) {
        let (mut t, s) = node.target(root, &reference.domain, Some(reference));
        config::merge_sources(sources, s);
        creds.prepend(&mut t, &reference.name());
        let mut remarks = target_remarks(input, reference, creds, &known);
        remarks.append(&mut t.remarks);
        t.remarks = remarks;
        out.push(t);
    }
    for r in &settings.registries {
        let (mut t, s) = node.target(root, &r.domain(), None);
        config::merge_sources(sources, s);
        if let Some(scheme) = r.scheme {
            force_scheme(&mut t, scheme, r.port);
        }
        creds.prepend(&mut t, &r.domain());
        out.push(t);
    }
    if settings.images.is_empty() && settings.registries.is_empty() && settings.mode != Mode::Pod {
        for registry in node.registries(root) {
            let (mut t, s) = node.target(root, &registry, None);
            config::merge_sources(sources, s);
            creds.prepend(&mut t, &registry);
            out.push(t);
        }
    }
    out
}

/// `--registry http://host:port` asks for that scheme: it replaces the scheme
/// of the registry's own default endpoint (mirrors keep theirs).
fn force_scheme(target: &mut Target, scheme: Scheme, port: Option<u16>) {
    for ep in &mut target.endpoints {
        if ep.role == Role::Upstream && ep.scheme != scheme {
            ep.scheme = scheme;
            ep.port = port.unwrap_or(scheme.default_port());
            ep.http_fallback = None;
            if scheme == Scheme::Http {
                ep.tls = crate::target::TlsSettings::default();
            }
        }
    }
}

/// Registry hosts the pod or the node has credentials or config for: the
/// pull secrets' (and `--docker-config`'s) keys, the kubelet's config.json,
/// the runtime's registry config, the credential providers' `matchImages`
/// (without wildcards). For "the name the user meant".
fn known_hosts(
    root: &HostRoot,
    node: &NodeConfig,
    creds: &Keyring,
) -> Vec<crate::reference::KnownHost> {
    use crate::reference::KnownHost;
    let mut out = Vec::new();
    for c in &creds.pull_secrets {
        out.extend(c.registries().into_iter().map(|host| KnownHost {
            host,
            from: c.label.clone(),
        }));
    }
    if let Some((path, cfg)) = &node.kubelet.docker_config {
        out.extend(cfg.registries().into_iter().map(|host| KnownHost {
            host,
            from: format!("the kubelet's {path}"),
        }));
    }
    for p in &node.kubelet.providers {
        for m in &p.provider.match_images {
            let host = crate::reference::domain_part(m);
            if !host.contains('*') {
                out.push(KnownHost {
                    host: host.to_owned(),
                    from: format!("credential provider {} ({})", p.provider.name, p.file),
                });
            }
        }
    }
    out.extend(node.registries(root).into_iter().map(|host| KnownHost {
        host,
        from: format!("the node's {} registry config", node.runtime),
    }));
    out
}

/// Notes for a person about an image name and its credentials.
fn target_remarks(
    input: &str,
    reference: &crate::reference::Reference,
    creds: &Keyring,
    known: &[crate::reference::KnownHost],
) -> Vec<String> {
    let mut remarks = crate::reference::remarks_with_known(input, reference, known);
    for c in &creds.pull_secrets {
        remarks.extend(c.remarks(&reference.name()));
    }
    remarks
}
