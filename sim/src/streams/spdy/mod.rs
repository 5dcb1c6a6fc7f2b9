//! SPDY/3.1 framing as spoken by moby/spdystream (what client-go uses for
//! port-forward, here tunnelled inside WebSocket binary messages).
//!
//! Pure codec: `parse_frame` / `serialize_frame` for frames, and the two
//! stateful zlib contexts for name/value header blocks (one per direction per
//! session, primed with the SPDY/3 dictionary). Kept private to the sim on
//! purpose: the proxy's recorder must have its own independent reading of the
//! protocol so the two can check each other.

mod headers;
pub use headers::{
    adler32, decode_header_pairs, dictionary, encode_header_pairs, header, HeaderCompressor,
    HeaderDecompressor,
};

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

pub(crate) fn be32(b: &[u8]) -> u32 {
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

#[cfg(test)]
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
