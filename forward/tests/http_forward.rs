//! End to end through the real `kac-audit forward` binary: a store of N
//! events goes to a Splunk HEC receiver (format `ecs`) and to an audit
//! webhook (format `k8s-audit`), both HTTPS with a test CA, while HEC is
//! "busy" (503) at first and the forwarder is SIGKILLed and restarted part
//! way. Every event must arrive at both, in the receiver's schema, and
//! duplicates stay within one batch per forwarder restart (HTTP sinks are
//! acknowledged per request, and `cursorInterval: 0s` saves the cursor
//! before the next batch, so nothing else is resent; the background cursor
//! saving of the default interval is tested against rsyslog).

mod common;
mod receiver;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Fwd;
use receiver::{check_audit_event, Pki, Receiver, HEC_OK};
use serde_json::Value;

const N: usize = 600;
const MAX_EVENTS: usize = 50;

/// Ids HEC accepted (answered 200), after checking each envelope's shape.
fn hec_ids(rx: &Receiver) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for req in rx.seen().into_iter().filter(|r| r.status == 200) {
        assert_eq!(req.path, "/services/collector/event");
        assert_eq!(req.headers["authorization"], "Splunk hec-token");
        for o in serde_json::Deserializer::from_slice(&req.body).into_iter::<Value>() {
            let o = o.expect("HEC envelope JSON");
            assert!(o["time"].is_number(), "{o}");
            assert_eq!(o["sourcetype"], "kac:ecs");
            let ev = &o["event"];
            assert_eq!(ev["event"]["category"][0], "api", "{ev}");
            assert_eq!(ev["orchestrator"]["type"], "kubernetes");
            *ids.entry(ev["event"]["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    ids
}

/// Ids received by the webhook, after checking each item.
fn webhook_ids(rx: &Receiver) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for req in rx.seen() {
        let list: Value = serde_json::from_slice(&req.body).expect("EventList JSON");
        assert_eq!(list["kind"], "EventList");
        for item in list["items"].as_array().unwrap() {
            check_audit_event(item);
            *ids.entry(item["auditID"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    ids
}

async fn wait_until(what: &str, fwd: &mut Fwd, log: &Path, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        if let Some(status) = fwd.0.try_wait().unwrap() {
            panic!(
                "kac-audit forward exited ({status}) while waiting for {what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}; forwarder log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_all_arrived(what: &str, ids: &HashMap<String, usize>, restarts: usize) {
    let missing: Vec<String> = (0..N)
        .map(|i| format!("ev-{i:07}"))
        .filter(|id| !ids.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(ids.len(), N, "{what}: unexpected ids");
    let duplicates = ids.values().sum::<usize>() - N;
    let bound = restarts * MAX_EVENTS;
    assert!(
        duplicates <= bound,
        "{what}: {duplicates} duplicates, bound {bound}"
    );
    eprintln!("{what}: {N} events, {duplicates} duplicates (bound {bound})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_and_webhook_receive_every_event_across_a_forwarder_restart() {
    let pki = Pki::new();
    let dir = pki.base();
    let store = dir.join("store");
    common::fill_store(&store, N, 0);
    std::fs::write(dir.join("hec.token"), "hec-token\n").unwrap();

    let hec = Receiver::start(Some(pki.server.clone()), (200, HEC_OK.into())).await;
    // Splunk is busy at first: the forwarder must retry, not skip.
    hec.then(&[
        (503, r#"{"text":"Server is busy","code":9}"#),
        (503, r#"{"text":"Server is busy","code":9}"#),
        (503, r#"{"text":"Server is busy","code":9}"#),
    ]);
    let webhook = Receiver::start(Some(pki.server.clone()), (200, "{}".into())).await;

    let common_opts = format!(
        "    batch: {{maxEvents: {MAX_EVENTS}, maxWait: 50ms}}\n    cursorInterval: 0s\n    rateLimit: 2000\n    retry: {{initialBackoff: 20ms, maxBackoff: 200ms}}\n"
    );
    let config = dir.join("forward.yaml");
    std::fs::write(
        &config,
        format!(
            concat!(
                "store: {store}\nstateDir: {state}\nforwarders:\n",
                "  - name: splunk\n    format: ecs\n{common_opts}    sink:\n",
                "      kind: splunkHec\n      url: {hec_url}\n      tokenFile: hec.token\n",
                "      sourcetype: kac:ecs\n      tls: {{caFile: receiver-ca.crt}}\n",
                "  - name: falco\n    format: k8s-audit\n{common_opts}    sink:\n",
                "      kind: webhook\n      url: {wh_url}/k8s-audit\n",
                "      tls: {{caFile: receiver-ca.crt, certFile: client.crt, keyFile: client.key}}\n",
            ),
            common_opts = common_opts,
            store = store.display(),
            state = dir.join("state").display(),
            hec_url = hec.url("https"),
            wh_url = webhook.url("https"),
        ),
    )
    .unwrap();
    let log = dir.join("forwarder.log");

    let mut fwd = Fwd::start(&config, &log);
    wait_until(
        "a third of the events at both receivers",
        &mut fwd,
        &log,
        || hec_ids(&hec).len() >= N / 3 && webhook_ids(&webhook).len() >= N / 3,
    )
    .await;
    // kill -9 the forwarder; it resumes from its cursors.
    drop(fwd);
    let mut fwd = Fwd::start(&config, &log);
    wait_until("every event at both receivers", &mut fwd, &log, || {
        hec_ids(&hec).len() >= N && webhook_ids(&webhook).len() >= N
    })
    .await;
    drop(fwd);

    check_all_arrived("hec", &hec_ids(&hec), 1);
    check_all_arrived("webhook", &webhook_ids(&webhook), 1);
    let refused = hec.seen().iter().filter(|r| r.status == 503).count();
    assert_eq!(refused, 3, "the busy answers were retried");
    assert!(webhook
        .seen()
        .iter()
        .all(|r| r.client_cn.as_deref() == Some("kac-forwarder")));
}
