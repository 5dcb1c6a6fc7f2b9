//! The WebSocket side of the relay: handshake pass-through and the frame pump.
//!
//! The upstream handshake is made with the cluster's HTTP/1.1 client using
//! the client's own `Sec-WebSocket-Key`, so the upstream's 101 (accept key,
//! chosen subprotocol) is valid for the client as is. After both sides
//! upgrade, each raw connection is wrapped as a WebSocket (server role
//! towards the user, client role towards the cluster) and two loops, one per
//! direction, forward every data message the moment it is read, then decode
//! and record it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kac_event::{Event, SessionEvent};
use kac_recorder::channel::{self, MessageKind};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::common::{emit_end, Pump, Stop, CLOSE_GRACE};
use super::{new_tap, open_session, RelayOptions, SessionContext, Tap};
use crate::audit::AuditTx;
use crate::http::{self as h, Body};
use crate::metrics::GaugeGuard;
use crate::shutdown::Shutdown;

type Ws = WebSocketStream<TokioIo<Upgraded>>;
type WsSink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

pub(super) async fn relay(
    mut req: Request<Incoming>,
    mut upstream: Request<Body>,
    ctx: SessionContext,
    opts: RelayOptions,
) -> Response<Body> {
    // Compression would hide frames from the recorder; kubectl does not
    // offer it, and without the header no peer may use it.
    upstream
        .headers_mut()
        .remove(header::SEC_WEBSOCKET_EXTENSIONS);
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = match ctx.cluster.client.request(upstream).await {
        Ok(r) => r,
        Err(e) => {
            return h::status(
                StatusCode::BAD_GATEWAY,
                format!("cluster {:?} is unreachable: {e}", ctx.cluster.name),
            )
        }
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The cluster refused (404 pod, 403, 400...): pass its Status back.
        return crate::forward::pass_response(resp);
    }
    let chosen = resp
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut start = ctx.start.clone();
    start.protocol = chosen.clone();
    let record = ctx.require_recording || !opts.skip_optional;
    let tap = match new_tap(&start, &chosen, record) {
        Ok(t) => t,
        Err(e) => return h::status(StatusCode::BAD_GATEWAY, e),
    };
    if let Err(refusal) = open_session(&tap, &ctx).await {
        return refusal;
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in resp.headers() {
        out = out.header(name, value);
    }
    let began = Instant::now();
    let ends = Ends {
        shutdown: ctx.shutdown.clone(),
        live: ctx.live,
    };
    ctx.shutdown.spawn(pump(
        client_upgrade,
        upstream_upgrade,
        tap,
        ctx.audit.clone(),
        ctx.require_recording,
        began,
        ends,
    ));
    out.body(h::empty())
        .unwrap_or_else(|e| h::status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

type Direction = Pin<Box<dyn Future<Output = Result<(), Stop>> + Send>>;

/// What ends a session from outside, and the gauge it holds up.
struct Ends {
    shutdown: Shutdown,
    live: Option<GaugeGuard>,
}

async fn pump(
    client_up: OnUpgrade,
    upstream_up: OnUpgrade,
    tap: Tap,
    audit: AuditTx,
    require: bool,
    began: Instant,
    ends: Ends,
) {
    let _live = ends.live;
    let state = Arc::new(Mutex::new(tap));
    let (client, upstream) = match tokio::try_join!(client_up, upstream_up) {
        Ok(pair) => pair,
        Err(e) => {
            let error = format!("upgrade failed: {e}");
            emit_end(&state, &audit, Some(error), began.elapsed()).await;
            return;
        }
    };
    let client = WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, None).await;
    let upstream =
        WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, None).await;
    let (client_sink, client_stream) = client.split();
    let (upstream_sink, upstream_stream) = upstream.split();
    let client_sink: WsSink = Arc::new(tokio::sync::Mutex::new(client_sink));
    let upstream_sink: WsSink = Arc::new(tokio::sync::Mutex::new(upstream_sink));

    let shared = Arc::new(Pump {
        state: state.clone(),
        audit: audit.clone(),
        require,
        began,
        closing: AtomicBool::new(false),
    });
    let up: Direction = Box::pin(direction(
        true,
        client_stream,
        upstream_sink.clone(),
        shared.clone(),
    ));
    let down: Direction = Box::pin(direction(
        false,
        upstream_stream,
        client_sink.clone(),
        shared,
    ));
    let stop = Box::pin(ends.shutdown.started());
    let (first, rest) = match select(select(up, down), stop).await {
        Either::Left((Either::Left((r, rest)) | Either::Right((r, rest)), _)) => (r, rest),
        Either::Right((_, directions)) => {
            // Shutdown: both directions stop (releasing their sink locks),
            // the user gets a Status saying why, both sides a close frame.
            drop(directions);
            let why = super::SHUTDOWN_CLOSED;
            let closing = Closing {
                reason: "ServiceUnavailable",
                code: CloseCode::Away,
                close_reason: "kac-proxy is shutting down",
            };
            let close = async {
                abort(&state, &client_sink, &upstream_sink, why, closing).await;
                let _ = client_sink.lock().await.close().await;
                let _ = upstream_sink.lock().await.close().await;
            };
            // A peer that does not read must not hold up the shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
            emit_end(&state, &audit, Some(why.to_string()), began.elapsed()).await;
            return;
        }
    };
    let error = match first {
        Err(Stop::Recording(e)) => {
            // Fail closed: tell the user why, close both sides now.
            let why = format!("kac-proxy stopped the session: recording failed: {e}");
            // The other direction may hold a sink lock: stop it first.
            drop(rest);
            abort(
                &state,
                &client_sink,
                &upstream_sink,
                &why,
                Closing::RECORDING,
            )
            .await;
            Some(why)
        }
        Err(Stop::Transport(e)) => {
            // One side is gone: tell the other one (while the remaining
            // direction keeps running, so it can release its sink) and give
            // it a moment to finish its close handshake.
            let going_away = async {
                for sink in [&client_sink, &upstream_sink] {
                    let close = Message::Close(Some(CloseFrame {
                        code: CloseCode::Away,
                        reason: "peer went away".into(),
                    }));
                    let send = async { sink.lock().await.send(close).await };
                    let _ = tokio::time::timeout(Duration::from_secs(2), send).await;
                }
            };
            let (_, second) = tokio::join!(going_away, tokio::time::timeout(CLOSE_GRACE, rest));
            if let Ok(Err(Stop::Recording(r))) = second {
                tracing::error!(error = %r, "session recording failed while closing");
            }
            Some(e)
        }
        Ok(()) => match tokio::time::timeout(CLOSE_GRACE, rest).await {
            Ok(Ok(())) => None,
            Ok(Err(Stop::Transport(e))) => Some(e),
            Ok(Err(Stop::Recording(e))) => {
                let why = format!("kac-proxy stopped the session: recording failed: {e}");
                abort(
                    &state,
                    &client_sink,
                    &upstream_sink,
                    &why,
                    Closing::RECORDING,
                )
                .await;
                Some(why)
            }
            Err(_) => Some("peer did not close the session in time".into()),
        },
    };
    // Close whatever is still open (ignore errors: it may be closed already).
    let _ = client_sink.lock().await.close().await;
    let _ = upstream_sink.lock().await.close().await;
    emit_end(&state, &audit, error, began.elapsed()).await;
}

async fn direction(
    from_client: bool,
    mut stream: SplitStream<Ws>,
    sink: WsSink,
    pump: Arc<Pump>,
) -> Result<(), Stop> {
    let Pump {
        state,
        audit,
        require,
        began,
        closing,
    } = &*pump;
    let side = if from_client { "client" } else { "cluster" };
    let mut warned = false;
    while let Some(msg) = stream.next().await {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                use tokio_tungstenite::tungstenite::Error as WsError;
                return match e {
                    WsError::ConnectionClosed | WsError::AlreadyClosed => Ok(()),
                    // Once a close frame went either way, a peer that drops
                    // the connection (e.g. without TLS close_notify) is done.
                    _ if closing.load(Ordering::Relaxed) => Ok(()),
                    e => Err(Stop::Transport(format!("{side} connection: {e}"))),
                };
            }
        };
        match &msg {
            Message::Binary(_) | Message::Text(_) => {
                // Forward first: recording must add no latency.
                if let Err(e) = sink.lock().await.send(msg.clone()).await {
                    return Err(Stop::Transport(format!("forwarding from {side}: {e}")));
                }
                for ev in record(state, from_client, &msg, began.elapsed()) {
                    if let Err(e) = audit.emit(Event::Session(ev)).await {
                        if *require {
                            return Err(Stop::Recording(e.to_string()));
                        }
                        if !warned {
                            warned = true;
                            tracing::warn!(error = %e, "session events are being lost (recording not required)");
                        }
                    }
                }
            }
            Message::Close(frame) => {
                // Propagate; keep reading until the close handshake ends.
                closing.store(true, Ordering::Relaxed);
                let _ = sink.lock().await.send(Message::Close(frame.clone())).await;
            }
            // Pings are answered by tungstenite on this side; not forwarded.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    Ok(())
}

fn record(
    state: &Mutex<Tap>,
    from_client: bool,
    msg: &Message,
    now: Duration,
) -> Vec<SessionEvent> {
    let (kind, bytes): (MessageKind, &[u8]) = match msg {
        Message::Binary(b) => (MessageKind::Binary, b),
        Message::Text(t) => (MessageKind::Text, t.as_bytes()),
        _ => return Vec::new(),
    };
    let mut tap = state.lock().expect("session state poisoned");
    match &mut *tap {
        Tap::Exec { recorder, protocol } => match channel::decode(*protocol, kind, bytes) {
            Ok(frame) if from_client => recorder.on_client(&frame, now),
            Ok(frame) => recorder.on_server(&frame, now),
            Err(_) => Vec::new(),
        },
        Tap::PortForward { tap, .. } => {
            if from_client {
                tap.on_client(bytes);
            } else {
                tap.on_server(bytes);
            }
            Vec::new()
        }
        Tap::SpdyExec { recorder, spdy } => {
            if from_client {
                spdy.on_client(bytes, now, recorder)
            } else {
                spdy.on_server(bytes, now, recorder)
            }
        }
        Tap::Unrecorded {
            protocol,
            bytes: counts,
            ..
        } => {
            match (from_client, channel::payload_len(*protocol, bytes)) {
                (true, Some((0, n))) => counts[0] += n as u64,
                (false, Some((1, n))) => counts[1] += n as u64,
                (false, Some((2, n))) => counts[2] += n as u64,
                _ => {}
            }
            Vec::new()
        }
    }
}

/// How the proxy closes a session it ends itself.
struct Closing {
    /// `reason` of the Status on the error channel.
    reason: &'static str,
    code: CloseCode,
    close_reason: &'static str,
}

impl Closing {
    const RECORDING: Closing = Closing {
        reason: "InternalError",
        code: CloseCode::Error,
        close_reason: "session recording failed",
    };
}

/// Sends the user a Status on the error channel (exec/attach) and closes
/// both connections with a close frame.
async fn abort(
    state: &Mutex<Tap>,
    client: &WsSink,
    upstream: &WsSink,
    why: &str,
    closing: Closing,
) {
    let status_frame = {
        let tap = state.lock().expect("session state poisoned");
        match &*tap {
            Tap::Exec { protocol, .. } => {
                let status = serde_json::json!({
                    "metadata": {}, "status": "Failure", "reason": closing.reason,
                    "message": why,
                });
                let body = serde_json::to_vec(&status).unwrap_or_default();
                Some(channel::encode_raw(*protocol, 3, &body))
            }
            Tap::PortForward { .. } | Tap::SpdyExec { .. } | Tap::Unrecorded { .. } => None,
        }
    };
    let close = || {
        Message::Close(Some(CloseFrame {
            code: closing.code,
            reason: closing.close_reason.into(),
        }))
    };
    {
        let mut c = client.lock().await;
        if let Some((kind, bytes)) = status_frame {
            let msg = match kind {
                MessageKind::Binary => Message::Binary(bytes.into()),
                MessageKind::Text => {
                    Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
                }
            };
            let _ = c.send(msg).await;
        }
        let _ = c.send(close()).await;
    }
    let _ = upstream.lock().await.send(close()).await;
}
