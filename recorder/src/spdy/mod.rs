//! SPDY/3.1 framing, as used by Kubernetes remote command (SPDY exec/attach)
//! and port-forward (plain, or tunnelled inside WebSocket by kubectl 1.32).
//!
//! This is a codec only. The recorder uses it to see which stream carries
//! what (`streamtype: stdin|stdout|stderr|error|resize|data`, `port`) and to
//! count or record the DATA frames. [`FrameReader`] reads one direction of a
//! connection incrementally: bytes in, whole frames out. [`FrameWriter`]
//! builds frames (for tests and for answering PINGs).
//!
//! Wire layout (all big endian):
//! - control frame: `1` bit, 15-bit version (3), 16-bit type, 8-bit flags,
//!   24-bit length, then `length` bytes;
//! - data frame: `0` bit, 31-bit stream id, 8-bit flags, 24-bit length, data.

mod headers;

pub use headers::{
    decode_block, dictionary, encode_block, HeaderDeflater, HeaderInflater, Headers,
    MAX_HEADER_BLOCK,
};

pub const VERSION: u16 = 3;
/// FLAG_FIN on data, SYN_STREAM, SYN_REPLY and HEADERS frames.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest frame accepted: the 24-bit length field allows 16 MiB.
pub const MAX_FRAME: usize = 1 << 24;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// One SPDY frame.
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
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        /// (entry flags, id, value)
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
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    /// A control frame type we do not interpret (e.g. the obsolete NOOP or
    /// CREDENTIAL); kept so that a relay can still count it.
    Unknown {
        frame_type: u16,
        flags: u8,
        payload: Vec<u8>,
    },
}

