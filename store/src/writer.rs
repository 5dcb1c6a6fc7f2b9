//! Group commit. Appenders put events into a bounded in-process queue and
//! get a sequence number back at once; one background thread cuts the queue
//! into blocks, compresses and writes them, and fsyncs at most every
//! `fsync_interval`, then advances the durable seq. Many appends share one
//! fsync; an event is reported durable only after its fsync.
//!
//! When the queue is full the appender waits or is refused
//! ([`OnFull`]); nothing is ever dropped silently. When the log fails (disk
//! full, I/O error), every later append and every durability wait fails:
//! the proxy refuses requests rather than serve them unaudited.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kac_event::{Event, SessionEvent};

use crate::error::{Result, StoreError};
use crate::feed::{max_kept_buffer, Backlog, IndexBlock, IndexMsg};
use crate::log::codec::{encode_block_frame, BlockBody};
use crate::log::record::{encode_record, session_data_head, TAG_SESSION_DATA};
use crate::log::segment::SegmentWriter;
use crate::log::{BlockRef, StreamPos};
use crate::StoreOptions;

/// Sequence number of an event in its writer stream (1-based, gapless).
pub type Seq = u64;

/// What `append` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Block the appender until the writer catches up (back-pressure: the
    /// request waits). The default: audit completeness over latency.
    #[default]
    Wait,
    /// Return [`StoreError::QueueFull`] at once; the proxy refuses the request.
    Refuse,
}

/// An event [`Writer::try_append`] did not take, and why.
#[derive(Debug)]
pub struct Refused {
    pub error: StoreError,
    /// The event as it was handed in.
    pub event: Event,
}

struct PendingEvent {
    seq: Seq,
    time_us: i64,
    /// The stored record, or for session output its binary head...
    json: Vec<u8>,
    /// ...and its bytes, moved out of the event: they are copied once,
    /// into the block (see log::record).
    data: Vec<u8>,
}

impl PendingEvent {
    /// Bytes of the whole record.
    fn len(&self) -> usize {
        self.json.len() + self.data.len()
    }
}

struct State {
    pending: VecDeque<PendingEvent>,
    pending_bytes: usize,
    next_seq: Seq,
    durable: Seq,
    error: Option<String>,
    closing: bool,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    work: Condvar,
    space: Condvar,
    durable_cv: Condvar,
    opts: StoreOptions,
    /// Length of the last event's JSON: the next buffer starts this big.
    json_hint: std::sync::atomic::AtomicUsize,
}

