//! In-process relay tests: a real WebSocket client, the relay behind a hyper
//! server, and a fake API server speaking the v5 channel protocol over TLS.
//! (The end-to-end tests with kubectl and kac-sim live in
//! `tests/tests/proxy_sessions.rs`.)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kac_event::{DataStream, Event, SessionEvent, SessionStart, UserInfo};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{
    Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::audit::{self, AuditBackend, Backpressure};
use crate::config::ClusterConfig;

#[derive(Clone, Default)]
struct Mem {
    events: Arc<Mutex<Vec<Event>>>,
    fail: Arc<Mutex<bool>>,
}

impl AuditBackend for Mem {
    fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String> {
        if *self.fail.lock().unwrap() {
            return Err("disk full".into());
        }
        self.events.lock().unwrap().append(batch);
        Ok(())
    }
}

/// A fake API server: accepts one exec WebSocket (choosing v5), sends the
/// initial empty stdout frame, echoes stdin as "out:<data>" on stdout until
/// the v5 close signal, then reports exit code 3 and closes.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
async fn fake_apiserver(
    dir: &std::path::Path,
) -> (SocketAddr, std::path::PathBuf, Arc<Mutex<Vec<String>>>) {
    let ca = kac_pki::Ca::load_or_create(dir, "ca").unwrap();
    let server = ca
        .issue_server(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let ca_file = dir.join("cluster-ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let tls = kac_pki::server_config(&server, None, &[b"http/1.1"]).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                let cb = |req: &WsRequest, mut resp: WsResponse| {
                    let mut s = seen.lock().unwrap();
                    s.push(req.uri().to_string());
                    if let Some(u) = req.headers().get("impersonate-user") {
                        s.push(format!("impersonate-user={}", u.to_str().unwrap()));
                    }
                    resp.headers_mut().insert(
                        "sec-websocket-protocol",
                        "v5.channel.k8s.io".parse().unwrap(),
                    );
                    Ok(resp)
                };
                let mut ws = tokio_tungstenite::accept_hdr_async(tls, cb).await.unwrap();
                ws.send(Message::Binary(vec![1u8].into())).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Binary(b) = msg else { continue };
                    match b.first() {
                        Some(0) => {
                            let mut out = b"\x01out:".to_vec();
                            out.extend_from_slice(&b[1..]);
                            ws.send(Message::Binary(out.into())).await.unwrap();
                        }
                        Some(255) => break,
                        _ => {}
                    }
                }
                let status = br#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
                let mut f = vec![3u8];
                f.extend_from_slice(status);
                ws.send(Message::Binary(f.into())).await.unwrap();
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (addr, ca_file, seen)
}

