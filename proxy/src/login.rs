//! The proxy's own API under `/kac/v1/` (docs/login.md):
//!
//! - `POST /kac/v1/login`: a password (argon2 hash in the users file) or a
//!   users-file token buys an access token and a refresh token;
//! - `POST /kac/v1/refresh`: a refresh token buys a new pair;
//! - `GET /kac/v1/clusters`: the clusters the caller's policies reach.
//!
//! Every request is audited like a cluster request (a non-resource
//! ApiEvent with the outcome), and every failure is a `metav1.Status`.
//! Secrets in request bodies are never logged or audited. Wrong user,
//! password or token get one message, and an unknown user costs the same
//! argon2 work as a wrong password, so neither says which part was wrong;
//! repeated failures from one address are throttled (429).

use std::sync::OnceLock;
use std::time::Instant;

use chrono::Utc;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use kac_credential::{
    ClusterInfo, ClusterList, Kind, LoginRequest, LoginResponse, RefreshRequest, API_VERSION,
    KIND_LOGIN_RESPONSE,
};
use kac_event::{ApiEvent, DecisionRecord, Outcome, UserInfo};
use kac_policy::{ClusterContext, UserContext};
use serde::Serialize;

use crate::credentials::{rfc3339, Credentials};
use crate::handler::{ConnInfo, Proxy};
use crate::http::{self as h, Body};
use crate::login_limit::LoginLimiter;
use crate::users::{User, Users};

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024;

/// What a failed login says, whatever was wrong.
pub const BAD_LOGIN: &str = "invalid user name or password";
/// What an unusable refresh token says.
pub const BAD_REFRESH: &str = "refresh token expired; run kac login";

/// Serve one request under `/kac/`.
pub async fn serve(
    proxy: &Proxy,
    req: Request<Incoming>,
    conn: &ConnInfo,
    ev: &mut ApiEvent,
) -> Response<Body> {
    ev.non_resource = true;
    ev.verb = if req.method() == Method::GET {
        "get"
    } else {
        "create"
    }
    .into();
    ev.decision.outcome = Outcome::Error;
    // Fail closed: nothing is issued that cannot be audited.
    if let Err(e) = proxy.audit.admit() {
        ev.error = Some(e.to_string());
        return h::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("kac-proxy cannot audit this request, so it refuses it: {e}"),
        );
    }
    let Some(creds) = proxy.authn.credentials.clone() else {
        ev.error = Some("credentials are not configured".into());
        return h::status(StatusCode::NOT_FOUND, "kac-proxy issues no credentials");
    };
    let path = req.uri().path().to_owned();
    let base = match public_base(&req) {
        Some(b) => b,
        None => {
            ev.error = Some("no Host".into());
            return h::status(StatusCode::BAD_REQUEST, "a Host header is required");
        }
    };
    match (req.method().clone(), path.as_str()) {
        (Method::POST, "/kac/v1/login") => {
            let body = match read_json::<LoginRequest>(req).await {
                Ok(b) => b,
                Err(resp) => return bad_body(ev, resp),
            };
            let method = if body.token.is_some() {
                "token"
            } else {
                "password"
            };
            ev.user = UserInfo {
                name: body.user.clone(),
                auth_method: method.into(),
                ..Default::default()
            };
            let addr = conn.remote.ip();
            if let Err(wait) = limiter().check(addr, Instant::now()) {
                ev.decision.outcome = Outcome::Denied;
                ev.decision.reason = "login throttled".into();
                ev.error = Some(format!("too many failed logins from {addr}"));
                return h::status(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many failed logins from this address; retry in {} s",
                        wait.as_secs() + 1
                    ),
                );
            }
            let users = proxy.authn.users.current();
            match check_login(users, body).await {
                Some(user) => {
                    limiter().succeeded(addr);
                    issue(proxy, &creds, &user, &base, ev)
                }
                None => {
                    limiter().failed(addr, Instant::now());
                    deny(ev, "login failed", BAD_LOGIN)
                }
            }
        }
        (Method::POST, "/kac/v1/refresh") => {
            let body = match read_json::<RefreshRequest>(req).await {
                Ok(b) => b,
                Err(resp) => return bad_body(ev, resp),
            };
            ev.user.auth_method = "refresh".into();
            let claims = match creds.verify(&body.refresh_token, Kind::Refresh, Utc::now()) {
                Ok(c) => c,
                Err(e) => {
                    ev.error = Some(e.to_string());
                    return deny(ev, "refresh refused", BAD_REFRESH);
                }
            };
            ev.user.name = claims.sub.clone();
            // Revocation: the users file decides on every refresh.
            match proxy.authn.users.current().by_name(&claims.sub, "refresh") {
                Some(user) => issue(proxy, &creds, &user, &base, ev),
                None => {
                    ev.error = Some("user removed from the users file or disabled".into());
                    deny(ev, "refresh refused", BAD_REFRESH)
                }
            }
        }
        (Method::GET, "/kac/v1/clusters") => {
            let user = match proxy.authn.authenticate(req.headers(), conn) {
                Ok(u) => u,
                Err(e) => {
                    ev.error = Some(e.to_string());
                    return deny(ev, "unauthenticated", e.client_message());
                }
            };
            fill_user(ev, &user);
            ev.decision.outcome = Outcome::Allowed;
            json_ok(&ClusterList {
                clusters: reachable(proxy, &user, &base),
            })
        }
        (_, "/kac/v1/login" | "/kac/v1/refresh" | "/kac/v1/clusters") => {
            ev.error = Some("method not allowed".into());
            h::status(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed on {path}", req.method()),
            )
        }
        _ => {
            ev.error = Some("unknown KAC API path".into());
            h::status(
                StatusCode::NOT_FOUND,
                format!("the path {path:?} is not part of the kac-proxy API (/kac/v1/login, /kac/v1/refresh, /kac/v1/clusters)"),
            )
        }
    }
}

