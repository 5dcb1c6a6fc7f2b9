//! Response filtering in the request flow: lists, Tables and watch streams
//! show only the objects the user may see.
//!
//! The proxy asks the cluster with the broad identity of the policy subject
//! and removes hidden objects itself (kac-filter, with the policy engine's
//! per-object check). To make sure the body is one it can read, it asks for
//! JSON (keeping any `as=Table` parameters) and, for Tables, for row
//! metadata (`includeObject=Metadata` instead of `None`): it never guesses an
//! object's identity from cells. A body it cannot parse is refused with a 502
//! Status, never passed through.
//!
//! Lists are filtered as they stream in (memory bounded by the largest item)
//! and the filtered result is sent once complete, so a failure can still be
//! a proper 502. Watch events are filtered and flushed one by one; an
//! unreadable event ends the stream with an ERROR event.
//!
//! Policies can be reloaded while a watch runs, and since policies select
//! objects by namespace and name only, a reload is what makes a watched
//! object become hidden. A watch therefore follows the live policy set
//! ([`WatchPolicy`]): a filtered watch recomputes its scope before the next
//! event after a reload (kac-filter then sends one synthesized DELETED for
//! an object it had shown and now hides, and nothing more about it); an
//! unfiltered watch, which the proxy passes on undecoded, is ended at its
//! next event if the reloaded set no longer allows it whole (clients
//! re-list and re-watch under the new policies).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use kac_filter::{Encoding, ListContext, ListStream, ObjectRef, WatchFilter};
use kac_policy::{
    ClusterContext, Decision, ListScope, LiveSet, ObjectFilter, PolicySet, RequestAttributes,
    UserContext,
};

use crate::http::{self as h, Body, BodyError};

/// Rewrite `Accept` so the response is JSON the filter can read: protobuf
/// media types are dropped, `as=Table`/`as=PartialObjectMetadataList`
/// parameters are kept.
pub fn json_accept(accept: Option<&HeaderValue>) -> HeaderValue {
    let Some(v) = accept.and_then(|v| v.to_str().ok()) else {
        return HeaderValue::from_static("application/json");
    };
    let kept: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .filter_map(|m| {
            let (ty, params) = m.split_once(';').unwrap_or((m, ""));
            let ty = ty.trim();
            if ty.eq_ignore_ascii_case("application/json") || ty == "*/*" || ty == "application/*" {
                Some(if params.is_empty() {
                    "application/json".to_string()
                } else {
                    format!("application/json;{params}")
                })
            } else {
                None
            }
        })
        .collect();
    if kept.is_empty() {
        return HeaderValue::from_static("application/json");
    }
    let mut s = kept.join(",");
    if !kept.iter().any(|m| m == "application/json") {
        s.push_str(",application/json");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("application/json"))
}

/// Rewrite `includeObject=None` to `Metadata` so Table rows carry identity.
pub fn query_with_row_metadata(query: &str) -> String {
    query
        .split('&')
        .map(|kv| {
            if kv.eq_ignore_ascii_case("includeObject=None") {
                "includeObject=Metadata"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Prepare request headers for a filtered request.
pub fn prepare_headers(headers: &mut HeaderMap, watch: bool) {
    let accept = json_accept(headers.get(header::ACCEPT));
    headers.insert(header::ACCEPT, accept);
    // Lists: identity or gzip, both decodable here. Watches: identity, so
    // every event can be filtered and flushed on its own.
    let encoding = if watch { "identity" } else { "gzip" };
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => Ok(Encoding::Identity),
        Some(e) if e.is_empty() || e == "identity" => Ok(Encoding::Identity),
        Some(e) if e == "gzip" => Ok(Encoding::Gzip),
        Some(e) => Err(format!("unsupported Content-Encoding {e:?}")),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn bad_gateway(msg: String) -> Response<Body> {
    h::status(
        StatusCode::BAD_GATEWAY,
        format!("kac-proxy refused to pass on a response it could not filter: {msg}"),
    )
}

/// Filter a list response. Non-200 responses (Status objects) pass as-is.
pub async fn filter_list(
    resp: Response<Body>,
    api_group: &str,
    resource: &str,
    filter: Option<ObjectFilter>,
    hidden_out: &AtomicU64,
) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    if !is_json(resp.headers()) {
        return bad_gateway(format!(
            "expected application/json, got {:?}",
            resp.headers().get(header::CONTENT_TYPE)
        ));
    }
    let enc = match encoding(resp.headers()) {
        Ok(e) => e,
        Err(e) => return bad_gateway(e),
    };
    let ctx = ListContext {
        api_group: api_group.to_owned(),
        resource: resource.to_owned(),
        encoding: enc,
    };
    let visible = move |o: &ObjectRef<'_>| {
        filter
            .as_ref()
            .is_some_and(|f| f.visible(o.namespace, o.name))
    };
    let (mut parts, body) = resp.into_parts();
    let mut stream = ListStream::new(ctx, visible);
    let mut out = Vec::new();
    let mut frames = BodyStream::new(body);
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return bad_gateway(format!("reading the cluster's response: {e}")),
        };
        if let Some(data) = frame.data_ref() {
            match stream.feed(data) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(e) => return bad_gateway(e.to_string()),
            }
        }
    }
    match stream.finish() {
        Ok((tail, hidden, _kept)) => {
            out.extend_from_slice(&tail);
            hidden_out.store(hidden as u64, Ordering::Relaxed);
        }
        Err(e) => return bad_gateway(e.to_string()),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, h::full(out))
}

