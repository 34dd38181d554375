//! The node's Azure identity for Azure Container Registry, as
//! `acr-credential-provider` reads it (kubernetes-sigs/cloud-provider-azure
//! `pkg/credentialprovider/azure_credentials.go`): `/etc/kubernetes/azure.json`
//! (`useManagedIdentityExtension`, `userAssignedIdentityID`, `tenantId`,
//! `aadClientId`/`aadClientSecret`, `cloud`), and which registries are ACRs
//! (`acrRE`: `<name>.azurecr.io|cn|de|us`).
//!
//! A managed identity becomes a credential the auth stage exchanges at probe
//! time (IMDS, then the registry's `/oauth2/exchange`); a service principal
//! is a Basic credential (the provider answers `aadClientId` /
//! `aadClientSecret` for every ACR suffix). Parsing only: no network, no
//! file but through [`HostRoot`]; the client secret is a [`Secret`] from
//! parsing on.

use crate::config::{Severity, Source};
use crate::hostroot::HostRoot;
use crate::secret::Secret;
use crate::target::{AzureIdentity, Credential, CredentialSecret};
use serde::Deserialize;

/// Where AKS (and the provider's `args`) keep it.
pub const AZURE_JSON: &str = "/etc/kubernetes/azure.json";
/// The ACR audience (`AcrAudience`).
pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";
/// `containerRegistryUrls` of the provider.
pub const ACR_SUFFIXES: [&str; 4] = [".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"];

/// What the provider reads of `azure.json`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AzureJson {
    #[serde(default)]
    pub cloud: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default, rename = "aadClientId")]
    pub aad_client_id: String,
    #[serde(default, rename = "aadClientSecret")]
    pub aad_client_secret: Secret,
    #[serde(default)]
    pub use_managed_identity_extension: bool,
    #[serde(default, rename = "userAssignedIdentityID")]
    pub user_assigned_identity_id: String,
}

/// Parse `azure.json`; the error names the line, never a value.
pub fn parse(text: &str) -> Result<AzureJson, String> {
    serde_json::from_str(text).map_err(|e| format!("line {}: {}", e.line(), e.classify_name()))
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "cannot read",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "a field of the wrong type",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// The ARM audience of the file's cloud, for the second try.
#[must_use]
pub fn arm_audience(cloud: &str) -> &'static str {
    match cloud.to_ascii_lowercase().as_str() {
        "azurechinacloud" => "https://management.chinacloudapi.cn/",
        "azureusgovernmentcloud" => "https://management.usgovcloudapi.net/",
        "azuregermancloud" => "https://management.microsoftazure.de/",
        _ => "https://management.azure.com/",
    }
}

/// Whether `registry` (a host) is an ACR login server the provider serves
/// (`acrRE`: alphanumerics, then an ACR suffix).
#[must_use]
pub fn is_acr(registry: &str) -> bool {
    let host = registry
        .split(':')
        .next()
        .unwrap_or(registry)
        .to_ascii_lowercase();
    ACR_SUFFIXES.iter().any(|s| {
        host.strip_suffix(s)
            .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
    })
}

/// The node's identity as a credential for an ACR, if `azure.json` names one.
#[must_use]
pub fn credential(cfg: &AzureJson, imds: &url::Url, why: &str) -> Option<Credential> {
    if cfg.use_managed_identity_extension {
        let client_id = Some(cfg.user_assigned_identity_id.clone()).filter(|c| !c.is_empty());
        let who = client_id.as_deref().map_or_else(
            || "the node's system-assigned identity".to_owned(),
            |c| format!("user-assigned identity {c}"),
        );
        return Some(Credential::new(
            CredentialSecret::AzureIdentity(AzureIdentity {
                client_id,
                tenant_id: cfg.tenant_id.clone(),
                imds: imds.clone(),
                resources: vec![ACR_AUDIENCE.to_owned(), arm_audience(&cfg.cloud).to_owned()],
            }),
            format!("{AZURE_JSON} managed identity: {who} ({why})"),
        ));
    }
    if !cfg.aad_client_id.is_empty()
        && !cfg.aad_client_secret.is_empty()
        && cfg.aad_client_id != "msi"
    {
        return Some(Credential::new(
            CredentialSecret::Basic {
                username: cfg.aad_client_id.clone(),
                password: cfg.aad_client_secret.clone(),
            },
            format!(
                "{AZURE_JSON} service principal aadClientId {} ({why})",
                cfg.aad_client_id
            ),
        ));
    }
    None
}

/// Read `azure.json` under `root`: `None` when absent; a broken one is a finding.
#[must_use]
pub fn discover(root: &HostRoot) -> (Option<AzureJson>, Vec<Source>) {
    match root.read_to_string(AZURE_JSON) {
        Ok(text) => match parse(&text) {
            Ok(cfg) => (Some(cfg), vec![Source::ok(AZURE_JSON, "azure")]),
            Err(e) => (
                None,
                vec![Source::finding(
                    AZURE_JSON,
                    "azure",
                    Severity::Error,
                    e.split_once(':')
                        .and_then(|(l, _)| l.trim_start_matches("line ").parse().ok()),
                    format!("{e}; acr-credential-provider cannot start with it"),
                )],
            ),
        },
        Err(_) => (None, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_names_follow_the_providers_pattern() {
        for yes in ["myreg.azurecr.io", "MyReg.azurecr.cn", "r1.azurecr.us:443"] {
            assert!(is_acr(yes), "{yes}");
        }
        for no in [
            "azurecr.io",
            "my-reg.azurecr.io",
            "myreg.azurecr.io.evil.test",
            "mcr.microsoft.com",
        ] {
            assert!(!is_acr(no), "{no}");
        }
    }

    #[test]
    fn managed_identity_and_service_principal() {
        let imds = url::Url::parse("http://169.254.169.254").unwrap();
        let mi = parse(r#"{"cloud":"AzurePublicCloud","tenantId":"t","aadClientId":"msi","aadClientSecret":"msi","useManagedIdentityExtension":true,"userAssignedIdentityID":"1111"}"#).unwrap();
        let c = credential(&mi, &imds, "x").unwrap();
        assert_eq!(c.kind().as_str(), "identity");
        assert_eq!(c.username(), "1111");
        let CredentialSecret::AzureIdentity(id) = &c.secret else {
            panic!()
        };
        assert_eq!(
            id.resources,
            [ACR_AUDIENCE, "https://management.azure.com/"]
        );
        let sp = parse(r#"{"tenantId":"t","aadClientId":"3333","aadClientSecret":"sp-s3cret"}"#)
            .unwrap();
        let c = credential(&sp, &imds, "x").unwrap();
        assert_eq!(c.kind().as_str(), "basic");
        assert!(!format!("{c:?}").contains("sp-s3cret"));
        let e = parse("{\"aadClientSecret\": \"s3cret\",").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
