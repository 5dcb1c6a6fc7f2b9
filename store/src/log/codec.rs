//! Pure codec of the log: frames, segment headers, blocks and seals.
//!
//! No I/O here: these functions turn bytes into values and back, so they can
//! be fuzzed and property-tested in isolation.
//!
//! ```text
//! frame   = len:u32le crc32c(payload):u32le payload[len]
//! payload = kind:u8 body
//! kind 1  = segment header: magic "KACSEG01" or "KACSEG02" (which hash
//!           links its blocks, see [`ChainHash`]), writer id, segment seq,
//!           first event seq, previous block hash, creation time
//! kind 2  = block: first seq, event count, min/max time, previous block
//!           hash, raw length, body encoding (0 = zstd, 1 = stored raw),
//!           body = zstd(events) or events as they are
//!           where events = (len:u32le record[len])*; a record is the
//!           event's JSON or a binary session.data or API form (see [`record`])
//! kind 3  = seal: last block hash, block count, event count, last seq,
//!           max time; written when a segment is rotated out
//! ```
//!
//! The hash chain: every block header carries the hash of the previous
//! block's whole payload (header included), across segment boundaries of one
//! writer stream; the previous block's segment magic says which hash
//! (SHA-256 in KACSEG01 segments, BLAKE3 in KACSEG02). Changing, dropping or
//! reordering a block breaks the link after it; the CRC catches torn writes
//! and bit flips cheaply first.

use std::borrow::Cow;

use super::record;

#[path = "chain.rs"]
mod chain;
pub use chain::ChainHash;
#[path = "body.rs"]
mod body;
pub use body::BodyEncoding;
use body::{pays, sample_pays, SAMPLE_FROM};

/// The hash of a block payload (SHA-256 or BLAKE3, 32 bytes either way).
pub type Hash = [u8; 32];
/// The previous hash of the very first block of a stream.
pub const ZERO_HASH: Hash = [0; 32];
/// Bytes before a frame's payload.
pub const FRAME_HEADER: usize = 8;
/// Upper bound on a frame; anything larger is garbage, not a frame.
pub const MAX_FRAME: usize = 64 << 20;
/// Upper bound on a block's decompressed size.
pub const MAX_RAW_BLOCK: usize = 256 << 20;

/// Shortest match zstd looks for. Level 6 defaults to 5; on audit events
/// 6 is both smaller (65.9 vs 67.0 B/event, 11.2x vs 11.0x JSON lines) and
/// ~10% faster (fewer short, useless match candidates), measured on the
/// bench's 200k generated events. Levels 1-2 already use 6. Decoders need
/// no parameter: this changes only which matches the encoder picks.
pub const ZSTD_MIN_MATCH: u32 = 6;

pub const KIND_SEGMENT: u8 = 1;
pub const KIND_BLOCK: u8 = 2;
pub const KIND_SEAL: u8 = 3;
/// Bytes of a block payload before the compressed body.
const BLOCK_HEADER: usize = 1 + 8 + 4 + 8 + 8 + 32 + 4 + 4;

/// Appends one frame around `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What is at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A complete frame whose CRC matches; `total` bytes long.
    Frame { payload: &'a [u8], total: usize },
    /// The buffer ends inside the frame (a torn tail, or more to read).
    Incomplete,
    /// The bytes cannot be a frame.
    Corrupt(String),
}

/// Reads the frame at the start of `buf`.
pub fn decode_frame(buf: &[u8]) -> FrameRead<'_> {
    if buf.len() < FRAME_HEADER {
        return FrameRead::Incomplete;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_FRAME {
        return FrameRead::Corrupt(format!("frame length {len} out of range"));
    }
    let Some(payload) = buf.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return FrameRead::Incomplete;
    };
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return FrameRead::Corrupt(format!(
            "CRC32C mismatch: header {crc:08x}, payload {actual:08x}"
        ));
    }
    FrameRead::Frame {
        payload,
        total: FRAME_HEADER + len,
    }
}

