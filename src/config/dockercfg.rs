//! Docker `config.json` / `.dockerconfigjson` credentials, matched to a
//! registry host the way Docker and kubelet do.
//!
//! STUB: to be filled in.
