//! The SPDY/3.1 server side of kubectl's port-forward tunnel: SPDY bytes
//! arrive split arbitrarily across WebSocket binary messages; each forwarded
//! connection is an error stream plus a data stream sharing a `requestid`.

use super::spdy::{self, Frame, HeaderCompressor, HeaderDecompressor, FLAG_FIN};
use super::ws::{self, Out};
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
struct StreamInfo {
    kind: String,
    port: String,
    request_id: String,
}

async fn send(out: &mpsc::Sender<Out>, f: &Frame) -> bool {
    out.send(Out::Msg(Message::Binary(spdy::serialize_frame(f).into())))
        .await
        .is_ok()
}

/// Runs one tunnelled SPDY session until the client goes away.
pub async fn run(socket: ws::Ws, pod: String) {
    let (out, mut input) = ws::split(socket);
    let mut buf: Vec<u8> = Vec::new();
    let mut dec = HeaderDecompressor::new();
    let mut enc = HeaderCompressor::new();
    let mut streams: HashMap<u32, StreamInfo> = HashMap::new();
    let mut last_id = 0u32;
    'read: while let Some(msg) = input.next().await {
        match msg {
            Ok(Message::Binary(b)) => buf.extend_from_slice(&b),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        }
        loop {
            let (frame, used) = match spdy::parse_frame(&buf) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(%pod, "port-forward: bad SPDY frame: {e}");
                    send(
                        &out,
                        &Frame::GoAway {
                            last_good_stream_id: last_id,
                            status: 1,
                        },
                    )
                    .await;
                    break 'read;
                }
            };
            buf.drain(..used);
            let ok = match frame {
                Frame::SynStream {
                    stream_id,
                    header_block,
                    ..
                } => {
                    let headers = match dec.decode(&header_block) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::info!(%pod, "port-forward: bad header block: {e}");
                            send(
                                &out,
                                &Frame::GoAway {
                                    last_good_stream_id: last_id,
                                    status: 1,
                                },
                            )
                            .await;
                            break 'read;
                        }
                    };
                    last_id = last_id.max(stream_id);
                    let get = |k: &str| spdy::header(&headers, k).unwrap_or("").to_string();
                    let info = StreamInfo {
                        kind: get("streamtype"),
                        port: get("port"),
                        request_id: get("requestid"),
                    };
                    tracing::debug!(%pod, stream_id, ?info, "port-forward stream");
                    let valid_port = info.port.parse::<u16>().is_ok_and(|p| p > 0);
                    streams.insert(stream_id, info);
                    let reply = Frame::SynReply {
                        stream_id,
                        flags: 0,
                        header_block: enc.encode(&[]),
                    };
                    let mut ok = send(&out, &reply).await;
                    if !valid_port {
                        // Report on the error stream, as kubelet does.
                        if let Some(err_id) = partner(&streams, stream_id, "error") {
                            let msg = "invalid port".as_bytes().to_vec();
                            ok &= send(
                                &out,
                                &Frame::Data {
                                    stream_id: err_id,
                                    flags: FLAG_FIN,
                                    data: msg,
                                },
                            )
                            .await;
                        }
                    }
                    ok
                }
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    let kind = streams.get(&stream_id).map(|s| s.kind.clone());
                    let mut ok = true;
                    if kind.as_deref() == Some("data") {
                        // The echo service.
                        if !data.is_empty() {
                            ok = send(
                                &out,
                                &Frame::Data {
                                    stream_id,
                                    flags: 0,
                                    data,
                                },
                            )
                            .await;
                        }
                        if flags & FLAG_FIN != 0 {
                            ok &= send(
                                &out,
                                &Frame::Data {
                                    stream_id,
                                    flags: FLAG_FIN,
                                    data: Vec::new(),
                                },
                            )
                            .await;
                            if let Some(err_id) = partner(&streams, stream_id, "error") {
                                ok &= send(
                                    &out,
                                    &Frame::Data {
                                        stream_id: err_id,
                                        flags: FLAG_FIN,
                                        data: Vec::new(),
                                    },
                                )
                                .await;
                                streams.remove(&err_id);
                            }
                            streams.remove(&stream_id);
                        }
                    }
                    ok
                }
                Frame::Ping { id } => send(&out, &Frame::Ping { id }).await,
                Frame::RstStream { stream_id, .. } => {
                    streams.remove(&stream_id);
                    true
                }
                Frame::GoAway { .. } => break 'read,
                _ => true,
            };
            if !ok {
                break 'read;
            }
        }
    }
    let _ = out.send(Out::Close(1000, String::new())).await;
}

/// The other stream (`kind`) of the same forwarded connection as `id`.
fn partner(streams: &HashMap<u32, StreamInfo>, id: u32, kind: &str) -> Option<u32> {
    let me = streams.get(&id)?;
    streams
        .iter()
        .find(|(sid, s)| {
            **sid != id && s.kind == kind && s.request_id == me.request_id && s.port == me.port
        })
        .map(|(sid, _)| *sid)
}
