use super::*;
use proptest::prelude::*;

fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn read_all(bytes: &[u8], chunk: usize) -> Vec<Frame> {
    let mut r = FrameReader::new();
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        r.feed(c);
        while let Some(f) = r.next_frame().unwrap() {
            out.push(f);
        }
    }
    assert_eq!(r.buffered(), 0);
    out
}

#[test]
fn dictionary_matches_spec_shape() {
    let d = dictionary();
    // The SPDY/3 dictionary is 1423 bytes and starts with "\0\0\0\x07options".
    assert_eq!(d.len(), 1423);
    assert_eq!(&d[..11], b"\0\0\0\x07options");
    assert!(d.ends_with(b",enq=0."));
}

#[test]
fn kubectl_exec_stream_setup_round_trips() {
    let mut w = FrameWriter::new();
    let frames = vec![
        Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: h(&[("streamtype", "error")]),
        },
        Frame::SynStream {
            stream_id: 3,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: h(&[("streamtype", "stdin")]),
        },
        Frame::Data {
            stream_id: 3,
            flags: 0,
            data: b"ls\r".to_vec(),
        },
        Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: vec![],
        },
        Frame::SynReply {
            stream_id: 3,
            flags: 0,
            headers: h(&[("streamtype", "stdin")]),
        },
        Frame::Ping { id: 7 },
        Frame::Settings {
            flags: 0,
            entries: vec![(0, 7, 65536)],
        },
        Frame::WindowUpdate {
            stream_id: 3,
            delta: 1000,
        },
        Frame::RstStream {
            stream_id: 5,
            status: 5,
        },
        Frame::Headers {
            stream_id: 3,
            flags: FLAG_FIN,
            headers: h(&[("x", "a\0b")]),
        },
        Frame::GoAway {
            last_good_stream_id: 3,
            status: 0,
        },
        Frame::Unknown {
            frame_type: 5,
            flags: 0,
            payload: vec![1, 2, 3],
        },
    ];
    let mut bytes = Vec::new();
    for f in &frames {
        bytes.extend(w.encode(f));
    }
    for chunk in [1, 3, 8, 1000] {
        assert_eq!(read_all(&bytes, chunk), frames, "chunk {chunk}");
    }
    assert_eq!(header(&h(&[("Port", "80")]), "port"), Some("80"));
}

#[test]
fn uncompressed_block_layout() {
    let b = encode_block(&h(&[("port", "8080")]));
    assert_eq!(
        b,
        [
            &[0, 0, 0, 1, 0, 0, 0, 4][..],
            b"port",
            &[0, 0, 0, 4],
            b"8080"
        ]
        .concat()
    );
    assert_eq!(decode_block(&b).unwrap(), h(&[("port", "8080")]));
    assert!(decode_block(&b[..b.len() - 1]).is_err());
    assert!(decode_block(&[0xff, 0xff, 0xff, 0xff]).is_err());
}

#[test]
fn framing_errors() {
    // Wrong version.
    let mut r = FrameReader::new();
    r.feed(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert_eq!(r.next_frame(), Err(SpdyError::Version(2)));
    assert!(r.next_frame().is_err(), "no resync after an error");
    // Truncated PING payload.
    let mut r = FrameReader::new();
    r.feed(&[0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0]);
    assert_eq!(r.next_frame(), Err(SpdyError::Short("PING", 2)));
    // Incomplete frame waits for more.
    let mut r = FrameReader::new();
    r.feed(&[0, 0, 0, 1, 0, 0, 0, 5, b'a']);
    assert_eq!(r.next_frame(), Ok(None));
    r.feed(b"bcde");
    assert_eq!(
        r.next_frame(),
        Ok(Some(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: b"abcde".to_vec()
        }))
    );
    // Garbage header block.
    let mut r = FrameReader::new();
    r.feed(&[0x80, 3, 0, 2, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4]);
    assert!(r.next_frame().is_err());
}

#[test]
fn fuzz_examples() {
    fuzz_spdy(&[]);
    fuzz_spdy(&[
        0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x78, 0xbb,
    ]);
}

proptest! {
    #[test]
    fn fuzz_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        fuzz_spdy(&data);
    }

    #[test]
    fn headers_round_trip(pairs in proptest::collection::vec(("[a-z-]{1,20}", "[ -~]{0,40}"), 0..8),
                          repeat in 1usize..4) {
        // The zlib context is shared by successive blocks.
        let mut w = FrameWriter::new();
        let headers: Headers = pairs;
        let mut bytes = Vec::new();
        for i in 0..repeat {
            bytes.extend(w.encode(&Frame::SynStream {
                stream_id: 2 * i as u32 + 1, associated_to: 0, priority: 0, flags: 0,
                headers: headers.clone(),
            }));
        }
        let frames = read_all(&bytes, 13);
        prop_assert_eq!(frames.len(), repeat);
        for f in frames {
            match f {
                Frame::SynStream { headers: got, .. } => prop_assert_eq!(&got, &headers),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
