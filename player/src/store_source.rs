//! The audit store as a session source (`--store DIR` / `KAC_STORE`).
//!
//! `load` asks the store's index for the session (`Store::session`). For
//! `--follow`, the log is tailed from the position it had *before* that
//! read, because the index lags the log by up to its commit interval; events
//! seen by both are dropped by comparing them with what was loaded.

use std::path::Path;

use anyhow::{Context, Result};
use kac_event::{Event, SessionEvent};
use kac_store::{Store, Tail};

use crate::source::SessionSource;

pub struct StoreSource {
    store: Store,
    session_id: String,
    tail: Option<Tail>,
    /// Events at the latest loaded offset, to drop duplicates from the tail.
    last_offset: u64,
    at_last_offset: Vec<SessionEvent>,
}

impl StoreSource {
    pub fn open(dir: &Path, session_id: &str) -> Result<Self> {
        let store = Store::open_read_only(dir)
            .with_context(|| format!("opening the store at {}", dir.display()))?;
        Ok(StoreSource {
            store,
            session_id: session_id.to_string(),
            tail: None,
            last_offset: 0,
            at_last_offset: Vec::new(),
        })
    }

    fn remember(&mut self, ev: &SessionEvent) {
        let off = ev.offset_us();
        if off > self.last_offset || self.at_last_offset.is_empty() {
            self.last_offset = off;
            self.at_last_offset.clear();
        }
        self.at_last_offset.push(ev.clone());
    }

    fn is_new(&self, ev: &SessionEvent) -> bool {
        let off = ev.offset_us();
        if self.at_last_offset.is_empty() || off > self.last_offset {
            return true;
        }
        off == self.last_offset
            && !self.at_last_offset.contains(ev)
            && !matches!(ev, SessionEvent::Start(_))
    }
}

impl SessionSource for StoreSource {
    fn load(&mut self) -> Result<Vec<SessionEvent>> {
        let pos = self
            .store
            .end_position()
            .context("reading the store's end")?;
        let events = self
            .store
            .session(&self.session_id)
            .with_context(|| format!("reading session {} from the store", self.session_id))?;
        if events.is_empty() {
            anyhow::bail!(
                "session {} not found in {}",
                self.session_id,
                self.store.dir().display()
            );
        }
        self.at_last_offset.clear();
        for ev in &events {
            self.remember(ev);
        }
        self.tail = Some(self.store.tail(pos));
        Ok(events)
    }

    fn poll(&mut self) -> Result<Vec<SessionEvent>> {
        let Some(mut tail) = self.tail.take() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let res = (|| -> Result<()> {
            for item in tail.by_ref() {
                let (_, ev) = item.context("tailing the store")?;
                if let Event::Session(s) = ev {
                    if s.session_id() == self.session_id && self.is_new(&s) {
                        self.remember(&s);
                        out.push(s);
                    }
                }
            }
            Ok(())
        })();
        self.tail = Some(tail);
        res.map(|()| out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use kac_store::StoreOptions;

    #[test]
    fn reads_a_session_from_the_store_and_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let events = samples::shell_session();
        let other = samples::exec_session();
        let split = events.len() / 2;
        {
            let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
            let w = store.writer();
            for (i, ev) in events[..split].iter().enumerate() {
                w.append(Event::Session(ev.clone())).unwrap();
                if let Some(o) = other.get(i) {
                    w.append(Event::Session(o.clone())).unwrap();
                }
            }
            store.flush().unwrap();
            store.close().unwrap();
        }
        let mut src = StoreSource::open(dir.path(), events[0].session_id()).unwrap();
        let got = src.load().unwrap();
        assert_eq!(got, events[..split].to_vec());
        assert!(src.poll().unwrap().is_empty());
        {
            let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
            let w = store.writer();
            for ev in &events[split..] {
                w.append(Event::Session(ev.clone())).unwrap();
            }
            store.flush().unwrap();
            store.close().unwrap();
        }
        let more = src.poll().unwrap();
        assert_eq!(more, events[split..].to_vec());
        assert!(StoreSource::open(dir.path(), "nope")
            .unwrap()
            .load()
            .is_err());
    }
}
