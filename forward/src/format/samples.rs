//! Sample events for the format tests, and proptest strategies.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kac_event::{
    ApiEvent, CommandLine, DataStream, DecisionRecord, Event, Impersonation, Outcome, SessionEnd,
    SessionEvent, SessionKind, SessionStart, UserInfo,
};
use proptest::prelude::*;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// David's SPDY exec into web/web-1 on prod, allowed by policy `dev`.
pub fn api() -> ApiEvent {
    ApiEvent {
        id: "0193a5b2-0000-7000-8000-000000000001".into(),
        time: t0(),
        user: UserInfo {
            name: "david".into(),
            groups: vec!["dev".into(), "oncall".into()],
            attributes: BTreeMap::from([("team".into(), "web".into())]),
            auth_method: "token".into(),
        },
        source_ip: "10.0.0.1".into(),
        user_agent: "kubectl/v1.32.4 (linux/amd64) kubernetes/59526cd".into(),
        cluster: "prod".into(),
        cluster_tags: BTreeMap::from([("env".into(), "production".into())]),
        method: "POST".into(),
        request_uri: "/api/v1/namespaces/web/pods/web-1/exec?command=sh&stdin=true&tty=true".into(),
        verb: "exec".into(),
        api_version: "v1".into(),
        resource: "pods".into(),
        subresource: "exec".into(),
        namespace: "web".into(),
        name: "web-1".into(),
        decision: DecisionRecord {
            outcome: Outcome::Allowed,
            policy: Some("dev".into()),
            rule: Some("actions[2]".into()),
            reason: "allowed by dev actions[2]".into(),
        },
        impersonated: Some(Impersonation {
            user: "kac:david".into(),
            groups: vec!["kac:dev".into(), "system:authenticated".into()],
        }),
        code: 101,
        duration_us: 1500,
        session_id: Some("0193a5b2-0000-7000-8000-0000000000aa".into()),
        ..Default::default()
    }
}

/// Andrew's delete of a deployment, denied.
pub fn denied() -> ApiEvent {
    ApiEvent {
        id: "0193a5b2-0000-7000-8000-000000000002".into(),
        time: t0(),
        user: UserInfo {
            name: "andrew".into(),
            ..Default::default()
        },
        source_ip: "192.0.2.7".into(),
        cluster: "prod".into(),
        method: "DELETE".into(),
        request_uri: "/apis/apps/v1/namespaces/web/deployments/web".into(),
        verb: "delete".into(),
        api_group: "apps".into(),
        api_version: "v1".into(),
        resource: "deployments".into(),
        namespace: "web".into(),
        name: "web".into(),
        decision: DecisionRecord {
            outcome: Outcome::Denied,
            policy: Some("readonly".into()),
            rule: Some("deny-deletes".into()),
            reason: "denied by readonly deny-deletes".into(),
        },
        code: 403,
        duration_us: 300,
        ..Default::default()
    }
}

pub fn start() -> Event {
    Event::Session(SessionEvent::Start(Box::new(SessionStart {
        session_id: "0193a5b2-0000-7000-8000-0000000000aa".into(),
        time: t0(),
        kind: SessionKind::Exec,
        user: api().user,
        cluster: "prod".into(),
        namespace: "web".into(),
        pod: "web-1".into(),
        container: "app".into(),
        command: vec!["sh".into(), "-c".into(), "id".into()],
        tty: true,
        stdin: true,
        protocol: "v5.channel.k8s.io".into(),
        request_id: api().id,
        ..Default::default()
    })))
}

pub fn command() -> Event {
    Event::Session(SessionEvent::Command(CommandLine {
        session_id: "0193a5b2-0000-7000-8000-0000000000aa".into(),
        time: t0() + chrono::Duration::seconds(2),
        offset_us: 2_000_000,
        text: "cat /etc/shadow".into(),
        uncertain: false,
    }))
}

pub fn end() -> Event {
    Event::Session(SessionEvent::End(Box::new(SessionEnd {
        session_id: "0193a5b2-0000-7000-8000-0000000000aa".into(),
        time: t0() + chrono::Duration::seconds(5),
        offset_us: 5_000_000,
        user: "david".into(),
        cluster: "prod".into(),
        exit_code: Some(3),
        bytes_stdin: 16,
        bytes_stdout: 2048,
        ..Default::default()
    })))
}

