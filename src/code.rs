//! The fault taxonomy's vocabulary: every code of `CONTRACT.md` and its category.
//!
//! Codes and categories are contract: their spelling and their exit statuses
//! must not change without a schema bump. Which code a set of stage outcomes
//! earns is decided in `verdict/judge.rs`, not here.

use serde::Serialize;
use std::fmt;

/// A contract code (`CONTRACT.md`, "Codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Ok,
    DnsNxdomain,
    DnsNoAddress,
    DnsTimeout,
    DnsServfail,
    TcpTimeout,
    TcpRefused,
    TcpUnreachable,
    ProxyUnreachable,
    ProxyRejected,
    TlsUntrusted,
    TlsNameMismatch,
    TlsExpired,
    TlsHandshake,
    NotARegistry,
    AuthRequired,
    AuthRejected,
    AuthServerUnreachable,
    AuthError,
    IpNotAllowed,
    AccessDenied,
    ImageNotFound,
    RateLimited,
    RegistryError,
    BlobUnreachable,
    PlatformMissing,
    InvalidReference,
    ConfigBlocked,
    MtuBlackhole,
    ClockSkew,
    CredentialProviderFailed,
    NodeDiskFull,
    PullProgressTimeout,
}

/// A contract category; each maps to an exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Ok,
    Network,
    Name,
    Credentials,
    Registry,
    Config,
}

impl Code {
    /// Every code, in contract order.
    pub const ALL: [Code; 33] = [
        Code::Ok,
        Code::DnsNxdomain,
        Code::DnsNoAddress,
        Code::DnsTimeout,
        Code::DnsServfail,
        Code::TcpTimeout,
        Code::TcpRefused,
        Code::TcpUnreachable,
        Code::ProxyUnreachable,
        Code::ProxyRejected,
        Code::TlsUntrusted,
        Code::TlsNameMismatch,
        Code::TlsExpired,
        Code::TlsHandshake,
        Code::NotARegistry,
        Code::AuthRequired,
        Code::AuthRejected,
        Code::AuthServerUnreachable,
        Code::AuthError,
        Code::IpNotAllowed,
        Code::AccessDenied,
        Code::ImageNotFound,
        Code::RateLimited,
        Code::RegistryError,
        Code::BlobUnreachable,
        Code::PlatformMissing,
        Code::InvalidReference,
        Code::ConfigBlocked,
        Code::MtuBlackhole,
        Code::ClockSkew,
        Code::CredentialProviderFailed,
        Code::NodeDiskFull,
        Code::PullProgressTimeout,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::DnsNxdomain => "DNS_NXDOMAIN",
            Code::DnsNoAddress => "DNS_NO_ADDRESS",
            Code::DnsTimeout => "DNS_TIMEOUT",
            Code::DnsServfail => "DNS_SERVFAIL",
            Code::TcpTimeout => "TCP_TIMEOUT",
            Code::TcpRefused => "TCP_REFUSED",
            Code::TcpUnreachable => "TCP_UNREACHABLE",
            Code::ProxyUnreachable => "PROXY_UNREACHABLE",
            Code::ProxyRejected => "PROXY_REJECTED",
            Code::TlsUntrusted => "TLS_UNTRUSTED",
            Code::TlsNameMismatch => "TLS_NAME_MISMATCH",
            Code::TlsExpired => "TLS_EXPIRED",
            Code::TlsHandshake => "TLS_HANDSHAKE",
            Code::NotARegistry => "NOT_A_REGISTRY",
            Code::AuthRequired => "AUTH_REQUIRED",
            Code::AuthRejected => "AUTH_REJECTED",
            Code::AuthServerUnreachable => "AUTH_SERVER_UNREACHABLE",
            Code::AuthError => "AUTH_ERROR",
            Code::IpNotAllowed => "IP_NOT_ALLOWED",
            Code::AccessDenied => "ACCESS_DENIED",
            Code::ImageNotFound => "IMAGE_NOT_FOUND",
            Code::RateLimited => "RATE_LIMITED",
            Code::RegistryError => "REGISTRY_ERROR",
            Code::BlobUnreachable => "BLOB_UNREACHABLE",
            Code::PlatformMissing => "PLATFORM_MISSING",
            Code::InvalidReference => "INVALID_REFERENCE",
            Code::ConfigBlocked => "CONFIG_BLOCKED",
            Code::MtuBlackhole => "MTU_BLACKHOLE",
            Code::ClockSkew => "CLOCK_SKEW",
            Code::CredentialProviderFailed => "CREDENTIAL_PROVIDER_FAILED",
            Code::NodeDiskFull => "NODE_DISK_FULL",
            Code::PullProgressTimeout => "PULL_PROGRESS_TIMEOUT",
        }
    }

    #[must_use]
    pub fn category(self) -> Category {
        match self {
            Code::Ok => Category::Ok,
            Code::DnsTimeout
            | Code::DnsServfail
            | Code::TcpTimeout
            | Code::TcpRefused
            | Code::TcpUnreachable
            | Code::ProxyUnreachable
            | Code::TlsHandshake
            | Code::AuthServerUnreachable
            | Code::IpNotAllowed
            | Code::BlobUnreachable
            | Code::MtuBlackhole
            | Code::PullProgressTimeout => Category::Network,
            Code::DnsNxdomain
            | Code::DnsNoAddress
            | Code::NotARegistry
            | Code::ImageNotFound
            | Code::PlatformMissing
            | Code::InvalidReference => Category::Name,
            Code::AuthRequired | Code::AuthRejected | Code::AccessDenied => Category::Credentials,
            Code::TlsExpired | Code::AuthError | Code::RateLimited | Code::RegistryError => {
                Category::Registry
            }
            Code::ProxyRejected
            | Code::TlsUntrusted
            | Code::TlsNameMismatch
            | Code::ConfigBlocked
            | Code::ClockSkew
            | Code::CredentialProviderFailed
            | Code::NodeDiskFull => Category::Config,
        }
    }
}

