//! The HTTPS listener: rustls with HTTP/2 and HTTP/1.1 (ALPN), optional
//! client certificates from the user CA, upgrades enabled (kubectl uses
//! HTTP/1.1 upgrades for exec, attach and port-forward).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::ProxyConfig;
use crate::handler::{ConnInfo, Proxy};
use crate::shutdown::Shutdown;

/// TLS material of a running proxy.
pub struct Tls {
    pub server_config: Arc<rustls::ServerConfig>,
    /// The CA that signs the serving certificate (for kubeconfigs).
    pub ca_pem: String,
    pub user_ca: kac_pki::Ca,
}

/// Load or create the proxy CA, the user CA and the serving certificate.
pub fn load_tls(cfg: &ProxyConfig) -> Result<Tls> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let proxy_ca = kac_pki::Ca::load_or_create(&cfg.data_dir, "proxy-ca")?;
    let user_ca = kac_pki::Ca::load_or_create(&cfg.data_dir, "user-ca")?;
    let (cert, ca_pem) = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(c), Some(k)) => (
            kac_pki::CertKey {
                cert_pem: read(c)?,
                key_pem: read(k)?,
            },
            read(c)?,
        ),
        _ => {
            let crt = cfg.data_dir.join("server.crt");
            let key = cfg.data_dir.join("server.key");
            let cert = if crt.exists() && key.exists() {
                kac_pki::CertKey {
                    cert_pem: read(&crt)?,
                    key_pem: read(&key)?,
                }
            } else {
                let ck = proxy_ca.issue_server(&cfg.tls.hostnames, &[])?;
                write_private(&key, &ck.key_pem)?;
                std::fs::write(&crt, &ck.cert_pem)
                    .with_context(|| format!("writing {}", crt.display()))?;
                ck
            };
            (cert, proxy_ca.cert_pem().to_owned())
        }
    };
    let server_config =
        kac_pki::server_config(&cert, Some(user_ca.cert_pem()), &[b"h2", b"http/1.1"])?;
    Ok(Tls {
        server_config: Arc::new(server_config),
        ca_pem,
        user_ca,
    })
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

fn write_private(p: &PathBuf, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .with_context(|| format!("writing {}", p.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Accept connections until shutdown begins. Each connection runs as a
/// task tracked by `shutdown`: when it begins, HTTP/2 connections get a
/// GOAWAY and HTTP/1.1 ones close after their current response (watches end
/// themselves, see [`crate::shutdown`]); when the grace period is over, what
/// is left is dropped.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    proxy: Arc<Proxy>,
    shutdown: Shutdown,
) {
    let acceptor = TlsAcceptor::from(tls);
    let started = shutdown.started();
    tokio::pin!(started);
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut started => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let proxy = proxy.clone();
        let sd = shutdown.clone();
        shutdown.spawn(async move {
            if let Err(e) = serve_conn(acceptor, tcp, remote, proxy, sd).await {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn serve_conn(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    proxy: Arc<Proxy>,
    shutdown: Shutdown,
) -> Result<()> {
    let forced = shutdown.forced();
    tokio::pin!(forced);
    let tls = tokio::select! {
        tls = acceptor.accept(tcp) => tls.context("TLS handshake")?,
        _ = &mut forced => return Ok(()),
    };
    let cert_user = crate::handler::peer_user(tls.get_ref().1.peer_certificates());
    let conn = Arc::new(ConnInfo {
        remote,
        client_cert_user: cert_user,
    });
    let svc = service_fn(move |req| {
        let proxy = proxy.clone();
        let conn = conn.clone();
        async move { Ok::<_, std::convert::Infallible>(proxy.handle(req, conn).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    let started = shutdown.started();
    tokio::pin!(started);
    let mut graceful = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => return r.map_err(|e| anyhow::anyhow!("{e}")),
            _ = &mut started, if !graceful => {
                graceful = true;
                conn.as_mut().graceful_shutdown();
            }
            // Grace period over: dropping the connection drops its
            // in-flight bodies, which still emit their audit events.
            _ = &mut forced => return Ok(()),
        }
    }
}
