//! Graceful shutdown of kac-proxy (issue #3): on SIGTERM with a watch (over
//! HTTP/1.1 and over HTTP/2) and an exec session open, the proxy ends the
//! watches cleanly, closes the session with a Status, exits 0, and every
//! request's audit event — the watches' and the session's included — is in
//! the store when it has exited (no retry: written and synced before exit).
//! Also checks /metrics while they are open: requests by cluster, verb,
//! code and decision, latency histograms, open watches, live sessions.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kac_e2e::{Demo, ExtraConfig, ExtraProxy};
use serde_json::Value;

/// `curl` with the proxy's CA and a user's token; headers go to `headers`.
fn curl(proxy: &ExtraProxy, token: &str, headers: &Path, extra: &[&str], url: &str) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "-N", "--max-time", "120", "--cacert"])
        .arg(proxy.ca_file())
        .args(["-H", &format!("Authorization: Bearer {token}"), "-D"])
        .arg(headers)
        .args(extra)
        .arg(url);
    c
}

/// Waits until a header dump holds the response's `kac-audit-id`.
fn audit_id(headers: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(headers).unwrap_or_default();
        if let Some(id) = text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("kac-audit-id")
                .then(|| v.trim().to_string())
        }) {
            return id;
        }
        assert!(Instant::now() < deadline, "no kac-audit-id in {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end after the proxy stopped");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics(proxy: &ExtraProxy, dir: &Path) -> String {
    let out = curl(
        proxy,
        "",
        &dir.join("m.headers"),
        &[],
        &format!("{}/metrics", proxy.url()),
    )
    .output()
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(proxy: &ExtraProxy, id: &str) -> Vec<Value> {
    let out = proxy.kac_audit(&["show", id, "--format", "json"]).unwrap();
    // One event (pretty-printed) or a session (one event per line).
    serde_json::Deserializer::from_str(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("kac-audit show {id}: {e}: {}", out.stdout))
}

#[test]
fn sigterm_ends_watches_and_sessions_and_loses_no_audit_event() {
    let demo = Demo::start().expect("kac demo starts");
    let extra = ExtraConfig {
        yaml: "shutdownGrace: 20s\n".into(),
        ..Default::default()
    };
    let mut proxy = ExtraProxy::start(&demo, "shutdown", &extra).expect("kac-proxy starts");
    let token = demo.token("david");
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let base = format!("{}/clusters/dev/api/v1/namespaces/david/pods", proxy.url());

    // Ordinary requests, each with its audit id.
    let mut request_ids = Vec::new();
    for i in 0..3 {
        let h = dir.join(format!("get-{i}.headers"));
        let out = curl(
            &proxy,
            &token,
            &h,
            &["-o", "/dev/null", "-w", "%{http_code}"],
            &base,
        )
        .output()
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
        request_ids.push(audit_id(&h));
    }

    // Two watches, one per protocol, streaming into files.
    let mut watches = Vec::new();
    for (name, proto) in [("h1", "--http1.1"), ("h2", "--http2")] {
        let h = dir.join(format!("watch-{name}.headers"));
        let body = dir.join(format!("watch-{name}.body"));
        let child = curl(
            &proxy,
            &token,
            &h,
            &[proto, "-o", body.to_str().unwrap()],
            &format!("{base}?watch=true&timeoutSeconds=600"),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        watches.push((name, child, audit_id(&h), body));
    }

    // An exec session with real kubectl, kept open by its stdin.
    let k = proxy.kubectl(&demo, "david", "dev");
    let mut exec = k
        .command(&["exec", "-i", "david-3", "-n", "david", "--", "sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = exec.stdin.take().unwrap();
    writeln!(stdin, "echo before-shutdown").unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = exec.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("exec prints through the proxy");
    assert_eq!(line, "before-shutdown");

    // /metrics sees both watches and the session.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut m = metrics(&proxy, &dir);
    while !(m.contains("kac_open_watches 2") && m.contains("kac_live_sessions 1")) {
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(100));
        m = metrics(&proxy, &dir);
    }
    assert!(
        m.contains(
            "kac_requests_total{cluster=\"dev\",verb=\"list\",code=\"200\",decision=\"allowed\"} 3"
        ),
        "{m}"
    );
    assert!(
        m.contains("kac_request_duration_seconds_count{cluster=\"dev\",verb=\"list\"} 3"),
        "{m}"
    );

    let status = proxy
        .terminate(Duration::from_secs(60))
        .expect("kac-proxy exits after SIGTERM");
    let log = proxy.log();
    assert!(status.success(), "exit status {status}:\n{log}");

    // The watches ended as complete responses (curl exits 0, not 18/56).
    for (name, child, _, body) in &mut watches {
        let s = wait_exit(child, name);
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
        assert!(s.success(), "{name} watch: curl {s}: {err}");
        let events = std::fs::read_to_string(&*body).unwrap();
        assert!(events.contains("\"ADDED\""), "{name}: {events}");
    }
    // kubectl was told why its session ended.
    drop(stdin);
    let s = wait_exit(&mut exec, "kubectl exec");
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(exec.stderr.as_mut().unwrap(), &mut err);
    assert!(!s.success(), "kubectl exec should fail: {err}");
    assert!(err.contains("shutting down"), "kubectl stderr: {err}");

    // Every event is in the store now, without waiting.
    for id in &request_ids {
        let evs = show(&proxy, id);
        assert_eq!(evs.len(), 1, "request {id}: {evs:?}");
        assert_eq!(evs[0]["code"], 200, "{:?}", evs[0]);
    }
    for (name, _, id, _) in &watches {
        let evs = show(&proxy, id);
        assert_eq!(evs.len(), 1, "{name} watch {id}: {evs:?}\n{log}");
        assert_eq!(evs[0]["verb"], "watch", "{:?}", evs[0]);
        assert_eq!(evs[0]["code"], 200, "{:?}", evs[0]);
        assert!(
            evs[0]["bytes_out"].as_u64().unwrap_or(0) > 0,
            "{:?}",
            evs[0]
        );
    }
    let out = proxy
        .kac_audit(&["sessions", "user=david", "--format", "json"])
        .unwrap();
    let sessions: Vec<Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(sessions.len(), 1, "{}", out.stdout);
    let sid = sessions[0]["session_id"].as_str().unwrap().to_string();
    let evs = show(&proxy, &sid);
    let end = evs
        .iter()
        .find(|e| e["event"] == "session.end")
        .unwrap_or_else(|| panic!("no session.end: {evs:?}"));
    assert!(
        end["error"]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{end}"
    );
    let typed = serde_json::to_string(&evs).unwrap();
    assert!(typed.contains("echo before-shutdown"), "{typed}");
}
