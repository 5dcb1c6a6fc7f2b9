//! The timeline: a session's events reduced to what playback needs.
//!
//! Every frame keeps its recorded offset (`rec_us`, from the recorder's
//! monotonic `offset_us`, never the wall clock) and its playback time
//! (`play_us`), which is the recorded time with every pause between two
//! frames capped at the idle limit. Seeking, markers and the timeline bar all
//! work in playback time, so `-i 2` makes a session with a 10-minute coffee
//! break play without the break, exactly like asciinema's `-i`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kac_event::{DataStream, SessionEvent};

/// Terminal size used when the recording never said (non-tty exec).
pub const DEFAULT_COLS: u16 = 80;
pub const DEFAULT_ROWS: u16 = 24;

/// Session metadata shown in the player's header and written to exports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub session_id: String,
    pub user: String,
    pub cluster: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    pub start: Option<DateTime<Utc>>,
    pub tty: bool,
    /// Initial terminal size (from the start event, or the first resize).
    pub cols: u16,
    pub rows: u16,
    /// Set once the session's end event has been seen.
    pub ended: bool,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// Recorded duration in microseconds (end event offset if known).
    pub rec_duration_us: u64,
}

/// What a frame does to the screen (or the overlay).
#[derive(Debug, Clone, PartialEq)]
pub enum FrameKind {
    /// Bytes the user saw: stdout or stderr.
    Output {
        stream: DataStream,
        data: Vec<u8>,
    },
    /// Bytes the user typed (stdin).
    Input(Vec<u8>),
    Resize {
        cols: u16,
        rows: u16,
    },
    /// A command line reconstructed by the recorder: a timeline marker.
    Marker {
        text: String,
        uncertain: bool,
    },
}

/// One timed frame of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Recorded offset since session start, microseconds.
    pub rec_us: u64,
    /// Playback offset after the idle limit was applied, microseconds.
    pub play_us: u64,
    pub kind: FrameKind,
}

impl Frame {
    pub fn output(&self) -> Option<&[u8]> {
        match &self.kind {
            FrameKind::Output { data, .. } => Some(data),
            _ => None,
        }
    }
}

/// A marker on the timeline: a typed command.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub index: usize,
    pub play_us: u64,
    pub text: String,
}

/// The frame an event becomes, if any. Start/end carry metadata only,
/// port-forward payload and zero-size resizes are dropped. The loader
/// thread uses this too, so its keyframe indices match the timeline's.
pub fn frame_kind(ev: &SessionEvent) -> Option<FrameKind> {
    Some(match ev {
        SessionEvent::Start(_) | SessionEvent::End(_) => return None,
        SessionEvent::Data { stream, data, .. } => match stream {
            DataStream::Stdin => FrameKind::Input(data.clone()),
            DataStream::Stdout | DataStream::Stderr => FrameKind::Output {
                stream: *stream,
                data: data.clone(),
            },
            DataStream::Tunnel => return None,
        },
        SessionEvent::Resize { width, height, .. } => {
            if *width == 0 || *height == 0 {
                return None;
            }
            FrameKind::Resize {
                cols: *width,
                rows: *height,
            }
        }
        SessionEvent::Command(c) => FrameKind::Marker {
            text: c.text.clone(),
            uncertain: c.uncertain,
        },
    })
}

/// The session as the player sees it. Frames sit behind an `Arc` so the
/// keyframe builder thread can read them without copying 100 MB.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub meta: Meta,
    frames: Arc<Vec<Frame>>,
    markers: Vec<Marker>,
    idle_limit_us: Option<u64>,
    last_rec_us: u64,
    play_end_us: u64,
    output_bytes: u64,
}

impl Timeline {
    /// An empty timeline; `idle_limit` caps every pause (None keeps them).
    pub fn new(idle_limit: Option<std::time::Duration>) -> Self {
        Timeline {
            meta: Meta {
                cols: DEFAULT_COLS,
                rows: DEFAULT_ROWS,
                ..Meta::default()
            },
            frames: Arc::new(Vec::new()),
            markers: Vec::new(),
            idle_limit_us: idle_limit.map(|d| (d.as_micros() as u64).max(1)),
            last_rec_us: 0,
            play_end_us: 0,
            output_bytes: 0,
        }
    }

