//! The fault taxonomy in one place: what the stage outcomes mean.
//!
//! - `judge`: a pure function from stage outcomes to one verdict per target,
//!   and the node's finding when one cause explains every failing target;
//! - `advice`: the one per-code advice table the verdict, `probe explain`
//!   and `probe summarize` word their hints from;
//! - `cluster`: the cluster-wide verdicts of `probe summarize` (every node
//!   failing a target alike, or only some).

pub mod advice;
pub mod cluster;
mod judge;

pub use judge::*;
