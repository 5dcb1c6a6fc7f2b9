//! Strict `application/x-www-form-urlencoded` parsing of the query string.
//!
//! The apiserver reads the query with Go's `url.ParseQuery`, which silently
//! drops pairs it cannot parse (a bad escape, a `;`) and lets the *first* of
//! repeated values win. A proxy that parsed differently could be made to
//! attribute `watch` or a `fieldSelector` name the apiserver never sees, so
//! we refuse: `;` anywhere, malformed escapes, encoded or empty parameter
//! names, and undecodable values.

use std::borrow::Cow;

use crate::path::hex_value;
use crate::AttributionError;

/// The query, pairs in their original order, still encoded: values are
/// validated at parse time and decoded on demand (only the few parameters
/// attribution reads), so a long exec query costs no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Query<'a> {
    /// All values of parameter `name`, decoded, in order.
    pub(crate) fn values<'b>(&'b self, name: &'b str) -> impl Iterator<Item = Cow<'a, str>> + 'b {
        self.pairs
            .iter()
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| decode_component(v).expect("validated at parse time"))
    }

    /// The single value of `name`: `Ok(None)` when absent, an error when
    /// repeated (the apiserver would take the first, others the last).
    pub(crate) fn single(&self, name: &str) -> Result<Option<Cow<'a, str>>, AttributionError> {
        let mut it = self.values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(AttributionError::RepeatedParameter {
                name: name.to_owned(),
            });
        }
        Ok(first)
    }
}

/// Decode a form-urlencoded component: `+` is a space, `%XX` a byte.
fn decode_component(raw: &str) -> Result<Cow<'_, str>, AttributionError> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    let end = (i + 3).min(raw.len());
                    return Err(AttributionError::MalformedEscape {
                        near: String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                    });
                };
                out.push(hi * 16 + lo);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| AttributionError::NotUtf8)
}

/// Parse and validate a raw query string (without the leading `?`).
pub(crate) fn parse_query(raw: &str) -> Result<Query<'_>, AttributionError> {
    let mut pairs = Vec::new();
    if let Some(c) = raw.chars().find(|&c| !c.is_ascii_graphic() || c == '#') {
        return Err(AttributionError::ForbiddenQueryCharacter { character: c });
    }
    if raw.contains(';') {
        return Err(AttributionError::QuerySemicolon);
    }
    for piece in raw.split('&') {
        if piece.is_empty() {
            // Go skips empty pieces (`a=1&&b=2`); so do we.
            continue;
        }
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        if name.is_empty() || name.contains(['%', '+']) {
            return Err(AttributionError::EncodedParameterName {
                name: name.to_owned(),
            });
        }
        // Validate now (escapes, UTF-8); decode again only when read.
        decode_component(value)?;
        pairs.push((name, value));
    }
    Ok(Query { pairs })
}
