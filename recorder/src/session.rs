//! The per-session recorder: channel frames in, `session.*` events out.
//!
//! [`SessionRecorder`] is a pure state machine. The relay calls
//! [`SessionRecorder::on_client`] / [`SessionRecorder::on_server`] for every
//! frame it forwards, with the monotonic time elapsed since the session
//! started, and ships the returned events to the store. Wall-clock times in
//! the events are `start.time + offset`, so replay timing never depends on
//! the wall clock.
//!
//! What is recorded:
//! - every stdin, stdout and stderr payload as `session.data`;
//! - every resize as `session.resize`;
//! - typed commands as `session.command`: reconstructed from keystrokes for a
//!   TTY; for a non-TTY exec the argv itself is the command (offset 0), and
//!   when the argv is a shell reading stdin (`sh`, `bash` … without `-c`)
//!   each piped stdin line is a command too;
//! - the exit code from the status channel, byte counts and `kubectl cp` file
//!   names in `session.end`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_event::{CommandLine, DataStream, SessionEnd, SessionEvent, SessionKind, SessionStart};

use crate::channel::{parse_resize, parse_status, Channel, ExitStatus, Frame};
use crate::commands::{argv_is_stdin_shell, CommandReconstructor, LineSplitter, Typed};
use crate::tar::{detect_cp, TarNames, TransferDirection};

