//! SPDY/3.1 framing as spoken by moby/spdystream (what client-go uses for
//! port-forward, here tunnelled inside WebSocket binary messages).
//!
//! Pure codec: `parse_frame` / `serialize_frame` for frames, and the two
//! stateful zlib contexts for name/value header blocks (one per direction per
//! session, primed with the SPDY/3 dictionary). Kept private to the sim on
//! purpose: the proxy's recorder must have its own independent reading of the
//! protocol so the two can check each other.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::OnceLock;

/// SPDY version carried in every control frame.
pub const VERSION: u16 = 3;
/// Flag FIN (control and data frames): the sender's half of the stream is closed.
pub const FLAG_FIN: u8 = 0x01;
/// Largest frame we accept (the length field is 24 bits anyway).
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;
/// Largest header block we inflate, to bound memory on hostile input.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_SYN_REPLY: u16 = 2;
pub const TYPE_RST_STREAM: u16 = 3;
pub const TYPE_SETTINGS: u16 = 4;
pub const TYPE_PING: u16 = 6;
pub const TYPE_GOAWAY: u16 = 7;
pub const TYPE_HEADERS: u16 = 8;
pub const TYPE_WINDOW_UPDATE: u16 = 9;

/// One SPDY frame. Header blocks stay compressed here; use
/// [`HeaderDecompressor`] / [`HeaderCompressor`] in session order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        slot: u8,
        flags: u8,
        header_block: Vec<u8>,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        header_block: Vec<u8>,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        /// `(flags, id, value)`
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        header_block: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    /// A control frame type we do not interpret (e.g. CREDENTIAL, NOOP).
    Unknown {
        frame_type: u16,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// A malformed frame or header block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("control frame type {frame_type} too short ({len} bytes)")]
    Short { frame_type: u16, len: usize },
    #[error("header block malformed: {0}")]
    HeaderBlock(&'static str),
    #[error("header block compression: {0}")]
    Zlib(String),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses the frame at the start of `buf`. `Ok(None)` means more bytes are
/// needed; otherwise returns the frame and how many bytes it used.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, SpdyError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let flags = buf[4];
    let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let p = &buf[8..8 + len];
    let used = 8 + len;
    if buf[0] & 0x80 == 0 {
        let stream_id = be32(buf) & 0x7fff_ffff;
        let data = p.to_vec();
        return Ok(Some((
            Frame::Data {
                stream_id,
                flags,
                data,
            },
            used,
        )));
    }
    let version = u16::from_be_bytes([buf[0], buf[1]]) & 0x7fff;
    if version != VERSION {
        return Err(SpdyError::Version(version));
    }
    let frame_type = u16::from_be_bytes([buf[2], buf[3]]);
    let need = |n: usize| {
        if len < n {
            Err(SpdyError::Short { frame_type, len })
        } else {
            Ok(())
        }
    };
    let frame = match frame_type {
        TYPE_SYN_STREAM => {
            need(10)?;
            Frame::SynStream {
                stream_id: be32(p) & 0x7fff_ffff,
                associated_to: be32(&p[4..]) & 0x7fff_ffff,
                priority: p[8] >> 5,
                slot: p[9],
                flags,
                header_block: p[10..].to_vec(),
            }
        }
        TYPE_SYN_REPLY | TYPE_HEADERS => {
            need(4)?;
            let stream_id = be32(p) & 0x7fff_ffff;
            let header_block = p[4..].to_vec();
            if frame_type == TYPE_SYN_REPLY {
                Frame::SynReply {
                    stream_id,
                    flags,
                    header_block,
                }
            } else {
                Frame::Headers {
                    stream_id,
                    flags,
                    header_block,
                }
            }
        }
        TYPE_RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream_id: be32(p) & 0x7fff_ffff,
                status: be32(&p[4..]),
            }
        }
        TYPE_SETTINGS => {
            need(4)?;
            let n = be32(p) as usize;
            if n > (len - 4) / 8 {
                return Err(SpdyError::Short { frame_type, len });
            }
            let entries = (0..n)
                .map(|i| {
                    let e = &p[4 + i * 8..];
                    (e[0], be32(e) & 0x00ff_ffff, be32(&e[4..]))
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        TYPE_PING => {
            need(4)?;
            Frame::Ping { id: be32(p) }
        }
        TYPE_GOAWAY => {
            need(4)?;
            Frame::GoAway {
                last_good_stream_id: be32(p) & 0x7fff_ffff,
                // SPDY/2 GOAWAY had no status; be lenient.
                status: if len >= 8 { be32(&p[4..]) } else { 0 },
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(8)?;
            Frame::WindowUpdate {
                stream_id: be32(p) & 0x7fff_ffff,
                delta: be32(&p[4..]) & 0x7fff_ffff,
            }
        }
        _ => Frame::Unknown {
            frame_type,
            flags,
            payload: p.to_vec(),
        },
    };
    Ok(Some((frame, used)))
}

fn control(frame_type: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(MAX_FRAME_LEN);
    let mut out = Vec::with_capacity(8 + len);
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&payload[..len]);
    out
}

/// Serializes one frame. Payloads longer than 2^24-1 are truncated, so split
/// data before calling (see [`MAX_FRAME_LEN`]).
pub fn serialize_frame(frame: &Frame) -> Vec<u8> {
    match frame {
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let len = data.len().min(MAX_FRAME_LEN);
            let mut out = Vec::with_capacity(8 + len);
            out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            out.push(*flags);
            out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
            out.extend_from_slice(&data[..len]);
            out
        }
        Frame::SynStream {
            stream_id,
            associated_to,
            priority,
            slot,
            flags,
            header_block,
        } => {
            let mut p = Vec::with_capacity(10 + header_block.len());
            p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            p.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
            p.push((priority & 0x07) << 5);
            p.push(*slot);
            p.extend_from_slice(header_block);
            control(TYPE_SYN_STREAM, *flags, &p)
        }
        Frame::SynReply {
            stream_id,
            flags,
            header_block,
        }
        | Frame::Headers {
            stream_id,
            flags,
            header_block,
        } => {
            let t = if matches!(frame, Frame::SynReply { .. }) {
                TYPE_SYN_REPLY
            } else {
                TYPE_HEADERS
            };
            let mut p = Vec::with_capacity(4 + header_block.len());
            p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            p.extend_from_slice(header_block);
            control(t, *flags, &p)
        }
        Frame::RstStream { stream_id, status } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            control(TYPE_RST_STREAM, 0, &p)
        }
        Frame::Settings { flags, entries } => {
            let mut p = (entries.len() as u32).to_be_bytes().to_vec();
            for (f, id, value) in entries {
                p.push(*f);
                p.extend_from_slice(&id.to_be_bytes()[1..]);
                p.extend_from_slice(&value.to_be_bytes());
            }
            control(TYPE_SETTINGS, *flags, &p)
        }
        Frame::Ping { id } => control(TYPE_PING, 0, &id.to_be_bytes()),
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            let mut p = (last_good_stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            control(TYPE_GOAWAY, 0, &p)
        }
        Frame::WindowUpdate { stream_id, delta } => {
            let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
            p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
            control(TYPE_WINDOW_UPDATE, 0, &p)
        }
        Frame::Unknown {
            frame_type,
            flags,
            payload,
        } => control(*frame_type, *flags, payload),
    }
}