/// The link of the chain for a block of a segment written now
/// ([`ChainHash::CURRENT`]); a reader of an existing segment uses its
/// header's [`SegmentHeader::hash`] instead.
pub fn block_hash(payload: &[u8]) -> Hash {
    ChainHash::CURRENT.hash(payload)
}

/// Little-endian cursor over a payload; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| format!("truncated at byte {} (need {n})", self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn hash(&mut self) -> Result<Hash, String> {
        Ok(self.take(32)?.try_into().expect("32"))
    }
    fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }
    fn end(&self) -> Result<(), String> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.buf.len() - self.pos))
        }
    }
}

/// First frame of every segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// How this segment's blocks are hashed (its magic).
    pub hash: ChainHash,
    pub writer: String,
    pub segment_seq: u64,
    /// Seq of the first event this segment will hold.
    pub first_seq: u64,
    /// Hash of the last block of the previous segment of this stream.
    pub prev_hash: Hash,
    pub created_us: i64,
}

impl SegmentHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(80 + self.writer.len());
        p.push(KIND_SEGMENT);
        p.extend_from_slice(self.hash.magic());
        p.extend_from_slice(&(self.writer.len() as u16).to_le_bytes());
        p.extend_from_slice(self.writer.as_bytes());
        p.extend_from_slice(&self.segment_seq.to_le_bytes());
        p.extend_from_slice(&self.first_seq.to_le_bytes());
        p.extend_from_slice(&self.prev_hash);
        p.extend_from_slice(&self.created_us.to_le_bytes());
        p
    }

    pub fn decode(payload: &[u8]) -> Result<Self, String> {
        let mut c = Cursor::new(payload);
        if c.u8()? != KIND_SEGMENT {
            return Err("not a segment header".into());
        }
        let hash = ChainHash::from_magic(c.take(8)?).ok_or("bad segment magic")?;
        let n = c.u16()? as usize;
        let writer = std::str::from_utf8(c.take(n)?)
            .map_err(|_| "writer id is not UTF-8")?
            .to_string();
        let h = SegmentHeader {
            hash,
            writer,
            segment_seq: c.u64()?,
            first_seq: c.u64()?,
            prev_hash: c.hash()?,
            created_us: c.i64()?,
        };
        c.end()?;
        Ok(h)
    }
}

/// The fixed part of a block payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    pub first_seq: u64,
    pub count: u32,
    pub min_time_us: i64,
    pub max_time_us: i64,
    pub prev_hash: Hash,
    pub raw_len: u32,
    /// How the body is stored. On disk a u32 that was once a zstd
    /// dictionary id that had to be 0, so readers from before raw bodies
    /// reject a raw block clearly instead of misreading it.
    pub encoding: BodyEncoding,
}

impl BlockHeader {
    pub fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count).saturating_sub(1)
    }
}

/// One event as handed to the block encoder: its record and time.
pub struct RawEvent<'a> {
    /// The stored record: the event's JSON, or a binary form made by
    /// [`record::encode_record`].
    pub json: &'a [u8],
    pub time_us: i64,
}

/// Builds a block payload from consecutive events starting at `first_seq`.
pub fn encode_block(
    first_seq: u64,
    prev_hash: &Hash,
    events: &[RawEvent<'_>],
    level: i32,
) -> std::io::Result<Vec<u8>> {
    let mut z = zstd::bulk::Compressor::new(level)?;
    encode_block_with(&mut z, first_seq, prev_hash, events)
}

/// [`encode_block`] with a reused compressor: a zstd context at level 6
/// holds megabytes of match tables, and setting one up per block cost the
/// writer a measurable share of its time.
pub fn encode_block_with(
    z: &mut zstd::bulk::Compressor<'_>,
    first_seq: u64,
    prev_hash: &Hash,
    events: &[RawEvent<'_>],
) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(events.iter().map(|e| e.json.len() + 4).sum());
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for e in events {
        raw.extend_from_slice(&(e.json.len() as u32).to_le_bytes());
        raw.extend_from_slice(e.json);
        min_t = min_t.min(e.time_us);
        max_t = max_t.max(e.time_us);
    }
    if events.is_empty() {
        (min_t, max_t) = (0, 0);
    }
    let body = BlockBody {
        first_seq,
        count: events.len() as u32,
        min_time_us: min_t,
        max_time_us: max_t,
        raw: &raw,
        sample: false,
    };
    let mut out = Vec::new();
    append_block(z, &mut out, prev_hash, &body, false)?;
    Ok(out)
}

/// An already laid out block body: `raw` is `(len:u32le record[len])*`
/// of `count` events.
pub struct BlockBody<'a> {
    pub first_seq: u64,
    pub count: u32,
    pub min_time_us: i64,
    pub max_time_us: i64,
    pub raw: &'a [u8],
    /// Compress a sample first and store the body raw if it does not pay
    /// (for blocks of session output; audit JSON always compresses).
    pub sample: bool,
}

