//! The event log: the source of truth. Segment files of CRC-framed,
//! zstd-compressed, hash-chained blocks (see [`codec`] for the byte layout).
//!
//! Storage boundary: everything that touches files lives in [`segment`],
//! [`anchor`] and the `BlockReader` below; sealed segments are immutable and
//! read by (file, offset), which is what an object store offers too (a
//! ranged GET), so an S3-backed reader can replace `read_frame_at` without
//! changing the codec, the index or the CLI. See docs/store.md.

pub mod anchor;
pub mod api_record;
pub mod api_view;
pub mod codec;
pub mod record;
pub mod segment;
pub mod verify;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use codec::DecodedBlock;

/// Where an event lives: its stream, segment, the byte offset of its
/// block's frame, and its index inside the block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pointer {
    pub writer: String,
    pub segment: u64,
    pub offset: u64,
    pub index: u32,
}

impl Pointer {
    pub fn block(&self) -> BlockRef {
        BlockRef {
            writer: self.writer.clone(),
            segment: self.segment,
            offset: self.offset,
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.writer, self.segment, self.offset, self.index
        )
    }
}

impl FromStr for Pointer {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || StoreError::Invalid(format!("log pointer {s:?}"));
        let mut it = s.rsplitn(4, '/');
        let index = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let offset = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let segment = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let writer = it.next().filter(|w| !w.is_empty()).ok_or_else(bad)?;
        Ok(Pointer {
            writer: writer.to_string(),
            segment,
            offset,
            index,
        })
    }
}

/// A block: (stream, segment, frame offset).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub writer: String,
    pub segment: u64,
    pub offset: u64,
}

impl BlockRef {
    pub fn path(&self, store: &Path) -> PathBuf {
        segment::segments_dir(store).join(segment::segment_file_name(&self.writer, self.segment))
    }
}

/// A read position in every stream: the next frame to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub streams: BTreeMap<String, StreamPos>,
}

/// Next frame of one stream: segment seq and byte offset (0 = from its start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamPos {
    pub segment: u64,
    pub offset: u64,
}

impl Position {
    /// From the beginning of every stream.
    pub fn start() -> Self {
        Position::default()
    }

    pub fn get(&self, writer: &str) -> StreamPos {
        self.streams.get(writer).copied().unwrap_or_default()
    }

    /// True when `b` was already passed by this position.
    pub fn covers(&self, b: &BlockRef) -> bool {
        let p = self.get(&b.writer);
        (b.segment, b.offset) < (p.segment, p.offset)
    }
}

/// Decoded blocks by reference, and their insertion order (FIFO eviction).
type BlockCache = (HashMap<BlockRef, Arc<DecodedBlock>>, VecDeque<BlockRef>);

/// Random access to blocks, with a small cache of decoded blocks (search
/// results cluster in time, hence in blocks).
pub struct BlockReader {
    store: PathBuf,
    cache: Mutex<BlockCache>,
    capacity: usize,
}

impl BlockReader {
    pub fn new(store: &Path, capacity: usize) -> Self {
        BlockReader {
            store: store.to_path_buf(),
            cache: Mutex::new((HashMap::new(), VecDeque::new())),
            capacity,
        }
    }

    /// The store directory blocks are read from.
    pub fn store(&self) -> &Path {
        &self.store
    }

    pub fn read(&self, b: &BlockRef) -> Result<Arc<DecodedBlock>> {
        if let Some(d) = self.cache.lock().expect("cache lock").0.get(b) {
            return Ok(d.clone());
        }
        let path = b.path(&self.store);
        let payload = segment::read_frame_at(&path, b.offset)?;
        let decoded = codec::decode_block(&payload).map_err(|reason| StoreError::Corrupt {
            file: path,
            offset: b.offset,
            reason,
        })?;
        let d = Arc::new(decoded);
        let mut c = self.cache.lock().expect("cache lock");
        if c.0.insert(b.clone(), d.clone()).is_none() {
            c.1.push_back(b.clone());
        }
        while c.1.len() > self.capacity {
            if let Some(old) = c.1.pop_front() {
                c.0.remove(&old);
            }
        }
        Ok(d)
    }

    /// Reads the event a pointer designates.
    pub fn event(&self, p: &Pointer) -> Result<kac_event::Event> {
        let b = p.block();
        let block = self.read(&b)?;
        block
            .event(p.index as usize)
            .map_err(|reason| StoreError::Corrupt {
                file: b.path(&self.store),
                offset: p.offset,
                reason,
            })
    }
}

/// A decoded block read sequentially, with where it is.
pub struct ScannedBlock {
    pub block: BlockRef,
    /// Position right after this block (resume here).
    pub next: StreamPos,
    pub decoded: DecodedBlock,
}

/// Reads every complete block after `from`, stream by stream, in order.
/// Stops quietly at a torn tail (it may still be being written). The
/// callback returns `false` to stop early.
pub fn scan_blocks(
    store: &Path,
    from: &Position,
    mut f: impl FnMut(ScannedBlock) -> Result<bool>,
) -> Result<Position> {
    let mut out = from.clone();
    for (writer, segs) in segment::list_streams(store)? {
        let start = from.get(&writer);
        for (seq, path) in segs {
            if seq < start.segment {
                continue;
            }
            let offset = if seq == start.segment {
                start.offset
            } else {
                0
            };
            let mut r = segment::FrameReader::open(&path, offset)?;
            loop {
                match r.next_frame()? {
                    segment::Next::Frame { offset, payload } => {
                        let next = StreamPos {
                            segment: seq,
                            offset: r.position(),
                        };
                        if payload.first() == Some(&codec::KIND_BLOCK) {
                            let decoded = codec::decode_block(&payload).map_err(|reason| {
                                StoreError::Corrupt {
                                    file: path.clone(),
                                    offset,
                                    reason,
                                }
                            })?;
                            let block = BlockRef {
                                writer: writer.clone(),
                                segment: seq,
                                offset,
                            };
                            out.streams.insert(writer.clone(), next);
                            if !f(ScannedBlock {
                                block,
                                next,
                                decoded,
                            })? {
                                return Ok(out);
                            }
                        } else {
                            out.streams.insert(writer.clone(), next);
                        }
                    }
                    segment::Next::End | segment::Next::Torn { .. } => break,
                    segment::Next::Corrupt { offset, reason } => {
                        return Err(StoreError::Corrupt {
                            file: path.clone(),
                            offset,
                            reason,
                        })
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Total bytes of segment files at or after `from` (for progress bars).
pub fn bytes_after(store: &Path, from: &Position) -> Result<u64> {
    let mut total = 0;
    for (writer, segs) in segment::list_streams(store)? {
        let start = from.get(&writer);
        for (seq, path) in segs {
            if seq < start.segment {
                continue;
            }
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            total += if seq == start.segment {
                len.saturating_sub(start.offset)
            } else {
                len
            };
        }
    }
    Ok(total)
}
