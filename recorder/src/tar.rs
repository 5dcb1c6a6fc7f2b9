//! File names from a `kubectl cp` tar stream, parsed incrementally.
//!
//! `kubectl cp` is an exec of `tar` in the container: `tar cf - PATH` writes
//! an archive to stdout (download), `tar -xmf - -C DIR` reads one from stdin
//! (upload). We only want the entry names for the audit record, so this is a
//! header walker, not an extractor: it reads each 512-byte header, skips the
//! entry's data, and follows GNU long names (`././@LongLink`, type `L`) and
//! pax extended headers (type `x`, `path=` record).
//!
//! The stream is untrusted: the parser never panics, keeps at most
//! [`MAX_FILES`] names of at most [`MAX_NAME`] bytes, and on a malformed
//! header (bad checksum, bad size) it stops and reports the stream as
//! unparsable instead of guessing.

use kac_event::Transfer;

/// Most names kept per transfer.
pub const MAX_FILES: usize = 10_000;
/// Longest name kept (longer long-name/pax payloads are truncated).
pub const MAX_NAME: usize = 4096;
const BLOCK: usize = 512;

/// Direction of a `kubectl cp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    /// tar on stdin: files go into the container.
    Upload,
    /// tar on stdout: files come out of the container.
    Download,
}

impl TransferDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferDirection::Upload => "upload",
            TransferDirection::Download => "download",
        }
    }
}

/// Recognises the exec argv kubectl uses for `cp`: `tar cf - …` (download,
/// possibly as `sh -c 'tar cf - … | tail -c+N'` with `--retries`) and
/// `tar -xmf - …` / `tar xf - …` (upload).
pub fn detect_cp(argv: &[String]) -> Option<TransferDirection> {
    let first = argv.first()?;
    let base = first.rsplit('/').next().unwrap_or(first);
    if base == "tar" {
        return tar_mode(argv.get(1)?);
    }
    // `sh -c "tar cf - X | tail -c+N"`
    if matches!(base, "sh" | "bash") && argv.get(1).map(String::as_str) == Some("-c") {
        let script = argv.get(2)?;
        let mut words = script.split_whitespace();
        if words.next()? == "tar" {
            return tar_mode(words.next()?);
        }
    }
    None
}

