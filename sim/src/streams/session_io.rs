//! Transport-neutral I/O of an exec/attach session: client input as
//! [`Input`] events, output through [`Output`], whether the client speaks
//! the WebSocket channel protocols or SPDY/3.1 streams.

use super::channel::{self, ChannelProtocol, TerminalSize};
use super::process::Stdio3;
use super::spdy;
use super::spdy_conn::{Event, SpdyWriter};
use super::ws::{self, Out};
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What the client sent. The receiver closing means the client is gone.
#[derive(Debug)]
pub enum Input {
    Stdin(Bytes),
    StdinEof,
    Resize(TerminalSize),
}

/// Where output and the final Status go.
#[derive(Clone)]
pub enum Output {
    Ws {
        proto: ChannelProtocol,
        out: mpsc::Sender<Out>,
    },
    Spdy {
        w: SpdyWriter,
        /// Stream ids by channel number (stdin..resize).
        ids: [Option<u32>; 5],
    },
}

impl Output {
    /// Sends `data` on channel `ch`; `false` once the client is gone.
    pub async fn send(&self, ch: u8, data: &[u8]) -> bool {
        match self {
            Output::Ws { proto, out } => {
                let (text, bytes) = channel::encode(*proto, ch, data);
                out.send(Out::Msg(ws::message(text, bytes))).await.is_ok()
            }
            Output::Spdy { w, ids } => match ids.get(usize::from(ch)).copied().flatten() {
                Some(id) => w.data(id, data, false).await,
                None => true,
            },
        }
    }

    /// WebSocket only: the empty frame kubelet sends first on the lowest
    /// writable channel (stdout, else stderr, else the error channel).
    pub async fn announce(&self, io: Stdio3) -> bool {
        if matches!(self, Output::Spdy { .. }) {
            return true;
        }
        let ch = if io.stdout {
            channel::STDOUT
        } else if io.stderr {
            channel::STDERR
        } else {
            channel::ERROR
        };
        self.send(ch, b"").await
    }

    /// Writes the final Status (v4+: JSON; the v1 WebSocket protocols only
    /// carry a failure's message), then closes the connection normally.
    pub async fn finish(&self, st: serde_json::Value) {
        match self {
            Output::Ws { proto, out } => {
                if proto.json_status() {
                    self.send(channel::ERROR, st.to_string().as_bytes()).await;
                } else if st["status"] != "Success" {
                    let msg = st["message"].as_str().unwrap_or("error").to_string();
                    self.send(channel::ERROR, msg.as_bytes()).await;
                }
                let _ = out.send(Out::Close(1000, String::new())).await;
            }
            Output::Spdy { w, ids } => {
                if let Some(id) = ids[usize::from(channel::ERROR)] {
                    w.data(id, st.to_string().as_bytes(), true).await;
                }
                for ch in [channel::STDOUT, channel::STDERR] {
                    if let Some(id) = ids[usize::from(ch)] {
                        w.data(id, &[], true).await;
                    }
                }
                // Let the client read the FINs before the connection drops.
                tokio::time::sleep(Duration::from_millis(100)).await;
                w.close().await;
            }
        }
    }
}

/// Decodes WebSocket messages into [`Input`] until the client closes.
pub fn ws_input(
    proto: ChannelProtocol,
    mut input: futures_util::stream::SplitStream<ws::Ws>,
) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(msg) = input.next().await {
            let raw: Vec<u8> = match msg {
                Ok(Message::Binary(b)) => b.to_vec(),
                Ok(Message::Text(t)) => t.as_bytes().to_vec(),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let Ok((ch, payload)) = channel::decode(proto, &raw) else {
                continue;
            };
            let ev = match ch {
                channel::STDIN => Input::Stdin(Bytes::from(payload)),
                channel::RESIZE => match channel::parse_resize(&payload) {
                    Some(size) => Input::Resize(size),
                    None => continue,
                },
                channel::CLOSE
                    if proto.supports_close() && payload.first() == Some(&channel::STDIN) =>
                {
                    Input::StdinEof
                }
                _ => continue,
            };
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// The SPDY stream types of remotecommand, by channel number.
const STREAM_TYPES: [&str; 5] = ["stdin", "stdout", "stderr", "error", "resize"];

/// Waits for the client to open the streams the request asked for (the
/// error stream always, stdin/stdout/stderr as requested, resize with a
/// tty), replying to each. Then turns stream events into [`Input`].
pub async fn spdy_setup(
    w: SpdyWriter,
    mut events: mpsc::Receiver<Event>,
    io: Stdio3,
    tty: bool,
) -> Result<(Output, mpsc::Receiver<Input>), String> {
    let wanted = [io.stdin, io.stdout, io.stderr && !tty, true, tty];
    let mut ids: [Option<u32>; 5] = [None; 5];
    let mut early = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (0..5).any(|i| wanted[i] && ids[i].is_none()) {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| "timed out waiting for the client's streams".to_string())?
            .ok_or_else(|| "connection closed before the streams were set up".to_string())?;
        match ev {
            Event::Open { id, headers, fin } => {
                let kind = spdy::header(&headers, "streamtype").unwrap_or("");
                match STREAM_TYPES.iter().position(|t| *t == kind) {
                    Some(ch) => ids[ch] = Some(id),
                    None => return Err(format!("unexpected stream type {kind:?}")),
                }
                if fin {
                    // Opened already half-closed: no data will follow.
                    early.push(Event::Data {
                        id,
                        data: Vec::new(),
                        fin,
                    });
                }
                w.reply(id).await;
            }
            other => early.push(other),
        }
    }
    let (tx, rx) = mpsc::channel(64);
    let stdin_id = ids[0];
    let resize_id = ids[4];
    tokio::spawn(async move {
        let mut resize_buf: Vec<u8> = Vec::new();
        let mut pending = early.into_iter();
        loop {
            let ev = match pending.next() {
                Some(ev) => ev,
                None => match events.recv().await {
                    Some(ev) => ev,
                    None => return,
                },
            };
            let mut out = Vec::new();
            match ev {
                Event::Data { id, data, fin } if Some(id) == stdin_id => {
                    if !data.is_empty() {
                        out.push(Input::Stdin(Bytes::from(data)));
                    }
                    if fin {
                        out.push(Input::StdinEof);
                    }
                }
                Event::Data { id, data, .. } if Some(id) == resize_id => {
                    // A stream of JSON objects, as Go's json.Encoder writes them.
                    resize_buf.extend_from_slice(&data);
                    let mut it = serde_json::Deserializer::from_slice(&resize_buf)
                        .into_iter::<TerminalSize>();
                    let mut used = 0;
                    while let Some(Ok(size)) = it.next() {
                        used = it.byte_offset();
                        out.push(Input::Resize(size));
                    }
                    resize_buf.drain(..used);
                }
                Event::Reset { id } if Some(id) == stdin_id => out.push(Input::StdinEof),
                _ => {}
            }
            for i in out {
                if tx.send(i).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok((Output::Spdy { w, ids }, rx))
}

/// Picks the remotecommand stream protocol for a SPDY exec/attach: v5 or
/// v4 (JSON Status on the error stream), in the client's order.
pub fn spdy_exec_version(offered: &[String]) -> Option<&'static str> {
    offered.iter().find_map(|v| match v.as_str() {
        "v5.channel.k8s.io" => Some("v5.channel.k8s.io"),
        "v4.channel.k8s.io" => Some("v4.channel.k8s.io"),
        _ => None,
    })
}
