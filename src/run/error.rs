//! Why a run could not happen at all.

use crate::cli::UsageError;
use std::io;

/// Why a run could not happen at all (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot write the report: {0}")]
    Output(io::Error),
    #[error(transparent)]
    Summary(#[from] crate::summary::SummaryError),
}
