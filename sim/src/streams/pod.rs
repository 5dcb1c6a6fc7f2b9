//! The per-pod runtime: the pod directory, its log file, a heartbeat that
//! keeps the log moving, and the lazily-started main process (`/bin/sh`
//! reading commands from stdin) that `attach` connects to.
//!
//! Log file format (`DATA_DIR/pods/NS/POD/log`), one line per entry, as the
//! CRI writes container logs: `RFC3339NANO STREAM F TEXT`.

use super::exec::StreamOptions;
use super::log::format_entry;
use super::process::{self, PodEnv, Stdio3};
use super::session_io::{Input, Output};
use super::{channel, status, PodContext};
use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};

/// How often the heartbeat line is written.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A stream of the main process, as tagged in the log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// The handle attach sessions use to talk to the running main process.
#[derive(Clone)]
pub struct MainHandle {
    pub stdin: mpsc::Sender<Bytes>,
    /// Becomes `Some(exit code)` when the process ends.
    pub exited: watch::Receiver<Option<i32>>,
}

/// Runtime state of one pod (kept for the life of the sim process).
pub struct PodRuntime {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub dir: PathBuf,
    pub env: PodEnv,
    log_file: Mutex<Option<std::fs::File>>,
    /// Raw output chunks of the main process and heartbeat, for attach.
    pub output: broadcast::Sender<(LogStream, Bytes)>,
    main: tokio::sync::Mutex<Option<MainHandle>>,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<PodRuntime>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<PodRuntime>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Forgets a deleted pod: stops its heartbeat, ends its main process (its
/// stdin closes) and removes `DATA_DIR/pods/NS/POD` with the log, as the
/// kubelet removes a deleted pod's containers and logs. Safe to call for a
/// pod that never streamed.
pub fn pod_deleted(data_dir: &std::path::Path, namespace: &str, pod: &str) {
    let dir = data_dir.join("pods").join(namespace).join(pod);
    let rt = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&dir);
    if let Some(rt) = rt {
        if let Ok(mut slot) = rt.main.try_lock() {
            slot.take();
        }
        rt.log_file.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

impl PodRuntime {
    /// The runtime of `ctx`'s pod, created (directory, seeded log,
    /// heartbeat) on first use. A pod recreated under the same name (new
    /// uid) starts afresh with a new log.
    pub fn get(ctx: &PodContext) -> Arc<PodRuntime> {
        let dir = ctx.pod_dir();
        let uid = ctx.pod_json["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = reg.get(&dir) {
            if rt.uid == uid {
                return rt.clone();
            }
        }
        let first = ctx
            .container_names()
            .into_iter()
            .next()
            .unwrap_or_else(|| "main".into());
        let rt = Arc::new(PodRuntime {
            namespace: ctx.namespace.clone(),
            pod: ctx.pod.clone(),
            uid,
            dir: dir.clone(),
            env: PodEnv {
                namespace: ctx.namespace.clone(),
                pod: ctx.pod.clone(),
                container: first.clone(),
                root: dir.join("root"),
            },
            log_file: Mutex::new(None),
            output: broadcast::channel(256).0,
            main: tokio::sync::Mutex::new(None),
        });
        let replaced = reg.insert(dir, rt.clone()).is_some();
        drop(reg);
        rt.init(ctx, &first, replaced);
        let weak = Arc::downgrade(&rt);
        tokio::spawn(async move {
            let mut n = 0u64;
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(rt) = weak.upgrade() else { return };
                n += 1;
                rt.emit(
                    LogStream::Stdout,
                    format!("[kac-sim] {}/{} heartbeat {n}\n", rt.namespace, rt.pod).as_bytes(),
                );
            }
        });
        rt
    }

    fn init(&self, ctx: &PodContext, container: &str, fresh: bool) {
        let _ = std::fs::create_dir_all(self.dir.join("root"));
        let path = self.log_path();
        if fresh {
            let _ = std::fs::remove_file(&path);
        }
        let existed = path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        match file {
            Ok(f) => *self.log_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(f),
            Err(e) => tracing::warn!("opening pod log {}: {e}", path.display()),
        }
        if !existed {
            let image = ctx
                .pod_json
                .pointer("/spec/containers/0/image")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");
            let lines = format!(
                "[kac-sim] pod {ns}/{pod} started\n\
                 [kac-sim] container {container} running image {image}\n\
                 [kac-sim] main process: /bin/sh reading commands from attach stdin\n\
                 [kac-sim] ready\n",
                ns = self.namespace,
                pod = self.pod,
            );
            self.append_log(LogStream::Stdout, lines.as_bytes());
        }
    }

    /// `DATA_DIR/pods/NS/POD/log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn append_log(&self, stream: LogStream, text: &[u8]) {
        let now = chrono::Utc::now();
        let mut out = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.extend_from_slice(format_entry(now, stream, line).as_bytes());
        }
        if let Some(f) = self
            .log_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let _ = f.write_all(&out);
        }
    }

    /// Records complete lines in the log and hands the raw bytes to attached
    /// clients.
    pub fn emit(&self, stream: LogStream, data: &[u8]) {
        self.append_log(stream, data);
        let _ = self.output.send((stream, Bytes::copy_from_slice(data)));
    }

    /// The running main process, started if needed.
    pub async fn main(self: &Arc<Self>) -> std::io::Result<MainHandle> {
        let mut slot = self.main.lock().await;
        if let Some(h) = slot.as_ref() {
            if h.exited.borrow().is_none() {
                return Ok(h.clone());
            }
        }
        let argv = vec!["/bin/sh".to_string()];
        let io3 = Stdio3 {
            stdin: true,
            stdout: true,
            stderr: true,
        };
        let mut sp = process::spawn_pipes(&argv, &self.env, io3)?;
        let (stdin_tx, mut stdin_rx) = mpsc::channel::<Bytes>(64);
        let (exit_tx, exit_rx) = watch::channel(None);
        if let Some(mut w) = sp.stdin.take() {
            tokio::spawn(async move {
                while let Some(b) = stdin_rx.recv().await {
                    if w.write_all(&b).await.is_err() || w.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
        let mut pumps = Vec::new();
        for (r, s) in [
            (sp.stdout.take(), LogStream::Stdout),
            (sp.stderr.take(), LogStream::Stderr),
        ] {
            if let Some(r) = r {
                pumps.push(tokio::spawn(pump_main(r, s, self.clone())));
            }
        }
        let rt = self.clone();
        let mut child = sp.child;
        tokio::spawn(async move {
            let code = child.wait().await.map(process::exit_code).unwrap_or(1);
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                futures_util::future::join_all(pumps),
            )
            .await;
            rt.emit(
                LogStream::Stdout,
                format!("[kac-sim] main process exited with code {code}; it restarts on the next attach\n")
                    .as_bytes(),
            );
            let _ = exit_tx.send(Some(code));
        });
        let h = MainHandle {
            stdin: stdin_tx,
            exited: exit_rx,
        };
        *slot = Some(h.clone());
        Ok(h)
    }
}

/// Copies one main-process stream to attach clients and, line by line, to
/// the log.
async fn pump_main(mut r: Box<dyn AsyncRead + Send + Unpin>, s: LogStream, rt: Arc<PodRuntime>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let _ = rt.output.send((s, Bytes::copy_from_slice(chunk)));
        partial.extend_from_slice(chunk);
        if let Some(pos) = partial.iter().rposition(|&b| b == b'\n') {
            let complete: Vec<u8> = partial.drain(..=pos).collect();
            rt.append_log(s, &complete);
        }
    }
    if !partial.is_empty() {
        rt.append_log(s, &partial);
    }
}

/// How long after the client closed stdin an attach keeps forwarding output
/// before it ends with Success (the sim's stand-in for `stdinOnce`).
const STDIN_EOF_GRACE: Duration = Duration::from_millis(1000);

/// An attach session: forwards the main process's output (and heartbeat) to
/// the client and the client's stdin to the main process.
pub async fn attach_session(
    tx: Output,
    mut input: mpsc::Receiver<Input>,
    pod: Arc<PodRuntime>,
    opts: StreamOptions,
) {
    let mut output = pod.output.subscribe();
    let main = match pod.main().await {
        Ok(h) => h,
        Err(e) => {
            tx.finish(status::internal_error(&format!(
                "starting main process: {e}"
            )))
            .await;
            return;
        }
    };
    let mut exited = main.exited.clone();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = output.recv() => match msg {
                Ok((s, data)) => {
                    let ch = match s {
                        LogStream::Stdout if opts.io.stdout => channel::STDOUT,
                        LogStream::Stderr if opts.tty && opts.io.stdout => channel::STDOUT,
                        LogStream::Stderr if opts.io.stderr => channel::STDERR,
                        _ => continue,
                    };
                    if !tx.send(ch, &data).await {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = exited.changed() => {
                let code = *exited.borrow();
                if changed.is_err() || code.is_some() {
                    let st = match code {
                        Some(0) | None => status::success(),
                        Some(c) => status::non_zero_exit(&["/bin/sh".to_string()], c),
                    };
                    tx.finish(st).await;
                    break;
                }
            }
            ev = input.recv() => match ev {
                Some(Input::Stdin(b)) if opts.io.stdin => {
                    let _ = main.stdin.send(b).await;
                }
                Some(Input::StdinEof) if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + STDIN_EOF_GRACE);
                }
                Some(_) => {}
                // The client went away.
                None => break,
            },
            _ = until => {
                tx.finish(status::success()).await;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeds_log_and_forgets_deleted_pods() {
        let data = std::env::temp_dir().join(format!("kac-sim-pod-{}", std::process::id()));
        let ctx = PodContext {
            namespace: "ns".into(),
            pod: "p".into(),
            pod_json: serde_json::json!({"metadata": {"uid": "u1"},
                "spec": {"containers": [{"name": "c", "image": "img:1"}]}}),
            data_dir: data.clone(),
        };
        let rt = PodRuntime::get(&ctx);
        let log = std::fs::read_to_string(rt.log_path()).unwrap();
        assert!(
            log.contains(" stdout F [kac-sim] pod ns/p started\n"),
            "{log}"
        );
        assert!(log.contains("container c running image img:1"), "{log}");
        // Same uid: same runtime.
        assert!(Arc::ptr_eq(&rt, &PodRuntime::get(&ctx)));
        let weak = Arc::downgrade(&rt);
        drop(rt);
        pod_deleted(&data, "ns", "p");
        assert!(weak.upgrade().is_none(), "runtime still referenced");
        assert!(!data.join("pods/ns/p").exists());
        let _ = std::fs::remove_dir_all(&data);
    }
}
