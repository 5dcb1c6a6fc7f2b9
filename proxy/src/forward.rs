//! Building the upstream request and passing responses and upgrades back.
//!
//! Header hygiene is security-relevant: the user's credentials
//! (`Authorization`, cookies) and any identity-asserting header
//! (`Impersonate-*`, front-proxy `X-Remote-*`) never reach a cluster. The
//! proxy sets its own credentials and the impersonation headers the policy
//! decision names.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::clusters::Cluster;
use crate::http::{self as h, Body};

/// The impersonation identity sent upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
    /// The KAC user on whose behalf the proxy calls (`Impersonate-Extra-Kac-User`).
    pub kac_user: String,
}

/// Header that carries the original KAC user as an impersonation extra.
pub const EXTRA_KAC_USER: &str = "impersonate-extra-kac-user";

/// Whether a client header asserts an identity (refused with 403).
pub fn is_identity_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("impersonate-") || n.starts_with("x-remote-")
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus ones HTTP/2 forbids.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Copy client headers that may go upstream. `upgrade` keeps the
/// Connection/Upgrade pair for WebSocket and SPDY handshakes.
pub fn upstream_headers(client: &HeaderMap, upgrade: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 4);
    for (name, value) in client {
        let drop = is_hop_by_hop(name)
            || is_identity_header(name)
            || name == header::AUTHORIZATION
            || name == header::COOKIE
            || name == header::HOST;
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }
    if upgrade {
        if let Some(u) = client.get(header::UPGRADE) {
            out.insert(header::UPGRADE, u.clone());
            out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        }
    }
    out
}

/// Set the proxy's credentials and the impersonation headers.
pub fn authorize_upstream(
    headers: &mut HeaderMap,
    cluster: &Cluster,
    id: &Identity,
) -> Result<(), String> {
    if let Some(auth) = &cluster.authorization {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    let value =
        |s: &str| HeaderValue::from_str(s).map_err(|_| format!("invalid header value {s:?}"));
    headers.insert("impersonate-user", value(&id.user)?);
    for g in &id.groups {
        headers.append("impersonate-group", value(g)?);
    }
    // Every authenticated user is in system:authenticated (it grants
    // discovery); send it explicitly so no apiserver version drops it when
    // other groups are named.
    if !id.groups.iter().any(|g| g == "system:authenticated") {
        headers.append(
            "impersonate-group",
            HeaderValue::from_static("system:authenticated"),
        );
    }
    headers.insert(EXTRA_KAC_USER, value(&id.kac_user)?);
    Ok(())
}

/// Response headers from upstream that may go back to the client.
pub fn downstream_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !is_hop_by_hop(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// An upstream response as it goes back to the client: hop-by-hop headers
/// dropped, body streamed through.
pub fn pass_response(resp: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    parts.headers = downstream_headers(&parts.headers);
    Response::from_parts(parts, boxed(body))
}

/// Box a client request body for the upstream client.
pub fn boxed(body: Incoming) -> Body {
    body.map_err(|e| -> h::BodyError { Box::new(e) })
        .boxed_unsync()
}

/// Pass an upgrade (WebSocket, SPDY) through: forward the handshake, and if
/// upstream switches protocols, copy bytes both ways until either side
/// closes. Returns the response for the client and a future that resolves
/// to (bytes client→cluster, bytes cluster→client) when the tunnel closes.
pub async fn pass_upgrade(
    mut req: Request<Incoming>,
    upstream: Request<Body>,
    cluster: &Cluster,
) -> Result<(Response<Body>, Option<tokio::task::JoinHandle<(u64, u64)>>), String> {
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = cluster
        .client
        .request(upstream)
        .await
        .map_err(|e| format!("cluster {}: {e}", cluster.name))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok((pass_response(resp), None));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let mut out = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in resp.headers() {
        out = out.header(name, value);
    }
    let out = out.body(h::empty()).map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        let (Ok(up), Ok(down)) = (upstream_upgrade.await, client_upgrade.await) else {
            return (0, 0);
        };
        let (down_r, down_w) = tokio::io::split(hyper_util::rt::TokioIo::new(down));
        let (up_r, up_w) = tokio::io::split(hyper_util::rt::TokioIo::new(up));
        let (sent, received) = (
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
        );
        let a = copy_counted(down_r, up_w, &sent);
        let b = copy_counted(up_r, down_w, &received);
        tokio::pin!(a, b);
        // Once one direction has ended, the other gets a grace period (a
        // peer that never closes must not hold the tunnel open forever).
        let grace = std::time::Duration::from_secs(30);
        tokio::select! {
            _ = &mut a => { let _ = tokio::time::timeout(grace, b).await; }
            _ = &mut b => { let _ = tokio::time::timeout(grace, a).await; }
        }
        let ordering = std::sync::atomic::Ordering::Relaxed;
        (sent.load(ordering), received.load(ordering))
    });
    Ok((out, Some(task)))
}

/// Copies until EOF or an error, then shuts the writer down, adding the
/// bytes copied to `total`. Unlike `copy_bidirectional`, the counts survive a peer
/// that ends with an error (kubectl closes SPDY connections without a TLS
/// close_notify), so the audit event still has them.
async fn copy_counted<R, W>(mut r: R, mut w: W, total: &std::sync::atomic::AtomicU64)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                total.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_credentials_and_identity_headers_never_go_upstream() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer user-secret".parse().unwrap());
        h.insert(header::COOKIE, "session=1".parse().unwrap());
        h.insert("impersonate-user", "admin".parse().unwrap());
        h.insert("impersonate-extra-scopes", "x".parse().unwrap());
        h.insert("x-remote-user", "admin".parse().unwrap());
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        h.insert(header::CONNECTION, "Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        let out = upstream_headers(&h, false);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[header::ACCEPT], "application/json");
        let out = upstream_headers(&h, true);
        assert_eq!(out[header::UPGRADE], "websocket");
        assert_eq!(out[header::CONNECTION], "Upgrade");
        assert!(out.get(header::AUTHORIZATION).is_none());
    }

    #[test]
    fn identity_headers_are_recognised_case_insensitively() {
        for n in [
            "Impersonate-User",
            "IMPERSONATE-GROUP",
            "Impersonate-Uid",
            "X-Remote-Group",
        ] {
            let name: HeaderName = n.parse().unwrap();
            assert!(is_identity_header(&name), "{n}");
        }
        assert!(!is_identity_header(&header::ACCEPT));
    }
}
