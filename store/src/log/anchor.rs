//! Chain anchors: what `prune` leaves behind so the rest of a stream still
//! verifies. When the oldest segments of a stream are dropped, the anchor
//! records the hash and seq the first remaining block must continue from.
//!
//! An anchor is only as trustworthy as the place it is kept: an attacker who
//! can rewrite it can also hide a pruned prefix. Ship the anchor and the
//! stream head hashes elsewhere (SIEM, object storage with retention lock)
//! to close that gap; `kac-audit verify` prints both for that purpose.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::codec::Hash;
use crate::error::{IoContext, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub writer: String,
    /// First segment seq still present (or the next one to be written).
    pub next_segment_seq: u64,
    /// Hash of the last pruned block, hex.
    pub prev_hash_hex: String,
    /// Seq of the first event after the pruned prefix.
    pub next_seq: u64,
    pub pruned_segments: u64,
    pub pruned_events: u64,
    pub pruned_at: String,
    #[serde(skip)]
    pub prev_hash: Hash,
}

pub fn path(store: &Path, writer: &str) -> PathBuf {
    store.join("chain").join(format!("{writer}.anchor.json"))
}

pub fn read(store: &Path, writer: &str) -> Result<Option<Anchor>> {
    let p = path(store, writer);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(format!("reading {}", p.display()), e)),
    };
    let mut a: Anchor = serde_json::from_str(&text)
        .map_err(|e| StoreError::Invalid(format!("{}: {e}", p.display())))?;
    let bytes = hex::decode(&a.prev_hash_hex)
        .map_err(|e| StoreError::Invalid(format!("{}: prev_hash: {e}", p.display())))?;
    a.prev_hash = bytes
        .try_into()
        .map_err(|_| StoreError::Invalid(format!("{}: prev_hash is not 32 bytes", p.display())))?;
    Ok(Some(a))
}

/// Writes the anchor atomically (temp file, fsync, rename, fsync dir).
pub fn write(store: &Path, a: &Anchor) -> Result<()> {
    let p = path(store, &a.writer);
    let dir = p.parent().expect("anchor has a parent");
    std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
    let tmp = p.with_extension("tmp");
    let mut a = a.clone();
    a.prev_hash_hex = hex::encode(a.prev_hash);
    let json = serde_json::to_vec_pretty(&a).expect("anchor serializes");
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &p))
        .ctx(|| format!("writing {}", p.display()))?;
    super::segment::sync_dir(dir)
}
