//! `exec` and `attach` over the WebSocket channel protocols: request
//! validation, the handshake, and the exec session that bridges channels to a
//! real process (pipes, or a PTY when `tty=true`).

use super::channel::{self, ChannelProtocol};
use super::process::{self, PodEnv, Spawned, Stdio3};
use super::query::Query;
use super::ws::{self, Out};
use super::{bad_request, status, Body, PodContext};
use bytes::Bytes;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Which subresource is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

/// Options of one exec/attach request.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub container: String,
    pub command: Vec<String>,
    pub io: Stdio3,
    pub tty: bool,
}

/// How long to keep draining output after the process exited (background
/// jobs may hold the pipes or the terminal open forever).
const DRAIN_GRACE: Duration = Duration::from_millis(1500);

/// Validates the request and answers the WebSocket handshake.
pub async fn handle(req: Request<Incoming>, ctx: PodContext, kind: Kind) -> Response<Body> {
    let q = Query::parse(req.uri().query());
    let container = match ctx.resolve_container(q.get("container")) {
        Ok(c) => c,
        Err(msg) => return bad_request(&msg),
    };
    let opts = StreamOptions {
        container,
        command: q.all("command"),
        io: Stdio3 {
            stdin: q.flag("stdin"),
            stdout: q.flag("stdout"),
            stderr: q.flag("stderr"),
        },
        tty: q.flag("tty"),
    };
    if kind == Kind::Exec && opts.command.is_empty() {
        return bad_request("you must specify at least 1 command");
    }
    if !opts.io.stdin && !opts.io.stdout && !opts.io.stderr {
        return bad_request("you must specify at least one of stdin, stdout, stderr");
    }
    if !ws::is_websocket(&req) {
        if ws::is_spdy(&req) {
            return bad_request(
                "kac-sim serves exec and attach over WebSocket only \
                 (v5.channel.k8s.io, v4.channel.k8s.io, base64.channel.k8s.io, \
                 v4.base64.channel.k8s.io); SPDY/3.1 is not implemented",
            );
        }
        return bad_request("Upgrade request required");
    }
    let offered = ws::offered_protocols(&req);
    let Some(proto) = channel::negotiate(offered.iter().map(String::as_str)) else {
        return bad_request(&format!(
            "unable to upgrade: no supported subprotocol in {offered:?}"
        ));
    };
    let env = PodEnv {
        namespace: ctx.namespace.clone(),
        pod: ctx.pod.clone(),
        container: opts.container.clone(),
        root: ctx.pod_dir().join("root"),
    };
    match kind {
        Kind::Exec => ws::accept(req, proto.name(), move |ws| {
            exec_session(ws, proto, env, opts)
        }),
        Kind::Attach => {
            let pod = super::pod::PodRuntime::get(&ctx);
            ws::accept(req, proto.name(), move |ws| {
                super::pod::attach_session(ws, proto, pod, opts)
            })
        }
    }
}

/// Sends channel messages over the ordered writer.
#[derive(Clone)]
pub struct ChannelSender {
    pub proto: ChannelProtocol,
    pub out: mpsc::Sender<Out>,
}

impl ChannelSender {
    /// Sends `data` on `ch`; `false` once the client is gone.
    pub async fn send(&self, ch: u8, data: &[u8]) -> bool {
        let (text, bytes) = channel::encode(self.proto, ch, data);
        self.out
            .send(Out::Msg(ws::message(text, bytes)))
            .await
            .is_ok()
    }

    /// The announcement kubelet sends first: an empty frame on the lowest
    /// writable channel (stdout, else stderr, else the error channel).
    pub async fn announce(&self, io: Stdio3, tty: bool) -> bool {
        let ch = if io.stdout {
            channel::STDOUT
        } else if io.stderr && !tty {
            channel::STDERR
        } else {
            channel::ERROR
        };
        self.send(ch, b"").await
    }

    /// Writes the final Status on the error channel (v4+: JSON; the v1
    /// protocols only carry a failure's message) and closes normally.
    pub async fn finish(&self, st: serde_json::Value) {
        if self.proto.json_status() {
            self.send(channel::ERROR, st.to_string().as_bytes()).await;
        } else if st["status"] != "Success" {
            let msg = st["message"].as_str().unwrap_or("error").to_string();
            self.send(channel::ERROR, msg.as_bytes()).await;
        }
        let _ = self.out.send(Out::Close(1000, String::new())).await;
    }
}

