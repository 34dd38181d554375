//! `probe explain` against real pull error messages: a table of messages
//! quoted from issue threads and composed from upstream source, each with
//! its source; skopeo's own errors against every fault of the test bed,
//! checked against what the probe itself says about that fault; and the
//! binary end to end (argument, stdin, `--json`, exit statuses).

mod common;
mod support;

use regprobe::code::Code;
use regprobe::explain::explain;
use serde::Deserialize;
use std::io::Write as _;
use std::process::{Command, Stdio};
use support::{NO_PULL, PULLER, SILENT_DNS_IP, World};

/// One real message, what it must explain to, and where it comes from.
struct Case {
    message: &'static str,
    /// `None`: no known pattern.
    code: Option<&'static str>,
    /// Codes that must be among `also_possible`.
    also: &'static [&'static str],
    /// The issue thread, upstream file or bed fault the message is from.
    source: &'static str,
}

const fn case(
    message: &'static str,
    code: &'static str,
    also: &'static [&'static str],
    source: &'static str,
) -> Case {
    Case {
        message,
        code: Some(code),
        also,
        source,
    }
}

const CASES: &[Case] = &[
    // --- containerd through the kubelet ----------------------------------
    case(
        r#"Failed to pull image "controller:latest": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/controller:latest": failed to resolve reference "docker.io/library/controller:latest": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND", "ACCESS_DENIED"],
        "https://github.com/pfnet/image-pull-secrets-provisioner/issues/31",
    ),
    case(
        r#"time="2026-04-21T16:32:09Z" level=fatal msg="failed to resolve reference \"docker.io/hystax/gemini_data_worker:2026030201-public\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed""#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND"],
        "https://github.com/hystax/optscale/issues/865",
    ),
    case(
        r#"failed to do request: Head "https://xxx/v2/minzhi/nginx/manifests/1.0": x509: certificate signed by unknown authority"#,
        "TLS_UNTRUSTED",
        &[],
        "https://github.com/easzlab/kubeasz/issues/1163",
    ),
    case(
        r#"Failed to pull image "harbor.scpmtk.com/mtk-connect/mtk-connect-installers:v1.8.1": failed to pull and unpack image "harbor.scpmtk.com/mtk-connect/mtk-connect-installers:v1.8.1": failed to resolve reference "harbor.scpmtk.com/mtk-connect/mtk-connect-installers:v1.8.1": failed to do request: Head "https://harbor.scpmtk.com/v2/mtk-connect/mtk-connect-installers/manifests/v1.8.1": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2025-06-12T03:05:25Z is after 2025-06-07T05:48:45Z"#,
        "TLS_EXPIRED",
        &[],
        "https://github.com/GoogleCloudPlatform/horizon-sdv/issues/8",
    ),
    case(
        r#"Failed to pull image "gcr.io/k8s-staging-sig-storage/nfs-subdir-external-provisioner:v4.0.1": rpc error: code = Unknown desc = failed to pull and unpack image "gcr.io/k8s-staging-sig-storage/nfs-subdir-external-provisioner:v4.0.1": failed to resolve reference "gcr.io/k8s-staging-sig-storage/nfs-subdir-external-provisioner:v4.0.1": failed to do request: Head https://gcr.io/v2/k8s-staging-sig-storage/nfs-subdir-external-provisioner/manifests/v4.0.1: x509: certificate has expired or is not yet valid"#,
        "TLS_EXPIRED",
        &[],
        "https://github.com/kubernetes-sigs/nfs-subdir-external-provisioner/issues/81",
    ),
    case(
        r#"Failed to pull image "ghcr.io/kubewarden/kubewarden-controller:latest": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/kubewarden/kubewarden-controller:latest": no match for platform in manifest: not found"#,
        "PLATFORM_MISSING",
        &[],
        "https://github.com/kubewarden/adm-controller/issues/1378",
    ),
    case(
        r#"Failed to pull image "foundationdb/fdb-kubernetes-operator:v2.6.0": rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/foundationdb/fdb-kubernetes-operator:v2.6.0": no match for platform in manifest: not found"#,
        "PLATFORM_MISSING",
        &[],
        "https://github.com/FoundationDB/fdb-kubernetes-operator/issues/2294",
    ),
    case(
        "Failed to pull image \"busybox\": rpc error: code = Unknown\ndesc = failed to pull and unpack image \"docker.io/library/busybox:latest\": failed to copy: httpReadSeeker: failed open:\nunexpected status code https://registry-1.docker.io/v2/library/busybox/manifests/sha256:50aa4698fa6262977cff89181b2664b99d8a56dbca847bf62f2ef04854597cf8:\n429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.\nYou may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        "RATE_LIMITED",
        &[],
        "https://github.com/kata-containers/kata-containers/issues/10109",
    ),
    case(
        r"Error: INSTALLATION FAILED: failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/bitnamicharts/drupal/manifests/sha256:9538e0c4fd55aa75d75f6846bc99b1ecddad3a4ffbb7cbf8d0fc8578a5c2b02f: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
        "RATE_LIMITED",
        &[],
        "https://github.com/docker/docs/issues/21908",
    ),
    // A blob store behind a firewall, next to an anonymous-token 401 from
    // the other node: the network failure decides.
    case(
        r#"Failed to pull image "myregistry.azurecr.io/myimage:16102023": [rpc error: code = Unknown desc = failed to pull and unpack image "myregistry.azurecr.io/myimage:16102023": failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://weumanaged15.blob.core.windows.net/xxxx/docker/registry/v2/blobs/sha256/fd/xxxx/data?se=2023-10-19T13%3A03%3A46Z&sig=xxxx%3D&sp=r&spr=https&sr=b&sv=2018-03-28&regid=xxxx": EOF, rpc error: code = Unknown desc = failed to pull and unpack image "myregistry.azurecr.io/myimage:16102023": failed to resolve reference "myregistry.azurecr.io/myimage:16102023": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://myregistry.azurecr.io/oauth2/token?scope=repository%3Amyimage%3Apull&service=myregistry.azurecr.io: 401 Unauthorized]"#,
        "BLOB_UNREACHABLE",
        &[],
        "https://github.com/MicrosoftDocs/azure-docs/pull/116188",
    ),
    case(
        r#"rpc error: code = Unknown desc = failed to pull and unpack image "myregistry.azurecr.io/myimage:16102023": failed to resolve reference "myregistry.azurecr.io/myimage:16102023": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://myregistry.azurecr.io/oauth2/token?scope=repository%3Amyimage%3Apull&service=myregistry.azurecr.io: 401 Unauthorized"#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND"],
        "https://github.com/MicrosoftDocs/azure-docs/pull/116188 (the second error of the same event)",
    ),
    case(
        r#"FATA[0000] pulling image failed: rpc error: code = Unknown desc = failed to pull and unpack image "vlab048011.dom047600.lab:5000/myjenkins:latest": failed to resolve reference "vlab048011.dom047600.lab:5000/myjenkins:latest": failed to do request: Head https://vlab048011.dom047600.lab:5000/v2/myjenkins/manifests/latest: http: server gave HTTP response to HTTPS client"#,
        "TLS_HANDSHAKE",
        &[],
        "https://github.com/containerd/containerd/issues/4938",
    ),
    case(
        r#"failed to do request: Head "https://registry-1.docker.io/v2/library/docker/manifests/24-dind": dial tcp 162.125.2.3:443: i/o timeout"#,
        "TCP_TIMEOUT",
        &[],
        "https://github.com/dagger/dagger/issues/8705",
    ),
    case(
        r#"Pull image "820537372947.dkr.ecr.us-east-1.amazonaws.com/cats:v2" failed: rpc error: code = Unknown desc = failed to pull and unpack image "820537372947.dkr.ecr.us-east-1.amazonaws.com/cats:v2": failed to resolve reference "820537372947.dkr.ecr.us-east-1.amazonaws.com/cats:v2": unexpected status code [manifests v2]: 401 Unauthorized"#,
        "AUTH_REQUIRED",
        &["AUTH_REJECTED", "IMAGE_NOT_FOUND"],
        "https://github.com/kubernetes/kubernetes/issues/102750",
    ),
    case(
        r"failed to solve: fsfe/reuse:6: failed to resolve source metadata for docker.io/fsfe/reuse:6: failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://auth.docker.io/token?scope=repository%3Afsfe%2Freuse%3Apull&service=registry.docker.io: 401 Unauthorized: incorrect username or password",
        "AUTH_REJECTED",
        &[],
        "https://github.com/fsfe/reuse-action/issues/50",
    ),
    case(
        r#""proxy.replicated.com/proxy/gitpod/busybox:1": failed to resolve reference "proxy.replicated.com/proxy/gitpod/busybox:1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"#,
        "AUTH_REJECTED",
        &[],
        "https://github.com/gitpod-io/gitpod/issues/14837",
    ),
    case(
        r"#7 ERROR: failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://auth.docker.io/token: 502 Bad Gateway",
        "AUTH_ERROR",
        &[],
        "https://github.com/oppia/oppia/issues/21199",
    ),
    // --- CRI-O (containers/image) through the kubelet ---------------------
    case(
        r#""PullImage from image service failed" err="rpc error: code = Unknown desc = initializing source docker://quay.io/okd/scos-content@sha256:637140d5811ea5f3ebbf1f0185ef4e98085236684337f2aabc4fa6bbffe1b305: reading manifest sha256:637140d5811ea5f3ebbf1f0185ef4e98085236684337f2aabc4fa6bbffe1b305 in quay.io/okd/scos-content: manifest unknown""#,
        "IMAGE_NOT_FOUND",
        &[],
        "https://github.com/okd-project/okd/issues/2194",
    ),
    case(
        r#"Failed to pull image "registry.svc.ci.openshift.org/origin/4.3-2019-10-29-062458@sha256:8184092486c345c2b757f366f146218a115e5d7a92b481cb76257358653ec852": rpc error: code = Unknown desc = Error reading manifest sha256:8184092486c345c2b757f366f146218a115e5d7a92b481cb76257358653ec852 in registry.svc.ci.openshift.org/origin/4.3-2019-10-29-062458: manifest unknown: manifest unknown"#,
        "IMAGE_NOT_FOUND",
        &[],
        "https://github.com/raffaelespazzoli/credscontroller/issues/10",
    ),
    case(
        r#"[ERROR ImagePull]: failed to pull image registry.opensuse.org/kubic/kube-apiserver:v1.18.0: output: time=\"2020-05-05T22:03:18-04:00\" level=fatal msg=\"pulling image failed: rpc error: code = Unknown desc = Error choosing image instance: no image found in manifest list for architecture amd64, OS linux\""#,
        "PLATFORM_MISSING",
        &[],
        "https://github.com/thkukuk/kubic-control/issues/17",
    ),
    // --- Docker (dockershim and cri-dockerd) through the kubelet ----------
    case(
        r#"Failed to pull image "rmeuser-auth:latest": rpc error: code = Unknown desc = Error response from daemon: pull access denied for rmeuser-auth, repository does not exist or may require 'docker login'"#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND"],
        "https://github.com/kubernetes/website/issues/14257",
    ),
    case(
        r#"Failed to pull image "suedostcargo-web": Error response from daemon: pull access denied for suedostcargo-web, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND"],
        "https://github.com/kubernetes/minikube/issues/20613",
    ),
    case(
        r#"Failed to pull image "docker.io/stevenacoffman/node-echo-server": rpc error: code = Unknown desc = Error response from daemon: pull access denied for stevenacoffman/node-echo-server, repository does not exist or may require 'docker login'"#,
        "AUTH_REQUIRED",
        &["IMAGE_NOT_FOUND"],
        "https://github.com/StevenACoffman/logsink/issues/4",
    ),
    case(
        r#"Failed to pull image "selenium/hub": rpc error: code = Unknown desc = Error response from daemon: Get "https://registry-1.docker.io/v2/": x509: certificate signed by unknown authority"#,
        "TLS_UNTRUSTED",
        &[],
        "https://github.com/kubernetes/minikube/issues/12944",
    ),
    case(
        r#"Failed to pull image "10.78.0.228:5000/monitorms": Error response from daemon: {"message":"Get https://10.78.0.228:5000/v1/_ping: x509: certificate signed by unknown authority"}"#,
        "TLS_UNTRUSTED",
        &[],
        "https://github.com/kubernetes/kubernetes/issues/43924",
    ),
    case(
        r#"Failed to pull image "kong-docker-kubernetes-ingress-controller.bintray.io/kong-ingress-controller:0.9.0": rpc error: code = Unknown desc = Error response from daemon: Get https://kong-docker-kubernetes-ingress-controller.bintray.io/v2/: x509: certificate has expired or is not yet valid"#,
        "TLS_EXPIRED",
        &[],
        "https://github.com/Kong/charts/issues/257",
    ),
    case(
        r#"Failed to pull image "lachlanevenson/k8s-kubectl:v1.18.20": rpc error: code = Unknown desc = Error response from daemon: manifest for lachlanevenson/k8s-kubectl:v1.18.20 not found: manifest unknown: manifest unknown"#,
        "IMAGE_NOT_FOUND",
        &[],
        "https://github.com/lachie83/k8s-kubectl/issues/157",
    ),
    case(
        r#"Failed to pull image "quay.io/opentelemetry/opentelemetry-operator:0.23.0": rpc error: code = Unknown desc = Error response from daemon: manifest for quay.io/opentelemetry/opentelemetry-operator:0.23.0 not found: manifest unknown: manifest unknown"#,
        "IMAGE_NOT_FOUND",
        &[],
        "https://github.com/open-telemetry/opentelemetry-operator/issues/239",
    ),
    case(
        "ImagePullBackOff: Back-off pulling image \"drainnode/leader:v1.0-rc9\"\nErrImagePull: rpc error: code = Unknown desc = Error response from daemon: manifest for drainnode/leader:v1.0-rc9 not found: manifest unknown: manifest unknown",
        "IMAGE_NOT_FOUND",
        &[],
        "https://github.com/mattmattox/drain-node-on-crash/issues/7",
    ),
    case(
        r#"Failed to pull image "docker.io/library/busybox:1.29": rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"#,
        "RATE_LIMITED",
        &[],
        "https://github.com/ceph/ceph-csi/issues/2029",
    ),
    case(
        r#"Failed to pull image "gcr.io/google_containers/kube-ui:v2" from pod "kube-ui-v2-ojp6m_kube-system" and container "kube-ui": Error: Status 429 trying to pull repository google_containers/kube-ui"#,
        "RATE_LIMITED",
        &[],
        "https://github.com/kubernetes/kubernetes/issues/9534",
    ),
    case(
        r#"Failed to pull image "<acrname>.azurecr.io/<imagae-name>:02b6d84d635c3d9ff4182ad1c50d16364695d3d5": rpc error: code Unknown desc Error response from daemon: Head "https://<acrname>.azurecr.io/v2/<image-name>/manifests/02b6d84d635c3d9ff4182ad1c50d16364695d3d5": denied: client with IP 'x.x.x.x' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."#,
        "IP_NOT_ALLOWED",
        &[],
        "https://github.com/Azure/acr/issues/633",
    ),
    case(
        r#"error response from daemon: Get "https://.azurecr.io/v2/": denied: {"errors":[{"code":"DENIED","message":"client with IP \u0027172.214.169.102\u0027 is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}"#,
        "IP_NOT_ALLOWED",
        &[],
        "https://github.com/docker/build-push-action/issues/1214",
    ),
    // An IP allow-list in front of a registry mirror, answering HTML.
    case(
        r#"Error response from daemon: error parsing HTTP 403 response body: invalid character '<' looking for beginning of value: "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body bgcolor=\"white\">\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx/1.14.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n""#,
        "ACCESS_DENIED",
        &["IP_NOT_ALLOWED"],
        "https://github.com/Azure/container-service-for-azure-china/issues/61",
    ),
    case(
        r#""PullImage from image service failed" err="rpc error: code = Unknown desc = Error response from daemon: Head \"https://861807767978.dkr.ecr.us-east-2.amazonaws.com/v2/ecr-test/manifests/latest\": no basic auth credentials" image="861807767978.dkr.ecr.us-east-2.amazonaws.com/ecr-test:latest""#,
        "AUTH_REQUIRED",
        &[],
        "https://github.com/kubernetes/kubernetes/issues/112842",
    ),
    case(
        r"Error response from daemon: Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io on 192.168.65.1:53: read udp 192.168.65.2:45941->192.168.65.1:53: i/o timeout",
        "DNS_TIMEOUT",
        &[],
        "https://github.com/docker/for-mac/issues/2152",
    ),
    case(
        r"Error response from daemon: Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io on 192.168.65.1:53: server misbehaving",
        "DNS_SERVFAIL",
        &[],
        "https://github.com/docker/for-mac/issues/1317",
    ),
    case(
        r"Error while pulling image: Get https://index.docker.io/v1/repositories/kitematic/hello-world-nginx/images: dial tcp: lookup index.docker.io on [::1]:53: read udp [::1]:40882->[::1]:53: read: connection refused",
        "DNS_TIMEOUT",
        &[],
        "https://github.com/docker-archive-public/docker.kitematic/issues/2255",
    ),
    case(
        r"FATA[0020] Error response from daemon: v1 ping attempt failed with error: Get https://quay.io/v1/_ping: dial tcp: i/o timeout.",
        "DNS_TIMEOUT",
        &[],
        "https://github.com/moby/moby/issues/13337",
    ),
    // A timeout on the token realm, before the registry answered.
    case(
        r"Error response from daemon: Get https://registry-1.docker.io/v2/library/fedora/manifests/latest: Get https://auth.docker.io/token?scope=repository%3Alibrary%2Ffedora%3Apull&service=registry.docker.io: net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
        "AUTH_SERVER_UNREACHABLE",
        &[],
        "https://github.com/docker/hub-feedback/issues/1282",
    ),
    case(
        r"Error response from daemon: Get https://registry-1.docker.io/v2/: proxyconnect tcp: dial tcp 127.0.0.1:8080: connect: connection refused",
        "PROXY_UNREACHABLE",
        &[],
        "https://github.com/docker/for-win/issues/9400",
    ),
    case(
        r"(HTTP code 500) server error - Get https://registry-1.docker.io/v2/: proxyconnect tcp: dial tcp 127.0.0.1:3128: getsockopt: connection refused",
        "PROXY_UNREACHABLE",
        &[],
        "https://github.com/docker-archive-public/docker.kitematic/issues/3573",
    ),
    // Layer data on a CDN or object store: the blob stage's code.
    case(
        r#"Failed to pull image "errm/cheese:cheddar": rpc error: code = Unknown desc = error pulling image configuration: Get https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/05/05cbb2fce885009ab9540ecef52d54ffd5829e6a2700058258e36f8762267f9b/data?<........>: x509: certificate has expired or is not yet valid"#,
        "BLOB_UNREACHABLE",
        &[],
        "https://github.com/traefik/traefik/issues/4423",
    ),
    case(
        r"error pulling image configuration: Get https://storage.googleapis.com/artifacts.kuar-demo.appspot.com/containers/images/sha256:a92da648d493e06a2b4e63cb478c77b355800044054e262c561e65f343e959c8: x509: certificate signed by unknown authority",
        "BLOB_UNREACHABLE",
        &[],
        "https://github.com/kubernetes-up-and-running/kuard/issues/16",
    ),
    case(
        r"ERROR: error pulling image configuration: Get https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/8a/8aeee5b96e26491e7ed2edeb4bea8256e3b358fed3736e2cd45afea9c5ab8f41/data?verify=1687253796-nQYjBEsG4YpGNIpkngF%2FsteLIcc%3D: dial tcp 104.18.122.25:443: i/o timeout",
        "BLOB_UNREACHABLE",
        &[],
        "https://github.com/gurock/testrail-docker/issues/46",
    ),
    case(
        r"[ERROR ImagePull]: failed to pull image k8s.gcr.io/kube-apiserver:v1.13.3: output: Error response from daemon: Get https://k8s.gcr.io/v2/: x509: certificate signed by unknown authority",
        "TLS_UNTRUSTED",
        &[],
        "https://github.com/kubernetes/minikube/issues/3721",
    ),
    // --- The kubelet itself -----------------------------------------------
    case(
        r#"Failed to apply default image tag "None:None": couldn't parse image reference "None:None": invalid reference format: repository name must be lowercase"#,
        "INVALID_REFERENCE",
        &[],
        "https://github.com/jupyterhub/zero-to-jupyterhub-k8s/issues/472",
    ),
    case(
        r#"Failed to apply default image tag "https://harbor.k8s.mybank/release/name:1.1.0": couldn't parse image reference "https://harbor.k8s.mybank/release/name:1.1.0": invalid reference format."#,
        "INVALID_REFERENCE",
        &[],
        "https://github.com/jupyterhub/zero-to-jupyterhub-k8s/issues/472",
    ),
    case(
        r#"Warning  InspectFailed  10s (x3 over 24s)  kubelet, minikube  Failed to apply default image tag "/cloudfoundry/75f129a0-d8c9-415a-9a8a-f514002f1459:a28a05709747165a9c25c14f1b77d5c4db260d48": couldn't parse image reference "/cloudfoundry/75f129a0-d8c9-415a-9a8a-f514002f1459:a28a05709747165a9c25c14f1b77d5c4db260d48": invalid reference format"#,
        "INVALID_REFERENCE",
        &[],
        "https://github.com/cloudfoundry-incubator/kubecf/issues/63",
    ),
    case(
        r#"Failed to apply default image tag "gcr.io/balmy-ground-195100/dark-gcp:gcr.io/balmy-ground-195100/dark-gcp:8e3213495373": couldn't parse image reference "gcr.io/balmy-ground-195100/dark-gcp:gcr.io/balmy-ground-195100/dark-gcp:8e3213495373": invalid reference format: InvalidImageName"#,
        "INVALID_REFERENCE",
        &[],
        "https://github.com/darklang/dark/pull/454",
    ),
    case(
        r#"Failed to apply default image tag "nginx:": couldn't parse image name "nginx:": invalid reference format"#,
        "INVALID_REFERENCE",
        &[],
        "kubernetes pkg/kubelet/images/image_manager.go (\"Failed to apply default image tag %q: %v\") with pkg/util/parsers/parsers.go (\"couldn't parse image name %q: %v\") and distribution/reference ErrReferenceInvalidFormat",
    ),
    case(
        r#"{"ts":1748003206479.928,"caller":"plugin/plugin.go:440","msg":"Failed getting credential from external registry credential provider: error execing credential provider plugin ecr-credential-provider for image 097676021280.dkr.ecr.eu-central-1.amazonaws.com/backend-daemon-import: fork/exec /usr/local/lib/kubelet/credentialproviders/ecr-credential-provider: no such file or directory: "}"#,
        "CREDENTIAL_PROVIDER_FAILED",
        &[],
        "https://github.com/siderolabs/talos/issues/11086",
    ),
    // A provider timing out is the provider's failure, not the network's.
    case(
        r#"{"ts":1727300113642.7864,"caller":"plugin/plugin.go:235","msg":"Failed getting credential from external registry credential provider: error execing credential provider plugin ecr-credential-provider for image XXX.dkr.ecr.us-west-2.amazonaws.com/cilium/cilium: context deadline exceeded: I0925 21:34:13.657531    6329 main.go:129] Getting creds for private image XXX.dkr.ecr.us-west-2.amazonaws.com/cilium/cilium"}"#,
        "CREDENTIAL_PROVIDER_FAILED",
        &[],
        "https://github.com/kubernetes/cloud-provider-aws/issues/1029",
    ),
    // --- Composed from upstream format strings ----------------------------
    case(
        r#"Back-off pulling image "registry.example/app:v2": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/app:v2": failed to resolve reference "registry.example/app:v2": registry.example/app:v2: not found"#,
        "IMAGE_NOT_FOUND",
        &[],
        "kubernetes pkg/kubelet/images/image_manager.go (prevPullErrMsg, \"%s: %s\" after \"Back-off pulling image %q\", kubernetes/kubernetes#127918); containerd client/pull.go and core/remotes/docker/resolver.go (\"%s: %w\" with errdefs.ErrNotFound)",
    ),
    case(
        r#"Failed to pull image "registry.example/app:1": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/app:1": failed to resolve reference "registry.example/app:1": no resolve hosts: not found"#,
        "CONFIG_BLOCKED",
        &[],
        "containerd core/remotes/docker/resolver.go (\"no resolve hosts: %w\" with errdefs.ErrNotFound)",
    ),
    case(
        r"rpc error: code = Unknown desc = registry docker.io is blocked in /etc/containers/registries.conf or /etc/containers/registries.conf.d",
        "CONFIG_BLOCKED",
        &[],
        "containers/image docker/docker_client.go (\"registry %s is blocked in %s or %s\")",
    ),
    case(
        r#"Failed to pull image "myreg.azurecr.io/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "myreg.azurecr.io/app:1": failed to resolve reference "myreg.azurecr.io/app:1": unexpected status from HEAD request to https://myreg.azurecr.io/v2/app/manifests/1: 403 Forbidden"#,
        "ACCESS_DENIED",
        &["IP_NOT_ALLOWED"],
        "containerd core/remotes/errors/errors.go (\"unexpected status from %s request to %s: %s\") via resolver.go",
    ),
    case(
        r#"Failed to pull image "registry.example/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "registry.example/app:1": failed to resolve reference "registry.example/app:1": unexpected status from HEAD request to https://registry.example/v2/app/manifests/1: 503 Service Unavailable"#,
        "REGISTRY_ERROR",
        &[],
        "containerd core/remotes/errors/errors.go via core/remotes/docker/resolver.go",
    ),
    case(
        r#"Failed to pull image "registry.example:5000/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "registry.example:5000/app:1": failed to resolve reference "registry.example:5000/app:1": failed to do request: Head "https://registry.example:5000/v2/app/manifests/1": tls: first record does not look like a TLS handshake"#,
        "TLS_HANDSHAKE",
        &[],
        "Go crypto/tls conn.go (RecordHeaderError) via containerd core/remotes/docker/resolver.go (\"failed to do request: %w\")",
    ),
    case(
        r#"Failed to pull image "10.0.0.5:5000/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "10.0.0.5:5000/app:1": failed to resolve reference "10.0.0.5:5000/app:1": failed to do request: Head "https://10.0.0.5:5000/v2/app/manifests/1": tls: failed to verify certificate: x509: cannot validate certificate for 10.0.0.5 because it doesn't contain any IP SANs"#,
        "TLS_NAME_MISMATCH",
        &[],
        "Go crypto/x509 verify.go (HostnameError for an IP) and crypto/tls (\"tls: failed to verify certificate: %w\")",
    ),
    case(
        r#"Failed to pull image "nginx:1.25": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginx:1.25": failed to resolve reference "docker.io/library/nginx:1.25": failed to do request: Head "https://registry-1.docker.io/v2/library/nginx/manifests/1.25": Proxy Authentication Required"#,
        "PROXY_REJECTED",
        &[],
        "Go net/http transport.go (a CONNECT answered 407 fails with the status text alone)",
    ),
    case(
        r#"Failed to pull image "registry.example/app:1": image pull failed for registry.example/app:1 because the registry is unavailable: pinging container registry registry.example: Get "https://registry.example/v2/": dial tcp 10.1.2.3:443: connect: connection refused"#,
        "TCP_REFUSED",
        &[],
        "kubernetes pkg/kubelet/images/image_manager.go (evalCRIPullErr) over cri-o's RegistryUnavailable and containers/image docker/docker_client.go (\"pinging container registry %s: %w\")",
    ),
    // --- Not failures, or no cause ----------------------------------------
    Case {
        message: r#"Successfully pulled image "nginx:1.25" in 2.513s (2.513s including waiting). Image size: 72223946 bytes."#,
        code: None,
        also: &[],
        source: "kubernetes pkg/kubelet/images/image_manager.go (PulledImage event)",
    },
    Case {
        message: r#"Container image "nginx:1.25" already present on machine"#,
        code: None,
        also: &[],
        source: "kubernetes pkg/kubelet/images/image_manager.go (PulledImage event)",
    },
    Case {
        message: "",
        code: None,
        also: &[],
        source: "an empty message",
    },
    Case {
        message: "the quick brown fox jumps over the lazy dog",
        code: None,
        also: &[],
        source: "random text",
    },
    Case {
        message: r#"Back-off pulling image "selenium/hub""#,
        code: None,
        also: &[],
        source: "https://github.com/kubernetes/minikube/issues/12944 (the BackOff event alone)",
    },
    // --- containerd 1.6.20 (Debian bookworm) in the bed ------------------
    // Real output of `ctr images pull --hosts-dir` against the bed's faults
    // (tests/runtime.rs, the scenario named in the source), wrapped as the
    // kubelet's event wraps a CRI pull error.
    case(
        "Failed to pull image \"registry.test/single:nosuchtag\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/single:nosuchtag\": failed to resolve reference \"registry.test/single:nosuchtag\": registry.test/single:nosuchtag: not found",
        "IMAGE_NOT_FOUND",
        &["NOT_A_REGISTRY"],
        "containerd 1.6.20 in the bed: missing tag",
    ),
    case(
        "Failed to pull image \"notregistry.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"notregistry.test/single:1\": failed to resolve reference \"notregistry.test/single:1\": notregistry.test/single:1: not found",
        "IMAGE_NOT_FOUND",
        &["NOT_A_REGISTRY"],
        "containerd 1.6.20 in the bed: not a registry",
    ),
    case(
        "Failed to pull image \"registry.test/armonly:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/armonly:1\": no match for platform in manifest sha256:9de021f686e3c741e6dadf63d6531ef178539c34581dbce0fbd20e86085c57e9: not found",
        "PLATFORM_MISSING",
        &[],
        "containerd 1.6.20 in the bed: platform missing",
    ),
    case(
        "Failed to pull image \"nosuch.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"nosuch.test/single:1\": failed to resolve reference \"nosuch.test/single:1\": failed to do request: Head \"https://nosuch.test/v2/single/manifests/1\": dial tcp: lookup nosuch.test on 10.77.0.2:53: no such host",
        "DNS_NXDOMAIN",
        &["DNS_NO_ADDRESS"],
        "containerd 1.6.20 in the bed: dns nxdomain, dns no address",
    ),
    case(
        "Failed to pull image \"servfail.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"servfail.test/single:1\": failed to resolve reference \"servfail.test/single:1\": failed to do request: Head \"https://servfail.test/v2/single/manifests/1\": dial tcp: lookup servfail.test on 10.77.0.2:53: server misbehaving",
        "DNS_SERVFAIL",
        &[],
        "containerd 1.6.20 in the bed: dns servfail",
    ),
    case(
        "Failed to pull image \"registry.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/single:1\": failed to resolve reference \"registry.test/single:1\": failed to do request: Head \"https://registry.test/v2/single/manifests/1\": dial tcp: lookup registry.test on 10.77.0.3:53: read udp 10.77.0.3:41364->10.77.0.3:53: i/o timeout",
        "DNS_TIMEOUT",
        &[],
        "containerd 1.6.20 in the bed: dns timeout",
    ),
    case(
        "Failed to pull image \"refused.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"refused.test/single:1\": failed to resolve reference \"refused.test/single:1\": failed to do request: Head \"https://refused.test/v2/single/manifests/1\": dial tcp 10.77.0.31:443: connect: connection refused",
        "TCP_REFUSED",
        &[],
        "containerd 1.6.20 in the bed: tcp refused",
    ),
    case(
        "Failed to pull image \"blackhole.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"blackhole.test/single:1\": failed to resolve reference \"blackhole.test/single:1\": failed to do request: Head \"https://blackhole.test/v2/single/manifests/1\": dial tcp 10.77.0.30:443: i/o timeout",
        "TCP_TIMEOUT",
        &[],
        "containerd 1.6.20 in the bed: tcp timeout",
    ),
    case(
        "Failed to pull image \"unreachable.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"unreachable.test/single:1\": failed to resolve reference \"unreachable.test/single:1\": failed to do request: Head \"https://unreachable.test/v2/single/manifests/1\": dial tcp 10.77.1.1:443: connect: no route to host",
        "TCP_UNREACHABLE",
        &[],
        "containerd 1.6.20 in the bed: tcp unreachable",
    ),
    case(
        "Failed to pull image \"expired.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"expired.test/single:1\": failed to resolve reference \"expired.test/single:1\": failed to do request: Head \"https://expired.test/v2/single/manifests/1\": x509: certificate has expired or is not yet valid: current time 2026-12-05T08:24:44Z is after 2026-12-04T08:24:41Z",
        "TLS_EXPIRED",
        &[],
        "containerd 1.6.20 in the bed: tls expired",
    ),
    case(
        "Failed to pull image \"wrongname.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"wrongname.test/single:1\": failed to resolve reference \"wrongname.test/single:1\": failed to do request: Head \"https://wrongname.test/v2/single/manifests/1\": x509: certificate is valid for other.test, not wrongname.test",
        "TLS_NAME_MISMATCH",
        &[],
        "containerd 1.6.20 in the bed: tls wrong name",
    ),
    case(
        "Failed to pull image \"unknownca.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"unknownca.test/single:1\": failed to resolve reference \"unknownca.test/single:1\": failed to do request: Head \"https://unknownca.test/v2/single/manifests/1\": x509: certificate signed by unknown authority",
        "TLS_UNTRUSTED",
        &[],
        "containerd 1.6.20 in the bed: tls unknown ca",
    ),
    case(
        "Failed to pull image \"plainhttp.test:5000/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"plainhttp.test:5000/single:1\": failed to resolve reference \"plainhttp.test:5000/single:1\": failed to do request: Head \"https://plainhttp.test:5000/v2/single/manifests/1\": http: server gave HTTP response to HTTPS client",
        "TLS_HANDSHAKE",
        &[],
        "containerd 1.6.20 in the bed: plain http spoken to as https",
    ),
    case(
        "Failed to pull image \"ratelimit.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"ratelimit.test/single:1\": failed to resolve reference \"ratelimit.test/single:1\": pulling from host ratelimit.test failed with status code [manifests 1]: 429 Too Many Requests",
        "RATE_LIMITED",
        &[],
        "containerd 1.6.20 in the bed: 429",
    ),
    case(
        "Failed to pull image \"unavailable.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"unavailable.test/single:1\": failed to resolve reference \"unavailable.test/single:1\": pulling from host unavailable.test failed with status code [manifests 1]: 503 Service Unavailable",
        "REGISTRY_ERROR",
        &[],
        "containerd 1.6.20 in the bed: 503",
    ),
    case(
        "Failed to pull image \"tokengone.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"tokengone.test/single:1\": failed to resolve reference \"tokengone.test/single:1\": failed to authorize: failed to fetch anonymous token: Get \"https://gone.test/token?scope=repository%3Asingle%3Apull&service=tokengone.test\": dial tcp: lookup gone.test on 10.77.0.2:53: no such host",
        "AUTH_SERVER_UNREACHABLE",
        &[],
        "containerd 1.6.20 in the bed: token realm gone",
    ),
    case(
        "Failed to pull image \"tokenerror.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"tokenerror.test/single:1\": failed to resolve reference \"tokenerror.test/single:1\": failed to authorize: failed to fetch anonymous token: unexpected status: 500 Internal Server Error",
        "AUTH_ERROR",
        &[],
        "containerd 1.6.20 in the bed: token realm 500",
    ),
    case(
        "Failed to pull image \"tokengarbage.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"tokengarbage.test/single:1\": failed to resolve reference \"tokengarbage.test/single:1\": failed to authorize: failed to fetch oauth token: unable to decode token response: invalid character '<' looking for beginning of value",
        "AUTH_ERROR",
        &[],
        "containerd 1.6.20 in the bed: token realm garbage",
    ),
    case(
        "Failed to pull image \"redirect.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"redirect.test/single:1\": failed to copy: httpReadSeeker: failed open: failed to do request: Get \"https://refused.test/storage/sha256:586b7a4b2dd0cdda6f6009c005b1250482e9f7599270ba87dfcc2a894a729a3d?sig=rpt\": dial tcp 10.77.0.31:443: connect: connection refused",
        "BLOB_UNREACHABLE",
        &[],
        "containerd 1.6.20 in the bed: blob redirected to a refused host",
    ),
    case(
        "Failed to pull image \"acrfw.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"acrfw.test/single:1\": failed to resolve reference \"acrfw.test/single:1\": pulling from host acrfw.test failed with status code [manifests 1]: 403 Forbidden",
        "ACCESS_DENIED",
        &["IP_NOT_ALLOWED"],
        "containerd 1.6.20 in the bed: acr firewall",
    ),
    case(
        "Failed to pull image \"huge.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"huge.test/single:1\": failed to resolve reference \"huge.test/single:1\": rejecting 104857600 byte manifest for huge.test/single:1: not found",
        "REGISTRY_ERROR",
        &[],
        "containerd 1.6.20 in the bed: oversized manifest",
    ),
    case(
        "Failed to pull image \"norealm.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"norealm.test/single:1\": failed to resolve reference \"norealm.test/single:1\": no realm specified for token auth challenge",
        "AUTH_ERROR",
        &[],
        "containerd 1.6.20 in the bed: bearer challenge without realm",
    ),
    case(
        "Failed to pull image \"basic.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"basic.test/single:1\": failed to resolve reference \"basic.test/single:1\": pulling from host basic.test failed with status code [manifests 1]: 401 Unauthorized",
        "AUTH_REQUIRED",
        &["AUTH_REJECTED"],
        "containerd 1.6.20 in the bed: basic, anonymous; basic, wrong password",
    ),
    case(
        "Failed to pull image \"token.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"token.test/single:1\": failed to resolve reference \"token.test/single:1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
        "AUTH_REQUIRED",
        &["ACCESS_DENIED", "IMAGE_NOT_FOUND"],
        "containerd 1.6.20 in the bed: token, anonymous; token, no-pull user",
    ),
    case(
        "Failed to pull image \"token.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"token.test/single:1\": failed to resolve reference \"token.test/single:1\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized",
        "AUTH_REJECTED",
        &[],
        "containerd 1.6.20 in the bed: token, wrong password",
    ),
    case(
        "Failed to pull image \"registry.test/single:nosuchtag\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/single:nosuchtag\": failed to resolve reference \"registry.test/single:nosuchtag\": failed to do request: Head \"https://refused.test/v2/single/manifests/nosuchtag?ns=registry.test\": dial tcp 10.77.0.31:443: connect: connection refused",
        "TCP_REFUSED",
        &[],
        "containerd 1.6.20 in the bed: dead mirror, upstream 404: the mirror's error",
    ),
    case(
        "Failed to pull image \"registry.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/single:1\": failed to resolve reference \"registry.test/single:1\": failed to do request: Head \"https://registry.test/v2/single/manifests/1\": proxyconnect tcp: dial tcp 10.77.0.5:3129: connect: connection refused",
        "PROXY_UNREACHABLE",
        &[],
        "containerd 1.6.20 in the bed: dead proxy",
    ),
    case(
        "Failed to pull image \"registry.test:5000/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test:5000/single:1\": failed to resolve reference \"registry.test:5000/single:1\": failed to do request: Head \"https://registry.test:5000/v2/single/manifests/1\": Access violation",
        "PROXY_REJECTED",
        &[],
        "containerd 1.6.20 in the bed: proxy refuses the port",
    ),
    case(
        "Failed to pull image \"registry.test/single:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.test/single:1\": failed to extract layer sha256:084b0c9261b4058def190e477bea6c6763baea1fe06a94184af0285634ae7dd4: mount callback failed on /tmp/rpt-24188-0/containerd-0/root/tmpmounts/containerd-mount743627682: write /tmp/rpt-24188-0/containerd-0/root/tmpmounts/containerd-mount743627682/hello-amd64.txt: no space left on device: unknown",
        "NODE_DISK_FULL",
        &[],
        "containerd 1.6.20 in the bed: a full disk (a_full_disk_is_the_node_not_the_registry)",
    ),
    // --- containerd 1.7 / 2.x, from issue threads --------------------------
    case(
        r#"level=error msg="cancel pulling image private_registery.mydomain/csg/idrac_to_kafka:20250429T0012 because of no progress in 1m0s""#,
        "PULL_PROGRESS_TIMEOUT",
        &[],
        "https://github.com/kubernetes/kubernetes/issues/131521 (containerd's log)",
    ),
    case(
        r#"level=error msg="PullImage \"private_registery.mydomain/csg/idrac_to_kafka:20250429T0012\" failed" error="rpc error: code = Canceled desc = failed to pull and unpack image \"private_registery.mydomain/csg/idrac_to_kafka:20250429T0012\": context canceled""#,
        "PULL_PROGRESS_TIMEOUT",
        &["BLOB_UNREACHABLE"],
        "https://github.com/kubernetes/kubernetes/issues/131521 (the PullImage error of the same pull)",
    ),
    case(
        r#"failed to extract layer (application/vnd.oci.image.layer.v1.tar+gzip sha256:0465d356eb1de54a583b42b392bd68ff4c6d0494ecaeb5a8b89c1001334829bf) to overlayfs as "extract-260106421-WDeK sha256:dc6b5af8281abf684b3e18b349680a24b4f020bd3ee8c7254ddc3b128ec21162": write /var/lib/desktop-containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/105/fs/home/pentester/.cache/go-build/27/27085a9d2a1990418db3f6435abc47c29c9144d86f99186ced0874f54616bc5e-d: no space left on device"#,
        "NODE_DISK_FULL",
        &[],
        "https://github.com/usestrix/strix/issues/483 (containerd 2.x unpacker, Docker Desktop 4.72)",
    ),
    case(
        r"ctr: failed to extract layer sha256:3f09a2bf43387901722db74487ef6ca4e4d1dd5c7d682e4856118684f1c96b91: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/26/fs/opt/zing/zing-jdk.x.y.z.tar.gz: no space left on device: unknown",
        "NODE_DISK_FULL",
        &[],
        "https://github.com/kubernetes-sigs/kind/issues/1413",
    ),
];

