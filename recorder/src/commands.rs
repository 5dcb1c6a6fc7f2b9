//! Typed-command reconstruction from a terminal's stdin bytes.
//!
//! The store indexes what a user *ran*, but the wire only carries keystrokes.
//! For a TTY session we replay the keystrokes into a line buffer the way a
//! simple line editor would: printable bytes append, backspace (0x7f, 0x08)
//! deletes one character, ctrl-u clears the line, ctrl-w deletes the previous
//! word, ctrl-c abandons the line, CR or LF submits it.
//!
//! We cannot see the shell's own state, so anything that makes the result
//! depend on it marks the line `uncertain` rather than guessing: escape
//! sequences (arrow-key history, cursor movement), tab completion, and any
//! line typed while a full-screen program holds the alternate screen
//! (`ESC[?1049h` … `ESC[?1049l` on stdout). Bracketed-paste markers are
//! recognised and are not uncertain: pasted text is literal input.
//!
//! Each command carries the offset of its first keystroke, so a player can
//! seek to the moment the user started typing it.

/// Longest line kept; longer input is truncated and marked uncertain so a
/// hostile stream cannot grow memory without bound.
pub const MAX_LINE: usize = 16 * 1024;

/// A reconstructed command line (without session id or wall-clock time;
/// the session recorder adds those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub text: String,
    /// Offset (µs since session start) of the line's first keystroke.
    pub offset_us: u64,
    pub uncertain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// Saw ESC.
    Start,
    /// Inside `ESC [` … collecting parameter bytes.
    Csi,
    /// Inside `ESC O`: one more byte (SS3 arrow keys in application mode).
    Ss3,
}

/// The line-editor state machine for one TTY session.
#[derive(Debug, Clone)]
pub struct CommandReconstructor {
    line: Vec<u8>,
    line_start_us: Option<u64>,
    uncertain: bool,
    esc: Esc,
    csi_params: Vec<u8>,
    /// A full-screen program is active (alternate screen seen on stdout).
    alt_screen: bool,
    /// Tail of the previous stdout chunk, so that an alternate-screen
    /// sequence split across frames is still seen.
    out_tail: Vec<u8>,
}

impl Default for CommandReconstructor {
    fn default() -> Self {
        Self::new()
    }
}

const ALT_ON: [&[u8]; 3] = [b"\x1b[?1049h", b"\x1b[?1047h", b"\x1b[?47h"];
const ALT_OFF: [&[u8]; 3] = [b"\x1b[?1049l", b"\x1b[?1047l", b"\x1b[?47l"];

impl CommandReconstructor {
    pub fn new() -> Self {
        CommandReconstructor {
            line: Vec::new(),
            line_start_us: None,
            uncertain: false,
            esc: Esc::None,
            csi_params: Vec::new(),
            alt_screen: false,
            out_tail: Vec::new(),
        }
    }

    /// True while a full-screen program holds the alternate screen.
    pub fn in_full_screen(&self) -> bool {
        self.alt_screen
    }

    /// Feeds terminal output; only used to track full-screen programs.
    pub fn feed_output(&mut self, data: &[u8]) {
        // Search the previous tail plus the new bytes; the last match wins.
        let mut hay = std::mem::take(&mut self.out_tail);
        hay.extend_from_slice(data);
        let last = |pats: &[&[u8]]| {
            pats.iter()
                .filter_map(|p| rfind(&hay, p))
                .max()
                .map(|i| i as i64)
                .unwrap_or(-1)
        };
        let on = last(&ALT_ON);
        let off = last(&ALT_OFF);
        if on > off {
            self.alt_screen = true;
            if self.line_start_us.is_some() {
                self.uncertain = true;
            }
        } else if off > on {
            self.alt_screen = false;
        }
        let keep = hay.len().min(7);
        self.out_tail = hay[hay.len() - keep..].to_vec();
    }

    /// Feeds stdin keystrokes received at `offset_us`; returns every line
    /// submitted by them.
    pub fn feed_input(&mut self, data: &[u8], offset_us: u64) -> Vec<Typed> {
        let mut out = Vec::new();
        for &b in data {
            self.byte(b, offset_us, &mut out);
        }
        out
    }

