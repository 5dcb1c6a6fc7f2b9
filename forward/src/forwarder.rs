//! One forwarder: source → filter → format → batch → rate limit → sink,
//! with retries, a replay window and a persisted cursor.
//!
//! Two halves joined by a small bounded channel: a reader thread (blocking
//! file I/O, decompression, JSON parsing, filtering, rendering, batching)
//! and an async sender (rate limit, send, retry with backoff, cursor
//! commit). The channel holds two batches, so reading the next batch
//! overlaps sending the current one, and a slow receiver stops the reader
//! instead of filling memory.
//!
//! Delivery: a batch is retried until the sink acknowledges it, never
//! skipped. The cursor settles after each acknowledgment at the end of the
//! last batch that has left the replay window (with a window of 0, HTTP
//! sinks, whose 2xx is an application-level ack: the batch just
//! acknowledged). Settled cursors are saved (atomically, fsync'd) in the
//! background, at most every `cursorInterval`, one save in flight, so the
//! sender never waits for the disk; an orderly stop saves the last one.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kac_event::Event;
use tokio::sync::{mpsc, watch};

use crate::config::{ForwarderConfig, StartAt};
use crate::cursor::{Cursor, CursorStore};
use crate::filter::Summary;
use crate::format;
use crate::metrics::{ForwarderMetrics, Registered};
use crate::retry::{Backoff, RateLimit};
use crate::saver::{sleep_saving, CursorSaver};
use crate::sink::{AnySink, Body, Rendered, SinkError};
use crate::source::{HeadProbe, LogSource};

/// Where a forwarder reads and keeps its state.
#[derive(Debug, Clone)]
pub struct Context {
    /// The kac-store directory (read-only).
    pub store_dir: PathBuf,
    /// Cursor files live here.
    pub state_dir: PathBuf,
    /// Relative paths in sink settings (CA, token files) resolve here.
    pub base_dir: PathBuf,
}

/// Run until stopped, or until the log is drained once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep following the log until the stop signal.
    Follow,
    /// Send everything in the log now, close the connection in order,
    /// save the cursor and return (tests, backfills, benchmarks).
    Once,
}

/// Events between two cursor positions, rendered.
struct Batch {
    events: Vec<Event>,
    rendered: Vec<Rendered>,
    /// The cursor once this batch (and every filtered event before it) is
    /// acknowledged.
    cursor_after: Cursor,
}

/// A configured forwarder, its cursor locked, ready to run.
pub struct Forwarder {
    cfg: ForwarderConfig,
    ctx: Context,
    sink: AnySink,
    cursors: Arc<CursorStore>,
    metrics: Arc<ForwarderMetrics>,
}

/// How often a caught-up reader looks for new blocks.
const POLL: Duration = Duration::from_millis(200);
/// How often the lag gauge's head is refreshed.
const HEAD_EVERY: Duration = Duration::from_secs(1);

