//! OCSF API Activity (class_uid 6003, category_uid 6 Application
//! Activity), schema 1.8.0, for Amazon Security Lake, Splunk's OCSF add-on
//! and other OCSF consumers.
//!
//! Required attributes (base event + API Activity, OCSF 1.8.0):
//! `activity_id`, `category_uid`, `class_uid`, `type_uid`, `severity_id`,
//! `time` (ms since the epoch), `metadata{product, version}`, `actor`
//! (at least one of user, session...), `api{operation}` and
//! `src_endpoint` (at least one of ip, name...). `cloud` is required only
//! by the `cloud` profile, which these events do not declare, so it is
//! absent.
//!
//! `activity_id` follows the Kubernetes verb: create → 1 Create; get, list,
//! watch, log → 2 Read; update, patch → 3 Update; delete,
//! deletecollection → 4 Delete; anything else (exec, attach, portforward,
//! proxy, impersonate, non-resource verbs) → 99 Other with the verb as
//! `activity_name`. `status_id` is 1 Success when the policy allowed the
//! request and the cluster answered below 400, else 2 Failure.
//! `severity_id`: 1 Informational when allowed, 3 Medium when a policy
//! denied, 2 Low when the proxy refused without a decision (bad request,
//! unknown cluster...).
//!
//! Sessions: `session.start`, `session.command` and `session.end` are
//! API Activity with activity 99 (Other) and `api.operation` set to the
//! event name, the session id in `actor.session.uid`, and the command,
//! exit code and byte counts in `unmapped.kac`. KAC knows no network
//! source for a session's frames, so `src_endpoint` is `{"name":
//! "unknown"}` there (the opening API request carries the real address).
//! Data and resize frames have no OCSF form (`None`).
//!
//! KAC's extra facts (cluster tags, policy, rule, impersonated identity,
//! filtered items, bytes) are in `unmapped.kac`.

use kac_event::{ApiEvent, Event, Outcome, SessionEvent, SessionKind};
use serde_json::{json, Map, Value};

use super::{path_of, resource_type, source_ip, succeeded, summary};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";
pub const CLASS_UID: u32 = 6003;
pub const CATEGORY_UID: u32 = 6;

/// The OCSF event for an API or session event; `None` for data and resize
/// frames.
pub fn render(event: &Event) -> Option<Value> {
    match event {
        Event::Api(a) => Some(api_event(a)),
        Event::Session(s) => session_event(s),
    }
}

