//! What an API event's [`IndexDoc`] hands to tantivy.

use std::sync::Arc;

use kac_event::{ApiEvent, Event};

use crate::log::api_record::encode_api;
use tantivy::schema::document::Value;
use tantivy::Document;

use super::super::TERMS_FIELD;
use super::*;
use crate::gen::Generator;

fn values(d: &IndexDoc) -> Vec<(String, String)> {
    let schema = &super::super::SCHEMA.0;
    d.iter_fields_and_values()
        .map(|(f, v)| {
            let v = match v.as_value() {
                ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)) => s.to_string(),
                ReferenceValue::Leaf(ReferenceValueLeaf::Bytes(b)) => {
                    let (code, v) = b.split_first().expect("a term has a code byte");
                    format!("{}:{}", char::from(*code), std::str::from_utf8(v).unwrap())
                }
                ReferenceValue::Leaf(ReferenceValueLeaf::U64(u)) => format!("u{u}"),
                ReferenceValue::Leaf(ReferenceValueLeaf::I64(i)) => format!("i{i}"),
                other => panic!("unexpected value {other:?}"),
            };
            (schema.get_field_name(f).to_string(), v)
        })
        .collect()
}

/// One API event's document on its own.
fn doc_alone(ev: &ApiView<'_>, tags: &[String], seg: &str, loc: u64) -> IndexDoc {
    let mut b = DocBatch::default();
    b.api(ev, tags, seg, loc);
    b.take().next().expect("one document")
}

fn record(a: &ApiEvent) -> Vec<u8> {
    let mut rec = Vec::new();
    encode_api(a, &mut rec);
    rec
}

fn api_event() -> Box<ApiEvent> {
    let start = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
    let mut g = Generator::new(7, start);
    g.mixed(50, 500)
        .into_iter()
        .find_map(|e| match e {
            Event::Api(a) if !a.cluster_tags.is_empty() && !a.user.groups.is_empty() => Some(a),
            _ => None,
        })
        .expect("the generator makes API events with groups and tags")
}

#[test]
fn api_doc_has_every_exact_field_in_schema_order() {
    let mut a = api_event();
    a.namespace = String::new();
    a.session_id = Some("s-1".into());
    a.code = 403;
    a.user.groups.push(String::new());
    let rec = record(&a);
    let v = ApiView::parse(&rec).unwrap();
    let mut cache = TagCache::default();
    let tags = cache.terms(v.cluster, v.cluster_tags);
    let d = doc_alone(&v, &tags, "w/3", 77);
    let got = values(&d);
    let t = |code: char, v: &str| (TERMS_FIELD.to_string(), format!("{code}:{v}"));
    let mut want: Vec<(String, String)> = vec![t('u', &a.user.name)];
    for g in a.user.groups.iter().filter(|g| !g.is_empty()) {
        want.push(t('g', g));
    }
    want.push(t('c', &a.cluster));
    want.push(t('v', &a.verb));
    for (code, v) in [('a', &a.api_group), ('r', &a.resource), ('m', &a.name)] {
        if !v.is_empty() {
            want.push(t(code, v));
        }
    }
    want.push(t('d', a.decision.outcome.as_str()));
    want.push(t('h', "403"));
    want.push(t('s', "s-1"));
    for (k, v) in &a.cluster_tags {
        want.push(t('t', &format!("{k}={v}")));
    }
    want.push(("seg".into(), "w/3".into()));
    want.push(("time".into(), format!("i{}", a.time.timestamp_micros())));
    want.push(("loc".into(), "u77".into()));
    want.push((
        super::super::ID_HASH_FIELD.into(),
        format!("u{}", id_hash(&a.id)),
    ));
    // In schema field order, so tantivy's (stable) sort is a no-op; no
    // `kind` term.
    let mut sorted = want.clone();
    sorted.sort_by_key(|(n, _)| super::super::SCHEMA.0.get_field(n).unwrap());
    assert_eq!(sorted, want);
    assert_eq!(got, want);
}

#[test]
fn tag_terms_follow_a_cluster_whose_tags_change() {
    let mut cache = TagCache::default();
    let mut a = api_event();
    a.cluster = "c1".into();
    let mut terms = |tags: &[(&str, &str)]| {
        a.cluster_tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let rec = record(&a);
        let v = ApiView::parse(&rec).unwrap();
        cache.terms(v.cluster, v.cluster_tags)
    };
    let first = terms(&[("env", "prod")]);
    assert_eq!(&*first, ["env=prod".to_string()]);
    assert!(Arc::ptr_eq(&first, &terms(&[("env", "prod")])));
    assert_eq!(&*terms(&[("env", "dev")]), ["env=dev".to_string()]);
    assert_eq!(
        &*terms(&[("env", "dev"), ("tier", "1")]),
        ["env=dev".to_string(), "tier=1".to_string()]
    );
    assert!(terms(&[]).is_empty());
}

#[test]
fn codes_outside_the_table_are_formatted() {
    assert_eq!(code_str(0), "0");
    assert_eq!(code_str(999), "999");
    assert_eq!(code_str(1234), "1234");
}

#[test]
fn term_codes_are_distinct_so_terms_of_different_fields_never_meet() {
    let mut codes: Vec<u8> = Field::ALL
        .iter()
        .filter(|f| **f != Field::Id)
        .map(|f| super::super::term_code(*f))
        .collect();
    codes.push(TAG_CODE);
    let n = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), n, "a term code is used twice");
    // Same value, different fields: different terms.
    let f = &super::super::SCHEMA.1;
    assert_ne!(f.term(Field::User, "x"), f.term(Field::Name, "x"));
    assert_ne!(f.tag_term("a", "b"), f.term(Field::Name, "a=b"));
}

#[test]
fn documents_of_a_batch_each_see_only_their_own_values() {
    let start = chrono::DateTime::from_timestamp(1_770_000_000, 0).unwrap();
    let events: Vec<Box<ApiEvent>> = Generator::new(11, start)
        .mixed(40, 500)
        .into_iter()
        .filter_map(|e| match e {
            Event::Api(a) => Some(a),
            _ => None,
        })
        .take(3)
        .collect();
    let recs: Vec<Vec<u8>> = events.iter().map(|a| record(a)).collect();
    let views: Vec<ApiView<'_>> = recs.iter().map(|r| ApiView::parse(r).unwrap()).collect();
    let mut cache = TagCache::default();
    let mut batch = DocBatch::default();
    let mut alone = Vec::new();
    for (i, v) in views.iter().enumerate() {
        let tags = cache.terms(v.cluster, v.cluster_tags);
        batch.api(v, &tags, "w/1", i as u64);
        alone.push(values(&doc_alone(v, &tags, "w/1", i as u64)));
    }
    assert_eq!(batch.len(), 3);
    let docs: Vec<IndexDoc> = batch.take().collect();
    assert!(batch.is_empty());
    let got: Vec<_> = docs.iter().map(values).collect();
    assert_eq!(got, alone);
    assert_ne!(got[0], got[1]);
}
