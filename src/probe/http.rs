//! The HTTP stages over a dialled connection: ping (`GET /v2/`), auth,
//! manifest, platform, blob.
//!
//! STUB: to be filled in.

use super::{BoxIo, Context, Stage, StageResult};
use crate::code::Code;
use crate::target::{Endpoint, Target};
use std::time::Duration;

/// Run ping -> auth -> manifest -> platform -> blob for `target` on `ep` over `io`.
pub async fn run(_ctx: &Context, _target: &Target, _ep: &Endpoint, _io: BoxIo) -> Vec<StageResult> {
    vec![StageResult::fail(Stage::Ping, Code::RegistryError, Duration::ZERO, "ping stage not implemented", serde_json::json!({}))]
}
