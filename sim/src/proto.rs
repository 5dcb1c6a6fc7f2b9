//! Decoding of the protobuf request bodies kubectl's generator commands send
//! (`kubectl create namespace|configmap|secret` use the typed clientset, which
//! posts `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope
//! (`runtime.Unknown`) and the ConfigMap, Secret and Namespace messages from
//! `k8s.io/api/core/v1/generated.proto`, turned into the same JSON the sim stores.
//! Other kinds are reported as unsupported (415).

use base64::Engine;
use serde_json::{json, Map, Value};

/// One protobuf field value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

/// Iterates over the (field number, value) pairs of a message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (field, wt) = (key >> 3, key & 7);
        let v = match wt {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 | 5 => {
                let n = if wt == 1 { 8 } else { 4 };
                if pos + n > buf.len() {
                    return Err("truncated fixed field".into());
                }
                pos += n;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| "length overflow")?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated bytes field")?;
                let b = &buf[pos..end];
                pos = end;
                Wire::Bytes(b)
            }
            _ => return Err(format!("unsupported wire type {wt}")),
        };
        out.push((field, v));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 string".to_string())
}

/// A `map<string, string|bytes>` entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    for (f, w) in fields(b)? {
        if let Wire::Bytes(x) = w {
            match f {
                1 => k = string(x)?,
                2 if bytes_value => v = json!(base64::engine::general_purpose::STANDARD.encode(x)),
                2 => v = json!(string(x)?),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (f, w) in fields(b)? {
        match (f, w) {
            (1, Wire::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)?));
            }
            (2, Wire::Bytes(x)) => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            (3, Wire::Bytes(x)) => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            (6, Wire::Bytes(x)) => {
                m.insert("resourceVersion".into(), json!(string(x)?));
            }
            (11, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                labels.insert(k, v);
            }
            (12, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                annotations.insert(k, v);
            }
            (14, Wire::Bytes(x)) => finalizers.push(json!(string(x)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn typed(kind: &str, raw: &[u8]) -> Result<Value, String> {
    let mut obj = json!({"apiVersion": "v1", "kind": kind});
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    for (f, w) in fields(raw)? {
        match (kind, f, w) {
            (_, 1, Wire::Bytes(x)) => obj["metadata"] = object_meta(x)?,
            ("ConfigMap", 2, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                data.insert(k, v);
            }
            ("ConfigMap", 3, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                binary.insert(k, v);
            }
            ("ConfigMap", 4, Wire::Varint(v)) | ("Secret", 5, Wire::Varint(v)) => {
                obj["immutable"] = json!(v != 0)
            }
            ("Secret", 2, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, true)?;
                data.insert(k, v);
            }
            ("Secret", 3, Wire::Bytes(x)) => obj["type"] = json!(string(x)?),
            ("Secret", 4, Wire::Bytes(x)) => {
                let (k, v) = map_entry(x, false)?;
                string_data.insert(k, v);
            }
            _ => {}
        }
    }
    for (key, m) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !m.is_empty() {
            obj[key] = Value::Object(m);
        }
    }
    Ok(obj)
}

/// `SelfSubjectAccessReview` (kubectl auth can-i): only the spec matters.
fn access_review(raw: &[u8]) -> Result<Value, String> {
    let mut spec = Map::new();
    for (f, w) in fields(raw)? {
        let (2, Wire::Bytes(s)) = (f, w) else {
            continue;
        };
        for (sf, sw) in fields(s)? {
            let Wire::Bytes(attrs) = sw else { continue };
            let names: &[&str] = match sf {
                1 => &[
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ],
                2 => &["path", "verb"],
                _ => continue,
            };
            let mut m = Map::new();
            for (af, aw) in fields(attrs)? {
                if let (Some(name), Wire::Bytes(x)) =
                    ((af as usize).checked_sub(1).and_then(|i| names.get(i)), aw)
                {
                    m.insert((*name).to_string(), json!(string(x)?));
                }
            }
            let key = if sf == 1 {
                "resourceAttributes"
            } else {
                "nonResourceAttributes"
            };
            spec.insert(key.into(), Value::Object(m));
        }
    }
    Ok(
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}),
    )
}

/// Decodes a `k8s\0`-prefixed protobuf body into JSON, for the kinds above.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or("missing protobuf envelope magic")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (f, w) in fields(rest)? {
        match (f, w) {
            (1, Wire::Bytes(tm)) => {
                for (tf, tw) in fields(tm)? {
                    match (tf, tw) {
                        (1, Wire::Bytes(x)) => api_version = string(x)?,
                        (2, Wire::Bytes(x)) => kind = string(x)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap" | "Secret" | "Namespace") => typed(&kind, raw),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => access_review(raw),
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            Ok(json!({"apiVersion": api_version, "kind": kind}))
        }
        _ => Err(format!(
            "protobuf bodies of {api_version} {kind} are not supported by kac-sim; use JSON"
        )),
    }
}

#[cfg(test)]
mod tests;
