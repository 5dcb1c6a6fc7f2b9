//! Elastic Common Schema (ECS 8.x) documents, for Elasticsearch, Elastic
//! Security and every SIEM that speaks ECS.
//!
//! API requests are `event.category: [api]` (ECS 8.7+) with
//! `event.type` saying what happened (`access` for reads, `creation`,
//! `change`, `deletion`, `start` for exec/attach/port-forward, `info`
//! otherwise) plus `allowed` or `denied`. The Kubernetes side goes in the
//! `orchestrator.*` fields. `user` is the KAC user (`user.roles` = KAC
//! groups); `user.effective` is the identity the proxy impersonated on the
//! cluster. Everything else KAC knows is under `kac.*` (a custom field
//! set, as ECS asks for custom fields).
//!
//! Sessions: `session.start` and `session.end` are `event.category:
//! [session]` with `event.type` `start`/`end` (`process.*` for the command
//! and exit code), `session.command` is `event.category: [process]`,
//! `event.type: [info]` with `process.command_line`. Data and resize frames
//! have no ECS form (`None`).

use kac_event::{ApiEvent, Event, Outcome, SessionEvent, SessionKind};
use serde_json::{json, Map, Value};

use super::{end_time, micros, path_of, resource_type, source_ip, succeeded, summary};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// The ECS document for an event; `None` for session data and resize
/// frames.
pub fn render(event: &Event) -> Option<Value> {
    match event {
        Event::Api(a) => Some(api_event(a)),
        Event::Session(s) => session_event(s),
    }
}

fn event_types(a: &ApiEvent) -> Vec<&'static str> {
    let what = match a.verb.as_str() {
        "get" | "list" | "watch" | "log" => "access",
        "create" => "creation",
        "update" | "patch" => "change",
        "delete" | "deletecollection" => "deletion",
        "exec" | "attach" | "portforward" => "start",
        _ => "info",
    };
    let decided = if a.decision.outcome == Outcome::Allowed {
        "allowed"
    } else {
        "denied"
    };
    vec![what, decided]
}

/// One API request as an ECS document.
pub fn api_event(a: &ApiEvent) -> Value {
    let mut doc = json!({
        "@timestamp": micros(a.time),
        "ecs": {"version": ECS_VERSION},
        "message": summary(a),
        "event": {
            "kind": "event",
            "category": ["api"],
            "type": event_types(a),
            "action": a.verb,
            "outcome": if succeeded(a) { "success" } else { "failure" },
            "id": a.id,
            "start": micros(a.time),
            "end": micros(end_time(a)),
            "duration": a.duration_us.saturating_mul(1000),
            "provider": "kac-proxy",
            "dataset": "kac.audit",
        },
        "user": user(&a.user.name, &a.user.groups),
        "url": {"original": a.request_uri, "path": path_of(&a.request_uri)},
        "http": {
            "request": {"method": a.method, "id": a.id},
            "response": {"status_code": a.code},
        },
        "orchestrator": orchestrator(a),
        "kac": kac_fields(a),
    });
    if let Some(q) = a.request_uri.split_once('?').map(|(_, q)| q) {
        doc["url"]["query"] = json!(q);
    }
    if let Some(i) = &a.impersonated {
        doc["user"]["effective"] = user(&i.user, &i.groups);
    }
    match source_ip(a) {
        Some(ip) => doc["source"] = json!({"ip": ip, "address": a.source_ip}),
        None if !a.source_ip.is_empty() => doc["source"] = json!({"address": a.source_ip}),
        None => {}
    }
    if !a.user_agent.is_empty() {
        doc["user_agent"] = json!({"original": a.user_agent});
    }
    if !a.decision.reason.is_empty() {
        doc["event"]["reason"] = json!(a.decision.reason);
    }
    if let Some(e) = a.error.as_deref().filter(|e| !e.is_empty()) {
        doc["error"] = json!({"message": e});
    }
    doc
}

fn user(name: &str, groups: &[String]) -> Value {
    let mut u = json!({"name": name});
    if !groups.is_empty() {
        u["roles"] = json!(groups);
    }
    u
}

fn orchestrator(a: &ApiEvent) -> Value {
    let mut o = json!({"type": "kubernetes", "cluster": {"name": a.cluster}});
    if !a.namespace.is_empty() {
        o["namespace"] = json!(a.namespace);
    }
    if !a.resource.is_empty() && !a.non_resource {
        let mut r = json!({"type": resource_type(a)});
        if !a.name.is_empty() {
            r["name"] = json!(a.name);
        }
        o["resource"] = r;
    }
    let api_version = match (a.api_group.as_str(), a.api_version.as_str()) {
        (_, "") => String::new(),
        ("", v) => v.to_string(),
        (g, v) => format!("{g}/{v}"),
    };
    if !api_version.is_empty() {
        o["api_version"] = json!(api_version);
    }
    o
}

