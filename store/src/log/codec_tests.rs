use super::*;
use proptest::prelude::*;

fn segment(events: &[Vec<u8>], per_block: usize) -> (Vec<u8>, Hash) {
    let mut out = Vec::new();
    let h = SegmentHeader {
        writer: "w1".into(),
        segment_seq: 3,
        first_seq: 10,
        prev_hash: ZERO_HASH,
        created_us: 5,
    };
    encode_frame(&h.encode(), &mut out);
    let mut prev = ZERO_HASH;
    let mut seq = 10;
    for chunk in events.chunks(per_block.max(1)) {
        let raw: Vec<RawEvent<'_>> = chunk
            .iter()
            .map(|j| RawEvent {
                json: j,
                time_us: 1,
            })
            .collect();
        let p = encode_block(seq, &prev, &raw, 1).unwrap();
        prev = block_hash(&p);
        seq += chunk.len() as u64;
        encode_frame(&p, &mut out);
    }
    (out, prev)
}

#[test]
fn frames_and_blocks_round_trip() {
    let evs: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("{{\"n\":{i}}}").into_bytes())
        .collect();
    let (buf, _) = segment(&evs, 4);
    let FrameRead::Frame { payload, total } = decode_frame(&buf) else {
        panic!()
    };
    let h = SegmentHeader::decode(payload).unwrap();
    assert_eq!(
        (h.writer.as_str(), h.segment_seq, h.first_seq),
        ("w1", 3, 10)
    );
    let mut pos = total;
    let mut got = Vec::new();
    let mut prev = ZERO_HASH;
    while pos < buf.len() {
        let FrameRead::Frame { payload, total } = decode_frame(&buf[pos..]) else {
            panic!()
        };
        let b = decode_block(payload).unwrap();
        assert_eq!(b.header.prev_hash, prev);
        prev = block_hash(payload);
        for i in 0..b.len() {
            got.push(b.json(i).unwrap().to_vec());
        }
        pos += total;
    }
    assert_eq!(got, evs);
    let s = Seal {
        last_hash: prev,
        blocks: 3,
        events: 10,
        last_seq: 19,
        max_time_us: 1,
    };
    assert_eq!(Seal::decode(&s.encode()).unwrap(), s);
}

#[test]
fn torn_and_corrupt_frames_are_told_apart() {
    let mut buf = Vec::new();
    encode_frame(b"\x02hello", &mut buf);
    assert_eq!(decode_frame(&buf[..buf.len() - 1]), FrameRead::Incomplete);
    assert_eq!(decode_frame(&buf[..3]), FrameRead::Incomplete);
    let mut bad = buf.clone();
    bad[9] ^= 1;
    assert!(matches!(decode_frame(&bad), FrameRead::Corrupt(_)));
    let mut zero = buf.clone();
    zero[0..4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(decode_frame(&zero), FrameRead::Corrupt(_)));
}

#[test]
fn block_count_mismatch_is_rejected() {
    let raw = [RawEvent {
        json: b"{}",
        time_us: 0,
    }];
    let mut p = encode_block(1, &ZERO_HASH, &raw, 1).unwrap();
    p[9] = 2; // count
    assert!(decode_block(&p).unwrap_err().contains("header says 2"));
}

proptest! {
    #[test]
    fn fuzz_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzz_decode_segment(&data);
    }

    #[test]
    fn mutated_segments_never_panic(
        n in 1usize..20,
        per in 1usize..6,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let evs: Vec<Vec<u8>> = (0..n).map(|i| format!("{{\"i\":{i}}}").into_bytes()).collect();
        let (mut buf, _) = segment(&evs, per);
        prop_assert_eq!(fuzz_decode_segment(&buf), 0); // not kac events: none parse
        let i = at.index(buf.len());
        buf[i] ^= byte | 1;
        fuzz_decode_segment(&buf);
    }
}