/// The relay behind a plain-HTTP hyper server.
async fn front(
    cluster: Arc<Cluster>,
    audit: AuditTx,
    require: bool,
    opts: RelayOptions,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let cluster = cluster.clone();
            let audit = audit.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let cluster = cluster.clone();
                    let audit = audit.clone();
                    async move {
                        let pq = req.uri().path_and_query().unwrap().to_string();
                        let mut b = Request::builder()
                            .uri(cluster.uri(&pq).unwrap())
                            .version(hyper::Version::HTTP_11);
                        *b.headers_mut().unwrap() =
                            crate::forward::upstream_headers(req.headers(), true);
                        let upstream = b
                            .header("impersonate-user", "dev-user")
                            .body(h::empty())
                            .unwrap();
                        let mut start = SessionStart {
                            session_id: "sess-1".into(),
                            time: Utc::now(),
                            user: UserInfo {
                                name: "david".into(),
                                ..Default::default()
                            },
                            cluster: cluster.name.clone(),
                            ..Default::default()
                        };
                        describe_request(&mut start, "exec", "ns", "p", req.uri().query());
                        let ctx = SessionContext {
                            start,
                            require_recording: require,
                            audit,
                            spdy: SpdyMode::Refuse,
                            cluster,
                            shutdown: Default::default(),
                            live: None,
                        };
                        Ok::<_, std::convert::Infallible>(
                            relay_with(req, upstream, ctx, opts).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

type Setup = (
    SocketAddr,
    Mem,
    AuditTx,
    Arc<Mutex<Vec<String>>>,
    tempfile::TempDir,
);

async fn setup(require: bool) -> Setup {
    setup_with(require, RelayOptions::default()).await
}

async fn setup_with(
    require: bool,
    opts: RelayOptions,
) -> (
    SocketAddr,
    Mem,
    AuditTx,
    Arc<Mutex<Vec<String>>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let (api, ca_file, seen) = fake_apiserver(dir.path()).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "proxy-token").unwrap();
    let cluster = Cluster::build(&ClusterConfig {
        name: "c1".into(),
        server: format!("https://127.0.0.1:{}", api.port()),
        ca_file: Some(ca_file),
        token_file: Some(token_file),
        client_cert_file: None,
        client_key_file: None,
        tags: Default::default(),
    })
    .unwrap();
    let mem = Mem::default();
    let (tx, _writer) = audit::spawn(Box::new(mem.clone()), 1024, Backpressure::Wait);
    let addr = front(Arc::new(cluster), tx.clone(), require, opts).await;
    (addr, mem, tx, seen, dir)
}

fn exec_request(addr: SocketAddr) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!(
        "ws://{addr}/api/v1/namespaces/ns/pods/p/exec?command=sh&stdin=true&stdout=true&tty=true"
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "v5.channel.k8s.io".parse().unwrap(),
    );
    req
}

async fn wait_for_end(mem: &Mem) -> Vec<SessionEvent> {
    for _ in 0..200 {
        let evs: Vec<SessionEvent> = mem
            .events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Session(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if evs.iter().any(|e| matches!(e, SessionEvent::End(_))) {
            return evs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no session.end recorded");
}

#[tokio::test]
async fn exec_is_relayed_and_recorded_byte_for_byte() {
    let (addr, mem, _tx, seen, _dir) = setup(true).await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(exec_request(addr))
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "v5.channel.k8s.io"
    );
    ws.send(Message::Binary(
        b"\x04{\"Width\":90,\"Height\":20}".to_vec().into(),
    ))
    .await
    .unwrap();
    for key in [&b"l"[..], b"s", b"\r"] {
        let mut f = vec![0u8];
        f.extend_from_slice(key);
        ws.send(Message::Binary(f.into())).await.unwrap();
    }
    // A ping is answered by the proxy.
    ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
    let mut stdout = Vec::new();
    let mut got_pong = false;
    while stdout.len() < b"out:lout:sout:\r".len() {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) if b.first() == Some(&1) => stdout.extend_from_slice(&b[1..]),
            Message::Pong(_) => got_pong = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    ws.send(Message::Binary(vec![255u8, 0].into()))
        .await
        .unwrap();
    let mut status = None;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) if b.first() == Some(&3) => status = Some(b[1..].to_vec()),
            Message::Pong(_) => got_pong = true,
            _ => {}
        }
    }
    assert!(got_pong, "proxy answered the ping");
    let status = String::from_utf8(status.expect("status frame forwarded")).unwrap();
    assert!(status.contains("NonZeroExitCode"), "{status}");

    let evs = wait_for_end(&mem).await;
    let recorded_out: Vec<u8> = evs
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Data {
                stream: DataStream::Stdout,
                data,
                ..
            } => Some(data.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        recorded_out, stdout,
        "recorded output = what the user received"
    );
    assert!(
        matches!(&evs[0], SessionEvent::Start(s) if s.protocol == "v5.channel.k8s.io" && s.tty && s.command == ["sh"])
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        SessionEvent::Resize {
            width: 90,
            height: 20,
            ..
        }
    )));
    let commands: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Command(c) => Some(c.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(commands, vec!["ls".to_string()]);
    match evs.last().unwrap() {
        SessionEvent::End(e) => {
            assert_eq!(e.exit_code, Some(3));
            assert_eq!(e.bytes_stdin, 3);
            assert_eq!(e.bytes_stdout, stdout.len() as u64);
            assert_eq!(e.error, None);
        }
        other => panic!("{other:?}"),
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|s| s == "impersonate-user=dev-user"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.contains("command=sh")), "{seen:?}");
}

