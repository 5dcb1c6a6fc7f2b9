//! Test and bench helpers: a store full of API events with known ids, and
//! the private rsyslogd of the e2e harness (`kac_e2e::rsyslog`).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kac_event::{ApiEvent, DecisionRecord, Event, Outcome, UserInfo};
use kac_store::{Store, StoreOptions};

/// An API event with a known id and a JSON size near `pad` bytes.
pub fn api_event(i: usize, pad: usize) -> Event {
    Event::Api(Box::new(ApiEvent {
        id: format!("ev-{i:07}"),
        time: chrono::Utc::now(),
        user: UserInfo {
            name: ["david", "andrew", "sam"][i % 3].into(),
            groups: vec!["dev".into()],
            ..Default::default()
        },
        source_ip: "10.0.0.7".into(),
        user_agent: "kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef".into(),
        cluster: ["dev", "prod"][i % 2].into(),
        method: "GET".into(),
        request_uri: format!(
            "/api/v1/namespaces/web/pods/web-{i}{}",
            "x".repeat(pad.saturating_sub(420))
        ),
        verb: "get".into(),
        api_version: "v1".into(),
        resource: "pods".into(),
        namespace: "web".into(),
        name: format!("web-{i}"),
        decision: DecisionRecord {
            outcome: if i.is_multiple_of(10) {
                Outcome::Denied
            } else {
                Outcome::Allowed
            },
            policy: Some("david".into()),
            rule: Some("actions[0]".into()),
            reason: String::new(),
        },
        code: if i.is_multiple_of(10) { 403 } else { 200 },
        duration_us: 1234,
        bytes_out: 2048,
        ..Default::default()
    }))
}

/// Writes `n` API events (ids `ev-0000000`...) into a new store at `dir`.
pub fn fill_store(dir: &Path, n: usize, pad: usize) {
    let store = Store::open(
        dir,
        StoreOptions {
            index: false,
            fsync_interval: Duration::from_millis(50),
            block_max_events: 512,
            ..Default::default()
        },
    )
    .expect("open store");
    let w = store.writer();
    for i in 0..n {
        w.append(api_event(i, pad)).expect("append");
    }
    store.flush().expect("flush");
    store.close().expect("close");
}

/// The `id="..."` of a received syslog message's structured data.
pub fn message_id(line: &str) -> Option<&str> {
    let start = line.find(" id=\"")? + 5;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// Writes a forwarder file for one syslog forwarder and returns its path.
pub fn forward_config(dir: &Path, store: &Path, sink: &str, extra: &str) -> PathBuf {
    let p = dir.join("forward.yaml");
    let mut f = std::fs::File::create(&p).unwrap();
    write!(
        f,
        "store: {}\nstateDir: {}\nforwarders:\n  - name: test\n{extra}    sink:\n{sink}",
        store.display(),
        dir.join("state").display()
    )
    .unwrap();
    p
}

/// A `kac-audit forward --config FILE` process (stderr appended to a
/// log file), SIGKILLed on drop so a failing test never leaves it behind.
pub struct Fwd(pub Child);

impl Fwd {
    pub fn start(config: &Path, log: &Path) -> Fwd {
        let bin = kac_e2e::binary("kac-audit", "kac-audit").expect("kac-audit binary");
        let err = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Fwd(Command::new(bin)
            .args(["forward", "--config"])
            .arg(config)
            .env("KAC_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawning kac-audit forward"))
    }
}

impl Drop for Fwd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
