//! Watches: filtered event by event, and kept in step with policy reloads
//! (see the parent module's documentation).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::header;
use hyper::{Response, StatusCode};
use kac_filter::{Encoding, ListContext, ObjectRef, WatchFilter};
use kac_policy::{
    ClusterContext, Decision, ListScope, LiveSet, ObjectFilter, PolicySet, RequestAttributes,
    UserContext,
};

use super::{bad_gateway, encoding, is_json};
use crate::http::{Body, BodyError};

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

    pub(super) fn scope(&self) -> ListScope {
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

pub(super) fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
