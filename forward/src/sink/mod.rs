//! Sinks: the receivers' side of the pipeline. A sink takes a batch of
//! rendered events and returns only once the receiver has acknowledged all
//! of them (TCP write flushed for syslog, 2xx for HTTP), or an error saying
//! whether retrying can help.

use std::future::Future;

/// One event ready to send: its id in the log (for dedup on the receiver
/// side) and its rendering.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The event's id (API event id, or session id + offset for session events).
    pub id: String,
    /// When the event happened.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The event rendered in the forwarder's format.
    pub value: serde_json::Value,
}

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying with backoff: connection refused or reset, timeout,
    /// HTTP 429 or 5xx.
    #[error("{0}")]
    Transient(String),
    /// Retrying the same batch cannot help (HTTP 400/401/403, bad TLS
    /// config); the forwarder reports it and keeps retrying slowly, never
    /// skipping the batch.
    #[error("{0}")]
    Permanent(String),
}

/// A receiver. `send` must deliver the whole batch or fail; partial
/// delivery is reported as an error and the batch is resent (at-least-once).
pub trait Sink: Send {
    fn send(&mut self, batch: &[Rendered]) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// A short name for logs and metrics, e.g. `syslog://host:6514`.
    fn describe(&self) -> String;
}

pub mod hec;
pub mod http;
pub mod syslog;
pub mod tls;
pub mod webhook;
