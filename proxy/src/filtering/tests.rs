//! Unit tests of response filtering: Accept rewriting, lists, and watches
//! across policy reloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use kac_policy::{ClusterContext, ListScope, RequestAttributes, UserContext};

use super::watch::tokio_stream_from;
use super::*;
use crate::http::{self as h, Body, BodyError};

#[test]
fn accept_drops_protobuf_and_keeps_table_parameters() {
    let kubectl = HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
    assert_eq!(json_accept(Some(&kubectl)), kubectl);
    let go = HeaderValue::from_static("application/vnd.kubernetes.protobuf, application/json");
    assert_eq!(json_accept(Some(&go)), "application/json");
    let proto_table =
        HeaderValue::from_static("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io");
    assert_eq!(json_accept(Some(&proto_table)), "application/json");
    assert_eq!(json_accept(None), "application/json");
    let pom = HeaderValue::from_static(
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    );
    assert_eq!(
        json_accept(Some(&pom)),
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
    );
}

#[test]
fn include_object_none_becomes_metadata() {
    assert_eq!(
        query_with_row_metadata("limit=500&includeObject=None"),
        "limit=500&includeObject=Metadata"
    );
    assert_eq!(query_with_row_metadata("watch=true"), "watch=true");
}

fn pods_list() -> Response<Body> {
    let body = br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5","remainingItemCount":3},"items":[{"metadata":{"name":"nginx-1","namespace":"default"}},{"metadata":{"name":"web-1","namespace":"default"}}]}"#;
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(h::full(&body[..]))
        .unwrap()
}

#[tokio::test]
async fn lists_lose_hidden_items_and_count_them() {
    let hidden = AtomicU64::new(0);
    // No filter at all: nothing visible, still a well-formed list.
    let resp = filter_list(pods_list(), "", "pods", None, &hidden).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::CONTENT_LENGTH).is_none());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
    assert!(!String::from_utf8_lossy(&body).contains("nginx"));
    assert_eq!(hidden.load(Ordering::Relaxed), 2);
}

/// A policy store over a temp dir: user u may watch pods in ns d
/// named by `names` (YAML list), or every pod there when `None`.
fn store(dir: &std::path::Path, names: Option<&str>) -> kac_policy::PolicyStore {
    write_policy(dir, names);
    kac_policy::PolicyStore::open(&[dir]).unwrap()
}

fn write_policy(dir: &std::path::Path, names: Option<&str>) {
    let names = names.map_or(String::new(), |n| format!(", names: {n}"));
    let text = format!("apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata: {{name: p}}\nspec:\n  assignTo: {{users: [u]}}\n  resources: {{clusters: [c]}}\n  subjects: {{}}\n  actions:\n  - {{effect: allow, resources: [pods], namespaces: [d]{names}, verbs: [watch]}}\n");
    std::fs::write(dir.join("p.yaml"), text).unwrap();
}

fn watch_policy(store: &kac_policy::PolicyStore) -> WatchPolicy {
    WatchPolicy {
        live: store.live(),
        set: store.current(),
        user: UserContext {
            name: "u".into(),
            ..Default::default()
        },
        cluster: ClusterContext {
            name: "c".into(),
            ..Default::default()
        },
        request: RequestAttributes {
            verb: "watch".into(),
            resource: "pods".into(),
            namespace: Some("d".into()),
            ..Default::default()
        },
    }
}

fn event(ty: &str, name: &str, rv: u32) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"{ty}\",\"object\":{{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"{name}\",\"namespace\":\"d\",\"resourceVersion\":\"{rv}\",\"labels\":{{\"rv\":\"{rv}\"}}}}}}}}\n"
    ))
}

/// A watch response whose events the test sends one by one.
fn watch_response() -> (
    tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    Response<Body>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(8);
    let body = StreamBody::new(tokio_stream_from(rx).map(|r| r.map(hyper::body::Frame::data)))
        .boxed_unsync();
    let resp = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    (tx, resp)
}

