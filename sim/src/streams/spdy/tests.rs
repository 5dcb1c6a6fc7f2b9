//! Unit and property tests of the SPDY codec. The compressed vectors were
//! produced independently with CPython's zlib (`compressobj(zdict=...)` and
//! `Z_SYNC_FLUSH`), the way Go's spdy framer writes them.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn dictionary_is_the_spdy3_one() {
    // Size and DICTID as found in every SPDY/3 SYN_STREAM (78 bb e3 c6 a7 c2).
    assert_eq!(dictionary().len(), 1423);
    assert_eq!(adler32(dictionary()), 0xe3c6_a7c2);
    assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
}

#[test]
fn inflates_blocks_compressed_with_the_dictionary() {
    let b1 = hex("78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45a024cc64610024398b209198094adc8c0600000000ffff");
    let b2 = hex("c2aa15540a2512d209000000ffff");
    let mut d = HeaderDecompressor::new();
    assert_eq!(
        d.decode(&b1).unwrap(),
        pairs(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")])
    );
    // The second block continues the same zlib stream.
    assert_eq!(
        d.decode(&b2).unwrap(),
        pairs(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")])
    );
}

#[test]
fn rejects_foreign_dictionary_and_garbage() {
    let mut d = HeaderDecompressor::new();
    // FDICT set, wrong DICTID.
    assert!(d.inflate(&hex("78f90000000100")).is_err());
    let mut d = HeaderDecompressor::new();
    assert!(d.inflate(b"\x00\x01garbage").is_err());
}

#[test]
fn compressor_output_is_a_valid_zlib_stream() {
    let mut c = HeaderCompressor::new();
    let mut d = HeaderDecompressor::new();
    let h1 = pairs(&[("streamtype", "data"), ("port", "8080")]);
    let h2: Vec<(String, String)> = Vec::new();
    let b1 = c.encode(&h1);
    let b2 = c.encode(&h2);
    assert_eq!(&b1[..1], &[0x78]);
    assert_eq!(&b1[b1.len() - 4..], &[0, 0, 0xff, 0xff], "sync flushed");
    assert_eq!(d.decode(&b1).unwrap(), h1);
    assert_eq!(d.decode(&b2).unwrap(), h2);
}

#[test]
fn header_pairs_merge_and_split_values() {
    let block = encode_header_pairs(&pairs(&[("A", "1"), ("a", "2"), ("b", "")]));
    assert_eq!(&block[..4], &[0, 0, 0, 2]);
    let back = decode_header_pairs(&block).unwrap();
    assert_eq!(back, pairs(&[("a", "1"), ("a", "2"), ("b", "")]));
    assert_eq!(header(&back, "A"), Some("1"));
    assert!(decode_header_pairs(&[0, 0, 0, 1, 0, 0, 0, 9, b'x']).is_err());
    assert!(decode_header_pairs(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn frame_layouts() {
    let ping = serialize_frame(&Frame::Ping { id: 7 });
    assert_eq!(ping, vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
    let data = serialize_frame(&Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: b"ab".to_vec(),
    });
    assert_eq!(data, vec![0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b']);
    let syn = serialize_frame(&Frame::SynStream {
        stream_id: 1,
        associated_to: 0,
        priority: 0,
        slot: 0,
        flags: 0,
        header_block: vec![9],
    });
    assert_eq!(
        syn,
        vec![0x80, 3, 0, 1, 0, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9]
    );
    // Incomplete input asks for more.
    assert_eq!(parse_frame(&syn[..5]).unwrap(), None);
    assert_eq!(parse_frame(&syn[..18]).unwrap(), None);
    // Wrong version is an error; short control frames too.
    assert_eq!(
        parse_frame(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]),
        Err(SpdyError::Version(2))
    );
    assert!(parse_frame(&[0x80, 3, 0, 6, 0, 0, 0, 1, 0]).is_err());
}

fn arb_frame() -> impl proptest::strategy::Strategy<Value = Frame> {
    use proptest::prelude::*;
    let sid = 0u32..0x7fff_ffff;
    let bytes = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (sid.clone(), any::<u8>(), bytes.clone()).prop_map(|(stream_id, flags, data)| {
            Frame::Data {
                stream_id,
                flags,
                data,
            }
        }),
        (
            sid.clone(),
            sid.clone(),
            0u8..8,
            any::<u8>(),
            any::<u8>(),
            bytes.clone()
        )
            .prop_map(
                |(stream_id, associated_to, priority, slot, flags, header_block)| {
                    Frame::SynStream {
                        stream_id,
                        associated_to,
                        priority,
                        slot,
                        flags,
                        header_block,
                    }
                }
            ),
        (sid.clone(), any::<u8>(), bytes.clone()).prop_map(|(stream_id, flags, header_block)| {
            Frame::SynReply {
                stream_id,
                flags,
                header_block,
            }
        }),
        (sid.clone(), any::<u32>())
            .prop_map(|(stream_id, status)| Frame::RstStream { stream_id, status }),
        (
            any::<u8>(),
            proptest::collection::vec((any::<u8>(), 0u32..0x00ff_ffff, any::<u32>()), 0..4)
        )
            .prop_map(|(flags, entries)| Frame::Settings { flags, entries }),
        any::<u32>().prop_map(|id| Frame::Ping { id }),
        (sid.clone(), any::<u32>()).prop_map(|(last_good_stream_id, status)| Frame::GoAway {
            last_good_stream_id,
            status
        }),
        (sid.clone(), 0u32..0x7fff_ffff)
            .prop_map(|(stream_id, delta)| Frame::WindowUpdate { stream_id, delta }),
    ]
}

proptest::proptest! {
    #[test]
    fn frames_roundtrip(frames in proptest::collection::vec(arb_frame(), 1..5)) {
        let wire: Vec<u8> = frames.iter().flat_map(serialize_frame).collect();
        let mut rest = &wire[..];
        for f in &frames {
            let (got, used) = parse_frame(rest).unwrap().unwrap();
            proptest::prop_assert_eq!(&got, f);
            rest = &rest[used..];
        }
        proptest::prop_assert!(rest.is_empty());
    }

    #[test]
    fn parser_never_panics(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
        parse_any(&buf);
    }

    #[test]
    fn header_codec_roundtrip(kv in proptest::collection::vec(("[a-z][a-z0-9-]{0,10}", "[ -~]{0,20}"), 0..6)) {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let mut seen = std::collections::HashSet::new();
        let kv: Vec<(String, String)> = kv.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        for _ in 0..2 {
            let block = c.encode(&kv);
            proptest::prop_assert_eq!(d.decode(&block).unwrap(), kv.clone());
        }
    }
}

/// What the fuzz target does: parse frames and any header blocks, never panic.
fn parse_any(buf: &[u8]) {
    crate::streams::spdy::fuzz_parse(buf);
}