    /// Builds a timeline from a session's events, in recorded order.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a SessionEvent>,
        idle_limit: Option<std::time::Duration>,
    ) -> Self {
        let mut tl = Timeline::new(idle_limit);
        for ev in events {
            tl.push(ev);
        }
        tl
    }

    /// Appends one event (also used by `--follow` for live sessions).
    /// Offsets that go backwards are clamped: timing must stay monotonic.
    pub fn push(&mut self, ev: &SessionEvent) {
        let rec_us = ev.offset_us().max(self.last_rec_us);
        match ev {
            SessionEvent::Start(s) => {
                let m = &mut self.meta;
                m.session_id = s.session_id.clone();
                m.user = s.user.name.clone();
                m.cluster = s.cluster.clone();
                m.namespace = s.namespace.clone();
                m.pod = s.pod.clone();
                m.container = s.container.clone();
                m.command = s.command.clone();
                m.start = Some(s.time);
                m.tty = s.tty;
                if let (Some(w), Some(h)) = (s.width, s.height) {
                    if w > 0 && h > 0 {
                        m.cols = w;
                        m.rows = h;
                    }
                }
                return;
            }
            SessionEvent::End(e) => {
                self.meta.ended = true;
                self.meta.exit_code = e.exit_code;
                self.meta.error = e.error.clone();
                self.advance(rec_us);
                return;
            }
            // A resize before any output is the real initial size.
            SessionEvent::Resize { width, height, .. }
                if self.output_bytes == 0 && *width > 0 && *height > 0 =>
            {
                self.meta.cols = *width;
                self.meta.rows = *height;
            }
            _ => {}
        }
        let Some(kind) = frame_kind(ev) else { return };
        if let FrameKind::Output { data, .. } = &kind {
            self.output_bytes += data.len() as u64;
        }
        self.advance(rec_us);
        let play_us = self.play_end_us;
        let index = self.frames.len();
        if let FrameKind::Marker { text, .. } = &kind {
            self.markers.push(Marker {
                index,
                play_us,
                text: text.clone(),
            });
        }
        Arc::make_mut(&mut self.frames).push(Frame {
            rec_us,
            play_us,
            kind,
        });
    }

    /// Moves the recorded clock to `rec_us`, capping the gap at the idle limit.
    fn advance(&mut self, rec_us: u64) {
        let rec_us = rec_us.max(self.last_rec_us);
        let mut gap = rec_us - self.last_rec_us;
        if let Some(limit) = self.idle_limit_us {
            gap = gap.min(limit);
        }
        self.play_end_us += gap;
        self.last_rec_us = rec_us;
        self.meta.rec_duration_us = rec_us;
    }

    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// A cheap shared handle on the frames, for the keyframe builder thread.
    pub fn shared_frames(&self) -> Arc<Vec<Frame>> {
        Arc::clone(&self.frames)
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn markers(&self) -> &[Marker] {
        &self.markers
    }

    /// Playback duration (idle limit applied), microseconds.
    pub fn duration_us(&self) -> u64 {
        self.play_end_us
    }

    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    /// How many frames have been applied once playback reaches `play_us`
    /// (every frame at or before that time).
    pub fn applied_at(&self, play_us: u64) -> usize {
        self.frames.partition_point(|f| f.play_us <= play_us)
    }

    /// Maps a recorded offset to playback time (for search hits, stdin dumps).
    pub fn play_time_of(&self, index: usize) -> u64 {
        self.frames
            .get(index)
            .map(|f| f.play_us)
            .unwrap_or(self.play_end_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use std::time::Duration;

    #[test]
    fn idle_limit_caps_pauses_and_keeps_order() {
        let events = samples::shell_session();
        let full = Timeline::from_events(&events, None);
        let capped = Timeline::from_events(&events, Some(Duration::from_secs(2)));
        assert_eq!(full.len(), capped.len());
        // The fixture contains a 45 s pause; the capped one must be shorter by ~43 s.
        assert!(full.duration_us() >= capped.duration_us() + 43_000_000);
        for w in capped.frames().windows(2) {
            assert!(w[0].play_us <= w[1].play_us);
            assert!(w[1].play_us - w[0].play_us <= 2_000_000);
        }
        // Without a limit, playback time is recorded time.
        for f in full.frames() {
            assert_eq!(f.play_us, f.rec_us);
        }
    }

    #[test]
    fn metadata_and_markers_come_from_events() {
        let tl = Timeline::from_events(&samples::shell_session(), None);
        assert_eq!(tl.meta.user, "david");
        assert_eq!(tl.meta.pod, "web-7d9f6c-x2k4p");
        assert_eq!(tl.meta.exit_code, Some(3));
        assert!(tl.meta.ended);
        let texts: Vec<_> = tl.markers().iter().map(|m| m.text.as_str()).collect();
        assert!(texts.contains(&"ls --color=auto"), "{texts:?}");
        for m in tl.markers() {
            assert!(matches!(
                tl.frames()[m.index].kind,
                FrameKind::Marker { .. }
            ));
        }
    }

    #[test]
    fn backwards_offsets_are_clamped() {
        let mut events = samples::shell_session();
        if let SessionEvent::Data { offset_us, .. } = &mut events[3] {
            *offset_us = 0;
        }
        let tl = Timeline::from_events(&events, None);
        for w in tl.frames().windows(2) {
            assert!(w[0].play_us <= w[1].play_us);
        }
    }
}
