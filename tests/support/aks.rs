//! An AKS node root: the files AKS's node bootstrapping (Azure/AgentBaker
//! `parts/linux/cloud-init/artifacts/cse_config.sh`) writes for the kubelet
//! and its ACR credential provider, as text a test may change before
//! [`AksNode::write`]:
//! - `/etc/kubernetes/azure.json` (`configureAzureJson`; with a managed
//!   identity `aadClientId`/`aadClientSecret` are `msi` and
//!   `useManagedIdentityExtension` is true; the provider reads it with
//!   cloud-provider-azure's `configloader`);
//! - `/etc/default/kubelet` (`ensureKubelet`: `KUBELET_FLAGS=` the sorted
//!   `--flag=value` pairs of `GetOrderedKubeletConfigFlagString`, then
//!   `--node-ip` appended by `setKubeletNodeIPFlag`);
//! - `/var/lib/kubelet/credential-provider-config.yaml`
//!   (`writeCredentialProviderConfig`, default branch; the match patterns
//!   are a parameter since the bed's registry is `acr.test`);
//! - `/etc/containerd/config.toml` (`AgentBaker`'s containerd template as
//!   rendered in `tests/fixtures/containerd/`).
//!
//! The provider binary is not written: a test adds the one it wants with
//! `provider::*` and `NodeRoot::exec_file(&provider::path(..), ..)`.

use std::fmt::Write as _;

use super::acr::{self, ManagedIdentity, ServicePrincipal};
use super::provider;
use super::root::NodeRoot;

pub const AZURE_JSON: &str = "etc/kubernetes/azure.json";
pub const KUBELET_DEFAULTS: &str = "etc/default/kubelet";
pub const CONTAINERD_CONFIG: &str = "etc/containerd/config.toml";

/// AKS's `matchImages` (`AgentBaker` `writeCredentialProviderConfig`).
pub const AKS_MATCH_IMAGES: [&str; 8] = [
    "*.azurecr.io",
    "*.azurecr.cn",
    "*.azurecr.de",
    "*.azurecr.us",
    "*.*.geo.azurecr.io",
    "*.*.geo.azurecr.cn",
    "*.*.geo.azurecr.de",
    "*.*.geo.azurecr.us",
];

/// The bed's ACR-like registries, added to AKS's patterns by [`AksNode::bed`].
pub const BED_MATCH_IMAGES: [&str; 2] = ["acr.test", "acrfw.test"];

/// The files of one AKS node.
#[derive(Clone, Debug)]
pub struct AksNode {
    pub azure_json: String,
    /// `/etc/default/kubelet`.
    pub kubelet_defaults: String,
    pub credential_provider_config: String,
    pub containerd_config: String,
}

impl AksNode {
    /// A node whose kubelet identity is `mi`, its provider matching AKS's
    /// patterns and the bed's ACR names.
    pub fn bed(mi: &ManagedIdentity) -> AksNode {
        let patterns = match_images(&BED_MATCH_IMAGES);
        let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
        AksNode::managed_identity(mi.client_id, &patterns)
    }

    /// A node with the user-assigned managed identity `client_id`.
    pub fn managed_identity(client_id: &str, match_images: &[&str]) -> AksNode {
        AksNode::with_azure_json(azure_json("msi", "msi", true, client_id), match_images)
    }

    /// An older node with a service principal in azure.json.
    pub fn service_principal(sp: &ServicePrincipal, match_images: &[&str]) -> AksNode {
        AksNode::with_azure_json(azure_json(sp.client_id, sp.secret, false, ""), match_images)
    }

    fn with_azure_json(azure_json: String, match_images: &[&str]) -> AksNode {
        AksNode {
            azure_json,
            kubelet_defaults: kubelet_defaults(&kubelet_flags()),
            credential_provider_config: credential_provider_config(match_images),
            containerd_config: CONTAINERD_CONFIG_TEXT.to_owned(),
        }
    }

    /// Writes the four files into `root`.
    pub fn write(&self, root: &NodeRoot) {
        root.write(AZURE_JSON, &self.azure_json)
            .write(KUBELET_DEFAULTS, &self.kubelet_defaults)
            .write(provider::CONFIG, &self.credential_provider_config)
            .write(CONTAINERD_CONFIG, &self.containerd_config);
    }
}

/// AKS's patterns followed by `extra`.
pub fn match_images(extra: &[&str]) -> Vec<String> {
    AKS_MATCH_IMAGES
        .iter()
        .chain(extra)
        .map(|p| (*p).to_owned())
        .collect()
}