/// Cloneable append handle (Send + Sync).
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enqueues an event into the current block; returns its seq. Fast: no
    /// I/O. The event is durable once [`Writer::durable`] reaches the seq.
    pub fn append(&self, event: Event) -> Result<Seq> {
        self.try_append(event).map_err(|r| r.error)
    }

    /// [`Writer::append`], but a refused event comes back whole with the
    /// error (session bytes included), so a caller that owns its events —
    /// kac-proxy's audit thread — can still log or retry it: nothing is
    /// lost because the store took it and then failed.
    pub fn try_append(&self, event: Event) -> std::result::Result<Seq, Box<Refused>> {
        // Sized from the previous event: `to_vec` starts at 128 bytes and
        // doubled ~3 times for a typical 700-byte event, and every one of
        // those allocations is freed on the writer thread (a cross-thread
        // free, the costly kind).
        use std::sync::atomic::Ordering::Relaxed;
        let mut event = event;
        let mut head = Vec::with_capacity(64);
        let (json, data) = if session_data_head(&event, &mut head) {
            // Session output: a binary record head (see log::record); the
            // bytes move out of the event (the indexer needs only the
            // session id and time) and are copied once, into the block.
            let Event::Session(SessionEvent::Data { data, .. }) = &mut event else {
                unreachable!("session_data_head accepts session.data only")
            };
            (head, std::mem::take(data))
        } else {
            let hint = self.shared.json_hint.load(Relaxed);
            let mut json = Vec::with_capacity(hint + hint / 4 + 64);
            if let Err(e) = encode_record(&event, &mut json) {
                let error = StoreError::Invalid(format!("event does not serialize: {e}"));
                return Err(Box::new(Refused { error, event }));
            }
            self.shared.json_hint.store(json.len(), Relaxed);
            (json, Vec::new())
        };
        let size = json.len() + data.len();
        let time_us = event.time().timestamp_micros();
        let cap = self.shared.opts.queue_max_bytes;
        let mut st = self.lock();
        let refused = loop {
            if let Some(e) = &st.error {
                break Some(StoreError::Failed(e.clone()));
            }
            if st.closing {
                break Some(StoreError::Closed);
            }
            if st.pending_bytes + size <= cap || st.pending.is_empty() {
                break None;
            }
            match self.shared.opts.on_full {
                OnFull::Refuse => break Some(StoreError::QueueFull(st.pending_bytes)),
                OnFull::Wait => {
                    st = self
                        .shared
                        .space
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner())
                }
            }
        };
        if let Some(error) = refused {
            drop(st);
            // Give the session bytes back to the event they came from.
            if let Event::Session(SessionEvent::Data { data: d, .. }) = &mut event {
                if !data.is_empty() {
                    *d = data;
                }
            }
            return Err(Box::new(Refused { error, event }));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.pending_bytes += size;
        let was_empty = st.pending.is_empty();
        st.pending.push_back(PendingEvent {
            seq,
            time_us,
            json,
            data,
        });
        let o = &self.shared.opts;
        if was_empty
            || st.pending.len() >= o.block_max_events
            || st.pending_bytes >= o.block_max_bytes
        {
            self.shared.work.notify_one();
        }
        drop(st);
        // Nobody needs the event past here: the record holds all of it, and
        // the indexer reads the record. Freed on this thread, where it was
        // most likely allocated (a cross-thread free costs more).
        drop(event);
        Ok(seq)
    }

    /// Appends and waits until the event is durable.
    pub fn append_durable(&self, event: Event) -> Result<Seq> {
        let seq = self.append(event)?;
        self.wait_durable(seq)?;
        Ok(seq)
    }

    /// Highest seq known durable (every event up to it is fsynced).
    pub fn durable(&self) -> Seq {
        self.lock().durable
    }

    /// Blocks until `seq` is durable, or fails if the store failed or closed
    /// first. From tokio, call it inside `spawn_blocking`.
    pub fn wait_durable(&self, seq: Seq) -> Result<()> {
        self.wait_durable_timeout(seq, Duration::MAX).map(|_| ())
    }

    /// Like [`Writer::wait_durable`] with a timeout; `Ok(false)` on timeout.
    pub fn wait_durable_timeout(&self, seq: Seq, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.lock();
        loop {
            if st.durable >= seq {
                return Ok(true);
            }
            if let Some(e) = &st.error {
                return Err(StoreError::Failed(e.clone()));
            }
            if st.closing && st.pending.is_empty() && seq >= st.next_seq {
                return Err(StoreError::Closed);
            }
            match deadline {
                None => {
                    st = self
                        .shared
                        .durable_cv
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner())
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    st = self
                        .shared
                        .durable_cv
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Ok when appends can succeed: check before starting a session whose
    /// policy requires recording.
    pub fn healthy(&self) -> Result<()> {
        let st = self.lock();
        match (&st.error, st.closing) {
            (Some(e), _) => Err(StoreError::Failed(e.clone())),
            (None, true) => Err(StoreError::Closed),
            _ => Ok(()),
        }
    }

    /// Seq the next append will get.
    pub fn next_seq(&self) -> Seq {
        self.lock().next_seq
    }

    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closing = true;
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        self.shared.durable_cv.notify_all();
    }
}

/// Starts the writer thread on an open segment.
pub(crate) fn start(
    store: PathBuf,
    opts: StoreOptions,
    seg: SegmentWriter,
    index_tx: Option<(Sender<IndexMsg>, Backlog)>,
) -> (Writer, std::thread::JoinHandle<()>) {
    let next_seq = seg.last_seq.wrapping_add(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: VecDeque::new(),
            pending_bytes: 0,
            next_seq,
            durable: next_seq - 1,
            error: None,
            closing: false,
        }),
        work: Condvar::new(),
        space: Condvar::new(),
        durable_cv: Condvar::new(),
        opts,
        json_hint: std::sync::atomic::AtomicUsize::new(0),
    });
    let w = Writer {
        shared: shared.clone(),
    };
    let w2 = w.clone();
    let h = std::thread::Builder::new()
        .name("kac-store-writer".into())
        .spawn(move || {
            let mut t = Thread {
                w: w2,
                store,
                seg: Some(seg),
                index_tx,
                unsynced: Vec::new(),
                zstd: None,
                zstd_session: None,
                raw_buf: Vec::new(),
                frame_buf: Vec::new(),
                dirty: false,
                last_sync: Instant::now()
                    .checked_sub(Duration::from_secs(3600))
                    .unwrap_or_else(Instant::now),
            };
            if let Err(e) = t.run() {
                tracing::error!(error = %e, "audit store writer failed; failing closed");
                let mut st = t.w.lock();
                st.error = Some(e.to_string());
                st.pending.clear();
                st.pending_bytes = 0;
                t.w.shared.durable_cv.notify_all();
                t.w.shared.space.notify_all();
            }
        })
        .expect("spawn writer thread");
    (w, h)
}

