//! What a long-running agent remembers between rounds, so that a healthy
//! round costs the registry almost nothing and a rate-limited registry is
//! left alone:
//!
//! - a **warm image**: the authorization that last read its manifest (a
//!   Bearer token until its `expires_in`, less a margin; Basic does not
//!   expire), the digest it resolved to, and the platform and blob results
//!   of that round. A warm round sends one manifest `HEAD` with that
//!   authorization; when the digest is unchanged the rest is not asked again.
//!   Once the token has expired the digest is still **known**: the round
//!   pings and gets a token again, then one `HEAD`, and the manifest and
//!   blob `GET`s are spared while the digest holds (Docker Hub's tokens live
//!   5 minutes, less than a registry interval).
//! - a **warm registry**: the authorization that last passed `/v2/`, so a
//!   registry-only target costs one authorized `GET /v2/`.
//! - a **backoff** per registry host after a 429, until its `Retry-After`
//!   (or a default), during which nothing is sent to it.
//! - this **round's pings** (issue 19): one `/v2/` answer per endpoint,
//!   shared by the round's targets on it (the first pings, the others wait
//!   for its answer), so a cold round pings a registry once, not once per
//!   image. Forgotten at the next round ([`Memory::new_round`]).
//!
//! Values only, behind one lock; the sequencer decides when to use them.
//! Authorizations are [`crate::secret::Secret`]s inside [`Session`]s.

use super::challenge::Challenge;
use super::result::StageResult;
use super::session::Session;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// A token is not used in its last seconds: a round takes time.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// How long a 429 without `Retry-After` keeps us away.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(300);
/// The longest `Retry-After` honoured (a hostile value must not silence a registry for ever).
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Which image on which endpoint, with which credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WarmKey {
    /// The endpoint's URL (`https://reg/v2/`).
    pub endpoint: String,
    /// `repo:tag` or `repo@digest`; empty for a registry-only target.
    pub image: String,
    /// Where the credential came from, if any.
    pub credential: Option<String>,
}

/// What a full round learnt about an image (or a registry).
#[derive(Clone, Debug)]
pub struct Warm {
    pub session: Session,
    /// The manifest digest; empty for a registry-only target.
    pub digest: String,
    /// The platform and blob results of the round that learnt it.
    pub later: Vec<StageResult>,
    /// When that round ran.
    pub at: SystemTime,
}

impl Warm {
    fn usable(&self, now: Instant) -> bool {
        self.session.expires.is_none_or(|e| e > now + EXPIRY_MARGIN)
    }
}

/// A registry host we were told to leave alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub until: Instant,
    /// The `Retry-After` value it came from, if the registry sent one.
    pub retry_after: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    warm: HashMap<WarmKey, Warm>,
    backoff: HashMap<String, Backoff>,
}

/// An endpoint's `/v2/` answer this round: the ping stage and its challenges.
pub type RoundPing = Arc<tokio::sync::OnceCell<(StageResult, Vec<Challenge>)>>;

/// The agent's memory across rounds.
#[derive(Debug, Default)]
pub struct Memory {
    inner: Mutex<Inner>,
    /// This round's pings, by endpoint key (the sequencer's).
    pings: Mutex<HashMap<String, RoundPing>>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A warm entry whose authorization is still good.
    #[must_use]
    pub fn warm(&self, key: &WarmKey) -> Option<Warm> {
        let now = Instant::now();
        self.lock().warm.get(key).filter(|w| w.usable(now)).cloned()
    }

    /// What the last full round learnt about an image, its authorization
    /// expired or not: the digest and the platform and blob results.
    #[must_use]
    pub fn known(&self, key: &WarmKey) -> Option<Warm> {
        self.lock()
            .warm
            .get(key)
            .filter(|w| !w.digest.is_empty())
            .cloned()
    }

    pub fn remember(&self, key: WarmKey, warm: Warm) {
        self.lock().warm.insert(key, warm);
    }

