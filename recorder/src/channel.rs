//! The Kubernetes remote-command WebSocket channel protocol.
//!
//! Every WebSocket message of an exec/attach stream carries one channel
//! frame: a channel number followed by the payload. With `v4`/`v5` the
//! message is binary and the channel is the first byte; with the `base64`
//! variants the message is text, the channel is the ASCII digit `'0' + n`,
//! and the payload is standard base64. Channel 255 (close one stream) exists
//! only in `v5.channel.k8s.io`.
//!
//! The proxy forwards the original WebSocket message untouched; this codec
//! is only for *reading* the frames (and for tests that need to build them).

use base64::Engine;
use serde::Deserialize;

/// A negotiated remote-command subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `v5.channel.k8s.io`: binary frames, plus the close channel 255.
    V5,
    /// `v4.channel.k8s.io` (and the older `channel.k8s.io`, v1–v3 layout
    /// is the same for our purpose): binary frames.
    V4,
    /// `base64.channel.k8s.io`: text frames, base64 payload.
    Base64,
    /// `v4.base64.channel.k8s.io`: text frames, base64 payload.
    V4Base64,
}

impl Protocol {
    /// The protocol for a `Sec-WebSocket-Protocol` value, if it is one of the
    /// remote-command channel protocols.
    pub fn from_subprotocol(s: &str) -> Option<Protocol> {
        match s.trim() {
            "v5.channel.k8s.io" => Some(Protocol::V5),
            "v4.channel.k8s.io" | "v3.channel.k8s.io" | "v2.channel.k8s.io" | "channel.k8s.io" => {
                Some(Protocol::V4)
            }
            "base64.channel.k8s.io" => Some(Protocol::Base64),
            "v4.base64.channel.k8s.io" => Some(Protocol::V4Base64),
            _ => None,
        }
    }

    /// The canonical subprotocol string.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V5 => "v5.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::Base64 => "base64.channel.k8s.io",
            Protocol::V4Base64 => "v4.base64.channel.k8s.io",
        }
    }

    /// Text frames with base64 payloads.
    pub fn is_base64(self) -> bool {
        matches!(self, Protocol::Base64 | Protocol::V4Base64)
    }

    /// Whether the close channel (255) is part of the protocol.
    pub fn has_close_channel(self) -> bool {
        self == Protocol::V5
    }
}

/// The WebSocket message type a frame arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Binary,
    Text,
}

/// A remote-command channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Stdin,
    Stdout,
    Stderr,
    /// metav1.Status with the command's outcome (server to client).
    Status,
    /// Terminal size, `{"Width":W,"Height":H}` (client to server).
    Resize,
    /// v5 only: the payload names the channel whose stream is closed.
    Close,
}

impl Channel {
    pub fn number(self) -> u8 {
        match self {
            Channel::Stdin => 0,
            Channel::Stdout => 1,
            Channel::Stderr => 2,
            Channel::Status => 3,
            Channel::Resize => 4,
            Channel::Close => 255,
        }
    }

    /// The channel for a wire number under `protocol`.
    pub fn from_number(n: u8, protocol: Protocol) -> Result<Channel, ChannelError> {
        Ok(match n {
            0 => Channel::Stdin,
            1 => Channel::Stdout,
            2 => Channel::Stderr,
            3 => Channel::Status,
            4 => Channel::Resize,
            255 if protocol.has_close_channel() => Channel::Close,
            other => return Err(ChannelError::UnknownChannel(other, protocol.as_str())),
        })
    }
}

/// One decoded channel frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub channel: Channel,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("empty WebSocket message: no channel byte")]
    Empty,
    #[error("unknown channel {0} for {1}")]
    UnknownChannel(u8, &'static str),
    #[error("{0} expects {1} messages, got {2}")]
    WrongMessageKind(&'static str, &'static str, &'static str),
    #[error("invalid base64 channel digit {0:#04x}")]
    BadDigit(u8),
    #[error("invalid base64 payload on channel {0}: {1}")]
    BadBase64(u8, String),
    #[error("invalid resize message {0:?}: {1}")]
    BadResize(String, String),
    #[error("invalid status message: {0}")]
    BadStatus(String),
}

fn kind_name(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Binary => "binary",
        MessageKind::Text => "text",
    }
}

/// The raw channel number and payload of a message, without interpreting
/// the channel. Port-forward over plain WebSocket uses channel numbers as
/// `2*port_index` (data) and `2*port_index+1` (error), so it needs this form.
pub fn decode_raw(
    protocol: Protocol,
    kind: MessageKind,
    message: &[u8],
) -> Result<(u8, Vec<u8>), ChannelError> {
    let (&first, rest) = message.split_first().ok_or(ChannelError::Empty)?;
    if protocol.is_base64() {
        if kind != MessageKind::Text {
            return Err(ChannelError::WrongMessageKind(
                protocol.as_str(),
                "text",
                kind_name(kind),
            ));
        }
        if !first.is_ascii_digit() {
            return Err(ChannelError::BadDigit(first));
        }
        let n = first - b'0';
        let payload = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|e| ChannelError::BadBase64(n, e.to_string()))?;
        Ok((n, payload))
    } else {
        // Binary protocols: the Python client still sends str stdin as text
        // messages, which the apiserver accepts, so text is read the same way.
        Ok((first, rest.to_vec()))
    }
}

