//! Stores written before BLAKE3: their KACSEG01 (SHA-256) segments still
//! read, recover and verify, a store that goes on writing links its first
//! KACSEG02 (BLAKE3) segment to the old chain, and tampering is detected on
//! both sides of the switch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_store::gen::Generator;
use kac_store::log::codec::{
    decode_frame, encode_block, encode_frame, ChainHash, FrameRead, Hash, RawEvent, Seal,
    SegmentHeader, FRAME_HEADER, KIND_BLOCK, ZERO_HASH,
};
use kac_store::log::segment::{list_streams, segment_file_name, segments_dir};
use kac_store::log::verify::verify_log;
use kac_store::log::{scan_blocks, Position};
use kac_store::{Store, StoreOptions};

const WRITER: &str = "old";

fn opts() -> StoreOptions {
    StoreOptions {
        writer_id: WRITER.into(),
        fsync_interval: Duration::from_millis(1),
        block_max_events: 4,
        segment_max_bytes: 2 << 10,
        index: false,
        ..Default::default()
    }
}

fn generator(seed: u64) -> Generator {
    Generator::new(
        seed,
        DateTime::<Utc>::from_timestamp(1_770_000_000, 0).unwrap(),
    )
}

/// Writes segment 1 of `WRITER` as the store did before BLAKE3: KACSEG01,
/// blocks linked by SHA-256; sealed or not. Returns its path and events.
fn write_old_segment(store: &Path, blocks: usize, sealed: bool) -> (PathBuf, Vec<Vec<u8>>) {
    let header = SegmentHeader {
        hash: ChainHash::Sha256,
        writer: WRITER.into(),
        segment_seq: 1,
        first_seq: 1,
        prev_hash: ZERO_HASH,
        created_us: Utc::now().timestamp_micros(),
    };
    let mut out = Vec::new();
    encode_frame(&header.encode(), &mut out);
    let mut g = generator(3);
    let (mut prev, mut seq, mut all) = (ZERO_HASH, 1u64, Vec::new());
    for _ in 0..blocks {
        let jsons: Vec<Vec<u8>> = (0..3)
            .map(|_| serde_json::to_vec(&g.api()).unwrap())
            .collect();
        let raw: Vec<RawEvent<'_>> = jsons
            .iter()
            .map(|j| RawEvent {
                json: j,
                time_us: 1_770_000_000_000_000,
            })
            .collect();
        let p = encode_block(seq, &prev, &raw, 6).unwrap();
        prev = ChainHash::Sha256.hash(&p);
        seq += 3;
        encode_frame(&p, &mut out);
        all.extend(jsons);
    }
    if sealed {
        let seal = Seal {
            last_hash: prev,
            blocks: blocks as u64,
            events: seq - 1,
            last_seq: seq - 1,
            max_time_us: 1_770_000_000_000_000,
        };
        encode_frame(&seal.encode(), &mut out);
    }
    let dir = segments_dir(store);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(segment_file_name(WRITER, 1));
    std::fs::write(&path, out).unwrap();
    (path, all)
}

/// Appends `n` events through a store opened on `dir`.
fn append(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let st = Store::open(dir, opts()).unwrap();
    let w = st.writer();
    let mut g = generator(9);
    let mut out = Vec::new();
    for _ in 0..n {
        let ev = g.api();
        out.push(serde_json::to_vec(&ev).unwrap());
        let s = w.append(ev).unwrap();
        w.wait_durable(s).unwrap();
    }
    st.close().unwrap();
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    list_streams(dir).unwrap()[WRITER]
        .iter()
        .map(|(_, p)| p.clone())
        .collect()
}

fn magic(path: &Path) -> [u8; 8] {
    std::fs::read(path).unwrap()[FRAME_HEADER + 1..FRAME_HEADER + 9]
        .try_into()
        .unwrap()
}

fn all_json(dir: &Path) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    scan_blocks(dir, &Position::default(), |b| {
        for i in 0..b.decoded.len() {
            got.push(b.decoded.json(i).unwrap().to_vec());
        }
        Ok(true)
    })
    .unwrap();
    got
}

/// Offsets of the block frames of a segment file.
fn block_offsets(bytes: &[u8]) -> Vec<usize> {
    let (mut pos, mut out) = (0, Vec::new());
    while let FrameRead::Frame { payload, total } = decode_frame(&bytes[pos..]) {
        if payload[0] == KIND_BLOCK {
            out.push(pos);
        }
        pos += total;
    }
    out
}

