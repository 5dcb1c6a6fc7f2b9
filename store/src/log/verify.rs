//! `verify`: walks every stream from its anchor to its head and reports the
//! first byte where the log stops being what the writer wrote: a bad CRC,
//! a broken hash link (altered or reordered block), a gap in event seqs or
//! segment numbers (removed data), a missing seal (truncated segment).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::codec::{self, ChainHash, Hash, Seal, SegmentHeader, ZERO_HASH};
use super::segment::{list_streams, FrameReader, Next};
use crate::error::Result;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyIssue {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    pub writer: String,
    pub segments: u64,
    pub blocks: u64,
    pub events: u64,
    /// Seq of the last event (the head of the stream).
    pub last_seq: u64,
    /// Hash of the last block, hex: publish it elsewhere to anchor the chain.
    pub head_hash: String,
    /// Set when the stream starts from a prune anchor.
    pub anchored_at_segment: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub streams: Vec<StreamReport>,
    /// The first problem of each broken stream, in stream order.
    pub errors: Vec<VerifyIssue>,
    /// An unsealed tail still being written (or torn by a crash not yet
    /// recovered): not an error, the writer's recovery cuts it.
    pub warnings: Vec<VerifyIssue>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Verifies every stream of the store.
pub fn verify_log(store: &Path) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    for (writer, segs) in list_streams(store)? {
        let (rep, err, warn) = verify_stream(store, &writer, &segs)?;
        report.streams.push(rep);
        report.errors.extend(err);
        report.warnings.extend(warn);
    }
    Ok(report)
}

type StreamOutcome = (StreamReport, Option<VerifyIssue>, Option<VerifyIssue>);

fn verify_stream(store: &Path, writer: &str, segs: &[(u64, PathBuf)]) -> Result<StreamOutcome> {
    let anchor = super::anchor::read(store, writer)?;
    let mut rep = StreamReport {
        writer: writer.to_string(),
        anchored_at_segment: anchor.as_ref().map(|a| a.next_segment_seq),
        ..Default::default()
    };
    let mut prev: Hash = anchor.as_ref().map_or(ZERO_HASH, |a| a.prev_hash);
    let mut next_seq = anchor.as_ref().map_or(1, |a| a.next_seq);
    let first_segment = anchor.as_ref().map_or(1, |a| a.next_segment_seq);
    // Segments an interrupted prune already anchored past are as good as gone.
    let first_kept = anchor.as_ref().map_or(0, |a| a.next_segment_seq);
    let segs: Vec<(u64, PathBuf)> = segs
        .iter()
        .filter(|(s, _)| *s >= first_kept)
        .cloned()
        .collect();
    let issue = |file: &Path, offset: u64, reason: String| VerifyIssue {
        file: file.to_path_buf(),
        offset,
        reason,
    };
    for (i, (seq, path)) in segs.iter().enumerate() {
        let last_segment = i + 1 == segs.len();
        let next_segment = first_segment + i as u64;
        if *seq != next_segment {
            let r = format!("segment {next_segment} of stream {writer} is missing (found {seq})");
            return Ok((rep, Some(issue(path, 0, r)), None));
        }
        rep.segments += 1;
        let mut r = FrameReader::open(path, 0)?;
        let (mut seg_blocks, mut seg_events) = (0u64, 0u64);
        let mut sealed = false;
        let mut first = true;
        // Set by the header: how this segment's blocks are hashed.
        let mut alg = ChainHash::CURRENT;
        loop {
            let (offset, payload) = match r.next_frame()? {
                Next::Frame { offset, payload } => (offset, payload),
                Next::End => break,
                Next::Torn { offset, reason } if last_segment && !sealed => {
                    let w = issue(path, offset, format!("unsealed tail: {reason}"));
                    return Ok((finish(rep, prev, next_seq), None, Some(w)));
                }
                Next::Torn { offset, reason } | Next::Corrupt { offset, reason } => {
                    return Ok((rep, Some(issue(path, offset, reason)), None));
                }
            };
            if sealed {
                let r = "data after the seal".to_string();
                return Ok((rep, Some(issue(path, offset, r)), None));
            }
            let check = if first {
                first = false;
                check_header(&payload, writer, *seq, next_seq, &prev).map(|h| alg = h)
            } else {
                match payload.first() {
                    Some(&codec::KIND_BLOCK) => {
                        check_block(&payload, alg, &mut prev, &mut next_seq).map(|n| {
                            seg_blocks += 1;
                            seg_events += n;
                        })
                    }
                    Some(&codec::KIND_SEAL) => {
                        sealed = true;
                        check_seal(&payload, &prev, next_seq, seg_blocks, seg_events)
                    }
                    _ => Err("unknown frame kind".to_string()),
                }
            };
            if let Err(reason) = check {
                return Ok((rep, Some(issue(path, offset, reason)), None));
            }
        }
        rep.blocks += seg_blocks;
        rep.events += seg_events;
        if first {
            let r = "empty segment file (no header)".to_string();
            return Ok((rep, Some(issue(path, 0, r)), None));
        }
        if !sealed && !last_segment {
            let r = "segment is not sealed but is not the last one: truncated".to_string();
            return Ok((rep, Some(issue(path, r_len(path), r)), None));
        }
    }
    Ok((finish(rep, prev, next_seq), None, None))
}

fn r_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn finish(mut rep: StreamReport, head: Hash, next_seq: u64) -> StreamReport {
    rep.head_hash = hex::encode(head);
    rep.last_seq = next_seq.saturating_sub(1);
    rep
}

fn check_header(
    payload: &[u8],
    writer: &str,
    seq: u64,
    next_seq: u64,
    prev: &Hash,
) -> Result<ChainHash, String> {
    let h = SegmentHeader::decode(payload)?;
    if h.writer != writer || h.segment_seq != seq {
        return Err(format!(
            "header names {}-{} but the file is {writer}-{seq}",
            h.writer, h.segment_seq
        ));
    }
    if h.first_seq != next_seq {
        return Err(format!(
            "segment starts at event {} but {next_seq} was expected",
            h.first_seq
        ));
    }
    if &h.prev_hash != prev {
        return Err("segment header does not continue the hash chain".into());
    }
    Ok(h.hash)
}

/// Checks a block of a segment whose blocks `alg` hashes.
fn check_block(
    payload: &[u8],
    alg: ChainHash,
    prev: &mut Hash,
    next_seq: &mut u64,
) -> Result<u64, String> {
    let b = codec::decode_block(payload)?;
    if &b.header.prev_hash != prev {
        return Err("hash chain broken: block does not follow the previous one".into());
    }
    if b.header.first_seq != *next_seq {
        return Err(format!(
            "block starts at event {} but {} was expected",
            b.header.first_seq, next_seq
        ));
    }
    if b.header.count == 0 {
        return Err("empty block".into());
    }
    for i in 0..b.len() {
        b.event(i)?;
    }
    *prev = alg.hash(payload);
    *next_seq += u64::from(b.header.count);
    Ok(u64::from(b.header.count))
}

fn check_seal(
    payload: &[u8],
    prev: &Hash,
    next_seq: u64,
    blocks: u64,
    events: u64,
) -> Result<(), String> {
    let s = Seal::decode(payload)?;
    if &s.last_hash != prev
        || s.blocks != blocks
        || s.events != events
        || s.last_seq != next_seq.wrapping_sub(1)
    {
        return Err(format!(
            "seal says {} blocks / {} events up to {}, segment has {blocks} / {events} up to {}",
            s.blocks,
            s.events,
            s.last_seq,
            next_seq.wrapping_sub(1)
        ));
    }
    Ok(())
}
