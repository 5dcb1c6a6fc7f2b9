//! `kac-forward`: delivers every event in the KAC audit store to SIEMs, at
//! least once.
//!
//! The shape is Vector's: a *source* (the store's log, read from a persisted
//! cursor: [`source`], [`cursor`]), *transforms* (a [`filter`], then a
//! [`format`] that renders an event for the receiver) and a *sink* (syslog
//! over TCP or TLS, Splunk HEC, a Kubernetes audit webhook: [`sink`]).
//! [`forwarder`] joins them with batching, a rate limit, retries with
//! jittered backoff ([`retry`]) and [`metrics`]. A forwarder only advances
//! its cursor after the sink has acknowledged a batch, so a crash or a
//! receiver outage repeats a bounded number of events and never skips one
//! (the exact bound is in docs/forwarding.md).
//!
//! Owns: forwarder config, cursors, batching, retries, rate limits, the
//! output formats (native JSON, audit.k8s.io/v1 Event, ECS, OCSF 6003) and
//! the sinks. Must not touch: how the store writes, indexes or verifies its
//! log (it reads sealed and growing segments through `kac_store::log`'s
//! read-only scanners), nor anything of the proxy's request path; the
//! proxy only starts forwarders from its config.

pub mod config;
pub mod cursor;
pub mod filter;
pub mod format;
pub mod forwarder;
pub mod metrics;
pub mod retry;
mod saver;
pub mod sink;
pub mod source;

pub use config::{ConfigError, ForwardFile, ForwarderConfig};
pub use forwarder::{Context, Forwarder, Mode};
pub use metrics::{render_prometheus, ForwarderMetrics, Registered};