/// What a watch was decided on, and how to decide it again after a policy
/// reload (see the module documentation).
pub struct WatchPolicy {
    pub live: LiveSet,
    /// The set the watch was decided with.
    pub set: Arc<PolicySet>,
    pub user: UserContext,
    pub cluster: ClusterContext,
    pub request: RequestAttributes,
}

impl WatchPolicy {
    /// The set in force, if a reload replaced the one last seen.
    fn reloaded(&mut self) -> Option<Arc<PolicySet>> {
        let now = self.live.current();
        if Arc::ptr_eq(&now, &self.set) {
            return None;
        }
        self.set = Arc::clone(&now);
        Some(now)
    }

    fn scope(&self) -> ListScope {
        let r = &self.request;
        self.set.list_scope(
            &self.user,
            &self.cluster,
            &r.verb,
            &r.api_group,
            &r.resource,
            r.namespace.as_deref(),
        )
    }
}

/// What a watch may show under one policy set.
enum Scope {
    All,
    Nothing,
    Filter(ObjectFilter),
}

impl Scope {
    fn shows(&self, namespace: Option<&str>, name: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Nothing => false,
            Scope::Filter(f) => f.visible(namespace, name),
        }
    }
}

/// Earlier scopes kept per watch (reloads are rare; beyond this the oldest
/// is forgotten and its objects just stop showing, without a DELETED).
const EARLIER_SCOPES: usize = 8;

/// A filtered watch's visibility test, recomputed after a reload. The
/// scopes it ran under before are kept: an object they showed may be in
/// the client's cache (from the list before the watch), so when it is
/// hidden now the client gets a synthesized DELETED for it.
struct LiveScope {
    policy: WatchPolicy,
    current: Scope,
    earlier: Vec<Scope>,
}

impl LiveScope {
    fn visible(&mut self, namespace: Option<&str>, name: &str) -> bool {
        if self.policy.reloaded().is_some() {
            let next = match self.policy.scope() {
                ListScope::All => Scope::All,
                ListScope::None => Scope::Nothing,
                ListScope::Filter(f) => Scope::Filter(f),
            };
            if self.earlier.len() == EARLIER_SCOPES {
                self.earlier.remove(0);
            }
            self.earlier
                .push(std::mem::replace(&mut self.current, next));
            tracing::info!(
                user = %self.policy.user.name,
                resource = %self.policy.request.resource,
                "policies reloaded: a filtered watch follows the new set"
            );
        }
        self.current.shows(namespace, name)
    }

    /// Whether an earlier scope of this watch showed the object.
    fn known(&self, namespace: Option<&str>, name: &str) -> bool {
        self.earlier.iter().any(|s| s.shows(namespace, name))
    }
}

fn lock(s: &Mutex<LiveScope>) -> std::sync::MutexGuard<'_, LiveScope> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends an unfiltered watch at its next event once a reloaded policy set
/// no longer allows it whole and as the same subjects (it is passed on
/// undecoded, so it cannot start filtering midway).
pub fn end_watch_on_policy_change(resp: Response<Body>, policy: WatchPolicy) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let original = policy
        .set
        .decide(&policy.user, &policy.cluster, &policy.request);
    let (parts, body) = resp.into_parts();
    let guarded = PolicyGuarded {
        inner: body,
        policy,
        original,
        ended: false,
    };
    Response::from_parts(parts, guarded.boxed_unsync())
}

