//! Session events: what the recorder emits for exec, attach and port-forward.
//!
//! A session is a `session.start`, any number of `session.data`,
//! `session.resize` and `session.command` events, and a `session.end`. Every
//! event carries the session id, its wall-clock time, and `offset_us`, the
//! monotonic time since the session started; players use `offset_us` for
//! timing, never the wall clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserInfo;

/// One event of a recorded session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum SessionEvent {
    #[serde(rename = "session.start")]
    Start(Box<SessionStart>),
    #[serde(rename = "session.data")]
    Data {
        session_id: String,
        time: DateTime<Utc>,
        offset_us: u64,
        stream: DataStream,
        #[serde(with = "crate::base64_bytes")]
        data: Vec<u8>,
    },
    #[serde(rename = "session.resize")]
    Resize {
        session_id: String,
        time: DateTime<Utc>,
        offset_us: u64,
        width: u16,
        height: u16,
    },
    /// A command line reconstructed from stdin (see the recorder).
    #[serde(rename = "session.command")]
    Command(CommandLine),
    #[serde(rename = "session.end")]
    End(Box<SessionEnd>),
}

impl SessionEvent {
    pub fn session_id(&self) -> &str {
        match self {
            SessionEvent::Start(s) => &s.session_id,
            SessionEvent::Data { session_id, .. } | SessionEvent::Resize { session_id, .. } => {
                session_id
            }
            SessionEvent::Command(c) => &c.session_id,
            SessionEvent::End(e) => &e.session_id,
        }
    }

    pub fn time(&self) -> DateTime<Utc> {
        match self {
            SessionEvent::Start(s) => s.time,
            SessionEvent::Data { time, .. } | SessionEvent::Resize { time, .. } => *time,
            SessionEvent::Command(c) => c.time,
            SessionEvent::End(e) => e.time,
        }
    }

    /// Microseconds since the session started (monotonic clock).
    pub fn offset_us(&self) -> u64 {
        match self {
            SessionEvent::Start(_) => 0,
            SessionEvent::Data { offset_us, .. } | SessionEvent::Resize { offset_us, .. } => {
                *offset_us
            }
            SessionEvent::Command(c) => c.offset_us,
            SessionEvent::End(e) => e.offset_us,
        }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            SessionEvent::Start(s) => Some(&s.user.name),
            SessionEvent::End(e) => Some(&e.user),
            _ => None,
        }
    }
}

/// What kind of session this is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    #[default]
    Exec,
    Attach,
    Portforward,
}

/// Which direction/stream a data frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataStream {
    /// User to container.
    Stdin,
    /// Container to user.
    Stdout,
    Stderr,
    /// Port-forward payload is never recorded; only byte counts. Kept for
    /// completeness of the enum.
    Tunnel,
}

/// Metadata of a session, emitted once when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStart {
    pub session_id: String,
    pub time: DateTime<Utc>,
    pub kind: SessionKind,
    pub user: UserInfo,
    pub cluster: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_tags: BTreeMap<String, String>,
    pub namespace: String,
    pub pod: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// The command (exec only), one element per argv entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub stdin: bool,
    /// Initial terminal size if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u16>,
    /// Wire protocol, e.g. `v5.channel.k8s.io` or `SPDY/3.1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Port-forward: the forwarded ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Set when the session is a `kubectl cp` (tar over exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// The API request event that opened this session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// The policy required recording for this session.
    #[serde(default)]
    pub recording_required: bool,
}

/// A file transfer over exec (`kubectl cp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// `upload` (tar on stdin) or `download` (tar on stdout).
    pub direction: String,
    /// File names parsed from the tar stream, where possible.
    #[serde(default)]
    pub files: Vec<String>,
}

/// A command line reconstructed from the stdin stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine {
    pub session_id: String,
    pub time: DateTime<Utc>,
    pub offset_us: u64,
    pub text: String,
    /// True when line editing (history, completion, full-screen programs)
    /// makes the reconstruction uncertain.
    #[serde(default)]
    pub uncertain: bool,
}

/// Emitted once when a session ends, however it ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub session_id: String,
    pub time: DateTime<Utc>,
    pub offset_us: u64,
    pub user: String,
    pub cluster: String,
    /// Exit code of the command, if the status channel reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Error, if the session ended abnormally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub bytes_stdin: u64,
    pub bytes_stdout: u64,
    pub bytes_stderr: u64,
    /// Updated transfer info (file names seen in the tar stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// Port-forward: bytes per pod port, in port order (the totals are in
    /// `bytes_stdin`/`bytes_stdout`). Empty for exec and attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortBytes>,
}

/// Port-forward traffic through one pod port. Only counts: the payload of a
/// port-forward is never recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBytes {
    pub port: u16,
    /// User to pod.
    pub bytes_in: u64,
    /// Pod to user.
    pub bytes_out: u64,
    /// Forwarded connections seen, where the wire shows them (SPDY form:
    /// one data stream per connection; 0 for the channel form).
    #[serde(default)]
    pub connections: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn data_event_uses_dotted_name_and_base64() {
        let ev = Event::Session(SessionEvent::Data {
            session_id: "s1".into(),
            time: Utc::now(),
            offset_us: 1500,
            stream: DataStream::Stdout,
            data: b"hi\r\n\x00\xff".to_vec(),
        });
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("\"event\":\"session.data\""), "{json}");
        assert!(json.contains("\"stream\":\"stdout\""), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
        match back {
            Event::Session(s) => {
                assert_eq!(s.offset_us(), 1500);
                assert_eq!(s.session_id(), "s1");
                assert_eq!(s.user(), None);
            }
            _ => panic!("not a session event"),
        }
    }
}
