//! The tls stage: rustls with the node's trust store, loaded as Go's
//! crypto/x509 does on Linux (which containerd uses), plus per-endpoint CA,
//! client certificate and skip-verify.
//!
//! STUB: to be filled in.

use super::{BoxIo, Stage, StageResult};
use crate::code::Code;
use crate::config::Source;
use crate::hostroot::HostRoot;
use crate::target::TlsSettings;
use std::time::Duration;

/// The node's CA set.
pub struct TrustStore {
    _private: (),
}

impl TrustStore {
    /// Load the node's CA set from under the root; report which files were used.
    #[must_use]
    pub fn load(_root: &HostRoot) -> (Self, Vec<Source>) {
        (Self { _private: () }, Vec::new())
    }
}

/// Handshake over `io` for `server_name`.
pub async fn handshake(
    _io: BoxIo,
    _server_name: &str,
    _settings: &TlsSettings,
    _trust: &TrustStore,
    _timeout: Duration,
) -> (StageResult, Option<BoxIo>) {
    (
        StageResult::fail(Stage::Tls, Code::TlsHandshake, Duration::ZERO, "tls stage not implemented", serde_json::json!({})),
        None,
    )
}
