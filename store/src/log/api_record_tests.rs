use super::*;
use crate::log::record::{decode_record, encode_record, fuzz_record, record_json, Record};
use chrono::{DateTime, Utc};
use kac_event::Event;
use proptest::prelude::*;

/// An event with every field set to something other than its default, so
/// a field the codec forgot cannot hide behind a default value.
fn full() -> ApiEvent {
    ApiEvent {
        id: "0193a8f2-7c3e-7d41-9b2a-5f0e1c2d3b4a".into(),
        time: DateTime::from_timestamp(1_770_000_000, 123_456_789).unwrap(),
        user: UserInfo {
            name: "david".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            attributes: [("team".to_string(), "platform".to_string())].into(),
            auth_method: "token".into(),
        },
        source_ip: "10.1.2.3".into(),
        user_agent: "kubectl/v1.32.0 (linux/amd64)".into(),
        cluster: "prod-eu".into(),
        cluster_tags: [
            ("ClusterType".to_string(), "prod".to_string()),
            ("region".to_string(), "eu".to_string()),
        ]
        .into(),
        method: "POST".into(),
        request_uri: "/api/v1/namespaces/david/pods/web-1/exec?command=sh".into(),
        verb: "create".into(),
        api_group: "apps".into(),
        api_version: "v1".into(),
        resource: "pods".into(),
        subresource: "exec".into(),
        namespace: "david".into(),
        name: "web-1".into(),
        non_resource: true,
        decision: DecisionRecord {
            outcome: Outcome::Error,
            policy: Some("david".into()),
            rule: Some("actions[1]".into()),
            reason: "because".into(),
        },
        impersonated: Some(Impersonation {
            user: "kac:david".into(),
            groups: vec!["kac:dev".into()],
        }),
        code: 503,
        duration_us: 1 << 40,
        bytes_in: 300,
        bytes_out: u64::MAX,
        session_id: Some("s-1".into()),
        filtered_items: 7,
        error: Some("upstream: \"quoted\" \u{1F600}".into()),
    }
}

fn enc(a: &ApiEvent) -> Vec<u8> {
    let mut v = Vec::new();
    encode_api(a, &mut v);
    v
}

#[test]
fn every_field_round_trips_and_renders_the_same_json() {
    for a in [full(), ApiEvent::default()] {
        let rec = enc(&a);
        assert_eq!(rec[0], TAG_API);
        assert_eq!(decode_api(&rec).unwrap(), a);
        let ev = Event::Api(Box::new(a));
        // Through the record layer, as the block reader sees it.
        let mut via = Vec::new();
        encode_record(&ev, &mut via).unwrap();
        assert_eq!(via, rec);
        assert!(matches!(decode_record(&rec).unwrap(), Record::Api(_)));
        assert_eq!(decode_record(&rec).unwrap().event().unwrap(), ev);
        assert_eq!(
            record_json(&rec).unwrap().as_ref(),
            serde_json::to_vec(&ev).unwrap().as_slice()
        );
    }
}

#[test]
fn canonical_uuid_ids_take_16_bytes_others_stay_strings() {
    let a = full();
    let as_uuid = enc(&a);
    for id in [
        "0193A8F2-7C3E-7D41-9B2A-5F0E1C2D3B4A", // upper case: not canonical
        "0193a8f27c3e7d419b2a5f0e1c2d3b4a",     // simple form
        "not-a-uuid",
        "",
    ] {
        let b = ApiEvent {
            id: id.into(),
            ..full()
        };
        let rec = enc(&b);
        assert_eq!(decode_api(&rec).unwrap().id, id);
        if id.len() == 36 {
            // form byte, length byte and 36 characters instead of 16 bytes
            assert_eq!(rec.len(), as_uuid.len() + 21, "{id}");
        }
    }
    // A kac-proxy id (UUID v7) is stored in binary form.
    let c = ApiEvent {
        id: kac_event::new_id(),
        time: Utc::now(),
        ..Default::default()
    };
    let rec = enc(&c);
    assert_eq!(decode_api(&rec).unwrap(), c);
    assert!(rec.windows(36).all(|w| w != c.id.as_bytes()));
}

#[test]
fn every_truncation_is_an_error() {
    let rec = enc(&full());
    for n in 0..rec.len() {
        assert!(decode_api(&rec[..n]).is_err(), "truncated at {n}");
    }
    let mut long = rec.clone();
    long.push(0);
    assert!(decode_api(&long).unwrap_err().contains("trailing"));
}

