//! SIEM forwarders configured in the proxy config (`forwarders:`): checked
//! with the config, started next to the listener, reading the proxy's own
//! store, stopped after the audit queue is flushed. The forwarding itself
//! (cursor, batching, retries, sinks) is kac-forward's; this is wiring only.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, ProxyConfig};
use crate::metrics::Metrics;

/// Validates `forwarders:` (names, batch sizes, sink settings) and that
/// they have a store to read.
pub(crate) fn validate(cfg: &ProxyConfig, file: &str, text: &str) -> Result<(), ConfigError> {
    kac_forward::config::validate_all(&cfg.forwarders, file, text, "forwarders")?;
    if !cfg.forwarders.is_empty() && cfg.audit.store.is_none() {
        return Err(ConfigError {
            file: file.into(),
            line: text
                .lines()
                .position(|l| l.starts_with("forwarders:"))
                .map_or(0, |i| i + 1),
            field: "forwarders".into(),
            message: "forwarders read the audit store: set audit.store".into(),
        });
    }
    Ok(())
}

/// The running forwarders.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<Result<(), String>>)>,
}

/// Builds every configured forwarder (reading TLS and token files now, so
/// a mistake stops the proxy at startup), registers their metrics and
/// starts them.
pub fn start(cfg: &ProxyConfig, metrics: &Arc<Metrics>) -> Result<Running> {
    let (stop, rx) = watch::channel(false);
    let mut running = Running {
        stop,
        tasks: Vec::new(),
    };
    let Some(store) = &cfg.audit.store else {
        return Ok(running);
    };
    let ctx = kac_forward::Context {
        store_dir: store.clone(),
        state_dir: cfg.data_dir.join("forward"),
        base_dir: cfg.config_dir.clone(),
    };
    let mut built = Vec::new();
    for f in &cfg.forwarders {
        built.push(kac_forward::Forwarder::new(f.clone(), &ctx).map_err(anyhow::Error::msg)?);
    }
    for f in built {
        metrics
            .forwarders
            .lock()
            .expect("poisoned")
            .push(f.registered());
        let name = f.name().to_string();
        let (n, stop) = (name.clone(), rx.clone());
        let task = tokio::spawn(async move {
            let r = f.run(stop, kac_forward::Mode::Follow).await;
            if let Err(e) = &r {
                tracing::error!(forwarder = %n, error = %e, "forwarder stopped on an error");
            }
            r
        });
        running.tasks.push((name, task));
    }
    Ok(running)
}

impl Running {
    /// Stops the forwarders (each closes its connection in order and saves
    /// its cursor); events not yet sent go out at the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for (name, t) in self.tasks {
            match tokio::time::timeout(Duration::from_secs(15), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(_))) => {} // logged when it happened
                Ok(Err(e)) => tracing::error!(forwarder = %name, error = %e, "forwarder panicked"),
                Err(_) => tracing::warn!(forwarder = %name, "forwarder did not stop within 15s"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "listen: 127.0.0.1:0\ndataDir: data\nusersFile: users.yaml\npolicies: [p]\n";

    #[test]
    fn forwarders_parse_and_are_validated_with_lines() {
        let ok = format!(
            "{BASE}audit: {{store: audit}}\nforwarders:\n  - name: siem\n    sink: {{kind: syslog, address: '127.0.0.1:514'}}\n"
        );
        let cfg = ProxyConfig::parse("p.yaml", &ok).unwrap();
        assert_eq!(cfg.forwarders.len(), 1);
        assert_eq!(cfg.forwarders[0].name, "siem");

        let bad = format!(
            "{BASE}audit: {{store: audit}}\nforwarders:\n  - name: siem\n    batch: {{maxEvents: 0}}\n    sink: {{kind: syslog, address: '127.0.0.1:514'}}\n"
        );
        let e = ProxyConfig::parse("p.yaml", &bad).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.line),
            ("forwarders[0].batch", 8),
            "{e}"
        );

        let no_store = format!(
            "{BASE}audit: {{jsonLines: a.jsonl}}\nforwarders:\n  - name: siem\n    sink: {{kind: syslog, address: '127.0.0.1:514'}}\n"
        );
        let e = ProxyConfig::parse("p.yaml", &no_store).unwrap_err();
        assert!(e.message.contains("audit.store"), "{e}");
    }

    #[tokio::test]
    async fn started_forwarders_show_in_metrics_and_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("audit");
        kac_store::Store::open(&store, kac_store::StoreOptions::default())
            .unwrap()
            .close()
            .unwrap();
        let text = format!(
            "{BASE}audit: {{store: audit}}\nforwarders:\n  - name: siem\n    sink: {{kind: syslog, address: '127.0.0.1:9'}}\n"
        );
        let p = dir.path().join("proxy.yaml");
        std::fs::write(&p, text).unwrap();
        let cfg = ProxyConfig::load(&p).unwrap();
        let metrics = Arc::new(Metrics::default());
        let running = start(&cfg, &metrics).unwrap();
        let text = metrics.render(&[]);
        assert!(
            text.contains(
                "kac_forward_lag_events{forwarder=\"siem\",sink=\"syslog+tcp://127.0.0.1:9\"}"
            ),
            "{text}"
        );
        running.stop().await;
        assert!(dir.path().join("data/forward/siem.lock").exists());
    }
}