/// `(activity_id, activity_name)` for a Kubernetes verb.
pub fn activity(verb: &str) -> (u32, String) {
    match verb {
        "create" => (1, "Create".into()),
        "get" | "list" | "watch" | "log" => (2, "Read".into()),
        "update" | "patch" => (3, "Update".into()),
        "delete" | "deletecollection" => (4, "Delete".into()),
        other => (
            99,
            if other.is_empty() {
                "Other".into()
            } else {
                other.into()
            },
        ),
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The attributes every KAC event has, whatever its activity.
fn base(activity_id: u32, activity_name: &str, uid: &str, time_ms: i64) -> Value {
    json!({
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("API Activity: {activity_name}"),
        "time": time_ms,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "KAC",
                "vendor_name": "KAC",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "uid": uid,
            "original_event_uid": uid,
            "log_name": "kac-audit",
        },
    })
}

fn user(name: &str, groups: &[String]) -> Value {
    let mut u = json!({"name": name, "type_id": 1, "type": "User"});
    if !groups.is_empty() {
        u["groups"] = groups.iter().map(|g| json!({"name": g})).collect();
    }
    u
}

/// One API request as an OCSF API Activity event.
pub fn api_event(a: &ApiEvent) -> Value {
    let (activity_id, activity_name) = activity(&a.verb);
    let ok = succeeded(a);
    let (severity_id, severity) = match a.decision.outcome {
        Outcome::Allowed => (1, "Informational"),
        Outcome::Denied => (3, "Medium"),
        Outcome::Error => (2, "Low"),
    };
    let mut ev = base(activity_id, &activity_name, &a.id, ms(a.time));
    let o = ev.as_object_mut().expect("object");
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    put("severity_id", json!(severity_id));
    put("severity", json!(severity));
    put("status_id", json!(if ok { 1 } else { 2 }));
    put("status", json!(if ok { "Success" } else { "Failure" }));
    put("status_code", json!(a.code.to_string()));
    let detail = a
        .error
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or(&a.decision.reason);
    if !detail.is_empty() {
        put("status_detail", json!(detail));
    }
    put("message", json!(summary(a)));
    let mut actor = json!({"user": user(&a.user.name, &a.user.groups)});
    if let Some(s) = &a.session_id {
        actor["session"] = json!({"uid": s});
    }
    put("actor", actor);
    let mut api = json!({
        "operation": a.verb,
        "request": {"uid": a.id},
        "response": {"code": a.code},
        "service": {"name": "kubernetes"},
    });
    if !a.api_version.is_empty() {
        api["version"] = json!(a.api_version);
    }
    if !a.api_group.is_empty() {
        api["group"] = json!({"name": a.api_group});
    }
    if let Some(e) = a.error.as_deref().filter(|e| !e.is_empty()) {
        api["response"]["error_message"] = json!(e);
    }
    put("api", api);
    put(
        "src_endpoint",
        match source_ip(a) {
            Some(ip) => json!({"ip": ip}),
            None if !a.source_ip.is_empty() => json!({"name": a.source_ip}),
            None => json!({"name": "unknown"}),
        },
    );
    put(
        "dst_endpoint",
        json!({"name": a.cluster, "type": "Server", "type_id": 1}),
    );
    let mut url = json!({"path": path_of(&a.request_uri), "url_string": a.request_uri});
    if let Some((_, q)) = a.request_uri.split_once('?') {
        url["query_string"] = json!(q);
    }
    let mut req = json!({"http_method": a.method, "url": url});
    if !a.user_agent.is_empty() {
        req["user_agent"] = json!(a.user_agent);
    }
    put("http_request", req);
    put("http_response", json!({"code": a.code}));
    if !a.non_resource && !a.resource.is_empty() {
        let mut r = json!({"type": resource_type(a)});
        if !a.name.is_empty() {
            r["name"] = json!(a.name);
        }
        if !a.namespace.is_empty() {
            r["namespace"] = json!(a.namespace);
        }
        put("resources", json!([r]));
    }
    put("unmapped", json!({"kac": kac_fields(a)}));
    ev
}

fn kac_fields(a: &ApiEvent) -> Value {
    let mut k = Map::new();
    k.insert("cluster".into(), json!(a.cluster));
    k.insert("outcome".into(), json!(a.decision.outcome.as_str()));
    if let Some(p) = &a.decision.policy {
        k.insert("policy".into(), json!(p));
    }
    if let Some(r) = &a.decision.rule {
        k.insert("rule".into(), json!(r));
    }
    if let Some(i) = &a.impersonated {
        k.insert(
            "impersonated".into(),
            json!({"user": i.user, "groups": i.groups}),
        );
    }
    if !a.cluster_tags.is_empty() {
        k.insert("cluster_tags".into(), json!(a.cluster_tags));
    }
    if !a.user.attributes.is_empty() {
        k.insert("user_attributes".into(), json!(a.user.attributes));
    }
    if !a.user.auth_method.is_empty() {
        k.insert("auth_method".into(), json!(a.user.auth_method));
    }
    if !a.api_group.is_empty() {
        k.insert("api_group".into(), json!(a.api_group));
    }
    if a.filtered_items > 0 {
        k.insert("filtered_items".into(), json!(a.filtered_items));
    }
    k.insert("duration_us".into(), json!(a.duration_us));
    k.insert("bytes_in".into(), json!(a.bytes_in));
    k.insert("bytes_out".into(), json!(a.bytes_out));
    Value::Object(k)
}

fn session_event(s: &SessionEvent) -> Option<Value> {
    let (name, caption) = match s {
        SessionEvent::Start(_) => ("session.start", "Session Start"),
        SessionEvent::Command(_) => ("session.command", "Session Command"),
        SessionEvent::End(_) => ("session.end", "Session End"),
        SessionEvent::Data { .. } | SessionEvent::Resize { .. } => return None,
    };
    let uid = format!("{}+{}", s.session_id(), s.offset_us());
    let mut ev = base(99, caption, &uid, ms(s.time()));
    ev["severity_id"] = json!(1);
    ev["severity"] = json!("Informational");
    ev["api"] = json!({
        "operation": name,
        "request": {"uid": uid},
        "service": {"name": "kubernetes"},
    });
    ev["src_endpoint"] = json!({"name": "unknown"});
    let mut actor = json!({"session": {"uid": s.session_id()}});
    let mut kac = Map::new();
    kac.insert("session_id".into(), json!(s.session_id()));
    kac.insert("offset_us".into(), json!(s.offset_us()));
    match s {
        SessionEvent::Start(st) => {
            let kind = match st.kind {
                SessionKind::Exec => "exec",
                SessionKind::Attach => "attach",
                SessionKind::Portforward => "portforward",
            };
            actor["user"] = user(&st.user.name, &st.user.groups);
            ev["message"] = json!(format!(
                "{} started {kind} session in {}/{} on {}",
                st.user.name, st.namespace, st.pod, st.cluster
            ));
            ev["dst_endpoint"] = json!({"name": st.cluster, "type": "Server", "type_id": 1});
            ev["resources"] = json!([{
                "type": format!("pods/{kind}"),
                "name": st.pod,
                "namespace": st.namespace,
            }]);
            kac.insert("cluster".into(), json!(st.cluster));
            kac.insert("kind".into(), json!(kind));
            kac.insert("request_id".into(), json!(st.request_id));
            if !st.container.is_empty() {
                kac.insert("container".into(), json!(st.container));
            }
            if !st.command.is_empty() {
                kac.insert("command".into(), json!(st.command));
            }
            kac.insert("tty".into(), json!(st.tty));
            if !st.ports.is_empty() {
                kac.insert("ports".into(), json!(st.ports));
            }
            if let Some(t) = &st.transfer {
                kac.insert("transfer".into(), json!(t));
            }
        }
        SessionEvent::Command(c) => {
            ev["message"] = json!(c.text);
            kac.insert("command_line".into(), json!(c.text));
            kac.insert("command_uncertain".into(), json!(c.uncertain));
        }
        SessionEvent::End(e) => {
            actor["user"] = user(&e.user, &[]);
            let ok = e.error.is_none() && e.exit_code.is_none_or(|c| c == 0);
            ev["status_id"] = json!(if ok { 1 } else { 2 });
            ev["status"] = json!(if ok { "Success" } else { "Failure" });
            if let Some(err) = &e.error {
                ev["status_detail"] = json!(err);
            }
            ev["message"] = json!(format!("{} ended session on {}", e.user, e.cluster));
            ev["dst_endpoint"] = json!({"name": e.cluster, "type": "Server", "type_id": 1});
            kac.insert("cluster".into(), json!(e.cluster));
            if let Some(c) = e.exit_code {
                kac.insert("exit_code".into(), json!(c));
            }
            kac.insert("bytes_stdin".into(), json!(e.bytes_stdin));
            kac.insert("bytes_stdout".into(), json!(e.bytes_stdout));
            kac.insert("bytes_stderr".into(), json!(e.bytes_stderr));
        }
        SessionEvent::Data { .. } | SessionEvent::Resize { .. } => return None,
    }
    ev["actor"] = actor;
    ev["unmapped"] = json!({"kac": kac});
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    /// Required by OCSF 1.8.0's base event and API Activity class.
    const REQUIRED: [&str; 10] = [
        "activity_id",
        "category_uid",
        "class_uid",
        "type_uid",
        "severity_id",
        "time",
        "metadata",
        "actor",
        "api",
        "src_endpoint",
    ];

    fn check_required(v: &Value) {
        for f in REQUIRED {
            assert!(v.get(f).is_some(), "missing {f} in {v}");
        }
        assert_eq!(v["class_uid"], 6003);
        assert_eq!(v["category_uid"], 6);
        let a = v["activity_id"].as_u64().unwrap();
        assert_eq!(v["type_uid"].as_u64().unwrap(), 600300 + a);
        assert!(v["metadata"]["product"]["name"].is_string());
        assert_eq!(v["metadata"]["version"], OCSF_VERSION);
        assert!(v["api"]["operation"].is_string());
        let actor = v["actor"].as_object().unwrap();
        assert!(actor.contains_key("user") || actor.contains_key("session"));
        let src = v["src_endpoint"].as_object().unwrap();
        assert!(src.contains_key("ip") || src.contains_key("name"));
    }

    #[test]
    fn exec_request_is_api_activity_other() {
        let v = api_event(&samples::api());
        check_required(&v);
        assert_eq!(v["activity_id"], 99);
        assert_eq!(v["activity_name"], "exec");
        assert_eq!(v["type_uid"], 600399);
        assert_eq!(v["time"], 1_772_359_200_123i64);
        assert_eq!(v["status_id"], 1);
        assert_eq!(v["status"], "Success");
        assert_eq!(v["severity_id"], 1);
        assert_eq!(v["metadata"]["uid"], "0193a5b2-0000-7000-8000-000000000001");
        assert_eq!(v["actor"]["user"]["name"], "david");
        assert_eq!(
            v["actor"]["user"]["groups"],
            json!([{"name": "dev"}, {"name": "oncall"}])
        );
        assert_eq!(
            v["actor"]["session"]["uid"],
            "0193a5b2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(v["api"]["operation"], "exec");
        assert_eq!(
            v["api"]["request"]["uid"],
            "0193a5b2-0000-7000-8000-000000000001"
        );
        assert_eq!(v["api"]["response"]["code"], 101);
        assert_eq!(v["src_endpoint"]["ip"], "10.0.0.1");
        assert_eq!(v["dst_endpoint"]["name"], "prod");
        assert_eq!(v["http_request"]["http_method"], "POST");
        assert_eq!(
            v["http_request"]["url"]["path"],
            "/api/v1/namespaces/web/pods/web-1/exec"
        );
        assert!(v["http_request"]["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("kubectl/"));
        assert_eq!(
            v["resources"],
            json!([{"type": "pods/exec", "name": "web-1", "namespace": "web"}])
        );
        assert_eq!(v["unmapped"]["kac"]["policy"], "dev");
        assert_eq!(v["unmapped"]["kac"]["impersonated"]["user"], "kac:david");
        assert!(v.get("cloud").is_none());
    }

    #[test]
    fn denied_delete_is_a_failed_delete_of_medium_severity() {
        let v = api_event(&samples::denied());
        check_required(&v);
        assert_eq!(v["activity_id"], 4);
        assert_eq!(v["type_uid"], 600304);
        assert_eq!(v["type_name"], "API Activity: Delete");
        assert_eq!(v["status_id"], 2);
        assert_eq!(v["status_code"], "403");
        assert_eq!(v["status_detail"], "denied by readonly deny-deletes");
        assert_eq!(v["severity_id"], 3);
        assert_eq!(v["api"]["group"]["name"], "apps");
        assert!(v["actor"].get("session").is_none());
    }

    #[test]
    fn verbs_map_to_crud_activities() {
        for (verb, id) in [
            ("create", 1),
            ("get", 2),
            ("list", 2),
            ("watch", 2),
            ("log", 2),
            ("update", 3),
            ("patch", 3),
            ("delete", 4),
            ("deletecollection", 4),
            ("portforward", 99),
            ("", 99),
        ] {
            assert_eq!(activity(verb).0, id, "{verb}");
        }
    }

    #[test]
    fn session_events_are_activity_other_with_the_session_as_actor() {
        let s = render(&samples::start()).unwrap();
        check_required(&s);
        assert_eq!(s["activity_id"], 99);
        assert_eq!(s["api"]["operation"], "session.start");
        assert_eq!(s["actor"]["user"]["name"], "david");
        assert_eq!(s["resources"][0]["name"], "web-1");
        assert_eq!(s["unmapped"]["kac"]["command"], json!(["sh", "-c", "id"]));

        let c = render(&samples::command()).unwrap();
        check_required(&c);
        assert_eq!(
            c["actor"]["session"]["uid"],
            "0193a5b2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(c["unmapped"]["kac"]["command_line"], "cat /etc/shadow");
        assert_eq!(c["time"], 1_772_359_202_123i64);

        let e = render(&samples::end()).unwrap();
        check_required(&e);
        assert_eq!(e["status_id"], 2);
        assert_eq!(e["unmapped"]["kac"]["exit_code"], 3);
        assert_ne!(s["metadata"]["uid"], e["metadata"]["uid"]);
    }
}
