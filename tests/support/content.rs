//! The images every world's registries hold, built in memory and pushed
//! through the registry HTTP API (monolithic blob upload, then manifest
//! PUT), exactly as a client would.
//!
//! - `multi:1`: OCI index with linux/amd64 and linux/arm64 images;
//! - `single:1`: one linux/amd64 image manifest (no index);
//! - `armonly:1`: OCI index with only linux/arm64;
//! - `public/single:1`: the same as `single:1`, pullable anonymously on the
//!   token-auth registry.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ClientConfig;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::request;

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Digests of what was pushed, for assertions.
#[derive(Clone, Debug, Default)]
pub struct Content {
    /// `multi:1`, the index.
    pub multi: String,
    pub multi_amd64: String,
    pub multi_arm64: String,
    /// `single:1`, an image manifest.
    pub single: String,
    /// The config blob of `single:1`.
    pub single_config: String,
    /// The one layer blob of `single:1`.
    pub single_layer: String,
    /// `armonly:1`, the index.
    pub armonly: String,
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A POSIX tar holding one small file: a real layer, so tools that unpack
/// it (none in the bed today) would not choke.
fn tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |offset: usize, field: &[u8]| {
        header[offset..offset + field.len()].copy_from_slice(field);
    };
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

struct Image {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
}

fn image(arch: &str) -> Image {
    let layer = tar(
        &format!("hello-{arch}.txt"),
        format!("hello from linux/{arch}\n").as_bytes(),
    );
    let config = json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
    })
    .to_string()
    .into_bytes();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": LAYER, "digest": digest(&layer), "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    Image {
        config,
        layer,
        manifest,
    }
}

fn index(images: &[(&str, &Image)]) -> Vec<u8> {
    let manifests: Vec<_> = images
        .iter()
        .map(|(arch, img)| {
            json!({
                "mediaType": MANIFEST, "digest": digest(&img.manifest), "size": img.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
        .to_string()
        .into_bytes()
}

/// Where to push: a registry that takes anonymous pushes.
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub tls: Option<Arc<ClientConfig>>,
}

impl Target {
    fn blob(&self, repo: &str, bytes: &[u8]) {
        let start = self.call(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            "",
            Vec::new(),
        );
        assert_eq!(start.status, 202, "start upload to {repo}");
        let location = start.header("Location").expect("upload Location");
        // The registry answers an absolute URL built from our Host header.
        let path = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = self.call(
            "PUT",
            &format!("{path}{sep}digest={}", digest(bytes)),
            "application/octet-stream",
            bytes.to_vec(),
        );
        assert_eq!(put.status, 201, "finish upload to {repo}");
    }

    fn manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let put = self.call(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            media_type,
            bytes.to_vec(),
        );
        assert_eq!(
            put.status,
            201,
            "PUT {repo}:{reference}: {}",
            String::from_utf8_lossy(&put.body)
        );
    }

    fn image(&self, repo: &str, reference: &str, img: &Image) {
        self.blob(repo, &img.layer);
        self.blob(repo, &img.config);
        self.manifest(repo, reference, MANIFEST, &img.manifest);
    }

    fn call(
        &self,
        method: &str,
        target: &str,
        ctype: &str,
        body: Vec<u8>,
    ) -> super::http::Response {
        let headers: Vec<(&str, &str)> = if ctype.is_empty() {
            Vec::new()
        } else {
            vec![("Content-Type", ctype)]
        };
        request(
            self.addr,
            self.tls.clone(),
            &self.host,
            method,
            target,
            &headers,
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {target} on {}: {e}", self.host))
    }
}

/// Pushes every image of the bed. Call it on a thread inside the namespace.
pub fn push(to: &Target) -> Content {
    let (amd64, arm64) = (image("amd64"), image("arm64"));
    let multi = index(&[("amd64", &amd64), ("arm64", &arm64)]);
    let armonly = index(&[("arm64", &arm64)]);
    for img in [&amd64, &arm64] {
        to.image("multi", &digest(&img.manifest), img);
    }
    to.manifest("multi", "1", INDEX, &multi);
    to.image("armonly", &digest(&arm64.manifest), &arm64);
    to.manifest("armonly", "1", INDEX, &armonly);
    to.image("single", "1", &amd64);
    to.image("public/single", "1", &amd64);
    Content {
        multi: digest(&multi),
        multi_amd64: digest(&amd64.manifest),
        multi_arm64: digest(&arm64.manifest),
        single: digest(&amd64.manifest),
        single_config: digest(&amd64.config),
        single_layer: digest(&amd64.layer),
        armonly: digest(&armonly),
    }
}

/// Pushes `repo:tag`, one linux/amd64 image whose config blob is about
/// `config_size` bytes (padded with labels), so that fetching it takes
/// full-size packets. Returns the config's digest. Call it on a thread
/// inside the namespace.
pub fn push_large_config(to: &Target, repo: &str, tag: &str, config_size: usize) -> String {
    let mut img = image("amd64");
    let mut config: serde_json::Value = serde_json::from_slice(&img.config).expect("config");
    config["config"]["Labels"] = json!({ "padding": "p".repeat(config_size) });
    img.config = config.to_string().into_bytes();
    let mut manifest: serde_json::Value = serde_json::from_slice(&img.manifest).expect("manifest");
    manifest["config"]["digest"] = json!(digest(&img.config));
    manifest["config"]["size"] = json!(img.config.len());
    img.manifest = manifest.to_string().into_bytes();
    to.image(repo, tag, &img);
    digest(&img.config)
}
