//! Plain SPDY/3.1 sessions, recorded: the upgrade is passed through and the
//! raw byte streams are copied both ways, each chunk forwarded as soon as it
//! is read, then fed to kac-recorder's SPDY decoder (exec/attach: the same
//! `session.*` events as WebSocket; port-forward: byte counts per port).
//! SPDY PINGs travel end to end, so the peers answer them themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{select, Either};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kac_event::{Event, SessionKind};
use kac_recorder::portforward::PortForwardTap;
use kac_recorder::spdy_exec::SpdyExecTap;
use kac_recorder::SessionRecorder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::common::{emit_end, Pump, Stop, CLOSE_GRACE};
use super::{open_session, SessionContext, Tap};
use crate::http::{self as h, Body};

pub(super) async fn relay(
    mut req: Request<Incoming>,
    upstream: Request<Body>,
    ctx: SessionContext,
) -> Response<Body> {
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
        return crate::forward::pass_response(resp);
    }
    let mut start = ctx.start.clone();
    start.protocol = match resp
        .headers()
        .get("x-stream-protocol-version")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => format!("SPDY/3.1+{v}"),
        None => "SPDY/3.1".into(),
    };
    let tap = match start.kind {
        SessionKind::Portforward => Tap::PortForward {
            tap: PortForwardTap::spdy(),
            start,
        },
        SessionKind::Exec | SessionKind::Attach => Tap::SpdyExec {
            recorder: SessionRecorder::new(start),
            spdy: SpdyExecTap::new(),
        },
    };
    if let Err(refusal) = open_session(&tap, &ctx).await {
        return refusal;
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in resp.headers() {
        out = out.header(name, value);
    }
    let pump = Arc::new(Pump {
        state: Arc::new(Mutex::new(tap)),
        audit: ctx.audit.clone(),
        require: ctx.require_recording,
        began: Instant::now(),
        closing: AtomicBool::new(false),
    });
    let stop = ctx.shutdown.started();
    let live = ctx.live;
    ctx.shutdown.spawn(async move {
        let _live = live;
        run(client_upgrade, upstream_upgrade, pump, stop).await
    });
    out.body(h::empty())
        .unwrap_or_else(|e| h::status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

type Direction = Pin<Box<dyn Future<Output = Result<(), Stop>> + Send>>;

async fn run(
    client_up: OnUpgrade,
    upstream_up: OnUpgrade,
    pump: Arc<Pump>,
    stop: impl Future<Output = ()>,
) {
    let (client, upstream) = match tokio::try_join!(client_up, upstream_up) {
        Ok(pair) => pair,
        Err(e) => {
            let error = Some(format!("upgrade failed: {e}"));
            emit_end(&pump.state, &pump.audit, error, pump.began.elapsed()).await;
            return;
        }
    };
    let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
    let (upstream_r, upstream_w) = tokio::io::split(TokioIo::new(upstream));
    let up: Direction = Box::pin(copy(true, client_r, upstream_w, pump.clone()));
    let down: Direction = Box::pin(copy(false, upstream_r, client_w, pump.clone()));
    let (first, rest) = match select(select(up, down), Box::pin(stop)).await {
        Either::Left((Either::Left((r, rest)) | Either::Right((r, rest)), _)) => (r, rest),
        Either::Right((_, directions)) => {
            // Shutdown: SPDY has no close frame the proxy could inject
            // without desynchronising the peers' streams, so both
            // connections are cut; session.end says why.
            drop(directions);
            let error = Some(super::SHUTDOWN_CLOSED.to_string());
            emit_end(&pump.state, &pump.audit, error, pump.began.elapsed()).await;
            return;
        }
    };
    let error = match first {
        Err(Stop::Recording(e)) => {
            // Fail closed: dropping both halves closes both connections.
            drop(rest);
            Some(format!(
                "kac-proxy stopped the session: recording failed: {e}"
            ))
        }
        Err(Stop::Transport(e)) => {
            let _ = tokio::time::timeout(CLOSE_GRACE, rest).await;
            Some(e)
        }
        Ok(()) => match tokio::time::timeout(CLOSE_GRACE, rest).await {
            Ok(Ok(())) => None,
            Ok(Err(Stop::Transport(e))) => Some(e),
            Ok(Err(Stop::Recording(e))) => Some(format!(
                "kac-proxy stopped the session: recording failed: {e}"
            )),
            Err(_) => Some("peer did not close the session in time".into()),
        },
    };
    emit_end(&pump.state, &pump.audit, error, pump.began.elapsed()).await;
}

async fn copy<R, W>(from_client: bool, mut r: R, mut w: W, pump: Arc<Pump>) -> Result<(), Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let side = if from_client { "client" } else { "cluster" };
    let mut buf = vec![0u8; 64 * 1024];
    let mut warned = false;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                pump.closing.store(true, Ordering::Relaxed);
                let _ = w.shutdown().await;
                return Ok(());
            }
            Ok(n) => n,
            Err(_) if pump.closing.load(Ordering::Relaxed) => return Ok(()),
            // SPDY has no close handshake of its own: kubectl ends a
            // finished session by closing TCP without a TLS close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                pump.closing.store(true, Ordering::Relaxed);
                let _ = w.shutdown().await;
                return Ok(());
            }
            Err(e) => return Err(Stop::Transport(format!("{side} connection: {e}"))),
        };
        // Forward first: recording must add no latency.
        if let Err(e) = w.write_all(&buf[..n]).await {
            if pump.closing.load(Ordering::Relaxed) {
                return Ok(());
            }
            return Err(Stop::Transport(format!("forwarding from {side}: {e}")));
        }
        let events = {
            let now = pump.began.elapsed();
            let mut tap = pump.state.lock().expect("session state poisoned");
            match &mut *tap {
                Tap::SpdyExec { recorder, spdy } => {
                    if from_client {
                        spdy.on_client(&buf[..n], now, recorder)
                    } else {
                        spdy.on_server(&buf[..n], now, recorder)
                    }
                }
                Tap::PortForward { tap, .. } => {
                    if from_client {
                        tap.on_client(&buf[..n]);
                    } else {
                        tap.on_server(&buf[..n]);
                    }
                    Vec::new()
                }
                Tap::Exec { .. } | Tap::Unrecorded { .. } => Vec::new(),
            }
        };
        for ev in events {
            if let Err(e) = pump.audit.emit(Event::Session(ev)).await {
                if pump.require {
                    return Err(Stop::Recording(e.to_string()));
                }
                if !warned {
                    warned = true;
                    tracing::warn!(error = %e, "session events are being lost (recording not required)");
                }
            }
        }
    }
}
