//! At-least-once delivery to a real rsyslogd (Debian's `rsyslog`, TLS via
//! `rsyslog-gnutls`), across a receiver crash and a forwarder crash.
//!
//! N events are written to a store; `kac-audit forward` (the real binary)
//! sends them to a private rsyslogd, which is SIGKILLed and restarted part
//! way, and the forwarder itself is SIGKILLed and restarted later. Every
//! id must arrive, and duplicates must stay within the documented bound
//! (docs/forwarding.md), computed from the config below: a receiver
//! restart resends at most `resendWindow + maxEvents`; a forwarder crash
//! at most that plus the events acknowledged within one `cursorInterval`
//! and one cursor save (the cursor is saved in the background).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{fill_store, forward_config, message_id, Fwd};
use kac_e2e::rsyslog::{Rsyslog, TlsFiles};

const N: usize = 5_000;
const MAX_EVENTS: usize = 100;
const WINDOW: usize = 400;
/// Events/s; also the token bucket's capacity (a second's worth).
const RATE: usize = 1_000;
const CURSOR_INTERVAL_MS: usize = 200;
/// Allowance for one cursor save (temp file, fsync, rename, dir fsync) on
/// a loaded machine; typically tens of ms.
const SAVE_MS: usize = 800;
/// The forwarder is killed once this many ids arrived: more than the bound
/// below, so a forwarder that never saved its cursor fails the test.
const KILL_AT: usize = 4_000;

/// Events acknowledged within one cursor interval plus one save, at most:
/// a full bucket, the rate over that time, and one batch taken on credit.
fn unsaved_bound() -> usize {
    RATE + RATE * (CURSOR_INTERVAL_MS + SAVE_MS) / 1000 + MAX_EVENTS
}

/// Counts of each id received, after checking every message's shape.
fn tally(rs: &Rsyslog) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for line in rs.received() {
        let Some(id) = message_id(&line) else {
            panic!("message without an id: {line}")
        };
        *seen.entry(id.to_string()).or_default() += 1;
    }
    seen
}

fn wait_until(what: &str, timeout: Duration, log: &Path, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < timeout,
            "timed out waiting for {what}; forwarder log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scenario(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    fill_store(&store, N, 600);
    let tls_files = tls.then(|| TlsFiles::generate(&dir.path().join("pki")));
    let mut rs = Rsyslog::start(&dir.path().join("rsyslog"), tls_files.as_ref());
    let tls_cfg = tls_files
        .as_ref()
        .map(|t| format!("      tls:\n        caFile: {}\n", t.ca.display()))
        .unwrap_or_default();
    let sink = format!(
        "      kind: syslog\n      address: 127.0.0.1:{}\n      resendWindow: {WINDOW}\n{tls_cfg}",
        rs.port
    );
    // A rate limit keeps the run long enough to crash both sides mid-way.
    let extra = format!(
        "    batch: {{maxEvents: {MAX_EVENTS}, maxWait: 100ms}}\n    rateLimit: {RATE}\n    cursorInterval: {CURSOR_INTERVAL_MS}ms\n    retry: {{initialBackoff: 20ms, maxBackoff: 500ms}}\n"
    );
    let config = forward_config(dir.path(), &store, &sink, &extra);
    let log = dir.path().join("forwarder.log");

    let fwd = Fwd::start(&config, &log);
    wait_until("the first events", Duration::from_secs(30), &log, || {
        tally(&rs).len() >= 1_000
    });
    // The receiver crashes (SIGKILL: it loses what it had not written yet)
    // and comes back on the same port.
    rs.kill();
    std::thread::sleep(Duration::from_millis(300));
    rs.restart();
    wait_until(
        "delivery after the receiver restart",
        Duration::from_secs(30),
        &log,
        || tally(&rs).len() >= KILL_AT,
    );
    // The forwarder crashes (kill -9) and restarts from its cursor.
    drop(fwd);
    let fwd = Fwd::start(&config, &log);
    wait_until("all events", Duration::from_secs(60), &log, || {
        tally(&rs).len() >= N
    });
    drop(fwd);
    rs.stop();

    let seen = tally(&rs);
    let missing: Vec<String> = (0..N)
        .map(|i| format!("ev-{i:07}"))
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen.len(), N, "unexpected ids");
    let total: usize = seen.values().sum();
    let duplicates = total - N;
    // The receiver restart resends the window plus one batch; the
    // forwarder crash also what was acknowledged after the last save.
    let bound = 2 * (WINDOW + MAX_EVENTS) + unsaved_bound();
    assert!(bound < KILL_AT, "the bound must be able to fail the test");
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates, documented bound {bound}"
    );
    // The messages are RFC 5424 with the event as MSG.
    let line = rs
        .received()
        .into_iter()
        .find(|l| l.contains("ev-0000010"))
        .unwrap();
    assert!(
        line.starts_with("<132>1 "),
        "denied → local0.warning: {line}"
    );
    assert!(
        line.contains(" kac - api [kac@32473 id=\"ev-0000010\""),
        "{line}"
    );
    let json = &line[line.find("] ").unwrap() + 2..].trim_start_matches('\u{feff}');
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["id"], "ev-0000010");
    assert_eq!(v["decision"]["outcome"], "denied");
    eprintln!(
        "{N} events delivered over {}, {duplicates} duplicates (bound {bound})",
        if tls { "TLS" } else { "TCP" }
    );
}

#[test]
fn tcp_delivers_everything_across_both_restarts() {
    scenario(false);
}

#[test]
fn tls_delivers_everything_across_both_restarts() {
    scenario(true);
}
