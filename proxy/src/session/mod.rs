//! Session relay: exec, attach and port-forward through kac-proxy, recorded.
//!
//! The proxy core authenticates, attributes and authorizes the request, then
//! hands it here. This module terminates the client's WebSocket, opens the
//! matching one upstream, and pumps frames both ways, feeding
//! [`kac_recorder::SessionRecorder`] (exec/attach) or
//! [`kac_recorder::portforward::PortForwardTap`] (port-forward: byte counts
//! only, never the payload) and shipping `session.*` events to the audit
//! pipeline.
//!
//! ## API for the proxy core
//!
//! ```ignore
//! let mut start = SessionStart { session_id: kac_event::new_id(), time: Utc::now(),
//!     user, cluster: cluster.name.clone(), cluster_tags, request_id: ev.id.clone(),
//!     recording_required: require_recording, ..Default::default() };
//! session::describe_request(&mut start, &info.subresource, &info.namespace, &info.name,
//!                           parts.uri.query());
//! ev.session_id = Some(start.session_id.clone());
//! let ctx = SessionContext { start, require_recording, audit: self.audit.clone(),
//!     spdy: self.config.sessions.spdy, cluster: cluster.clone() };
//! // `upstream`: the request towards the cluster exactly as for a plain
//! // upgrade (HTTP/1.1, client headers minus credentials, plus the proxy's
//! // credentials and impersonation headers, empty body).
//! let resp: Response<Body> = session::relay(req, upstream, ctx).await;
//! // or, to record plain SPDY instead of applying `ctx.spdy`:
//! let resp = session::relay_with(req, upstream, ctx, RelayOptions { record_spdy: true }).await;
//! ```
//!
//! Call [`is_session_request`] to route: exec, attach and portforward
//! subresources of pods with an `Upgrade` header.
//!
//! ## Behaviour
//! - Recording required and the audit pipeline unhealthy: 503 Status
//!   `session recording unavailable: …`, nothing reaches the cluster.
//! - WebSocket: the client's handshake headers go upstream unchanged except
//!   `Sec-WebSocket-Extensions` (dropped: compression would hide frames from
//!   the recorder); the upstream 101 is passed back, so the client sees the
//!   subprotocol the cluster chose. Frames are forwarded one by one as they
//!   arrive (no buffering), then recorded. Pings on either side are answered
//!   by the proxy and not forwarded; close frames are forwarded.
//! - The `session.start` event must be accepted before the 101 is returned
//!   when recording is required; a failed emit later closes the session with
//!   a Status on the error channel (fail closed). Without the requirement,
//!   emit failures are logged and the session continues.
//! - Plain SPDY (`Upgrade: SPDY/3.1`) with `RelayOptions::record_spdy`:
//!   recorded (see `spdy.rs`). Otherwise: refused with a 403 Status by default
//!   ([`SpdyMode::Refuse`]) or always when recording is required; with
//!   `passThroughUnrecorded` it is tunnelled unrecorded and the session's
//!   start and end events say so (`protocol: SPDY/3.1`, error
//!   `passed through unrecorded (SPDY)`), with byte counts.

mod common;
mod describe;
mod spdy;
mod ws;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response, StatusCode};
use kac_event::{Event, SessionEnd, SessionEvent, SessionKind, SessionStart};
use kac_recorder::portforward::PortForwardTap;
use kac_recorder::spdy_exec::SpdyExecTap;
use kac_recorder::{Protocol, SessionRecorder};

use crate::audit::AuditTx;
use crate::clusters::Cluster;
use crate::config::SpdyMode;
use crate::http::{self as h, Body};
use crate::metrics::GaugeGuard;
use crate::shutdown::Shutdown;

pub use describe::{describe_request, is_session_request, percent_decode};

/// Everything the relay needs besides the two requests.
pub struct SessionContext {
    /// The session's metadata, prefilled by the core (see [`describe_request`]).
    pub start: SessionStart,
    /// The policy requires this session to be recorded: fail closed.
    pub require_recording: bool,
    pub audit: AuditTx,
    pub spdy: SpdyMode,
    /// The cluster; its `client` (HTTP/1.1) opens the upstream side.
    pub cluster: Arc<Cluster>,
    /// The session's task is tracked here, and at shutdown the session is
    /// closed with a Status (exec/attach over WebSocket) or cut (SPDY).
    pub shutdown: Shutdown,
    /// Keeps `kac_live_sessions` up until the session ends.
    pub live: Option<GaugeGuard>,
}

