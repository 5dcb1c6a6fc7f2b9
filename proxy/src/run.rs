//! Start-up wiring: config → TLS, users, clusters, policies, audit → listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::audit::{self, AuditBackend, JsonLinesBackend, StoreBackend};
use crate::authn::Authenticator;
use crate::clusters::Registry;
use crate::config::ProxyConfig;
use crate::credentials::Credentials;
use crate::handler::Proxy;
use crate::metrics::Metrics;
use crate::server;
use crate::shutdown::Shutdown;
use crate::users::UserDirectory;

/// Run the proxy until SIGTERM or Ctrl-C.
pub async fn run(cfg: ProxyConfig) -> Result<()> {
    let tls = server::load_tls(&cfg)?;
    let users = UserDirectory::open(&cfg.users_file).map_err(anyhow::Error::new)?;
    let credentials = Credentials::open(&cfg.credentials, &cfg.data_dir)?;
    let clusters = Registry::open(cfg.clusters.clone(), cfg.clusters_file.clone())?;
    let policies = kac_policy::PolicyStore::open(&cfg.policies)
        .map_err(|e| anyhow::anyhow!("loading policies:\n{e}"))?;
    let backend = audit_backend(&cfg)?;
    let (audit_tx, audit_writer) =
        audit::spawn(backend, cfg.audit.queue_capacity, cfg.audit.backpressure);

    let metrics = Arc::new(Metrics::default());
    let forwarders = crate::siem::start(&cfg, &metrics)?;
    let proxy = Arc::new(Proxy {
        clusters,
        authn: Authenticator {
            users,
            credentials: Some(Arc::new(credentials)),
        },
        policies,
        audit: audit_tx,
        metrics,
        sessions: cfg.sessions.clone(),
        shutdown: Shutdown::default(),
    });

    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("https://{addr}");
    write_ready(&cfg, &url, &tls.ca_pem)?;

    spawn_reloaders(proxy.clone());
    println!("kac-proxy ready on {url}");
    tracing::info!(%url, clusters = proxy.clusters.all().len(), "kac-proxy ready");

    let shutdown = proxy.shutdown.clone();
    let signalled = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signalled.begin();
    });
    server::serve(
        listener,
        tls.server_config.clone(),
        proxy.clone(),
        shutdown.clone(),
    )
    .await;
    let stopped = stop(proxy, audit_writer, cfg.shutdown_grace).await;
    forwarders.stop().await;
    stopped
}

/// After the signal: the listener is closed; end streams and sessions, let
/// in-flight requests finish within `grace`, then drain, flush and fsync
/// the audit queue. Errors (exit code 1) when audit events may be missing.
async fn stop(proxy: Arc<Proxy>, audit_writer: audit::AuditWriter, grace: Duration) -> Result<()> {
    let shutdown = proxy.shutdown.clone();
    tracing::info!(
        tasks = shutdown.running(),
        open_watches = proxy.metrics.open_watches.load(std::sync::atomic::Ordering::Relaxed),
        live_sessions = proxy.metrics.live_sessions.load(std::sync::atomic::Ordering::Relaxed),
        grace = ?grace,
        "shutting down: ending watches and sessions, finishing requests"
    );
    let cut = shutdown.wait(grace, Duration::from_secs(5)).await;
    if cut > 0 {
        tracing::warn!(
            tasks = cut,
            "grace period over: cut connections and sessions still open (their audit events are still written)"
        );
    }
    drop(proxy);
    tracing::info!("flushing audit events");
    // The writer gets at least 30 s to drain and fsync, whatever the grace.
    match audit_writer.close(grace.max(Duration::from_secs(30))).await {
        Ok(()) => {
            tracing::info!("audit events written and synced; kac-proxy stopped");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "stopping with audit events not written");
            Err(anyhow::anyhow!("{e}"))
        }
    }
}

fn audit_backend(cfg: &ProxyConfig) -> Result<Box<dyn AuditBackend>> {
    if let Some(path) = &cfg.audit.json_lines {
        let b = JsonLinesBackend::open(path, cfg.audit.fsync_interval)
            .with_context(|| format!("opening audit log {}", path.display()))?;
        return Ok(Box::new(b));
    }
    let store = cfg
        .audit
        .store
        .as_ref()
        .expect("validated: store or jsonLines");
    let b = StoreBackend::open(store, cfg.audit.fsync_interval, &cfg.audit.writer_id)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Box::new(b))
}

/// `DATA_DIR/ready.json`: where the proxy listens and the CA that signs it,
/// written atomically once the listener is bound (port 0 picks a port).
fn write_ready(cfg: &ProxyConfig, url: &str, ca_pem: &str) -> Result<()> {
    let ca_file = cfg.data_dir.join("ca.crt");
    std::fs::write(&ca_file, ca_pem)?;
    let ready = serde_json::json!({"url": url, "caFile": ca_file});
    let tmp = cfg.data_dir.join("ready.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&ready)?)?;
    std::fs::rename(&tmp, cfg.data_dir.join("ready.json"))?;
    Ok(())
}

/// Reload users, clusters and policies when their files change, and
/// policies on SIGHUP. A broken new file keeps the old one in force.
fn spawn_reloaders(proxy: Arc<Proxy>) {
    let p = proxy.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Some(Err(e)) = p.authn.users.poll_changes() {
                tracing::error!(error = %e, "users file not reloaded; keeping the previous one");
            }
            if let Some(Err(e)) = p.clusters.poll_changes() {
                tracing::error!(error = %e, "clusters file not reloaded; keeping the previous one");
            }
            match p.policies.poll_changes() {
                Some(Ok(_)) => tracing::info!("policies reloaded"),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "policies not reloaded; keeping the previous set")
                }
                None => {}
            }
        }
    });
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match proxy.policies.reload() {
                Ok(_) => tracing::info!("policies reloaded on SIGHUP"),
                Err(e) => {
                    tracing::error!(error = %e, "policies not reloaded; keeping the previous set")
                }
            }
        }
    });
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
