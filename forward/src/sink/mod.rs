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
    pub value: Body,
}

/// A rendered event's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Built by a format (k8s-audit, ECS, OCSF; native for HTTP sinks).
    Value(serde_json::Value),
    /// The event's JSON exactly as stored in the log (native format): sent
    /// as is, which spares a parse → `Value` → serialize round trip per
    /// event on the forwarder's hot path. Always valid JSON on one line
    /// (the forwarder only uses it for bytes that parsed as an event and
    /// hold no line break).
    Stored(Box<str>),
}

impl Body {
    /// As a JSON value (HTTP sinks build envelopes around it).
    pub fn to_value(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        match self {
            Body::Value(v) => std::borrow::Cow::Borrowed(v),
            // Stored bodies parsed as events, so they parse as JSON.
            Body::Stored(s) => std::borrow::Cow::Owned(serde_json::from_str(s).unwrap_or_default()),
        }
    }

    /// Appends the JSON text (one line).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // A Value always serializes.
            Body::Value(v) => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
            Body::Stored(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

impl From<serde_json::Value> for Body {
    fn from(v: serde_json::Value) -> Body {
        Body::Value(v)
    }
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

use crate::config::{ForwarderConfig, SinkConfig};
use crate::filter::Summary;

/// The configured sink of a forwarder (enum dispatch: [`Sink`]'s async
/// method makes it unusable as a trait object).
pub enum AnySink {
    Syslog(Box<syslog::SyslogSink>),
    Hec(Box<hec::HecSink>),
    Webhook(Box<webhook::WebhookSink>),
}

impl AnySink {
    /// Builds the sink a forwarder's config names; reads its files now.
    pub fn new(cfg: &ForwarderConfig, base_dir: &std::path::Path) -> Result<AnySink, SinkError> {
        Ok(match &cfg.sink {
            SinkConfig::Syslog(c) => {
                AnySink::Syslog(Box::new(syslog::SyslogSink::new(c, base_dir)?))
            }
            SinkConfig::SplunkHec(c) => AnySink::Hec(Box::new(hec::HecSink::new(c, base_dir)?)),
            SinkConfig::Webhook(c) => {
                AnySink::Webhook(Box::new(webhook::WebhookSink::new(c, base_dir)?))
            }
        })
    }

    /// Sends a batch; `meta[i]` summarizes the event behind `batch[i]`
    /// (the syslog header is built from it).
    pub async fn send_batch(
        &mut self,
        batch: &[Rendered],
        meta: &[Summary<'_>],
    ) -> Result<(), SinkError> {
        match self {
            AnySink::Syslog(s) => s.send_with(batch, meta).await,
            AnySink::Hec(s) => s.send(batch).await,
            AnySink::Webhook(s) => s.send(batch).await,
        }
    }

    /// Events to keep and resend after a reconnect: non-zero only for
    /// sinks without an application-level acknowledgment.
    pub fn resend_window(&self) -> usize {
        match self {
            AnySink::Syslog(s) => s.resend_window(),
            // A 2xx is the receiver's own acknowledgment.
            AnySink::Hec(_) | AnySink::Webhook(_) => 0,
        }
    }

    /// Ends the connection in order; Ok when the receiver confirmed it
    /// has read everything sent.
    pub async fn close(&mut self) -> Result<(), SinkError> {
        match self {
            AnySink::Syslog(s) => s.close().await,
            AnySink::Hec(_) | AnySink::Webhook(_) => Ok(()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            AnySink::Syslog(s) => s.describe(),
            AnySink::Hec(s) => s.describe(),
            AnySink::Webhook(s) => s.describe(),
        }
    }
}
