//! Streaming pod subresources of the real kac-sim binary (TLS, token auth,
//! RBAC, router) driven by real kubectl 1.32 and the Python client: exec
//! (WebSocket and SPDY), exec -it under a terminal, logs and logs -f, cp,
//! port-forward (SPDY tunnel and plain SPDY), attach.
//!
//! Uses minimal local helpers (`sim` module below) until the shared harness
//! in `tests/src/lib.rs` exists; switch to `kac_e2e::Sim` then.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod sim {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// The kac-sim binary: `$KAC_SIM_BIN`, else the workspace's
    /// `target/debug/kac-sim`, built on demand.
    fn binary() -> PathBuf {
        if let Ok(p) = std::env::var("KAC_SIM_BIN") {
            return PathBuf::from(p);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("target"));
        let bin = target.join("debug/kac-sim");
        static BUILD: std::sync::Once = std::sync::Once::new();
        BUILD.call_once(|| {
            let st = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "kac-sim", "--bin", "kac-sim"])
                .current_dir(&root)
                .status()
                .expect("running cargo build -p kac-sim");
            assert!(st.success(), "cargo build -p kac-sim failed");
        });
        bin
    }

    /// A running kac-sim with its own data dir; killed on drop.
    pub struct Sim {
        pub dir: tempfile::TempDir,
        pub ready: serde_json::Value,
        child: Child,
    }

    impl Sim {
        pub fn start() -> Sim {
            let dir = tempfile::tempdir().expect("tempdir");
            let child = Command::new(binary())
                .args(["--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting kac-sim");
            let ready_path = dir.path().join("ready.json");
            let deadline = Instant::now() + Duration::from_secs(30);
            let ready = loop {
                if let Ok(s) = std::fs::read_to_string(&ready_path) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
                        break v;
                    }
                }
                assert!(Instant::now() < deadline, "kac-sim did not become ready");
                std::thread::sleep(Duration::from_millis(50));
            };
            Sim { dir, ready, child }
        }

        /// kubectl as the sim's admin, with a private discovery cache.
        pub fn kubectl(&self) -> Command {
            self.kubectl_as(None)
        }

        /// kubectl with the admin kubeconfig and, optionally, another
        /// user's token from ready.json.
        pub fn kubectl_as(&self, user: Option<&str>) -> Command {
            let mut c = Command::new("kubectl");
            c.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
                .arg(format!(
                    "--cache-dir={}",
                    self.dir.path().join("kcache").display()
                ));
            if let Some(u) = user {
                let token = self.ready["userTokens"][u].as_str().expect("user token");
                c.arg(format!("--token={token}"));
            }
            c
        }

        pub fn kubeconfig(&self) -> PathBuf {
            self.dir.path().join("admin.kubeconfig")
        }

        /// Where kac-sim runs processes of `ns/pod`.
        pub fn pod_root(&self, ns: &str, pod: &str) -> PathBuf {
            self.dir.path().join("pods").join(ns).join(pod).join("root")
        }
    }

    impl Drop for Sim {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

use sim::Sim;

/// A pod of the sim's seeded sample state.
const NS: &str = "default";
const POD: &str = "nginx-1";

fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

fn wait_for(buf: &Arc<Mutex<Vec<u8>>>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = text(&buf.lock().unwrap());
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; got {s:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_websocket_and_spdy() {
    let s = Sim::start();
    for spdy in [false, true] {
        let ws = if spdy { "false" } else { "true" };
        let mut c = s.kubectl();
        c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", ws).args([
            "exec",
            POD,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        let o = run(c, None);
        assert_eq!(o.status.code(), Some(3), "spdy={spdy}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "out\n");
        assert!(text(&o.stderr).starts_with("err\n"), "{}", text(&o.stderr));

        let data: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let mut c = s.kubectl();
        c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", ws)
            .args(["exec", "-i", POD, "--", "cat"]);
        let o = run(c, Some(data.clone()));
        assert_eq!(o.status.code(), Some(0), "spdy={spdy}: {}", text(&o.stderr));
        assert!(
            o.stdout == data,
            "spdy={spdy}: cat gave {} bytes",
            o.stdout.len()
        );
    }
    // The process runs in the pod's directory, as the pod.
    let mut c = s.kubectl();
    c.args(["exec", POD, "--", "sh", "-c", "pwd; echo $HOSTNAME"]);
    let o = run(c, None);
    assert_eq!(
        text(&o.stdout),
        format!("{}\n{POD}\n", s.pod_root(NS, POD).display())
    );
    // A container the pod does not have.
    let mut c = s.kubectl();
    c.args(["exec", POD, "-c", "nope", "--", "true"]);
    let o = run(c, None);
    assert!(
        text(&o.stderr).contains(&format!("container nope is not valid for pod {POD}")),
        "{}",
        text(&o.stderr)
    );
}

/// `kubectl exec -it` inside a terminal made by `script`.
#[test]
fn exec_interactive_under_a_terminal() {
    let s = Sim::start();
    let kubectl = format!(
        "stty cols 90 rows 25; kubectl --kubeconfig={} --cache-dir={} exec -it {POD} -- sh",
        s.kubeconfig().display(),
        s.dir.path().join("kcache").display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &kubectl, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    let out = collect(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    wait_for(&out, "the prompt", |o| o.contains(&format!("{POD}:$ ")));
    stdin
        .write_all(b"echo hello-$((1+2)); stty size\n")
        .unwrap();
    wait_for(&out, "hello-3 and the size", |o| {
        o.contains("hello-3\r\n") && o.contains("25 90\r\n")
    });
    stdin.write_all(b"exit 5\n").unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(5), "{}", text(&out.lock().unwrap()));
}

#[test]
fn logs_and_follow() {
    let s = Sim::start();
    let mut c = s.kubectl();
    c.args(["logs", POD]);
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with(&format!("[kac-sim] pod {NS}/{POD} started\n")),
        "{}",
        text(&o.stdout)
    );
    let mut c = s.kubectl();
    c.args(["logs", "-f", POD])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let seen = wait_for(&out, "a heartbeat", |o| o.contains("heartbeat"));
    let n = seen.matches("heartbeat").count();
    let t = Instant::now();
    wait_for(&out, "a new line", |o| o.matches("heartbeat").count() > n);
    assert!(t.elapsed() < Duration::from_secs(3), "follow too slow");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn cp_into_the_pod_and_back() {
    let s = Sim::start();
    let src = s.dir.path().join("src.bin");
    let data: Vec<u8> = (0..250_000u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let mut c = s.kubectl();
    c.args([
        "cp",
        src.to_str().unwrap(),
        &format!("{NS}/{POD}:copied.bin"),
    ]);
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(std::fs::read(s.pod_root(NS, POD).join("copied.bin")).unwrap() == data);
    let back = s.dir.path().join("back.bin");
    let mut c = s.kubectl();
    c.args([
        "cp",
        &format!("{NS}/{POD}:copied.bin"),
        back.to_str().unwrap(),
    ]);
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(std::fs::read(&back).unwrap() == data);
}

#[test]
fn port_forward_echoes() {
    let s = Sim::start();
    for tunnel in ["true", "false"] {
        let mut c = s.kubectl();
        c.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", tunnel)
            .args(["port-forward", &format!("pod/{POD}"), ":80"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let out = collect(child.stdout.take().unwrap());
        let line = wait_for(&out, "Forwarding from", |o| {
            o.contains("Forwarding from 127.0.0.1:")
        });
        let port: u16 = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("local port");
        let msg: Vec<u8> = (0..120_000u32).map(|i| (i % 249) as u8).collect();
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(&msg).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        assert!(
            got == msg,
            "websockets={tunnel}: {} of {} bytes",
            got.len(),
            msg.len()
        );
        child.kill().unwrap();
        let _ = child.wait();
    }
}

#[test]
fn attach_reaches_the_main_process() {
    let s = Sim::start();
    let mut c = s.kubectl();
    c.args(["attach", "-i", POD]);
    let o = run(c, Some(b"echo hello-attach-$((2+2))\n".to_vec()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("hello-attach-4\n"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn rbac_applies_to_exec() {
    let s = Sim::start();
    let mut c = s.kubectl_as(Some("viewer"));
    c.args(["exec", POD, "--", "true"]);
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot create resource \"pods/exec\""),
        "{}",
        text(&o.stderr)
    );
}

/// The Python client scripts of tests/py (needs `pip install kubernetes`).
#[test]
fn python_client_exec_attach_portforward() {
    let s = Sim::start();
    let py = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py");
    for (script, extra) in [
        ("stream_exec.py", "main"),
        ("stream_attach.py", "main"),
        ("stream_portforward.py", "80"),
    ] {
        let mut c = Command::new("python3");
        c.arg(py.join(script))
            .arg(s.kubeconfig())
            .args([NS, POD, extra]);
        let o = run(c, None);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{script}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}
