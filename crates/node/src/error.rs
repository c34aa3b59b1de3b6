//! Errors of the network node a user sees: each names the node (or the config file) and
//! what went wrong, in one line.

use std::path::PathBuf;

/// What went wrong talking to a DICOM node or reading its configuration.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node configuration file is missing, unreadable or wrong.
    #[error("{}: {problem}", path.display())]
    Config { path: PathBuf, problem: String },
    /// The association could not be established (refused, rejected, no answer).
    #[error("node {node}: association failed: {problem}")]
    Association { node: String, problem: String },
    /// A network read or write failed or timed out during a DIMSE exchange.
    #[error("node {node}: {problem}")]
    Network { node: String, problem: String },
    /// The peer answered with something DIMSE does not allow here.
    #[error("node {node}: protocol error: {problem}")]
    Protocol { node: String, problem: String },
    /// The peer answered with a failure status.
    #[error("node {node}: {operation} failed with status 0x{status:04X}{comment}")]
    Status {
        node: String,
        operation: &'static str,
        status: u16,
        comment: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    /// Invalid arguments.
    #[error("{0}")]
    Invalid(String),
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Shorthand for results carrying [`NodeError`].
pub type Result<T, E = NodeError> = std::result::Result<T, E>;

impl NodeError {
    /// A file error.
    pub fn file(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> Self {
        NodeError::File {
            path: path.into(),
            problem: problem.to_string(),
        }
    }
}
