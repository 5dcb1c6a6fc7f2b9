//! Port-forward over SPDY/3.1 (tunnelled in WebSocket or on a plain
//! upgrade): each forwarded connection is an error stream plus a data
//! stream sharing a `requestid`; the data stream is echoed.

use super::spdy;
use super::spdy_conn::{self, Event};
use std::collections::HashMap;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
struct StreamInfo {
    kind: String,
    port: String,
    request_id: String,
}

/// Runs one port-forward session until the client goes away.
pub async fn run(incoming: mpsc::Receiver<Vec<u8>>, outgoing: mpsc::Sender<Vec<u8>>, pod: String) {
    let (w, mut events) = spdy_conn::start(incoming, outgoing, pod.clone());
    let mut streams: HashMap<u32, StreamInfo> = HashMap::new();
    while let Some(ev) = events.recv().await {
        let ok = match ev {
            Event::Open { id, headers, .. } => {
                let get = |k: &str| spdy::header(&headers, k).unwrap_or("").to_string();
                let info = StreamInfo {
                    kind: get("streamtype"),
                    port: get("port"),
                    request_id: get("requestid"),
                };
                tracing::debug!(%pod, id, ?info, "port-forward stream");
                let valid_port = info.port.parse::<u16>().is_ok_and(|p| p > 0);
                streams.insert(id, info);
                let mut ok = w.reply(id).await;
                if !valid_port {
                    // Reported on the error stream, as kubelet does.
                    if let Some(err_id) = partner(&streams, id, "error") {
                        let port = &streams[&id].port;
                        let msg = format!("invalid port {port:?}");
                        ok &= w.data(err_id, msg.as_bytes(), true).await;
                    }
                }
                ok
            }
            Event::Data { id, data, fin } => {
                let mut ok = true;
                if streams.get(&id).is_some_and(|s| s.kind == "data") {
                    // The echo service.
                    if !data.is_empty() {
                        ok = w.data(id, &data, false).await;
                    }
                    if fin {
                        ok &= w.data(id, &[], true).await;
                        if let Some(err_id) = partner(&streams, id, "error") {
                            ok &= w.data(err_id, &[], true).await;
                            streams.remove(&err_id);
                        }
                        streams.remove(&id);
                    }
                }
                ok
            }
            Event::Reset { id } => {
                streams.remove(&id);
                true
            }
        };
        if !ok {
            break;
        }
    }
    w.close().await;
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