impl Category {
    /// The process exit status for a run whose worst target is in this category.
    #[must_use]
    pub fn exit_status(self) -> u8 {
        match self {
            Category::Ok => 0,
            Category::Network => 3,
            Category::Name => 4,
            Category::Credentials => 5,
            Category::Registry => 6,
            Category::Config => 7,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ok => "ok",
            Category::Network => "network",
            Category::Name => "name",
            Category::Credentials => "credentials",
            Category::Registry => "registry",
            Category::Config => "config",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{Category, Code};

    #[test]
    fn serde_spelling_matches_as_str() {
        for code in Code::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    /// The table of CONTRACT.md, row by row.
    #[test]
    fn categories_match_contract() {
        let table = [
            ("OK", "ok"),
            ("DNS_NXDOMAIN", "name"),
            ("DNS_NO_ADDRESS", "name"),
            ("DNS_TIMEOUT", "network"),
            ("DNS_SERVFAIL", "network"),
            ("TCP_TIMEOUT", "network"),
            ("TCP_REFUSED", "network"),
            ("TCP_UNREACHABLE", "network"),
            ("PROXY_UNREACHABLE", "network"),
            ("PROXY_REJECTED", "config"),
            ("TLS_UNTRUSTED", "config"),
            ("TLS_NAME_MISMATCH", "config"),
            ("TLS_EXPIRED", "registry"),
            ("TLS_HANDSHAKE", "network"),
            ("NOT_A_REGISTRY", "name"),
            ("AUTH_REQUIRED", "credentials"),
            ("AUTH_REJECTED", "credentials"),
            ("AUTH_SERVER_UNREACHABLE", "network"),
            ("AUTH_ERROR", "registry"),
            ("IP_NOT_ALLOWED", "network"),
            ("ACCESS_DENIED", "credentials"),
            ("IMAGE_NOT_FOUND", "name"),
            ("RATE_LIMITED", "registry"),
            ("REGISTRY_ERROR", "registry"),
            ("BLOB_UNREACHABLE", "network"),
            ("PLATFORM_MISSING", "name"),
            ("INVALID_REFERENCE", "name"),
            ("CONFIG_BLOCKED", "config"),
            ("MTU_BLACKHOLE", "network"),
            ("CLOCK_SKEW", "config"),
            ("CREDENTIAL_PROVIDER_FAILED", "config"),
            ("NODE_DISK_FULL", "config"),
            ("PULL_PROGRESS_TIMEOUT", "network"),
        ];
        assert_eq!(table.len(), Code::ALL.len());
        for (code, (name, cat)) in Code::ALL.iter().zip(table) {
            assert_eq!(code.as_str(), name);
            assert_eq!(code.category().as_str(), cat, "{name}");
        }
        assert_eq!(Category::Config.exit_status(), 7);
        assert_eq!(Category::Network.exit_status(), 3);
    }
}
