//! The node's network facts as the runtime sees them: its resolver
//! ([`resolv`]: resolv.conf and /etc/hosts), its CA store ([`trust`]), the
//! runtime's proxy environment ([`proxy`]) and Go's `host:port` rules
//! ([`hostport`]).

pub mod hostport;
pub mod proxy;
pub mod resolv;
pub mod trust;
