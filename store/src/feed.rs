//! The hand-over from the writer thread to the indexer thread: durable
//! blocks, their raw bodies while the indexer keeps up, and the buffers it
//! gives back. Plain data and a small pool; it owns no thread and does no
//! I/O (the writer and `Store`'s index thread do).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::log::{BlockRef, StreamPos};

/// A block handed to the indexer after it is durable.
pub(crate) struct IndexBlock {
    pub block: BlockRef,
    pub next: StreamPos,
    /// The block's raw body (`(len record)*`, as compressed into the log),
    /// or None when the indexer was too far behind: it then reads the block
    /// back from the log. The indexer reads records in place (see
    /// `log::api_view`) and returns the buffer through [`BacklogState::release`].
    pub body: Option<Vec<u8>>,
    /// Events in the block.
    pub count: usize,
}

/// What the writer and the indexer share: how many events the indexer
/// holds (bounded by `index_backlog_events`) and block buffers it is done
/// with, for the writer to fill again.
///
/// Why reuse buffers: a fresh megabyte per block comes back from the
/// allocator as new pages the kernel has to fault in and zero.
pub(crate) struct BacklogState {
    events: AtomicUsize,
    spare: Mutex<Vec<Vec<u8>>>,
    /// Larger buffers (one outsized event) are freed, not kept.
    max_keep: usize,
}

/// The largest block buffer worth keeping for reuse: anything bigger held
/// one outsized event, and must not stay allocated for the process's life.
pub(crate) fn max_kept_buffer(block_max_bytes: usize) -> usize {
    4 * block_max_bytes.max(1 << 20)
}

pub(crate) type Backlog = Arc<BacklogState>;

/// Buffers kept for reuse (each about a block).
const SPARE_BUFFERS: usize = 4;

impl BacklogState {
    pub fn new(block_max_bytes: usize) -> Self {
        BacklogState {
            events: Default::default(),
            spare: Default::default(),
            max_keep: max_kept_buffer(block_max_bytes),
        }
    }

    /// Counts a block of `n` events as held for the indexer, unless that
    /// would take the backlog past `limit` (then the indexer reads the
    /// block back from the log instead).
    pub fn try_hold(&self, n: usize, limit: usize) -> bool {
        if self.events.load(Relaxed) + n > limit {
            return false;
        }
        self.events.fetch_add(n, Relaxed);
        true
    }

    /// The indexer is done with a held block of `n` events: its buffer
    /// goes back for reuse.
    pub fn release(&self, body: Vec<u8>, n: usize) {
        self.events.fetch_sub(n, Relaxed);
        self.give_back(body);
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > self.max_keep {
            return;
        }
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_BUFFERS {
            buf.clear();
            spare.push(buf);
        }
    }

    /// A buffer to fill with the next block: a spare one, or a new one.
    pub fn take(&self) -> Vec<u8> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        spare.pop().unwrap_or_default()
    }
}

pub(crate) enum IndexMsg {
    Blocks(Vec<IndexBlock>),
    DeleteSegment(String, u64),
    Flush(Sender<Result<()>>),
    Stop,
}
