//! The player state machine: pure, no I/O, no clock of its own.
//!
//! The TUI feeds it elapsed wall time and keys; it answers with the range of
//! frames to apply (`tick`) or a new position (`seek`, markers, search). The
//! screen side (`screen::ScreenCache`) then brings the terminal to
//! `applied()` frames, from a keyframe when that is quicker, so seeking
//! backwards never replays from the start.

use std::ops::Range;
use std::time::Duration;

use crate::search::SearchIndex;
use crate::timeline::Timeline;

/// The playback speeds `+`/`-` step through.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
const NORMAL_SPEED: usize = 2;

/// How far `←`/`→` seek.
pub const SEEK_STEP_US: i64 = 5_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Playing,
    Paused,
    /// Reached the end of a finished session (or the live edge if not following).
    Ended,
}

#[derive(Debug, Clone)]
pub struct Player {
    state: State,
    /// Playback position, microseconds of playback time.
    pos_us: u64,
    /// Frames applied so far (`frames[..applied]`).
    applied: usize,
    speed: usize,
    /// Follow a live session: at the end, wait for more instead of ending.
    follow: bool,
}

impl Player {
    pub fn new(follow: bool) -> Self {
        Player {
            state: State::Playing,
            pos_us: 0,
            applied: 0,
            speed: NORMAL_SPEED,
            follow,
        }
    }

    /// Live mode: at the end, wait for more frames instead of ending (a
    /// followed session, or one still being loaded).
    pub fn set_follow(&mut self, follow: bool) {
        self.follow = follow;
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn position_us(&self) -> u64 {
        self.pos_us
    }
    pub fn applied(&self) -> usize {
        self.applied
    }
    pub fn speed(&self) -> f64 {
        SPEEDS[self.speed]
    }
    pub fn is_paused(&self) -> bool {
        self.state != State::Playing
    }

    /// Advances playback by `elapsed` wall time (times the speed) and returns
    /// the frames that became due.
    pub fn tick(&mut self, tl: &Timeline, elapsed: Duration) -> Range<usize> {
        let from = self.applied;
        let end = tl.duration_us();
        if self.state == State::Playing {
            let adv = (elapsed.as_micros() as f64 * self.speed()) as u64;
            self.pos_us = self.pos_us.saturating_add(adv).min(end);
            self.applied = tl.applied_at(self.pos_us);
            if self.pos_us >= end && self.applied >= tl.len() && (!self.follow || tl.meta.ended) {
                self.state = State::Ended;
            }
        } else if self.state == State::Ended && self.follow && end > self.pos_us {
            // New live frames arrived while we waited at the edge: keep going.
            self.state = State::Playing;
        }
        from..self.applied.max(from)
    }

    /// Space: pause, resume, or restart once the end was reached.
    pub fn toggle_pause(&mut self, tl: &Timeline) {
        self.state = match self.state {
            State::Playing => State::Paused,
            State::Paused => State::Playing,
            State::Ended => {
                if !self.follow {
                    self.jump_to(tl, 0);
                }
                State::Playing
            }
        };
    }

    /// Seeks by `delta_us` (±), clamped to the session. Keeps the state,
    /// except that leaving the end of a session pauses there.
    pub fn seek(&mut self, tl: &Timeline, delta_us: i64) {
        let target = (self.pos_us as i64).saturating_add(delta_us).max(0) as u64;
        self.jump_to(tl, target);
    }

    /// Jumps to an absolute playback time.
    pub fn jump_to(&mut self, tl: &Timeline, play_us: u64) {
        self.pos_us = play_us.min(tl.duration_us());
        self.applied = tl.applied_at(self.pos_us);
        if self.state == State::Ended && self.pos_us < tl.duration_us() {
            self.state = State::Paused;
        }
    }

    /// `.`: applies exactly the next frame that changes the screen (output
    /// or resize) while paused; returns the frames applied.
    pub fn step(&mut self, tl: &Timeline) -> Range<usize> {
        let from = self.applied;
        if self.state == State::Playing {
            self.state = State::Paused;
        }
        let frames = tl.frames();
        let mut i = self.applied;
        while i < frames.len() {
            let visible = matches!(
                frames[i].kind,
                crate::timeline::FrameKind::Output { .. }
                    | crate::timeline::FrameKind::Resize { .. }
            );
            i += 1;
            if visible {
                break;
            }
        }
        // Frames at the same instant go together.
        if i > from {
            let t = frames[i - 1].play_us;
            while i < frames.len() && frames[i].play_us == t {
                i += 1;
            }
            self.applied = i;
            self.pos_us = t;
        }
        from..self.applied
    }

    /// `]`: jumps to the first marker after the current position.
    pub fn next_marker(&mut self, tl: &Timeline) -> bool {
        let pos = self.pos_us;
        match tl.markers().iter().find(|m| m.play_us > pos) {
            Some(m) => {
                let t = m.play_us;
                self.jump_to(tl, t);
                true
            }
            None => false,
        }
    }

    /// `[`: jumps to the last marker before the current position. Within
    /// one second after a marker it goes to the one before, so pressing `[`
    /// repeatedly while playing walks backwards instead of sticking.
    pub fn prev_marker(&mut self, tl: &Timeline) -> bool {
        let pos = self
            .pos_us
            .saturating_sub(if self.is_paused() { 0 } else { 1_000_000 });
        match tl.markers().iter().rev().find(|m| m.play_us < pos) {
            Some(m) => {
                let t = m.play_us;
                self.jump_to(tl, t);
                true
            }
            None => false,
        }
    }

    /// `/`: jumps to the next occurrence of `pattern` in the output after
    /// the current position (wrapping around), so that the match is on
    /// screen. Pauses there. Returns false when there is no match at all.
    pub fn search(&mut self, tl: &Timeline, index: &SearchIndex, pattern: &str) -> bool {
        match index.find_after(pattern, self.applied) {
            Some(frame) => {
                let t = tl.play_time_of(frame);
                self.pos_us = t;
                self.applied = (frame + 1).max(tl.applied_at(t));
                self.state = State::Paused;
                true
            }
            None => false,
        }
    }

    pub fn faster(&mut self) {
        self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
    }
    pub fn slower(&mut self) {
        self.speed = self.speed.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests;
