//! The HTTP(S) client shared by the HEC and webhook sinks: one pooled
//! hyper connection per receiver (keep-alive, so a steady stream of batches
//! costs no handshakes), a per-request timeout, and the one place where an
//! HTTP outcome becomes a [`SinkError`].
//!
//! Why one module: both sinks must agree on what is worth retrying. A
//! receiver that is down, slow, overloaded (429) or failing (5xx) gets the
//! batch again; a receiver that rejects the batch itself (400, 401, 403,
//! 404...) will reject it again, so that is [`SinkError::Permanent`] with the
//! receiver's own words in the message.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::tls::TlsConfig;
use super::SinkError;

/// Default time allowed for one batch: connect, TLS, send and response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most of a receiver's error body quoted in a [`SinkError`].
const MAX_QUOTED_BODY: usize = 512;

/// A pooled HTTP/1.1 client for one receiver URL.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    secret: Option<Arc<Mutex<SecretHeader>>>,
}

/// A header whose value comes from a secret file (a token), re-read when
/// the file changes, so a rotated token is used without restarting the
/// forwarder. If the new file cannot be read, the old value stays.
struct SecretHeader {
    name: HeaderName,
    scheme: &'static str,
    path: PathBuf,
    what: &'static str,
    value: HeaderValue,
    modified: Option<SystemTime>,
}

impl SecretHeader {
    fn load(
        name: HeaderName,
        scheme: &'static str,
        path: PathBuf,
        what: &'static str,
    ) -> Result<SecretHeader, SinkError> {
        let modified = modified(&path);
        let value = secret_value(&path, scheme, what)?;
        Ok(SecretHeader {
            name,
            scheme,
            path,
            what,
            value,
            modified,
        })
    }