/// The wire transport a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket with the offered subprotocols, in order.
    WebSocket(Vec<String>),
    /// `Upgrade: SPDY/3.1`.
    Spdy,
    /// Anything else (or no upgrade).
    Other,
}

/// Classifies a request by its `Upgrade` header.
pub fn transport(headers: &HeaderMap) -> Transport {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if upgrade.eq_ignore_ascii_case("websocket") {
        let protocols = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        Transport::WebSocket(protocols)
    } else if upgrade.to_ascii_uppercase().starts_with("SPDY/") {
        Transport::Spdy
    } else {
        Transport::Other
    }
}

/// How a session is tapped.
#[allow(clippy::large_enum_variant)] // one per session; boxing buys nothing
pub(crate) enum Tap {
    Exec {
        recorder: SessionRecorder,
        protocol: Protocol,
    },
    PortForward {
        tap: PortForwardTap,
        start: SessionStart,
    },
    /// Exec/attach over plain SPDY: raw bytes in, frames decoded here.
    SpdyExec {
        recorder: SessionRecorder,
        spdy: SpdyExecTap,
    },
    /// Exec/attach not recorded (policy says optional, proxy configured to
    /// skip): only byte counts, per stream.
    Unrecorded {
        start: SessionStart,
        protocol: Protocol,
        /// stdin, stdout, stderr
        bytes: [u64; 3],
    },
}

/// Emits the opening events. With recording required, a refused event
/// refuses the session (the returned response).
pub(crate) async fn open_session(tap: &Tap, ctx: &SessionContext) -> Result<(), Response<Body>> {
    let opening = match tap {
        Tap::Exec { recorder, .. } | Tap::SpdyExec { recorder, .. } => recorder.start_events(),
        Tap::PortForward { start, .. } | Tap::Unrecorded { start, .. } => {
            vec![SessionEvent::Start(Box::new(start.clone()))]
        }
    };
    for ev in opening {
        if let Err(e) = ctx.audit.emit(Event::Session(ev)).await {
            if ctx.require_recording {
                return Err(unavailable(e));
            }
            tracing::warn!(session = %ctx.start.session_id, error = %e, "session start not recorded");
        }
    }
    Ok(())
}

fn unavailable(e: impl std::fmt::Display) -> Response<Body> {
    h::status(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("session recording unavailable: {e}"),
    )
}

fn emit_now(
    audit: &AuditTx,
    ev: SessionEvent,
) -> impl std::future::Future<Output = Result<(), crate::audit::AuditError>> + '_ {
    audit.emit(Event::Session(ev))
}

/// Options beyond [`SessionContext`] (kept separate so that adding one does
/// not break callers).
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayOptions {
    /// Record plain SPDY/3.1 sessions with kac-recorder's SPDY codec. When
    /// true, `SessionContext::spdy` is not consulted; when false it decides
    /// (refuse, or pass through unrecorded). Intended to back a future
    /// `sessions.spdy: record` setting.
    pub record_spdy: bool,
    /// `sessions.optionalRecording: skip`: a WebSocket exec/attach whose
    /// policy does not require recording is relayed without recording its
    /// payload (start, end and byte counts are still audited). Plain SPDY
    /// keeps following `sessions.spdy`.
    pub skip_optional: bool,
}

/// Relays one exec/attach/port-forward session. Always returns a response:
/// the upstream 101 (the pump then runs in a spawned task), the upstream's
/// own refusal, or a Status explaining why the proxy refused.
pub async fn relay(
    req: Request<Incoming>,
    upstream: Request<Body>,
    ctx: SessionContext,
) -> Response<Body> {
    relay_with(req, upstream, ctx, RelayOptions::default()).await
}

/// [`relay`] with options.
pub async fn relay_with(
    req: Request<Incoming>,
    upstream: Request<Body>,
    ctx: SessionContext,
    opts: RelayOptions,
) -> Response<Body> {
    let mut ctx = ctx;
    if ctx.start.session_id.is_empty() {
        ctx.start.session_id = kac_event::new_id();
    }
    ctx.start.recording_required |= ctx.require_recording;
    if ctx.require_recording {
        if let Err(e) = ctx.audit.healthy() {
            return unavailable(e);
        }
    }
    match transport(req.headers()) {
        Transport::WebSocket(_) => ws::relay(req, upstream, ctx, opts).await,
        Transport::Spdy if opts.record_spdy => spdy::relay(req, upstream, ctx).await,
        Transport::Spdy => spdy_pass(req, upstream, ctx).await,
        Transport::Other => h::status(
            StatusCode::BAD_REQUEST,
            "exec, attach and port-forward need a WebSocket (or SPDY) upgrade",
        ),
    }
}

