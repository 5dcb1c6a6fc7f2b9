//! Forwarder metrics: plain atomics a forwarder updates, read by the proxy's
//! `/metrics`, by `kac-audit forward` when it exits, and by tests.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters and gauges of one forwarder.
#[derive(Debug, Default)]
pub struct ForwarderMetrics {
    /// Events acknowledged by the receiver (first delivery; resends of the
    /// replay window are counted in `resent`).
    pub sent: AtomicU64,
    /// Batches acknowledged.
    pub batches: AtomicU64,
    /// Failed send attempts (each is retried; nothing is skipped).
    pub failed: AtomicU64,
    /// Retries after a failed attempt.
    pub retries: AtomicU64,
    /// Events sent again after a reconnect (the replay window).
    pub resent: AtomicU64,
    /// Events read and not sent because the filter excluded them.
    pub filtered: AtomicU64,
    /// Events the format cannot represent (counted, logged, skipped).
    pub unrenderable: AtomicU64,
    /// Events that were pruned from the store before being forwarded.
    pub gap_events: AtomicU64,
    /// Sum over streams of the last seq in the log.
    pub head_seq: AtomicU64,
    /// Sum over streams of the last seq acknowledged (sent or filtered).
    pub acked_seq: AtomicU64,
    /// Unix time of the last acknowledged batch.
    pub last_ack_unix: AtomicU64,
}

impl ForwarderMetrics {
    /// Events in the log that the receiver has not acknowledged yet.
    pub fn lag(&self) -> u64 {
        self.head_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.acked_seq.load(Ordering::Relaxed))
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A forwarder's name and metrics, as registered with a metrics endpoint.
#[derive(Debug, Clone)]
pub struct Registered {
    pub name: String,
    pub sink: String,
    pub metrics: Arc<ForwarderMetrics>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition (0.0.4) of every forwarder's metrics.
pub fn render_prometheus(forwarders: &[Registered]) -> String {
    let mut out = String::new();
    if forwarders.is_empty() {
        return out;
    }
    type Get = fn(&ForwarderMetrics) -> u64;
    let families: [(&str, &str, &str, Get); 9] = [
        (
            "kac_forward_sent_events_total",
            "counter",
            "Events acknowledged by the receiver.",
            |m| ForwarderMetrics::get(&m.sent),
        ),
        (
            "kac_forward_batches_total",
            "counter",
            "Batches acknowledged by the receiver.",
            |m| ForwarderMetrics::get(&m.batches),
        ),
        (
            "kac_forward_failed_attempts_total",
            "counter",
            "Failed send attempts (each batch is retried until delivered).",
            |m| ForwarderMetrics::get(&m.failed),
        ),
        (
            "kac_forward_retries_total",
            "counter",
            "Retries after a failed send attempt.",
            |m| ForwarderMetrics::get(&m.retries),
        ),
        (
            "kac_forward_resent_events_total",
            "counter",
            "Events resent after a reconnect (replay window; possible duplicates).",
            |m| ForwarderMetrics::get(&m.resent),
        ),
        (
            "kac_forward_filtered_events_total",
            "counter",
            "Events excluded by the forwarder's filter.",
            |m| ForwarderMetrics::get(&m.filtered),
        ),
        (
            "kac_forward_unrenderable_events_total",
            "counter",
            "Events the forwarder's format cannot represent.",
            |m| ForwarderMetrics::get(&m.unrenderable),
        ),
        (
            "kac_forward_gap_events_total",
            "counter",
            "Events pruned from the store before they were forwarded.",
            |m| ForwarderMetrics::get(&m.gap_events),
        ),
        (
            "kac_forward_lag_events",
            "gauge",
            "Events in the log not yet acknowledged by the receiver.",
            ForwarderMetrics::lag,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for f in forwarders {
            let _ = writeln!(
                out,
                "{name}{{forwarder=\"{}\",sink=\"{}\"}} {}",
                esc(&f.name),
                esc(&f.sink),
                get(&f.metrics)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let m = Arc::new(ForwarderMetrics::default());
        m.sent.store(42, Ordering::Relaxed);
        m.head_seq.store(100, Ordering::Relaxed);
        m.acked_seq.store(58, Ordering::Relaxed);
        let text = render_prometheus(&[Registered {
            name: "siem".into(),
            sink: "syslog+tls://h:6514".into(),
            metrics: m,
        }]);
        assert!(text.contains(
            "kac_forward_sent_events_total{forwarder=\"siem\",sink=\"syslog+tls://h:6514\"} 42"
        ));
        assert!(text.contains(
            "kac_forward_lag_events{forwarder=\"siem\",sink=\"syslog+tls://h:6514\"} 42"
        ));
        assert!(text.contains("# TYPE kac_forward_lag_events gauge"));
        assert_eq!(render_prometheus(&[]), "");
    }
}
