//! A small escape-sequence scanner for terminal output (untrusted bytes).
//!
//! It follows the shape of the VT500 parser vte implements (ground, escape,
//! CSI, OSC and DCS-style strings, UTF-8 sequences) without interpreting
//! anything. Two users:
//! - keyframing: a screen snapshot can only be restored into a *fresh*
//!   parser, so snapshots are taken only where the stream is at ground state;
//! - search and transcripts: the text a user would read, without escapes.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum St {
    #[default]
    Ground,
    Esc,
    EscInter,
    Csi,
    /// OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (`ESC \`).
    Str,
    StrEsc,
}

/// What one byte turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byte {
    /// Part of visible text (printable ASCII, or a UTF-8 byte).
    Text(u8),
    /// A C0 control in ground state (`\n`, `\r`, `\t`, BEL, BS...).
    Control(u8),
    /// Part of an escape sequence.
    Escape,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EscScanner {
    st: St,
    /// UTF-8 continuation bytes still expected.
    utf8_left: u8,
}

impl EscScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the stream is between sequences and characters: a fresh
    /// parser would interpret the next byte the same way.
    pub fn is_ground(&self) -> bool {
        self.st == St::Ground && self.utf8_left == 0
    }

    pub fn feed(&mut self, b: u8) -> Byte {
        // CAN and SUB abort any sequence; ESC restarts one (except inside strings).
        match (self.st, b) {
            (St::Str, 0x07) => {
                self.st = St::Ground;
                return Byte::Escape;
            }
            (St::Str, 0x1b) => {
                self.st = St::StrEsc;
                return Byte::Escape;
            }
            (St::Str, _) => return Byte::Escape,
            (St::StrEsc, b'\\') => {
                self.st = St::Ground;
                return Byte::Escape;
            }
            (St::StrEsc, 0x1b) => return Byte::Escape,
            (St::StrEsc, _) => {
                self.st = St::Str;
                return Byte::Escape;
            }
            (_, 0x18 | 0x1a) => {
                self.st = St::Ground;
                self.utf8_left = 0;
                return Byte::Control(b);
            }
            (_, 0x1b) => {
                self.st = St::Esc;
                self.utf8_left = 0;
                return Byte::Escape;
            }
            _ => {}
        }
        match self.st {
            St::Ground => {
                if self.utf8_left > 0 {
                    if b & 0xc0 == 0x80 {
                        self.utf8_left -= 1;
                        return Byte::Text(b);
                    }
                    self.utf8_left = 0;
                }
                match b {
                    0x00..=0x1f | 0x7f => Byte::Control(b),
                    0x20..=0x7e => Byte::Text(b),
                    0xc0..=0xdf => {
                        self.utf8_left = 1;
                        Byte::Text(b)
                    }
                    0xe0..=0xef => {
                        self.utf8_left = 2;
                        Byte::Text(b)
                    }
                    0xf0..=0xf7 => {
                        self.utf8_left = 3;
                        Byte::Text(b)
                    }
                    _ => Byte::Text(b),
                }
            }
            St::Esc => {
                self.st = match b {
                    b'[' => St::Csi,
                    b']' | b'P' | b'X' | b'^' | b'_' => St::Str,
                    0x20..=0x2f => St::EscInter,
                    // Controls inside a sequence are executed by terminals and
                    // do not end it.
                    0x00..=0x1f => St::Esc,
                    _ => St::Ground,
                };
                Byte::Escape
            }
            St::EscInter => {
                if !(0x00..=0x2f).contains(&b) {
                    self.st = St::Ground;
                }
                Byte::Escape
            }
            St::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.st = St::Ground;
                }
                Byte::Escape
            }
            St::Str | St::StrEsc => Byte::Escape,
        }
    }
}

/// The readable text of terminal output: escapes removed, `\r\n` and `\r`
/// folded to `\n`-free text flow (`\n` kept, other controls dropped, tabs
/// kept). Used for search.
pub fn strip(scanner: &mut EscScanner, bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match scanner.feed(b) {
            Byte::Text(t) => out.push(t),
            Byte::Control(b'\n') => out.push(b'\n'),
            Byte::Control(b'\t') => out.push(b'\t'),
            _ => {}
        }
    }
}

/// Fuzz entry point: strips arbitrary bytes fed in arbitrary splits and
/// checks the invariants (no ESC survives; splitting never changes the result).
pub fn fuzz_strip(data: &[u8]) {
    let mut whole = Vec::new();
    strip(&mut EscScanner::new(), data, &mut whole);
    assert!(!whole.contains(&0x1b));
    let mut split = Vec::new();
    let mut sc = EscScanner::new();
    for part in data.chunks(7) {
        strip(&mut sc, part, &mut split);
    }
    assert_eq!(whole, split);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(b: &[u8]) -> String {
        let mut out = Vec::new();
        strip(&mut EscScanner::new(), b, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strips_csi_osc_and_charset_sequences() {
        assert_eq!(plain(b"\x1b[01;34mhtml\x1b[0m  x\r\n"), "html  x\n");
        assert_eq!(plain(b"\x1b]0;title\x07after"), "after");
        assert_eq!(plain(b"\x1b]0;title\x1b\\after"), "after");
        assert_eq!(plain(b"\x1b(Bok\x1b>"), "ok");
        assert_eq!(plain("héllo ✓".as_bytes()), "héllo ✓");
    }

    #[test]
    fn ground_tracks_incomplete_sequences() {
        let mut s = EscScanner::new();
        for &b in b"\x1b[1" {
            s.feed(b);
        }
        assert!(!s.is_ground());
        s.feed(b'm');
        assert!(s.is_ground());
        s.feed(0xe2);
        assert!(!s.is_ground());
        s.feed(0x9c);
        s.feed(0x93);
        assert!(s.is_ground());
    }

    proptest! {
        #[test]
        fn strip_is_split_invariant(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            fuzz_strip(&data);
        }
    }
}
