//! [`Store`]: opening (with recovery), the background indexer, and the
//! maintenance operations (`reindex`, `prune`, `verify`, `flush`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_event::Event;
use serde::Serialize;

use crate::error::{IoContext, Result, StoreError};
use crate::feed::{Backlog, BacklogState, IndexBlock, IndexMsg};
use crate::index::doc::{chunk_doc, session_doc, SessionCtx, KIND_START};
use crate::index::search::{self, Kinds};
use crate::index::{IndexHandle, Indexer, COMMIT_DOCS};
use crate::log::anchor::{self, Anchor};
use crate::log::api_record::encode_api;
use crate::log::api_view::ApiView;
use crate::log::codec::body_records;
use crate::log::record::{decode_record, Record};
use crate::log::segment::{self, SegmentWriter};
use crate::log::verify::{verify_log, VerifyIssue, VerifyReport};
use crate::log::{scan_blocks, BlockReader, BlockRef, StreamPos};
use crate::query::{Field, Query};
use crate::writer::{self, Writer};
use crate::StoreOptions;

/// The audit store: one directory, any number of writer streams, one index.
pub struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) index: Option<Arc<IndexHandle>>,
    indexer: Option<Arc<Mutex<Indexer>>>,
    pub(crate) blocks: Arc<BlockReader>,
    writer: Option<Writer>,
    index_tx: Option<Sender<IndexMsg>>,
    backlog: Option<Backlog>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock: Option<nix::fcntl::Flock<File>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub segments: Vec<String>,
    pub events: u64,
    pub bytes: u64,
}

fn lock_dir(dir: &Path) -> Result<nix::fcntl::Flock<File>> {
    let p = dir.join("LOCK");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .ctx(|| format!("opening {}", p.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        StoreError::Locked {
            dir: dir.to_path_buf(),
        }
    })
}