/// A block frame as [`encode_block_frame`] laid it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedBlock {
    /// The body is stored raw and is *not* in the frame buffer: write
    /// `body.raw` right after it (one copy of a megabyte less per block).
    pub raw_tail: bool,
    /// The block's link of the chain (the hash of its whole payload).
    pub hash: Hash,
}

/// A block's frame into `frame` (cleared first; the writer reuses one, so
/// a megabyte block does not fault in fresh pages every time): the frame
/// header, the block header and, for a zstd body, the compressed body,
/// which zstd writes straight into it. A raw body stays where it is (see
/// [`EncodedBlock::raw_tail`]); the CRC and the `chain` hash cover it all
/// the same.
pub fn encode_block_frame(
    z: &mut zstd::bulk::Compressor<'_>,
    chain: ChainHash,
    prev_hash: &Hash,
    body: &BlockBody<'_>,
    frame: &mut Vec<u8>,
) -> std::io::Result<EncodedBlock> {
    frame.clear();
    frame.resize(FRAME_HEADER, 0);
    let raw_tail = append_block(z, frame, prev_hash, body, true)?;
    let tail: &[u8] = if raw_tail { body.raw } else { &[] };
    let payload = [&frame[FRAME_HEADER..], tail];
    let len = (payload[0].len() + payload[1].len()) as u32;
    let crc = crc32c::crc32c_append(crc32c::crc32c(payload[0]), payload[1]);
    let hash = chain.hash_parts(&payload);
    frame[0..4].copy_from_slice(&len.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(EncodedBlock { raw_tail, hash })
}

/// Appends a block payload to `out`, compressing in place, or storing the
/// body raw when compression does not pay; with `raw_tail`, a raw body is
/// left out (the caller writes it after `out`). Returns whether it is raw.
fn append_block(
    z: &mut zstd::bulk::Compressor<'_>,
    out: &mut Vec<u8>,
    prev_hash: &Hash,
    b: &BlockBody<'_>,
    raw_tail: bool,
) -> std::io::Result<bool> {
    // Sticky on the context; setting it per block costs a field store.
    z.set_parameter(zstd::zstd_safe::CParameter::MinMatch(ZSTD_MIN_MATCH))?;
    let sampled_raw = b.sample && b.raw.len() >= SAMPLE_FROM && !sample_pays(z, b.raw)?;
    let bound = match (sampled_raw, raw_tail) {
        (false, _) => zstd::zstd_safe::compress_bound(b.raw.len()),
        (true, false) => b.raw.len(),
        (true, true) => 0,
    };
    out.reserve(BLOCK_HEADER + bound);
    let start = out.len();
    out.push(KIND_BLOCK);
    out.extend_from_slice(&b.first_seq.to_le_bytes());
    out.extend_from_slice(&b.count.to_le_bytes());
    out.extend_from_slice(&b.min_time_us.to_le_bytes());
    out.extend_from_slice(&b.max_time_us.to_le_bytes());
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(&(b.raw.len() as u32).to_le_bytes());
    let code_at = out.len();
    if !sampled_raw {
        out.extend_from_slice(&BodyEncoding::Zstd.code().to_le_bytes());
        let mut cur = std::io::Cursor::new(&mut *out);
        cur.set_position((code_at + 4) as u64);
        z.compress_to_buffer(b.raw, &mut cur)?;
        if !b.sample || pays(out.len() - code_at - 4, b.raw.len()) {
            debug_assert!(out.len() - start >= BLOCK_HEADER);
            return Ok(false);
        }
        // The sample misjudged it (or the body was too short to sample).
        out.truncate(code_at);
    }
    out.extend_from_slice(&BodyEncoding::Raw.code().to_le_bytes());
    if !raw_tail {
        out.extend_from_slice(b.raw);
    }
    Ok(true)
}

/// Parses a block header; returns it with the compressed body.
pub fn decode_block_header(payload: &[u8]) -> Result<(BlockHeader, &[u8]), String> {
    let mut c = Cursor::new(payload);
    if c.u8()? != KIND_BLOCK {
        return Err("not a block".into());
    }
    let h = BlockHeader {
        first_seq: c.u64()?,
        count: c.u32()?,
        min_time_us: c.i64()?,
        max_time_us: c.i64()?,
        prev_hash: c.hash()?,
        raw_len: c.u32()?,
        encoding: BodyEncoding::from_code(c.u32()?)?,
    };
    if h.raw_len as usize > MAX_RAW_BLOCK {
        return Err(format!("raw length {} too large", h.raw_len));
    }
    Ok((h, c.rest()))
}

/// A decompressed block: the header and the record of each event.
#[derive(Debug, Clone)]
pub struct DecodedBlock {
    pub header: BlockHeader,
    raw: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl DecodedBlock {
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// The stored record of event `i`: JSON or a binary form (see
    /// [`record`]); most readers want [`DecodedBlock::json`] or
    /// [`DecodedBlock::event`].
    pub fn record(&self, i: usize) -> Option<&[u8]> {
        self.spans.get(i).map(|&(s, e)| &self.raw[s..e])
    }
    /// The native JSON of event `i`: borrowed from the block when stored
    /// as JSON, rendered from a binary record otherwise (the same bytes).
    /// None if there is no event `i` or its binary record is malformed.
    pub fn json(&self, i: usize) -> Option<Cow<'_, [u8]>> {
        record::record_json(self.record(i)?).ok()
    }
    /// Every record, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&(s, e)| &self.raw[s..e])
    }
    /// Parses event `i`.
    pub fn event(&self, i: usize) -> Result<kac_event::Event, String> {
        let r = self
            .record(i)
            .ok_or_else(|| format!("no event {i} in block"))?;
        record::decode_record(r)
            .and_then(|r| r.event())
            .map_err(|e| format!("event {i}: {e}"))
    }
    /// Event `i` and its native JSON, decoding a binary record once (what
    /// a forwarder that sends stored JSON as is needs).
    pub fn event_and_json(&self, i: usize) -> Result<(kac_event::Event, Cow<'_, [u8]>), String> {
        let r = self
            .record(i)
            .ok_or_else(|| format!("no event {i} in block"))?;
        let rec = record::decode_record(r).map_err(|e| format!("event {i}: {e}"))?;
        let ev = rec.event().map_err(|e| format!("event {i}: {e}"))?;
        let json = match rec {
            record::Record::Json(j) => Cow::Borrowed(j),
            _ => Cow::Owned(serde_json::to_vec(&ev).map_err(|e| format!("event {i}: {e}"))?),
        };
        Ok((ev, json))
    }
}