struct Thread {
    w: Writer,
    store: PathBuf,
    seg: Option<SegmentWriter>,
    index_tx: Option<(Sender<IndexMsg>, Backlog)>,
    unsynced: Vec<IndexBlock>,
    /// Reused for every block (created on the first one).
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// The same for blocks that are mostly session output.
    zstd_session: Option<zstd::bulk::Compressor<'static>>,
    /// A block's body and its frame, reused: a fresh megabyte per block
    /// came back from the allocator as new pages the kernel had to fault
    /// in and zero, twice per block of session output.
    raw_buf: Vec<u8>,
    frame_buf: Vec<u8>,
    dirty: bool,
    last_sync: Instant,
}

impl Thread {
    fn run(&mut self) -> Result<()> {
        let o = self.w.shared.opts.clone();
        loop {
            let (batch, due, closing) = {
                let mut st = self.w.lock();
                loop {
                    let full = st.pending.len() >= o.block_max_events
                        || st.pending_bytes >= o.block_max_bytes;
                    let waiting = !st.pending.is_empty() || self.dirty;
                    let due = waiting && self.last_sync.elapsed() >= o.fsync_interval;
                    if full || due || st.closing {
                        break;
                    }
                    st = if waiting {
                        let left = o.fsync_interval.saturating_sub(self.last_sync.elapsed());
                        self.w
                            .shared
                            .work
                            .wait_timeout(st, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    } else {
                        self.w
                            .shared
                            .work
                            .wait(st)
                            .unwrap_or_else(|p| p.into_inner())
                    };
                }
                let due = st.closing || self.last_sync.elapsed() >= o.fsync_interval;
                let take = if due {
                    st.pending.len()
                } else {
                    full_blocks(&st.pending, &o)
                };
                let batch: Vec<PendingEvent> = st.pending.drain(..take).collect();
                st.pending_bytes -= batch.iter().map(PendingEvent::len).sum::<usize>();
                (batch, due, st.closing)
            };
            self.w.shared.space.notify_all();
            self.write_batch(batch, &o)?;
            if due && self.dirty {
                self.sync()?;
            }
            if closing && self.w.lock().pending.is_empty() {
                if self.dirty {
                    self.sync()?;
                }
                return Ok(());
            }
        }
    }

    fn write_batch(&mut self, mut batch: Vec<PendingEvent>, o: &StoreOptions) -> Result<()> {
        let mut start = 0;
        while start < batch.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < batch.len() && end - start < o.block_max_events && bytes < o.block_max_bytes
            {
                bytes += batch[end].len();
                end += 1;
            }
            self.write_block(&mut batch[start..end], o)?;
            start = end;
        }
        Ok(())
    }