/// The channel number and decoded payload length of a message, without
/// copying or decoding the payload: what a relay that counts bytes but does
/// not record needs. `None` for an empty message or a bad base64 digit.
pub fn payload_len(protocol: Protocol, message: &[u8]) -> Option<(u8, usize)> {
    let (&first, rest) = message.split_first()?;
    if protocol.is_base64() {
        if !first.is_ascii_digit() {
            return None;
        }
        let pad = rest.iter().rev().take(2).filter(|&&b| b == b'=').count();
        Some((first - b'0', (rest.len() / 4 * 3).saturating_sub(pad)))
    } else {
        Some((first, rest.len()))
    }
}

/// Decodes one WebSocket message into a channel frame.
pub fn decode(
    protocol: Protocol,
    kind: MessageKind,
    message: &[u8],
) -> Result<Frame, ChannelError> {
    let (n, payload) = decode_raw(protocol, kind, message)?;
    Ok(Frame {
        channel: Channel::from_number(n, protocol)?,
        payload,
    })
}

/// Encodes a frame as the message kind and bytes to send.
pub fn encode(protocol: Protocol, frame: &Frame) -> (MessageKind, Vec<u8>) {
    encode_raw(protocol, frame.channel.number(), &frame.payload)
}

/// Encodes a raw channel number and payload.
pub fn encode_raw(protocol: Protocol, channel: u8, payload: &[u8]) -> (MessageKind, Vec<u8>) {
    if protocol.is_base64() {
        let mut out = vec![b'0'.wrapping_add(channel)];
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(payload)
                .as_bytes(),
        );
        (MessageKind::Text, out)
    } else {
        let mut out = Vec::with_capacity(payload.len() + 1);
        out.push(channel);
        out.extend_from_slice(payload);
        (MessageKind::Binary, out)
    }
}

#[derive(Deserialize)]
struct ResizeJson {
    #[serde(alias = "width")]
    #[serde(rename = "Width")]
    width: u16,
    #[serde(alias = "height")]
    #[serde(rename = "Height")]
    height: u16,
}

/// Parses a resize payload `{"Width":W,"Height":H}` into `(width, height)`.
pub fn parse_resize(payload: &[u8]) -> Result<(u16, u16), ChannelError> {
    let r: ResizeJson = serde_json::from_slice(payload).map_err(|e| {
        ChannelError::BadResize(String::from_utf8_lossy(payload).into_owned(), e.to_string())
    })?;
    Ok((r.width, r.height))
}

/// The outcome carried by the status channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// `status: Success`: exit code 0.
    Success,
    /// `reason: NonZeroExitCode` with an `ExitCode` cause.
    ExitCode(i32),
    /// Any other failure: the Status message (or reason).
    Error(String),
}

impl ExitStatus {
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExitStatus::Success => Some(0),
            ExitStatus::ExitCode(c) => Some(*c),
            ExitStatus::Error(_) => None,
        }
    }
}

#[derive(Deserialize, Default)]
struct StatusJson {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<StatusDetails>,
}

#[derive(Deserialize, Default)]
struct StatusDetails {
    #[serde(default)]
    causes: Vec<StatusCause>,
}

#[derive(Deserialize, Default)]
struct StatusCause {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

/// Parses the metav1.Status sent on the status channel.
pub fn parse_status(payload: &[u8]) -> Result<ExitStatus, ChannelError> {
    let s: StatusJson =
        serde_json::from_slice(payload).map_err(|e| ChannelError::BadStatus(e.to_string()))?;
    if s.status == "Success" {
        return Ok(ExitStatus::Success);
    }
    if s.reason == "NonZeroExitCode" {
        let code = s
            .details
            .iter()
            .flat_map(|d| d.causes.iter())
            .find(|c| c.reason == "ExitCode")
            .and_then(|c| c.message.trim().parse::<i32>().ok());
        if let Some(code) = code {
            return Ok(ExitStatus::ExitCode(code));
        }
    }
    let msg = if !s.message.is_empty() {
        s.message
    } else if !s.reason.is_empty() {
        s.reason
    } else {
        format!("status {:?}", s.status)
    };
    Ok(ExitStatus::Error(msg))
}

/// Fuzz entry point: decoding arbitrary messages under every protocol, and
/// parsing them as resize/status payloads, must never panic; whatever
/// decodes must re-encode to an equivalent frame.
pub fn fuzz_channel(data: &[u8]) {
    for p in [
        Protocol::V5,
        Protocol::V4,
        Protocol::Base64,
        Protocol::V4Base64,
    ] {
        for k in [MessageKind::Binary, MessageKind::Text] {
            if let Ok((n, payload)) = decode_raw(p, k, data) {
                // The counting shortcut agrees with the real decoder.
                assert_eq!(payload_len(p, data), Some((n, payload.len())));
            }
            if let Ok(frame) = decode(p, k, data) {
                let (kind, bytes) = encode(p, &frame);
                let again = decode(p, kind, &bytes).expect("re-encoded frame must decode");
                assert_eq!(again, frame);
            }
        }
    }
    let _ = parse_resize(data);
    let _ = parse_status(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payload_len_matches_decode() {
        for payload in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0u8, 255, 7, 9, 1][..],
        ] {
            for protocol in [
                Protocol::V5,
                Protocol::V4,
                Protocol::Base64,
                Protocol::V4Base64,
            ] {
                let (kind, msg) = encode_raw(protocol, 1, payload);
                let (n, decoded) = decode_raw(protocol, kind, &msg).unwrap();
                assert_eq!(payload_len(protocol, &msg), Some((n, decoded.len())));
            }
        }
        assert_eq!(payload_len(Protocol::V5, b""), None);
        assert_eq!(payload_len(Protocol::Base64, b"xAAAA"), None);
    }