/// `azure.json` as `AgentBaker`'s `configureAzureJson` writes it (backoff
/// mode v2, so without the exponent and jitter lines).
pub fn azure_json(
    aad_client_id: &str,
    aad_client_secret: &str,
    use_managed_identity: bool,
    user_assigned_identity_id: &str,
) -> String {
    format!(
        r#"{{
    "cloud": "AzurePublicCloud",
    "tenantId": "{tenant}",
    "subscriptionId": "{subscription}",
    "aadClientId": "{aad_client_id}",
    "aadClientSecret": "{aad_client_secret}",
    "resourceGroup": "{resource_group}",
    "location": "eastus",
    "vmType": "vmss",
    "subnetName": "aks-subnet",
    "securityGroupName": "aks-agentpool-12345678-nsg",
    "vnetName": "aks-vnet-12345678",
    "vnetResourceGroup": "",
    "routeTableName": "aks-agentpool-12345678-routetable",
    "primaryAvailabilitySetName": "",
    "primaryScaleSetName": "aks-nodepool1-12345678-vmss",
    "cloudProviderBackoffMode": "v2",
    "cloudProviderBackoff": true,
    "cloudProviderBackoffRetries": 6,
    "cloudProviderBackoffDuration": 5,
    "cloudProviderRateLimit": true,
    "cloudProviderRateLimitQPS": 10,
    "cloudProviderRateLimitBucket": 100,
    "cloudProviderRateLimitQPSWrite": 10,
    "cloudProviderRateLimitBucketWrite": 100,
    "useManagedIdentityExtension": {use_managed_identity},
    "userAssignedIdentityID": "{user_assigned_identity_id}",
    "useInstanceMetadata": true,
    "loadBalancerSku": "Standard",
    "disableOutboundSNAT": false,
    "excludeMasterFromStandardLB": true,
    "providerVaultName": "",
    "maximumLoadBalancerRuleCount": 250,
    "providerKeyName": "k8s",
    "providerKeyVersion": ""
}}
"#,
        tenant = acr::TENANT_ID,
        subscription = acr::SUBSCRIPTION_ID,
        resource_group = acr::RESOURCE_GROUP,
    )
}

/// The kubelet flags of an AKS node (`AgentBaker` e2e `node_config.go`
/// defaults, for Kubernetes >= 1.30: no `--azure-container-registry-config`,
/// with the credential provider flags), sorted, `--node-ip` last.
pub fn kubelet_flags() -> Vec<String> {
    let mut flags: Vec<String> = [
        "--address=0.0.0.0",
        "--anonymous-auth=false",
        "--authentication-token-webhook=true",
        "--authorization-mode=Webhook",
        "--cgroups-per-qos=true",
        "--client-ca-file=/etc/kubernetes/certs/ca.crt",
        "--cloud-provider=external",
        "--cluster-dns=10.0.0.10",
        "--cluster-domain=cluster.local",
        "--enforce-node-allocatable=pods",
        "--event-qps=0",
        "--eviction-hard=memory.available<750Mi,nodefs.available<10%,nodefs.inodesFree<5%",
        "--feature-gates=RotateKubeletServerCertificate=true",
        "--image-credential-provider-bin-dir=/var/lib/kubelet/credential-provider",
        "--image-credential-provider-config=/var/lib/kubelet/credential-provider-config.yaml",
        "--image-gc-high-threshold=85",
        "--image-gc-low-threshold=80",
        "--kube-reserved=cpu=100m,memory=1638Mi",
        "--kubeconfig=/var/lib/kubelet/kubeconfig",
        "--max-pods=110",
        "--node-status-update-frequency=10s",
        "--pod-manifest-path=/etc/kubernetes/manifests",
        "--pod-max-pids=-1",
        "--protect-kernel-defaults=true",
        "--read-only-port=0",
        "--resolv-conf=/run/systemd/resolve/resolv.conf",
        "--rotate-certificates=true",
        "--rotate-server-certificates=true",
        "--streaming-connection-idle-timeout=4h",
        "--tls-cert-file=/etc/kubernetes/certs/kubeletserver.crt",
        "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,\
         TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,\
         TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,\
         TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_256_GCM_SHA384,\
         TLS_RSA_WITH_AES_128_GCM_SHA256",
        "--tls-private-key-file=/etc/kubernetes/certs/kubeletserver.key",
    ]
    .map(str::to_owned)
    .to_vec();
    flags.push("--node-ip=10.224.0.4".to_owned());
    flags
}

/// `/etc/default/kubelet` as `ensureKubelet` writes it.
pub fn kubelet_defaults(flags: &[String]) -> String {
    format!(
        "KUBELET_FLAGS={}\nKUBELET_REGISTER_SCHEDULABLE=true\nNETWORK_POLICY=\n\
         KUBELET_IMAGE=\nKUBELET_NODE_LABELS=kubernetes.azure.com/agentpool=nodepool1,\
         kubernetes.azure.com/mode=system,kubernetes.azure.com/role=agent\n",
        flags.join(" ")
    )
}

/// The `CredentialProviderConfig` of `writeCredentialProviderConfig`
/// (default branch) with `match_images`.
pub fn credential_provider_config(match_images: &[&str]) -> String {
    let patterns = match_images.iter().fold(String::new(), |mut out, p| {
        let _ = writeln!(out, "      - \"{p}\"");
        out
    });
    format!(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  \
         - name: {name}\n    matchImages:\n{patterns}    defaultCacheDuration: \"10m\"\n    \
         apiVersion: {api}\n    args:\n      - /etc/kubernetes/azure.json\n",
        name = provider::ACR_PROVIDER,
        api = provider::API_VERSION,
    )
}

/// `AgentBaker`'s containerd config (the `tests/fixtures/containerd/
/// aks-containerd-config-v1-template-rendered.toml` text): hosts from
/// `/etc/containerd/certs.d`, no `configs.auth`.
pub const CONTAINERD_CONFIG_TEXT: &str = r#"version = 2
oom_score = -999
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "mcr.microsoft.com/oss/kubernetes/pause:3.6"
  enable_cdi = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      BinaryName = "/usr/bin/runc"
      SystemdCgroup = true
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.untrusted]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.untrusted.options]
      BinaryName = "/usr/bin/runc"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".registry.headers]
    X-Meta-Source-Client = ["azure/aks"]
[metrics]
  address = "0.0.0.0:10257"
"#;
