//! The HEC and webhook sinks against a local HTTP(S) receiver (a hyper
//! server with a test CA from kac-pki) that records what arrives and checks
//! it against the receivers' schemas: Splunk HEC envelopes and
//! `audit.k8s.io/v1` `EventList`s with every field upstream's Event
//! requires. Also: TLS verification against the configured CA, client
//! certificates, connection reuse, and which failures are worth retrying.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_event::{ApiEvent, DecisionRecord, Event, Impersonation, Outcome, UserInfo};
use kac_forward::format::{render, Format};
use kac_forward::sink::hec::{HecConfig, HecSink};
use kac_forward::sink::webhook::{WebhookConfig, WebhookSink};
use kac_forward::sink::{Rendered, Sink, SinkError};
use receiver::{check_audit_event, Pki, Receiver, HEC_OK};
use serde_json::{json, Value};

mod receiver;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `n` API events: alternately an allowed list and a denied delete.
fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let allowed = i % 2 == 0;
            Event::Api(Box::new(ApiEvent {
                id: format!("0193a5b2-0000-7000-8000-{i:012}"),
                time: t0() + chrono::Duration::milliseconds(i as i64),
                user: UserInfo {
                    name: "david".into(),
                    groups: vec!["dev".into()],
                    attributes: BTreeMap::new(),
                    auth_method: "token".into(),
                },
                source_ip: "10.0.0.1".into(),
                user_agent: "kubectl/v1.32.4".into(),
                cluster: "prod".into(),
                method: if allowed { "GET" } else { "DELETE" }.into(),
                request_uri: if allowed {
                    "/api/v1/namespaces/web/pods".into()
                } else {
                    "/api/v1/namespaces/web/pods/web-1".into()
                },
                verb: if allowed { "list" } else { "delete" }.into(),
                api_version: "v1".into(),
                resource: "pods".into(),
                namespace: "web".into(),
                name: if allowed { "" } else { "web-1" }.into(),
                decision: DecisionRecord {
                    outcome: if allowed {
                        Outcome::Allowed
                    } else {
                        Outcome::Denied
                    },
                    policy: Some("dev".into()),
                    rule: Some("actions[0]".into()),
                    reason: String::new(),
                },
                impersonated: Some(Impersonation {
                    user: "kac:david".into(),
                    groups: vec!["kac:dev".into()],
                }),
                code: if allowed { 200 } else { 403 },
                duration_us: 250,
                ..Default::default()
            }))
        })
        .collect()
}

fn rendered(format: Format, evs: &[Event]) -> Vec<Rendered> {
    evs.iter()
        .map(|e| Rendered {
            id: match e {
                Event::Api(a) => a.id.clone(),
                Event::Session(s) => format!("{}+{}", s.session_id(), s.offset_us()),
            },
            time: e.time(),
            value: render(format, e)
                .expect("API events render in every format")
                .into(),
        })
        .collect()
}

fn hec(cfg: Value, base: &Path) -> HecSink {
    let cfg: HecConfig = serde_json::from_value(cfg).expect("HEC config");
    HecSink::new(&cfg, base).expect("HEC sink")
}

fn webhook(cfg: Value, base: &Path) -> WebhookSink {
    let cfg: WebhookConfig = serde_json::from_value(cfg).expect("webhook config");
    WebhookSink::new(&cfg, base).expect("webhook sink")
}

/// Splunk HEC: one POST per batch, `Authorization: Splunk TOKEN`, and a
/// body of concatenated envelopes whose `event` is the rendering.
#[tokio::test]
async fn hec_posts_one_envelope_per_event_with_the_splunk_token() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({
            "url": rx.url("https"),
            "tokenFile": "token",
            "index": "k8s_audit",
            "sourcetype": "kac:ecs",
            "host": "kac-1",
            "tls": {"caFile": "receiver-ca.crt"},
        }),
        pki.base(),
    );
    assert!(sink.describe().contains("/services/collector/event"));
    assert!(!sink.describe().contains("s3cret"));
    let evs = events(5);
    let batch = rendered(Format::Ecs, &evs);
    sink.send(&batch).await.expect("delivered");

    let seen = rx.seen();
    assert_eq!(seen.len(), 1, "one request per batch");
    let req = &seen[0];
    assert_eq!(req.path, "/services/collector/event");
    assert_eq!(req.headers["authorization"], "Splunk s3cret-token");
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(req.headers.contains_key("x-splunk-request-channel"));
    assert_eq!(req.client_cn, None, "no client certificate configured");

    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&req.body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("concatenated JSON objects");
    assert_eq!(objects.len(), 5);
    for (i, o) in objects.iter().enumerate() {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        for k in &keys {
            assert!(
                ["time", "host", "source", "sourcetype", "index", "event"].contains(k),
                "unexpected HEC key {k}"
            );
        }
        let time = o["time"].as_f64().expect("time is epoch seconds");
        let want = evs[i].time().timestamp_micros() as f64 / 1e6;
        assert!((time - want).abs() < 1e-5, "{time} vs {want}");
        assert_eq!(o["host"], "kac-1");
        assert_eq!(o["source"], "kac");
        assert_eq!(o["sourcetype"], "kac:ecs");
        assert_eq!(o["index"], "k8s_audit");
        assert_eq!(
            o["event"],
            *batch[i].value.to_value(),
            "the event is the rendering"
        );
        assert_eq!(
            o["event"]["event"]["id"],
            format!("0193a5b2-0000-7000-8000-{i:012}")
        );
    }
}

