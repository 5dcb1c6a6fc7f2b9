//! Prometheus metrics (`/metrics`, text exposition format 0.0.4).
//!
//! Hand-written rather than pulled from a metrics crate: the proxy needs a
//! handful of counters, one histogram family and two gauges, and the text
//! format is small and stable.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Label values of `kac_requests_total`: (cluster, verb, code, decision).
type RequestLabels = (String, String, u16, &'static str);

/// The proxy's metrics registry.
#[derive(Default)]
pub struct Metrics {
    /// (cluster, verb, code, decision) → count
    requests: Mutex<BTreeMap<RequestLabels, u64>>,
    /// (cluster, verb) → latency histogram
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    pub open_watches: AtomicI64,
    pub live_sessions: AtomicI64,
    /// SIEM forwarders started from the config (rendered by kac-forward).
    pub forwarders: Mutex<Vec<kac_forward::Registered>>,
}

/// The gauges the proxy tracks with guards.
#[derive(Debug, Clone, Copy)]
pub enum Gauge {
    OpenWatches,
    LiveSessions,
}

/// Increments a gauge while alive, decrements it when dropped.
pub struct GaugeGuard {
    metrics: Arc<Metrics>,
    gauge: Gauge,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.metrics
            .gauge(self.gauge)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Increments `gauge` until the returned guard is dropped.
pub fn track(metrics: &Arc<Metrics>, gauge: Gauge) -> GaugeGuard {
    metrics.gauge(gauge).fetch_add(1, Ordering::Relaxed);
    GaugeGuard {
        metrics: metrics.clone(),
        gauge,
    }
}

impl Metrics {
    fn gauge(&self, g: Gauge) -> &AtomicI64 {
        match g {
            Gauge::OpenWatches => &self.open_watches,
            Gauge::LiveSessions => &self.live_sessions,
        }
    }

    pub fn observe(
        &self,
        cluster: &str,
        verb: &str,
        code: u16,
        decision: &'static str,
        elapsed: Duration,
    ) {
        *self
            .requests
            .lock()
            .expect("poisoned")
            .entry((cluster.to_owned(), verb.to_owned(), code, decision))
            .or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut lat = self.latency.lock().expect("poisoned");
        let h = lat
            .entry((cluster.to_owned(), verb.to_owned()))
            .or_insert_with(|| Histogram {
                counts: vec![0; BUCKETS.len()],
                ..Default::default()
            });
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Render in Prometheus text format; `extra` lines are appended (e.g.
    /// audit queue gauges owned elsewhere).
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP kac_requests_total Requests by cluster, verb, response code and decision.\n# TYPE kac_requests_total counter\n");
        for ((cluster, verb, code, decision), n) in self.requests.lock().expect("poisoned").iter() {
            let _ = writeln!(
                out,
                "kac_requests_total{{cluster=\"{}\",verb=\"{}\",code=\"{code}\",decision=\"{decision}\"}} {n}",
                esc(cluster),
                esc(verb)
            );
        }
        out.push_str("# HELP kac_request_duration_seconds Request latency through the proxy.\n# TYPE kac_request_duration_seconds histogram\n");
        for ((cluster, verb), h) in self.latency.lock().expect("poisoned").iter() {
            let labels = format!("cluster=\"{}\",verb=\"{}\"", esc(cluster), esc(verb));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "kac_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "kac_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kac_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kac_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let gauges = [
            (
                "kac_open_watches",
                "Watch streams open through the proxy.",
                self.open_watches.load(Ordering::Relaxed) as f64,
            ),
            (
                "kac_live_sessions",
                "Exec, attach and port-forward sessions in progress.",
                self.live_sessions.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, v) in gauges.iter().chain(extra.iter()) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out.push_str(&kac_forward::render_prometheus(
            &self.forwarders.lock().expect("poisoned"),
        ));
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Arc::new(Metrics::default());
        m.observe("dev", "list", 200, "allowed", Duration::from_millis(3));
        m.observe("dev", "list", 200, "allowed", Duration::from_millis(30));
        m.observe("prod", "get", 403, "denied", Duration::from_micros(100));
        let _w = track(&m, Gauge::OpenWatches);
        let text = m.render(&[("kac_audit_queue_depth", "Events waiting.", 7.0)]);
        assert!(text.contains(
            "kac_requests_total{cluster=\"dev\",verb=\"list\",code=\"200\",decision=\"allowed\"} 2"
        ));
        assert!(text.contains(
            "kac_requests_total{cluster=\"prod\",verb=\"get\",code=\"403\",decision=\"denied\"} 1"
        ));
        assert!(text.contains(
            "kac_request_duration_seconds_bucket{cluster=\"dev\",verb=\"list\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "kac_request_duration_seconds_bucket{cluster=\"dev\",verb=\"list\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("kac_open_watches 1"));
        assert!(text.contains("kac_audit_queue_depth 7"));
    }
}
