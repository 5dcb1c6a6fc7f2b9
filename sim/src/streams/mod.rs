//! Streaming pod subresources of kac-sim: `exec`, `attach`, `portforward` and
//! `log`, backed by real host processes (a per-pod working directory, real
//! pipes or a real PTY) so that kubectl and the Python client exercise the
//! genuine wire protocols (WebSocket channel protocols, SPDY/3.1 tunnelled in
//! WebSocket for port-forward, chunked logs).
//!
//! Owned by the streams engineer. The router, auth, RBAC and the object store
//! live elsewhere in `sim/`: they call the four handlers below with an
//! authorized request and the pod object, and this module must not touch them.

pub mod channel;
pub mod exec;
pub mod log;
pub mod pod;
pub mod portforward;
pub mod process;
pub mod query;
mod session_io;
pub mod spdy;
mod spdy_conn;
mod spdy_session;
pub mod status;
pub mod ws;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::path::PathBuf;

pub(crate) use crate::http::Body;

/// What the router knows about the target pod.
pub struct PodContext {
    pub namespace: String,
    pub pod: String,
    /// The pod object as stored (needs `spec.containers`).
    pub pod_json: serde_json::Value,
    /// The sim's data directory; pods live under `DATA_DIR/pods/NS/POD/`.
    pub data_dir: PathBuf,
}

impl PodContext {
    /// Names of all containers (regular, init and ephemeral) of the pod.
    pub fn container_names(&self) -> Vec<String> {
        ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .filter_map(|k| self.pod_json.pointer(&format!("/spec/{k}")))
            .filter_map(|v| v.as_array())
            .flatten()
            .filter_map(|c| c.get("name").and_then(|n| n.as_str()))
            .map(str::to_string)
            .collect()
    }

    /// Resolves the `container` parameter as the apiserver does: empty picks
    /// the only container; an unknown name is an error (a 400 BadRequest
    /// Status for the caller to send).
    pub fn resolve_container(&self, requested: Option<&str>) -> Result<String, String> {
        let names = self.container_names();
        match requested.filter(|s| !s.is_empty()) {
            Some(c) if names.iter().any(|n| n == c) => Ok(c.to_string()),
            Some(c) => Err(format!("container {c} is not valid for pod {}", self.pod)),
            None if names.len() == 1 => Ok(names[0].clone()),
            None if names.is_empty() => Err(format!("pod {} does not have a container", self.pod)),
            None => Err(format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                self.pod,
                self.container_names()
                    .iter()
                    .filter(|n| self
                        .pod_json
                        .pointer("/spec/containers")
                        .and_then(|v| v.as_array())
                        .is_some_and(|a| a.iter().any(|c| c["name"] == n.as_str())))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        }
    }

    /// The pod's directory, `DATA_DIR/pods/NS/POD`.
    pub fn pod_dir(&self) -> PathBuf {
        self.data_dir
            .join("pods")
            .join(&self.namespace)
            .join(&self.pod)
    }
}

pub use pod::pod_deleted;

/// `GET|POST pods/{name}/exec`.
pub async fn exec(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    exec::handle(req, ctx, exec::Kind::Exec).await
}

/// `GET|POST pods/{name}/attach`.
pub async fn attach(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    exec::handle(req, ctx, exec::Kind::Attach).await
}

/// `GET|POST pods/{name}/portforward`.
pub async fn portforward(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    portforward::handle(req, ctx).await
}

/// `GET pods/{name}/log`.
pub async fn log(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    log::handle(req, ctx).await
}

/// An empty body.
pub(crate) fn empty_body() -> Body {
    full_body(Bytes::new())
}

/// A complete body.
pub(crate) fn full_body(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// A streamed body fed by a channel; the sender fails once the client is gone.
pub(crate) fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    StreamBody::new(stream)
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON Status reply.
pub(crate) fn status_response(code: u16, reason: &str, message: &str) -> Response<Body> {
    let body = status::http_error(code, reason, message).to_string();
    let mut resp = Response::new(full_body(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    resp
}

/// 400 BadRequest Status.
pub(crate) fn bad_request(message: &str) -> Response<Body> {
    status_response(400, "BadRequest", message)
}

/// Fuzzing entry point for the untrusted inputs parsed outside the SPDY
/// codec: channel frames under every protocol, resize messages, the query
/// string and log lines. Must never panic.
pub fn fuzz_inputs(data: &[u8]) {
    use channel::ChannelProtocol as P;
    for p in [P::V5, P::V4, P::V1, P::V4Base64, P::V1Base64] {
        let _ = channel::decode(p, data);
    }
    let _ = channel::parse_resize(data);
    let text = String::from_utf8_lossy(data);
    let q = query::Query::parse(Some(&text));
    let _ = q.int("tailLines");
    let _ = portforward::parse_ports(&q.all("ports"));
    let _ = log::LogOptions::from_query(&q, chrono::Utc::now());
    for line in text.lines() {
        let _ = log::parse_entry(line);
    }
}

#[cfg(test)]
mod fuzz_tests {
    proptest::proptest! {
        #[test]
        fn fuzz_inputs_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            super::fuzz_inputs(&data);
        }

        #[test]
        fn fuzz_inputs_on_texty_input(s in "[0-9a-zA-Z=&%+,:. -]{0,80}") {
            super::fuzz_inputs(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod e2e;
