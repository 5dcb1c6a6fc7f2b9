use super::*;
use kac_event::SessionStart;
use proptest::prelude::*;

fn data_event(id: &str, secs: i64, nanos: u32, stream: DataStream, data: &[u8]) -> Event {
    Event::Session(SessionEvent::Data {
        session_id: id.into(),
        time: DateTime::from_timestamp(secs, nanos).unwrap(),
        offset_us: 1_234_567,
        stream,
        data: data.to_vec(),
    })
}

fn encode(ev: &Event) -> Vec<u8> {
    let mut v = Vec::new();
    encode_record(ev, &mut v).unwrap();
    v
}

#[test]
fn session_data_is_binary_and_round_trips() {
    let ev = data_event(
        "0193-abc",
        1_770_000_000,
        123_456_789,
        DataStream::Stdout,
        b"hi\r\n\x00\xff{",
    );
    let rec = encode(&ev);
    assert_eq!(rec[0], TAG_SESSION_DATA);
    // Header, id and the payload as is: no base64.
    assert_eq!(rec.len(), DATA_HEADER + 8 + 7);
    assert!(rec.ends_with(b"hi\r\n\x00\xff{"));
    let r = decode_record(&rec).unwrap();
    assert_eq!(r.event().unwrap(), ev);
    // Its JSON is exactly what the JSON form of the same event is.
    assert_eq!(
        record_json(&rec).unwrap().as_ref(),
        serde_json::to_vec(&ev).unwrap().as_slice()
    );
}

#[test]
fn other_events_stay_json_and_borrow() {
    let evs = [
        Event::Session(SessionEvent::Start(Box::new(SessionStart {
            session_id: "s".into(),
            ..Default::default()
        }))),
        Event::Session(SessionEvent::Resize {
            session_id: "s".into(),
            time: DateTime::from_timestamp(5, 0).unwrap(),
            offset_us: 3,
            width: 80,
            height: 24,
        }),
    ];
    for ev in evs {
        let rec = encode(&ev);
        assert_eq!(rec, serde_json::to_vec(&ev).unwrap());
        assert!(matches!(record_json(&rec).unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode_record(&rec).unwrap().event().unwrap(), ev);
    }
}

/// A store written before the binary form: its session data records are
/// JSON with base64, and still decode to the same event.
#[test]
fn old_json_session_data_still_decodes() {
    let old = br#"{"type":"session","event":"session.data","session_id":"s1","time":"2026-02-02T02:40:00.123456789Z","offset_us":1500,"stream":"stderr","data":"aGkNCgD/"}"#;
    let r = decode_record(old).unwrap();
    assert_eq!(r, Record::Json(old));
    assert_eq!(
        r.event().unwrap(),
        data_event(
            "s1",
            1_770_000_000,
            123_456_789,
            DataStream::Stderr,
            b"hi\r\n\x00\xff"
        )
        .with_offset(1500)
    );
    assert_eq!(record_json(old).unwrap().as_ref(), old.as_slice());
}

trait WithOffset {
    fn with_offset(self, o: u64) -> Self;
}
impl WithOffset for Event {
    fn with_offset(mut self, o: u64) -> Self {
        if let Event::Session(SessionEvent::Data { offset_us, .. }) = &mut self {
            *offset_us = o;
        }
        self
    }
}

#[test]
fn every_stream_and_empty_data_round_trip() {
    for s in [
        DataStream::Stdin,
        DataStream::Stdout,
        DataStream::Stderr,
        DataStream::Tunnel,
    ] {
        for data in [&b""[..], b"x"] {
            let ev = data_event("", -5, 999_999_999, s, data);
            let rec = encode(&ev);
            assert_eq!(rec[0], TAG_SESSION_DATA);
            assert_eq!(decode_record(&rec).unwrap().event().unwrap(), ev);
        }
    }
}

#[test]
fn malformed_binary_records_are_errors() {
    let good = encode(&data_event("sid", 7, 8, DataStream::Stdin, b"abc"));
    // Every truncation into the header or the id fails; past it the data
    // is just shorter.
    for n in 1..DATA_HEADER + 3 {
        assert!(decode_record(&good[..n]).is_err(), "truncated at {n}");
    }
    let mut bad = good.clone();
    bad[1] = 9;
    assert!(decode_record(&bad).unwrap_err().contains("stream 9"));
    let mut bad = good.clone();
    bad[22..24].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(decode_record(&bad)
        .unwrap_err()
        .contains("past the record's end"));
    let mut bad = good.clone();
    bad[DATA_HEADER] = 0xff;
    assert!(decode_record(&bad).unwrap_err().contains("UTF-8"));
    let mut bad = good.clone();
    bad[2..10].copy_from_slice(&i64::MAX.to_le_bytes());
    assert!(decode_record(&bad).unwrap_err().contains("out of range"));
    let mut bad = good;
    bad[10..14].copy_from_slice(&2_000_000_000u32.to_le_bytes());
    assert!(decode_record(&bad).unwrap_err().contains("out of range"));
}

#[test]
fn garbage_json_is_an_error_when_parsed() {
    let r = decode_record(b"not json").unwrap();
    assert!(r.event().is_err());
    assert!(decode_record(b"").unwrap().event().is_err());
}

proptest! {
    #[test]
    fn session_data_round_trips(
        id in "[a-z0-9-]{0,40}",
        secs in -10_000_000_000i64..10_000_000_000,
        nanos in 0u32..1_000_000_000,
        s in 0u8..4,
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let ev = data_event(&id, secs, nanos, stream_from(s).unwrap(), &data);
        let rec = encode(&ev);
        prop_assert_eq!(decode_record(&rec).unwrap().event().unwrap(), ev.clone());
        prop_assert_eq!(record_json(&rec).unwrap().into_owned(), serde_json::to_vec(&ev).unwrap());
        fuzz_record(&rec);
    }

    #[test]
    fn arbitrary_records_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        fuzz_record(&bytes);
        if let Some(b) = bytes.first_mut() {
            *b = TAG_SESSION_DATA;
        }
        fuzz_record(&bytes);
    }
}
