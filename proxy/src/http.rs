//! The proxy's response body type and Kubernetes `Status` responses.
//!
//! Every response the proxy produces itself (denials, bad requests, upstream
//! failures) is a `metav1.Status` object, so kubectl prints its usual
//! `Error from server (Reason): message`.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::{header, Response, StatusCode};
use serde_json::json;

/// The body type of every response the proxy returns: either its own
/// (buffered) bytes or an upstream stream passed through.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// Errors while streaming a body through the proxy.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body holding the given bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// The `reason` Kubernetes uses for a status code (metav1.StatusReason).
pub fn reason_for(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

/// A `metav1.Status` failure response.
pub fn status(code: StatusCode, message: impl Into<String>) -> Response<Body> {
    status_with_details(code, message, serde_json::Value::Null)
}

/// A `metav1.Status` failure response with `details` (e.g. the resource kind
/// and name a Forbidden refers to).
pub fn status_with_details(
    code: StatusCode,
    message: impl Into<String>,
    details: serde_json::Value,
) -> Response<Body> {
    let mut obj = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message.into(),
        "reason": reason_for(code),
        "code": code.as_u16(),
    });
    if !details.is_null() {
        obj["details"] = details;
    }
    let body = serde_json::to_vec(&obj).expect("Status serializes");
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(full(body))
        .expect("static response parts are valid")
}

/// A plain-text 200 response (health endpoints, metrics).
pub fn text(body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(full(body))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_is_a_kubernetes_status_object() {
        let resp = status(StatusCode::FORBIDDEN, "pods \"x\" is forbidden");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Forbidden");
        assert_eq!(v["code"], 403);
        assert_eq!(v["status"], "Failure");
    }
}
