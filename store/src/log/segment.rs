//! Segment files on the local file system: naming, listing, frame-by-frame
//! reading, appending, and crash recovery of a writer stream's tail.
//!
//! A store directory holds `segments/{writer}-{seq:016}.kseg`. Each writer
//! (one proxy) owns its own stream of segments, so several writers never
//! share a file; the hash chain runs per stream.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::codec::{
    decode_block_header, encode_frame, ChainHash, Hash, Seal, SegmentHeader, FRAME_HEADER,
    KIND_BLOCK, KIND_SEAL, KIND_SEGMENT, MAX_FRAME, ZERO_HASH,
};
use crate::error::{IoContext, Result, StoreError};

pub const SEGMENT_EXT: &str = "kseg";

/// Directory of segment files inside a store.
pub fn segments_dir(store: &Path) -> PathBuf {
    store.join("segments")
}

/// `{writer}-{seq:016}.kseg`
pub fn segment_file_name(writer: &str, seq: u64) -> String {
    format!("{writer}-{seq:016}.{SEGMENT_EXT}")
}

/// Parses a segment file name into (writer, seq).
pub fn parse_segment_file_name(name: &str) -> Option<(String, u64)> {
    let stem = name.strip_suffix(&format!(".{SEGMENT_EXT}"))?;
    let (writer, seq) = stem.rsplit_once('-')?;
    if writer.is_empty() || seq.len() != 16 {
        return None;
    }
    Some((writer.to_string(), seq.parse().ok()?))
}

/// Checks a writer id: it becomes part of file names.
pub fn validate_writer_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "writer id {id:?}: use 1-64 of [A-Za-z0-9_.]"
        )))
    }
}