    /// The unfinished line at session end, if anything was typed.
    pub fn finish(&mut self) -> Option<Typed> {
        let t = self.take_line()?;
        Some(Typed {
            uncertain: true,
            ..t
        })
    }

    fn touch(&mut self, offset_us: u64) {
        if self.line_start_us.is_none() {
            self.line_start_us = Some(offset_us);
            if self.alt_screen {
                self.uncertain = true;
            }
        }
    }

    fn byte(&mut self, b: u8, now: u64, out: &mut Vec<Typed>) {
        match self.esc {
            Esc::Start => {
                self.esc = match b {
                    b'[' => {
                        self.csi_params.clear();
                        Esc::Csi
                    }
                    b'O' => Esc::Ss3,
                    _ => {
                        // Alt+key (meta) editing: word moves etc.
                        self.touch(now);
                        self.uncertain = true;
                        Esc::None
                    }
                };
                return;
            }
            Esc::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.esc = Esc::None;
                    let params = std::mem::take(&mut self.csi_params);
                    // Bracketed paste start/end markers are not editing.
                    if b == b'~' && (params == b"200" || params == b"201") {
                        return;
                    }
                    self.touch(now);
                    self.uncertain = true;
                } else if self.csi_params.len() < 32 {
                    self.csi_params.push(b);
                }
                return;
            }
            Esc::Ss3 => {
                self.esc = Esc::None;
                self.touch(now);
                self.uncertain = true;
                return;
            }
            Esc::None => {}
        }
        match b {
            0x1b => self.esc = Esc::Start,
            b'\r' | b'\n' => {
                if let Some(t) = self.take_line() {
                    out.push(t);
                }
            }
            0x7f | 0x08 => {
                self.touch(now);
                pop_char(&mut self.line);
            }
            0x15 => {
                // ctrl-u: kill the whole line (bash/readline and tty VKILL).
                self.touch(now);
                self.line.clear();
            }
            0x17 => {
                // ctrl-w: erase the previous word and the blanks before it.
                self.touch(now);
                while self.line.last().is_some_and(|c| c.is_ascii_whitespace()) {
                    self.line.pop();
                }
                while self.line.last().is_some_and(|c| !c.is_ascii_whitespace()) {
                    self.line.pop();
                }
            }
            0x03 => {
                // ctrl-c: the shell abandons the line.
                self.reset_line();
            }
            b'\t' => {
                self.touch(now);
                self.uncertain = true;
            }
            0x04 => {
                // ctrl-d: EOF on an empty line, delete-char otherwise.
                if !self.line.is_empty() {
                    self.uncertain = true;
                }
            }
            c if c < 0x20 => {
                // Other control keys (ctrl-a, ctrl-e, ctrl-r, ctrl-l...):
                // line-editor commands whose effect we cannot know.
                self.touch(now);
                if c != 0x0c {
                    self.uncertain = true;
                }
            }
            c => {
                self.touch(now);
                if self.line.len() < MAX_LINE {
                    self.line.push(c);
                } else {
                    self.uncertain = true;
                }
            }
        }
    }

    fn reset_line(&mut self) {
        self.line.clear();
        self.line_start_us = None;
        self.uncertain = false;
    }

    fn take_line(&mut self) -> Option<Typed> {
        let start = self.line_start_us;
        let text = String::from_utf8_lossy(&self.line).trim().to_string();
        let uncertain = self.uncertain || self.alt_screen;
        self.reset_line();
        let offset_us = start?;
        if text.is_empty() && !uncertain {
            return None;
        }
        Some(Typed {
            text,
            offset_us,
            uncertain,
        })
    }
}