/// Changes one byte inside a block's payload and fixes the frame's CRC:
/// only the hash chain can tell.
fn forge(path: &Path, frame_at: usize, byte_in_payload: usize) {
    let mut b = std::fs::read(path).unwrap();
    let len = u32::from_le_bytes(b[frame_at..frame_at + 4].try_into().unwrap()) as usize;
    let payload = frame_at + FRAME_HEADER;
    b[payload + byte_in_payload] ^= 0x20;
    let crc = crc32c::crc32c(&b[payload..payload + len]);
    b[frame_at + 4..frame_at + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

#[test]
fn old_sha256_segments_chain_into_new_blake3_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mut expected) = write_old_segment(dir.path(), 3, true);
    assert!(verify_log(dir.path()).unwrap().ok());
    expected.extend(append(dir.path(), 30));
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "want rotation, got {segs:?}");
    assert_eq!(&magic(&segs[0]), b"KACSEG01");
    for s in &segs[1..] {
        assert_eq!(&magic(s), b"KACSEG02", "{}", s.display());
    }
    let r = verify_log(dir.path()).unwrap();
    assert!(r.ok(), "{:?}", r.errors);
    assert_eq!(r.streams[0].events, 39);
    assert_eq!(all_json(dir.path()), expected);

    // The link across the switch: segment 2's header carries SHA-256 of
    // the old segment's last block.
    let bytes = std::fs::read(&old).unwrap();
    let last = *block_offsets(&bytes).last().unwrap();
    let len = u32::from_le_bytes(bytes[last..last + 4].try_into().unwrap()) as usize;
    let want: Hash = ChainHash::Sha256.hash(&bytes[last + FRAME_HEADER..][..len]);
    let seg2 = std::fs::read(&segs[1]).unwrap();
    let FrameRead::Frame { payload, .. } = decode_frame(&seg2) else {
        panic!("no header")
    };
    assert_eq!(SegmentHeader::decode(payload).unwrap().prev_hash, want);

    // A forged block (CRC fixed) is caught by the chain in either format:
    // the old segment's first block, and a BLAKE3 segment's first block.
    for seg in [&segs[0], &segs[1]] {
        let orig = std::fs::read(seg).unwrap();
        let first = block_offsets(&orig)[0];
        forge(seg, first, 60); // inside the compressed body
        let r = verify_log(dir.path()).unwrap();
        assert!(!r.ok(), "forged block in {} went unnoticed", seg.display());
        assert_eq!(&r.errors[0].file, seg);
        std::fs::write(seg, &orig).unwrap();
        // A plain flip (CRC not fixed) is caught too.
        let mut b = orig.clone();
        b[first + FRAME_HEADER + 60] ^= 1;
        std::fs::write(seg, &b).unwrap();
        assert!(!verify_log(dir.path()).unwrap().ok());
        std::fs::write(seg, &orig).unwrap();
    }
    assert!(verify_log(dir.path()).unwrap().ok());

    // Indexing the mixed store (JSON API records in the old segment, binary
    // ones after it) finds every event, each by its own user.
    let st = Store::open(
        dir.path(),
        StoreOptions {
            index: true,
            ..opts()
        },
    )
    .unwrap();
    let all = st.search(&kac_store::Query::default(), 1_000).unwrap();
    assert_eq!(all.len(), 39);
    let events: Vec<kac_event::Event> = expected
        .iter()
        .map(|j| serde_json::from_slice(j).unwrap())
        .collect();
    for ev in &events {
        let kac_event::Event::Api(a) = ev else {
            panic!("API events only")
        };
        let mut q = kac_store::Query::default().with(kac_store::Field::User, &a.user.name);
        if !a.name.is_empty() {
            // An empty value is not a term (cluster-wide lists have none).
            q = q.with(kac_store::Field::Name, &a.name);
        }
        let hits = st.search(&q, 1_000).unwrap();
        assert!(
            hits.iter().any(|h| h.event == *ev),
            "{} {} not found",
            a.user.name,
            a.name
        );
        assert!(hits.iter().all(|h| match &h.event {
            kac_event::Event::Api(b) => {
                b.user.name == a.user.name && (a.name.is_empty() || b.name == a.name)
            }
            _ => false,
        }));
    }
}

/// A crash left an old, unsealed KACSEG01 segment: the upgraded writer
/// reopens it and appends SHA-256-linked blocks to it (a segment never
/// mixes hashes), then moves on to BLAKE3 with the next segment.
#[test]
fn an_unsealed_old_segment_is_continued_with_its_own_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mut expected) = write_old_segment(dir.path(), 1, false);
    let before = std::fs::metadata(&old).unwrap().len();
    expected.extend(append(dir.path(), 2));
    assert!(
        std::fs::metadata(&old).unwrap().len() > before,
        "not appended to"
    );
    assert_eq!(&magic(&old), b"KACSEG01");
    let r = verify_log(dir.path()).unwrap();
    assert!(r.ok(), "{:?}", r.errors);
    expected.extend(append(dir.path(), 30));
    let segs = segments(dir.path());
    assert_eq!(&magic(segs.last().unwrap()), b"KACSEG02");
    let r = verify_log(dir.path()).unwrap();
    assert!(r.ok(), "{:?}", r.errors);
    assert_eq!(all_json(dir.path()), expected);
}