pub fn data() -> Event {
    Event::Session(SessionEvent::Data {
        session_id: "s".into(),
        time: t0(),
        offset_us: 10,
        stream: DataStream::Stdout,
        data: b"root\r\n".to_vec(),
    })
}

pub fn resize() -> Event {
    Event::Session(SessionEvent::Resize {
        session_id: "s".into(),
        time: t0(),
        offset_us: 10,
        width: 80,
        height: 24,
    })
}

pub fn all() -> Vec<Event> {
    vec![
        Event::Api(Box::new(api())),
        Event::Api(Box::new(denied())),
        start(),
        command(),
        end(),
        data(),
        resize(),
    ]
}

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970..2100, microsecond precision (what the store keeps).
    (0i64..4_102_444_800, 0u32..1_000_000)
        .prop_map(|(s, us)| DateTime::from_timestamp(s, us * 1000).unwrap())
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Allowed),
        Just(Outcome::Denied),
        Just(Outcome::Error)
    ]
}

pub fn arb_api() -> impl Strategy<Value = ApiEvent> {
    let verbs = prop_oneof![
        Just("get".to_string()),
        Just("list".to_string()),
        Just("watch".to_string()),
        Just("create".to_string()),
        Just("update".to_string()),
        Just("patch".to_string()),
        Just("delete".to_string()),
        Just("deletecollection".to_string()),
        Just("exec".to_string()),
        Just("portforward".to_string()),
        Just("log".to_string()),
        ".{0,12}",
    ];
    (
        (
            arb_time(),
            ".{0,20}",
            proptest::collection::vec(".{0,8}", 0..3),
        ),
        (".{0,40}", ".{0,40}", verbs, ".{0,8}", any::<bool>()),
        (".{0,12}", ".{0,12}", ".{0,12}", any::<u16>(), any::<u64>()),
        (arb_outcome(), proptest::option::of(".{0,8}"), any::<bool>()),
    )
        .prop_map(
            |(
                (time, user, groups),
                (ip, uri, verb, method, non_resource),
                (res, ns, name, code, dur),
                (outcome, policy, imp),
            )| {
                ApiEvent {
                    id: kac_event::new_id(),
                    time,
                    user: UserInfo {
                        name: user.clone(),
                        groups,
                        ..Default::default()
                    },
                    source_ip: ip,
                    request_uri: uri,
                    verb,
                    method,
                    non_resource,
                    resource: res,
                    namespace: ns,
                    name,
                    code,
                    duration_us: dur,
                    decision: DecisionRecord {
                        outcome,
                        policy,
                        ..Default::default()
                    },
                    impersonated: imp.then(|| Impersonation {
                        user,
                        groups: vec![],
                    }),
                    ..Default::default()
                }
            },
        )
}

pub fn arb_session() -> impl Strategy<Value = Event> {
    let id = ".{0,12}";
    prop_oneof![
        (
            id,
            arb_time(),
            proptest::collection::vec(".{0,6}", 0..3),
            ".{0,6}"
        )
            .prop_map(|(sid, time, command, pod)| SessionEvent::Start(Box::new(
                SessionStart {
                    session_id: sid,
                    time,
                    command,
                    pod,
                    ..Default::default()
                }
            ))),
        (id, arb_time(), any::<u64>(), ".{0,20}").prop_map(|(sid, time, off, text)| {
            SessionEvent::Command(CommandLine {
                session_id: sid,
                time,
                offset_us: off,
                text,
                uncertain: false,
            })
        }),
        (
            id,
            arb_time(),
            any::<u64>(),
            proptest::option::of(any::<i32>())
        )
            .prop_map(|(sid, time, off, exit_code)| SessionEvent::End(Box::new(
                SessionEnd {
                    session_id: sid,
                    time,
                    offset_us: off,
                    exit_code,
                    ..Default::default()
                }
            ))),
        (
            id,
            arb_time(),
            proptest::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(sid, time, data)| SessionEvent::Data {
                session_id: sid,
                time,
                offset_us: 0,
                stream: DataStream::Stdin,
                data,
            }),
    ]
    .prop_map(Event::Session)
}
