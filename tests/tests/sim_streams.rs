//! Streaming pod subresources of the real kac-sim binary (TLS, token auth,
//! RBAC, router) driven by real kubectl 1.32 and the Python client: exec
//! (WebSocket and SPDY), exec -it under a terminal, logs and logs -f, cp,
//! port-forward (SPDY tunnel and plain SPDY), attach.

use kac_e2e::{python, run_with_timeout, Kubectl, Output, Sim};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

fn start() -> (Sim, Kubectl) {
    let sim = Sim::start("dev").expect("starting kac-sim");
    let k = Kubectl::new(&sim.admin_kubeconfig());
    (sim, k)
}

/// Where kac-sim runs processes of `ns/pod`.
fn pod_root(sim: &Sim, ns: &str, pod: &str) -> PathBuf {
    sim.data_dir().join("pods").join(ns).join(pod).join("root")
}

fn run(cmd: Command, stdin: Option<&[u8]>) -> Output {
    run_with_timeout(cmd, stdin, TIMEOUT).expect("running a client")
}

/// A pod of the sim's seeded sample state.
const NS: &str = "default";
const POD: &str = "nginx-1";

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
        let s = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
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

/// Kills a spawned client when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn exec_websocket_and_spdy() {
    let (sim, k) = start();
    for spdy in [false, true] {
        let ws = if spdy { "false" } else { "true" };
        let mut c = k.command(&[
            "exec",
            POD,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", ws);
        let o = run(c, None);
        assert_eq!(o.code, Some(3), "spdy={spdy}: {}", o.stderr);
        assert_eq!(o.stdout, "out\n");
        assert!(o.stderr.starts_with("err\n"), "{}", o.stderr);

        // Control bytes and NULs survive (all ASCII so the text Output compares).
        let data: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 128) as u8).collect();
        let mut c = k.command(&["exec", "-i", POD, "--", "cat"]);
        c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", ws);
        let o = run(c, Some(&data));
        assert_eq!(o.code, Some(0), "spdy={spdy}: {}", o.stderr);
        assert!(
            o.stdout.as_bytes() == data,
            "spdy={spdy}: cat gave {} bytes",
            o.stdout.len()
        );
    }
    // The process runs in the pod's directory, as the pod.
    let o = run(
        k.command(&["exec", POD, "--", "sh", "-c", "pwd; echo $HOSTNAME"]),
        None,
    );
    assert_eq!(
        o.stdout,
        format!("{}\n{POD}\n", pod_root(&sim, NS, POD).display())
    );
    // A container the pod does not have.
    let o = run(k.command(&["exec", POD, "-c", "nope", "--", "true"]), None);
    assert!(
        o.stderr
            .contains(&format!("container nope is not valid for pod {POD}")),
        "{}",
        o.stderr
    );
}

/// `kubectl exec -it` inside a terminal made by `script`.
#[test]
fn exec_interactive_under_a_terminal() {
    let (_sim, k) = start();
    let cmd = k.command(&["exec", "-it", POD, "--", "sh"]);
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let shell = format!("stty cols 90 rows 25; {}", line.join(" "));
    let mut child = KillOnDrop(
        Command::new("script")
            .args(["-qfec", &shell, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script(1) from util-linux"),
    );
    let out = collect(child.0.stdout.take().unwrap());
    let mut stdin = child.0.stdin.take().unwrap();
    wait_for(&out, "the prompt", |o| o.contains(&format!("{POD}:$ ")));
    stdin
        .write_all(b"echo hello-$((1+2)); stty size\n")
        .unwrap();
    wait_for(&out, "hello-3 and the size", |o| {
        o.contains("hello-3\r\n") && o.contains("25 90\r\n")
    });
    stdin.write_all(b"exit 5\n").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let st = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "kubectl exec -it did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        st.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.lock().unwrap())
    );
}

#[test]
fn logs_and_follow() {
    let (_sim, k) = start();
    let o = k.run(&["logs", POD]).unwrap();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with(&format!("[kac-sim] pod {NS}/{POD} started\n")),
        "{}",
        o.stdout
    );
    let mut c = k.command(&["logs", "-f", POD]);
    c.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = KillOnDrop(c.spawn().unwrap());
    let out = collect(child.0.stdout.take().unwrap());
    let seen = wait_for(&out, "a heartbeat", |o| o.contains("heartbeat"));
    let n = seen.matches("heartbeat").count();
    wait_for(&out, "a new line", |o| o.matches("heartbeat").count() > n);
}

#[test]
fn cp_into_the_pod_and_back() {
    let (sim, k) = start();
    let src = sim.data_dir().join("src.bin");
    let data: Vec<u8> = (0..250_000u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let o = k
        .run(&[
            "cp",
            src.to_str().unwrap(),
            &format!("{NS}/{POD}:copied.bin"),
        ])
        .unwrap();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(std::fs::read(pod_root(&sim, NS, POD).join("copied.bin")).unwrap() == data);
    let back = sim.data_dir().join("back.bin");
    let o = k
        .run(&[
            "cp",
            &format!("{NS}/{POD}:copied.bin"),
            back.to_str().unwrap(),
        ])
        .unwrap();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(std::fs::read(&back).unwrap() == data);
}

#[test]
fn port_forward_echoes() {
    let (_sim, k) = start();
    for tunnel in ["true", "false"] {
        let mut c = k.command(&["port-forward", &format!("pod/{POD}"), ":80"]);
        c.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", tunnel)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = KillOnDrop(c.spawn().unwrap());
        let out = collect(child.0.stdout.take().unwrap());
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
    }
}

#[test]
fn attach_reaches_the_main_process() {
    let (_sim, k) = start();
    let o = k
        .run_stdin(&["attach", "-i", POD], "echo hello-attach-$((2+2))\n")
        .unwrap();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.stdout.contains("hello-attach-4\n"), "{}", o.stdout);
}

#[test]
fn rbac_applies_to_exec() {
    let (sim, _) = start();
    let token = sim.user_token("viewer").unwrap();
    let kc = sim.kubeconfig_with("viewer", Some(&token)).unwrap();
    let o = Kubectl::new(&kc).run(&["exec", POD, "--", "true"]).unwrap();
    assert_eq!(o.code, Some(1));
    assert!(
        o.stderr.contains("cannot create resource \"pods/exec\""),
        "{}",
        o.stderr
    );
}

/// The Python client scripts of tests/py (needs `pip install kubernetes`).
#[test]
fn python_client_exec_attach_portforward() {
    let (sim, _) = start();
    let kc = sim.admin_kubeconfig();
    let kc = kc.to_str().unwrap();
    for (script, extra) in [
        ("stream_exec.py", "main"),
        ("stream_attach.py", "main"),
        ("stream_portforward.py", "80"),
    ] {
        let o = python(script, &[kc, NS, POD, extra], TIMEOUT).unwrap();
        assert_eq!(o.code, Some(0), "{script}: {}{}", o.stdout, o.stderr);
    }
}
