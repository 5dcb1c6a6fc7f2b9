//! The audit pipeline: request handlers emit events into a bounded queue; a
//! dedicated writer thread drains it in batches into a backend (the store, or
//! a JSON-lines file).
//!
//! Why a queue and a thread: writing an event must add no synchronous disk
//! write to the request path, yet an event must never be dropped silently.
//! So the queue is bounded, and when it is full the proxy either *waits*
//! (backpressure slows clients down) or *refuses* the request with a 503
//! Status, as configured ([`Backpressure`]). When the backend fails (disk full,
//! store broken) the pipeline turns unhealthy: [`AuditTx::healthy`] reports
//! the error, the proxy refuses new requests and sessions (fail closed), and
//! the events that could not be written are logged at error level as JSON so
//! that nothing vanishes without a trace.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kac_event::Event;
use serde::Deserialize;
use tokio::sync::mpsc;

/// What happens when the audit queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backpressure {
    /// The request waits until the writer catches up (the default: nothing is
    /// refused, clients just slow down).
    #[default]
    Wait,
    /// The request is refused with a 503 Status (latency stays bounded, but
    /// clients see errors under overload).
    Refuse,
}

/// Why an event could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("audit queue is full (backpressure: refuse)")]
    QueueFull,
    #[error("audit pipeline is unavailable: {0}")]
    Unavailable(String),
}