/// Where each record of a raw block body (`(len:u32le record)*`) lies, in
/// order; an error ends the walk (a length past the end).
pub fn body_spans(raw: &[u8]) -> impl Iterator<Item = Result<(usize, usize), String>> + '_ {
    let mut c = Cursor::new(raw);
    std::iter::from_fn(move || {
        if c.pos >= raw.len() {
            return None;
        }
        let span = c.u32().and_then(|n| {
            let start = c.pos;
            c.take(n as usize).map(|_| (start, c.pos))
        });
        if span.is_err() {
            c.pos = raw.len();
        }
        Some(span)
    })
}

/// The records of a raw block body, in order (see [`body_spans`]).
pub fn body_records(raw: &[u8]) -> impl Iterator<Item = Result<&[u8], String>> + '_ {
    body_spans(raw).map(|s| s.map(|(a, b)| &raw[a..b]))
}

/// Decompresses and splits a block payload; checks every length.
pub fn decode_block(payload: &[u8]) -> Result<DecodedBlock, String> {
    let (header, body) = decode_block_header(payload)?;
    let raw = match header.encoding {
        BodyEncoding::Zstd => zstd::bulk::decompress(body, header.raw_len as usize)
            .map_err(|e| format!("zstd: {e}"))?,
        BodyEncoding::Raw => body.to_vec(),
    };
    if raw.len() != header.raw_len as usize {
        return Err(format!(
            "raw length {} != header {}",
            raw.len(),
            header.raw_len
        ));
    }
    // The count is untrusted: every event takes at least its 4-byte length,
    // so no more than raw.len() / 4 spans can follow (a forged count of
    // 2^32 asked for 64 GiB here; found by the store_segment fuzz target).
    let mut spans = Vec::with_capacity((header.count as usize).min(raw.len() / 4));
    for span in body_spans(&raw) {
        spans.push(span?);
    }
    if spans.len() != header.count as usize {
        return Err(format!(
            "{} events in body, header says {}",
            spans.len(),
            header.count
        ));
    }
    Ok(DecodedBlock { header, raw, spans })
}