/// All segment files, grouped by writer stream and sorted by seq.
pub fn list_streams(store: &Path) -> Result<BTreeMap<String, Vec<(u64, PathBuf)>>> {
    let dir = segments_dir(store);
    let mut out: BTreeMap<String, Vec<(u64, PathBuf)>> = BTreeMap::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io(format!("listing {}", dir.display()), e)),
    };
    for ent in rd {
        let ent = ent.ctx(|| format!("listing {}", dir.display()))?;
        let name = ent.file_name();
        if let Some((w, seq)) = name.to_str().and_then(parse_segment_file_name) {
            out.entry(w).or_default().push((seq, ent.path()));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

/// One step of reading frames from a segment file.
#[derive(Debug)]
pub enum Next {
    Frame {
        offset: u64,
        payload: Vec<u8>,
    },
    /// Clean end of file at a frame boundary.
    End,
    /// The file ends inside a frame: a torn (or still being written) tail.
    Torn {
        offset: u64,
        reason: String,
    },
    /// Bytes that cannot be a valid frame although the file goes on.
    Corrupt {
        offset: u64,
        reason: String,
    },
}

/// Sequential frame reader over one segment file.
pub struct FrameReader {
    r: BufReader<File>,
    pos: u64,
    len: u64,
    pub path: PathBuf,
}

impl FrameReader {
    pub fn open(path: &Path, offset: u64) -> Result<Self> {
        let mut f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
        let len = f
            .metadata()
            .ctx(|| format!("stat {}", path.display()))?
            .len();
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))
            .ctx(|| format!("seeking {}", path.display()))?;
        Ok(FrameReader {
            r: BufReader::with_capacity(1 << 20, f),
            pos: offset,
            len,
            path: path.to_path_buf(),
        })
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn file_len(&self) -> u64 {
        self.len
    }

    pub fn next_frame(&mut self) -> Result<Next> {
        let offset = self.pos;
        let left = self.len.saturating_sub(offset);
        if left == 0 {
            return Ok(Next::End);
        }
        if left < FRAME_HEADER as u64 {
            return Ok(Next::Torn {
                offset,
                reason: format!("{left} bytes, less than a frame header"),
            });
        }
        let mut hdr = [0u8; FRAME_HEADER];
        self.r
            .read_exact(&mut hdr)
            .ctx(|| format!("reading {}", self.path.display()))?;
        let len = u32::from_le_bytes(hdr[0..4].try_into().expect("4")) as u64;
        let crc = u32::from_le_bytes(hdr[4..8].try_into().expect("4"));
        if len == 0 || len > MAX_FRAME as u64 {
            return Ok(Next::Corrupt {
                offset,
                reason: format!("frame length {len} out of range"),
            });
        }
        if left < FRAME_HEADER as u64 + len {
            return Ok(Next::Torn {
                offset,
                reason: format!(
                    "frame of {len} bytes but only {} left",
                    left - FRAME_HEADER as u64
                ),
            });
        }
        let mut payload = vec![0u8; len as usize];
        self.r
            .read_exact(&mut payload)
            .ctx(|| format!("reading {}", self.path.display()))?;
        let actual = crc32c::crc32c(&payload);
        if actual != crc {
            return Ok(Next::Corrupt {
                offset,
                reason: format!("CRC32C mismatch: header {crc:08x}, payload {actual:08x}"),
            });
        }
        self.pos = offset + FRAME_HEADER as u64 + len;
        Ok(Next::Frame { offset, payload })
    }
}

/// Reads and CRC-checks the frame at `offset` (random access for search).
pub fn read_frame_at(path: &Path, offset: u64) -> Result<Vec<u8>> {
    let f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let corrupt = |reason: String| StoreError::Corrupt {
        file: path.to_path_buf(),
        offset,
        reason,
    };
    let mut hdr = [0u8; FRAME_HEADER];
    f.read_exact_at(&mut hdr, offset)
        .ctx(|| format!("reading {} at {offset}", path.display()))?;
    let len = u32::from_le_bytes(hdr[0..4].try_into().expect("4")) as usize;
    let crc = u32::from_le_bytes(hdr[4..8].try_into().expect("4"));
    if len == 0 || len > MAX_FRAME {
        return Err(corrupt(format!("frame length {len} out of range")));
    }
    let mut payload = vec![0u8; len];
    f.read_exact_at(&mut payload, offset + FRAME_HEADER as u64)
        .ctx(|| format!("reading {} at {offset}", path.display()))?;
    if crc32c::crc32c(&payload) != crc {
        return Err(corrupt("CRC32C mismatch".into()));
    }
    Ok(payload)
}

/// fsyncs a directory so a created or removed file name is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("fsync dir {}", dir.display()))
}

/// The open, appendable segment of this process's writer stream.
pub struct SegmentWriter {
    file: File,
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub len: u64,
    pub blocks: u64,
    pub events: u64,
    pub last_hash: Hash,
    /// Seq of the last event written (header.first_seq - 1 when empty).
    pub last_seq: u64,
    pub max_time_us: i64,
}

impl SegmentWriter {
    /// Starts the next segment of `writer`'s stream as every new segment
    /// is written now: hashed with [`ChainHash::CURRENT`], created now.
    pub fn start(
        store: &Path,
        writer: &str,
        segment_seq: u64,
        first_seq: u64,
        prev_hash: Hash,
    ) -> Result<Self> {
        Self::create(
            store,
            SegmentHeader {
                hash: ChainHash::CURRENT,
                writer: writer.to_string(),
                segment_seq,
                first_seq,
                prev_hash,
                created_us: chrono::Utc::now().timestamp_micros(),
            },
        )
    }

