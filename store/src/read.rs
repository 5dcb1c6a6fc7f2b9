//! Reading: search, sessions, tail, stats. Everything found through the
//! index is read back from the log, which stays the source of truth.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use kac_event::{Event, SessionEvent};
use serde::Serialize;
use tantivy::collector::DocSetCollector;

use crate::error::{Result, StoreError};
use crate::index::doc::{session_verb, KIND_END, KIND_START};
use crate::index::search::{self, Kinds};
use crate::log::{scan_blocks, segment, BlockRef, Pointer, Position};
use crate::query::{Field, Query};
use crate::store::Store;

/// One search result: the event and where it lives in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub pointer: Pointer,
    pub event: Event,
}

/// One recorded session, as `kac-audit sessions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub kind: String,
    pub user: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    pub start: DateTime<Utc>,
    /// None while the session is open (or its end was lost in a crash).
    pub end: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    pub writer: String,
    pub segments: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub dir: PathBuf,
    pub streams: Vec<StreamStats>,
    pub log_bytes: u64,
    pub index_bytes: u64,
    pub index_docs: u64,
    pub api_events: u64,
    pub sessions: u64,
    pub commands: u64,
    /// Log position the last index commit covers.
    pub indexed_position: Position,
}

/// The id an event is indexed under (`id=`): an API event's id, or the
/// session id of a session start (see `index::doc`).
pub fn event_id(e: &Event) -> Option<&str> {
    match e {
        Event::Api(a) => Some(&a.id),
        Event::Session(SessionEvent::Start(s)) => Some(&s.session_id),
        Event::Session(_) => None,
    }
}

fn has_id(q: &Query) -> bool {
    q.fields.iter().any(|(f, _)| *f == Field::Id)
}