/// Where the writer thread puts events. Called on a dedicated thread, so
/// blocking I/O is fine.
pub trait AuditBackend: Send + 'static {
    /// Append a batch, taking the events it writes out of `batch`: owned
    /// events go into the store without a copy (a 32 KiB session.data
    /// frame was cloned here). Returning `Err` makes the pipeline
    /// unhealthy; the events still in `batch` are logged as lost (a backend
    /// puts back any event it took but could not write).
    fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String>;
    /// Called when the queue is momentarily empty (flush buffers).
    fn idle(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Health of the backend itself (e.g. the store's writer state).
    fn healthy(&self) -> Result<(), String> {
        Ok(())
    }
    /// Called once at shutdown, after the last batch: make everything
    /// written durable (flush and fsync).
    fn close(&mut self) -> Result<(), String> {
        self.idle()
    }
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    pub refused: AtomicU64,
}

struct Shared {
    failure: Mutex<Option<String>>,
    stats: AuditStats,
    capacity: usize,
    /// Detached emits waiting for room in the queue (see
    /// [`AuditTx::emit_detached`]); shutdown waits for them.
    detached: AtomicUsize,
    /// Events the queue accepted (written + failed + still to write).
    accepted: AtomicU64,
}

/// What travels to the writer thread.
enum Msg {
    Event(Event),
    /// Shutdown: accept nothing more, write what is queued, then stop.
    Close,
}

/// The handle request handlers use to emit audit events. Cheap to clone.
#[derive(Clone)]
pub struct AuditTx {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    backpressure: Backpressure,
}

impl AuditTx {
    /// Queue an event. Waits or refuses when the queue is full, per config.
    pub async fn emit(&self, ev: Event) -> Result<(), AuditError> {
        self.healthy()?;
        let sent = match self.backpressure {
            Backpressure::Wait => self
                .tx
                .send(Msg::Event(ev))
                .await
                .map_err(|_| AuditError::Unavailable("audit writer stopped".into())),
            Backpressure::Refuse => self.tx.try_send(Msg::Event(ev)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                    AuditError::QueueFull
                }
                mpsc::error::TrySendError::Closed(_) => {
                    AuditError::Unavailable("audit writer stopped".into())
                }
            }),
        };
        if sent.is_ok() {
            self.shared.accepted.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Queue an event from a context that cannot await (e.g. a body's Drop).
    /// The event is always delivered to the queue (waiting in a task if
    /// needed); if the pipeline is down it is logged at error level instead.
    pub fn emit_detached(&self, ev: Event) {
        match self.tx.try_send(Msg::Event(ev)) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                let shared = self.shared.clone();
                // Counted until queued, so shutdown waits for it.
                shared.detached.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    match tx.send(msg).await {
                        Ok(()) => {
                            shared.accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => log_lost_msg(&e.0, "audit writer stopped"),
                    }
                    shared.detached.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(mpsc::error::TrySendError::Closed(msg)) => {
                log_lost_msg(&msg, "audit writer stopped")
            }
        }
    }

    /// Whether new requests and sessions may proceed.
    pub fn healthy(&self) -> Result<(), AuditError> {
        if let Some(msg) = self.shared.failure.lock().expect("poisoned").as_ref() {
            return Err(AuditError::Unavailable(msg.clone()));
        }
        if self.tx.is_closed() {
            return Err(AuditError::Unavailable("audit writer stopped".into()));
        }
        Ok(())
    }

    /// Whether a new request may start: the pipeline is healthy and, in
    /// refuse mode, the queue has room for its event.
    pub fn admit(&self) -> Result<(), AuditError> {
        self.healthy()?;
        if self.backpressure == Backpressure::Refuse && self.tx.capacity() == 0 {
            self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(AuditError::QueueFull);
        }
        Ok(())
    }

    /// Events waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.shared.capacity - self.tx.capacity()
    }

    pub fn stats(&self) -> &AuditStats {
        &self.shared.stats
    }
}

fn log_lost(ev: &Event, why: &str) {
    let json = serde_json::to_string(ev).unwrap_or_default();
    tracing::error!(reason = why, event = %json, "audit event could not be written");
}

fn log_lost_msg(msg: &Msg, why: &str) {
    if let Msg::Event(ev) = msg {
        log_lost(ev, why);
    }
}

/// Handle to the writer thread. [`AuditWriter::close`] (or `join`) stops it
/// after it has written and fsynced every event queued before the call;
/// it does not wait for the [`AuditTx`] clones that connections, sessions
/// or tasks may still hold (an emit after close is refused and logged with
/// the event, never dropped silently).
pub struct AuditWriter {
    thread: std::thread::JoinHandle<()>,
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

/// What was left when [`AuditWriter::close`] gave up waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit writer did not finish within the bound: {unwritten} accepted events not yet written, {waiting} more waiting for room in the queue")]
pub struct CloseTimedOut {
    /// Accepted into the queue but not yet written (or failed) by the backend.
    pub unwritten: u64,
    /// Detached emits that had not reached the queue.
    pub waiting: usize,
}

impl AuditWriter {
    /// Close the pipeline and wait (blocking) until the writer has drained
    /// the queue, flushed and fsynced.
    pub fn join(self) {
        let _ = self.tx.blocking_send(Msg::Close);
        let _ = self.thread.join();
    }

    /// Shutdown: waits up to `bound` for detached emits to reach the queue,
    /// then closes it — the writer writes everything queued, then flushes
    /// and fsyncs — and waits for the writer up to `bound` again. On
    /// timeout the writer keeps draining in the background while the
    /// caller decides (the proxy logs the counts and exits non-zero).
    pub async fn close(self, bound: Duration) -> Result<(), CloseTimedOut> {
        let deadline = tokio::time::Instant::now() + bound;
        while self.shared.detached.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let timed_out = || {
            let s = &self.shared.stats;
            let done = s.written.load(Ordering::SeqCst) + s.failed.load(Ordering::SeqCst);
            CloseTimedOut {
                unwritten: self
                    .shared
                    .accepted
                    .load(Ordering::SeqCst)
                    .saturating_sub(done),
                waiting: self.shared.detached.load(Ordering::SeqCst),
            }
        };
        // Queued behind every event already waiting for room (FIFO).
        if tokio::time::timeout_at(deadline, self.tx.send(Msg::Close))
            .await
            .is_err()
        {
            return Err(timed_out());
        }
        let deadline = tokio::time::Instant::now() + bound;
        while !self.thread.is_finished() {
            if tokio::time::Instant::now() >= deadline {
                return Err(timed_out());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.thread.join();
        Ok(())
    }
}

/// How long the writer waits after a small batch before taking the next one.
const LINGER: Duration = Duration::from_millis(2);
/// Batches smaller than this are followed by a [`LINGER`].
const LINGER_BELOW: usize = 64;

/// Start the pipeline: a bounded queue of `capacity` events and a writer thread.
pub fn spawn(
    mut backend: Box<dyn AuditBackend>,
    capacity: usize,
    backpressure: Backpressure,
) -> (AuditTx, AuditWriter) {
    let capacity = capacity.max(1);
    let (tx, mut rx) = mpsc::channel::<Msg>(capacity);
    let shared = Arc::new(Shared {
        failure: Mutex::new(None),
        stats: AuditStats::default(),
        capacity,
        detached: AtomicUsize::new(0),
        accepted: AtomicU64::new(0),
    });
    let writer_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("kac-audit-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(256);
            // On Close the receiver closes: senders now get an error (and
            // log their event); what is already queued is still received
            // and written, then `blocking_recv` returns None.
            let mut closing = false;
            while let Some(first) = rx.blocking_recv() {
                match first {
                    Msg::Event(ev) => batch.push(ev),
                    Msg::Close => {
                        closing = true;
                        rx.close()
                    }
                }
                while batch.len() < 1024 {
                    match rx.try_recv() {
                        Ok(Msg::Event(ev)) => batch.push(ev),
                        Ok(Msg::Close) => {
                            closing = true;
                            rx.close()
                        }
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let failed = writer_shared.failure.lock().expect("poisoned").clone();
                let n = batch.len();
                let result = match failed {
                    Some(msg) => Err(msg),
                    None => backend.append(&mut batch),
                };
                match result {
                    Ok(()) => {
                        writer_shared
                            .stats
                            .written
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(msg) => {
                        writer_shared
                            .stats
                            .failed
                            .fetch_add(n as u64, Ordering::Relaxed);
                        for ev in &batch {
                            log_lost(ev, &msg);
                        }
                        let mut f = writer_shared.failure.lock().expect("poisoned");
                        if f.is_none() {
                            tracing::error!(error = %msg, "audit backend failed; refusing new requests");
                            *f = Some(msg);
                        }
                    }
                }
                batch.clear();
                if rx.is_empty() {
                    if let Err(msg) = backend.idle().and_then(|_| backend.healthy()) {
                        let mut f = writer_shared.failure.lock().expect("poisoned");
                        if f.is_none() {
                            tracing::error!(error = %msg, "audit backend failed; refusing new requests");
                            *f = Some(msg);
                        }
                    }
                }
                // At a low rate every event would wake this thread on its
                // own, and on a small machine that wake-up competes with the
                // requests themselves. Lingering a moment lets events
                // accumulate: one wake-up per batch. Under load batches are
                // large and it never sleeps.
                if n < LINGER_BELOW && !closing {
                    std::thread::sleep(LINGER);
                }
            }
            if let Err(msg) = backend.close() {
                tracing::error!(error = %msg, "audit backend failed to flush at shutdown");
            }
        })
        .expect("spawn audit writer thread");
    (
        AuditTx {
            tx: tx.clone(),
            shared: shared.clone(),
            backpressure,
        },
        AuditWriter { thread, tx, shared },
    )
}

/// A JSON-lines file backend: one event per line, flushed per batch and
/// fsynced at most every `fsync_interval`.
pub struct JsonLinesBackend {
    path: PathBuf,
    out: BufWriter<File>,
    fsync_interval: Duration,
    last_sync: Instant,
}

impl JsonLinesBackend {
    pub fn open(path: &Path, fsync_interval: Duration) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            fsync_interval,
            last_sync: Instant::now(),
        })
    }
}

impl AuditBackend for JsonLinesBackend {
    fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String> {
        let ctx = |e: std::io::Error| format!("writing {}: {e}", self.path.display());
        for ev in batch.iter() {
            serde_json::to_writer(&mut self.out, ev).map_err(|e| e.to_string())?;
            self.out.write_all(b"\n").map_err(ctx)?;
        }
        self.out.flush().map_err(ctx)?;
        if self.last_sync.elapsed() >= self.fsync_interval {
            self.out.get_ref().sync_data().map_err(ctx)?;
            self.last_sync = Instant::now();
        }
        batch.clear();
        Ok(())
    }

    fn idle(&mut self) -> Result<(), String> {
        let ctx = |e: std::io::Error| format!("syncing {}: {e}", self.path.display());
        self.out.flush().map_err(ctx)?;
        self.out.get_ref().sync_data().map_err(ctx)?;
        self.last_sync = Instant::now();
        Ok(())
    }
}

/// The kac-store backend: events go into the store's group-commit writer,
/// which batches them into compressed, hash-chained blocks and fsyncs every
/// `fsync_interval`. A crash loses at most that interval's events.
pub struct StoreBackend {
    writer: kac_store::Writer,
    // Keeps the store (and its writer and index threads) open.
    store: kac_store::Store,
}

impl StoreBackend {
    pub fn open(dir: &Path, fsync_interval: Duration, writer_id: &str) -> Result<Self, String> {
        let opts = kac_store::StoreOptions {
            fsync_interval,
            writer_id: writer_id.to_owned(),
            ..Default::default()
        };
        let store = kac_store::Store::open(dir, opts)
            .map_err(|e| format!("opening audit store {}: {e}", dir.display()))?;
        Ok(Self {
            writer: store.writer(),
            store,
        })
    }
}

impl AuditBackend for StoreBackend {
    fn close(&mut self) -> Result<(), String> {
        // Durable (fsynced) and indexed before the proxy exits.
        self.store.flush().map_err(|e| format!("audit store: {e}"))
    }

    fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String> {
        // A failed store refuses every append: say so before taking any.
        self.healthy()?;
        // A refused event comes back whole (`try_append`): it goes back at
        // the front of what is left, and the caller logs them all as lost.
        let mut events = std::mem::take(batch).into_iter();
        while let Some(ev) = events.next() {
            if let Err(r) = self.writer.try_append(ev) {
                batch.push(r.event);
                batch.extend(events);
                return Err(format!("audit store: {}", r.error));
            }
        }
        Ok(())
    }

    fn healthy(&self) -> Result<(), String> {
        self.writer
            .healthy()
            .map_err(|e| format!("audit store: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kac_event::{ApiEvent, UserInfo};

    fn ev(n: u64) -> Event {
        Event::Api(Box::new(ApiEvent {
            id: format!("e{n}"),
            user: UserInfo {
                name: "david".into(),
                ..Default::default()
            },
            code: 200,
            ..Default::default()
        }))
    }

    struct Collect(Arc<Mutex<Vec<Event>>>, Option<usize>);
    impl AuditBackend for Collect {
        fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String> {
            let mut v = self.0.lock().unwrap();
            if let Some(limit) = self.1 {
                if v.len() + batch.len() > limit {
                    return Err("disk full".into());
                }
            }
            v.append(batch);
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_emitted_event_reaches_the_backend() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, writer) = spawn(Box::new(Collect(got.clone(), None)), 4, Backpressure::Wait);
        for i in 0..100 {
            tx.emit(ev(i)).await.unwrap();
        }
        drop(tx);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 100);
        assert_eq!(got[99], ev(99));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_writes_everything_queued_without_waiting_for_senders() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicU64::new(0));
        struct Slow(Arc<Mutex<Vec<Event>>>, Arc<AtomicU64>);
        impl AuditBackend for Slow {
            fn append(&mut self, batch: &mut Vec<Event>) -> Result<(), String> {
                std::thread::sleep(Duration::from_millis(1));
                self.0.lock().unwrap().append(batch);
                Ok(())
            }
            fn close(&mut self) -> Result<(), String> {
                self.1.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
        let (tx, writer) = spawn(
            Box::new(Slow(got.clone(), closed.clone())),
            8,
            Backpressure::Wait,
        );
        // A connection still holds a sender, and detached emits overflow
        // the queue (they wait in tasks).
        let held = tx.clone();
        for i in 0..200 {
            tx.emit_detached(ev(i));
        }
        writer.close(Duration::from_secs(30)).await.unwrap();
        assert_eq!(
            got.lock().unwrap().len(),
            200,
            "every accepted event written"
        );
        assert_eq!(closed.load(Ordering::SeqCst), 1, "backend flushed once");
        // After close, new events are refused (and would be logged).
        assert!(held.healthy().is_err());
        assert!(matches!(
            held.emit(ev(999)).await,
            Err(AuditError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn close_gives_up_after_the_bound_and_says_what_is_left() {
        struct Stuck(std::sync::mpsc::Receiver<()>);
        impl AuditBackend for Stuck {
            fn append(&mut self, _: &mut Vec<Event>) -> Result<(), String> {
                let _ = self.0.recv();
                Ok(())
            }
        }
        let (release, rx) = std::sync::mpsc::channel();
        let (tx, writer) = spawn(Box::new(Stuck(rx)), 4, Backpressure::Wait);
        for i in 0..3 {
            tx.emit(ev(i)).await.unwrap();
        }
        let err = writer.close(Duration::from_millis(100)).await.unwrap_err();
        assert_eq!(err.unwritten, 3, "{err}");
        drop(release);
    }

    #[tokio::test]
    async fn a_failing_backend_makes_the_pipeline_unhealthy() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, _writer) = spawn(
            Box::new(Collect(got.clone(), Some(2))),
            16,
            Backpressure::Wait,
        );
        for i in 0..3 {
            // The third event overflows the backend's limit.
            let _ = tx.emit(ev(i)).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut unhealthy = false;
        for _ in 0..100 {
            if tx.healthy().is_err() {
                unhealthy = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(unhealthy, "pipeline should report the backend failure");
        assert!(
            matches!(tx.emit(ev(9)).await, Err(AuditError::Unavailable(m)) if m.contains("disk full"))
        );
        assert_eq!(tx.stats().failed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn refuse_mode_refuses_when_full() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // A backend that blocks forever keeps the queue full.
            struct Stuck(std::sync::mpsc::Receiver<()>);
            impl AuditBackend for Stuck {
                fn append(&mut self, _: &mut Vec<Event>) -> Result<(), String> {
                    let _ = self.0.recv();
                    Ok(())
                }
            }
            let (_hold, rx) = std::sync::mpsc::channel();
            let (tx, _w) = spawn(Box::new(Stuck(rx)), 2, Backpressure::Refuse);
            let mut refused = 0;
            for i in 0..10 {
                if let Err(AuditError::QueueFull) = tx.emit(ev(i)).await {
                    refused += 1;
                }
            }
            // At most capacity (2) + one batch in the writer's hands succeed.
            assert!(refused >= 7, "refused {refused}");
            assert_eq!(tx.stats().refused.load(Ordering::Relaxed), refused);
        });
    }

    #[test]
    fn json_lines_backend_writes_one_event_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/events.jsonl");
        let mut b = JsonLinesBackend::open(&path, Duration::from_millis(0)).unwrap();
        let mut batch = vec![ev(1), ev(2)];
        b.append(&mut batch).unwrap();
        assert!(batch.is_empty(), "written events are taken from the batch");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, vec![ev(1), ev(2)]);
    }

    /// The store takes the events themselves (no copy), and a store that
    /// cannot take them leaves the whole batch to be logged as lost.
    #[test]
    fn store_backend_takes_events_and_leaves_them_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = StoreBackend::open(dir.path(), Duration::from_millis(1), "t1").unwrap();
        let mut batch = vec![ev(1), ev(2), ev(3)];
        b.append(&mut batch).unwrap();
        assert!(batch.is_empty());
        b.close().unwrap();
        assert_eq!(b.writer.durable(), 3);
        // A writer whose store is closed refuses: nothing is taken.
        let other = tempfile::tempdir().unwrap();
        let closed = kac_store::Store::open(other.path(), Default::default()).unwrap();
        b.writer = closed.writer();
        closed.close().unwrap();
        let mut batch = vec![ev(4), ev(5)];
        let err = b.append(&mut batch).unwrap_err();
        assert!(err.starts_with("audit store: "), "{err}");
        assert_eq!(batch, vec![ev(4), ev(5)]);
    }
}
