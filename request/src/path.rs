//! Strict decoding of the request path into segments.
//!
//! The apiserver attributes `req.URL.Path`: Go's *percent-decoded* path,
//! trimmed of leading and trailing slashes and split on `/`. We decode the
//! same way, but refuse every input where that reading could differ from a
//! naive one (or from another hop's): encoded slashes and dots, dot
//! segments, empty segments, double encoding, backslashes, `;` parameters,
//! control characters and bytes that are not UTF-8. One trailing slash is
//! accepted and, as upstream, ignored for attribution.

use std::borrow::Cow;

use crate::AttributionError;

/// A path that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedPath<'a> {
    /// The decoded path, as Go's `URL.Path` would hold it.
    pub path: String,
    /// The decoded segments, none empty, none a dot segment; borrowed from
    /// the raw path when they had no escape.
    pub segments: Vec<Cow<'a, str>>,
}

/// Raw bytes allowed in a path segment: RFC 3986 `pchar` minus `;`, plus the
/// `%` that starts an escape.
fn raw_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'%'
        )
}

/// Decoded bytes refused even though they were escaped: each would make the
/// decoded segment mean something else to some hop.
fn escape_refused(b: u8) -> bool {
    matches!(b, b'/' | b'.' | b'%' | b'\\' | b';') || b < 0x20 || b == 0x7f
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one raw segment (no `/` inside) strictly.
fn decode_segment<'a>(raw: &'a str, path: &str) -> Result<Cow<'a, str>, AttributionError> {
    let bytes = raw.as_bytes();
    let escaped = bytes.contains(&b'%');
    let mut out = Vec::with_capacity(if escaped { bytes.len() } else { 0 });
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !raw_allowed(b) {
            let character = raw[i..].chars().next().unwrap_or('\u{fffd}');
            return Err(AttributionError::ForbiddenCharacter {
                path: path.to_owned(),
                character,
            });
        }
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                let end = (i + 3).min(raw.len());
                return Err(AttributionError::MalformedEscape {
                    near: String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                });
            };
            let decoded = hi * 16 + lo;
            if escape_refused(decoded) {
                return Err(AttributionError::ForbiddenEscape {
                    path: path.to_owned(),
                    escape: raw[i..i + 3].to_owned(),
                });
            }
            out.push(decoded);
            i += 3;
        } else {
            if escaped {
                out.push(b);
            }
            i += 1;
        }
    }
    let segment = if escaped {
        Cow::Owned(String::from_utf8(out).map_err(|_| AttributionError::NotUtf8)?)
    } else {
        Cow::Borrowed(raw)
    };
    // Raw dots are fine inside names (`my.app`), but not as `.`/`..`
    // segments nor as `..` runs, which some hop might still resolve.
    if segment == "." || segment.contains("..") {
        return Err(AttributionError::DotSegment {
            path: path.to_owned(),
        });
    }
    Ok(segment)
}

/// Decode and split a raw (still percent-encoded) request path.
pub(crate) fn decode_path(raw: &str) -> Result<DecodedPath<'_>, AttributionError> {
    let Some(body) = raw.strip_prefix('/') else {
        return Err(AttributionError::NotAbsolutePath {
            path: raw.to_owned(),
        });
    };
    if body.is_empty() {
        return Ok(DecodedPath {
            path: "/".to_owned(),
            segments: Vec::new(),
        });
    }
    let (trimmed, trailing) = match body.strip_suffix('/') {
        Some(t) => (t, true),
        None => (body, false),
    };
    let mut segments = Vec::with_capacity(8);
    for raw_segment in trimmed.split('/') {
        if raw_segment.is_empty() {
            return Err(AttributionError::EmptySegment {
                path: raw.to_owned(),
            });
        }
        segments.push(decode_segment(raw_segment, raw)?);
    }
    let mut path = String::with_capacity(raw.len());
    for s in &segments {
        path.push('/');
        path.push_str(s);
    }
    if trailing {
        path.push('/');
    }
    Ok(DecodedPath { path, segments })
}
