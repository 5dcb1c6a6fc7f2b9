//! Non-interactive outputs, for pipes and CI.
//!
//! - `--cat`: exactly the recorded stdout and stderr bytes, interleaved in
//!   recorded order (what the user's terminal received).
//! - `--text`: a plain transcript as a terminal showed it: lines that
//!   scrolled by plus the final screen, no escapes; a full-screen program's
//!   last screen is inserted where the program exited.
//! - `--stdin`: what was typed, with timestamps, and the reconstructed
//!   command lines.

use std::io::Write;

use anyhow::{Context, Result};

use crate::timeline::{FrameKind, Timeline};

/// `--cat`.
pub fn write_cat(tl: &Timeline, out: &mut dyn Write) -> Result<()> {
    for f in tl.frames() {
        if let Some(data) = f.output() {
            out.write_all(data).context("writing output")?;
        }
    }
    out.flush().context("flushing output")
}

/// Formats microseconds as `MM:SS.mmm` (or `H:MM:SS.mmm`).
pub fn fmt_time(us: u64) -> String {
    let ms = us / 1000;
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{m:02}:{s:02}.{milli:03}")
    }
}

/// Typed bytes made readable: printable text as is, controls escaped
/// (`\r`, `\x1b`, ...), invalid UTF-8 as `\xNN`.
pub fn escape_input(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => s.push_str("\\r"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// `--stdin`: keystrokes grouped into lines (a line ends at Enter or after
/// a pause of more than a second), each with the time of its first key,
/// and the recorder's reconstructed command lines.
pub fn write_stdin(tl: &Timeline, out: &mut dyn Write) -> Result<()> {
    const PAUSE_US: u64 = 1_000_000;
    let mut pending: Option<(u64, u64, Vec<u8>)> = None;
    let flush = |p: &mut Option<(u64, u64, Vec<u8>)>, out: &mut dyn Write| -> Result<()> {
        if let Some((t, _, keys)) = p.take() {
            writeln!(out, "[{}] < {}", fmt_time(t), escape_input(&keys))
                .context("writing stdin transcript")?;
        }
        Ok(())
    };
    for f in tl.frames() {
        match &f.kind {
            FrameKind::Input(data) => {
                if pending.as_ref().is_some_and(|p| f.rec_us - p.1 > PAUSE_US) {
                    flush(&mut pending, out)?;
                }
                let p = pending.get_or_insert_with(|| (f.rec_us, f.rec_us, Vec::new()));
                p.1 = f.rec_us;
                p.2.extend_from_slice(data);
                if matches!(data.last(), Some(b'\r' | b'\n')) {
                    flush(&mut pending, out)?;
                }
            }
            FrameKind::Marker { text, uncertain } => {
                flush(&mut pending, out)?;
                writeln!(
                    out,
                    "[{}] $ {}{}",
                    fmt_time(f.rec_us),
                    text,
                    if *uncertain { "   (uncertain)" } else { "" }
                )
                .context("writing stdin transcript")?;
            }
            _ => {}
        }
    }
    flush(&mut pending, out)?;
    out.flush().context("flushing output")
}

fn screen_lines(screen: &vt100::Screen) -> Vec<String> {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols)
        .map(|r| r.trim_end().to_string())
        .collect()
}

/// Rows that scrolled into the scrollback: vt100 0.15 can show at most one
/// screenful of scrollback (`Screen::rows` underflows past that), so the
/// transcript is captured as it scrolls, feeding the output in pieces that
/// scroll less than a screen each.
struct Scrolled {
    p: vt100::Parser,
    cap: usize,
}

impl Scrolled {
    fn new(rows: u16, cols: u16) -> Self {
        let (rows, cols) = crate::screen::sane_size(rows, cols);
        let cap = (rows as usize * 4).max(64);
        Scrolled {
            p: vt100::Parser::new(rows, cols, cap),
            cap,
        }
    }

    fn scrollback_len(&mut self) -> usize {
        self.p.set_scrollback(usize::MAX);
        let n = self.p.screen().scrollback();
        self.p.set_scrollback(0);
        n
    }

    /// Feeds `bytes`, appending the rows that scrolled off to `out`.
    fn process(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        let (rows, cols) = self.p.screen().size();
        let max_newlines = (rows as usize / 2).max(1);
        let mut rest = bytes;
        while !rest.is_empty() {
            let mut cut = rest.len();
            let mut seen = 0;
            for (i, &b) in rest.iter().enumerate() {
                if b == b'\n' {
                    seen += 1;
                    if seen == max_newlines {
                        cut = i + 1;
                        break;
                    }
                }
            }
            let before = self.scrollback_len();
            self.p.process(&rest[..cut]);
            rest = &rest[cut..];
            let after = self.scrollback_len();
            let grew = after.saturating_sub(before).min(rows as usize);
            if grew > 0 {
                self.p.set_scrollback(grew);
                out.extend(
                    self.p
                        .screen()
                        .rows(0, cols)
                        .take(grew)
                        .map(|r| r.trim_end().to_string()),
                );
                self.p.set_scrollback(0);
            }
            if after + rows as usize >= self.cap && !self.p.screen().alternate_screen() {
                // Start a fresh scrollback so growth stays measurable.
                let state = self.p.screen().state_formatted();
                self.p = vt100::Parser::new(rows, cols, self.cap);
                self.p.process(&state);
            }
        }
    }
}

/// `--text`: the plain transcript as a list of lines.
pub fn text_lines(tl: &Timeline) -> Vec<String> {
    let mut term = Scrolled::new(tl.meta.rows, tl.meta.cols);
    let mut lines = Vec::new();
    // (where a full-screen program's last screen goes, that screen)
    let mut fullscreen: Vec<(usize, Vec<String>)> = Vec::new();
    for f in tl.frames() {
        match &f.kind {
            FrameKind::Output { data, .. } => {
                let was_alt = term.p.screen().alternate_screen();
                let before = if was_alt {
                    Some(screen_lines(term.p.screen()))
                } else {
                    None
                };
                term.process(data, &mut lines);
                if let (Some(block), false) = (before, term.p.screen().alternate_screen()) {
                    // The block goes after the primary-screen lines above the
                    // cursor, i.e. after the command that started the program.
                    let row = term.p.screen().cursor_position().0 as usize;
                    fullscreen.push((lines.len() + row, block));
                }
            }
            FrameKind::Resize { cols, rows } => {
                let (rows, cols) = crate::screen::sane_size(*rows, *cols);
                term.p.set_size(rows, cols);
            }
            _ => {}
        }
    }
    lines.extend(screen_lines(term.p.screen()));
    for (at, block) in fullscreen.into_iter().rev() {
        let at = at.min(lines.len());
        lines.splice(at..at, block_lines(block));
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn block_lines(mut block: Vec<String>) -> Vec<String> {
    while block.last().is_some_and(|l| l.is_empty()) {
        block.pop();
    }
    let mut out = vec!["--- full-screen program ---".to_string()];
    out.extend(block);
    out.push("--- end of full-screen program ---".to_string());
    out
}

/// `--text`.
pub fn write_text(tl: &Timeline, out: &mut dyn Write) -> Result<()> {
    for l in text_lines(tl) {
        writeln!(out, "{l}").context("writing transcript")?;
    }
    out.flush().context("flushing output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    #[test]
    fn cat_is_the_recorded_output_bytes_in_order() {
        let events = samples::shell_session();
        let tl = Timeline::from_events(&events, None);
        let mut out = Vec::new();
        write_cat(&tl, &mut out).unwrap();
        let expected: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                kac_event::SessionEvent::Data { stream, data, .. }
                    if *stream != kac_event::DataStream::Stdin =>
                {
                    Some(data.clone())
                }
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(out, expected);
        assert!(String::from_utf8(out).unwrap().contains("héllo wörld ✓"));
    }

    #[test]
    fn text_transcript_has_no_escapes_and_keeps_fullscreen_output() {
        let tl = Timeline::from_events(&samples::shell_session(), None);
        let lines = text_lines(&tl);
        let all = lines.join("\n");
        assert!(!all.contains('\x1b'), "{all}");
        assert!(
            all.contains("root@web-7d9f6c-x2k4p:/usr/share/nginx# ls --color=auto"),
            "{all}"
        );
        assert!(
            all.contains("html  entrypoint.sh  nginx.conf  logs -> /var/log/nginx"),
            "{all}"
        );
        assert!(
            all.contains("cat: /nonexistent: No such file or directory"),
            "{all}"
        );
        let started = all.find("# top\n").expect("top command line");
        let top = all.find("--- full-screen program ---").expect("top block");
        let exit = all.find("# exit 3").expect("exit line");
        assert!(all[top..].contains("top - 09:27:10"), "{all}");
        assert!(started < top && top < exit, "{all}");
    }

    #[test]
    fn text_transcript_keeps_every_line_of_long_output() {
        let mut b = samples::SessionBuilder::new("long", Default::default());
        for chunk in 0..30 {
            let text: String = (0..97)
                .map(|i| format!("\x1b[32mline {}\x1b[0m\r\n", chunk * 97 + i))
                .collect();
            b.wait(1000).out(text.as_bytes());
        }
        let tl = Timeline::from_events(&b.end(Some(0)), None);
        let lines = text_lines(&tl);
        let want: Vec<String> = (0..30 * 97).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, want);
    }

    #[test]
    fn stdin_transcript_shows_keys_and_commands_with_times() {
        let tl = Timeline::from_events(&samples::shell_session(), None);
        let mut out = Vec::new();
        write_stdin(&tl, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("] $ ls --color=auto\n"), "{s}");
        assert!(
            s.contains("] < ls --color=auto\\r\n[00:03.316] $ ls --color=auto\n"),
            "{s}"
        );
        assert!(s.contains("] < echo 'héllo wörld ✓'\\r\n"), "{s}");
        assert!(s.contains("] < q\n"), "{s}");
        assert!(s.lines().all(|l| l.starts_with('[')), "{s}");
        assert_eq!(escape_input(b"a\x1b[A\xff"), "a\\x1b[A\\xff");
        assert_eq!(fmt_time(3_723_004_000), "1:02:03.004");
    }
}
