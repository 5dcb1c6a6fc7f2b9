//! Server side of the WebSocket upgrade on a hyper connection, and a small
//! sender half that serialises all writes through one task.

use super::Body;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The upgraded connection type.
pub type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Whether the request asks for a WebSocket upgrade.
pub fn is_websocket<B>(req: &Request<B>) -> bool {
    header_has_token(req, "upgrade", "websocket") && req.headers().contains_key("sec-websocket-key")
}

/// Whether the request asks for a SPDY/3.1 upgrade (the pre-1.30 and fallback form).
pub fn is_spdy<B>(req: &Request<B>) -> bool {
    header_has_token(req, "upgrade", "spdy/3.1")
}

fn header_has_token<B>(req: &Request<B>, name: &str, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// The `Sec-WebSocket-Protocol` values offered by the client.
pub fn offered_protocols<B>(req: &Request<B>) -> Vec<String> {
    req.headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Answers the handshake with 101 and the chosen subprotocol, and spawns
/// `session` on the upgraded connection once hyper hands it over.
pub fn accept<F, Fut>(mut req: Request<Incoming>, protocol: &str, session: F) -> Response<Body>
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                session(ws).await;
            }
            Err(e) => tracing::warn!("websocket upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(super::empty_body());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("upgrade", "websocket".parse().expect("static header"));
    h.insert("connection", "Upgrade".parse().expect("static header"));
    if let Ok(v) = accept.parse() {
        h.insert("sec-websocket-accept", v);
    }
    if let Ok(v) = protocol.parse() {
        h.insert("sec-websocket-protocol", v);
    }
    resp
}

/// What the session wants written: a message, or the final close.
#[derive(Debug)]
pub enum Out {
    Msg(Message),
    /// Close with this code and reason, then stop.
    Close(u16, String),
}

/// Splits `ws` into an ordered writer (a task fed by the returned sender) and
/// the read half. The writer ends after `Out::Close` or when all senders drop.
pub fn split(ws: Ws) -> (mpsc::Sender<Out>, futures_util::stream::SplitStream<Ws>) {
    let (mut sink, stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Out>(64);
    tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Msg(m) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Out::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    let _ = sink.flush().await;
                    // Give the peer a moment to answer the close, then drop.
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(2), sink.close()).await;
                    return;
                }
            }
        }
        let _ = sink.close().await;
    });
    (tx, stream)
}

/// A binary or text message from raw bytes (text must be UTF-8: the base64
/// protocols only ever produce ASCII).
pub fn message(text: bool, bytes: Vec<u8>) -> Message {
    if text {
        Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
    } else {
        Message::Binary(bytes.into())
    }
}
