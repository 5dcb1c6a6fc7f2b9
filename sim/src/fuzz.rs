//! Fuzz entry points for the sim's parsers of untrusted input (label/field
//! selectors, patches, request attribution, continue tokens, Accept headers). The
//! cargo-fuzz targets in `fuzz/fuzz_targets/sim_*.rs` call these, and the proptests
//! below drive the same functions in CI. Each must never panic.

use serde_json::Value;

/// Selector parsers and matching on arbitrary text.
pub fn fuzz_selector(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let obj = serde_json::json!({"metadata": {"name": "a", "namespace": "b", "labels": {"app": "x", "n": "5"}},
                                 "status": {"phase": "Running"}});
    if let Ok(ls) = crate::selector::LabelSelector::parse(&s) {
        ls.matches_object(&obj);
    }
    for kind in ["Pod", "Event", "CronTab"] {
        if let Ok(fs) = crate::selector::FieldSelector::parse(&s, kind) {
            fs.matches_object(&obj);
            fs.pinned_name();
        }
    }
}

/// The three patchers: input is `TARGET\0PATCH` (both JSON), or one JSON document
/// used as both.
pub fn fuzz_patch(data: &[u8]) {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(target), Ok(patch)) = (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) else {
        return;
    };
    let _ = crate::patch::merge_patch(&target, &patch);
    let _ = crate::patch::json_patch(&target, &patch);
    let _ = crate::patch::strategic_merge_patch(&target, &patch);
}

/// Request attribution, query decoding, continue tokens and Accept negotiation on
/// `METHOD PATH?QUERY` lines.
pub fn fuzz_request(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let (method, rest) = s.split_once(' ').unwrap_or(("GET", &s));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let q = crate::requestinfo::Query::parse(Some(query));
    let _ = crate::requestinfo::attribute(method, path, &q);
    let _ = crate::handlers::decode_continue(query);
    let _ = crate::negotiate::negotiate(Some(&s));
    let _ = crate::table::IncludeObject::parse(Some(&s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn selector_entry_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            fuzz_selector(&data);
        }

        #[test]
        fn selector_entry_on_selector_like_text(s in "[a-z!=(), ]{0,40}") {
            fuzz_selector(s.as_bytes());
        }

        #[test]
        fn patch_entry_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            fuzz_patch(&data);
        }

        #[test]
        fn patch_entry_on_json_ops(path in "(/[a-z0-9~-]{0,3}){0,3}", op in "(add|remove|replace|move|copy|test)") {
            let doc = format!("{{\"a\":{{\"b\":[1,2]}}}}\0[{{\"op\":\"{op}\",\"path\":\"{path}\",\"from\":\"{path}\",\"value\":1}}]");
            fuzz_patch(doc.as_bytes());
        }

        #[test]
        fn request_entry_never_panics(s in "(GET|POST|DELETE) /[a-z0-9/%.]{0,40}(\\?[a-z=&%0-9]{0,30})?") {
            fuzz_request(s.as_bytes());
        }
    }
}
