//! What every stage of a run shares, built before the network is touched:
//! the node's resolver and CA set, the per-stage timeout, the run's
//! deadline, the platform wanted, and how to choose a proxy for a host that
//! is not a configured endpoint (a token realm, a blob redirect).
//!
//! It holds values only: it reads no file and knows no runtime config (node
//! discovery fills it in).

use super::dns::NodeResolver;
use super::memory::Memory;
use super::tls::TrustStore;
use crate::oci::Platform;
use crate::target::{Endpoint, ProxyUrl, Scheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Go's `ProxyFromEnvironment` for one request URL (`scheme`, host, port):
/// the proxy to use, or `None` for a direct connection.
pub type ProxyChooser = Arc<dyn Fn(Scheme, &str, u16) -> Option<ProxyUrl> + Send + Sync>;

/// What every stage needs from the run.
pub struct Context {
    pub resolver: NodeResolver,
    pub trust: Arc<TrustStore>,
    /// Per-stage timeout (`--timeout`).
    pub timeout: Duration,
    /// The whole run's deadline (`--deadline`).
    pub deadline: Instant,
    pub platform: Platform,
    /// The runtime's proxy rules for hosts other than the endpoint (token
    /// realms, blob redirects); `None` reuses the endpoint's own proxy.
    pub proxy_for_other_host: Option<ProxyChooser>,
    /// An agent's memory across rounds (warm tokens, backoffs); `None` for
    /// a one-shot run, which always asks everything.
    pub memory: Option<Arc<Memory>>,
}

impl Context {
    /// The proxy for another host reached on behalf of `ep` (a token realm,
    /// a blob redirect): Go's `ProxyFromEnvironment` is asked per request
    /// URL, so `NO_PROXY` is evaluated for that host, not the endpoint's.
    #[must_use]
    pub fn proxy_for_host(
        &self,
        ep: &Endpoint,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Option<ProxyUrl> {
        match &self.proxy_for_other_host {
            Some(choose) => choose(scheme, host, port),
            None => ep.proxy.clone(),
        }
    }

    /// The time a stage may take now: the stage timeout, cut short by the deadline.
    #[must_use]
    pub fn stage_timeout(&self) -> Duration {
        self.timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Time left before the run's deadline.
    #[must_use]
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}