#[test]
fn malformed_fields_are_errors() {
    let d = ApiEvent::default();
    let rec = enc(&d);
    // Layout of a default event: tag, user "", groups 0, attributes 0, ...
    let mut bad = rec.clone();
    bad[1] = 5; // user name of 5 bytes that are not there as a string
    assert!(decode_api(&bad).is_err());
    // A padded varint (0x80 0x00 = 0) would not re-encode identically.
    let mut bad = vec![TAG_API, 0x80, 0x00];
    bad.extend_from_slice(&rec[2..]);
    assert!(decode_api(&bad).unwrap_err().contains("shortest"));
    // An 11-byte varint.
    let mut bad = vec![TAG_API];
    bad.extend_from_slice(&[0xff; 10]);
    bad.push(1);
    assert!(decode_api(&bad).is_err());
    // Unsorted map keys.
    let mut e = Vec::new();
    e.push(TAG_API);
    str(&mut e, "u");
    var(&mut e, 0);
    var(&mut e, 2);
    for s in ["b", "1", "a", "2"] {
        str(&mut e, s);
    }
    assert!(decode_api(&e).unwrap_err().contains("increasing"));
    // A canonical UUID stored as a string is not what the encoder writes.
    let f = full();
    let rec = enc(&f);
    let mut sizes = Vec::new();
    for n in [f.duration_us, f.bytes_in, f.bytes_out] {
        var(&mut sizes, n);
    }
    let at = rec.len() - sizes.len() - 17; // the id's form byte
    assert_eq!(rec[at], ID_UUID);
    let mut with_str_id = rec[..at].to_vec();
    with_str_id.push(ID_STR);
    str(&mut with_str_id, &f.id);
    with_str_id.extend_from_slice(&sizes);
    assert!(decode_api(&with_str_id).unwrap_err().contains("canonical"));
}

#[test]
fn forged_counts_do_not_allocate_what_they_claim() {
    // groups count of 2^40: refused by the remaining length, before any
    // allocation sized by it.
    let mut e = vec![TAG_API];
    str(&mut e, "u");
    var(&mut e, 1 << 40);
    assert!(decode_api(&e)
        .unwrap_err()
        .contains("past the record's end"));
}

fn arb_str() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z:/-]{1,12}", any::<String>()]
}

fn arb_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(arb_str(), arb_str(), 0..3)
}

prop_compose! {
    fn arb_api()(
        id in prop_oneof![arb_str(), Just(kac_event::new_id())],
        secs in -10_000_000_000i64..10_000_000_000,
        nanos in 0u32..1_000_000_000,
        strs in proptest::collection::vec(arb_str(), 16),
        groups in proptest::collection::vec(arb_str(), 0..3),
        attrs in arb_map(),
        tags in arb_map(),
        flags in any::<(bool, u8, bool, bool, bool, bool, bool)>(),
        nums in any::<(u16, u64, u64, u64, u64)>(),
    ) -> ApiEvent {
        let s = |i: usize| strs[i].clone();
        let o = |b: bool, i: usize| b.then(|| strs[i].clone());
        ApiEvent {
            id,
            time: DateTime::from_timestamp(secs, nanos).unwrap(),
            user: UserInfo { name: s(0), groups: groups.clone(), attributes: attrs, auth_method: s(1) },
            source_ip: s(2),
            user_agent: s(3),
            cluster: s(4),
            cluster_tags: tags,
            method: s(5),
            request_uri: s(6),
            verb: s(7),
            api_group: s(8),
            api_version: s(9),
            resource: s(10),
            subresource: s(11),
            namespace: s(12),
            name: s(13),
            non_resource: flags.0,
            decision: DecisionRecord {
                outcome: [Outcome::Allowed, Outcome::Denied, Outcome::Error][flags.1 as usize % 3],
                policy: o(flags.2, 14),
                rule: o(flags.3, 15),
                reason: s(0),
            },
            impersonated: flags.4.then(|| Impersonation { user: s(1), groups }),
            code: nums.0,
            duration_us: nums.1,
            bytes_in: nums.2,
            bytes_out: nums.3,
            session_id: o(flags.5, 2),
            filtered_items: nums.4,
            error: o(flags.6, 3),
        }
    }
}

proptest! {
    #[test]
    fn api_records_round_trip(a in arb_api()) {
        let rec = enc(&a);
        prop_assert_eq!(decode_api(&rec).unwrap(), a.clone());
        let ev = Event::Api(Box::new(a));
        prop_assert_eq!(record_json(&rec).unwrap().into_owned(), serde_json::to_vec(&ev).unwrap());
        fuzz_record(&rec);
    }

    #[test]
    fn arbitrary_api_records_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Some(b) = bytes.first_mut() {
            *b = TAG_API;
        }
        fuzz_record(&bytes);
    }
}