struct PolicyGuarded {
    inner: Body,
    policy: WatchPolicy,
    original: Decision,
    ended: bool,
}

impl PolicyGuarded {
    /// Whether the watch may go on under the set in force now.
    fn still_allowed(&mut self) -> bool {
        let Some(set) = self.policy.reloaded() else {
            return true;
        };
        let p = &self.policy;
        let now = set.decide(&p.user, &p.cluster, &p.request);
        let same = match (&now, &self.original) {
            (
                Decision::Allow {
                    subjects: a,
                    filtered: false,
                    ..
                },
                Decision::Allow { subjects: b, .. },
            ) => a == b,
            _ => false,
        };
        if !same {
            tracing::info!(user = %p.user.name, resource = %p.request.resource, decision = %now,
                "policies reloaded: ending a watch the new set no longer allows whole");
        }
        same
    }
}

impl hyper::body::Body for PolicyGuarded {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if matches!(&next, Some(Ok(f)) if f.is_data()) && !self.still_allowed() {
            self.ended = true;
            return Poll::Ready(None);
        }
        Poll::Ready(next)
    }
}

/// Filter a watch stream event by event, following policy reloads.
pub fn filter_watch(
    resp: Response<Body>,
    filter: Option<ObjectFilter>,
    policy: WatchPolicy,
    hidden_out: Arc<AtomicU64>,
) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    if !is_json(resp.headers()) {
        return bad_gateway(format!(
            "expected a JSON watch stream, got {:?}",
            resp.headers().get(header::CONTENT_TYPE)
        ));
    }
    match encoding(resp.headers()) {
        Ok(Encoding::Identity) => {}
        Ok(Encoding::Gzip) => {
            return bad_gateway("gzip-encoded watch streams are not filtered".into())
        }
        Err(e) => return bad_gateway(e),
    }
    let ctx = ListContext::new(&policy.request.api_group, &policy.request.resource);
    let scope = Arc::new(Mutex::new(LiveScope {
        policy,
        current: filter.map_or(Scope::Nothing, Scope::Filter),
        earlier: Vec::new(),
    }));
    let live = Arc::clone(&scope);
    let visible = move |o: &ObjectRef<'_>| lock(&live).visible(o.namespace, o.name);
    let known = move |o: &ObjectRef<'_>| lock(&scope).known(o.namespace, o.name);
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut wf = WatchFilter::new(ctx, visible).known_by_client(known);
    let mut frames = BodyStream::new(body);
    let stream = async_stream(move |tx| async move {
        while let Some(frame) = frames.next().await {
            let data = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            match wf.feed(&data) {
                Ok(out) => {
                    hidden_out.store(wf.stats().hidden, Ordering::Relaxed);
                    if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Ok(Bytes::from(error_event(&e.to_string())))).await;
                    return;
                }
            }
        }
        match wf.finish() {
            Ok(out) if !out.is_empty() => {
                let _ = tx.send(Ok(Bytes::from(out))).await;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Ok(Bytes::from(error_event(&e.to_string())))).await;
            }
        }
    });
    Response::from_parts(parts, stream)
}

/// A watch ERROR event carrying a 502 Status.
fn error_event(msg: &str) -> Vec<u8> {
    let ev = serde_json::json!({
        "type": "ERROR",
        "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("kac-proxy stopped a watch it could not filter: {msg}"),
            "reason": "BadGateway", "code": 502
        }
    });
    let mut v = serde_json::to_vec(&ev).expect("serializes");
    v.push(b'\n');
    v
}

/// A body fed by a task through a small channel (one event per frame, so
/// each watch event is flushed as soon as it is filtered).
fn async_stream<F, Fut>(f: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(8);
    tokio::spawn(f(tx));
    let s = tokio_stream_from(rx).map(|r| r.map(hyper::body::Frame::data));
    StreamBody::new(s).boxed_unsync()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_drops_protobuf_and_keeps_table_parameters() {
        let kubectl = HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
        assert_eq!(json_accept(Some(&kubectl)), kubectl);
        let go = HeaderValue::from_static("application/vnd.kubernetes.protobuf, application/json");
        assert_eq!(json_accept(Some(&go)), "application/json");
        let proto_table = HeaderValue::from_static(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
        );
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
}
