//! A SPDY/3.1 server connection over any byte transport: kubectl's
//! WebSocket tunnel (binary messages) or a plain `Upgrade: SPDY/3.1`
//! connection. The reader turns frames into stream events; the writer keeps
//! header compression in wire order.

use super::spdy::{self, Frame, HeaderCompressor, HeaderDecompressor, FLAG_FIN};
use super::ws::{self, Out};
use super::{empty_body, Body};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Largest DATA payload we send in one frame.
const MAX_DATA: usize = 32 * 1024;

/// What the client did.
#[derive(Debug)]
pub enum Event {
    /// SYN_STREAM with its decoded headers.
    Open {
        id: u32,
        headers: Vec<(String, String)>,
        fin: bool,
    },
    Data {
        id: u32,
        data: Vec<u8>,
        fin: bool,
    },
    Reset {
        id: u32,
    },
}

enum Cmd {
    Frame(Frame),
    Reply(u32),
    /// Stop writing and close the transport.
    Close,
}

/// The sending half; cheap to clone. Dropping every clone ends the connection.
#[derive(Clone)]
pub struct SpdyWriter {
    tx: mpsc::Sender<Cmd>,
}

impl SpdyWriter {
    /// SYN_REPLY (no headers) for a client stream.
    pub async fn reply(&self, id: u32) -> bool {
        self.tx.send(Cmd::Reply(id)).await.is_ok()
    }

    /// DATA on `id`, split into frames; `fin` half-closes our side.
    pub async fn data(&self, id: u32, data: &[u8], fin: bool) -> bool {
        let mut chunks: Vec<&[u8]> = data.chunks(MAX_DATA).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, c) in chunks.into_iter().enumerate() {
            let flags = if fin && i == last { FLAG_FIN } else { 0 };
            let f = Frame::Data {
                stream_id: id,
                flags,
                data: c.to_vec(),
            };
            if self.tx.send(Cmd::Frame(f)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Sends any frame.
    pub async fn frame(&self, f: Frame) -> bool {
        self.tx.send(Cmd::Frame(f)).await.is_ok()
    }

    /// Closes the connection after everything queued so far.
    pub async fn close(&self) {
        let _ = self.tx.send(Cmd::Close).await;
    }
}

/// Starts the reader and writer over a chunked byte transport: `incoming`
/// yields received bytes, `outgoing` takes bytes to send (dropping it ends
/// the transport).
pub fn start(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    outgoing: mpsc::Sender<Vec<u8>>,
    who: String,
) -> (SpdyWriter, mpsc::Receiver<Event>) {
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Cmd>(64);
    tokio::spawn(async move {
        let mut enc = HeaderCompressor::new();
        while let Some(cmd) = cmd_rx.recv().await {
            let frame = match cmd {
                Cmd::Frame(f) => f,
                Cmd::Reply(id) => Frame::SynReply {
                    stream_id: id,
                    flags: 0,
                    header_block: enc.encode(&[]),
                },
                Cmd::Close => return,
            };
            if outgoing.send(spdy::serialize_frame(&frame)).await.is_err() {
                return;
            }
        }
    });
    let writer = SpdyWriter { tx: cmd_tx };
    let (ev_tx, ev_rx) = mpsc::channel::<Event>(64);
    let w = writer.clone();
    tokio::spawn(async move {
        let mut dec = HeaderDecompressor::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut last_id = 0u32;
        'read: while let Some(chunk) = incoming.recv().await {
            buf.extend_from_slice(&chunk);
            loop {
                let (frame, used) = match spdy::parse_frame(&buf) {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::info!(%who, "SPDY: bad frame: {e}");
                        goaway(&w, last_id).await;
                        break 'read;
                    }
                };
                buf.drain(..used);
                let ev = match frame {
                    Frame::SynStream {
                        stream_id,
                        flags,
                        header_block,
                        ..
                    } => match dec.decode(&header_block) {
                        Ok(headers) => {
                            last_id = last_id.max(stream_id);
                            Event::Open {
                                id: stream_id,
                                headers,
                                fin: flags & FLAG_FIN != 0,
                            }
                        }
                        Err(e) => {
                            tracing::info!(%who, "SPDY: bad header block: {e}");
                            goaway(&w, last_id).await;
                            break 'read;
                        }
                    },
                    Frame::Headers { header_block, .. } => {
                        // Keep the shared zlib context in step.
                        let _ = dec.inflate(&header_block);
                        continue;
                    }
                    Frame::Data {
                        stream_id,
                        flags,
                        data,
                    } => Event::Data {
                        id: stream_id,
                        data,
                        fin: flags & FLAG_FIN != 0,
                    },
                    Frame::RstStream { stream_id, .. } => Event::Reset { id: stream_id },
                    Frame::Ping { id } => {
                        w.frame(Frame::Ping { id }).await;
                        continue;
                    }
                    Frame::GoAway { .. } => break 'read,
                    _ => continue,
                };
                if ev_tx.send(ev).await.is_err() {
                    break 'read;
                }
            }
        }
    });
    (writer, ev_rx)
}

async fn goaway(w: &SpdyWriter, last: u32) {
    w.frame(Frame::GoAway {
        last_good_stream_id: last,
        status: 1,
    })
    .await;
}

/// Byte transport over WebSocket binary messages (kubectl's tunnel).
pub fn ws_transport(socket: ws::Ws) -> (mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) {
    let (out, mut input) = ws::split(socket);
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        while let Some(msg) = input.next().await {
            match msg {
                Ok(Message::Binary(b)) => {
                    if in_tx.send(b.to_vec()).await.is_err() {
                        return;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if out.send(Out::Msg(Message::Binary(b.into()))).await.is_err() {
                return;
            }
        }
        let _ = out.send(Out::Close(1000, String::new())).await;
    });
    (in_rx, out_tx)
}

/// Byte transport over a raw upgraded connection.
pub fn raw_transport(
    io: TokioIo<hyper::upgrade::Upgraded>,
) -> (mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) {
    let (mut r, mut w) = tokio::io::split(io);
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if in_tx.send(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if w.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    (in_rx, out_tx)
}

/// The `X-Stream-Protocol-Version` values offered by the client.
pub fn offered_versions<B>(req: &Request<B>) -> Vec<String> {
    req.headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Answers a plain `Upgrade: SPDY/3.1` request with 101 and the chosen
/// stream protocol, and runs `session` on the upgraded connection.
pub fn accept<F, Fut>(mut req: Request<Incoming>, version: &str, session: F) -> Response<Body>
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session(TokioIo::new(upgraded)).await,
            Err(e) => tracing::warn!("SPDY upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert("connection", "Upgrade".parse().expect("static header"));
    h.insert("upgrade", "SPDY/3.1".parse().expect("static header"));
    if let Ok(v) = version.parse() {
        h.insert("x-stream-protocol-version", v);
    }
    resp
}