impl Frame {
    /// The stream a frame belongs to, if any.
    pub fn stream_id(&self) -> Option<u32> {
        match self {
            Frame::Data { stream_id, .. }
            | Frame::SynStream { stream_id, .. }
            | Frame::SynReply { stream_id, .. }
            | Frame::RstStream { stream_id, .. }
            | Frame::Headers { stream_id, .. }
            | Frame::WindowUpdate { stream_id, .. } => Some(*stream_id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("unsupported SPDY version {0} (want 3)")]
    Version(u16),
    #[error("SPDY frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("SPDY {0} frame too short: {1} bytes")]
    Short(&'static str, usize),
    #[error("SPDY header block: {0}")]
    BadHeaderBlock(&'static str),
    #[error("SPDY header compression: {0}")]
    Zlib(String),
}

/// Looks up a header (names are case-insensitive; SPDY sends lower case).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads frames from one direction of a SPDY connection.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of unread bytes in `buf` (compacted lazily).
    pos: usize,
    inflater: HeaderInflater,
    /// Set after a framing error: the stream cannot be resynchronised.
    failed: bool,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an
    /// error every later call fails too: SPDY cannot resynchronise.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SpdyError> {
        if self.failed {
            return Err(SpdyError::BadHeaderBlock("stream failed earlier"));
        }
        let res = self.parse();
        if res.is_err() {
            self.failed = true;
        }
        if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        res
    }

    fn parse(&mut self) -> Result<Option<Frame>, SpdyError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < 8 {
            return Ok(None);
        }
        let len = (u32::from_be_bytes([0, avail[5], avail[6], avail[7]])) as usize;
        if len >= MAX_FRAME {
            return Err(SpdyError::TooLarge(len));
        }
        if avail.len() < 8 + len {
            return Ok(None);
        }
        let flags = avail[4];
        let control = avail[0] & 0x80 != 0;
        let head = [avail[0], avail[1], avail[2], avail[3]];
        let start = self.pos + 8;
        self.pos = start + len;
        let payload = &self.buf[start..start + len];
        if !control {
            return Ok(Some(Frame::Data {
                stream_id: u32::from_be_bytes(head) & 0x7fff_ffff,
                flags,
                data: payload.to_vec(),
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        let frame_type = u16::from_be_bytes([head[2], head[3]]);
        let need = |name: &'static str, n: usize| {
            if payload.len() < n {
                Err(SpdyError::Short(name, payload.len()))
            } else {
                Ok(())
            }
        };
        let frame = match frame_type {
            SYN_STREAM => {
                need("SYN_STREAM", 10)?;
                let headers = self.inflater.inflate(&payload[10..])?;
                Frame::SynStream {
                    stream_id: be32(payload) & 0x7fff_ffff,
                    associated_to: be32(&payload[4..]) & 0x7fff_ffff,
                    priority: payload[8] >> 5,
                    flags,
                    headers,
                }
            }
            SYN_REPLY | HEADERS => {
                need("SYN_REPLY", 4)?;
                let stream_id = be32(payload) & 0x7fff_ffff;
                let headers = self.inflater.inflate(&payload[4..])?;
                if frame_type == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            RST_STREAM => {
                need("RST_STREAM", 8)?;
                Frame::RstStream {
                    stream_id: be32(payload) & 0x7fff_ffff,
                    status: be32(&payload[4..]),
                }
            }
            SETTINGS => {
                need("SETTINGS", 4)?;
                let n = be32(payload) as usize;
                if n > (payload.len() - 4) / 8 {
                    return Err(SpdyError::Short("SETTINGS", payload.len()));
                }
                let entries = (0..n)
                    .map(|i| {
                        let e = &payload[4 + i * 8..];
                        (e[0], be32(e) & 0x00ff_ffff, be32(&e[4..]))
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            PING => {
                need("PING", 4)?;
                Frame::Ping { id: be32(payload) }
            }
            GOAWAY => {
                need("GOAWAY", 8)?;
                Frame::GoAway {
                    last_good_stream_id: be32(payload) & 0x7fff_ffff,
                    status: be32(&payload[4..]),
                }
            }
            WINDOW_UPDATE => {
                need("WINDOW_UPDATE", 8)?;
                Frame::WindowUpdate {
                    stream_id: be32(payload) & 0x7fff_ffff,
                    delta: be32(&payload[4..]) & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown {
                frame_type: other,
                flags,
                payload: payload.to_vec(),
            },
        };
        Ok(Some(frame))
    }
}

/// Builds frames for one direction of a connection.
#[derive(Debug, Default)]
pub struct FrameWriter {
    deflater: HeaderDeflater,
}

fn control(frame_type: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

impl FrameWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serialises a frame. Data and payloads must fit the 24-bit length.
    pub fn encode(&mut self, frame: &Frame) -> Vec<u8> {
        let mut p = Vec::new();
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                out.push(*flags);
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                p.push((priority & 7) << 5);
                p.push(0);
                p.extend_from_slice(&self.deflater.deflate(headers));
                control(SYN_STREAM, *flags, &p)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&self.deflater.deflate(headers));
                let t = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                control(t, *flags, &p)
            }
            Frame::RstStream { stream_id, status } => {
                p.extend_from_slice(&stream_id.to_be_bytes());
                p.extend_from_slice(&status.to_be_bytes());
                control(RST_STREAM, 0, &p)
            }
            Frame::Settings { flags, entries } => {
                p.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for (f, id, v) in entries {
                    p.push(*f);
                    p.extend_from_slice(&id.to_be_bytes()[1..]);
                    p.extend_from_slice(&v.to_be_bytes());
                }
                control(SETTINGS, *flags, &p)
            }
            Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                p.extend_from_slice(&last_good_stream_id.to_be_bytes());
                p.extend_from_slice(&status.to_be_bytes());
                control(GOAWAY, 0, &p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                p.extend_from_slice(&stream_id.to_be_bytes());
                p.extend_from_slice(&delta.to_be_bytes());
                control(WINDOW_UPDATE, 0, &p)
            }
            Frame::Unknown {
                frame_type,
                flags,
                payload,
            } => control(*frame_type, *flags, payload),
        }
    }
}

/// Fuzz entry point: arbitrary bytes, fed in arbitrary chunks, must never
/// panic or allocate beyond the frame limits.
pub fn fuzz_spdy(data: &[u8]) {
    let mut r = FrameReader::new();
    let step = data.first().map(|&b| (b as usize % 97) + 1).unwrap_or(1);
    for chunk in data.chunks(step) {
        r.feed(chunk);
        while let Ok(Some(_)) = r.next_frame() {}
    }
    let _ = decode_block(data);
    let _ = HeaderInflater::new().inflate(data);
}

#[cfg(test)]
mod tests;
