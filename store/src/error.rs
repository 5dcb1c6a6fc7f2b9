//! Errors of the store. Every variant carries enough context (file, offset,
//! what was expected) to act on without a debugger.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt log at {file}:{offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("index: {0}")]
    Index(String),
    /// The bounded queue is full and the store is configured to refuse.
    #[error("audit queue full ({0} bytes pending): refusing (fail closed)")]
    QueueFull(usize),
    /// The background writer hit an error; appends fail closed until restart.
    #[error("audit store failed: {0}")]
    Failed(String),
    #[error("audit store is closed")]
    Closed,
    #[error("store {dir} is locked by another writer process")]
    Locked { dir: PathBuf },
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<tantivy::TantivyError> for StoreError {
    fn from(e: tantivy::TantivyError) -> Self {
        StoreError::Index(e.to_string())
    }
}

/// Adds a context string to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| StoreError::io(context(), e))
    }
}
