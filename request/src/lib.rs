//! # kac-request: Kubernetes request attribution
//!
//! **Owns:** turning an HTTP method, raw path and raw query into the
//! Kubernetes attributes an authorizer decides on ([`RequestInfo`]: verb,
//! API group/version, namespace, resource, subresource, name), exactly as
//! kube-apiserver's `requestinfo.go` does, plus KAC's own verbs
//! ([`RequestInfo::kac_verb`]).
//!
//! **Must not touch:** I/O, async, policy, HTTP bodies. This is a pure
//! function over untrusted input; the proxy calls it before deciding.
//!
//! Why strict: KAC authorizes on *its* reading of a request and then
//! forwards it to an apiserver that reads it again. Any input the two could
//! read differently (encoded slashes or dots, dot segments, repeated
//! `watch`, a `fieldSelector` with two names, ...) is refused with an
//! [`AttributionError`] (HTTP 400) instead of being attributed. Every
//! refusal is listed in `docs/attribution.md`.

mod error;
mod fuzz;
mod path;
mod query;
#[doc(hidden)]
pub mod reference;
mod selector;

pub use error::AttributionError;
pub use fuzz::{canonical_request, fuzz_check};

use std::borrow::Cow;

use http::Method;

/// The Kubernetes attributes of one request, as the apiserver computes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// True for `/api/{v}/...` and `/apis/{g}/{v}/...` paths that name a
    /// resource; false for discovery, `/version`, `/healthz`, `/openapi/...`.
    pub is_resource_request: bool,
    /// The percent-decoded path that was attributed (Go's `URL.Path`).
    pub path: String,
    /// Kube verb (get list watch create update patch delete deletecollection
    /// proxy) for resource requests; the lower-case HTTP method otherwise.
    pub verb: String,
    /// `api` or `apis` (empty for non-resource requests).
    pub api_prefix: String,
    /// API group; empty for the core group (`/api`).
    pub api_group: String,
    pub api_version: String,
    /// Namespace; empty for cluster-scoped requests and all-namespace lists.
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    /// Object name, from the path or from `fieldSelector=metadata.name=X` on
    /// a list/watch.
    pub name: String,
    /// Path parts starting at the resource: `[resource, name, subresource,
    /// uninterpreted...]`.
    pub parts: Vec<String>,
}

impl RequestInfo {
    /// KAC's verb: `exec`, `attach`, `portforward` and `log` for those
    /// subresources of core `pods` whatever the HTTP method (WebSocket exec
    /// is a GET, SPDY exec a POST: both are an exec), `proxy` for the proxy
    /// verb or a `proxy` subresource (pods, services, nodes); otherwise the
    /// kube verb.
    pub fn kac_verb(&self) -> &str {
        if !self.is_resource_request {
            return &self.verb;
        }
        if self.api_group.is_empty() && self.resource == "pods" {
            if let s @ ("exec" | "attach" | "portforward" | "log") = self.subresource.as_str() {
                return s;
            }
        }
        if self.verb == "proxy" || self.subresource == "proxy" {
            return "proxy";
        }
        &self.verb
    }
}

/// Verbs that the apiserver reads from the path (`/api/v1/watch/...`).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of the namespace object itself, as opposed to resources
/// inside a namespace: `/api/v1/namespaces/{name}/status`.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// The lower-case method name for non-resource requests; `None` for
/// methods KAC does not forward (CONNECT, TRACE, extension methods).
fn lower_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        Method::OPTIONS => "options",
        _ => return None,
    })
}