/// Records one exec/attach session.
#[derive(Debug, Clone)]
pub struct SessionRecorder {
    meta: SessionStart,
    bytes_stdin: u64,
    bytes_stdout: u64,
    bytes_stderr: u64,
    exit: Option<ExitStatus>,
    typed: Option<CommandReconstructor>,
    lines: Option<LineSplitter>,
    cp: Option<(TransferDirection, TarNames)>,
    last_offset_us: u64,
    ended: bool,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SessionRecorder {
    /// A recorder for the session described by `meta`. A `kubectl cp` is
    /// recognised from the argv and marked as a file transfer.
    pub fn new(mut meta: SessionStart) -> Self {
        let cp = if meta.kind == SessionKind::Exec && !meta.tty {
            detect_cp(&meta.command).map(|d| (d, TarNames::new()))
        } else {
            None
        };
        if let Some((d, names)) = &cp {
            meta.transfer = Some(names.transfer(*d));
        }
        let typed = meta.tty.then(CommandReconstructor::new);
        let shell_stdin = cp.is_none()
            && !meta.tty
            && meta.stdin
            && (meta.kind == SessionKind::Attach || argv_is_stdin_shell(&meta.command));
        SessionRecorder {
            meta,
            bytes_stdin: 0,
            bytes_stdout: 0,
            bytes_stderr: 0,
            exit: None,
            typed,
            lines: shell_stdin.then(LineSplitter::default),
            cp,
            last_offset_us: 0,
            ended: false,
        }
    }

    pub fn meta(&self) -> &SessionStart {
        &self.meta
    }

    pub fn session_id(&self) -> &str {
        &self.meta.session_id
    }

    /// The outcome reported on the status channel, if any yet.
    pub fn exit_status(&self) -> Option<&ExitStatus> {
        self.exit.as_ref()
    }

    /// (stdin, stdout, stderr) bytes so far.
    pub fn bytes(&self) -> (u64, u64, u64) {
        (self.bytes_stdin, self.bytes_stdout, self.bytes_stderr)
    }

    fn time(&self, offset_us: u64) -> DateTime<Utc> {
        self.meta.time + chrono::Duration::microseconds(offset_us.min(i64::MAX as u64) as i64)
    }

    /// The events that open the session: `session.start`, then for a
    /// non-TTY exec the argv as its command.
    pub fn start_events(&self) -> Vec<SessionEvent> {
        let mut out = vec![SessionEvent::Start(Box::new(self.meta.clone()))];
        if self.meta.kind == SessionKind::Exec && !self.meta.tty && !self.meta.command.is_empty() {
            out.push(SessionEvent::Command(CommandLine {
                session_id: self.meta.session_id.clone(),
                time: self.meta.time,
                offset_us: 0,
                text: shell_join(&self.meta.command),
                uncertain: false,
            }));
        }
        out
    }

    fn command(&self, t: Typed) -> SessionEvent {
        SessionEvent::Command(CommandLine {
            session_id: self.meta.session_id.clone(),
            time: self.time(t.offset_us),
            offset_us: t.offset_us,
            text: t.text,
            uncertain: t.uncertain,
        })
    }

    fn data(&self, stream: DataStream, payload: &[u8], offset_us: u64) -> SessionEvent {
        SessionEvent::Data {
            session_id: self.meta.session_id.clone(),
            time: self.time(offset_us),
            offset_us,
            stream,
            data: payload.to_vec(),
        }
    }

    fn tick(&mut self, now: Duration) -> u64 {
        // Offsets never go backwards even if a caller's clock readings race.
        let us = micros(now).max(self.last_offset_us);
        self.last_offset_us = us;
        us
    }

    /// A frame from the user (client) to the container.
    pub fn on_client(&mut self, frame: &Frame, now: Duration) -> Vec<SessionEvent> {
        match frame.channel {
            Channel::Stdin => self.on_stdin(&frame.payload, now),
            Channel::Resize => match parse_resize(&frame.payload) {
                Ok((w, h)) => self.on_resize(w, h, now).into_iter().collect(),
                Err(_) => Vec::new(),
            },
            // Close (stdin EOF) and anything else carry no recordable data.
            _ => Vec::new(),
        }
    }

    /// A frame from the container (server) to the user.
    pub fn on_server(&mut self, frame: &Frame, now: Duration) -> Vec<SessionEvent> {
        match frame.channel {
            Channel::Stdout => self.on_output(DataStream::Stdout, &frame.payload, now),
            Channel::Stderr => self.on_output(DataStream::Stderr, &frame.payload, now),
            Channel::Status => {
                self.on_status(&frame.payload);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Stdin bytes (from any transport).
    pub fn on_stdin(&mut self, payload: &[u8], now: Duration) -> Vec<SessionEvent> {
        let us = self.tick(now);
        if payload.is_empty() {
            return Vec::new();
        }
        self.bytes_stdin += payload.len() as u64;
        if let Some((TransferDirection::Upload, names)) = &mut self.cp {
            names.feed(payload);
        }
        let mut out = vec![self.data(DataStream::Stdin, payload, us)];
        let typed = match (&mut self.typed, &mut self.lines) {
            (Some(t), _) => t.feed_input(payload, us),
            (None, Some(l)) => l.feed(payload, us),
            (None, None) => Vec::new(),
        };
        out.extend(typed.into_iter().map(|t| self.command(t)));
        out
    }

    /// Stdout or stderr bytes (from any transport).
    pub fn on_output(
        &mut self,
        stream: DataStream,
        payload: &[u8],
        now: Duration,
    ) -> Vec<SessionEvent> {
        let us = self.tick(now);
        if payload.is_empty() {
            return Vec::new();
        }
        match stream {
            DataStream::Stderr => self.bytes_stderr += payload.len() as u64,
            _ => self.bytes_stdout += payload.len() as u64,
        }
        if stream == DataStream::Stdout {
            if let Some(t) = &mut self.typed {
                t.feed_output(payload);
            }
            if let Some((TransferDirection::Download, names)) = &mut self.cp {
                names.feed(payload);
            }
        }
        vec![self.data(stream, payload, us)]
    }

    /// A terminal resize.
    pub fn on_resize(&mut self, width: u16, height: u16, now: Duration) -> Option<SessionEvent> {
        let us = self.tick(now);
        Some(SessionEvent::Resize {
            session_id: self.meta.session_id.clone(),
            time: self.time(us),
            offset_us: us,
            width,
            height,
        })
    }

    /// The metav1.Status from the status channel (or SPDY error stream).
    pub fn on_status(&mut self, payload: &[u8]) {
        self.exit = Some(match parse_status(payload) {
            Ok(s) => s,
            Err(e) => ExitStatus::Error(e.to_string()),
        });
    }

    /// Ends the session: the unfinished typed line (uncertain) if any, then
    /// `session.end`. `error` is why the relay ended abnormally; a failure
    /// reported on the status channel is used when there is none. Calling
    /// it twice returns no events the second time.
    pub fn finish(&mut self, error: Option<String>, now: Duration) -> Vec<SessionEvent> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        let us = self.tick(now);
        let mut out = Vec::new();
        let pending = match (&mut self.typed, &mut self.lines) {
            (Some(t), _) => t.finish(),
            (None, Some(l)) => l.finish(),
            _ => None,
        };
        if let Some(t) = pending {
            out.push(self.command(t));
        }
        let status_error = match &self.exit {
            Some(ExitStatus::Error(e)) => Some(e.clone()),
            _ => None,
        };
        out.push(SessionEvent::End(Box::new(SessionEnd {
            session_id: self.meta.session_id.clone(),
            time: self.time(us),
            offset_us: us,
            user: self.meta.user.name.clone(),
            cluster: self.meta.cluster.clone(),
            exit_code: self.exit.as_ref().and_then(ExitStatus::exit_code),
            error: error.or(status_error),
            bytes_stdin: self.bytes_stdin,
            bytes_stdout: self.bytes_stdout,
            bytes_stderr: self.bytes_stderr,
            transfer: self.cp.as_ref().map(|(d, n)| n.transfer(*d)),
            ports: Vec::new(),
        })));
        out
    }
}

/// Joins an argv for display and search, quoting words that need it.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
