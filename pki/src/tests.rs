use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs one TLS handshake over an in-memory duplex and echoes a byte; returns the
/// client identity the server saw (if any), or the first handshake error.
async fn handshake(
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
) -> Result<Option<(String, Vec<String>)>> {
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let server_task = tokio::spawn(async move {
        let mut tls = acceptor.accept(s).await?;
        let ident = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| peer_identity(c))
            .transpose()?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await?;
        tls.write_all(&b).await?;
        tls.flush().await?;
        anyhow::Ok(ident)
    });
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let client_res = async {
        let mut tls = connector.connect(name, c).await?;
        tls.write_all(b"x").await?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await?;
        anyhow::ensure!(&b == b"x", "echo mismatch");
        anyhow::Ok(())
    }
    .await;
    let server_res = server_task.await?;
    client_res?;
    server_res
}

#[tokio::test]
async fn same_ca_handshake_with_and_without_client_cert() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), "ca").unwrap();
    let server = ca.issue_server(&["kac-sim".into()], &[]).unwrap();
    let client = ca
        .issue_client(
            "alice",
            &["kac:editors".into(), "dev".into()],
            Duration::from_secs(3600),
        )
        .unwrap();
    let sc = server_config(&server, Some(ca.cert_pem()), &[b"h2", b"http/1.1"]).unwrap();
    let cc = client_config(ca.cert_pem(), Some(&client), &[b"h2"]).unwrap();
    let ident = handshake(sc.clone(), cc).await.unwrap();
    assert_eq!(
        ident,
        Some((
            "alice".to_string(),
            vec!["kac:editors".to_string(), "dev".to_string()]
        ))
    );
    // Client certificates are optional: a token-only client still connects.
    let cc = client_config(ca.cert_pem(), None, &[]).unwrap();
    assert_eq!(handshake(sc, cc).await.unwrap(), None);
}

#[tokio::test]
async fn other_ca_server_rejected_by_client() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ca1 = Ca::load_or_create(d1.path(), "ca").unwrap();
    let ca2 = Ca::load_or_create(d2.path(), "ca").unwrap();
    let server = ca2.issue_server(&[], &[]).unwrap();
    let sc = server_config(&server, None, &[]).unwrap();
    let cc = client_config(ca1.cert_pem(), None, &[]).unwrap();
    assert!(handshake(sc, cc).await.is_err());
}

#[tokio::test]
async fn other_ca_client_cert_rejected_by_server() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ca1 = Ca::load_or_create(d1.path(), "ca").unwrap();
    let ca2 = Ca::load_or_create(d2.path(), "ca").unwrap();
    let server = ca1.issue_server(&[], &[]).unwrap();
    let rogue = ca2
        .issue_client("mallory", &[], Duration::from_secs(60))
        .unwrap();
    let sc = server_config(&server, Some(ca1.cert_pem()), &[]).unwrap();
    let cc = client_config(ca1.cert_pem(), Some(&rogue), &[]).unwrap();
    assert!(handshake(sc, cc).await.is_err());
}

#[tokio::test]
async fn reloaded_ca_issues_certs_that_chain() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ca::load_or_create(dir.path(), "sim-ca").unwrap();
    let pem = first.cert_pem().to_string();
    drop(first);
    let key_meta = std::fs::metadata(dir.path().join("sim-ca.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_meta.permissions().mode() & 0o777, 0o600);
    let again = Ca::load_or_create(dir.path(), "sim-ca").unwrap();
    assert_eq!(again.cert_pem(), pem);
    let server = again.issue_server(&[], &[]).unwrap();
    let sc = server_config(&server, None, &[]).unwrap();
    let cc = client_config(&pem, None, &[]).unwrap();
    handshake(sc, cc).await.unwrap();
}

#[test]
fn too_many_organizations_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), "ca").unwrap();
    let orgs: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    assert!(ca.issue_client("u", &orgs, Duration::from_secs(1)).is_err());
}

#[test]
fn peer_identity_rejects_garbage() {
    assert!(peer_identity(b"not a certificate").is_err());
}
