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

fn data_event(i: u8) -> kac_event::Event {
    use kac_event::{DataStream, Event, SessionEvent};
    Event::Session(SessionEvent::Data {
        session_id: "0193-s".into(),
        time: chrono::DateTime::from_timestamp(1_770_000_000 + i64::from(i), 5_000).unwrap(),
        offset_us: u64::from(i) * 10,
        stream: DataStream::Stdout,
        data: vec![i, 0, 0xff, b'{', b'"'],
    })
}

/// The first block of a segment made by `segment`.
fn first_block(buf: &[u8]) -> DecodedBlock {
    let FrameRead::Frame { total, .. } = decode_frame(buf) else {
        panic!("no segment header")
    };
    let FrameRead::Frame { payload, .. } = decode_frame(&buf[total..]) else {
        panic!("no block")
    };
    decode_block(payload).unwrap()
}

/// A block as written before session data had a binary record: every
/// event JSON, session output base64 inside it. It still reads the same.
#[test]
fn old_format_block_with_json_session_data_decodes() {
    let evs: Vec<kac_event::Event> = (0..4).map(data_event).collect();
    let jsons: Vec<Vec<u8>> = evs.iter().map(|e| serde_json::to_vec(e).unwrap()).collect();
    assert!(jsons[0].starts_with(b"{\"type\":\"session\",\"event\":\"session.data\""));
    let (buf, _) = segment(&jsons, 8);
    assert_eq!(fuzz_decode_segment(&buf), 4);
    let b = first_block(&buf);
    for (i, ev) in evs.iter().enumerate() {
        assert_eq!(&b.event(i).unwrap(), ev);
        assert_eq!(b.record(i).unwrap(), jsons[i].as_slice());
        assert!(matches!(b.json(i).unwrap(), std::borrow::Cow::Borrowed(_)));
        let (e, j) = b.event_and_json(i).unwrap();
        assert_eq!((&e, j.as_ref()), (ev, jsons[i].as_slice()));
    }
}

/// New blocks mix binary session data records with JSON events; readers
/// get the same events and the same JSON as from the all-JSON form.
#[test]
fn mixed_block_reads_like_all_json() {
    let mut evs: Vec<kac_event::Event> = (0..3).map(data_event).collect();
    evs.insert(
        1,
        kac_event::Event::Api(Box::new(kac_event::ApiEvent {
            id: "e1".into(),
            ..Default::default()
        })),
    );
    let recs: Vec<Vec<u8>> = evs
        .iter()
        .map(|e| {
            let mut r = Vec::new();
            super::record::encode_record(e, &mut r).unwrap();
            r
        })
        .collect();
    assert_eq!(recs[0][0], super::record::TAG_SESSION_DATA);
    assert_eq!(recs[1][0], b'{');
    let (buf, _) = segment(&recs, 8);
    assert_eq!(fuzz_decode_segment(&buf), 4);
    let b = first_block(&buf);
    for (i, ev) in evs.iter().enumerate() {
        let json = serde_json::to_vec(ev).unwrap();
        assert_eq!(&b.event(i).unwrap(), ev);
        assert_eq!(b.json(i).unwrap().as_ref(), json.as_slice());
        let (e, j) = b.event_and_json(i).unwrap();
        assert_eq!((&e, j.as_ref()), (ev, json.as_slice()));
    }
    // A malformed binary record is an error, not a panic or a skip.
    let mut bad = recs.clone();
    bad[2].truncate(5);
    let (buf, _) = segment(&bad, 8);
    assert_eq!(fuzz_decode_segment(&buf), 3);
}

/// A forged event count (2^32 - 1) over a tiny body is an error, not a
/// 64 GiB allocation (fuzz artifact crash-99ced290… of store_segment).
#[test]
fn forged_event_count_does_not_allocate_for_it() {
    let raw = [RawEvent {
        json: b"{}",
        time_us: 0,
    }];
    let mut p = encode_block(1, &ZERO_HASH, &raw, 1).unwrap();
    p[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_block(&p)
        .unwrap_err()
        .contains("header says 4294967295"));
    let artifact = [
        0x02, 0x00, 0x00, 0x26, 0x6d, 0xd9, 0x7c, 0x47, 0xac, 0x30, 0xff, 0xff, 0xff, 0xff, 0x3c,
        0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0xaf, 0xaf, 0xaf, 0xaf, 0xaf, 0xaf, 0xaf,
        0xaf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    fuzz_decode_segment(&artifact);
}
