//! The channel protocols kubectl does not use, checked at the frame level
//! with a raw WebSocket client: base64 text frames and the original
//! `channel.k8s.io` (plain-text errors, no JSON Status).

use super::server::TestServer;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Runs `sh -c script` over `protocol` and returns every message received
/// (text frames as their bytes), up to the close.
async fn exec_raw(
    s: &TestServer,
    protocol: &str,
    script: &str,
    stdin: Option<&str>,
) -> Vec<Message> {
    let script: String = script
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!(
        "ws://{}/api/v1/namespaces/default/pods/p1/exec?command=sh&command=-c&command={script}&container=main&stdout=true&stderr=true{}",
        s.addr,
        if stdin.is_some() { "&stdin=true" } else { "" }
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"].to_str().unwrap(),
        protocol
    );
    if let Some(input) = stdin {
        let frame = if protocol.contains("base64") {
            Message::Text(
                format!(
                    "0{}",
                    base64::engine::general_purpose::STANDARD.encode(input)
                )
                .into(),
            )
        } else {
            let mut b = vec![0u8];
            b.extend_from_slice(input.as_bytes());
            Message::Binary(b.into())
        };
        ws.send(frame).await.unwrap();
    }
    let mut got = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        let close = matches!(m, Message::Close(_));
        got.push(m);
        if close {
            break;
        }
    }
    got
}

fn decode_b64(m: &Message) -> (u8, Vec<u8>) {
    let Message::Text(t) = m else {
        panic!("expected a text frame, got {m:?}")
    };
    let t = t.as_bytes();
    (
        t[0] - b'0',
        base64::engine::general_purpose::STANDARD
            .decode(&t[1..])
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_protocol_frames() {
    let s = TestServer::start("b64").await;
    let got = exec_raw(
        &s,
        "v4.base64.channel.k8s.io",
        "read x; echo got-$x; echo e >&2; exit 2",
        Some("abc\n"),
    )
    .await;
    // The announcement is an empty stdout frame: just the digit.
    assert_eq!(decode_b64(&got[0]), (1, vec![]));
    let frames: Vec<(u8, Vec<u8>)> = got[1..got.len() - 1].iter().map(decode_b64).collect();
    let stdout: Vec<u8> = frames
        .iter()
        .filter(|f| f.0 == 1)
        .flat_map(|f| f.1.clone())
        .collect();
    assert_eq!(stdout, b"got-abc\n");
    assert!(frames.contains(&(2, b"e\n".to_vec())), "{frames:?}");
    let status = &frames.last().unwrap();
    assert_eq!(status.0, 3);
    let st: serde_json::Value = serde_json::from_slice(&status.1).unwrap();
    assert_eq!(st["reason"], "NonZeroExitCode");
    assert_eq!(st["details"]["causes"][0]["message"], "2");
    match got.last().unwrap() {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected close 1000, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_protocol_reports_only_failures_as_text() {
    let s = TestServer::start("v1").await;
    let ok = exec_raw(&s, "channel.k8s.io", "echo fine", None).await;
    let bins: Vec<Vec<u8>> = ok
        .iter()
        .filter_map(|m| match m {
            Message::Binary(b) => Some(b.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(bins, vec![vec![1], b"\x01fine\n".to_vec()]);

    let bad = exec_raw(&s, "channel.k8s.io", "exit 7", None).await;
    let err: Vec<u8> = bad
        .iter()
        .find_map(|m| match m {
            Message::Binary(b) if b.first() == Some(&3) => Some(b[1..].to_vec()),
            _ => None,
        })
        .expect("an error frame");
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("command terminated with non-zero exit code: "),
        "{err}"
    );
    assert!(!err.starts_with('{'));
}