    /// Creates a new segment and makes its header durable.
    pub fn create(store: &Path, header: SegmentHeader) -> Result<Self> {
        let dir = segments_dir(store);
        std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        let path = dir.join(segment_file_name(&header.writer, header.segment_seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&path)
            .ctx(|| format!("creating {}", path.display()))?;
        let mut buf = Vec::new();
        encode_frame(&header.encode(), &mut buf);
        file.write_all(&buf)
            .and_then(|_| file.sync_all())
            .ctx(|| format!("writing header of {}", path.display()))?;
        sync_dir(&dir)?;
        Ok(SegmentWriter {
            file,
            path,
            len: buf.len() as u64,
            blocks: 0,
            events: 0,
            last_hash: header.prev_hash,
            last_seq: header.first_seq.wrapping_sub(1),
            max_time_us: 0,
            header,
        })
    }

    /// Reopens a recovered, unsealed segment for appending.
    pub fn reopen(s: &RecoveredSegment) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&s.path)
            .ctx(|| format!("reopening {}", s.path.display()))?;
        Ok(SegmentWriter {
            file,
            path: s.path.clone(),
            header: s.header.clone(),
            len: s.len,
            blocks: s.blocks,
            events: s.events,
            last_hash: s.last_hash,
            last_seq: s.last_seq,
            max_time_us: s.max_time_us,
        })
    }

    /// Appends framed bytes (one or more frames); returns their offset.
    pub fn write_frames(&mut self, frames: &[u8]) -> Result<u64> {
        let at = self.len;
        self.file
            .write_all(frames)
            .ctx(|| format!("appending to {}", self.path.display()))?;
        self.len += frames.len() as u64;
        Ok(at)
    }

    /// Appends one frame held in pieces (a block's head and its raw body)
    /// with vectored writes: the body is not copied into one buffer first.
    /// Returns its offset.
    pub fn write_frame_parts(&mut self, parts: &[&[u8]]) -> Result<u64> {
        let at = self.len;
        let mut slices: Vec<std::io::IoSlice<'_>> =
            parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut left: &mut [std::io::IoSlice<'_>] = &mut slices;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut written = 0;
        while written < total {
            let n = match self.file.write_vectored(left) {
                Ok(0) => Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
                Err(e) => Err(e),
            }
            .ctx(|| format!("appending to {}", self.path.display()))?;
            written += n;
            std::io::IoSlice::advance_slices(&mut left, n);
        }
        self.len += total as u64;
        Ok(at)
    }

    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .ctx(|| format!("fsync {}", self.path.display()))
    }

    /// Writes the seal frame and fsyncs: the segment is now immutable.
    pub fn seal(mut self) -> Result<(Hash, u64)> {
        let seal = Seal {
            last_hash: self.last_hash,
            blocks: self.blocks,
            events: self.events,
            last_seq: self.last_seq,
            max_time_us: self.max_time_us,
        };
        let mut buf = Vec::new();
        encode_frame(&seal.encode(), &mut buf);
        self.write_frames(&buf)?;
        self.sync()?;
        Ok((self.last_hash, self.last_seq))
    }
}

/// What recovery found at the end of a stream.
#[derive(Debug, Clone)]
pub struct RecoveredSegment {
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub len: u64,
    pub blocks: u64,
    pub events: u64,
    pub last_hash: Hash,
    pub last_seq: u64,
    pub max_time_us: i64,
    pub sealed: bool,
    /// Bytes cut from a torn tail (kept under `quarantine/`).
    pub truncated: u64,
}

/// Scans a segment; with `repair`, cuts a torn or corrupt tail after moving
/// the cut bytes to `quarantine/` (nothing is destroyed silently).
pub fn scan_segment(store: &Path, path: &Path, repair: bool) -> Result<Option<RecoveredSegment>> {
    let mut r = FrameReader::open(path, 0)?;
    let header = match r.next_frame()? {
        Next::Frame { payload, .. } if payload.first() == Some(&KIND_SEGMENT) => {
            SegmentHeader::decode(&payload).map_err(|reason| StoreError::Corrupt {
                file: path.to_path_buf(),
                offset: 0,
                reason,
            })?
        }
        _ => return Ok(None),
    };
    let mut s = RecoveredSegment {
        path: path.to_path_buf(),
        len: r.position(),
        blocks: 0,
        events: 0,
        last_hash: header.prev_hash,
        last_seq: header.first_seq.wrapping_sub(1),
        max_time_us: 0,
        sealed: false,
        truncated: 0,
        header,
    };
    loop {
        match r.next_frame()? {
            Next::Frame { payload, offset } => match payload.first() {
                Some(&KIND_BLOCK) if !s.sealed => {
                    let (h, _) =
                        decode_block_header(&payload).map_err(|reason| StoreError::Corrupt {
                            file: path.to_path_buf(),
                            offset,
                            reason,
                        })?;
                    // The segment's own hash: KACSEG01 segments stay SHA-256.
                    s.last_hash = s.header.hash.hash(&payload);
                    s.last_seq = h.last_seq();
                    s.blocks += 1;
                    s.events += u64::from(h.count);
                    s.max_time_us = s.max_time_us.max(h.max_time_us);
                    s.len = r.position();
                }
                Some(&KIND_SEAL) if !s.sealed => {
                    s.sealed = true;
                    s.len = r.position();
                }
                _ => {
                    return Err(StoreError::Corrupt {
                        file: path.to_path_buf(),
                        offset,
                        reason: "unexpected frame kind".into(),
                    })
                }
            },
            Next::End => break,
            Next::Torn { offset, .. } | Next::Corrupt { offset, .. } => {
                let cut = r.file_len() - offset;
                if repair {
                    quarantine_tail(store, path, offset)?;
                    s.truncated = cut;
                }
                break;
            }
        }
    }
    Ok(Some(s))
}

