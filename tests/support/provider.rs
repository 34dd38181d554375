//! Kubelet image credential provider executables for the node root: `sh`
//! scripts a test writes with `NodeRoot::exec_file` into the bin dir, one
//! that answers, one that exits 1, one that sleeps, one that prints
//! garbage (the kubelet's side is `pkg/credentialprovider/plugin/plugin.go`:
//! request JSON on stdin, `CredentialProviderResponse` JSON on stdout).
//!
//! Every script first records what it was given next to itself:
//! `<script>.stdin` (the `CredentialProviderRequest`), `<script>.args` (one
//! argument a line) and `<script>.env`. The answer of a good provider holds
//! secrets: they are the test's, and the probe must never show them.

use serde_json::{Map, Value, json};

/// The bin dir AKS gives the kubelet (`--image-credential-provider-bin-dir`).
pub const BIN_DIR: &str = "var/lib/kubelet/credential-provider";
/// The config AKS gives the kubelet (`--image-credential-provider-config`).
pub const CONFIG: &str = "var/lib/kubelet/credential-provider-config.yaml";
/// AKS's provider, by the name the config gives it.
pub const ACR_PROVIDER: &str = "acr-credential-provider";
/// The request/response API version AKS configures.
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";

/// `BIN_DIR/<name>`, where the kubelet looks for provider `name`.
pub fn path(name: &str) -> String {
    format!("{BIN_DIR}/{name}")
}

const RECORD: &str = r#"#!/bin/sh
# A test's credential provider: records its input, then answers.
cat > "$0.stdin"
printf '%s\n' "$@" > "$0.args"
env > "$0.env"
"#;

/// A `CredentialProviderResponse` with `auth` entries `(key, user,
/// password)` (keys match like the kubelet's keyring: `acr.test`,
/// `*.azurecr.io`, `acr.test/some/repo`), cached per registry for 10m.
pub fn response(auth: &[(&str, &str, &str)]) -> String {
    response_with(auth, "Registry", Some("10m0s"))
}

/// [`response`] with another `cacheKeyType` (`Image`, `Registry`,
/// `Global`) and `cacheDuration` (none: the config's default).
pub fn response_with(
    auth: &[(&str, &str, &str)],
    cache_key_type: &str,
    cache_duration: Option<&str>,
) -> String {
    let mut entries = Map::new();
    for (key, user, password) in auth {
        entries.insert(
            (*key).to_owned(),
            json!({"username": user, "password": password}),
        );
    }
    let mut out = json!({
        "kind": "CredentialProviderResponse",
        "apiVersion": API_VERSION,
        "cacheKeyType": cache_key_type,
        "auth": Value::Object(entries),
    });
    if let Some(d) = cache_duration {
        out["cacheDuration"] = d.into();
    }
    out.to_string()
}

/// A provider that prints `stdout` and exits 0.
pub fn prints(stdout: &str) -> String {
    format!("{RECORD}cat <<'RPT_EOF'\n{stdout}\nRPT_EOF\n")
}

/// A working provider answering [`response`]`(auth)`.
pub fn responds(auth: &[(&str, &str, &str)]) -> String {
    prints(&response(auth))
}

/// A provider that prints `stderr` (its last line is what the kubelet
/// shows) and exits with `code`.
pub fn exits(code: i32, stderr: &str) -> String {
    format!("{RECORD}cat >&2 <<'RPT_EOF'\n{stderr}\nRPT_EOF\nexit {code}\n")
}

/// A provider that hangs for `seconds` (it becomes `sleep`, so killing it
/// closes its output).
pub fn sleeps(seconds: u32) -> String {
    format!("{RECORD}exec sleep {seconds}\n")
}

/// A provider that exits 0 with output that is not a response.
pub fn garbage() -> String {
    prints("Welcome to acr-credential-provider! {\"kind\": \"CredentialProviderResp")
}
