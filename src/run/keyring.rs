//! The credentials a pull would be offered, in the kubelet's order: the
//! credential flags and `--docker-config` (standing for a pull secret), the
//! pod's pull secrets, the kubelet's config.json, its credential providers
//! (run for real, as the kubelet runs them), the node's Azure identity for
//! ACR, and the runtime's own config auth last (kubernetes
//! `pkg/credentialprovider/keyring.go`, `MakeDockerKeyring`).

use super::error::RunError;
use crate::cli::Settings;
use crate::config::credentials::credential_provider::ProviderCache;
use crate::config::credentials::dockercfg::DockerConfig;
use crate::config::node::NodeConfig;
use crate::config::{self, Source};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{Credential, CredentialSecret, Target};

/// The keyring the kubelet would build for this run, in its order: the
/// credential flags (standing for a pull secret), the pod's pull secrets and
/// `--docker-config`; then, per target ([`Keyring::prepend`] and
/// [`add_node_keyring`]), the kubelet's config.json, its credential
/// providers and the node's Azure identity; the runtime's own config auth
/// comes last, from the node's config.
pub struct Keyring {
    pub flag: Option<Credential>,
    /// The pod's pull secrets, then `--docker-config`: one keyring.
    pub pull_secrets: Vec<DockerConfig>,
}

impl Keyring {
    pub fn load(
        settings: &Settings,
        mut pull_secrets: Vec<DockerConfig>,
        sources: &mut Vec<Source>,
    ) -> Result<Self, RunError> {
        let docker_config = match &settings.docker_config {
            None => None,
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| RunError::Config {
                    path: shown.clone(),
                    reason: format!("cannot read --docker-config: {e}"),
                })?;
                let cfg = config::credentials::dockercfg::parse(&text)
                    .map_err(|e| RunError::Config {
                        path: shown.clone(),
                        reason: e.to_string(),
                    })?
                    .with_label(format!("--docker-config {shown}"));
                sources.push(Source::ok(shown, "docker-config"));
                Some(cfg)
            }
        };
        pull_secrets.extend(docker_config);
        Ok(Self {
            flag: flag_credential(settings),
            pull_secrets,
        })
    }

    /// Put the pull secrets' credentials for `name` first among the
    /// kubelet's: the kubelet's keyring is the union of the pod's pull
    /// secrets and then the node's own (`credentialprovider.MakeDockerKeyring`).
    pub fn prepend(&self, target: &mut Target, name: &str) {
        let mut first: Vec<Credential> = self.flag.iter().cloned().collect();
        first.extend(config::credentials::dockercfg::keyring_lookup(
            &self.pull_secrets,
            name,
        ));
        first.append(&mut target.kubelet_credentials);
        target.kubelet_credentials = first;
    }
}

/// Credentials given on the command line, for every target.
fn flag_credential(settings: &Settings) -> Option<Credential> {
    match (&settings.username, &settings.password) {
        (Some(u), Some(p)) => Some(Credential::new(
            CredentialSecret::Basic {
                username: u.clone(),
                password: Secret::new(p.expose()),
            },
            "--username/--password-stdin",
        )),
        _ => None,
    }
}

/// The rest of the node's keyring for each target, after its config.json:
/// what the kubelet's credential providers answer (run for real, in name
/// order, each once per image; a plan runs none), and for an Azure Container
/// Registry the node's own identity from `azure.json`, exchanged at probe
/// time as `acr-credential-provider` does. A provider that cannot answer is
/// a [`crate::target::ProviderFailure`]; `acr-credential-provider` failing
/// here is only noted, since the node's identity stands in for it.
pub async fn add_node_keyring(
    settings: &Settings,
    root: &HostRoot,
    node: &NodeConfig,
    cache: Option<&ProviderCache>,
    targets: &mut [Target],
    sources: &mut Vec<Source>,
) {
    use config::credentials::credential_provider as cp;
    use std::collections::HashMap;
    let (azure, azure_sources) = config::credentials::azure::discover(root);
    config::merge_sources(sources, azure_sources);
    let bin_dir = node.kubelet.bin_dir.as_ref().map(|(d, _)| d.clone());
    let limit = settings.deadline.min(cp::KUBELET_TIMEOUT);
    let mut answers: HashMap<
        (String, String),
        Result<cp::ProviderAnswer, crate::target::ProviderFailure>,
    > = HashMap::new();
    for t in targets.iter_mut() {
        let name = t.keyring_name();
        let mut providers = node.kubelet.providers_for(&name);
        // The kubelet's keyring asks its providers in name order.
        providers.sort_by(|a, b| a.provider.name.cmp(&b.provider.name));
        let mut acr_provider = None;
        for p in providers {
            let is_acr = p.provider.name == "acr-credential-provider";
            let key = (p.provider.name.clone(), name.clone());
            let answer = if settings.mode == crate::cli::Mode::Plan {
                None
            } else if let Some(a) = answers.get(&key) {
                Some(a.clone())
            } else if let Some(a) = cache.and_then(|c| c.get(&p.provider.name, &name)) {
                Some(Ok(a))
            } else {
                let a = match &bin_dir {
                    Some(dir) => cp::run(root, p, dir, &name, limit).await,
                    None => Err(crate::target::ProviderFailure {
                        name: p.provider.name.clone(),
                        path: p.provider.name.clone(),
                        config: p.file.clone(),
                        reason: "no --image-credential-provider-bin-dir: the kubelet cannot run it"
                            .to_owned(),
                    }),
                };
                if let (Some(c), Ok(answer)) = (cache, &a) {
                    c.put(&p.provider, &name, answer);
                }
                answers.insert(key, a.clone());
                Some(a)
            };
            match answer {
                None => t.remarks.push(format!(
                    "the kubelet asks credential provider {} ({}) for {name}; the probe runs it (a plan does not)",
                    p.provider.name, p.file
                )),
                Some(Ok(a)) => {
                    if !a.rerooted.is_empty() {
                        t.remarks.push(format!(
                            "credential provider {} ran with node paths under --root: {}",
                            p.provider.name,
                            a.rerooted.join(", ")
                        ));
                    }
                    let creds = a.credentials(&name);
                    if creds.is_empty() {
                        t.remarks.push(format!(
                            "credential provider {} answered no credential for {name}",
                            p.provider.name
                        ));
                    }
                    t.kubelet_credentials.extend(creds);
                    if is_acr {
                        acr_provider = Some(Ok(()));
                    }
                }
                Some(Err(f)) if is_acr && azure.is_some() => {
                    t.remarks.push(format!(
                        "acr-credential-provider could not run here ({}); the probe exchanges the node's identity itself, as the provider would",
                        f.reason
                    ));
                    acr_provider = Some(Err(()));
                }
                Some(Err(f)) => t.provider_failures.push(f),
            }
        }
        let acr = acr_provider.is_some() || config::credentials::azure::is_acr(&t.registry);
        if let (true, Some(az)) = (acr, &azure) {
            let why = match acr_provider {
                Some(Ok(())) => "checked after acr-credential-provider's answer",
                Some(Err(())) => "standing in for acr-credential-provider",
                None => "as acr-credential-provider would use it",
            };
            if let Some(c) =
                config::credentials::azure::credential(az, &settings.imds_endpoint, why)
            {
                if acr_provider.is_none() {
                    t.remarks.push(format!(
                        "no kubelet credential provider matches {name}; the probe uses {} as acr-credential-provider would: if the kubelet runs none, its pulls are anonymous",
                        config::credentials::azure::AZURE_JSON
                    ));
                }
                t.kubelet_credentials.push(c);
            }
        }
    }
}
