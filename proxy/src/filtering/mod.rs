//! Response filtering in the request flow: lists, Tables and watch streams
//! show only the objects the user may see.
//!
//! The proxy asks the cluster with the broad identity of the policy subject
//! and removes hidden objects itself (kac-filter, with the policy engine's
//! per-object check). To make sure the body is one it can read, it asks for
//! JSON (keeping any `as=Table` parameters) and, for Tables, for row
//! metadata (`includeObject=Metadata` instead of `None`): it never guesses an
//! object's identity from cells. A body it cannot parse is refused with a 502
//! Status, never passed through.
//!
//! Lists are filtered as they stream in (memory bounded by the largest item)
//! and the filtered result is sent once complete, so a failure can still be
//! a proper 502. Watch events are filtered and flushed one by one; an
//! unreadable event ends the stream with an ERROR event.
//!
//! Policies can be reloaded while a watch runs, and since policies select
//! objects by namespace and name only, a reload is what makes a watched
//! object become hidden. A watch therefore follows the live policy set
//! ([`WatchPolicy`]): a filtered watch recomputes its scope before the next
//! event after a reload (kac-filter then sends one synthesized DELETED for
//! an object it had shown and now hides, and nothing more about it); an
//! unfiltered watch, which the proxy passes on undecoded, is ended at its
//! next event if the reloaded set no longer allows it whole (clients
//! re-list and re-watch under the new policies).

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use http_body_util::BodyStream;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use kac_filter::{Encoding, ListContext, ListStream, ObjectRef};
use kac_policy::ObjectFilter;

use crate::http::{self as h, Body};

/// Rewrite `Accept` so the response is JSON the filter can read: protobuf
/// media types are dropped, `as=Table`/`as=PartialObjectMetadataList`
/// parameters are kept.
pub fn json_accept(accept: Option<&HeaderValue>) -> HeaderValue {
    let Some(v) = accept.and_then(|v| v.to_str().ok()) else {
        return HeaderValue::from_static("application/json");
    };
    let kept: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .filter_map(|m| {
            let (ty, params) = m.split_once(';').unwrap_or((m, ""));
            let ty = ty.trim();
            if ty.eq_ignore_ascii_case("application/json") || ty == "*/*" || ty == "application/*" {
                Some(if params.is_empty() {
                    "application/json".to_string()
                } else {
                    format!("application/json;{params}")
                })
            } else {
                None
            }
        })
        .collect();
    if kept.is_empty() {
        return HeaderValue::from_static("application/json");
    }
    let mut s = kept.join(",");
    if !kept.iter().any(|m| m == "application/json") {
        s.push_str(",application/json");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("application/json"))
}

/// Rewrite `includeObject=None` to `Metadata` so Table rows carry identity.
pub fn query_with_row_metadata(query: &str) -> String {
    query
        .split('&')
        .map(|kv| {
            if kv.eq_ignore_ascii_case("includeObject=None") {
                "includeObject=Metadata"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Prepare request headers for a filtered request.
pub fn prepare_headers(headers: &mut HeaderMap, watch: bool) {
    let accept = json_accept(headers.get(header::ACCEPT));
    headers.insert(header::ACCEPT, accept);
    // Lists: identity or gzip, both decodable here. Watches: identity, so
    // every event can be filtered and flushed on its own.
    let encoding = if watch { "identity" } else { "gzip" };
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(encoding));
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => Ok(Encoding::Identity),
        Some(e) if e.is_empty() || e == "identity" => Ok(Encoding::Identity),
        Some(e) if e == "gzip" => Ok(Encoding::Gzip),
        Some(e) => Err(format!("unsupported Content-Encoding {e:?}")),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn bad_gateway(msg: String) -> Response<Body> {
    h::status(
        StatusCode::BAD_GATEWAY,
        format!("kac-proxy refused to pass on a response it could not filter: {msg}"),
    )
}

/// Filter a list response. Non-200 responses (Status objects) pass as-is.
pub async fn filter_list(
    resp: Response<Body>,
    api_group: &str,
    resource: &str,
    filter: Option<ObjectFilter>,
    hidden_out: &AtomicU64,
) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    if !is_json(resp.headers()) {
        return bad_gateway(format!(
            "expected application/json, got {:?}",
            resp.headers().get(header::CONTENT_TYPE)
        ));
    }
    let enc = match encoding(resp.headers()) {
        Ok(e) => e,
        Err(e) => return bad_gateway(e),
    };
    let ctx = ListContext {
        api_group: api_group.to_owned(),
        resource: resource.to_owned(),
        encoding: enc,
    };
    let visible = move |o: &ObjectRef<'_>| {
        filter
            .as_ref()
            .is_some_and(|f| f.visible(o.namespace, o.name))
    };
    let (mut parts, body) = resp.into_parts();
    let mut stream = ListStream::new(ctx, visible);
    let mut out = Vec::new();
    let mut frames = BodyStream::new(body);
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return bad_gateway(format!("reading the cluster's response: {e}")),
        };
        if let Some(data) = frame.data_ref() {
            match stream.feed(data) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(e) => return bad_gateway(e.to_string()),
            }
        }
    }
    match stream.finish() {
        Ok((tail, hidden, _kept)) => {
            out.extend_from_slice(&tail);
            hidden_out.store(hidden as u64, Ordering::Relaxed);
        }
        Err(e) => return bad_gateway(e.to_string()),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, h::full(out))
}

mod watch;
pub use watch::{end_watch_on_policy_change, filter_watch, WatchPolicy};

#[cfg(test)]
mod tests;