/// Encodes an uncompressed SPDY/3 name/value block. Names are lower-cased as
/// the protocol requires; several values of one name are joined with NUL.
pub fn encode_header_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let k = k.to_ascii_lowercase();
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some((_, mv)) => {
                mv.push('\0');
                mv.push_str(v);
            }
            None => merged.push((k, v.clone())),
        }
    }
    let mut out = (merged.len() as u32).to_be_bytes().to_vec();
    for (k, v) in &merged {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Decodes an uncompressed name/value block into pairs; NUL-separated values
/// become several pairs with the same name.
pub fn decode_header_pairs(block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let mut rest = block;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        if rest.len() < n {
            return Err(SpdyError::HeaderBlock("truncated"));
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    let count = be32(take(4)?) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let klen = be32(take(4)?) as usize;
        let k = std::str::from_utf8(take(klen)?)
            .map_err(|_| SpdyError::HeaderBlock("name is not UTF-8"))?
            .to_string();
        if k.is_empty() {
            return Err(SpdyError::HeaderBlock("empty name"));
        }
        let vlen = be32(take(4)?) as usize;
        let v = String::from_utf8_lossy(take(vlen)?).into_owned();
        for part in v.split('\0') {
            out.push((k.clone(), part.to_string()));
        }
    }
    Ok(out)
}

/// Looks up a header (names are lower case on the wire).
pub fn header<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1):
/// length-prefixed common header names and values, then a run of status
/// codes, phrases, dates and media types.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=",
            "iso-8859-1,utf-,*,enq=0."
        );
        let mut d = Vec::with_capacity(1424);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// Adler-32 as zlib computes it (the DICTID of a preset dictionary).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Inflates the peer's header blocks: one zlib stream per session direction.