    /// The header value, re-reading the file if its mtime changed.
    fn current(&mut self) -> HeaderValue {
        let m = modified(&self.path);
        if m.is_some() && m != self.modified {
            match secret_value(&self.path, self.scheme, self.what) {
                Ok(v) => {
                    if v != self.value {
                        tracing::info!("{}: re-read {}", self.what, self.path.display());
                    }
                    self.value = v;
                    self.modified = m;
                }
                Err(e) => tracing::warn!("{e}; keeping the previous token"),
            }
        }
        self.value.clone()
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn secret_value(path: &Path, scheme: &str, what: &str) -> Result<HeaderValue, SinkError> {
    let token = read_secret(path, what)?;
    let mut v = HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| {
        SinkError::Permanent(format!("{what}: the token is not a valid header value"))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The receiver's answer to a request that completed.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl HttpClient {
    /// Builds a client for `url`. `https://` requires `tls` (the receiver is
    /// verified against the configured CA only); `http://` requires
    /// `allow_plain_http`, because the batch (and any token) would cross
    /// the network in clear text.
    pub fn new(
        url: &str,
        tls: Option<&TlsConfig>,
        allow_plain_http: bool,
        timeout: Duration,
        base_dir: &Path,
    ) -> Result<HttpClient, SinkError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| SinkError::Permanent(format!("url {url:?}: {e}")))?;
        if uri.host().is_none() {
            return Err(SinkError::Permanent(format!("url {url:?} has no host")));
        }
        let builder = match (uri.scheme_str(), tls) {
            (Some("https"), Some(tls)) => {
                let cfg = tls.client_config(base_dir, &[])?;
                let b = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*cfg).clone())
                    .https_only();
                match &tls.server_name {
                    Some(name) => {
                        let name =
                            rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                                SinkError::Permanent(format!("tls.serverName {name:?}: {e}"))
                            })?;
                        b.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
                            name,
                        ))
                    }
                    None => b,
                }
            }
            (Some("https"), None) => {
                return Err(SinkError::Permanent(format!(
                    "url {url:?}: an https receiver needs `tls.caFile` (the CA that signs its \
                     certificate; system roots are never trusted implicitly)"
                )))
            }
            (Some("http"), None) if allow_plain_http => {
                // Never used for TLS: the connector only speaks plain HTTP to
                // http:// URLs, but it needs a config to exist.
                let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| SinkError::Permanent(format!("tls: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(cfg)
                    .https_or_http()
            }
            (Some("http"), None) => {
                return Err(SinkError::Permanent(format!(
                    "url {url:?} is plain http: events and tokens would cross the network \
                     unencrypted; use https with `tls`, or set `allowPlainHttp: true`"
                )))
            }
            (Some("http"), Some(_)) => {
                return Err(SinkError::Permanent(format!(
                    "url {url:?} is plain http but `tls` is configured; use an https:// url"
                )))
            }
            _ => {
                return Err(SinkError::Permanent(format!(
                    "url {url:?} must start with https:// (or http:// with allowPlainHttp)"
                )))
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let connector = builder.enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(HttpClient {
            client,
            uri,
            timeout,
            headers: Vec::new(),
            secret: None,
        })
    }

    /// Adds a header sent with every request (e.g. `Authorization`); the
    /// value is marked sensitive so it never appears in debug output.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Result<Self, SinkError> {
        let mut v = HeaderValue::from_str(value)
            .map_err(|_| SinkError::Permanent(format!("{name}: value is not a valid header")))?;
        v.set_sensitive(true);
        self.headers.push((name, v));
        Ok(self)
    }

    /// Sends `name: SCHEME TOKEN` with every request, TOKEN read from
    /// `file` (relative to `base_dir`) now and again whenever the file
    /// changes (token rotation).
    pub fn with_secret_header(
        mut self,
        name: HeaderName,
        scheme: &'static str,
        base_dir: &Path,
        file: &Path,
        what: &'static str,
    ) -> Result<Self, SinkError> {
        let secret = SecretHeader::load(name, scheme, base_dir.join(file), what)?;
        self.secret = Some(Arc::new(Mutex::new(secret)));
        Ok(self)
    }

    /// The receiver's URI (for `describe()`; carries no secret).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// POSTs a JSON body to `uri` and reads the whole response, within the
    /// timeout. Connection, TLS and timeout failures are transient: the
    /// receiver may be restarting. A TLS verification failure is reported
    /// with its cause so a wrong CA is visible in the logs.
    pub async fn post_json(&self, uri: &Uri, body: Bytes) -> Result<Answer, SinkError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json");
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(secret) = &self.secret {
            let mut s = secret.lock().unwrap_or_else(|p| p.into_inner());
            let v = s.current();
            req = req.header(s.name.clone(), v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| SinkError::Permanent(format!("building request to {uri}: {e}")))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let msg = format!("POST {}: {}", redact(uri), error_chain(&e));
                if is_certificate_failure(&e) {
                    SinkError::Permanent(msg)
                } else {
                    SinkError::Transient(msg)
                }
            })?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| {
                    SinkError::Transient(format!(
                        "reading response from {}: {}",
                        redact(uri),
                        error_chain(&e)
                    ))
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::Transient(format!(
                "POST {}: no response within {:?}",
                redact(uri),
                self.timeout
            ))),
        }
    }
}

/// Classifies a completed exchange: 2xx is delivered; 429, 408 and 5xx are
/// worth retrying; any other status means the receiver refuses this batch.
pub fn classify(what: &str, answer: &Answer) -> Result<(), SinkError> {
    let s = answer.status;
    if s.is_success() {
        return Ok(());
    }
    let msg = format!("{what}: HTTP {s}: {}", quote_body(&answer.body));
    if s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT || s.is_server_error()
    {
        Err(SinkError::Transient(msg))
    } else {
        Err(SinkError::Permanent(msg))
    }
}

/// The start of a response body, printable, for error messages.
pub fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_QUOTED_BODY)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else if body.len() > MAX_QUOTED_BODY {
        format!("{text}…")
    } else {
        text.to_string()
    }
}

