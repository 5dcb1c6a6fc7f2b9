//! The proxy's `/kac/v1` API as kac uses it: login, refresh, clusters.
//!
//! One HTTPS request per call over HTTP/1.1, trusting only the proxy's CA
//! (never the system roots and never "insecure"): the CA is what the user
//! was given with the proxy URL, and it is what kubectl will trust too.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;

pub use kac_credential::ClusterInfo;
use kac_credential::{ClusterList, LoginRequest, RefreshRequest};

/// A login or refresh answer with its timestamps parsed (the wire type is
/// `kac_credential::LoginResponse`).
#[derive(Debug, Clone)]
pub struct LoginResponse {
    pub user: String,
    pub access_token: String,
    pub expiration_timestamp: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expiration_timestamp: DateTime<Utc>,
    pub clusters: Vec<ClusterInfo>,
}

impl TryFrom<kac_credential::LoginResponse> for LoginResponse {
    type Error = anyhow::Error;
    fn try_from(w: kac_credential::LoginResponse) -> Result<Self> {
        let time = |s: &str, what: &str| -> Result<DateTime<Utc>> {
            Ok(DateTime::parse_from_rfc3339(s)
                .with_context(|| format!("{what} {s:?} is not RFC 3339"))?
                .with_timezone(&Utc))
        };
        Ok(LoginResponse {
            expiration_timestamp: time(&w.expiration_timestamp, "expirationTimestamp")?,
            refresh_expiration_timestamp: time(
                &w.refresh_expiration_timestamp,
                "refreshExpirationTimestamp",
            )?,
            user: w.user,
            access_token: w.access_token,
            refresh_token: w.refresh_token,
            clusters: w.clusters,
        })
    }
}

/// An error answer of the proxy (a Kubernetes `Status`).
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

/// `https://host[:port]` without a trailing slash, lower-case host, explicit
/// port: the key under which kac stores a login and marks its entries.
pub fn normalize_proxy(url: &str) -> Result<String> {
    let uri: http::Uri = url
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("proxy URL {url:?}"))?;
    if uri.scheme_str() != Some("https") {
        bail!("proxy URL {url:?} must start with https://");
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        bail!("proxy URL {url:?} must not have a path");
    }
    let host = uri
        .host()
        .context("proxy URL has no host")?
        .to_ascii_lowercase();
    Ok(format!("https://{host}:{}", uri.port_u16().unwrap_or(443)))
}

/// A client for one proxy.
pub struct Proxy {
    pub url: String,
    ca_pem: String,
}

impl Proxy {
    pub fn new(url: &str, ca_pem: &str) -> Result<Proxy> {
        Ok(Proxy {
            url: normalize_proxy(url)?,
            ca_pem: ca_pem.to_string(),
        })
    }

    pub fn login(&self, user: &str, secret: &Secret) -> Result<LoginResponse> {
        let mut req = LoginRequest {
            user: user.to_string(),
            ..LoginRequest::default()
        };
        match secret {
            Secret::Password(p) => req.password = Some(p.clone()),
            Secret::Token(t) => req.token = Some(t.clone()),
        }
        let wire: kac_credential::LoginResponse = self.call(
            "POST",
            "/kac/v1/login",
            None,
            Some(serde_json::to_value(req)?),
        )?;
        wire.try_into()
    }

    pub fn refresh(&self, refresh_token: &str) -> Result<LoginResponse> {
        let body = serde_json::to_value(RefreshRequest {
            refresh_token: refresh_token.to_string(),
        })?;
        let wire: kac_credential::LoginResponse =
            self.call("POST", "/kac/v1/refresh", None, Some(body))?;
        wire.try_into()
    }

    pub fn clusters(&self, access_token: &str) -> Result<Vec<ClusterInfo>> {
        let l: ClusterList = self.call("GET", "/kac/v1/clusters", Some(access_token), None)?;
        Ok(l.clusters)
    }

    fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (status, bytes) = rt
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    self.request(method, path, bearer, body),
                )
                .await
            })
            .map_err(|_| anyhow!("{} did not answer within 30 s", self.url))?
            .with_context(|| format!("{method} {}{path}", self.url))?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(ApiError {
                code: status,
                message,
            }
            .into());
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer from {}{path}", self.url))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Bytes)> {
        let uri: http::Uri = self.url.parse()?;
        let host = uri
            .host()
            .context("host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("connecting to {}", self.url))?;
        let config = kac_pki::client_config(&self.ca_pem, None, &[b"http/1.1"])?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .with_context(|| format!("server name {host}"))?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .with_context(|| {
                format!(
                    "TLS handshake with {} (is --certificate-authority the proxy's CA?)",
                    self.url
                )
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", uri.authority().context("authority")?.as_str())
            .header("accept", "application/json")
            .header("user-agent", concat!("kac/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v)?)
            }
            None => Bytes::new(),
        };
        let resp = sender.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

/// What the user proves their identity with.
pub enum Secret {
    Password(String),
    Token(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_normalize() {
        assert_eq!(
            normalize_proxy("https://LocalHost:8443/").unwrap(),
            "https://localhost:8443"
        );
        assert_eq!(
            normalize_proxy("https://kac.example").unwrap(),
            "https://kac.example:443"
        );
        assert_eq!(
            normalize_proxy("https://[::1]:9").unwrap(),
            "https://[::1]:9"
        );
        assert!(normalize_proxy("http://x:1").is_err());
        assert!(normalize_proxy("https://x:1/clusters/dev").is_err());
    }
}
