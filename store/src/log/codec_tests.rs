use super::*;
use proptest::prelude::*;

fn segment(events: &[Vec<u8>], per_block: usize) -> (Vec<u8>, Hash) {
    let mut out = Vec::new();
    let h = SegmentHeader {
        hash: ChainHash::CURRENT,
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

/// New blocks mix binary session data and API records with JSON events;
/// readers get the same events and the same JSON as from the all-JSON form.
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
    evs.push(kac_event::Event::Session(kac_event::SessionEvent::Resize {
        session_id: "s".into(),
        time: chrono::DateTime::from_timestamp(5, 0).unwrap(),
        offset_us: 3,
        width: 80,
        height: 24,
    }));
    let recs: Vec<Vec<u8>> = evs
        .iter()
        .map(|e| {
            let mut r = Vec::new();
            super::record::encode_record(e, &mut r).unwrap();
            r
        })
        .collect();
    assert_eq!(recs[0][0], super::record::TAG_SESSION_DATA);
    assert_eq!(recs[1][0], crate::log::api_record::TAG_API);
    assert_eq!(recs[4][0], b'{');
    let (buf, _) = segment(&recs, 8);
    assert_eq!(fuzz_decode_segment(&buf), 5);
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
    bad[1].truncate(9);
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

#[test]
fn segment_magic_names_the_chain_hash() {
    for (alg, magic) in [
        (ChainHash::Sha256, b"KACSEG01"),
        (ChainHash::Blake3, b"KACSEG02"),
    ] {
        let h = SegmentHeader {
            hash: alg,
            writer: "w".into(),
            segment_seq: 1,
            first_seq: 1,
            prev_hash: ZERO_HASH,
            created_us: 0,
        };
        let p = h.encode();
        assert_eq!(&p[1..9], magic);
        assert_eq!(SegmentHeader::decode(&p).unwrap(), h);
    }
    let mut p = SegmentHeader {
        hash: ChainHash::CURRENT,
        writer: "w".into(),
        segment_seq: 1,
        first_seq: 1,
        prev_hash: ZERO_HASH,
        created_us: 0,
    }
    .encode();
    p[8] = b'9';
    assert_eq!(SegmentHeader::decode(&p).unwrap_err(), "bad segment magic");
    // The two functions really differ, and SHA-256 is still SHA-256.
    assert_ne!(ChainHash::Sha256.hash(b"x"), ChainHash::Blake3.hash(b"x"));
    assert_eq!(
        hex::encode(ChainHash::Sha256.hash(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex::encode(ChainHash::Blake3.hash(b"abc")),
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
}

/// Encodes one block frame of `events` with the writer's path (sampling).
fn sampled_block(events: &[Vec<u8>], sample: bool) -> (Vec<u8>, DecodedBlock) {
    let mut raw = Vec::new();
    for e in events {
        raw.extend_from_slice(&(e.len() as u32).to_le_bytes());
        raw.extend_from_slice(e);
    }
    let body = BlockBody {
        first_seq: 7,
        count: events.len() as u32,
        min_time_us: 1,
        max_time_us: 2,
        raw: &raw,
        sample,
    };
    let mut z = zstd::bulk::Compressor::new(1).unwrap();
    let mut frame = vec![0xaa; 3]; // reused buffers come in dirty
    let enc =
        encode_block_frame(&mut z, ChainHash::CURRENT, &ZERO_HASH, &body, &mut frame).unwrap();
    // A raw body is written after the frame buffer, not copied into it.
    if enc.raw_tail {
        frame.extend_from_slice(&raw);
    }
    let FrameRead::Frame { payload, total } = decode_frame(&frame) else {
        panic!("not a frame")
    };
    assert_eq!(total, frame.len());
    assert_eq!(enc.hash, block_hash(payload));
    let b = decode_block(payload).unwrap();
    assert_eq!(enc.raw_tail, b.header.encoding == BodyEncoding::Raw);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(b.record(i).unwrap(), e.as_slice());
    }
    (frame, b)
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut v = vec![0; n];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

#[test]
fn incompressible_bodies_are_stored_raw() {
    // Big (sampled) and small (compressed, then found not to pay).
    for n in [32 << 10, 1 << 10] {
        let evs: Vec<Vec<u8>> = (0..8).map(|i| random_bytes(n, i)).collect();
        let (frame, b) = sampled_block(&evs, true);
        assert_eq!(b.header.encoding, BodyEncoding::Raw, "{n}-byte events");
        // Raw: the body is the records themselves, nothing added.
        let body: usize = evs.iter().map(|e| e.len() + 4).sum();
        assert_eq!(
            frame.len(),
            FRAME_HEADER + 1 + 8 + 4 + 8 + 8 + 32 + 4 + 4 + body
        );
        // Without sampling (audit blocks), zstd it is, whatever it costs.
        assert_eq!(
            sampled_block(&evs, false).1.header.encoding,
            BodyEncoding::Zstd
        );
    }
}

#[test]
fn compressible_bodies_stay_zstd_even_when_sampled() {
    let text: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            format!("line {i}: the quick brown fox\r\n")
                .repeat(200)
                .into_bytes()
        })
        .collect();
    let (frame, b) = sampled_block(&text, true);
    assert_eq!(b.header.encoding, BodyEncoding::Zstd);
    assert!(frame.len() < text.iter().map(Vec::len).sum::<usize>() / 10);
    // Text with a random tail: the sample spans the body, so the
    // compressible part still gets compressed.
    let mut mixed = text.clone();
    mixed.push(random_bytes(64 << 10, 9));
    assert_eq!(
        sampled_block(&mixed, true).1.header.encoding,
        BodyEncoding::Zstd
    );
}

#[test]
fn raw_body_lengths_and_unknown_encodings_are_checked() {
    let evs: Vec<Vec<u8>> = (0..4).map(|i| random_bytes(1 << 10, i)).collect();
    let (frame, b) = sampled_block(&evs, true);
    assert_eq!(b.header.encoding, BodyEncoding::Raw);
    let payload = &frame[FRAME_HEADER..];
    // Truncated raw body: the length no longer matches the header.
    let cut = &payload[..payload.len() - 1];
    assert!(decode_block(cut).unwrap_err().contains("raw length"));
    // Encoding 2 does not exist (yet): an error, not a guess.
    let mut p = payload.to_vec();
    p[BLOCK_HEADER - 4..BLOCK_HEADER].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        decode_block(&p).unwrap_err(),
        "unknown block body encoding 2"
    );
    // A raw body whose records do not add up.
    let mut p = payload.to_vec();
    p[BLOCK_HEADER..BLOCK_HEADER + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    assert!(decode_block(&p).is_err());
}