///
/// flate2's pure-Rust backend cannot take a preset dictionary, so the zlib
/// header is parsed here and the raw inflater is primed by feeding it a
/// non-final stored deflate block holding the dictionary (whose output is
/// discarded): later back-references then reach into the dictionary exactly
/// as with `inflateSetDictionary`.
pub struct HeaderDecompressor {
    inflater: Decompress,
    header: Vec<u8>,
    started: bool,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        HeaderDecompressor {
            inflater: Decompress::new(false),
            header: Vec::new(),
            started: false,
        }
    }

    /// Inflates one compressed header block and decodes its pairs.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let raw = self.inflate(block)?;
        decode_header_pairs(&raw)
    }

    /// Inflates one compressed header block (continuing the session's stream).
    pub fn inflate(&mut self, mut block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        if !self.started {
            let missing = 2usize.saturating_sub(self.header.len());
            let n = missing.min(block.len());
            self.header.extend_from_slice(&block[..n]);
            block = &block[n..];
            if self.header.len() < 2 {
                return Ok(Vec::new());
            }
            let (cmf, flg) = (self.header[0], self.header[1]);
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err(SpdyError::Zlib("bad zlib header".into()));
            }
            if flg & 0x20 != 0 {
                let want = 6 - self.header.len();
                let n = want.min(block.len());
                self.header.extend_from_slice(&block[..n]);
                block = &block[n..];
                if self.header.len() < 6 {
                    return Ok(Vec::new());
                }
                let dict = dictionary();
                if be32(&self.header[2..6]) != adler32(dict) {
                    return Err(SpdyError::Zlib("unknown preset dictionary".into()));
                }
                let len = dict.len() as u16;
                let mut stored = vec![0x00];
                stored.extend_from_slice(&len.to_le_bytes());
                stored.extend_from_slice(&(!len).to_le_bytes());
                stored.extend_from_slice(dict);
                self.run(&stored)?;
            }
            self.started = true;
        }
        self.run(block)
    }

    fn run(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.len() > MAX_HEADER_BLOCK {
                return Err(SpdyError::HeaderBlock("header block too large"));
            }
            out.reserve(4096);
            let before_in = self.inflater.total_in();
            let before_out = self.inflater.total_out();
            let status = self
                .inflater
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|e| SpdyError::Zlib(e.to_string()))?;
            let consumed = (self.inflater.total_in() - before_in) as usize;
            let produced = self.inflater.total_out() - before_out;
            input = &input[consumed..];
            if status == Status::StreamEnd {
                return Ok(out);
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if consumed == 0 && produced == 0 && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// Deflates our header blocks: one zlib stream for the session, each block
/// ended with a sync flush. We do not use the preset dictionary (a zlib
/// stream without FDICT is valid for Go's `zlib.NewReaderDict`).
pub struct HeaderCompressor {
    deflater: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> Self {
        HeaderCompressor {
            deflater: Compress::new(Compression::default(), true),
        }
    }

    /// Compresses one name/value block.
    pub fn encode(&mut self, pairs: &[(String, String)]) -> Vec<u8> {
        self.deflate(&encode_header_pairs(pairs))
    }

    /// Compresses raw bytes as the next header block of the stream.
    pub fn deflate(&mut self, mut input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() + 64);
        loop {
            out.reserve(256);
            let before = self.deflater.total_in();
            // Compressing into a Vec cannot fail except on misuse.
            let _ = self
                .deflater
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflater.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

#[cfg(test)]
#[path = "spdy_tests.rs"]
mod tests;

/// Fuzzing entry point: parses `buf` as a sequence of frames and inflates any
/// header blocks in session order. Must never panic, whatever the input.
pub fn fuzz_parse(buf: &[u8]) {
    let mut d = HeaderDecompressor::new();
    let mut rest = buf;
    while let Ok(Some((frame, used))) = parse_frame(rest) {
        if let Frame::SynStream { header_block, .. }
        | Frame::SynReply { header_block, .. }
        | Frame::Headers { header_block, .. } = &frame
        {
            let _ = d.decode(header_block);
        }
        let _ = serialize_frame(&frame);
        rest = &rest[used..];
    }
}
