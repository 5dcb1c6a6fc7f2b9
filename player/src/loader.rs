//! Background loading and keyframing, so the first frame does not wait.
//!
//! The player loads one small batch of events itself and shows it. A loader
//! thread then owns the source: it reads the rest in batches, sends them to
//! the UI thread, and meanwhile runs its own terminal emulator over the same
//! frames to send screen keyframes. With `--follow` it keeps polling the
//! source for a live session. Frame indices agree with the UI's
//! [`Timeline`] because both use [`frame_kind`].

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::Duration;

use anyhow::{anyhow, Result};
use kac_event::SessionEvent;

use crate::screen::{ScreenCache, Term, KEYFRAME_EVERY_BYTES};
use crate::source::SessionSource;
use crate::timeline::{frame_kind, FrameKind, Timeline};

/// Bytes the first, synchronous read takes (time to first frame).
pub const FIRST_BATCH_BYTES: usize = 256 * 1024;
/// Bytes of each later read: small enough to keep the UI responsive.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How often a live session is polled.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

enum Msg {
    Events(Vec<SessionEvent>),
    Keyframe(usize, Box<vt100::Screen>),
    /// Everything there was has been read (not following).
    Done,
    Failed(String),
}

/// The UI side of the loader thread.
pub struct Loader {
    rx: Receiver<Msg>,
    loading: bool,
}

/// The loader thread's keyframing state.
struct Keyframer {
    term: Term,
    frames: usize,
    since: usize,
}

impl Keyframer {
    fn feed(&mut self, events: &[SessionEvent], tx: &Sender<Msg>) -> bool {
        for ev in events {
            let Some(kind) = frame_kind(ev) else { continue };
            self.frames += 1;
            match &kind {
                FrameKind::Output { data, .. } => {
                    self.term.process(data);
                    self.since += data.len();
                }
                FrameKind::Resize { cols, rows } => self.term.resize(*rows, *cols),
                _ => {}
            }
            if self.since >= KEYFRAME_EVERY_BYTES && self.term.at_ground() {
                self.since = 0;
                let kf = Box::new(self.term.screen().clone());
                if tx.send(Msg::Keyframe(self.frames, kf)).is_err() {
                    return false;
                }
            }
        }
        true
    }
}

impl Loader {
    /// Starts the thread. `first` is what the UI already loaded (the thread
    /// keyframes it too); `tl` gives the initial terminal size.
    pub fn spawn(
        mut source: Box<dyn SessionSource + Send>,
        first: Vec<SessionEvent>,
        tl: &Timeline,
        follow: bool,
    ) -> Loader {
        let (tx, rx) = mpsc::channel();
        let (rows, cols) = (tl.meta.rows, tl.meta.cols);
        std::thread::spawn(move || {
            let mut kf = Keyframer {
                term: Term::new(rows, cols),
                frames: 0,
                since: 0,
            };
            if !kf.feed(&first, &tx) {
                return;
            }
            drop(first);
            source.set_batch_bytes(BATCH_BYTES);
            let mut caught_up = false;
            loop {
                let batch = match source.poll() {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(format!("{e:#}")));
                        return;
                    }
                };
                if batch.is_empty() {
                    if !follow {
                        let _ = tx.send(Msg::Done);
                        return;
                    }
                    if !caught_up {
                        caught_up = true;
                        if tx.send(Msg::Done).is_err() {
                            return;
                        }
                    }
                    std::thread::sleep(FOLLOW_POLL);
                    continue;
                }
                // Keyframes are computed before the events are handed over,
                // so the UI never sees a keyframe past its timeline's end
                // for long.
                if !kf.feed(&batch, &tx) || tx.send(Msg::Events(batch)).is_err() {
                    return;
                }
            }
        });
        Loader { rx, loading: true }
    }

    /// True until the whole recorded session has been read once.
    pub fn loading(&self) -> bool {
        self.loading
    }

    /// Applies what the thread sent: events to the timeline, keyframes to
    /// the screen cache. Returns whether the timeline grew.
    pub fn poll(&mut self, tl: &mut Timeline, cache: &mut ScreenCache) -> Result<bool> {
        let mut grew = false;
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Events(evs)) => {
                    for ev in &evs {
                        tl.push(ev);
                    }
                    grew = true;
                }
                Ok(Msg::Keyframe(i, screen)) => cache.insert_keyframe(i, *screen),
                Ok(Msg::Done) => self.loading = false,
                Ok(Msg::Failed(e)) => {
                    self.loading = false;
                    return Err(anyhow!("loading the session: {e}"));
                }
                Err(TryRecvError::Empty) => return Ok(grew),
                Err(TryRecvError::Disconnected) => {
                    self.loading = false;
                    return Ok(grew);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use crate::source::FileSource;

    #[test]
    fn loads_in_batches_and_keyframes_match_a_full_replay() {
        let events = samples::big_session(300, 3 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        std::fs::write(&path, samples::to_jsonl(&events)).unwrap();
        let mut src = FileSource::new(&path, None);
        src.set_batch_bytes(FIRST_BATCH_BYTES);
        let first = src.load().unwrap();
        assert!(first.len() < events.len());
        let mut tl = Timeline::from_events(&first, None);
        let mut cache = ScreenCache::new(&tl);
        let mut loader = Loader::spawn(Box::new(src), first, &tl, false);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while loader.loading() && std::time::Instant::now() < deadline {
            loader.poll(&mut tl, &mut cache).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!loader.loading());
        let full = Timeline::from_events(&events, None);
        assert_eq!(tl.frames(), full.frames());
        assert!(cache.keyframe_count() > 8, "{}", cache.keyframe_count());
        for target in [full.len() / 2, full.len() - 1, full.len() / 5] {
            cache.sync(&tl, target);
            // A fresh cache has only keyframe 0: a replay from the start.
            let mut reference = ScreenCache::new(&full);
            reference.sync(&full, target);
            assert_eq!(cache.screen().contents(), reference.screen().contents());
        }
    }
}
