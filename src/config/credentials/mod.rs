//! The credentials the node would use, read the way the kubelet and the
//! runtimes read them: Docker config files ([`dockercfg`], their `auth`
//! field in [`basic_auth`]), the kubelet's own ([`kubelet`]: its root dir,
//! flags and credential providers, run by [`credential_provider`]) and the
//! Azure managed identity for ACR ([`azure`]).

pub mod azure;
pub mod basic_auth;
pub mod credential_provider;
pub mod dockercfg;
pub mod kubelet;
