//! The emulated terminal and its keyframes: what makes seeking instant.
//!
//! `Term` is a `vt100::Screen` driven by our own `vte::Parser` (vt100 0.15's
//! `Parser` is not `Clone`, its `Screen` is). A keyframe is a clone of the
//! screen after `index` frames, taken only where the byte stream is at
//! ground state, so restoring it into a fresh `vte::Parser` is exact.
//!
//! Keyframes are built once in a background thread (time to first frame
//! does not wait for a 100 MB session to be parsed), and also by normal
//! forward playback, which covers live sessions. A seek restores the nearest
//! keyframe at or before the target and replays at most
//! `KEYFRAME_EVERY_BYTES` of output.

use std::collections::BTreeMap;
use std::sync::mpsc;

use crate::esc::EscScanner;
use crate::timeline::{Frame, FrameKind, Timeline};

/// Output bytes between two keyframes. Replaying this much is the worst
/// case of a seek (see BENCHMARKS.md for the measured cost).
pub const KEYFRAME_EVERY_BYTES: usize = 256 * 1024;

/// A terminal emulator whose state can be snapshotted.
#[derive(Clone)]
pub struct Term {
    parser: ParserBox,
    screen: vt100::Screen,
    esc: EscScanner,
}

/// `vte::Parser` is neither `Clone` nor `Debug`; cloning a `Term` gives a
/// fresh parser, which is only correct at ground state (where keyframes are).
struct ParserBox(vte::Parser);

impl Clone for ParserBox {
    fn clone(&self) -> Self {
        ParserBox(vte::Parser::new())
    }
}

impl Term {
    pub fn new(rows: u16, cols: u16) -> Self {
        let (rows, cols) = sane_size(rows, cols);
        Term {
            parser: ParserBox(vte::Parser::new()),
            screen: vt100::Parser::new(rows, cols, 0).screen().clone(),
            esc: EscScanner::new(),
        }
    }

    fn from_keyframe(screen: &vt100::Screen) -> Self {
        let mut t = Term::new(1, 1);
        t.screen = screen.clone();
        t
    }

    pub fn screen(&self) -> &vt100::Screen {
        &self.screen
    }

    pub fn at_ground(&self) -> bool {
        self.esc.is_ground()
    }

    pub fn process(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.parser.0.advance(&mut self.screen, b);
            self.esc.feed(b);
        }
    }

    /// Resizes the terminal. vt100 0.15 keeps `Screen::set_size` private, so
    /// the visible state is re-rendered into a screen of the new size; the
    /// primary screen hidden behind an alternate screen is lost (it is
    /// redrawn by most programs on exit anyway).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = sane_size(rows, cols);
        let (r, c) = self.screen.size();
        if (r, c) == (rows, cols) {
            return;
        }
        let mut p = vt100::Parser::new(rows, cols, 0);
        p.process(&self.screen.state_formatted());
        self.screen = p.screen().clone();
    }

    pub fn apply(&mut self, frame: &Frame) {
        match &frame.kind {
            FrameKind::Output { data, .. } => self.process(data),
            FrameKind::Resize { cols, rows } => self.resize(*rows, *cols),
            FrameKind::Input(_) | FrameKind::Marker { .. } => {}
        }
    }
}

/// vt100 0.15 underflows (a panic in debug builds) when a wide character
/// is printed on a 1-column screen, and nobody works in a terminal that
/// small: sizes are clamped to at least 2×2.
pub fn sane_size(rows: u16, cols: u16) -> (u16, u16) {
    (rows.max(2), cols.max(2))
}

