//! A local HTTP(S) receiver for the HEC and webhook tests: a hyper server
//! (TLS from a kac-pki test CA) that records every request and answers
//! from a script, plus the schema checks both test files share.

#![allow(dead_code)] // each test file uses a different part

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::DateTime;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub const HEC_OK: &str = r#"{"text":"Success","code":0}"#;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// CN of the client certificate, when one was presented.
    pub client_cn: Option<String>,
    /// The status the receiver answered (0: it never answered).
    pub status: u16,
}

/// A scripted answer: status and body. Status 0 means never answer.
pub type Answer = (u16, String);

#[derive(Clone, Default)]
pub struct Receiver {
    pub addr: Option<SocketAddr>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    pub default: Arc<Mutex<Option<Answer>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts a receiver; with `tls`, it speaks HTTPS and asks for (but
    /// does not require) a client certificate signed by the test CA.
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>, default: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            addr: Some(listener.local_addr().unwrap()),
            ..Default::default()
        };
        *r.default.lock().unwrap() = Some(default);
        let rx = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                rx.connections.fetch_add(1, Ordering::SeqCst);
                let rx = rx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(cfg) => {
                            let Ok(stream) = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await
                            else {
                                return; // handshake refused (e.g. wrong CA on the client)
                            };
                            let cn = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| kac_pki::peer_identity(c).unwrap().0);
                            rx.serve(stream, cn).await
                        }
                        None => rx.serve(tcp, None).await,
                    }
                });
            }
        });
        r
    }

    pub async fn serve<S>(self, stream: S, client_cn: Option<String>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let rx = self.clone();
            let cn = client_cn.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await?.to_bytes();
                let next = rx.script.lock().unwrap().pop_front();
                let (status, text) =
                    next.unwrap_or_else(|| rx.default.lock().unwrap().clone().unwrap());
                rx.seen.lock().unwrap().push(Seen {
                    path: parts.uri.path().to_string(),
                    headers: parts.headers,
                    body,
                    client_cn: cn,
                    status,
                });
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<_, hyper::Error>(
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(text)))
                        .unwrap(),
                )
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr.unwrap())
    }

    pub fn then(&self, answers: &[(u16, &str)]) {
        let mut s = self.script.lock().unwrap();
        for (c, b) in answers {
            s.push_back((*c, b.to_string()));
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate,
/// written where a forwarder config points.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub server: Arc<rustls::ServerConfig>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = kac_pki::Ca::load_or_create(dir.path(), "receiver-ca").unwrap();
        let server_ck = ca.issue_server(&[], &[]).unwrap();
        let client = ca
            .issue_client("kac-forwarder", &[], Duration::from_secs(3600))
            .unwrap();
        std::fs::write(dir.path().join("client.crt"), &client.cert_pem).unwrap();
        std::fs::write(dir.path().join("client.key"), &client.key_pem).unwrap();
        let other = kac_pki::Ca::load_or_create(dir.path(), "other-ca").unwrap();
        drop(other);
        std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
        let server =
            kac_pki::server_config(&server_ck, Some(ca.cert_pem()), &[]).expect("server config");
        Pki {
            dir,
            server: Arc::new(server),
        }
    }

    /// A server config that requires a client certificate from the CA.
    pub fn mtls_required(&self) -> Arc<rustls::ServerConfig> {
        let read = |f: &str| std::fs::read_to_string(self.base().join(f)).unwrap();
        let ca = kac_pki::Ca::load_or_create(self.base(), "receiver-ca").unwrap();
        let server = ca.issue_server(&[], &[]).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in kac_pki::pem_certs(&read("receiver-ca.crt")).unwrap() {
            roots.add(c).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                kac_pki::pem_certs(&server.cert_pem).unwrap(),
                kac_pki::pem_key(&server.key_pem).unwrap(),
            )
            .unwrap();
        Arc::new(cfg)
    }

    pub fn base(&self) -> &Path {
        self.dir.path()
    }
}

/// The fields upstream's audit Event has without `omitempty`.
pub const AUDIT_EVENT_REQUIRED: [&str; 8] = [
    "level",
    "auditID",
    "stage",
    "requestURI",
    "verb",
    "user",
    "requestReceivedTimestamp",
    "stageTimestamp",
];

pub fn check_audit_event(item: &Value) {
    assert_eq!(item["kind"], "Event");
    assert_eq!(item["apiVersion"], "audit.k8s.io/v1");
    for f in AUDIT_EVENT_REQUIRED {
        assert!(item.get(f).is_some(), "item lacks {f}: {item}");
    }
    assert!(["None", "Metadata", "Request", "RequestResponse"]
        .contains(&item["level"].as_str().unwrap()));
    assert!([
        "RequestReceived",
        "ResponseStarted",
        "ResponseComplete",
        "Panic"
    ]
    .contains(&item["stage"].as_str().unwrap()));
    assert!(item["user"]["username"].is_string());
    for ts in ["requestReceivedTimestamp", "stageTimestamp"] {
        let s = item[ts].as_str().unwrap();
        DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{ts} {s}: {e}"));
        assert_eq!(
            s.len(),
            "2026-03-01T10:00:00.123456Z".len(),
            "MicroTime: {s}"
        );
    }
}