    pub fn forget(&self, key: &WarmKey) {
        self.lock().warm.remove(key);
    }

    /// The backoff in force for `host` (`host[:port]`), if any.
    #[must_use]
    pub fn backoff(&self, host: &str) -> Option<Backoff> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.backoff.get(host) {
            Some(b) if b.until > now => Some(b.clone()),
            Some(_) => {
                inner.backoff.remove(host);
                None
            }
            None => None,
        }
    }

    /// Leave `host` alone until its `Retry-After` (seconds, or an HTTP date
    /// we do not parse: then the default), capped.
    pub fn rate_limited(&self, host: &str, retry_after: Option<&str>) {
        let wait = retry_after
            .and_then(|r| r.trim().parse::<u64>().ok())
            .map_or(DEFAULT_BACKOFF, Duration::from_secs)
            .min(MAX_BACKOFF);
        self.lock().backoff.insert(
            host.to_owned(),
            Backoff {
                until: Instant::now() + wait,
                retry_after: retry_after.map(str::to_owned),
            },
        );
    }

    /// Keep only what concerns these endpoints (a target removed from the
    /// agent's list must not keep its token).
    pub fn retain_endpoints(&self, endpoints: &[String]) {
        self.lock()
            .warm
            .retain(|k, _| endpoints.contains(&k.endpoint));
    }

    /// A new round: the last round's pings are forgotten.
    pub fn new_round(&self) {
        self.pings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The cell holding this round's ping of the endpoint keyed `key`.
    #[must_use]
    pub fn round_ping(&self, key: &str) -> RoundPing {
        let mut pings = self.pings.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(pings.entry(key.to_owned()).or_default())
    }

    /// How many warm entries are held (for the soak test's flatness).
    #[must_use]
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.warm.len() + inner.backoff.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_in: Option<Duration>) -> Session {
        Session {
            expires: expires_in.map(|d| Instant::now() + d),
            ..Session::default()
        }
    }

    fn key() -> WarmKey {
        WarmKey {
            endpoint: "https://reg.test/v2/".into(),
            image: "app:1".into(),
            credential: None,
        }
    }

    #[tokio::test]
    async fn tokens_are_used_until_their_expiry_less_a_margin() {
        let m = Memory::default();
        let warm = |s| Warm {
            session: s,
            digest: "sha256:1".into(),
            later: Vec::new(),
            at: SystemTime::now(),
        };
        m.remember(key(), warm(session(Some(Duration::from_secs(300)))));
        assert!(m.warm(&key()).is_some());
        m.remember(key(), warm(session(Some(Duration::from_secs(5)))));
        assert!(m.warm(&key()).is_none(), "inside the margin");
        assert_eq!(
            m.known(&key()).map(|w| w.digest),
            Some("sha256:1".to_owned()),
            "the digest outlives the token"
        );
        m.remember(key(), warm(session(None)));
        assert!(m.warm(&key()).is_some(), "Basic does not expire");
        m.retain_endpoints(&["https://other.test/v2/".to_owned()]);
        assert!(m.warm(&key()).is_none());
    }

    #[tokio::test]
    async fn backoff_follows_retry_after_and_is_capped() {
        let m = Memory::default();
        m.rate_limited("reg.test", Some("120"));
        let b = m.backoff("reg.test").unwrap();
        let left = b.until - Instant::now();
        assert!(left > Duration::from_secs(110) && left <= Duration::from_secs(120));
        m.rate_limited("hostile.test", Some("99999999"));
        assert!(m.backoff("hostile.test").unwrap().until - Instant::now() <= MAX_BACKOFF);
        m.rate_limited("nodate.test", Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert!(m.backoff("nodate.test").unwrap().until - Instant::now() <= DEFAULT_BACKOFF);
        m.rate_limited("now.test", Some("0"));
        assert!(
            m.backoff("now.test").is_none(),
            "Retry-After: 0 is over at once"
        );
    }
}