/// Fuzz entry point: recorded output is untrusted, so the emulator (and
/// keyframe restore) must survive any bytes. The first two bytes pick a
/// terminal size; a 0x00 0xff pair in the data triggers a resize.
pub fn fuzz_term(data: &[u8]) {
    let (rows, cols) = match data {
        [r, c, ..] => (u16::from(*r), u16::from(*c)),
        _ => (24, 80),
    };
    let mut t = Term::new(rows, cols);
    for (i, part) in data
        .get(2..)
        .unwrap_or_default()
        .split(|&b| b == 0xff)
        .enumerate()
    {
        t.process(part);
        if t.at_ground() {
            t = Term::from_keyframe(&t.screen().clone());
        }
        if i % 3 == 2 {
            t.resize(rows / 2 + i as u16, cols + i as u16);
        }
    }
    let _ = t.screen().contents_formatted();
}

/// A screen snapshot after `frames[..index]` were applied.
struct Keyframe {
    screen: vt100::Screen,
}

/// Keeps `term` in sync with the player's position, using keyframes.
pub struct ScreenCache {
    term: Term,
    applied: usize,
    initial: (u16, u16),
    keyframes: BTreeMap<usize, Keyframe>,
    bytes_since_kf: usize,
    builder: Option<mpsc::Receiver<(usize, vt100::Screen)>>,
}

impl ScreenCache {
    /// A cache at position 0. Call `spawn_builder` to keyframe in background.
    pub fn new(tl: &Timeline) -> Self {
        let initial = (tl.meta.rows, tl.meta.cols);
        let term = Term::new(initial.0, initial.1);
        let mut keyframes = BTreeMap::new();
        keyframes.insert(
            0,
            Keyframe {
                screen: term.screen().clone(),
            },
        );
        ScreenCache {
            term,
            applied: 0,
            initial,
            keyframes,
            bytes_since_kf: 0,
            builder: None,
        }
    }

