//! Errors a user sees: each names the file (when there is one) and the problem, in one line.

use std::path::{Path, PathBuf};

/// The project's error type for bad input and failed operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with a named file: unreadable, truncated, unsupported, inconsistent.
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    /// Invalid data or arguments not tied to a file (yet).
    #[error("{0}")]
    Invalid(String),
    /// The user cancelled a long operation.
    #[error("cancelled")]
    Cancelled,
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error about data or arguments, without a file.
    pub fn invalid(problem: impl Into<String>) -> Self {
        Error::Invalid(problem.into())
    }

    /// An error about a file.
    pub fn file(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            problem: problem.into(),
        }
    }

    /// Attaches a file to an error that has none yet.
    pub fn in_file(self, path: impl AsRef<Path>) -> Self {
        match self {
            Error::Invalid(problem) => Error::file(path, problem),
            other => other,
        }
    }

    /// An I/O error on a file, with the OS message made readable.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        let problem = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::UnexpectedEof => "file is truncated".to_string(),
            _ => err.to_string(),
        };
        Error::file(path, problem)
    }
}