/// Last frame of a rotated (sealed) segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub last_hash: Hash,
    pub blocks: u64,
    pub events: u64,
    /// Seq of the last event in the segment (first_seq - 1 if empty).
    pub last_seq: u64,
    pub max_time_us: i64,
}

impl Seal {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(65);
        p.push(KIND_SEAL);
        p.extend_from_slice(&self.last_hash);
        p.extend_from_slice(&self.blocks.to_le_bytes());
        p.extend_from_slice(&self.events.to_le_bytes());
        p.extend_from_slice(&self.last_seq.to_le_bytes());
        p.extend_from_slice(&self.max_time_us.to_le_bytes());
        p
    }

    pub fn decode(payload: &[u8]) -> Result<Self, String> {
        let mut c = Cursor::new(payload);
        if c.u8()? != KIND_SEAL {
            return Err("not a seal".into());
        }
        let s = Seal {
            last_hash: c.hash()?,
            blocks: c.u64()?,
            events: c.u64()?,
            last_seq: c.u64()?,
            max_time_us: c.i64()?,
        };
        c.end()?;
        Ok(s)
    }
}

/// Fuzz entry point: decodes arbitrary bytes as a segment, frame by frame,
/// never panicking. Returns the number of events decoded.
pub fn fuzz_decode_segment(data: &[u8]) -> usize {
    let mut pos = 0;
    let mut events = 0;
    while pos < data.len() {
        match decode_frame(&data[pos..]) {
            FrameRead::Frame { payload, total } => {
                match payload.first() {
                    Some(&KIND_SEGMENT) => {
                        let _ = SegmentHeader::decode(payload);
                    }
                    Some(&KIND_SEAL) => {
                        let _ = Seal::decode(payload);
                    }
                    _ => {
                        if let Ok(b) = decode_block(payload) {
                            for i in 0..b.len() {
                                if b.event(i).is_ok() {
                                    events += 1;
                                }
                            }
                        }
                    }
                }
                pos += total;
            }
            FrameRead::Incomplete | FrameRead::Corrupt(_) => break,
        }
    }
    // Also try the whole input as one bare payload of each kind, and as
    // one record inside a block (compressed blocks are rarely reached).
    record::fuzz_record(data);
    let _ = SegmentHeader::decode(data);
    let _ = Seal::decode(data);
    if let Ok(b) = decode_block(data) {
        events += b.len();
    }
    events
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
