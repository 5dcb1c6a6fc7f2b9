//! asciicast export (v2 and v3), readable by the real asciinema tools.
//!
//! JSON strings must be valid UTF-8 while terminal output is bytes, and a pty
//! read may cut a character in two. Per stream, an incomplete UTF-8 sequence
//! at the end of a frame is carried over to that stream's next frame, so
//! valid UTF-8 output round-trips byte for byte (`asciinema cat` of the file
//! equals `kac-play --cat`). Truly invalid bytes become U+FFFD, which is what
//! asciinema itself does when it records (lossy decoding).
//!
//! Times come from the recorder's `offset_us`, never from wall clocks. v2
//! event times are absolute seconds; v3 times are intervals since the
//! previous event. v3 also gets an `"x"` (exit) event with the exit code.

use std::io::Write;

use anyhow::{bail, Context, Result};
use kac_event::{DataStream, SessionEvent};
use serde_json::{json, Value};

use crate::timeline::Timeline;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastFormat {
    V2,
    V3,
}

impl std::str::FromStr for CastFormat {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asciicast-v2" | "v2" | "2" => Ok(CastFormat::V2),
            "asciicast-v3" | "v3" | "3" => Ok(CastFormat::V3),
            _ => bail!("unknown format {s:?}: use asciicast-v2 or asciicast-v3"),
        }
    }
}

/// Decodes a byte stream to UTF-8 text across frame boundaries.
#[derive(Debug, Default, Clone)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// Decodes `bytes` after whatever was carried; keeps a trailing
    /// incomplete sequence for the next call; invalid bytes become U+FFFD.
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(bytes);
        let mut out = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (ok, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(ok).expect("validated prefix"));
                    match e.error_len() {
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        out
    }

    /// Flushes a sequence left incomplete at the end of the stream.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

fn secs(us: u64) -> Value {
    // Microsecond precision, as a JSON number (e.g. 1.5 or 0.000123).
    json!(us as f64 / 1_000_000.0)
}

/// Writes a session as an asciicast file. `events` are one session's
/// events in recorded order; the store CLI (`kac-audit export`) calls this.
pub fn export_cast(events: &[SessionEvent], format: CastFormat, out: &mut dyn Write) -> Result<()> {
    let tl = Timeline::from_events(events, None);
    let m = &tl.meta;
    let mut header = serde_json::Map::new();
    header.insert(
        "version".into(),
        json!(if format == CastFormat::V2 { 2 } else { 3 }),
    );
    match format {
        CastFormat::V2 => {
            header.insert("width".into(), json!(m.cols));
            header.insert("height".into(), json!(m.rows));
        }
        CastFormat::V3 => {
            header.insert(
                "term".into(),
                json!({"cols": m.cols, "rows": m.rows, "type": "xterm-256color"}),
            );
        }
    }
    if let Some(t) = m.start {
        header.insert("timestamp".into(), json!(t.timestamp()));
    }
    if format == CastFormat::V2 {
        header.insert("duration".into(), secs(m.rec_duration_us));
    }
    if !m.command.is_empty() {
        header.insert("command".into(), json!(m.command.join(" ")));
    }
    let mut title = format!("{}@{}/{}/{}", m.user, m.cluster, m.namespace, m.pod);
    if !m.container.is_empty() {
        title.push('/');
        title.push_str(&m.container);
    }
    header.insert("title".into(), json!(title));
    if m.tty {
        header.insert("env".into(), json!({"TERM": "xterm-256color"}));
    }
    writeln!(out, "{}", Value::Object(header)).context("writing asciicast header")?;

    let mut w = EventWriter {
        format,
        last_us: 0,
        out,
    };
    // stdout, stderr, stdin carries.
    let mut carry: [Utf8Carry; 3] = Default::default();
    let mut last_output_us = 0;
    for ev in events {
        match ev {
            SessionEvent::Data {
                offset_us,
                stream,
                data,
                ..
            } => {
                let (slot, code) = match stream {
                    DataStream::Stdout => (0, "o"),
                    DataStream::Stderr => (1, "o"),
                    DataStream::Stdin => (2, "i"),
                    DataStream::Tunnel => continue,
                };
                let text = carry[slot].decode(data);
                if code == "o" {
                    last_output_us = *offset_us;
                }
                w.event(*offset_us, code, &text)?;
            }
            SessionEvent::Resize {
                offset_us,
                width,
                height,
                ..
            } => w.event(*offset_us, "r", &format!("{width}x{height}"))?,
            SessionEvent::Command(c) => w.event(c.offset_us, "m", &c.text)?,
            SessionEvent::End(e) => {
                for (slot, code) in [(0, "o"), (1, "o"), (2, "i")] {
                    let rest = carry[slot].finish();
                    w.event(last_output_us.max(w.last_us), code, &rest)?;
                }
                if let (CastFormat::V3, Some(code)) = (format, e.exit_code) {
                    w.force_event(e.offset_us, "x", &code.to_string())?;
                }
            }
            SessionEvent::Start(_) => {}
        }
    }
    out_flush(w.out)
}

fn out_flush(out: &mut dyn Write) -> Result<()> {
    out.flush().context("flushing asciicast")
}

struct EventWriter<'a> {
    format: CastFormat,
    last_us: u64,
    out: &'a mut dyn Write,
}

impl EventWriter<'_> {
    /// Writes one event unless its data is empty.
    fn event(&mut self, at_us: u64, code: &str, data: &str) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.force_event(at_us, code, data)
    }

    fn force_event(&mut self, at_us: u64, code: &str, data: &str) -> Result<()> {
        let at_us = at_us.max(self.last_us);
        let t = match self.format {
            CastFormat::V2 => at_us,
            CastFormat::V3 => at_us - self.last_us,
        };
        self.last_us = at_us;
        writeln!(self.out, "{}", json!([secs(t), code, data])).context("writing asciicast event")
    }
}

/// Reads an asciicast (v2 or v3) and returns the concatenated `"o"` data:
/// what `asciinema cat` prints. Used by tests and as a fuzz target (it
/// parses untrusted files).
pub fn cast_output(text: &str) -> Result<Vec<u8>> {
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().context("empty asciicast")?)
        .context("asciicast header")?;
    match header.get("version").and_then(Value::as_u64) {
        Some(2 | 3) => {}
        v => bail!("unsupported asciicast version {v:?}"),
    }
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let ev: (f64, String, String) = serde_json::from_str(line)
            .with_context(|| format!("asciicast event line {}", n + 2))?;
        if ev.1 == "o" {
            out.extend_from_slice(ev.2.as_bytes());
        }
    }
    Ok(out)
}

/// Fuzz entry point: exported casts of arbitrary output bytes parse back,
/// and arbitrary text never panics the reader.
pub fn fuzz_cast(data: &[u8]) {
    let _ = cast_output(&String::from_utf8_lossy(data));
    let mut b = crate::samples::SessionBuilder::new("fuzz", Default::default());
    for (i, part) in data.chunks(5).enumerate() {
        b.wait(i as u64).out(part);
    }
    let events = b.end(Some(0));
    for format in [CastFormat::V2, CastFormat::V3] {
        let mut buf = Vec::new();
        export_cast(&events, format, &mut buf).expect("export to memory");
        let got = cast_output(std::str::from_utf8(&buf).expect("casts are UTF-8")).expect("parses");
        if let Ok(s) = std::str::from_utf8(data) {
            assert_eq!(got, s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