async fn next_text(body: &mut Body) -> Option<String> {
    loop {
        let frame = body.frame().await?.unwrap();
        if let Ok(d) = frame.into_data() {
            return Some(String::from_utf8(d.to_vec()).unwrap());
        }
    }
}

/// mtime granularity: make the rewrite visible to the store's poll.
fn reload(dir: &std::path::Path, store: &kac_policy::PolicyStore, names: Option<&str>) {
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_policy(dir, names);
    store.reload().unwrap();
}

#[tokio::test]
async fn a_filtered_watch_follows_a_reload_with_one_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), Some("[\"a*\", \"b*\"]"));
    let filter = match watch_policy(&store).scope() {
        ListScope::Filter(f) => f,
        other => panic!("{other:?}"),
    };
    let (tx, resp) = watch_response();
    let hidden = Arc::new(AtomicU64::new(0));
    let mut body =
        filter_watch(resp, Some(filter), watch_policy(&store), hidden.clone()).into_body();
    tx.send(Ok(event("MODIFIED", "b1", 1))).await.unwrap();
    assert!(next_text(&mut body).await.unwrap().contains("\"b1\""));
    // b* is hidden from now on. b2 was never sent but was visible before
    // (the client may have it from its list): it gets a DELETED too.
    reload(dir.path(), &store, Some("[\"a*\"]"));
    tx.send(Ok(event("MODIFIED", "b1", 2))).await.unwrap();
    let out = next_text(&mut body).await.unwrap();
    assert!(
        out.contains("\"DELETED\"") && out.contains("\"b1\"") && !out.contains("labels"),
        "{out}"
    );
    tx.send(Ok(event("MODIFIED", "b2", 3))).await.unwrap();
    let out = next_text(&mut body).await.unwrap();
    assert!(
        out.contains("\"DELETED\"") && out.contains("\"b2\""),
        "{out}"
    );
    // Nothing more about them; a1 still flows.
    tx.send(Ok(event("MODIFIED", "b1", 4))).await.unwrap();
    tx.send(Ok(event("MODIFIED", "a1", 5))).await.unwrap();
    let out = next_text(&mut body).await.unwrap();
    assert!(out.contains("\"a1\"") && !out.contains("b1"), "{out}");
    drop(tx);
    assert!(next_text(&mut body).await.is_none());
    assert_eq!(hidden.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn an_unfiltered_watch_ends_when_a_reload_restricts_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), None);
    let (tx, resp) = watch_response();
    let mut body = end_watch_on_policy_change(resp, watch_policy(&store)).into_body();
    tx.send(Ok(event("ADDED", "x", 1))).await.unwrap();
    assert!(next_text(&mut body).await.unwrap().contains("\"x\""));
    // A reload that changes nothing for this watch: it goes on.
    reload(dir.path(), &store, None);
    tx.send(Ok(event("MODIFIED", "x", 2))).await.unwrap();
    assert!(next_text(&mut body).await.unwrap().contains("\"x\""));
    // Now only a* may be seen: the next event ends the stream unsent.
    reload(dir.path(), &store, Some("[\"a*\"]"));
    tx.send(Ok(event("MODIFIED", "x", 3))).await.unwrap();
    assert!(next_text(&mut body).await.is_none());
}

#[tokio::test]
async fn unparsable_or_non_json_bodies_are_refused_with_502() {
    let hidden = AtomicU64::new(0);
    let resp = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(h::full(
            &b"{\"kind\":\"PodList\",\"items\":[{\"metadata\":"[..],
        ))
        .unwrap();
    let resp = filter_list(resp, "", "pods", None, &hidden).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let resp = Response::builder()
        .header(header::CONTENT_TYPE, "application/vnd.kubernetes.protobuf")
        .body(h::full(&b"k8s\0..."[..]))
        .unwrap();
    let resp = filter_list(resp, "", "pods", None, &hidden).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
}