fn kac_fields(a: &ApiEvent) -> Value {
    let mut k = Map::new();
    k.insert("outcome".into(), json!(a.decision.outcome.as_str()));
    let mut put = |key: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            k.insert(key.into(), json!(v));
        }
    };
    put("policy", a.decision.policy.as_deref());
    put("rule", a.decision.rule.as_deref());
    put("session_id", a.session_id.as_deref());
    put("auth_method", Some(&a.user.auth_method));
    put("subresource", Some(&a.subresource));
    put("api_group", Some(&a.api_group));
    if !a.cluster_tags.is_empty() {
        k.insert("cluster_tags".into(), json!(a.cluster_tags));
    }
    if !a.user.attributes.is_empty() {
        k.insert("user_attributes".into(), json!(a.user.attributes));
    }
    if a.filtered_items > 0 {
        k.insert("filtered_items".into(), json!(a.filtered_items));
    }
    k.insert("bytes_in".into(), json!(a.bytes_in));
    k.insert("bytes_out".into(), json!(a.bytes_out));
    Value::Object(k)
}

/// Session start, command and end as ECS documents.
fn session_event(s: &SessionEvent) -> Option<Value> {
    let base = |action: &str, category: &str, typ: &str| {
        json!({
            "@timestamp": micros(s.time()),
            "ecs": {"version": ECS_VERSION},
            "event": {
                "kind": "event",
                "category": [category],
                "type": [typ],
                "action": action,
                "id": format!("{}+{}", s.session_id(), s.offset_us()),
                "provider": "kac-proxy",
                "dataset": "kac.session",
            },
            "kac": {"session_id": s.session_id()},
        })
    };
    let doc = match s {
        SessionEvent::Start(st) => {
            let mut d = base("session.start", "session", "start");
            let kind = match st.kind {
                SessionKind::Exec => "exec",
                SessionKind::Attach => "attach",
                SessionKind::Portforward => "portforward",
            };
            d["message"] = json!(format!(
                "{} started {kind} session in {}/{} on {}",
                st.user.name, st.namespace, st.pod, st.cluster
            ));
            d["user"] = user(&st.user.name, &st.user.groups);
            d["orchestrator"] = json!({
                "type": "kubernetes",
                "cluster": {"name": st.cluster},
                "namespace": st.namespace,
                "resource": {"type": format!("pods/{kind}"), "name": st.pod},
            });
            if !st.container.is_empty() {
                d["container"] = json!({"name": st.container});
            }
            if !st.command.is_empty() {
                d["process"] = json!({
                    "command_line": st.command.join(" "),
                    "args": st.command,
                    "interactive": st.tty,
                });
            }
            let k = d["kac"].as_object_mut().expect("object");
            k.insert("session_kind".into(), json!(kind));
            k.insert("request_id".into(), json!(st.request_id));
            k.insert("recording_required".into(), json!(st.recording_required));
            if !st.protocol.is_empty() {
                k.insert("protocol".into(), json!(st.protocol));
            }
            if !st.ports.is_empty() {
                k.insert("ports".into(), json!(st.ports));
            }
            if let Some(t) = &st.transfer {
                k.insert("transfer".into(), json!(t));
            }
            d
        }
        SessionEvent::Command(c) => {
            let mut d = base("session.command", "process", "info");
            d["message"] = json!(c.text);
            d["process"] = json!({"command_line": c.text});
            d["kac"]["command_uncertain"] = json!(c.uncertain);
            d
        }
        SessionEvent::End(e) => {
            let mut d = base("session.end", "session", "end");
            let ok = e.error.is_none() && e.exit_code.is_none_or(|c| c == 0);
            d["event"]["outcome"] = json!(if ok { "success" } else { "failure" });
            d["event"]["duration"] = json!(e.offset_us.saturating_mul(1000));
            d["message"] = json!(format!("{} ended session on {}", e.user, e.cluster));
            d["user"] = json!({"name": e.user});
            d["orchestrator"] = json!({"type": "kubernetes", "cluster": {"name": e.cluster}});
            if let Some(c) = e.exit_code {
                d["process"] = json!({"exit_code": c});
            }
            if let Some(err) = &e.error {
                d["error"] = json!({"message": err});
            }
            let k = d["kac"].as_object_mut().expect("object");
            k.insert("bytes_stdin".into(), json!(e.bytes_stdin));
            k.insert("bytes_stdout".into(), json!(e.bytes_stdout));
            k.insert("bytes_stderr".into(), json!(e.bytes_stderr));
            if let Some(t) = &e.transfer {
                k.insert("transfer".into(), json!(t));
            }
            d
        }
        SessionEvent::Data { .. } | SessionEvent::Resize { .. } => return None,
    };
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    #[test]
    fn api_request_maps_to_ecs_fields() {
        let v = api_event(&samples::api());
        assert_eq!(v["@timestamp"], "2026-03-01T10:00:00.123456Z");
        assert_eq!(v["ecs"]["version"], ECS_VERSION);
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["category"], json!(["api"]));
        assert_eq!(v["event"]["type"], json!(["start", "allowed"]));
        assert_eq!(v["event"]["action"], "exec");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["id"], "0193a5b2-0000-7000-8000-000000000001");
        assert_eq!(v["event"]["duration"], 1_500_000);
        assert_eq!(v["event"]["end"], "2026-03-01T10:00:00.124956Z");
        assert_eq!(v["user"]["name"], "david");
        assert_eq!(v["user"]["roles"], json!(["dev", "oncall"]));
        assert_eq!(v["user"]["effective"]["name"], "kac:david");
        assert_eq!(v["source"]["ip"], "10.0.0.1");
        assert!(v["user_agent"]["original"]
            .as_str()
            .unwrap()
            .starts_with("kubectl/"));
        assert_eq!(v["url"]["path"], "/api/v1/namespaces/web/pods/web-1/exec");
        assert_eq!(v["url"]["query"], "command=sh&stdin=true&tty=true");
        assert_eq!(v["http"]["request"]["method"], "POST");
        assert_eq!(v["http"]["response"]["status_code"], 101);
        assert_eq!(v["orchestrator"]["type"], "kubernetes");
        assert_eq!(v["orchestrator"]["cluster"]["name"], "prod");
        assert_eq!(v["orchestrator"]["namespace"], "web");
        assert_eq!(v["orchestrator"]["resource"]["type"], "pods/exec");
        assert_eq!(v["orchestrator"]["resource"]["name"], "web-1");
        assert_eq!(v["orchestrator"]["api_version"], "v1");
        assert_eq!(v["kac"]["policy"], "dev");
        assert_eq!(v["kac"]["rule"], "actions[2]");
        assert_eq!(
            v["kac"]["session_id"],
            "0193a5b2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(v["kac"]["cluster_tags"]["env"], "production");
        assert_eq!(
            v["message"],
            "david exec pods/exec web/web-1 on prod: allowed (101)"
        );
    }

    #[test]
    fn denied_delete_is_a_failed_denied_deletion() {
        let v = api_event(&samples::denied());
        assert_eq!(v["event"]["type"], json!(["deletion", "denied"]));
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["event"]["reason"], "denied by readonly deny-deletes");
        assert_eq!(v["orchestrator"]["api_version"], "apps/v1");
        assert!(v["user"].get("roles").is_none());
        assert!(v["user"].get("effective").is_none());
    }

    #[test]
    fn a_source_that_is_not_an_ip_goes_to_source_address_only() {
        let mut a = samples::denied();
        a.source_ip = "unix-socket".into();
        let v = api_event(&a);
        assert!(v["source"].get("ip").is_none());
        assert_eq!(v["source"]["address"], "unix-socket");
    }

    #[test]
    fn session_start_command_and_end() {
        let s = render(&samples::start()).unwrap();
        assert_eq!(s["event"]["category"], json!(["session"]));
        assert_eq!(s["event"]["type"], json!(["start"]));
        assert_eq!(s["event"]["action"], "session.start");
        assert_eq!(s["user"]["name"], "david");
        assert_eq!(s["process"]["command_line"], "sh -c id");
        assert_eq!(s["orchestrator"]["resource"]["name"], "web-1");
        assert_eq!(s["container"]["name"], "app");
        assert_eq!(s["kac"]["request_id"], samples::api().id);

        let c = render(&samples::command()).unwrap();
        assert_eq!(c["event"]["category"], json!(["process"]));
        assert_eq!(c["process"]["command_line"], "cat /etc/shadow");
        assert_eq!(
            c["kac"]["session_id"],
            "0193a5b2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(c["@timestamp"], "2026-03-01T10:00:02.123456Z");

        let e = render(&samples::end()).unwrap();
        assert_eq!(e["event"]["type"], json!(["end"]));
        assert_eq!(e["event"]["outcome"], "failure");
        assert_eq!(e["event"]["duration"], 5_000_000_000u64);
        assert_eq!(e["process"]["exit_code"], 3);
        assert_eq!(e["kac"]["bytes_stdout"], 2048);
        // Distinct ids for the three events of one session.
        assert_ne!(s["event"]["id"], c["event"]["id"]);
        assert_ne!(c["event"]["id"], e["event"]["id"]);
    }
}
