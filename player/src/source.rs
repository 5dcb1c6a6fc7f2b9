//! Where sessions come from: a JSON-lines file of `kac_event::Event`s
//! (fixtures, `--file`) or the audit store (`--store` / `KAC_STORE`).
//!
//! Both sit behind [`SessionSource`] so the player and exporter do not care;
//! `poll` returns events appended since the last call, for `--follow`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kac_event::{Event, SessionEvent};

pub trait SessionSource {
    /// All events of the session recorded so far, in recorded order.
    fn load(&mut self) -> Result<Vec<SessionEvent>>;
    /// Events appended since the last `load`/`poll` (live sessions).
    fn poll(&mut self) -> Result<Vec<SessionEvent>>;
    /// Asks `load` and `poll` to return about `bytes` of input at a time
    /// (so a player can show the first frame of a 100 MB session before
    /// the rest is parsed); an empty `poll` then means "caught up".
    /// Sources that cannot split their reads ignore it.
    fn set_batch_bytes(&mut self, _bytes: usize) {}
}

/// Parses complete JSON lines of `buf`, keeping the events of one session.
/// `session_id` None takes the first session seen (and sets it). Returns the
/// events and how many bytes were consumed; an unterminated last line is
/// left for later (a live file being appended to). Lines that are not
/// session events (API events) are skipped; malformed lines are errors.
pub fn parse_jsonl(
    buf: &[u8],
    session_id: &mut Option<String>,
    line_base: usize,
) -> Result<(Vec<SessionEvent>, usize)> {
    let mut events = Vec::new();
    let mut consumed = 0;
    for (n, line) in buf.split_inclusive(|&b| b == b'\n').enumerate() {
        if line.last() != Some(&b'\n') {
            break;
        }
        consumed += line.len();
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let ev = match serde_json::from_slice::<Event>(trimmed) {
            Ok(Event::Session(s)) => s,
            Ok(Event::Api(_)) => continue,
            Err(e) => serde_json::from_slice::<SessionEvent>(trimmed)
                .map_err(|_| e)
                .with_context(|| format!("line {}: not a KAC event", line_base + n + 1))?,
        };
        match session_id {
            Some(id) if id != ev.session_id() => continue,
            Some(_) => {}
            None => *session_id = Some(ev.session_id().to_string()),
        }
        events.push(ev);
    }
    Ok((events, consumed))
}

/// Fuzz entry point for [`parse_jsonl`]: never panics, never consumes a
/// partial line.
pub fn fuzz_parse_jsonl(data: &[u8]) {
    let mut id = None;
    if let Ok((_, consumed)) = parse_jsonl(data, &mut id, 0) {
        assert!(consumed <= data.len());
        assert!(consumed == 0 || data[consumed - 1] == b'\n');
    }
}

/// A JSON-lines file, followed by offset for live sessions.
pub struct FileSource {
    path: PathBuf,
    session_id: Option<String>,
    offset: u64,
    lines: usize,
    batch: Option<usize>,
}

impl FileSource {
    pub fn new(path: &Path, session_id: Option<String>) -> Self {
        FileSource {
            path: path.to_path_buf(),
            session_id,
            offset: 0,
            lines: 0,
            batch: None,
        }
    }

    fn read_from_offset(&mut self) -> Result<Vec<SessionEvent>> {
        let mut f =
            File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
        f.seek(SeekFrom::Start(self.offset))
            .with_context(|| format!("seeking in {}", self.path.display()))?;
        let mut events = Vec::new();
        let mut buf = Vec::new();
        loop {
            let want = self.batch.map_or(u64::MAX, |b| b as u64);
            let n = (&mut f)
                .take(want)
                .read_to_end(&mut buf)
                .with_context(|| format!("reading {}", self.path.display()))?;
            let (mut batch, consumed) = parse_jsonl(&buf, &mut self.session_id, self.lines)
                .with_context(|| format!("parsing {}", self.path.display()))?;
            self.lines += buf[..consumed].iter().filter(|&&b| b == b'\n').count();
            self.offset += consumed as u64;
            buf.drain(..consumed);
            events.append(&mut batch);
            if n == 0 || self.batch.is_none() || !events.is_empty() {
                return Ok(events);
            }
        }
    }
}

impl SessionSource for FileSource {
    fn load(&mut self) -> Result<Vec<SessionEvent>> {
        self.offset = 0;
        self.lines = 0;
        let events = self.read_from_offset()?;
        if events.is_empty() {
            match &self.session_id {
                Some(id) => bail!("no events of session {id} in {}", self.path.display()),
                None => bail!("no session events in {}", self.path.display()),
            }
        }
        Ok(events)
    }

    fn poll(&mut self) -> Result<Vec<SessionEvent>> {
        self.read_from_offset()
    }

    fn set_batch_bytes(&mut self, bytes: usize) {
        self.batch = Some(bytes.max(1));
    }
}

/// Opens a session in the audit store (read-only, next to a running proxy).
pub fn store_source(dir: &Path, session_id: &str) -> Result<Box<dyn SessionSource + Send>> {
    Ok(Box::new(crate::store_source::StoreSource::open(
        dir, session_id,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use proptest::prelude::*;
    use std::io::Write;

    #[test]
    fn reads_one_session_and_follows_appends() {
        let a = samples::shell_session();
        let b = samples::exec_session();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut text = samples::to_jsonl(&a[..10]);
        text.push_str(&samples::to_jsonl(&b));
        // A partial line, as a writer mid-append leaves it.
        let tail = samples::to_jsonl(&a[10..]);
        let (done, partial) = tail.split_at(tail.len() - 20);
        text.push_str(done);
        text.push_str(partial.split_at(5).0);
        std::fs::write(&path, &text).unwrap();

        let mut src = FileSource::new(&path, Some(a[0].session_id().to_string()));
        let first = src.load().unwrap();
        assert_eq!(first.len(), a.len() - 1);
        assert_eq!(&first[..], &a[..a.len() - 1]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(partial.split_at(5).1.as_bytes()).unwrap();
        let more = src.poll().unwrap();
        assert_eq!(more, vec![a[a.len() - 1].clone()]);
        assert!(src.poll().unwrap().is_empty());

        // Without an id, the first session in the file is taken.
        let mut src = FileSource::new(&path, None);
        assert_eq!(src.load().unwrap()[0].session_id(), a[0].session_id());
    }

    #[test]
    fn batched_reads_return_everything_in_order() {
        let events = samples::shell_session();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, samples::to_jsonl(&events)).unwrap();
        let mut src = FileSource::new(&path, None);
        src.set_batch_bytes(1000);
        let mut got = src.load().unwrap();
        assert!(got.len() < events.len());
        loop {
            let more = src.poll().unwrap();
            if more.is_empty() {
                break;
            }
            got.extend(more);
        }
        assert_eq!(got, events);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let mut id = None;
        let text = format!(
            "{}not json\n",
            samples::to_jsonl(&samples::exec_session()[..2])
        );
        let err = parse_jsonl(text.as_bytes(), &mut id, 0).unwrap_err();
        assert!(format!("{err:#}").contains("line 3"), "{err:#}");
    }

    proptest! {
        #[test]
        fn parse_jsonl_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_parse_jsonl(&data);
        }
    }
}