/// Removes the last UTF-8 character of `line`.
fn pop_char(line: &mut Vec<u8>) {
    while let Some(b) = line.pop() {
        if b & 0xc0 != 0x80 {
            break;
        }
    }
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Splits non-TTY stdin into lines (for a shell reading commands from
/// stdin, e.g. `echo ls | kubectl exec -i pod -- sh`). No line editing:
/// a pipe delivers bytes verbatim.
#[derive(Debug, Clone, Default)]
pub struct LineSplitter {
    line: Vec<u8>,
    start_us: Option<u64>,
    truncated: bool,
}

impl LineSplitter {
    pub fn feed(&mut self, data: &[u8], offset_us: u64) -> Vec<Typed> {
        let mut out = Vec::new();
        for &b in data {
            if b == b'\n' {
                if let Some(t) = self.take() {
                    out.push(t);
                }
                continue;
            }
            if self.start_us.is_none() {
                self.start_us = Some(offset_us);
            }
            if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.truncated = true;
            }
        }
        out
    }

    pub fn finish(&mut self) -> Option<Typed> {
        self.take()
    }

    fn take(&mut self) -> Option<Typed> {
        let start = self.start_us.take();
        let text = String::from_utf8_lossy(&self.line).trim().to_string();
        let uncertain = std::mem::take(&mut self.truncated);
        self.line.clear();
        if text.is_empty() {
            return None;
        }
        Some(Typed {
            text,
            offset_us: start.unwrap_or(0),
            uncertain,
        })
    }
}

/// Whether an exec argv is a shell that reads its commands from stdin
/// (`sh`, `bash`, … without `-c`), so piped stdin lines are commands.
pub fn argv_is_stdin_shell(argv: &[String]) -> bool {
    let Some(first) = argv.first() else {
        return false;
    };
    let base = first.rsplit('/').next().unwrap_or(first);
    let shells = ["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish"];
    let (is_shell, rest) = if base == "busybox" || base == "env" {
        let second = argv.get(1).map(|s| s.rsplit('/').next().unwrap_or(s));
        (
            second.is_some_and(|s| shells.contains(&s)),
            &argv[2.min(argv.len())..],
        )
    } else {
        (shells.contains(&base), &argv[1..])
    };
    is_shell
        && !rest
            .iter()
            .any(|a| a.starts_with('-') && a.contains('c') && !a.starts_with("--"))
}

/// Fuzz entry point: arbitrary stdin and stdout interleavings must never
/// panic, and every emitted line must respect the length bound.
pub fn fuzz_commands(data: &[u8]) {
    let mut r = CommandReconstructor::new();
    let mut split = LineSplitter::default();
    for (i, chunk) in data.chunks(7).enumerate() {
        let lines = if i % 3 == 2 {
            r.feed_output(chunk);
            Vec::new()
        } else {
            r.feed_input(chunk, i as u64)
        };
        for t in lines.iter().chain(split.feed(chunk, i as u64).iter()) {
            assert!(t.text.len() <= MAX_LINE * 3 + 3, "line over bound");
            assert!(t.offset_us <= i as u64);
        }
    }
    let _ = r.finish();
    let _ = split.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn typed(input: &[u8]) -> Vec<(String, bool)> {
        let mut r = CommandReconstructor::new();
        r.feed_input(input, 5)
            .into_iter()
            .map(|t| (t.text, t.uncertain))
            .collect()
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            typed(b"ls -la\rexit 3\r"),
            vec![("ls -la".into(), false), ("exit 3".into(), false)]
        );
        assert_eq!(typed(b"echo hi\n\n\r"), vec![("echo hi".into(), false)]);
    }

    #[test]
    fn editing_keys() {
        assert_eq!(typed(b"lsx\x7f -l\r"), vec![("ls -l".into(), false)]);
        assert_eq!(typed(b"ls\x08\x08pwd\r"), vec![("pwd".into(), false)]);
        assert_eq!(
            typed(b"rm -rf /\x15echo ok\r"),
            vec![("echo ok".into(), false)]
        );
        assert_eq!(
            typed(b"cat foo bar  \x17baz\r"),
            vec![("cat foo baz".into(), false)]
        );
        assert_eq!(
            typed(b"sleep 100\x03whoami\r"),
            vec![("whoami".into(), false)]
        );
        // UTF-8 backspace removes the whole character.
        assert_eq!(
            typed("echo é\x7fe\r".as_bytes()),
            vec![("echo e".into(), false)]
        );
    }

    #[test]
    fn uncertain_cases() {
        // Arrow up: history recall.
        assert_eq!(typed(b"\x1b[A\r"), vec![("".into(), true)]);
        assert_eq!(typed(b"ls /et\t\r"), vec![("ls /et".into(), true)]);
        assert_eq!(typed(b"\x1bOA\r"), vec![("".into(), true)]);
        // Uncertainty does not leak into the next line.
        assert_eq!(
            typed(b"ab\x1b[Dc\rpwd\r"),
            vec![("abc".into(), true), ("pwd".into(), false)]
        );
        // Bracketed paste is literal.
        assert_eq!(
            typed(b"\x1b[200~echo pasted\x1b[201~\r"),
            vec![("echo pasted".into(), false)]
        );
    }

    #[test]
    fn full_screen_programs() {
        let mut r = CommandReconstructor::new();
        assert!(!r.feed_input(b"vim f\r", 1)[0].uncertain);
        // Split across two output chunks.
        r.feed_output(b"...\x1b[?10");
        r.feed_output(b"49h screen");
        assert!(r.in_full_screen());
        let t = r.feed_input(b"ihello\x1b:wq\r", 2);
        assert!(t[0].uncertain);
        r.feed_output(b"\x1b[?1049l$ ");
        assert!(!r.in_full_screen());
        let t = r.feed_input(b"ls\r", 3);
        assert_eq!(
            t,
            vec![Typed {
                text: "ls".into(),
                offset_us: 3,
                uncertain: false
            }]
        );
    }

    #[test]
    fn offsets_are_first_keystroke() {
        let mut r = CommandReconstructor::new();
        assert!(r.feed_input(b"l", 10).is_empty());
        assert!(r.feed_input(b"s", 20).is_empty());
        let t = r.feed_input(b"\r", 30);
        assert_eq!(t[0].offset_us, 10);
        r.feed_input(b"unfinished", 40);
        let f = r.finish().unwrap();
        assert_eq!(
            (f.text.as_str(), f.offset_us, f.uncertain),
            ("unfinished", 40, true)
        );
    }

    #[test]
    fn length_is_bounded() {
        let mut r = CommandReconstructor::new();
        let big = vec![b'a'; MAX_LINE + 100];
        r.feed_input(&big, 0);
        let t = r.feed_input(b"\r", 1);
        assert_eq!(t[0].text.len(), MAX_LINE);
        assert!(t[0].uncertain);
    }

    #[test]
    fn pipe_lines() {
        let mut s = LineSplitter::default();
        let t = s.feed(b"echo a\nec", 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].text, "echo a");
        let t = s.feed(b"ho b\n", 2);
        assert_eq!((t[0].text.as_str(), t[0].offset_us), ("echo b", 1));
        s.feed(b"tail", 3);
        assert_eq!(s.finish().unwrap().text, "tail");
    }

    #[test]
    fn stdin_shells() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(argv_is_stdin_shell(&v(&["sh"])));
        assert!(argv_is_stdin_shell(&v(&["/bin/bash", "-s"])));
        assert!(argv_is_stdin_shell(&v(&["busybox", "sh"])));
        assert!(!argv_is_stdin_shell(&v(&["sh", "-c", "ls"])));
        assert!(!argv_is_stdin_shell(&v(&["bash", "-ec", "ls"])));
        assert!(!argv_is_stdin_shell(&v(&["cat"])));
        assert!(!argv_is_stdin_shell(&[]));
    }

    proptest! {
        #[test]
        fn fuzz_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            fuzz_commands(&data);
        }

        #[test]
        fn printable_round_trips(s in "[a-z0-9 ./-]{1,40}") {
            let got = typed(format!("{s}\r").as_bytes());
            let want = s.trim();
            if want.is_empty() {
                prop_assert!(got.is_empty());
            } else {
                prop_assert_eq!(got, vec![(want.to_string(), false)]);
            }
        }
    }
}
