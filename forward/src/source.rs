//! The source: the store's log, read forward from a cursor, block by block,
//! through `kac_store::log::scan_blocks` (read-only; the proxy may be
//! appending). Also the head probe behind the lag gauge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kac_event::Event;
use kac_store::log::codec::{decode_block_header, KIND_BLOCK};
use kac_store::log::segment::{list_streams, FrameReader, Next};
use kac_store::log::{scan_blocks, StreamPos};
use kac_store::{Pointer, Position};

use crate::cursor::Cursor;

/// One event read from the log.
pub struct LogEvent {
    pub pointer: Pointer,
    /// Its seq in its writer stream (1-based, gapless).
    pub seq: u64,
    /// Size of its JSON in the log (what `batch.maxBytes` counts).
    pub json_len: usize,
    /// Its JSON as stored (the native format sends it as is).
    pub json: Vec<u8>,
    pub event: Event,
}

/// Reads events after a cursor, a few blocks at a time.
pub struct LogSource {
    dir: PathBuf,
    pos: Position,
    skip: Cursor,
    /// Last seq seen per stream, to report gaps (pruned before forwarding).
    last_seq: BTreeMap<String, u64>,
}

/// Events the source jumped over: segments pruned by retention before the
/// forwarder read them. Reported, never silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub writer: String,
    pub after_seq: u64,
    pub next_seq: u64,
}

impl LogSource {
    /// Starts after the events `cursor` covers.
    pub fn new(dir: &Path, cursor: &Cursor) -> LogSource {
        LogSource {
            dir: dir.to_path_buf(),
            pos: cursor.position(),
            skip: cursor.clone(),
            last_seq: cursor
                .streams
                .iter()
                .map(|(w, c)| (w.clone(), c.seq))
                .collect(),
        }
    }

    /// Reads up to `max_blocks` more blocks; returns their events not yet
    /// handled, in log order per stream, and any gaps found. An empty
    /// result means the source has caught up (for now).
    pub fn poll(&mut self, max_blocks: usize) -> Result<(Vec<LogEvent>, Vec<Gap>), String> {
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        let mut blocks = 0usize;
        let mut next: BTreeMap<String, StreamPos> = BTreeMap::new();
        let dir = self.dir.clone();
        scan_blocks(&dir, &self.pos, |b| {
            let first = b.decoded.header.first_seq;
            let last = self.last_seq.get(&b.block.writer).copied().unwrap_or(0);
            // Re-reading the cursor's own block gives first <= last.
            if first > last + 1 {
                gaps.push(Gap {
                    writer: b.block.writer.clone(),
                    after_seq: last,
                    next_seq: first,
                });
            }
            for i in 0..b.decoded.len() {
                let pointer = Pointer {
                    writer: b.block.writer.clone(),
                    segment: b.block.segment,
                    offset: b.block.offset,
                    index: i as u32,
                };
                if self.skip.covers(&pointer) {
                    continue;
                }
                let (event, json) = b.decoded.event_and_json(i).map_err(|reason| {
                    kac_store::StoreError::Corrupt {
                        file: b.block.path(&dir),
                        offset: b.block.offset,
                        reason,
                    }
                })?;
                let json = json.into_owned();
                out.push(LogEvent {
                    pointer,
                    seq: first + i as u64,
                    json_len: json.len(),
                    json,
                    event,
                });
            }
            self.last_seq.insert(
                b.block.writer.clone(),
                first + (b.decoded.len() as u64).saturating_sub(1),
            );
            next.insert(b.block.writer.clone(), b.next);
            blocks += 1;
            Ok(blocks < max_blocks)
        })
        .map_err(|e| format!("reading the log in {}: {e}", self.dir.display()))?;
        for (w, p) in next {
            self.pos.streams.insert(w, p);
        }
        Ok((out, gaps))
    }
}

/// Tracks the last seq of every stream (the log's head) by reading block
/// headers only, from where it stopped last time.
pub struct HeadProbe {
    dir: PathBuf,
    pos: BTreeMap<String, StreamPos>,
    head: BTreeMap<String, u64>,
}

impl HeadProbe {
    pub fn new(dir: &Path) -> HeadProbe {
        HeadProbe {
            dir: dir.to_path_buf(),
            pos: BTreeMap::new(),
            head: BTreeMap::new(),
        }
    }

    /// Sum over streams of the last seq written (complete blocks only).
    pub fn head_total(&mut self) -> Result<u64, String> {
        let streams = list_streams(&self.dir).map_err(|e| e.to_string())?;
        for (w, segs) in streams {
            // Only the newest segment can hold new blocks; older ones were
            // read when they were newest, or hold no newer seq.
            let Some((seq, path)) = segs.last() else {
                continue;
            };
            let p = self.pos.get(&w).copied().unwrap_or_default();
            let from = if p.segment == *seq { p.offset } else { 0 };
            let mut r = FrameReader::open(path, from).map_err(|e| e.to_string())?;
            while let Next::Frame { payload, .. } = r.next_frame().map_err(|e| e.to_string())? {
                if payload.first() == Some(&KIND_BLOCK) {
                    if let Ok((h, _)) = decode_block_header(&payload) {
                        self.head.insert(w.clone(), h.last_seq());
                    }
                }
            }
            self.pos.insert(
                w,
                StreamPos {
                    segment: *seq,
                    offset: r.position(),
                },
            );
        }
        Ok(self.head.values().sum())
    }

    /// A cursor covering every complete block now in the log (for
    /// `startAt: end`).
    pub fn end_cursor(&mut self) -> Result<Cursor, String> {
        self.head_total()?;
        let mut c = Cursor::default();
        for (w, p) in &self.pos {
            c.streams.insert(
                w.clone(),
                crate::cursor::StreamCursor {
                    segment: p.segment,
                    offset: p.offset,
                    done: 0,
                    seq: self.head.get(w).copied().unwrap_or(0),
                },
            );
        }
        Ok(c)
    }
}
