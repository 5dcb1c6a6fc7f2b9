//! The request flow: route → authenticate → attribute → decide →
//! impersonate → forward → audit.
//!
//! Every branch ends in one response whose body is wrapped in an
//! [`AuditedBody`], so each request yields exactly one audit event, whether
//! it was served, denied or refused.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use kac_event::{ApiEvent, DecisionRecord, Impersonation, Outcome, SessionStart, UserInfo};
use kac_policy::{
    ClusterContext, Decision, ListScope, PolicyStore, RequestAttributes, UserContext,
};
use kac_request::RequestInfo;
use serde_json::json;

use crate::audit::AuditTx;
use crate::audited::{AuditedBody, CountingBody, Finish};
use crate::authn::{self, Authenticator};
use crate::clusters::{Cluster, Registry};
use crate::config::{OptionalRecording, SessionConfig, SpdyMode};
use crate::filtering;
use crate::forward::{self, Identity};
use crate::http::{self as h, Body};
use crate::metrics::{track, Gauge, Metrics};
use crate::session::{self, SessionContext};
use crate::shutdown::Shutdown;
use crate::users::User;

/// Everything a request needs; shared by all connections.
pub struct Proxy {
    pub clusters: Registry,
    pub authn: Authenticator,
    pub policies: PolicyStore,
    pub audit: AuditTx,
    pub metrics: Arc<Metrics>,
    pub sessions: SessionConfig,
    /// Ends watches and sessions and tracks their tasks at shutdown.
    pub shutdown: Shutdown,
}

/// How a plain (non-upgrade) request is forwarded.
#[derive(Debug, Clone, Copy)]
struct ForwardMode {
    /// A watch: streams for long, gets its own HTTP/1.1 connection.
    watch: bool,
    /// The response will be filtered: ask for JSON the filter can read.
    filtered: bool,
}

/// What the listener knows about the connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The user named by a verified client certificate (CN), if any.
    pub client_cert_user: Option<String>,
}

/// The result of routing: the response and how to finish the audit event.
struct Routed {
    resp: Response<Body>,
    watch: bool,
    /// Items hidden by a filtered watch, read when the stream ends.
    hidden: Option<Arc<AtomicU64>>,
}

impl Routed {
    fn new(resp: Response<Body>) -> Self {
        Self {
            resp,
            watch: false,
            hidden: None,
        }
    }
}

