//! `exec` and `attach` over the WebSocket channel protocols: request
//! validation, the handshake, and the exec session that bridges channels to a
//! real process (pipes, or a PTY when `tty=true`).

use super::channel;
use super::process::{self, PodEnv, Spawned, Stdio3};
use super::query::Query;
use super::session_io::{self, Input, Output};
use super::{bad_request, spdy_conn, status, ws, Body, PodContext};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

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
    let env = PodEnv {
        namespace: ctx.namespace.clone(),
        pod: ctx.pod.clone(),
        container: opts.container.clone(),
        root: ctx.pod_dir().join("root"),
    };
    let pod = (kind == Kind::Attach).then(|| super::pod::PodRuntime::get(&ctx));
    if !ws::is_websocket(&req) {
        if ws::is_spdy(&req) {
            let offered = spdy_conn::offered_versions(&req);
            let Some(version) = session_io::spdy_exec_version(&offered) else {
                return bad_request(&format!(
                    "unable to upgrade: kac-sim supports v5.channel.k8s.io and \
                     v4.channel.k8s.io over SPDY/3.1, offered {offered:?}"
                ));
            };
            let who = format!("{}/{}", ctx.namespace, ctx.pod);
            return spdy_conn::accept(req, version, move |io| async move {
                let (incoming, outgoing) = spdy_conn::raw_transport(io);
                let (w, events) = spdy_conn::start(incoming, outgoing, who.clone());
                match session_io::spdy_setup(w.clone(), events, opts.io, opts.tty).await {
                    Ok((out, input)) => run(out, input, env, opts, pod).await,
                    Err(e) => {
                        tracing::info!(%who, "SPDY exec setup failed: {e}");
                        w.close().await;
                    }
                }
            });
        }
        return bad_request("Upgrade request required");
    }
    let offered = ws::offered_protocols(&req);
    let Some(proto) = channel::negotiate(offered.iter().map(String::as_str)) else {
        return bad_request(&format!(
            "unable to upgrade: no supported subprotocol in {offered:?}"
        ));
    };
    ws::accept(req, proto.name(), move |socket| async move {
        let (out, input) = ws::split(socket);
        let input = session_io::ws_input(proto, input);
        let out = Output::Ws { proto, out };
        if out.announce(opts.io).await {
            run(out, input, env, opts, pod).await;
        }
    })
}

/// Runs the session once the transport is set up.
async fn run(
    out: Output,
    input: mpsc::Receiver<Input>,
    env: PodEnv,
    opts: StreamOptions,
    pod: Option<Arc<super::pod::PodRuntime>>,
) {
    match pod {
        Some(pod) => super::pod::attach_session(out, input, pod, opts).await,
        None => exec_session(out, input, env, opts).await,
    }
}

/// Copies a process stream to a channel until EOF or client gone.
pub async fn pump_output(mut r: Box<dyn AsyncRead + Send + Unpin>, ch: u8, tx: Output) {
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

/// Applies client input to the process until the client goes away.
async fn apply_input(
    mut input: mpsc::Receiver<Input>,
    mut stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pty: Option<Arc<OwnedFd>>,
) {
    while let Some(ev) = input.recv().await {
        match ev {
            Input::Stdin(b) => {
                if let Some(w) = stdin.as_mut() {
                    if w.write_all(&b).await.is_err() || w.flush().await.is_err() {
                        stdin = None;
                    }
                }
            }
            Input::StdinEof => {
                if let Some(mut w) = stdin.take() {
                    let _ = w.shutdown().await;
                }
            }
            Input::Resize(size) => {
                if let Some(master) = &pty {
                    let _ = process::resize(master, size.width, size.height);
                }
            }
        }
    }
}

async fn exec_session(tx: Output, input: mpsc::Receiver<Input>, env: PodEnv, opts: StreamOptions) {
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
            let msg = format!("error executing command in container: {e}");
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
    let stdin = if opts.io.stdin { stdin } else { None };
    let mut input = tokio::spawn(apply_input(input, stdin, pty.clone()));
    tokio::select! {
        exit = child.wait() => {
            let _ = tokio::time::timeout(DRAIN_GRACE, futures_util::future::join_all(pumps)).await;
            let st = match exit {
                Ok(s) if s.success() => status::success(),
                Ok(s) => status::non_zero_exit(&opts.command, process::exit_code(s)),
                Err(e) => status::internal_error(&format!(
                    "error executing command in container: waiting for the process: {e}"
                )),
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