const SPDY_REFUSED: &str = "kac-proxy records exec, attach and port-forward sessions and cannot record SPDY/3.1: use WebSocket (the kubectl default since 1.30; unset KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false and KUBECTL_PORT_FORWARD_WEBSOCKETS=false)";

const SPDY_UNRECORDED: &str = "passed through unrecorded (SPDY)";

/// Why a session ended when the proxy closed it at shutdown (the
/// `session.end` error, and the message of the Status sent to the user).
pub(crate) const SHUTDOWN_CLOSED: &str =
    "kac-proxy is shutting down and closed the session; reconnect to continue";

/// `session.end` error of a session relayed without recording by choice.
pub(crate) const OPTIONAL_UNRECORDED: &str =
    "not recorded (sessionRecording: optional, sessions.optionalRecording: skip)";

/// Plain SPDY: refuse, or tunnel unrecorded with audit events saying so.
async fn spdy_pass(
    req: Request<Incoming>,
    upstream: Request<Body>,
    ctx: SessionContext,
) -> Response<Body> {
    if ctx.spdy == SpdyMode::Refuse || ctx.require_recording {
        return h::status(StatusCode::FORBIDDEN, SPDY_REFUSED);
    }
    let mut start = ctx.start.clone();
    start.protocol = "SPDY/3.1".into();
    let (resp, tunnel) = match crate::forward::pass_upgrade(req, upstream, &ctx.cluster).await {
        Ok(r) => r,
        Err(e) => return h::status(StatusCode::BAD_GATEWAY, e),
    };
    let Some(task) = tunnel else {
        return resp;
    };
    // Never unrecorded silently: the start event must be accepted first.
    if let Err(e) = emit_now(&ctx.audit, SessionEvent::Start(Box::new(start.clone()))).await {
        task.abort();
        return unavailable(e);
    }
    let audit = ctx.audit.clone();
    let began = Instant::now();
    let stop = ctx.shutdown.started();
    let live = ctx.live;
    ctx.shutdown.spawn(async move {
        // An unrecorded tunnel has no frame to say why: at shutdown it is cut.
        let abort = task.abort_handle();
        let (up, down, error) = tokio::select! {
            r = task => {
                let (up, down) = r.unwrap_or((0, 0));
                (up, down, SPDY_UNRECORDED.to_string())
            }
            _ = stop => {
                abort.abort();
                (0, 0, format!("{SPDY_UNRECORDED}; {SHUTDOWN_CLOSED}"))
            }
        };
        drop(live);
        let end = SessionEnd {
            session_id: start.session_id.clone(),
            time: Utc::now(),
            offset_us: began.elapsed().as_micros() as u64,
            user: start.user.name.clone(),
            cluster: start.cluster.clone(),
            error: Some(error),
            bytes_stdin: up,
            bytes_stdout: down,
            ..Default::default()
        };
        audit.emit_detached(Event::Session(SessionEvent::End(Box::new(end))));
    });
    resp
}

/// Port-forward is audited by byte counts; its kind decides the tap.
/// `record` false (policy: optional, config: skip) leaves exec/attach
/// payloads unrecorded.
pub(crate) fn new_tap(start: &SessionStart, chosen: &str, record: bool) -> Result<Tap, String> {
    match start.kind {
        SessionKind::Portforward => {
            let spdy = chosen.to_ascii_uppercase().starts_with("SPDY/");
            let tap = if spdy {
                PortForwardTap::spdy()
            } else {
                PortForwardTap::channels(start.ports.clone())
            };
            Ok(Tap::PortForward {
                tap,
                start: start.clone(),
            })
        }
        SessionKind::Exec | SessionKind::Attach => {
            let protocol = Protocol::from_subprotocol(chosen).ok_or_else(|| {
                format!("the cluster chose WebSocket subprotocol {chosen:?}, which kac-proxy cannot record")
            })?;
            if !record {
                return Ok(Tap::Unrecorded {
                    start: start.clone(),
                    protocol,
                    bytes: [0; 3],
                });
            }
            Ok(Tap::Exec {
                recorder: SessionRecorder::new(start.clone()),
                protocol,
            })
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod relay_tests;
