//! What the WebSocket and SPDY pumps share: stop reasons, per-session state
//! and the closing `session.end`.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kac_event::{Event, SessionEnd, SessionEvent, SessionStart};

use super::Tap;
use crate::audit::AuditTx;

/// How long the second direction may run on after the first one ended
/// (e.g. waiting for the peer's close reply).
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Why a direction stopped abnormally.
#[derive(Debug)]
pub(super) enum Stop {
    /// A connection failed.
    Transport(String),
    /// An event could not be recorded and recording is required.
    Recording(String),
}

/// What both directions of one session share.
pub(super) struct Pump {
    pub state: Arc<Mutex<Tap>>,
    pub audit: AuditTx,
    pub require: bool,
    pub began: Instant,
    /// A close frame went one way or the other.
    pub closing: AtomicBool,
}

/// A `session.end` for a session without a recorder: byte counts only
/// (stdin, stdout, stderr).
fn end_of(start: &SessionStart, now: Duration, bytes: [u64; 3]) -> SessionEnd {
    let us = now.as_micros().min(i64::MAX as u128) as i64;
    SessionEnd {
        session_id: start.session_id.clone(),
        time: start.time + chrono::Duration::microseconds(us),
        offset_us: us as u64,
        user: start.user.name.clone(),
        cluster: start.cluster.clone(),
        bytes_stdin: bytes[0],
        bytes_stdout: bytes[1],
        bytes_stderr: bytes[2],
        ..Default::default()
    }
}

pub(super) async fn emit_end(
    state: &Mutex<Tap>,
    audit: &AuditTx,
    error: Option<String>,
    now: Duration,
) {
    let events = {
        let mut tap = state.lock().expect("session state poisoned");
        match &mut *tap {
            Tap::Exec { recorder, .. } => recorder.finish(error, now),
            Tap::SpdyExec { recorder, spdy } => {
                spdy.finish(recorder);
                let error = error.or_else(|| spdy.error().map(str::to_string));
                recorder.finish(error, now)
            }
            Tap::PortForward { tap, start, .. } => {
                let (to_pod, to_client) = tap.totals();
                let mut end = end_of(start, now, [to_pod, to_client, 0]);
                end.error = error.or_else(|| tap.error().map(str::to_string));
                end.ports = tap.summary();
                vec![SessionEvent::End(Box::new(end))]
            }
            Tap::Unrecorded { start, bytes, .. } => {
                let mut end = end_of(start, now, *bytes);
                end.error = Some(error.unwrap_or_else(|| super::OPTIONAL_UNRECORDED.into()));
                vec![SessionEvent::End(Box::new(end))]
            }
        }
    };
    for ev in events {
        if let Err(e) = audit.emit(Event::Session(ev.clone())).await {
            // Already too late to refuse: leave a trace in the log.
            let json = serde_json::to_string(&ev).unwrap_or_default();
            tracing::error!(error = %e, event = %json, "session event could not be recorded");
        }
    }
}
