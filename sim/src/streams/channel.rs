//! The remotecommand channel protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`,
//! `channel.k8s.io`, and their base64 forms): subprotocol negotiation and the
//! encoding of one WebSocket message as `[channel][payload]`.
//!
//! Pure functions only: the WebSocket I/O lives in `ws.rs` and the sessions.

use base64::Engine as _;

/// Channel numbers of exec/attach (sk/apimachinery/pkg/util/remotecommand).
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// The status channel: one metav1.Status JSON document at the end.
pub const ERROR: u8 = 3;
/// Terminal resize, `{"Width":W,"Height":H}`.
pub const RESIZE: u8 = 4;
/// v5 only: `[0xFF, channel]` half-closes `channel` (stdin EOF).
pub const CLOSE: u8 = 255;

/// A negotiated channel subprotocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelProtocol {
    /// `v5.channel.k8s.io`: binary frames plus the close signal on channel 255.
    V5,
    /// `v4.channel.k8s.io`: binary frames, Status on channel 3.
    V4,
    /// `channel.k8s.io`: the original binary form (plain-text errors).
    V1,
    /// `v4.base64.channel.k8s.io`: text frames, ASCII channel digit, base64 payload.
    V4Base64,
    /// `base64.channel.k8s.io`.
    V1Base64,
}

impl ChannelProtocol {
    /// The subprotocol token as it appears in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelProtocol::V5 => "v5.channel.k8s.io",
            ChannelProtocol::V4 => "v4.channel.k8s.io",
            ChannelProtocol::V1 => "channel.k8s.io",
            ChannelProtocol::V4Base64 => "v4.base64.channel.k8s.io",
            ChannelProtocol::V1Base64 => "base64.channel.k8s.io",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "v5.channel.k8s.io" => ChannelProtocol::V5,
            "v4.channel.k8s.io" => ChannelProtocol::V4,
            "channel.k8s.io" => ChannelProtocol::V1,
            "v4.base64.channel.k8s.io" => ChannelProtocol::V4Base64,
            "base64.channel.k8s.io" => ChannelProtocol::V1Base64,
            _ => return None,
        })
    }

    /// Text frames with base64 payloads instead of binary frames.
    pub fn is_base64(self) -> bool {
        matches!(self, ChannelProtocol::V4Base64 | ChannelProtocol::V1Base64)
    }

    /// Whether the client may send the `[0xFF, ch]` close signal.
    pub fn supports_close(self) -> bool {
        self == ChannelProtocol::V5
    }

    /// v4+ carry a JSON metav1.Status on the error channel; the v1 forms a plain message.
    pub fn json_status(self) -> bool {
        !matches!(self, ChannelProtocol::V1 | ChannelProtocol::V1Base64)
    }
}

/// Picks the first protocol the client offers that we support, in the client's
/// order (as the apiserver's handshake does). `offered` is the raw
/// `Sec-WebSocket-Protocol` header values (comma separated, possibly repeated).
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<ChannelProtocol> {
    offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(ChannelProtocol::from_name)
}

/// Encodes one outgoing message. Returns `(is_text, bytes)`.
pub fn encode(proto: ChannelProtocol, channel: u8, payload: &[u8]) -> (bool, Vec<u8>) {
    if proto.is_base64() {
        let mut out = Vec::with_capacity(1 + payload.len().div_ceil(3) * 4);
        out.push(b'0' + channel);
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(payload)
                .as_bytes(),
        );
        (true, out)
    } else {
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(channel);
        out.extend_from_slice(payload);
        (false, out)
    }
}

/// Why an incoming message could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty channel frame")]
    Empty,
    #[error("invalid base64 channel digit {0:#04x}")]
    BadDigit(u8),
    #[error("invalid base64 payload on channel {0}")]
    BadBase64(u8),
}

/// Decodes one incoming message (binary or text) into `(channel, payload)`.
///
/// For the binary protocols a text frame is treated like a binary one: the
/// Python client sends `chr(channel) + str` as a text frame.
pub fn decode(proto: ChannelProtocol, msg: &[u8]) -> Result<(u8, Vec<u8>), FrameError> {
    let (&first, rest) = msg.split_first().ok_or(FrameError::Empty)?;
    if proto.is_base64() {
        let channel = first.wrapping_sub(b'0');
        if channel > 9 {
            return Err(FrameError::BadDigit(first));
        }
        let payload = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| FrameError::BadBase64(channel))?;
        Ok((channel, payload))
    } else {
        Ok((first, rest.to_vec()))
    }
}

/// A terminal size from a channel-4 resize message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Parses one resize message, `{"Width":W,"Height":H}`.
pub fn parse_resize(payload: &[u8]) -> Option<TerminalSize> {
    serde_json::from_slice(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_in_client_order() {
        assert_eq!(
            negotiate(["v4.channel.k8s.io, v5.channel.k8s.io"]),
            Some(ChannelProtocol::V4)
        );
        assert_eq!(
            negotiate(["foo", "v5.channel.k8s.io"]),
            Some(ChannelProtocol::V5)
        );
        assert_eq!(
            negotiate(["base64.channel.k8s.io"]),
            Some(ChannelProtocol::V1Base64)
        );
        assert_eq!(negotiate(["SPDY/3.1+portforward.k8s.io"]), None);
        assert_eq!(negotiate(Vec::<&str>::new()), None);
    }

    #[test]
    fn binary_roundtrip_and_layout() {
        let (text, bytes) = encode(ChannelProtocol::V5, STDOUT, b"hi");
        assert!(!text);
        assert_eq!(bytes, vec![1, b'h', b'i']);
        assert_eq!(
            decode(ChannelProtocol::V5, &bytes).unwrap(),
            (1, b"hi".to_vec())
        );
        assert_eq!(encode(ChannelProtocol::V4, STDOUT, b"").1, vec![1]);
    }

    #[test]
    fn base64_layout() {
        let (text, bytes) = encode(ChannelProtocol::V4Base64, STDERR, b"hello");
        assert!(text);
        assert_eq!(bytes, b"2aGVsbG8=".to_vec());
        assert_eq!(
            decode(ChannelProtocol::V4Base64, b"0aGk=").unwrap(),
            (0, b"hi".to_vec())
        );
        assert_eq!(
            decode(ChannelProtocol::V4Base64, b"x"),
            Err(FrameError::BadDigit(b'x'))
        );
        assert_eq!(
            decode(ChannelProtocol::V1Base64, b"0!!"),
            Err(FrameError::BadBase64(0))
        );
        assert_eq!(decode(ChannelProtocol::V4, b""), Err(FrameError::Empty));
    }

    #[test]
    fn resize_messages() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some(TerminalSize {
                width: 120,
                height: 40
            })
        );
        assert_eq!(parse_resize(b"{}"), None);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip_any(ch in 0u8..10, payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            for proto in [ChannelProtocol::V5, ChannelProtocol::V4, ChannelProtocol::V4Base64, ChannelProtocol::V1Base64] {
                let (_, bytes) = encode(proto, ch, &payload);
                proptest::prop_assert_eq!(decode(proto, &bytes).unwrap(), (ch, payload.clone()));
            }
        }

        #[test]
        fn decode_never_panics(proto_i in 0usize..5, msg in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let proto = [ChannelProtocol::V5, ChannelProtocol::V4, ChannelProtocol::V1, ChannelProtocol::V4Base64, ChannelProtocol::V1Base64][proto_i];
            let _ = decode(proto, &msg);
            let _ = parse_resize(&msg);
        }
    }
}
