//! Watches: newline-delimited JSON events on a chunked response, each flushed as
//! its own chunk. Replays history from `resourceVersion`, answers an expired one with
//! an ERROR event carrying a 410 Status, sends BOOKMARKs when allowed, honours
//! `timeoutSeconds`, and applies selectors the way the cacher does (an object that
//! stops matching is DELETED for that watcher, one that starts matching is ADDED).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::api::{ApiError, ApiResult};
use crate::handlers::{selectors, Call};
use crate::http::{self, Body};
use crate::negotiate::Output;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{set_rv, Event, EventType};
use crate::table::{self, IncludeObject};

/// How a watcher renders event objects.
#[derive(Clone, Copy)]
struct Render {
    output: Output,
    include: IncludeObject,
}

/// Decides what a watcher with these selectors sees of an event (pure; unit-tested).
pub fn project(
    event: &Event,
    ls: &LabelSelector,
    fs: &FieldSelector,
) -> Option<(EventType, Arc<Value>)> {
    let matches = |o: &Value| ls.matches_object(o) && fs.matches_object(o);
    let cur = matches(&event.object);
    match event.kind {
        EventType::Added | EventType::Deleted => cur.then(|| (event.kind, event.object.clone())),
        EventType::Modified => {
            let prev = event.prev.as_deref().is_some_and(matches);
            match (prev, cur) {
                (true, true) => Some((EventType::Modified, event.object.clone())),
                (false, true) => Some((EventType::Added, event.object.clone())),
                (true, false) => {
                    // The old state, stamped with the event's resourceVersion.
                    let mut old = event.prev.as_deref().cloned().unwrap_or_default();
                    set_rv(&mut old, event.rv);
                    Some((EventType::Deleted, Arc::new(old)))
                }
                (false, false) => None,
            }
        }
    }
}

fn frame(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn render(r: Render, rt_kind: &str, obj: &Value, first: &mut bool) -> Value {
    match r.output {
        Output::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(json!(""));
            let t = table::table(
                rt_kind,
                &[obj],
                r.include,
                json!({"resourceVersion": rv}),
                *first,
            );
            *first = false;
            t
        }
        Output::PartialObjectMetadata | Output::PartialObjectMetadataList => {
            table::partial_metadata(obj)
        }
        _ => obj.clone(),
    }
}

/// Starts a watch and returns the streaming response.
pub fn watch(call: &Call<'_>) -> ApiResult<Response<Body>> {
    let (ls, mut fs) = selectors(call.rt, call.query)?;
    let include = IncludeObject::parse(call.query.get("includeObject"))
        .map_err(|e| ApiError::bad_request(&e))?;
    // A watch on a named object is a watch with metadata.name pinned.
    if !call.name.is_empty() && fs.pinned_name().is_none() {
        fs = FieldSelector::parse(&format!("metadata.name={}", call.name), call.rt.kind)
            .map_err(|e| ApiError::bad_request(&e))?;
    }
    let from = match call.query.get("resourceVersion").unwrap_or("") {
        "" => None,
        rv => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(&format!(
                "resourceVersion: Invalid value: \"{rv}\": must be a valid resourceVersion"
            ))
        })?),
    };
    let timeout = call
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let bookmarks = call
        .query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let ns = (!call.namespace.is_empty()).then(|| call.namespace.clone());
    let r = Render {
        output: call.output,
        include,
    };
    let rt = call.rt;
    let sim = call.sim.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let start = sim.store.watch(rt, ns.as_deref(), from);
    tokio::spawn(async move {
        let mut first = true;
        let mut start = match start {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(frame("ERROR", &e.to_status())).await;
                return;
            }
        };
        let mut last_rv = sim.store.current_rv();
        for ev in start.backlog.drain(..) {
            if let Some((kind, obj)) = project(&ev, &ls, &fs) {
                let o = render(r, rt.kind, &obj, &mut first);
                if tx.send(frame(kind.as_str(), &o)).await.is_err() {
                    return;
                }
            }
            last_rv = last_rv.max(ev.rv);
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(sim.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let rv = last_rv.max(sim.store.current_rv());
                    let obj = json!({"kind": rt.kind, "apiVersion": rt.api_version(),
                                     "metadata": {"resourceVersion": rv.to_string()}});
                    if tx.send(frame("BOOKMARK", &obj)).await.is_err() {
                        return;
                    }
                }
                ev = start.rx.recv() => match ev {
                    Ok(ev) => {
                        if ev.resource != rt.index() || ns.as_deref().is_some_and(|n| n != ev.namespace) {
                            continue;
                        }
                        last_rv = ev.rv;
                        if let Some((kind, obj)) = project(&ev, &ls, &fs) {
                            let o = render(r, rt.kind, &obj, &mut first);
                            if tx.send(frame(kind.as_str(), &o)).await.is_err() {
                                return;
                            }
                        }
                    }
                    // A watcher that fell behind the broadcast buffer is ended; the
                    // client re-lists, as with a real apiserver restart.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            }
        }
    });
    let mut resp = Response::new(http::channel(rx));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventType, prev: Option<Value>, cur: Value) -> Event {
        Event {
            rv: 9,
            kind,
            resource: 0,
            namespace: "d".into(),
            object: Arc::new(cur),
            prev: prev.map(Arc::new),
        }
    }

    fn labeled(app: &str) -> Value {
        json!({"metadata": {"name": "p", "resourceVersion": "8", "labels": {"app": app}}})
    }

    #[test]
    fn selector_transitions_like_the_cacher() {
        let ls = LabelSelector::parse("app=web").unwrap();
        let fs = FieldSelector::default();
        let e = ev(EventType::Modified, Some(labeled("web")), labeled("db"));
        let (k, o) = project(&e, &ls, &fs).unwrap();
        assert_eq!(k, EventType::Deleted);
        assert_eq!(o["metadata"]["labels"]["app"], "web");
        assert_eq!(o["metadata"]["resourceVersion"], "9");
        let e = ev(EventType::Modified, Some(labeled("db")), labeled("web"));
        assert_eq!(project(&e, &ls, &fs).unwrap().0, EventType::Added);
        let e = ev(EventType::Modified, Some(labeled("db")), labeled("db"));
        assert!(project(&e, &ls, &fs).is_none());
        let e = ev(EventType::Added, None, labeled("db"));
        assert!(project(&e, &ls, &fs).is_none());
        let e = ev(EventType::Modified, Some(labeled("web")), labeled("web"));
        assert_eq!(project(&e, &ls, &fs).unwrap().0, EventType::Modified);
    }

    #[test]
    fn frames_end_with_newline() {
        let f = frame("ADDED", &json!({"a": 1}));
        assert!(f.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(v["type"], "ADDED");
    }
}
