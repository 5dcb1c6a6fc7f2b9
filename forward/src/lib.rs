//! `kac-forward`: delivers every event in the KAC audit store to SIEMs, at
//! least once.
//!
//! The shape is Vector's: a *source* (the store's log, read from a persisted
//! cursor), *transforms* (a filter, then a [`format`] that renders an event
//! for the receiver) and a *sink* (syslog over TCP or TLS, Splunk HEC, a
//! Kubernetes audit webhook). A forwarder only advances its cursor after the
//! sink has acknowledged a batch, so a crash or a receiver outage repeats at
//! most the unacknowledged batch and never skips an event.
//!
//! Owns: forwarder config, cursors, batching, retries, rate limits, the
//! output formats (native JSON, audit.k8s.io/v1 Event, ECS, OCSF 6003) and
//! the sinks. Must not touch: how the store writes, indexes or verifies its
//! log (it reads through `kac_store::Store::tail` only), nor anything of the
//! proxy's request path; the proxy only starts forwarders from its config.

pub mod format;
pub mod sink;