impl Proxy {
    /// Serve one request.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Arc<ConnInfo>,
    ) -> Response<Body> {
        let start = Instant::now();
        let mut ev = ApiEvent {
            id: kac_event::new_id(),
            time: Utc::now(),
            source_ip: conn.remote.ip().to_string(),
            user_agent: header_str(&req, header::USER_AGENT),
            method: req.method().to_string(),
            request_uri: req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            decision: DecisionRecord {
                outcome: Outcome::Error,
                ..Default::default()
            },
            ..Default::default()
        };
        let bytes_in = Arc::new(AtomicU64::new(0));
        let routed = match req.uri().path() {
            "/healthz" | "/livez" => return h::text("ok", "text/plain"),
            "/readyz" => return self.readyz(),
            "/metrics" => return self.metrics_response(),
            p if p.starts_with("/kac/") => {
                Routed::new(crate::login::serve(&self, req, &conn, &mut ev).await)
            }
            _ => self.route(req, &conn, &mut ev, bytes_in.clone()).await,
        };
        let Routed {
            mut resp,
            watch,
            hidden,
        } = routed;
        // Long streams end cleanly when the proxy shuts down.
        let long = watch
            || is_log_follow(
                &ev.subresource,
                ev.request_uri.split_once('?').map(|(_, q)| q),
            );
        ev.code = resp.status().as_u16();
        if let Ok(v) = HeaderValue::from_str(&ev.id) {
            resp.headers_mut().insert("kac-audit-id", v);
        }
        let finish = Finish {
            event: ev,
            start,
            bytes_in,
            audit: self.audit.clone(),
            metrics: self.metrics.clone(),
            watch: watch.then(|| track(&self.metrics, Gauge::OpenWatches)),
            hidden,
        };
        resp.map(|b| {
            let b = if long {
                self.shutdown.end_stream_on_shutdown(b).boxed_unsync()
            } else {
                b
            };
            AuditedBody::new(b, finish).boxed_unsync()
        })
    }

    fn readyz(&self) -> Response<Body> {
        if self.shutdown.is_shutting_down() {
            return h::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "kac-proxy is shutting down",
            );
        }
        match self.audit.healthy() {
            Ok(()) => h::text("ok", "text/plain"),
            Err(e) => h::status(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }

    fn metrics_response(&self) -> Response<Body> {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.audit.stats();
        let extra = [
            (
                "kac_audit_queue_depth",
                "Audit events waiting for the writer.",
                self.audit.queue_depth() as f64,
            ),
            (
                "kac_audit_events_written",
                "Audit events written.",
                s.written.load(Relaxed) as f64,
            ),
            (
                "kac_audit_events_failed",
                "Audit events the backend failed to write.",
                s.failed.load(Relaxed) as f64,
            ),
            (
                "kac_audit_requests_refused",
                "Requests refused because the audit queue was full.",
                s.refused.load(Relaxed) as f64,
            ),
        ];
        h::text(self.metrics.render(&extra), "text/plain; version=0.0.4")
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        ev: &mut ApiEvent,
        bytes_in: Arc<AtomicU64>,
    ) -> Routed {
        // /clusters/{name}/{rest...}
        let path = req.uri().path().to_owned();
        let Some((cluster_name, rest)) = split_cluster(&path) else {
            ev.error = Some("not a cluster path".into());
            return Routed::new(h::status(
                StatusCode::NOT_FOUND,
                format!("the path {path:?} is not served by kac-proxy; cluster APIs are under /clusters/{{name}}/"),
            ));
        };
        ev.cluster = cluster_name.to_owned();
        ev.request_uri = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };

        // Authenticate before saying anything about clusters.
        let user = match self.authn.authenticate(req.headers(), conn) {
            Ok(u) => u,
            Err(e) => {
                ev.error = Some(e.to_string());
                return Routed::new(h::status(StatusCode::UNAUTHORIZED, e.client_message()));
            }
        };
        ev.user = UserInfo {
            name: user.name.clone(),
            groups: user.groups.clone(),
            attributes: user.attributes.clone(),
            auth_method: user.auth_method.to_owned(),
        };

        let Some(cluster) = self.clusters.get(cluster_name) else {
            ev.error = Some("unknown cluster".into());
            return Routed::new(h::status_with_details(
                StatusCode::NOT_FOUND,
                format!("cluster {cluster_name:?} not found in the kac-proxy registry"),
                json!({"name": cluster_name, "kind": "clusters"}),
            ));
        };
        ev.cluster_tags = cluster.tags.clone();

        // Identity assertions from clients never pass.
        if let Some(name) = req
            .headers()
            .keys()
            .find(|n| forward::is_identity_header(n))
        {
            let msg = format!(
                "kac-proxy does not accept the {} header from clients: the proxy chooses the identity it uses on the cluster",
                name.as_str()
            );
            ev.error = Some(msg.clone());
            ev.decision.outcome = Outcome::Denied;
            ev.decision.reason = "client sent an impersonation header".into();
            return Routed::new(h::status(StatusCode::FORBIDDEN, msg));
        }

        let info = match kac_request::attribute(req.method(), rest, req.uri().query()) {
            Ok(i) => i,
            Err(e) => {
                ev.error = Some(e.to_string());
                return Routed::new(h::status(StatusCode::BAD_REQUEST, e.to_string()));
            }
        };
        fill_attributes(ev, &info);

        if let Err(e) = self.audit.admit() {
            ev.error = Some(e.to_string());
            return Routed::new(h::status(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("kac-proxy cannot audit this request, so it refuses it: {e}"),
            ));
        }

        let user_ctx = UserContext {
            name: user.name.clone(),
            groups: user.groups.clone(),
            attributes: user.attributes.clone(),
        };
        let cluster_ctx = ClusterContext {
            name: cluster.name.clone(),
            tags: cluster.tags.clone(),
        };
        let attrs = request_attributes(&info);
        let policies = self.policies.current();
        let decision = policies.decide(&user_ctx, &cluster_ctx, &attrs);
        let (subjects, filtered, require_recording) = match decision {
            Decision::Allow {
                subjects,
                policy,
                rule,
                require_recording,
                filtered,
            } => {
                ev.decision = DecisionRecord {
                    outcome: Outcome::Allowed,
                    policy: Some(policy.to_string()),
                    rule: Some(rule.to_string()),
                    reason: String::new(),
                };
                (subjects, filtered, require_recording)
            }
            Decision::Deny {
                policy,
                rule,
                reason,
            } => {
                ev.decision = DecisionRecord {
                    outcome: Outcome::Denied,
                    policy: policy.as_ref().map(|p| p.to_string()),
                    rule: rule.as_ref().map(|r| r.to_string()),
                    reason: reason.as_str().to_owned(),
                };
                let by = match (&policy, &rule) {
                    (Some(p), Some(r)) => format!("denied by policy {p:?} rule {r}"),
                    _ => reason.to_string(),
                };
                return Routed::new(forbidden(&user, &info, &cluster.name, &by));
            }
        };
        let id = Identity {
            user: subjects.user.clone(),
            groups: subjects.groups.clone(),
            kac_user: user.name.clone(),
        };
        ev.impersonated = Some(Impersonation {
            user: id.user.clone(),
            groups: id.groups.clone(),
        });

        // Lists and watches allowed only in part are filtered per object.
        let scope = if filtered && (info.verb == "list" || info.verb == "watch") {
            let ns = (!info.namespace.is_empty()).then_some(info.namespace.as_str());
            match policies.list_scope(
                &user_ctx,
                &cluster_ctx,
                &info.verb,
                &info.api_group,
                &info.resource,
                ns,
            ) {
                ListScope::All => None,
                ListScope::None => Some(None),
                ListScope::Filter(f) => Some(Some(f)),
            }
        } else if filtered {
            // The engine marks only list/watch as filterable; anything else
            // flagged filtered is refused rather than passed unfiltered.
            ev.error = Some("response filtering required for a non-list request".into());
            return Routed::new(forbidden(
                &user,
                &info,
                &cluster.name,
                "only part of this request is allowed, and it cannot be filtered",
            ));
        } else {
            None
        };

        let ev_hidden = Arc::new(AtomicU64::new(0));
        let upgrade = req.headers().contains_key(header::UPGRADE);
        let watch = info.verb == "watch";
        let resp = if upgrade
            && session::is_session_request(&info.resource, &info.subresource, req.headers())
        {
            return Routed::new(
                self.relay_session(req, rest, cluster.clone(), &id, ev, require_recording)
                    .await,
            );
        } else if upgrade {
            self.forward_upgrade(req, rest, &cluster, &id, ev).await
        } else {
            let mode = ForwardMode {
                watch,
                filtered: scope.is_some(),
            };
            self.forward(req, rest, &cluster, &id, bytes_in, mode).await
        };
        // A watch follows policy reloads (see filtering::WatchPolicy).
        let watch_policy = watch.then(|| filtering::WatchPolicy {
            live: self.policies.live(),
            set: policies.clone(),
            user: user_ctx.clone(),
            cluster: cluster_ctx.clone(),
            request: attrs.clone(),
        });
        match (resp, scope) {
            (Ok(resp), None) => Routed {
                resp: match watch_policy {
                    Some(p) => filtering::end_watch_on_policy_change(resp, p),
                    None => resp,
                },
                watch,
                hidden: None,
            },
            (Ok(resp), Some(filter)) => {
                let resp = if let Some(p) = watch_policy {
                    filtering::filter_watch(resp, filter, p, ev_hidden.clone())
                } else {
                    filtering::filter_list(
                        resp,
                        &info.api_group,
                        &info.resource,
                        filter,
                        &ev_hidden,
                    )
                    .await
                };
                ev.filtered_items = ev_hidden.load(std::sync::atomic::Ordering::Relaxed);
                Routed {
                    resp,
                    watch,
                    hidden: watch.then_some(ev_hidden),
                }
            }
            (Err(msg), _) => {
                ev.error = Some(msg.clone());
                Routed::new(h::status(StatusCode::BAD_GATEWAY, msg))
            }
        }
    }

    fn upstream_request(
        &self,
        parts: &hyper::http::request::Parts,
        rest: &str,
        cluster: &Cluster,
        id: &Identity,
        upgrade: bool,
    ) -> Result<hyper::http::request::Builder, String> {
        let pq = match parts.uri.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        let uri = cluster.uri(&pq).map_err(|e| e.to_string())?;
        let mut headers = forward::upstream_headers(&parts.headers, upgrade);
        forward::authorize_upstream(&mut headers, cluster, id)?;
        let mut b = Request::builder().method(parts.method.clone()).uri(uri);
        if upgrade {
            b = b.version(hyper::Version::HTTP_11);
        }
        *b.headers_mut().expect("fresh builder") = headers;
        Ok(b)
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        rest: &str,
        cluster: &Cluster,
        id: &Identity,
        bytes_in: Arc<AtomicU64>,
        mode: ForwardMode,
    ) -> Result<Response<Body>, String> {
        let (mut parts, body) = req.into_parts();
        if mode.filtered {
            filtering::prepare_headers(&mut parts.headers, mode.watch);
            if let Some(q) = parts.uri.query() {
                let q = filtering::query_with_row_metadata(q);
                parts.uri = format!("{}?{q}", parts.uri.path())
                    .parse()
                    .map_err(|e| format!("rewriting the query: {e}"))?;
            }
        }
        let body = CountingBody::new(forward::boxed(body), bytes_in).boxed_unsync();
        let upstream = self
            .upstream_request(&parts, rest, cluster, id, false)?
            .body(body)
            .map_err(|e| e.to_string())?;
        // HTTP/1.1 upstream: a watch holds a pooled connection of its own
        // (see `Cluster::client`).
        let resp = cluster.client.request(upstream).await.map_err(|e| {
            format!(
                "cluster {:?} is unreachable: {}",
                cluster.name,
                error_chain(&e)
            )
        })?;
        Ok(forward::pass_response(resp))
    }

    /// Exec, attach and port-forward: recorded by the session relay.
    async fn relay_session(
        &self,
        req: Request<Incoming>,
        rest: &str,
        cluster: Arc<Cluster>,
        id: &Identity,
        ev: &mut ApiEvent,
        require_recording: bool,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let upstream = match self
            .upstream_request(&parts, rest, &cluster, id, true)
            .and_then(|b| b.body(h::empty()).map_err(|e| e.to_string()))
        {
            Ok(u) => u,
            Err(e) => {
                ev.error = Some(e.clone());
                return h::status(StatusCode::BAD_GATEWAY, e);
            }
        };
        let mut start = SessionStart {
            session_id: kac_event::new_id(),
            time: Utc::now(),
            user: ev.user.clone(),
            cluster: cluster.name.clone(),
            cluster_tags: cluster.tags.clone(),
            request_id: ev.id.clone(),
            recording_required: require_recording,
            ..Default::default()
        };
        session::describe_request(
            &mut start,
            &ev.subresource,
            &ev.namespace,
            &ev.name,
            parts.uri.query(),
        );
        ev.session_id = Some(start.session_id.clone());
        let ctx = SessionContext {
            start,
            require_recording,
            audit: self.audit.clone(),
            spdy: self.sessions.spdy,
            cluster,
            shutdown: self.shutdown.clone(),
            // Held by the session's pump until the session ends.
            live: Some(track(&self.metrics, Gauge::LiveSessions)),
        };
        let opts = session::RelayOptions {
            record_spdy: self.sessions.spdy == SpdyMode::Record,
            skip_optional: self.sessions.optional_recording == OptionalRecording::Skip,
        };
        session::relay_with(Request::from_parts(parts, body), upstream, ctx, opts).await
    }

    async fn forward_upgrade(
        &self,
        req: Request<Incoming>,
        rest: &str,
        cluster: &Cluster,
        id: &Identity,
        ev: &mut ApiEvent,
    ) -> Result<Response<Body>, String> {
        let (parts, body) = req.into_parts();
        let upstream = self
            .upstream_request(&parts, rest, cluster, id, true)?
            .body(h::empty())
            .map_err(|e| e.to_string())?;
        let req = Request::from_parts(parts, body);
        let (resp, tunnel) = forward::pass_upgrade(req, upstream, cluster).await?;
        if let Some(task) = tunnel {
            let guard = track(&self.metrics, Gauge::LiveSessions);
            let audit = self.audit.clone();
            let mut closing = ev.clone();
            let stop = self.shutdown.started();
            self.shutdown.spawn(async move {
                // A raw tunnel has no frame to say why: at shutdown it is cut.
                let abort = task.abort_handle();
                let (up, down) = tokio::select! {
                    r = task => r.unwrap_or((0, 0)),
                    _ = stop => {
                        abort.abort();
                        closing.error = Some("closed by kac-proxy shutdown".into());
                        (0, 0)
                    }
                };
                drop(guard);
                // A second event describes the tunnel when it closes.
                closing.id = kac_event::new_id();
                closing.time = Utc::now();
                closing.bytes_in = up;
                closing.bytes_out = down;
                closing.code = 101;
                closing
                    .error
                    .get_or_insert_with(|| "upgraded connection closed".into());
                audit.emit_detached(kac_event::Event::Api(Box::new(closing)));
            });
        }
        Ok(resp)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `pods/log` with `follow=true`: streams until the pod or the client ends.
/// Booleans parse like the apiserver's (Go `strconv.ParseBool`).
fn is_log_follow(subresource: &str, query: Option<&str>) -> bool {
    subresource == "log"
        && query.is_some_and(|q| {
            q.split('&').any(|kv| {
                matches!(
                    kv.split_once('='),
                    Some(("follow", "1" | "t" | "T" | "true" | "TRUE" | "True"))
                )
            })
        })
}

/// `/clusters/{name}/rest` → (`name`, `/rest`).
pub fn split_cluster(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/clusters/")?;
    let (name, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    (!name.is_empty()).then_some((name, rest))
}

fn fill_attributes(ev: &mut ApiEvent, info: &RequestInfo) {
    ev.verb = info.kac_verb().to_owned();
    ev.api_group = info.api_group.clone();
    ev.api_version = info.api_version.clone();
    ev.resource = info.resource.clone();
    ev.subresource = info.subresource.clone();
    ev.namespace = info.namespace.clone();
    ev.name = info.name.clone();
    ev.non_resource = !info.is_resource_request;
}

/// Map attribution output into the policy engine's input.
pub fn request_attributes(info: &RequestInfo) -> RequestAttributes {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    if !info.is_resource_request {
        return RequestAttributes {
            verb: info.verb.clone(),
            non_resource_path: Some(info.path.clone()),
            ..Default::default()
        };
    }
    RequestAttributes {
        verb: info.kac_verb().to_owned(),
        api_group: info.api_group.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: opt(&info.namespace),
        name: opt(&info.name),
        non_resource_path: None,
    }
}

/// `pods "nginx-1"` / `pods` / `path "/version"`, as in apiserver messages.
fn describe(info: &RequestInfo) -> String {
    if !info.is_resource_request {
        return format!("path {:?}", info.path);
    }
    let mut r = info.resource.clone();
    if !info.subresource.is_empty() {
        r = format!("{r}/{}", info.subresource);
    }
    if info.name.is_empty() {
        r
    } else {
        format!("{r} {:?}", info.name)
    }
}

/// A Forbidden Status worded like the apiserver's, plus KAC's reason.
fn forbidden(user: &User, info: &RequestInfo, cluster: &str, by: &str) -> Response<Body> {
    let msg = if info.is_resource_request {
        let mut resource = info.resource.clone();
        if !info.subresource.is_empty() {
            resource = format!("{resource}/{}", info.subresource);
        }
        let scope = if info.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", info.namespace)
        };
        format!(
            "{} is forbidden: User {:?} cannot {} resource {:?} in API group {:?} {scope} on cluster {cluster:?}: {by}",
            describe(info),
            user.name,
            info.kac_verb(),
            resource,
            info.api_group,
        )
    } else {
        format!(
            "forbidden: User {:?} cannot {} path {:?} on cluster {cluster:?}: {by}",
            user.name, info.verb, info.path
        )
    };
    let details = if info.is_resource_request {
        json!({"name": info.name, "group": info.api_group, "kind": info.resource})
    } else {
        serde_json::Value::Null
    };
    h::status_with_details(StatusCode::FORBIDDEN, msg, details)
}

/// Re-exported for the listener.
pub use authn::peer_user;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_follow_is_recognised_like_the_apiserver_parses_booleans() {
        assert!(is_log_follow("log", Some("container=main&follow=true")));
        assert!(is_log_follow("log", Some("follow=1")));
        assert!(!is_log_follow("log", Some("follow=false")));
        assert!(!is_log_follow("log", Some("nofollow=true")));
        assert!(!is_log_follow("log", None));
        assert!(!is_log_follow("exec", Some("follow=true")));
    }

    #[test]
    fn cluster_prefix_splits() {
        assert_eq!(
            split_cluster("/clusters/prod/api/v1/pods"),
            Some(("prod", "/api/v1/pods"))
        );
        assert_eq!(split_cluster("/clusters/prod"), Some(("prod", "/")));
        assert_eq!(split_cluster("/clusters//api"), None);
        assert_eq!(split_cluster("/api/v1/pods"), None);
    }

    #[test]
    fn attributes_map_kac_verbs_and_non_resource_paths() {
        let info = kac_request::attribute(
            &hyper::Method::GET,
            "/api/v1/namespaces/default/pods/nginx-1/exec",
            Some("command=sh&stdin=true"),
        )
        .unwrap();
        let a = request_attributes(&info);
        assert_eq!(a.verb, "exec");
        assert_eq!(a.resource, "pods");
        assert_eq!(a.subresource, "exec");
        assert_eq!(a.namespace.as_deref(), Some("default"));
        assert_eq!(a.name.as_deref(), Some("nginx-1"));

        let info = kac_request::attribute(&hyper::Method::GET, "/version", None).unwrap();
        let a = request_attributes(&info);
        assert_eq!(a.non_resource_path.as_deref(), Some("/version"));
        assert_eq!(a.verb, "get");
    }

    #[test]
    fn forbidden_message_names_user_verb_resource_namespace_cluster_and_rule() {
        let info = kac_request::attribute(
            &hyper::Method::DELETE,
            "/api/v1/namespaces/default/pods/nginx-1",
            None,
        )
        .unwrap();
        let user = User {
            name: "david".into(),
            groups: vec![],
            attributes: Default::default(),
            auth_method: "token",
        };
        let resp = forbidden(
            &user,
            &info,
            "prod",
            "denied by policy \"david\" rule actions[2]",
        );
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let msg = v["message"].as_str().unwrap();
        assert_eq!(
            msg,
            "pods \"nginx-1\" is forbidden: User \"david\" cannot delete resource \"pods\" in API group \"\" in the namespace \"default\" on cluster \"prod\": denied by policy \"david\" rule actions[2]"
        );
        assert_eq!(v["details"]["kind"], "pods");
    }
}