#[tokio::test]
async fn optional_session_with_skip_is_relayed_unrecorded_but_audited() {
    let opts = RelayOptions {
        skip_optional: true,
        ..Default::default()
    };
    let (addr, mem, _tx, _seen, _dir) = setup_with(false, opts).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(exec_request(addr))
        .await
        .unwrap();
    for key in [&b"l"[..], b"s"] {
        let mut f = vec![0u8];
        f.extend_from_slice(key);
        ws.send(Message::Binary(f.into())).await.unwrap();
    }
    let mut stdout = Vec::new();
    while stdout.len() < b"out:lout:s".len() {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) if b.first() == Some(&1) => stdout.extend_from_slice(&b[1..]),
            _ => {}
        }
    }
    ws.send(Message::Binary(vec![255u8, 0].into()))
        .await
        .unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    assert_eq!(stdout, b"out:lout:s", "relayed unchanged");
    let evs = wait_for_end(&mem).await;
    assert!(matches!(&evs[0], SessionEvent::Start(s) if s.session_id == "sess-1"));
    assert!(
        evs.iter()
            .all(|e| !matches!(e, SessionEvent::Data { .. } | SessionEvent::Command(_))),
        "no payload recorded: {evs:?}"
    );
    match evs.last().unwrap() {
        SessionEvent::End(e) => {
            assert_eq!(e.bytes_stdin, 2);
            assert_eq!(e.bytes_stdout, stdout.len() as u64);
            assert_eq!(e.error.as_deref(), Some(super::OPTIONAL_UNRECORDED));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn required_recording_overrides_skip() {
    let opts = RelayOptions {
        skip_optional: true,
        ..Default::default()
    };
    let (addr, mem, _tx, _seen, _dir) = setup_with(true, opts).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(exec_request(addr))
        .await
        .unwrap();
    ws.send(Message::Binary(b"\x00x".to_vec().into()))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < b"out:x".len() {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            if b.first() == Some(&1) {
                got.extend_from_slice(&b[1..]);
            }
        }
    }
    ws.send(Message::Binary(vec![255u8, 0].into()))
        .await
        .unwrap();
    while let Some(Ok(_)) = ws.next().await {}
    let evs = wait_for_end(&mem).await;
    assert!(evs.iter().any(|e| matches!(
        e,
        SessionEvent::Data { stream: DataStream::Stdin, data, .. } if data == b"x"
    )));
}

#[tokio::test]
async fn session_is_refused_when_the_store_fails() {
    let (addr, mem, tx, seen, _dir) = setup(true).await;
    *mem.fail.lock().unwrap() = true;
    // Any write now fails and turns the pipeline unhealthy.
    let _ = tx
        .emit(Event::Session(SessionEvent::Start(Box::default())))
        .await;
    for _ in 0..100 {
        if tx.healthy().is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(tx.healthy().is_err());
    let err = tokio_tungstenite::connect_async(exec_request(addr))
        .await
        .expect_err("handshake must be refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status(), 503);
            let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("session recording unavailable"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the cluster"
    );
}

#[tokio::test]
async fn plain_spdy_is_refused_by_default() {
    let (addr, _mem, _tx, seen, _dir) = setup(false).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(
        b"POST /api/v1/namespaces/ns/pods/p/exec?command=ls HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.contains("cannot record SPDY"), "{text}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn session_is_stopped_when_recording_fails_midway() {
    let (addr, mem, _tx, _seen, _dir) = setup(true).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(exec_request(addr))
        .await
        .unwrap();
    ws.send(Message::Binary(b"\x00a".to_vec().into()))
        .await
        .unwrap();
    // Wait for the echo: the session is up and recorded.
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) if b.as_ref() == b"\x01out:a" => break,
            _ => {}
        }
    }
    *mem.fail.lock().unwrap() = true;
    let mut status = None;
    let mut close_code = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    'outer: while tokio::time::Instant::now() < deadline {
        if ws
            .send(Message::Binary(b"\x00x".to_vec().into()))
            .await
            .is_err()
        {
            break;
        }
        let wait = tokio::time::sleep(Duration::from_millis(50));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                m = ws.next() => match m {
                    Some(Ok(Message::Binary(b))) if b.first() == Some(&3) => {
                        status = Some(String::from_utf8_lossy(&b[1..]).into_owned());
                    }
                    Some(Ok(Message::Close(f))) => {
                        close_code = f.map(|f| u16::from(f.code));
                        break 'outer;
                    }
                    Some(Ok(_)) => {}
                    _ => break 'outer,
                }
            }
        }
    }
    let status = status.expect("a Status tells the user why the session stopped");
    assert!(status.contains("recording failed"), "{status}");
    assert_eq!(close_code, Some(1011));
}