fn tar_mode(flags: &str) -> Option<TransferDirection> {
    let f = flags.trim_start_matches('-');
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if f.contains('c') {
        Some(TransferDirection::Download)
    } else if f.contains('x') {
        Some(TransferDirection::Upload)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a 512-byte header.
    Header,
    /// Skipping `remaining` bytes of entry data plus padding.
    Skip { remaining: u64 },
    /// Collecting the payload of a long-name or pax header.
    Meta { kind: u8, remaining: u64, size: u64 },
    /// Two zero blocks seen.
    End,
    /// Malformed: no more parsing.
    Broken,
}

/// Incremental tar header walker.
#[derive(Debug, Clone)]
pub struct TarNames {
    state: State,
    block: Vec<u8>,
    meta: Vec<u8>,
    /// Name from a preceding long-name or pax header, applied to the next entry.
    pending_name: Option<String>,
    zero_blocks: u8,
    files: Vec<String>,
    /// Names dropped because of [`MAX_FILES`].
    pub dropped: u64,
}

impl Default for TarNames {
    fn default() -> Self {
        Self::new()
    }
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

impl TarNames {
    pub fn new() -> Self {
        TarNames {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            meta: Vec::new(),
            pending_name: None,
            zero_blocks: 0,
            files: Vec::new(),
            dropped: 0,
        }
    }

    /// The names seen so far, in archive order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// True when a malformed header stopped parsing.
    pub fn is_broken(&self) -> bool {
        self.state == State::Broken
    }

    /// True after the end-of-archive marker.
    pub fn is_done(&self) -> bool {
        self.state == State::End
    }

    /// The transfer record for the audit log.
    pub fn transfer(&self, direction: TransferDirection) -> Transfer {
        Transfer {
            direction: direction.as_str().to_string(),
            files: self.files.clone(),
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::End | State::Broken => return,
                State::Skip { remaining } => {
                    let n = (remaining.min(data.len() as u64)) as usize;
                    data = &data[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Header
                    } else {
                        State::Skip { remaining }
                    };
                }
                State::Meta {
                    kind,
                    remaining,
                    size,
                } => {
                    let n = (remaining.min(data.len() as u64)) as usize;
                    // Keep at most MAX_NAME + room for pax record framing.
                    let room = (MAX_NAME * 2).saturating_sub(self.meta.len());
                    let consumed = padded(size) - remaining;
                    let useful = size.saturating_sub(consumed).min(n as u64) as usize;
                    self.meta.extend_from_slice(&data[..useful.min(room)]);
                    data = &data[n..];
                    let remaining = remaining - n as u64;
                    if remaining == 0 {
                        self.finish_meta(kind);
                        self.state = State::Header;
                    } else {
                        self.state = State::Meta {
                            kind,
                            remaining,
                            size,
                        };
                    }
                }
                State::Header => {
                    let need = BLOCK - self.block.len();
                    let n = need.min(data.len());
                    self.block.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.block.len() == BLOCK {
                        let block = std::mem::take(&mut self.block);
                        self.header(&block);
                        self.block = block;
                        self.block.clear();
                    }
                }
            }
        }
    }

    fn header(&mut self, h: &[u8]) {
        if h.iter().all(|&b| b == 0) {
            self.zero_blocks += 1;
            if self.zero_blocks >= 2 {
                self.state = State::End;
            }
            return;
        }
        self.zero_blocks = 0;
        if !checksum_ok(h) {
            self.state = State::Broken;
            return;
        }
        let Some(size) = parse_size(&h[124..136]) else {
            self.state = State::Broken;
            return;
        };
        let typeflag = h[156];
        match typeflag {
            b'L' | b'x' => {
                self.meta.clear();
                self.state = if size == 0 {
                    State::Header
                } else {
                    State::Meta {
                        kind: typeflag,
                        remaining: padded(size),
                        size,
                    }
                };
            }
            // Global pax headers, GNU long link targets, volume labels...:
            // metadata without a name of ours.
            b'g' | b'K' | b'V' | b'X' => {
                self.state = skip(size);
            }
            _ => {
                let name = self.pending_name.take().unwrap_or_else(|| header_name(h));
                if !name.is_empty() {
                    if self.files.len() < MAX_FILES {
                        self.files.push(name);
                    } else {
                        self.dropped += 1;
                    }
                }
                // Links and directories carry no data whatever the size says.
                self.state = if matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
                    State::Header
                } else {
                    skip(size)
                };
            }
        }
    }

    fn finish_meta(&mut self, kind: u8) {
        let meta = std::mem::take(&mut self.meta);
        let name = match kind {
            b'L' => {
                let end = meta.iter().position(|&b| b == 0).unwrap_or(meta.len());
                Some(lossy(&meta[..end]))
            }
            _ => pax_path(&meta),
        };
        if let Some(n) = name {
            self.pending_name = Some(n);
        }
    }
}

fn skip(size: u64) -> State {
    if size == 0 {
        State::Header
    } else {
        State::Skip {
            remaining: padded(size),
        }
    }
}

fn lossy(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_NAME)];
    String::from_utf8_lossy(b).into_owned()
}

fn cstr(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// ustar name: `prefix/name` when the magic says ustar and a prefix exists.
fn header_name(h: &[u8]) -> String {
    let name = cstr(&h[0..100]);
    let ustar = &h[257..263] == b"ustar\0";
    let prefix = if ustar { cstr(&h[345..500]) } else { &[][..] };
    if prefix.is_empty() {
        lossy(name)
    } else {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        lossy(&full)
    }
}

/// The header checksum: the sum of all bytes with the checksum field read
/// as spaces. Some old tars summed signed bytes; accept either.
fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as u64;
        signed += (b as i8) as i64;
    }
    want == unsigned || want as i64 == signed
}

