//! Property tests: filtered output is JSON and holds exactly the visible
//! items, whatever the shape, the chunking and the visibility; the fuzz
//! entry points never panic.

mod common;

use common::*;
use kac_filter::{filter_list, fuzz_list, fuzz_watch, ListContext, ListStream, ObjectRef};
use proptest::prelude::*;
use serde_json::Value;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9\"\\\\{}\\[\\],:é-]{1,8}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn output_has_exactly_the_visible_items(
        names in proptest::collection::vec((name(), any::<bool>()), 0..20),
        as_table in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let items: Vec<Value> = names.iter().map(|(n, _)| pod("ns", n)).collect();
        let hidden: std::collections::HashSet<&str> =
            names.iter().filter(|(_, h)| *h).map(|(n, _)| n.as_str()).collect();
        let body = if as_table { table(&items) } else { pod_list(&items) }.to_string();
        let visible = |o: &ObjectRef<'_>| !hidden.contains(o.name);
        let expected: Vec<String> = names.iter().map(|(n, _)| n.clone())
            .filter(|n| !hidden.contains(n.as_str())).collect();

        let whole = filter_list(body.as_bytes(), &ListContext::new("", "pods"), visible).unwrap();
        prop_assert_eq!(names_in(&whole.body), expected.clone());
        prop_assert_eq!(whole.hidden + whole.kept, names.len());

        // Any chunking gives the same bytes.
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort();
        let mut s = ListStream::new(ListContext::new("", "pods"), visible);
        let mut out = Vec::new();
        let mut prev = 0;
        for p in points.into_iter().chain([body.len()]) {
            out.extend(s.feed(&body.as_bytes()[prev..p]).unwrap());
            prev = p;
        }
        out.extend(s.finish().unwrap().0);
        prop_assert_eq!(out, whole.body);
    }

    #[test]
    fn fuzz_list_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzz_list(&data);
    }

    #[test]
    fn fuzz_list_on_near_valid_bodies(
        names in proptest::collection::vec(name(), 0..5),
        flip in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let items: Vec<Value> = names.iter().map(|n| pod("ns", n)).collect();
        let mut body = pod_list(&items).to_string().into_bytes();
        let i = flip % body.len();
        body[i] = byte;
        fuzz_list(&body);
    }

    #[test]
    fn fuzz_watch_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzz_watch(&data);
    }

    #[test]
    fn fuzz_watch_on_near_valid_streams(
        names in proptest::collection::vec(name(), 1..5),
        split in any::<u8>(),
    ) {
        let mut data = vec![split];
        for n in &names {
            data.extend(format!("{}\n", serde_json::json!({"type": "ADDED", "object": pod("d", n)})).bytes());
        }
        fuzz_watch(&data);
    }
}
