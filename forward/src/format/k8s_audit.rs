//! Kubernetes `audit.k8s.io/v1` `Event`, the record kube-apiserver writes
//! to its audit log and posts to audit webhooks, so that tools reading
//! Kubernetes audit (Falco's k8saudit plugin, SIEM parsers for apiserver
//! logs) read KAC's records unchanged. This is the single implementation;
//! `kac-audit --format k8s-audit` uses it too.
//!
//! Field set (upstream staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go):
//! `level` is always `Metadata` (KAC never copies request or response
//! bodies into events) and `stage` always `ResponseComplete` (one event
//! per request, written when it completed; Falco's stock rules keep only
//! that stage).
//!
//! Identities: `user` is who made the request — the KAC user, with KAC's
//! groups and the users file's attributes as `extra`. `impersonatedUser` is
//! the identity the proxy impersonated towards the cluster (the policy's
//! subject), which is what the cluster's own audit log shows as `user`'s
//! impersonation. This matches the apiserver: `user` authenticated,
//! `impersonatedUser` is who they acted as.
//!
//! Annotations: `authorization.k8s.io/decision` (`allow` or `forbid`) and
//! `authorization.k8s.io/reason` as the apiserver's authorizer writes them,
//! and `kac.dev/*` for what only KAC knows: `cluster`, `policy`, `rule`,
//! `outcome` (allowed, denied, error), `session` (the recorded session this
//! request opened), `verb` (KAC's verb when it differs from the
//! Kubernetes one, e.g. `exec`), `auth-method`, `error`, `filtered-items`.
//!
//! Session events have no audit Event form (render returns `None`): the
//! request that opened the session is an audit Event carrying
//! `kac.dev/session`; the session's commands and exit code are available
//! in the native, ECS and OCSF formats.

use kac_event::{ApiEvent, Event, Outcome};
use serde_json::{json, Map, Value};

use super::{end_time, micros};

/// The audit Event for an API event; `None` for session events.
pub fn render(event: &Event) -> Option<Value> {
    match event {
        Event::Api(a) => Some(api_event(a)),
        Event::Session(_) => None,
    }
}

/// The Kubernetes verb the apiserver would have logged. KAC names connect
/// subresources by what they do (exec, attach, portforward, log); the
/// apiserver derives the verb from the HTTP method (WebSocket exec is a
/// GET, SPDY exec a POST).
pub fn kubernetes_verb(a: &ApiEvent) -> &str {
    match a.verb.as_str() {
        "exec" | "attach" | "portforward" => {
            if a.method.eq_ignore_ascii_case("GET") {
                "get"
            } else {
                "create"
            }
        }
        "log" => "get",
        v => v,
    }
}

/// One API event as an `audit.k8s.io/v1` `Event`.
pub fn api_event(a: &ApiEvent) -> Value {
    let verb = kubernetes_verb(a);
    let mut extra = Map::new();
    for (k, v) in &a.user.attributes {
        extra.insert(k.clone(), json!([v]));
    }
    let mut user = json!({"username": a.user.name});
    if !a.user.groups.is_empty() {
        user["groups"] = json!(a.user.groups);
    }
    if !extra.is_empty() {
        user["extra"] = Value::Object(extra);
    }
    let mut ev = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": a.id,
        "stage": "ResponseComplete",
        "requestURI": a.request_uri,
        "verb": verb,
        "user": user,
        "sourceIPs": if a.source_ip.is_empty() { vec![] } else { vec![a.source_ip.clone()] },
        "responseStatus": response_status(a),
        "requestReceivedTimestamp": micros(a.time),
        "stageTimestamp": micros(end_time(a)),
    });
    let o = ev.as_object_mut().expect("object");
    if !a.user_agent.is_empty() {
        o.insert("userAgent".into(), json!(a.user_agent));
    }
    if let Some(i) = &a.impersonated {
        o.insert(
            "impersonatedUser".into(),
            json!({"username": i.user, "groups": i.groups}),
        );
    }
    if !a.non_resource && !a.resource.is_empty() {
        let mut r = Map::new();
        for (k, v) in [
            ("resource", &a.resource),
            ("namespace", &a.namespace),
            ("name", &a.name),
            ("apiGroup", &a.api_group),
            ("apiVersion", &a.api_version),
            ("subresource", &a.subresource),
        ] {
            if !v.is_empty() {
                r.insert(k.into(), json!(v));
            }
        }
        o.insert("objectRef".into(), Value::Object(r));
    }
    o.insert("annotations".into(), Value::Object(annotations(a, verb)));
    ev
}

/// A `metav1.Status` as the apiserver logs it: just the code on success;
/// `Failure` with a reason and message otherwise.
fn response_status(a: &ApiEvent) -> Value {
    if a.code < 400 {
        return json!({"metadata": {}, "code": a.code});
    }
    let reason = match a.code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        504 => "Timeout",
        500..=599 => "InternalError",
        _ => "",
    };
    let message = a
        .error
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| a.decision.reason.clone());
    let mut s = json!({"metadata": {}, "status": "Failure", "code": a.code});
    if !reason.is_empty() {
        s["reason"] = json!(reason);
    }
    if !message.is_empty() {
        s["message"] = json!(message);
    }
    s
}

