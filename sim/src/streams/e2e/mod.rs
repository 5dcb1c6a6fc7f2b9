//! Real kubectl (and the Python client) against the streams handlers behind
//! the test-only server in `server.rs`. Each test gets its own server, data
//! dir and kubectl cache.

mod server;
mod wire;

use server::TestServer;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs a command to completion off the runtime, feeding `stdin`.
async fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(data) = stdin {
            let mut w = child.stdin.take().expect("stdin");
            std::thread::spawn(move || {
                let _ = w.write_all(&data);
            });
        }
        child.wait_with_output().expect("wait kubectl")
    })
    .await
    .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Collects a child's stdout in the background.
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

/// Waits until `pred` holds for the collected output, or panics with it.
async fn wait_for(buf: &Arc<Mutex<Vec<u8>>>, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = text(&buf.lock().unwrap());
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; got {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_code_stdin_and_bad_container() {
    let s = TestServer::start("exec").await;
    let mut c = s.kubectl();
    c.args([
        "exec",
        "p1",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).starts_with("err\n"), "{}", text(&o.stderr));

    // Binary-safe stdin through `cat`.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut c = s.kubectl();
    c.args(["exec", "-i", "p1", "-c", "main", "--", "cat"]);
    let o = run(c, Some(data.clone())).await;
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert!(o.stdout == data, "cat returned {} bytes", o.stdout.len());

    // The process runs in the pod's directory with the pod's identity.
    let mut c = s.kubectl();
    c.args([
        "exec",
        "p1",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "pwd; echo $HOSTNAME $KAC_POD",
    ]);
    let o = run(c, None).await;
    let root = s.pod_root("default", "p1");
    assert_eq!(text(&o.stdout), format!("{}\np1 p1\n", root.display()));

    // A command that cannot start: an InternalError Status, kubectl exits 1.
    let mut c = s.kubectl();
    c.args(["exec", "p1", "-c", "main", "--", "kac-no-such-command"]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("Internal error occurred: error executing command in container: "),
        "{}",
        text(&o.stderr)
    );

    let mut c = s.kubectl();
    c.args(["exec", "p1", "-c", "nope", "--", "true"]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("container nope is not valid for pod p1"),
        "{}",
        text(&o.stderr)
    );
}

/// `kubectl exec -it` under a real terminal: kubectl itself runs on a PTY
/// we own, so it puts the terminal in raw mode and sends resizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_interactive_tty() {
    interactive_tty(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_interactive_tty_spdy() {
    interactive_tty(true).await;
}

async fn interactive_tty(spdy: bool) {
    let s = TestServer::start("tty").await;
    let size = nix::pty::Winsize {
        ws_row: 31,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let mut c = s.kubectl();
    if spdy {
        c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
    }
    c.args(["exec", "-it", "p1", "-c", "main", "--", "sh"])
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: setsid/ioctl are async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY as _, 0);
            Ok(())
        });
    }
    let mut child = c.spawn().expect("spawn kubectl");
    drop(pty.slave);
    let master = std::fs::File::from(pty.master);
    let out = collect(master.try_clone().unwrap());
    let mut w = master;
    wait_for(&out, "the prompt", |s| s.contains("p1:$ ")).await;
    w.write_all(b"echo hello-$((1+2))\r").unwrap();
    wait_for(&out, "hello-3", |s| s.contains("hello-3\r\n")).await;
    // kubectl sent our terminal's size; the pod's terminal has it.
    w.write_all(b"stty size\r").unwrap();
    wait_for(&out, "the terminal size", |s| s.contains("31 101\r\n")).await;
    w.write_all(b"exit 5\r").unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(
        status.code(),
        Some(5),
        "output: {}",
        text(&out.lock().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_follow() {
    let s = TestServer::start("logs").await;
    let mut c = s.kubectl();
    c.args(["logs", "p1", "-c", "main"]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let first = text(&o.stdout);
    assert!(
        first.starts_with("[kac-sim] pod default/p1 started\n[kac-sim] container main running image busybox:1.36\n"),
        "{first}"
    );

    let mut c = s.kubectl();
    c.args(["logs", "-f", "p1", "-c", "main"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let seen = wait_for(&out, "a heartbeat", |s| s.contains("heartbeat")).await;
    assert!(
        seen.starts_with("[kac-sim] pod default/p1 started"),
        "{seen}"
    );
    let n = seen.matches("heartbeat").count();
    wait_for(&out, "another heartbeat", |s| {
        s.matches("heartbeat").count() > n
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();

    let mut c = s.kubectl();
    c.args(["logs", "--tail=1", "--timestamps", "p1", "-c", "main"]);
    let o = run(c, None).await;
    let line = text(&o.stdout);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("Z [kac-sim] "), "{line}");

    let mut c = s.kubectl();
    c.args(["logs", "--previous", "p1", "-c", "main"]);
    let o = run(c, None).await;
    assert!(
        text(&o.stderr).contains("previous terminated container \"main\" in pod \"p1\" not found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_both_ways() {
    let s = TestServer::start("cp").await;
    let src = s.path().join("src.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    // Relative paths: the pod's root is the cwd of `tar` in the pod.
    let mut c = s.kubectl();
    c.args([
        "cp",
        src.to_str().unwrap(),
        "default/p1:copied.bin",
        "-c",
        "main",
    ]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let inside = std::fs::read(s.pod_root("default", "p1").join("copied.bin")).unwrap();
    assert!(inside == data, "copied in {} bytes", inside.len());

    let back = s.path().join("back.bin");
    let mut c = s.kubectl();
    c.args([
        "cp",
        "default/p1:copied.bin",
        back.to_str().unwrap(),
        "-c",
        "main",
    ]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(std::fs::read(&back).unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_spdy_tunnel_echoes() {
    let s = TestServer::start("pf").await;
    port_forward_echo(&s, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_streams_main_process() {
    let s = TestServer::start("attach").await;
    // Output only: the heartbeat shows up.
    let mut c = s.kubectl();
    c.args(["attach", "p1", "-c", "main"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = collect(child.stdout.take().unwrap());
    wait_for(&out, "heartbeat via attach", |s| {
        s.contains("[kac-sim] default/p1 heartbeat")
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();

    // With stdin: commands reach the main shell; stdin EOF ends the attach.
    let mut c = s.kubectl();
    c.args(["attach", "-i", "p1", "-c", "main"]);
    let o = run(c, Some(b"echo hello-attach-$((2+2))\n".to_vec())).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("hello-attach-4\n"),
        "{}",
        text(&o.stdout)
    );
    // The main process writes to the pod log too.
    let mut c = s.kubectl();
    c.args(["logs", "p1", "-c", "main"]);
    let o = run(c, None).await;
    assert!(text(&o.stdout).contains("hello-attach-4\n"));
}

/// The Python client scripts in tests/py (needs `pip install kubernetes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_exec_and_portforward() {
    let s = TestServer::start("py").await;
    let py = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/py");
    for (script, extra) in [
        ("stream_exec.py", vec!["main"]),
        ("stream_portforward.py", vec!["80", "8080"]),
        ("stream_attach.py", vec!["main"]),
    ] {
        let mut c = Command::new("python3");
        c.arg(py.join(script))
            .arg(&s.kubeconfig)
            .args(["default", "p1"])
            .args(extra);
        let o = run(c, None).await;
        assert_eq!(
            o.status.code(),
            Some(0),
            "{script}: stdout {} stderr {}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

/// The SPDY/3.1 fallbacks: exec (`POST`, `Upgrade: SPDY/3.1`) and plain
/// SPDY port-forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdy_exec_and_port_forward() {
    let s = TestServer::start("spdy").await;
    let mut c = s.kubectl();
    c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false").args([
        "exec",
        "p1",
        "-c",
        "main",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    let o = run(c, None).await;
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "out\n");
    assert!(text(&o.stderr).starts_with("err\n"), "{}", text(&o.stderr));

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let mut c = s.kubectl();
    c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .args(["exec", "-i", "p1", "-c", "main", "--", "cat"]);
    let o = run(c, Some(data.clone())).await;
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert!(o.stdout == data, "cat returned {} bytes", o.stdout.len());

    let mut c = s.kubectl();
    c.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .args(["attach", "-i", "p1", "-c", "main"]);
    let o = run(c, Some(b"echo spdy-attach-$((3+4))\n".to_vec())).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("spdy-attach-7\n"),
        "{}",
        text(&o.stdout)
    );

    port_forward_echo(&s, true).await;
}

async fn port_forward_echo(s: &TestServer, plain_spdy: bool) {
    let mut c = s.kubectl();
    if plain_spdy {
        c.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    }
    c.args(["port-forward", "pod/p1", ":80"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let line = wait_for(&out, "Forwarding from", |s| {
        s.contains("Forwarding from 127.0.0.1:")
    })
    .await;
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("local port");
    for i in 0..3 {
        let msg: Vec<u8> = format!("echo-{i}-")
            .bytes()
            .chain((0..50_000).map(|j| j as u8))
            .collect();
        let m = msg.clone();
        let got = tokio::task::spawn_blocking(move || {
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            conn.write_all(&m).unwrap();
            conn.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            got
        })
        .await
        .unwrap();
        assert!(
            got == msg,
            "connection {i}: {} of {} bytes",
            got.len(),
            msg.len()
        );
    }
    child.kill().unwrap();
    let _ = child.wait();
}
