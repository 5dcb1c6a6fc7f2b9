//! Recording exec/attach carried over plain SPDY/3.1.
//!
//! The client opens one SPDY stream per remote-command stream, naming it in
//! the `streamtype` header: `stdin`, `resize` (client to server), `stdout`,
//! `stderr`, `error` (server to client). DATA frames on those streams are the
//! session's bytes; the `error` stream carries the final metav1.Status (v4+)
//! and the `resize` stream a sequence of `{"Width":W,"Height":H}` objects.
//! [`SpdyExecTap`] reads both directions' raw bytes and drives the same
//! [`SessionRecorder`] as the WebSocket relay.

use std::collections::HashMap;
use std::time::Duration;

use kac_event::{DataStream, SessionEvent};

use crate::channel::parse_resize;
use crate::session::SessionRecorder;
use crate::spdy::{header, Frame, FrameReader, FLAG_FIN};

/// Largest status or unterminated resize payload kept.
const MAX_CONTROL: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamType {
    Stdin,
    Stdout,
    Stderr,
    Error,
    Resize,
}

/// Taps a plain-SPDY exec/attach connection.
#[derive(Debug, Default)]
pub struct SpdyExecTap {
    client: FrameReader,
    server: FrameReader,
    streams: HashMap<u32, StreamType>,
    status: Vec<u8>,
    status_done: bool,
    resize: Vec<u8>,
    error: Option<String>,
}

