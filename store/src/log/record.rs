//! The form of one event inside a block (pure, no I/O).
//!
//! A block's body is `(len:u32le record[len])*`. A record is the event's
//! native JSON, or a binary form for `session.data` and for API events:
//!
//! ```text
//! record       = json                       first byte '{'
//!              | 0x01 session-data
//!              | 0x02 api                   see [`super::api_record`]
//! session-data = stream:u8 (0 stdin, 1 stdout, 2 stderr, 3 tunnel)
//!                secs:i64le nanos:u32le     the event's wall-clock time
//!                offset_us:u64le
//!                id_len:u16le session_id[id_len] (UTF-8)
//!                data[rest of the record]   the frame's bytes, as they were
//! ```
//!
//! Why a binary form: a recorded `kubectl exec cat` is almost all
//! `session.data`, and in JSON its bytes travel as base64 inside a string,
//! so the writer spent most of its time base64-encoding, escape-scanning
//! and zstd-compressing a third more bytes than the session had (the
//! profile is in docs/store.md). The binary form stores the frame as is.
//!
//! API events are binary for the writer's sake too (JSON key names and
//! zstd level 6 were most of the cost of an API event; see
//! [`super::api_record`]). Session start, command, end and resize events
//! are rare and stay JSON.
//!
//! JSON stays the contract: [`record_json`] renders a binary record as
//! exactly the JSON the writer would have stored (serde_json output of the
//! same event is deterministic), so `kac-audit`, the forwarder's `native`
//! format and anything else that reads records see no difference. Stores
//! written before the binary forms hold JSON records (and, from
//! 2026-11-29, binary session data) and read unchanged: a JSON record can
//! never start with a tag byte (control characters below tab).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use kac_event::{DataStream, Event, SessionEvent};

use super::api_record::{decode_api, encode_api, TAG_API};

/// First byte of a binary `session.data` record (a control character, which
/// no JSON text starts with).
pub const TAG_SESSION_DATA: u8 = 0x01;

/// Bytes of a session data record before the session id.
const DATA_HEADER: usize = 1 + 1 + 8 + 4 + 8 + 2;

fn stream_code(s: DataStream) -> u8 {
    match s {
        DataStream::Stdin => 0,
        DataStream::Stdout => 1,
        DataStream::Stderr => 2,
        DataStream::Tunnel => 3,
    }
}

fn stream_from(code: u8) -> Result<DataStream, String> {
    Ok(match code {
        0 => DataStream::Stdin,
        1 => DataStream::Stdout,
        2 => DataStream::Stderr,
        3 => DataStream::Tunnel,
        c => return Err(format!("unknown session data stream {c}")),
    })
}

/// Appends the stored record of `event` to `out`: the binary form for
/// API events and `session.data`, JSON for everything else.
pub fn encode_record(event: &Event, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    if let Event::Api(a) = event {
        encode_api(a, out);
        return Ok(());
    }
    if session_data_head(event, out) {
        if let Event::Session(SessionEvent::Data { data, .. }) = event {
            out.extend_from_slice(data);
        }
        return Ok(());
    }
    serde_json::to_writer(out, event)
}

/// Appends the binary record of a `session.data` event without its data
/// bytes, which follow it in the block (the writer moves them there
/// without another copy). False, writing nothing, for any other event.
pub fn session_data_head(event: &Event, out: &mut Vec<u8>) -> bool {
    let Event::Session(SessionEvent::Data {
        session_id,
        time,
        offset_us,
        stream,
        data,
    }) = event
    else {
        return false;
    };
    // A session id is a UUID; one too long for the u16 length (never
    // written by the recorder) simply stays JSON.
    let Ok(id_len) = u16::try_from(session_id.len()) else {
        return false;
    };
    out.reserve(DATA_HEADER + session_id.len() + data.len());
    out.push(TAG_SESSION_DATA);
    out.push(stream_code(*stream));
    out.extend_from_slice(&time.timestamp().to_le_bytes());
    out.extend_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
    out.extend_from_slice(&offset_us.to_le_bytes());
    out.extend_from_slice(&id_len.to_le_bytes());
    out.extend_from_slice(session_id.as_bytes());
    true
}

