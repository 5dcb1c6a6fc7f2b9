//! Recorded sessions end to end: real kubectl through kac-proxy to kac-sim
//! (`kac demo`), then the recording read back from the store with
//! `kac-audit show SESSION --format json`. For each kind of session the
//! recorded output must equal, byte for byte, what kubectl printed, exit
//! codes must propagate, and typed commands must be extracted.
//! (Refusal when the store fails is tested in-process in
//! `proxy/src/session/relay_tests.rs`, where the store can be made to fail.)

use std::sync::OnceLock;
use std::time::Duration;

use kac_e2e::{Demo, ExtraConfig, ExtraProxy};
use serde_json::Value;

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| Demo::start().expect("kac demo starts"))
}

/// The events of the newest session of `user` whose start matches `pred`,
/// once its `session.end` is in the store.
fn recorded(user: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    recorded_in(&|args| demo().kac_audit(args), user, pred)
}

type KacAudit<'a> = &'a dyn Fn(&[&str]) -> anyhow::Result<kac_e2e::Output>;

/// [`recorded`] in any store, through its `kac-audit`.
fn recorded_in(kac_audit: KacAudit, user: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut last = String::new();
    for _ in 0..80 {
        let out = kac_audit(&[
            "sessions",
            &format!("user={user}"),
            "--format",
            "json",
            "--limit",
            "1000",
        ])
        .unwrap();
        last = out.stdout.clone();
        for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let id = v["session_id"].as_str().unwrap_or_default().to_string();
            if id.is_empty() {
                continue;
            }
            let shown = kac_audit(&["show", &id, "--format", "json"]).unwrap();
            let evs: Vec<Value> = shown
                .stdout
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let start = evs.iter().find(|e| e["event"] == "session.start");
            let ended = evs.iter().any(|e| e["event"] == "session.end");
            if ended && start.is_some_and(&pred) {
                return evs;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no finished session for {user} matched; sessions: {last}");
}

/// Standard base64 (the store's encoding of `session.data` payloads).
fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn stream(evs: &[Value], name: &str) -> Vec<u8> {
    evs.iter()
        .filter(|e| e["event"] == "session.data" && e["stream"] == name)
        .flat_map(|e| b64decode(e["data"].as_str().unwrap()))
        .collect()
}

fn commands(evs: &[Value]) -> Vec<(String, bool)> {
    evs.iter()
        .filter(|e| e["event"] == "session.command")
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_string(),
                e["uncertain"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn end(evs: &[Value]) -> &Value {
    evs.iter().find(|e| e["event"] == "session.end").unwrap()
}

fn command_is(start: &Value, argv: &[&str]) -> bool {
    start["command"].as_array().is_some_and(|a| {
        a.len() == argv.len() && a.iter().zip(argv).all(|(x, y)| x.as_str() == Some(*y))
    })
}

#[test]
fn non_interactive_exec_records_stdout_stderr_and_exit_code() {
    let k = demo().kubectl("david", "dev");
    let script = "echo sessions-out-1; echo sessions-err-1 >&2; exit 4";
    let out = k
        .run(&["exec", "david-3", "-n", "david", "--", "sh", "-c", script])
        .unwrap();
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let evs = recorded("david", |s| command_is(s, &["sh", "-c", script]));
    assert_eq!(
        String::from_utf8(stream(&evs, "stdout")).unwrap(),
        out.stdout
    );
    assert_eq!(stream(&evs, "stderr"), b"sessions-err-1\n");
    assert_eq!(end(&evs)["exit_code"], 4);
    assert_eq!(commands(&evs), vec![(format!("sh -c '{script}'"), false)]);
}

#[test]
fn piped_stdin_to_a_shell_is_recorded_as_commands() {
    let k = demo().kubectl("david", "dev");
    let out = k
        .run_stdin(
            &["exec", "-i", "david-3", "-n", "david", "--", "sh"],
            "echo piped-cmd-1\nexit 6\n",
        )
        .unwrap();
    assert_eq!(out.code, Some(6), "{}", out.stderr);
    let evs = recorded("david", |s| {
        command_is(s, &["sh"]) && s["tty"] == false && s["stdin"] == true
    });
    assert_eq!(stream(&evs, "stdin"), b"echo piped-cmd-1\nexit 6\n");
    assert_eq!(
        String::from_utf8(stream(&evs, "stdout")).unwrap(),
        out.stdout
    );
    let cmds: Vec<String> = commands(&evs).into_iter().map(|c| c.0).collect();
    assert_eq!(cmds, ["sh", "echo piped-cmd-1", "exit 6"]);
    assert_eq!(end(&evs)["exit_code"], 6);
}

/// Runs kubectl under a PTY (Python's `pty`), types keystrokes, resizes, and
/// returns everything the terminal received.
fn interactive(kubeconfig: &std::path::Path) -> (i32, Vec<u8>) {
    let cache = tempfile::tempdir().unwrap();
    let script = r#"
import os, pty, sys, time, select, struct, fcntl, termios, signal
kc, cache, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp('/usr/bin/kubectl', ['kubectl', '--kubeconfig', kc, '--cache-dir', cache,
                          'exec', '-it', '-n', 'david', 'david-3', '--', 'sh'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
out = b''
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try: out += os.read(fd, 65536)
            except OSError: return
pump(2.0)
for ch in b'echo tty-cmd-1x\x7f\r':
    os.write(fd, bytes([ch])); pump(0.03)
pump(0.5)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
os.kill(pid, signal.SIGWINCH)
pump(0.5)
os.write(fd, b'exit 9\r')
pump(2.0)
_, st = os.waitpid(pid, 0)
pump(0.2)
open(out_path, 'wb').write(out)
print(os.waitstatus_to_exitcode(st))
"#;
    let out_file = cache.path().join("tty.bin");
    let cache_dir = cache.path().join("kube-cache");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(kubeconfig)
        .arg(&cache_dir)
        .arg(&out_file)
        .env_remove("KUBECONFIG");
    let out = kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(60)).unwrap();
    let code: i32 = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}{}", out.stdout, out.stderr));
    (code, std::fs::read(&out_file).unwrap())
}

#[test]
fn interactive_tty_session_records_terminal_output_commands_and_resizes() {
    let demo = demo();
    // Writes david-dev.kubeconfig with the dev context current.
    let _ = demo.kubectl("david", "dev");
    let (code, terminal) = interactive(&demo.dir().join("david-dev.kubeconfig"));
    assert_eq!(code, 9);
    let evs = recorded("david", |s| command_is(s, &["sh"]) && s["tty"] == true);
    let recorded_out = stream(&evs, "stdout");
    // kubectl itself appends "command terminated with exit code 9" (its own
    // stderr, on the same terminal); everything before it came from the pod.
    assert!(
        terminal.starts_with(&recorded_out) && !recorded_out.is_empty(),
        "terminal {:?}\nrecorded {:?}",
        String::from_utf8_lossy(&terminal),
        String::from_utf8_lossy(&recorded_out)
    );
    let rest = String::from_utf8_lossy(&terminal[recorded_out.len()..]).to_string();
    assert!(
        rest.trim() == "command terminated with exit code 9",
        "{rest:?}"
    );
    assert_eq!(
        commands(&evs),
        vec![
            ("echo tty-cmd-1".to_string(), false),
            ("exit 9".to_string(), false)
        ]
    );
    let sizes: Vec<(u64, u64)> = evs
        .iter()
        .filter(|e| e["event"] == "session.resize")
        .map(|e| (e["width"].as_u64().unwrap(), e["height"].as_u64().unwrap()))
        .collect();
    assert!(
        sizes.contains(&(100, 30)) && sizes.contains(&(120, 40)),
        "{sizes:?}"
    );
    assert_eq!(end(&evs)["exit_code"], 9);
}

#[test]
fn kubectl_cp_is_a_recorded_file_transfer_with_names() {
    let k = demo().kubectl("david", "dev");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cp-upload.txt");
    std::fs::write(&src, "uploaded through kac\n").unwrap();
    let remote = "david/david-3:/tmp/kac-cp-e2e.txt";
    k.run(&["cp", src.to_str().unwrap(), remote])
        .unwrap()
        .ok()
        .unwrap();
    let back = dir.path().join("back.txt");
    k.run(&["cp", remote, back.to_str().unwrap()]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&back).unwrap(),
        "uploaded through kac\n"
    );

    let up = recorded("david", |s| s["transfer"]["direction"] == "upload");
    assert_eq!(end(&up)["transfer"]["files"][0], "kac-cp-e2e.txt");
    let down = recorded("david", |s| {
        s["transfer"]["direction"] == "download"
            && s["command"].to_string().contains("kac-cp-e2e.txt")
    });
    assert_eq!(end(&down)["transfer"]["files"][0], "tmp/kac-cp-e2e.txt");
    assert_eq!(end(&down)["exit_code"], 0);
}

#[test]
fn port_forward_is_audited_with_byte_counts_only() {
    let demo = demo();
    let k = demo.kubectl("david", "dev");
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut child = k
        .command(&[
            "port-forward",
            "-n",
            "david",
            "pod/david-3",
            &format!("{port}:80"),
        ])
        .spawn()
        .unwrap();
    let mut echoed = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"pf-payload-123\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            echoed = buf[..n].to_vec();
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(echoed, b"pf-payload-123\n");
    let evs = recorded("david", |s| s["kind"] == "portforward");
    assert!(
        evs.iter().all(|e| e["event"] != "session.data"),
        "no payload recorded"
    );
    let e = end(&evs);
    assert_eq!(e["bytes_stdin"], 15, "{e}");
    assert_eq!(e["bytes_stdout"], 15, "{e}");
    // Per port as well: one port, one forwarded connection.
    assert_eq!(e["ports"].as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(e["ports"][0]["port"], 80, "{e}");
    assert_eq!(e["ports"][0]["bytes_in"], 15, "{e}");
    assert_eq!(e["ports"][0]["bytes_out"], 15, "{e}");
    assert_eq!(e["ports"][0]["connections"], 1, "{e}");
    let table = demo
        .kac_audit(&[
            "show",
            e["session_id"].as_str().unwrap(),
            "--format",
            "table",
        ])
        .unwrap();
    assert!(
        table.stdout.contains("port 80: 15 in, 15 out"),
        "{}",
        table.stdout
    );
}

#[test]
fn attach_is_recorded_with_piped_stdin_lines_as_commands() {
    let k = demo().kubectl("david", "dev");
    let out = k
        .run_stdin(
            &["attach", "-i", "david-2", "-n", "david"],
            "echo attached-line-1\n",
        )
        .unwrap();
    assert!(
        out.stdout.contains("attached-line-1"),
        "{} {}",
        out.stdout,
        out.stderr
    );
    let evs = recorded("david", |s| s["kind"] == "attach" && s["pod"] == "david-2");
    assert_eq!(stream(&evs, "stdin"), b"echo attached-line-1\n");
    let recorded_out = String::from_utf8(stream(&evs, "stdout")).unwrap();
    assert!(recorded_out.contains("attached-line-1"), "{recorded_out}");
    assert!(
        out.stdout.starts_with(&recorded_out) || recorded_out.starts_with(&out.stdout),
        "kubectl {:?} vs recorded {recorded_out:?}",
        out.stdout
    );
    assert!(commands(&evs).contains(&("echo attached-line-1".to_string(), false)));
}

#[test]
fn plain_spdy_exec_is_refused_with_a_clear_status_by_default() {
    let mut k = demo().kubectl("david", "dev");
    k.envs
        .push(("KUBECTL_REMOTE_COMMAND_WEBSOCKETS".into(), "false".into()));
    let out = k
        .run(&[
            "exec",
            "david-3",
            "-n",
            "david",
            "--",
            "echo",
            "spdy-should-not-run",
        ])
        .unwrap();
    assert!(!out.success());
    assert!(
        !out.stdout.contains("spdy-should-not-run"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("cannot record SPDY"), "{}", out.stderr);
}

/// A proxy next to the demo's with `sessions:` set to `yaml`. With
/// `optional`, david's policy says `sessionRecording: optional` (a policy
/// requiring recording always refuses unrecorded sessions).
fn proxy_with_sessions(name: &str, yaml: &str, optional: bool) -> ExtraProxy {
    let mut extra = ExtraConfig {
        yaml: format!("sessions:\n{yaml}"),
        ..Default::default()
    };
    if optional {
        let p = demo().dir().join("proxy/policies/david.yaml");
        let david = std::fs::read_to_string(p).unwrap();
        let text = david.replacen("spec:\n", "spec:\n  sessionRecording: optional\n", 1);
        assert_ne!(text, david, "david.yaml has a spec: line");
        extra.policies.push(("david.yaml".into(), text));
    }
    ExtraProxy::start(demo(), name, &extra).expect("extra kac-proxy starts")
}

fn spdy_kubectl(proxy: &ExtraProxy) -> kac_e2e::Kubectl {
    let mut k = proxy.kubectl(demo(), "david", "dev");
    k.envs
        .push(("KUBECTL_REMOTE_COMMAND_WEBSOCKETS".into(), "false".into()));
    k
}

#[test]
fn plain_spdy_exec_is_recorded_with_spdy_record() {
    let proxy = proxy_with_sessions("spdy-record", "  spdy: record\n", false);
    let k = spdy_kubectl(&proxy);
    let script = "echo spdy-rec-out; echo spdy-rec-err >&2; printf 'no newline'; exit 5";
    let out = k
        .run(&["exec", "david-3", "-n", "david", "--", "sh", "-c", script])
        .unwrap();
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert_eq!(out.stdout, "spdy-rec-out\nno newline");
    let evs = recorded_in(&|a| proxy.kac_audit(a), "david", |s| {
        command_is(s, &["sh", "-c", script])
    });
    let start = evs.iter().find(|e| e["event"] == "session.start").unwrap();
    assert!(
        start["protocol"].as_str().unwrap().starts_with("SPDY/3.1"),
        "{start}"
    );
    assert_eq!(stream(&evs, "stdout"), out.stdout.as_bytes());
    assert_eq!(stream(&evs, "stderr"), b"spdy-rec-err\n");
    let e = end(&evs);
    assert_eq!(e["exit_code"], 5, "{e}");
    assert_eq!(e["bytes_stdout"], out.stdout.len(), "{e}");
    assert!(e.get("error").is_none(), "{e}");
}

#[test]
fn plain_spdy_exec_passes_through_audited_as_unrecorded() {
    let proxy = proxy_with_sessions("spdy-pass", "  spdy: passThroughUnrecorded\n", true);
    let k = spdy_kubectl(&proxy);
    let out = k
        .run(&[
            "exec",
            "david-3",
            "-n",
            "david",
            "--",
            "echo",
            "spdy-pass-out",
        ])
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "spdy-pass-out\n");
    let evs = recorded_in(&|a| proxy.kac_audit(a), "david", |s| {
        command_is(s, &["echo", "spdy-pass-out"])
    });
    assert!(
        evs.iter().all(|e| e["event"] != "session.data"),
        "no payload: {evs:?}"
    );
    let start = evs.iter().find(|e| e["event"] == "session.start").unwrap();
    assert_eq!(start["protocol"], "SPDY/3.1", "{start}");
    let e = end(&evs);
    assert_eq!(e["error"], "passed through unrecorded (SPDY)", "{e}");
    // Raw SPDY bytes both ways (frames, headers): more than the output.
    assert!(
        e["bytes_stdout"].as_u64().unwrap() > out.stdout.len() as u64,
        "{e}"
    );
}

#[test]
fn python_client_exec_and_port_forward_are_recorded() {
    let demo = demo();
    // Writes david-dev.kubeconfig with the dev context current.
    let _ = demo.kubectl("david", "dev");
    let kc = demo.dir().join("david-dev.kubeconfig");
    let kc = kc.to_str().unwrap();
    let t = Duration::from_secs(90);
    let o = kac_e2e::python("stream_exec.py", &[kc, "david", "david-1", "main"], t).unwrap();
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    // Stdin the Python client sent as text frames is recorded like binary.
    let evs = recorded("david", |s| {
        command_is(s, &["sh", "-c", "cat; echo done-err >&2; exit 4"])
    });
    assert_eq!(stream(&evs, "stdin"), b"line-one\nline-two\n");
    assert!(String::from_utf8(stream(&evs, "stdout"))
        .unwrap()
        .starts_with("line-one\nline-two\n"));

    let o = kac_e2e::python("stream_portforward.py", &[kc, "david", "david-1", "80"], t).unwrap();
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    let evs = recorded("david", |s| {
        s["kind"] == "portforward"
            && s["pod"] == "david-1"
            && s["protocol"] != "SPDY/3.1+portforward.k8s.io"
    });
    let e = end(&evs);
    let (sent, got) = (
        e["bytes_stdin"].as_u64().unwrap(),
        e["bytes_stdout"].as_u64().unwrap(),
    );
    assert!(sent > 0 && sent == got, "echo port: {e}");
    // The channel form names its ports in the query: per-port counts too.
    assert_eq!(e["ports"][0]["port"], 80, "{e}");
    assert_eq!(e["ports"][0]["bytes_in"], sent, "{e}");
    assert_eq!(e["ports"][0]["bytes_out"], got, "{e}");
}

#[test]
fn optional_recording_with_skip_relays_unrecorded_but_audited() {
    let proxy = proxy_with_sessions("optional-skip", "  optionalRecording: skip\n", true);
    let k = proxy.kubectl(demo(), "david", "dev");
    let script = "echo skip-out-1; echo skip-err >&2; exit 2";
    let out = k
        .run(&["exec", "david-3", "-n", "david", "--", "sh", "-c", script])
        .unwrap();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stdout, "skip-out-1\n");
    let evs = recorded_in(&|a| proxy.kac_audit(a), "david", |s| {
        command_is(s, &["sh", "-c", script])
    });
    assert!(
        evs.iter()
            .all(|e| e["event"] != "session.data" && e["event"] != "session.command"),
        "no payload: {evs:?}"
    );
    let e = end(&evs);
    assert_eq!(
        e["error"], "not recorded (sessionRecording: optional, sessions.optionalRecording: skip)",
        "{e}"
    );
    assert_eq!(e["bytes_stdout"], out.stdout.len(), "{e}");
    assert_eq!(e["bytes_stderr"], "skip-err\n".len(), "{e}");
}