/// `scheme://authority/path`: never the query (which may carry a token).
pub fn redact(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    )
}

/// Reads a secret from a file, trimmed; empty is an error so a truncated
/// secret file is caught at startup.
fn read_secret(p: &Path, what: &str) -> Result<String, SinkError> {
    let s = std::fs::read_to_string(p)
        .map_err(|e| SinkError::Permanent(format!("{what}: reading {}: {e}", p.display())))?;
    let s = s.trim();
    if s.is_empty() {
        return Err(SinkError::Permanent(format!(
            "{what}: {} is empty",
            p.display()
        )));
    }
    Ok(s.to_string())
}

/// True when the TLS handshake failed over a certificate: the receiver's
/// is not signed by the configured CA or not valid for its name, or the
/// receiver refused ours. That is a configuration problem (reported as
/// [`SinkError::Permanent`]), unlike a refused or reset connection.
fn is_certificate_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    use rustls::AlertDescription as A;
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return matches!(
            tls,
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    A::BadCertificate
                        | A::UnknownCA
                        | A::CertificateRequired
                        | A::CertificateUnknown
                        | A::UnsupportedCertificate
                        | A::AccessDenied
                )
        );
    }
    // io::Error hides its payload from `source()` (and connectors nest
    // them); look inside.
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if is_certificate_failure(inner) {
            return true;
        }
    }
    e.source().is_some_and(is_certificate_failure)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// Optional durations in a sink's config (`500ms`, `10s`, `2m`), parsed
/// like every other duration of a forwarder config.
pub mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| crate::config::parse_duration(&s))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(code).unwrap(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn statuses_are_classified_by_whether_a_retry_can_help() {
        assert!(classify("x", &answer(200, "")).is_ok());
        assert!(classify("x", &answer(204, "")).is_ok());
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify("x", &answer(code, "")),
                    Err(SinkError::Transient(_))
                ),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 413] {
            match classify("hec", &answer(code, r#"{"text":"Invalid token","code":4}"#)) {
                Err(SinkError::Permanent(m)) => {
                    assert!(m.contains("Invalid token"), "{m}");
                    assert!(m.contains(&code.to_string()), "{m}");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_bodies_are_cut_and_queries_never_quoted() {
        let q = quote_body(&vec![b'a'; 2000]);
        assert!(q.chars().count() <= MAX_QUOTED_BODY + 1);
        assert_eq!(quote_body(b"  "), "(empty body)");
        let u: Uri = "https://h:8088/services/collector?token=secret"
            .parse()
            .unwrap();
        assert_eq!(redact(&u), "https://h:8088/services/collector");
    }

    #[test]
    fn urls_must_be_https_with_a_ca_or_explicitly_plain() {
        let dir = Path::new("/nonexistent");
        let t = DEFAULT_TIMEOUT;
        let err = |r: Result<HttpClient, SinkError>| match r {
            Err(SinkError::Permanent(m)) => m,
            Err(e) => panic!("not permanent: {e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(HttpClient::new("https://h", None, false, t, dir)).contains("tls.caFile"));
        assert!(err(HttpClient::new("http://h", None, false, t, dir)).contains("allowPlainHttp"));
        assert!(err(HttpClient::new("ftp://h", None, true, t, dir)).contains("https://"));
        assert!(err(HttpClient::new("not a url", None, true, t, dir)).contains("url"));
        let tls = TlsConfig {
            ca_file: "ca.crt".into(),
            cert_file: None,
            key_file: None,
            server_name: None,
        };
        assert!(err(HttpClient::new("http://h", Some(&tls), true, t, dir)).contains("https://"));
        // A missing CA file is named in the error.
        assert!(err(HttpClient::new("https://h", Some(&tls), false, t, dir)).contains("ca.crt"));
        assert!(HttpClient::new("http://127.0.0.1:1", None, true, t, dir).is_ok());
    }
}