fn parse_octal(f: &[u8]) -> Option<u64> {
    let s = cstr(f);
    let s: Vec<u8> = s.iter().copied().filter(|&b| b != b' ').collect();
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Entry size: octal, or GNU base-256 when the high bit of the first byte
/// is set.
fn parse_size(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        if f[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = (f[0] & 0x3f) as u64;
        for &b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    parse_octal(f)
}

/// The `path` record of a pax extended header (`LEN path=VALUE\n`).
fn pax_path(meta: &[u8]) -> Option<String> {
    let mut rest = meta;
    let mut found = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            break;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(v) = record.strip_prefix(b"path=") {
            found = Some(lossy(v));
        }
        rest = &rest[len..];
    }
    found
}

/// Fuzz entry point: any byte stream, fed in arbitrary chunks, must never
/// panic and never exceed the bounds.
pub fn fuzz_tar(data: &[u8]) {
    let mut t = TarNames::new();
    let step = data.first().map(|&b| (b as usize % 61) + 1).unwrap_or(1);
    for chunk in data.chunks(step) {
        t.feed(chunk);
    }
    assert!(t.files().len() <= MAX_FILES);
    assert!(t.files().iter().all(|f| f.len() <= MAX_NAME * 3));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn archive(names: &[&str], gnu: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (i, n) in names.iter().enumerate() {
            let data = vec![b'x'; i * 300];
            let mut h = if gnu {
                tar::Header::new_gnu()
            } else {
                tar::Header::new_ustar()
            };
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, n, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn names_of(bytes: &[u8], chunk: usize) -> TarNames {
        let mut t = TarNames::new();
        for c in bytes.chunks(chunk) {
            t.feed(c);
        }
        t
    }

    #[test]
    fn gnu_and_ustar_archives() {
        let long = format!("dir/{}/file.txt", "d".repeat(150));
        for gnu in [true, false] {
            let names = ["a.txt", "sub/b.bin", long.as_str()];
            let bytes = archive(&names, gnu);
            for chunk in [1, 7, 512, 100_000] {
                let t = names_of(&bytes, chunk);
                assert_eq!(t.files(), &names[..], "gnu={gnu} chunk={chunk}");
                assert!(t.is_done(), "gnu={gnu} chunk={chunk}");
                assert!(!t.is_broken());
            }
        }
    }

    #[test]
    fn pax_path_record() {
        let name = "p".repeat(120);
        let mut body = Vec::new();
        let rec = format!("path={name}\n");
        // LEN counts itself: find the fixed point.
        let mut len = rec.len() + 4;
        while format!("{len} {rec}").len() != len {
            len = format!("{len} {rec}").len();
        }
        body.extend_from_slice(format!("{len} {rec}").as_bytes());
        let mut out = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(body.len() as u64);
        out.append_data(&mut h, "PaxHeaders/x", body.as_slice())
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(3);
        out.append_data(&mut h, "short", &b"abc"[..]).unwrap();
        let bytes = out.into_inner().unwrap();
        let t = names_of(&bytes, 33);
        assert_eq!(t.files(), &[name]);
    }

    #[test]
    fn garbage_stops_parsing() {
        let mut bytes = archive(&["ok"], true);
        bytes.truncate(1024);
        let mut junk = vec![0x41u8; 512];
        junk[0] = b'z';
        bytes.extend_from_slice(&junk);
        let t = names_of(&bytes, 64);
        assert_eq!(t.files(), &["ok".to_string()]);
        assert!(t.is_broken());
    }

    #[test]
    fn detect_kubectl_cp() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            detect_cp(&v(&["tar", "cf", "-", "/tmp/foo"])),
            Some(TransferDirection::Download)
        );
        assert_eq!(
            detect_cp(&v(&["tar", "-xmf", "-", "-C", "/tmp"])),
            Some(TransferDirection::Upload)
        );
        assert_eq!(
            detect_cp(&v(&["sh", "-c", "tar cf - /x | tail -c+10"])),
            Some(TransferDirection::Download)
        );
        assert_eq!(detect_cp(&v(&["tar", "--version"])), None);
        assert_eq!(detect_cp(&v(&["ls"])), None);
        assert_eq!(detect_cp(&[]), None);
    }

    #[test]
    fn base256_size() {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 0x02;
        f[10] = 0x01;
        assert_eq!(parse_size(&f), Some(258));
    }

    proptest! {
        #[test]
        fn fuzz_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            fuzz_tar(&data);
        }

        #[test]
        fn names_survive_any_chunking(names in proptest::collection::vec("[a-z]{1,12}(/[a-z]{1,120}){0,2}", 1..6),
                                      chunk in 1usize..700) {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let bytes = archive(&refs, true);
            let t = names_of(&bytes, chunk);
            prop_assert_eq!(t.files(), names.as_slice());
        }
    }
}