/// What HEC answers decides whether the forwarder retries.
#[tokio::test]
async fn hec_answers_are_classified_retry_or_refuse() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({"url": rx.url("https"), "tokenFile": "token", "tls": {"caFile": "receiver-ca.crt"}}),
        pki.base(),
    );
    let batch = rendered(Format::Native, &events(2));
    rx.then(&[
        (503, r#"{"text":"Server is busy","code":9}"#),
        (429, ""),
        (403, r#"{"text":"Invalid token","code":4}"#),
        (
            400,
            r#"{"text":"Invalid data format","code":6,"invalid-event-number":1}"#,
        ),
        (200, "<html>please log in</html>"),
    ]);
    match sink.send(&batch).await {
        Err(SinkError::Transient(m)) => assert!(m.contains("503") && m.contains("busy"), "{m}"),
        other => panic!("503: {other:?}"),
    }
    assert!(matches!(
        sink.send(&batch).await,
        Err(SinkError::Transient(_))
    ));
    match sink.send(&batch).await {
        Err(SinkError::Permanent(m)) => assert!(m.contains("Invalid token"), "{m}"),
        other => panic!("403: {other:?}"),
    }
    match sink.send(&batch).await {
        Err(SinkError::Permanent(m)) => assert!(m.contains("Invalid data format"), "{m}"),
        other => panic!("400: {other:?}"),
    }
    match sink.send(&batch).await {
        Err(SinkError::Permanent(m)) => assert!(m.contains("log in"), "{m}"),
        other => panic!("200 without HEC success: {other:?}"),
    }
    // After the outage the same batch goes through.
    sink.send(&batch).await.expect("delivered after the errors");
    let seen = rx.seen();
    assert_eq!(seen.len(), 6);
    assert!(
        seen.windows(2).all(|w| w[0].body == w[1].body),
        "same batch resent"
    );
    assert!(
        rx.connections.load(Ordering::SeqCst) <= 3,
        "connections are reused: {}",
        rx.connections.load(Ordering::SeqCst)
    );
}

/// With indexer acknowledgment, a batch is acked only once Splunk says it
/// is indexed.
#[tokio::test]
async fn hec_indexer_ack_polls_until_indexed() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({"url": rx.url("https"), "tokenFile": "token", "indexerAck": true,
               "tls": {"caFile": "receiver-ca.crt"}}),
        pki.base(),
    );
    rx.then(&[
        (200, r#"{"text":"Success","code":0,"ackId":7}"#),
        (200, r#"{"acks":{"7":false}}"#),
        (200, r#"{"acks":{"7":true}}"#),
    ]);
    sink.send(&rendered(Format::Native, &events(1)))
        .await
        .expect("acked");
    let seen = rx.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].path, "/services/collector/ack");
    let body: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(body, json!({"acks": [7]}));
    assert_eq!(
        seen[0].headers["x-splunk-request-channel"], seen[1].headers["x-splunk-request-channel"],
        "the ack is asked on the channel the batch was sent on"
    );
}