/// Failed logins per client address, for this process (see
/// [`LoginLimiter`]; one proxy per process).
fn limiter() -> &'static LoginLimiter {
    static LIMITER: OnceLock<LoginLimiter> = OnceLock::new();
    LIMITER.get_or_init(LoginLimiter::default)
}

/// Check a login body; `None` for any failure. Argon2 runs on the blocking
/// pool (it is deliberately slow), and an unknown user or a user without a
/// password costs one verification too.
pub async fn check_login(users: std::sync::Arc<Users>, body: LoginRequest) -> Option<User> {
    tokio::task::spawn_blocking(move || check_login_blocking(&users, &body))
        .await
        .ok()
        .flatten()
}

fn check_login_blocking(users: &Users, body: &LoginRequest) -> Option<User> {
    match (&body.password, &body.token) {
        (Some(pw), None) => {
            let user = users.check_password(&body.user, pw);
            if user.is_none() && !users.has_password(&body.user) {
                equalize_timing(pw);
            }
            user
        }
        (None, Some(token)) => users.by_token(token).filter(|u| u.name == body.user),
        _ => None,
    }
}

/// Spend what a real argon2 verification costs.
fn equalize_timing(password: &str) {
    use argon2::PasswordVerifier;
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| crate::users::hash_password("kac-timing-equalizer"));
    if let Ok(h) = argon2::PasswordHash::new(hash) {
        let _ = argon2::Argon2::default().verify_password(password.as_bytes(), &h);
    }
}

fn issue(
    proxy: &Proxy,
    creds: &Credentials,
    user: &User,
    base: &str,
    ev: &mut ApiEvent,
) -> Response<Body> {
    fill_user(ev, user);
    let t = creds.issue(&user.name, Utc::now());
    ev.decision = DecisionRecord {
        outcome: Outcome::Allowed,
        reason: format!("credentials issued until {}", rfc3339(t.access_expires)),
        ..Default::default()
    };
    json_ok(&LoginResponse {
        api_version: API_VERSION.into(),
        kind: KIND_LOGIN_RESPONSE.into(),
        user: user.name.clone(),
        access_token: t.access_token,
        expiration_timestamp: rfc3339(t.access_expires),
        refresh_token: t.refresh_token,
        refresh_expiration_timestamp: rfc3339(t.refresh_expires),
        clusters: reachable(proxy, user, base),
    })
}