    #[test]
    fn subprotocols() {
        assert_eq!(
            Protocol::from_subprotocol("v5.channel.k8s.io"),
            Some(Protocol::V5)
        );
        assert_eq!(
            Protocol::from_subprotocol("v4.base64.channel.k8s.io"),
            Some(Protocol::V4Base64)
        );
        assert_eq!(
            Protocol::from_subprotocol("SPDY/3.1+portforward.k8s.io"),
            None
        );
    }

    #[test]
    fn binary_frames() {
        let f = decode(Protocol::V5, MessageKind::Binary, b"\x01hello").unwrap();
        assert_eq!(f.channel, Channel::Stdout);
        assert_eq!(f.payload, b"hello");
        let f = decode(Protocol::V5, MessageKind::Binary, &[0xff, 0x00]).unwrap();
        assert_eq!(f.channel, Channel::Close);
        assert_eq!(f.payload, vec![0]);
        assert!(matches!(
            decode(Protocol::V4, MessageKind::Binary, &[0xff, 0x00]),
            Err(ChannelError::UnknownChannel(255, _))
        ));
        assert_eq!(
            decode(Protocol::V4, MessageKind::Binary, b""),
            Err(ChannelError::Empty)
        );
        // Initial empty stdout frame.
        let f = decode(Protocol::V4, MessageKind::Binary, &[1]).unwrap();
        assert_eq!((f.channel, f.payload.len()), (Channel::Stdout, 0));
    }

    #[test]
    fn base64_frames() {
        let f = decode(Protocol::Base64, MessageKind::Text, b"0aGk=").unwrap();
        assert_eq!(f.channel, Channel::Stdin);
        assert_eq!(f.payload, b"hi");
        let (k, b) = encode(Protocol::V4Base64, &f);
        assert_eq!(k, MessageKind::Text);
        assert_eq!(b, b"0aGk=");
        assert!(decode(Protocol::Base64, MessageKind::Binary, b"0aGk=").is_err());
        assert!(matches!(
            decode(Protocol::Base64, MessageKind::Text, b"x"),
            Err(ChannelError::BadDigit(b'x'))
        ));
        assert!(decode(Protocol::Base64, MessageKind::Text, b"1!!").is_err());
    }

    #[test]
    fn resize() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#).unwrap(),
            (120, 40)
        );
        assert!(parse_resize(b"{}").is_err());
        assert!(parse_resize(br#"{"Width":70000,"Height":1}"#).is_err());
    }

    #[test]
    fn status() {
        assert_eq!(
            parse_status(br#"{"metadata":{},"status":"Success"}"#).unwrap(),
            ExitStatus::Success
        );
        let s = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        assert_eq!(parse_status(s).unwrap(), ExitStatus::ExitCode(3));
        assert_eq!(parse_status(s).unwrap().exit_code(), Some(3));
        let s = br#"{"status":"Failure","message":"container not found","reason":"InternalError"}"#;
        assert_eq!(
            parse_status(s).unwrap(),
            ExitStatus::Error("container not found".into())
        );
        assert!(parse_status(b"not json").is_err());
    }

    #[test]
    fn fuzz_examples() {
        fuzz_channel(b"");
        fuzz_channel(b"\xff\x01");
        fuzz_channel(b"3eyJzdGF0dXMiOiJTdWNjZXNzIn0=");
    }

    proptest! {
        #[test]
        fn fuzz_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            fuzz_channel(&data);
        }

        #[test]
        fn round_trip(ch in prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4)],
                      payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            for p in [Protocol::V5, Protocol::V4, Protocol::Base64, Protocol::V4Base64] {
                let (k, b) = encode_raw(p, ch, &payload);
                let f = decode(p, k, &b).unwrap();
                prop_assert_eq!(f.channel.number(), ch);
                prop_assert_eq!(&f.payload, &payload);
            }
        }
    }
}