fn annotations(a: &ApiEvent, verb: &str) -> Map<String, Value> {
    let mut ann = Map::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            ann.insert(k.into(), json!(v));
        }
    };
    let decision = match a.decision.outcome {
        Outcome::Allowed => "allow",
        Outcome::Denied | Outcome::Error => "forbid",
    };
    put("authorization.k8s.io/decision", decision);
    put("authorization.k8s.io/reason", &a.decision.reason);
    put("kac.dev/cluster", &a.cluster);
    put("kac.dev/outcome", a.decision.outcome.as_str());
    put("kac.dev/policy", a.decision.policy.as_deref().unwrap_or(""));
    put("kac.dev/rule", a.decision.rule.as_deref().unwrap_or(""));
    put("kac.dev/session", a.session_id.as_deref().unwrap_or(""));
    if a.verb != verb {
        put("kac.dev/verb", &a.verb);
    }
    put("kac.dev/auth-method", &a.user.auth_method);
    put("kac.dev/error", a.error.as_deref().unwrap_or(""));
    if a.filtered_items > 0 {
        put("kac.dev/filtered-items", &a.filtered_items.to_string());
    }
    ann
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    /// The fields upstream's Event has without `omitempty`: every consumer
    /// may rely on them.
    pub const REQUIRED: [&str; 10] = [
        "kind",
        "apiVersion",
        "level",
        "auditID",
        "stage",
        "requestURI",
        "verb",
        "user",
        "requestReceivedTimestamp",
        "stageTimestamp",
    ];

    #[test]
    fn exec_event_has_the_upstream_shape() {
        let v = api_event(&samples::api());
        for f in REQUIRED {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["level"], "Metadata");
        assert_eq!(v["stage"], "ResponseComplete");
        assert_eq!(v["auditID"], "0193a5b2-0000-7000-8000-000000000001");
        // SPDY exec is a POST: the apiserver logs `create`.
        assert_eq!(v["verb"], "create");
        assert_eq!(v["user"]["username"], "david");
        assert_eq!(v["user"]["groups"], json!(["dev", "oncall"]));
        assert_eq!(v["user"]["extra"]["team"], json!(["web"]));
        assert_eq!(v["impersonatedUser"]["username"], "kac:david");
        assert_eq!(v["sourceIPs"], json!(["10.0.0.1"]));
        assert!(v["userAgent"].as_str().unwrap().starts_with("kubectl/"));
        assert_eq!(
            v["objectRef"],
            json!({"resource": "pods", "namespace": "web", "name": "web-1",
                   "apiVersion": "v1", "subresource": "exec"})
        );
        assert_eq!(v["responseStatus"], json!({"metadata": {}, "code": 101}));
        assert_eq!(v["requestReceivedTimestamp"], "2026-03-01T10:00:00.123456Z");
        assert_eq!(v["stageTimestamp"], "2026-03-01T10:00:00.124956Z");
        let ann = &v["annotations"];
        assert_eq!(ann["authorization.k8s.io/decision"], "allow");
        assert_eq!(
            ann["authorization.k8s.io/reason"],
            "allowed by dev actions[2]"
        );
        assert_eq!(ann["kac.dev/cluster"], "prod");
        assert_eq!(ann["kac.dev/policy"], "dev");
        assert_eq!(ann["kac.dev/rule"], "actions[2]");
        assert_eq!(
            ann["kac.dev/session"],
            "0193a5b2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(ann["kac.dev/verb"], "exec");
        assert_eq!(ann["kac.dev/auth-method"], "token");
    }

    #[test]
    fn websocket_exec_is_a_get_and_log_is_a_get() {
        let mut a = samples::api();
        a.method = "GET".into();
        assert_eq!(api_event(&a)["verb"], "get");
        a.verb = "log".into();
        assert_eq!(api_event(&a)["verb"], "get");
        a.verb = "list".into();
        let v = api_event(&a);
        assert_eq!(v["verb"], "list");
        assert!(v["annotations"].get("kac.dev/verb").is_none());
    }

    #[test]
    fn denied_request_is_forbidden_with_a_failure_status() {
        let v = api_event(&samples::denied());
        assert_eq!(v["verb"], "delete");
        assert_eq!(v["objectRef"]["apiGroup"], "apps");
        assert_eq!(v["responseStatus"]["status"], "Failure");
        assert_eq!(v["responseStatus"]["reason"], "Forbidden");
        assert_eq!(v["responseStatus"]["code"], 403);
        assert_eq!(
            v["responseStatus"]["message"],
            "denied by readonly deny-deletes"
        );
        assert_eq!(v["annotations"]["authorization.k8s.io/decision"], "forbid");
        assert_eq!(v["annotations"]["kac.dev/outcome"], "denied");
        assert!(v.get("impersonatedUser").is_none());
        assert!(v.get("userAgent").is_none());
        assert!(v["user"].get("extra").is_none());
        assert!(v["user"].get("groups").is_none(), "omitempty, as upstream");
    }

    #[test]
    fn non_resource_requests_have_no_object_ref() {
        let mut a = samples::denied();
        a.non_resource = true;
        a.request_uri = "/version".into();
        a.verb = "get".into();
        a.resource.clear();
        let v = api_event(&a);
        assert!(v.get("objectRef").is_none());
        assert_eq!(v["requestURI"], "/version");
    }

    #[test]
    fn session_events_have_no_audit_form() {
        for ev in [samples::start(), samples::command(), samples::end()] {
            assert_eq!(render(&ev), None);
        }
    }
}
