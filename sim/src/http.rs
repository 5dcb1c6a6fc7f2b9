//! The HTTP body type every kac-sim handler returns, plus small response helpers.
//!
//! One boxed body type keeps the router simple: complete JSON replies, chunked watch
//! streams and upgraded streaming subresources (`crate::streams`) all return
//! `Response<Body>`.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};

/// The response body of every handler.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A complete body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A streamed body fed by a channel: each message is flushed as its own chunk/frame.
/// The body ends when every sender is dropped.
pub fn channel(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    StreamBody::new(stream).boxed()
}

/// A response with the given status, content type and body.
pub fn response(code: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// A JSON response.
pub fn json(code: StatusCode, value: &serde_json::Value) -> Response<Body> {
    response(code, "application/json", value.to_string())
}

/// A `metav1.Status` failure reply; see [`crate::api::Status`] for the typed errors.
pub fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    crate::api::ApiError::new(code, reason, message).into_response()
}
