//! The sim's own request attribution, written independently from kac-request on
//! purpose: the proxy's attribution is tested against what the sim records.
//!
//! Follows `apiserver/pkg/endpoints/request/requestinfo.go` as of 1.32. Notably a
//! WebSocket exec/attach/portforward is a `GET`, so its verb is `get`; the extra
//! `create` check (`AuthorizePodWebsocketUpgradeCreatePermission`) only exists from
//! Kubernetes 1.35, so the sim (which reports v1.32.4) does not apply it.

/// Parsed query parameters, in order, percent-decoded.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes (and, for queries, turns `+` into a space).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut out = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            out.push((percent_decode(k, true), percent_decode(v, true)));
        }
        Query(out)
    }

    /// The first value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `watch` is anything but absent, empty, `false` or `0` (any case).
    pub fn is_watch(&self) -> bool {
        match self.get("watch") {
            None => false,
            Some(v) => !(v.is_empty() || v.eq_ignore_ascii_case("false") || v == "0"),
        }
    }
}

/// What a request is about, as the apiserver's authorizer sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_resource: bool,
    pub path: String,
    pub verb: String,
    pub api_prefix: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The remaining path segments (resource, name, subresource...).
    pub parts: Vec<String>,
}

/// Attributes a request from its method, path and query.
pub fn attribute(method: &str, path: &str, query: &Query) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    if segs.len() < 3 || (segs[0] != "api" && segs[0] != "apis") {
        return info;
    }
    info.api_prefix = segs[0].clone();
    let mut rest: &[String] = &segs[1..];
    if info.api_prefix == "apis" {
        info.group = rest[0].clone();
        rest = &rest[1..];
    }
    let Some((version, tail)) = rest.split_first() else {
        return info;
    };
    info.version = version.clone();
    rest = tail;
    if rest.is_empty() {
        // e.g. /apis/apps/v1: discovery, a non-resource request.
        return info;
    }
    info.is_resource = true;
    let mut special_verb = false;
    if rest[0] == "watch" || rest[0] == "proxy" {
        info.verb = rest[0].clone();
        special_verb = true;
        rest = &rest[1..];
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            other => {
                return RequestInfo {
                    verb: other.to_ascii_lowercase(),
                    ..info
                }
            }
        }
        .to_string();
    }
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() > 1 {
        info.namespace = rest[1].clone();
        // namespaces/{ns}/{resource}...; but namespaces/{name}/status|finalize are
        // subresources of the namespace object.
        if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
            rest = &rest[2..];
        }
    }
    info.parts = rest.to_vec();
    match info.parts.len() {
        0 => {}
        1 => info.resource = info.parts[0].clone(),
        2 => {
            info.resource = info.parts[0].clone();
            info.name = info.parts[1].clone();
        }
        _ => {
            info.resource = info.parts[0].clone();
            info.name = info.parts[1].clone();
            if !special_verb || info.verb != "proxy" {
                info.subresource = info.parts[2].clone();
            }
        }
    }
    if info.name.is_empty() && info.verb == "get" {
        info.verb = if query.is_watch() { "watch" } else { "list" }.into();
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".into();
    }
    if matches!(info.verb.as_str(), "list" | "watch") {
        if let Some(fs) = query.get("fieldSelector") {
            for req in fs.split(',') {
                let req = req.trim();
                let v = req
                    .strip_prefix("metadata.name==")
                    .or_else(|| req.strip_prefix("metadata.name="));
                if let Some(v) = v {
                    info.name = v.to_string();
                }
            }
        }
    }
    info
}

#[cfg(test)]
mod tests;