    /// Starts building keyframes for all current frames in a thread.
    pub fn spawn_builder(&mut self, tl: &Timeline) {
        let frames = tl.shared_frames();
        let (rows, cols) = self.initial;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut term = Term::new(rows, cols);
            let mut since = 0usize;
            for (i, f) in frames.iter().enumerate() {
                term.apply(f);
                since += f.output().map_or(0, <[u8]>::len);
                if since >= KEYFRAME_EVERY_BYTES && term.at_ground() {
                    since = 0;
                    if tx.send((i + 1, term.screen().clone())).is_err() {
                        return;
                    }
                }
            }
        });
        self.builder = Some(rx);
    }

    /// Builds every keyframe now (tests, benchmarks, `--text`).
    pub fn build_all(&mut self, tl: &Timeline) {
        let mut term = Term::new(self.initial.0, self.initial.1);
        let mut since = 0usize;
        for (i, f) in tl.frames().iter().enumerate() {
            term.apply(f);
            since += f.output().map_or(0, <[u8]>::len);
            if since >= KEYFRAME_EVERY_BYTES && term.at_ground() {
                since = 0;
                self.keyframes.insert(
                    i + 1,
                    Keyframe {
                        screen: term.screen().clone(),
                    },
                );
            }
        }
    }

    /// Takes the keyframes the builder thread has made so far.
    pub fn poll_builder(&mut self) {
        if let Some(rx) = &self.builder {
            loop {
                match rx.try_recv() {
                    Ok((i, screen)) => {
                        self.keyframes.insert(i, Keyframe { screen });
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.builder = None;
                        break;
                    }
                }
            }
        }
    }

    /// Adds a keyframe made elsewhere (the loader thread): the screen after
    /// `frames[..index]`, taken at ground state.
    pub fn insert_keyframe(&mut self, index: usize, screen: vt100::Screen) {
        self.keyframes.insert(index, Keyframe { screen });
    }

    pub fn keyframe_count(&self) -> usize {
        self.keyframes.len()
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.term.screen()
    }

    pub fn applied(&self) -> usize {
        self.applied
    }

    /// Brings the terminal to `frames[..target]` applied: forward by
    /// replaying when that is no farther than a keyframe gap, otherwise from
    /// the nearest keyframe at or before the target. Never from the start
    /// unless the start is the nearest keyframe.
    pub fn sync(&mut self, tl: &Timeline, target: usize) {
        self.poll_builder();
        let target = target.min(tl.len());
        if target == self.applied {
            return;
        }
        let (&kf_index, kf) = self
            .keyframes
            .range(..=target)
            .next_back()
            .expect("keyframe 0 always exists");
        let forward_ok = target > self.applied && kf_index <= self.applied;
        if !forward_ok {
            self.term = Term::from_keyframe(&kf.screen);
            self.applied = kf_index;
            self.bytes_since_kf = 0;
        }
        let frames = tl.frames();
        while self.applied < target {
            let f = &frames[self.applied];
            self.term.apply(f);
            self.applied += 1;
            self.bytes_since_kf += f.output().map_or(0, <[u8]>::len);
            if self.bytes_since_kf >= KEYFRAME_EVERY_BYTES && self.term.at_ground() {
                self.bytes_since_kf = 0;
                self.keyframes
                    .entry(self.applied)
                    .or_insert_with(|| Keyframe {
                        screen: self.term.screen().clone(),
                    });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    fn replay(tl: &Timeline, n: usize) -> String {
        let mut t = Term::new(tl.meta.rows, tl.meta.cols);
        for f in &tl.frames()[..n] {
            t.apply(f);
        }
        t.screen().contents()
    }

    #[test]
    fn seeking_anywhere_matches_a_replay_from_the_start() {
        let events = samples::big_session(120, 3 * 1024 * 1024);
        let tl = Timeline::from_events(&events, None);
        let mut cache = ScreenCache::new(&tl);
        cache.build_all(&tl);
        assert!(cache.keyframe_count() > 5, "{}", cache.keyframe_count());
        let n = tl.len();
        for &target in &[n, n / 2, 7, n - 3, n / 3, 0, n / 4 + 1, n] {
            cache.sync(&tl, target);
            assert_eq!(cache.applied(), target);
            assert_eq!(
                cache.screen().contents(),
                replay(&tl, target),
                "at {target}"
            );
        }
    }

    #[test]
    fn background_builder_delivers_keyframes() {
        let tl = Timeline::from_events(&samples::big_session(60, 2 * 1024 * 1024), None);
        let mut cache = ScreenCache::new(&tl);
        cache.spawn_builder(&tl);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cache.builder.is_some() && std::time::Instant::now() < deadline {
            cache.poll_builder();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(cache.keyframe_count() > 4, "{}", cache.keyframe_count());
        let target = tl.len() * 2 / 3;
        cache.sync(&tl, target);
        assert_eq!(cache.screen().contents(), replay(&tl, target));
    }

    #[test]
    fn resize_and_alternate_screen_follow_the_recording() {
        let tl = Timeline::from_events(&samples::shell_session(), None);
        let mut cache = ScreenCache::new(&tl);
        cache.sync(&tl, tl.len());
        assert_eq!(cache.screen().size(), (40, 120));
        assert!(!cache.screen().alternate_screen());
        // In the middle of `top`, the alternate screen shows its table.
        let top = tl
            .frames()
            .iter()
            .position(|f| {
                f.output()
                    .is_some_and(|d| d.windows(3).any(|w| w == b"PID"))
            })
            .unwrap();
        cache.sync(&tl, top + 1);
        assert!(cache.screen().alternate_screen());
        assert!(cache.screen().contents().contains("PID USER"));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Recorded output is untrusted: the emulator must survive any bytes,
        /// including escape-heavy ones, and resizes in between.
        #[test]
        fn term_survives_arbitrary_output(
            chunks in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(0x1bu8), Just(b'['), Just(b';'), any::<u8>(), 0x30u8..0x3a], 0..64),
                0..12),
            sizes in proptest::collection::vec((0u16..200, 0u16..300), 0..3),
        ) {
            let mut t = Term::new(24, 80);
            for (i, c) in chunks.iter().enumerate() {
                t.process(c);
                if let Some(&(r, cols)) = sizes.get(i) {
                    t.resize(r, cols);
                }
            }
            let _ = t.screen().contents();
        }

        #[test]
        fn fuzz_term_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            fuzz_term(&data);
        }
    }
}