#[test]
fn real_messages_explain_to_their_codes() {
    let mut failures = Vec::new();
    let mut real = 0;
    for c in CASES {
        let e = explain(c.message);
        let got = e.code.map(Code::as_str);
        if got != c.code {
            failures.push(format!(
                "{}\n  message: {}\n  expected {:?}, got {got:?} (matched {:?})",
                c.source, c.message, c.code, e.matched
            ));
            continue;
        }
        for also in c.also {
            if !e.also_possible.iter().any(|a| a.as_str() == *also) {
                failures.push(format!(
                    "{}: {also} missing from also_possible {:?}",
                    c.source, e.also_possible
                ));
            }
        }
        assert!(!e.hint.is_empty(), "{}: no hint", c.source);
        if let Some(code) = c.code {
            real += 1;
            let matched = e.matched.as_deref().unwrap_or_default();
            assert!(!matched.is_empty(), "{}: nothing matched", c.source);
            assert_eq!(
                e.category.map(regprobe::code::Category::as_str),
                Some(
                    Code::ALL
                        .iter()
                        .find(|k| k.as_str() == code)
                        .unwrap()
                        .category()
                        .as_str()
                )
            );
            assert_eq!(e.exit_status(), e.category.unwrap().exit_status());
        } else {
            assert_eq!((e.category, e.matched.as_deref()), (None, None));
            assert_eq!(e.exit_status(), 1, "{}", c.source);
            assert!(
                e.hint.contains("probe") || e.hint.contains("no failure"),
                "{}",
                e.hint
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(real >= 40, "only {real} real messages with a code");
}

/// The hints name what the message names: the offending part of a bad
/// reference, the refused address, the host to trust, the image to probe.
#[test]
fn hints_name_what_the_message_names() {
    let hint = |m: &str| explain(m).hint;
    let h = hint(
        CASES
            .iter()
            .find(|c| c.message.contains("\"None:None\""))
            .unwrap()
            .message,
    );
    assert!(h.contains("`None` has upper-case letters"), "{h}");
    let h = hint(
        CASES
            .iter()
            .find(|c| c.message.contains("default image tag \"https://"))
            .unwrap()
            .message,
    );
    assert!(
        h.contains("scheme `https://`") && h.contains("`harbor.k8s.mybank/release/name:1.1.0`"),
        "{h}"
    );
    let h = hint(
        r#"Failed to apply default image tag "nginx:": couldn't parse image name "nginx:": invalid reference format"#,
    );
    assert!(h.contains("ends with `:`"), "{h}");
    let h = hint(
        r#"Get "https://reg.example:5000/v2/": dial tcp 10.1.2.3:5000: connect: connection refused"#,
    );
    assert!(h.contains("nothing listens at 10.1.2.3:5000"), "{h}");
    let h = hint(
        r#"failed to do request: Head "https://harbor.example/v2/a/manifests/1": x509: certificate signed by unknown authority"#,
    );
    assert!(h.contains("/etc/containerd/certs.d/harbor.example/"), "{h}");
    let h = hint(
        r#"Get "https://wrongname.test/v2/": x509: certificate is valid for other.test, not wrongname.test"#,
    );
    assert!(h.contains("not valid for wrongname.test"), "{h}");
    let h = hint(
        CASES
            .iter()
            .find(|c| c.message.contains("any IP SANs"))
            .unwrap()
            .message,
    );
    assert!(h.contains("not valid for 10.0.0.5 "), "{h}");
    let e = explain(
        CASES
            .iter()
            .find(|c| c.source.contains("azure-docs"))
            .unwrap()
            .message,
    );
    assert_eq!(e.matched.as_deref(), Some("EOF"));
    assert!(
        e.hint
            .contains("served from weumanaged15.blob.core.windows.net"),
        "{}",
        e.hint
    );
    let e = explain(
        CASES
            .iter()
            .find(|c| c.source.contains("hub-feedback"))
            .unwrap()
            .message,
    );
    assert_eq!(
        e.matched.as_deref(),
        Some("Client.Timeout exceeded while awaiting headers")
    );
    assert!(
        e.hint
            .contains("sends clients to auth.docker.io for a token"),
        "{}",
        e.hint
    );
    let h = hint(CASES[0].message);
    assert!(
        h.contains("probe --image controller:latest --docker-config"),
        "{h}"
    );
    let h = hint(
        r#"Error response from daemon: Head "https://a.azurecr.io/v2/x/manifests/1": denied: client with IP '20.1.2.3' is not allowed access"#,
    );
    assert!(h.contains("--ip-address 20.1.2.3"), "{h}");
    let h = hint(
        CASES
            .iter()
            .find(|c| c.source.contains("siderolabs"))
            .unwrap()
            .message,
    );
    assert!(h.contains("`ecr-credential-provider`"), "{h}");
    let h = hint(r#"Back-off pulling image "reg.example/app:1""#);
    assert!(h.contains("probe --image reg.example/app:1"), "{h}");
}

// --- skopeo against the test bed -------------------------------------------

/// Where the probe and skopeo run for a fault.
#[derive(Clone, Copy)]
enum Node {
    /// The bed's own root.
    Standard,
    /// A root whose resolv.conf names the resolver that never answers.
    SilentDns,
    /// A containerd root whose runtime uses this proxy (`true`: the live one).
    Proxy(bool),
}

/// How the probe's own code must relate to explain's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Agree {
    /// The same code.
    Same,
    /// skopeo's text cannot tell: the probe's code is among `also_possible`.
    Also,
}

struct BedCase {
    image: &'static str,
    /// skopeo `inspect --raw` (the manifest only) or a whole inspect (config blob too).
    raw: bool,
    skopeo: &'static [&'static str],
    probe: &'static [&'static str],
    creds: Option<(&'static str, &'static str)>,
    node: Node,
    code: &'static str,
    agree: Agree,
}

const fn bed(image: &'static str, code: &'static str) -> BedCase {
    BedCase {
        image,
        raw: true,
        skopeo: &[],
        probe: &[],
        creds: None,
        node: Node::Standard,
        code,
        agree: Agree::Same,
    }
}

const WRONG: (&str, &str) = ("alice", "wrong-password");

fn bed_cases() -> Vec<BedCase> {
    vec![
        bed("registry.test/single:nosuchtag", "IMAGE_NOT_FOUND"),
        bed("registry.test/nosuch:1", "IMAGE_NOT_FOUND"),
        BedCase {
            raw: false,
            skopeo: &["--override-os", "linux", "--override-arch", "amd64"],
            probe: &["--platform", "linux/amd64"],
            ..bed("registry.test/armonly:1", "PLATFORM_MISSING")
        },
        bed("plainhttp.test:5000/single:1", "TLS_HANDSHAKE"),
        bed("basic.test/single:1", "AUTH_REQUIRED"),
        BedCase {
            creds: Some(WRONG),
            agree: Agree::Also,
            ..bed("basic.test/single:1", "AUTH_REQUIRED")
        },
        bed("token.test/single:1", "AUTH_REQUIRED"),
        BedCase {
            creds: Some(NO_PULL),
            agree: Agree::Also,
            ..bed("token.test/single:1", "AUTH_REQUIRED")
        },
        BedCase {
            creds: Some(WRONG),
            ..bed("token.test/single:1", "AUTH_REJECTED")
        },
        BedCase {
            creds: Some(PULLER),
            ..bed("tokengone.test/single:1", "AUTH_SERVER_UNREACHABLE")
        },
        bed("tokenerror.test/single:1", "AUTH_ERROR"),
        BedCase {
            creds: Some(PULLER),
            ..bed("tokengarbage.test/single:1", "AUTH_ERROR")
        },
        bed("expired.test/single:1", "TLS_EXPIRED"),
        bed("wrongname.test/single:1", "TLS_NAME_MISMATCH"),
        bed("unknownca.test/single:1", "TLS_UNTRUSTED"),
        bed("ratelimit.test/single:1", "RATE_LIMITED"),
        bed("unavailable.test/single:1", "REGISTRY_ERROR"),
        bed("notregistry.test/single:1", "NOT_A_REGISTRY"),
        BedCase {
            raw: false,
            ..bed("redirect.test/single:1", "BLOB_UNREACHABLE")
        },
        bed("blackhole.test/single:1", "TCP_TIMEOUT"),
        bed("refused.test/single:1", "TCP_REFUSED"),
        bed("unreachable.test/single:1", "TCP_UNREACHABLE"),
        bed("nosuch.test/single:1", "DNS_NXDOMAIN"),
        BedCase {
            agree: Agree::Also,
            ..bed("noaddr.test/single:1", "DNS_NXDOMAIN")
        },
        bed("servfail.test/single:1", "DNS_SERVFAIL"),
        BedCase {
            node: Node::SilentDns,
            ..bed("registry.test/single:1", "DNS_TIMEOUT")
        },
        BedCase {
            node: Node::Proxy(false),
            ..bed("registry.test/single:1", "PROXY_UNREACHABLE")
        },
        BedCase {
            node: Node::Proxy(true),
            ..bed("registry.test:5000/single:1", "PROXY_REJECTED")
        },
    ]
}

/// skopeo's error (stderr) for `c`, as containers/image (CRI-O's library) prints it.
fn skopeo_error(w: &World, root: &support::NodeRoot, c: &BedCase) -> String {
    let cert_dir = w.cert_dir();
    let mut args: Vec<String> = ["--command-timeout", "5s", "inspect", "--retry-times", "0"]
        .map(str::to_owned)
        .to_vec();
    args.push("--cert-dir".into());
    args.push(cert_dir.to_str().expect("utf-8 path").to_owned());
    if c.raw {
        args.push("--raw".into());
    }
    args.extend(c.skopeo.iter().map(|s| (*s).to_owned()));
    if let Some((user, password)) = c.creds {
        args.push("--creds".into());
        args.push(format!("{user}:{password}"));
    }
    args.push(format!("docker://{}", c.image));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = match c.node {
        Node::SilentDns => w.exec_on(root.path(), "skopeo", &args),
        Node::Proxy(live) => {
            let proxy = if live {
                w.proxy_url()
            } else {
                w.dead_proxy_url()
            };
            w.command("skopeo")
                .args(&args)
                .env("HTTPS_PROXY", proxy)
                .output()
                .expect("run skopeo")
        }
        Node::Standard => w.exec("skopeo", &args),
    };
    assert!(!out.status.success(), "skopeo pulled {}", c.image);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The node root a case runs on.
fn node_root(w: &World, node: Node) -> support::NodeRoot {
    let root = w.new_root();
    match node {
        Node::Standard => {}
        Node::SilentDns => {
            root.nameserver(SILENT_DNS_IP);
        }
        Node::Proxy(live) => {
            let proxy = if live {
                w.proxy_url()
            } else {
                w.dead_proxy_url()
            };
            root.write(
                "etc/containerd/config.toml",
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
            );
            root.write("run/containerd/containerd.sock", "");
            root.write(
                "etc/systemd/system/containerd.service.d/http-proxy.conf",
                &format!("[Service]\nEnvironment=\"HTTPS_PROXY={proxy}\" \"NO_PROXY=localhost\"\n"),
            );
        }
    }
    root
}

/// For every fault of the bed: skopeo's real error text explains to the
/// code the probe itself gives for that fault (or, where skopeo's text
/// cannot tell, the probe's code is among `also_possible`).
#[test]
fn skopeo_errors_explain_to_what_the_probe_sees() {
    if !support::require(&["skopeo"]) {
        return;
    }
    let Some(w) = support::world() else { return };
    let mut failures = Vec::new();
    let cases = bed_cases();
    for c in &cases {
        let root = node_root(w, c.node);
        let stderr = skopeo_error(w, &root, c);
        let e = explain(&stderr);
        let mut args = vec!["--image", c.image, "--timeout", "1s", "--json"];
        args.extend_from_slice(c.probe);
        if let Some((user, _)) = c.creds {
            args.extend(["--username", user, "--password-stdin"]);
        }
        let stdin = c.creds.map(|(_, password)| format!("{password}\n"));
        let run = common::probe(
            w.command(env!("CARGO_BIN_EXE_probe")),
            root.path(),
            &args,
            stdin.as_deref(),
        );
        let probe_code = run.target().code;
        let explained = e.code.map_or("null", Code::as_str);
        let agrees = match c.agree {
            Agree::Same => probe_code == explained,
            Agree::Also => e.also_possible.iter().any(|a| a.as_str() == probe_code),
        };
        if explained != c.code || !agrees {
            failures.push(format!(
                "{}: explain says {explained} (also {:?}), expected {}; the probe says {probe_code}\n  skopeo: {}",
                c.image,
                e.also_possible,
                c.code,
                stderr.trim()
            ));
        }
    }
    assert!(cases.len() >= 25);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- the binary ---------------------------------------------------------------

/// The contract's explain object, read back strictly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Explained {
    code: Option<String>,
    category: Option<String>,
    also_possible: Vec<String>,
    matched: Option<String>,
    hint: String,
}

struct Out {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn probe_explain(args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn probe");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("wait probe");
    Out {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_binary_exits_by_category_and_prints_the_contract_json() {
    let by_category = [
        (
            r#"Get "https://r.example/v2/": dial tcp 10.1.2.3:443: connect: connection refused"#,
            "TCP_REFUSED",
            "network",
            3,
        ),
        (
            "reading manifest 1 in r.example/app: manifest unknown",
            "IMAGE_NOT_FOUND",
            "name",
            4,
        ),
        (CASES[0].message, "AUTH_REQUIRED", "credentials", 5),
        (
            "toomanyrequests: You have reached your pull rate limit.",
            "RATE_LIMITED",
            "registry",
            6,
        ),
        (
            r#"Get "https://r.example/v2/": x509: certificate signed by unknown authority"#,
            "TLS_UNTRUSTED",
            "config",
            7,
        ),
    ];
    for (message, code, category, exit) in by_category {
        let out = probe_explain(&["--json", message], None);
        assert_eq!(out.status, Some(exit), "{message}\n{}", out.stderr);
        let e: Explained = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|err| panic!("not the contract's object: {err}\n{}", out.stdout));
        assert_eq!(e.code.as_deref(), Some(code));
        assert_eq!(e.category.as_deref(), Some(category));
        assert!(message.contains(e.matched.as_deref().unwrap()), "{e:?}");
        assert!(!e.hint.is_empty());
    }
    let out = probe_explain(&["--json", CASES[0].message], None);
    let e: Explained = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(e.also_possible, ["IMAGE_NOT_FOUND", "ACCESS_DENIED"]);
}

#[test]
fn three_non_errors_are_null_and_exit_1() {
    for message in [
        r#"Successfully pulled image "nginx:1.25" in 2.513s (2.513s including waiting). Image size: 72223946 bytes."#,
        r#"Container image "nginx:1.25" already present on machine"#,
        "",
        "lorem ipsum dolor sit amet",
    ] {
        let out = probe_explain(&["--json", message], None);
        assert_eq!(out.status, Some(1), "{message:?}: {}", out.stderr);
        let e: Explained = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!((e.code, e.category, e.matched), (None, None, None));
        assert!(e.also_possible.is_empty());
        assert!(!e.hint.is_empty());
    }
}

#[test]
fn the_message_can_come_from_stdin_and_reads_as_text() {
    let message = "Failed to pull image \"reg.example/app:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"reg.example/app:1\": failed to resolve reference \"reg.example/app:1\": failed to do request: Head \"https://reg.example/v2/app/manifests/1\": dial tcp: lookup reg.example on 10.0.0.10:53: no such host\nError: ErrImagePull\n";
    let out = probe_explain(&["-"], Some(message));
    assert_eq!(out.status, Some(4), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "DNS_NXDOMAIN (name)", "{}", out.stdout);
    assert_eq!(lines[1], "  image:         reg.example/app:1");
    assert_eq!(
        lines[2],
        "  matched:       lookup reg.example on 10.0.0.10:53: no such host"
    );
    assert_eq!(lines[3], "  also possible: DNS_NO_ADDRESS");
    assert!(
        lines[4].starts_with("  hint: reg.example does not resolve from the node"),
        "{}",
        out.stdout
    );
    assert!(
        lines[5].starts_with("  text from: Go net"),
        "{}",
        out.stdout
    );

    let out = probe_explain(&["-"], Some(""));
    assert_eq!(out.status, Some(1));
    assert!(
        out.stdout.starts_with("no known pull error\n"),
        "{}",
        out.stdout
    );
}

/// Issue 18: the name the user meant. A message alone knows no pull secret,
/// so `probe explain` names the meant image only when the message itself
/// shows both the Docker Hub name and the registry host.
#[test]
fn the_image_meant_is_named_only_when_the_message_shows_both_names() {
    let both = "Failed to pull image \"myprivateregistry/my-app:1.4\": rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/myprivateregistry/my-app:1.4\": failed to resolve reference \"docker.io/myprivateregistry/my-app:1.4\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed\nWarning  FailedToRetrieveImagePullSecret  Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed. Secret regcred is for myprivateregistry.com";
    let out = probe_explain(&["--json", both], None);
    let e: Explained = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(e.code.as_deref(), Some("AUTH_REQUIRED"), "{}", out.stdout);
    assert!(
        e.hint
            .contains("the image most likely meant is `myprivateregistry.com/my-app:1.4`"),
        "{}",
        e.hint
    );

    // Negative: the same error without the host claims nothing.
    let alone = both.split('\n').next().unwrap();
    let out = probe_explain(&["--json", alone], None);
    let e: Explained = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(e.code.as_deref(), Some("AUTH_REQUIRED"));
    assert!(!e.hint.contains("most likely meant"), "{}", e.hint);
    // Negative: Docker Hub's own hosts are never the meant registry.
    let hub = format!("{alone} (Get \"https://registry-1.docker.io/v2/\")");
    let out = probe_explain(&["--json", &hub], None);
    let e: Explained = serde_json::from_str(&out.stdout).unwrap();
    assert!(!e.hint.contains("most likely meant"), "{}", e.hint);
}
