//! `pods/{name}/portforward`. Every port of the pod is served by an
//! in-process echo service (bytes sent to the port come straight back), which
//! is enough to prove the tunnel end to end.
//!
//! Two wire forms:
//! * kubectl 1.30+: WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io`,
//!   SPDY/3.1 frames carried in binary messages (`spdy_session.rs`), or
//!   the same SPDY session on a plain `Upgrade: SPDY/3.1` connection
//!   (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`);
//! * the Python client's channel form: `?ports=80,8080` with
//!   `v4.channel.k8s.io` (or base64): channels `2i` (data) and `2i+1`
//!   (error) for the i-th port, each opened by the server with the port
//!   number as two little-endian bytes.

use super::channel::{self, ChannelProtocol};
use super::query::Query;
use super::spdy_conn;
use super::ws::{self, Out};
use super::{bad_request, Body, PodContext};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// The tunnelling subprotocol kubectl offers.
pub const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
/// The stream protocol of plain SPDY port-forward (`X-Stream-Protocol-Version`).
pub const PORTFORWARD_V1: &str = "portforward.k8s.io";

/// Parses `ports`/`port` values (repeated or comma separated) into port numbers.
pub fn parse_ports(values: &[String]) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for part in values.iter().flat_map(|v| v.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.parse::<u16>() {
            Ok(p) if p > 0 => ports.push(p),
            _ => {
                return Err(format!(
                    "invalid port {part:?}: must be between 1 and 65535"
                ))
            }
        }
    }
    Ok(ports)
}

/// Serves a port-forward request.
pub async fn handle(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    let pod = format!("{}/{}", ctx.namespace, ctx.pod);
    if !ws::is_websocket(&req) {
        if ws::is_spdy(&req) {
            let offered = spdy_conn::offered_versions(&req);
            if !offered.iter().any(|v| v == PORTFORWARD_V1) {
                return bad_request(&format!(
                    "unable to upgrade: no supported stream protocol in {offered:?}"
                ));
            }
            return spdy_conn::accept(req, PORTFORWARD_V1, move |io| {
                let (incoming, outgoing) = spdy_conn::raw_transport(io);
                super::spdy_session::run(incoming, outgoing, pod)
            });
        }
        return bad_request("Upgrade request required");
    }
    let offered = ws::offered_protocols(&req);
    if offered.iter().any(|p| p == SPDY_TUNNEL) {
        return ws::accept(req, SPDY_TUNNEL, move |socket| {
            let (incoming, outgoing) = spdy_conn::ws_transport(socket);
            super::spdy_session::run(incoming, outgoing, pod)
        });
    }
    let Some(proto) = channel::negotiate(offered.iter().map(String::as_str)) else {
        return bad_request(&format!(
            "unable to upgrade: no supported subprotocol in {offered:?}"
        ));
    };
    let q = Query::parse(req.uri().query());
    let mut values = q.all("ports");
    values.extend(q.all("port"));
    let ports = match parse_ports(&values) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => return bad_request("query parameter \"port\" is required"),
        Err(m) => return bad_request(&m),
    };
    ws::accept(req, proto.name(), move |socket| {
        channel_session(socket, proto, ports)
    })
}

/// The channel form: echo each data channel back to itself.
async fn channel_session(socket: ws::Ws, proto: ChannelProtocol, ports: Vec<u16>) {
    let (out, mut input) = ws::split(socket);
    let send = |ch: u8, data: &[u8]| {
        let (text, bytes) = channel::encode(proto, ch, data);
        out.send(Out::Msg(ws::message(text, bytes)))
    };
    for (i, port) in ports.iter().enumerate() {
        let le = port.to_le_bytes();
        if send((2 * i) as u8, &le).await.is_err() || send((2 * i + 1) as u8, &le).await.is_err() {
            return;
        }
    }
    while let Some(msg) = input.next().await {
        let raw: Vec<u8> = match msg {
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok((ch, payload)) = channel::decode(proto, &raw) else {
            continue;
        };
        let idx = usize::from(ch / 2);
        if ch % 2 == 0
            && idx < ports.len()
            && !payload.is_empty()
            && send(ch, &payload).await.is_err()
        {
            break;
        }
    }
    let _ = out.send(Out::Close(1000, String::new())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(
            parse_ports(&["80,8080".into(), "443".into()]),
            Ok(vec![80, 8080, 443])
        );
        assert!(parse_ports(&["0".into()]).is_err());
        assert!(parse_ports(&["http".into()]).is_err());
        assert!(parse_ports(&["70000".into()]).is_err());
        assert_eq!(parse_ports(&[]), Ok(vec![]));
    }
}
