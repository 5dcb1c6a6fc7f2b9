//! An independent, deliberately naive model of upstream attribution, used
//! only to cross-check [`crate::attribute`] (in [`crate::fuzz_check`] and
//! the tests). It follows `requestinfo.go` and Go's URL/query parsing
//! step by step, *without* KAC's refusals: where upstream is lenient, so is
//! this model. It never runs in the proxy.
//!
//! Known gap: a `labelSelector` that fails to parse makes upstream drop a
//! `fieldSelector` name; the model assumes label selectors parse.

use std::collections::HashMap;

use crate::RequestInfo;

/// Go's `unescape`: `%XX` to a byte, `+` to space only in query mode. A
/// malformed escape is an error, like in Go.
fn go_unescape(s: &str, query_mode: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else if b[i] == b'+' && query_mode {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Go's `url.ParseQuery` as `URL.Query()` uses it: bad pairs are dropped.
fn go_parse_query(q: &str) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for piece in q.split('&') {
        if piece.contains(';') || piece.is_empty() {
            continue;
        }
        let (k, v) = match piece.find('=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, ""),
        };
        let (Some(k), Some(v)) = (go_unescape(k, true), go_unescape(v, true)) else {
            continue;
        };
        m.entry(String::from_utf8_lossy(&k).into_owned())
            .or_default()
            .push(String::from_utf8_lossy(&v).into_owned());
    }
    m
}

/// `fields.ParseSelector(s).RequiresExactMatch("metadata.name")`, or `Err`
/// when the selector does not parse.
fn exact_name(s: &str) -> Result<Option<String>, ()> {
    // Split on commas that are not escaped.
    let mut parts: Vec<String> = vec![String::new()];
    let mut slash = false;
    for c in s.chars() {
        if slash {
            slash = false;
            parts.last_mut().unwrap().push(c);
        } else if c == '\\' {
            slash = true;
            parts.last_mut().unwrap().push(c);
        } else if c == ',' {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    if s.is_empty() {
        parts.clear();
    }
    parts.sort();
    let mut found = None;
    for p in parts.iter().filter(|p| !p.is_empty()) {
        let mut split = None;
        for i in 0..p.len() {
            if !p.is_char_boundary(i) {
                continue;
            }
            let r = &p[i..];
            let op = ["!=", "==", "="].into_iter().find(|op| r.starts_with(op));
            if let Some(op) = op {
                split = Some((&p[..i], op, &p[i + op.len()..]));
                break;
            }
        }
        let (lhs, op, rhs) = split.ok_or(())?;
        let mut val = String::new();
        let mut esc = false;
        for c in rhs.chars() {
            if esc {
                if !matches!(c, '\\' | ',' | '=') {
                    return Err(());
                }
                val.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == ',' || c == '=' {
                return Err(());
            } else {
                val.push(c);
            }
        }
        if esc {
            return Err(());
        }
        if found.is_none() && lhs == "metadata.name" && op != "!=" {
            found = Some(val);
        }
    }
    Ok(found)
}

/// Upstream attribution of `method path?query`; `None` where Go would fail
/// to parse the URL or `NewRequestInfo` returns an error.
pub fn reference_attribute(method: &str, raw_path: &str, raw_query: &str) -> Option<RequestInfo> {
    let path = String::from_utf8_lossy(&go_unescape(raw_path, false)?).into_owned();
    let query = go_parse_query(raw_query);
    let mut info = RequestInfo {
        path: path.clone(),
        verb: method.to_lowercase(),
        ..Default::default()
    };
    let trimmed = path.trim_matches('/');
    let mut cur: Vec<String> = if trimmed.is_empty() {
        vec![]
    } else {
        trimmed.split('/').map(str::to_owned).collect()
    };
    if cur.len() < 3 {
        return Some(info);
    }
    if cur[0] != "api" && cur[0] != "apis" {
        return Some(info);
    }
    info.api_prefix = cur.remove(0);
    if info.api_prefix != "api" {
        if cur.len() < 3 {
            return Some(info);
        }
        info.api_group = cur.remove(0);
    }
    info.is_resource_request = true;
    info.api_version = cur.remove(0);
    if cur[0] == "proxy" || cur[0] == "watch" {
        if cur.len() < 2 {
            return None;
        }
        info.verb = cur.remove(0);
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_owned();
    }
    if cur[0] == "namespaces" && cur.len() > 1 {
        info.namespace = cur[1].clone();
        if cur.len() > 2 && cur[2] != "status" && cur[2] != "finalize" {
            cur.drain(..2);
        }
    }
    info.parts = cur.clone();
    if cur.len() >= 3 && info.verb != "proxy" {
        info.subresource = cur[2].clone();
    }
    if cur.len() >= 2 {
        info.name = cur[1].clone();
    }
    info.resource = cur[0].clone();
    if info.name.is_empty() && info.verb == "get" {
        let first = |k: &str| query.get(k).and_then(|v| v.first()).cloned();
        let watch = first("watch")
            .map(|w| !(w == "0" || w.to_lowercase() == "false"))
            .unwrap_or(false);
        // DecodeParameters: any failing option resets everything but watch.
        let ints_ok = ["limit", "timeoutSeconds"]
            .iter()
            .all(|k| first(k).map(|v| v.parse::<i64>().is_ok()).unwrap_or(true));
        let selector = first("fieldSelector").map(|s| exact_name(&s));
        info.verb = if watch { "watch" } else { "list" }.to_owned();
        if let (true, Some(Ok(Some(name)))) = (ints_ok, selector) {
            if name != "." && name != ".." && !name.contains('/') && !name.contains('%') {
                info.name = name;
            }
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_owned();
    }
    Some(info)
}