    fn write_block(&mut self, evs: &mut [PendingEvent], o: &StoreOptions) -> Result<()> {
        self.maybe_rotate(o)?;
        let seg = self.seg.as_mut().expect("open segment");
        // The block body, `(len record)*`: each record copied once.
        let total: usize = evs.iter().map(PendingEvent::len).sum();
        let raw = &mut self.raw_buf;
        raw.clear();
        raw.reserve(total + 4 * evs.len());
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        let mut session_bytes = 0;
        for e in evs.iter_mut() {
            if e.json.first() == Some(&TAG_SESSION_DATA) {
                session_bytes += e.len();
            }
            raw.extend_from_slice(&(e.len() as u32).to_le_bytes());
            raw.extend_from_slice(&e.json);
            raw.extend_from_slice(&e.data);
            e.data = Vec::new();
            min_t = min_t.min(e.time_us);
            max_t = max_t.max(e.time_us);
        }
        // Blocks that are mostly session output get their own (fast) level.
        let session = session_bytes * 2 >= total && session_bytes > 0;
        let (slot, level) = if session {
            (&mut self.zstd_session, o.session_zstd_level)
        } else {
            (&mut self.zstd, o.zstd_level)
        };
        let z = match slot {
            Some(z) => z,
            None => slot.insert(
                zstd::bulk::Compressor::new(level)
                    .map_err(|e| StoreError::io("creating the zstd compressor", e))?,
            ),
        };
        let body = BlockBody {
            first_seq: evs[0].seq,
            count: evs.len() as u32,
            min_time_us: min_t,
            max_time_us: max_t,
            raw,
            // Session output may be incompressible (random, gzip'd);
            // audit JSON never is, so its blocks skip the sample.
            sample: session,
        };
        let frame = &mut self.frame_buf;
        // The segment's own hash: a reopened KACSEG01 segment stays SHA-256.
        let enc = encode_block_frame(z, seg.header.hash, &seg.last_hash, &body, frame)
            .map_err(|e| StoreError::io("compressing block", e))?;
        let tail: &[u8] = if enc.raw_tail { raw } else { &[] };
        let offset = seg.write_frame_parts(&[frame, tail])?;
        seg.last_hash = enc.hash;
        seg.last_seq = evs[evs.len() - 1].seq;
        seg.blocks += 1;
        seg.events += evs.len() as u64;
        seg.max_time_us = evs.iter().fold(seg.max_time_us, |m, e| m.max(e.time_us));
        self.dirty = true;
        if let Some((_, backlog)) = &self.index_tx {
            let n = evs.len();
            let body = backlog
                .try_hold(n, o.index_backlog_events)
                .then(|| std::mem::replace(&mut self.raw_buf, backlog.take()));
            self.unsynced.push(IndexBlock {
                block: BlockRef {
                    writer: seg.header.writer.clone(),
                    segment: seg.header.segment_seq,
                    offset,
                },
                next: StreamPos {
                    segment: seg.header.segment_seq,
                    offset: seg.len,
                },
                body,
                count: n,
            });
        }
        // One outsized event must not pin its buffers for the process's
        // life (after the hand-over: the indexer gets the body whole).
        for buf in [&mut self.raw_buf, &mut self.frame_buf] {
            if buf.capacity() > max_kept_buffer(o.block_max_bytes) {
                *buf = Vec::new();
            }
        }
        Ok(())
    }

    fn maybe_rotate(&mut self, o: &StoreOptions) -> Result<()> {
        let seg = self.seg.as_ref().expect("open segment");
        // Age counts from the segment's creation, across restarts.
        let age_us = chrono::Utc::now().timestamp_micros() - seg.header.created_us;
        let old = age_us >= i64::try_from(o.segment_max_age.as_micros()).unwrap_or(i64::MAX);
        let rotate = seg.blocks > 0 && (seg.len >= o.segment_max_bytes || old);
        if !rotate {
            return Ok(());
        }
        let seg = self.seg.take().expect("open segment");
        let (writer, next) = (seg.header.writer.clone(), seg.header.segment_seq + 1);
        let (prev_hash, last_seq) = seg.seal()?;
        self.mark_durable(last_seq);
        self.seg = Some(SegmentWriter::start(
            &self.store,
            &writer,
            next,
            last_seq + 1,
            prev_hash,
        )?);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let seg = self.seg.as_mut().expect("open segment");
        seg.sync()?;
        let last = seg.last_seq;
        self.mark_durable(last);
        Ok(())
    }

    fn mark_durable(&mut self, last: Seq) {
        self.dirty = false;
        self.last_sync = Instant::now();
        // Hand the blocks to the indexer before announcing durability, so a
        // `Store::flush` that waited for this seq finds them indexed.
        if let Some((tx, _)) = &self.index_tx {
            if !self.unsynced.is_empty() {
                let _ = tx.send(IndexMsg::Blocks(std::mem::take(&mut self.unsynced)));
            }
        }
        {
            let mut st = self.w.lock();
            st.durable = st.durable.max(last);
        }
        self.w.shared.durable_cv.notify_all();
    }
}

/// How many queued events make whole blocks.
fn full_blocks(q: &VecDeque<PendingEvent>, o: &StoreOptions) -> usize {
    let (mut taken, mut n, mut bytes) = (0, 0, 0);
    for (i, e) in q.iter().enumerate() {
        n += 1;
        bytes += e.len();
        if n >= o.block_max_events || bytes >= o.block_max_bytes {
            taken = i + 1;
            n = 0;
            bytes = 0;
        }
    }
    taken
}
