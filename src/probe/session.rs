//! What a granted authorization leaves for the requests that follow: the
//! `Authorization` value (a secret), its scheme, whether it carries the
//! node's credentials, and when it expires. A leaf: values only.

use super::challenge::AuthScheme;
use crate::secret::Secret;
use tokio::time::Instant;

/// What later stages need from auth: the header to send, and whether it
/// carries the node's credentials (which decides `ACCESS_DENIED` vs `AUTH_REQUIRED`).
#[derive(Clone, Debug, Default)]
pub struct Session {
    /// The `Authorization` value (`Bearer ...`/`Basic ...`), secret.
    pub authorization: Option<Secret>,
    pub scheme: Option<AuthScheme>,
    pub credentials_used: bool,
    /// Scopes the current token was granted for.
    pub scopes: Vec<String>,
    /// When a Bearer token stops being valid (its `expires_in`, or
    /// distribution's 60 s default); `None` for Basic, which does not expire.
    pub expires: Option<Instant>,
    /// Configured credentials were not sent (a plain-HTTP realm on another host).
    pub withheld: bool,
}

/// distribution's token default lifetime when `expires_in` is absent
/// (`registry/auth/token`: "if `ExpiresIn` is unset, use 60 seconds").
pub const DEFAULT_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);