/// The clusters `user`'s current policies reach, with current tags.
fn reachable(proxy: &Proxy, user: &User, base: &str) -> Vec<ClusterInfo> {
    let all = proxy.clusters.all();
    let contexts: Vec<ClusterContext> = all
        .values()
        .map(|c| ClusterContext {
            name: c.name.clone(),
            tags: c.tags.clone(),
        })
        .collect();
    let u = UserContext {
        name: user.name.clone(),
        groups: user.groups.clone(),
        attributes: user.attributes.clone(),
    };
    proxy
        .policies
        .current()
        .reachable_clusters(&u, &contexts)
        .into_iter()
        .map(|c| ClusterInfo {
            name: c.name.clone(),
            server: format!("{base}/clusters/{}", c.name),
            tags: c.tags.clone(),
        })
        .collect()
}

fn fill_user(ev: &mut ApiEvent, user: &User) {
    ev.user = UserInfo {
        name: user.name.clone(),
        groups: user.groups.clone(),
        attributes: user.attributes.clone(),
        auth_method: user.auth_method.to_owned(),
    };
}

fn deny(ev: &mut ApiEvent, reason: &str, message: &str) -> Response<Body> {
    ev.decision.outcome = Outcome::Denied;
    ev.decision.reason = reason.into();
    ev.error.get_or_insert_with(|| message.to_owned());
    h::status(StatusCode::UNAUTHORIZED, message)
}

fn bad_body(ev: &mut ApiEvent, resp: Response<Body>) -> Response<Body> {
    ev.error = Some("unreadable request body".into());
    resp
}

/// `https://HOST[:PORT]` as the client addressed the proxy (HTTP/2
/// `:authority` or HTTP/1.1 `Host`), so the cluster URLs handed out work
/// through whatever name or load balancer the client used.
fn public_base(req: &Request<Incoming>) -> Option<String> {
    let host = match req.uri().authority() {
        Some(a) => a.as_str().to_owned(),
        None => req.headers().get(header::HOST)?.to_str().ok()?.to_owned(),
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then(|| format!("https://{host}"))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            h::status(
                StatusCode::BAD_REQUEST,
                format!("reading the request body: {e}"),
            )
        })?
        .to_bytes();
    // serde's message names the field, never echoes the value.
    serde_json::from_slice(&body).map_err(|e| {
        h::status(
            StatusCode::BAD_REQUEST,
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

fn json_ok<T: Serialize>(v: &T) -> Response<Body> {
    let body = serde_json::to_vec(v).expect("protocol types serialize");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-store")
        .body(h::full(body))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{hash_password, token_hash};

    fn users() -> std::sync::Arc<Users> {
        let text = format!(
            "users:\n  - name: david\n    tokens: [{}]\n    passwordHash: '{}'\n  - name: sam\n    tokens: [{}]\n  - name: gone\n    disabled: true\n    passwordHash: '{}'\n",
            token_hash("t-david"),
            hash_password("right"),
            token_hash("t-sam"),
            hash_password("right"),
        );
        std::sync::Arc::new(Users::parse("u.yaml", &text).unwrap())
    }

    fn login(user: &str, password: Option<&str>, token: Option<&str>) -> LoginRequest {
        LoginRequest {
            user: user.into(),
            password: password.map(str::to_owned),
            token: token.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn passwords_and_tokens_log_in_and_nothing_else_does() {
        let u = users();
        let ok = check_login(u.clone(), login("david", Some("right"), None)).await;
        assert_eq!(ok.unwrap().name, "david");
        let ok = check_login(u.clone(), login("sam", None, Some("t-sam"))).await;
        assert_eq!(ok.unwrap().name, "sam");
        for bad in [
            login("david", Some("wrong"), None),
            login("nobody", Some("right"), None),
            // sam has no password at all.
            login("sam", Some("right"), None),
            // Someone else's token.
            login("david", None, Some("t-sam")),
            // Disabled user.
            login("gone", Some("right"), None),
            // Both or neither.
            login("david", Some("right"), Some("t-david")),
            login("david", None, None),
        ] {
            assert!(
                check_login(u.clone(), bad.clone()).await.is_none(),
                "{bad:?}"
            );
        }
    }
}
