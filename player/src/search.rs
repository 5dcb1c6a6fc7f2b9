//! Output search (`/` in the player).
//!
//! The output is stripped of escape sequences once, into one text buffer
//! with the offset where every frame starts, so a match that spans two
//! frames (a word split by a pty read) is still found, and the frame that
//! completes the match is where the player jumps.

use crate::esc::{strip, EscScanner};
use crate::timeline::Timeline;

#[derive(Debug, Default, Clone)]
pub struct SearchIndex {
    text: Vec<u8>,
    /// `starts[i]`: offset in `text` where frame `i`'s text begins.
    starts: Vec<usize>,
    scanner: EscScanner,
}

impl SearchIndex {
    pub fn new(tl: &Timeline) -> Self {
        let mut ix = SearchIndex::default();
        ix.extend(tl);
        ix
    }

    /// Indexes frames added since the last call (live sessions).
    pub fn extend(&mut self, tl: &Timeline) {
        for f in &tl.frames()[self.starts.len()..] {
            self.starts.push(self.text.len());
            if let Some(data) = f.output() {
                strip(&mut self.scanner, data, &mut self.text);
            }
        }
    }

    /// The frame completing the first case-insensitive match of `pattern`
    /// in the output of frames `from..`, wrapping around to the start.
    pub fn find_after(&self, pattern: &str, from: usize) -> Option<usize> {
        if pattern.is_empty() {
            return None;
        }
        let re = regex::bytes::RegexBuilder::new(&regex::escape(pattern))
            .case_insensitive(true)
            .unicode(true)
            .build()
            .ok()?;
        let start = self.starts.get(from).copied().unwrap_or(self.text.len());
        let m = re
            .find_at(&self.text, start)
            .or_else(|| re.find(&self.text[..start.min(self.text.len())]))?;
        let last = m.end().saturating_sub(1);
        let frame = self.starts.partition_point(|&s| s <= last);
        Some(frame.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    #[test]
    fn finds_text_split_across_frames_and_wraps() {
        let tl = Timeline::from_events(&samples::shell_session(), None);
        let ix = SearchIndex::new(&tl);
        // "wörld" is split across two frames inside the ö.
        let f = ix.find_after("WÖRLD", 0).expect("found");
        let out = tl.frames()[f].output().expect("an output frame");
        assert!(!out.is_empty());
        let before: Vec<u8> = tl.frames()[..=f]
            .iter()
            .filter_map(|f| f.output())
            .flatten()
            .copied()
            .collect();
        assert!(String::from_utf8_lossy(&before).contains("wörld"));
        let prev: Vec<u8> = tl.frames()[..f]
            .iter()
            .filter_map(|f| f.output())
            .flatten()
            .copied()
            .collect();
        assert!(!String::from_utf8_lossy(&prev).contains("wörld"));
        // Wraps around: searching after the end finds the same one again.
        assert_eq!(ix.find_after("wörld", tl.len()), Some(f));
        assert_eq!(ix.find_after("no such text anywhere", 0), None);
    }
}
