//! Self-checks over arbitrary input: the body of the `request_path` fuzz
//! target, also driven by proptest in the tests so CI exercises it.

use http::Method;

use crate::{attribute, reference::reference_attribute, RequestInfo};

/// Bytes allowed unescaped when re-serializing a segment: unreserved
/// characters and the sub-delimiters KAC accepts raw.
fn keep_raw(b: u8) -> bool {
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
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

fn encode_into(out: &mut String, s: &str, query: bool) {
    for &b in s.as_bytes() {
        if keep_raw(b) && !(query && matches!(b, b'&' | b'=' | b'+')) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Escape a value for a field selector term (`\`, `,`, `=`).
fn escape_selector_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A canonical request (method, raw path, raw query) that attributes to the
/// same [`RequestInfo`] as `info` (except `path`). Useful to log or to
/// rebuild a request from its attributes; the fuzz target checks that
/// attribution is stable under it.
pub fn canonical_request(info: &RequestInfo) -> (Method, String, Option<String>) {
    if !info.is_resource_request {
        let method =
            Method::from_bytes(info.verb.to_ascii_uppercase().as_bytes()).unwrap_or(Method::GET);
        let mut path = String::new();
        for seg in info.path.split('/') {
            if !path.is_empty() || !seg.is_empty() {
                path.push('/');
            }
            encode_into(&mut path, seg, false);
        }
        if path.is_empty() {
            path.push('/');
        }
        return (method, path, None);
    }
    let p = &info.parts;
    let mut segments: Vec<&str> = vec![&info.api_prefix];
    if !info.api_group.is_empty() {
        segments.push(&info.api_group);
    }
    segments.push(&info.api_version);
    let mut query = None;
    let (method, verb_segment) = match info.verb.as_str() {
        "create" => (Method::POST, false),
        "update" => (Method::PUT, false),
        "patch" => (Method::PATCH, false),
        "delete" | "deletecollection" => (Method::DELETE, false),
        "proxy" => (Method::GET, true),
        // The legacy path form keeps a name and subresource, and is the
        // only form for a cluster-scoped resource literally named
        // `watch`/`proxy` (`/api/v1/watch/watch`).
        "watch"
            if p.len() >= 2
                || (info.namespace.is_empty() && matches!(p[0].as_str(), "watch" | "proxy")) =>
        {
            (Method::GET, true)
        }
        "watch" | "list" => {
            let mut q = String::new();
            if info.verb == "watch" {
                q.push_str("watch=true");
            }
            if !info.name.is_empty() {
                if !q.is_empty() {
                    q.push('&');
                }
                q.push_str("fieldSelector=");
                let term = format!("metadata.name={}", escape_selector_value(&info.name));
                encode_into(&mut q, &term, true);
            }
            query = (!q.is_empty()).then_some(q);
            (Method::GET, false)
        }
        _ => (Method::GET, false),
    };
    if verb_segment {
        segments.push(&info.verb);
    }
    // The namespace object itself (and its status/finalize) is addressed
    // without a `/namespaces/{ns}/` prefix; everything else in a namespace
    // gets one.
    let namespace_object = p.first().is_some_and(|r| r == "namespaces")
        && p.get(1) == Some(&info.namespace)
        && (p.len() == 2 || matches!(p[2].as_str(), "status" | "finalize"));
    if !info.namespace.is_empty() && !namespace_object {
        segments.push("namespaces");
        segments.push(&info.namespace);
    }
    segments.extend(p.iter().map(String::as_str));
    let mut path = String::new();
    for seg in segments {
        path.push('/');
        encode_into(&mut path, seg, false);
    }
    (method, path, query)
}

fn method_from_byte(b: u8) -> Method {
    match b % 8 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        3 => Method::PUT,
        4 => Method::PATCH,
        5 => Method::DELETE,
        6 => Method::OPTIONS,
        _ => Method::CONNECT,
    }
}

/// Fuzz entry point: the first byte picks the method, the rest is
/// `path[?query]`. Panics when an invariant breaks:
/// 1. an accepted resource request has a non-empty resource, and no
///    attributed field (group, version, namespace, resource, subresource,
///    name) contains `/` or `..` or is empty where it was set;
/// 2. the canonical request rebuilt from the attributes attributes the same;
/// 3. the independent reference model of upstream attributes it the same.
pub fn fuzz_check(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    let method = method_from_byte(m);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let Ok(info) = attribute(&method, path, query) else {
        return;
    };
    check_fields(&info);

    // 3. Same as the reference model.
    let reference = reference_attribute(method.as_str(), path, query.unwrap_or(""))
        .unwrap_or_else(|| panic!("accepted {method} {target:?}, upstream fails"));
    assert_eq!(info, reference, "{method} {target:?} differs from upstream");

    // 2. Stable under canonical re-serialization.
    let (m2, p2, q2) = canonical_request(&info);
    let again = attribute(&m2, &p2, q2.as_deref()).unwrap_or_else(|e| {
        panic!("canonical {m2} {p2:?}?{q2:?} of {method} {target:?} refused: {e}")
    });
    let mut expected = info.clone();
    expected.path = again.path.clone();
    if !info.is_resource_request {
        // Non-resource verbs are the method: HEAD stays head, etc.
        assert_eq!(again.path, info.path, "non-resource path changed");
    }
    assert_eq!(
        again, expected,
        "canonical {m2} {p2:?}?{q2:?} of {method} {target:?}"
    );
}

fn check_fields(info: &RequestInfo) {
    if !info.is_resource_request {
        assert!(info.resource.is_empty() && info.parts.is_empty());
        return;
    }
    assert!(
        !info.resource.is_empty(),
        "resource request without resource"
    );
    assert!(!info.api_version.is_empty());
    for (what, v) in [
        ("group", &info.api_group),
        ("version", &info.api_version),
        ("namespace", &info.namespace),
        ("resource", &info.resource),
        ("subresource", &info.subresource),
        ("name", &info.name),
    ] {
        assert!(!v.contains('/'), "{what} {v:?} contains '/'");
        assert!(!v.contains(".."), "{what} {v:?} contains '..'");
        assert!(v != ".", "{what} is '.'");
    }
    assert!(info.parts.iter().all(|p| !p.is_empty() && !p.contains('/')));
    if matches!(info.verb.as_str(), "get" | "delete") {
        assert!(!info.name.is_empty(), "{} without a name", info.verb);
    }
    if info.verb == "deletecollection" {
        assert!(info.name.is_empty(), "deletecollection with a name");
    }
}