/// True unless `q` has an `id=` the event does not carry. The index matches
/// ids by a 64-bit hash; this check against the event read back from the
/// log is what makes a hash collision harmless.
pub fn id_matches(q: &Query, e: &Event) -> bool {
    q.fields
        .iter()
        .filter(|(f, _)| *f == Field::Id)
        .all(|(_, v)| event_id(e) == Some(v.as_str()))
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

impl Store {
    /// Events matching `q`, newest first, at most `limit`.
    pub fn search(&self, q: &Query, limit: usize) -> Result<Vec<Hit>> {
        let h = self.index()?;
        // `id=` matches a 64-bit hash of the id: read every candidate (ids
        // are unique, so there are a handful) and drop hash collisions once
        // the event is back from the log, so they cannot take the place of
        // a real match within `limit`.
        let candidates = if has_id(q) && limit > 0 {
            search::count(h, q, Kinds::Events)?
        } else {
            limit
        };
        let ptrs = search::run(h, q, Kinds::Events, candidates)?;
        let mut out = Vec::with_capacity(ptrs.len().min(limit));
        for (_, p) in ptrs {
            if out.len() >= limit {
                break;
            }
            match self.blocks.event(&p) {
                Ok(event) if id_matches(q, &event) => out.push(Hit { pointer: p, event }),
                Ok(_) => {}
                // A segment pruned after this index snapshot: skip it.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Number of documents matching `q` (API events and session docs).
    pub fn count(&self, q: &Query) -> Result<usize> {
        if has_id(q) {
            // Hash matches, checked against the log (see `search`).
            return Ok(self.search(q, usize::MAX)?.len());
        }
        search::count(self.index()?, q, Kinds::Events)
    }

    /// An event by id: an API event id, or a session id (its start).
    pub fn find(&self, id: &str) -> Result<Option<Hit>> {
        let q = Query::default().with(Field::Id, id);
        Ok(self.search(&q, 1)?.into_iter().next())
    }

    /// Every event of one session, data frames included, in log order.
    pub fn session(&self, session_id: &str) -> Result<Vec<SessionEvent>> {
        let h = self.index()?;
        let q = Query::default().with(Field::Session, session_id);
        let query = search::build(h, &q, Kinds::All)?;
        let searcher = h.reader.searcher();
        let addrs = searcher.search(&query, &DocSetCollector)?;
        let mut blocks = BTreeSet::new();
        let mut reader = search::PointerReader::new(&searcher);
        for a in addrs {
            blocks.insert(reader.pointer(a)?.block());
        }
        let mut out = Vec::new();
        for b in blocks {
            let block = self.blocks.read(&b)?;
            for i in 0..block.len() {
                let ev = block.event(i).map_err(|reason| StoreError::Corrupt {
                    file: b.path(&self.dir),
                    offset: b.offset,
                    reason,
                })?;
                if let Event::Session(s) = ev {
                    if s.session_id() == session_id {
                        out.push(s);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Ids of every session matching `q` (on its metadata or typed
    /// commands), oldest first, with no limit: what `kac-audit export
    /// --sessions` walks. [`Store::sessions`] is the bounded, newest-first
    /// listing for people.
    pub fn session_ids(&self, q: &Query) -> Result<Vec<String>> {
        let h = self.index()?;
        let query = search::build(h, q, Kinds::SessionsAndCommands)?;
        let searcher = h.reader.searcher();
        let addrs = searcher.search(&query, &DocSetCollector)?;
        let mut ptrs = Vec::with_capacity(addrs.len());
        let mut reader = search::PointerReader::new(&searcher);
        for a in addrs {
            ptrs.push(reader.pointer(a)?);
        }
        // Log order (per stream), so blocks are read once each.
        ptrs.sort();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for p in ptrs {
            match self.blocks.event(&p) {
                Ok(ev) if !id_matches(q, &ev) => {}
                Ok(Event::Session(s)) => {
                    if seen.insert(s.session_id().to_string()) {
                        out.push(s.session_id().to_string());
                    }
                }
                Ok(Event::Api(_)) => {}
                // A segment pruned after this index snapshot: skip it.
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn first_of_kind(&self, sid: &str, kind: &str) -> Result<Option<Event>> {
        let q = Query::default()
            .with(Field::Session, sid)
            .with(Field::Kind, kind);
        let h = self.index()?;
        match search::run(h, &q, Kinds::All, 1)?.first() {
            Some((_, p)) => Ok(Some(self.blocks.event(p)?)),
            None => Ok(None),
        }
    }

    /// Sessions matching `q` (on their metadata or typed commands), newest
    /// first, at most `limit`.
    pub fn sessions(&self, q: &Query, limit: usize) -> Result<Vec<SessionSummary>> {
        let h = self.index()?;
        let hits = search::run(
            h,
            q,
            Kinds::SessionsAndCommands,
            limit.saturating_mul(20).clamp(1, 20_000),
        )?;
        let mut seen = Vec::<String>::new();
        for (_, p) in hits {
            if seen.len() >= limit {
                break;
            }
            let ev = self.blocks.event(&p)?;
            if !id_matches(q, &ev) {
                continue;
            }
            if let Event::Session(s) = ev {
                if !seen.iter().any(|x| x == s.session_id()) {
                    seen.push(s.session_id().to_string());
                }
            }
        }
        let mut out = Vec::with_capacity(seen.len());
        for sid in seen {
            let Some(Event::Session(SessionEvent::Start(st))) =
                self.first_of_kind(&sid, KIND_START)?
            else {
                continue;
            };
            let end = match self.first_of_kind(&sid, KIND_END)? {
                Some(Event::Session(SessionEvent::End(e))) => Some(e),
                _ => None,
            };
            out.push(SessionSummary {
                session_id: sid,
                kind: session_verb(st.kind).to_string(),
                user: st.user.name.clone(),
                cluster: st.cluster.clone(),
                namespace: st.namespace.clone(),
                pod: st.pod.clone(),
                container: st.container.clone(),
                command: st.command.clone(),
                start: st.time,
                end: end.as_ref().map(|e| e.time),
                duration_ms: end.as_ref().map(|e| e.offset_us / 1000),
                exit_code: end.as_ref().and_then(|e| e.exit_code),
                error: end.as_ref().and_then(|e| e.error.clone()),
            });
        }
        Ok(out)
    }

    /// Reads the log from `from` on. The iterator yields what is there now
    /// and then `None`; calling `next` again later picks up new blocks, so
    /// `tail -f` is a loop with a sleep.
    pub fn tail(&self, from: Position) -> Tail {
        Tail {
            dir: self.dir.clone(),
            pos: from,
            buf: VecDeque::new(),
        }
    }

    /// The position after the last complete block of every stream.
    pub fn end_position(&self) -> Result<Position> {
        let mut pos = Position::start();
        for (w, segs) in segment::list_streams(&self.dir)? {
            if let Some((seq, _)) = segs.last() {
                // Start of the last segment, then skip to its end by scanning.
                pos.streams.insert(
                    w,
                    crate::log::StreamPos {
                        segment: *seq,
                        offset: 0,
                    },
                );
            }
        }
        scan_blocks(&self.dir, &pos, |_| Ok(true))
    }

    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats {
            dir: self.dir.clone(),
            ..Default::default()
        };
        for (w, segs) in segment::list_streams(&self.dir)? {
            let bytes: u64 = segs
                .iter()
                .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .sum();
            s.log_bytes += bytes;
            s.streams.push(StreamStats {
                writer: w,
                segments: segs.len() as u64,
                bytes,
            });
        }
        if let Some(h) = &self.index {
            s.index_bytes = dir_size(&h.dir);
            s.index_docs = h.reader.searcher().num_docs();
            let kind = |k: &str| -> Result<u64> {
                let q = Query::default().with(Field::Kind, k);
                Ok(search::count(h, &q, Kinds::All)? as u64)
            };
            s.api_events = kind("api")?;
            s.sessions = kind(KIND_START)?;
            s.commands = kind("session.command")?;
            s.indexed_position = h.committed_position()?;
        }
        Ok(s)
    }
}

/// A cursor over the log; see [`Store::tail`].
pub struct Tail {
    dir: PathBuf,
    pos: Position,
    buf: VecDeque<(Pointer, Event)>,
}

impl Tail {
    /// Where the next read starts.
    pub fn position(&self) -> &Position {
        &self.pos
    }

    fn refill(&mut self) -> Result<()> {
        let mut got: Vec<(BlockRef, crate::log::codec::DecodedBlock)> = Vec::new();
        let mut streams: BTreeMap<String, crate::log::StreamPos> = BTreeMap::new();
        scan_blocks(&self.dir, &self.pos, |b| {
            streams.insert(b.block.writer.clone(), b.next);
            got.push((b.block, b.decoded));
            Ok(got.len() < 16)
        })?;
        for (w, p) in streams {
            self.pos.streams.insert(w, p);
        }
        for (b, d) in got {
            for i in 0..d.len() {
                let ev = d.event(i).map_err(|reason| StoreError::Corrupt {
                    file: b.path(&self.dir),
                    offset: b.offset,
                    reason,
                })?;
                let p = Pointer {
                    writer: b.writer.clone(),
                    segment: b.segment,
                    offset: b.offset,
                    index: i as u32,
                };
                self.buf.push_back((p, ev));
            }
        }
        Ok(())
    }
}

impl Iterator for Tail {
    type Item = Result<(Pointer, Event)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            if let Err(e) = self.refill() {
                return Some(Err(e));
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::Generator;
    use crate::index::id_hash;

    #[test]
    fn id_hash_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors: the hash is part of the on-disk
        // format (the field name says which hash).
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(id_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn id_matches_drops_what_only_shares_the_hash() {
        let mut g = Generator::new(
            3,
            chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap(),
        );
        let a = g.api();
        let Event::Api(api) = &a else {
            panic!("api() gives an API event")
        };
        let by = |id: &str| Query::default().with(Field::Id, id);
        assert!(id_matches(&by(&api.id), &a));
        // What a colliding document looks like once read back: another id.
        assert!(!id_matches(&by("some-other-id"), &a));
        // No id= in the query: everything matches.
        assert!(id_matches(&Query::default().with(Field::User, "x"), &a));
        let session = g.mixed(2_000, 100);
        let start = session
            .iter()
            .find(|e| matches!(e, Event::Session(SessionEvent::Start(_))))
            .expect("mixed() records sessions");
        let other = session
            .iter()
            .find(|e| matches!(e, Event::Session(SessionEvent::Command(_))))
            .expect("sessions have commands");
        let Event::Session(s) = start else {
            unreachable!()
        };
        assert!(id_matches(&by(s.session_id()), start));
        // Only a session's start carries its id as `id=`.
        let Event::Session(c) = other else {
            unreachable!()
        };
        assert!(!id_matches(&by(c.session_id()), other));
    }
}