/// Attribute a request the way kube-apiserver does.
///
/// `path` is the raw request path, still percent-encoded, without the
/// query; `query` the raw query string without `?`. Anything the apiserver
/// (or another hop) could read differently is an error.
pub fn attribute(
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<RequestInfo, AttributionError> {
    let decoded = path::decode_path(path)?;
    let query = query::parse_query(query.unwrap_or(""))?;
    let lower = lower_method(method).ok_or_else(|| AttributionError::UnsupportedMethod {
        method: method.as_str().to_owned(),
        path: path.to_owned(),
    })?;
    let mut info = RequestInfo {
        path: decoded.path,
        verb: lower.to_owned(),
        ..RequestInfo::default()
    };
    let segments = decoded.segments;

    // Fewer than three segments, or another prefix: a non-resource request.
    if segments.len() < 3 || !(segments[0] == "api" || segments[0] == "apis") {
        return Ok(info);
    }
    let grouped = segments[0] == "apis";
    // Upstream records the prefix before it finds out that
    // `/apis/{group}/{version}` is discovery (a group needs four parts).
    info.api_prefix = segments[0].to_string();
    if grouped && segments.len() < 4 {
        return Ok(info);
    }
    let mut rest: &[Cow<str>] = &segments[1..];
    if grouped {
        info.api_group = rest[0].to_string();
        rest = &rest[1..];
    }
    info.is_resource_request = true;
    info.api_version = rest[0].to_string();
    rest = &rest[1..];

    // `/{watch|proxy}/...`: the legacy verb-in-path form.
    let verb_in_path = SPECIAL_VERBS.contains(&rest[0].as_ref());
    if verb_in_path {
        if rest.len() < 2 {
            return Err(AttributionError::MissingResource {
                path: path.to_owned(),
                verb: rest[0].to_string(),
            });
        }
        info.verb = rest[0].to_string();
        rest = &rest[1..];
    } else {
        let verb = match *method {
            Method::POST => "create",
            Method::GET | Method::HEAD => "get",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            // Upstream attributes an empty verb, which no rule should match;
            // refusing is clearer.
            _ => {
                return Err(AttributionError::UnsupportedMethod {
                    method: method.as_str().to_owned(),
                    path: path.to_owned(),
                })
            }
        };
        info.verb = verb.to_owned();
    }

    // `/namespaces/{ns}/{resource}/...`: drop the namespace prefix, unless
    // the path addresses the namespace object (or its status/finalize).
    if rest[0] == "namespaces" && rest.len() > 1 {
        info.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_ref()) {
            rest = &rest[2..];
        }
    }
    info.parts = rest.iter().map(|s| s.to_string()).collect();

    // resource/name/subresource/uninterpreted...; `proxy` has no subresource.
    info.resource = rest[0].to_string();
    if rest.len() >= 2 {
        info.name = rest[1].to_string();
    }
    if rest.len() >= 3 && info.verb != "proxy" {
        info.subresource = rest[2].to_string();
    }

    // Query checks that hold for every resource request.
    let watch = query.single("watch")?;
    if let Some(w) = &watch {
        let w = w.to_ascii_lowercase();
        if !matches!(w.as_str(), "true" | "false" | "1" | "0") {
            return Err(AttributionError::InvalidWatch {
                value: watch.as_deref().unwrap_or_default().to_owned(),
            });
        }
    }
    let field_selector = query.single("fieldSelector")?;

    // A get without a name is a list or a watch; a fieldSelector on
    // metadata.name then names the object.
    if info.name.is_empty() && info.verb == "get" {
        let is_watch = watch
            .as_deref()
            .is_some_and(|w| !(w == "0" || w.eq_ignore_ascii_case("false")));
        info.verb = if is_watch { "watch" } else { "list" }.to_owned();
        if let Some(selector) = field_selector.as_deref() {
            let name = selector::name_from_field_selector(selector).map_err(|reason| {
                AttributionError::FieldSelector {
                    selector: selector.to_owned(),
                    reason,
                }
            })?;
            if let Some(name) = name {
                // The apiserver drops the name when any list option fails
                // to decode; refuse the integer options that would.
                for option in ["limit", "timeoutSeconds"] {
                    for value in query.values(option) {
                        if value.parse::<i64>().is_err() {
                            return Err(AttributionError::InvalidListOption {
                                name: option.to_owned(),
                                value: value.into_owned(),
                            });
                        }
                    }
                }
                info.name = name;
            }
        }
    }
    // A delete without a name is a deletecollection.
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_owned();
    }
    Ok(info)
}

#[cfg(test)]
mod tests;