/// A decoded record, borrowing from the block.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    /// The event's JSON (not parsed yet).
    Json(&'a [u8]),
    /// An API event in the binary form (decoded by [`Record::event`]).
    Api(&'a [u8]),
    /// A `session.data` event in the binary form.
    SessionData {
        session_id: &'a str,
        time: DateTime<Utc>,
        offset_us: u64,
        stream: DataStream,
        data: &'a [u8],
    },
}

/// Reads a record; checks every length and field of the binary form (the
/// JSON form is checked when it is parsed).
pub fn decode_record(rec: &[u8]) -> Result<Record<'_>, String> {
    match rec.first() {
        Some(&TAG_SESSION_DATA) => {}
        Some(&TAG_API) => return Ok(Record::Api(rec)),
        // Control bytes below tab are reserved for binary forms (JSON may
        // only start with '{' or whitespace here).
        Some(&b) if b < 0x09 => return Err(format!("unknown record tag {b:#04x}")),
        _ => return Ok(Record::Json(rec)),
    }
    if rec.len() < DATA_HEADER {
        return Err(format!(
            "session data record of {} bytes, header needs {DATA_HEADER}",
            rec.len()
        ));
    }
    let stream = stream_from(rec[1])?;
    let secs = i64::from_le_bytes(rec[2..10].try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(rec[10..14].try_into().expect("4 bytes"));
    let offset_us = u64::from_le_bytes(rec[14..22].try_into().expect("8 bytes"));
    let id_len = u16::from_le_bytes(rec[22..24].try_into().expect("2 bytes")) as usize;
    let time = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| format!("session data time {secs}.{nanos:09} out of range"))?;
    let id = rec
        .get(DATA_HEADER..DATA_HEADER + id_len)
        .ok_or_else(|| format!("session id of {id_len} bytes past the record's end"))?;
    let session_id = std::str::from_utf8(id).map_err(|_| "session id is not UTF-8")?;
    Ok(Record::SessionData {
        session_id,
        time,
        offset_us,
        stream,
        data: &rec[DATA_HEADER + id_len..],
    })
}

impl Record<'_> {
    /// The event.
    pub fn event(&self) -> Result<Event, String> {
        match *self {
            Record::Json(j) => serde_json::from_slice(j).map_err(|e| e.to_string()),
            Record::Api(r) => decode_api(r).map(|a| Event::Api(Box::new(a))),
            Record::SessionData {
                session_id,
                time,
                offset_us,
                stream,
                data,
            } => Ok(Event::Session(SessionEvent::Data {
                session_id: session_id.to_string(),
                time,
                offset_us,
                stream,
                data: data.to_vec(),
            })),
        }
    }
}

/// The event's native JSON: borrowed for a JSON record, rendered for a
/// binary one (byte for byte what the JSON form would have stored).
pub fn record_json(rec: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match decode_record(rec)? {
        Record::Json(j) => Ok(Cow::Borrowed(j)),
        r => {
            let ev = r.event()?;
            serde_json::to_vec(&ev)
                .map(Cow::Owned)
                .map_err(|e| e.to_string())
        }
    }
}

/// Fuzz entry point: decodes arbitrary bytes as one record, never
/// panicking. A binary record that decodes must re-encode to the same
/// bytes, and its JSON must parse back to the same event.
pub fn fuzz_record(data: &[u8]) {
    let Ok(r) = decode_record(data) else { return };
    let Ok(ev) = r.event() else { return };
    if !matches!(r, Record::Json(_)) {
        let mut again = Vec::new();
        encode_record(&ev, &mut again).expect("a binary record's event encodes");
        assert_eq!(again, data, "binary record does not re-encode identically");
        let json = record_json(data).expect("renders");
        let back: Event = serde_json::from_slice(&json).expect("rendered JSON parses");
        assert_eq!(back, ev, "rendered JSON is a different event");
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
