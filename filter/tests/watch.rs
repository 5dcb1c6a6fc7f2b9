//! Watch stream filtering: plain and Table events, chunking, state.

mod common;

use std::cell::Cell;

use common::*;
use kac_filter::{FilterError, ListContext, ObjectRef, WatchFilter};
use serde_json::{json, Value};

fn ev(ty: &str, obj: Value) -> String {
    format!("{}\n", json!({"type": ty, "object": obj}))
}

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn only_a(o: &ObjectRef<'_>) -> bool {
    o.name.starts_with('a')
}

fn ctx() -> ListContext {
    ListContext::new("", "pods")
}

#[test]
fn emits_visible_drops_hidden_passes_bookmarks_and_errors() {
    let mut w = WatchFilter::new(ctx(), only_a);
    let stream = [
        ev("ADDED", pod("d", "a1")),
        ev("ADDED", pod("d", "b1")),
        ev(
            "BOOKMARK",
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}),
        ),
        ev("MODIFIED", pod("d", "b1")),
        ev("DELETED", pod("d", "a1")),
        ev(
            "ERROR",
            json!({"kind": "Status", "status": "Failure", "code": 410, "reason": "Expired"}),
        ),
    ]
    .concat();
    let out = w.feed(stream.as_bytes()).unwrap();
    let got = lines(&out);
    let types: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "BOOKMARK", "DELETED", "ERROR"]);
    assert_eq!(got[0]["object"], pod("d", "a1"));
    let s = w.stats();
    assert_eq!(
        (s.events, s.emitted, s.hidden, s.synthesized_deletes),
        (6, 4, 2, 0)
    );
    assert!(w.finish().unwrap().is_empty());
}

#[test]
fn every_line_ends_with_newline_and_partial_lines_wait() {
    let mut w = WatchFilter::new(ctx(), only_a);
    let e = ev("ADDED", pod("d", "a1"));
    let (x, y) = e.split_at(e.len() / 2);
    assert!(w.feed(x.as_bytes()).unwrap().is_empty());
    let out = w.feed(y.as_bytes()).unwrap();
    assert_eq!(out, e.as_bytes());
    // A last event without newline is flushed (with one) at the end.
    let mut w = WatchFilter::new(ctx(), only_a);
    assert!(w.feed(e.trim_end().as_bytes()).unwrap().is_empty());
    assert_eq!(w.finish().unwrap(), e.as_bytes());
}

#[test]
fn object_hidden_while_watched_gets_synthesized_delete() {
    // Visibility changes mid-stream (e.g. a policy reload).
    let allow_b = Cell::new(true);
    let visible = |o: &ObjectRef<'_>| o.name.starts_with('a') || allow_b.get();
    let mut w = WatchFilter::new(ctx(), visible);
    let out = w.feed(ev("ADDED", pod("d", "b1")).as_bytes()).unwrap();
    assert_eq!(lines(&out).len(), 1);
    allow_b.set(false);
    let mut secret = pod("d", "b1");
    secret["metadata"]["labels"]["secret"] = json!("yes");
    secret["metadata"]["resourceVersion"] = json!("43");
    let out = w.feed(ev("MODIFIED", secret.clone()).as_bytes()).unwrap();
    let got = lines(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "DELETED");
    assert_eq!(
        got[0]["object"],
        json!({"kind": "", "apiVersion": "", "metadata": {"name": "b1", "namespace": "d", "resourceVersion": "43"}})
    );
    assert!(!String::from_utf8_lossy(&out).contains("secret"));
    // Only once: later hidden events are dropped.
    assert!(w
        .feed(ev("MODIFIED", secret).as_bytes())
        .unwrap()
        .is_empty());
    assert_eq!(w.stats().synthesized_deletes, 1);
}

#[test]
fn object_known_from_the_list_gets_one_synthesized_delete_when_hidden() {
    // b1 came from the preceding list (never sent by this stream); the
    // caller says the client may know b-objects (they were visible before).
    let mut w = WatchFilter::new(ctx(), only_a)
        .known_by_client(|o: &ObjectRef<'_>| o.name.starts_with('b'));
    let mut secret = pod("d", "b1");
    secret["metadata"]["labels"]["secret"] = json!("yes");
    let out = w.feed(ev("MODIFIED", secret.clone()).as_bytes()).unwrap();
    let got = lines(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "DELETED");
    assert_eq!(got[0]["object"]["metadata"]["name"], "b1");
    assert!(!String::from_utf8_lossy(&out).contains("secret"));
    // Once only; and objects the client cannot know get nothing at all.
    assert!(w
        .feed(ev("MODIFIED", secret).as_bytes())
        .unwrap()
        .is_empty());
    assert!(w
        .feed(ev("DELETED", pod("d", "b1")).as_bytes())
        .unwrap()
        .is_empty());
    assert!(w
        .feed(ev("MODIFIED", pod("d", "nginx-1")).as_bytes())
        .unwrap()
        .is_empty());
    assert_eq!(w.stats().synthesized_deletes, 1);
}

fn table_event(ty: &str, p: Value, columns: bool) -> String {
    let mut t = table(&[p]);
    if !columns {
        t["columnDefinitions"] = Value::Null;
    }
    ev(ty, t)
}

#[test]
fn table_watch_events() {
    let allow_b = Cell::new(true);
    let visible = |o: &ObjectRef<'_>| o.name.starts_with('a') || allow_b.get();
    let mut w = WatchFilter::new(ctx(), visible);
    let input = [
        table_event("ADDED", pod("d", "a1"), true),
        table_event("ADDED", pod("d", "b1"), false),
    ]
    .concat();
    assert_eq!(lines(&w.feed(input.as_bytes()).unwrap()).len(), 2);
    allow_b.set(false);
    let out = w
        .feed(table_event("MODIFIED", pod("d", "b1"), false).as_bytes())
        .unwrap();
    let got = lines(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "DELETED");
    let row = &got[0]["object"]["rows"][0];
    assert_eq!(row["cells"], json!(["b1", "", "", "", ""]));
    assert_eq!(row["object"]["metadata"]["name"], "b1");
    assert_eq!(got[0]["object"]["kind"], "Table");
    // A row without object cannot be filtered.
    let mut w = WatchFilter::new(ctx(), only_a);
    let bare = ev(
        "ADDED",
        json!({"kind": "Table", "rows": [{"cells": ["a1"]}]}),
    );
    assert!(matches!(
        w.feed(bare.as_bytes()),
        Err(FilterError::NeedsMetadata)
    ));
}

#[test]
fn fails_closed_on_bad_events() {
    let bad = [
        "not json\n",
        "[]\n",
        "{\"type\":\"ADDED\"}\n",
        "{\"type\":\"WHATEVER\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Table\",\"rows\":[{\"object\":{\"metadata\":{\"name\":\"a\"}}},{\"object\":{\"metadata\":{\"name\":\"b\"}}}]}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"},\"metadata\":{\"name\":\"b\"}}}\n",
    ];
    for line in bad {
        let mut w = WatchFilter::new(ctx(), |_: &ObjectRef<'_>| true);
        assert!(w.feed(line.as_bytes()).is_err(), "accepted {line:?}");
    }
    let mut w = WatchFilter::new(ctx(), |_: &ObjectRef<'_>| true);
    w.feed(b"{\"type\":\"ADDED\",").unwrap();
    assert!(w.finish().is_err(), "truncated last event accepted");
}