fn quarantine_tail(store: &Path, path: &Path, offset: u64) -> Result<()> {
    let q = store.join("quarantine");
    std::fs::create_dir_all(&q).ctx(|| format!("creating {}", q.display()))?;
    let mut tail = Vec::new();
    let mut f = File::open(path).ctx(|| format!("opening {}", path.display()))?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))
        .and_then(|_| f.read_to_end(&mut tail))
        .ctx(|| format!("reading tail of {}", path.display()))?;
    let name = format!(
        "{}.{offset}.tail",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("segment")
    );
    std::fs::write(q.join(&name), &tail).ctx(|| format!("writing quarantine/{name}"))?;
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .ctx(|| format!("opening {}", path.display()))?;
    f.set_len(offset)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("truncating {} to {offset}", path.display()))?;
    tracing::warn!(
        file = %path.display(),
        offset,
        bytes = tail.len(),
        "recovery cut a torn tail (kept in quarantine/)"
    );
    Ok(())
}

/// State of a writer stream after recovery.
pub struct StreamTail {
    /// Seq of the next event to append.
    pub next_seq: u64,
    pub last_hash: Hash,
    pub next_segment_seq: u64,
    /// The last segment, if it can still be appended to.
    pub active: Option<RecoveredSegment>,
}

/// Recovers the tail of `writer`'s stream: cuts a torn tail, drops a
/// segment whose header never made it to disk, and says where to go on.
pub fn recover_stream(store: &Path, writer: &str) -> Result<StreamTail> {
    let streams = list_streams(store)?;
    let mut segs = streams.get(writer).cloned().unwrap_or_default();
    while let Some((seq, path)) = segs.pop() {
        match scan_segment(store, &path, true)? {
            Some(s) => {
                let tail = StreamTail {
                    next_seq: s.last_seq.wrapping_add(1),
                    last_hash: s.last_hash,
                    next_segment_seq: seq + 1,
                    active: (!s.sealed).then_some(s),
                };
                return Ok(tail);
            }
            None => {
                // Crash while creating the segment: its header is not there.
                quarantine_tail(store, &path, 0)?;
                std::fs::remove_file(&path).ctx(|| format!("removing {}", path.display()))?;
                sync_dir(&segments_dir(store))?;
                if segs.is_empty() {
                    return Ok(StreamTail {
                        next_seq: 1,
                        last_hash: ZERO_HASH,
                        next_segment_seq: seq,
                        active: None,
                    });
                }
            }
        }
    }
    let anchor = super::anchor::read(store, writer)?;
    Ok(match anchor {
        Some(a) => StreamTail {
            next_seq: a.next_seq,
            last_hash: a.prev_hash,
            next_segment_seq: a.next_segment_seq,
            active: None,
        },
        None => StreamTail {
            next_seq: 1,
            last_hash: ZERO_HASH,
            next_segment_seq: 1,
            active: None,
        },
    })
}