impl Store {
    /// Opens a store for writing: takes the directory lock, recovers the
    /// tail of this writer's stream, re-indexes what the index missed, and
    /// starts the group-commit and indexer threads.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Store> {
        segment::validate_writer_id(&opts.writer_id)?;
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
        let lock = lock_dir(dir)?;
        let tail = segment::recover_stream(dir, &opts.writer_id)?;
        let seg = match tail.active {
            Some(s) if s.len < opts.segment_max_bytes => SegmentWriter::reopen(&s)?,
            Some(s) => {
                let w = SegmentWriter::reopen(&s)?;
                let (hash, last) = w.seal()?;
                SegmentWriter::start(
                    dir,
                    &opts.writer_id,
                    s.header.segment_seq + 1,
                    last + 1,
                    hash,
                )?
            }
            None => SegmentWriter::start(
                dir,
                &opts.writer_id,
                tail.next_segment_seq,
                tail.next_seq,
                tail.last_hash,
            )?,
        };
        let blocks = Arc::new(BlockReader::new(dir, 256));
        let mut store = Store {
            dir: dir.to_path_buf(),
            index: None,
            indexer: None,
            blocks,
            writer: None,
            index_tx: None,
            backlog: None,
            threads: Mutex::new(Vec::new()),
            _lock: Some(lock),
        };
        if opts.index {
            let h = Arc::new(IndexHandle::open(dir, true)?);
            let ix = Arc::new(Mutex::new(Indexer::new(&h)?));
            store.index = Some(h.clone());
            store.indexer = Some(ix.clone());
            store.catch_up(&|_, _| {})?;
            let (tx, rx) = channel();
            let blocks = store.blocks.clone();
            let interval = opts.index_commit_interval;
            let backlog = Arc::new(BacklogState::new(opts.block_max_bytes));
            let b2 = backlog.clone();
            let t = std::thread::Builder::new()
                .name("kac-store-indexer".into())
                .spawn(move || index_thread(rx, ix, h, blocks, interval, b2))
                .ctx(|| "spawning indexer thread".into())?;
            store.threads.lock().expect("threads").push(t);
            store.index_tx = Some(tx.clone());
            store.backlog = Some(backlog);
        }
        let to_index = store.index_tx.clone().zip(store.backlog.clone());
        let (w, t) = writer::start(dir.to_path_buf(), opts, seg, to_index);
        store.threads.lock().expect("threads").push(t);
        store.writer = Some(w);
        Ok(store)
    }

    /// Opens a store for reading only (no lock, no recovery): what the CLI
    /// uses next to a running proxy. The index must exist.
    pub fn open_read_only(dir: &Path) -> Result<Store> {
        if !dir.is_dir() {
            return Err(StoreError::NotFound(format!("store {}", dir.display())));
        }
        let index = match IndexHandle::open(dir, false) {
            Ok(h) => Some(Arc::new(h)),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(Store {
            dir: dir.to_path_buf(),
            index,
            indexer: None,
            blocks: Arc::new(BlockReader::new(dir, 256)),
            writer: None,
            index_tx: None,
            backlog: None,
            threads: Mutex::new(Vec::new()),
            _lock: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The append handle (only for stores opened with [`Store::open`]).
    pub fn writer(&self) -> Writer {
        self.writer
            .clone()
            .expect("Store::writer on a read-only store; use Store::open")
    }

    pub(crate) fn index(&self) -> Result<&IndexHandle> {
        self.index.as_deref().ok_or_else(|| {
            StoreError::NotFound(format!(
                "no index in {} (run `kac-audit reindex`)",
                self.dir.display()
            ))
        })
    }

    /// Waits until everything appended so far is durable and indexed, and
    /// the index is committed: searchable now, not "within seconds".
    pub fn flush(&self) -> Result<()> {
        if let Some(w) = &self.writer {
            let last = w.next_seq() - 1;
            w.wait_durable(last)?;
        }
        if let Some(tx) = &self.index_tx {
            let (rtx, rrx) = channel();
            tx.send(IndexMsg::Flush(rtx))
                .map_err(|_| StoreError::Index("indexer stopped".into()))?;
            rrx.recv()
                .map_err(|_| StoreError::Index("indexer stopped".into()))??;
        } else if let Some(h) = &self.index {
            h.reader.reload()?;
        }
        Ok(())
    }

    /// Indexes every block after the index's position.
    fn catch_up(&self, progress: &dyn Fn(u64, u64)) -> Result<u64> {
        let (Some(h), Some(ix)) = (&self.index, &self.indexer) else {
            return Ok(0);
        };
        let mut ix = ix.lock().expect("indexer lock");
        let from = ix.position.clone();
        let total = crate::log::bytes_after(&self.dir, &from)?;
        let mut done = 0u64;
        let mut n = 0u64;
        scan_blocks(&self.dir, &from, |b| {
            done += b.next.offset.saturating_sub(b.block.offset);
            n += b.decoded.len() as u64;
            let records = b.decoded.records().map(Ok);
            index_block(&mut ix, h, &self.blocks, &b.block, b.next, records)?;
            progress(done.min(total), total);
            if ix.uncommitted >= COMMIT_DOCS {
                ix.commit(&h.reader)?;
            }
            Ok(true)
        })?;
        ix.commit(&h.reader)?;
        progress(total, total);
        Ok(n)
    }

    /// Rebuilds the index from the log. `progress(done_bytes, total_bytes)`.
    pub fn reindex(&self, progress: &dyn Fn(u64, u64)) -> Result<u64> {
        let ix = self.indexer.as_ref().ok_or_else(|| {
            StoreError::Invalid("reindex needs a writable store with index".into())
        })?;
        ix.lock().expect("indexer lock").clear()?;
        self.catch_up(progress)
    }

    /// Verifies the log (CRCs, hash chain, seqs, seals) and that the index
    /// does not point past the end of the log (removed tail).
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut r = verify_log(&self.dir)?;
        if let Some(h) = &self.index {
            let pos = h.committed_position()?;
            let streams = segment::list_streams(&self.dir)?;
            for (w, p) in &pos.streams {
                let segs = streams.get(w).cloned().unwrap_or_default();
                let last = segs.last().map(|(s, _)| *s).unwrap_or(0);
                let file = BlockRef {
                    writer: w.clone(),
                    segment: p.segment,
                    offset: 0,
                }
                .path(&self.dir);
                let len = std::fs::metadata(&file).map(|m| m.len()).ok();
                let missing = match len {
                    Some(l) => l < p.offset,
                    None => p.segment > last || segs.is_empty() && p.segment > 0,
                };
                if missing {
                    r.errors.push(VerifyIssue {
                        file,
                        offset: p.offset,
                        reason: format!(
                            "the index covers stream {w} up to segment {} offset {}, \
                             but the log ends before: data was removed",
                            p.segment, p.offset
                        ),
                    });
                }
            }
        }
        Ok(r)
    }

    /// Drops whole sealed segments whose newest event is older than
    /// `older_than`, oldest first, and records an anchor so the remaining
    /// chain still verifies. Never touches an unsealed segment.
    pub fn prune(&self, older_than: DateTime<Utc>) -> Result<PruneReport> {
        if self._lock.is_none() {
            return Err(StoreError::Invalid(
                "prune needs the store lock: stop the writer or run it in the proxy".into(),
            ));
        }
        let mut rep = PruneReport::default();
        let cutoff = older_than.timestamp_micros();
        for (w, segs) in segment::list_streams(&self.dir)? {
            let prior = anchor::read(&self.dir, &w)?;
            for (seq, path) in segs {
                let Some(s) = segment::scan_segment(&self.dir, &path, false)? else {
                    break;
                };
                if !s.sealed || s.max_time_us >= cutoff {
                    break;
                }
                let a = Anchor {
                    writer: w.clone(),
                    next_segment_seq: seq + 1,
                    prev_hash_hex: String::new(),
                    next_seq: s.last_seq + 1,
                    pruned_segments: prior.as_ref().map_or(0, |p| p.pruned_segments)
                        + rep.segments.len() as u64
                        + 1,
                    pruned_events: prior.as_ref().map_or(0, |p| p.pruned_events)
                        + rep.events
                        + s.events,
                    pruned_at: Utc::now().to_rfc3339(),
                    prev_hash: s.last_hash,
                };
                anchor::write(&self.dir, &a)?;
                std::fs::remove_file(&path).ctx(|| format!("removing {}", path.display()))?;
                segment::sync_dir(&segment::segments_dir(&self.dir))?;
                if let Some(tx) = &self.index_tx {
                    let _ = tx.send(IndexMsg::DeleteSegment(w.clone(), seq));
                }
                rep.segments.push(path.display().to_string());
                rep.events += s.events;
                rep.bytes += s.len;
            }
        }
        Ok(rep)
    }

    /// Stops the writer (flushing and fsyncing what is queued) and commits
    /// the index. Also done on drop.
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        Ok(())
    }

    fn shutdown(&mut self) {
        if let Some(w) = self.writer.take() {
            w.close();
        }
        // The writer thread goes first: it hands its last blocks to the indexer.
        let mut threads = std::mem::take(&mut *self.threads.lock().expect("threads"));
        if let Some(t) = threads.pop() {
            let _ = t.join();
        }
        if let Some(tx) = self.index_tx.take() {
            let _ = tx.send(IndexMsg::Stop);
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Adds the documents of one block (its records, as stored) and advances
/// the indexer's position. A block with a record that does not decode gets
/// no documents at all, and the error names the block.
fn index_block<'r>(
    ix: &mut Indexer,
    h: &IndexHandle,
    blocks: &BlockReader,
    block: &BlockRef,
    next: StreamPos,
    records: impl Iterator<Item = std::result::Result<&'r [u8], String>>,
) -> Result<()> {
    let seg = crate::index::seg_key(&block.writer, block.segment);
    if let Err(e) = add_records(ix, h, blocks, block, &seg, records) {
        ix.discard_pending();
        return Err(e);
    }
    ix.add_pending()?;
    ix.position.streams.insert(block.writer.clone(), next);
    Ok(())
}

fn add_records<'r>(
    ix: &mut Indexer,
    h: &IndexHandle,
    blocks: &BlockReader,
    block: &BlockRef,
    seg: &str,
    records: impl Iterator<Item = std::result::Result<&'r [u8], String>>,
) -> Result<()> {
    let corrupt = |i: usize, reason: String| StoreError::Corrupt {
        file: block.path(blocks.store()),
        offset: block.offset,
        reason: format!("event {i}: {reason}"),
    };
    let mut chunked = Vec::new();
    let mut scratch = Vec::new();
    for (i, rec) in records.enumerate() {
        let loc = crate::index::loc(block.offset, i as u32)?;
        let rec = rec.and_then(decode_record).map_err(|r| corrupt(i, r))?;
        match rec {
            // Most records: read in place, nothing allocated per field.
            Record::Api(r) => {
                let v = ApiView::parse(r).map_err(|r| corrupt(i, r))?;
                ix.add_api(&v, seg, loc);
            }
            Record::SessionData {
                session_id, time, ..
            } => {
                if let Some(d) = chunk_doc(session_id, time.timestamp_micros(), &mut chunked) {
                    ix.add_spec(&d, seg, loc);
                }
            }
            Record::Json(j) => {
                let ev: Event = serde_json::from_slice(j).map_err(|e| corrupt(i, e.to_string()))?;
                match ev {
                    // Written before API records were binary: index it
                    // through the same path as the binary form.
                    Event::Api(a) => {
                        scratch.clear();
                        encode_api(&a, &mut scratch);
                        let v = ApiView::parse(&scratch).map_err(|r| corrupt(i, r))?;
                        ix.add_api(&v, seg, loc);
                    }
                    Event::Session(s) => {
                        let time_us = s.time().timestamp_micros();
                        let mut lookup = |sid: &str| lookup_session(h, blocks, sid);
                        let d =
                            session_doc(&s, time_us, &mut ix.sessions, &mut lookup, &mut chunked);
                        if let Some(d) = d {
                            ix.add_spec(&d, seg, loc);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Finds a session's start in the index (it began before a restart).
fn lookup_session(h: &IndexHandle, blocks: &BlockReader, sid: &str) -> Option<SessionCtx> {
    let q = Query::default()
        .with(Field::Session, sid)
        .with(Field::Kind, KIND_START);
    let hits = search::run(h, &q, Kinds::All, 1).ok()?;
    let (_, p) = hits.first()?;
    match blocks.event(p).ok()? {
        Event::Session(kac_event::SessionEvent::Start(s)) => Some(SessionCtx::from_start(&s)),
        _ => None,
    }
}

fn index_thread(
    rx: std::sync::mpsc::Receiver<IndexMsg>,
    ix: Arc<Mutex<Indexer>>,
    h: Arc<IndexHandle>,
    blocks: Arc<BlockReader>,
    interval: Duration,
    backlog: Backlog,
) {
    let report = |r: Result<()>| {
        if let Err(e) = r {
            tracing::error!(error = %e, "audit index update failed (the log is intact; reindex repairs)");
        }
    };
    loop {
        let msg = rx.recv_timeout(interval);
        let mut x = ix.lock().expect("indexer lock");
        match msg {
            Ok(IndexMsg::Blocks(bs)) => {
                for b in bs {
                    let IndexBlock {
                        block,
                        next,
                        body,
                        count,
                    } = b;
                    if !x.covers(&block) {
                        report(match &body {
                            Some(raw) => {
                                let records = body_records(raw);
                                index_block(&mut x, &h, &blocks, &block, next, records)
                            }
                            // The writer did not hold the body for us: read
                            // the block back from the log.
                            None => blocks.read(&block).and_then(|d| {
                                let records = d.records().map(Ok);
                                index_block(&mut x, &h, &blocks, &block, next, records)
                            }),
                        });
                    }
                    if let Some(raw) = body {
                        backlog.release(raw, count);
                    }
                }
                if x.uncommitted >= COMMIT_DOCS || x.last_commit.elapsed() >= interval {
                    report(x.commit(&h.reader));
                }
            }
            Ok(IndexMsg::DeleteSegment(w, s)) => report(x.delete_segment(&w, s)),
            Ok(IndexMsg::Flush(reply)) => {
                let _ = reply.send(x.commit(&h.reader));
            }
            Ok(IndexMsg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                report(x.commit(&h.reader));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if x.uncommitted > 0 {
                    report(x.commit(&h.reader));
                }
            }
        }
    }
}