/// Where client stdin goes.
pub enum StdinSink {
    Writer(Box<dyn AsyncWrite + Send + Unpin>),
    Chan(mpsc::Sender<Bytes>),
}

/// Reads client messages until the client closes: stdin to `stdin`, resizes
/// to `pty`, the v5 close signal half-closes stdin. Returns how it ended.
pub async fn pump_input(
    proto: ChannelProtocol,
    mut input: futures_util::stream::SplitStream<ws::Ws>,
    mut stdin: Option<StdinSink>,
    pty: Option<Arc<OwnedFd>>,
    stdin_closed: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let mut stdin_closed = stdin_closed;
    while let Some(msg) = input.next().await {
        let raw: Vec<u8> = match msg {
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok((ch, payload)) = channel::decode(proto, &raw) else {
            continue;
        };
        match ch {
            channel::STDIN => {
                let ok = match stdin.as_mut() {
                    Some(StdinSink::Writer(w)) => {
                        w.write_all(&payload).await.is_ok() && w.flush().await.is_ok()
                    }
                    Some(StdinSink::Chan(tx)) => tx.send(Bytes::from(payload)).await.is_ok(),
                    None => true,
                };
                if !ok {
                    stdin = None;
                }
            }
            channel::RESIZE => {
                if let (Some(size), Some(master)) = (channel::parse_resize(&payload), &pty) {
                    let _ = process::resize(master, size.width, size.height);
                }
            }
            channel::CLOSE
                if proto.supports_close() && payload.first() == Some(&channel::STDIN) =>
            {
                if let Some(StdinSink::Writer(mut w)) = stdin.take() {
                    let _ = w.shutdown().await;
                }
                if let Some(tx) = stdin_closed.take() {
                    let _ = tx.send(());
                }
            }
            _ => {}
        }
    }
}

/// Copies a process stream to a channel until EOF or client gone.
pub async fn pump_output(mut r: Box<dyn AsyncRead + Send + Unpin>, ch: u8, tx: ChannelSender) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if !tx.send(ch, &buf[..n]).await {
                    return;
                }
            }
        }
    }
}

async fn exec_session(ws: ws::Ws, proto: ChannelProtocol, env: PodEnv, opts: StreamOptions) {
    let (out, input) = ws::split(ws);
    let tx = ChannelSender { proto, out };
    if !tx.announce(opts.io, opts.tty).await {
        return;
    }
    let spawned = if opts.tty {
        process::spawn_pty(&opts.command, &env, None)
    } else {
        process::spawn_pipes(&opts.command, &env, opts.io)
    };
    let Spawned {
        mut child,
        stdin,
        stdout,
        stderr,
        pty,
    } = match spawned {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(pod = %env.pod, "exec failed to start: {e}");
            let msg = format!(
                "failed to exec in container: failed to start exec in pod {}: {e}",
                env.pod
            );
            tx.finish(status::internal_error(&msg)).await;
            return;
        }
    };
    let pid = child.id();
    let mut pumps = Vec::new();
    if let Some(r) = stdout.filter(|_| opts.io.stdout || opts.tty) {
        pumps.push(tokio::spawn(pump_output(r, channel::STDOUT, tx.clone())));
    }
    if let Some(r) = stderr {
        pumps.push(tokio::spawn(pump_output(r, channel::STDERR, tx.clone())));
    }
    let stdin = if opts.io.stdin {
        stdin.map(StdinSink::Writer)
    } else {
        None
    };
    let mut input = tokio::spawn(pump_input(proto, input, stdin, pty.clone(), None));
    tokio::select! {
        exit = child.wait() => {
            let _ = tokio::time::timeout(DRAIN_GRACE, futures_util::future::join_all(pumps)).await;
            let st = match exit {
                Ok(s) if s.success() => status::success(),
                Ok(s) => status::non_zero_exit(&opts.command, process::exit_code(s)),
                Err(e) => status::internal_error(&format!("waiting for the process: {e}")),
            };
            tx.finish(st).await;
            input.abort();
        }
        _ = &mut input => {
            // The client went away: end the job as kubelet does.
            process::kill_group(pid, if pty.is_some() { libc::SIGHUP } else { libc::SIGKILL });
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            let _ = child.start_kill();
        }
    }
}