impl Forwarder {
    /// Builds the sink (reading TLS files now) and locks the cursor file.
    pub fn new(cfg: ForwarderConfig, ctx: &Context) -> Result<Forwarder, String> {
        cfg.validate()
            .map_err(|(f, m)| format!("forwarder {:?}: {f}: {m}", cfg.name))?;
        let sink = AnySink::new(&cfg, &ctx.base_dir)
            .map_err(|e| format!("forwarder {:?}: {e}", cfg.name))?;
        let cursors = Arc::new(CursorStore::open(&ctx.state_dir, &cfg.name)?);
        Ok(Forwarder {
            cfg,
            ctx: ctx.clone(),
            sink,
            cursors,
            metrics: Arc::new(ForwarderMetrics::default()),
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn metrics(&self) -> Arc<ForwarderMetrics> {
        self.metrics.clone()
    }

    /// Name, sink and metrics, for a `/metrics` endpoint.
    pub fn registered(&self) -> Registered {
        Registered {
            name: self.cfg.name.clone(),
            sink: self.sink.describe(),
            metrics: self.metrics.clone(),
        }
    }

    /// Runs until `stop` turns true (or, in [`Mode::Once`], until the log
    /// is drained). Returns an error only for what retrying cannot fix:
    /// an unreadable log or cursor file.
    pub async fn run(self, mut stop: watch::Receiver<bool>, mode: Mode) -> Result<(), String> {
        let Forwarder {
            cfg,
            ctx,
            mut sink,
            cursors,
            metrics,
        } = self;
        let c = cursors.clone();
        let store_dir = ctx.store_dir.clone();
        let start_at = cfg.start_at;
        let start = tokio::task::spawn_blocking(move || -> Result<Cursor, String> {
            match c.load()? {
                Some(cur) => Ok(cur),
                None if start_at == StartAt::End => {
                    let cur = HeadProbe::new(&store_dir).end_cursor()?;
                    c.save(&cur)?;
                    Ok(cur)
                }
                None => Ok(Cursor::default()),
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        metrics
            .acked_seq
            .store(start.seq_total(), Ordering::Relaxed);
        tracing::info!(
            forwarder = %cfg.name,
            sink = %sink.describe(),
            cursor = %cursors.path().display(),
            "forwarder starting"
        );

        let (tx, mut rx) = mpsc::channel::<Result<Batch, String>>(2);
        let reader_stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let cfg = cfg.clone();
            let metrics = metrics.clone();
            let stop = reader_stop.clone();
            let dir = ctx.store_dir.clone();
            let start = start.clone();
            std::thread::Builder::new()
                .name(format!("fwd-{}", cfg.name))
                .spawn(move || read_loop(&cfg, &dir, start, &tx, &stop, &metrics, mode))
                .map_err(|e| format!("starting reader thread: {e}"))?
        };

        let window_max = sink.resend_window();
        let mut window: VecDeque<Batch> = VecDeque::new();
        let mut window_events = 0usize;
        let mut replay = false;
        let mut latest: Option<Cursor> = None;
        let mut rate = RateLimit::new(cfg.rate_limit);
        let mut outcome: Result<(), String> = Ok(());

        let mut saver = CursorSaver::new(cursors.clone(), start, cfg.cursor_interval);

        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = stop.wait_for(|s| *s) => None,
                r = saver.tick() => {
                    if let Err(e) = r {
                        outcome = Err(e);
                        break;
                    }
                    continue;
                }
            };
            let batch = match msg {
                None => break,
                Some(Err(e)) => {
                    outcome = Err(e);
                    break;
                }
                Some(Ok(b)) => b,
            };
            let n = batch.rendered.len();
            if n > 0 {
                tokio::select! {
                    _ = rate.take(n) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let mut backoff = Backoff::new(&cfg.retry);
                let mut stopped = false;
                loop {
                    let r = if replay && !window.is_empty() {
                        let mut all: Vec<Rendered> = Vec::with_capacity(window_events + n);
                        let mut evs: Vec<&Event> = Vec::with_capacity(window_events + n);
                        for b in window.iter().chain(std::iter::once(&batch)) {
                            all.extend(b.rendered.iter().cloned());
                            evs.extend(b.events.iter());
                        }
                        let meta: Vec<Summary> = evs.into_iter().map(Summary::of).collect();
                        sink.send_batch(&all, &meta).await
                    } else {
                        let meta: Vec<Summary> = batch.events.iter().map(Summary::of).collect();
                        sink.send_batch(&batch.rendered, &meta).await
                    };
                    match r {
                        Ok(()) => {
                            if replay {
                                metrics
                                    .resent
                                    .fetch_add(window_events as u64, Ordering::Relaxed);
                            }
                            replay = false;
                            break;
                        }
                        Err(e) => {
                            metrics.failed.fetch_add(1, Ordering::Relaxed);
                            replay = window_max > 0;
                            let wait = backoff.next_wait();
                            let permanent = matches!(e, SinkError::Permanent(_));
                            if backoff.attempts() == 1 || permanent {
                                tracing::warn!(forwarder = %cfg.name, error = %e, ?wait, permanent, "send failed; retrying the batch");
                            } else {
                                tracing::debug!(forwarder = %cfg.name, error = %e, ?wait, "send failed again");
                            }
                            match sleep_saving(wait, &mut stop, &mut saver).await {
                                Ok(true) => {}
                                Ok(false) => {
                                    stopped = true;
                                    break;
                                }
                                Err(e) => {
                                    outcome = Err(e);
                                    stopped = true;
                                    break;
                                }
                            }
                            metrics.retries.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if stopped {
                    break;
                }
                metrics.sent.fetch_add(n as u64, Ordering::Relaxed);
                metrics.batches.fetch_add(1, Ordering::Relaxed);
                metrics.last_ack_unix.store(
                    chrono::Utc::now().timestamp().max(0) as u64,
                    Ordering::Relaxed,
                );
            }
            metrics
                .acked_seq
                .store(batch.cursor_after.seq_total(), Ordering::Relaxed);
            latest = Some(batch.cursor_after.clone());
            // Settle: the cursor moves past batches that left the window.
            let mut settled = None;
            if n == 0 && window.is_empty() {
                settled = Some(batch.cursor_after);
            } else if n > 0 {
                window_events += n;
                window.push_back(batch);
                while window_events > window_max {
                    let old = window.pop_front().expect("window holds the events counted");
                    window_events -= old.rendered.len();
                    settled = Some(old.cursor_after);
                }
            }
            if let Some(c) = settled {
                if let Err(e) = saver.settled(c).await {
                    outcome = Err(e);
                    break;
                }
            }
        }

        reader_stop.store(true, Ordering::Relaxed);
        drop(rx);
        let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        // An orderly close that the receiver confirms settles the window.
        // `latest` is the cursor after the last acknowledged batch, so this
        // holds after a stop in the middle of retrying too.
        // The save in flight finishes first (one save at a time: they share
        // a temp file, and an older cursor must never land after a newer).
        let closed = sink.close().await;
        let last = match &closed {
            Ok(()) => latest,
            Err(e) => {
                tracing::warn!(forwarder = %cfg.name, error = %e,
                    "receiver did not confirm the close; the replay window will be resent");
                None
            }
        };
        saver.finish(last).await?;
        tracing::info!(forwarder = %cfg.name, sent = metrics.sent.load(Ordering::Relaxed), "forwarder stopped");
        outcome
    }
}

/// The reader thread: log → filter → format → batches.
fn read_loop(
    cfg: &ForwarderConfig,
    dir: &std::path::Path,
    start: Cursor,
    tx: &mpsc::Sender<Result<Batch, String>>,
    stop: &AtomicBool,
    metrics: &ForwarderMetrics,
    mode: Mode,
) {
    let mut source = LogSource::new(dir, &start);
    let mut head = HeadProbe::new(dir);
    let mut last_head: Option<Instant> = None;
    let mut cursor = start.clone();
    let mut emitted = start;
    let mut events = Vec::new();
    let mut rendered = Vec::new();
    let mut bytes = 0usize;
    let mut started: Option<Instant> = None;
    let emit = |events: &mut Vec<Event>, rendered: &mut Vec<Rendered>, cursor: &Cursor| {
        tx.blocking_send(Ok(Batch {
            events: std::mem::take(events),
            rendered: std::mem::take(rendered),
            cursor_after: cursor.clone(),
        }))
        .is_ok()
    };
    while !stop.load(Ordering::Relaxed) {
        if last_head.is_none_or(|t| t.elapsed() >= HEAD_EVERY) {
            match head.head_total() {
                Ok(h) => metrics.head_seq.store(h, Ordering::Relaxed),
                Err(e) => tracing::debug!(error = %e, "lag probe failed"),
            }
            last_head = Some(Instant::now());
        }
        let (got, gaps) = match source.poll(4) {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        for g in gaps {
            let lost = g.next_seq - g.after_seq - 1;
            metrics.gap_events.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(forwarder = %cfg.name, stream = %g.writer, after = g.after_seq,
                next = g.next_seq, "{lost} events were pruned from the store before being forwarded");
        }
        if got.is_empty() {
            if !rendered.is_empty() || cursor != emitted {
                if !emit(&mut events, &mut rendered, &cursor) {
                    return;
                }
                emitted = cursor.clone();
                bytes = 0;
                started = None;
            }
            if mode == Mode::Once {
                return;
            }
            std::thread::sleep(POLL);
            continue;
        }
        for mut ev in got {
            cursor.advance(&ev.pointer, ev.seq);
            let s = Summary::of(&ev.event);
            if !cfg.filter.matches(&s) {
                metrics.filtered.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let stored = (cfg.format == format::Format::Native)
                .then(|| stored_body(std::mem::take(&mut ev.json)))
                .flatten();
            let Some(value) =
                stored.or_else(|| format::render(cfg.format, &ev.event).map(Body::Value))
            else {
                metrics.unrenderable.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(forwarder = %cfg.name, event = %ev.pointer, "format has no form for this event");
                continue;
            };
            rendered.push(Rendered {
                id: event_id(&ev.event, &ev.pointer.writer, ev.seq),
                time: ev.event.time(),
                value,
            });
            events.push(ev.event);
            bytes += ev.json_len;
            started.get_or_insert_with(Instant::now);
            if rendered.len() >= cfg.batch.max_events || bytes >= cfg.batch.max_bytes {
                if !emit(&mut events, &mut rendered, &cursor) {
                    return;
                }
                emitted = cursor.clone();
                bytes = 0;
                started = None;
            }
        }
        if started.is_some_and(|t| t.elapsed() >= cfg.batch.max_wait) {
            if !emit(&mut events, &mut rendered, &cursor) {
                return;
            }
            emitted = cursor.clone();
            bytes = 0;
            started = None;
        }
    }
}

/// The native rendering straight from the log: the stored JSON (it parsed
/// as an event, so it is valid JSON) unless it has a line break (possible
/// only as whitespace between tokens, from some other writer), which a
/// one-line syslog MSG cannot carry; then the caller re-serializes.
pub fn stored_body(json: Vec<u8>) -> Option<Body> {
    if json.iter().any(|&b| b == b'\n' || b == b'\r') {
        return None;
    }
    String::from_utf8(json)
        .ok()
        .map(|s| Body::Stored(s.into_boxed_str()))
}

/// The id a receiver can deduplicate on: an API event's id (its
/// `Audit-Id`), or for session events the session id and the event's seq
/// in its log stream (data frames have no id of their own).
pub fn event_id(ev: &Event, writer: &str, seq: u64) -> String {
    match ev {
        Event::Api(a) => a.id.clone(),
        Event::Session(s) => format!("{}/{writer}:{seq}", s.session_id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_bodies_are_the_stored_bytes_unless_they_span_lines() {
        let ev = crate::format::samples::api();
        let ev = Event::Api(Box::new(ev));
        let json = serde_json::to_vec(&ev).unwrap();
        let Some(Body::Stored(s)) = stored_body(json.clone()) else {
            panic!("compact JSON is sent as stored")
        };
        assert_eq!(s.as_bytes(), json);
        let back: Event = serde_json::from_str(&s).unwrap();
        assert_eq!(back, ev);
        let pretty = serde_json::to_vec_pretty(&ev).unwrap();
        assert_eq!(stored_body(pretty), None, "a line break falls back");
        assert_eq!(stored_body(vec![b'"', 0xff, b'"']), None, "not UTF-8");
    }
}
