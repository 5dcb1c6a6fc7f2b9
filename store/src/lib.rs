//! # kac-store: the audit store (a library; the `kac-audit` CLI is in audit/)
//!
//! **Owns:** the append-only event log (segments of CRC-framed,
//! zstd-compressed, hash-chained blocks; group commit; crash recovery), the
//! tantivy index over it, and the search language.
//! The log is the source of truth; the index is a rebuildable cache.
//!
//! **Must not touch:** the event model (that is kac-event's), HTTP, policy,
//! or the proxy's request path beyond the [`Writer`] handle it is given.
//!
//! Layers, bottom up: [`log::codec`] (pure byte layout), [`log::segment`]
//! (files), [`writer`] (group commit), [`index`] (tantivy), [`query`]
//! (the search language), [`Store`] (ties them together), `cli`.

pub mod error;
mod feed;
pub mod gen;
pub mod index;
pub mod log;
pub mod query;
mod read;
mod store;
pub mod writer;

pub use error::{Result, StoreError};
pub use log::verify::{VerifyIssue, VerifyReport};
pub use log::{Pointer, Position};
pub use query::{Field, Query};
pub use read::{Hit, SessionSummary, Stats, Tail};
pub use store::{PruneReport, Store};
pub use writer::{OnFull, Refused, Seq, Writer};

use std::time::Duration;

/// How a store is opened for writing.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Group commit: fsync at most this often; appends in between share it.
    /// Zero fsyncs after every batch the writer thread picks up.
    pub fsync_interval: Duration,
    /// Rotate (seal) the active segment past this size...
    pub segment_max_bytes: u64,
    /// ...or this age.
    pub segment_max_age: Duration,
    /// A block is sealed at this many events...
    pub block_max_events: usize,
    /// ...or this many uncompressed bytes.
    pub block_max_bytes: usize,
    /// This process's stream id: segments are `{writer_id}-{seq}.kseg`.
    pub writer_id: String,
    /// Maintain the tantivy index (off: log only, e.g. for benchmarks).
    pub index: bool,
    /// Bound of the in-process queue, in serialized bytes.
    pub queue_max_bytes: usize,
    /// What appends do when the queue is full.
    pub on_full: OnFull,
    /// zstd level of blocks. 1: on binary API records (log::api_record) it
    /// is already 11x smaller than JSON lines — what level 6 reached on the
    /// old JSON records — at a third of level 6's cost; level 6 gains ~15%
    /// more size for ~3x the writer time (BENCHMARKS.md, issue #7).
    pub zstd_level: i32,
    /// zstd level of blocks that are mostly recorded session output (binary
    /// `session.data` records are at least half their bytes). Session
    /// output is often incompressible (binaries, compressed files, `cat` of
    /// random data), and zstd's lazy match finder (levels 5 and up) spends
    /// ~10x longer on such bytes than levels 1-3 for no gain; on terminal
    /// text the low levels lose ~15% of the ratio (docs/store.md).
    pub session_zstd_level: i32,
    /// Commit the index at least this often ("searchable within seconds").
    pub index_commit_interval: Duration,
    /// At most this many appended events wait in memory for the indexer.
    /// Past it the writer hands over only block positions: a lagging index
    /// never slows the log nor grows memory; it catches up by reading the
    /// blocks back from the log (the source of truth). Zero: always.
    pub index_backlog_events: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync_interval: Duration::from_millis(20),
            segment_max_bytes: 128 << 20,
            segment_max_age: Duration::from_secs(24 * 3600),
            block_max_events: 8192,
            block_max_bytes: 1 << 20,
            writer_id: "local".into(),
            index: true,
            queue_max_bytes: 64 << 20,
            on_full: OnFull::Wait,
            zstd_level: 1,
            session_zstd_level: 1,
            index_commit_interval: Duration::from_secs(1),
            index_backlog_events: 100_000,
        }
    }
}

// The proxy shares these across tasks and threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
    send_sync::<Writer>();
};