/// The webhook posts what kube-apiserver's webhook backend posts, and
/// presents the configured client certificate and bearer token.
#[tokio::test]
async fn webhook_posts_event_lists_with_client_certificate() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, "{}".into())).await;
    let mut sink = webhook(
        json!({
            "url": format!("{}/k8s-audit", rx.url("https")),
            "tokenFile": "token",
            "timeout": "5s",
            "tls": {"caFile": "receiver-ca.crt", "certFile": "client.crt", "keyFile": "client.key"},
        }),
        pki.base(),
    );
    let evs = events(4);
    for part in [&evs[..2], &evs[2..3], &evs[3..]] {
        sink.send(&rendered(Format::K8sAudit, part)).await.unwrap();
        // hyper returns a connection to its pool in a task of its own;
        // let it run before the next batch.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let seen = rx.seen();
    assert_eq!(seen.len(), 3);
    let conns = rx.connections.load(Ordering::SeqCst);
    assert!(
        conns < 3,
        "kept-alive connection reused: {conns} connections"
    );
    let mut ids = Vec::new();
    for req in &seen {
        assert_eq!(req.path, "/k8s-audit");
        assert_eq!(req.client_cn.as_deref(), Some("kac-forwarder"));
        assert_eq!(req.headers["authorization"], "Bearer s3cret-token");
        assert_eq!(req.headers["content-type"], "application/json");
        let list: Value = serde_json::from_slice(&req.body).expect("JSON body");
        assert_eq!(list["kind"], "EventList");
        assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
        assert!(list["metadata"].is_object());
        for item in list["items"].as_array().unwrap() {
            check_audit_event(item);
            ids.push(item["auditID"].as_str().unwrap().to_string());
        }
    }
    let want: Vec<String> = (0..4)
        .map(|i| format!("0193a5b2-0000-7000-8000-{i:012}"))
        .collect();
    assert_eq!(ids, want, "every event, in order");
    let list: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(list["items"][1]["verb"], "delete");
    assert_eq!(list["items"][1]["responseStatus"]["code"], 403);
    assert_eq!(
        list["items"][1]["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    assert_eq!(
        list["items"][0]["impersonatedUser"]["username"],
        "kac:david"
    );
}

/// A rotated token file is picked up without restarting the forwarder.
#[tokio::test]
async fn rotated_token_files_are_reread() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({"url": rx.url("https"), "tokenFile": "token", "tls": {"caFile": "receiver-ca.crt"}}),
        pki.base(),
    );
    let batch = rendered(Format::Native, &events(1));
    sink.send(&batch).await.unwrap();
    let token = pki.base().join("token");
    let rotate = |text: &str, secs: u64| {
        std::fs::write(&token, text).unwrap();
        // Set the mtime explicitly: coarse file system clocks must not hide
        // the change.
        let f = std::fs::File::options().write(true).open(&token).unwrap();
        f.set_modified(std::time::SystemTime::now() + Duration::from_secs(secs))
            .unwrap();
    };
    rotate("rotated-token\n", 10);
    sink.send(&batch).await.unwrap();
    // A broken rotation (empty file) keeps the last good token.
    rotate("", 20);
    sink.send(&batch).await.unwrap();
    let auth: Vec<String> = rx
        .seen()
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        auth,
        [
            "Splunk s3cret-token",
            "Splunk rotated-token",
            "Splunk rotated-token"
        ]
    );
}

#[tokio::test]
async fn webhook_retries_5xx_and_refuses_4xx() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, "".into())).await;
    let mut sink = webhook(
        json!({"url": rx.url("https"), "tls": {"caFile": "receiver-ca.crt"}}),
        pki.base(),
    );
    let batch = rendered(Format::K8sAudit, &events(2));
    rx.then(&[(503, "unavailable"), (401, "Unauthorized")]);
    assert!(matches!(sink.send(&batch).await, Err(SinkError::Transient(m)) if m.contains("503")));
    assert!(
        matches!(sink.send(&batch).await, Err(SinkError::Permanent(m)) if m.contains("Unauthorized"))
    );
    sink.send(&batch).await.expect("then delivered");
    // A batch in another format is refused before anything is posted.
    let ecs = rendered(Format::Ecs, &events(1));
    assert!(
        matches!(sink.send(&ecs).await, Err(SinkError::Permanent(m)) if m.contains("k8s-audit"))
    );
    assert_eq!(rx.seen().len(), 3);
}

/// A receiver whose certificate is not signed by the configured CA gets
/// nothing, and the error names the certificate problem. It is a
/// configuration error (Permanent), not an outage.
#[tokio::test]
async fn wrong_ca_fails_verification_and_nothing_is_sent() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({"url": rx.url("https"), "tokenFile": "token", "tls": {"caFile": "other-ca.crt"}}),
        pki.base(),
    );
    match sink.send(&rendered(Format::Native, &events(1))).await {
        Err(SinkError::Permanent(m)) => {
            assert!(m.to_lowercase().contains("certificate"), "{m}")
        }
        other => panic!("wrong CA: {other:?}"),
    }
    // A server name the certificate does not carry fails the same way.
    let mut sink = webhook(
        json!({"url": rx.url("https"),
               "tls": {"caFile": "receiver-ca.crt", "serverName": "not-the-receiver.example"}}),
        pki.base(),
    );
    match sink.send(&rendered(Format::K8sAudit, &events(1))).await {
        Err(SinkError::Permanent(m)) => {
            assert!(m.to_lowercase().contains("certificate"), "{m}")
        }
        other => panic!("wrong name: {other:?}"),
    }
    assert!(rx.seen().is_empty());
}

