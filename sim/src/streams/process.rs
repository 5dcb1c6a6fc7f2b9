//! Real processes "inside" a pod: the working directory and environment of
//! the pod, spawned either on pipes or on a fresh pseudo-terminal whose slave
//! side becomes the controlling terminal of a new session.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where and as whom a pod's processes run.
#[derive(Debug, Clone)]
pub struct PodEnv {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// `DATA_DIR/pods/NS/POD/root`: cwd and HOME.
    pub root: PathBuf,
}

impl PodEnv {
    /// Creates the root directory if needed.
    pub fn ensure_root(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)
    }

    /// The environment variables the process sees (nothing else of the sim's
    /// own environment leaks in apart from PATH).
    pub fn vars(&self, tty: bool) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        let mut v = vec![
            ("PATH".to_string(), path),
            ("HOSTNAME".to_string(), self.pod.clone()),
            ("KAC_POD".to_string(), self.pod.clone()),
            ("KAC_NAMESPACE".to_string(), self.namespace.clone()),
            ("KAC_CONTAINER".to_string(), self.container.clone()),
            ("HOME".to_string(), self.root.display().to_string()),
            ("PS1".to_string(), format!("{}:$ ", self.pod)),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        if tty {
            v.push(("TERM".to_string(), "xterm".to_string()));
        }
        v
    }
}

/// Which standard streams the client asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdio3 {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A started process and its stream ends. With a PTY, `stdout` carries the
/// merged terminal output and `stderr` is `None`.
pub struct Spawned {
    pub child: tokio::process::Child,
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// The PTY master, kept for window-size changes.
    pub pty: Option<Arc<OwnedFd>>,
}

fn command(argv: &[String], env: &PodEnv, tty: bool) -> io::Result<tokio::process::Command> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    env.ensure_root()?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .current_dir(&env.root)
        .env_clear()
        .envs(env.vars(tty))
        .kill_on_drop(true);
    Ok(cmd)
}

/// Spawns `argv` on pipes.
pub fn spawn_pipes(argv: &[String], env: &PodEnv, io3: Stdio3) -> io::Result<Spawned> {
    let mut cmd = command(argv, env, false)?;
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    cmd.stdin(pipe(io3.stdin))
        .stdout(pipe(io3.stdout))
        .stderr(pipe(io3.stderr));
    // Own process group, so a disconnect can signal the whole job.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {:?}: {e}", argv[0])))?;
    Ok(Spawned {
        stdin: child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>),
        stdout: child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        stderr: child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        child,
        pty: None,
    })
}

/// Spawns `argv` on a new PTY: the child is a session leader with the slave
/// as its controlling terminal; we keep the master.
pub fn spawn_pty(argv: &[String], env: &PodEnv, size: Option<(u16, u16)>) -> io::Result<Spawned> {
    let ws = size.map(|(cols, rows)| nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let pty = nix::pty::openpty(ws.as_ref(), None).map_err(io::Error::from)?;
    set_cloexec(&pty.master)?;
    let mut cmd = command(argv, env, true)?;
    cmd.stdin(Stdio::from(pty.slave.try_clone()?))
        .stdout(Stdio::from(pty.slave.try_clone()?))
        .stderr(Stdio::from(pty.slave.try_clone()?));
    // SAFETY: only async-signal-safe calls (setsid, ioctl) run in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {:?}: {e}", argv[0])))?;
    drop(pty.slave);
    let master = Arc::new(pty.master);
    let reader = tokio::fs::File::from_std(std::fs::File::from(master.try_clone()?));
    let writer = tokio::fs::File::from_std(std::fs::File::from(master.try_clone()?));
    Ok(Spawned {
        child,
        stdin: Some(Box::new(writer)),
        stdout: Some(Box::new(PtyReader(reader))),
        stderr: None,
        pty: Some(master),
    })
}

/// Sets the terminal size of a PTY master (`TIOCSWINSZ`); the kernel sends
/// SIGWINCH to the foreground process group.
pub fn resize(master: &OwnedFd, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ as _, &ws) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain fcntl on an fd we own.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reading a PTY master fails with EIO once every slave fd is closed: that
/// is the terminal's end of file.
struct PtyReader(tokio::fs::File);

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match std::pin::Pin::new(&mut self.0).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// The exit code the apiserver would report: the status, or 128+signal.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Signals the process group led by `pid` (best effort).
pub fn kill_group(pid: Option<u32>, signal: i32) {
    if let Some(pid) = pid {
        // SAFETY: kill(2) with a negative pid addresses the process group.
        unsafe {
            libc::kill(-(pid as i32), signal);
        }
    }
}
