//! A forwarder's persisted place in the log.
//!
//! The store is read block by block, but a batch may end in the middle of a
//! block, so the cursor names, per writer stream, the block holding the
//! last event handled (`segment`, `offset` of its frame) and how many of
//! that block's events are done (`done`), plus that event's `seq` (for lag
//! and gap detection). Resuming re-reads that one block and skips its first
//! `done` events: nothing is skipped, nothing is read twice.
//!
//! The file (`STATE_DIR/NAME.cursor.json`) is replaced atomically: written
//! to a temp file, fsynced, renamed over the old one, and the directory
//! fsynced, so a crash leaves either the old or the new cursor, never a
//! torn one. A `NAME.lock` file (flock) keeps two processes from running
//! the same forwarder against one state dir.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use kac_store::log::StreamPos;
use kac_store::{Pointer, Position};
use serde::{Deserialize, Serialize};

/// Where one writer stream stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// Segment of the block holding the last event handled.
    pub segment: u64,
    /// Frame offset of that block in its segment.
    pub offset: u64,
    /// Events of that block already handled (index of the next one).
    pub done: u32,
    /// Stream seq of the last event handled.
    pub seq: u64,
}

/// Per-stream cursors, plus bookkeeping for humans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub streams: BTreeMap<String, StreamCursor>,
}

impl Cursor {
    /// Marks the event at `p` (stream seq `seq`) handled.
    pub fn advance(&mut self, p: &Pointer, seq: u64) {
        let c = StreamCursor {
            segment: p.segment,
            offset: p.offset,
            done: p.index + 1,
            seq,
        };
        match self.streams.get_mut(&p.writer) {
            Some(old) => *old = c,
            None => {
                self.streams.insert(p.writer.clone(), c);
            }
        }
    }

    /// True when the event at `p` was already handled (it sits in the
    /// partly done block before the `done` mark, or in an earlier block).
    pub fn covers(&self, p: &Pointer) -> bool {
        match self.streams.get(&p.writer) {
            Some(c) => (p.segment, p.offset, p.index) < (c.segment, c.offset, c.done),
            None => false,
        }
    }

    /// Where to start reading: the block of the last handled event (it is
    /// re-read, and [`Cursor::covers`] skips its done events).
    pub fn position(&self) -> Position {
        let mut p = Position::start();
        for (w, c) in &self.streams {
            p.streams.insert(
                w.clone(),
                StreamPos {
                    segment: c.segment,
                    offset: c.offset,
                },
            );
        }
        p
    }

    /// Sum of the streams' seqs: events handled since each stream began
    /// (for the lag gauge).
    pub fn seq_total(&self) -> u64 {
        self.streams.values().map(|c| c.seq).sum()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CursorFile {
    version: u32,
    forwarder: String,
    updated: chrono::DateTime<chrono::Utc>,
    streams: BTreeMap<String, StreamCursor>,
}

/// The cursor file of one forwarder, held locked while the forwarder runs.
pub struct CursorStore {
    path: PathBuf,
    dir: PathBuf,
    name: String,
    _lock: nix::fcntl::Flock<File>,
}

impl CursorStore {
    /// Opens (creating the state dir) and locks `DIR/NAME.cursor.json`.
    pub fn open(dir: &Path, name: &str) -> Result<CursorStore, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating state dir {}: {e}", dir.display()))?;
        let lock_path = dir.join(format!("{name}.lock"));
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("opening {}: {e}", lock_path.display()))?;
        let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| {
                format!(
                    "forwarder {name:?} is already running against {} ({}: {e})",
                    dir.display(),
                    lock_path.display()
                )
            })?;
        Ok(CursorStore {
            path: dir.join(format!("{name}.cursor.json")),
            dir: dir.to_path_buf(),
            name: name.to_string(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved cursor, or None when the forwarder never acknowledged
    /// anything. A cursor file that does not parse is an error: starting
    /// over would flood the SIEM, skipping ahead would lose events.
    pub fn load(&self) -> Result<Option<Cursor>, String> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("reading {}: {e}", self.path.display())),
        };
        let f: CursorFile = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "{}: not a cursor file ({e}); fix or remove it (removing restarts from `startAt`)",
                self.path.display()
            )
        })?;
        if f.version != 1 {
            return Err(format!(
                "{}: cursor version {} is not supported",
                self.path.display(),
                f.version
            ));
        }
        Ok(Some(Cursor { streams: f.streams }))
    }

    /// Replaces the cursor file atomically and durably.
    pub fn save(&self, c: &Cursor) -> Result<(), String> {
        let body = serde_json::to_vec_pretty(&CursorFile {
            version: 1,
            forwarder: self.name.clone(),
            updated: chrono::Utc::now(),
            streams: c.streams.clone(),
        })
        .map_err(|e| e.to_string())?;
        let tmp = self.dir.join(format!(".{}.cursor.json.tmp", self.name));
        let ctx = |what: &str, e: std::io::Error| format!("{what} {}: {e}", tmp.display());
        let mut f = File::create(&tmp).map_err(|e| ctx("creating", e))?;
        f.write_all(&body).map_err(|e| ctx("writing", e))?;
        f.sync_all().map_err(|e| ctx("fsync", e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| format!("renaming to {}: {e}", self.path.display()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("fsync {}: {e}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(w: &str, segment: u64, offset: u64, index: u32) -> Pointer {
        Pointer {
            writer: w.into(),
            segment,
            offset,
            index,
        }
    }

    #[test]
    fn covers_exactly_the_handled_events() {
        let mut c = Cursor::default();
        assert!(!c.covers(&ptr("a", 1, 100, 0)));
        c.advance(&ptr("a", 1, 100, 4), 5);
        assert!(c.covers(&ptr("a", 1, 100, 4)));
        assert!(c.covers(&ptr("a", 1, 40, 9)), "earlier block");
        assert!(!c.covers(&ptr("a", 1, 100, 5)));
        assert!(!c.covers(&ptr("a", 2, 20, 0)));
        assert!(!c.covers(&ptr("b", 1, 100, 0)), "other stream");
        let p = c.position();
        assert_eq!(
            p.get("a"),
            StreamPos {
                segment: 1,
                offset: 100
            }
        );
        assert_eq!(c.seq_total(), 5);
    }

    #[test]
    fn save_load_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let s = CursorStore::open(dir.path(), "siem").unwrap();
        assert_eq!(s.load().unwrap(), None);
        let mut c = Cursor::default();
        c.advance(&ptr("proxy", 3, 1234, 56), 789);
        s.save(&c).unwrap();
        assert_eq!(s.load().unwrap(), Some(c.clone()));
        let again = CursorStore::open(dir.path(), "siem");
        assert!(again.err().unwrap().contains("already running"));
        drop(s);
        let s = CursorStore::open(dir.path(), "siem").unwrap();
        assert_eq!(s.load().unwrap(), Some(c));
        std::fs::write(s.path(), b"{garbage").unwrap();
        assert!(s.load().unwrap_err().contains("not a cursor file"));
    }
}