/// A receiver that requires a client certificate refuses a forwarder
/// without one; that is a configuration error too.
#[tokio::test]
async fn missing_client_certificate_is_permanent() {
    let pki = Pki::new();
    let rx = Receiver::start(Some(pki.mtls_required()), (200, "{}".into())).await;
    let mut sink = webhook(
        json!({"url": rx.url("https"), "tls": {"caFile": "receiver-ca.crt"}}),
        pki.base(),
    );
    match sink.send(&rendered(Format::K8sAudit, &events(1))).await {
        Err(SinkError::Permanent(m)) => assert!(m.contains("Certificate"), "{m}"),
        other => panic!("no client cert: {other:?}"),
    }
    assert!(rx.seen().is_empty());
    // With the certificate it goes through.
    let mut sink = webhook(
        json!({"url": rx.url("https"),
               "tls": {"caFile": "receiver-ca.crt", "certFile": "client.crt", "keyFile": "client.key"}}),
        pki.base(),
    );
    sink.send(&rendered(Format::K8sAudit, &events(1)))
        .await
        .unwrap();
    assert_eq!(rx.seen()[0].client_cn.as_deref(), Some("kac-forwarder"));
}

/// Down, or not answering: retry later.
#[tokio::test]
async fn unreachable_or_silent_receivers_are_transient() {
    let pki = Pki::new();
    // Nothing listens on a port we just released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut down = webhook(
        json!({"url": format!("http://127.0.0.1:{port}/"), "allowPlainHttp": true}),
        pki.base(),
    );
    let batch = rendered(Format::K8sAudit, &events(1));
    assert!(matches!(
        down.send(&batch).await,
        Err(SinkError::Transient(_))
    ));

    let rx = Receiver::start(None, (0, String::new())).await;
    let mut silent = hec(
        json!({"url": rx.url("http"), "tokenFile": "token", "allowPlainHttp": true,
               "timeout": "300ms"}),
        pki.base(),
    );
    match silent.send(&rendered(Format::Native, &events(1))).await {
        Err(SinkError::Transient(m)) => assert!(m.contains("no response"), "{m}"),
        other => panic!("silent receiver: {other:?}"),
    }
}

/// Plain HTTP works only when asked for, and config mistakes are caught at
/// construction with the offending setting named.
#[tokio::test]
async fn plain_http_needs_opt_in_and_config_errors_are_clear() {
    let pki = Pki::new();
    let rx = Receiver::start(None, (200, HEC_OK.into())).await;
    let mut sink = hec(
        json!({"url": rx.url("http"), "tokenFile": "token", "allowPlainHttp": true}),
        pki.base(),
    );
    sink.send(&rendered(Format::Ocsf, &events(2)))
        .await
        .unwrap();
    assert_eq!(rx.seen().len(), 1);

    let err = |cfg: Value| {
        let cfg: HecConfig = serde_json::from_value(cfg).unwrap();
        match HecSink::new(&cfg, pki.base()) {
            Err(SinkError::Permanent(m)) => m,
            Err(e) => panic!("not permanent: {e}"),
            Ok(_) => panic!("accepted {cfg:?}"),
        }
    };
    assert!(err(json!({"url": rx.url("http"), "tokenFile": "token"})).contains("allowPlainHttp"));
    assert!(err(json!({"url": "https://splunk:8088", "tokenFile": "token"})).contains("caFile"));
    assert!(err(
        json!({"url": "https://splunk:8088", "tokenFile": "missing-token",
                   "tls": {"caFile": "receiver-ca.crt"}})
    )
    .contains("missing-token"));
    std::fs::write(pki.base().join("empty"), "\n").unwrap();
    assert!(
        err(json!({"url": rx.url("http"), "tokenFile": "empty", "allowPlainHttp": true}))
            .contains("empty")
    );
    // Unknown keys are config errors, not silently ignored.
    assert!(serde_json::from_value::<HecConfig>(
        json!({"url": "https://h", "tokenFile": "t", "token": "inline"})
    )
    .is_err());
    assert!(
        serde_json::from_value::<WebhookConfig>(json!({"url": "https://h", "timeout": "5"}))
            .is_err()
    );
}