impl SpdyExecTap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set when the byte stream could not be parsed (recording stopped).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Raw bytes from the user.
    pub fn on_client(
        &mut self,
        bytes: &[u8],
        now: Duration,
        rec: &mut SessionRecorder,
    ) -> Vec<SessionEvent> {
        self.on(bytes, true, now, rec)
    }

    /// Raw bytes from the cluster.
    pub fn on_server(
        &mut self,
        bytes: &[u8],
        now: Duration,
        rec: &mut SessionRecorder,
    ) -> Vec<SessionEvent> {
        self.on(bytes, false, now, rec)
    }

    /// Applies a status that arrived without FIN (connection just closed).
    pub fn finish(&mut self, rec: &mut SessionRecorder) {
        self.flush_status(rec);
    }

    fn flush_status(&mut self, rec: &mut SessionRecorder) {
        if !self.status_done && !self.status.is_empty() {
            self.status_done = true;
            let body = std::mem::take(&mut self.status);
            if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                rec.on_status(&body);
            } else {
                // Protocol v1-v3: the error stream is plain text.
                let text = String::from_utf8_lossy(&body).into_owned();
                rec.on_status(
                    serde_json::json!({"status": "Failure", "message": text})
                        .to_string()
                        .as_bytes(),
                );
            }
        }
    }

    fn on(
        &mut self,
        bytes: &[u8],
        from_client: bool,
        now: Duration,
        rec: &mut SessionRecorder,
    ) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        if self.error.is_some() {
            return out;
        }
        let reader = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        reader.feed(bytes);
        let mut frames = Vec::new();
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    self.error = Some(format!("SPDY stream: {e}"));
                    break;
                }
            }
        }
        for f in frames {
            match f {
                Frame::SynStream {
                    stream_id, headers, ..
                } => {
                    let t = match header(&headers, "streamtype") {
                        Some("stdin") => StreamType::Stdin,
                        Some("stdout") => StreamType::Stdout,
                        Some("stderr") => StreamType::Stderr,
                        Some("error") => StreamType::Error,
                        Some("resize") => StreamType::Resize,
                        _ => continue,
                    };
                    if self.streams.len() < 64 {
                        self.streams.insert(stream_id, t);
                    }
                }
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    let Some(&t) = self.streams.get(&stream_id) else {
                        continue;
                    };
                    match (t, from_client) {
                        (StreamType::Stdin, true) => out.extend(rec.on_stdin(&data, now)),
                        (StreamType::Stdout, false) => {
                            out.extend(rec.on_output(DataStream::Stdout, &data, now))
                        }
                        (StreamType::Stderr, false) => {
                            out.extend(rec.on_output(DataStream::Stderr, &data, now))
                        }
                        (StreamType::Error, false) => {
                            if self.status.len() + data.len() <= MAX_CONTROL {
                                self.status.extend_from_slice(&data);
                            }
                            if flags & FLAG_FIN != 0 {
                                self.flush_status(rec);
                            }
                        }
                        (StreamType::Resize, true) => {
                            self.resize.extend_from_slice(&data);
                            out.extend(self.resizes(now, rec));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Complete resize objects (one JSON object per line).
    fn resizes(&mut self, now: Duration, rec: &mut SessionRecorder) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        while let Some(nl) = self.resize.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.resize.drain(..=nl).collect();
            if let Ok((w, h)) = parse_resize(&line) {
                out.extend(rec.on_resize(w, h, now));
            }
        }
        if self.resize.len() > MAX_CONTROL {
            self.resize.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::FrameWriter;
    use kac_event::SessionStart;

    fn syn(w: &mut FrameWriter, id: u32, ty: &str) -> Vec<u8> {
        w.encode(&Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: vec![("streamtype".into(), ty.into())],
        })
    }

    fn data(w: &mut FrameWriter, id: u32, fin: bool, d: &[u8]) -> Vec<u8> {
        w.encode(&Frame::Data {
            stream_id: id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: d.to_vec(),
        })
    }

    #[test]
    fn spdy_exec_session() {
        let mut rec = SessionRecorder::new(SessionStart {
            session_id: "s".into(),
            tty: true,
            stdin: true,
            command: vec!["sh".into()],
            ..Default::default()
        });
        let mut tap = SpdyExecTap::new();
        let mut cw = FrameWriter::new();
        let mut sw = FrameWriter::new();
        let ms = Duration::from_millis;
        let mut c = Vec::new();
        for (id, t) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "resize")] {
            c.extend(syn(&mut cw, id, t));
        }
        c.extend(data(&mut cw, 7, false, b"{\"Width\":80,\"Height\":24}\n"));
        c.extend(data(&mut cw, 3, false, b"pwd\r"));
        let evs = tap.on_client(&c, ms(1), &mut rec);
        assert!(evs.iter().any(|e| matches!(
            e,
            SessionEvent::Resize {
                width: 80,
                height: 24,
                ..
            }
        )));
        assert!(evs
            .iter()
            .any(|e| matches!(e, SessionEvent::Command(c) if c.text == "pwd")));
        let mut s = data(&mut sw, 5, false, b"/root\r\n");
        s.extend(data(
            &mut sw,
            1,
            true,
            br#"{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}"#,
        ));
        // Split mid-frame: the reader must reassemble.
        let (a, b) = s.split_at(5);
        let mut evs = tap.on_server(a, ms(2), &mut rec);
        evs.extend(tap.on_server(b, ms(2), &mut rec));
        assert!(evs.iter().any(
            |e| matches!(e, SessionEvent::Data { stream: DataStream::Stdout, data, .. } if data == b"/root\r\n")
        ));
        tap.finish(&mut rec);
        assert_eq!(tap.error(), None);
        match rec.finish(None, ms(3)).last() {
            Some(SessionEvent::End(e)) => {
                assert_eq!(e.exit_code, Some(2));
                assert_eq!(e.bytes_stdin, 4);
                assert_eq!(e.bytes_stdout, 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_text_error_stream() {
        let mut rec = SessionRecorder::new(SessionStart::default());
        let mut tap = SpdyExecTap::new();
        let mut cw = FrameWriter::new();
        let mut sw = FrameWriter::new();
        tap.on_client(&syn(&mut cw, 1, "error"), Duration::ZERO, &mut rec);
        tap.on_server(
            &data(&mut sw, 1, false, b"container not found"),
            Duration::ZERO,
            &mut rec,
        );
        tap.finish(&mut rec);
        match rec.finish(None, Duration::ZERO).last() {
            Some(SessionEvent::End(e)) => {
                assert_eq!(e.error.as_deref(), Some("container not found"))
            }
            other => panic!("{other:?}"),
        }
    }
}
