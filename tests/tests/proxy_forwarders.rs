//! SIEM forwarders configured in kac-proxy's own config (issue #9): the
//! proxy starts them next to its listener, they read the proxy's store and
//! deliver to a real rsyslogd (the Debian package, imtcp, plain TCP), with
//! the configured filter applied. Real kubectl makes the calls.
//!
//! `kac-audit forward` and its delivery guarantees (restarts, TLS, HEC,
//! webhook) are tested in kac-forward; this test covers the wiring: config →
//! running forwarder → receiver, its metrics, and the cursor it leaves when
//! the proxy stops.

use std::time::{Duration, Instant};

use kac_e2e::rsyslog::Rsyslog;
use kac_e2e::{Demo, ExtraConfig, ExtraProxy};
use serde_json::Value;

/// The JSON body of a received RFC 5424 message (native format).
fn body(line: &str) -> Value {
    let json = &line[line
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {line:?}"))..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Waits until rsyslogd has written a message `pred` accepts.
fn wait_for(rsyslog: &Rsyslog, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<Value> = rsyslog.received().iter().map(|l| body(l)).collect();
        if got.iter().any(&pred) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "rsyslogd never received {what}; got {got:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn forwarders_in_the_proxy_config_deliver_filtered_events_to_rsyslog() {
    let demo = Demo::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path(), None);
    let yaml = format!(
        "forwarders:\n\
         \x20 - name: soc-denied\n\
         \x20   format: native\n\
         \x20   batch: {{maxEvents: 100, maxWait: 100ms}}\n\
         \x20   cursorInterval: 200ms\n\
         \x20   filter: {{kinds: [api], outcomes: [denied]}}\n\
         \x20   sink: {{kind: syslog, address: '127.0.0.1:{}', appName: kac}}\n",
        rsyslog.port
    );
    let mut proxy = ExtraProxy::start(
        &demo,
        "siem",
        &ExtraConfig {
            yaml,
            ..Default::default()
        },
    )
    .unwrap();

    // One allowed and one denied call by david on prod, through this proxy.
    let k = proxy.kubectl(&demo, "david", "prod");
    let allowed = k
        .run(&["get", "pods", "-n", "david", "-o", "name"])
        .unwrap();
    assert!(allowed.success(), "{}", allowed.stderr);
    let denied = k
        .run(&["delete", "pod", "nginx-1", "-n", "default"])
        .unwrap();
    assert!(
        denied.stderr.contains("Error from server (Forbidden)"),
        "{}",
        denied.stderr
    );

    let got = wait_for(&rsyslog, "david's denied delete", |e| {
        e["user"]["name"] == "david"
            && e["verb"] == "delete"
            && e["name"] == "nginx-1"
            && e["cluster"] == "prod"
    });
    // The filter let only denied API events through: the allowed list (and
    // kubectl's discovery calls) never reached the receiver.
    for e in &got {
        assert_eq!(e["type"], "api", "{e:#}");
        assert_eq!(e["decision"]["outcome"], "denied", "{e:#}");
    }
    assert!(
        got.iter().all(|e| e["verb"] != "list"),
        "an allowed list was forwarded: {got:#?}"
    );

    // The proxy's /metrics shows the forwarder and what it sent.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(proxy.ca_file())
        .arg(format!("{}/metrics", proxy.url()))
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout);
    let sent: u64 = metrics
        .lines()
        .find(|l| l.starts_with("kac_forward_sent_events_total{forwarder=\"soc-denied\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!("no kac_forward_sent_events_total for soc-denied in:\n{metrics}")
        });
    assert!(sent >= 1, "sent {sent}");

    // On SIGTERM the proxy stops its forwarders after the audit queue is
    // flushed; the cursor they leave stands on the last event written.
    let status = proxy.terminate(Duration::from_secs(60)).unwrap();
    assert!(
        status.success(),
        "kac-proxy exited {status}:\n{}",
        proxy.log()
    );
    let cursor_file = demo.dir().join("siem/data/forward/soc-denied.cursor.json");
    let cursor: Value = serde_json::from_str(
        &std::fs::read_to_string(&cursor_file)
            .unwrap_or_else(|e| panic!("{}: {e}", cursor_file.display())),
    )
    .unwrap();
    let stats = proxy.kac_audit(&["stats"]).unwrap();
    let events: u64 = stats
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("api events")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no api events count in:\n{}", stats.stdout));
    // Seqs start at 1 and nothing but API events was written: the cursor
    // stands on the last one (filtered-out events are passed, not skipped).
    assert!(events >= 3, "{}", stats.stdout);
    assert_eq!(cursor["streams"]["proxy"]["seq"], events, "{cursor}");
}
